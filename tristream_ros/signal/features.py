"""Log-mel features, computed in batch or incrementally (Whisper-style front end).

Framing: a 25 ms Hann window (``N_FFT = 400`` samples) every 10 ms (``HOP_LENGTH = 160``),
power spectrum, a Slaney mel filterbank (librosa's default, which Whisper uses), ``log10``.
Frame ``t`` is centred on sample ``t * HOP_LENGTH``: the signal is preceded by
``N_FFT // 2`` zeros, so frame ``t`` covers samples ``[t*160 - 200, t*160 + 200)``.

Whisper normalises by the maximum over its 30 s window, which a stream does not know yet.
Here the normalisation is fixed: ``(max(log10(mel), LOG_FLOOR) + 4) / 4``, so a frame's value
never depends on audio that comes after it. That is what makes ``IncrementalLogMel`` give
exactly the frames of ``log_mel_spectrogram`` whatever the chunking.

    feats = log_mel_spectrogram(pcm)            # (T, n_mels), complete frames only
    stream = IncrementalLogMel()
    for chunk in chunks:
        new = stream.accept(chunk)               # (t, n_mels), frames completed by this chunk
    tail = stream.finish()                       # frames needing the zero-padded end
"""
from __future__ import annotations

import numpy as np
import torch

from tristream_ros.errors import InputError

SAMPLE_RATE = 16000  # Hz
N_FFT = 400  # samples: a 25 ms window at 16 kHz
HOP_LENGTH = 160  # samples: 10 ms between frames (100 frames per second)
N_MELS = 80  # mel bands (Whisper-large-v3 uses 128)
LOG_FLOOR = -8.0  # log10 power floor (1e-8), fixed instead of Whisper's "max - 8"


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    """Slaney mel scale: linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, mels)


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Slaney-normalised triangular filters, (n_mels, n_fft // 2 + 1) float32 (as librosa.filters.mel)."""
    if n_mels < 1 or n_fft < 2:
        raise InputError(f"mel_filterbank needs n_mels >= 1 and n_fft >= 2, got n_mels={n_mels}, n_fft={n_fft}")
    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_pts = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2), n_mels + 2))
    fdiff = np.diff(mel_pts)
    ramps = mel_pts[:, None] - fft_freqs[None, :]  # (n_mels + 2, n_freq)
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_pts[2 : n_mels + 2] - mel_pts[:n_mels])
    return (weights * enorm[:, None]).astype(np.float32)


def validate_pcm(pcm, sample_rate: int = SAMPLE_RATE, *, allow_empty: bool = False, what: str = "audio") -> np.ndarray:
    """Check core audio (float mono at 16 kHz, finite) and return it as a 1-D float32 array.

    Raises InputError naming the problem: wrong sample rate, integer samples, more than one
    channel, NaN/Inf values, zero length (unless ``allow_empty``).
    """
    if sample_rate != SAMPLE_RATE:
        raise InputError(
            f"{what}: sample rate {sample_rate} Hz is not supported; core audio is {SAMPLE_RATE} Hz mono float32 "
            "(resample with tristream_ros.signal.audio_format.resample first)"
        )
    if hasattr(pcm, "detach"):  # a torch tensor
        pcm = pcm.detach().cpu().numpy()
    arr = np.asarray(pcm)
    if arr.dtype.kind not in "f":
        raise InputError(
            f"{what}: samples must be float32 in [-1, 1], got dtype {arr.dtype} "
            "(decode integer PCM with tristream_ros.signal.audio_format.decode_pcm)"
        )
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise InputError(f"{what}: expected mono samples of shape (N,), got shape {tuple(arr.shape)}")
    if arr.size == 0 and not allow_empty:
        raise InputError(f"{what}: zero-length audio (0 samples)")
    arr = arr.astype(np.float32, copy=False)
    if arr.size and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        first = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InputError(f"{what}: {bad} non-finite samples (NaN/Inf), first at index {first}")
    return arr


