"""Project-wide exception types.

Nodes catch these, log them, publish a diagnostic and keep running. Messages must name the
offending value (``f"unsupported sample_format {fmt!r}; expected one of ..."``).
"""
from __future__ import annotations


class InputError(ValueError):
    """Bad data or a bad argument coming from outside (a message, a file, a parameter)."""


class ModelFileError(RuntimeError):
    """A model / checkpoint / tokenizer file is missing, unreadable or inconsistent."""


class DeviceError(RuntimeError):
    """A hardware edge (sound card, camera) is missing, busy or rejected the settings."""
