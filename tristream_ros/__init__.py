"""TriStream-ROS: a streaming speech + vision + text assistant for ROS 2 robots.

Two directories make up the ``tristream_ros`` package at run time:

* the Python sources (this folder), and
* the interface code rosidl generates from ``msg/`` (``tristream_ros.msg``),
  which lives in the install prefix (``.venv`` after ``scripts/setup.sh``, or a colcon
  ``install/`` tree).

``pkgutil.extend_path`` joins every ``tristream_ros`` folder on ``sys.path`` into one
package, so ``from tristream_ros.msg import ActionHint`` and
``from tristream_ros.model import ...`` both work whichever folder Python finds first.
Nothing under ``tristream_ros`` outside ``ros/`` imports rclpy.
"""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
