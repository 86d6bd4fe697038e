"""Recombined training text: new word sequences spliced from the training phrasings.

The recogniser's CTC is trained on the training phrasings only, and its encoder (which sees the
whole utterance) learns their word orders as well as their sounds: a held-out phrasing such as
"please back up a little" (every word seen in training, never in that order) scores low and
loses to a training sentence that sounds less like it ("please look at the cone"). Speech of
*recombined* text, the training phrasings' words in orders they never take, keeps the CTC's
posteriors about the sounds. Two kinds of sequence, half each:

- **splice**: a training sentence up to a word, continued by another training sentence from the
  same word on (up to two splices): "go back" + "back off a little" -> "go back off a little".
- **spans**: two or three short spans (1-3 words) of random training sentences, concatenated:
  "please" + "back up" + "the blue cup".

(each kind drawn with probability one half; a draw that is refused is drawn again.)

Sentences are drawn template first (each training template of each intent equally likely, then
one of its slot fills), so the short commands ("back up", "stop moving") are spliced as often as
the many filled scene questions. Only the training phrasings are read, with their slots filled
by training colour/kind pairs only (the held-out pairs are never named in training text); a
sequence is drawn again when it equals a training sentence (already spoken in training), contains
a held-out query, or names a held-out pair ("purple" + "bottle" joined by a splice), so no
held-out sentence or pair is ever spoken in training.
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from ..errors import InputError
from .dataset import HELDOUT_COMBOS
from .language import ALL_INTENTS, all_queries, expand_template

MIN_WORDS, MAX_WORDS = 2, 10  # length of a recombined sequence (words)
MAX_SPLICES = 2  # splices per "splice" sequence
SPAN_WORDS = (1, 3)  # words per span, inclusive
SPANS = (2, 3)  # spans per "spans" sequence, inclusive
MAX_DRAWS = 100  # attempts before giving up (never reached: most draws are accepted)


class _Corpus(NamedTuple):
    sentences: tuple[tuple[str, ...], ...]  # training sentences (training pairs only) as words
    p: np.ndarray  # (len(sentences),) draw probability: each template equally likely, then its fills
    occurrences: dict  # word -> ((sentence, position) of each occurrence, their draw probabilities)
    train: frozenset[str]  # training queries (refused: already spoken in training)
    heldout: tuple[str, ...]  # held-out queries (refused inside any sequence)


@lru_cache(maxsize=1)
def _corpus() -> _Corpus:
    sentences, weights = [], []
    for train, _ in ALL_INTENTS.values():
        for t in train:
            fills = sorted(f for f in expand_template(t) if not names_heldout_pair(f))
            sentences += [tuple(f.split()) for f in fills]
            weights += [1.0 / len(fills)] * len(fills)
    p = np.asarray(weights) / sum(weights)
    where: dict[str, list[tuple[int, int]]] = {}
    for si, words in enumerate(sentences):
        for wi, w in enumerate(words):
            where.setdefault(w, []).append((si, wi))
    occurrences = {}
    for w, occ in where.items():
        q = np.asarray([p[si] for si, _ in occ])
        occurrences[w] = (tuple(occ), q / q.sum())
    return _Corpus(tuple(sentences), p, occurrences, frozenset(all_queries("train")), tuple(all_queries("heldout")))


def names_heldout_pair(text: str) -> bool:
    """Whether `text` names a held-out colour/kind pair ("... purple bottle ...")."""
    words = text.split()
    return any((a, b) in HELDOUT_COMBOS for a, b in zip(words, words[1:]))


def contains_heldout_query(text: str) -> bool:
    """Whether a held-out query occurs in `text` as whole words ("halt now" in "halt now go back")."""
    padded = f" {text} "
    return any(f" {q} " in padded for q in _corpus().heldout)


def _sentence(rng: np.random.Generator) -> tuple[str, ...]:
    c = _corpus()
    return c.sentences[int(rng.choice(len(c.sentences), p=c.p))]


def _splice(rng: np.random.Generator) -> list[str]:
    c = _corpus()
    words = list(_sentence(rng))
    for _ in range(int(rng.integers(1, MAX_SPLICES + 1))):
        cut = int(rng.integers(len(words)))  # keep words[:cut], then the second sentence from the pivot
        occ, q = c.occurrences[words[cut]]
        si, wi = occ[int(rng.choice(len(occ), p=q))]
        words = words[:cut] + list(c.sentences[si][wi:])
    return words


def _spans(rng: np.random.Generator) -> list[str]:
    words: list[str] = []
    for _ in range(int(rng.integers(SPANS[0], SPANS[1] + 1))):
        s = _sentence(rng)
        n = min(len(s), int(rng.integers(SPAN_WORDS[0], SPAN_WORDS[1] + 1)))
        a = int(rng.integers(len(s) - n + 1))
        words += s[a:a + n]
    return words


def recombined_sentence(rng: np.random.Generator) -> str:
    """One recombined word sequence (MIN_WORDS..MAX_WORDS words; never a training query, never
    holding a held-out query or naming a held-out colour/kind pair)."""
    train = _corpus().train
    for _ in range(MAX_DRAWS):
        words = _splice(rng) if rng.random() < 0.5 else _spans(rng)
        text = " ".join(words)
        if (MIN_WORDS <= len(words) <= MAX_WORDS and text not in train and not names_heldout_pair(text)
                and not contains_heldout_query(text)):
            return text
    raise InputError(f"no recombined sentence in {MAX_DRAWS} draws")  # pragma: no cover
