"""ros2 launch tristream_ros tristream.launch.py [namespace:=robot1] [params_file:=...]
    [use_sim_time:=true] [camera_topic:=/camera/color/image_raw] [microphone_topic:=audio/input]
    [enable_microphone_node:=false] [enable_fusion_node:=true] ...

For full ROS 2 installs (launch_ros). Pip-only machines run the same graph from the same
config/tristream.yaml with `tristream launch` (tristream_ros/ros/launcher.py): keep the two
consistent. Defaults for every argument come from the `tristream_launch` block of the
params file; launch arguments override them.
"""
import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, LogInfo, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

PACKAGE = "tristream_ros"
LAUNCH_KEY = "tristream_launch"
NODES = ("microphone_node", "speaker_node", "vision_encoder_node", "speech_tokenizer_node", "fusion_node",
         "action_bridge_node")  # executables installed in lib/tristream_ros (scripts/nodes/*)


def _truthy(text: str) -> bool:
    return str(text).strip().lower() in ("1", "true", "yes", "on")


def _graph_defaults(params_file: str) -> dict:
    with open(params_file) as f:
        doc = yaml.safe_load(f) or {}
    block = next((doc[k] for k in (f"/**/{LAUNCH_KEY}", LAUNCH_KEY) if k in doc), None) or {}
    return block.get("ros__parameters") or {}


def _launch_nodes(context, *args, **kwargs):
    params_file = LaunchConfiguration("params_file").perform(context)
    graph = _graph_defaults(params_file)
    remap = graph.get("remap") or {}
    enable = graph.get("enable") or {}

    def arg(name: str, fallback):
        value = LaunchConfiguration(name).perform(context)
        return fallback if value == "" else value

    namespace = str(arg("namespace", graph.get("namespace", ""))).strip("/")
    use_sim_time = _truthy(arg("use_sim_time", graph.get("use_sim_time", False)))
    camera_topic = str(arg("camera_topic", remap.get("camera_image", "camera/image")))
    microphone_topic = str(arg("microphone_topic", remap.get("microphone", "audio/input")))
    remappings = [(src, dst) for src, dst in (("camera/image", camera_topic), ("audio/input", microphone_topic))
                  if src != dst]
    actions = []
    for name in NODES:
        if not _truthy(arg(f"enable_{name}", enable.get(name, False))):
            actions.append(LogInfo(msg=f"skipping {name}: disabled"))
            continue
        actions.append(Node(
            package=PACKAGE, executable=name, name=name, namespace=namespace, output="screen",
            parameters=[params_file, {"use_sim_time": use_sim_time}],
            remappings=remappings,
        ))
    return actions


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory(PACKAGE), "config", "tristream.yaml")
    args = [
        DeclareLaunchArgument("params_file", default_value=default_params, description="ROS 2 params file"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace for every node ('' = from file)"),
        DeclareLaunchArgument("use_sim_time", default_value="", description="true/false ('' = from file)"),
        DeclareLaunchArgument("camera_topic", default_value="", description="remap camera/image ('' = from file)"),
        DeclareLaunchArgument("microphone_topic", default_value="", description="remap audio/input ('' = from file)"),
    ]
    args += [DeclareLaunchArgument(f"enable_{n}", default_value="", description=f"start {n} ('' = from file)")
             for n in NODES]
    return LaunchDescription(args + [OpaqueFunction(function=_launch_nodes)])
