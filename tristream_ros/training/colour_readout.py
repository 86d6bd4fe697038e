"""Re-fit the attribute probe's colour read-out without the kind -> colour shortcut (phase 3).

The copy head names colours from the attribute probe's linear colour read-out of each STVE
token (`model/heads/copy_head.AttributeProbe.colour`). STVE tokens carry shape (the luminance
backbone) next to colour (the per-pixel colour branch), and training scenes never show some
colour/kind pairs (a white ball, a green cone: `data.dataset.HELDOUT_COMBOS`), so a linear
read-out trained on them lowers "white" wherever a token looks like a ball: a shortcut that is
right on every training token and wrong on exactly the held-out pairs. Measured on the session-8
model: colour right on 0.894 of the tokens of training pairs, 0.737 of held-out pairs (test
split; 0.923 / 0.704 on 800 more test samples).

The fix is the product of experts the kind classifier already trains with (its colour -> kind
bias, `AttributeProbe.kind_bias`; Clark et al. 2019), turned around: while the read-out is
fitted, a table of logits indexed by the token's *true kind* is added to its colour logits
(over the colour classes only; the background class stays the read-out's own decision). The
table can learn "balls are never white in training", so the read-out does not have to; at
inference the table is not there.

    data     phase 2's cached STVE features of the training scenes and the scene pool (all 64
             tokens each) with per-token (colour, kind) labels from the renderer (phase 2's
             `attribute_labels`)
    model    the colour read-out (one linear layer, started from its phase-3 weights) and the
             training-only table; everything else frozen
    check    `holdout` scenes are kept out and scored before and after: colour accuracy on object
             tokens and on background tokens (those are all training pairs; the held-out pairs
             are measured by `tristream eval`, `vision_attribute_readout`)

Session 9, offline on the shipped model (4800 cached scenes, 3000 steps): held-out pairs 0.737
-> 0.836 (800 more test samples 0.704 -> 0.811), training pairs 0.894 -> 0.927, background
0.997 -> 0.992; a plain re-fit without the table: 0.779 / 0.746 (docs/training.md).

`fit_colour_readout` runs in a `TrainLoop` (tqdm, resumable, loss curve PNG) named
"phase3_colour" and returns its summary.
"""
from __future__ import annotations

import dataclasses
import random
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from tristream_ros.errors import InputError
from tristream_ros.training.loop import LoopConfig, TrainLoop


@dataclasses.dataclass(frozen=True)
class ColourFitOptions:
    steps: int = 3000  # 0: keep the jointly trained read-out
    batch: int = 64  # scenes per step (all their labelled tokens)
    lr: float = 3e-3
    holdout: int = 300  # scenes kept out of the fit and scored before / after


class KindColourPrior(nn.Module):
    """Training-only logits over the colour classes given the token's true kind: (K+1) x (C+1)
    with the background column held at 0 (so whether a token is an object at all stays the
    read-out's decision)."""

    def __init__(self, n_kinds: int, n_colours: int):
        super().__init__()
        self.table = nn.Parameter(torch.zeros(n_kinds + 1, n_colours))

    def forward(self, kind: torch.Tensor) -> torch.Tensor:
        """kind (...,) long in 0..K -> (..., C+1) logits to add to the colour read-out's."""
        rows = self.table[kind]  # (..., C)
        return torch.cat([torch.zeros_like(rows[..., :1]), rows], -1)


def colour_accuracy(readout: nn.Module, features: torch.Tensor, colour: torch.Tensor, kind: torch.Tensor) -> dict:
    """features (n, N, Dv), colour / kind (n, N) long labels (-100 unlabelled) -> accuracy of the
    read-out's most likely colour on object tokens and on background tokens."""
    with torch.no_grad():
        pred = readout(features.float()).argmax(-1)  # (n, N)
    obj = (kind > 0) & (colour > 0)
    bg = (kind == 0) & (colour == 0)
    right = pred == colour
    return {"object_tokens": round(float(right[obj].float().mean()), 4) if bool(obj.any()) else None,
            "background_tokens": round(float(right[bg].float().mean()), 4) if bool(bg.any()) else None,
            "n_object_tokens": int(obj.sum()), "n_background_tokens": int(bg.sum())}


def fit_colour_readout(model, features: np.ndarray | torch.Tensor, colour: torch.Tensor, kind: torch.Tensor,
                       out_dir: str | Path, opts: ColourFitOptions = ColourFitOptions(), seed: int = 0,
                       resume: bool = True, progress: bool = True) -> dict:
    """Re-fit `model.copy_head.probe.colour` in place (see the module docstring). features
    (n, N, Dv) of full token grids; colour, kind (n, N) long per-token labels in the copy
    vocabulary's order + 1 (0 = background, -100 = unlabelled). Returns the loop summary with the
    held-out accuracies before and after."""
    head = getattr(model, "copy_head", None)
    if head is None:
        raise InputError("fit_colour_readout: the model has no copy head (copy.enabled is off)")
    readout = head.probe.colour
    feats = torch.as_tensor(np.asarray(features, dtype=np.float32)) if not torch.is_tensor(features) else features.float()
    colour, kind = torch.as_tensor(colour, dtype=torch.long), torch.as_tensor(kind, dtype=torch.long)
    if colour.shape != feats.shape[:2] or kind.shape != colour.shape:
        raise InputError(f"fit_colour_readout: labels {tuple(colour.shape)} / {tuple(kind.shape)} do not match "
                         f"features {tuple(feats.shape)}")
    keep = (kind >= 0).all(-1)  # scenes with every token labelled
    feats, colour, kind = feats[keep], colour[keep], kind[keep]
    n = feats.shape[0]
    if n <= opts.holdout:
        raise InputError(f"fit_colour_readout: {n} labelled scenes, need more than holdout={opts.holdout}")
    n_fit = n - opts.holdout  # the last `holdout` scenes are only scored
    held = slice(n_fit, n)
    before = colour_accuracy(readout, feats[held], colour[held], kind[held])

    prior = KindColourPrior(head.probe.kind.out_features - 1, readout.out_features - 1)
    loop = TrainLoop(list(readout.parameters()) + list(prior.parameters()),
                     LoopConfig(steps=opts.steps, lr=opts.lr, warmup=100, save_every=1000, log_every=50),
                     out_dir, "phase3_colour", progress=progress)
    modules = {"colour": readout, "kind_colour_prior": prior}
    loop.start(modules, resume)
    for step in loop:
        rng = random.Random(seed * 7919 + step)
        idx = [rng.randrange(n_fit) for _ in range(opts.batch)]
        logits = readout(feats[idx]) + prior(kind[idx].clamp_min(0))  # (B, N, C+1)
        loop.update({"total": F.cross_entropy(logits.flatten(0, 1), colour[idx].flatten(), ignore_index=-100)})
    summary = loop.finish(modules)
    summary.update(scenes_fit=n_fit, scenes_held_out=opts.holdout, options=dataclasses.asdict(opts),
                   heldout_before=before,
                   heldout_after=colour_accuracy(readout, feats[held], colour[held], kind[held]))
    return summary
