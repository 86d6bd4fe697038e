"""Demo bag: readable by rosbags (no ROS), both topics, ground truth consistent with the stream."""
import json

import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from tristream_ros.bag.typestore import typestore
from tristream_ros.data import demo_bag as DB
from tristream_ros.data import speech_synth as S

pytestmark = pytest.mark.skipif(S.shutil.which(S.ESPEAK) is None, reason="espeak-ng not installed")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return DB.write_demo_bag(out, seed=0, cache_dir=out / "cache")


def _read(bag_path):
    frames, chunks = [], []
    with AnyReader([bag_path], default_typestore=typestore()) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        for conn, t_ns, raw in reader.messages():
            msg = reader.deserialize(raw, conn.msgtype)
            stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
            assert stamp == t_ns  # header stamp = bag time
            (frames if conn.topic == DB.CAMERA_TOPIC else chunks).append((t_ns, msg))
    return topics, frames, chunks


def test_bag_has_both_topics_and_decodes(demo):
    topics, frames, chunks = _read(demo.bag_path)
    assert topics == {DB.CAMERA_TOPIC: DB.IMAGE_TYPE, DB.AUDIO_TOPIC: DB.AUDIO_TYPE}
    truth = demo.truth
    assert len(frames) == truth["topics"][DB.CAMERA_TOPIC]["count"] and len(chunks) == truth["topics"][DB.AUDIO_TOPIC]["count"]
    img = frames[0][1]
    assert (img.encoding, img.height, img.width, img.step) == ("rgb8", 256, 256, 768)
    assert np.asarray(img.data).reshape(256, 256, 3).std() > 5
    periods = np.diff([t for t, _ in frames]) / 1e9
    assert np.allclose(periods, 1 / DB.CAMERA_RATE_HZ)
    a = chunks[0][1]
    assert (a.sample_rate, a.channels, a.sample_format) == (16000, 1, "S16LE")
    assert [m.sequence for _, m in chunks] == list(range(len(chunks)))


def test_spoken_utterances_are_where_the_ground_truth_says(demo):
    _, _, chunks = _read(demo.bag_path)
    audio = np.concatenate([np.frombuffer(bytes(m.data), "<i2") for _, m in chunks]).astype(np.float32) / 32768
    truth = json.loads(demo.truth_path.read_text())
    utts = truth["utterances"]
    assert len(utts) >= 5
    routes = {u["route"] for u in utts}
    assert {"speech", "speech_vision", "trimodal"} <= routes
    assert any(u["expected_action"] == "navigate_to" for u in utts)

    def rms(t0, t1):
        return float(np.sqrt(np.mean(audio[int(t0 * 16000): int(t1 * 16000)] ** 2)))

    for u, nxt in zip(utts, utts[1:] + [None]):
        assert rms(u["start_s"], u["end_s"]) > 10 * rms(u["end_s"] + 0.2, u["end_s"] + 2.0)  # speech, then quiet
        assert u["end_ns"] - truth["start_ns"] == pytest.approx(u["end_s"] * 1e9, abs=1e5)  # end_s is rounded to 0.1 ms
        if u["expected_target_uv"] is not None:
            name = u["referent"]
            assert name.split()[-1] in (u["text"] + " " + u["context"]).split() or name.split()[-1] in u["expected_answer"]
        if u["route"] == "trimodal":  # the follow-up refers to the utterance just before it
            prev = utts[utts.index(u) - 1]
            assert u["context"] == f"{prev['text']} <sep> {prev['expected_answer']}"


def test_deterministic_and_mcap(tmp_path, demo):
    again = DB.write_demo_bag(tmp_path / "a", seed=0, storage="mcap", cache_dir=tmp_path / "cache")
    assert again.truth["utterances"] == demo.truth["utterances"]
    topics, frames, _ = _read(again.bag_path)
    _, frames0, _ = _read(demo.bag_path)
    assert len(topics) == 2
    np.testing.assert_array_equal(np.asarray(frames[10][1].data), np.asarray(frames0[10][1].data))
    with pytest.raises(S.InputError, match="exists"):
        DB.write_demo_bag(tmp_path / "a", seed=0)
