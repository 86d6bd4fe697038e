"""Audio files -> float32 mono 16 kHz, whatever their layout (for recordings people bring).

    audio = load_audio("kitchen_take3.wav")      # (N,) float32 in [-1, 1] at 16 kHz

PCM WAV (8/16/32-bit, any rate, any channel count) is read with the standard library and
converted with signal/audio_format (channels averaged, polyphase resampling). Anything else
(24-bit or float WAV, FLAC, OGG, MP3 with libsox-fmt-all) is converted by sox, a setup.sh
dependency, to 16-bit mono 16 kHz first. Unreadable files raise InputError naming the file.
"""
from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

from tristream_ros.errors import InputError
from tristream_ros.signal.audio_format import SAMPLE_RATE, WAV_WIDTH_FORMATS, decode_pcm, resample, to_mono

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")  # what `tristream eval --real` picks up in a folder


def _read_pcm_wav(path: Path) -> tuple[np.ndarray, int] | None:
    """(samples (N, C), rate) of a PCM WAV the standard library reads, else None."""
    try:
        with wave.open(str(path), "rb") as w:
            fmt = WAV_WIDTH_FORMATS.get(w.getsampwidth())
            if fmt is None:
                return None
            channels, rate = w.getnchannels(), w.getframerate()
            data = w.readframes(w.getnframes())
    except (wave.Error, EOFError):
        return None
    return decode_pcm(data, fmt, channels), rate


def _read_with_sox(path: Path) -> np.ndarray:
    sox = shutil.which("sox")
    if sox is None:
        raise InputError(f"{path}: not a PCM WAV, and sox (which converts other formats) is not installed "
                         "(Debian: apt-get install sox libsox-fmt-all, or ./scripts/setup.sh)")
    proc = subprocess.run([sox, str(path), "-t", "raw", "-e", "signed-integer", "-b", "16", "-c", "1",
                           "-r", str(SAMPLE_RATE), "-"], capture_output=True, check=False)
    if proc.returncode != 0:
        raise InputError(f"{path}: cannot read this audio file: {proc.stderr.decode(errors='replace').strip()[:200]}")
    return decode_pcm(proc.stdout, "S16LE", 1)[:, 0]


def load_audio(path: str | Path) -> np.ndarray:
    """Any audio file -> (N,) float32 mono in [-1, 1] at 16 kHz."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"audio file {str(path)!r} does not exist")
    pcm = _read_pcm_wav(path)
    if pcm is None:
        x = _read_with_sox(path)
    else:
        frames, rate = pcm
        x = to_mono(frames)
        if rate != SAMPLE_RATE:
            x = resample(x, rate, SAMPLE_RATE)
    x = np.asarray(x, np.float32)
    if x.size == 0:
        raise InputError(f"{path}: no audio samples")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{path}: samples are not finite")
    return x


def audio_files(folder: str | Path) -> list[Path]:
    """The audio files of a folder (AUDIO_SUFFIXES, any case), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES)
