"""fusion_node as a real process: lifecycle (missing / corrupt model at configure, reconfigure),
streamed answers with copied stamps, action hints, spoken audio, barge-in, bad inputs."""
from __future__ import annotations

import time

import pytest

from graph_helpers import make_checkpoint
from ros_helpers import NodeProcess, Probe, error_statuses

MODULE = "tristream_ros.ros.fusion_node"


@pytest.fixture(scope="module")
def talk_model(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("talk"), talkative=True)


def call(probe, client, request, timeout=20.0):
    assert client.wait_for_service(timeout_sec=timeout), f"service {client.srv_name} not available"
    fut = client.call_async(request)
    assert probe.wait_until(fut.done, timeout), f"{client.srv_name} did not answer"
    return fut.result()


def lifecycle_state(probe, node_name="fusion_node") -> str:
    from lifecycle_msgs.srv import GetState

    cli = probe.node.create_client(GetState, f"/{node_name}/get_state")
    return call(probe, cli, GetState.Request()).current_state.label


def change_state(probe, transition_id: int, node_name="fusion_node") -> bool:
    from lifecycle_msgs.srv import ChangeState

    cli = probe.node.create_client(ChangeState, f"/{node_name}/change_state")
    req = ChangeState.Request()
    req.transition.id = transition_id
    return call(probe, cli, req, timeout=60.0).success


def set_param(probe, name: str, value: str, node_name="fusion_node") -> None:
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    cli = probe.node.create_client(SetParameters, f"/{node_name}/set_parameters")
    req = SetParameters.Request(parameters=[Parameter(name=name, value=ParameterValue(
        type=ParameterType.PARAMETER_STRING, string_value=value))])
    assert call(probe, cli, req).results[0].successful


def speech_tokens(utt: str, text: str, stamp_ns: int, n=6, d=None, features=None):
    from tristream_ros.msg import SpeechTokens
    from tristream_ros.ros.conversions import ns_to_stamp

    msg = SpeechTokens(utterance_id=utt, transcript=text, num_tokens=n, feature_dim=d or 0)
    msg.header.stamp = ns_to_stamp(stamp_ns)
    if features is not None:
        msg.features = features
    return msg


def test_missing_and_corrupt_model_then_reconfigure(tmp_path, talk_model):
    from lifecycle_msgs.msg import Transition

    from tristream_ros.msg import ActionHint, ResponseChunk, SpeechTokens

    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for f in ("config.json", "vocab.json"):
        (corrupt / f).write_bytes((talk_model / f).read_bytes())
    (corrupt / "model.safetensors").write_bytes((talk_model / "model.safetensors").read_bytes()[:1000])
    with NodeProcess(MODULE, ros_args=["-p", f"model.path:={tmp_path / 'missing'}", "-p", "tts.enabled:=false"]) as node:
        probe = Probe("fusion_lifecycle_probe")
        try:
            probe.subscribe_diagnostics()
            assert node.wait_output("configure failed", 60), node.output
            assert "missing" in node.output and "not found" in node.output
            assert probe.wait_until(lambda: error_statuses(probe.diagnostics(), "fusion_node"), 10)
            assert node.alive() and lifecycle_state(probe) == "unconfigured"

            set_param(probe, "model.path", str(corrupt))
            assert not change_state(probe, Transition.TRANSITION_CONFIGURE)
            assert "cannot read weights file" in node.output or "corrupt" in node.output.lower(), node.output
            assert node.alive() and lifecycle_state(probe) == "unconfigured"

            set_param(probe, "model.path", str(talk_model))
            assert change_state(probe, Transition.TRANSITION_CONFIGURE), node.output
            assert change_state(probe, Transition.TRANSITION_ACTIVATE)
            assert lifecycle_state(probe) == "active"

            responses = probe.subscribe(ResponseChunk, "assistant/response")
            hints = probe.subscribe(ActionHint, "assistant/action_hint")
            pub = probe.publisher(SpeechTokens, "speech/tokens")
            assert probe.wait_for_subscribers(pub, 1, 10)
            stamp = time.time_ns() - 300_000_000
            pub.publish(speech_tokens("u-ok", "turn left", stamp, n=0))
            assert probe.wait_until(lambda: any(r.is_final for r in responses), 30), node.output
            final = [r for r in responses if r.is_final][0]
            words = [r.text for r in responses if not r.is_final]
            assert not final.is_error and words and "".join(words).split()[0] in ("left", "stop")
            assert all(r.header.stamp.sec * 10**9 + r.header.stamp.nanosec == stamp for r in responses)
            assert [r.sequence for r in responses] == list(range(len(responses)))
            assert "total" in final.latency_stages and len(final.latency_ms) == len(final.latency_stages)
            assert len(hints) == 1 and hints[0].utterance_id == "u-ok"
            assert hints[0].header.stamp == responses[0].header.stamp
        finally:
            probe.close()


