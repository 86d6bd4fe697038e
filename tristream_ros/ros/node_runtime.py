"""Run a node class as a process: init, spin, clean shutdown on Ctrl-C / SIGTERM.

Every ``*_node.py`` ends with ``def main(argv=None): return run_node(MyNode, argv)``.
Configuration errors raised by the constructor (bad parameters, a missing device or model file:
InputError, DeviceError, ModelFileError) do not end the process: the node stays up under its
name in an error state, logs the error and publishes it as an ERROR on /diagnostics every
second until it is stopped, so a graph keeps running and the problem is visible to monitoring.
Set the parameter ``exit_on_config_error: true`` to fail fast instead (exit code 2 and a
one-line message; `tristream launch` then stops the graph and names the node). Errors on
incoming messages never end a node.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy

from tristream_ros.errors import DeviceError, InputError, ModelFileError

EXIT_CONFIG_ERROR = 2


def run_node(factory: Callable[[], "rclpy.node.Node"], argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv if argv is None else argv)
    rclpy.init(args=args)
    node = None
    try:
        node = factory()
        _spin_until_shutdown(node)
        return 0
    except (KeyboardInterrupt, ExternalShutdownException):  # Ctrl-C while the node was being built
        return 0
    except (InputError, DeviceError, ModelFileError) as exc:
        name = _node_name(factory)
        print(f"[{name}] configuration error: {exc}", file=sys.stderr, flush=True)
        _release(node)
        node = None
        return _report_config_error(name, str(exc))
    finally:
        _release(node)
        rclpy.try_shutdown()


def _node_name(factory) -> str:
    """The node's name from its module: tristream_ros.ros.speaker_node -> speaker_node
    (also under ``python -m``, where the module is ``__main__``)."""
    module = factory.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        module = spec.name if spec is not None else getattr(factory, "__name__", "node")
    return module.rsplit(".", 1)[-1]


def _spin_until_shutdown(node) -> None:
    """Spin until Ctrl-C / SIGTERM. rclpy's signal handler shuts the context down; depending on
    where the executor is, that surfaces as KeyboardInterrupt, ExternalShutdownException or (when
    it lands while the executor builds its wait set) an RCLError "the given context is not valid":
    all three are a clean stop. An RCLError on a context still valid is a real error."""
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except _rclpy.RCLError:
        if node.context.ok():
            raise


def _release(node) -> None:
    if node is not None:
        close = getattr(node, "close", None)
        if callable(close):
            close()
        node.destroy_node()


def _report_config_error(name: str, message: str) -> int:
    """Stay up as ``name`` publishing the configuration error, or exit 2 if asked to fail fast."""
    from tristream_ros.ros.diagnostics import Diagnostics

    node = rclpy.create_node(name, automatically_declare_parameters_from_overrides=True)
    try:
        fail_fast = node.get_parameter_or("exit_on_config_error", None).value
        if fail_fast:
            return EXIT_CONFIG_ERROR
        diag = Diagnostics(node, "configuration", hold_s=float("inf"))  # ERROR until stopped
        diag.error(f"configuration error (node not running; fix the parameters and restart): {message}")
        _spin_until_shutdown(node)
        return 0
    except (KeyboardInterrupt, ExternalShutdownException):  # Ctrl-C before the spin
        return 0
    finally:
        node.destroy_node()


def param(node, name: str, default, description: str = "", dynamic_typing: bool = False):
    """Declare one parameter (typed by its default, or any type with ``dynamic_typing``) and
    return its value."""
    from rcl_interfaces.msg import ParameterDescriptor

    desc = ParameterDescriptor(description=description, dynamic_typing=dynamic_typing)
    return node.declare_parameter(name, default, desc).value
