"""Run a node class as a process: init, spin, clean shutdown on Ctrl-C / SIGTERM.

Every ``*_node.py`` ends with ``def main(argv=None): return run_node(MyNode, argv)``.
Configuration errors raised by the constructor (InputError, DeviceError) end the process
with exit code 2 and a one-line message; errors on incoming messages never end it.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException

from tristream_ros.errors import DeviceError, InputError, ModelFileError

EXIT_CONFIG_ERROR = 2


def run_node(factory: Callable[[], "rclpy.node.Node"], argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv if argv is None else argv)
    rclpy.init(args=args)
    node = None
    try:
        node = factory()
        rclpy.spin(node)
        return 0
    except (KeyboardInterrupt, ExternalShutdownException):
        return 0
    except (InputError, DeviceError, ModelFileError) as exc:
        name = getattr(factory, "__name__", "node")
        print(f"[{name}] configuration error: {exc}", file=sys.stderr, flush=True)
        return EXIT_CONFIG_ERROR
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        rclpy.try_shutdown()


def param(node, name: str, default, description: str = "", dynamic_typing: bool = False):
    """Declare one parameter (typed by its default, or any type with ``dynamic_typing``) and
    return its value."""
    from rcl_interfaces.msg import ParameterDescriptor

    desc = ParameterDescriptor(description=description, dynamic_typing=dynamic_typing)
    return node.declare_parameter(name, default, desc).value
