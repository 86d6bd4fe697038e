"""Progressive Modal Distillation of the depth-cascaded experts' shallow exits.

A checkpoint trained before depth-cascaded experts existed runs every route at full depth
(`fusion.route_exit_fractions` absent). This module adapts it: the cheaper experts (speech,
vision, speech_vision) now stop after their exit layer (`FusionConfig.exits`), and their
route-specific parts learn to answer there from the full-depth tri-modal expert (the teacher):

    student  = the model run on a cheap expert (stops at its exit layer)
    teacher  = a frozen copy run on the trimodal expert (full depth, dense vision, + context)
    loss     = T^2 KL(teacher || student) on the answer logits (T = temperature)
             + T^2 KL on the action logits
             + forward_train's label losses of the student (answer CE, action, target pointer,
               sufficiency: an expert that is not enough for the query learns low confidence)

Only route-specific parameters of the cheap experts are trained: their exit norms, their
per-layer adapters (`RouteAdapters` rows), their route embeddings and their sufficiency-head
rows. The shared trunk, LM head, action head, router, vision path and every trimodal parameter
stay frozen, so the trimodal expert (and so the teacher's answers) is bit-for-bit unchanged.
Each example runs the cheap expert its query needs, or (with `other_rate`) another cheap
expert of its cascade order, so insufficient experts keep escalating.

    python -m tristream_ros.training.cascade_distill --model RUN/phase2 --data DATA --out DIR --steps 300
        [--tokens RUN/phase2]   (reuse phase 2's cached train tokens when --model is another folder)

reads the checkpoint (model/checkpoint.py), the dataset (data/dataset.py DatasetReader through
training/cache.RunCache), builds speech / vision tokens and batches with phase 2's code
(training/phase2_alignment.py), distils, evaluates before/after on held-out samples of the test
split (teacher-forced greedy exact match = greedy decoding exact match, cascade with router start)
and saves the adapted checkpoint (+ speech.safetensors copied) to DIR.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Callable, Iterable

import torch
from torch.nn import functional as F

from tristream_ros.model.config import ROUTE_INDEX, ROUTE_RANK, ROUTES
from tristream_ros.model.fusion.cascade import route_cost, route_vision_tokens
from tristream_ros.model.fusion.router import cascade_order

DEFAULT_EXITS = (0.125, 0.375, 0.375, 1.0)  # speech, vision, speech_vision, trimodal (the presets)
_TRI = ROUTE_INDEX["trimodal"]
_CHEAP = [ROUTE_INDEX[r] for r in ("speech", "vision", "speech_vision")]


@dataclasses.dataclass(frozen=True)
class DistillOptions:
    lr: float = 2e-3
    batch_size: int = 24
    temperature: float = 2.0
    kd_answer: float = 1.0  # weight of the answer-logit KL
    kd_action: float = 0.5  # weight of the action-logit KL
    label: float = 1.0  # weight of forward_train's label losses (answer CE, action, pointer, sufficiency)
    other_rate: float = 0.3  # share of examples run through another cheap expert of their cascade
    seed: int = 0
    log_every: int = 25


# --- the model with shallow exits ------------------------------------------------------------------
def with_exits(model, exits: tuple[float, ...] = DEFAULT_EXITS):
    """A copy of `model` whose config has `route_exit_fractions=exits` (and dense trimodal
    vision as in the presets). Shared weights are copied; each new exit norm starts as the
    trained final norm. A model that already has exits is returned unchanged."""
    from tristream_ros.model.tristream_model import TriStreamModel

    f = model.config.fusion
    if f.route_exit_fractions is not None:
        return model
    cfg = dataclasses.replace(model.config, fusion=dataclasses.replace(
        f, route_exit_fractions=tuple(exits), trimodal_dense_vision=True))
    new = TriStreamModel(cfg, model.tokenizer)
    missing, unexpected = new.load_state_dict(model.state_dict(), strict=False)
    bad = [k for k in missing if not k.startswith("decoder.exit_norms.")]
    if bad or unexpected:
        raise RuntimeError(f"with_exits: unexpected state differences: missing={bad} unexpected={unexpected}")
    with torch.no_grad():
        for norm in new.decoder.exit_norms.values():
            norm.weight.copy_(model.decoder.norm.weight)
    return new.to(model.device).train(model.training)


def _trainable(model) -> list[torch.nn.Parameter]:
    """Route-specific parameters of the cheap experts; gradient hooks zero the trimodal rows."""
    for p in model.parameters():
        p.requires_grad_(False)
    params: list[torch.nn.Parameter] = []
    dec = model.decoder
    for norm in dec.exit_norms.values():
        norm.weight.requires_grad_(True)
        params.append(norm.weight)
    cheap_mask = torch.zeros(len(ROUTES), dtype=torch.bool)
    cheap_mask[_CHEAP] = True
    depth = max(dec.cfg.exit_layer(r) for r in _CHEAP)

    def route_rows(p: torch.nn.Parameter) -> None:  # p: (R, ...) rows per route
        p.requires_grad_(True)
        m = cheap_mask.view(-1, *([1] * (p.dim() - 1))).to(p.device, p.dtype)
        p.register_hook(lambda g, m=m: g * m)
        params.append(p)

    for layer in dec.layers[:depth]:
        for name in ("gate", "up", "down"):
            route_rows(getattr(layer.experts, name))
    route_rows(model.route_embed.weight)
    route_rows(model.sufficiency.weight)
    route_rows(model.sufficiency.bias)
    return params


def _student_experts(batch: dict, rng: random.Random, other_rate: float) -> torch.Tensor:
    """The cheap expert each example runs: the one its query needs, sometimes another cheap
    one of its cascade order; examples needing trimodal run a cheap one (they learn to escalate)."""
    route = torch.as_tensor(batch["route"]).long().reshape(-1)
    spoken = torch.as_tensor(batch["spoken"]).bool() if "spoken" in batch \
        else torch.as_tensor(batch["speech_mask"]).any(-1)
    has_v = torch.as_tensor(batch.get("has_vision", torch.ones_like(route, dtype=torch.bool))).bool()
    out = []
    for b in range(route.numel()):
        order = [ROUTE_INDEX[r] for r in cascade_order(bool(spoken[b]), bool(has_v[b])) if r != "trimodal"]
        need = int(route[b])
        if need in order and rng.random() >= other_rate:
            out.append(need)
        else:
            out.append(rng.choice(order))
    return torch.tensor(out, dtype=torch.long)


def distill_step_losses(student, teacher, batch: dict, experts: torch.Tensor, opts: DistillOptions) -> dict:
    """One batch: student on `experts`, teacher on the trimodal expert (every example with its camera)."""
    B = experts.numel()
    tb = dict(batch, expert_route=torch.full((B,), _TRI, dtype=torch.long), has_vision=torch.ones(B, dtype=torch.bool))
    with torch.no_grad():
        t_out, _ = teacher.forward_train(tb, modal_dropout=0.0, input_dropout=0.0, full_logits=False)
    sb = dict(batch, expert_route=experts)
    s_out, s_losses = student.forward_train(sb, modal_dropout=0.0, input_dropout=0.0, full_logits=False)
    T = opts.temperature
    suff = s_out["sufficient"]  # (B,) the cheap expert is enough for the query: it should answer
    pos_example = s_out["answer_positions"].nonzero()[:, 0]  # (M,) example of each answer position
    sel = suff[pos_example]
    zero = s_out["answer_logits"].sum() * 0.0
    if bool(sel.any()):
        kd_ans = F.kl_div(F.log_softmax(s_out["answer_logits"][sel] / T, -1),
                          F.log_softmax(t_out["answer_logits"][sel] / T, -1), log_target=True,
                          reduction="batchmean") * T * T
        kd_act = F.kl_div(F.log_softmax(s_out["action_logits"][suff] / T, -1),
                          F.log_softmax(t_out["action_logits"][suff] / T, -1), log_target=True,
                          reduction="batchmean") * T * T
    else:
        kd_ans = kd_act = zero
    total = opts.kd_answer * kd_ans + opts.kd_action * kd_act + opts.label * s_losses["total"]
    return {"total": total, "kd_answer": kd_ans, "kd_action": kd_act, "label": s_losses["total"],
            "lm": s_losses["lm"], "sufficiency": s_losses["sufficiency"]}


def _batch_source(batches_or_dataset, batch_size: int, rng: random.Random) -> Callable[[int], dict]:
    if hasattr(batches_or_dataset, "batch") and hasattr(batches_or_dataset, "__len__"):  # phase-2 FusionData
        data = batches_or_dataset
        return lambda step: data.batch([rng.randrange(len(data)) for _ in range(batch_size)], rng, train=True)
    if callable(batches_or_dataset):
        return batches_or_dataset
    items = list(batches_or_dataset)
    if not items:
        raise ValueError("distill_exits: no batches")
    return lambda step: items[step % len(items)]


def distill_exits(model, batches_or_dataset, steps: int, options: DistillOptions = DistillOptions(),
                  exits: tuple[float, ...] = DEFAULT_EXITS, progress: bool = True, log: list | None = None):
    """Fine-tune the shallow exits of the cheaper experts from the full-depth trimodal teacher.

    model: a TriStreamModel (with or without exits; without, `with_exits(model, exits)` is applied).
    batches_or_dataset: phase 2's FusionData (random batches of `options.batch_size`), a list of
        forward_train batches (cycled), or a callable step -> batch. Batches need `route` labels
        and vision for every example (the teacher runs the trimodal expert).
    Returns the adapted model (a new module when exits were added; the input is left as it was).
    """
    rng = random.Random(options.seed)
    torch.manual_seed(options.seed)
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = with_exits(copy.deepcopy(model), exits)
    student.train()
    params = _trainable(student)
    opt = torch.optim.Adam(params, lr=options.lr, weight_decay=0.0)
    get = _batch_source(batches_or_dataset, options.batch_size, rng)
    t0 = time.perf_counter()
    for step in range(steps):
        batch = get(step)
        experts = _student_experts(batch, rng, options.other_rate)
        losses = distill_step_losses(student, teacher, batch, experts, options)
        opt.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        lr = options.lr * min(1.0, (step + 1) / 20) * (0.1 + 0.9 * (1 - step / max(1, steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        opt.step()
        row = {"step": step + 1, **{k: round(float(v.detach()), 4) for k, v in losses.items()},
               "s": round(time.perf_counter() - t0, 1)}
        if log is not None:
            log.append(row)
        if progress and (step + 1) % options.log_every == 0:
            print(json.dumps(row), file=sys.stderr, flush=True)
    for p in student.parameters():
        p.requires_grad_(False)
    return student.eval()


# --- held-out evaluation (teacher-forced = greedy exact match) ----------------------------------------
@torch.no_grad()
def cascade_eval(model, batches: Iterable[dict], threshold: float | None = None) -> dict:
    """Cascade with router start on forward_train passes, per example: the router's choice, then
    escalate along the cascade order while the sufficiency is below `threshold`. Scores the
    answering expert: greedy exact match (all teacher-forced argmaxes right, specials masked as
    in answer()), action accuracy, and FLOPs of every attempted expert (cascade.route_cost)."""
    from tristream_ros.model.text_tokenizer import BOS_ID, PAD_ID, SEP_ID, UNK_ID

    model.eval()
    cfg = model.config
    thr = cfg.cascade.escalate_below if threshold is None else threshold
    never = torch.tensor([PAD_ID, BOS_ID, UNK_ID, SEP_ID])
    n = exact = act = 0
    flops = flops_tri = 0.0
    per_route: dict[str, list] = {r: [0, 0, 0] for r in ROUTES}  # n, exact, action
    escal = 0
    for batch in batches:
        B = len(batch["query_ids"])
        res = {}
        for r in range(len(ROUTES)):
            out, _ = model.forward_train(dict(batch, expert_route=torch.full((B,), r)), modal_dropout=0.0,
                                         input_dropout=0.0, full_logits=False)
            logits = out["answer_logits"].index_fill(-1, never, float("-inf"))
            ok = (logits.argmax(-1) == out["answer_labels"]).float()
            ex = out["answer_positions"].nonzero()[:, 0]
            wrong = torch.zeros(B).index_add(0, ex, 1.0 - ok)  # (B,) wrong answer positions
            right = wrong == 0
            conf = torch.sigmoid(out["sufficiency_logits"])
            res[r] = (right, out["action_logits"].argmax(-1), conf, out["router_logits"].argmax(-1))
        action = torch.as_tensor(batch["action"]).long()
        spoken = torch.as_tensor(batch["speech_mask"]).any(-1)
        has_v = torch.as_tensor(batch.get("has_vision", torch.ones(B, dtype=torch.bool))).bool()
        for b in range(B):
            order = cascade_order(bool(spoken[b]), bool(has_v[b]))
            start = ROUTES[int(res[0][3][b])]
            if start not in order:
                start = order[0] if ROUTE_RANK[start] == 0 else order[min(len(order) - 1, ROUTE_RANK[start])]
            tried = []
            for name in order[order.index(start):]:
                tried.append(name)
                if float(res[ROUTE_INDEX[name]][2][b]) >= thr:
                    break
            final = ROUTE_INDEX[tried[-1]]
            need = ROUTES[int(torch.as_tensor(batch["route"])[b])]
            n += 1
            e = bool(res[final][0][b])
            a = int(res[final][1][b]) == int(action[b])
            exact += e
            act += a
            escal += len(tried) - 1
            pr = per_route[need]
            pr[0], pr[1], pr[2] = pr[0] + 1, pr[1] + e, pr[2] + a
            P = 4 + int(torch.as_tensor(batch["speech_mask"])[b].sum()) + len(batch["query_ids"][b])
            ctx = len(batch["context_ids"][b]) if "context_ids" in batch else 0
            A = len(batch["answer_ids"][b]) + 1
            n_sparse = int(torch.as_tensor(batch["vision_mask"])[b].sum())
            for name in tried:  # decoder side only (vision encoder excluded)
                nv = route_vision_tokens(cfg, name, n_sparse)
                flops += route_cost(cfg, name, P + (ctx if cfg.fusion.reads_context(name) else 0), A, nv,
                                    include_decode=name == tried[-1]).total
            flops_tri += route_cost(cfg, "trimodal", P + ctx, A, route_vision_tokens(cfg, "trimodal", n_sparse)).total
    return {"n": n, "answer_exact_match": round(exact / max(1, n), 4), "action_accuracy": round(act / max(1, n), 4),
            "escalations_per_query": round(escal / max(1, n), 4),
            "decoder_gflops_per_query": round(flops / max(1, n) / 1e9, 4),
            "decoder_flops_reduction_vs_trimodal": round(1 - flops / max(flops_tri, 1e-9), 4),
            "by_needed_route": {r: {"n": v[0], "answer_exact_match": round(v[1] / v[0], 4),
                                    "action_accuracy": round(v[2] / v[0], 4)} for r, v in per_route.items() if v[0]}}


# --- command line -----------------------------------------------------------------------------------
def _fusion_data(model, data_dir: Path, cache_dir: Path, split: str, model_dir: Path, limit: int | None,
                 tokens_dir: Path | None = None):
    """Phase 2's FusionData for `split` (speech tokens from the checkpoint's speech model, STVE
    tokens from the checkpoint's STVE), cached under cache_dir; query text = the true transcript."""
    from tristream_ros.training.cache import RunCache
    from tristream_ros.training.evaluate import load_speech_model
    from tristream_ros.training.phase2_alignment import FusionData, Phase2Options, speech_tokens, vision_tokens

    cache_dir.mkdir(parents=True, exist_ok=True)
    cache = RunCache(str(data_dir), cache_dir)
    if limit is not None:
        cache._rows[split] = cache.rows(split)[:limit]  # noqa: SLF001 (a subset of the split)
    # a phase-2 run folder already holds its train tokens (read only); others are built in cache_dir
    root = cache_dir
    for cand in (tokens_dir, model_dir):
        if cand is not None and limit is None and (cand / f"speech_tokens_{split}.npz").is_file() \
                and (cand / f"vision_{split}.npz").is_file():
            root = cand
            break
    speech = load_speech_model(model_dir, model.config)
    toks, _ = speech_tokens(speech, cache, split, model.config.speech.n_mels, root, progress=False)
    vis = vision_tokens(model.vision.state_dict(), model.config, cache, split, root, processes=1,
                        progress=False)
    rows = [r for r in cache.rows(split) if r["id"] in set(str(i) for i in vis["ids"])]
    opts = Phase2Options(ps_text_rate=0.0)
    return FusionData(model.config, model.tokenizer, rows, {}, toks, vis, opts)


