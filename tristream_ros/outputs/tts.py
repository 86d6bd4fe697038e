"""Speech output: text -> float32 16 kHz audio, streamed sentence by sentence, interruptible.

- ``TTS``: the interface, ``synthesize(text) -> (N,) float32 in [-1, 1] at 16 kHz``.
- ``EspeakTTS``: the default backend; runs Debian's ``espeak-ng`` (voice, speed, pitch),
  reads its 22.05 kHz WAV from stdout and resamples to 16 kHz. Text goes in on stdin, so it is
  never parsed as command-line options.
- ``SentenceStreamer``: takes the answer's text deltas as they are generated and yields audio
  chunks as soon as a speakable piece is complete: the first piece at the first clause boundary
  (``,;:``) or after ``first_max_words`` words, later ones at sentence ends (``.!?``) or every
  ``max_words`` words. So the first audio waits for a few words, not for the whole answer.
  ``cancel()`` (barge-in, from any thread) stops it before the next chunk of ``chunk_ms``.

Other engines plug in behind ``TTS`` from a local path, e.g. a Piper ONNX voice
(``voice.onnx`` + ``voice.onnx.json``) run with onnxruntime, or units from the model's own
speech head through a vocoder: subclass ``TTS``, load the files in ``__init__`` (raise
``ModelFileError`` naming a missing file), return 16 kHz float32 from ``synthesize`` (resample
with ``resample_to_16k``), and ``register_tts_backend("name", factory)`` so configs can pick it
with ``build_tts("name", **params)``. None other than espeak-ng ships with this package.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import numpy as np

from tristream_ros.errors import InputError, ModelFileError

SAMPLE_RATE = 16000  # Hz, core audio rate
ESPEAK_RATE = 22050  # Hz, espeak-ng's output rate
SPEED_RANGE = (80, 450)  # espeak-ng words per minute
PITCH_RANGE = (0, 99)  # espeak-ng pitch


def resample_to_16k(x: np.ndarray, src_rate: int) -> np.ndarray:
    """Polyphase resampling to 16 kHz (float32)."""
    if src_rate == SAMPLE_RATE or x.size == 0:
        return x.astype(np.float32, copy=False)
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(SAMPLE_RATE, int(src_rate))
    return resample_poly(x, SAMPLE_RATE // g, int(src_rate) // g).astype(np.float32)


class TTS(ABC):
    """Text-to-speech backend: ``synthesize(text) -> (N,) float32 at 16 kHz``."""

    sample_rate = SAMPLE_RATE
    name = "tts"

    @abstractmethod
    def synthesize(self, text: str) -> np.ndarray: ...

    @staticmethod
    def _check_text(text) -> str:
        if not isinstance(text, str):
            raise InputError(f"TTS text must be str, got {type(text).__name__}")
        return text


def _parse_wav_stream(data: bytes) -> tuple[np.ndarray, int]:
    """espeak-ng's --stdout WAV (its size fields are placeholders when streaming) -> (int16 samples, rate)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ModelFileError(f"espeak-ng did not return a WAV stream (got {len(data)} bytes)")
    pos, rate = 12, ESPEAK_RATE
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if cid == b"fmt ":
            rate = int.from_bytes(data[pos + 12 : pos + 16], "little")
        if cid == b"data":
            body = data[pos + 8 :]
            body = body[: len(body) // 2 * 2]
            return np.frombuffer(body, dtype="<i2"), rate
        pos += 8 + size
    raise ModelFileError("espeak-ng WAV stream has no data chunk")


class EspeakTTS(TTS):
    """espeak-ng subprocess backend. voice: an espeak-ng voice (``en-us``, ``en-gb+f3``, ...);
    speed_wpm: 80..450 words per minute; pitch: 0..99; amplitude: 0..200."""

    name = "espeak"

    def __init__(self, voice: str = "en-us", speed_wpm: int = 175, pitch: int = 50, amplitude: int = 100,
                 binary: str = "espeak-ng", timeout_s: float = 20.0):
        if not SPEED_RANGE[0] <= speed_wpm <= SPEED_RANGE[1]:
            raise InputError(f"espeak speed_wpm={speed_wpm} outside {SPEED_RANGE[0]}..{SPEED_RANGE[1]}")
        if not PITCH_RANGE[0] <= pitch <= PITCH_RANGE[1]:
            raise InputError(f"espeak pitch={pitch} outside {PITCH_RANGE[0]}..{PITCH_RANGE[1]}")
        if not 0 <= amplitude <= 200:
            raise InputError(f"espeak amplitude={amplitude} outside 0..200")
        if not re.fullmatch(r"[A-Za-z0-9_\-+!/]+", voice or ""):
            raise InputError(f"espeak voice {voice!r} is not a voice name")
        path = shutil.which(binary)
        if path is None:
            raise ModelFileError(f"{binary!r} not found on PATH; install it (Debian: apt-get install espeak-ng)")
        self.binary, self.voice, self.speed_wpm, self.pitch, self.amplitude = path, voice, speed_wpm, pitch, amplitude
        self.timeout_s = timeout_s
        self.synthesize("ok")  # fail now, naming the voice, rather than mid-answer

    def synthesize(self, text: str) -> np.ndarray:
        text = self._check_text(text).strip()
        if not text:
            return np.zeros(0, np.float32)
        cmd = [self.binary, "-v", self.voice, "-s", str(self.speed_wpm), "-p", str(self.pitch),
               "-a", str(self.amplitude), "--stdout"]
        proc = subprocess.run(cmd, input=text.encode("utf-8"), capture_output=True, timeout=self.timeout_s)
        if proc.returncode != 0 or not proc.stdout:
            msg = proc.stderr.decode("utf-8", "replace").strip()
            raise InputError(f"espeak-ng failed for voice {self.voice!r} (exit {proc.returncode}): {msg}")
        pcm, rate = _parse_wav_stream(proc.stdout)
        return resample_to_16k(pcm.astype(np.float32) / 32768.0, rate)


TTS_BACKENDS: dict[str, Callable[..., TTS]] = {"espeak": EspeakTTS}


def register_tts_backend(name: str, factory: Callable[..., TTS]) -> None:
    TTS_BACKENDS[name] = factory


def build_tts(name: str = "espeak", **params) -> TTS:
    if name not in TTS_BACKENDS:
        raise InputError(f"unknown TTS backend {name!r}; available: {sorted(TTS_BACKENDS)}")
    return TTS_BACKENDS[name](**params)


# -- streaming -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AudioChunk:
    samples: np.ndarray  # (N,) float32 16 kHz, N <= chunk_ms worth
    text: str  # the text piece this audio speaks
    piece_index: int  # which text piece (0 = first)
    chunk_index: int  # running chunk number in this answer
    piece_done: bool  # last chunk of its piece
    synth_ms: float  # synthesis time of the piece (on its first chunk; 0 on the others)


_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(\s+|$)")
_CLAUSE_END = re.compile(r"[,;:]+(\s+)")


class SentenceStreamer:
    """Text deltas in, audio chunks out, one speakable piece at a time; ``cancel()`` for barge-in.

        streamer = SentenceStreamer(EspeakTTS())
        for delta in answer_text_stream:
            for chunk in streamer.push(delta):
                publish(chunk)
        for chunk in streamer.flush():
            publish(chunk)
    """

    def __init__(self, tts: TTS, chunk_ms: float = 200.0, first_max_words: int = 6, max_words: int = 16,
                 min_clause_words: int = 2):
        if chunk_ms <= 0:
            raise InputError(f"chunk_ms must be > 0, got {chunk_ms}")
        if first_max_words < 1 or max_words < 1:
            raise InputError(f"first_max_words and max_words must be >= 1, got {first_max_words}, {max_words}")
        self.tts = tts
        self.chunk_samples = max(1, int(round(chunk_ms * SAMPLE_RATE / 1000)))
        self.first_max_words = first_max_words
        self.max_words = max_words
        self.min_clause_words = min_clause_words
        self._cancel = threading.Event()
        self.reset()

    def reset(self) -> None:
        """Start a new answer (also clears a cancel)."""
        self._buf = ""
        self._pieces = 0
        self._chunks = 0
        self._cancel.clear()

    def cancel(self) -> None:
        """Barge-in: stop before the next chunk and drop text not spoken yet. Thread-safe."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def push(self, delta: str) -> Iterator[AudioChunk]:
        """Add text; yield the audio of every piece this completes."""
        if not isinstance(delta, str):
            raise InputError(f"text delta must be str, got {type(delta).__name__}")
        if self.cancelled:
            return
        self._buf += delta
        while not self.cancelled:
            piece = self._take_piece(final=False)
            if piece is None:
                break
            yield from self._speak(piece)

    def flush(self) -> Iterator[AudioChunk]:
        """End of the answer: speak whatever text is left."""
        while not self.cancelled:
            piece = self._take_piece(final=True)
            if piece is None:
                break
            yield from self._speak(piece)
        self._buf = ""

    def stream(self, deltas: Iterable[str]) -> Iterator[AudioChunk]:
        for d in deltas:
            yield from self.push(d)
            if self.cancelled:
                return
        yield from self.flush()

    def _take_piece(self, final: bool) -> str | None:
        buf = self._buf
        if not buf.strip():
            return None
        cut = None
        m = _SENTENCE_END.search(buf)
        if m is not None:
            cut = m.end()
        first = self._pieces == 0
        if cut is None and first:
            for c in _CLAUSE_END.finditer(buf):
                if len(buf[: c.start()].split()) >= self.min_clause_words:
                    cut = c.end()
                    break
        if cut is None:
            limit = self.first_max_words if first else self.max_words
            words = list(re.finditer(r"\S+(?=\s)", buf))  # complete words (followed by whitespace)
            if len(words) >= limit:
                cut = words[limit - 1].end()
        if cut is None and final:
            cut = len(buf)
        if cut is None:
            return None
        piece, self._buf = buf[:cut].strip(), buf[cut:]
        return piece if piece else self._take_piece(final)

    def _speak(self, piece: str) -> Iterator[AudioChunk]:
        t0 = time.perf_counter()
        audio = self.tts.synthesize(piece)
        synth_ms = 1000.0 * (time.perf_counter() - t0)
        index = self._pieces
        self._pieces += 1
        n = max(1, -(-audio.size // self.chunk_samples))
        for i in range(n):
            if self.cancelled:
                return
            seg = audio[i * self.chunk_samples : (i + 1) * self.chunk_samples]
            self._chunks += 1
            yield AudioChunk(seg, piece, index, self._chunks - 1, i == n - 1, synth_ms if i == 0 else 0.0)
