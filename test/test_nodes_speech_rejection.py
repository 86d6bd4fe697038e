"""Speech outside the grammar on a real speech_tokenizer_node with the shipped model's defaults:
a real person saying digits (a TIDIGITS recording from pocketsphinx's tests) is heard, published as a final
transcript, but marked not understood (speech tokens go out empty, no transcript: the fusion
node makes no query of it, so the robot does not act), counted on /diagnostics; a command in
the grammar right after it goes through as usual."""
from __future__ import annotations

import numpy as np
import pytest

from graph_helpers import DEMO_MODEL
from ros_helpers import NodeProcess, Probe

pytestmark = pytest.mark.skipif(DEMO_MODEL is None, reason="models/demo (the shipped checkpoint) is missing")


def test_out_of_domain_speech_is_not_forwarded():
    from tristream_ros.data.speech_synth import read_wav
    from tristream_ros.model.speech.ctc_grammar import load_grammar_thresholds
    from tristream_ros.msg import AudioChunk, SpeechTokens, Transcript
    from tristream_ros.outputs.tts import EspeakTTS
    from tristream_ros.ros.conversions import ns_to_stamp
    from tristream_ros.training.evaluate_domain import RECORDINGS_DIR

    assert load_grammar_thresholds(DEMO_MODEL).rejects  # the shipped front end rejects out-of-domain speech
    outside = read_wav(RECORDINGS_DIR / "tidigits_2934z.wav")  # a real person, "two nine three four zero"
    command = EspeakTTS(voice="en-us", speed_wpm=150).synthesize("turn left")
    silence = np.zeros(16000, np.float32)
    audio = np.concatenate([silence, outside, silence, silence, command, silence, silence])
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with NodeProcess("tristream_ros.ros.speech_tokenizer_node",
                     ros_args=["-p", f"model.path:={DEMO_MODEL}", "-p", "qos.audio_depth:=200"]) as node:
        probe = Probe("rejection_probe")
        try:
            probe.subscribe_diagnostics()
            transcripts = probe.subscribe(Transcript, "speech/transcript")
            tokens = probe.subscribe(SpeechTokens, "speech/tokens")
            pub = probe.publisher(AudioChunk, "audio/input")
            assert probe.wait_for_subscribers(pub, 1, 120), node.output
            base = 1_700_000_000_000_000_000
            for seq, i in enumerate(range(0, len(pcm), 800)):  # 50 ms chunks
                msg = AudioChunk(sample_rate=16000, channels=1, sample_format="S16LE", sequence=seq)
                msg.data = pcm[i:i + 800].tobytes()
                msg.header.stamp = ns_to_stamp(base + seq * 50_000_000)
                pub.publish(msg)
                probe.spin_for(0.02)
            assert probe.wait_until(lambda: len(tokens) >= 2, 60), node.output
            probe.spin_for(1.2)
            finals = {t.utterance_id: t.text for t in transcripts if t.is_final}
            first, second = tokens[0], tokens[1]
            assert first.num_tokens == 0 and first.transcript == "" and not first.features  # nothing to act on
            assert finals[first.utterance_id]  # ... but what was heard is still published
            assert "not understood" in node.output
            assert second.transcript == "turn left" and second.num_tokens > 0
            diag = [s for s in probe.diagnostics() if "speech_tokenizer_node" in s.name][-1]
            values = {kv.key: kv.value for kv in diag.values}
            assert int(values["not_understood"]) == 1, values
            assert node.alive()
        finally:
            probe.close()
