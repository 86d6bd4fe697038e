"""Load a Whisper encoder in Hugging Face layout from a local folder into ``SpeechEncoder``.

The folder holds ``config.json`` and ``model.safetensors`` (or sharded
``model.safetensors.index.json`` + shards), as ``save_pretrained`` writes them for
``WhisperForConditionalGeneration`` (tensors under ``model.encoder.``), ``WhisperModel``
(``encoder.``) or a bare ``WhisperEncoder`` (no prefix). Only safetensors are read: pickled
``pytorch_model.bin`` files are refused (never unpickle untrusted files).

Our module names mirror ``WhisperEncoder``'s, so the map is one to one
(``embed_positions.weight`` -> our ``embed_positions`` buffer). Missing or mis-shaped tensors
raise ``ModelFileError`` listing every offending name with both shapes. With ``strict=False``
the tensors whose shapes fit are loaded and the rest reported (e.g. to initialise a smaller
model's bottom layers from Whisper).

Caveats, by design: our stem is causal (Whisper's conv is centred: a 10 ms shift) and attention
is chunked with bounded left context where Whisper attends over 30 s, so a pretrained encoder
behaves somewhat differently until it is fine-tuned with the chunked mask. Positions past
Whisper's 1500 (30 s) continue its sinusoid formula.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tristream_ros.errors import ModelFileError
from tristream_ros.model.json_file import read_json
from tristream_ros.model.speech.config import SpeechConfig
from tristream_ros.model.speech.streaming_encoder import SpeechEncoder

PREFIXES = ("model.encoder.", "encoder.", "")  # WhisperForConditionalGeneration, WhisperModel, WhisperEncoder


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # our tensors absent from the checkpoint
    mismatched: list[str] = field(default_factory=list)  # "name: checkpoint (a, b) vs ours (c, d)"
    prefix: str = ""


def _read_config(folder: Path) -> dict:
    return read_json(folder / "config.json", "Whisper config", " (a Hugging Face Whisper folder needs config.json)")


def whisper_speech_config(folder: str | Path, **overrides) -> SpeechConfig:
    """A SpeechConfig with the encoder sizes of the Whisper checkpoint in ``folder``."""
    folder = Path(folder)
    cfg = _read_config(folder)
    keys = {"d_model": "d_model", "n_layers": "encoder_layers", "n_heads": "encoder_attention_heads",
            "ffn_dim": "encoder_ffn_dim", "n_mels": "num_mel_bins", "max_source_positions": "max_source_positions"}
    missing = [hf for hf in keys.values() if hf not in cfg]
    if missing:
        raise ModelFileError(f"{folder / 'config.json'}: missing Whisper keys {missing}")
    values = {ours: int(cfg[hf]) for ours, hf in keys.items()}
    values.update(overrides)
    return SpeechConfig.preset("omni-0.5b", **values)


def _tensor_files(folder: Path) -> dict[str, Path]:
    """Map tensor name -> safetensors file holding it."""
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if single.is_file():
        from safetensors import safe_open

        try:
            with safe_open(str(single), framework="pt") as f:
                return {k: single for k in f.keys()}
        except Exception as exc:  # safetensors raises its own error types
            raise ModelFileError(f"{single}: not a readable safetensors file ({exc})") from exc
    if index.is_file():
        try:
            weight_map = json.loads(index.read_text())["weight_map"]
        except (OSError, KeyError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"{index}: unreadable shard index ({exc})") from exc
        return {k: folder / v for k, v in weight_map.items()}
    pickles = sorted(p.name for p in folder.glob("*.bin"))
    hint = f"; found {pickles}: convert them to safetensors (pickles are never loaded)" if pickles else ""
    raise ModelFileError(f"{folder}: no model.safetensors or model.safetensors.index.json{hint}")


def load_whisper_encoder(folder: str | Path, encoder: SpeechEncoder | None = None, *, strict: bool = True,
                         **config_overrides) -> tuple[SpeechEncoder, LoadReport]:
    """Load Whisper encoder weights from ``folder``.

    encoder: load into this one (its shapes must fit); None builds one sized from config.json
    (``config_overrides`` adjust streaming settings such as ``chunk_frames``).
    Returns (encoder, LoadReport). Raises ModelFileError on missing / mis-shaped tensors when strict.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFileError(f"{folder}: not a folder (expected a Hugging Face Whisper checkpoint folder)")
    if encoder is None:
        encoder = SpeechEncoder(whisper_speech_config(folder, **config_overrides))
    files = _tensor_files(folder)
    prefix = next((p for p in PREFIXES if f"{p}conv1.weight" in files), None)
    if prefix is None:
        raise ModelFileError(f"{folder}: no Whisper encoder tensors (looked for 'model.encoder.conv1.weight', "
                             "'encoder.conv1.weight', 'conv1.weight')")
    ours = dict(encoder.state_dict())
    report = LoadReport(prefix=prefix)
    plan: dict[Path, list[tuple[str, str]]] = {}
    for name, tensor in ours.items():
        theirs = prefix + ("embed_positions.weight" if name == "embed_positions" else name)
        if theirs not in files:
            report.missing.append(theirs)
            continue
        plan.setdefault(files[theirs], []).append((name, theirs))
    from safetensors import safe_open

    new_state = {}
    for path, pairs in plan.items():
        try:
            with safe_open(str(path), framework="pt") as f:
                for name, theirs in pairs:
                    shape = tuple(f.get_slice(theirs).get_shape())
                    want = tuple(ours[name].shape)
                    if shape != want:
                        report.mismatched.append(f"{theirs}: checkpoint {shape} vs ours {want}")
                        continue
                    new_state[name] = f.get_tensor(theirs).to(ours[name].dtype)
                    report.loaded.append(theirs)
        except ModelFileError:
            raise
        except Exception as exc:
            raise ModelFileError(f"{path}: cannot read tensors ({exc})") from exc
    if strict and (report.missing or report.mismatched):
        parts = []
        if report.missing:
            parts.append(f"missing {len(report.missing)} tensors: {report.missing[:8]}")
        if report.mismatched:
            parts.append(f"mis-shaped {len(report.mismatched)} tensors: {report.mismatched[:8]}")
        raise ModelFileError(f"{folder}: Whisper encoder does not fit ({'; '.join(parts)})")
    with torch.no_grad():
        for name, value in new_state.items():
            ours[name].copy_(value)
    return encoder, report