class LogMel:
    """The per-frame maths shared by the batch and incremental paths."""

    def __init__(self, n_mels: int = N_MELS, n_fft: int = N_FFT, hop_length: int = HOP_LENGTH):
        if hop_length < 1 or hop_length > n_fft:
            raise InputError(f"hop_length must be in [1, n_fft={n_fft}], got {hop_length}")
        self.n_mels, self.n_fft, self.hop_length = n_mels, n_fft, hop_length
        self.window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann, as torch.hann_window
        self.filters = mel_filterbank(n_mels, n_fft)  # (n_mels, n_freq)
        # torch does the FFT and the filterbank product: it obeys torch.set_num_threads, where
        # numpy's BLAS spun its own threads and took 2-30 ms for a (50, 201) x (201, 80) product
        # on a busy 2-core machine.
        self._window_t = torch.from_numpy(self.window)
        self._filters_t = torch.from_numpy(np.ascontiguousarray(self.filters.T))  # (n_freq, n_mels)

    def frames(self, padded: np.ndarray, n_frames: int) -> np.ndarray:
        """Log-mel of ``n_frames`` frames taken from ``padded`` every hop: (n_frames, n_mels) float32."""
        if n_frames <= 0:
            return np.zeros((0, self.n_mels), dtype=np.float32)
        windows = np.lib.stride_tricks.sliding_window_view(padded, self.n_fft)[:: self.hop_length][:n_frames]
        w = torch.from_numpy(np.array(windows, dtype=np.float32))  # (T, n_fft), a writable copy
        spec = torch.fft.rfft(w * self._window_t, dim=-1)  # (T, n_freq)
        power = spec.real.square() + spec.imag.square()
        mel = power @ self._filters_t  # (T, n_mels)
        logmel = torch.clamp(torch.log10(torch.clamp(mel, min=1e-10)), min=LOG_FLOOR)
        return ((logmel + 4.0) / 4.0).numpy()


def num_frames(n_samples: int, hop_length: int = HOP_LENGTH, *, pad_end: bool = True) -> int:
    """Frames for ``n_samples``: with ``pad_end`` one per hop started (ceil), else only complete ones."""
    if pad_end:
        return -(-n_samples // hop_length)
    half = N_FFT // 2
    return max(0, (n_samples + half - N_FFT) // hop_length + 1)


def log_mel_spectrogram(
    pcm, n_mels: int = N_MELS, *, pad_end: bool = True, sample_rate: int = SAMPLE_RATE
) -> np.ndarray:
    """Batch log-mel of a whole signal: (T, n_mels) float32.

    With ``pad_end`` (default) the signal is followed by zeros so every hop gets a frame
    (``T = ceil(N / 160)``), matching ``IncrementalLogMel.accept(...)`` + ``finish()``;
    without it only frames whose window is complete are returned (what ``accept`` alone gives).
    """
    x = validate_pcm(pcm, sample_rate, allow_empty=True)
    lm = _cached_logmel(n_mels)
    half = N_FFT // 2
    n = num_frames(x.size, pad_end=pad_end)
    padded = np.concatenate([np.zeros(half, np.float32), x, np.zeros(half + HOP_LENGTH if pad_end else 0, np.float32)])
    return lm.frames(padded, n)


_LOGMEL_CACHE: dict[int, LogMel] = {}


def _cached_logmel(n_mels: int) -> LogMel:
    if n_mels not in _LOGMEL_CACHE:
        _LOGMEL_CACHE[n_mels] = LogMel(n_mels)
    return _LOGMEL_CACHE[n_mels]


class IncrementalLogMel:
    """Streaming log-mel: feed chunks of any size, get the frames they complete.

    Concatenating every ``accept`` result and ``finish()`` equals ``log_mel_spectrogram`` of the
    whole signal. Memory is bounded: only the last ``N_FFT`` samples are kept.
    """

    def __init__(self, n_mels: int = N_MELS):
        self._lm = _cached_logmel(n_mels)
        self.n_mels = n_mels
        self.reset()

    def reset(self) -> None:
        half = N_FFT // 2
        self._buf = np.zeros(half, np.float32)  # left zero padding, then unconsumed samples
        self._samples_seen = 0
        self._frames_out = 0

    @property
    def frames_emitted(self) -> int:
        return self._frames_out

    @property
    def samples_seen(self) -> int:
        return self._samples_seen

    def accept(self, pcm, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """Add samples; return the newly completed frames, (t, n_mels) float32 (t may be 0)."""
        x = validate_pcm(pcm, sample_rate, allow_empty=True)
        self._samples_seen += x.size
        buf = np.concatenate([self._buf, x])
        n = 0 if buf.size < N_FFT else (buf.size - N_FFT) // HOP_LENGTH + 1
        out = self._lm.frames(buf, n)
        self._buf = buf[n * HOP_LENGTH :]
        self._frames_out += n
        return out

    def finish(self) -> np.ndarray:
        """Zero-pad the end and return the remaining frames (one per started hop); then reset."""
        total = num_frames(self._samples_seen)
        n = total - self._frames_out
        buf = np.concatenate([self._buf, np.zeros(N_FFT + HOP_LENGTH, np.float32)])
        out = self._lm.frames(buf, n)
        self.reset()
        return out
