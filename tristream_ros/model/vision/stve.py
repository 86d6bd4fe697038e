"""Sparse Temporal Vision Encoding (STVE): the vision path of TriStream.

Streaming inference, one camera frame at a time (``SparseTemporalVisionEncoder.encode``)::

    uint8 (H, W, 3) --resize--> (3, 256, 256) --split--> 16 tiles (3, 64, 64)
      tile cache: re-encode only tiles whose mean |pixel change| > change_threshold
      MobileViT backbone per changed tile -> (D, 2, 2); cached tiles keep their features
        (backbone_input="luma": the backbone sees luminance only, and colour_branch.py adds a
        per-pixel colour term to the same (D, 2, 2): shape and colour factorised)
      dense grid (64, D) --temporal pooling over the last temporal_window frames--> (64, D)
      importance scorer -> scores (64,); budget k from image complexity (tile edge energy)
      keep the tokens with score >= threshold, best first, at most k, at least min_tokens
    -> VisionTokens(features (M, D), rows, cols, importance, ...), M <= 17 = 27% of 64

Training (``forward_train``): the same pipeline over a batch of short clips, fully
differentiable, with a straight-through top-k keep mask (see ``importance.py``).

Empty scenes: an all-black (or any flat) frame has complexity 0, so the budget is
``min_tokens`` (default 1): the encoder returns exactly one token rather than zero, so that a
decoder attending to vision always has a well-defined (non-empty) softmax. Set
``min_tokens=0`` to get zero tokens instead (empty (0, D) tensors, keep_ratio 0.0, no NaN).

Measured on this machine (2 cores shared with other jobs, load 2-3; 1 torch thread, eager fp32,
random weights, 256x256 input; ``python -m tristream_ros.model.vision.stve`` prints current
numbers as [median, min] since the machine is shared):
    preset      backbone params  GFLOPs/frame  ms/frame, all 16 tiles    ms/frame, no tile changed
    tiny         35 k             0.056         ~14-16 (op overhead)      ~2.1
    demo        197 k             0.131         ~13.6-17 (target <= 15)   ~2.1-2.5
    omni-0.5b   4.94 M            3.67          ~85 min, ~117 median      ~3.6
SiLU is unvectorised in this torch build (~1 ns/element, 8x ReLU) and costs about a fifth of
the eager time; the demo backbone on 16 tiles takes ~4.4-5 ms in ONNX Runtime (1 thread).
FLOPs count 2 x multiply-adds of convolutions, linears and attention (FlopCounterMode).

Pretrained ImageNet MobileViT weights (``pretrained_mobilevit.py``) saw whole 256x256 images; a
64x64 tile shows 1/16 of a scene with zero padding at its borders, which they never saw, so the
backbone needs phase-1 fine-tuning on tiles.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from tristream_ros.errors import InputError

from .colour_branch import ColourBranch, to_luma
from .config import VisionConfig
from .importance import ImportanceScorer, budget_loss, scorer_flops, select_tokens, ste_keep_mask, token_budget
from .mobilevit import MobileViTBackbone
from .temporal import TemporalPool, pool_frames
from .tiles import (PIXEL_MAX, TileCache, complexity_from_edges, iter_frames, prepare_frame, resize_pixels,
                    split_tiles, tile_edge_energy)


@dataclass
class VisionTokens:
    """Sparse (or dense) vision tokens of the newest frame, with their grid positions.

    features (N, D) float; rows, cols (N,) long positions in the ``grid_hw`` token grid (raster
    order); importance (N,) in [0, 1]. keep_ratio = N / dense_tokens. tiles_reencoded of
    tiles_total tiles went through the backbone in the call that produced these tokens."""

    features: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor
    importance: torch.Tensor
    grid_hw: tuple[int, int] = (8, 8)
    keep_ratio: float = 0.0
    tiles_reencoded: int = 0
    tiles_total: int = 0
    dense_tokens: int = 64
    complexity: float = 0.0  # image complexity in [0, 1] that set the budget
    budget: int = 0  # k: the most tokens the budget allowed

    @property
    def num_tokens(self) -> int:
        return int(self.features.shape[0])

    @property
    def flat_index(self) -> torch.Tensor:
        """(N,) index into the flattened grid: row * W + col."""
        return self.rows * self.grid_hw[1] + self.cols

    def positions_uv(self) -> torch.Tensor:
        """(N, 2) normalised image coordinates (u right, v down, in [0, 1]) of the cell centres."""
        h, w = self.grid_hw
        return torch.stack(((self.cols.float() + 0.5) / w, (self.rows.float() + 0.5) / h), dim=-1)


class VisionTrainOutput(NamedTuple):
    tokens: torch.Tensor  # (B, N, D) dense, temporally pooled tokens
    scores: torch.Tensor  # (B, N) sigmoid(logits)
    keep_mask: torch.Tensor  # (B, N) hard top-k forward, sigmoid gradient backward (STE)
    logits: torch.Tensor  # (B, N)
    budget: torch.Tensor  # (B,) long: k per sample
    complexity: torch.Tensor  # (B,) in [0, 1]

    def budget_loss(self) -> torch.Tensor:
        return budget_loss(self.logits, self.budget)


class SparseTemporalVisionEncoder(nn.Module):
    """STVE: MobileViT on cached 64x64 tiles + temporal pooling + learned sparse token selection."""

    def __init__(self, config: VisionConfig | None = None):
        super().__init__()
        self.config = config or VisionConfig()
        c = self.config
        self.backbone = MobileViTBackbone(c)
        self.colour = ColourBranch(c) if c.colour_features > 0 else None
        self.scorer = ImportanceScorer(c.token_dim, c.scorer_hidden)
        self._cache = TileCache(c.num_tiles, c.change_threshold, c.change_pool)
        self._window = TemporalPool(c.temporal_window, c.temporal_pool, c.ema_decay)
        self._last_dense: VisionTokens | None = None
        self._flops: dict[str, int] = {}

    # --- state ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the tile cache and the temporal window (new camera, new scene, new weights)."""
        self._cache.reset()
        self._window.reset()
        self._last_dense = None

    # --- building blocks ---------------------------------------------------------------------
    def _to_backbone(self, pixels01: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1] -> the channel order the backbone weights expect."""
        return pixels01.flip(-3) if self.config.flip_channel_order else pixels01

    def features(self, pixels01: torch.Tensor) -> torch.Tensor:
        """(n, 3, h, w) RGB in [0, 1] -> token features (n, D, h/32, w/32): the backbone (on
        luminance only with backbone_input="luma") plus the colour branch when configured."""
        x = to_luma(pixels01) if self.config.backbone_input == "luma" else pixels01
        feats = self.backbone(self._to_backbone(x))
        if self.colour is not None:
            feats = feats + self.colour(pixels01)
        return feats

    def encode_tiles(self, tiles: torch.Tensor) -> torch.Tensor:
        """tiles (n, 3, t, t) float RGB on the 0..255 scale -> features (n, D, t/32, t/32)."""
        return self.features(tiles / PIXEL_MAX)

    def tiles_to_grid(self, feats: torch.Tensor) -> torch.Tensor:
        """Per-tile features (..., n_tiles, D, g, g) -> dense token grid (..., N, D), raster order."""
        c = self.config
        nt, d, g = c.tiles_per_side, feats.shape[-3], feats.shape[-1]
        lead = feats.shape[:-4]
        x = feats.reshape(-1, nt, nt, d, g, g)  # (B, tile_row, tile_col, D, a, b)
        x = x.permute(0, 1, 4, 2, 5, 3)  # (B, tile_row, a, tile_col, b, D)
        return x.reshape(*lead, nt * g * nt * g, d)  # (..., N, D)

    def _tokens(self, pooled: torch.Tensor, scores: torch.Tensor, idx: torch.Tensor, *, reencoded: int,
                total: int, complexity: float, budget: int) -> VisionTokens:
        c = self.config
        h, w = c.grid_hw
        return VisionTokens(features=pooled[idx], rows=idx // w, cols=idx % w, importance=scores[idx],
                            grid_hw=(h, w), keep_ratio=idx.numel() / c.dense_tokens,
                            tiles_reencoded=reencoded, tiles_total=total, dense_tokens=c.dense_tokens,
                            complexity=complexity, budget=budget)

    # --- streaming inference -----------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, frames, *, dense: bool = False) -> VisionTokens:
        """Feed one frame (uint8 RGB (H, W, 3)) or several ((T, H, W, 3) or a list, oldest first)
        through the tile cache and the temporal window; return the tokens of the newest frame.

        ``dense=True`` returns all N grid tokens (the "all vision tokens" baseline) instead of the
        sparse selection. tiles_reencoded / tiles_total count every frame of this call.
        Runs in eval mode under ``torch.inference_mode`` (its tensors cannot enter autograd; train
        with ``forward_train``). Invalid frames raise ``InputError`` before any state changes."""
        c = self.config
        frame_list = iter_frames(frames)
        device = self.scorer.norm.weight.device
        reencoded = 0
        with _eval_mode(self):
            for frame in frame_list:
                pixels = prepare_frame(frame, c).to(device)  # (3, S, S), 0..255
                tiles = split_tiles(pixels.unsqueeze(0), c.tile_size)[0]  # (n, 3, t, t)
                summary = self._cache.summarize(tiles)  # (n, 3, t/pool, t/pool)
                changed = self._cache.changed(summary)  # (n,) bool
                n_changed = int(changed.sum())
                if n_changed:
                    new = tiles if n_changed == c.num_tiles else tiles[changed]  # (n_changed, 3, t, t)
                    self._cache.update(changed, summary, self.encode_tiles(new), tile_edge_energy(new))
                reencoded += n_changed
                pooled = self._window.push(self.tiles_to_grid(self._cache.features))  # (N, D)
            scores = torch.sigmoid(self.scorer(pooled))  # (N,)
        complexity = complexity_from_edges(self._cache.edge, c)
        k = int(token_budget(complexity, c))
        common = dict(reencoded=reencoded, total=c.num_tiles * len(frame_list),
                      complexity=float(complexity), budget=k)
        self._last_dense = self._tokens(pooled, scores, torch.arange(c.dense_tokens, device=device), **common)
        if dense:
            return self._last_dense
        return self._tokens(pooled, scores, select_tokens(scores, k, c), **common)

    def encode_dense(self, frames) -> VisionTokens:
        """``encode(frames, dense=True)``: every grid token of the newest frame."""
        return self.encode(frames, dense=True)

    def last_dense(self) -> VisionTokens:
        """All N tokens (with scores) of the frame most recently encoded, without re-running."""
        if self._last_dense is None:
            raise InputError("last_dense(): no frame has been encoded since the last reset()")
        return self._last_dense

    # --- training -----------------------------------------------------------------------------
    def forward_train(self, images: torch.Tensor) -> VisionTrainOutput:
        """images (B, T, 3, H, W) float RGB in [0, 1] (any H, W: resized like camera frames)
        -> VisionTrainOutput with dense pooled tokens (B, N, D), scores, STE keep mask (B, N).

        Feed ``tokens * keep_mask[..., None]`` (or the mask as an attention bias) downstream so
        that the task loss reaches the scorer; add ``out.budget_loss()`` as the budget regulariser.
        Only the last ``temporal_window`` frames are pooled."""
        c = self.config
        if not isinstance(images, torch.Tensor) or not images.is_floating_point():
            raise InputError(f"forward_train expects a float tensor (B, T, 3, H, W) in [0, 1], got "
                             f"{type(images).__name__} dtype={getattr(images, 'dtype', None)}")
        if images.ndim != 5 or images.shape[2] != 3 or min(images.shape) == 0:
            raise InputError(f"forward_train expects shape (B, T, 3, H, W), got {tuple(images.shape)}")
        if not bool(torch.isfinite(images).all()):
            raise InputError("forward_train: images contain NaN or Inf")
        images = images[:, -c.temporal_window:]
        b, t = images.shape[:2]
        x = resize_pixels(images.reshape(b * t, *images.shape[2:]), c)  # (B*T, 3, S, S)
        tiles = split_tiles(x, c.tile_size)  # (B*T, n, 3, ts, ts)
        n = tiles.shape[1]
        feats = self.features(tiles.reshape(b * t * n, *tiles.shape[2:]))  # (B*T*n, D, g, g)
        grid = self.tiles_to_grid(feats.reshape(b, t, n, *feats.shape[1:]))  # (B, T, N, D)
        pooled = pool_frames(grid, c.temporal_pool, c.ema_decay)  # (B, N, D)
        logits = self.scorer(pooled)  # (B, N)
        edge = tile_edge_energy(tiles.reshape(b, t, n, *tiles.shape[2:])[:, -1].detach(), scale=1.0)  # (B, n)
        complexity = complexity_from_edges(edge, c)  # (B,)
        k = token_budget(complexity, c)  # (B,)
        return VisionTrainOutput(pooled, torch.sigmoid(logits), ste_keep_mask(logits, k), logits, k, complexity)

    # --- cost accounting ------------------------------------------------------------------------
    def _count_flops(self, key: str, side: int) -> int:
        if key not in self._flops:
            from torch.utils.flop_counter import FlopCounterMode

            from tristream_ros.model.flops import count_cpu_attention_flops
            count_cpu_attention_flops()  # MobileViT attention is SDPA: counted, not 0
            with _eval_mode(self), torch.no_grad(), FlopCounterMode(display=False) as counter:
                self.features(torch.zeros(1, 3, side, side))
            self._flops[key] = int(counter.get_total_flops())
        return self._flops[key]

    def flops_per_tile(self) -> int:
        """Backbone (+ colour branch) FLOPs (2 x multiply-adds of convs, linears, attention) for one tile."""
        return self._count_flops("tile", self.config.tile_size)

    def dense_frame_flops(self) -> int:
        """Backbone FLOPs for a whole image_size frame in one pass (the dense, untiled baseline)."""
        return self._count_flops("frame", self.config.image_size)

    def estimate_flops(self, tiles_reencoded: int, with_scorer: bool = True) -> int:
        """FLOPs of one ``encode`` step: backbone per tile x tiles re-encoded (+ the scorer)."""
        return tiles_reencoded * self.flops_per_tile() + (scorer_flops(self.config) if with_scorer else 0)

    # --- pretrained weights ---------------------------------------------------------------------
    def load_pretrained_backbone(self, folder) -> None:
        """Load a Hugging Face-layout MobileViT (config.json + model.safetensors) into the backbone."""
        from .pretrained_mobilevit import load_mobilevit_weights
        load_mobilevit_weights(self.backbone, folder)
        self.reset()
        self._flops.clear()


@contextlib.contextmanager
def _eval_mode(module: nn.Module):
    was_training = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was_training)


def _benchmark(preset: str, size: tuple[int, int] = (256, 256), repeats: int = 30) -> dict:
    """ms of ``encode`` when every tile changes (worst case) and when none does: (median, min)
    over ``repeats`` calls; the min is the better estimate on a machine shared with other jobs."""
    import time

    import numpy as np
    torch.manual_seed(0)
    enc = SparseTemporalVisionEncoder(VisionConfig.preset(preset)).eval()
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(2)]

    def median_ms(pick) -> tuple[float, float]:
        enc.encode(frames[0])
        times = []
        for i in range(repeats):
            frame = pick(i)
            t0 = time.perf_counter()
            enc.encode(frame)
            times.append(time.perf_counter() - t0)
        return round(1000 * float(np.median(times)), 2), round(1000 * min(times), 2)

    all_tiles = median_ms(lambda i: frames[(i + 1) % 2])  # alternate: all 16 tiles change
    no_tiles = median_ms(lambda i: frames[0])  # identical frame: cache hit everywhere
    c = enc.config
    return {"preset": preset, "frame_hw": list(size), "threads": torch.get_num_threads(),
            "ms_all_tiles_reencoded_median_min": all_tiles, "ms_no_tile_reencoded_median_min": no_tiles,
            "backbone_params": sum(p.numel() for p in enc.backbone.parameters()),
            "scorer_params": sum(p.numel() for p in enc.scorer.parameters()),
            "token_dim": c.token_dim, "gflops_per_tile": enc.flops_per_tile() / 1e9,
            "gflops_all_tiles": enc.estimate_flops(c.num_tiles) / 1e9,
            "gflops_dense_frame_untiled": enc.dense_frame_flops() / 1e9}


if __name__ == "__main__":
    import json
    import sys
    torch.set_num_threads(1)
    for name in sys.argv[1:] or ["tiny", "demo", "omni-0.5b"]:
        for hw in ((256, 256), (480, 640)):
            print(json.dumps(_benchmark(name, hw)))
