"""vision_encoder_node and speech_tokenizer_node as real processes: tokens with copied stamps,
no backlog under a 60 Hz flood, malformed frames and audio reported without dying, partial and
final transcripts with stamps from the audio."""
from __future__ import annotations

import time

import numpy as np
import pytest

from graph_helpers import make_checkpoint
from ros_helpers import SPEECH_WAV, NodeProcess, Probe, error_statuses


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("tiny"))


def frame(k: int, size=256) -> np.ndarray:
    rng = np.random.default_rng(k)
    img = np.full((size, size, 3), 90, np.uint8)
    x = 20 + (k * 7) % 180
    img[100:160, x:x + 50] = rng.integers(0, 255, 3, dtype=np.uint8)
    return img


def test_vision_rate_flood_and_bad_frames(model):
    from sensor_msgs.msg import CompressedImage, Image

    from tristream_ros.msg import VisionTokens
    from tristream_ros.ros.conversions import ns_to_stamp, numpy_to_image

    with NodeProcess("tristream_ros.ros.vision_encoder_node",
                     ros_args=["-p", f"model.path:={model}", "-p", "max_rate_hz:=5.0"]) as node:
        probe = Probe("vision_probe")
        try:
            probe.subscribe_diagnostics()
            out = probe.subscribe(VisionTokens, "vision/tokens")
            pub = probe.publisher(Image, "camera/image")
            cpub = probe.publisher(CompressedImage, "camera/image/compressed")
            assert probe.wait_for_subscribers(pub, 1, 60), node.output
            # one good frame: tokens carry its header
            stamp = ns_to_stamp(1_700_000_000_123_000_000)
            msg = numpy_to_image(frame(0), "rgb8")
            msg.header.stamp, msg.header.frame_id = stamp, "cam_front"
            for _ in range(20):  # best-effort subscription: the very first message after matching may be lost
                pub.publish(msg)
                if probe.wait_until(lambda: len(out) >= 1, 1.0):
                    break
            assert len(out) == 1, node.output  # a repeat of the same stamp is stale, never re-encoded
            t = out[0]
            assert t.header.stamp == stamp and t.source_stamp == stamp and t.header.frame_id == "cam_front"
            n = len(t.rows)
            assert 1 <= n <= t.grid_height * t.grid_width and len(t.features) == n * t.feature_dim
            assert t.keep_ratio == pytest.approx(n / (t.grid_height * t.grid_width))

            # malformed frames: wrong data size, unknown encoding, garbage JPEG
            bad = numpy_to_image(frame(1), "rgb8")
            bad.data = bytes(100)
            bad.header.stamp = ns_to_stamp(1_700_000_001_000_000_000)
            pub.publish(bad)
            probe.spin_for(0.4)
            bad2 = numpy_to_image(frame(2), "rgb8")
            bad2.encoding = "yuv_weird"
            bad2.header.stamp = ns_to_stamp(1_700_000_002_000_000_000)
            pub.publish(bad2)
            probe.spin_for(0.4)
            junk = CompressedImage(format="jpeg")
            junk.data = b"\xff\xd8not a jpeg"
            junk.header.stamp = ns_to_stamp(1_700_000_003_000_000_000)
            cpub.publish(junk)
            assert probe.wait_until(lambda: len(error_statuses(probe.diagnostics(), "vision_encoder_node")) >= 1, 10)
            assert node.wait_output("bad raw camera frame", 5) and node.wait_output("bad compressed camera frame", 5)

            # a 3 s flood at 60 Hz: output stays at <= 5 Hz, newest frames win, no backlog; the
            # malformed frames in it (1 in 10) are all counted although most arrive while the
            # worker is busy, and none pushes a good frame out of the mailbox
            out.clear()
            t0 = time.monotonic()
            k = n_bad = 0
            base = 1_700_000_010_000_000_000
            while time.monotonic() - t0 < 3.0:
                m = numpy_to_image(frame(k), "rgb8")
                if k % 10 == 5:
                    m.data = bytes(7)
                    n_bad += 1
                m.header.stamp = ns_to_stamp(base + k * 16_666_667)
                pub.publish(m)
                k += 1
                probe.spin_for(1 / 60)
            last_sent = base + (k - 1) * 16_666_667
            probe.spin_for(0.6)
            assert 5 <= len(out) <= 3.0 * 5 + 2, len(out)
            stamps = [s.header.stamp.sec * 10**9 + s.header.stamp.nanosec for s in out]
            assert stamps == sorted(stamps)
            assert last_sent - stamps[-1] < 0.5e9  # the newest frames get encoded, not a backlog
            probe.spin_for(1.2)
            diag = [s for s in probe.diagnostics() if "vision_encoder_node" in s.name][-1]
            values = {kv.key: kv.value for kv in diag.values}
            assert int(values["dropped"]) > 0 and int(values["bad_frames"]) >= 3 + n_bad, (values, n_bad)
            assert node.alive()
        finally:
            probe.close()


def wav_chunks(path, chunk=800):
    import wave

    with wave.open(str(path)) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return [pcm[i:i + chunk] for i in range(0, len(pcm), chunk)]