@pytest.fixture(scope="module")
def active_fusion(talk_model):
    node = NodeProcess(MODULE, ros_args=["-p", f"model.path:={talk_model}", "-p", "tts.chunk_ms:=100.0",
                                         "-p", "max_pending:=3"])
    probe = Probe("fusion_probe")
    yield node, probe
    probe.close()
    node.stop()


def test_bad_inputs_are_answered_with_errors(active_fusion):
    from tristream_ros.msg import ActionHint, AudioChunk, ResponseChunk, SpeechTokens, VisionTokens

    node, probe = active_fusion
    responses = probe.subscribe(ResponseChunk, "assistant/response")
    hints = probe.subscribe(ActionHint, "assistant/action_hint")
    listener = Probe("fusion_audio_probe")  # its own node: a second subscription of `probe` to a topic
    audio = listener.subscribe(AudioChunk, "audio/output")  # shares its list and doubles every message
    pub = probe.publisher(SpeechTokens, "speech/tokens")
    vis = probe.publisher(VisionTokens, "vision/tokens")
    assert probe.wait_for_subscribers(pub, 1, 60), node.output
    assert probe.wait_for_subscribers(vis, 1, 60), node.output  # else the bad tokens can go before discovery
    now = time.time_ns()
    # malformed vision tokens (sizes disagree): rejected on arrival (log + diagnostics), not kept
    bad_v = VisionTokens(grid_height=8, grid_width=8, feature_dim=4, rows=[0, 1], cols=[0], importance=[1.0],
                         features=[0.0] * 3)
    bad_v.header.stamp = speech_tokens("x", "", now).header.stamp
    vis.publish(bad_v)
    probe.spin_for(0.3)
    for msg in (speech_tokens("u-empty", "", now, n=0),  # nothing to answer
                speech_tokens("u-badtok", "stop", now, n=3, d=7, features=[0.0] * 5),  # wrong sizes: text only
                speech_tokens("u-nan", "stop", now, n=1, d=32, features=[float("nan")] * 32),
                speech_tokens("u-desc", "what colour is the ball", now, n=0)):  # answered without the bad vision
        pub.publish(msg)
        probe.spin_for(0.6)  # one at a time: max_pending is 3 here (overflow has its own test)
    done = lambda: {r.utterance_id for r in responses if r.is_final} >= {"u-empty", "u-badtok", "u-nan", "u-desc"}  # noqa
    assert probe.wait_until(done, 60), (node.output, [(r.utterance_id, r.is_final) for r in responses])
    finals = {r.utterance_id: r for r in responses if r.is_final}
    assert finals["u-empty"].is_error and "empty" in finals["u-empty"].error
    # ... spoken to ("sorry, i did not catch that": speech the speech node did not understand
    # arrives like this), but never acted on
    assert listener.wait_until(lambda: any(a.utterance_id == "u-empty" and len(a.data) for a in audio), 15), \
        node.output
    listener.close()
    assert not [h for h in hints if h.utterance_id == "u-empty"]
    assert not finals["u-badtok"].is_error and not finals["u-nan"].is_error  # answered from the transcript
    assert not finals["u-desc"].is_error, finals["u-desc"].error
    assert "vision tokens rejected" in node.output and "sizes disagree" in node.output
    assert node.alive()


def test_barge_in_cuts_audio_within_one_chunk(active_fusion):
    from tristream_ros.msg import AudioChunk, SpeechTokens, Transcript

    node, probe = active_fusion
    audio = probe.subscribe(AudioChunk, "audio/output")
    pub = probe.publisher(SpeechTokens, "speech/tokens")
    tpub = probe.publisher(Transcript, "speech/transcript")
    assert probe.wait_for_subscribers(pub, 1, 60) and probe.wait_for_subscribers(tpub, 1, 10)
    t_end = time.time_ns()
    pub.publish(speech_tokens("u-long", "turn left", t_end, n=0))
    # the first chunk arrives before the answer is complete (12 words take ~4 s to speak)
    assert probe.wait_until(lambda: any(a.utterance_id == "u-long" and len(a.data) for a in audio), 30), node.output
    t_first = time.monotonic()
    probe.spin_for(0.5)
    n_before = sum(1 for a in audio if a.utterance_id == "u-long" and len(a.data))
    assert n_before >= 2
    tpub.publish(Transcript(utterance_id="u-next", text="", is_final=False))  # the user speaks again
    t_barge = time.monotonic()
    probe.spin_for(1.5)
    got = [a for a in audio if a.utterance_id == "u-long"]
    with_data = [a for a in got if len(a.data)]
    chunk_s = len(with_data[0].data) / 2 / 16000  # S16LE mono
    assert chunk_s == pytest.approx(0.1, abs=0.01)
    # chunks are paced like playback: by the barge-in about (elapsed / chunk) + lead were sent
    assert n_before <= (t_barge - t_first) / chunk_s + 3
    assert len(with_data) <= n_before + 1 + 1, (n_before, len(with_data))  # at most one more chunk
    assert got[-1].is_final and len(got[-1].data) == 0  # an explicit end of the cut speech
    spoken_s = len(with_data) * chunk_s
    assert spoken_s < 3.0  # the full answer would be ~4 s
    assert node.alive()


