"""signal/audio_file.load_audio: recordings people bring, in any layout, become float32 mono
16 kHz; and `tristream eval --real FOLDER` (no dataset) runs a folder of them through the
default front end + shipped model, reporting unreadable files instead of stopping."""
import json
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from tristream_ros.errors import InputError
from tristream_ros.signal.audio_file import audio_files, load_audio

GOFORWARD = Path(__file__).resolve().parents[1] / "tristream_ros" / "data" / "recordings" / "goforward.wav"


def _sox(src: Path, dst: Path, *args: str) -> Path:
    subprocess.run(["sox", str(src), *args, str(dst)], check=True, capture_output=True)
    return dst


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.corrcoef(a[:n], b[:n])[0, 1])


def test_layouts_give_the_same_16k_mono_signal(tmp_path):
    ref = load_audio(GOFORWARD)  # 16-bit mono 16 kHz: read as is
    with wave.open(str(GOFORWARD)) as w:
        assert w.getframerate() == 16000 and len(ref) == w.getnframes()
    variants = {
        "stereo44k24.wav": ("-r", "44100", "-c", "2", "-b", "24"),  # 24-bit: through sox
        "stereo48k16.wav": ("-r", "48000", "-c", "2", "-b", "16"),  # PCM: stdlib + our resampler
        "mono8k.wav": ("-r", "8000",),
        "float.wav": ("-e", "floating-point", "-b", "32"),
        "take.flac": ("-r", "48000",),
    }
    for name, args in variants.items():
        x = load_audio(_sox(GOFORWARD, tmp_path / name, *args))
        assert x.dtype == np.float32 and x.ndim == 1, name
        assert abs(len(x) - len(ref)) <= 16, (name, len(x), len(ref))  # 16 kHz whatever the file's rate
        assert _corr(x, ref) > (0.8 if name == "mono8k.wav" else 0.98), name  # 8 kHz loses the top band


def test_unreadable_and_missing_files_are_clear_errors(tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"not audio at all")
    with pytest.raises(InputError, match="broken.wav: cannot read"):
        load_audio(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "B.WAV").write_bytes(b"")
    assert [p.name for p in audio_files(tmp_path)] == ["B.WAV", "broken.wav"]


def test_eval_real_folder_without_dataset(tmp_path, capsys):
    from tristream_ros.cli import main
    _sox(GOFORWARD, tmp_path / "cmd_44k_stereo.wav", "-r", "44100", "-c", "2", "-b", "24")
    (tmp_path / "cmd_44k_stereo.txt").write_text("go forward ten meters\n")
    (tmp_path / "broken.wav").write_bytes(b"RIFF junk")
    # a reference with a word pocketsphinx's dictionary lacks (a name): reported, not fatal
    # (it used to stop the whole run after every file had been decoded)
    _sox(GOFORWARD, tmp_path / "named.wav")
    (tmp_path / "named.txt").write_text("go forward zorbleflax\n")
    out = tmp_path / "real.json"
    assert main(["eval", "--real", str(tmp_path), "--json", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    rf = report["real_folder"]
    assert rf["n"] == 2 and [u["file"] for u in rf["unreadable"]] == ["broken.wav"]
    row = next(r for r in rf["per_file"] if r["file"] == "cmd_44k_stereo.wav")
    # pocketsphinx's real recording, resampled from 44.1 kHz stereo 24-bit: heard and acted on
    assert row["understood"] and row["action"] == "forward" and row["heard"].startswith("go forward")
    assert row["not_understood_why"] == ""  # said for each file the front end refuses
    assert row["action_as_reference"] is True and row["reference_action"] == "forward"
    rr = report["real_recordings"]  # those with a TXT: transcript CER per front end
    assert rr["files"] == 2 and rr["references_not_in_dictionary"] == ["named.wav"]
    named = next(e for e in rr["per_file"] if e["file"] == "named.wav")
    assert named["reference_words_not_in_dictionary"] == ["zorbleflax"] and "vad_start_s" not in named
    assert main(["eval", "--real", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
