"""Spoken queries from espeak-ng: many voices, speeds and pitches, plus room/mic augmentation.

A voice is an espeak-ng language (accent) plus a variant (``en-gb-scotland+f3``); speed and
pitch are drawn per utterance. The clean synthesis is cached on disk as a 16 kHz WAV keyed by
text and voice parameters, so regenerating a dataset only re-runs the (cheap, numpy)
augmentation: speed perturbation, gain, additive noise (white / pink / brown / hum) at a signal-to-noise ratio,
synthetic reverberation, a microphone band pass, and leading / trailing silence.

Everything is deterministic from a seed. Output: float32 mono in [-1, 1] at 16 kHz.
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import wave
from dataclasses import asdict, dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from scipy.signal import butter, fftconvolve, resample_poly, sosfilt

from ..errors import InputError

SAMPLE_RATE = 16000  # Hz, the core's audio rate
ESPEAK_RATE = 22050  # Hz, espeak-ng's native output rate
ESPEAK = "espeak-ng"

# accents available in every voice split (espeak-ng language names)
LANGUAGES: tuple[str, ...] = (
    "en", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
)
# espeak-ng voice variants (files in espeak-ng-data/voices/!v, case-sensitive). Left out:
# whisper, whisperf (unvoiced), Demonic, croak, fast, "Mr serious" (space in name), robot voices.
VARIANTS: tuple[str, ...] = (
    "Alex", "Alicia", "Andrea", "Andy", "Annie", "AnxiousAndy", "Denis", "Diogo", "Gene", "Gene2",
    "Henrique", "Hugo", "Jacky", "Lee", "Marco", "Mario", "Michael", "Mike", "Nguyen", "RicishayMax",
    "RicishayMax2", "RicishayMax3", "Storm", "Tweaky", "adam", "anika", "announcer", "antonio", "aunty",
    "belinda", "benjamin", "boris", "caleb", "david", "ed", "edward", "edward2", "f1", "f2", "f3", "f4",
    "f5", "grandma", "grandpa", "gustave", "iven", "iven2", "iven3", "iven4", "john", "kaukovalta",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "linda", "m1", "m2", "m3", "m4", "m5",
    "m6", "m7", "m8", "marcelo", "max", "michel", "miguel", "norbert", "pablo", "paul", "pedro", "quincy",
    "rob", "robert", "robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5", "robosoft6",
    "robosoft7", "robosoft8", "sandro", "shelby", "steph", "steph2", "steph3", "travis", "victor", "zac",
)
SPLITS = ("train", "val", "test")
SPEED_WPM = (125, 205)  # words per minute range (espeak default 175)
PITCH = (20, 80)  # espeak pitch 0..99 (default 50)
WORD_GAP = (0, 3)  # extra pause between words, units of 10 ms
SILENCE_THRESHOLD = 0.01  # |x| below this at the ends of espeak output counts as silence


def variants_for_split(split: str) -> tuple[str, ...]:
    """Voice variants of ``split``: every 5th variant (from index 2) is test, from index 4 val."""
    if split not in SPLITS:
        raise InputError(f"unknown split {split!r}; expected one of {SPLITS}")
    out = []
    for i, v in enumerate(VARIANTS):
        s = "test" if i % 5 == 2 else "val" if i % 5 == 4 else "train"
        if s == split:
            out.append(v)
    return tuple(out)


@dataclass(frozen=True)
class VoiceSpec:
    """espeak-ng voice parameters for one utterance."""

    language: str = "en-us"
    variant: str = "m3"
    speed_wpm: int = 160
    pitch: int = 50
    word_gap: int = 0  # 10 ms units

    def __post_init__(self) -> None:
        if not 80 <= self.speed_wpm <= 450:
            raise InputError(f"speed_wpm={self.speed_wpm} outside espeak-ng's 80..450 words per minute")
        if not 0 <= self.pitch <= 99:
            raise InputError(f"pitch={self.pitch} outside espeak-ng's 0..99")

    @property
    def espeak_name(self) -> str:
        return f"{self.language}+{self.variant}" if self.variant else self.language

    @property
    def voice_id(self) -> str:
        """Identity used for held-out voice splits: accent + variant (speed/pitch vary freely)."""
        return self.espeak_name


def sample_voice(rng: np.random.Generator, split: str = "train") -> VoiceSpec:
    variants = variants_for_split(split)
    return VoiceSpec(
        language=LANGUAGES[int(rng.integers(len(LANGUAGES)))],
        variant=variants[int(rng.integers(len(variants)))],
        speed_wpm=int(rng.integers(SPEED_WPM[0], SPEED_WPM[1] + 1)),
        pitch=int(rng.integers(PITCH[0], PITCH[1] + 1)),
        word_gap=int(rng.integers(WORD_GAP[0], WORD_GAP[1] + 1)),
    )


@dataclass(frozen=True)
class AugmentSpec:
    """Room and microphone effects applied after synthesis (all parameters recorded)."""

    seed: int = 0
    gain_db: float = 0.0
    noise: str = "none"  # none | white | pink | brown | hum
    snr_db: float = 40.0
    reverb_rt60_s: float = 0.0  # 0: dry
    reverb_wet: float = 0.0  # 0..1
    lowpass_hz: float = 0.0  # 0: full band
    highpass_hz: float = 0.0  # 0: none (small microphones cut the lows)
    speed: float = 1.0  # resampling factor like `sox speed`: >1 faster and higher (vocal-tract-length-like)
    lead_silence_s: float = 0.2
    trail_silence_s: float = 0.2

    @staticmethod
    def clean(lead_silence_s: float = 0.2, trail_silence_s: float = 0.2) -> "AugmentSpec":
        return AugmentSpec(lead_silence_s=lead_silence_s, trail_silence_s=trail_silence_s)


NOISES = ("white", "pink", "brown", "hum")


def sample_augment(rng: np.random.Generator) -> AugmentSpec:
    reverb = rng.random() < 0.5
    noisy = rng.random() < 0.8
    return AugmentSpec(
        seed=int(rng.integers(2**31)),
        gain_db=float(rng.uniform(-14.0, 2.0)),
        noise=NOISES[int(rng.integers(len(NOISES)))] if noisy else "none",
        snr_db=float(rng.uniform(5.0, 35.0)),
        reverb_rt60_s=float(rng.uniform(0.15, 0.7)) if reverb else 0.0,
        reverb_wet=float(rng.uniform(0.15, 0.6)) if reverb else 0.0,
        lowpass_hz=float(rng.uniform(3400.0, 7000.0)) if rng.random() < 0.3 else 0.0,
        highpass_hz=float(rng.uniform(80.0, 300.0)) if rng.random() < 0.3 else 0.0,
        speed=float(rng.uniform(0.88, 1.12)) if rng.random() < 0.6 else 1.0,
        lead_silence_s=float(rng.uniform(0.1, 0.6)),
        trail_silence_s=float(rng.uniform(0.15, 0.7)),
    )


@dataclass
class Utterance:
    audio: np.ndarray  # (N,) float32 at 16 kHz
    speech_start_s: float  # first voiced sample (end of leading silence)
    speech_end_s: float  # last voiced sample
    text: str
    voice: VoiceSpec
    augment: AugmentSpec

    @property
    def duration_s(self) -> float:
        return len(self.audio) / SAMPLE_RATE


# ----------------------------------------------------------------------------- espeak


def check_espeak() -> str:
    """Path of the espeak-ng binary; a clear error if it is missing."""
    path = shutil.which(ESPEAK)
    if path is None:
        raise InputError(f"{ESPEAK!r} not found on PATH; install it (Debian: apt-get install espeak-ng)")
    return path


@lru_cache(maxsize=1)
def espeak_version() -> str:
    out = subprocess.run([check_espeak(), "--version"], capture_output=True, text=True, check=True).stdout
    return out.split(":")[1].split()[0] if ":" in out else out.strip()


def _parse_wav(data: bytes) -> tuple[np.ndarray, int]:
    """espeak-ng --stdout WAV -> (int16 samples, rate). Its header sizes can be bogus: find 'data'."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise InputError(f"espeak-ng produced no WAV ({len(data)} bytes)")
    rate = int.from_bytes(data[24:28], "little")
    pos = data.find(b"data", 12)
    pcm = data[pos + 8 :]
    pcm = pcm[: len(pcm) // 2 * 2]
    return np.frombuffer(pcm, dtype="<i2"), rate


def _trim(x: np.ndarray) -> np.ndarray:
    voiced = np.nonzero(np.abs(x) > SILENCE_THRESHOLD)[0]
    if len(voiced) == 0:
        return x[:0]
    return x[max(voiced[0] - 80, 0) : voiced[-1] + 80]  # keep 5 ms either side


def espeak_synthesize(text: str, voice: VoiceSpec) -> np.ndarray:
    """Run espeak-ng; return trimmed float32 16 kHz audio (no cache)."""
    if not text.strip():
        raise InputError("cannot synthesize empty text")
    cmd = [check_espeak(), "-v", voice.espeak_name, "-s", str(voice.speed_wpm), "-p", str(voice.pitch),
           "-g", str(voice.word_gap), "--stdout", text]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise InputError(f"espeak-ng failed for voice {voice.espeak_name!r}: {proc.stderr.decode(errors='replace')[:200]}")
    return wav_to_trimmed_audio(proc.stdout)


def wav_to_trimmed_audio(data: bytes) -> np.ndarray:
    """A TTS engine's 16-bit WAV bytes -> float32 mono 16 kHz, silence trimmed at both ends."""
    pcm, rate = _parse_wav(data)
    x = pcm.astype(np.float32) / 32768.0
    if rate != SAMPLE_RATE:
        g = np.gcd(rate, SAMPLE_RATE)
        x = resample_poly(x, SAMPLE_RATE // g, rate // g).astype(np.float32)  # e.g. espeak's 22.05 kHz
    return _trim(x)


def cache_key(text: str, voice: VoiceSpec) -> str:
    raw = f"{espeak_version()}|{text}|{voice.language}|{voice.variant}|{voice.speed_wpm}|{voice.pitch}|{voice.word_gap}"
    return hashlib.sha1(raw.encode()).hexdigest()


def read_wav(path: str | Path) -> np.ndarray:
    """16-bit mono WAV -> float32 in [-1, 1]."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getnchannels() != 1:
            raise InputError(f"{path}: expected 16-bit mono WAV, got {w.getsampwidth() * 8}-bit x{w.getnchannels()}")
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0


def write_wav(path: str | Path, audio: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """float32 [-1, 1] -> 16-bit mono WAV, written atomically (temp file + rename)."""
    pcm = np.clip(np.round(np.asarray(audio, np.float64) * 32768.0), -32768, 32767).astype("<i2")  # inverse of read_wav
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)


def synthesize(text: str, voice: VoiceSpec, cache_dir: str | Path | None = None) -> np.ndarray:
    """Clean speech for ``text``: float32 16 kHz, trimmed; cached under ``cache_dir`` if given."""
    if cache_dir is None:
        return espeak_synthesize(text, voice)
    key = cache_key(text, voice)
    path = Path(cache_dir) / key[:2] / f"{key}.wav"
    if path.exists():
        return read_wav(path)
    x = espeak_synthesize(text, voice)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_wav(path, x)
    return read_wav(path)  # the same 16-bit quantization whether cached or not


# ----------------------------------------------------------------------------- augmentation


def _coloured_noise(rng: np.random.Generator, n: int, colour: str) -> np.ndarray:
    if colour == "hum":
        t = np.arange(n) / SAMPLE_RATE
        f0 = 50.0 if rng.random() < 0.5 else 60.0
        hum = sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 6.3)) / k for k in range(1, 6))
        fan = _coloured_noise(rng, n, "pink")
        return (hum / 2.0 + fan).astype(np.float32)
    white = rng.standard_normal(n)
    if colour == "white":
        return white.astype(np.float32)
    spec = np.fft.rfft(white)
    f = np.maximum(np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE), 20.0)
    spec /= np.sqrt(f) if colour == "pink" else f  # pink: 1/f power, brown: 1/f^2
    return np.fft.irfft(spec, n).astype(np.float32)


def _impulse_response(rng: np.random.Generator, rt60_s: float) -> np.ndarray:
    n = int(rt60_s * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    ir = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)  # -60 dB at rt60
    for _ in range(4):  # a few early reflections, 3..25 ms
        ir[int(rng.uniform(0.003, 0.025) * SAMPLE_RATE)] += rng.uniform(0.3, 0.8) * SAMPLE_RATE / 1000
    ir = ir / (np.sqrt(np.sum(ir**2)) + 1e-9)
    return ir.astype(np.float32)


def augment(clean: np.ndarray, spec: AugmentSpec) -> tuple[np.ndarray, float, float]:
    """Apply ``spec`` to clean speech; returns (audio, speech_start_s, speech_end_s)."""
    rng = np.random.default_rng(spec.seed)
    x = clean.astype(np.float32)
    if spec.speed != 1.0 and len(x):
        if not 0.5 <= spec.speed <= 2.0:
            raise InputError(f"augment speed={spec.speed} outside 0.5..2.0")
        x = resample_poly(x, 1000, int(round(1000 * spec.speed))).astype(np.float32)
    if spec.reverb_rt60_s > 0 and spec.reverb_wet > 0 and len(x):
        wet = fftconvolve(x, _impulse_response(rng, spec.reverb_rt60_s))[: len(x)]
        x = (1 - spec.reverb_wet) * x + spec.reverb_wet * wet * (np.std(x) / (np.std(wet) + 1e-9))
    lead = int(spec.lead_silence_s * SAMPLE_RATE)
    trail = int(spec.trail_silence_s * SAMPLE_RATE)
    y = np.concatenate([np.zeros(lead, np.float32), x.astype(np.float32), np.zeros(trail, np.float32)])
    if spec.noise != "none" and len(x):
        noise = _coloured_noise(rng, len(y), spec.noise)
        p_speech = float(np.mean(x**2)) + 1e-12
        p_noise = float(np.mean(noise**2)) + 1e-12
        y = y + noise * np.sqrt(p_speech / (p_noise * 10 ** (spec.snr_db / 10)))
    if spec.lowpass_hz > 0:
        y = sosfilt(butter(4, spec.lowpass_hz, btype="low", fs=SAMPLE_RATE, output="sos"), y)
    if spec.highpass_hz > 0:
        y = sosfilt(butter(2, spec.highpass_hz, btype="high", fs=SAMPLE_RATE, output="sos"), y)
    y = y * 10 ** (spec.gain_db / 20)
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > 0.99:
        y = y * (0.99 / peak)
    return y.astype(np.float32), lead / SAMPLE_RATE, (lead + len(x)) / SAMPLE_RATE


def render_utterance(text: str, voice: VoiceSpec, aug: AugmentSpec | None = None,
                     cache_dir: str | Path | None = None) -> Utterance:
    """Synthesize (cached) and augment one utterance."""
    aug = aug or AugmentSpec.clean()
    audio, start, end = augment(synthesize(text, voice, cache_dir), aug)
    return Utterance(audio=audio, speech_start_s=start, speech_end_s=end, text=text, voice=voice, augment=aug)


@dataclass(frozen=True)
class SpeechJob:
    text: str
    voice: VoiceSpec
    augment: AugmentSpec


def _run_job(args: tuple[SpeechJob, str | None]) -> Utterance:
    job, cache_dir = args
    return render_utterance(job.text, job.voice, job.augment, cache_dir)


def synthesize_many(jobs: Sequence[SpeechJob], cache_dir: str | Path | None = None, processes: int = 2,
                    progress: bool = False) -> list[Utterance]:
    """Render ``jobs`` with a pool of ``processes`` workers, results in input order."""
    items = [(j, str(cache_dir) if cache_dir else None) for j in jobs]
    it: Iterable[Utterance]
    if processes <= 1:
        it = map(_run_job, items)
        return list(_progress(it, len(items), progress))
    with get_context("fork").Pool(processes) as pool:
        it = pool.imap(_run_job, items, chunksize=4)
        return list(_progress(it, len(items), progress))


def _progress(it, total: int, enabled: bool):
    if not enabled:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, desc="speech", unit="utt")


def voice_to_dict(v: VoiceSpec) -> dict:
    return asdict(v)


def augment_to_dict(a: AugmentSpec) -> dict:
    return {k: (round(val, 4) if isinstance(val, float) else val) for k, val in asdict(a).items()}
