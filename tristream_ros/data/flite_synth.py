"""Spoken queries from a second TTS engine, CMU flite (Debian package ``flite``).

The model is trained on espeak-ng voices only; flite's voices (diphone ``kal``/``kal16``,
clustergen ``awb``/``rms``/``slt``) are an unseen engine, used to evaluate how the default
speech front end copes with synthetic speech that is not espeak's (``tristream eval --engine flite``).

Output like ``speech_synth.synthesize``: float32 mono in [-1, 1] at 16 kHz, trimmed.
"""
from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

import numpy as np

from ..errors import InputError
from .tts_engines import run_to_audio

FLITE = "flite"
# general-purpose English voices; flite also lists ``awb_time``, a limited-domain voice that
# only speaks clock times, which is left out of the default set
DEFAULT_VOICES: tuple[str, ...] = ("kal", "kal16", "awb", "rms", "slt")
LIMITED_DOMAIN = frozenset({"awb_time"})


def check_flite() -> str:
    """Path of the flite binary; a clear error if it is missing."""
    path = shutil.which(FLITE)
    if path is None:
        raise InputError(f"{FLITE!r} not found on PATH; install it (Debian: apt-get install flite, "
                         "or ./scripts/setup.sh)")
    return path


@lru_cache(maxsize=1)
def flite_voices() -> tuple[str, ...]:
    """Voices compiled into this flite (``flite -lv``), in its order."""
    out = subprocess.run([check_flite(), "-lv"], capture_output=True, text=True, check=False).stdout
    if ":" not in out:
        raise InputError(f"could not read flite's voice list (flite -lv printed {out[:100]!r})")
    return tuple(out.split(":", 1)[1].split())


def available_voices() -> tuple[str, ...]:
    """General-purpose voices of this flite (limited-domain ones left out)."""
    return tuple(v for v in flite_voices() if v not in LIMITED_DOMAIN)


def flite_synthesize(text: str, voice: str = "kal16") -> np.ndarray:
    """Run flite with ``voice``; return trimmed float32 16 kHz audio.

    flite silently falls back to its default voice for an unknown name, so the name is checked
    against ``flite -lv`` first.
    """
    if not text.strip():
        raise InputError("cannot synthesize empty text")
    voices = flite_voices()
    if voice not in voices:
        raise InputError(f"flite has no voice {voice!r}; available: {', '.join(voices)}")
    return run_to_audio([check_flite(), "-voice", voice, "-t", text, "-o", "OUT"], "OUT", f"flite (voice {voice!r})")


synthesize = flite_synthesize  # the data/tts_engines.py interface
