"""image_probe_node: camera images -> rgb8 ``camera/image_rgb`` (a conversion check / adapter).

Subscribes ``camera/image`` (sensor_msgs/Image, any supported encoding) and
``camera/image/compressed`` (sensor_msgs/CompressedImage), converts each to the core's
uint8 RGB and republishes it as an rgb8 Image with the input's header. Bad images (short
data, unknown encoding, undecodable compressed bytes) are logged and reported on
/diagnostics; the node keeps going.
"""
from __future__ import annotations

import sys

from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from tristream_ros.errors import InputError
from tristream_ros.ros.conversions import compressed_to_rgb8, image_to_rgb8, numpy_to_image
from tristream_ros.ros.diagnostics import Diagnostics
from tristream_ros.ros.node_runtime import run_node
from tristream_ros.ros.qos import declare_qos


class ImageProbeNode(Node):
    def __init__(self):
        super().__init__("image_probe_node")
        in_qos = declare_qos(self, "camera", "sensor_data")
        out_qos = declare_qos(self, "output", "reliable")
        self.diag = Diagnostics(self, "image conversion", hardware_id="camera")
        self.pub = self.create_publisher(Image, "camera/image_rgb", out_qos)
        self.create_subscription(Image, "camera/image", self.on_image, in_qos)
        self.create_subscription(CompressedImage, "camera/image/compressed", self.on_compressed, in_qos)

    def on_image(self, msg: Image) -> None:
        self._convert(msg, image_to_rgb8, f"Image {msg.encoding!r} {msg.width}x{msg.height}")

    def on_compressed(self, msg: CompressedImage) -> None:
        self._convert(msg, compressed_to_rgb8, f"CompressedImage {msg.format!r}")

    def _convert(self, msg, convert, what: str) -> None:
        self.diag.count("images_in")
        try:
            rgb = convert(msg)  # uint8 (H, W, 3)
        except InputError as exc:
            self.diag.error(f"dropping {what} (frame_id {msg.header.frame_id!r}): {exc}", key="bad_images")
            return
        self.pub.publish(numpy_to_image(rgb, "rgb8", header=msg.header))
        self.diag.count("images_out")
        self.diag.ok("converting")


def main(argv: list[str] | None = None) -> int:
    return run_node(ImageProbeNode, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
