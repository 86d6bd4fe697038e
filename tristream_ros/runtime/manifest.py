"""``runtime.json``: what an export folder holds (no torch import: edge nodes read it)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tristream_ros.errors import ModelFileError
from tristream_ros.model.json_file import read_json

VISION_FILE = "vision_encoder.onnx"
SPEECH_FILE = "speech_encoder.onnx"
DECODER_FILE = "decoder_step.onnx"
MANIFEST_FILE = "runtime.json"
MANIFEST_FORMAT = "tristream-runtime-v1"


@dataclass
class ExportManifest:
    """``runtime.json`` beside the graphs: what was exported, from which config, sizes."""

    format: str = MANIFEST_FORMAT
    config: dict = field(default_factory=dict)  # TriStreamConfig.to_dict()
    speech_config: dict | None = None
    files: dict = field(default_factory=dict)  # part -> file name
    bytes: dict = field(default_factory=dict)  # file name -> bytes (graph + .data)
    exporter: str = "torchscript"
    int8: bool = False
    quantized_ops: list = field(default_factory=list)
    created_utc: str = ""

    def save(self, folder) -> Path:
        path = Path(folder) / MANIFEST_FILE
        path.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder) -> "ExportManifest":
        path = Path(folder) / MANIFEST_FILE
        data = read_json(path, "runtime manifest", " (run `tristream export` first)")
        if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
            raise ModelFileError(f"{path}: not a TriStream runtime manifest (format="
                                 f"{data.get('format') if isinstance(data, dict) else None!r})")
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


def model_bytes(path) -> int:
    """Size of an ONNX graph plus its external ``.onnx.data`` weights file."""
    path = Path(path)
    data = path.with_name(path.name + ".data")
    return path.stat().st_size + (data.stat().st_size if data.exists() else 0)
