"""Fit the copy head's count read-out to the final attribute probe (the last step of phase 3).

The count read-out (`model/heads/copy_head.CountProbe`: P(count = 0..3 | kind) from the grid of
the attribute probe's per-token kind probabilities) is trained jointly in phases 2 and 3, while
the probe it reads is still moving and with a small share of the loss. Measured on the session-7
model over 300 fresh scenes: right on 0.925 of (scene, kind) pairs but on only 0.61 where a kind
appears two or three times, and the demo bag's two touching cones read as one. Refitting the
read-out alone on the finished probe (everything else frozen, a few thousand small steps on the
cached STVE features of the training scenes, seconds per thousand steps) is cheap and lifts both
(docs/training.md, session 8).

    data      the phase-2 vision cache of the training scenes: features (n, N, Dv), their
              sparse-budget masks, and each scene's object count per kind (n, K)
    input     the probe's kind grid (B, K+1, gh, gw) of the sparse tokens or of all tokens (a coin
              per example: the model answers from either), mirrored left-right half the time
              (a count does not depend on the side)
    model     the read-out is re-initialised from the seed and trained alone (cross-entropy on the
              clipped counts); the attribute probe and all other weights stay as they are
    check     `holdout` scenes are kept out and scored before and after: accuracy per (scene,
              kind) and on kinds present two or more times, sparse and dense

`fit_count_readout` runs in a `TrainLoop` (tqdm, resumable, loss curve PNG) named
"phase3_count" and returns its summary.
"""
from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from tristream_ros.errors import InputError
from tristream_ros.model.heads.copy_head import MAX_COUNT, CountProbe
from tristream_ros.training.loop import LoopConfig, TrainLoop


@dataclasses.dataclass(frozen=True)
class CountFitOptions:
    steps: int = 6000  # 0: keep the jointly trained read-out
    batch: int = 64
    lr: float = 2e-3
    holdout: int = 300  # scenes kept out of the fit and scored before / after
    dense_rate: float = 0.5  # share of examples read from all tokens instead of the sparse budget
    mirror_rate: float = 0.5


def kind_grids(model, features: torch.Tensor, masks: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """features (n, N, Dv) of full token grids (raster order), masks (n, N) bool -> the copy
    head's kind grids (n, K+1, gh, gw) of the tokens present (the probe's own input)."""
    head = model.copy_head
    gw = head.grid_hw[1]
    n, N = masks.shape
    idx = torch.arange(N)
    out = []
    with torch.no_grad():
        for a in range(0, n, chunk):
            f, m = features[a:a + chunk].float(), masks[a:a + chunk]
            B = f.shape[0]
            rows, cols = (idx // gw).expand(B, N), (idx % gw).expand(B, N)
            out.append(head.kind_grid(head.attributes(f, rows, cols, m), m))
    return torch.cat(out)


def count_accuracy(probe: CountProbe, grids: torch.Tensor, counts: torch.Tensor) -> dict:
    """grids (n, K+1, gh, gw), counts (n, K) long -> accuracy of the read-out's most likely count
    per (scene, kind), and on the kinds present two or more times."""
    with torch.no_grad():
        right = probe(grids).argmax(-1) == counts  # (n, K)
    many = counts >= 2
    return {"all": round(float(right.float().mean()), 4),
            "two_or_more": round(float(right[many].float().mean()), 4) if bool(many.any()) else None,
            "n_pairs": int(right.numel()), "n_two_or_more": int(many.sum())}


def fit_count_readout(model, features: np.ndarray | torch.Tensor, sparse_mask: np.ndarray | torch.Tensor,
                      counts: np.ndarray | torch.Tensor, out_dir: str | Path, opts: CountFitOptions = CountFitOptions(),
                      seed: int = 0, resume: bool = True, progress: bool = True) -> dict:
    """Re-fit `model.copy_head.count` in place (see the module docstring). counts (n, K) long:
    objects per kind of each scene (-100: unlabelled). Returns the loop summary with the
    held-out accuracies before and after."""
    head = getattr(model, "copy_head", None)
    if head is None or head.count is None:
        raise InputError("fit_count_readout: the model has no count read-out (copy.count is off)")
    feats = torch.as_tensor(np.asarray(features, dtype=np.float32)) if not torch.is_tensor(features) else features
    masks = torch.as_tensor(np.asarray(sparse_mask, dtype=bool)) if not torch.is_tensor(sparse_mask) else sparse_mask
    labels = torch.as_tensor(np.asarray(counts), dtype=torch.long).clamp(max=MAX_COUNT)
    keep = (labels >= 0).all(-1)  # scenes with a label for every kind
    feats, masks, labels = feats[keep], masks[keep], labels[keep]
    n = labels.shape[0]
    if n <= opts.holdout:
        raise InputError(f"fit_count_readout: {n} labelled scenes, need more than holdout={opts.holdout}")
    was_training = model.training
    model.eval()
    sparse, dense = kind_grids(model, feats, masks), kind_grids(model, feats, torch.ones_like(masks))
    n_fit = n - opts.holdout  # the last `holdout` scenes are only scored
    held = slice(n_fit, n)
    before = {"sparse": count_accuracy(head.count, sparse[held], labels[held]),
              "dense": count_accuracy(head.count, dense[held], labels[held])}

    torch.manual_seed(seed)
    fresh = CountProbe(head.count.n_kinds, head.count.out.in_features)
    head.count.load_state_dict(fresh.state_dict())
    loop = TrainLoop(list(head.count.parameters()),
                     LoopConfig(steps=opts.steps, lr=opts.lr, warmup=100, save_every=1000, log_every=50),
                     out_dir, "phase3_count", progress=progress)
    modules = {"count": head.count}
    loop.start(modules, resume)
    head.count.train()
    for step in loop:
        rng = random.Random(seed * 7919 + step)
        idx = [rng.randrange(n_fit) for _ in range(opts.batch)]
        use_dense = torch.tensor([rng.random() < opts.dense_rate for _ in idx])[:, None, None, None]
        grid = torch.where(use_dense, dense[idx], sparse[idx])  # (B, K+1, gh, gw)
        mirror = torch.tensor([rng.random() < opts.mirror_rate for _ in idx])[:, None, None, None]
        grid = torch.where(mirror, grid.flip(-1), grid)
        logits = head.count(grid)  # (B, K, MAX_COUNT + 1)
        loop.update({"total": F.cross_entropy(logits.flatten(0, 1), labels[idx].flatten())})
    summary = loop.finish(modules)
    head.count.eval()
    model.train(was_training)
    summary.update(scenes_fit=n_fit, scenes_held_out=opts.holdout, options=dataclasses.asdict(opts),
                   heldout_before={"sparse": before["sparse"], "dense": before["dense"]},
                   heldout_after={"sparse": count_accuracy(head.count, sparse[held], labels[held]),
                                  "dense": count_accuracy(head.count, dense[held], labels[held])})
    return summary
