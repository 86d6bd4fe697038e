"""action_bridge_node as a real process: goal_pose projection, cmd_vel limits, dead-man, filters."""
from __future__ import annotations

import math
import time

import pytest

from ros_helpers import NodeProcess, Probe

MODULE = "tristream_ros.ros.action_bridge_node"


@pytest.fixture(scope="module")
def bridge():
    node = NodeProcess(MODULE, ros_args=[
        "-p", "mode:=both", "-p", "cmd_vel.max_linear_mps:=0.25", "-p", "cmd_vel.linear_speed_mps:=1.0",
        "-p", "cmd_vel.motion_s:=5.0", "-p", "deadman.timeout_s:=0.4", "-p", "min_confidence:=0.5"])
    probe = Probe("bridge_probe")
    yield node, probe
    probe.close()
    node.stop()


def make_hint(probe, action, conf=0.9, uv=None, age_s=0.0, ttl_s=5.0):
    from tristream_ros.msg import ActionHint
    from tristream_ros.ros.conversions import ns_to_stamp

    h = ActionHint(action=action, confidence=conf, utterance_id=f"test-{action}")
    h.header.stamp = ns_to_stamp(time.time_ns() - int(age_s * 1e9))
    h.time_to_live.sec = int(ttl_s)
    if uv is not None:
        h.has_target, h.target_u, h.target_v = True, uv[0], uv[1]
    return h


def test_bridge_goal_twist_deadman(bridge):
    from geometry_msgs.msg import PoseStamped, Twist
    from std_msgs.msg import Bool

    from tristream_ros.msg import ActionHint

    node, probe = bridge
    goals = probe.subscribe(PoseStamped, "goal_pose")
    twists = probe.subscribe(Twist, "cmd_vel")
    pub = probe.publisher(ActionHint, "assistant/action_hint")
    deadman = probe.publisher(Bool, "deadman")
    assert probe.wait_for_subscribers(pub, 1, timeout=20), node.output
    assert probe.wait_for_publishers("cmd_vel", 1, timeout=10)
    probe.spin_for(0.5)

    # navigate_to with a target -> one goal in base_link, in front of the robot, facing it
    pub.publish(make_hint(probe, "navigate_to", uv=(0.3, 0.7)))
    assert probe.wait_until(lambda: len(goals) == 1, 5), node.output
    g = goals[0]
    yaw = 2 * math.atan2(g.pose.orientation.z, g.pose.orientation.w)
    assert g.header.frame_id == "base_link" and g.pose.position.x > 0 and g.pose.position.y > 0  # left = +y
    assert yaw == pytest.approx(math.atan2(g.pose.position.y, g.pose.position.x), abs=1e-3)

    # low confidence and expired hints are ignored
    pub.publish(make_hint(probe, "navigate_to", conf=0.2, uv=(0.5, 0.7)))
    pub.publish(make_hint(probe, "navigate_to", uv=(0.5, 0.7), age_s=10.0, ttl_s=2.0))
    probe.spin_for(0.8)
    assert len(goals) == 1

    # forward without the dead-man held: no motion at all
    twists.clear()
    pub.publish(make_hint(probe, "forward"))
    probe.spin_for(0.6)
    assert all(t.linear.x == 0.0 for t in twists)

    # dead-man held: motion clamped to the limit; released (no more enables): stops within timeout
    twists.clear()
    t_end = time.monotonic() + 1.0
    pub.publish(make_hint(probe, "forward"))
    while time.monotonic() < t_end:
        deadman.publish(Bool(data=True))
        probe.spin_for(0.1)
    moving = [t.linear.x for t in twists if t.linear.x != 0.0]
    assert moving and max(moving) == pytest.approx(0.25), twists  # 1.0 requested, 0.25 allowed
    last_enable = time.monotonic()
    probe.wait_until(lambda: twists and twists[-1].linear.x == 0.0, 2.0)
    stopped_after = time.monotonic() - last_enable
    assert twists[-1].linear.x == 0.0 and stopped_after < 0.4 + 0.3, stopped_after  # timeout + 1 tick slack
    n = len(twists)
    probe.spin_for(0.5)
    assert len(twists) == n  # silent after the explicit zero

    # explicit stop while moving
    for _ in range(3):
        deadman.publish(Bool(data=True))
        probe.spin_for(0.05)
    pub.publish(make_hint(probe, "turn_left"))
    deadman.publish(Bool(data=True))
    probe.wait_until(lambda: twists and twists[-1].angular.z > 0, 2.0)
    pub.publish(make_hint(probe, "stop", conf=0.1))  # honoured at any confidence
    assert probe.wait_until(lambda: twists[-1].angular.z == 0.0 and twists[-1].linear.x == 0.0, 1.0)
    assert node.alive()


def test_bridge_off_publishes_nothing():
    from tristream_ros.msg import ActionHint

    with NodeProcess(MODULE, ros_args=["-r", "__node:=bridge_off", "-r", "__ns:=/off"]) as node:
        probe = Probe("bridge_off_probe")
        try:
            pub = probe.publisher(ActionHint, "/off/assistant/action_hint")
            assert probe.wait_for_subscribers(pub, 1, timeout=20), node.output
            probe.spin_for(0.3)
            assert probe.node.count_publishers("/off/goal_pose") == 0
            assert probe.node.count_publishers("/off/cmd_vel") == 0
            pub.publish(make_hint(probe, "forward"))
            assert node.wait_output("bridge is off", 5), node.output
        finally:
            probe.close()
