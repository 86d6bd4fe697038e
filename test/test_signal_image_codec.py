"""Pure tests of tristream_ros.signal.image_codec (no ROS)."""
import io

import numpy as np
import pytest
from PIL import Image

from tristream_ros.errors import InputError
from tristream_ros.signal.image_codec import (ENCODINGS, decode_compressed, decode_image, encode_compressed,
                                              encode_image, from_rgb8, to_rgb8)


def sample(encoding: str, h: int = 6, w: int = 9, seed: int = 0) -> np.ndarray:
    dtype, c = ENCODINGS[encoding]
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max, size=(h, w) if c == 1 else (h, w, c), dtype=dtype)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("pad", [0, 6])
@pytest.mark.parametrize("bigendian", [False, True])
def test_raw_roundtrip_every_encoding(encoding, pad, bigendian):
    a = sample(encoding)
    dtype, c = ENCODINGS[encoding]
    row = a.shape[1] * c * np.dtype(dtype).itemsize
    p = encode_image(a, encoding, is_bigendian=bigendian, step=row + pad)
    assert p.step == row + pad and len(p.data) == p.step * p.height
    b = decode_image(p.height, p.width, p.encoding, p.step, p.data, p.is_bigendian)
    assert b.dtype == dtype and b.shape == a.shape
    np.testing.assert_array_equal(a, b)


def test_bigendian_mono16_byte_order():
    a = np.array([[0x0102, 0xA0B0]], np.uint16)
    assert encode_image(a, "mono16", is_bigendian=True).data == bytes([1, 2, 0xA0, 0xB0])
    assert encode_image(a, "mono16").data == bytes([2, 1, 0xB0, 0xA0])
    np.testing.assert_array_equal(decode_image(1, 2, "16UC1", 4, bytes([1, 2, 0xA0, 0xB0]), True), a)


def test_rows_padding_is_ignored():
    data = bytes([1, 2, 3, 99, 4, 5, 6, 99])  # 1x... mono8 3 px wide, step 4
    np.testing.assert_array_equal(decode_image(2, 3, "mono8", 4, data), [[1, 2, 3], [4, 5, 6]])


def test_to_rgb8_channel_orders():
    rgb = sample("rgb8")
    np.testing.assert_array_equal(to_rgb8(rgb[:, :, ::-1], "bgr8"), rgb)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 7, np.uint8)], axis=2)
    np.testing.assert_array_equal(to_rgb8(rgba, "rgba8"), rgb)
    np.testing.assert_array_equal(to_rgb8(rgba[:, :, [2, 1, 0, 3]], "bgra8"), rgb)
    mono16 = np.array([[0x1234, 0xFF00]], np.uint16)
    np.testing.assert_array_equal(to_rgb8(mono16, "mono16")[0, :, 0], [0x12, 0xFF])
    for enc in ENCODINGS:
        out = to_rgb8(from_rgb8(rgb, enc), enc)
        assert out.shape == rgb.shape and out.dtype == np.uint8
        if ENCODINGS[enc][1] >= 3:
            np.testing.assert_array_equal(out, rgb)


@pytest.mark.parametrize("kwargs,needle", [
    (dict(height=4, width=4, encoding="rgb8", step=12, data=bytes(47)), "47 bytes, fewer than step\\*height = 12\\*4 = 48"),
    (dict(height=4, width=4, encoding="yuv422", step=8, data=bytes(32)), "unsupported image encoding 'yuv422'"),
    (dict(height=4, width=4, encoding="rgb8", step=10, data=bytes(40)), "step 10 is smaller"),
    (dict(height=0, width=4, encoding="mono8", step=4, data=b""), "4x0"),
    (dict(height=2, width=2, encoding="mono16", step=5, data=bytes(10)), "not a multiple of 2"),
])
def test_bad_images_raise_naming_the_value(kwargs, needle):
    with pytest.raises(InputError, match=needle):
        decode_image(**kwargs)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_png_lossless_every_encoding(encoding):
    a = sample(encoding)
    data, fmt = encode_compressed(a, encoding, "png")
    assert fmt.startswith(f"{encoding}; png")
    b, enc = decode_compressed(data, fmt)
    np.testing.assert_array_equal(to_rgb8(b, enc), to_rgb8(a, encoding))
    if encoding in ("mono16", "16UC1"):
        np.testing.assert_array_equal(b, a)  # 16 bits survive PNG


def test_jpeg_close_and_detected_from_bytes():
    yy, xx = np.mgrid[0:64, 0:64]
    rgb = np.stack([xx * 4, yy * 4, (xx + yy) * 2], axis=2).astype(np.uint8)  # smooth gradient
    data, fmt = encode_compressed(rgb, "rgb8", "jpeg", quality=95)
    assert data[:2] == b"\xff\xd8"
    out, enc = decode_compressed(data, "png")  # a wrong format string does not matter
    assert enc == "rgb8" and np.abs(out.astype(int) - rgb).mean() < 2.0


def test_decode_compressed_pillow_file():
    buf = io.BytesIO()
    Image.new("RGB", (5, 3), (10, 20, 30)).save(buf, format="PNG")
    out, enc = decode_compressed(buf.getvalue(), "png")
    assert enc == "rgb8" and out.shape == (3, 5, 3) and tuple(out[0, 0]) == (10, 20, 30)


@pytest.mark.parametrize("data", [b"", b"this is not an image", b"\x89PNG\r\n\x1a\n" + bytes(20)])
def test_compressed_garbage_raises(data):
    with pytest.raises(InputError, match="CompressedImage"):
        decode_compressed(data, "jpeg")
