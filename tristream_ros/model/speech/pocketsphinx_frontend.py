"""Pocketsphinx as an incremental speech-to-text front end (acoustic model of real human speech).

The pocketsphinx wheel ships an en-US acoustic model, a general 3-gram language model and the
CMU pronouncing dictionary, so this works on a fresh machine with no download. The decoder is
fed while the user speaks (``process_raw`` per chunk) and its partial hypothesis is read after
each chunk; at end of utterance only the remaining search is left.

Speed settings (measured on the five real recordings in ../shared/data/speech, 2 cores): the
second "flat" pass (``fwdflat``) and the lattice best path (``bestpath``) cost 120-300 ms at
end of utterance and did not lower the word error rate there; both are off by default, which
makes the final hypothesis ready 6-25 ms after the last chunk.

A domain vocabulary (``DomainVocabulary``) constrains decoding to what a robot should hear:
``mode="grammar"``: a JSGF grammar accepting exactly the given sentences (best for a closed
command set); ``mode="lm"``: a bigram language model estimated from the sentences (accepts new
word orders over the same words). Every word must be in the shipped dictionary; unknown words
raise ``InputError`` listing them.
"""
from __future__ import annotations

import math
import os
import re
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.model.speech.command_wrappers import CommandWrappers

_WORD = re.compile(r"[a-z']+")
_WORD_VARIANT = re.compile(r"\(\d+\)$")  # a dictionary variant's suffix: "robot(2)"
# A domain LM is tiny and trusted: weigh it more than pocketsphinx's default (6.5) and discount
# little. Measured on 11 commands x 4 espeak-ng voices: exact 22/44 at (6.5, 0.5) -> 35/44 at
# (10, 0.05); a JSGF grammar of the same sentences: 39/44.
DOMAIN_LM_WEIGHT = 10.0
# Forced alignment of a given sentence (`align_scores`) with no pruning: pocketsphinx's default
# beams lost the only path of 79 of 150 candidate sentences on held-out espeak voices (no score);
# with these none, at ~27 ms per sentence of ~2.4 s audio (2 cores, session 9).
ALIGN_BEAMS = dict(beam=1e-250, wbeam=1e-250, pbeam=1e-250, lpbeam=1e-250, lponlybeam=1e-250, maxhmmpf=-1, maxwpf=-1)
# Search beam of the live decoder over a domain vocabulary (beam = pbeam = DOMAIN_BEAM, wbeam =
# DOMAIN_BEAM ** 0.75). pocketsphinx's defaults (1e-48 / 1e-48 / 7e-29) pruned every path to the
# grammar's end for 52 of 207 spoken test-split queries (held-out espeak voices in noisy rooms:
# empty result; 85 exact). Whole utterances fed in 0.1 s chunks, 2 cores (session 12):
#   beam    exact  empty  ms per utterance
#   1e-48      85     52    382
#   1e-60      96     22    460
#   1e-80     101      4    703
#   1e-120    105      0   1354
# 1e-80 keeps the real-time factor near 0.3; Festival / flite voices in rooms (tristream eval
# --engine X --room): action 0.878 -> 0.933 / 0.887 -> 0.927 (docs/training.md, session 12).
DOMAIN_BEAM = 1e-80


def _decoder_class():
    try:
        from pocketsphinx import Decoder
    except ImportError as exc:  # pragma: no cover - broken install
        raise ModelFileError(f"pocketsphinx is not installed ({exc}); pip install pocketsphinx") from exc
    return Decoder


def sentence_words(sentence: str) -> list[str]:
    """Lower-case words of a sentence (letters and apostrophes; punctuation dropped)."""
    return _WORD.findall(sentence.lower().replace("\u2019", "'"))


