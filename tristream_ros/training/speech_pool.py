"""The CTC's speech pool: more synthesized training speech than the dataset's spoken samples.

The dataset's ~1000 spoken training queries are few for a speech encoder that must understand
voices it never heard: trained on them alone for 3000 steps (~46 epochs) the CTC misheard 43% of
held-out-voice test queries (session 3, docs/training.md). The pool draws `n` more training
samples (training voices, phrasings and colour/kind pairs, the dataset's noise / reverb / gain
augmentation) from a seed stream of their own (data.dataset.speech_pool_sample), keeps the
spoken ones and stores their log-mel features and transcripts:

    RUN/phase2/speech_pool_s{seed}_n{n}.npz    {id: (T, n_mels) float16 log-mel of the voiced span}
    RUN/phase2/speech_pool_s{seed}_n{n}.json   {id: transcript}

No frames, no vision: ~40 ms of espeak-ng + ~35 ms of scene rendering (the query is about a
scene) per item per core.

The recogniser (training/recognizer.py) also draws a *recombined* pool (`kind="recombined"`,
data.dataset.recombined_pool_sample: the training phrasings' words in new orders, spoken the
same way), cached as RUN/phase2/recombined_pool_s{seed}_n{n}.npz / .json; a cached one whose
transcripts name a held-out pair or hold a held-out query (drawn before session 18's refusals)
is an error, not reused. Kind "pico" (data.dataset.pico_pool_sample, `recognizer --pico-pool`)
is training queries or recombined text spoken by SVOX Pico instead of espeak-ng (session 23;
not in the shipped recipe); its transcripts get the same check.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tristream_ros.training.cache import crop_voiced, parallel_map

CHUNK = 100  # pool items per worker job
# pool kind -> the data.dataset function drawing its item i: dataset-like training queries, recombined text,
# either of them spoken by SVOX Pico
SAMPLERS = {"speech": "speech_pool_sample", "recombined": "recombined_pool_sample", "pico": "pico_pool_sample"}
KINDS = tuple(SAMPLERS)


def _pool_job(args) -> list[tuple[str, str, np.ndarray]]:
    """Worker on (seed, indices, n_mels, kind): (id, transcript, log-mel) of the spoken items among `indices`."""
    from tristream_ros.data import dataset
    from tristream_ros.signal.features import log_mel_spectrogram

    seed, indices, n_mels, kind = args
    sample = getattr(dataset, SAMPLERS[kind])
    out = []
    for i in indices:
        s = sample(seed, i)
        if s is None:
            continue
        audio = crop_voiced(s["audio"], s)
        out.append((s["id"], s["query"], log_mel_spectrogram(audio, n_mels).astype(np.float16)))
    return out


def _cache_files(root: Path, seed: int, n: int, kind: str = "speech") -> tuple[Path, Path]:
    return root / f"{kind}_pool_s{seed}_n{n}.npz", root / f"{kind}_pool_s{seed}_n{n}.json"


def _cached_sizes(root: Path, seed: int, kind: str = "speech") -> list[int]:
    """Pool sizes n with both cache files for `seed` in `root`."""
    sizes = []
    for p in root.glob(f"{kind}_pool_s{seed}_n*.npz"):
        n = p.stem.rsplit("_n", 1)[-1]
        if n.isdigit() and _cache_files(root, seed, int(n), kind)[1].is_file():
            sizes.append(int(n))
    return sizes


def _load(path: Path, tpath: Path, kind: str = "speech") -> tuple[dict[str, np.ndarray], dict[str, str]]:
    text = json.loads(tpath.read_text())
    if kind in ("recombined", "pico"):
        _check_no_heldout(text, tpath)
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}, text


def _check_no_heldout(text: dict[str, str], tpath: Path) -> None:
    """A cached recombined (or Pico) pool is keyed by seed and size only: one drawn before session
    18's refusals (its sentences could name held-out colour/kind pairs or hold held-out queries)
    would be reused silently. Its transcripts are checked instead; a leaky cache is an error naming the
    files to delete (nothing is deleted or overwritten here)."""
    from tristream_ros.data.recombined_text import contains_heldout_query, names_heldout_pair
    bad = [t for t in text.values() if names_heldout_pair(t) or contains_heldout_query(t)]
    if bad:
        from tristream_ros.errors import InputError
        raise InputError(f"{tpath} (and its .npz): {len(bad)} of {len(text)} cached recombined sequences name a "
                         f"held-out colour/kind pair or hold a held-out query (e.g. {bad[0]!r}): the cache was drawn "
                         "before the sampler refused them; delete both files to draw it again")


def speech_pool(seed: int, n: int, n_mels: int, root: str | Path, processes: int = 2,
                progress: bool = True, kind: str = "speech") -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """({id: log-mel}, {id: transcript}) of the spoken items among pool items 0..n-1 (cached).
    Items are drawn per index, so a larger pool extends a smaller cached one of the same seed and
    kind: only the new items are synthesized."""
    if kind not in KINDS:
        from tristream_ros.errors import InputError
        raise InputError(f"unknown speech pool kind {kind!r}; expected one of {KINDS}")
    root = Path(root)
    path, tpath = _cache_files(root, seed, n, kind)
    if path.is_file() and tpath.is_file():
        return _load(path, tpath, kind)
    mel, text, start = {}, {}, 0
    smaller = [m for m in _cached_sizes(root, seed, kind) if m < n]
    if smaller:
        start = max(smaller)
        mel, text = _load(*_cache_files(root, seed, start, kind), kind)
    jobs = [(seed, list(range(a, min(n, a + CHUNK))), n_mels, kind) for a in range(start, n, CHUNK)]
    for part in parallel_map(_pool_job, jobs, processes, progress, f"{kind} pool", f"x{CHUNK}"):
        for sid, query, m in part:
            mel[sid], text[sid] = m, query
    root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **mel)
    tmp.replace(path)
    tpath.write_text(json.dumps(text) + "\n")
    return mel, text
