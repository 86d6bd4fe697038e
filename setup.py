"""Pip entry point for the Python half of tristream_ros.

`colcon build` uses CMakeLists.txt (ament_cmake: interfaces + Python sources).
`scripts/setup.sh` uses this file for an editable install into .venv (console script
`tristream`) and builds the interfaces with CMake into the same prefix.
"""
from setuptools import find_packages, setup

setup(
    name="tristream_ros",
    version="0.1.0",
    description="Streaming speech + vision + text assistant for ROS 2 robots",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["tristream_ros", "tristream_ros.*"]),
    package_data={"tristream_ros": ["py.typed", "data/recordings/*", "data/recordings/spliced/*"]},
    entry_points={"console_scripts": ["tristream = tristream_ros.cli:main"]},
)
