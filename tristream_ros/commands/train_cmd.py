"""`tristream train --phase 1|2|3 --config demo --data DIR --out RUN [--resume]`.

Phases read and write under RUN: phase1/ (STVE), phase2/ (full checkpoint + speech model),
phase3/ (DPO-tuned checkpoint, the one to ship), cache/ (front-end transcripts, log-mel,
speech and vision tokens, computed once). Every phase shows tqdm progress, saves resumable
state every few hundred steps and writes its loss curves as PNG.
"""
from __future__ import annotations

import argparse
import json
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--phase", type=int, choices=(1, 2, 3), required=True)
    parser.add_argument("--config", default="demo", help="model preset (tiny | demo | omni-0.5b)")
    parser.add_argument("--data", required=True, help="dataset folder from `tristream generate dataset`")
    parser.add_argument("--out", required=True, help="run folder (phase outputs + caches)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="override the phase's main step count")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the run folder's saved state and caches (default: start fresh)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--processes", type=int, default=2, help="worker processes for caching steps")
    parser.add_argument("--no-progress", action="store_true")


def run(args) -> int:
    import dataclasses
    import shutil
    from pathlib import Path

    import torch

    from tristream_ros.errors import InputError, ModelFileError
    from tristream_ros.model.config import TriStreamConfig

    torch.set_num_threads(args.threads)
    try:
        config = TriStreamConfig.preset(args.config)
        out = Path(args.out)
        phase_dir = out / f"phase{args.phase}"
        if not args.resume and phase_dir.exists():
            shutil.rmtree(phase_dir)  # a fresh phase; caches under out/cache are kept
        progress = not args.no_progress
        if args.phase == 1:
            from tristream_ros.training.phase1_contrastive import Phase1Options, run_phase1
            opts = Phase1Options(processes=args.processes)
            if args.steps is not None:
                opts = dataclasses.replace(opts, steps=args.steps)
            summary = run_phase1(config, args.data, args.out, opts=opts, seed=args.seed, resume=args.resume,
                                 progress=progress)
        elif args.phase == 2:
            from tristream_ros.training.phase2_alignment import Phase2Options, run_phase2
            opts = Phase2Options() if args.steps is None else dataclasses.replace(Phase2Options(), fusion_steps=args.steps)
            summary = run_phase2(config, args.data, args.out, opts=opts, seed=args.seed, resume=args.resume,
                                 progress=progress, processes=args.processes)
        else:
            from tristream_ros.training.phase3_preference import Phase3Options, run_phase3
            opts = Phase3Options() if args.steps is None else dataclasses.replace(Phase3Options(), steps=args.steps)
            summary = run_phase3(args.data, args.out, opts=opts, seed=args.seed, resume=args.resume,
                                 progress=progress)
    except (InputError, ModelFileError, FileNotFoundError) as exc:
        print(f"tristream train: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=1))
    return 0
