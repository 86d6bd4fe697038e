"""QoS profiles by name, settable per node through parameters.

Conventions (mission.md): sensor-data QoS (best effort, keep last) on camera and microphone
*subscriptions* (matches both reliable and best-effort publishers); reliable for results.
Parameter ``qos.<key>`` holds a preset name, ``qos.<key>_depth`` the history depth.
"""
from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

from tristream_ros.errors import InputError

PRESETS = ("sensor_data", "best_effort", "reliable", "transient_local")
SENSOR_DEPTH = 5  # messages; sensors prefer fresh data over complete data
RESULT_DEPTH = 10  # messages
# audio streams (microphone -> speech node, answer audio -> speaker): a busy moment on a loaded
# machine must not overflow a reliable KEEP_LAST history (lost chunks): 100 chunks = 2 s of
# 20 ms / 5 s of 50 ms chunks, used when qos.<key>_depth is 0
AUDIO_DEPTH = 100


def qos_profile(name: str, depth: int | None = None) -> QoSProfile:
    """A QoSProfile from a preset name (see ``PRESETS``)."""
    if name not in PRESETS:
        raise InputError(f"unknown QoS preset {name!r}; expected one of {', '.join(PRESETS)}")
    if depth is not None and depth <= 0:
        raise InputError(f"QoS depth must be > 0, got {depth}")
    best_effort = name in ("sensor_data", "best_effort")
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth or (SENSOR_DEPTH if best_effort else RESULT_DEPTH),
        reliability=ReliabilityPolicy.BEST_EFFORT if best_effort else ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if name == "transient_local" else DurabilityPolicy.VOLATILE,
    )


def sensor_qos(depth: int = SENSOR_DEPTH) -> QoSProfile:
    return qos_profile("sensor_data", depth)


def reliable_qos(depth: int = RESULT_DEPTH) -> QoSProfile:
    return qos_profile("reliable", depth)


def declare_qos(node, key: str, default: str, default_depth: int | None = None) -> QoSProfile:
    """Declare ``qos.<key>`` (preset name) and ``qos.<key>_depth`` (0 = `default_depth`, or the
    preset's default when that is None, e.g. AUDIO_DEPTH for audio streams) on ``node`` and
    return the profile they select. Raises InputError for a bad preset."""
    name = node.declare_parameter(f"qos.{key}", default).value
    depth = int(node.declare_parameter(f"qos.{key}_depth", 0).value)
    return qos_profile(str(name), depth or default_depth)
