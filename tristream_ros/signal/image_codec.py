"""sensor_msgs/Image and CompressedImage payloads <-> numpy, without ROS (numpy + Pillow).

``decode_image`` reads the raw fields of a sensor_msgs/Image (height, width, encoding,
is_bigendian, step, data) into an array in the message's own encoding:
(H, W) for one channel, (H, W, C) otherwise, dtype uint8 or uint16 (native byte order).
``to_rgb8`` turns any supported encoding into the core's uint8 (H, W, 3) RGB.
``encode_image`` is the inverse of ``decode_image`` (optionally with row padding and
big-endian 16-bit data), so payloads round-trip byte for byte.
"""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from tristream_ros.errors import InputError

# encoding -> (numpy dtype of one channel value, channels)
ENCODINGS: dict[str, tuple[type, int]] = {
    "rgb8": (np.uint8, 3),
    "bgr8": (np.uint8, 3),
    "rgba8": (np.uint8, 4),
    "bgra8": (np.uint8, 4),
    "mono8": (np.uint8, 1),
    "8UC1": (np.uint8, 1),
    "8UC3": (np.uint8, 3),  # treated as bgr8 (OpenCV's default order), like cv_bridge
    "mono16": (np.uint16, 1),
    "16UC1": (np.uint16, 1),
}
MAX_SIDE = 16384  # px; larger dimensions are treated as a corrupt header


@dataclass(frozen=True)
class ImagePayload:
    """The fields of a sensor_msgs/Image, without ROS."""

    height: int
    width: int
    encoding: str
    is_bigendian: bool
    step: int  # bytes per row, >= width * channels * bytes per channel value
    data: bytes


def encoding_info(encoding: str) -> tuple[type, int]:
    try:
        return ENCODINGS[encoding]
    except KeyError:
        raise InputError(f"unsupported image encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}") from None


def check_image_layout(height: int, width: int, encoding: str, step: int, nbytes: int) -> None:
    """InputError naming the first bad field of a raw Image's layout (encoding, size, step, data
    length); no pixel is touched, so it is cheap enough for a subscription callback."""
    dtype, channels = encoding_info(encoding)
    itemsize = np.dtype(dtype).itemsize
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
        raise InputError(f"invalid image size {width}x{height} (width x height); each side must be 1..{MAX_SIDE}")
    row_bytes = width * channels * itemsize
    if step < row_bytes:
        raise InputError(f"image step {step} is smaller than width*channels*bytes = {row_bytes} for {encoding} "
                         f"{width}x{height}")
    if step % itemsize:
        raise InputError(f"image step {step} is not a multiple of {itemsize} bytes for {encoding}")
    needed = step * height
    if nbytes < needed:
        raise InputError(f"image data has {nbytes} bytes, fewer than step*height = {step}*{height} = {needed} "
                         f"for {encoding} {width}x{height}")


def decode_image(height: int, width: int, encoding: str, step: int, data: bytes | bytearray | memoryview,
                 is_bigendian: bool = False) -> np.ndarray:
    """Raw Image fields -> (H, W) or (H, W, C) array in ``encoding``'s channel order.

    Rows may be padded (``step`` > row bytes); padding is dropped. 16-bit data honours
    ``is_bigendian``. Raises InputError naming the first bad field (check_image_layout).
    """
    buf = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else data
    check_image_layout(height, width, encoding, step, len(buf))
    dtype, channels = encoding_info(encoding)
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    needed = step * height
    order = ">" if (is_bigendian and itemsize > 1) else "<"
    rows = np.frombuffer(buf, dtype=np.uint8, count=needed).reshape(height, step)[:, :row_bytes]  # (H, row_bytes)
    arr = np.ascontiguousarray(rows).view(np.dtype(dtype).newbyteorder(order))  # (H, W*C)
    arr = arr.astype(dtype, copy=False)  # native byte order
    return arr.reshape(height, width) if channels == 1 else arr.reshape(height, width, channels)


def encode_image(array: np.ndarray, encoding: str, is_bigendian: bool = False, step: int | None = None) -> ImagePayload:
    """(H, W) / (H, W, C) array already in ``encoding``'s layout -> Image fields.

    ``step`` larger than the row size pads each row with zeros (as some drivers do).
    """
    dtype, channels = encoding_info(encoding)
    a = np.asarray(array)
    want_shape = a.shape[:2] if channels == 1 else a.shape[:2] + (channels,)
    if a.ndim == 3 and channels == 1 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim < 2 or a.shape != want_shape:
        raise InputError(f"array of shape {a.shape} does not fit encoding {encoding!r} "
                         f"({channels} channel(s); expected (H, W{'' if channels == 1 else f', {channels}'}))")
    if a.dtype != dtype:
        raise InputError(f"array dtype {a.dtype} does not fit encoding {encoding!r} (expected {np.dtype(dtype)})")
    height, width = a.shape[:2]
    itemsize = np.dtype(dtype).itemsize
    row_bytes = width * channels * itemsize
    step = row_bytes if step is None else int(step)
    if step < row_bytes or step % itemsize:
        raise InputError(f"step {step} invalid for {encoding} {width}x{height} (row is {row_bytes} bytes)")
    order = ">" if (is_bigendian and itemsize > 1) else "<"
    rows = np.ascontiguousarray(a.astype(np.dtype(dtype).newbyteorder(order))).view(np.uint8).reshape(height, row_bytes)
    if step > row_bytes:
        rows = np.concatenate([rows, np.zeros((height, step - row_bytes), np.uint8)], axis=1)
    return ImagePayload(height, width, encoding, bool(is_bigendian and itemsize > 1), step, rows.tobytes())


