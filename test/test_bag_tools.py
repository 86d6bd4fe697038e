"""Bag tools: pure reading/writing with rosbags, and record -> play -> receive over DDS."""
import time

import numpy as np
import pytest
import yaml

from ros_helpers import BAGS, NodeProcess, Probe, error_statuses
from tristream_ros.bag.playback import paced
from tristream_ros.bag.reader import bag_info, decode, iter_messages
from tristream_ros.bag.writer import BagWriter
from tristream_ros.errors import InputError

REAL_BAGS = ["talker_sqlite3", "talker_mcap"]


@pytest.mark.parametrize("name", REAL_BAGS)
def test_real_rosbag2_bags_read(name):
    info = bag_info(BAGS / name)
    assert info.storage == name.split("_")[1] and info.message_count == 20
    topics = {t.name: (t.msgtype, t.count) for t in info.topics}
    assert topics["/topic"] == ("std_msgs/msg/String", 10) and topics["/rosout"][1] == 10
    msgs = list(iter_messages(BAGS / name, ["/topic"]))
    assert [decode(m).data for m in msgs] == [f"Hello, world! {i}" for i in range(10)]
    assert all(b.timestamp_ns > a.timestamp_ns for a, b in zip(msgs, msgs[1:]))
    assert "/topic" in info.format() and "std_msgs/msg/String" in info.format()


@pytest.mark.parametrize("path,needle", [
    ("/definitely/not/here", "does not exist"),
    (__file__, "is not a rosbag2 bag"),
    (BAGS, "no metadata.yaml"),
])
def test_bad_bag_paths(path, needle):
    with pytest.raises(InputError, match=needle):
        bag_info(path)
    with pytest.raises(InputError, match=needle):
        list(iter_messages(path))


def test_unknown_topic_is_named():
    with pytest.raises(InputError, match=r"\['/nope'\]"):
        list(iter_messages(BAGS / "talker_mcap", ["/nope"]))


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_write_read_own_types(tmp_path, storage):
    from rclpy.serialization import deserialize_message, serialize_message

    from tristream_ros.msg import ActionHint, AudioChunk

    chunk = AudioChunk(sample_rate=16000, channels=1, sample_format="S16LE", sequence=7, data=bytes(range(64)))
    hint = ActionHint(action="turn_left", confidence=0.75, has_target=True, target_u=0.25, target_v=0.5)
    path = tmp_path / "bag"
    with BagWriter(path, storage) as w:
        w.write("/audio/input", "tristream_ros/msg/AudioChunk", 1_000, serialize_message(chunk))
        w.write("/assistant/action_hint", "tristream_ros/msg/ActionHint", 2_000, serialize_message(hint))
    meta = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 8 and meta["storage_identifier"] == storage and meta["message_count"] == 2
    assert (path / meta["relative_file_paths"][0]).is_file()
    assert meta["custom_data"] == {"recorded_by": "tristream_ros"}  # a map, never null (rosbag2 decodes a map)
    assert meta["files"][0]["message_count"] == 2 and meta["ros_distro"]
    t = {x["topic_metadata"]["name"]: x["topic_metadata"] for x in meta["topics_with_message_count"]}
    assert t["/audio/input"]["type"] == "tristream_ros/msg/AudioChunk"
    assert t["/audio/input"]["type_description_hash"].startswith("RIHS01_")
    assert isinstance(t["/audio/input"]["offered_qos_profiles"], str)  # YAML-in-YAML, as rosbag2 v8 expects
    if storage == "sqlite3":  # the tables rosbag2's sqlite3 plugin reads for v8 bags
        import sqlite3

        db = sqlite3.connect(path / meta["relative_file_paths"][0])
        tables = {r[0] for r in db.execute("select name from sqlite_master where type='table'")}
        assert {"topics", "messages", "schema", "metadata", "message_definitions"} <= tables
        db.close()
    msgs = list(iter_messages(path))
    got = deserialize_message(msgs[0].data, AudioChunk)
    assert got.sequence == 7 and bytes(got.data) == bytes(range(64))
    assert decode(msgs[1]).action == "turn_left"
    with pytest.raises(InputError, match="exists already"):
        BagWriter(path, storage)


def test_paced_follows_recorded_timing_and_rate():
    class Clock:
        t = 100.0

        def now(self):
            return self.t

        def sleep(self, s):
            self.t += s

    clock = Clock()
    ts = [0, 500_000_000, 2_000_000_000]  # ns
    out = []
    for x in paced(ts, rate=2.0, timestamp=lambda x: x, now=clock.now, sleep=clock.sleep):
        out.append(clock.t - 100.0)
    assert out == pytest.approx([0.0, 0.25, 1.0])
    with pytest.raises(InputError, match="rate must be > 0, got 0"):
        list(paced(ts, rate=0))


# --- over DDS -------------------------------------------------------------------------

@pytest.fixture
def probe():
    p = Probe("bag_test_probe")
    yield p
    p.close()


def play_cmd(*args):
    return NodeProcess("tristream_ros.cli", "bag", "play", *args)


