"""rosbag2 tools over the pure-Python `rosbags` library (no rclpy)."""
