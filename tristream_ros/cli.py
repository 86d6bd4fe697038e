"""`tristream` command line: one entry point with sub-commands.

Sub-commands register themselves lazily (heavy imports such as torch or rclpy happen only
when that sub-command runs), so `tristream --help` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# name -> (module, help). Each module defines `add_arguments(parser)` and `run(args) -> int`.
COMMANDS: dict[str, tuple[str, str]] = {
    "launch": ("tristream_ros.commands.launch_cmd", "start the node graph from config/tristream.yaml (pip-only machines)"),
    "node": ("tristream_ros.commands.node_cmd", "run one node in this process"),
    "bag": ("tristream_ros.commands.bag_cmd", "rosbag2 tools: info | record | play (no ROS CLI needed)"),
    "bench": ("tristream_ros.commands.bench_cmd", "benchmarks printing ratios against in-run baselines"),
    "generate": ("tristream_ros.commands.generate_cmd", "write the synthetic tri-modal dataset / demo bag"),
    "train": ("tristream_ros.commands.train_cmd", "progressive training (phase 1|2|3)"),
    "eval": ("tristream_ros.commands.eval_cmd", "evaluate a checkpoint on held-out data"),
    "export": ("tristream_ros.commands.export_cmd", "export ONNX (fp32 / int8) for the edge runtime"),
    "demo": ("tristream_ros.commands.demo_cmd", "play the demo bag through the whole graph"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tristream", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, add_help=False)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0
    name = argv[0]
    if name not in COMMANDS:
        parser.error(f"unknown command {name!r}; choose from {', '.join(COMMANDS)}")
    module_name, help_text = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("tristream_ros.commands"):
            print(f"tristream {name}: not available in this build ({exc.name} missing)", file=sys.stderr)
            return 2
        raise
    sub = argparse.ArgumentParser(prog=f"tristream {name}", description=help_text)
    module.add_arguments(sub)
    args = sub.parse_args(argv[1:])
    return int(module.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
