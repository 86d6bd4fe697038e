"""`tristream bag info|record|play`: rosbag2 tools that need no ROS CLI.

  tristream bag info PATH
  tristream bag record -o PATH [TOPIC ...] [--all] [--storage sqlite3|mcap] [--duration S]
  tristream bag play PATH [--rate F] [--loop] [--topics T ...] [--clock] [--serve]

Exit codes: 0 ok, 2 bad input (missing bag, not a bag, unknown topic, ...).
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="summary of a bag (topics, types, counts, duration)")
    info.add_argument("path")

    rec = sub.add_parser("record", help="record topics into a new bag (Ctrl-C to stop)")
    rec.add_argument("topics", nargs="*", help="topic names (relative names resolve in the root namespace)")
    rec.add_argument("-a", "--all", action="store_true", help="record every topic (except /parameter_events, /rosout)")
    rec.add_argument("-o", "--output", required=True, help="bag folder to create")
    rec.add_argument("-s", "--storage", choices=("sqlite3", "mcap"), default="sqlite3")
    rec.add_argument("--bag-version", type=int, choices=(8, 9), default=8,
                     help="rosbag2 format version (8: Jazzy and newer read it; 9: Kilted)")
    rec.add_argument("-d", "--duration", type=float, default=0.0, help="stop after this many seconds")
    rec.add_argument("--max-messages", type=int, default=0, help="stop after this many messages")

    play = sub.add_parser("play", help="publish a bag's messages with their recorded timing")
    play.add_argument("path", nargs="?", default="", help="bag folder (or .db3 / .mcap file)")
    play.add_argument("-r", "--rate", type=float, default=1.0, help="speed factor (2 = twice as fast)")
    play.add_argument("-l", "--loop", action="store_true")
    play.add_argument("--topics", nargs="+", default=[], help="only these topics")
    play.add_argument("--clock", action="store_true", help="publish /clock (for use_sim_time)")
    play.add_argument("--clock-hz", type=float, default=40.0)
    play.add_argument("--wait-for-subscribers", type=int, default=0, metavar="N",
                      help="start once every played topic has N subscribers (or after --wait-timeout)")
    play.add_argument("--wait-timeout", type=float, default=10.0)
    play.add_argument("--delay", type=float, default=0.0, help="seconds to wait before the first message")
    play.add_argument("--error-linger", type=float, default=2.0, metavar="S",
                      help="on a bad bag, wait up to S seconds for /diagnostics listeners before exiting")
    play.add_argument("--serve", action="store_true",
                      help="keep running and play each bag path sent on ~/play (std_msgs/String)")
    play.add_argument("--ros-args", nargs=argparse.REMAINDER, default=[], dest="ros_args")


def run(args: argparse.Namespace) -> int:
    return {"info": _info, "record": _record, "play": _play}[args.action](args)


def _info(args) -> int:
    from tristream_ros.bag.reader import bag_info
    from tristream_ros.errors import InputError

    try:
        print(bag_info(args.path).format())
    except InputError as exc:
        print(f"tristream bag info: {exc}", file=sys.stderr)
        return 2
    return 0


def _record(args) -> int:
    import rclpy

    from tristream_ros.errors import InputError
    from tristream_ros.ros.bag_recorder import record

    if not args.topics and not args.all:
        print("tristream bag record: name topics or pass --all", file=sys.stderr)
        return 2
    rclpy.init(args=[sys.argv[0] if sys.argv else "tristream"])
    try:
        n = record(args.output, None if args.all else args.topics, args.storage, args.bag_version, args.duration,
                   args.max_messages)
    except InputError as exc:
        print(f"tristream bag record: {exc}", file=sys.stderr)
        return 2
    finally:
        rclpy.try_shutdown()
    print(f"recorded {n} messages into {args.output}")
    return 0


def _play(args) -> int:
    import rclpy
    from rclpy.executors import ExternalShutdownException

    from tristream_ros.bag.playback import PlaybackOptions
    from tristream_ros.errors import InputError

    try:
        options = PlaybackOptions(rate=args.rate, loop=args.loop, topics=tuple(args.topics), clock=args.clock,
                                  clock_hz=args.clock_hz, wait_for_subscribers=args.wait_for_subscribers,
                                  wait_timeout_s=args.wait_timeout, start_delay_s=args.delay)
    except InputError as exc:
        print(f"tristream bag play: {exc}", file=sys.stderr)
        return 2
    if not args.path and not args.serve:
        print("tristream bag play: give a bag path (or --serve)", file=sys.stderr)
        return 2
    rclpy.init(args=["tristream", "--ros-args", *args.ros_args] if args.ros_args else None)
    from tristream_ros.ros.bag_player import BagPlayerNode

    node = BagPlayerNode(options, serve=args.serve)
    code = 0
    try:
        if args.serve:
            if args.path:
                node.enqueue(args.path)
            rclpy.spin(node)
        else:
            code = _play_once(node, args.path, args.error_linger)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        node.close()
        node.destroy_node()
        rclpy.try_shutdown()
    return code


def _play_once(node, path: str, linger_s: float = 2.0) -> int:
    """Play in this thread; on bad input log + diagnostic (given a moment to reach
    /diagnostics subscribers) and return 2."""
    import time

    import rclpy

    from tristream_ros.errors import InputError

    try:
        n = node.player.play(path)
    except InputError as exc:
        deadline = time.monotonic() + linger_s  # let /diagnostics listeners match first
        diag_pub = node.diag._pub
        while time.monotonic() < deadline and diag_pub.get_subscription_count() == 0:
            rclpy.spin_once(node, timeout_sec=0.05)
        node.diag.error(f"cannot play bag: {exc}", key="bad_bags")
        print(f"tristream bag play: {exc}", file=sys.stderr)
        # the process exits next: repeat the ERROR status a few times so listeners whose side of
        # discovery completes late still get it, then wait for acknowledgements
        from rclpy.duration import Duration

        for _ in range(3):
            rclpy.spin_once(node, timeout_sec=0.2)
            node.diag.publish()
        diag_pub.wait_for_all_acked(Duration(seconds=max(1.0, linger_s)))
        return 2
    node.get_logger().info(f"published {n} messages")
    return 0
