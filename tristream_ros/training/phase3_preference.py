"""Phase 3: preference optimisation (DPO), the practical form of the paper's RLHF.

Preference pairs come from the generator's ground truth, no human labels needed:

    chosen    the true answer ("the ball is red", "there are two cups")
    rejected  the same answer with one fact made wrong: another colour, kind, count, region,
              yes <-> no, or (for answers with no such word) another sample's answer;
              for the action head, a wrong action

DPO (Rafailov et al. 2023) on the answer's sequence log-probability, against a frozen copy of
the phase-2 model (the reference):

    L = -log sigmoid(beta * [(log pi(y+|x) - log ref(y+|x)) - (log pi(y-|x) - log ref(y-|x))])

plus the same DPO term over the action head's distribution, and the phase-2 supervised losses
on the chosen answers (weight `sft_weight`) so the router, sufficiency and pointer heads do not
drift. The expert that runs is the labelled cheapest sufficient one (no modal dropout here).

Last, two read-outs of the copy head are re-fitted alone on phase 2's cached vision tokens of
the training scenes and of the scene pool: the attribute probe's colour read-out, with a
training-only kind -> colour prior so it does not learn which colours each kind never had in
training (training/colour_readout.py; `colour_steps`, 0 = off; session 9), then the count
read-out on the finished probe (training/count_readout.py; `count_steps`, 0 = off).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import random
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from tristream_ros.data.language import NUMBER_WORDS
from tristream_ros.data.scenes import COLOURS, KINDS
from tristream_ros.model.checkpoint import load_checkpoint, save_checkpoint
from tristream_ros.training.cache import RunCache
from tristream_ros.training.colour_readout import ColourFitOptions, fit_colour_readout
from tristream_ros.training.count_readout import CountFitOptions, fit_count_readout
from tristream_ros.training.loop import LoopConfig, TrainLoop, seed_everything
from tristream_ros.training.phase2_alignment import (SPEECH_FILE, FusionData, Phase2Options, answer_logprobs,
                                                     attribute_labels, count_labels, speech_tokens, vision_tokens)

_SWAPS = [tuple(COLOURS), tuple(KINDS), tuple(NUMBER_WORDS), ("left", "middle", "right"),
          ("yes", "no"), ("going", "looking")]


@dataclasses.dataclass(frozen=True)
class Phase3Options:
    steps: int = 120
    batch: int = 16
    lr: float = 1e-4
    beta: float = 0.1
    sft_weight: float = 1.0
    action_weight: float = 0.5
    colour_steps: int = ColourFitOptions.steps  # re-fit of the probe's colour read-out after DPO (0 = off)
    count_steps: int = CountFitOptions.steps  # re-fit of the count read-out after DPO (0 = off)


def reject_answer(answer: str, rng: random.Random, others: list[str]) -> str:
    """One fact of `answer` made wrong (see module docstring)."""
    words = answer.split()
    slots = [(i, group) for i, w in enumerate(words) for group in _SWAPS if w in group]
    if slots:
        i, group = slots[rng.randrange(len(slots))]
        words[i] = rng.choice([g for g in group if g != words[i]])
        return " ".join(words)
    for _ in range(10):
        alt = others[rng.randrange(len(others))]
        if alt != answer:
            return alt
    return answer + " " + answer.split()[-1]


def _last_preference_accuracy(wins: list[float], history: list[dict]) -> float | None:
    """Preference accuracy over the last 20 steps: this session's steps, or (a finished run
    resumed) the loop's logged history (entries averaged over `log_every` = 5 steps)."""
    if wins:
        return float(np.mean(wins[-20:]))
    logged = [h["loss"]["pref_acc"] for h in history[-4:] if "pref_acc" in h["loss"]]
    return float(np.mean(logged)) if logged else None


def _readout_fit_data(rows: list[dict], vision: dict, src: Path, extra_scenes: int, seed: int):
    """(features (n, N, Dv), sparse masks (n, N), scenes [{"objects": ...}] * n) for the read-out
    re-fits: the cached training scenes plus phase 2's scene pool when its cache is there (it is
    made with the phase-2 seed; a run whose phase 3 uses another seed fits on the training
    scenes only)."""
    vid = {str(k): i for i, k in enumerate(vision["ids"])}  # the cache holds one entry per training sample
    idx = [vid[r["id"]] for r in rows]
    feats, masks = [vision["features"][idx]], [vision["sparse_mask"][idx]]
    scenes = [{"objects": r["objects"]} for r in rows]
    pool = src / f"vision_extra_s{seed}_n{extra_scenes}.npz"
    if extra_scenes > 0 and pool.is_file():
        with np.load(pool, allow_pickle=False) as z:
            scenes += [{"objects": json.loads(str(o))} for o in z["objects"]]
            feats.append(z["features"])
            masks.append(z["sparse_mask"])
    return np.concatenate(feats), np.concatenate(masks), scenes


def _count_labels(cfg, scenes: list[dict]) -> torch.Tensor:
    """counts (n, K) of `_readout_fit_data`'s scenes, for the count re-fit."""
    return count_labels(cfg, scenes, list(range(len(scenes))), len(scenes))


