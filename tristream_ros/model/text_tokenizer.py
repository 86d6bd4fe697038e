"""Text vocabularies: a word-level vocabulary for the LM and a character vocabulary for CTC.

The shipped model is small and trained on generated language, so a word-level vocabulary is
enough and keeps every streamed token a whole word (a TextDelta is always speakable).

Specials (fixed ids, shared by every saved vocabulary):
    <pad>=0  <bos>=1  <eos>=2  <unk>=3  <sep>=4

Normalisation (`normalize`): lowercase, apostrophes inside words kept ("what's"), digits kept,
every other punctuation mark becomes a word boundary.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.model.json_file import read_json

PAD, BOS, EOS, UNK, SEP = "<pad>", "<bos>", "<eos>", "<unk>", "<sep>"
SPECIALS = (PAD, BOS, EOS, UNK, SEP)
PAD_ID, BOS_ID, EOS_ID, UNK_ID, SEP_ID = range(len(SPECIALS))

_WORD_RE = re.compile(r"[a-z0-9]+(?:'[a-z0-9]+)*")
_FORMAT_WORD = "tristream-word-vocab-v1"
_FORMAT_CHAR = "tristream-char-vocab-v1"


def normalize(text: str) -> str:
    """Lowercase, drop punctuation (keeping in-word apostrophes), collapse whitespace."""
    if not isinstance(text, str):
        raise InputError(f"text must be str, got {type(text).__name__}")
    text = text.lower().replace("\u2019", "'")
    return " ".join(_WORD_RE.findall(text))


ARTICLES = ("a", "an")


def article_for(next_word: str) -> str:
    """The indefinite article agreeing with the word after it ("an orange", "a yellow"): the
    answer stream holds an article back until that word is decoded, so an attribute chosen by
    the copy head after the LM said "a" still reads right. Spelling rule (vowel letter)."""
    return "an" if next_word[:1] in ("a", "e", "i", "o", "u") else "a"


def split_words(text: str) -> list[str]:
    """The words of `normalize(text)`."""
    return normalize(text).split()


class TextTokenizer:
    """Word-level vocabulary for the LM.

    >>> tok = TextTokenizer.build(["Turn left!", "what's on the left?"])
    >>> tok.decode(tok.encode("Turn LEFT."))
    'turn left'
    """

    def __init__(self, words: Sequence[str]):
        words = list(words)
        if tuple(words[: len(SPECIALS)]) != SPECIALS:
            raise ModelFileError(
                f"vocabulary must start with the specials {SPECIALS}, got {tuple(words[:5])}")
        if len(set(words)) != len(words):
            dup = [w for w, c in Counter(words).items() if c > 1][:5]
            raise ModelFileError(f"vocabulary has duplicate entries {dup}")
        self._words = words
        self._index = {w: i for i, w in enumerate(words)}

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def build(cls, corpus: Iterable[str], min_count: int = 1,
              max_size: int | None = None) -> "TextTokenizer":
        """Vocabulary from sentences: words by descending count (ties alphabetical)."""
        if min_count < 1:
            raise InputError(f"min_count must be >= 1, got {min_count}")
        counts: Counter[str] = Counter()
        for sentence in corpus:
            counts.update(split_words(sentence))
        ranked = sorted((w for w, c in counts.items() if c >= min_count),
                        key=lambda w: (-counts[w], w))
        if max_size is not None:
            if max_size < len(SPECIALS):
                raise InputError(f"max_size must be >= {len(SPECIALS)}, got {max_size}")
            ranked = ranked[: max_size - len(SPECIALS)]
        return cls(list(SPECIALS) + ranked)

    # -- persistence ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"format": _FORMAT_WORD, "words": list(self._words)}

    @classmethod
    def from_dict(cls, data: dict) -> "TextTokenizer":
        if not isinstance(data, dict) or data.get("format") != _FORMAT_WORD:
            raise ModelFileError(
                f"not a word vocabulary (format={data.get('format') if isinstance(data, dict) else None!r}, "
                f"expected {_FORMAT_WORD!r})")
        return cls(data["words"])

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=0) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> "TextTokenizer":
        return cls.from_dict(read_json(path, "vocabulary file"))

    # -- use ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._words)

    def __contains__(self, word: str) -> bool:
        return word in self._index

    @property
    def words(self) -> list[str]:
        return list(self._words)

    def token_to_id(self, word: str) -> int:
        return self._index.get(word, UNK_ID)

    def id_to_token(self, idx: int) -> str:
        if not 0 <= idx < len(self._words):
            raise InputError(f"token id {idx} out of range [0, {len(self._words)})")
        return self._words[idx]

    def encode(self, text: str, add_bos: bool = False, add_eos: bool = False) -> list[int]:
        ids = [self._index.get(w, UNK_ID) for w in split_words(text)]
        return ([BOS_ID] if add_bos else []) + ids + ([EOS_ID] if add_eos else [])

    def decode(self, ids: Iterable[int], skip_specials: bool = True) -> str:
        out = []
        for i in ids:
            i = int(i)
            if skip_specials and i < len(SPECIALS):
                continue
            out.append(self.id_to_token(i))
        return " ".join(out)


# CTC character vocabulary -----------------------------------------------------------------
BLANK = "<blank>"
CHAR_SYMBOLS = (BLANK, " ") + tuple("abcdefghijklmnopqrstuvwxyz") + ("'",)
BLANK_ID = 0


class CharVocab:
    """Characters for the CTC head: <blank>=0, space=1, a-z=2..27, apostrophe=28.

    Digits are spelled out by the data generator; anything else outside the set is dropped.
    """

    symbols = CHAR_SYMBOLS

    def __init__(self) -> None:
        self._index = {c: i for i, c in enumerate(CHAR_SYMBOLS)}

    def __len__(self) -> int:
        return len(CHAR_SYMBOLS)

    @property
    def blank_id(self) -> int:
        return BLANK_ID

    def encode(self, text: str) -> list[int]:
        """Normalised text -> ids (never contains the blank)."""
        return [self._index[c] for c in normalize(text) if c in self._index and c != BLANK]

    def decode(self, ids: Iterable[int]) -> str:
        """Ids -> text, blanks skipped (no CTC collapsing; see `ctc_collapse`)."""
        return "".join(CHAR_SYMBOLS[int(i)] for i in ids if int(i) != BLANK_ID)

    def ctc_collapse(self, ids: Iterable[int]) -> str:
        """Greedy CTC: merge repeats, then drop blanks."""
        out, prev = [], None
        for i in ids:
            i = int(i)
            if i != prev and i != BLANK_ID:
                out.append(CHAR_SYMBOLS[i])
            prev = i
        return "".join(out)

    def to_dict(self) -> dict:
        return {"format": _FORMAT_CHAR, "symbols": list(CHAR_SYMBOLS)}

    @classmethod
    def from_dict(cls, data: dict) -> "CharVocab":
        if not isinstance(data, dict) or data.get("format") != _FORMAT_CHAR \
                or tuple(data.get("symbols", ())) != CHAR_SYMBOLS:
            raise ModelFileError("character vocabulary does not match this version's CharVocab")
        return cls()