def to_rgb8(array: np.ndarray, encoding: str) -> np.ndarray:
    """Decoded image in ``encoding`` -> uint8 (H, W, 3) RGB (the core's image convention).

    16-bit mono keeps its top 8 bits (value >> 8); alpha is dropped.
    """
    encoding_info(encoding)
    a = np.asarray(array)
    if encoding == "rgb8":
        return a
    if encoding in ("bgr8", "8UC3"):
        return np.ascontiguousarray(a[:, :, ::-1])
    if encoding == "rgba8":
        return np.ascontiguousarray(a[:, :, :3])
    if encoding == "bgra8":
        return np.ascontiguousarray(a[:, :, 2::-1])
    if encoding in ("mono16", "16UC1"):
        a = (a >> 8).astype(np.uint8)
    return np.repeat(a[:, :, None], 3, axis=2)  # mono8 / 8UC1 / 16-bit: (H, W) -> (H, W, 3)


def from_rgb8(rgb: np.ndarray, encoding: str) -> np.ndarray:
    """uint8 (H, W, 3) RGB -> array in ``encoding`` (mono uses ITU-R 601 luma; alpha = 255)."""
    encoding_info(encoding)
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise InputError(f"expected uint8 (H, W, 3) RGB, got {a.dtype} {a.shape}")
    if encoding == "rgb8":
        return a
    if encoding in ("bgr8", "8UC3"):
        return np.ascontiguousarray(a[:, :, ::-1])
    alpha = np.full(a.shape[:2] + (1,), 255, np.uint8)
    if encoding == "rgba8":
        return np.concatenate([a, alpha], axis=2)
    if encoding == "bgra8":
        return np.concatenate([a[:, :, ::-1], alpha], axis=2)
    luma = np.round(a.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))  # (H, W)
    if encoding in ("mono16", "16UC1"):
        return (luma.astype(np.uint16) * 257).astype(np.uint16)
    return np.clip(luma, 0, 255).astype(np.uint8)


# --- CompressedImage ------------------------------------------------------------------

_PIL_MODES = {"L": "mono8", "RGB": "rgb8", "RGBA": "rgba8", "I;16": "mono16"}


def decode_compressed(data: bytes | bytearray | memoryview, format: str = "") -> tuple[np.ndarray, str]:
    """CompressedImage payload (PNG / JPEG / anything Pillow reads) -> (array, encoding).

    ``format`` (e.g. "jpeg", "png", "rgb8; jpeg compressed bgr8") is advisory: the codec is
    detected from the bytes. Returns rgb8 (H, W, 3), rgba8, mono8 (H, W) or mono16 arrays.
    """
    from PIL import Image, UnidentifiedImageError

    raw = bytes(data)
    if not raw:
        raise InputError(f"CompressedImage (format {format!r}) has no data")
    try:
        with Image.open(io.BytesIO(raw)) as im:
            im.load()
            mode = im.mode
            if mode in ("I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.uint16) if mode != "I" else np.clip(np.asarray(im), 0, 65535).astype(np.uint16)
                return arr, "mono16"
            if mode not in _PIL_MODES:
                im = im.convert("RGBA" if "A" in mode or "transparency" in im.info else "RGB")
                mode = im.mode
            return np.asarray(im).copy(), _PIL_MODES[mode]
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        head = raw[:8].hex(" ")
        raise InputError(f"CompressedImage (format {format!r}, {len(raw)} bytes starting {head}) is not a "
                         f"decodable image: {exc}") from None


def encode_compressed(array: np.ndarray, encoding: str = "rgb8", fmt: str = "png", quality: int = 90) -> tuple[bytes, str]:
    """Array in ``encoding`` -> (bytes, CompressedImage.format string such as "rgb8; png compressed bgr8")."""
    from PIL import Image

    fmt = fmt.lower()
    if fmt not in ("png", "jpeg", "jpg"):
        raise InputError(f"unsupported compressed format {fmt!r}; expected 'png' or 'jpeg'")
    fmt = "jpeg" if fmt == "jpg" else fmt
    a = np.asarray(array)
    if encoding in ("mono16", "16UC1"):
        if fmt == "jpeg":
            raise InputError("jpeg cannot hold 16-bit mono; use png")
        im = Image.fromarray(np.ascontiguousarray(a, dtype=np.uint16))  # mode I;16 from the dtype
    elif encoding in ("mono8", "8UC1"):
        im = Image.fromarray(np.ascontiguousarray(a, dtype=np.uint8))  # mode L
    elif encoding in ("rgba8", "bgra8") and fmt == "png":
        im = Image.fromarray(a if encoding == "rgba8" else np.ascontiguousarray(a[:, :, [2, 1, 0, 3]]))  # RGBA
    else:
        im = Image.fromarray(to_rgb8(a, encoding))  # RGB
    out = io.BytesIO()
    im.save(out, format=fmt.upper(), **({"quality": int(quality)} if fmt == "jpeg" else {}))
    return out.getvalue(), f"{encoding}; {fmt} compressed {encoding}"