def _colour_labels(cfg, scenes: list[dict], n_tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token (colour, kind) (n, N) of `_readout_fit_data`'s scenes, for the colour re-fit
    (phase 2's attribute_labels)."""
    return attribute_labels(cfg, scenes, list(range(len(scenes))), (len(scenes), n_tokens))


def run_phase3(data_dir: str, out_dir: str, *, opts: Phase3Options = Phase3Options(), seed: int = 0,
               resume: bool = True, progress: bool = True) -> dict:
    seed_everything(seed)
    t0 = time.perf_counter()
    run = Path(out_dir)
    src, out = run / "phase2", run / "phase3"
    out.mkdir(parents=True, exist_ok=True)
    policy = load_checkpoint(src)
    reference = copy.deepcopy(policy).eval()
    for p in reference.parameters():
        p.requires_grad_(False)
    for p in policy.vision.parameters():
        p.requires_grad_(False)
    cfg = policy.config
    cache = RunCache(data_dir, run / "cache")
    rows = cache.rows("train")
    ps = cache.transcripts("train", limit=None, processes=1, progress=False) \
        if (cache.root / "ps_train.json").is_file() else {}
    tokens, _ = speech_tokens(None, cache, "train", cfg.speech.n_mels, src, progress)
    vision = vision_tokens({}, cfg, cache, "train", src, progress=progress)
    p2 = json.loads((src / "summary.json").read_text()).get("options", {})
    p2opts = dataclasses.replace(Phase2Options(), **{k: v for k, v in p2.items() if k in Phase2Options.__dataclass_fields__})
    data = FusionData(cfg, policy.tokenizer, rows, ps, tokens, vision, p2opts)
    others = sorted({r["answer"] for r in rows})
    n_actions = len(cfg.action.actions)

    loop = TrainLoop([p for p in policy.parameters() if p.requires_grad],
                     LoopConfig(steps=opts.steps, lr=opts.lr, warmup=10, save_every=60, log_every=5),
                     out, "phase3_dpo", progress=progress)
    modules = {"model": policy}
    loop.start(modules, resume)
    policy.train()
    wins = []
    for step in loop:
        rng = random.Random(seed * 15485863 + step)
        idx = [rng.randrange(len(data)) for _ in range(opts.batch)]
        chosen = data.batch(idx, rng)
        rejected = dict(chosen)
        # perturb the answer each slot was actually given (a slot may hold a new turn about its scene)
        rejected["answer_ids"] = [policy.tokenizer.encode(reject_answer(ans, rng, others))
                                  for ans in chosen["answer_texts"]]
        kw = dict(modal_dropout=0.0, input_dropout=0.0)
        out_c, losses = policy.forward_train(chosen, **kw)
        out_r, _ = policy.forward_train(rejected, **kw)
        with torch.no_grad():
            ref_c, _ = reference.forward_train(chosen, **kw)
            ref_r, _ = reference.forward_train(rejected, **kw)
        margin = (answer_logprobs(policy, chosen, out_c) - answer_logprobs(reference, chosen, ref_c)) - \
                 (answer_logprobs(policy, rejected, out_r) - answer_logprobs(reference, rejected, ref_r))
        dpo = -F.logsigmoid(opts.beta * margin).mean()
        # action DPO: the labelled action against a random wrong one
        a_true = chosen["action"]
        a_bad = (a_true + torch.randint(1, n_actions, a_true.shape, generator=torch.Generator().manual_seed(step))) % n_actions
        lp, lr_ = F.log_softmax(out_c["action_logits"], -1), F.log_softmax(ref_c["action_logits"], -1)
        a_margin = (lp.gather(1, a_true[:, None]) - lr_.gather(1, a_true[:, None])) - \
                   (lp.gather(1, a_bad[:, None]) - lr_.gather(1, a_bad[:, None]))
        a_dpo = -F.logsigmoid(opts.beta * a_margin).mean()
        sft = losses["total"]
        total = dpo + opts.action_weight * a_dpo + opts.sft_weight * sft
        wins.append(float((margin > 0).float().mean()))
        loop.update({"total": total, "dpo": dpo, "action_dpo": a_dpo, "sft": sft.detach(),
                     "pref_acc": torch.tensor(wins[-1])})
    summary = loop.finish(modules)
    policy.eval()
    fit_colour = cfg.copy.enabled and opts.colour_steps > 0
    fit_count = cfg.copy.enabled and cfg.copy.count and opts.count_steps > 0
    if fit_colour or fit_count:  # the scenes are loaded once for both re-fits
        feats, masks, scenes = _readout_fit_data(rows, vision, src, p2opts.extra_scenes, seed)
    if fit_colour:
        summary["colour_readout"] = fit_colour_readout(
            policy, feats, *_colour_labels(cfg, scenes, feats.shape[1]), out,
            dataclasses.replace(ColourFitOptions(), steps=opts.colour_steps), seed=seed, resume=resume,
            progress=progress)
    if fit_count:
        summary["count_readout"] = fit_count_readout(
            policy, feats, masks, _count_labels(cfg, scenes), out,
            dataclasses.replace(CountFitOptions(), steps=opts.count_steps), seed=seed, resume=resume,
            progress=progress)
    save_checkpoint(policy, out, policy.tokenizer, metadata={"phase": "3"})
    shutil.copy(src / SPEECH_FILE, out / SPEECH_FILE)
    summary.update(seconds_total=round(time.perf_counter() - t0, 1), options=dataclasses.asdict(opts),
                   preference_accuracy_last20=_last_preference_accuracy(wins, loop.history))
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
