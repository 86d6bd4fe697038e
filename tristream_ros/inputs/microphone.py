"""Audio sources: the microphone edge behind a small interface (no ROS).

``AudioSource``: ``connect()`` -> ``read()`` (blocks until one chunk of interleaved PCM bytes
is available, ``None`` at end of stream) -> ``disconnect()``. ``format`` describes the bytes.

- ``PyAudioSource``: a real capture device through PortAudio (pyaudio).
- ``WavFileSource``: a WAV file paced in real time (or as fast as read), for tests, CI and
  offline runs on machines without a sound card.
"""
from __future__ import annotations

import abc
import time
import wave
from dataclasses import dataclass
from pathlib import Path

from tristream_ros.errors import DeviceError, InputError
from tristream_ros.signal.audio_format import WAV_WIDTH_FORMATS, AudioFormat, validate_format

DEFAULT_CHUNK_FRAMES = 320  # frames per chunk: 20 ms at 16 kHz


class AudioSource(abc.ABC):
    """Chunked PCM capture. Subclasses set ``self.format`` (AudioFormat) once connected."""

    format: AudioFormat
    chunk_frames: int

    @abc.abstractmethod
    def connect(self) -> None: ...

    @abc.abstractmethod
    def read(self) -> bytes | None:
        """The next chunk (``chunk_frames`` frames; the last one may be shorter), None at end."""

    @abc.abstractmethod
    def disconnect(self) -> None: ...

    @property
    def is_connected(self) -> bool:
        return getattr(self, "_connected", False)

    def __enter__(self) -> "AudioSource":
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.disconnect()


# --- pyaudio ---------------------------------------------------------------------------

_PA_FORMATS = {"S16LE": "paInt16", "S32LE": "paInt32", "F32LE": "paFloat32", "U8": "paUInt8"}


def _pyaudio():
    try:
        import pyaudio
    except ImportError as exc:  # pragma: no cover - pyaudio is a pinned dependency
        raise DeviceError(f"pyaudio is not importable ({exc}); install portaudio19-dev and pyaudio") from None
    return pyaudio


def find_device(pa, device: str | int | None, want_input: bool) -> int | None:
    """Device index from "" / None (default device), an index, or a name substring.

    Raises DeviceError naming the request and listing what exists.
    """
    key = "maxInputChannels" if want_input else "maxOutputChannels"
    kind = "input" if want_input else "output"
    count = pa.get_device_count()
    devices = [pa.get_device_info_by_index(i) for i in range(count)]
    usable = [d for d in devices if d.get(key, 0) > 0]
    if not usable:
        raise DeviceError(f"no audio {kind} device found (PortAudio sees {count} device(s), none with {kind} "
                          f"channels); use the WAV file {'source' if want_input else 'sink'} instead")
    listing = ", ".join(f"{d['index']}: {d['name']!r}" for d in usable)
    if device in (None, "", -1):
        return None  # PortAudio's default device
    if isinstance(device, int) or str(device).isdigit():
        idx = int(device)
        if any(d["index"] == idx for d in usable):
            return idx
        raise DeviceError(f"audio {kind} device index {idx} does not exist or has no {kind} channels; have {listing}")
    matches = [d for d in usable if str(device).lower() in d["name"].lower()]
    if not matches:
        raise DeviceError(f"no audio {kind} device named like {device!r}; have {listing}")
    return int(matches[0]["index"])


@dataclass(frozen=True)
class PyAudioSourceConfig:
    device: str = ""  # "" = default device, "3" = index 3, "USB" = first name containing "USB"
    sample_rate: int = 16000  # Hz
    channels: int = 1
    sample_format: str = "S16LE"
    chunk_frames: int = DEFAULT_CHUNK_FRAMES

    def __post_init__(self) -> None:
        validate_format(self.sample_rate, self.channels, self.sample_format)
        if self.chunk_frames <= 0:
            raise InputError(f"chunk_frames must be > 0, got {self.chunk_frames}")


