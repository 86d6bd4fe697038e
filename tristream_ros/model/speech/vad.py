"""Streaming voice activity detection with silero-vad (ONNX model shipped in its pip wheel).

The model scores 32 ms windows (512 samples at 16 kHz) with a recurrent state. On top of the
probabilities, ``StreamingVad`` runs a small state machine with hysteresis:

- speech **starts** once windows scoring >= ``threshold`` add up to ``min_speech_ms`` (with no
  gap of ``min_silence_ms`` between them); the start time is the first such window minus
  ``speech_pad_ms``;
- speech **ends** after ``min_silence_ms`` of windows scoring < ``threshold - 0.15``; the end
  time is where that silence began plus ``speech_pad_ms``. Windows between the two thresholds
  keep the current state.

``min_silence_ms`` is the end-of-utterance wait: it is spent after the user stops talking and
before anything can answer, so it is part of the latency budget. Silero's probability falls
30-60 ms after the last sound, so the end is decided about ``min_silence_ms + 60 ms`` (plus up
to one input chunk) after speech stops. Default 300 ms: espeak-ng voices at 125-175 words per
minute pause 200-250 ms inside sentences ("Go to the red ball, then stop."), and 200/250 ms
split some of them in two; the five real read-speech recordings were never split, even at 120 ms.

Events carry both the boundary (``time_s``, seconds from the stream start) and the stream
position at which it was decided (``detected_s``), so callers can measure detection delay.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.signal.features import SAMPLE_RATE, validate_pcm

WINDOW_SAMPLES = 512  # silero-vad window at 16 kHz (32 ms)
WINDOW_MS = 1000.0 * WINDOW_SAMPLES / SAMPLE_RATE  # 32 ms
CONTEXT_SAMPLES = 64  # silero-vad prepends the previous 64 samples to every window


@dataclass(frozen=True)
class VadConfig:
    """threshold: speech probability to enter speech; neg_threshold: below it counts as silence
    (default threshold - 0.15). min_speech_ms: speech needed to declare a start.
    min_silence_ms: silence needed to declare the end (the end-of-utterance wait).
    speech_pad_ms: added before the start and after the end of each segment.
    tentative_silence_ms: if set (< min_silence_ms), a "pause" event is raised after this much
        silence, before the end is certain, and a "resume" event if speech comes back first;
        consumers may start answering speculatively on "pause" (see SpeechTokenizer).
    incomplete_hold_ms: not used by the VAD itself: when its end comes while the front end's
        partial transcript is not yet a whole sentence of its grammar ("go to the ..."), the
        speech tokenizer holds the utterance open this much longer for the user to go on
        (a hesitation), instead of ending it there (0: never hold)."""

    threshold: float = 0.5
    neg_threshold: float | None = None
    min_speech_ms: float = 96.0
    min_silence_ms: float = 300.0
    speech_pad_ms: float = 64.0
    tentative_silence_ms: float | None = None
    incomplete_hold_ms: float = 700.0

    def __post_init__(self) -> None:
        if self.tentative_silence_ms is not None and not 0 < self.tentative_silence_ms < self.min_silence_ms:
            raise InputError(f"VadConfig.tentative_silence_ms must be in (0, min_silence_ms={self.min_silence_ms}), "
                             f"got {self.tentative_silence_ms}")
        if not 0.0 < self.threshold < 1.0:
            raise InputError(f"VadConfig.threshold must be in (0, 1), got {self.threshold}")
        if self.neg_threshold is not None and not 0.0 <= self.neg_threshold <= self.threshold:
            raise InputError(f"VadConfig.neg_threshold must be in [0, threshold={self.threshold}], got {self.neg_threshold}")
        for name in ("min_speech_ms", "min_silence_ms", "speech_pad_ms", "incomplete_hold_ms"):
            if not getattr(self, name) >= 0:  # NaN too
                raise InputError(f"VadConfig.{name} must be >= 0, got {getattr(self, name)}")

    @property
    def silence_threshold(self) -> float:
        return self.neg_threshold if self.neg_threshold is not None else max(self.threshold - 0.15, 0.01)


@dataclass(frozen=True)
class VadEvent:
    kind: str  # "start", "end"; with tentative_silence_ms also "pause" (maybe the end) and "resume"
    time_s: float  # the boundary, seconds since the stream started
    detected_s: float  # stream position (seconds) when the decision was made


class SileroVadModel:
    """silero-vad's ONNX model scoring one 512-sample window at a time (recurrent state)."""

    def __init__(self):
        try:
            from silero_vad import load_silero_vad
        except ImportError as exc:  # pragma: no cover - a broken install
            raise ModelFileError(f"silero-vad is not installed ({exc}); pip install silero-vad") from exc
        wrapper = load_silero_vad(onnx=True)  # ships in the wheel: no download
        self._session = wrapper.session
        self.reset()

    def reset(self) -> None:
        self._state = np.zeros((2, 1, 128), np.float32)
        self._context = np.zeros((1, CONTEXT_SAMPLES), np.float32)

    def __call__(self, window: np.ndarray) -> float:
        """window (512,) float32 -> speech probability."""
        x = np.concatenate([self._context, window[None, :]], axis=1)  # (1, 64 + 512)
        out, self._state = self._session.run(
            None, {"input": x, "state": self._state, "sr": np.array(SAMPLE_RATE, dtype=np.int64)})
        self._context = x[:, -CONTEXT_SAMPLES:]
        return float(out.reshape(-1)[0])


