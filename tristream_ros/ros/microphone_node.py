"""microphone_node: an AudioSource -> tristream_ros/AudioChunk on ``audio/input``.

Parameters (all in config/tristream.yaml under ``microphone_node``):
  source              "pyaudio" (a sound card) | "wav" (a WAV file, for tests / offline runs)
  audio.device        "" default device | "3" index | "USB" name substring
  audio.sample_rate   Hz (16000)          audio.channels      1
  audio.sample_format S16LE|S32LE|F32LE|U8  audio.chunk_frames  frames per message (320 = 20 ms)
  wav.path, wav.loop, wav.realtime       the WAV source
  frame_id            header.frame_id     retry_s  seconds between device reconnects
  wait_for_subscribers  start once this many subscribers matched (file sources in tests)
  qos.audio           QoS preset of the publisher (reliable: matches every subscriber);
                      qos.audio_depth 0 = 100 chunks (ros/qos.py AUDIO_DEPTH)
With no sound device the node stays up, logs a clear error, publishes an ERROR diagnostic
and retries every ``retry_s``.
"""
from __future__ import annotations

import sys
import threading
import time

from rclpy.node import Node

from tristream_ros.errors import DeviceError, InputError
from tristream_ros.inputs.microphone import AudioSource, PyAudioSource, PyAudioSourceConfig, WavFileSource
from tristream_ros.msg import AudioChunk
from tristream_ros.ros.conversions import ns_to_stamp, pcm_chunk
from tristream_ros.ros.diagnostics import Diagnostics
from tristream_ros.ros.node_runtime import param, run_node
from tristream_ros.ros.qos import AUDIO_DEPTH, declare_qos

TOPIC = "audio/input"


class MicrophoneNode(Node):
    def __init__(self):
        super().__init__("microphone_node")
        source = param(self, "source", "pyaudio", "pyaudio | wav")
        device = param(self, "audio.device", "", "'' default | index | name substring", dynamic_typing=True)
        rate = param(self, "audio.sample_rate", 16000, "Hz")
        channels = param(self, "audio.channels", 1)
        sample_format = param(self, "audio.sample_format", "S16LE")
        chunk_frames = param(self, "audio.chunk_frames", 320, "frames per message")
        wav_path = param(self, "wav.path", "")
        wav_loop = param(self, "wav.loop", False)
        wav_realtime = param(self, "wav.realtime", True)
        self.frame_id = param(self, "frame_id", "microphone")
        self.retry_s = float(param(self, "retry_s", 5.0, "seconds between device reconnect attempts"))
        self.wait_for_subscribers = int(param(self, "wait_for_subscribers", 0,
                                              "start capturing once this many subscribers matched"))
        qos = declare_qos(self, "audio", "reliable", AUDIO_DEPTH)

        if source == "pyaudio":
            self.source: AudioSource = PyAudioSource(PyAudioSourceConfig(
                str(device), int(rate), int(channels), str(sample_format), int(chunk_frames)))
        elif source == "wav":
            if not wav_path:
                raise InputError("microphone_node: source is 'wav' but wav.path is empty")
            self.source = WavFileSource(wav_path, int(chunk_frames), bool(wav_loop), bool(wav_realtime))
        else:
            raise InputError(f"microphone_node: unknown source {source!r}; expected 'pyaudio' or 'wav'")
        self.source_name = source
        self.pub = self.create_publisher(AudioChunk, TOPIC, qos)
        self.diag = Diagnostics(self, "audio input", hardware_id=f"{source}:{device or wav_path or 'default'}")
        self._stop = threading.Event()
        self._sequence = 0
        self._thread = threading.Thread(target=self._capture_loop, name="capture", daemon=True)
        self._thread.start()

    def _connect(self) -> bool:
        try:
            self.source.connect()
        except (DeviceError, InputError) as exc:
            self.diag.error(f"microphone: {exc} (retrying in {self.retry_s:g} s)", key="device_errors")
            return False
        fmt = self.source.format
        self.get_logger().info(f"capturing {fmt.sample_rate} Hz x {fmt.channels} ch {fmt.sample_format}, "
                               f"{self.source.chunk_frames} frames per chunk from {self.source_name}")
        self.diag.ok("capturing")
        return True

    def _capture_loop(self) -> None:
        while self.pub.get_subscription_count() < self.wait_for_subscribers and not self._stop.is_set():
            self._stop.wait(0.05)
        while not self._stop.is_set():
            if not self.source.is_connected and not self._connect():
                self._stop.wait(self.retry_s)
                continue
            try:
                data = self.source.read()
            except Exception as exc:  # device unplugged, overflow, ...
                self.diag.error(f"microphone read failed: {exc}", key="device_errors")
                self.source.disconnect()
                continue
            if data is None:
                self.get_logger().info(f"end of audio stream after {self._sequence} chunks")
                self.diag.ok(f"end of stream after {self._sequence} chunks")
                self.source.disconnect()
                return
            fmt = self.source.format
            now_ns = self.get_clock().now().nanoseconds
            first_sample_ns = now_ns - int(1e9 * len(data) / fmt.bytes_per_frame / fmt.sample_rate)
            msg = pcm_chunk(data, fmt, sequence=self._sequence)
            msg.header.stamp = ns_to_stamp(first_sample_ns)  # capture time of the first sample
            msg.header.frame_id = self.frame_id
            try:
                self.pub.publish(msg)
            except Exception:  # shutting down
                return
            self._sequence += 1
            self.diag.count("chunks_out")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        if self.source.is_connected:
            self.source.disconnect()


def main(argv: list[str] | None = None) -> int:
    return run_node(MicrophoneNode, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
