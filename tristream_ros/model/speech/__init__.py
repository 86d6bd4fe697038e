"""Speech path: incremental features -> streaming encoder -> CTC transcript + adapter tokens,
silero-vad segmentation, and the ``SpeechTokenizer`` front ends (ours, pocketsphinx, hybrid).

The names below are imported on first use, so a submodule that needs no torch (the pocketsphinx
decoder process: decoder_process.py) starts without it."""
from __future__ import annotations

import importlib

__all__ = ["PRESETS", "SpeechConfig", "SpeechModel", "SpeechOutput"]
_HOME = {"PRESETS": "config", "SpeechConfig": "config", "SpeechModel": "speech_model", "SpeechOutput": "speech_model"}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
