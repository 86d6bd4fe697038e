"""Choose the STVE token budget a trained model answers with, on validation data.

STVE keeps at most k = ceil(budget_alpha * complexity * 64) tokens (capped at max_keep_ratio of
the grid) whose importance passes score_threshold (model/vision/importance.py). Training uses
the preset's budget; the budget the model *answers* with is a deployment choice: fewer tokens
cost less downstream, and the price of sparsity is the accuracy lost against all 64 tokens
(issue 4's target: within 1 point). This tool measures that trade on the val split (voices,
scenes and samples neither trained nor tested on) and writes the cheapest budget that is
within `tolerance` of all tokens into the model's config.json:

    python -m tristream_ros.training.calibrate_budget --model MODEL_DIR --data VAL_DATA \\
        [--tolerance 0.0] [--out calib.json] [--write]

Each val sample is answered once with all tokens and once per candidate (budget_alpha,
score_threshold), from the true query text and the model's own CTC speech tokens (so only the
vision path differs between candidates). The candidate with the smallest mean keep ratio whose
exact match is at least all-tokens exact match - tolerance is chosen (none: the cheapest of those
with the highest exact match). With
--write, MODEL_DIR/config.json gets the chosen vision.budget_alpha / score_threshold (the cap,
max_keep_ratio, is not changed) and MODEL_DIR/budget_calibration.json + .png record the sweep;
training/ship.py ships both.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

CANDIDATES = ((0.27, 0.5), (0.33, 0.5), (0.4, 0.5), (0.4, 0.3), (0.5, 0.3), (0.6, 0.3))  # (budget_alpha, score_threshold)
CALIBRATION_FILE = "budget_calibration.json"


def choose(sweep: list[dict], dense_exact: float, tolerance: float) -> dict:
    """The cheapest candidate (smallest keep) within tolerance of all tokens; else the cheapest of
    those that lose least (session 9; before: the largest budget, which could pay for tokens that
    bought nothing)."""
    ok = [c for c in sweep if c["answer_exact_match"] >= dense_exact - tolerance - 1e-9]
    if not ok:
        best = max(c["answer_exact_match"] for c in sweep)
        ok = [c for c in sweep if c["answer_exact_match"] >= best - 1e-9]
    return min(ok, key=lambda c: (c["keep_ratio"], c["budget_alpha"]))


def run(model_dir: str, data_dir: str, candidates=CANDIDATES, tolerance: float = 0.0, limit: int | None = None,
        progress: bool = True) -> dict:
    import numpy as np
    import torch

    from tristream_ros.data.dataset import DatasetReader
    from tristream_ros.model.checkpoint import load_checkpoint
    from tristream_ros.training.evaluate import _score, build_frontend, load_speech_model, run_query
    from tristream_ros.training.phase2_alignment import needed_route

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model = load_checkpoint(model_dir)
    speech = load_speech_model(model_dir, model.config)
    front = build_frontend(speech, "ctc", model_dir)
    reader = DatasetReader(data_dir, "val")
    n = len(reader) if limit is None else min(limit, len(reader))
    if n == 0:
        from tristream_ros.errors import InputError
        raise InputError(f"{data_dir}: no val samples (generate one with --val N)")
    samples, rows = [], []
    items = range(n)
    if progress:
        from tqdm import tqdm
        items = tqdm(items, desc="val: speech tokens", unit="sample", mininterval=2.0)
    for i in items:
        s = reader[i]
        row = {k: v for k, v in s.items() if k not in ("frames", "audio")}
        row["need"] = needed_route(row, model.config.fusion)
        if row["need"] == "speech":  # no vision: the budget cannot change these answers
            continue
        tokens = None
        if s["audio"] is not None:
            utt = front.transcribe(s["audio"])
            tokens = utt.tokens if utt is not None and utt.tokens.numel() else None
        samples.append((s["query"], tokens, s["frames"], s.get("context")))
        rows.append(row)

    def answers(dense: bool, desc: str) -> tuple[list[dict], list[float]]:
        preds, keep = [], []
        it = samples
        if progress:
            from tqdm import tqdm
            it = tqdm(samples, desc=desc, unit="sample", mininterval=2.0)
        for text, tokens, frames, context in it:
            preds.append(run_query(model, text, tokens, frames, context, dense=dense))
            if preds[-1].get("keep") is not None:
                keep.append(preds[-1]["keep"])
        return preds, keep

    base = model.vision.config
    dense_score = _score(rows, answers(True, "val: all tokens")[0])
    sweep = []
    for alpha, threshold in candidates:
        model.vision.config = dataclasses.replace(base, budget_alpha=float(alpha), score_threshold=float(threshold))
        preds, keep = answers(False, f"val: budget {alpha} / {threshold}")
        sc = _score(rows, preds)
        sweep.append({"budget_alpha": float(alpha), "score_threshold": float(threshold),
                      "keep_ratio": round(float(np.mean(keep)), 4) if keep else 0.0,
                      "answer_exact_match": round(sc["answer_exact_match"], 4),
                      "action_accuracy": round(sc["action_accuracy"], 4)})
    model.vision.config = base
    dense_exact = round(dense_score["answer_exact_match"], 4)
    return {"model": str(model_dir), "data": str(data_dir), "samples_with_vision": len(rows),
            "tolerance": tolerance, "max_keep_ratio": base.max_keep_ratio,
            "all_tokens": {"answer_exact_match": dense_exact, "action_accuracy": round(dense_score["action_accuracy"], 4)},
            "trained_with": {"budget_alpha": base.budget_alpha, "score_threshold": base.score_threshold},
            "sweep": sweep, "chosen": choose(sweep, dense_exact, tolerance),
            "seconds": round(time.perf_counter() - t0, 1)}


def plot(result: dict, path: str | Path) -> Path:
    """Exact match against keep ratio, one point per candidate, the all-tokens level as a line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=80)
    sw = result["sweep"]
    ax.plot([c["keep_ratio"] for c in sw], [c["answer_exact_match"] for c in sw], "o", label="sparse budget")
    for c in sw:
        ax.annotate(f"{c['budget_alpha']}/{c['score_threshold']}", (c["keep_ratio"], c["answer_exact_match"]),
                    fontsize=7, xytext=(3, 3), textcoords="offset points")
    dense = result["all_tokens"]["answer_exact_match"]
    ax.axhline(dense, color="k", linewidth=1, label="all 64 tokens")
    ax.axhline(dense - result["tolerance"], color="k", linewidth=0.5, linestyle="--", label="tolerance")
    ch = result["chosen"]
    ax.plot([ch["keep_ratio"]], [ch["answer_exact_match"]], "r*", markersize=12, label="chosen")
    ax.set_xlabel("tokens kept / 64 (mean over val frames)")
    ax.set_ylabel("answer exact match (val, true text)")
    ax.set_title("STVE budget: price of sparsity")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def write(model_dir: str | Path, result: dict) -> Path:
    """Store the chosen budget in MODEL_DIR/config.json, the sweep beside it (JSON + PNG)."""
    from tristream_ros.model.checkpoint import load_config, save_config
    folder = Path(model_dir)
    cfg = load_config(folder)
    ch = result["chosen"]
    cfg = dataclasses.replace(cfg, vision=dataclasses.replace(cfg.vision, budget_alpha=ch["budget_alpha"],
                                                              score_threshold=ch["score_threshold"]))
    path = save_config(folder, cfg)
    (folder / CALIBRATION_FILE).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    plot(result, folder / "budget_calibration.png")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model folder (config.json, model.safetensors, speech.safetensors)")
    p.add_argument("--data", required=True, help="generated dataset with a val split")
    p.add_argument("--tolerance", type=float, default=0.0, help="exact match the budget may lose against all tokens (fraction)")
    p.add_argument("--limit", type=int, default=None, help="first N val samples only")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--write", action="store_true", help="store the chosen budget in MODEL/config.json")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    from tristream_ros.errors import InputError, ModelFileError
    try:
        res = run(a.model, a.data, tolerance=a.tolerance, limit=a.limit, progress=not a.no_progress)
    except (InputError, ModelFileError, FileNotFoundError) as exc:
        print(f"calibrate_budget: {exc}", file=sys.stderr)
        return 2
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    if a.write:
        print(f"wrote {write(a.model, res)}", file=sys.stderr)
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
