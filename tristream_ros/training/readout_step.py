"""The command line the read-out re-fit steps share (`kind_readout`, `colour_readout`).

Both are steps of scripts/train_demo.sh after phase 3 that rewrite a model folder in place:
the same base options (--model, --run, --seed, --steps, --pool-scenes, --processes, --resume,
--no-progress), the same refusal of a missing or unusable model (exit 2 with the reason), the
same start (`open_step`: seed, run folder, the model with its copy head) and end (`close_step`:
the folder rewritten, RUN/<step>.json) and the same report (the held-out scores before and after,
the wall-clock). No ROS.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable


def step_parser(prog: str, description: str, steps: int, pool_scenes: int) -> argparse.ArgumentParser:
    """An ArgumentParser with the options every read-out step takes; add the step's own."""
    ap = argparse.ArgumentParser(prog=f"python -m tristream_ros.training.{prog}", description=description)
    ap.add_argument("--model", required=True, help="phase-3 checkpoint folder (rewritten in place)")
    ap.add_argument("--run", required=True, help=f"folder for loss curves, loop state and {prog}.json")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--pool-scenes", type=int, default=pool_scenes, help="scene-pool scenes (training pairs)")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--resume", action="store_true", help="continue an interrupted fit from --run")
    ap.add_argument("--no-progress", action="store_true")
    return ap


def run_step(prog: str, key: str, refit: Callable[[], dict]) -> int:
    """Run `refit` (-> the step's summary, `summary[key]` the fit's) and print its held-out scores
    before / after and wall-clock; a bad model folder or input: its reason on stderr, exit 2."""
    from tristream_ros.errors import InputError, ModelFileError
    try:
        summary = refit()
    except (InputError, ModelFileError, FileNotFoundError) as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    fit = summary[key]
    name = key.split("_")[0]
    print(json.dumps({f"{name}_heldout_before": fit["heldout_before"], f"{name}_heldout_after": fit["heldout_after"],
                      "seconds_total": summary["seconds_total"]}, indent=1))
    return 0


def open_step(prog: str, model_dir: str | Path, run_dir: str | Path, seed: int):
    """-> (model in eval mode, model_dir, run_dir (created), start time): the folder's checkpoint,
    which must have a copy head (InputError otherwise)."""
    from tristream_ros.errors import InputError
    from tristream_ros.model.checkpoint import load_checkpoint
    from tristream_ros.training.loop import seed_everything
    seed_everything(seed)
    t0 = time.perf_counter()
    model_dir, run_dir = Path(model_dir), Path(run_dir)
    model = load_checkpoint(model_dir)
    model.eval()
    if not model.config.copy.enabled:
        raise InputError(f"{prog}: {model_dir} has no copy head (config copy.enabled is off)")
    run_dir.mkdir(parents=True, exist_ok=True)  # only once the model is usable: a refusal writes nothing
    return model, model_dir, run_dir, t0


def close_step(prog: str, model, model_dir: Path, run_dir: Path, summary: dict, t0: float, seed: int,
               metadata: dict) -> dict:
    """Rewrite the folder's model.safetensors + config.json (its metadata: what the folder's file
    had, e.g. an earlier step's tag, updated with `metadata` and phase 3), add the wall-clock, seed
    and folder to `summary` and write it to RUN/<prog>.json; returns it."""
    from safetensors import safe_open

    from tristream_ros.model.checkpoint import save_checkpoint
    try:
        with safe_open(str(model_dir / "model.safetensors"), "pt") as f:
            before = dict(f.metadata() or {})
    except (OSError, ValueError):
        before = {}
    keep = {k: v for k, v in before.items() if k not in ("format", "tristream", "stored_dtype")}
    save_checkpoint(model, model_dir, model.tokenizer, metadata={**keep, "phase": "3", **metadata})
    summary.update(seconds_total=round(time.perf_counter() - t0, 1), seed=seed, model=str(model_dir))
    (run_dir / f"{prog}.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary
