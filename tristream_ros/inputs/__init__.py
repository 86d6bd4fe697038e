"""Sensor edges without ROS: audio sources (microphone, WAV file)."""
