"""Action hints -> robot commands, as pure logic (no ROS): the action bridge node only converts.

Two outputs, both off by default (``BridgeConfig.mode = "off"``):

- ``goal_pose``: a target in the image (u, v normalised, u right, v down) is projected onto the
  ground plane through a pinhole camera (intrinsics ``fx, fy, cx, cy`` in pixels of a
  ``width x height`` image) mounted ``camera_height_m`` above the ground, ``camera_x_m`` ahead
  of the goal frame's origin, pitched down by ``camera_pitch_rad``. The goal is placed
  ``standoff_m`` short of the target, facing it, in ``goal_frame`` (x forward, y left, z up;
  e.g. ``base_link``; Nav2 transforms it). Targets above the horizon or farther than
  ``max_range_m`` are refused.
- ``cmd_vel``: ``forward/backward/turn_left/turn_right`` (and ``look_at``: turn towards the
  target) become a bounded velocity held for ``motion_s`` at most; ``stop`` zeroes it at once.
  Speeds are clamped to ``max_linear_mps`` / ``max_angular_rps``. Dead-man: with
  ``require_deadman`` motion is allowed only while an enable signal is fresher than
  ``deadman_timeout_s``; whatever the setting, a motion whose hint is older than
  ``deadman_timeout_s`` plus ``motion_s`` has ended. When motion ends for any reason the
  controller asks for one explicit zero command.

Hints below ``min_confidence`` or past their time-to-live are ignored; ``stop`` is honoured at any
confidence (a false stop is safe, a missed one is not) but still not when expired.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from tristream_ros.errors import InputError

MODES = ("off", "goal_pose", "cmd_vel", "both")
MOTION_ACTIONS = {"forward": (1.0, 0.0), "backward": (-1.0, 0.0), "turn_left": (0.0, 1.0), "turn_right": (0.0, -1.0)}
TARGET_ACTIONS = ("navigate_to", "look_at")


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole camera: focal lengths and principal point in pixels of a width x height image."""

    fx: float = 200.0
    fy: float = 200.0
    cx: float = 128.0
    cy: float = 128.0
    width: int = 256
    height: int = 256

    def __post_init__(self) -> None:
        if self.fx <= 0 or self.fy <= 0 or self.width <= 0 or self.height <= 0:
            raise InputError(f"camera intrinsics need fx, fy, width, height > 0, got {self}")


@dataclass(frozen=True)
class BridgeConfig:
    mode: str = "off"
    min_confidence: float = 0.5
    default_ttl_s: float = 5.0  # used when a hint carries no time_to_live
    camera: Intrinsics = Intrinsics()
    camera_height_m: float = 0.5
    camera_pitch_rad: float = 0.35  # down from horizontal (20 degrees)
    camera_x_m: float = 0.0  # camera ahead of the goal frame origin
    goal_frame: str = "base_link"
    standoff_m: float = 0.3
    max_range_m: float = 10.0
    max_linear_mps: float = 0.3
    max_angular_rps: float = 0.8
    linear_speed_mps: float = 0.2
    angular_speed_rps: float = 0.5
    motion_s: float = 1.0  # how long one motion hint moves the robot
    deadman_timeout_s: float = 0.5
    require_deadman: bool = True

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"action bridge mode {self.mode!r}; expected one of {MODES}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise InputError(f"min_confidence must be in [0, 1], got {self.min_confidence}")
        for name in ("default_ttl_s", "camera_height_m", "max_range_m", "motion_s", "deadman_timeout_s"):
            if getattr(self, name) <= 0:
                raise InputError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("max_linear_mps", "max_angular_rps", "linear_speed_mps", "angular_speed_rps", "standoff_m"):
            if getattr(self, name) < 0:
                raise InputError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not -math.pi / 2 < self.camera_pitch_rad < math.pi / 2:
            raise InputError(f"camera_pitch_rad must be within (-pi/2, pi/2), got {self.camera_pitch_rad}")

    @property
    def goal_enabled(self) -> bool:
        return self.mode in ("goal_pose", "both")

    @property
    def twist_enabled(self) -> bool:
        return self.mode in ("cmd_vel", "both")


@dataclass(frozen=True)
class Hint:
    action: str
    confidence: float
    stamp_s: float  # end of the utterance, node clock seconds
    ttl_s: float  # 0 = config default
    target_uv: tuple[float, float] | None = None


@dataclass(frozen=True)
class Goal:
    x: float
    y: float
    yaw: float  # rad, facing the target
    frame: str


@dataclass(frozen=True)
class Twist:
    linear_x: float = 0.0
    angular_z: float = 0.0

    @property
    def is_zero(self) -> bool:
        return self.linear_x == 0.0 and self.angular_z == 0.0


def ignore_reason(hint: Hint, now_s: float, cfg: BridgeConfig) -> str | None:
    """Why ``hint`` must be ignored, or None when it may be acted upon."""
    if not math.isfinite(hint.confidence):
        return f"confidence {hint.confidence} is not a number"
    ttl = hint.ttl_s if hint.ttl_s > 0 else cfg.default_ttl_s
    age = now_s - hint.stamp_s
    if age > ttl:
        return f"expired: {age:.2f} s old > time_to_live {ttl:.2f} s"
    if hint.action != "stop" and hint.confidence < cfg.min_confidence:
        return f"confidence {hint.confidence:.2f} < min_confidence {cfg.min_confidence:.2f}"
    return None


