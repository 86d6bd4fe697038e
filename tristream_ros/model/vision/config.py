"""Configuration of the Sparse Temporal Vision Encoder (STVE) and its MobileViT backbone.

Geometry (fixed by docs/design.md): a camera frame is resized to ``image_size`` (256 px), cut into
a grid of ``tile_size`` (64 px) tiles = 4x4 tiles; the backbone has output stride 32, so each tile
gives 2x2 tokens and a frame gives an 8x8 grid of 64 dense tokens.

Backbone fields keep the names and meaning of Hugging Face's ``MobileViTConfig`` so that a
``config.json`` of a pretrained MobileViT maps onto this dataclass field by field
(see ``pretrained_mobilevit.py``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from tristream_ros.errors import InputError

BACKBONE_STRIDE = 32  # px of input per output token (MobileViT output_stride)
POOL_MODES = ("ema", "mean", "last")
RESIZE_MODES = ("stretch", "center_crop")
BACKBONE_INPUTS = ("rgb", "luma")
ACTIVATIONS = ("silu", "swish", "gelu", "relu")


class VisionConfigError(InputError):
    """A VisionConfig field holds an impossible value; the message names field and value."""


@dataclass
class VisionConfig:
    # --- frame geometry -------------------------------------------------------------------
    image_size: int = 256  # px; frames are resized to image_size x image_size
    tile_size: int = 64  # px; each tile is encoded independently (and cached)
    resize_mode: str = "stretch"  # "stretch" keeps the whole field of view; "center_crop" keeps aspect
    # --- MobileViT backbone (Hugging Face MobileViTConfig names) --------------------------
    num_channels: int = 3
    neck_hidden_sizes: tuple[int, ...] = (16, 16, 24, 48, 64, 80, 320)  # 7 conv widths
    hidden_sizes: tuple[int, ...] = (64, 80, 96)  # transformer widths of the 3 MobileViT blocks
    transformer_depths: tuple[int, ...] = (2, 4, 3)  # transformer layers per MobileViT block
    mobilenet_stages: tuple[int, ...] = (1, 3)  # inverted residuals in the 2 MobileNet layers
    num_attention_heads: int = 4
    mlp_ratio: float = 2.0
    expand_ratio: float = 2.0  # inverted-residual expansion
    hidden_act: str = "silu"
    conv_kernel_size: int = 3
    patch_size: int = 2  # MobileViT unfolding patch (px of feature map)
    layer_norm_eps: float = 1e-5
    qkv_bias: bool = True
    expand_output: bool = True  # final 1x1 conv to neck_hidden_sizes[6]; token dim follows it
    flip_channel_order: bool = True  # HF MobileViT weights expect BGR input in [0, 1]
    channels_last: bool = True  # run convolutions in NHWC memory format (faster on CPU)
    # --- shape / colour factorisation (colour_branch.py) --------------------------------------
    backbone_input: str = "rgb"  # "luma": the backbone sees BT.601 luminance only (shape, not hue)
    colour_features: int = 0  # width of the per-pixel colour branch added to the tokens (0 = none)
    # --- streaming tile cache ---------------------------------------------------------------
    change_threshold: float = 2.0  # mean |pixel diff| (0..255 scale) above which a tile is re-encoded
    change_pool: int = 4  # px; tiles are compared after change_pool x change_pool averaging (noise)
    # --- temporal pooling -------------------------------------------------------------------
    temporal_window: int = 4  # frames pooled per grid cell
    temporal_pool: str = "ema"  # "ema" | "mean" | "last"
    ema_decay: float = 0.5  # weight of the older frames in "ema" (0 = only the newest frame)
    # --- importance scorer ------------------------------------------------------------------
    scorer_hidden: int = 64  # 0 = a single linear layer
    # --- token budget -----------------------------------------------------------------------
    score_threshold: float = 0.5  # inference: keep tokens with sigmoid score >= threshold ...
    max_keep_ratio: float = 0.27  # ... but never more than this fraction of dense tokens
    budget_alpha: float = 0.27  # k = ceil(budget_alpha * complexity * N) before clamping
    min_tokens: int = 1  # always return at least this many tokens (also on an all-black frame)
    edge_ref: float = 0.06  # mean |gradient| (0..1 grey) at which a tile counts as fully complex

    # ---------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        for name in ("neck_hidden_sizes", "hidden_sizes", "transformer_depths", "mobilenet_stages"):
            setattr(self, name, tuple(int(v) for v in getattr(self, name)))

        def bad(name: str, why: str) -> VisionConfigError:
            return VisionConfigError(f"VisionConfig.{name}={getattr(self, name)!r}: {why}")

        if self.tile_size <= 0 or self.tile_size % BACKBONE_STRIDE:
            raise bad("tile_size", f"must be a positive multiple of {BACKBONE_STRIDE} (backbone stride)")
        if self.image_size <= 0 or self.image_size % self.tile_size:
            raise bad("image_size", f"must be a positive multiple of tile_size={self.tile_size}")
        if self.resize_mode not in RESIZE_MODES:
            raise bad("resize_mode", f"must be one of {RESIZE_MODES}")
        if self.backbone_input not in BACKBONE_INPUTS:
            raise bad("backbone_input", f"must be one of {BACKBONE_INPUTS}")
        if self.colour_features < 0:
            raise bad("colour_features", "must be >= 0 (0 = no colour branch)")
        if self.num_channels != 3:
            raise bad("num_channels", "only RGB (3) frames are supported")
        if len(self.neck_hidden_sizes) != 7 or min(self.neck_hidden_sizes) <= 0:
            raise bad("neck_hidden_sizes", "needs 7 positive widths (stem, 2 MobileNet, 3 MobileViT, expand)")
        if len(self.hidden_sizes) != 3 or min(self.hidden_sizes) <= 0:
            raise bad("hidden_sizes", "needs 3 positive transformer widths")
        if len(self.transformer_depths) != 3 or min(self.transformer_depths) <= 0:
            raise bad("transformer_depths", "needs 3 positive depths")
        if len(self.mobilenet_stages) != 2 or min(self.mobilenet_stages) <= 0:
            raise bad("mobilenet_stages", "needs 2 positive stage counts")
        if self.num_attention_heads <= 0:
            raise bad("num_attention_heads", "must be positive")
        for h in self.hidden_sizes:
            if h % self.num_attention_heads:
                raise bad("hidden_sizes", f"width {h} is not divisible by num_attention_heads="
                          f"{self.num_attention_heads}")
        if self.hidden_act not in ACTIVATIONS:
            raise bad("hidden_act", f"must be one of {ACTIVATIONS}")
        if self.conv_kernel_size <= 0 or self.conv_kernel_size % 2 == 0:
            raise bad("conv_kernel_size", "must be a positive odd number")
        if self.patch_size <= 0 or (self.tile_size // BACKBONE_STRIDE) % self.patch_size:
            raise bad("patch_size", f"must be positive and divide the last feature map side "
                      f"tile_size/{BACKBONE_STRIDE}={self.tile_size // BACKBONE_STRIDE}")
        if self.mlp_ratio <= 0 or self.expand_ratio <= 0:
            raise VisionConfigError(f"VisionConfig.mlp_ratio={self.mlp_ratio}, expand_ratio="
                                    f"{self.expand_ratio}: both must be positive")
        if self.change_threshold < 0:
            raise bad("change_threshold", "must be >= 0 (0 re-encodes every tile that differs at all)")
        if self.change_pool < 1 or self.tile_size % self.change_pool:
            raise bad("change_pool", f"must be >= 1 and divide tile_size={self.tile_size}")
        if self.temporal_window < 1:
            raise bad("temporal_window", "must be >= 1")
        if self.temporal_pool not in POOL_MODES:
            raise bad("temporal_pool", f"must be one of {POOL_MODES}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise bad("ema_decay", "must be in [0, 1)")
        if self.scorer_hidden < 0:
            raise bad("scorer_hidden", "must be >= 0")
        if not 0.0 < self.score_threshold < 1.0:
            raise bad("score_threshold", "must be in (0, 1)")
        if not 0.0 < self.max_keep_ratio <= 1.0:
            raise bad("max_keep_ratio", "must be in (0, 1]")
        if self.budget_alpha < 0:
            raise bad("budget_alpha", "must be >= 0")
        if not 0 <= self.min_tokens <= self.max_tokens:
            raise bad("min_tokens", f"must be in [0, max_tokens={self.max_tokens}]")
        if self.edge_ref <= 0:
            raise bad("edge_ref", "must be positive")

    # --- derived geometry -------------------------------------------------------------------
    @property
    def tiles_per_side(self) -> int:
        return self.image_size // self.tile_size  # 4

    @property
    def num_tiles(self) -> int:
        return self.tiles_per_side ** 2  # 16

    @property
    def tokens_per_tile_side(self) -> int:
        return self.tile_size // BACKBONE_STRIDE  # 2

    @property
    def grid_hw(self) -> tuple[int, int]:
        side = self.tiles_per_side * self.tokens_per_tile_side
        return (side, side)  # (8, 8)

    @property
    def dense_tokens(self) -> int:
        h, w = self.grid_hw
        return h * w  # 64

    @property
    def max_tokens(self) -> int:
        return max(1, math.floor(self.max_keep_ratio * self.dense_tokens + 1e-9))  # 17 of 64

    @property
    def token_dim(self) -> int:
        return self.neck_hidden_sizes[6] if self.expand_output else self.neck_hidden_sizes[5]

    # --- presets ------------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, **overrides) -> "VisionConfig":
        """``tiny`` (unit tests), ``demo`` (shipped, CPU), ``omni-0.5b`` (MobileViT-small widths)."""
        if name not in PRESETS:
            raise VisionConfigError(f"unknown vision preset {name!r}; choose one of {sorted(PRESETS)}")
        return dataclasses.replace(PRESETS[name], **overrides)

    def replace(self, **changes) -> "VisionConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v)
                for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "VisionConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise VisionConfigError(f"unknown VisionConfig fields {unknown}")
        return cls(**data)


# Every preset factorises its tokens into shape (a luminance-only backbone) and colour (the
# per-pixel colour branch): measured with phase-1 heads on the test split (docs/training.md),
# kind accuracy on objects of never-trained colour/kind pairs 0.19 -> 0.71 (RGB backbone ->
# factorised), all else equal. Configs written before these fields load as RGB, no branch.
PRESETS: dict[str, VisionConfig] = {
    # A few thousand parameters: the whole STVE runs in milliseconds in unit tests.
    "tiny": VisionConfig(
        neck_hidden_sizes=(8, 8, 8, 16, 16, 16, 32), hidden_sizes=(16, 16, 16),
        transformer_depths=(1, 1, 1), mobilenet_stages=(1, 1), num_attention_heads=2,
        expand_ratio=2.0, scorer_hidden=16, backbone_input="luma", colour_features=8),
    # The shipped model: narrower than MobileViT-xx-small so that re-encoding all 16 tiles of a
    # 256x256 frame stays within ~15 ms on one CPU thread (numbers in the STVE docstring).
    "demo": VisionConfig(
        neck_hidden_sizes=(8, 8, 16, 24, 32, 48, 128), hidden_sizes=(32, 48, 64),
        transformer_depths=(1, 1, 1), mobilenet_stages=(1, 1), num_attention_heads=4,
        expand_ratio=2.0, scorer_hidden=64, backbone_input="luma", colour_features=16),
    # apple/mobilevit-small widths (5.6 M backbone params), token dim 640.
    "omni-0.5b": VisionConfig(
        neck_hidden_sizes=(16, 32, 64, 96, 128, 160, 640), hidden_sizes=(144, 192, 240),
        transformer_depths=(2, 4, 3), mobilenet_stages=(1, 3), num_attention_heads=4,
        expand_ratio=4.0, scorer_hidden=256, backbone_input="luma", colour_features=32),
}