class StreamingVad:
    """Feed audio in any chunk sizes; get start/end events as they are decided."""

    def __init__(self, config: VadConfig | None = None, model: SileroVadModel | None = None):
        self.config = config or VadConfig()
        self.model = model or SileroVadModel()
        self.reset()

    def reset(self) -> None:
        self.model.reset()
        self._pending = np.zeros(0, np.float32)
        self._window_index = 0  # windows scored so far
        self.in_speech = False
        self._cand_start: int | None = None  # first speech window of an unconfirmed start
        self._cand_speech = 0  # speech windows since the candidate start
        self._last_speech = -1  # last window scored >= threshold
        self._silence_start: int | None = None  # first window of the current silence run
        self._paused = False  # a "pause" event was raised for the current silence run
        self.probabilities: list[float] = []  # kept for inspection (bounded below)

    @property
    def position_s(self) -> float:
        return self._window_index * WINDOW_SAMPLES / SAMPLE_RATE

    def accept(self, pcm, sample_rate: int = SAMPLE_RATE) -> list[VadEvent]:
        x = validate_pcm(pcm, sample_rate, allow_empty=True, what="VAD input")
        buf = np.concatenate([self._pending, x])
        n = buf.size // WINDOW_SAMPLES
        events: list[VadEvent] = []
        for i in range(n):
            p = self.model(buf[i * WINDOW_SAMPLES : (i + 1) * WINDOW_SAMPLES])
            ev = self._step(p)
            if ev is not None:
                events.append(ev)
        self._pending = buf[n * WINDOW_SAMPLES :].copy()
        return events

    def speech_seconds(self, start_s: float, end_s: float) -> float:
        """Seconds of windows scoring >= threshold among those starting in [start_s, end_s): how
        long someone actually spoke in that span, pauses and the padding left out. Only the last
        2048-4096 windows (65-131 s) are kept, so older spans count what is left of them."""
        first = self._window_index - len(self.probabilities)  # window index of probabilities[0]
        lo = max(first, int(np.ceil(start_s * SAMPLE_RATE / WINDOW_SAMPLES)))
        hi = min(self._window_index, int(np.ceil(end_s * SAMPLE_RATE / WINDOW_SAMPLES)))
        if hi <= lo:
            return 0.0
        p = np.asarray(self.probabilities[lo - first : hi - first])
        return float((p >= self.config.threshold).sum()) * WINDOW_SAMPLES / SAMPLE_RATE

    def flush(self) -> list[VadEvent]:
        """End of stream: close an open segment at the last speech window."""
        events = []
        if self.in_speech:
            end_w = (self._last_speech + 1) if self._last_speech >= 0 else self._window_index
            events.append(self._event("end", end_w, pad=+1))
        self.in_speech = False
        self._cand_start = None
        self._silence_start = None
        self._paused = False
        return events

    def _event(self, kind: str, window: int, pad: int) -> VadEvent:
        cfg = self.config
        t = window * WINDOW_SAMPLES / SAMPLE_RATE + pad * cfg.speech_pad_ms / 1000.0
        t = min(max(t, 0.0), self.position_s)
        return VadEvent(kind, t, self.position_s)

    def _step(self, p: float) -> VadEvent | None:
        cfg = self.config
        w = self._window_index
        self._window_index += 1
        self.probabilities.append(p)
        if len(self.probabilities) > 4096:
            del self.probabilities[:2048]
        speech = p >= cfg.threshold
        silence = p < cfg.silence_threshold
        min_speech_w = max(1, int(np.ceil(cfg.min_speech_ms / WINDOW_MS)))
        min_sil_w = max(1, int(np.ceil(cfg.min_silence_ms / WINDOW_MS)))
        if speech:
            self._last_speech = w
        if not self.in_speech:
            if speech:
                if self._cand_start is None:
                    self._cand_start, self._cand_speech = w, 0
                self._cand_speech += 1
                if self._cand_speech >= min_speech_w:
                    self.in_speech = True
                    self._silence_start = None
                    return self._event("start", self._cand_start, pad=-1)
            elif self._cand_start is not None and w - self._last_speech >= min_sil_w:
                self._cand_start = None  # too short: a click, not speech
            return None
        if speech:
            self._silence_start = None
            if self._paused:
                self._paused = False
                return self._event("resume", w, pad=0)
        elif silence:
            if self._silence_start is None:
                self._silence_start = w
            run = self._window_index - self._silence_start
            if run >= min_sil_w:
                end_w = self._silence_start
                self.in_speech = False
                self._cand_start = None
                self._silence_start = None
                self._paused = False
                return self._event("end", end_w, pad=+1)
            if (cfg.tentative_silence_ms is not None and not self._paused
                    and run >= max(1, int(np.ceil(cfg.tentative_silence_ms / WINDOW_MS)))):
                self._paused = True
                return self._event("pause", self._silence_start, pad=+1)
        return None


def speech_segments(pcm, config: VadConfig | None = None, sample_rate: int = SAMPLE_RATE) -> list[tuple[float, float]]:
    """Offline helper: (start_s, end_s) of every speech segment in a signal."""
    vad = StreamingVad(config)
    events = vad.accept(pcm, sample_rate) + vad.flush()
    segs, start = [], None
    for ev in events:
        if ev.kind == "start":
            start = ev.time_s
        elif ev.kind == "end" and start is not None:
            segs.append((start, ev.time_s))
            start = None
    return segs
