"""`tristream bench NAME [options]`: benchmarks that print ratios against in-run baselines.

    tristream bench latency --json     # the ROS graph: end of speech -> text / audio / hint
    tristream bench vision --json      # STVE vs a dense backbone (and the others listed below)

Each benchmark is a module ``tristream_ros.bench.<name>`` defining ``add_arguments(parser)`` and
``run(args) -> int`` (or ``main(argv) -> int``); ``BENCHMARKS`` maps names to modules, so a new
benchmark is one line here. A listed module that is not in this build gets a clear message.
"""
from __future__ import annotations

import argparse
import importlib
import sys

BENCHMARKS: dict[str, str] = {
    "latency": "tristream_ros.bench.latency",  # graph latency vs a pocketsphinx -> LM -> espeak cascade
    "vision": "tristream_ros.bench.vision",
    "routing": "tristream_ros.bench.routing",
    "memory": "tristream_ros.bench.memory",
    "decode": "tristream_ros.bench.decode",
    "speech": "tristream_ros.bench.speech",
    "rejection": "tristream_ros.bench.rejection",  # end-of-utterance cost of the out-of-domain rejection
    "wrappers": "tristream_ros.bench.wrappers",  # cost of the command wrappers' second decoder, on vs off
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help=f"benchmark: {' | '.join(BENCHMARKS)}")
    p.add_argument("options", nargs=argparse.REMAINDER, help="options of that benchmark (NAME --help)")


def load(name: str):
    """The benchmark module for ``name``; SystemExit-free: returns (module, error message)."""
    if name not in BENCHMARKS:
        return None, f"unknown benchmark {name!r}; choose from {', '.join(BENCHMARKS)}"
    path = BENCHMARKS[name]
    try:
        return importlib.import_module(path), None
    except ModuleNotFoundError as exc:
        if exc.name and path.startswith(exc.name):
            return None, f"benchmark {name!r} is not available in this build (module {path} is missing)"
        raise


def run(args: argparse.Namespace) -> int:
    module, error = load(args.name)
    if module is None:
        print(f"tristream bench: {error}", file=sys.stderr)
        return 2
    if hasattr(module, "add_arguments") and hasattr(module, "run"):
        sub = argparse.ArgumentParser(prog=f"tristream bench {args.name}", description=(module.__doc__ or "").split("\n")[0])
        module.add_arguments(sub)
        return int(module.run(sub.parse_args(args.options)) or 0)
    if hasattr(module, "main"):
        return int(module.main(list(args.options)) or 0)
    print(f"tristream bench: {BENCHMARKS[args.name]} defines neither add_arguments/run nor main", file=sys.stderr)
    return 2
