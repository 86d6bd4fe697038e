"""Map executable names to node main functions (used by scripts/nodes/* and `tristream node`)."""
from __future__ import annotations

import importlib

# executable name -> module defining `main(args: list[str] | None) -> int`
NODE_MODULES = {
    "microphone_node": "tristream_ros.ros.microphone_node",
    "speaker_node": "tristream_ros.ros.speaker_node",
    "vision_encoder_node": "tristream_ros.ros.vision_encoder_node",
    "speech_tokenizer_node": "tristream_ros.ros.speech_tokenizer_node",
    "fusion_node": "tristream_ros.ros.fusion_node",
    "action_bridge_node": "tristream_ros.ros.action_bridge_node",
    "image_probe_node": "tristream_ros.ros.image_probe_node",  # camera -> rgb8 conversion check
}


def run_node(name: str, argv: list[str]) -> int:
    if name not in NODE_MODULES:
        raise SystemExit(f"unknown node {name!r}; known: {', '.join(sorted(NODE_MODULES))}")
    module = importlib.import_module(NODE_MODULES[name])
    return int(module.main(argv) or 0)
