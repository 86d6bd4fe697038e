"""Calibrate the hybrid front end's CTC-grammar override thresholds for a speech model.

The hybrid front end (model/speech/tokenizer.HybridSpeechTokenizer) keeps pocketsphinx's text
unless the CTC's best grammar sentence clears three thresholds (model/speech/ctc_grammar.py:
GRAMMAR_MIN_SCORE, GRAMMAR_MIN_MARGIN, GRAMMAR_MIN_LEAD). They depend on the CTC model, so they
are re-chosen after every CTC change, on voices the model was not trained on and not tested on:

    python -m tristream_ros.training.calibrate_grammar --model MODEL_DIR --data VAL_DATA \\
        [--guard-n 24] [--guard-seed 1] [--guard-engines flite] [--guard-rooms off]
        [--out calib.json] [--write]

--write stores the chosen thresholds in MODEL_DIR/ctc_grammar.json, which every front end built
for that folder reads (the speech_tokenizer_node, `tristream eval`, the benchmarks; see
model/speech/ctc_grammar.load_grammar_thresholds); training/ship.py ships it with the weights.

VAL_DATA: a generated dataset with a *val* split (val voices: neither training nor test voices;
`tristream generate dataset --train 0 --val 800 --test 0 --seed 5`; 200 before session 18). Each spoken val query and
each of `guard-n` held-out-phrasing queries (tts_queries, `guard-seed`) per voice of the guard's
engines (flite by default; never trained on; `--guard-rooms on`: each also heard in a test-split
room) runs once through the hybrid front end with the override off, recording pocketsphinx's
sentence and the CTC grammar's best match (score, margin, lead). The grid below is then replayed
offline: the chosen thresholds maximise sentence-exact transcripts on the val voices while every
family of the guard (an engine, clean or in rooms) stays at least as exact as with pocketsphinx
alone (these voices sound unlike espeak: they stand for the voices the CTC does not know); ties
go to the highest (most conservative) thresholds.
Two more thresholds (session 6) relax the lead for utterances pocketsphinx itself matched
poorly (its acoustic score per frame below `unsure_below`: lead >= `unsure_min_lead` instead);
the grid includes "off" (-inf), so they are only used where they pay on val and keep the guard.
A second stage (session 9) chooses, with those thresholds fixed, the rescoring of utterances the
override leaves alone (ctc_grammar module doc: the CTC's best `rescore_top` sentences and
pocketsphinx's, re-ranked with pocketsphinx's forced alignment of each) under the same rule:
most val transcripts exact, guard kept; it stays off unless it gains on val.
A third stage (session 10) chooses the out-of-domain rejection (ctc_grammar.not_understood) on
the calibration half of data/out_of_domain.py's sentences (espeak val voices and flite voices):
the thresholds that reject the most of them while rejecting none of the val and guard
utterances (misheard ones included: a first version allowed rejecting misheard val utterances,
and on the test voices it then also rejected 6 of 240 queries whose actions had been right);
it stays off unless it rejects something. `--no-reject` skips it. Session 14 adds real people's
out-of-domain recordings to that stage (data/recordings entries marked rejection_calibration:
cards read aloud and a sung phrase; the other real recordings stay held out for
evaluate_domain and the tests) and a second form of the rule (a weighted sum of the CTC score
and the gap); the form and thresholds that reject the most of the synthetic and the real
out-of-domain speech (each set counting half) are chosen; the weighted sum's CTC gate is then
lowered as far as it changes no decision (it only spares the phone-loop decode).

    python -m tristream_ros.training.calibrate_grammar --model MODEL_DIR --records calib.json --write

re-chooses from a previous run's --out records in seconds (same speech model and recogniser).

Session 19 puts a floor under the override's lead over pocketsphinx's sentence (MIN_LEAD,
`--min-lead`; 0 searches the whole grid): a lead chosen by a couple of val utterances let the
CTC outvote pocketsphinx's right sentence on voices it does not know. Session 25 puts a margin
between the rejection and the in-domain records (REJECT_MARGIN, `--reject-margin`): the
held-out voices' in-domain utterances reach past val's edge. Session 26 lets the guard take
other engines' voices and rooms (`--guard-engines`, `--guard-rooms`; --flite-n / --flite-seed are
the old names of --guard-n / --guard-seed), each family held on its own (guard_kept); measured,
not the default (GUARD_ENGINES).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

from tristream_ros.data.tts_engines import ENGINES
from tristream_ros.errors import InputError
from tristream_ros.model.speech.ctc_grammar import (NEVER_OVERRIDE, REJECT_FIELDS, REJECT_OFF, GrammarThresholds,
                                                    grammar_overrides, not_understood, rescore_candidates,
                                                    rescored_sentence)

SCORES = (-0.1, -0.2, -0.3, -0.4, -0.5, -0.6, -0.8, -1.0)
MARGINS = (0.0, 0.01, 0.02, 0.05, 0.1)
LEADS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.8)
# The override's lead over pocketsphinx's sentence is at least this (session 19, `--min-lead`):
# the session-19 recogniser's calibration chose 0.5 by 2 of 680 val utterances (0.935 against
# 0.932 at 0.8), and on flite's voices (seed 0, the evaluation's queries, not the guard's) that
# let the CTC replace pocketsphinx's right sentence 5 times in 150 ("tell me your skills" ->
# "go back"). The guard (24 queries per flite voice) cannot see a cost that small; the floor
# keeps the CTC from outvoting pocketsphinx on voices it does not know unless it is well ahead.
# Chosen after that evaluation (docs/training.md, session 19), so flite seed 0 is no longer a
# clean test of this one choice.
MIN_LEAD = 0.8
UNSURE_BELOWS = (float("-inf"), 0.03, 0.035, 0.04, 0.042, 0.045, 0.05)  # pocketsphinx acoustic score / frame
UNSURE_LEADS = (0.0, 0.1, 0.2, 0.3, 0.5)
RESCORE_TOPS = (2, 3)  # <= RECORD_TOP; each candidate costs a forced alignment (~25 ms) at the end of an utterance
RESCORE_WEIGHTS = (30.0, 100.0, 300.0, 500.0, 1000.0, 2000.0, 3000.0)  # alignment scores are ~-0.003 per frame
RESCORE_BONUSES = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
RESCORE_LENGTHS = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0)  # reward per character per CTC frame
REJECT_CTCS = (-0.3, -0.35, -0.4, -0.45, -0.5, -0.55, -0.6, -0.7, -0.8)  # CTC best-sentence score per frame
# alignment - phone loop per frame (ln units); never above 0: a sentence that explains the audio
# at least as well as the free phone loop is always accepted (real voices saying a sentence of
# the grammar score +1e-3 to +2.3e-3: LibriVox with its sentences added, flite)
REJECT_GAPS = (-2e-3, -1.5e-3, -1.2e-3, -1e-3, -8e-4, -6e-4, -5e-4, -4e-4, -3e-4, -2e-4, -1e-4, 0.0)
REJECT_GAP_WEIGHTS = (250.0, 500.0, 1000.0, 2000.0)  # weighted-sum form: CTC score per frame per unit of gap
REJECT_COMBINEDS = tuple(round(-0.6 - 0.05 * i, 2) for i in range(49))  # -0.6 .. -3.0: CTC score + weight x gap
# The rejection keeps this margin from the in-domain records (session 25, `--reject-margin`), in
# the weighted sum's units (CTC best-sentence score per frame): a candidate qualifies only if,
# moved this far toward in-domain speech, it still rejects no val or guard record. Without it the
# search put the gate at val's edge: session 24's continued recogniser got -0.95 with the
# nearest val utterance at -0.92, and the 800-sample set's held-out voices then had 13 in-domain
# utterances rejected (8 at the shipped -1.1). Introduced after seeing that set, so it is not a
# clean test of this choice; 0.15 is what moves that gate to the shipped model's -1.1.
REJECT_MARGIN = 0.15
# the box form's gap threshold moves by margin / this (CTC score per frame per unit of gap: the
# weight both calibrated weighted sums, sessions 14 and 19, chose)
REJECT_MARGIN_GAP_WEIGHT = 500.0
# The guard set: GUARD_N held-out-phrasing queries (tts_queries, GUARD_SEED) spoken by every voice
# of GUARD_ENGINES (none trained on); with GUARD_ROOMS each also in a test-split room. Each family
# ("flite", "pico-room", ...) must stay as exact as pocketsphinx alone (guard_kept). Session 26
# measured the wider guard (flite, pico, festival, rooms on) on the shipped recogniser: it cost the
# espeak test voices 0.3-0.7 points of spoken-question exact match (test240 0.921 -> 0.914, 800-set
# 0.865 -> 0.862), gained 0-4 points on every held-out set of the other engines, left the spliced
# real commands as they were (70 of 100 heard exactly) and, with REJECT_MARGIN, rejected 60 of 355
# real out-of-domain utterances instead of 95 (docs/training.md, session 26). Not shipped, so the
# default stays the guard the shipped thresholds were chosen with: flite's clean voices.
GUARD_ENGINES: tuple[str, ...] = ("flite",)
GUARD_ROOMS = False
GUARD_N = 24
GUARD_SEED = 1
RECORD_TOP = 8  # CTC candidates each record keeps (with pocketsphinx's alignment) for the rescoring grid


def _record(tok, audio: np.ndarray, query: str, source: str) -> dict:
    from tristream_ros.model.text_tokenizer import normalize
    utt = tok.transcribe(audio)
    m = tok.last_match if utt is not None else None
    ps_text = normalize(tok.last_pocketsphinx_text) if utt is not None else ""
    cands = []
    if m is not None:  # the rescoring's inputs: CTC top sentences + pocketsphinx's, each aligned by pocketsphinx
        top = tok.grammar.top(tok.encoder_frontend.log_probs, RECORD_TOP, extra=(ps_text,))
        align = tok.recognizer.align_scores([t for t, _ in top])
        cands = [[t, c, a] for (t, c), a in zip(top, align)]
    return {"source": source, "query": normalize(query),
            "pocketsphinx": ps_text,
            "heard": normalize(utt.text) if utt is not None else "",
            "ctc_best": m.text if m is not None else None,
            "score": None if m is None else float(m.score), "margin": None if m is None else float(m.margin),
            "lead": None if m is None else float(m.lead),
            "pocketsphinx_score": float(tok.last_pocketsphinx_score) if utt is not None else None,
            "candidates": cands, "frames": int(tok.encoder_frontend.log_probs.shape[0]) if m is not None else 0,
            "phone_loop": float(tok.recognizer.phone_loop_score()) if m is not None else None}


def rejection_point(r: dict, *thresholds: float) -> tuple[float, float] | None:
    """What the out-of-domain test reads of record r at these transcript thresholds: (the CTC's
    best score, the chosen sentence's recorded alignment minus the recorded phone loop score);
    None when it was not recorded (no CTC match, no phone loop, the sentence not aligned):
    not testable, accepted."""
    if r["ctc_best"] is None or r.get("phone_loop") is None:
        return None
    text = chosen(r, *thresholds)
    align = next((c[2] for c in r.get("candidates", ()) if c[0] == text), None)
    return None if align is None else (r["score"], align - r["phone_loop"])


def rejected(r: dict, *thresholds: float) -> bool:
    """Whether the hybrid marks record r "not understood" at these thresholds (GrammarThresholds'
    fields in order, the last four the rejection's; ctc_grammar.not_understood of
    rejection_point)."""
    t = GrammarThresholds(*thresholds)
    point = rejection_point(r, *thresholds) if t.rejects else None
    return point is not None and not_understood(*point, t)


def kept(records: list[dict], *thresholds) -> float:
    """Fraction transcribed exactly and not rejected."""
    return float(np.mean([chosen(r, *thresholds) == r["query"] and not rejected(r, *thresholds)
                          for r in records])) if records else float("nan")


def chosen(r: dict, *thresholds: float) -> str:
    """The hybrid's text for record r at these thresholds (GrammarThresholds' fields in order:
    score, margin, lead[, unsure_below, unsure_min_lead[, rescore_top, rescore_weight,
    rescore_bonus[, rescore_length]]]; HybridSpeechTokenizer's rule)."""
    ps = r.get("pocketsphinx_score")
    t = GrammarThresholds(*thresholds)
    if r["ctc_best"] is None:
        return r["heard"]
    if grammar_overrides(r["score"], r["margin"], r["lead"], float("inf") if ps is None else ps, t):
        return r["ctc_best"]
    if t.rescore_top > 0 and r.get("candidates"):
        # the hybrid's candidates out of the recorded top RECORD_TOP + pocketsphinx's sentence
        c = rescore_candidates(r["candidates"], t.rescore_top, r["pocketsphinx"])
        return rescored_sentence([(x[0], x[1]) for x in c], [x[2] for x in c], r["pocketsphinx"], t,
                                 frames=r.get("frames", 1))
    return r["heard"]


def exact(records: list[dict], *thresholds) -> float:
    return float(np.mean([chosen(r, *thresholds) == r["query"] for r in records])) if records else float("nan")


def guard_groups(guard: list[dict]) -> dict[str, list[dict]]:
    """The guard's records by voice family: the part of their source before ":" ("flite",
    "pico-room", ...)."""
    groups: dict[str, list[dict]] = {}
    for r in guard:
        groups.setdefault(r.get("source", "guard").split(":")[0], []).append(r)
    return groups


def guard_baseline(guard: list[dict]) -> tuple[dict[str, list[dict]], dict[str, float]]:
    """The guard's families (guard_groups) and how exact each is with pocketsphinx alone: what
    guard_kept holds them to."""
    groups = guard_groups(guard)
    never = (float("inf"),) * 3
    return groups, {g: exact(rs, *never) for g, rs in groups.items()}


def guard_kept(groups: dict[str, list[dict]], base: dict[str, float], *thresholds) -> bool:
    """Whether every voice family of the guard is at least as exact at these thresholds as its
    `base` (pocketsphinx alone): one family's gain does not pay for another's loss."""
    return all(exact(rs, *thresholds) >= base[g] - 1e-9 for g, rs in groups.items())


def grid_search(val: list[dict], guard: list[dict], min_lead: float = MIN_LEAD) -> dict:
    """Best thresholds on `val` that keep every family of `guard` at least as exact as
    pocketsphinx alone (guard_kept), with the override's lead at least `min_lead` (the grid's
    LEADS under it are skipped)."""
    never = (float("inf"),) * 3
    base_guard = exact(guard, *never)
    groups, base = guard_baseline(guard)
    leads = [x for x in LEADS if x >= min_lead - 1e-12]
    if not leads:
        raise ValueError(f"min_lead {min_lead} is above every lead of the grid {LEADS}")
    best = None
    for s, m, lead, ub, ul in itertools.product(SCORES, MARGINS, leads, UNSURE_BELOWS, UNSURE_LEADS):
        if (ub == float("-inf")) != (ul == UNSURE_LEADS[-1]) or ul > lead:
            continue  # "off" once (its lead is moot); a relaxed lead is never stricter than min_lead
        if not guard_kept(groups, base, s, m, lead, ub, ul):
            continue
        key = (exact(val, s, m, lead, ub, ul), s, m, lead, -ub, ul)
        if best is None or key > best:
            best = key
    out = {"pocketsphinx_only": {"val_exact": exact(val, *never), "guard_exact": base_guard,
                                 "guard_exact_by_family": base},
           "ctc_grammar_always": {"val_exact": exact(val, -np.inf, -np.inf, -np.inf),
                                  "guard_exact": exact(guard, -np.inf, -np.inf, -np.inf)}}
    if best is not None:
        _, s, m, lead, nub, ul = best
        ub = -nub
        off = ub == float("-inf")  # stored as null (JSON has no infinity)
        out["chosen"] = {"score": s, "margin": m, "lead": lead, "unsure_below": None if off else ub,
                         "unsure_min_lead": None if off else ul,
                         "val_exact": exact(val, s, m, lead, ub, ul), "guard_exact": exact(guard, s, m, lead, ub, ul)}
        out["chosen"].update(rescore_search(val, guard, (s, m, lead, ub, ul)))
        t = thresholds_of(out["chosen"])
        out["chosen"]["guard_exact_by_family"] = {g: exact(rs, *t) for g, rs in groups.items()}
    return out


def rescore_search(val: list[dict], guard: list[dict], thresholds: tuple) -> dict:
    """Second stage, with the override's thresholds fixed: the rescoring (top, weight, bonus,
    length) that makes the most val transcripts exact while every family of the guard stays at
    least as exact as pocketsphinx alone (guard_kept). Off unless it gains on val; ties go to
    the fewest candidates (each costs an alignment), then the largest bonus for pocketsphinx's
    own sentence, then the smallest weight, then the smallest length reward."""
    without = exact(val, *thresholds)
    groups, base = guard_baseline(guard)
    best_key, best = None, None
    for k, w, b, ln in itertools.product(RESCORE_TOPS, RESCORE_WEIGHTS, RESCORE_BONUSES, RESCORE_LENGTHS):
        t = (*thresholds, k, w, b, ln)
        v = exact(val, *t)
        if v <= without + 1e-9 or not guard_kept(groups, base, *t):
            continue
        key = (v, -k, b, -w, -ln)
        if best_key is None or key > best_key:
            best_key, best = key, t
    if best is None:
        return {"rescore_top": 0, "rescore_weight": 0.0, "rescore_bonus": 0.0, "rescore_length": 0.0}
    return {"rescore_top": best[5], "rescore_weight": best[6], "rescore_bonus": best[7], "rescore_length": best[8],
            "val_exact_without_rescoring": without, "val_exact": exact(val, *best), "guard_exact": exact(guard, *best)}


def rejection_fields(res: dict) -> tuple:
    """The four rejection fields (GrammarThresholds' last four, REJECT_FIELDS' order) of a
    reject_search result, off where it has none."""
    return tuple(REJECT_OFF[k] if res.get(k) is None else res[k] for k in REJECT_FIELDS)


def rejection_candidates():
    """Both forms of the rule over their grids: (form, rejection fields, conservatism), the
    conservatism higher for lower thresholds (fewer utterances can fall under them). The
    weighted sum is searched ungated (its CTC gate at 0: every utterance tested); reject_search
    then lowers the gate only as far as it changes no decision (`tightest_gate`)."""
    for c, g in itertools.product(REJECT_CTCS, REJECT_GAPS):
        yield "box", (c, g, 0.0, float("-inf")), (-c, -g)
    for w, b in itertools.product(REJECT_GAP_WEIGHTS, REJECT_COMBINEDS):
        yield "weighted_sum", (0.0, float("-inf"), w, b), (-b, -w)  # CTC gate 0.0: every utterance is tested


def tightest_gate(points: list[tuple[float, float]], thresholds: tuple, fields: tuple) -> float:
    """The lowest CTC gate (REJECT_CTCS, or 0.0) under which the weighted sum `fields` decides
    every recorded (score, gap) point as it does ungated. The gate chooses nothing: it only
    spares the phone-loop decode (~100 ms at the end of an utterance, `tristream bench
    rejection`) for speech the CTC is too sure of for the sum to reject it on these records.
    (Session 14 first searched the gate with the sum: it then chose -0.7, between a real
    command and real digits by chance, as the box had.)"""
    ungated = [not_understood(s, g, GrammarThresholds(*thresholds, *fields)) for s, g in points]
    for c in sorted(REJECT_CTCS):
        t = GrammarThresholds(*thresholds, c, *fields[1:])
        if [not_understood(s, g, t) for s, g in points] == ungated:
            return c
    return 0.0


def widened(form: str, fields: tuple, margin: float) -> tuple:
    """Rejection `fields` moved `margin` toward in-domain speech (REJECT_MARGIN's units): the
    weighted sum's threshold up by margin; the box's CTC gate up by margin and its gap threshold
    up by margin / REJECT_MARGIN_GAP_WEIGHT."""
    c, g, w, b = fields
    if form == "box":
        return (c + margin, g + margin / REJECT_MARGIN_GAP_WEIGHT, w, b)
    return (c, g, w, b + margin)


def reject_search(val: list[dict], guard: list[dict], ood: list[dict], thresholds: tuple,
                  real: list[dict] = (), margin: float = REJECT_MARGIN) -> dict:
    """Third stage, with the transcript thresholds fixed: the rejection (either form of
    ctc_grammar.not_understood, over its grid) that rejects the most out-of-domain speech while
    rejecting no val or guard record (in-domain speech, misheard or not). The out-of-domain
    speech is `ood` (synthetic voices) and `real` (real people's recordings, session 14); with
    both, each set counts half (a form that only fits synthetic voices lost real ones: the box
    chosen for a separate recogniser leaned on a CTC score real voices reach whatever they say).
    Off unless something is rejected; ties go to the box form, then the lowest thresholds (the
    most conservative). A candidate must also reject no val or guard record when moved `margin`
    toward them (`widened`, REJECT_MARGIN): held-out voices reach past val's edge."""
    def points(records):  # (CTC score, gap of the chosen sentence) per testable record
        return [p for p in (rejection_point(r, *thresholds) for r in records) if p is not None]

    inside = points(val) + points(guard)
    p_ood, p_real = points(ood), points(real)
    best_key, best = None, None
    for form, fields, conservatism in rejection_candidates():
        t = GrammarThresholds(*thresholds, *fields)
        safe = GrammarThresholds(*thresholds, *widened(form, fields, margin))
        if any(not_understood(s, g, safe) for s, g in inside):  # (the margin 0 test is t's own)
            continue
        fracs = [sum(not_understood(s, g, t) for s, g in p) / len(full)  # over all records of the set
                 for p, full in ((p_ood, ood), (p_real, real)) if full]
        r = float(np.mean(fracs)) if fracs else 0.0
        if r <= 0.0:
            continue
        key = (r, form == "box", *conservatism)
        if best_key is None or key > best_key:
            best_key, best = key, (form, fields)
    if best is None:
        return {"reject_form": None, "reject_ctc_below": None, "reject_gap_below": None}
    form, fields = best
    if form == "weighted_sum":
        fields = (tightest_gate(inside + p_ood + p_real, thresholds, fields), *fields[1:])
    t = (*thresholds, *fields)
    out = {"reject_form": form, "reject_margin": margin}
    if form == "box":
        out.update(reject_ctc_below=fields[0], reject_gap_below=fields[1])
    else:
        out.update(reject_ctc_below=fields[0], reject_gap_below=None, reject_gap_weight=fields[2],
                   reject_combined_below=fields[3])
    out.update({"out_of_domain_rejected": float(np.mean([rejected(x, *t) for x in ood])) if ood else None,
                "real_out_of_domain_rejected": float(np.mean([rejected(x, *t) for x in real])) if real else None,
                "val_rejected": float(np.mean([rejected(x, *t) for x in val])),
                "guard_rejected": float(np.mean([rejected(x, *t) for x in guard])) if guard else None,
                "val_kept_exact": kept(val, *t), "guard_kept_exact": kept(guard, *t) if guard else None})
    return out


def thresholds_of(c: dict) -> tuple:
    """The GrammarThresholds fields (in order) of a `chosen` dict, without the rejection's
    (rejection_fields gives those)."""
    ub = float("-inf") if c["unsure_below"] is None else c["unsure_below"]
    ul = float("inf") if c["unsure_min_lead"] is None else c["unsure_min_lead"]
    return (c["score"], c["margin"], c["lead"], ub, ul, c.get("rescore_top", 0), c.get("rescore_weight", 0.0),
            c.get("rescore_bonus", 0.0), c.get("rescore_length", 0.0))


def choose(val: list[dict], guard: list[dict], ood: list[dict], real: list[dict], min_lead: float = MIN_LEAD,
           reject_margin: float = REJECT_MARGIN) -> dict:
    """The three stages on recorded utterances (run's records, or a previous --out file's)."""
    result = {"val_utterances": len(val), "guard_utterances": len(guard),
              "guard_families": {g: len(rs) for g, rs in guard_groups(guard).items()},
              "out_of_domain_utterances": len(ood),
              "real_out_of_domain_utterances": len(real), "min_lead_floor": min_lead,
              **grid_search(val, guard, min_lead)}
    if (ood or real) and "chosen" in result:
        result["chosen"].update(reject_search(val, guard, ood, thresholds_of(result["chosen"]), real, reject_margin))
    return result


def guard_families(engines: tuple[str, ...], rooms: bool) -> list[str]:
    """The guard's voice families for these engines (guard_groups' keys)."""
    return [f for e in engines for f in ((e, f"{e}-room") if rooms else (e,))]


def replay(records_file: str, reject: bool = True, min_lead: float = MIN_LEAD,
           reject_margin: float = REJECT_MARGIN, guard_engines: tuple[str, ...] | None = None,
           guard_rooms: bool = GUARD_ROOMS) -> dict:
    """The stages re-run on the records of a previous run's --out JSON, without recording again
    (seconds instead of minutes; only valid for the same speech model and recogniser). The guard
    is every recorded family (records that are not val, ood or real), or with `guard_engines`
    those engines' families (with `guard_rooms`, their rooms too); a family not recorded is an
    error."""
    prev = json.loads(Path(records_file).read_text())
    if "records" not in prev:
        raise ValueError(f"{records_file}: no 'records' (write one with --out)")
    recs = prev["records"]
    part = {p: [r for r in recs if r["source"].startswith(p + ":")] for p in ("val", "ood", "real")}
    guard = [r for r in recs if r["source"].split(":")[0] not in part]
    if guard_engines is not None:
        want = guard_families(tuple(guard_engines), guard_rooms)
        have = guard_groups(guard)
        missing = [f for f in want if f not in have]
        if missing:
            raise ValueError(f"{records_file}: no guard records of {missing} (recorded: {sorted(have)})")
        guard = [r for f in want for r in have[f]]
    if not reject:
        part["ood"], part["real"] = [], []
    seed = prev.get("guard_seed", prev.get("flite_seed"))  # (flite_seed: before session 26)
    return {"model": prev.get("model"), "data": prev.get("data"), "guard_seed": seed,
            "guard_engines": sorted({r["source"].split(":")[0].removesuffix("-room") for r in guard}),
            "guard_rooms": any(r["source"].split(":")[0].endswith("-room") for r in guard),
            "replayed_from": str(records_file),
            **choose(part["val"], guard, part["ood"], part["real"], min_lead, reject_margin), "records": recs}


def guard_records(tok, engines: tuple[str, ...], n: int, seed: int, rooms: bool, progress: bool = True) -> list[dict]:
    """The guard set: `n` held-out-phrasing queries (tts_queries, `seed`) spoken by every voice of
    each engine (data/tts_engines: voices the model is not trained on), source "ENGINE:VOICE";
    with `rooms` each also heard in a test-split room (evaluate_tts.room_for, `seed`), source
    "ENGINE-room:VOICE". guard_kept holds each of these families to pocketsphinx alone."""
    from tristream_ros.data.speech_synth import augment
    from tristream_ros.data.tts_engines import engine_synthesize, engine_voices
    from tristream_ros.training.evaluate_tts import _pad, room_for, tts_queries

    queries = tts_queries(n, seed)
    out = []
    for e in engines:
        for v in engine_voices(e):
            it = queries
            if progress:
                from tqdm import tqdm
                it = tqdm(queries, desc=f"guard {e} {v}", unit="utt", mininterval=2.0)
            for q in it:
                clean = engine_synthesize(e, q["query"], v)  # float32 16 kHz, trimmed
                out.append(_record(tok, _pad(clean), q["query"], f"{e}:{v}"))
                if rooms:
                    out.append(_record(tok, augment(clean, room_for(seed, q["id"]))[0], q["query"], f"{e}-room:{v}"))
    return out


def run(model_dir: str, data_dir: str, guard_n: int = GUARD_N, guard_seed: int = GUARD_SEED,
        progress: bool = True, reject: bool = True, min_lead: float = MIN_LEAD,
        reject_margin: float = REJECT_MARGIN, guard_engines: tuple[str, ...] = GUARD_ENGINES,
        guard_rooms: bool = GUARD_ROOMS) -> dict:
    import torch

    from tristream_ros.data.dataset import DatasetReader
    from tristream_ros.model.checkpoint import load_config
    from tristream_ros.training.evaluate import build_frontend, load_speech_model

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    speech = load_speech_model(model_dir, load_config(model_dir))
    # its separate recogniser, if any; no command wrappers: the records (CTC top sentences, replayed
    # offline) are of the grammar's own sentences, which the thresholds decide between
    tok = build_frontend(speech, "hybrid", recognizer_dir=model_dir, command_wrappers=False)
    tok.thresholds = NEVER_OVERRIDE  # record only
    reader = DatasetReader(data_dir, "val")
    val = []
    items = range(len(reader))
    if progress:
        from tqdm import tqdm
        items = tqdm(items, desc="val voices", unit="utt", mininterval=2.0)
    for i in items:
        s = reader[i]
        if s["audio"] is not None:
            val.append(_record(tok, s["audio"], s["query"], f"val:{s['voice']['variant']}"))
    guard = guard_records(tok, guard_engines, guard_n, guard_seed, guard_rooms, progress) if guard_n > 0 else []
    ood, real = [], []
    if reject:
        from tristream_ros.data.out_of_domain import real_utterances, utterances
        it = utterances("calibration")
        if progress:
            from tqdm import tqdm
            it = tqdm(it, desc="out of domain", unit="utt", mininterval=2.0)
        ood = [_record(tok, u["audio"], u["text"], f"ood:{u['source']}") for u in it]
        real = [_record(tok, u["audio"], u["text"] or "", f"real:{u['source']}") for u in real_utterances("calibration")]
    result = {"model": str(model_dir), "data": str(data_dir), "guard_seed": guard_seed,
              "guard_engines": list(guard_engines), "guard_rooms": guard_rooms,
              **choose(val, guard, ood, real, min_lead, reject_margin)}
    result.update(seconds=round(time.perf_counter() - t0, 1), records=val + guard + ood + real)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model folder: config.json + speech.safetensors (the fusion "
                   "weights are not read)")
    p.add_argument("--data", default=None, help="generated dataset with a val split (required unless --records)")
    p.add_argument("--guard-n", "--flite-n", type=int, default=GUARD_N,
                   help=f"guard queries per voice (default {GUARD_N}; 0: no guard set)")
    p.add_argument("--guard-seed", "--flite-seed", type=int, default=GUARD_SEED)
    p.add_argument("--guard-engines", default=None,
                   help=f"comma-separated TTS engines whose voices form the guard (default "
                        f"{','.join(GUARD_ENGINES)}; with --records: the recorded ones)")
    p.add_argument("--guard-rooms", choices=("on", "off"), default="on" if GUARD_ROOMS else "off",
                   help="each guard utterance also heard in a test-split room (default %(default)s)")
    p.add_argument("--out", default=None, help="write the full JSON (with per-utterance records) here")
    p.add_argument("--write", action="store_true", help="store the chosen thresholds in MODEL/ctc_grammar.json")
    p.add_argument("--no-reject", action="store_true", help="skip the out-of-domain rejection stage (off)")
    p.add_argument("--records", default=None, help="re-choose from the records of a previous run's --out JSON "
                   "(same model; nothing is recorded, --data / --guard-n / --guard-seed are taken from it)")
    p.add_argument("--min-lead", type=float, default=MIN_LEAD,
                   help=f"the override's smallest lead over pocketsphinx's sentence (default {MIN_LEAD}; "
                        f"0 searches the whole grid {LEADS})")
    p.add_argument("--reject-margin", type=float, default=REJECT_MARGIN,
                   help=f"the rejection's margin from the in-domain records (default {REJECT_MARGIN}, CTC score "
                        "per frame; 0: at their edge, as before session 25)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    if not a.records and not a.data:
        p.error("--data is required unless --records is given")
    if a.min_lead > max(LEADS):
        p.error(f"--min-lead {a.min_lead} is above every lead of the grid {LEADS}")
    if a.reject_margin < 0:
        p.error(f"--reject-margin {a.reject_margin} is negative (it would let the rejection take in-domain speech)")
    engines = None if a.guard_engines is None else tuple(e.strip() for e in a.guard_engines.split(",") if e.strip())
    if engines is not None:
        bad = [e for e in engines if e not in ENGINES]
        if bad or not engines:
            p.error(f"--guard-engines {a.guard_engines!r}: expected engines out of {', '.join(ENGINES)}")
    rooms = a.guard_rooms == "on"
    try:
        if a.records:
            res = replay(a.records, reject=not a.no_reject, min_lead=a.min_lead, reject_margin=a.reject_margin,
                         guard_engines=engines, guard_rooms=rooms)
            a.data, a.guard_seed = res["data"], res["guard_seed"]
            voices = {r["source"] for r in res["records"] if r["source"].split(":")[0] in res["guard_families"]}
            a.guard_n = res["guard_utterances"] // max(1, len(voices))
        else:
            res = run(a.model, a.data, a.guard_n, a.guard_seed, progress=not a.no_progress, reject=not a.no_reject,
                      min_lead=a.min_lead, reject_margin=a.reject_margin,
                      guard_engines=GUARD_ENGINES if engines is None else engines, guard_rooms=rooms)
    except (ValueError, InputError) as e:
        print(f"calibrate_grammar: {e}", file=sys.stderr)
        return 2
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    if a.write:
        if "chosen" not in res:
            print("no thresholds keep the guard set as exact as pocketsphinx alone: nothing written", file=sys.stderr)
            return 1
        from tristream_ros.model.speech.ctc_grammar import save_grammar_thresholds
        c = res["chosen"]
        source = {"tool": "python -m tristream_ros.training.calibrate_grammar", "data": str(a.data),
                  "guard_n": a.guard_n, "guard_seed": a.guard_seed, "guard_engines": res["guard_engines"],
                  "guard_rooms": res["guard_rooms"],
                  **({"replayed_from": res["replayed_from"]} if "replayed_from" in res else {}),
                  **{k: res[k] for k in ("min_lead_floor", "val_utterances", "guard_utterances", "guard_families",
                                         "out_of_domain_utterances",
                                         "real_out_of_domain_utterances", "pocketsphinx_only",
                                         "ctc_grammar_always", "chosen")}}
        relax = {} if c["unsure_below"] is None else {"unsure_below": c["unsure_below"],
                                                       "unsure_min_lead": c["unsure_min_lead"]}
        rescore = {k: c[k] for k in ("rescore_top", "rescore_weight", "rescore_bonus", "rescore_length") if k in c}
        reject = {k: c[k] for k in REJECT_FIELDS if c.get(k) is not None}
        path = save_grammar_thresholds(a.model, GrammarThresholds(c["score"], c["margin"], c["lead"], **relax,
                                                                  **rescore, **reject), source)
        print(f"wrote {path}", file=sys.stderr)
    print(json.dumps({k: v for k, v in res.items() if k != "records"}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