@dataclass(frozen=True)
class DomainVocabulary:
    """Sentences a robot expects to hear, turned into a pocketsphinx search.

    sentences: e.g. ("go to the red ball", "turn left", "stop").
    mode: "grammar" (JSGF: exactly these sentences) or "lm" (bigram LM over their words).
    wrappers: optional CommandWrappers ("robot", "please", ... around a sentence:
        command_wrappers.py); grammar mode only (an LM accepts any word sequence of its words).
        The front end decodes them with a second decoder beside the plain grammar's
        (`tokenizer.PocketsphinxSpeechTokenizer`), whose grammar takes a wrapper only at the
        JSGF weight `wrappers.weight` against none.
    """

    sentences: tuple[str, ...]
    mode: str = "grammar"
    wrappers: CommandWrappers | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "sentences", tuple(self.sentences))
        if self.mode not in ("grammar", "lm"):
            raise InputError(f"DomainVocabulary.mode must be 'grammar' or 'lm', got {self.mode!r}")
        if not self.sentences or not any(sentence_words(s) for s in self.sentences):
            raise InputError("DomainVocabulary needs at least one sentence with words")

    @property
    def words(self) -> list[str]:
        words = {w for s in self.sentences for w in sentence_words(s)}
        if self.wrappers is not None and self.mode == "grammar":
            words |= set(self.wrappers.words)
        return sorted(words)

    def jsgf(self) -> str:
        alts = sorted({" ".join(sentence_words(s)) for s in self.sentences if sentence_words(s)})
        body = " | ".join(alts)
        if self.wrappers is None:
            return f"#JSGF V1.0;\ngrammar tristream;\npublic <utterance> = ( {body} );\n"
        pre, suf = self.wrappers.jsgf_rules()  # one optional word group before and after a sentence,
        w = f"/{self.wrappers.weight:g}/"  # taken at this weight against none (/1/ <NULL>)
        return (f"#JSGF V1.0;\ngrammar tristream;\n<prefix> = ( {pre} );\n<suffix> = ( {suf} );\n"
                f"public <utterance> = ( /1/ <NULL> | {w} <prefix> ) ( {body} ) ( /1/ <NULL> | {w} <suffix> );\n")

    def arpa(self, discount: float = 0.05) -> str:
        """A bigram ARPA model with absolute discounting (``discount``) and back-off to an add-one unigram."""
        sents = [["<s>"] + sentence_words(s) + ["</s>"] for s in self.sentences if sentence_words(s)]
        uni = Counter(w for s in sents for w in s[1:])  # </s> counted, <s> never predicted
        vocab = sorted(set(uni) | {"<s>"})
        n_tok = sum(uni.values())
        v = len(uni)
        p_uni = {w: (uni[w] + 1) / (n_tok + v) for w in uni}
        big = Counter((a, b) for s in sents for a, b in zip(s, s[1:]))
        hist = Counter(a for s in sents for a in s[:-1])
        follow: dict[str, list[str]] = defaultdict(list)
        for a, b in big:
            follow[a].append(b)
        bow = {}
        for h, c in hist.items():
            mass = discount * len(follow[h]) / c
            denom = 1.0 - sum(p_uni[w] for w in follow[h])
            bow[h] = mass / denom if denom > 1e-9 else 1e-9
        lines = ["\\data\\", f"ngram 1={len(vocab)}", f"ngram 2={len(big)}", "", "\\1-grams:"]
        for w in vocab:
            lp = -99.0 if w == "<s>" else math.log10(p_uni[w])
            b = f" {math.log10(bow[w]):.4f}" if w in bow else ""
            lines.append(f"{lp:.4f} {w}{b}")
        lines += ["", "\\2-grams:"]
        for (a, b), c in sorted(big.items()):
            lines.append(f"{math.log10((c - discount) / hist[a]):.4f} {a} {b}")
        lines += ["", "\\end\\", ""]
        return "\n".join(lines)


@dataclass(frozen=True)
class PocketsphinxConfig:
    """vocabulary: optional DomainVocabulary; fwdflat/bestpath: pocketsphinx's slower second
    passes (off: see the module docstring); beam: the search beam with a vocabulary (DOMAIN_BEAM;
    None: pocketsphinx's defaults; the general LM always uses the defaults: its search is 134k
    words wide); extra: further pocketsphinx config keys (they win over `beam`)."""

    vocabulary: DomainVocabulary | None = None
    fwdflat: bool = False
    bestpath: bool = False
    beam: float | None = DOMAIN_BEAM
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.beam is not None and not (0.0 < float(self.beam) < 1.0):
            raise InputError(f"pocketsphinx beam must be in (0, 1) (e.g. 1e-80), got {self.beam!r}")

    def search_beams(self) -> dict:
        """Decoder keywords for `beam` (empty: pocketsphinx's defaults)."""
        if self.vocabulary is None or self.beam is None:
            return {}
        b = float(self.beam)
        return dict(beam=b, pbeam=b, wbeam=b ** 0.75)


