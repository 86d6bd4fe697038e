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

Session 17: the green cone, a held-out pair, was still named "white" as often as "green" (0.32
of its tokens right on 600 val scenes): every cone carries a white band, green cones are never
shown, so "green with a white band" was never seen. `refit` (a step of scripts/train_demo.sh
after the kind read-out) fits the read-out again on scene-pool tokens plus a twentieth of each
batch from the two-tone pool (`data.dataset.banded_scene_spec`: every kind but the cone with the
cone's band, labelled with the body colour): green cone 0.32 -> 0.77, held-out pairs' mean 0.80
-> 0.87, training pairs 0.931 -> 0.930, white ball 0.66 -> 0.69 (600 val scenes,
docs/training.md). A larger share taught "white on a ball is a band" and cost the white ball
(0.67 at a tenth, 0.53 at a third: its tokens named "green").

    python -m tristream_ros.training.colour_readout --model RUN/out/phase3 --run RUN/out/colour_readout

rewrites the folder's model.safetensors in place; run `calibrate_existence` after it.
"""
from __future__ import annotations

import dataclasses
import random
import sys
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
    banded_share: float = 0.05  # share of each batch from the two-tone pool (when one is given): 3 of 64
    pool_scenes: int = 3000  # `refit`: scene-pool scenes (training pairs)
    banded_scenes: int = 1500  # `refit`: two-tone scenes (`data.dataset.banded_scene_spec`)


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
                       resume: bool = True, progress: bool = True,
                       banded: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None) -> dict:
    """Re-fit `model.copy_head.probe.colour` in place (see the module docstring). features
    (n, N, Dv) of full token grids; colour, kind (n, N) long per-token labels in the copy
    vocabulary's order + 1 (0 = background, -100 = unlabelled); banded: (features, colour, kind)
    of two-tone scenes, `banded_share` of each batch (None: none). Returns the loop summary with
    the held-out accuracies before and after."""
    head = getattr(model, "copy_head", None)
    if head is None:
        raise InputError("fit_colour_readout: the model has no copy head (copy.enabled is off)")
    readout = head.probe.colour
    feats = torch.as_tensor(np.asarray(features, dtype=np.float32)) if not torch.is_tensor(features) else features.float()
    colour, kind = torch.as_tensor(colour, dtype=torch.long), torch.as_tensor(kind, dtype=torch.long)
    if colour.shape != feats.shape[:2] or kind.shape != colour.shape:
        raise InputError(f"fit_colour_readout: labels {tuple(colour.shape)} / {tuple(kind.shape)} do not match "
                         f"features {tuple(feats.shape)}")
    if not 0.0 <= opts.banded_share < 1.0:
        raise InputError(f"fit_colour_readout: banded_share {opts.banded_share}; expected 0 <= share < 1")
    keep = (kind >= 0).all(-1)  # scenes with every token labelled
    feats, colour, kind = feats[keep], colour[keep], kind[keep]
    n = feats.shape[0]
    if n <= opts.holdout:
        raise InputError(f"fit_colour_readout: {n} labelled scenes, need more than holdout={opts.holdout}")
    n_fit = n - opts.holdout  # the last `holdout` scenes are only scored
    held = slice(n_fit, n)
    before = colour_accuracy(readout, feats[held], colour[held], kind[held])
    n_band = 0  # two-tone scenes per batch
    if banded is not None:
        b_feats = torch.as_tensor(banded[0]).float()
        b_colour, b_kind = torch.as_tensor(banded[1], dtype=torch.long), torch.as_tensor(banded[2], dtype=torch.long)
        if b_colour.shape != b_feats.shape[:2] or b_kind.shape != b_colour.shape:
            raise InputError(f"fit_colour_readout: two-tone labels {tuple(b_colour.shape)} do not match "
                             f"features {tuple(b_feats.shape)}")
        b_keep = (b_kind >= 0).all(-1)  # as the main pool: scenes with every token labelled
        b_feats, b_colour, b_kind = b_feats[b_keep], b_colour[b_keep], b_kind[b_keep]
        if b_feats.shape[0]:
            n_band = int(round(opts.batch * opts.banded_share))
        if n_band >= opts.batch:
            raise InputError(f"fit_colour_readout: banded_share {opts.banded_share} leaves no scene-pool scene in "
                             f"a batch of {opts.batch}")

    prior = KindColourPrior(head.probe.kind.out_features - 1, readout.out_features - 1)
    loop = TrainLoop(list(readout.parameters()) + list(prior.parameters()),
                     LoopConfig(steps=opts.steps, lr=opts.lr, warmup=100, save_every=1000, log_every=50),
                     out_dir, "phase3_colour", progress=progress)
    modules = {"colour": readout, "kind_colour_prior": prior}
    loop.start(modules, resume)
    for step in loop:
        rng = random.Random(seed * 7919 + step)
        idx = [rng.randrange(n_fit) for _ in range(opts.batch - n_band)]
        f, c, k = feats[idx], colour[idx], kind[idx]
        if n_band:
            bidx = [rng.randrange(b_feats.shape[0]) for _ in range(n_band)]
            f, c, k = torch.cat([f, b_feats[bidx]]), torch.cat([c, b_colour[bidx]]), torch.cat([k, b_kind[bidx]])
        logits = readout(f) + prior(k.clamp_min(0))  # (B, N, C+1)
        loop.update({"total": F.cross_entropy(logits.flatten(0, 1), c.flatten(), ignore_index=-100)})
    summary = loop.finish(modules)
    summary.update(scenes_fit=n_fit, scenes_held_out=opts.holdout, options=dataclasses.asdict(opts),
                   banded_scenes=0 if not n_band else int(b_feats.shape[0]), banded_per_batch=n_band,
                   heldout_before=before,
                   heldout_after=colour_accuracy(readout, feats[held], colour[held], kind[held]))
    return summary


def refit(model_dir: str | Path, run_dir: str | Path, opts: ColourFitOptions = ColourFitOptions(), seed: int = 0,
          processes: int = 2, resume: bool = True, progress: bool = True) -> dict:
    """The whole step (module docstring, session 17): tokens of the scene pool and the two-tone
    pool, the re-fit, the folder's model.safetensors rewritten. Returns the summary (also written
    to RUN/colour_readout.json)."""
    from tristream_ros.training.phase2_alignment import attribute_labels
    from tristream_ros.training.readout_step import close_step, open_step
    from tristream_ros.training.scene_tokens import pool_tokens
    model, model_dir, run_dir, t0 = open_step("colour_readout", model_dir, run_dir, seed)
    cfg = model.config
    pools = {}
    for name, n in (("extra", opts.pool_scenes), ("banded", opts.banded_scenes)):
        if n > 0:
            feats, _, scenes = pool_tokens(model, name, n, seed, processes, progress)
            colour, kind = attribute_labels(cfg, scenes, list(range(len(scenes))), feats.shape[:2])
            pools[name] = (torch.from_numpy(feats.astype(np.float32)), colour, kind)
    summary = {"colour_readout": fit_colour_readout(model, *pools["extra"], run_dir, opts, seed, resume, progress,
                                                    banded=pools.get("banded"))}
    return close_step("colour_readout", model, model_dir, run_dir, summary, t0, seed, {"colour_readout": "two_tone"})


def main(argv: list[str] | None = None) -> int:
    from tristream_ros.training.readout_step import run_step, step_parser
    ap = step_parser("colour_readout", "Re-fit the attribute probe's colour read-out on scene-pool and two-tone "
                     "scenes (after the kind read-out); rewrites --model in place.",
                     ColourFitOptions.steps, ColourFitOptions.pool_scenes)
    ap.add_argument("--banded-scenes", type=int, default=ColourFitOptions.banded_scenes,
                    help="two-tone scenes (0: none)")
    ap.add_argument("--banded-share", type=float, default=ColourFitOptions.banded_share,
                    help="share of each batch from the two-tone pool (0 <= share < 1)")
    a = ap.parse_args(argv)
    if a.steps < 1 or a.pool_scenes < 2 or a.banded_scenes < 0 or a.processes < 1:
        ap.error("--steps and --processes must be >= 1, --pool-scenes >= 2, --banded-scenes >= 0")
    if not 0.0 <= a.banded_share < 1.0:
        ap.error(f"--banded-share must be in [0, 1), got {a.banded_share}")
    opts = dataclasses.replace(ColourFitOptions(), steps=a.steps, pool_scenes=a.pool_scenes,
                               banded_scenes=a.banded_scenes, banded_share=a.banded_share,
                               holdout=min(ColourFitOptions.holdout, max(1, a.pool_scenes // 5)))
    return run_step("colour_readout", "colour_readout",
                    lambda: refit(a.model, a.run, opts, a.seed, a.processes, a.resume, not a.no_progress))


if __name__ == "__main__":
    sys.exit(main())
