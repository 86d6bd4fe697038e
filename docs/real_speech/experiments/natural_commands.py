"""Session 27's 18 natural commands (what people say to a robot, several outside the grammar then),
with the action each means: the probe of command_wrappers_session27/wrapped_probe.py, used by it
and by the later experiments' harnesses."""
PROBE = [("please turn left", "turn_left"), ("turn left please", "turn_left"), ("robot stop", "stop"),
         ("stop now", "stop"), ("please stop", "stop"), ("go forward please", "forward"),
         ("move forward please", "forward"), ("please go back", "backward"), ("turn right please", "turn_right"),
         ("okay stop", "stop"), ("can you turn left", "turn_left"), ("robot go forward", "forward"),
         ("please move back", "backward"), ("turn to the left", "turn_left"), ("turn to the right", "turn_right"),
         ("go to the left", "turn_left"), ("stop the robot", "stop"), ("move backwards", "backward")]
