"""Load a pretrained MobileViT from a local Hugging Face-layout folder into our backbone.

A folder holds ``config.json`` (``model_type: "mobilevit"``) and ``model.safetensors`` (as written
by ``save_pretrained`` of ``MobileViTModel`` / ``MobileViTForImageClassification`` /
``MobileViTForSemanticSegmentation``). Keys may carry the ``mobilevit.`` prefix of the task models;
classifier and segmentation-head tensors are ignored. Pickled ``pytorch_model.bin`` files are
refused (never unpickle untrusted files): convert them to safetensors first.

Nothing is downloaded: the folder must already be on disk.

    enc = build_stve_from_hf("/models/mobilevit-small")             # config from config.json
    enc = SparseTemporalVisionEncoder(cfg); enc.load_pretrained_backbone(folder)  # existing config
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch

from tristream_ros.errors import ModelFileError
from tristream_ros.model.json_file import read_json

from .config import BACKBONE_STRIDE, VisionConfig
from .mobilevit import MobileViTBackbone

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
BACKBONE_PREFIX = "mobilevit."  # prefix of the backbone inside HF task models
IGNORED_PREFIXES = ("classifier.", "segmentation_head.")  # task heads we do not use
HF_TRANSFORMER_DEPTHS = (2, 4, 3)  # fixed by the HF MobileViT architecture
HF_MOBILENET_STAGES = (1, 3)
# HF config field -> VisionConfig field (same meaning)
_HF_FIELDS = ("num_channels", "hidden_sizes", "neck_hidden_sizes", "num_attention_heads", "mlp_ratio",
              "expand_ratio", "hidden_act", "conv_kernel_size", "patch_size", "layer_norm_eps", "qkv_bias")


@dataclass
class LoadReport:
    loaded: list[str] = field(default_factory=list)  # our parameter/buffer names that were filled
    ignored: list[str] = field(default_factory=list)  # checkpoint keys not used (task heads)
    defaulted: list[str] = field(default_factory=list)  # optional buffers absent from the file


def read_hf_config(folder: str | Path) -> dict:
    path = Path(folder) / CONFIG_FILE
    data = read_json(path, "MobileViT config")
    model_type = data.get("model_type", "mobilevit")
    if model_type != "mobilevit":
        raise ModelFileError(f"{str(path)!r} has model_type={model_type!r}, expected 'mobilevit'")
    if data.get("output_stride", BACKBONE_STRIDE) != BACKBONE_STRIDE:
        raise ModelFileError(f"{str(path)!r}: output_stride={data['output_stride']} is not supported "
                             f"(STVE needs {BACKBONE_STRIDE}: 2x2 tokens per 64x64 tile)")
    return data


def vision_config_from_hf(hf_config: dict | str | Path, base: VisionConfig | str = "omni-0.5b",
                          **overrides) -> VisionConfig:
    """VisionConfig whose backbone fields come from an HF MobileViT config (dict or folder);
    STVE fields (tiles, budget, pooling, scorer) come from ``base`` unless overridden."""
    data = hf_config if isinstance(hf_config, dict) else read_hf_config(hf_config)
    base_cfg = VisionConfig.preset(base) if isinstance(base, str) else base
    backbone = {k: (tuple(data[k]) if isinstance(data[k], list) else data[k]) for k in _HF_FIELDS if k in data}
    backbone.update(transformer_depths=HF_TRANSFORMER_DEPTHS, mobilenet_stages=HF_MOBILENET_STAGES,
                    flip_channel_order=True)
    backbone.update(overrides)
    return base_cfg.replace(**backbone)


def load_hf_state_dict(folder: str | Path) -> dict[str, torch.Tensor]:
    """Read ``model.safetensors`` (never a pickle) -> {key: tensor}."""
    folder = Path(folder)
    path = folder / WEIGHTS_FILE
    if not path.is_file():
        pickled = [p.name for p in folder.glob("*.bin")] if folder.is_dir() else []
        hint = (f"; found {pickled}: pickled weights are refused, convert them to {WEIGHTS_FILE}"
                if pickled else "")
        raise ModelFileError(f"MobileViT folder {str(folder)!r} has no {WEIGHTS_FILE}{hint}")
    from safetensors import SafetensorError
    from safetensors.torch import load_file
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"cannot read {str(path)!r}: {exc}") from exc


def backbone_state_from_hf(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """Strip the ``mobilevit.`` prefix and drop task heads -> (backbone state, ignored keys)."""
    out, ignored = {}, []
    for key, value in state.items():
        name = key[len(BACKBONE_PREFIX):] if key.startswith(BACKBONE_PREFIX) else key
        if name.startswith(IGNORED_PREFIXES):
            ignored.append(key)
        else:
            out[name] = value
    return out, ignored


def load_mobilevit_weights(backbone: MobileViTBackbone, folder: str | Path) -> LoadReport:
    """Fill ``backbone`` from an HF-layout folder. Every parameter must be present with the right
    shape; otherwise ``ModelFileError`` names the missing / mis-shaped / unexpected tensors."""
    state, ignored = backbone_state_from_hf(load_hf_state_dict(folder))
    expected = backbone.state_dict()
    missing, misshaped, defaulted = [], [], []
    for name, ref in expected.items():
        if name not in state:
            (defaulted if name.endswith("num_batches_tracked") else missing).append(name)
        elif tuple(state[name].shape) != tuple(ref.shape):
            misshaped.append(f"{name}: checkpoint {tuple(state[name].shape)} vs model {tuple(ref.shape)}")
    unexpected = sorted(set(state) - set(expected))
    problems = []
    if misshaped:
        problems.append(f"mis-shaped tensors: {_clip(misshaped)}")
    if missing:
        problems.append(f"missing tensors: {_clip(missing)}")
    if unexpected:
        problems.append(f"unexpected tensors: {_clip(unexpected)}")
    if problems:
        raise ModelFileError(f"MobileViT checkpoint {str(Path(folder) / WEIGHTS_FILE)!r} does not fit "
                             f"the backbone ({_describe(backbone.config)}): " + "; ".join(problems))
    for name, value in state.items():
        if not (value.is_floating_point() or name.endswith("num_batches_tracked")):
            raise ModelFileError(f"tensor {name!r} has dtype {value.dtype}, expected a float tensor")
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            raise ModelFileError(f"tensor {name!r} contains NaN or Inf")
    backbone.load_state_dict({k: v for k, v in state.items()}, strict=False)
    return LoadReport(loaded=sorted(state), ignored=ignored, defaulted=defaulted)


def build_stve_from_hf(folder: str | Path, base: VisionConfig | str = "omni-0.5b", **overrides):
    """A SparseTemporalVisionEncoder whose backbone is the pretrained MobileViT in ``folder``
    (config from its config.json; the scorer stays freshly initialised)."""
    from .stve import SparseTemporalVisionEncoder
    state, _ = backbone_state_from_hf(load_hf_state_dict(folder))
    overrides.setdefault("expand_output", any(k.startswith("conv_1x1_exp.") for k in state))
    encoder = SparseTemporalVisionEncoder(vision_config_from_hf(folder, base, **overrides))
    encoder.load_pretrained_backbone(folder)
    return encoder


def save_hf_mobilevit(backbone: MobileViTBackbone, folder: str | Path, *, task_prefix: bool = True) -> Path:
    """Write ``backbone`` as an HF-layout folder (config.json + model.safetensors); with
    ``task_prefix`` the keys carry ``mobilevit.`` as in MobileViTForImageClassification files."""
    c = backbone.config
    if (c.transformer_depths, c.mobilenet_stages) != (HF_TRANSFORMER_DEPTHS, HF_MOBILENET_STAGES):
        raise ModelFileError(f"HF MobileViT needs transformer_depths={HF_TRANSFORMER_DEPTHS} and "
                             f"mobilenet_stages={HF_MOBILENET_STAGES}; this backbone has "
                             f"{c.transformer_depths} and {c.mobilenet_stages}")
    from safetensors.torch import save_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    prefix = BACKBONE_PREFIX if task_prefix else ""
    state = {prefix + k: v.detach().contiguous() for k, v in backbone.state_dict().items()}
    hf = {k: (list(v) if isinstance(v := getattr(c, k), tuple) else v) for k in _HF_FIELDS}
    hf.update(model_type="mobilevit", image_size=c.image_size, output_stride=BACKBONE_STRIDE,
              architectures=["MobileViTModel"] if not task_prefix else ["MobileViTForImageClassification"])
    (folder / CONFIG_FILE).write_text(json.dumps(hf, indent=2))
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    return folder


def _clip(items: list[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def _describe(c: VisionConfig) -> str:
    return f"neck_hidden_sizes={list(c.neck_hidden_sizes)}, hidden_sizes={list(c.hidden_sizes)}"
