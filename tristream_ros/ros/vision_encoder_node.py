"""vision_encoder_node: camera frames -> sparse STVE tokens (tristream_ros/VisionTokens).

Subscribes ``camera/image`` (sensor_msgs/Image, any encoding the codec knows) and
``camera/image/compressed`` (sensor_msgs/CompressedImage) with sensor-data QoS, runs the
Sparse Temporal Vision Encoder (tile cache + temporal pooling + learned token selection) and
publishes ``vision/tokens`` with the frame's header (stamp and frame_id copied).

Never builds a backlog: the callback only stores the newest frame in a one-slot mailbox; a
worker thread encodes it when the previous encoding is done and at most ``max_rate_hz`` times
per second. A frame replaced in the mailbox before it was encoded is counted as ``dropped``;
a frame whose stamp is not newer than the last encoded one, or older than ``max_age_s``
(when > 0), is counted as ``stale`` and skipped. Malformed frames are counted (``bad_frames``),
reported on /diagnostics and skipped; the node keeps running. A raw frame whose layout
(encoding, size, step, data length) is invalid is caught on arrival, so it is counted even while the worker
is busy and never displaces a good frame waiting in the mailbox.

Parameters (config/tristream.yaml, ``vision_encoder_node``):
  model.path          checkpoint folder (only its ``vision.*`` tensors are loaded)
  runtime.backend     torch | onnx (the tile backbone in ONNX Runtime, from ``tristream export``)
  runtime.onnx_path   folder with runtime.json ('' = <model.path>/onnx)
  runtime.threads     torch intra-op threads (1: leave the other core to speech and fusion)
  max_rate_hz         most VisionTokens per second (0 = as fast as frames come and encode)
  max_age_s           skip frames older than this versus the node clock (0 = off; bags replayed
                      with their recorded stamps would otherwise all be stale)
  dense               publish all grid tokens instead of the sparse selection (for comparison)
  qos.camera / qos.output
"""
from __future__ import annotations

import sys
import threading
import time

import numpy as np
import torch
from rclpy.node import Node
from sensor_msgs.msg import CompressedImage, Image

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.msg import VisionTokens as VisionTokensMsg
from tristream_ros.ros.conversions import compressed_to_rgb8, image_to_rgb8, stamp_to_ns
from tristream_ros.ros.diagnostics import Diagnostics
from tristream_ros.ros.model_files import DEFAULT_MODEL_PATH, load_vision_encoder, resolve_model_path
from tristream_ros.ros.node_runtime import param, run_node
from tristream_ros.ros.qos import declare_qos
from tristream_ros.signal.image_codec import check_image_layout

IMAGE_TOPIC = "camera/image"
COMPRESSED_TOPIC = "camera/image/compressed"
TOKENS_TOPIC = "vision/tokens"
BACKENDS = ("torch", "onnx")


class TorchVisionBackend:
    """STVE in PyTorch: ``encode(rgb uint8 (H, W, 3)) -> VisionTokens`` (core dataclass)."""

    name = "torch"

    def __init__(self, folder, dense: bool = False):
        self.encoder, self.config = load_vision_encoder(folder)
        self.dense = dense

    def encode(self, rgb: np.ndarray):
        return self.encoder.encode(rgb, dense=self.dense)


class OnnxVisionBackend(TorchVisionBackend):
    """STVE with its MobileViT tile backbone in ONNX Runtime (tristream_ros.runtime): the tile
    cache, temporal pooling and the small importance scorer stay in PyTorch."""

    name = "onnx"

    def __init__(self, folder, onnx_folder, dense: bool = False, threads: int = 1):
        super().__init__(folder, dense)
        try:
            from tristream_ros.runtime.inference import OnnxInference
        except ImportError as exc:
            raise InputError(f"runtime.backend 'onnx' needs tristream_ros.runtime and onnxruntime ({exc}); "
                             "use runtime.backend: torch") from None
        self.runtime = OnnxInference(onnx_folder, threads=threads or None, parts=("vision",))

        def encode_tiles(tiles: torch.Tensor) -> torch.Tensor:  # (n, 3, t, t) 0..255 -> (n, D, g, g)
            return torch.from_numpy(self.runtime.encode_tiles(tiles.detach().cpu().numpy()))

        self.encoder.encode_tiles = encode_tiles


