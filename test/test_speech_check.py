"""Too much speech for the sentence heard (session 34): the hybrid front end marks an utterance
"not understood" when it holds more speech than its sentence can account for
(tokenizer.speech_explained: SPEECH_ALLOWANCE_S + SPEECH_S_PER_PHONE per cmudict phone of the
sentence heard with its wrapper words; speech = silero windows >= the VAD threshold,
vad.StreamingVad.speech_seconds). Checked on real recordings: the VAD's count on read speech,
the slowest real-voice commands we have (spliced telephone prompts) understood with the check on,
and the check refusing a real command once its limit is below the speaker's rate."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tristream_ros.model.speech.tokenizer import SPEECH_ALLOWANCE_S, SPEECH_S_PER_PHONE, speech_explained
from tristream_ros.model.speech.vad import WINDOW_SAMPLES, StreamingVad
from tristream_ros.signal.audio_file import load_audio
from tristream_ros.training.evaluate_domain import RECORDINGS_DIR

DEMO = Path(__file__).resolve().parents[1] / "models" / "demo"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "speech"
SPLICED = RECORDINGS_DIR / "spliced"
# the spliced real-voice commands spoken slowest (s of speech per phone of their transcript,
# 0.16-0.205: the top of the 100; espeak test voices in rooms reach 0.192, read speech 0.08-0.10)
SLOWEST_SPLICED = ("spliced_back_up_0.wav", "spliced_back_up_1.wav", "spliced_back_up_2.wav",
                   "spliced_look_at_it_0.wav", "spliced_back_up_3.wav")


def test_speech_explained():
    assert speech_explained(1.0, 4)  # "stop" (4 phones): up to 0.2 + 0.3 x 4 = 1.4 s of speech
    assert speech_explained(SPEECH_ALLOWANCE_S + SPEECH_S_PER_PHONE * 4, 4)
    assert not speech_explained(2.0, 4)  # two seconds of speech are not one "stop"
    assert speech_explained(2.0, 4, per_phone_s=None)  # the check off
    assert speech_explained(9.0, None)  # phones unknown (a word outside the dictionary): not judged


def test_vad_counts_speech_seconds_of_real_read_speech():
    """LibriVox "he was not an ill disposed young man": the speech windows of the whole stream, of
    a span, and of nothing."""
    audio = load_audio(SHARED / "sense_and_sensibility_01_austen_64kb-0880.wav")
    vad = StreamingVad()
    vad.accept(np.concatenate([np.zeros(16000, np.float32), audio]))  # 1 s of silence first
    vad.flush()
    total = (len(audio) + 16000) / 16000
    speech = vad.speech_seconds(0.0, total)
    windows = sum(p >= vad.config.threshold for p in vad.probabilities)
    assert speech == pytest.approx(windows * WINDOW_SAMPLES / 16000)
    assert 1.5 < speech < len(audio) / 16000, speech  # the sentence's speech, not its pauses or the silence
    assert vad.speech_seconds(0.0, 0.9) == 0.0  # the silence
    assert vad.speech_seconds(1.0, total) == pytest.approx(speech, abs=0.07)
    assert vad.speech_seconds(total, 0.0) == 0.0


@pytest.fixture(scope="module")
def frontend():
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.ship import load_shipped
    _, speech = load_shipped(DEMO)
    tok = build_frontend(speech, "hybrid", DEMO)
    yield tok
    tok.close()


def test_slowest_real_voice_commands_pass_the_check(frontend):
    """With the default limit, the slowest real-voice commands are not refused by it."""
    assert frontend.speech_s_per_phone == SPEECH_S_PER_PHONE  # on by default
    for name in SLOWEST_SPLICED:
        frontend.transcribe(load_audio(SPLICED / name))
        speech_s, phones = frontend.last_speech_check
        assert phones and speech_s > 0.5, (name, frontend.last_speech_check)
        assert "speech_unexplained" not in (frontend.last_rejection or {}), (name, frontend.last_rejection)


def test_check_refuses_more_speech_than_the_sentence_holds(frontend):
    """pocketsphinx's real recording "go forward ten meters" is heard as "go forward" (+ the wrapper
    word "please": 12 phones) in ~1.7 s of speech (0.14 s per phone): understood at the default
    limit, refused with a limit of 0.1 s per phone (0.2 + 1.2 s), and the refusal says why."""
    audio = load_audio(RECORDINGS_DIR / "goforward.wav")
    try:
        utt = frontend.transcribe(audio)
        speech_s, phones = frontend.last_speech_check
        assert utt.text == "go forward" and utt.understood, (utt.text, frontend.last_rejection)
        assert utt.not_understood_why == ""
        assert phones >= 8 and 0.2 + 0.1 * phones < speech_s, frontend.last_speech_check
        frontend.speech_s_per_phone = 0.1
        utt = frontend.transcribe(audio)
        assert utt.text == "go forward" and not utt.understood
        assert frontend.last_rejection["speech_unexplained"] == {"speech_s": round(speech_s, 3), "phones": phones}
        assert utt.not_understood_why.startswith("too much speech for the sentence heard"), utt.not_understood_why
    finally:
        frontend.speech_s_per_phone = SPEECH_S_PER_PHONE


def test_wake_word(frontend):
    """speech.wake_word "robot" (off by default): "robot, <command>" is acted on, the bare command
    and a question without it are not understood and say why; a word the wrapper decoder cannot
    hear before a command is refused. Espeak's default voice (the words are what is checked here;
    other engines' voices and the real recordings: docs/training.md "A wake word")."""
    from tristream_ros.data.speech_synth import VoiceSpec, espeak_synthesize
    from tristream_ros.errors import InputError
    assert frontend.wake_word == ""
    with pytest.raises(InputError, match="not one of the words heard before a command"):
        frontend.set_wake_word("banana")
    try:
        frontend.set_wake_word("robot")
        for said, heard, understood in (("robot turn left", "turn left", True), ("robot stop", "stop", True),
                                        ("turn left", "turn left", False),
                                        ("what colour is the box", "what colour is the box", False)):
            utt = frontend.transcribe(espeak_synthesize(said, VoiceSpec()))
            assert (utt.text, utt.understood) == (heard, understood), (said, utt.text, frontend.last_rejection)
            assert ("no wake word" in utt.not_understood_why) == (not understood), utt.not_understood_why
    finally:
        frontend.set_wake_word("")
