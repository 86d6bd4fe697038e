"""Other TTS engines than the training one (espeak-ng), for evaluation (Pico also as optional
recogniser training speech, not used by the shipped model).

The model is trained on espeak-ng voices; these engines are never trained on and stand in for
voices it has not heard (`tristream eval --engine NAME`). Each engine is a small module with
``available_voices() -> tuple[str, ...]`` and ``synthesize(text, voice) -> float32 16 kHz``:

- ``flite`` (data/flite_synth.py): CMU flite's diphone and clustergen voices.
- ``festival`` (data/festival_synth.py): Festival's diphone voices (``kal_diphone``,
  ``ked_diphone``: concatenated recordings of two real American speakers) and an HTS voice
  (``cmu_us_slt_arctic_hts``).
- ``pico`` (data/pico_synth.py): SVOX Pico's HMM voices of two real speakers (``en-US``,
  ``en-GB``), from PyPI's ``ttspico``.

    voices = engine_voices("festival"); audio = engine_synthesize("festival", "turn left", voices[0])
"""
from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Sequence

import numpy as np

from ..errors import InputError
from .speech_synth import wav_to_trimmed_audio

ENGINES: tuple[str, ...] = ("flite", "festival", "pico")


def _module(engine: str):
    if engine == "flite":
        from . import flite_synth as mod
    elif engine == "festival":
        from . import festival_synth as mod
    elif engine == "pico":
        from . import pico_synth as mod
    else:
        raise InputError(f"unknown TTS engine {engine!r}; expected one of {', '.join(ENGINES)}")
    return mod


def engine_voices(engine: str) -> tuple[str, ...]:
    """The general-purpose English voices ``engine`` has here."""
    return _module(engine).available_voices()


def engine_synthesize(engine: str, text: str, voice: str) -> np.ndarray:
    return _module(engine).synthesize(text, voice)


def check_engine_voices(engine: str, voices: Sequence[str]) -> None:
    """A clear error for voices ``engine`` does not have."""
    have = engine_voices(engine)
    bad = [v for v in voices if v not in have]
    if bad:
        raise InputError(f"{engine} has no voice(s) {bad}; available: {', '.join(have)}")


def run_to_audio(argv: Sequence[str], out_flag_value: str, what: str, stdin: str | None = None) -> np.ndarray:
    """Run a TTS command that writes a WAV file; return it trimmed, float32 mono 16 kHz.

    ``argv`` holds ``out_flag_value`` where the output path goes (it is replaced by a temp file)."""
    fd, path = tempfile.mkstemp(suffix=".wav", prefix="tristream_tts_")
    os.close(fd)
    try:
        cmd = [path if a == out_flag_value else a for a in argv]
        proc = subprocess.run(cmd, input=stdin.encode() if stdin is not None else None,
                              capture_output=True, check=False)
        with open(path, "rb") as f:
            data = f.read()
        if proc.returncode != 0 or not data:
            raise InputError(f"{what} failed: {proc.stderr.decode(errors='replace')[:200]}")
    finally:
        os.unlink(path)
    return wav_to_trimmed_audio(data)  # e.g. 32 kHz HTS, 8 kHz kal -> 16 kHz
