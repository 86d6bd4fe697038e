"""A third TTS engine (Festival: diphone voices made from two real speakers' recordings, an HTS
voice): real synthesis to 16 kHz float32, clear errors, the engine interface, and
`tristream eval --engine festival [--room]` through the real default front end + the shipped model.
Festival is a setup.sh dependency like flite: without it these tests fail (no skip)."""
import json

import numpy as np
import pytest

from tristream_ros.data import festival_synth, tts_engines
from tristream_ros.data.speech_synth import SAMPLE_RATE
from tristream_ros.errors import InputError


def test_festival_voices_and_synthesis():
    voices = festival_synth.available_voices()
    assert voices == festival_synth.DEFAULT_VOICES  # setup.sh installs all three
    for v in voices:  # kal/ked: 16 kHz; slt HTS: 32 kHz, resampled
        x = tts_engines.engine_synthesize("festival", "turn left now", v)
        assert x.dtype == np.float32 and x.ndim == 1
        assert 0.4 < len(x) / SAMPLE_RATE < 3.0
        assert 0.05 < np.abs(x).max() <= 1.0
    a = festival_synth.synthesize("stop", "kal_diphone")
    b = festival_synth.synthesize("go to the red ball", "kal_diphone")
    assert len(b) > 2 * len(a)  # the text is what is spoken, not a fixed clip


def test_festival_bad_input_refused():
    with pytest.raises(InputError, match="no voice"):
        festival_synth.synthesize("stop", "no_such_voice")  # festival would fall back to its default
    with pytest.raises(InputError, match="no voice"):
        festival_synth.synthesize("stop", "kal_diphone) (quit")  # not passed into Scheme
    with pytest.raises(InputError, match="empty"):
        festival_synth.synthesize("  ", "kal_diphone")


def test_festival_missing_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(festival_synth.shutil, "which", lambda name: None)
    with pytest.raises(InputError, match="apt-get install festival"):
        festival_synth.check_festival()


def test_engine_registry():
    assert set(tts_engines.ENGINES) == {"flite", "festival", "pico"}
    assert "kal" in tts_engines.engine_voices("flite")
    with pytest.raises(InputError, match="unknown TTS engine"):
        tts_engines.engine_voices("sapi")
    with pytest.raises(InputError, match="festival has no voice"):
        tts_engines.check_engine_voices("festival", ["kal_diphone", "nope"])


def test_room_is_fixed_per_query_and_noisy():
    from tristream_ros.training.evaluate_tts import room_for
    assert room_for(0, "tts-003") == room_for(0, "tts-003")
    rooms = [room_for(0, f"tts-{i:03d}") for i in range(30)]
    assert len({r.seed for r in rooms}) == 30
    assert sum(r.noise != "none" for r in rooms) >= 15 and sum(r.reverb_rt60_s > 0 for r in rooms) >= 8


def test_eval_engine_festival_room_runs_frontend_and_model(tmp_path, capsys):
    from tristream_ros.cli import main
    out = tmp_path / "festival.json"
    rc = main(["eval", "--engine", "festival", "--voices", "ked_diphone", "--queries", "3", "--room", "--json",
               "--predictions", "--out", str(out)])
    assert rc == 0
    report = json.loads(out.read_text())
    assert report == json.loads(capsys.readouterr().out)
    assert report["engine"] == "festival" and report["audio"].startswith("test-split room")
    v = report["per_voice"]["ked_diphone"]
    assert v["n"] == 3 and report["espeak_reference"]["n"] == 3
    preds = report["predictions"]["ked_diphone"]
    assert all(p["heard"] for p in preds)  # the front end heard something in every room
    assert v["transcript_cer"] < 0.5  # measured 0.0-0.05 on these rooms


def test_eval_engine_festival_unknown_voice_exit_2(capsys):
    from tristream_ros.cli import main
    assert main(["eval", "--engine", "festival", "--voices", "nope", "--queries", "1"]) == 2
    assert "no voice" in capsys.readouterr().err
