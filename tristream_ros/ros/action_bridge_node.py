"""action_bridge_node: ActionHints -> Nav2 goals (``goal_pose``) or bounded ``cmd_vel``.

Off by default (``mode: off``): hints are logged and counted, nothing moves. The logic
(confidence / time-to-live filter, ground projection, limits, dead-man) lives in
``tristream_ros.outputs.action_bridge``; this node only converts messages.

Parameters (config/tristream.yaml, ``action_bridge_node``):
  mode                  off | goal_pose | cmd_vel | both
  min_confidence        hints below are ignored (``stop`` is honoured at any confidence)
  default_ttl_s         time-to-live for hints that carry none
  camera.fx/fy/cx/cy/width/height   intrinsics (pixels) of the image the hint's (u, v) refer to
  camera.height_m, camera.pitch_rad, camera.x_m     mounting of the camera on the robot
  goal.frame, goal.standoff_m, goal.max_range_m
  cmd_vel.max_linear_mps, cmd_vel.max_angular_rps, cmd_vel.linear_speed_mps,
  cmd_vel.angular_speed_rps, cmd_vel.motion_s, cmd_vel.rate_hz
  deadman.required, deadman.timeout_s   motion only while std_msgs/Bool true on ``deadman``
                                         is fresher than timeout_s
Topics: in ``assistant/action_hint``, ``deadman`` (std_msgs/Bool), ``stop`` (std_msgs/Empty:
explicit stop); out ``goal_pose`` (geometry_msgs/PoseStamped), ``cmd_vel`` (geometry_msgs/Twist).
"""
from __future__ import annotations

import math
import sys

from geometry_msgs.msg import PoseStamped, Twist as TwistMsg
from rclpy.node import Node
from std_msgs.msg import Bool, Empty

from tristream_ros.errors import InputError
from tristream_ros.msg import ActionHint
from tristream_ros.outputs.action_bridge import (BridgeConfig, Hint, Intrinsics, TwistController,
                                                 goal_for, ignore_reason)
from tristream_ros.ros.conversions import stamp_to_ns
from tristream_ros.ros.diagnostics import Diagnostics
from tristream_ros.ros.node_runtime import param, run_node
from tristream_ros.ros.qos import declare_qos

HINT_TOPIC = "assistant/action_hint"


def config_from_params(node) -> BridgeConfig:
    p = lambda name, default, desc="": param(node, name, default, desc)  # noqa: E731
    cam = Intrinsics(fx=float(p("camera.fx", 200.0, "px")), fy=float(p("camera.fy", 200.0, "px")),
                     cx=float(p("camera.cx", 128.0, "px")), cy=float(p("camera.cy", 128.0, "px")),
                     width=int(p("camera.width", 256, "px")), height=int(p("camera.height", 256, "px")))
    return BridgeConfig(
        mode=str(p("mode", "off", "off | goal_pose | cmd_vel | both")),
        min_confidence=float(p("min_confidence", 0.5)),
        default_ttl_s=float(p("default_ttl_s", 5.0, "s")),
        camera=cam,
        camera_height_m=float(p("camera.height_m", 0.5, "m above the ground")),
        camera_pitch_rad=float(p("camera.pitch_rad", 0.35, "rad down from horizontal")),
        camera_x_m=float(p("camera.x_m", 0.0, "m ahead of the goal frame origin")),
        goal_frame=str(p("goal.frame", "base_link")),
        standoff_m=float(p("goal.standoff_m", 0.3, "m")),
        max_range_m=float(p("goal.max_range_m", 10.0, "m")),
        max_linear_mps=float(p("cmd_vel.max_linear_mps", 0.3, "m/s")),
        max_angular_rps=float(p("cmd_vel.max_angular_rps", 0.8, "rad/s")),
        linear_speed_mps=float(p("cmd_vel.linear_speed_mps", 0.2, "m/s")),
        angular_speed_rps=float(p("cmd_vel.angular_speed_rps", 0.5, "rad/s")),
        motion_s=float(p("cmd_vel.motion_s", 1.0, "s one motion hint lasts")),
        deadman_timeout_s=float(p("deadman.timeout_s", 0.5, "s")),
        require_deadman=bool(p("deadman.required", True)),
    )


