"""Real-human commands spliced from real recorded words (tristream_ros/data/recordings/spliced:
one professional speaker's telephone prompts, words cut by forced alignment and joined into the
grammar's sentences; docs/real_speech/tools/splice_asterisk.py) through the shipped default front
end and model, no camera: the speech-only commands among them (moves, stop, help) must give the
action their words give."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tristream_ros.training.evaluate_domain import RECORDINGS_DIR

SPLICED = RECORDINGS_DIR / "spliced"
DEMO = Path(__file__).resolve().parents[1] / "models" / "demo"


def test_the_packaged_set_is_complete_and_attributed():
    from tristream_ros.data.language import all_queries
    from tristream_ros.signal.audio_file import audio_files
    man = json.loads((SPLICED / "manifest.json").read_text())
    files = audio_files(SPLICED)
    assert len(files) == len(man["files"]) == 100
    grammar = set(all_queries())
    for f, entry in zip(files, sorted(man["files"], key=lambda e: e["file"])):
        assert f.name == entry["file"]
        text = f.with_suffix(".txt").read_text().strip()
        assert text == entry["transcript"] and text in grammar
        assert len(entry["word_sources"]) == len(text.split())
    assert "CC-BY-SA-3.0" in man["license"] and (SPLICED / "LICENSE.asterisk-sounds").is_file()


@pytest.fixture(scope="module")
def shipped():
    from tristream_ros.training.ship import load_shipped
    return load_shipped(DEMO)


def _front_end(speech):
    """A fresh default front end: pocketsphinx's cepstral mean carries over from one utterance to
    the next (a live microphone's channel), so each test starts from none."""
    from tristream_ros.training.evaluate import build_frontend
    return build_frontend(speech, "hybrid", DEMO)


def _speech_commands() -> list[Path]:
    """The files whose sentence is a command the robot acts on without a camera."""
    keep = {"back up", "backwards", "forward", "forward please", "left", "right", "help"}
    return [f for f in sorted(SPLICED.glob("*.wav")) if f.with_suffix(".txt").read_text().strip() in keep]


def test_real_voice_speech_commands_act_as_their_words(shipped):
    """Measured with the session-19 recogniser and the session-21 front end (session 22): 27 of
    35 act as their words; of the 8 that do not, 4 of the 5 "left"s are heard "go back" (the
    CTC, trained on espeak voices, outvotes pocketsphinx, which heard "left": a wrong motion),
    "forward please" 3 of 5 times "go to it" / "find the cup" and one "forward" "halt". The floor
    (one of slack) keeps that from getting worse."""
    from tristream_ros.signal.audio_file import load_audio
    from tristream_ros.training.evaluate import run_query
    from tristream_ros.training.evaluate_domain import _run
    model, speech = shipped
    tok = _front_end(speech)
    files = _speech_commands()
    assert len(files) == 35
    right = []
    for f in files:
        ref = f.with_suffix(".txt").read_text().strip()
        want = run_query(model, ref, None, None, None, dense=False, camera=False)["action"]
        got = _run(model, tok, load_audio(f))
        right.append(got["action"] == want)
    assert sum(right) >= 26, [f.name for f, ok in zip(files, right) if not ok]


def test_make_up_gain_only_for_speech_quieter_than_any_training_utterance():
    import numpy as np
    from tristream_ros.model.speech.tokenizer import MAKEUP_MAX_DB, MAKEUP_TARGET_DBFS, makeup_gain_db
    tone = np.sin(np.linspace(0, 200 * np.pi, 16000)).astype(np.float32)
    assert makeup_gain_db(0.1 * tone) == 0.0  # -20 dBFS: in the training range
    assert makeup_gain_db(10 ** (-40 / 20) * tone) == pytest.approx(MAKEUP_TARGET_DBFS + 40.0, abs=1e-3)
    assert makeup_gain_db(1e-6 * tone) == MAKEUP_MAX_DB
    assert makeup_gain_db(np.zeros(1600, np.float32)) == 0.0
    assert makeup_gain_db(10 ** (-40 / 20) * tone, None) == 0.0  # off


def test_a_quiet_real_command_is_heard_as_at_its_own_level(shipped):
    """pocketsphinx's own test recording "go forward ten meters", 30 dB quieter (peak -44 dBFS):
    without the make-up gain our CTC, which hears level, made it "move to it" (session 22); with
    it the front end hears what it hears at the recording's level."""
    from tristream_ros.data.speech_synth import read_wav
    from tristream_ros.training.evaluate import run_query
    model, speech = shipped
    tok = _front_end(speech)
    audio = read_wav(RECORDINGS_DIR / "goforward.wav")
    loud = tok.transcribe(audio)
    assert loud.makeup_gain_db == 0.0 and loud.text == "go forward"
    quiet = tok.transcribe(audio * 10 ** (-30 / 20))
    assert quiet.makeup_gain_db > 20.0
    assert quiet.understood and quiet.text == "go forward", (quiet.text, tok.last_rejection)
    pred = run_query(model, quiet.text, quiet.tokens, None, None, dense=False, camera=False)
    assert pred["action"] == "forward"
