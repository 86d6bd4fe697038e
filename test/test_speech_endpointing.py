"""Grammar-aware endpointing: a pause inside a command ("go to the ... red ball") is not the end
of the utterance while pocketsphinx's partial is only the beginning of a grammar sentence
(VadConfig.incomplete_hold_ms); a whole sentence still ends at the VAD's end. Real front end
(shipped model, pocketsphinx grammar, silero VAD) on Festival diphone voices (real speakers'
recordings, never trained on)."""
from pathlib import Path

import numpy as np
import pytest

from tristream_ros.data.festival_synth import synthesize
from tristream_ros.model.speech.tokenizer import EndOfUtterance, SpeechResumed
from tristream_ros.model.speech.vad import VadConfig

MODEL = Path(__file__).resolve().parents[1] / "models" / "demo"
SR = 16000


@pytest.fixture(scope="module")
def speech():
    from tristream_ros.training.ship import load_shipped
    return load_shipped(MODEL)[1]


@pytest.fixture(scope="module")
def recognizer():
    from tristream_ros.training.evaluate import load_recognizer
    return load_recognizer(MODEL)


def _front(speech, hold_ms: float, recognizer=None):
    """The shipped hybrid front end as the speech node builds it: the model folder's recogniser
    recognises, with the thresholds calibrated for it (ctc_grammar.json)."""
    from tristream_ros.model.speech.frontend import configured_frontend
    from tristream_ros.model.speech.ctc_grammar import load_grammar_thresholds
    return configured_frontend("hybrid", speech, vad=VadConfig(incomplete_hold_ms=hold_ms),
                               thresholds=load_grammar_thresholds(MODEL), recognizer=recognizer)


def _silence(s: float) -> np.ndarray:
    return np.zeros(int(s * SR), np.float32)


def _utterances(tok, audio: np.ndarray, chunk: int = 1600) -> tuple[list, list]:
    tok.reset()
    events = []
    for i in range(0, len(audio), chunk):  # 100 ms chunks, as a microphone delivers them
        events += tok.accept_audio(audio[i:i + chunk])
    last = tok.finish()
    ends = [e.utterance for e in events if isinstance(e, EndOfUtterance)]
    if last is not None and (not ends or ends[-1] is not last):
        ends.append(last)
    return ends, events


@pytest.mark.parametrize("voice", ["kal_diphone", "ked_diphone"])
def test_hesitation_inside_a_command_is_held(speech, recognizer, voice):
    a, b = synthesize("go to the", voice), synthesize("red ball", voice)
    audio = np.concatenate([_silence(0.3), a, _silence(0.5), b, _silence(1.2)])
    held, events = _utterances(_front(speech, 700.0, recognizer), audio)
    assert [u.text for u in held] == ["go to the red ball"]
    assert any(isinstance(e, SpeechResumed) for e in events)
    assert held[0].end_s > 0.3 + (len(a) + len(b)) / SR  # ends after "red ball", not after "go to the"
    split, _ = _utterances(_front(speech, 0.0, recognizer), audio)  # without the hold: two commands, neither right
    assert len(split) == 2 and "go to the red ball" not in [u.text for u in split]


def test_whole_sentence_ends_without_waiting(speech, recognizer):
    a = synthesize("turn left", "kal_diphone")
    audio = np.concatenate([_silence(0.3), a, _silence(0.45)])  # the VAD's end, but not the hold, fits
    tok = _front(speech, 700.0, recognizer)
    tok.reset()
    events = []
    for i in range(0, len(audio), 1600):
        events += tok.accept_audio(audio[i:i + 1600])
    ends = [e.utterance.text for e in events if isinstance(e, EndOfUtterance)]
    assert ends == ["turn left"]  # closed inside the stream, before finish()


def test_unfinished_sentence_closes_after_the_hold(speech, recognizer):
    a = synthesize("go to the", "kal_diphone")
    audio = np.concatenate([_silence(0.3), a, _silence(1.5)])
    tok = _front(speech, 700.0, recognizer)
    tok.reset()
    events = []
    for i in range(0, len(audio), 1600):
        events += tok.accept_audio(audio[i:i + 1600])
    ends = [e.utterance for e in events if isinstance(e, EndOfUtterance)]
    assert len(ends) == 1  # closed by the hold running out, with the end where speech ended
    assert abs(ends[0].end_s - (0.3 + len(a) / SR)) < 0.25
    # the stream ending during a hold closes the utterance too
    short = np.concatenate([_silence(0.3), a, _silence(0.5)])
    got, _ = _utterances(tok, short)
    assert len(got) == 1


def test_hold_must_be_a_number():
    from tristream_ros.errors import InputError
    with pytest.raises(InputError, match="incomplete_hold_ms"):
        VadConfig(incomplete_hold_ms=float("nan"))
    with pytest.raises(InputError, match="incomplete_hold_ms"):
        VadConfig(incomplete_hold_ms=-1.0)