def main(argv: list[str] | None = None) -> int:
    from tristream_ros.model.checkpoint import load_checkpoint, save_checkpoint

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="checkpoint folder (load_checkpoint)")
    ap.add_argument("--data", required=True, help="dataset folder (DatasetReader: train/ and test/ splits)")
    ap.add_argument("--out", required=True, help="output checkpoint folder")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=DistillOptions.batch_size)
    ap.add_argument("--lr", type=float, default=DistillOptions.lr)
    ap.add_argument("--exits", default=",".join(str(x) for x in DEFAULT_EXITS),
                    help="route_exit_fractions speech,vision,speech_vision,trimodal")
    ap.add_argument("--train-limit", type=int, default=None, help="use the first N train samples")
    ap.add_argument("--eval-split", default="test")
    ap.add_argument("--eval-limit", type=int, default=240, help="held-out samples scored before/after (0: none)")
    ap.add_argument("--tokens", default=None,
                    help="folder with phase 2's speech_tokens_train.npz / vision_train.npz (e.g. RUN/phase2 "
                         "when --model is RUN/phase3; same speech model and STVE); default: --model")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model_dir, out = Path(args.model), Path(args.out)
    exits = tuple(float(x) for x in args.exits.split(","))
    model = load_checkpoint(model_dir)
    work = out / ".distill_cache"
    tokens_dir = Path(args.tokens) if args.tokens else None
    train = _fusion_data(model, Path(args.data), work, "train", model_dir, args.train_limit, tokens_dir)
    report: dict = {"model": str(model_dir), "exits": exits, "steps": args.steps, "train_samples": len(train)}
    held = None
    if args.eval_limit:
        held = _fusion_data(model, Path(args.data), work, args.eval_split, model_dir, args.eval_limit)
        rng = random.Random(1)
        idx = list(range(len(held)))
        eval_batches = [held.batch(idx[a:a + 32], rng, train=False) for a in range(0, len(idx), 32)]
        report["before_full_depth"] = cascade_eval(model, eval_batches)
        report["exits_without_distillation"] = cascade_eval(with_exits(model, exits), eval_batches)
    log: list = []
    opts = DistillOptions(lr=args.lr, batch_size=args.batch)
    adapted = distill_exits(model, train, args.steps, opts, exits=exits, log=log)
    if held is not None:
        report["after_distillation"] = cascade_eval(adapted, eval_batches)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(adapted, out, model.tokenizer)
    for extra in ("speech.safetensors",):
        if (model_dir / extra).is_file():
            shutil.copy2(model_dir / extra, out / extra)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    report["final_losses"] = log[-1] if log else None
    (out / "distill_report.json").write_text(json.dumps(report, indent=1) + "\n")
    (out / "distill_losses.json").write_text(json.dumps(log) + "\n")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
