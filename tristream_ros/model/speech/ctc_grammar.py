"""Grammar-constrained CTC decoding: which of the sentences a robot expects was said?

Greedy CTC spells what it hears letter by letter; one wrong letter per word makes a command
unreadable. When the domain is a known sentence set (the generator's queries, or a user's
command list), the CTC posteriors can instead score every sentence exactly (the CTC forward
algorithm, `torch.nn.functional.ctc_loss`) and return the most likely one, with two numbers
that say how sure it is:

    score  = log p(sentence | audio) / frames      (per-frame log-likelihood, <= 0)
    margin = (best - second best) log-likelihood / frames
    lead   = (best - the sentence another recognizer heard) log-likelihood / frames

The hybrid front end takes this sentence instead of pocketsphinx's only when all three clear
their thresholds (an utterance the encoder knows and pocketsphinx got wrong), so speech the
CTC model does not understand (a real person, a voice unlike its training voices) keeps
pocketsphinx's text. When pocketsphinx itself matched the audio poorly (its acoustic score per
frame below `unsure_below`) the lead over its sentence only has to reach `unsure_min_lead`
(session 6: unseen espeak voices, which pocketsphinx guesses at, were left to pocketsphinx by
the lead threshold that protects flite voices; off in threshold files written before).

When the override does not fire, the two recognizers can still be combined (session 9,
`rescore_top` > 0): the CTC's `rescore_top` best sentences and pocketsphinx's own sentence are
each force-aligned by pocketsphinx (PocketsphinxRecognizer.align_scores: its acoustic model's
log-score of exactly that word sequence, per frame), and the sentence with the highest

    ctc score + rescore_weight * pocketsphinx alignment score + rescore_length * characters / frames
              (+ rescore_bonus if pocketsphinx heard it)

wins. Two acoustic models that err differently rarely agree on a wrong sentence: on unseen
espeak voices pocketsphinx's free grammar search often lands on a wrong sentence while its
alignment still ranks the CTC's candidates well (docs/training.md, session 9). The length term
is CTC decoding's usual insertion reward: the CTC, trained on the training phrasings, scores the
longer held-out ones ("please drive over to X") low.

A closed grammar turns any speech into one of its sentences: "go somewhere and do something"
becomes "go straight ahead". The out-of-domain rejection (session 10, `not_understood`, off
unless the thresholds file sets `reject_ctc_below` and `reject_gap_below`) marks an utterance
"not understood" when neither model vouches for the chosen sentence: the CTC's best sentence
scores low AND pocketsphinx's alignment of the chosen sentence trails its free phone loop
(PocketsphinxRecognizer.phone_loop_score: the best phone sequence with no words imposed) by
more than the threshold. The speech node then forwards no query, so the robot does not act.
Session 14 adds a second form of the same test, a weighted sum (`reject_gap_weight`,
`reject_combined_below`): "not understood" when the CTC's score is under `reject_ctc_below`
(as in the box: a CTC sure of its sentence vouches, and the gap is not even measured) and

    ctc score + reject_gap_weight * gap < reject_combined_below

A separate recogniser (training/recognizer.py) trained on many vocal tracts scores real voices
low whatever they say, so the CTC's vote no longer tells a real command from real chatter and
the box rule leaned on a score threshold that sat between them by chance; the sum lets a clear
gap outweigh a low score. calibrate_grammar chooses whichever form rejects more real and
synthetic out-of-domain speech while rejecting no in-domain utterance; either may be on.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F

from tristream_ros.errors import InputError, ModelFileError
from tristream_ros.model.json_file import read_json
from tristream_ros.model.text_tokenizer import BLANK_ID, CharVocab, normalize


# When the best sentence replaces pocketsphinx's text (all per-frame log-likelihoods): its score,
# its lead over the runner-up sentence, and its lead over the sentence pocketsphinx heard.
# Calibrated on 138 utterances in the generator's *val* voices (seed 5) and 120 flite utterances
# (query seed 1) so that flite voices, which pocketsphinx transcribes almost perfectly, lose
# nothing; checked on the test voices and flite seed 0 (docs/training.md). The five real
# LibriVox recordings score -0.39 .. -0.78: never overridden.
# These are the fallback for a model folder without THRESHOLDS_FILE: the thresholds depend on the
# CTC model, so `python -m tristream_ros.training.calibrate_grammar --write` stores the ones
# chosen for a model beside its weights and every front end built for that folder uses them.
GRAMMAR_MIN_SCORE = -0.3
GRAMMAR_MIN_MARGIN = 0.02
GRAMMAR_MIN_LEAD = 0.3
GRAMMAR_UNSURE_BELOW = float("-inf")  # pocketsphinx acoustic score per frame under which it counts as unsure (off)
GRAMMAR_UNSURE_MIN_LEAD = float("inf")  # the lead needed then (off)
THRESHOLDS_FILE = "ctc_grammar.json"  # in a model folder: {"min_score", "min_margin", "min_lead", ...}
RESCORE_FIELDS = ("rescore_top", "rescore_weight", "rescore_bonus", "rescore_length")  # optional in the file (off when absent)
# optional in the file (off when absent: nothing is rejected); written only when finite
REJECT_FIELDS = ("reject_ctc_below", "reject_gap_below", "reject_gap_weight", "reject_combined_below")


@dataclass(frozen=True)
class GrammarThresholds:
    """Per-frame log-likelihood thresholds of the CTC-grammar override (see the module doc)."""

    min_score: float = GRAMMAR_MIN_SCORE
    min_margin: float = GRAMMAR_MIN_MARGIN
    min_lead: float = GRAMMAR_MIN_LEAD
    unsure_below: float = GRAMMAR_UNSURE_BELOW
    unsure_min_lead: float = GRAMMAR_UNSURE_MIN_LEAD
    rescore_top: int = 0  # CTC candidates pocketsphinx re-aligns when the override does not fire (0: off)
    rescore_weight: float = 0.0  # weight of pocketsphinx's per-frame alignment score against the CTC's
    rescore_bonus: float = 0.0  # added to the sentence pocketsphinx itself heard
    rescore_length: float = 0.0  # reward per character of a candidate, per CTC frame
    # out-of-domain rejection (`not_understood`): the utterance is "not understood" when the CTC's
    # best sentence scores under reject_ctc_below per frame AND pocketsphinx's alignment of the
    # chosen sentence trails its free phone loop by more than -reject_gap_below per frame
    reject_ctc_below: float = float("-inf")  # -inf: off
    reject_gap_below: float = float("-inf")  # ln units per frame (alignment - phone loop; ~1e-3 scale)
    # ... OR (CTC under reject_ctc_below too) when ctc score + reject_gap_weight * gap is under
    # reject_combined_below (session 14)
    reject_gap_weight: float = 0.0  # CTC score per frame per unit of gap (~500: 1e-3 of gap counts 0.5)
    reject_combined_below: float = float("-inf")  # -inf: off

    @property
    def rejects_box(self) -> bool:
        """True when the both-must-fail form of the rejection is on."""
        return self.reject_ctc_below > float("-inf") and self.reject_gap_below > float("-inf")

    @property
    def rejects_combined(self) -> bool:
        """True when the weighted-sum form of the rejection is on."""
        return self.reject_ctc_below > float("-inf") and self.reject_combined_below > float("-inf")

    @property
    def rejects(self) -> bool:
        """True when the out-of-domain rejection is on (either form)."""
        return self.rejects_box or self.rejects_combined

    def may_reject(self, ctc_score: float) -> bool:
        """Whether an utterance whose CTC best sentence scores `ctc_score` can be rejected at all
        (the gap is only measured then: it costs a phone-loop decode)."""
        return self.rejects and ctc_score < self.reject_ctc_below

    def without_rejection(self) -> "GrammarThresholds":
        """The same thresholds with the out-of-domain rejection off."""
        return replace(self, **REJECT_OFF)


REJECT_OFF = {k: getattr(GrammarThresholds(), k) for k in REJECT_FIELDS}  # the rejection off (the defaults)
NEVER_OVERRIDE = GrammarThresholds(float("inf"), float("inf"), float("inf"), float("-inf"), float("inf"))  # rescoring off


def load_grammar_thresholds(model_dir: str | Path | None) -> GrammarThresholds:
    """The thresholds calibrated for the model in `model_dir` (THRESHOLDS_FILE), or the module
    defaults when the folder has none. A file that is there but unreadable is an error."""
    if model_dir is None:
        return GrammarThresholds()
    path = Path(model_dir) / THRESHOLDS_FILE
    if not path.is_file():
        return GrammarThresholds()
    d = read_json(path, "CTC-grammar thresholds")
    try:
        values = {k: float(d[k]) for k in ("min_score", "min_margin", "min_lead")}
        values.update({k: float(d[k]) for k in ("unsure_below", "unsure_min_lead") if k in d})  # optional
        values.update({k: float(d[k]) for k in RESCORE_FIELDS[1:] if k in d})
        if "rescore_top" in d:
            values["rescore_top"] = int(d["rescore_top"])
        values.update({k: float(d[k]) for k in REJECT_FIELDS if k in d and d[k] is not None})
    except (ValueError, TypeError, KeyError) as e:
        raise ModelFileError(f"{path}: expected numbers min_score, min_margin, min_lead ({e!r})") from None
    bad = [k for k, v in values.items() if math.isnan(v)]
    if bad:
        raise ModelFileError(f"{path}: {bad} are NaN")
    if values.get("rescore_top", 0) < 0 or not math.isfinite(values.get("rescore_weight", 0.0)):
        raise ModelFileError(f"{path}: rescore_top must be >= 0 and rescore_weight finite")
    w = values.get("reject_gap_weight", 0.0)
    if not math.isfinite(w) or w < 0:
        raise ModelFileError(f"{path}: reject_gap_weight must be a finite number >= 0, got {w}")
    return GrammarThresholds(**values)


def grammar_overrides(score: float, margin: float, lead: float, pocketsphinx_score: float,
                      t: GrammarThresholds) -> bool:
    """The hybrid front end's rule (one place: HybridSpeechTokenizer and the calibration replay):
    does the CTC's best sentence (its GrammarMatch score / margin / lead) replace pocketsphinx's
    text under thresholds `t`? pocketsphinx_score: its acoustic score per frame (inf: unknown)."""
    min_lead = t.min_lead
    if pocketsphinx_score < t.unsure_below:  # pocketsphinx was guessing: a smaller lead is enough
        min_lead = min(min_lead, t.unsure_min_lead)
    return score >= t.min_score and margin >= t.min_margin and lead >= min_lead


def not_understood(ctc_score: float, gap: float, t: GrammarThresholds) -> bool:
    """The out-of-domain rule (one place: HybridSpeechTokenizer and the calibration replay): is
    an utterance outside what the grammar holds? ctc_score: the CTC's best grammar sentence per
    frame (low for voices or words it does not know); gap: pocketsphinx's forced alignment of the
    chosen sentence minus its free phone loop, per frame (near or above 0 when the sentence
    explains the audio; well below 0 when the words spoken are not the sentence's). Both must
    fail: the CTC vouches for the training-like voices pocketsphinx misreads, pocketsphinx for
    real voices the CTC never heard. (Session 10 also tried letting the two recognizers'
    agreement vouch, as it does for 0.41 of in-domain val utterances and 0.06 of out-of-domain
    ones: on real out-of-domain recordings and the test voices it did worse; docs/training.md.)
    The weighted-sum form (session 14), under the same CTC gate, lets a wide gap reject speech
    the CTC half vouches for, and a CTC score far below its usual range reject speech
    pocketsphinx half accepts."""
    if not t.rejects or ctc_score >= t.reject_ctc_below:
        return False
    return gap < t.reject_gap_below or ctc_score + t.reject_gap_weight * gap < t.reject_combined_below


def rescored_sentence(candidates: Sequence[tuple[str, float]], align_scores: Sequence[float], heard: str,
                      t: GrammarThresholds, frames: int = 1) -> str:
    """The hybrid's rescoring rule (one place: HybridSpeechTokenizer and the calibration replay):
    candidates (sentence, CTC per-frame log-likelihood) with pocketsphinx's per-frame alignment
    score of each (-inf: it could not align it) -> the sentence with the highest combined score
    (`heard`: pocketsphinx's own sentence, which gets `t.rescore_bonus`; `frames`: the CTC
    frames of the utterance, for the length reward)."""
    if not candidates:
        raise InputError("rescored_sentence needs at least one candidate")
    best, best_score = candidates[0][0], -math.inf
    per_char = t.rescore_length / max(1, int(frames))
    for (text, ctc), ps in zip(candidates, align_scores):
        score = ctc + t.rescore_weight * ps + per_char * len(text) + (t.rescore_bonus if text == heard else 0.0)
        if score > best_score:
            best, best_score = text, score
    return best


def rescore_candidates(ranked: Sequence[tuple[str, float]], top: int, heard: str) -> list[tuple[str, float]]:
    """The rescoring's candidates out of a `CtcSentenceScorer.top(log_probs, k >= top,
    extra=(heard,))` list: the first `top` (the CTC's best) and the sentence pocketsphinx heard,
    in that order (what `top(log_probs, top, extra=(heard,))` returns)."""
    said = normalize(heard) if heard else None
    return [x for i, x in enumerate(ranked) if i < top or x[0] == said]


def save_grammar_thresholds(model_dir: str | Path, thresholds: GrammarThresholds, source: dict | None = None) -> Path:
    """Write THRESHOLDS_FILE into `model_dir` (with `source`: how they were chosen)."""
    path = Path(model_dir) / THRESHOLDS_FILE
    body = {"min_score": thresholds.min_score, "min_margin": thresholds.min_margin,
            "min_lead": thresholds.min_lead,
            **{k: v for k, v in (("unsure_below", thresholds.unsure_below),
                                 ("unsure_min_lead", thresholds.unsure_min_lead)) if math.isfinite(v)},
            **({k: getattr(thresholds, k) for k in RESCORE_FIELDS} if thresholds.rescore_top > 0 else {}),
            **{k: getattr(thresholds, k) for k in REJECT_FIELDS
               if thresholds.rejects and math.isfinite(getattr(thresholds, k))
               and (k != "reject_gap_weight" or thresholds.rejects_combined)},
            **({"source": source} if source else {})}
    path.write_text(json.dumps(body, indent=1) + "\n")
    return path


def _check_log_probs(log_probs: torch.Tensor) -> None:
    if log_probs.dim() != 2 or log_probs.shape[0] == 0:
        raise InputError(f"CtcSentenceScorer expects log_probs (T, V) with T > 0, got {tuple(log_probs.shape)}")


@dataclass(frozen=True)
class GrammarMatch:
    text: str
    score: float  # per-frame log-likelihood of the best sentence
    margin: float  # per-frame log-likelihood gap to the runner-up (inf with one sentence)
    lead: float = float("inf")  # per-frame gap to the `other` sentence given to best() (inf: none / not in the set)


class CtcSentenceScorer:
    """Scores CTC log-probabilities (T, V) against a fixed sentence list."""

    def __init__(self, sentences: Sequence[str], batch: int = 512, shortlist: int = 96):
        vocab = CharVocab()
        texts = sorted({normalize(s) for s in sentences if normalize(s)})
        if not texts:
            raise InputError("CtcSentenceScorer needs at least one non-empty sentence")
        self.sentences = texts
        self._index = {t: i for i, t in enumerate(texts)}
        self.batch = int(batch)
        ids = [vocab.encode(t) for t in texts]
        self.shortlist = int(shortlist)
        # character counts per sentence (S, V): the cheap pre-filter's view of each sentence
        self._counts = torch.zeros(len(ids), len(vocab))
        for k, i in enumerate(ids):
            self._counts[k].index_add_(0, torch.tensor(i, dtype=torch.long), torch.ones(len(i)))
        self._counts[:, BLANK_ID] = 0.0
        self._lengths = torch.tensor([len(i) for i in ids], dtype=torch.long)
        self._targets = torch.zeros(len(ids), int(self._lengths.max()), dtype=torch.long)
        for k, i in enumerate(ids):
            self._targets[k, : len(i)] = torch.tensor(i, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.sentences)

    @torch.no_grad()
    def candidates(self, log_probs: torch.Tensor) -> torch.Tensor:
        """Indices of the `shortlist` sentences whose character counts are closest (L1) to the
        posteriors' expected counts (sum over frames of each non-blank character's probability):
        a cheap pre-filter, so the exact CTC scores run on ~100 sentences, not thousands."""
        if len(self.sentences) <= self.shortlist:
            return torch.arange(len(self.sentences))
        expected = log_probs.float().exp().sum(0)  # (V,)
        expected[BLANK_ID] = 0.0
        dist = (self._counts - expected[None]).abs().sum(-1)  # (S,)
        return torch.topk(-dist, self.shortlist).indices

    @torch.no_grad()
    def log_likelihoods(self, log_probs: torch.Tensor, subset: torch.Tensor | None = None) -> torch.Tensor:
        """log_probs (T, V) of one utterance -> log p(sentence | audio) (S,) for every sentence
        (or for the indices in `subset`), -inf where a sentence needs more frames than there are."""
        _check_log_probs(log_probs)
        T = log_probs.shape[0]
        targets, lengths = (self._targets, self._lengths) if subset is None else \
            (self._targets[subset], self._lengths[subset])
        out = []
        for a in range(0, len(targets), self.batch):
            tgt, tlen = targets[a:a + self.batch], lengths[a:a + self.batch]
            n = tgt.shape[0]
            lp = log_probs.float()[:, None, :].expand(T, n, log_probs.shape[1])  # (T, n, V)
            nll = F.ctc_loss(lp, tgt, torch.full((n,), T, dtype=torch.long), tlen, blank=BLANK_ID,
                             reduction="none", zero_infinity=False)
            out.append(-nll)
        return torch.cat(out)

    def top(self, log_probs: torch.Tensor, k: int, extra: Sequence[str] = ()) -> list[tuple[str, float]]:
        """The `k` most likely sentences among the pre-filtered candidates, best first, then each
        of `extra` that is one of the sentences and not already listed: (sentence, per-frame
        log-likelihood) pairs."""
        _check_log_probs(log_probs)
        T = log_probs.shape[0]
        cand = self.candidates(log_probs)
        ll = self.log_likelihoods(log_probs, cand)
        order = torch.argsort(ll, descending=True)[: max(0, int(k))]
        out = [(self.sentences[int(cand[i])], float(ll[i]) / T) for i in order]
        listed = {t for t, _ in out}
        for e in extra:
            i = self._index.get(normalize(e)) if e else None
            if i is not None and self.sentences[i] not in listed:
                out.append((self.sentences[i], float(self.log_likelihoods(log_probs, torch.tensor([i]))[0]) / T))
                listed.add(self.sentences[i])
        return out

    def best(self, log_probs: torch.Tensor, other: str | None = None) -> GrammarMatch:
        """The most likely sentence among the pre-filtered candidates (plus `other`); `other`
        (e.g. pocketsphinx's text) sets GrammarMatch.lead (inf when `other` is None or not one of
        the sentences)."""
        return self.match(self.top(log_probs, 2, extra=(other,) if other is not None else ()), other)

    def match(self, ranked: Sequence[tuple[str, float]], other: str | None = None) -> GrammarMatch:
        """The GrammarMatch of a `top(log_probs, k >= 2, extra=(other,))` list: the best two of
        the candidates and `other` are in it, so one scoring serves both (the hybrid front end
        scores once for the override and its rescoring)."""
        if not ranked:
            raise InputError("CtcSentenceScorer.match needs a non-empty top() list")
        order = sorted(ranked, key=lambda x: -x[1])
        best = order[0][1]
        second = order[1][1] if len(order) > 1 else float("-inf")
        lead = float("inf")
        o = normalize(other) if other is not None else None
        for text, score in ranked:
            if text == o:
                lead = best - score
        return GrammarMatch(order[0][0], best, best - second, lead)