class PyAudioSource(AudioSource):
    """Capture from a PortAudio device. ``connect`` raises DeviceError when none exists."""

    def __init__(self, config: PyAudioSourceConfig = PyAudioSourceConfig()):
        self.config = config
        self.format = AudioFormat(config.sample_rate, config.channels, config.sample_format)
        self.chunk_frames = config.chunk_frames
        self._pa = self._stream = None
        self._connected = False

    def connect(self) -> None:
        pyaudio = _pyaudio()
        pa = pyaudio.PyAudio()
        try:
            index = find_device(pa, self.config.device, want_input=True)
            self._stream = pa.open(format=getattr(pyaudio, _PA_FORMATS[self.format.sample_format]),
                                   channels=self.format.channels, rate=self.format.sample_rate, input=True,
                                   input_device_index=index, frames_per_buffer=self.chunk_frames)
        except DeviceError:
            pa.terminate()
            raise
        except Exception as exc:  # PortAudio errors (unsupported rate, busy device, ...)
            pa.terminate()
            raise DeviceError(f"cannot open audio input device {self.config.device or 'default'!r} at "
                              f"{self.format.sample_rate} Hz x {self.format.channels} ch "
                              f"{self.format.sample_format}: {exc}") from None
        self._pa, self._connected = pa, True

    def read(self) -> bytes | None:
        if not self._connected:
            raise DeviceError("PyAudioSource.read() before connect()")
        return self._stream.read(self.chunk_frames, exception_on_overflow=False)

    def disconnect(self) -> None:
        if self._stream is not None:
            self._stream.stop_stream()
            self._stream.close()
        if self._pa is not None:
            self._pa.terminate()
        self._pa = self._stream = None
        self._connected = False


# --- WAV file ------------------------------------------------------------------------



class WavFileSource(AudioSource):
    """Chunks of a PCM WAV file. ``realtime`` paces ``read`` like a live microphone."""

    def __init__(self, path: str | Path, chunk_frames: int = DEFAULT_CHUNK_FRAMES, loop: bool = False,
                 realtime: bool = True):
        if chunk_frames <= 0:
            raise InputError(f"chunk_frames must be > 0, got {chunk_frames}")
        self.path = Path(path)
        self.chunk_frames, self.loop, self.realtime = int(chunk_frames), loop, realtime
        self._wav: wave.Wave_read | None = None
        self._connected = False
        self._t0 = 0.0  # monotonic time of the first read
        self._frames_out = 0  # frames handed out so far (for pacing)

    def connect(self) -> None:
        if not self.path.is_file():
            raise InputError(f"WAV file {str(self.path)!r} does not exist")
        try:
            wav = wave.open(str(self.path), "rb")
        except (wave.Error, EOFError) as exc:
            raise InputError(f"{str(self.path)!r} is not a PCM WAV file: {exc}") from None
        width = wav.getsampwidth()
        if width not in WAV_WIDTH_FORMATS:
            wav.close()
            raise InputError(f"WAV file {str(self.path)!r} has {8 * width}-bit samples; expected 8, 16 or 32")
        self.format = AudioFormat(wav.getframerate(), wav.getnchannels(), WAV_WIDTH_FORMATS[width])
        self._wav, self._connected = wav, True
        self._t0, self._frames_out = 0.0, 0

    def read(self) -> bytes | None:
        if not self._connected or self._wav is None:
            raise InputError("WavFileSource.read() before connect()")
        data = self._wav.readframes(self.chunk_frames)
        if not data and self.loop:
            self._wav.rewind()
            data = self._wav.readframes(self.chunk_frames)
        if not data:
            return None
        if self.realtime:
            if self._frames_out == 0:
                self._t0 = time.monotonic()
            due = self._t0 + self._frames_out / self.format.sample_rate  # capture end of the previous chunk
            frames = len(data) // self.format.bytes_per_frame
            due += frames / self.format.sample_rate  # a mic delivers a chunk once it is complete
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._frames_out += frames
        return data

    def disconnect(self) -> None:
        if self._wav is not None:
            self._wav.close()
        self._wav, self._connected = None, False
