"""Actuator edges without ROS: audio sinks (speaker, WAV file), TTS."""
