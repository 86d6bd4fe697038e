"""speaker_node: tristream_ros/AudioChunk on ``audio/output`` -> an AudioSink.

Parameters (config/tristream.yaml, ``speaker_node``):
  sink               "auto" (pyaudio if an output device exists, else WAV) | "pyaudio" | "wav"
  audio.device       "" default | index | name substring
  audio.sample_rate  Hz of the sink; 0 = the first chunk's rate (later chunks are resampled)
  wav.path           WAV file written by the WAV sink
  qos.audio          QoS preset of the subscription (reliable: synthesized speech is a result);
                     qos.audio_depth 0 = 100 chunks (ros/qos.py AUDIO_DEPTH)
A chunk with a bad format (unknown sample_format, sample_rate 0, odd byte count) is logged,
counted and reported on /diagnostics; the next good chunk plays.
"""
from __future__ import annotations

import sys

from rclpy.node import Node

from tristream_ros.errors import DeviceError, InputError
from tristream_ros.msg import AudioChunk
from tristream_ros.outputs.speaker import AudioSink, PyAudioSink, WavFileSink, pyaudio_output_available
from tristream_ros.ros.conversions import audio_chunk_to_numpy
from tristream_ros.ros.diagnostics import Diagnostics
from tristream_ros.ros.node_runtime import param, run_node
from tristream_ros.ros.qos import AUDIO_DEPTH, declare_qos
from tristream_ros.signal.audio_format import StreamResampler, to_mono

TOPIC = "audio/output"
DEFAULT_WAV_PATH = "~/.cache/tristream/speaker_out.wav"  # not the current directory


class SpeakerNode(Node):
    def __init__(self):
        super().__init__("speaker_node")
        sink = param(self, "sink", "auto", "auto | pyaudio | wav")
        device = param(self, "audio.device", "", "'' default | index | name substring", dynamic_typing=True)
        self.sink_rate = int(param(self, "audio.sample_rate", 0, "Hz; 0 = the first chunk's rate"))
        wav_path = param(self, "wav.path", DEFAULT_WAV_PATH, "file written when there is no sound device")
        qos = declare_qos(self, "audio", "reliable", AUDIO_DEPTH)
        if self.sink_rate < 0:
            raise InputError(f"speaker_node: audio.sample_rate must be >= 0, got {self.sink_rate}")
        if sink == "auto":
            sink = "pyaudio" if pyaudio_output_available() else "wav"
        if sink == "pyaudio":
            self.sink: AudioSink = PyAudioSink(str(device))
        elif sink == "wav":
            self.sink = WavFileSink(wav_path)
        else:
            raise InputError(f"speaker_node: unknown sink {sink!r}; expected 'auto', 'pyaudio' or 'wav'")
        self.diag = Diagnostics(self, "audio output", hardware_id=f"{sink}:{device or wav_path}")
        self._resamplers: dict[int, StreamResampler] = {}
        self._last_sequence: int | None = None
        self.sub = self.create_subscription(AudioChunk, TOPIC, self.on_chunk, qos)
        self.get_logger().info(f"speaker sink: {sink} ({wav_path if sink == 'wav' else device or 'default'})")

    def on_chunk(self, msg: AudioChunk) -> None:
        self.diag.count("chunks_in")
        try:
            frames, fmt = audio_chunk_to_numpy(msg)  # (N, C) float32
        except InputError as exc:
            self.diag.error(f"dropping audio chunk seq {msg.sequence}: {exc}", key="bad_chunks")
            return
        if self._last_sequence is not None and msg.sequence > self._last_sequence + 1:
            self.diag.drop(n=msg.sequence - self._last_sequence - 1)
        self._last_sequence = msg.sequence
        mono = to_mono(frames)  # (N,)
        try:
            if not self.sink.is_open:
                self.sink.open(self.sink_rate or fmt.sample_rate)
            if fmt.sample_rate != self.sink.sample_rate:
                rs = self._resamplers.setdefault(fmt.sample_rate, StreamResampler(fmt.sample_rate, self.sink.sample_rate))
                mono = rs.process(mono)
            self.sink.write(mono)
        except (DeviceError, InputError, OSError) as exc:
            self.diag.error(f"audio sink failed: {exc}", key="sink_errors")
            return
        self.diag.count("chunks_played")
        self.diag.ok("playing")

    def close(self) -> None:
        self.sink.close()


def main(argv: list[str] | None = None) -> int:
    return run_node(SpeakerNode, argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
