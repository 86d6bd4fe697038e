"""The voice gate (model/speech/voice_gate.py): is a voice like the espeak voices our CTC was
trained on? Checked on audio it was not fitted on: espeak voices rendered here with a seed the
fit did not use, the 100 real-voice commands spliced from telephone prompts (held out of the fit
with every Asterisk recording), the real recordings packaged with pocketsphinx; and through the
front end: the spliced "left"s our CTC turned into "go back" (session 22) keep pocketsphinx's
"left" with the gate."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.model.speech.voice_gate import (FEATURE_NAMES, MIN_SAMPLES, VOICE_GATE_FILE, VoiceGate,
                                                   load_voice_gate, voice_features)
from tristream_ros.training.evaluate_domain import RECORDINGS_DIR

DEMO = Path(__file__).resolve().parents[1] / "models" / "demo"
SPLICED = RECORDINGS_DIR / "spliced"


@pytest.fixture(scope="module")
def gate():
    g = load_voice_gate(DEMO)
    assert g is not None, "models/demo ships voice_gate.json"
    return g


def test_features_are_finite_and_short_audio_is_refused():
    from tristream_ros.data.speech_synth import VoiceSpec, espeak_synthesize
    f = voice_features(espeak_synthesize("turn left", VoiceSpec()))
    assert f.shape == (len(FEATURE_NAMES),) and np.isfinite(f).all()
    with pytest.raises(InputError):
        voice_features(np.zeros(MIN_SAMPLES - 1, np.float32))
    with pytest.raises(InputError):
        voice_features(np.full(MIN_SAMPLES * 2, np.nan, np.float32))


def test_shipped_gate_records_how_it_was_fitted(gate):
    src = gate.source
    assert src["tool"] == "python -m tristream_ros.training.voice_gate"
    assert "asterisk" in src["argv"]  # the spliced speaker was kept out of the fit
    assert src["espeak_val_voices"]["judged_espeak_like"] >= 0.95


def test_espeak_voices_it_never_saw_are_familiar(gate):
    """Held-out (test split) espeak voices with the training set's room augmentation, seed 99
    (the fit used 31 and 32)."""
    from tristream_ros.data.speech_synth import render_utterance, sample_augment, sample_voice
    rng = np.random.default_rng(99)
    texts = ["turn left", "what colour is the box", "go to the red ball", "how many cups are there", "stop"]
    judged = [gate.familiar(render_utterance(texts[i % len(texts)], sample_voice(rng, "test"), sample_augment(rng)).audio)
              for i in range(30)]
    assert sum(judged) >= 27, judged


def test_real_voices_are_not_familiar(gate):
    from tristream_ros.signal.audio_file import audio_files, load_audio
    """The spliced telephone voice is never judged espeak-like (fit: 0 of 100). Not asserted: the
    recordings packaged with pocketsphinx (6 of 10 judged espeak-like at the shipped threshold,
    docs/training.md "The voice gate"); for them the front end works as before the gate."""
    spliced = [gate.familiar(load_audio(f)) for f in audio_files(SPLICED)]
    assert len(spliced) == 100 and sum(spliced) <= 5


def test_too_short_audio_keeps_the_ctc(gate):
    assert gate.probability(np.zeros(100, np.float32)) == 1.0


def test_missing_or_broken_gate_file(tmp_path):
    assert load_voice_gate(tmp_path) is None and load_voice_gate(None) is None
    (tmp_path / VOICE_GATE_FILE).write_text("{not json")
    with pytest.raises(ModelFileError):
        load_voice_gate(tmp_path)
    good = json.loads((DEMO / VOICE_GATE_FILE).read_text())
    (tmp_path / VOICE_GATE_FILE).write_text(json.dumps({**good, "weights": good["weights"][:-1]}))
    with pytest.raises(ModelFileError):
        load_voice_gate(tmp_path)
    with pytest.raises(ModelFileError):
        VoiceGate(tuple(good["mean"]), tuple(good["scale"]), tuple(good["weights"]), good["bias"], threshold=1.5)


def test_spliced_left_keeps_pocketsphinxs_sentence_with_the_gate():
    """Session 22: 4 of the 5 spliced "left"s were heard "go back" (the CTC outvoted pocketsphinx's
    "left"); with the gate the real voice keeps pocketsphinx's sentence."""
    from tristream_ros.signal.audio_file import load_audio
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.ship import load_shipped
    _, speech = load_shipped(DEMO)
    lefts = sorted(f for f in SPLICED.glob("*.wav") if f.with_suffix(".txt").read_text().strip() == "left")
    assert len(lefts) == 5
    heard = {}
    for gated in (True, False):
        tok = build_frontend(speech, "hybrid", DEMO, voice_gate=gated, command_wrappers=False)
        heard[gated] = []
        for f in lefts:
            utt = tok.transcribe(load_audio(f))
            heard[gated].append((utt.text if utt is not None else "", tok.last_voice_familiarity))
        tok.close()
    assert all(p is None for _, p in heard[False])
    # the gate is asked only where the CTC would change pocketsphinx's sentence
    threshold = load_voice_gate(DEMO).threshold
    assert all(p is None or p < threshold for _, p in heard[True]), heard[True]
    assert sum(t == "left" for t, _ in heard[True]) >= 4, heard
    assert sum(t == "left" for t, _ in heard[True]) > sum(t == "left" for t, _ in heard[False]), heard


