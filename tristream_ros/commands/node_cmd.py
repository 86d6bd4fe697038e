"""`tristream node NAME [--ros-args ...]`: run one node in this process."""
from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    from tristream_ros.ros.entrypoints import NODE_MODULES

    p.add_argument("name", choices=sorted(NODE_MODULES), metavar="NAME", help=", ".join(sorted(NODE_MODULES)))
    p.add_argument("ros_args", nargs=argparse.REMAINDER, help="--ros-args ... passed to the node")


def run(args: argparse.Namespace) -> int:
    from tristream_ros.ros.entrypoints import run_node

    return run_node(args.name, [f"tristream-{args.name}", *args.ros_args])
