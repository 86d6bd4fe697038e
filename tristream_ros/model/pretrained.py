"""Import a Hugging Face-layout Qwen2 / Qwen2.5 LLM from a local folder into the fusion decoder.

Folder layout (as published on the Hub; nothing is downloaded here):
    config.json                      model_type "qwen2", hidden_size, num_hidden_layers, ...
    model.safetensors                or
    model.safetensors.index.json     {"weight_map": {tensor name: shard file}} + the shards

Name mapping (HF -> FusionDecoder):
    model.embed_tokens.weight                       -> embed_tokens.weight
    model.layers.{i}.self_attn.{q,k,v}_proj.{weight,bias}, o_proj.weight
                                                    -> layers.{i}.self_attn.*  (same names)
    model.layers.{i}.mlp.{gate,up,down}_proj.weight -> layers.{i}.mlp.*  (expert_kind "adapter";
                                                       with "ffn" every route's FFN starts from it)
    model.layers.{i}.{input,post_attention}_layernorm.weight -> same
    model.norm.weight                               -> norm.weight
    lm_head.weight                                  -> lm_head.weight (untied models only)

Parameters the LLM does not have (cross-attention, bilateral gates, expert adapters, router,
projectors, heads) keep their initialisation; the gates start at 0 and the adapters' output
matrices at 0, so the imported decoder computes exactly the pretrained LM until trained.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open

from tristream_ros.errors import ModelFileError
from tristream_ros.model.json_file import read_json
from tristream_ros.model.config import FusionConfig

HF_CONFIG = "config.json"
HF_WEIGHTS = "model.safetensors"
HF_INDEX = "model.safetensors.index.json"
SUPPORTED_MODEL_TYPES = ("qwen2",)

# HF config key -> FusionConfig field
_CONFIG_KEYS = {
    "vocab_size": "vocab_size", "hidden_size": "hidden_size", "num_hidden_layers": "num_layers",
    "num_attention_heads": "num_heads", "num_key_value_heads": "num_kv_heads",
    "intermediate_size": "intermediate_size", "rope_theta": "rope_theta",
    "rms_norm_eps": "rms_norm_eps", "tie_word_embeddings": "tie_embeddings",
}
_LAYER_RE = re.compile(r"^model\.layers\.(\d+)\.(.+)$")
_LAYER_PARTS = ("self_attn.q_proj.weight", "self_attn.q_proj.bias", "self_attn.k_proj.weight",
                "self_attn.k_proj.bias", "self_attn.v_proj.weight", "self_attn.v_proj.bias",
                "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
                "mlp.down_proj.weight", "input_layernorm.weight", "post_attention_layernorm.weight")


@dataclass
class ImportReport:
    loaded: list[str] = field(default_factory=list)  # our parameter names filled from the file
    kept_init: list[str] = field(default_factory=list)  # our parameters the LLM has no weights for
    ignored: list[str] = field(default_factory=list)  # file tensors we have no slot for (e.g. rotary caches)


def read_hf_config(folder: str | Path) -> dict:
    path = Path(folder) / HF_CONFIG
    cfg = read_json(path, "Hugging Face config")
    mtype = cfg.get("model_type")
    if mtype not in SUPPORTED_MODEL_TYPES:
        raise ModelFileError(f"{path}: model_type={mtype!r} is not supported; expected one of {SUPPORTED_MODEL_TYPES}")
    return cfg


def fusion_config_from_hf(folder: str | Path, base: FusionConfig | None = None) -> FusionConfig:
    """A FusionConfig with the LLM's shape from config.json (other fields from `base`; full
    depth on every route: route_exit_fractions=None)."""
    hf = read_hf_config(folder)
    missing = [k for k in _CONFIG_KEYS if k not in hf and k not in ("tie_word_embeddings", "rope_theta", "rms_norm_eps")]
    if missing:
        raise ModelFileError(f"{Path(folder) / HF_CONFIG} lacks {missing}")
    values = {ours: hf[theirs] for theirs, ours in _CONFIG_KEYS.items() if theirs in hf}
    values.setdefault("num_kv_heads", values["num_heads"])
    values["max_position"] = int(hf.get("max_position_embeddings", (base or FusionConfig()).max_position))
    values["qkv_bias"] = True  # Qwen2 always has q/k/v biases
    # a pretrained LM has no trained shallow exits: every route runs the full depth until
    # `python -m tristream_ros.training.cascade_distill` adapts the exits (route_exit_fractions)
    values["route_exit_fractions"] = None
    return replace(base or FusionConfig(), **values)


def _check_shape_compat(folder: Path, hf: dict, cfg: FusionConfig) -> None:
    diffs = []
    for theirs, ours in _CONFIG_KEYS.items():
        if theirs in hf:
            a, b = hf[theirs], getattr(cfg, ours)
            if (isinstance(b, float) and abs(float(a) - b) > 1e-12 * max(1.0, abs(b))) or \
                    (not isinstance(b, float) and a != b):
                diffs.append(f"{theirs}={a!r} vs fusion.{ours}={b!r}")
    if diffs:
        raise ModelFileError(f"{folder / HF_CONFIG} does not match the decoder: {'; '.join(diffs)} "
                             f"(build the model with fusion_config_from_hf)")


class _TensorSource:
    """Tensor names -> lazily opened safetensors files (single file or sharded)."""

    def __init__(self, folder: Path):
        self.folder = folder
        index, single = folder / HF_INDEX, folder / HF_WEIGHTS
        if index.is_file():
            try:
                weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise ModelFileError(f"{index} is not a valid safetensors index: {exc}") from None
            self.where = {name: folder / shard for name, shard in weight_map.items()}
        elif single.is_file():
            self.where = {name: single for name in self._keys(single)}
        else:
            raise ModelFileError(f"no {HF_WEIGHTS} or {HF_INDEX} in {folder}")
        self._open: dict[Path, object] = {}

    @staticmethod
    def _keys(path: Path) -> list[str]:
        try:
            with safe_open(str(path), framework="pt") as f:
                return list(f.keys())
        except (SafetensorError, OSError) as exc:
            raise ModelFileError(f"cannot read weights file {path}: {exc}") from None

    def get(self, name: str) -> torch.Tensor:
        path = self.where[name]
        if path not in self._open:
            if not path.is_file():
                raise ModelFileError(f"shard {path} (listed for {name}) not found")
            try:
                self._open[path] = safe_open(str(path), framework="pt")
            except (SafetensorError, OSError) as exc:
                raise ModelFileError(f"cannot read weights file {path}: {exc}") from None
        try:
            return self._open[path].get_tensor(name)
        except (SafetensorError, OSError) as exc:
            raise ModelFileError(f"cannot read tensor {name} from {path}: {exc}") from None


def load_qwen2_decoder(decoder, folder: str | Path) -> ImportReport:
    """Copy a Qwen2/Qwen2.5 checkpoint into `decoder` (a FusionDecoder of the same shape).

    Raises ModelFileError naming missing, mis-shaped or unreadable tensors and config mismatches."""
    folder = Path(folder)
    hf = read_hf_config(folder)
    cfg = decoder.cfg
    _check_shape_compat(folder, hf, cfg)
    src = _TensorSource(folder)
    params = dict(decoder.named_parameters())

    plan: dict[str, str] = {"model.embed_tokens.weight": "embed_tokens.weight", "model.norm.weight": "norm.weight"}
    if not cfg.tie_embeddings:
        plan["lm_head.weight"] = "lm_head.weight"
    for i in range(cfg.num_layers):
        for part in _LAYER_PARTS:
            if part.endswith(".bias") and not cfg.qkv_bias:
                continue
            plan[f"model.layers.{i}.{part}"] = f"layers.{i}.{part}"

    missing = sorted(n for n in plan if n not in src.where)
    if missing:
        more = f" (+{len(missing) - 8} more)" if len(missing) > 8 else ""
        raise ModelFileError(f"{folder}: {len(missing)} missing tensors: {', '.join(missing[:8])}{more}")

    report = ImportReport()
    ffn_experts = cfg.expert_kind == "ffn"
    pending_ffn: dict[int, dict[str, torch.Tensor]] = {}
    bad_shapes = []
    with torch.no_grad():
        for theirs, ours in plan.items():
            t = src.get(theirs)
            if ffn_experts and ".mlp." in ours:
                i = int(ours.split(".")[1])
                pending_ffn.setdefault(i, {})[ours.split(".")[3]] = t
                continue
            p = params[ours]
            if tuple(t.shape) != tuple(p.shape):
                bad_shapes.append(f"{theirs}: file {tuple(t.shape)} vs model {tuple(p.shape)}")
                continue
            p.copy_(t.to(p.dtype))
            report.loaded.append(ours)
        for i, parts in pending_ffn.items():
            exp = decoder.layers[i].experts
            want = (exp.gate.shape[2], exp.gate.shape[1])
            if tuple(parts["gate_proj"].shape) != want:
                bad_shapes.append(f"model.layers.{i}.mlp.gate_proj.weight: file {tuple(parts['gate_proj'].shape)} "
                                  f"vs model {want}")
                continue
            exp.load_shared(parts["gate_proj"].float(), parts["up_proj"].float(), parts["down_proj"].float())
            report.loaded += [f"layers.{i}.experts.{n}" for n in ("gate", "up", "down")]
    if bad_shapes:
        raise ModelFileError(f"{folder}: {len(bad_shapes)} mis-shaped tensors: {'; '.join(bad_shapes[:8])}")
    report.kept_init = sorted(n for n in params if n not in report.loaded)
    report.ignored = sorted(n for n in src.where if n not in plan)
    return report


def load_qwen2_into_model(model, folder: str | Path) -> ImportReport:
    """`load_qwen2_decoder` on a TriStreamModel's decoder; the route embeddings (added to every
    input embedding) are zeroed so the text path starts as exactly the pretrained LM."""
    report = load_qwen2_decoder(model.decoder, folder)
    with torch.no_grad():
        model.route_embed.weight.zero_()
    return report