def test_unfamiliar_voice_wrapped_command_is_understood_as_the_sentence_inside():
    """With every voice judged unfamiliar (threshold 0.999), a wrapped command whose sentence the
    CTC would have changed keeps pocketsphinx's sentence inside the wrapper words and passes the
    rejection on its span (a first version aligned the whole wrapped text on the command's span
    and refused it). flite's kal: "can you turn left" (measured: the gate is asked, p 0.07)."""
    from dataclasses import replace

    from tristream_ros.data.tts_engines import engine_synthesize
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.evaluate_tts import _pad
    from tristream_ros.training.ship import load_shipped
    _, speech = load_shipped(DEMO)
    tok = build_frontend(speech, "hybrid", DEMO)
    tok.voice_gate = replace(tok.voice_gate, threshold=0.999)
    try:
        utt = tok.transcribe(_pad(engine_synthesize("flite", "can you turn left", "kal")))
        assert tok.last_wrapper == ("can you", "") and tok.last_pocketsphinx_text == "can you turn left"
        assert tok.last_voice_familiarity is not None  # the CTC wanted another sentence: the gate was asked
        assert tok.last_unfamiliar_voice  # and kept pocketsphinx's (what the node counts)
        assert utt.text == "turn left" and utt.understood, (utt.text, tok.last_rejection)
    finally:
        tok.close()


def test_ctc_that_vouches_for_its_sentence_is_not_gated(gate):
    """Session 32: the gate judges some held-out espeak voices unfamiliar (Storm, linda: 8 of the
    800-sample set's commands), and pocketsphinx hears "help" / "halt" for their "drive back now" /
    "turn right now". Where the CTC is as sure of its sentence as of its training voices'
    (tokenizer.CONFIRM_CTC_MIN) the gate is not asked and the CTC's right sentence stands."""
    from tristream_ros.data.speech_synth import VoiceSpec, synthesize
    from tristream_ros.model.speech.tokenizer import CONFIRM_CTC_MIN
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.ship import load_shipped
    _, speech = load_shipped(DEMO)
    tok = build_frontend(speech, "hybrid", DEMO)
    try:
        for text, voice in (("drive back now", VoiceSpec("en", "Storm", 147, 63, 2)),
                            ("turn right now", VoiceSpec("en-029", "linda", 128, 32, 0))):
            a = synthesize(text, voice)
            a = np.concatenate([np.zeros(3840, a.dtype), a, np.zeros(2560, a.dtype)])  # 240 / 160 ms of silence
            assert gate.probability(a) < gate.threshold, text  # the gate alone would keep pocketsphinx's
            utt = tok.transcribe(a)
            assert tok.last_pocketsphinx_text != text and tok.last_match.text == text, tok.last_pocketsphinx_text
            assert tok.last_match.score >= CONFIRM_CTC_MIN
            assert tok.last_voice_familiarity is None and not tok.last_unfamiliar_voice  # not asked
            assert utt.text == text and utt.understood, (utt.text, tok.last_rejection)
    finally:
        tok.close()


def test_gate_kept_sentence_is_judged_on_its_own_ctc_score():
    """Session 33: where the gate keeps pocketsphinx's sentence, the out-of-domain test reads the
    CTC's score of that sentence (tokenizer.ctc_vote_score), not of the CTC's own best: pocketsphinx's
    own decode fits its alignment (gap ~0), and the CTC's best may score above reject_ctc_below, so
    nothing the gate kept could be refused. The spliced "forward please" #3 (a real telephone
    voice) on a fresh front end: pocketsphinx hears "what do you do", the CTC prefers "go to it"
    (-0.29 per frame: no rejection measured) and scores pocketsphinx's sentence at -1.22; the gate
    keeps pocketsphinx's. Understood with session 31's shipping (and in the 100-file spliced run,
    after the other files, pocketsphinx heard "turn right please" there: the robot turned right);
    now not understood."""
    from tristream_ros.model.speech.ctc_grammar import GrammarMatch
    from tristream_ros.model.speech.tokenizer import ctc_vote_score
    from tristream_ros.signal.audio_file import load_audio
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.ship import load_shipped
    m = GrammarMatch("go to it", -0.3, 0.01, 0.8)
    assert ctc_vote_score(m, False) == -0.3 and ctc_vote_score(m, True) == pytest.approx(-1.1)
    assert ctc_vote_score(GrammarMatch("go to it", -0.3, 0.01), True) == -0.3  # pocketsphinx's not scored
    _, speech = load_shipped(DEMO)
    tok = build_frontend(speech, "hybrid", DEMO)
    try:
        utt = tok.transcribe(load_audio(SPLICED / "spliced_forward_please_3.wav"))
        heard = tok.last_pocketsphinx_text
        assert heard and tok.last_match.text != heard, (heard, tok.last_match)
        assert tok.last_match.score >= tok.thresholds.reject_ctc_below  # the CTC's best alone: no test
        assert tok.last_unfamiliar_voice, tok.last_voice_familiarity  # the gate kept pocketsphinx's sentence
        rej = tok.last_rejection
        assert rej["ctc_score"] == pytest.approx(tok.last_match.score - tok.last_match.lead)
        assert abs(rej["gap"]) < 1e-3  # pocketsphinx's own decode: its alignment fits
        assert utt.text == heard and not utt.understood, rej
    finally:
        tok.close()
