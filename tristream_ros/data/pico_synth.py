"""Spoken queries from another TTS engine, SVOX Pico (PyPI ``ttspico``, Apache-2.0).

Pico is the small HMM synthesizer of Android's early years: statistical models trained on
recordings of two real speakers, one US English (``en-US``, "lh0") and one British English
(``en-GB``, "kh0"), both female. It is neither espeak-ng's formant synthesis (what the model is
trained on) nor flite's or Festival's voices (the guard and the other-engine evaluation), so it
is one more kind of voice the shipped front end has not heard (``tristream eval --engine pico``).
The recogniser can also be trained on it (``training/recognizer.py --pico-pool``; measured in
session 23, not shipped: docs/training.md).
``ttspico`` ships the engine's C source and both voices' data in its sdist: it builds with gcc,
with nothing downloaded.

Output like ``speech_synth.synthesize``: float32 mono in [-1, 1] at 16 kHz, trimmed.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from .speech_synth import SAMPLE_RATE, _trim

DEFAULT_VOICES: tuple[str, ...] = ("en-US", "en-GB")
PICO_RATE = 16000  # Hz: Pico's output (16-bit mono)
PITCH_RANGE = (50, 200)  # percent of the voice's own pitch, Pico's limits
RATE_RANGE = (20, 500)  # percent of the voice's own speaking rate, Pico's limits
assert PICO_RATE == SAMPLE_RATE  # Pico's PCM is used as it comes, no resampling


def _ttspico():
    try:
        import ttspico
    except ImportError as exc:
        raise InputError("the Pico TTS engine is not installed (pip install ttspico, or ./scripts/setup.sh)") from exc
    return ttspico


def _engine(voice: str):
    """A fresh engine (~2 ms): one engine carries state from one text to the next (the same text
    spoken twice came out 100 samples apart), and the pools need the same audio for the same item.
    ttspico frees an engine with its capsule but ~33 kB stay allocated per engine (measured: 16 MB
    per 500 calls): fine for evaluation and the training pools, not for a long-running node."""
    try:
        return _ttspico().TtsEngine(voice)
    except RuntimeError as exc:
        raise InputError(f"Pico could not load voice {voice!r}: {exc}") from exc


def available_voices() -> tuple[str, ...]:
    """Pico's English voices (both ship inside ``ttspico``)."""
    _ttspico()
    return DEFAULT_VOICES


def pico_synthesize(text: str, voice: str = "en-US", pitch: int = 100, rate: int = 100) -> np.ndarray:
    """Speak ``text`` with Pico's ``voice`` at ``pitch`` / ``rate`` (percent of the voice's own);
    return trimmed float32 16 kHz audio."""
    if not text.strip():
        raise InputError("cannot synthesize empty text")
    if voice not in DEFAULT_VOICES:
        raise InputError(f"Pico has no voice {voice!r}; available: {', '.join(DEFAULT_VOICES)}")
    for name, value, (lo, hi) in (("pitch", pitch, PITCH_RANGE), ("rate", rate, RATE_RANGE)):
        if not lo <= int(value) <= hi:
            raise InputError(f"Pico {name}={value} outside [{lo}, {hi}]")
    eng = _engine(voice)
    eng.pitch, eng.rate = int(pitch), int(rate)
    chunks: list[bytes] = []
    eng.speak(text, lambda fmt, audio, fin: (chunks.append(bytes(audio)), True)[1])
    if not chunks:
        raise InputError(f"Pico (voice {voice!r}) produced no audio for {text!r}")
    pcm = np.frombuffer(b"".join(chunks), dtype="<i2").astype(np.float32) / 32768.0
    return _trim(pcm)


def synthesize(text: str, voice: str) -> np.ndarray:  # the data/tts_engines.py interface
    return pico_synthesize(text, voice)
