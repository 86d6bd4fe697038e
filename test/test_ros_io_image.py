"""Image conversions: ROS messages <-> numpy in-process, and across processes via image_probe_node."""
import numpy as np
import pytest

from ros_helpers import NodeProcess, Probe, error_statuses
from tristream_ros.errors import InputError
from tristream_ros.signal.image_codec import ENCODINGS, to_rgb8


def sample(encoding: str, h: int = 6, w: int = 9, seed: int = 1) -> np.ndarray:
    dtype, c = ENCODINGS[encoding]
    rng = np.random.default_rng(seed)
    return rng.integers(0, np.iinfo(dtype).max, size=(h, w) if c == 1 else (h, w, c), dtype=dtype)


@pytest.mark.parametrize("encoding", list(ENCODINGS))
@pytest.mark.parametrize("pad,bigendian", [(0, False), (4, False), (2, True)])
def test_image_msg_roundtrip(encoding, pad, bigendian):
    from rclpy.serialization import deserialize_message, serialize_message
    from sensor_msgs.msg import Image

    from tristream_ros.ros.conversions import image_to_numpy, image_to_rgb8, numpy_to_image

    a = sample(encoding)
    dtype, c = ENCODINGS[encoding]
    msg = numpy_to_image(a, encoding, step=a.shape[1] * c * np.dtype(dtype).itemsize + pad, is_bigendian=bigendian)
    msg = deserialize_message(serialize_message(msg), Image)  # through CDR, like DDS
    np.testing.assert_array_equal(image_to_numpy(msg), a)
    np.testing.assert_array_equal(image_to_rgb8(msg), to_rgb8(a, encoding))


def test_compressed_msg_roundtrip():
    from tristream_ros.ros.conversions import compressed_to_numpy, numpy_to_compressed

    a = sample("bgr8")
    msg = numpy_to_compressed(a, "bgr8", "png")
    out, enc = compressed_to_numpy(msg)
    assert enc == "rgb8" and msg.format == "bgr8; png compressed bgr8"
    np.testing.assert_array_equal(out, a[:, :, ::-1])


def test_bad_image_msgs_raise():
    from sensor_msgs.msg import CompressedImage, Image

    from tristream_ros.ros.conversions import compressed_to_rgb8, image_to_rgb8

    short = Image(height=4, width=4, encoding="rgb8", step=12)
    short.data = bytes(40)
    with pytest.raises(InputError, match="40 bytes"):
        image_to_rgb8(short)
    unknown = Image(height=1, width=1, encoding="yuv422", step=2)
    unknown.data = bytes(2)
    with pytest.raises(InputError, match="yuv422"):
        image_to_rgb8(unknown)
    junk = CompressedImage(format="jpeg")
    junk.data = b"not a jpeg at all"
    with pytest.raises(InputError, match="not a decodable image"):
        compressed_to_rgb8(junk)


@pytest.fixture
def probe():
    p = Probe("image_test_probe")
    yield p
    p.close()


def test_every_encoding_across_processes_and_bad_input(probe):
    """Publish each encoding (padded, big-endian 16-bit) + bad images to image_probe_node in
    another process; it returns rgb8; bad ones give an ERROR diagnostic and the node goes on."""
    from sensor_msgs.msg import CompressedImage, Image

    from tristream_ros.ros.conversions import numpy_to_compressed, numpy_to_image

    out = probe.subscribe(Image, "camera/image_rgb")
    probe.subscribe_diagnostics()
    pub = probe.publisher(Image, "camera/image")
    cpub = probe.publisher(CompressedImage, "camera/image/compressed")
    # output depth above the 11 images sent: the probe spins only while it waits, and a reliable
    # keep-last(10) writer may overwrite the first image before a loaded test process acks it
    with NodeProcess("tristream_ros.ros.image_probe_node",
                     ros_args=["-p", "qos.camera:=reliable", "-p", "qos.camera_depth:=50",
                               "-p", "qos.output_depth:=50"]) as node:
        assert probe.wait_for_subscribers(pub, 1, 15) and probe.wait_for_subscribers(cpub, 1, 15), node.output
        assert probe.wait_until(lambda: probe.node.count_subscribers("camera/image_rgb") == 1
                                and len(probe.node.get_publishers_info_by_topic("/camera/image_rgb")) == 1, 10)
        expected = {}
        sent = 0

        def send(msg, rgb):
            nonlocal sent
            msg.header.frame_id = f"f{sent}"
            expected[msg.header.frame_id] = rgb
            (cpub if isinstance(msg, CompressedImage) else pub).publish(msg)
            sent += 1

        for i, enc in enumerate(ENCODINGS):
            a = sample(enc, seed=i)
            itemsize = np.dtype(ENCODINGS[enc][0]).itemsize
            send(numpy_to_image(a, enc, step=a.shape[1] * ENCODINGS[enc][1] * itemsize + 2 * itemsize,
                                is_bigendian=itemsize == 2), to_rgb8(a, enc))
        short = Image(height=4, width=4, encoding="rgb8", step=12)
        short.data, short.header.frame_id = bytes(40), "bad_short"
        unknown = Image(height=2, width=2, encoding="yuv422", step=4)
        unknown.data, unknown.header.frame_id = bytes(8), "bad_encoding"
        junk = CompressedImage(format="jpeg")
        junk.data, junk.header.frame_id = b"definitely not a jpeg", "bad_jpeg"
        pub.publish(short)
        pub.publish(unknown)
        cpub.publish(junk)
        good = sample("rgb8", seed=99)
        send(numpy_to_image(good, "rgb8"), good)  # after the bad ones: still processed
        send(numpy_to_compressed(good, "rgb8", "png"), good)

        assert probe.wait_until(lambda: len(out) >= sent, 15), (len(out), sent, node.output)
        got = {m.header.frame_id: m for m in out}
        assert set(got) == set(expected)
        for fid, rgb in expected.items():
            m = got[fid]
            assert m.encoding == "rgb8" and (m.height, m.width) == rgb.shape[:2]
            np.testing.assert_array_equal(np.frombuffer(bytes(m.data), np.uint8).reshape(rgb.shape), rgb, err_msg=fid)

        def errors_seen():
            return " | ".join(s.message for s in error_statuses(probe.diagnostics(), "image_probe_node"))

        assert probe.wait_until(lambda: all(k in errors_seen() for k in ("bad_short", "bad_encoding", "bad_jpeg"))
                                or all(k in node.output for k in ("bad_short", "bad_encoding", "bad_jpeg")), 10)
        assert probe.wait_until(lambda: any(kv.key == "bad_images" and kv.value == "3"
                                            for s in probe.diagnostics() for kv in s.values), 5)
        log = node.output
        assert "40 bytes, fewer than step*height = 12*4 = 48" in log
        assert "unsupported image encoding 'yuv422'" in log
        assert "not a decodable image" in log
        assert node.alive()
        rc = node.stop()
        assert rc == 0, node.output