@pytest.mark.parametrize("name", REAL_BAGS)
def test_play_real_bag(probe, name):
    from rosgraph_msgs.msg import Clock
    from std_msgs.msg import String

    from tristream_ros.ros.qos import sensor_qos

    got = probe.subscribe(String, "/topic")
    clock = probe.subscribe(Clock, "/clock", qos=sensor_qos(100))
    arrival = []
    probe.node.create_subscription(String, "/topic", lambda m: arrival.append(time.monotonic()), 10)
    # The whole bag plays in under a second at rate 5; in the full suite (many DDS participants
    # in one domain) the probe sometimes missed the start although the player had counted its
    # readers (2 of 4 full runs in session 3, never alone). A missed pass is played again, up to
    # 3 times, with the same checks on the pass that arrives whole.
    outputs = []
    for _attempt in range(3):
        got.clear(), clock.clear(), arrival.clear()
        with play_cmd(str(BAGS / name), "--rate", "5", "--clock", "--topics", "/topic",
                      "--wait-for-subscribers", "2", "--delay", "1.5") as player:
            whole = probe.wait_until(lambda: len(got) >= 10, 20)
            player.proc.wait(10)
            assert player.proc.returncode == 0, player.output
            outputs.append(player.output)
        if whole:
            break
    assert whole, outputs
    assert [m.data for m in got] == [f"Hello, world! {i}" for i in range(10)]
    span = arrival[-1] - arrival[0]
    assert 0.6 < span < 2.5, span  # recorded 4.5 s at rate 5 = 0.9 s (loose upper bound: shared CPU)
    assert len(clock) >= 10
    assert abs(clock[0].clock.sec - 1585866235) < 10  # bag time (2020), not wall time


def test_play_loop_and_ctrl_c(probe):
    from std_msgs.msg import String

    got = probe.subscribe(String, "/topic")
    with play_cmd(str(BAGS / "talker_mcap"), "--loop", "--rate", "10", "--topics", "/topic",
                  "--wait-for-subscribers", "1") as player:
        assert probe.wait_until(lambda: len(got) >= 15, 20), player.output  # more than one pass
        assert player.stop() == 0  # SIGINT ends a looping player cleanly
    assert [m.data for m in got[:12]] == [f"Hello, world! {i % 10}" for i in range(12)]


def test_record_play_receive_own_types(tmp_path, probe):
    from tristream_ros.msg import AudioChunk, VisionTokens

    bag = tmp_path / "rec"
    apub = probe.publisher(AudioChunk, "/audio/input")
    vpub = probe.publisher(VisionTokens, "/vision/tokens")
    with NodeProcess("tristream_ros.cli", "bag", "record", "-o", str(bag), "/audio/input", "/vision/tokens",
                     "--storage", "mcap", "--max-messages", "10") as rec:
        assert probe.wait_for_subscribers(apub, 1, 15) and probe.wait_for_subscribers(vpub, 1, 15), rec.output
        for i in range(5):
            a = AudioChunk(sample_rate=16000, channels=1, sample_format="S16LE", sequence=i)
            a.data = np.full(320, i, "<i2").tobytes()
            apub.publish(a)
            v = VisionTokens(grid_height=8, grid_width=8, feature_dim=2, rows=[i], cols=[i + 1],
                             importance=[0.5], features=[float(i), -1.0], keep_ratio=1 / 64)
            v.header.frame_id = f"frame{i}"
            vpub.publish(v)
            probe.spin_for(0.05)
        rec.proc.wait(15)
        assert rec.proc.returncode == 0, rec.output
        assert "recorded 10 messages" in rec.output
    info = bag_info(bag)
    assert {t.name: t.count for t in info.topics} == {"/audio/input": 5, "/vision/tokens": 5}

    audio = probe.subscribe(AudioChunk, "/audio/input")
    vision = probe.subscribe(VisionTokens, "/vision/tokens")
    with play_cmd(str(bag), "--wait-for-subscribers", "1") as player:
        assert probe.wait_until(lambda: len(audio) >= 5 and len(vision) >= 5, 20), player.output
        player.proc.wait(10)
        assert player.proc.returncode == 0
    assert [m.sequence for m in audio] == list(range(5))
    assert np.frombuffer(bytes(audio[3].data), "<i2").tolist() == [3] * 320
    assert [m.header.frame_id for m in vision] == [f"frame{i}" for i in range(5)]
    assert list(vision[2].features) == [2.0, -1.0] and list(vision[2].cols) == [3]


def test_play_bad_path_reports_and_serve_keeps_going(tmp_path, probe):
    from std_msgs.msg import String

    probe.subscribe_diagnostics()
    with play_cmd("/no/such/bag", "--error-linger", "15") as player:
        player.proc.wait(30)
        assert player.proc.returncode == 2
        assert "bag path '/no/such/bag' does not exist" in player.output
    assert probe.wait_until(lambda: any("/no/such/bag" in s.message for s in error_statuses(probe.diagnostics())), 10)

    # serving player: a bad request is reported, the next good one plays
    got = probe.subscribe(String, "/topic")
    done = probe.subscribe(String, "/bag_player/done")
    req = probe.publisher(String, "/bag_player/play")
    not_a_bag = tmp_path / "empty"
    not_a_bag.mkdir()
    with play_cmd("--serve", "--rate", "10") as player:
        assert probe.wait_for_subscribers(req, 1, 15), player.output
        req.publish(String(data=str(not_a_bag)))
        assert probe.wait_until(lambda: len(done) >= 1, 10), player.output
        assert done[0].data.startswith("error") and "no metadata.yaml" in done[0].data
        assert probe.wait_until(lambda: any("no metadata.yaml" in s.message for s in error_statuses(probe.diagnostics())), 5)
        req.publish(String(data="/no/such/bag2"))
        assert probe.wait_until(lambda: len(done) >= 2, 10), player.output
        assert done[1].data.startswith("error") and "does not exist" in done[1].data
        req.publish(String(data=str(BAGS / "talker_sqlite3")))
        assert probe.wait_until(lambda: len(got) >= 10 and len(done) >= 3, 15), player.output
        assert done[2].data.startswith("ok") and player.alive()
        assert player.stop() == 0
