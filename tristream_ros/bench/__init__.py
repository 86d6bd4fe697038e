"""Benchmarks behind `tristream bench <name> --json` (one module per name: vision, routing,
memory, decode, speech, latency). Each module exposes ``add_arguments(parser)`` and
``run(args) -> int`` and also runs as ``python -m tristream_ros.bench.<name> --json``.
Every figure is named with its unit; ratios compare against a baseline measured in the same run.
"""
