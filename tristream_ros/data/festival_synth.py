"""Spoken queries from a third TTS engine, the Festival speech synthesis system (Debian packages
``festival``, ``festvox-kallpc16k``, ``festvox-kdlpc16k``, ``festvox-us-slt-hts``).

Festival's diphone voices ``kal_diphone`` and ``ked_diphone`` are concatenations of diphones
recorded by two real American male speakers, so their spectra are real human speech, unlike
espeak-ng's formant synthesis; ``cmu_us_slt_arctic_hts`` is a statistical (HTS) voice trained on a
real female speaker (32 kHz, resampled). The model never trains on any of them
(`tristream eval --engine festival`).

Output like ``speech_synth.synthesize``: float32 mono in [-1, 1] at 16 kHz, trimmed.
"""
from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

import numpy as np

from ..errors import InputError
from .tts_engines import run_to_audio

FESTIVAL = "festival"
TEXT2WAVE = "text2wave"  # festival's script: text on stdin -> WAV file
DEFAULT_VOICES: tuple[str, ...] = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")


def check_festival() -> str:
    """Path of text2wave; a clear error if Festival is missing."""
    path = shutil.which(TEXT2WAVE)
    if path is None or shutil.which(FESTIVAL) is None:
        raise InputError("Festival not found on PATH; install it (Debian: apt-get install festival "
                         "festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts, or ./scripts/setup.sh)")
    return path


@lru_cache(maxsize=1)
def festival_voices() -> tuple[str, ...]:
    """Voices this Festival has installed (its ``(voice.list)``)."""
    check_festival()
    out = subprocess.run([FESTIVAL, "--pipe"], input="(print (voice.list))\n", capture_output=True, text=True,
                         check=False, timeout=60).stdout.strip()
    if not (out.startswith("(") and out.endswith(")")):
        raise InputError(f"could not read Festival's voice list (it printed {out[:100]!r})")
    return tuple(out[1:-1].split())


def available_voices() -> tuple[str, ...]:
    """The English voices of DEFAULT_VOICES that are installed, in that order."""
    have = festival_voices()
    return tuple(v for v in DEFAULT_VOICES if v in have)


def synthesize(text: str, voice: str = "kal_diphone") -> np.ndarray:
    """Run text2wave with ``voice``; return trimmed float32 16 kHz audio.

    The voice name goes into a Scheme expression, so it is checked against the installed list
    first (an unknown one would otherwise fall back to the default voice with only a warning)."""
    if not text.strip():
        raise InputError("cannot synthesize empty text")
    voices = festival_voices()
    if voice not in voices:
        raise InputError(f"Festival has no voice {voice!r}; available: {', '.join(voices)}")
    return run_to_audio([check_festival(), "-eval", f"(voice_{voice})", "-o", "OUT"], "OUT",
                        f"Festival text2wave (voice {voice!r})", stdin=text + "\n")
