"""Audio sinks: the speaker edge behind a small interface (no ROS).

``AudioSink``: ``open(sample_rate)`` -> ``write(samples)`` with float32 mono (N,) in [-1, 1]
-> ``close()``. Sinks write 16-bit PCM.

- ``PyAudioSink``: a PortAudio output device (pyaudio).
- ``WavFileSink``: a 16-bit mono WAV file; the header is patched after every write, so the
  file is valid even if the process is killed.
"""
from __future__ import annotations

import abc
import wave
from pathlib import Path

import numpy as np

from tristream_ros.errors import DeviceError, InputError
from tristream_ros.inputs.microphone import _pyaudio, find_device
from tristream_ros.signal.audio_format import encode_pcm, validate_format


class AudioSink(abc.ABC):
    sample_rate: int = 0  # Hz, set by open()

    @abc.abstractmethod
    def open(self, sample_rate: int) -> None: ...

    @abc.abstractmethod
    def write(self, samples: np.ndarray) -> None:
        """Play/store float32 mono (N,) at ``sample_rate``."""

    @abc.abstractmethod
    def close(self) -> None: ...

    @property
    def is_open(self) -> bool:
        return self.sample_rate > 0

    @staticmethod
    def _check(samples: np.ndarray) -> np.ndarray:
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim != 1:
            raise InputError(f"audio sink expects mono (N,) samples, got shape {x.shape}")
        return x


class PyAudioSink(AudioSink):
    """Blocking playback on a PortAudio device; ``open`` raises DeviceError when none exists."""

    def __init__(self, device: str = "", frames_per_buffer: int = 1024):
        self.device, self.frames_per_buffer = device, frames_per_buffer
        self._pa = self._stream = None
        self.sample_rate = 0

    def open(self, sample_rate: int) -> None:
        validate_format(sample_rate, 1, "S16LE")
        pyaudio = _pyaudio()
        pa = pyaudio.PyAudio()
        try:
            index = find_device(pa, self.device, want_input=False)
            self._stream = pa.open(format=pyaudio.paInt16, channels=1, rate=int(sample_rate), output=True,
                                   output_device_index=index, frames_per_buffer=self.frames_per_buffer)
        except DeviceError:
            pa.terminate()
            raise
        except Exception as exc:
            pa.terminate()
            raise DeviceError(f"cannot open audio output device {self.device or 'default'!r} at "
                              f"{sample_rate} Hz: {exc}") from None
        self._pa, self.sample_rate = pa, int(sample_rate)

    def write(self, samples: np.ndarray) -> None:
        if self._stream is None:
            raise DeviceError("PyAudioSink.write() before open()")
        self._stream.write(encode_pcm(self._check(samples), "S16LE"))

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop_stream()
            self._stream.close()
        if self._pa is not None:
            self._pa.terminate()
        self._pa = self._stream = None
        self.sample_rate = 0


class WavFileSink(AudioSink):
    """16-bit mono WAV file, rewritten from the start on each ``open``."""

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self._wav: wave.Wave_write | None = None
        self.sample_rate = 0
        self.frames_written = 0

    def open(self, sample_rate: int) -> None:
        validate_format(sample_rate, 1, "S16LE")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        wav = wave.open(str(self.path), "wb")
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(int(sample_rate))
        self._wav, self.sample_rate, self.frames_written = wav, int(sample_rate), 0

    def write(self, samples: np.ndarray) -> None:
        if self._wav is None:
            raise InputError("WavFileSink.write() before open()")
        x = self._check(samples)
        self._wav.writeframes(encode_pcm(x, "S16LE"))  # also patches the header
        self._wav._file.flush()  # so readers in other processes see complete frames
        self.frames_written += x.size

    def close(self) -> None:
        if self._wav is not None:
            self._wav.close()
        self._wav, self.sample_rate = None, 0


def pyaudio_output_available() -> bool:
    """True when PortAudio sees at least one output device."""
    try:
        pa = _pyaudio().PyAudio()
    except Exception:
        return False
    try:
        find_device(pa, "", want_input=False)
        return True
    except DeviceError:
        return False
    finally:
        pa.terminate()
