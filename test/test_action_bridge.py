"""Action bridge logic (no ROS): hint filtering, ground projection, twist limits, dead-man."""
from __future__ import annotations

import math

import pytest

from tristream_ros.errors import InputError
from tristream_ros.outputs.action_bridge import (BridgeConfig, Hint, Intrinsics, TwistController, goal_for,
                                                 ignore_reason, project_to_ground)

CFG = BridgeConfig(mode="both", camera=Intrinsics(200, 200, 128, 128, 256, 256), camera_height_m=0.5,
                   camera_pitch_rad=0.35, max_linear_mps=0.3, max_angular_rps=0.8, linear_speed_mps=0.5,
                   angular_speed_rps=2.0, motion_s=1.0, deadman_timeout_s=0.5, require_deadman=True)


def hint(action="forward", conf=0.9, stamp=100.0, ttl=5.0, uv=None):
    return Hint(action, conf, stamp, ttl, uv)


def test_off_by_default():
    cfg = BridgeConfig()
    assert cfg.mode == "off" and not cfg.goal_enabled and not cfg.twist_enabled
    with pytest.raises(InputError, match="mode"):
        BridgeConfig(mode="drive")


def test_confidence_and_ttl_filter():
    assert ignore_reason(hint(conf=0.9), 101.0, CFG) is None
    assert "confidence" in ignore_reason(hint(conf=0.2), 101.0, CFG)
    assert "expired" in ignore_reason(hint(stamp=100.0, ttl=0.5), 101.0, CFG)
    assert "expired" in ignore_reason(hint(stamp=100.0, ttl=0.0), 106.0, CFG)  # default ttl 5 s
    assert ignore_reason(hint("stop", conf=0.05), 101.0, CFG) is None  # a stop is always honoured
    assert "expired" in ignore_reason(hint("stop", stamp=0.0), 101.0, CFG)


def test_projection_geometry():
    x, y = project_to_ground(0.5, 0.5, CFG)  # optical axis: h / tan(pitch) ahead
    assert x == pytest.approx(0.5 / math.tan(0.35), rel=1e-6) and y == pytest.approx(0.0, abs=1e-9)
    x_low, _ = project_to_ground(0.5, 0.9, CFG)
    assert x_low < x  # lower in the image = closer
    _, y_right = project_to_ground(0.9, 0.6, CFG)
    _, y_left = project_to_ground(0.1, 0.6, CFG)
    assert y_right < 0 < y_left  # y points left
    with pytest.raises(InputError, match="horizon"):
        project_to_ground(0.5, 0.0, CFG)  # 128 px above centre at f=200 is above a 20 deg pitch
    with pytest.raises(InputError, match="outside the image"):
        project_to_ground(1.2, 0.5, CFG)
    with pytest.raises(InputError, match="max_range"):
        project_to_ground(0.5, 0.5, BridgeConfig(mode="goal_pose", max_range_m=0.5))


def test_goal_standoff_and_heading():
    g = goal_for(hint("navigate_to", uv=(0.7, 0.7)), CFG)
    tx, ty = project_to_ground(0.7, 0.7, CFG)
    assert math.hypot(g.x, g.y) == pytest.approx(math.hypot(tx, ty) - CFG.standoff_m, abs=1e-6)
    assert g.yaw == pytest.approx(math.atan2(ty, tx)) and g.frame == "base_link"
    with pytest.raises(InputError, match="no target"):
        goal_for(hint("navigate_to"), CFG)


def test_twist_limits_and_motion_window():
    c = TwistController(CFG)
    c.on_deadman(True, 100.0)
    t = c.on_hint(hint("forward"), 100.0)
    assert t.linear_x == pytest.approx(0.3)  # 0.5 requested, clamped to max_linear_mps
    c.on_hint(hint("turn_left"), 100.1)
    cmd = c.command(100.2)
    assert cmd.angular_z == pytest.approx(0.8) and cmd.linear_x == 0.0  # 2.0 clamped to 0.8
    c.on_deadman(True, 100.9)
    assert not c.command(101.0).is_zero
    c.on_deadman(True, 101.0)
    assert c.command(101.2).is_zero  # motion window (1 s) over: one explicit zero
    assert c.command(101.3) is None  # then silence


def test_deadman_timeout_and_release():
    c = TwistController(CFG)
    c.on_hint(hint("forward"), 100.0)
    assert c.command(100.0).is_zero  # never pressed: no motion, one explicit stop
    c.on_deadman(True, 100.0)
    c.on_hint(hint("forward"), 100.0)
    assert c.command(100.3).linear_x > 0
    assert c.command(100.6).is_zero  # 0.6 s since the last enable > 0.5 s timeout
    assert c.command(100.7) is None
    c.on_deadman(True, 101.0)
    c.on_hint(hint("backward"), 101.0)
    assert c.command(101.1).linear_x < 0
    c.on_deadman(False, 101.2)
    assert c.command(101.2).is_zero


def test_stop_is_immediate():
    c = TwistController(BridgeConfig(mode="cmd_vel", require_deadman=False))
    c.on_hint(hint("forward"), 10.0)
    assert c.command(10.1).linear_x > 0
    assert c.on_hint(hint("stop"), 10.2).is_zero
    assert c.command(10.2).is_zero


def test_look_at_turns_towards_target():
    c = TwistController(BridgeConfig(mode="cmd_vel", require_deadman=False))
    assert c.on_hint(hint("look_at", uv=(0.1, 0.5)), 0.0).angular_z > 0  # left of centre: turn left
    assert c.on_hint(hint("look_at", uv=(0.9, 0.5)), 0.0).angular_z < 0
