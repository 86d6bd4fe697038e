"""ROS messages <-> numpy. The only maths here is delegated to tristream_ros.signal.

Images: cv_bridge when importable (full ROS 2 installs), otherwise the project's codec
(``tristream_ros.signal.image_codec``); both give identical arrays for our encodings.
Audio: ``tristream_ros/AudioChunk`` <-> float32 via ``tristream_ros.signal.audio_format``.
"""
from __future__ import annotations

import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from tristream_ros.errors import InputError
from tristream_ros.msg import AudioChunk
from tristream_ros.signal import image_codec
from tristream_ros.signal.audio_format import AudioFormat, decode_pcm, encode_pcm, validate_format

try:  # cv_bridge exists on full ROS 2 installs only
    from cv_bridge import CvBridge, CvBridgeError

    _BRIDGE = CvBridge()
except Exception:  # ImportError, or a cv_bridge built against another numpy
    _BRIDGE = None
    CvBridgeError = Exception

HAVE_CV_BRIDGE = _BRIDGE is not None


# --- images --------------------------------------------------------------------------

def image_to_numpy(msg: Image, use_cv_bridge: bool | None = None) -> np.ndarray:
    """sensor_msgs/Image -> (H, W) or (H, W, C) array in ``msg.encoding``'s channel order.

    Validates with the project codec first (clear InputError naming the bad field), then
    decodes with cv_bridge when available (``use_cv_bridge`` None = when importable).
    """
    data = msg.data.tobytes() if hasattr(msg.data, "tobytes") else bytes(msg.data)
    arr = image_codec.decode_image(msg.height, msg.width, msg.encoding, msg.step, data, bool(msg.is_bigendian))
    if (use_cv_bridge if use_cv_bridge is not None else HAVE_CV_BRIDGE) and _BRIDGE is not None:
        try:
            arr = np.asarray(_BRIDGE.imgmsg_to_cv2(msg, desired_encoding="passthrough"))
        except CvBridgeError as exc:
            raise InputError(f"cv_bridge could not convert {msg.encoding} image: {exc}") from None
    return arr


def image_to_rgb8(msg: Image) -> np.ndarray:
    """sensor_msgs/Image of any supported encoding -> uint8 (H, W, 3) RGB."""
    return image_codec.to_rgb8(image_to_numpy(msg), msg.encoding)


def numpy_to_image(array: np.ndarray, encoding: str, header: Header | None = None, step: int | None = None,
                   is_bigendian: bool = False) -> Image:
    """Array in ``encoding``'s layout -> sensor_msgs/Image (optional row padding / big-endian)."""
    p = image_codec.encode_image(array, encoding, is_bigendian=is_bigendian, step=step)
    msg = Image(height=p.height, width=p.width, encoding=p.encoding, is_bigendian=int(p.is_bigendian), step=p.step)
    msg.data = p.data
    if header is not None:
        msg.header = header
    return msg


def compressed_to_numpy(msg: CompressedImage) -> tuple[np.ndarray, str]:
    """sensor_msgs/CompressedImage -> (array, encoding) via Pillow (PNG, JPEG, ...)."""
    data = msg.data.tobytes() if hasattr(msg.data, "tobytes") else bytes(msg.data)
    return image_codec.decode_compressed(data, msg.format)


def compressed_to_rgb8(msg: CompressedImage) -> np.ndarray:
    arr, enc = compressed_to_numpy(msg)
    return image_codec.to_rgb8(arr, enc)


def numpy_to_compressed(array: np.ndarray, encoding: str = "rgb8", fmt: str = "jpeg", quality: int = 90,
                        header: Header | None = None) -> CompressedImage:
    data, format_str = image_codec.encode_compressed(array, encoding, fmt, quality)
    msg = CompressedImage(format=format_str)
    msg.data = data
    if header is not None:
        msg.header = header
    return msg


# --- audio ---------------------------------------------------------------------------

def audio_format_of(msg: AudioChunk) -> AudioFormat:
    """The chunk's layout; InputError naming the bad field (e.g. sample_rate 0)."""
    validate_format(int(msg.sample_rate), int(msg.channels), msg.sample_format)
    return AudioFormat(int(msg.sample_rate), int(msg.channels), msg.sample_format.upper())


def audio_chunk_to_numpy(msg: AudioChunk) -> tuple[np.ndarray, AudioFormat]:
    """AudioChunk -> (float32 (N, C) in [-1, 1], format)."""
    fmt = audio_format_of(msg)
    data = msg.data.tobytes() if hasattr(msg.data, "tobytes") else bytes(msg.data)
    return decode_pcm(data, fmt.sample_format, fmt.channels), fmt


def numpy_to_audio_chunk(samples: np.ndarray, sample_rate: int, sample_format: str = "S16LE",
                         header: Header | None = None, sequence: int = 0) -> AudioChunk:
    """float32 (N,) or (N, C) -> AudioChunk in ``sample_format``."""
    x = np.asarray(samples, dtype=np.float32)
    channels = 1 if x.ndim == 1 else x.shape[1]
    validate_format(int(sample_rate), channels, sample_format)
    msg = AudioChunk(sample_rate=int(sample_rate), channels=channels, sample_format=sample_format.upper(),
                     sequence=sequence)
    msg.data = encode_pcm(x, sample_format)
    if header is not None:
        msg.header = header
    return msg


def pcm_chunk(data: bytes, fmt: AudioFormat, header: Header | None = None, sequence: int = 0) -> AudioChunk:
    """Raw PCM bytes already in ``fmt`` -> AudioChunk (no re-encoding)."""
    msg = AudioChunk(sample_rate=fmt.sample_rate, channels=fmt.channels, sample_format=fmt.sample_format,
                     sequence=sequence)
    msg.data = bytes(data)
    if header is not None:
        msg.header = header
    return msg


def stamp_to_ns(stamp: Time) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def ns_to_stamp(ns: int) -> Time:
    return Time(sec=int(ns // 1_000_000_000), nanosec=int(ns % 1_000_000_000))