def project_to_ground(u: float, v: float, cfg: BridgeConfig) -> tuple[float, float]:
    """Normalised image point -> (x forward, y left) metres on the ground in ``cfg.goal_frame``.
    InputError when the point is outside the image, above the horizon or out of range."""
    if not (0.0 <= u <= 1.0 and 0.0 <= v <= 1.0):
        raise InputError(f"target ({u:.3f}, {v:.3f}) outside the image (u, v must be in [0, 1])")
    c = cfg.camera
    xo = (u * c.width - c.cx) / c.fx  # optical frame ray: x right, y down, z forward
    yo = (v * c.height - c.cy) / c.fy
    s, co = math.sin(cfg.camera_pitch_rad), math.cos(cfg.camera_pitch_rad)
    # body axes (x forward, y left, z up) of a camera pitched down by theta:
    # optical z -> (cos, 0, -sin), optical x -> (0, -1, 0), optical y (down) -> (-sin, 0, -cos)
    dx = co - yo * s
    dy = -xo
    dz = -s - yo * co
    if dz >= -1e-6:
        raise InputError(f"target ({u:.3f}, {v:.3f}) is at or above the horizon: no ground point")
    t = cfg.camera_height_m / -dz
    x, y = cfg.camera_x_m + t * dx, t * dy
    dist = math.hypot(x, y)
    if dist > cfg.max_range_m:
        raise InputError(f"target ({u:.3f}, {v:.3f}) projects {dist:.1f} m away > max_range_m {cfg.max_range_m:g}")
    return x, y


def goal_for(hint: Hint, cfg: BridgeConfig) -> Goal:
    """A navigate_to hint with a target -> the goal pose (standoff short of it, facing it)."""
    if hint.target_uv is None:
        raise InputError(f"{hint.action} hint has no target")
    x, y = project_to_ground(hint.target_uv[0], hint.target_uv[1], cfg)
    dist = math.hypot(x, y)
    yaw = math.atan2(y, x)
    keep = max(0.0, dist - cfg.standoff_m) / dist if dist > 0 else 0.0
    return Goal(x * keep, y * keep, yaw, cfg.goal_frame)


def clamp(value: float, limit: float) -> float:
    return max(-limit, min(limit, value))


class TwistController:
    """cmd_vel with limits, a per-hint motion window, a dead-man and explicit stops.

    Call ``on_hint`` for accepted hints, ``on_deadman(pressed, now)`` for enable signals, and
    ``command(now)`` at the publishing rate: it returns the Twist to publish, or None when
    nothing needs publishing (idle after the one explicit zero)."""

    def __init__(self, cfg: BridgeConfig):
        self.cfg = cfg
        self._target = Twist()
        self._since = -math.inf  # when the current motion started
        self._deadman_at = -math.inf  # last enable signal
        self._need_stop = False
        self.last_reason = ""

    def on_deadman(self, pressed: bool, now_s: float) -> None:
        if pressed:
            self._deadman_at = now_s
        else:
            self._deadman_at = -math.inf
            self._halt("dead-man released")

    def on_hint(self, hint: Hint, now_s: float) -> Twist:
        cfg = self.cfg
        if hint.action == "stop":
            self._halt("stop requested")
            return Twist()
        if hint.action in MOTION_ACTIONS:
            lin, ang = MOTION_ACTIONS[hint.action]
            twist = Twist(clamp(lin * cfg.linear_speed_mps, cfg.max_linear_mps),
                          clamp(ang * cfg.angular_speed_rps, cfg.max_angular_rps))
        elif hint.action == "look_at" and hint.target_uv is not None:
            # turn towards the target: full speed at the image edge, zero at the centre
            twist = Twist(0.0, clamp(2.0 * (0.5 - hint.target_uv[0]) * cfg.angular_speed_rps, cfg.max_angular_rps))
        else:
            return self._target
        self._target, self._since = twist, now_s
        self.last_reason = f"{hint.action}"
        return twist

    def _halt(self, reason: str) -> None:
        self._target, self._since = Twist(), -math.inf
        self._need_stop = True
        self.last_reason = reason

    def deadman_ok(self, now_s: float) -> bool:
        return (not self.cfg.require_deadman) or now_s - self._deadman_at <= self.cfg.deadman_timeout_s

    def command(self, now_s: float) -> Twist | None:
        cfg = self.cfg
        if not self._target.is_zero:
            if now_s - self._since > cfg.motion_s:
                self._halt("motion window over")
            elif not self.deadman_ok(now_s):
                self._halt("dead-man timeout")
            else:
                return Twist(clamp(self._target.linear_x, cfg.max_linear_mps),
                             clamp(self._target.angular_z, cfg.max_angular_rps))
        if self._need_stop:
            self._need_stop = False
            return Twist()
        return None
