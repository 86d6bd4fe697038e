"""Save / load a TriStreamModel as a folder of plain files (never pickle):

    model.safetensors   every parameter and persistent buffer (state_dict names)
    config.json         TriStreamConfig.to_dict()
    vocab.json          TextTokenizer.to_dict() (optional)

Loading checks every tensor against the model built from config.json and names the missing,
unexpected and mis-shaped ones in one ModelFileError.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tristream_ros.errors import ModelFileError
from tristream_ros.model.json_file import read_json
from tristream_ros.model.config import TriStreamConfig
from tristream_ros.model.text_tokenizer import TextTokenizer

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
VOCAB_FILE = "vocab.json"
_LIST_MAX = 8  # names listed per problem kind in error messages


def save_checkpoint(model, folder: str | Path, tokenizer: TextTokenizer | None = None,
                    metadata: dict[str, str] | None = None) -> Path:
    """Write model.safetensors + config.json (+ vocab.json) into `folder` (created)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    meta = {"format": "pt", "tristream": "checkpoint-v1", **(metadata or {})}
    tmp = folder / (MODEL_FILE + ".tmp")
    save_file(state, str(tmp), metadata=meta)
    tmp.replace(folder / MODEL_FILE)  # atomic: a crash never leaves a half-written model file
    save_config(folder, model.config)
    if tokenizer is not None:
        tokenizer.save(folder / VOCAB_FILE)
    return folder


def save_config(folder: str | Path, config: TriStreamConfig) -> Path:
    """Write `config` as FOLDER/config.json (e.g. after a calibration changed a setting)."""
    path = Path(folder) / CONFIG_FILE
    path.write_text(json.dumps(config.to_dict(), indent=1) + "\n", encoding="utf-8")
    return path


def load_config(folder: str | Path) -> TriStreamConfig:
    return TriStreamConfig.from_dict(read_json(Path(folder) / CONFIG_FILE, "checkpoint config"))


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors file; a missing or corrupt file raises ModelFileError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"weights file not found: {path}")
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read weights file {path}: {exc}") from None


def check_state(expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], where: str,
                allow_missing: tuple[str, ...] = ()) -> None:
    """Raise ModelFileError naming missing / unexpected / mis-shaped tensors."""
    missing = sorted(k for k in expected if k not in found and not k.startswith(allow_missing))
    unexpected = sorted(k for k in found if k not in expected)
    shapes = sorted(f"{k}: file {tuple(found[k].shape)} vs model {tuple(expected[k].shape)}"
                    for k in expected if k in found and tuple(found[k].shape) != tuple(expected[k].shape))
    problems = []
    for label, items in (("missing tensors", missing), ("unexpected tensors", unexpected),
                         ("mis-shaped tensors", shapes)):
        if items:
            more = f" (+{len(items) - _LIST_MAX} more)" if len(items) > _LIST_MAX else ""
            problems.append(f"{len(items)} {label}: {', '.join(items[:_LIST_MAX])}{more}")
    if problems:
        raise ModelFileError(f"{where}: " + "; ".join(problems))


def load_weights(model, path: str | Path) -> None:
    """Load model.safetensors into an existing model, strictly (names, shapes)."""
    found = read_tensors(path)
    expected = model.state_dict()
    check_state(expected, found, str(path))
    # load_state_dict (not copy_ into state_dict() values): some modules return copies there
    # (e.g. channels-last conv weights made contiguous), and their own load hooks must run.
    model.load_state_dict({k: found[k].to(expected[k].dtype) for k in expected}, strict=True)


def load_checkpoint(folder: str | Path, device: str | torch.device = "cpu"):
    """Build the model from config.json, load its weights and vocabulary.
    Returns the TriStreamModel in eval mode (with .tokenizer set when vocab.json exists)."""
    from tristream_ros.model.tristream_model import TriStreamModel

    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"checkpoint folder not found: {folder}")
    config = load_config(folder)
    vocab = folder / VOCAB_FILE
    tokenizer = TextTokenizer.load(vocab) if vocab.is_file() else None
    if tokenizer is not None and len(tokenizer) != config.fusion.vocab_size:
        raise ModelFileError(f"{vocab} has {len(tokenizer)} words but {folder / CONFIG_FILE} says "
                             f"fusion.vocab_size={config.fusion.vocab_size}")
    model = TriStreamModel(config, tokenizer)
    load_weights(model, folder / MODEL_FILE)
    return model.to(device).eval()
