"""Another TTS engine (flite): real synthesis to 16 kHz float32, clear errors, and the
`tristream eval --engine flite` path through the real default front end + the shipped model.
flite is a setup.sh dependency like espeak-ng: without it these tests fail (no skip)."""
import json
from pathlib import Path

import numpy as np
import pytest

from tristream_ros.data import flite_synth
from tristream_ros.data.speech_synth import SAMPLE_RATE
from tristream_ros.errors import InputError

MODEL = Path(__file__).resolve().parents[1] / "models" / "demo"


def test_flite_voices_and_synthesis():
    voices = flite_synth.available_voices()
    assert "kal" in voices and "awb_time" not in voices
    for v in ("kal", "slt"):  # kal is an 8 kHz voice: resampled
        if v not in voices:
            continue
        x = flite_synth.flite_synthesize("turn left now", v)
        assert x.dtype == np.float32 and x.ndim == 1
        assert 0.4 < len(x) / SAMPLE_RATE < 3.0
        assert 0.05 < np.abs(x).max() <= 1.0


def test_flite_bad_input_refused():
    with pytest.raises(InputError, match="no voice"):
        flite_synth.flite_synthesize("stop", "no_such_voice")  # flite itself would silently fall back
    with pytest.raises(InputError, match="empty"):
        flite_synth.flite_synthesize("  ", "kal")


def test_flite_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(flite_synth.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="apt-get install flite"):
        flite_synth.check_flite()


def test_tts_queries_deterministic_heldout():
    from tristream_ros.data import language
    from tristream_ros.training.evaluate_tts import tts_queries
    a, b = tts_queries(6, seed=3), tts_queries(6, seed=3)
    assert [q["query"] for q in a] == [q["query"] for q in b]
    assert all(q["template_id"].split("/")[1] == "heldout" for q in a)
    assert {q["route"] for q in a} <= {"speech", "speech_vision"}
    assert all(q["query"] in language.all_queries("heldout") for q in a)


def test_eval_engine_flite_runs_frontend_and_model(tmp_path, capsys):
    from tristream_ros.cli import main
    out = tmp_path / "flite.json"
    rc = main(["eval", "--engine", "flite", "--voices", "kal16", "--queries", "2", "--json",
               "--predictions", "--out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report == json.loads(capsys.readouterr().out)
    v = report["per_voice"]["kal16"]
    assert v["n"] == 2 and report["overall"]["n"] == 2
    for k in ("transcript_cer", "transcript_exact", "action_accuracy", "answer_exact_match"):
        assert 0.0 <= v[k] <= 1.0
    preds = report["predictions"]["kal16"]
    assert all(p["heard"] for p in preds)  # the front end heard something
    assert v["transcript_cer"] < 0.5  # clean flite speech is transcribed (measured ~0.01)
    assert report["espeak_reference"]["n"] == 2


def test_eval_engine_unknown_voice_exit_2(capsys):
    from tristream_ros.cli import main
    assert main(["eval", "--engine", "flite", "--voices", "nope", "--queries", "1"]) == 2
    assert "no voice" in capsys.readouterr().err


def test_eval_without_data_or_engine_exit_2(capsys):
    from tristream_ros.cli import main
    assert main(["eval"]) == 2
    assert "--data" in capsys.readouterr().err
