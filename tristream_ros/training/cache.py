"""Expensive per-sample inputs computed once and kept on disk (RUN/cache/<split>/...).

Training the fusion model never re-runs espeak, pocketsphinx, the speech encoder or STVE per
step: their outputs are cached here.

    rows(split)                      manifest rows (labels, query, answer, route ...)
    transcripts(split, "pocketsphinx")  the default front end's text for every spoken sample
                                     (pocketsphinx, real-speech acoustic model, domain LM built
                                     from the generator's sentences) -> ps_<split>.json
    mel(split)                       log-mel of the voiced span (+ margins) -> mel_<split>.npz
    speech tokens / vision tokens    written by phase 2 (they depend on trained weights)

Arrays are stored with `np.savez` (plain arrays, loaded with allow_pickle=False).
"""
from __future__ import annotations

import json
import os
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from tristream_ros.data import language, speech_synth
from tristream_ros.data.dataset import DatasetReader
from tristream_ros.errors import InputError
from tristream_ros.model.text_tokenizer import TextTokenizer, normalize
from tristream_ros.signal.features import log_mel_spectrogram

SAMPLE_RATE = 16000  # Hz
CROP_BEFORE_S = 0.25  # s of audio kept before the voiced span (the tokenizer's pre-roll + VAD pad)
CROP_AFTER_S = 0.10  # s kept after it


def build_tokenizer() -> TextTokenizer:
    """The word vocabulary of the shipped model: every word the generator can say."""
    return TextTokenizer.build(language.all_sentences())


def domain_vocabulary():
    """Pocketsphinx domain LM over the generator's sentences (the training transcripts' search; the
    nodes default to a grammar of the queries, see training/evaluate.build_frontend)."""
    from tristream_ros.model.speech.pocketsphinx_frontend import DomainVocabulary
    return DomainVocabulary(tuple(language.all_sentences()), mode="lm")


def parallel_map(fn, jobs: list, processes: int = 2, progress: bool = False, desc: str = "", unit: str = "it",
                 chunksize: int = 1):
    """fn over jobs, in order: in a fork pool of `processes` workers (inline for 1 worker or 1
    job), with a tqdm bar when `progress`. A generator; the pool is closed when it is done."""
    pool = None
    if processes > 1 and len(jobs) > 1:
        pool = get_context("fork").Pool(processes)
        it = pool.imap(fn, jobs, chunksize=chunksize)
    else:
        it = map(fn, jobs)
    if progress:
        from tqdm import tqdm
        it = tqdm(it, total=len(jobs), desc=desc, unit=unit, mininterval=2.0)
    try:
        yield from it
    finally:
        if pool is not None:
            pool.close()
            pool.join()


def default_pocketsphinx_config():
    from tristream_ros.model.speech.pocketsphinx_frontend import PocketsphinxConfig
    return PocketsphinxConfig(vocabulary=domain_vocabulary())


def crop_voiced(audio: np.ndarray, row: dict) -> np.ndarray:
    """The voiced span of a generated utterance with the margins the live tokenizer keeps."""
    s, e = row.get("speech_start_s"), row.get("speech_end_s")
    if s is None or e is None:
        return audio
    a = max(0, int((s - CROP_BEFORE_S) * SAMPLE_RATE))
    b = min(len(audio), int((e + CROP_AFTER_S) * SAMPLE_RATE))
    return audio[a:b] if b > a else audio


class RunCache:
    """Cached inputs of one dataset under `root` (usually RUN/cache)."""

    def __init__(self, data_dir: str | Path, root: str | Path):
        self.data_dir = Path(data_dir)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._rows: dict[str, list[dict]] = {}

    def reader(self, split: str, load_arrays: bool = True) -> DatasetReader:
        return DatasetReader(self.data_dir, split, load_arrays=load_arrays)

    def rows(self, split: str) -> list[dict]:
        if split not in self._rows:
            self._rows[split] = self.reader(split, load_arrays=False).rows
        return self._rows[split]

    def audio(self, split: str, i: int) -> np.ndarray | None:
        row = self.rows(split)[i]
        if not row.get("audio_file"):
            return None
        return speech_synth.read_wav(self.data_dir / split / row["audio_file"])

    # -- front-end transcripts -------------------------------------------------------------------
    def transcripts(self, split: str, limit: int | None = None, processes: int = 2,
                    progress: bool = True) -> dict[str, str]:
        """{sample id: pocketsphinx (domain LM) transcript} for the first `limit` spoken samples."""
        path = self.root / f"ps_{split}.json"
        done: dict[str, str] = json.loads(path.read_text()) if path.is_file() else {}
        rows = [r for r in self.rows(split) if r.get("audio_file")]
        if limit is not None:
            rows = rows[:limit]
        todo = [r for r in rows if r["id"] not in done]
        if todo:
            jobs = [(str(self.data_dir / split / r["audio_file"]), r["id"]) for r in todo]
            for sid, text in parallel_map(_ps_job, jobs, processes, progress, f"pocketsphinx {split}", "utt",
                                          chunksize=8):
                done[sid] = text
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(done) + "\n")
            tmp.replace(path)
        return done

    # -- log-mel ---------------------------------------------------------------------------------
    def mel(self, split: str, n_mels: int, progress: bool = True) -> dict[str, np.ndarray]:
        """{sample id: (T, n_mels) float16 log-mel of the cropped voiced span}."""
        path = self.root / f"mel_{split}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        out = {}
        rows = [(i, r) for i, r in enumerate(self.rows(split)) if r.get("audio_file")]
        it = rows
        if progress:
            from tqdm import tqdm
            it = tqdm(rows, desc=f"log-mel {split}", unit="utt", mininterval=2.0)
        for i, r in it:
            audio = crop_voiced(self.audio(split, i), r)
            out[r["id"]] = log_mel_spectrogram(audio, n_mels).astype(np.float16)
        np.savez(path, **out)
        return out


_PS = None


def _ps_job(args) -> tuple[str, str]:
    """Pool worker: pocketsphinx (domain LM) on one WAV, fed in 100 ms chunks like the live node."""
    global _PS
    path, sid = args
    if _PS is None:
        from tristream_ros.model.speech.pocketsphinx_frontend import PocketsphinxRecognizer
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        _PS = PocketsphinxRecognizer(default_pocketsphinx_config())
    audio = speech_synth.read_wav(path)
    _PS.start()
    step = SAMPLE_RATE // 10
    for a in range(0, len(audio), step):
        _PS.feed(audio[a:a + step])
    return sid, normalize(_PS.end())


# -- word-level noise (ASR-error robustness for samples without a decoded transcript) ----------
def word_noise(text: str, rng: np.random.Generator, rate: float, vocab: list[str]) -> str:
    """Substitute / delete / insert words with total probability `rate` per word."""
    if rate <= 0:
        return text
    out = []
    for w in text.split():
        r = rng.random()
        if r < rate * 0.6:
            out.append(vocab[int(rng.integers(len(vocab)))])
        elif r < rate * 0.85:
            continue
        elif r < rate:
            out += [w, vocab[int(rng.integers(len(vocab)))]]
        else:
            out.append(w)
    return " ".join(out) if out else text


def char_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over characters / reference length (normalised text)."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, rc in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, hc in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rc != hc))
        prev = cur
    return prev[-1] / len(ref)


def check_split(cache: RunCache, split: str) -> None:
    if not cache.rows(split):
        raise InputError(f"split {split!r} of {cache.data_dir} is empty")
