"""Raw PCM bytes <-> float32 samples, channel handling and resampling (pure numpy).

The core works on float32 mono in [-1, 1] at ``SAMPLE_RATE`` (16 kHz). On the wire
(``tristream_ros/AudioChunk``, WAV files, pyaudio buffers) audio is interleaved
little-endian PCM in one of ``SAMPLE_FORMATS``.

Shapes: ``decode_pcm`` returns (N, C) float32 (N frames, C channels); the core takes (N,).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from math import gcd

import numpy as np

from tristream_ros.errors import InputError

SAMPLE_RATE = 16000  # Hz, the rate every core component expects
MAX_SAMPLE_RATE = 384000  # Hz, anything above is treated as a corrupt header
MAX_CHANNELS = 32

# name -> (numpy dtype of one sample on the wire, bytes per sample)
SAMPLE_FORMATS: dict[str, tuple[str, int]] = {
    "S16LE": ("<i2", 2),
    "S32LE": ("<i4", 4),
    "F32LE": ("<f4", 4),
    "U8": ("u1", 1),
}
WAV_WIDTH_FORMATS: dict[int, str] = {1: "U8", 2: "S16LE", 4: "S32LE"}  # PCM WAV bytes per sample -> format (8-bit is unsigned)


@dataclass(frozen=True)
class AudioFormat:
    """How a PCM byte stream is laid out. Validated on construction."""

    sample_rate: int = SAMPLE_RATE  # Hz per channel
    channels: int = 1
    sample_format: str = "S16LE"

    def __post_init__(self) -> None:
        validate_format(self.sample_rate, self.channels, self.sample_format)

    @property
    def bytes_per_frame(self) -> int:
        """Bytes of one frame (one sample of every channel)."""
        return self.channels * bytes_per_sample(self.sample_format)


def bytes_per_sample(sample_format: str) -> int:
    return _lookup(sample_format)[1]


def _lookup(sample_format: str) -> tuple[str, int]:
    try:
        return SAMPLE_FORMATS[str(sample_format).upper()]
    except KeyError:
        raise InputError(
            f"unsupported sample_format {sample_format!r}; expected one of {', '.join(SAMPLE_FORMATS)}"
        ) from None


def validate_format(sample_rate: int, channels: int, sample_format: str) -> None:
    """Raise InputError naming the bad value if this is not a layout we can decode."""
    _lookup(sample_format)
    if not isinstance(sample_rate, (int, np.integer)) or not 0 < int(sample_rate) <= MAX_SAMPLE_RATE:
        raise InputError(f"invalid sample_rate {sample_rate!r} Hz; expected an integer in 1..{MAX_SAMPLE_RATE}")
    if not isinstance(channels, (int, np.integer)) or not 0 < int(channels) <= MAX_CHANNELS:
        raise InputError(f"invalid channels {channels!r}; expected an integer in 1..{MAX_CHANNELS}")


def decode_pcm(data: bytes | bytearray | memoryview | np.ndarray, sample_format: str, channels: int = 1) -> np.ndarray:
    """Interleaved PCM bytes -> float32 (N, C) in [-1, 1].

    Raises InputError if the byte count is not a whole number of frames.
    """
    dtype, width = _lookup(sample_format)
    if not isinstance(channels, (int, np.integer)) or not 0 < int(channels) <= MAX_CHANNELS:
        raise InputError(f"invalid channels {channels!r}; expected an integer in 1..{MAX_CHANNELS}")
    raw = np.asarray(data, dtype=np.uint8).tobytes() if isinstance(data, (np.ndarray, list)) else bytes(data)
    frame = width * int(channels)
    if len(raw) % frame:
        raise InputError(
            f"audio payload of {len(raw)} bytes is not a whole number of frames "
            f"({channels} channel(s) x {width} bytes for {sample_format})"
        )
    x = np.frombuffer(raw, dtype=dtype)
    fmt = sample_format.upper()
    if fmt == "S16LE":
        y = x.astype(np.float32) / 32768.0
    elif fmt == "S32LE":
        y = (x.astype(np.float64) / 2147483648.0).astype(np.float32)
    elif fmt == "U8":
        y = (x.astype(np.float32) - 128.0) / 128.0
    else:  # F32LE
        y = x.astype(np.float32)
        if not np.all(np.isfinite(y)):
            raise InputError("F32LE audio payload contains NaN or Inf samples")
    return y.reshape(-1, int(channels))  # (N, C)


def encode_pcm(samples: np.ndarray, sample_format: str = "S16LE") -> bytes:
    """float32 (N,) or (N, C) in [-1, 1] -> interleaved little-endian PCM bytes (clipped)."""
    dtype, _ = _lookup(sample_format)
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim not in (1, 2):
        raise InputError(f"audio samples must have shape (N,) or (N, C), got {x.shape}")
    x = np.nan_to_num(x)
    fmt = sample_format.upper()
    # integer formats scale by 2^(bits-1), the inverse of decode_pcm, so decode->encode is exact
    if fmt == "S16LE":
        y = np.clip(np.round(x * 32768.0), -32768, 32767).astype(dtype)
    elif fmt == "S32LE":
        y = np.clip(np.round(x.astype(np.float64) * 2147483648.0), -2147483648, 2147483647).astype(dtype)
    elif fmt == "U8":
        y = np.clip(np.round(x * 128.0 + 128.0), 0, 255).astype(dtype)
    else:
        y = np.clip(x, -1.0, 1.0).astype(dtype)
    return y.tobytes()  # row-major (N, C) == interleaved


def to_mono(frames: np.ndarray) -> np.ndarray:
    """(N, C) -> (N,) by averaging channels; (N,) passes through."""
    x = np.asarray(frames, dtype=np.float32)
    if x.ndim == 1:
        return x
    if x.ndim != 2:
        raise InputError(f"audio frames must have shape (N,) or (N, C), got {x.shape}")
    return x.mean(axis=1, dtype=np.float32) if x.shape[1] > 1 else x[:, 0]


KAISER_BETA = 8.0  # window shape of the interpolation kernel (~80 dB stop band)


def _kernel(d: np.ndarray, cutoff: float, half: int) -> np.ndarray:
    """Kaiser-windowed sinc at distances ``d`` (input samples), zero beyond ``half``."""
    r = np.clip(d / half, -1.0, 1.0)
    window = np.i0(KAISER_BETA * np.sqrt(1.0 - r * r)) / np.i0(KAISER_BETA)
    return np.where(np.abs(d) < half, cutoff * np.sinc(cutoff * d) * window, 0.0)


@lru_cache(maxsize=16)
def _phase_table(up: int, down: int, cutoff: float, half: int) -> np.ndarray:
    """Kernel weights for every output phase: (up, 2*half) float32. Output j has phase
    (j*down) % up, i.e. sits (phase/up) input samples after input floor(j*down/up)."""
    frac = np.arange(up, dtype=np.float64)[:, None] / up  # (P, 1)
    k = np.arange(-half + 1, half + 1, dtype=np.float64)[None, :]  # (1, K)
    return _kernel(frac - k, cutoff, half).astype(np.float32)


def _interpolate(buf: np.ndarray, buf_start: int, first: int, n: int, up: int, down: int, cutoff: float,
                 half: int) -> np.ndarray:
    """Band-limited values of ``buf`` (starting at absolute input index ``buf_start``) at
    output indices first..first+n-1 (output j at input time j*down/up); outside = zero."""
    j = np.arange(first, first + n, dtype=np.int64)
    base = (j * down) // up  # (M,)
    table = _phase_table(up, down, cutoff, half)  # (P, K)
    w = table[(j * down) % up]  # (M, K)
    rel = base[:, None] + np.arange(-half + 1, half + 1, dtype=np.int64)[None, :] - buf_start  # (M, K)
    if buf.size == 0:
        return np.zeros(n, dtype=np.float32)
    valid = (rel >= 0) & (rel < buf.size)
    xs = np.where(valid, buf[np.clip(rel, 0, buf.size - 1)], np.float32(0.0))
    return np.einsum("mk,mk->m", xs, w).astype(np.float32)


def resample(x: np.ndarray, src_rate: int, dst_rate: int = SAMPLE_RATE, taps_per_side: int = 16) -> np.ndarray:
    """Band-limited resampling of mono float32 (N,) -> (round(N * dst / src),).

    Windowed-sinc interpolation; the cut-off follows the lower of the two Nyquist rates, so
    downsampling does not alias. Each call is independent: the edges see zero padding
    (use ``StreamResampler`` for a seamless stream of chunks).
    """
    validate_format(src_rate, 1, "F32LE")
    validate_format(dst_rate, 1, "F32LE")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1:
        raise InputError(f"resample expects mono (N,) samples, got shape {x.shape}")
    if src_rate == dst_rate or x.size == 0:
        return x.copy()
    g = gcd(int(src_rate), int(dst_rate))
    up, down = int(dst_rate) // g, int(src_rate) // g
    cutoff = min(1.0, up / down)  # fraction of the input Nyquist band kept
    half = int(np.ceil(taps_per_side / cutoff))  # kernel half-width in input samples
    n_out = int(round(x.size * up / down))
    return _interpolate(x, 0, 0, n_out, up, down, cutoff, half)


class StreamResampler:
    """Resamples a stream chunk by chunk with no seams by keeping input history.

    Feed (N,) float32 chunks at ``src_rate``; the outputs concatenate to what ``resample`` gives
    for the whole stream, minus the last ``taps_per_side`` input samples' worth (latency).
    """

    def __init__(self, src_rate: int, dst_rate: int = SAMPLE_RATE, taps_per_side: int = 16):
        validate_format(src_rate, 1, "F32LE")
        validate_format(dst_rate, 1, "F32LE")
        self.src_rate, self.dst_rate = int(src_rate), int(dst_rate)
        g = gcd(self.src_rate, self.dst_rate)
        self._up, self._down = self.dst_rate // g, self.src_rate // g
        self._cutoff = min(1.0, self._up / self._down)
        self._half = int(np.ceil(taps_per_side / self._cutoff))
        self._buf = np.zeros(0, dtype=np.float32)  # input still needed, incl. history
        self._buf_start = 0  # absolute input index of _buf[0]
        self._next_out = 0  # absolute index of the next output sample

    def process(self, chunk: np.ndarray) -> np.ndarray:
        chunk = np.asarray(chunk, dtype=np.float32).reshape(-1)
        if self.src_rate == self.dst_rate:
            return chunk.copy()
        self._buf = np.concatenate([self._buf, chunk])
        end_in = self._buf_start + self._buf.size  # one past the last input index
        # output j sits at input time t = j*down/up and needs inputs up to floor(t) + half
        last_ready = ((end_in - self._half) * self._up - 1) // self._down
        n = last_ready - self._next_out + 1
        if n <= 0:
            return np.zeros(0, dtype=np.float32)
        out = _interpolate(self._buf, self._buf_start, self._next_out, n, self._up, self._down, self._cutoff,
                           self._half)
        self._next_out += n
        keep_from = (self._next_out * self._down) // self._up - self._half  # oldest input still used
        drop = max(0, keep_from - self._buf_start)
        self._buf, self._buf_start = self._buf[drop:], self._buf_start + drop
        return out


def pcm_to_core(data: bytes, fmt: AudioFormat, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Wire PCM -> the core's float32 mono (N,) at ``target_rate``."""
    mono = to_mono(decode_pcm(data, fmt.sample_format, fmt.channels))
    return resample(mono, fmt.sample_rate, target_rate) if fmt.sample_rate != target_rate else mono


def duration_s(num_bytes: int, fmt: AudioFormat) -> float:
    """Seconds of audio in ``num_bytes`` of PCM laid out as ``fmt``."""
    return num_bytes / fmt.bytes_per_frame / fmt.sample_rate