class ActionBridgeNode(Node):
    def __init__(self):
        super().__init__("action_bridge_node")
        self.cfg = config_from_params(self)
        rate = float(param(self, "cmd_vel.rate_hz", 20.0, "Hz"))
        if rate <= 0:
            raise InputError(f"action_bridge_node: cmd_vel.rate_hz must be > 0, got {rate}")
        qos_in = declare_qos(self, "input", "reliable")
        qos_out = declare_qos(self, "output", "reliable")
        self.diag = Diagnostics(self, "action bridge", hardware_id=self.cfg.mode)
        for key in ("hints_in", "ignored", "goals_out", "stops_out", "bad_hints"):
            self.diag.count(key, 0)
        self.controller = TwistController(self.cfg)
        self.pub_goal = self.create_publisher(PoseStamped, "goal_pose", qos_out) if self.cfg.goal_enabled else None
        self.pub_twist = self.create_publisher(TwistMsg, "cmd_vel", qos_out) if self.cfg.twist_enabled else None
        self.create_subscription(ActionHint, HINT_TOPIC, self._on_hint, qos_in)
        self.create_subscription(Bool, "deadman", self._on_deadman, qos_in)
        self.create_subscription(Empty, "stop", self._on_stop, qos_in)
        if self.pub_twist is not None:
            self.create_timer(1.0 / rate, self._tick)
        self.diag.ok(f"mode {self.cfg.mode}")
        self.get_logger().info(f"action bridge mode: {self.cfg.mode}"
                               + (" (nothing is published; set mode to goal_pose or cmd_vel)" if self.cfg.mode == "off"
                                  else ""))

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds / 1e9

    def _on_hint(self, msg: ActionHint) -> None:
        self.diag.count("hints_in")
        ttl = msg.time_to_live.sec + msg.time_to_live.nanosec / 1e9
        hint = Hint(msg.action, float(msg.confidence), stamp_to_ns(msg.header.stamp) / 1e9, ttl,
                    (float(msg.target_u), float(msg.target_v)) if msg.has_target else None)
        now = self._now_s()
        why = ignore_reason(hint, now, self.cfg)
        if why is not None:
            self.diag.count("ignored")
            self.get_logger().info(f"ignoring {msg.action} hint of {msg.utterance_id}: {why}")
            return
        if self.cfg.mode == "off":
            self.diag.count("ignored")
            self.get_logger().info(f"{msg.action} hint of {msg.utterance_id}: bridge is off")
            return
        if self.pub_goal is not None and hint.action == "navigate_to":
            try:
                goal = goal_for(hint, self.cfg)
            except InputError as exc:
                self.diag.error(f"cannot turn {msg.utterance_id}'s navigate_to into a goal: {exc}", key="bad_hints")
            else:
                self._publish_goal(goal)
        if self.pub_twist is not None and hint.action != "navigate_to":
            twist = self.controller.on_hint(hint, now)
            if hint.action == "stop":
                self._publish_twist(twist)
                self.diag.count("stops_out")

    def _publish_goal(self, goal) -> None:
        msg = PoseStamped()
        msg.header.stamp = self.get_clock().now().to_msg()
        msg.header.frame_id = goal.frame
        msg.pose.position.x, msg.pose.position.y = float(goal.x), float(goal.y)
        msg.pose.orientation.z, msg.pose.orientation.w = math.sin(goal.yaw / 2), math.cos(goal.yaw / 2)
        self.pub_goal.publish(msg)
        self.diag.count("goals_out")
        self.get_logger().info(f"goal_pose ({goal.x:.2f}, {goal.y:.2f}) m yaw {math.degrees(goal.yaw):.0f} deg "
                               f"in {goal.frame}")

    def _on_deadman(self, msg: Bool) -> None:
        self.controller.on_deadman(bool(msg.data), self._now_s())

    def _on_stop(self, _msg: Empty) -> None:
        if self.pub_twist is not None:
            self.controller.on_hint(Hint("stop", 1.0, self._now_s(), 0.0), self._now_s())
            self._publish_twist(None)  # explicit zero now
            self.diag.count("stops_out")

    def _tick(self) -> None:
        twist = self.controller.command(self._now_s())
        if twist is not None:
            self._publish_twist(twist)

    def _publish_twist(self, twist) -> None:
        msg = TwistMsg()
        if twist is not None:
            msg.linear.x, msg.angular.z = float(twist.linear_x), float(twist.angular_z)
        self.pub_twist.publish(msg)


def main(argv: list[str] | None = None) -> int:
    return run_node(ActionBridgeNode, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