def test_queue_overflow_answers_with_error(active_fusion):
    from tristream_ros.msg import ResponseChunk, SpeechTokens

    node, probe = active_fusion
    responses = probe.subscribe(ResponseChunk, "assistant/response")
    pub = probe.publisher(SpeechTokens, "speech/tokens")
    assert probe.wait_for_subscribers(pub, 1, 60)
    ids = [f"u-flood-{i}" for i in range(8)]
    for u in ids:
        pub.publish(speech_tokens(u, "stop", time.time_ns(), n=0))
    assert probe.wait_until(lambda: {r.utterance_id for r in responses if r.is_final} >= set(ids), 90), node.output
    finals = {r.utterance_id: r for r in responses if r.is_final}
    errors = [u for u in ids if finals[u].is_error]
    assert errors and all("not answered" in finals[u].error for u in errors)  # explicit, none silent
    assert len(errors) < len(ids)


def test_typed_query_is_answered(active_fusion):
    from std_msgs.msg import String

    from tristream_ros.msg import ActionHint, ResponseChunk

    node, probe = active_fusion
    responses = probe.subscribe(ResponseChunk, "assistant/response")
    hints = probe.subscribe(ActionHint, "assistant/action_hint")
    pub = probe.publisher(String, "assistant/query")
    assert probe.wait_for_subscribers(pub, 1, 60)
    pub.publish(String(data="what colour is the ball"))
    assert probe.wait_until(lambda: any(r.is_final and r.utterance_id.startswith("typed-") for r in responses), 30)
    final = [r for r in responses if r.is_final and r.utterance_id.startswith("typed-")][0]
    assert not final.is_error and final.route
    assert any(h.utterance_id == final.utterance_id for h in hints)


def test_two_robots_in_namespaces(talk_model):
    """Relative topics: two fusion nodes in /robot1 and /robot2 answer only their own robot."""
    from tristream_ros.msg import ResponseChunk, SpeechTokens

    args = ["-p", f"model.path:={talk_model}", "-p", "tts.enabled:=false"]
    with NodeProcess(MODULE, ros_args=args + ["-r", "__ns:=/robot1"]) as n1, \
            NodeProcess(MODULE, ros_args=args + ["-r", "__ns:=/robot2"]) as n2:
        probe = Probe("ns_probe")
        try:
            r1 = probe.subscribe(ResponseChunk, "/robot1/assistant/response")
            r2 = probe.subscribe(ResponseChunk, "/robot2/assistant/response")
            pub = probe.publisher(SpeechTokens, "/robot1/speech/tokens")
            assert probe.wait_for_subscribers(pub, 1, 60), n1.output
            assert probe.wait_for_publishers("/robot2/assistant/response", 1, 60), n2.output
            pub.publish(speech_tokens("u-r1", "stop", time.time_ns(), n=0))
            assert probe.wait_until(lambda: any(r.is_final for r in r1), 30), n1.output
            probe.spin_for(0.5)
            assert not r2 and {r.utterance_id for r in r1} == {"u-r1"}
        finally:
            probe.close()


def test_context_only_for_follow_ups():
    """The previous turn goes to the model only for queries that point back at it (as trained)."""
    from tristream_ros.data import language as L
    from tristream_ros.ros.fusion_node import refers_back

    for intent, (train, test) in L.ALL_INTENTS.items():
        for template in train + test:
            assert refers_back(template) == (intent in L.FOLLOWUP_INTENTS), (intent, template)
    assert refers_back("go over there") and not refers_back("how many balls are there")


def test_autostart_false_waits_for_a_lifecycle_manager(talk_model):
    """With autostart false (nav2_lifecycle_manager style) nothing loads until configure/activate."""
    from lifecycle_msgs.msg import Transition

    with NodeProcess(MODULE, ros_args=["-p", f"model.path:={talk_model}", "-p", "autostart:=false",
                                       "-r", "__node:=fusion_manual", "-r", "__ns:=/manual"]) as node:
        probe = Probe("manual_probe")
        try:
            assert lifecycle_state(probe, "manual/fusion_manual") == "unconfigured"
            assert probe.node.count_subscribers("/manual/speech/tokens") == 0
            assert change_state(probe, Transition.TRANSITION_CONFIGURE, "manual/fusion_manual"), node.output
            assert lifecycle_state(probe, "manual/fusion_manual") == "inactive"
            assert change_state(probe, Transition.TRANSITION_ACTIVATE, "manual/fusion_manual")
            assert probe.wait_until(lambda: probe.node.count_subscribers("/manual/speech/tokens") == 1, 10)
            assert change_state(probe, Transition.TRANSITION_DEACTIVATE, "manual/fusion_manual")
            assert probe.wait_until(lambda: probe.node.count_subscribers("/manual/speech/tokens") == 0, 10)
            assert change_state(probe, Transition.TRANSITION_CLEANUP, "manual/fusion_manual")
            assert lifecycle_state(probe, "manual/fusion_manual") == "unconfigured" and node.alive()
        finally:
            probe.close()