def test_speech_partials_final_stamps_and_bad_audio(model):
    from tristream_ros.msg import AudioChunk, SpeechTokens, Transcript
    from tristream_ros.ros.conversions import ns_to_stamp, stamp_to_ns

    with NodeProcess("tristream_ros.ros.speech_tokenizer_node",
                     ros_args=["-p", f"model.path:={model}", "-p", "pocketsphinx.vocabulary:=none",
                                "-p", "qos.audio_depth:=100"]) as node:
        probe = Probe("speech_probe")
        try:
            probe.subscribe_diagnostics()
            transcripts = probe.subscribe(Transcript, "speech/transcript")
            tokens = probe.subscribe(SpeechTokens, "speech/tokens")
            pub = probe.publisher(AudioChunk, "audio/input")
            assert probe.wait_for_subscribers(pub, 1, 60), node.output
            base = 1_700_000_000_000_000_000
            seq = 0

            def send(samples: np.ndarray, fmt="S16LE", rate=16000):
                nonlocal seq
                msg = AudioChunk(sample_rate=rate, channels=1, sample_format=fmt, sequence=seq)
                msg.data = samples.astype("<i2").tobytes() if fmt == "S16LE" else samples.tobytes()
                msg.header.stamp = ns_to_stamp(base + seq * 50_000_000)
                seq += 1
                pub.publish(msg)

            silence = np.zeros(800, np.int16)
            chunks = [silence] * 10 + wav_chunks(SPEECH_WAV) + [silence] * 20
            bad_at = {15: "odd", 25: "nan", 35: "format"}
            for i, c in enumerate(chunks):
                if bad_at.get(i) == "odd":
                    m = AudioChunk(sample_rate=16000, channels=1, sample_format="S16LE", sequence=seq)
                    m.data = b"\x01\x02\x03"
                    m.header.stamp = ns_to_stamp(base + seq * 50_000_000)
                    pub.publish(m)  # malformed: counted, skipped (sequence continues)
                elif bad_at.get(i) == "nan":
                    m = AudioChunk(sample_rate=16000, channels=1, sample_format="F32LE", sequence=seq)
                    m.data = np.full(800, np.nan, "<f4").tobytes()
                    m.header.stamp = ns_to_stamp(base + seq * 50_000_000)
                    pub.publish(m)
                elif bad_at.get(i) == "format":
                    m = AudioChunk(sample_rate=0, channels=1, sample_format="S24XX", sequence=seq)
                    m.data = bytes(10)
                    pub.publish(m)
                send(c)
                probe.spin_for(0.02)
            assert probe.wait_until(lambda: len(tokens) >= 1, 60), node.output
            probe.spin_for(1.0)
            partials = [t for t in transcripts if not t.is_final]
            finals = [t for t in transcripts if t.is_final]
            assert partials[0].text == "" and partials[0].utterance_id == tokens[0].utterance_id  # VAD start
            assert len({p.text for p in partials}) >= 3  # partials while the user spoke
            tok = tokens[0]
            assert finals and finals[0].text == tok.transcript and finals[0].utterance_id == tok.utterance_id
            start, end = stamp_to_ns(tok.speech_start), stamp_to_ns(tok.speech_end)
            speech_s = (len(chunks) - 30) * 0.05
            assert base + 0.3e9 < start < base + 1.0e9  # speech begins after the 0.5 s of silence
            assert 0.6 * speech_s < (end - start) / 1e9 < speech_s + 0.6
            assert stamp_to_ns(tok.header.stamp) == end == stamp_to_ns(finals[0].header.stamp)
            assert tok.num_tokens > 0 and len(tok.features) == tok.num_tokens * tok.feature_dim
            assert len(tok.transcript.split()) >= 3
            probe.spin_for(1.2)
            diag = [s for s in probe.diagnostics() if "speech_tokenizer_node" in s.name][-1]
            values = {kv.key: kv.value for kv in diag.values}
            assert int(values["bad_chunks"]) == 3, values
            assert node.alive()
        finally:
            probe.close()


def test_vision_backends_agree(model, tmp_path):
    """runtime.backend onnx (tile backbone in ONNX Runtime) gives the torch backend's tokens."""
    pytest.importorskip("onnxruntime")
    import torch

    from tristream_ros.model.checkpoint import load_checkpoint
    from tristream_ros.ros.vision_encoder_node import build_backend
    from tristream_ros.runtime.export_onnx import export_model

    torch.set_num_threads(1)
    export_model(load_checkpoint(model), tmp_path / "onnx", parts=("vision",), progress=False)
    torch_be = build_backend("torch", model, False)
    onnx_be = build_backend("onnx", model, False, str(tmp_path / "onnx"), 1)
    for k in range(3):  # tile cache and temporal pooling run on top of either backbone
        a, b = torch_be.encode(frame(k)), onnx_be.encode(frame(k))
        assert a.rows.tolist() == b.rows.tolist() and a.tiles_reencoded == b.tiles_reencoded
        torch.testing.assert_close(a.features, b.features, atol=1e-4, rtol=1e-4)
    from tristream_ros.errors import ModelFileError

    with pytest.raises(ModelFileError, match="runtime"):
        build_backend("onnx", model, False, str(tmp_path), 1)  # no runtime.json there
