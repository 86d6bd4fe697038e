"""The TriStream model: pure PyTorch, no ROS imports (see docs/design.md)."""
