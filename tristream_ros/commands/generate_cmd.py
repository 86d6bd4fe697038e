"""`tristream generate dataset|bag`: write the synthetic tri-modal dataset or the demo rosbag.

    tristream generate dataset --out data/synth --train 4000 --test 400 --seed 0
    tristream generate bag --out data/demo --seed 0
"""
from __future__ import annotations

import argparse
import sys
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    d = sub.add_parser("dataset", help="scenes + spoken/typed queries + answers/actions, with held-out splits")
    d.add_argument("--out", required=True, help="output folder (manifests, frames, audio, info.json)")
    d.add_argument("--train", type=int, default=1000, help="training samples (default 1000)")
    d.add_argument("--val", type=int, default=None, help="validation samples (default: same as --test)")
    d.add_argument("--test", type=int, default=200, help="test samples (default 200)")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--processes", type=int, default=2, help="worker processes (default 2)")
    d.add_argument("--frames", choices=("npz", "render"), default="npz",
                   help="npz: store frames; render: store only the scene spec, the reader re-renders")
    d.add_argument("--typed-rate", type=float, default=0.2, help="share of scene queries typed instead of spoken")
    d.add_argument("--cache", default=None, help="espeak-ng WAV cache (default ~/.cache/tristream/espeak)")
    d.add_argument("--no-progress", action="store_true", help="no tqdm bar")
    b = sub.add_parser("bag", help="rosbag2 of a camera stream plus spoken commands, with ground_truth.json")
    b.add_argument("--out", required=True, help="output folder: OUT/bag and OUT/ground_truth.json")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--storage", choices=("sqlite3", "mcap"), default="sqlite3")
    b.add_argument("--force", action="store_true", help="replace an existing OUT/bag")
    b.add_argument("--cache", default=None, help="espeak-ng WAV cache (default ~/.cache/tristream/espeak)")


def run(args: argparse.Namespace) -> int:
    from tristream_ros.errors import InputError

    try:
        if args.what == "dataset":
            return _dataset(args)
        return _bag(args)
    except InputError as exc:
        print(f"tristream generate {args.what}: {exc}", file=sys.stderr)
        return 2


def _dataset(args) -> int:
    from tristream_ros.data.dataset import GeneratorConfig, generate_dataset

    counts = {"train": args.train, "val": args.test if args.val is None else args.val, "test": args.test}
    config = GeneratorConfig(seed=args.seed, typed_rate=args.typed_rate)
    info = generate_dataset(args.out, counts, config, cache_dir=args.cache, processes=args.processes,
                            frames=args.frames, progress=not args.no_progress)
    total = sum(counts.values())
    print(f"wrote {total} samples ({counts}) to {args.out} in {info['seconds']:.1f} s "
          f"({info['seconds'] / max(total, 1) * 1000:.0f} ms/sample, {args.processes} processes)")
    for split in ("train", "val", "test"):
        v = info["voices"][split]["variants"]
        print(f"  {split:5s} voices: {len(v)} variants x {len(info['voices'][split]['languages'])} accents")
    return 0


def _bag(args) -> int:
    from tristream_ros.data.demo_bag import write_demo_bag

    t0 = time.perf_counter()
    demo = write_demo_bag(args.out, seed=args.seed, storage=args.storage, overwrite=args.force, cache_dir=args.cache)
    truth = demo.truth
    print(f"wrote {demo.bag_path} ({truth['duration_s']:.1f} s, {args.storage}) and {demo.truth_path} "
          f"in {time.perf_counter() - t0:.1f} s")
    for u in truth["utterances"]:
        target = "" if u["expected_target_uv"] is None else f" @ {tuple(u['expected_target_uv'])}"
        print(f"  {u['start_s']:6.2f}-{u['end_s']:6.2f} s  [{u['route']}] {u['text']!r} -> "
              f"{u['expected_action']}{target}: {u['expected_answer']!r}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    p = argparse.ArgumentParser()
    add_arguments(p)
    sys.exit(run(p.parse_args()))