class PocketsphinxRecognizer:
    """Incremental pocketsphinx decoding of one utterance at a time.

        rec.start(); rec.feed(pcm) -> partial text (or None if unchanged); rec.end() -> final text
    """

    def __init__(self, config: PocketsphinxConfig | None = None):
        self.config = config or PocketsphinxConfig()
        Decoder = _decoder_class()
        vocab = self.config.vocabulary
        extra = dict(self.config.extra)
        kwargs = dict(samprate=16000, loglevel="FATAL", fwdflat=self.config.fwdflat, bestpath=self.config.bestpath)
        if vocab is None:
            self.decoder = Decoder(**kwargs, **extra)
        else:
            entries, missing = dictionary_entries(vocab.words)
            if missing:
                raise InputError(f"words not in pocketsphinx's dictionary (cmudict-en-us): {missing}; "
                                 "rephrase them or spell numbers out")
            if vocab.mode == "lm":
                extra.setdefault("lw", DOMAIN_LM_WEIGHT)
            extra = {**self.config.search_beams(), **extra}
            # A dictionary of only the domain's words: loading a search over the full 134k-word
            # dictionary took 30-40 s here; over the domain's words it takes ~30 ms.
            with tempfile.TemporaryDirectory(prefix="tristream_ps_") as tmp:
                dict_path = os.path.join(tmp, "domain.dict")
                with open(dict_path, "w") as fh:
                    fh.write("".join(f"{line}\n" for line in entries))
                if vocab.mode == "grammar":
                    search_path, key = os.path.join(tmp, "domain.gram"), "jsgf"
                    text = vocab.jsgf()
                else:
                    search_path, key = os.path.join(tmp, "domain.arpa"), "lm"
                    text = vocab.arpa()
                with open(search_path, "w") as fh:
                    fh.write(text)
                self.decoder = Decoder(**kwargs, **{"dict": dict_path, key: search_path}, **extra)
        self._active = False
        self._last = ""
        self._pcm: list[bytes] = []  # this utterance's audio as fed (16-bit), for align_scores
        self._aligner = None  # a second decoder in alignment mode, made on first use
        self._phone_loop = None  # a third decoder, a free phone loop (enable_phone_loop)
        self._dict_lines = entries if vocab is not None else None
        # pocketsphinx's acoustic score of its final best path per frame (the words' Seg.ascore
        # summed / frames; higher = its acoustic model matched the audio better); inf: none yet.
        # Found in session 9: pocketsphinx 5's Python API gives each Seg.ascore exponentiated
        # (logmath_exp of a small, frame-normalised log score: 0.85-0.97 per word), so this is close
        # to the number of segments per frame, each weighted by its fit: a speech-rate-like number
        # more than a likelihood. The hybrid's `unsure_below` was calibrated on it as it is.
        self.acoustic_score = float("inf")
        self.last_segments: list[tuple[str, int, int]] = []  # (word, first frame, last frame) of the last end()
        self.last_frames = 0  # frames of the last utterance

    def enable_phone_loop(self) -> None:
        """Make the free phone-loop decoder phone_loop_score() uses (pocketsphinx's allphone
        search over the shipped en-us phone LM; ~0.1 s to load)."""
        if self._phone_loop is None:
            Decoder = _decoder_class()
            from pocketsphinx import get_model_path
            self._phone_loop = Decoder(samprate=16000, loglevel="FATAL",
                                       allphone=os.path.join(get_model_path(), "en-us", "en-us-phone.lm.bin"))

    def knows(self, word: str) -> bool:
        return self.decoder.lookup_word(word.lower()) is not None

    def start(self) -> None:
        if self._active:
            self.decoder.end_utt()
        self.decoder.start_utt()
        self._active = True
        self._last = ""
        self._pcm = []
        self.acoustic_score = float("inf")

    def feed(self, pcm: np.ndarray) -> str | None:
        """pcm float32 16 kHz -> the new partial hypothesis if it changed, else None."""
        if not self._active:
            self.start()
        pcm16 = (np.clip(pcm, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        self._pcm.append(pcm16)
        self.decoder.process_raw(pcm16, False, False)
        hyp = self.decoder.hyp()
        text = _clean(hyp.hypstr) if hyp is not None else ""
        if text != self._last:
            self._last = text
            return text
        return None

    def current(self) -> str:
        """The hypothesis so far, without ending the utterance."""
        if not self._active:
            return ""
        hyp = self.decoder.hyp()
        return _clean(hyp.hypstr) if hyp is not None else ""

    def end(self) -> str:
        if not self._active:
            return ""
        self.decoder.end_utt()
        self._active = False
        hyp = self.decoder.hyp()
        self.acoustic_score = float("inf")
        self.last_segments = []
        self.last_frames = max(1, int(self.decoder.n_frames()))
        if hyp is not None:
            segs = list(self.decoder.seg())
            self.acoustic_score = sum(float(s.ascore) for s in segs) / self.last_frames
            # the words of the final path with their first and last frame (100 per second),
            # fillers and silences left out ("robot(2)" -> "robot")
            words = [_WORD_VARIANT.sub("", s.word) for s in segs]
            self.last_segments = [(w, int(s.start_frame), int(s.end_frame)) for w, s in zip(words, segs)
                                  if _WORD.fullmatch(w)]
        return _clean(hyp.hypstr) if hyp is not None else ""

    def align_words_of(self, other: "PocketsphinxRecognizer") -> None:
        """Let `align_scores` pronounce `other`'s words too (the command wrappers' "robot",
        "okay": the front end aligns wrapped sentences on this decoder's audio)."""
        if self._dict_lines is None or other._dict_lines is None:
            return
        self._dict_lines = sorted(set(self._dict_lines) | set(other._dict_lines))
        self._aligner = None  # made again, with them, on next use

    def _audio(self, span: tuple[int, int] | None) -> bytes:
        """The utterance's 16-bit audio as fed, or its samples [start, end) (span)."""
        pcm = b"".join(self._pcm)
        return pcm if span is None else pcm[2 * max(0, int(span[0])): 2 * max(0, int(span[1]))]

    def align_scores(self, sentences: Sequence[str], span: tuple[int, int] | None = None) -> list[float]:
        """Pocketsphinx's forced-alignment log-score of each sentence against the last (or the
        current) utterance's audio, per frame: ln of its path score (relative to the best state
        per frame, so <= 0; higher = its acoustic model finds that word sequence likelier).
        -inf for a sentence it cannot align (a word missing from the dictionary, no audio).
        span: only the samples [start, end) of the utterance (the command inside wrapper words)."""
        pcm = self._audio(span)
        if not pcm:
            return [float("-inf")] * len(sentences)
        if self._aligner is None:
            self._aligner = self._make_aligner()
        out = []
        for text in sentences:
            words = " ".join(sentence_words(text))
            try:
                self._aligner.set_align_text(words)
                self._aligner.start_utt()
                self._aligner.process_raw(pcm, False, True)
                self._aligner.end_utt()
            except RuntimeError:  # a word it cannot pronounce, an empty sentence
                out.append(float("-inf"))
                continue
            hyp = self._aligner.hyp()
            frames = max(1, int(self._aligner.n_frames()))
            out.append(math.log(hyp.score) / frames if hyp is not None and hyp.score > 0 else float("-inf"))
        return out

    def phone_loop_score(self, span: tuple[int, int] | None = None) -> float:
        """The free phone loop's ln path score per frame on the last (or the current)
        utterance's audio: what the acoustic model finds with no words imposed, the reference an
        alignment's score is compared with (ctc_grammar.not_understood). Decoded over the whole
        utterance at once, like align_scores, so both see the same (batch) cepstral mean
        normalisation: a streamed phone loop's live normalisation differs from the aligner's, most
        on a fresh decoder's first utterance. ~36 ms of CPU per second of speech; -inf with no
        audio. span: only the samples [start, end), as align_scores."""
        pcm = self._audio(span)
        if not pcm:
            return float("-inf")
        self.enable_phone_loop()
        self._phone_loop.start_utt()
        self._phone_loop.process_raw(pcm, False, True)
        self._phone_loop.end_utt()
        hyp = self._phone_loop.hyp()
        frames = max(1, int(self._phone_loop.n_frames()))
        return math.log(hyp.score) / frames if hyp is not None and hyp.score > 0 else float("-inf")

    def _make_aligner(self):
        Decoder = _decoder_class()
        kwargs = dict(samprate=16000, loglevel="FATAL", fwdflat=False, bestpath=False, lm=None, **ALIGN_BEAMS)
        if self._dict_lines is None:  # no domain vocabulary: the shipped full dictionary
            return Decoder(**kwargs)
        with tempfile.TemporaryDirectory(prefix="tristream_ps_align_") as tmp:
            dict_path = os.path.join(tmp, "domain.dict")
            with open(dict_path, "w") as fh:
                fh.write("".join(f"{line}\n" for line in self._dict_lines))
            return Decoder(**kwargs, dict=dict_path)


def dictionary_entries(words: Sequence[str]) -> tuple[list[str], list[str]]:
    """Lines of the shipped cmudict-en-us for ``words`` (all pronunciation variants) and the
    words it lacks."""
    from pocketsphinx import get_model_path

    path = os.path.join(get_model_path(), "en-us", "cmudict-en-us.dict")
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: pocketsphinx's dictionary is missing (broken pocketsphinx install)")
    wanted = {w.lower() for w in words}
    found, lines = set(), []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            head = line.split(" ", 1)[0]
            base = re.sub(r"\(\d+\)$", "", head)
            if base in wanted:
                lines.append(line.rstrip("\n"))
                found.add(base)
    return lines, sorted(wanted - found)


def phone_counts(words: Sequence[str]) -> dict[str, int]:
    """Phones in each word's first cmudict-en-us pronunciation (words it lacks are left out)."""
    lines, _ = dictionary_entries(words)
    out: dict[str, int] = {}
    for line in lines:
        head, *phones = line.split()
        if _WORD_VARIANT.search(head) is None:
            out[head] = len(phones)
    return out


def _clean(text: str) -> str:
    """Pocketsphinx word strings -> our normalised text (drop fillers like <sil>, [noise], (2))."""
    words = []
    for w in text.split():
        if w.startswith(("<", "[", "+")):
            continue
        w = re.sub(r"\(\d+\)$", "", w).lower()
        words.append(w.replace(".", ""))
    return " ".join(w for w in words if w)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level Levenshtein distance / reference words."""
    r, h = sentence_words(reference), sentence_words(hypothesis)
    if not r:
        return float(len(h) > 0)
    d = list(range(len(h) + 1))
    for i in range(1, len(r) + 1):
        nd = [i] + [0] * len(h)
        for j in range(1, len(h) + 1):
            nd[j] = min(d[j] + 1, nd[j - 1] + 1, d[j - 1] + (r[i - 1] != h[j - 1]))
        d = nd
    return d[-1] / len(r)


def common_word_prefix(a: str, b: str) -> int:
    """Characters of ``b`` that begin with the same whole words as ``a``."""
    wa, wb = a.split(), b.split()
    n = 0
    for x, y in zip(wa, wb):
        if x != y:
            break
        n += 1
    return len(" ".join(wb[:n]))


def partial_stability(previous: str, current: str) -> float:
    """Share of ``current`` (in characters) already present, word for word, in ``previous``."""
    if not current:
        return 1.0
    return common_word_prefix(previous, current) / len(current)


def unknown_words(words: Sequence[str]) -> list[str]:
    """Words of ``words`` missing from the shipped dictionary (check a vocabulary up front)."""
    return dictionary_entries(words)[1]