def build_backend(name: str, folder, dense: bool, onnx_folder: str = "", threads: int = 1):
    if name == "torch":
        return TorchVisionBackend(folder, dense)
    if name == "onnx":
        return OnnxVisionBackend(folder, resolve_model_path(onnx_folder) if onnx_folder else folder / "onnx", dense,
                                 threads)
    raise InputError(f"unknown runtime.backend {name!r}; expected one of {BACKENDS}")


def tokens_to_msg(tokens, header) -> VisionTokensMsg:
    """Core VisionTokens -> message with the source frame's header."""
    msg = VisionTokensMsg()
    msg.header = header
    msg.source_stamp = header.stamp
    h, w = tokens.grid_hw
    feats = torch.as_tensor(tokens.features).detach().float().cpu().numpy()  # (N, D)
    msg.grid_height, msg.grid_width = int(h), int(w)
    msg.feature_dim = int(feats.shape[1]) if feats.ndim == 2 else 0
    msg.rows = torch.as_tensor(tokens.rows).cpu().numpy().astype(np.uint16).tolist()
    msg.cols = torch.as_tensor(tokens.cols).cpu().numpy().astype(np.uint16).tolist()
    msg.importance = torch.as_tensor(tokens.importance).float().cpu().numpy().tolist()
    msg.features = feats.reshape(-1).tolist()
    msg.keep_ratio = float(tokens.keep_ratio)
    msg.tiles_reencoded = int(tokens.tiles_reencoded)
    msg.tiles_total = int(tokens.tiles_total)
    return msg


class VisionEncoderNode(Node):
    def __init__(self):
        super().__init__("vision_encoder_node")
        model_path = param(self, "model.path", DEFAULT_MODEL_PATH, "checkpoint folder")
        backend = param(self, "runtime.backend", "torch", "torch | onnx")
        threads = int(param(self, "runtime.threads", 1, "torch / onnxruntime intra-op threads"))
        onnx_folder = str(param(self, "runtime.onnx_path", "", "exported runtime folder ('' = <model.path>/onnx)"))
        self.max_rate_hz = float(param(self, "max_rate_hz", 5.0, "most VisionTokens per second (0 = unlimited)"))
        self.max_age_s = float(param(self, "max_age_s", 0.0, "skip frames older than this (0 = off)"))
        dense = bool(param(self, "dense", False, "all grid tokens instead of the sparse selection"))
        camera_qos = declare_qos(self, "camera", "sensor_data")
        out_qos = declare_qos(self, "output", "reliable")
        if self.max_rate_hz < 0 or self.max_age_s < 0:
            raise InputError(f"vision_encoder_node: max_rate_hz={self.max_rate_hz} and max_age_s={self.max_age_s} "
                             "must be >= 0")
        if threads > 0:
            torch.set_num_threads(threads)
        folder = resolve_model_path(model_path)
        self.backend = build_backend(str(backend), folder, dense, onnx_folder, threads)
        self.diag = Diagnostics(self, "vision encoder", hardware_id=f"{backend}:{folder.name}")
        for key in ("frames_in", "frames_encoded", "dropped", "stale", "bad_frames"):
            self.diag.count(key, 0)
        self.pub = self.create_publisher(VisionTokensMsg, TOKENS_TOPIC, out_qos)
        self._slot = None  # newest (kind, msg, receive_monotonic) not yet encoded
        self._cv = threading.Condition()
        self._stop = threading.Event()
        self._last_stamp_ns = -1
        self._last_publish = -1e9
        self.create_subscription(Image, IMAGE_TOPIC, lambda m: self._offer("raw", m), camera_qos)
        self.create_subscription(CompressedImage, COMPRESSED_TOPIC, lambda m: self._offer("compressed", m),
                                 camera_qos)
        self._worker = threading.Thread(target=self._loop, name="stve", daemon=True)
        self._worker.start()
        self.diag.ok("waiting for frames")
        self.get_logger().info(f"STVE ({backend}) from {folder}; <= {self.max_rate_hz:g} Hz on {TOKENS_TOPIC}")

    # -- callbacks: no maths, only the mailbox ------------------------------------------------
    def _offer(self, kind: str, msg) -> None:
        self.diag.count("frames_in")
        if kind == "raw":  # layout checked on arrival: counted even when the worker is busy, and a
            try:           # malformed frame never pushes a good one out of the mailbox
                check_image_layout(msg.height, msg.width, msg.encoding, msg.step, len(msg.data))
            except InputError as exc:
                self.diag.error(f"bad raw camera frame (stamp {stamp_to_ns(msg.header.stamp)}): {exc}",
                                key="bad_frames")
                return
        with self._cv:
            if self._slot is not None:
                self.diag.count("dropped")  # superseded before it was encoded
            self._slot = (kind, msg, time.monotonic())
            self._cv.notify()

    # -- worker ---------------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            if self.max_rate_hz > 0:  # rate limit: wait, letting newer frames replace the slot
                wait = self._last_publish + 1.0 / self.max_rate_hz - time.monotonic()
                if wait > 0 and self._stop.wait(wait):
                    return
            with self._cv:
                while self._slot is None and not self._stop.is_set():
                    self._cv.wait(0.2)
                if self._stop.is_set():
                    return
                kind, msg, _ = self._slot
                self._slot = None
            self._encode(kind, msg)

    def _encode(self, kind: str, msg) -> None:
        stamp_ns = stamp_to_ns(msg.header.stamp)
        if stamp_ns <= self._last_stamp_ns:
            self.diag.drop(f"stale frame: stamp {stamp_ns} not newer than the last encoded {self._last_stamp_ns}")
            self.diag.count("stale")
            return
        if self.max_age_s > 0:
            age = (self.get_clock().now().nanoseconds - stamp_ns) / 1e9
            if age > self.max_age_s:
                self.diag.drop(f"stale frame: {age:.3f} s old > max_age_s {self.max_age_s:g}")
                self.diag.count("stale")
                return
        t0 = time.perf_counter()
        try:
            rgb = image_to_rgb8(msg) if kind == "raw" else compressed_to_rgb8(msg)
            tokens = self.backend.encode(rgb)
        except (InputError, ModelFileError, ValueError, TypeError, RuntimeError) as exc:
            self.diag.error(f"bad {kind} camera frame (stamp {stamp_ns}): {exc}", key="bad_frames")
            return
        encode_ms = 1000.0 * (time.perf_counter() - t0)
        out = tokens_to_msg(tokens, msg.header)
        try:
            self.pub.publish(out)
        except Exception:  # shutting down
            return
        self._last_stamp_ns = stamp_ns
        self._last_publish = time.monotonic()
        self.diag.count("frames_encoded")
        self.diag.counters["encode_ms"] = round(encode_ms, 2)
        self.diag.counters["tokens"] = int(len(out.rows))
        self.diag.counters["tiles_reencoded"] = int(out.tiles_reencoded)
        self.diag.ok("encoding")

    def close(self) -> None:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        self._worker.join(timeout=2.0)


