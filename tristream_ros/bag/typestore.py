"""A rosbags typestore that knows the standard ROS 2 (Kilted) types and our msg/*.msg.

No rclpy: the .msg files are parsed by rosbags. They are looked up in the source tree
(``<repo>/msg``) and in installed prefixes (``<prefix>/share/tristream_ros/msg`` for every
prefix on AMENT_PREFIX_PATH, and the venv prefix).
"""
from __future__ import annotations

import os
import sys
from functools import lru_cache
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore

PACKAGE = "tristream_ros"


def msg_dirs() -> list[Path]:
    """Folders that may hold our .msg files, most specific first."""
    candidates = [Path(__file__).resolve().parents[2] / "msg"]
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    candidates += [Path(p) / "share" / PACKAGE / "msg" for p in prefixes]
    return [c for c in candidates if c.is_dir() and any(c.glob("*.msg"))]


def own_msg_definitions() -> dict[str, str]:
    """``{"tristream_ros/msg/AudioChunk": "<.msg text>", ...}`` from the first msg folder found."""
    for folder in msg_dirs():
        return {f"{PACKAGE}/msg/{p.stem}": p.read_text() for p in sorted(folder.glob("*.msg"))}
    return {}


@lru_cache(maxsize=1)
def typestore():
    """The shared typestore (ROS 2 Kilted standard types + ours). Do not mutate."""
    store = get_typestore(Stores.ROS2_KILTED)
    types: dict = {}
    for name, text in own_msg_definitions().items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store
