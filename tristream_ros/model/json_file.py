"""Read a JSON file that belongs to a model (configs, vocabularies, manifests, calibrations):
a missing or unreadable file is a ModelFileError that names the file and what it is."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tristream_ros.errors import ModelFileError


def read_json(path: str | Path, what: str, hint: str = "") -> Any:
    """The parsed contents of `path`. Errors: "<what> not found: <path><hint>" and
    "cannot read <what> <path>: ..." (not UTF-8, not JSON, not readable)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{what} not found: {path}{hint}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"cannot read {what} {path}: not valid JSON ({exc})") from None