def check_vision_msg(msg: VisionTokensMsg) -> None:
    """InputError naming the problem when a VisionTokens message's arrays disagree with its
    declared sizes or place tokens outside its grid (cheap: lengths and index bounds only, so a
    receiver can check every message on arrival and still convert lazily)."""
    n, d = len(msg.rows), int(msg.feature_dim)
    if len(msg.cols) != n or len(msg.importance) != n or len(msg.features) != n * d:
        raise InputError(f"VisionTokens message sizes disagree: rows {n}, cols {len(msg.cols)}, importance "
                         f"{len(msg.importance)}, features {len(msg.features)} (expected {n} x {d})")
    gh, gw = int(msg.grid_height), int(msg.grid_width)
    if n and (min(msg.rows) < 0 or min(msg.cols) < 0 or max(msg.rows) >= gh or max(msg.cols) >= gw):
        raise InputError(f"VisionTokens positions outside the {gh}x{gw} grid")


def msg_to_tokens(msg: VisionTokensMsg):
    """tristream_ros/VisionTokens -> core VisionTokens (for the fusion model); InputError when
    the arrays disagree with the declared sizes (check_vision_msg)."""
    from tristream_ros.model.vision.stve import VisionTokens

    check_vision_msg(msg)
    n, d = len(msg.rows), int(msg.feature_dim)
    feats = torch.as_tensor(np.asarray(msg.features, dtype=np.float32).reshape(n, d))  # (N, D)
    gh, gw = int(msg.grid_height), int(msg.grid_width)
    rows = torch.as_tensor(np.asarray(msg.rows, dtype=np.int64))
    cols = torch.as_tensor(np.asarray(msg.cols, dtype=np.int64))
    return VisionTokens(features=feats, rows=rows, cols=cols,
                        importance=torch.as_tensor(np.asarray(msg.importance, dtype=np.float32)),
                        grid_hw=(gh, gw), keep_ratio=float(msg.keep_ratio), tiles_reencoded=int(msg.tiles_reencoded),
                        tiles_total=int(msg.tiles_total), dense_tokens=gh * gw)


def main(argv: list[str] | None = None) -> int:
    return run_node(VisionEncoderNode, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
