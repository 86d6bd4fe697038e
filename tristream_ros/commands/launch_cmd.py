"""`tristream launch`: start the node graph from config/tristream.yaml (pip-only machines).

Same file and arguments as `ros2 launch tristream_ros tristream.launch.py`.
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--params-file", "--config", dest="params_file", default=None,
                   help="params file (default: config/tristream.yaml of the package)")
    p.add_argument("--namespace", default=None, help="namespace for every node, e.g. robot1")
    p.add_argument("--use-sim-time", action="store_true", default=None, help="nodes follow /clock")
    p.add_argument("--camera-topic", default=None, help="remap camera/image to this topic")
    p.add_argument("--microphone-topic", default=None, help="remap audio/input to this topic")
    p.add_argument("--enable", nargs="+", default=[], metavar="NODE", help="start these nodes too")
    p.add_argument("--disable", nargs="+", default=[], metavar="NODE", help="do not start these nodes")
    p.add_argument("--dry-run", action="store_true", help="print the node commands and exit")


def run(args: argparse.Namespace) -> int:
    from tristream_ros.errors import InputError
    from tristream_ros.ros.launcher import Launcher, check_nodes, load_launch_config, node_command

    try:
        cfg = load_launch_config(args.params_file, args.namespace, args.use_sim_time, args.camera_topic,
                                 args.microphone_topic, args.enable, args.disable)
        if args.dry_run:
            for line in check_nodes(cfg):
                print(f"[launch] {line}")
            for spec in cfg.enabled:
                print(" ".join(node_command(spec, cfg)))
            return 0
        return Launcher(cfg).run()
    except InputError as exc:
        print(f"tristream launch: {exc}", file=sys.stderr)
        return 2
