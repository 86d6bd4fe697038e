"""Spoken commands from another TTS engine (flite, Festival) through the default front end + a checkpoint.

`tristream eval --engine flite|festival`: a fixed set of queries (seeded; the generator's HELD-OUT
phrasings, held-out-style scenes that contain a colour/kind pair never seen in training) is
synthesized with every voice of the engine (data/tts_engines.py) and run exactly like `evaluate_split` runs the espeak test
split: audio -> `build_frontend(speech, "hybrid")` (silero VAD, pocketsphinx grammar text with
the CTC grammar override, our speech tokens) -> `TriStreamModel.answer` with the scene offered lazily (STVE default budget).
The same queries in espeak-ng test-split voices (clean) are run as a reference row.

Query mix: commands that need no camera (route ``speech``: stop, turn, go, what can you do)
and scene questions / commands (route ``speech_vision``) with rendered scenes; no follow-ups.
Audio is clean synthesis with 0.3 s of silence either side (no noise, no reverb), or with
``room=True`` (`--room`) each query in a room drawn like the test split's (room_for: noise,
reverb, gain, band limits, speed), the same room for every voice.

Figures per voice and overall, fractions: transcript_cer (CER of the front end's text against
the query), transcript_exact (normalised text == query), action_accuracy, answer_exact_match, n;
also no_utterance_detected (count), the same split by route, and speech_commands_no_camera (the
route-speech commands answered again with no camera, as on a robot without one).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from tristream_ros.data import language
from tristream_ros.data.dataset import ALL_COMBOS, HELDOUT_COMBOS
from tristream_ros.data.scenes import render_scene, sample_scene
from tristream_ros.data.speech_synth import SAMPLE_RATE, AugmentSpec, augment, sample_augment
from tristream_ros.errors import InputError
from tristream_ros.model.speech.command_wrappers import COMMAND_WRAPPERS_DEFAULT
from tristream_ros.model.text_tokenizer import normalize
from tristream_ros.training.cache import char_error_rate

QUERY_FAMILIES = {"speech": 0.4, "scene": 0.6}  # share of no-camera commands vs scene queries
SILENCE_S = 0.3


def tts_queries(n: int = 30, seed: int = 0) -> list[dict]:
    """``n`` held-out-phrasing queries with their scenes, deterministic in ``seed``."""
    out = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([int(seed), 7, i]))
        required = [HELDOUT_COMBOS[int(rng.integers(len(HELDOUT_COMBOS)))]]
        spec = sample_scene(int(rng.integers(2**31)), allowed_combos=ALL_COMBOS, required=required)
        scene = render_scene(spec)
        focus = next((j for j, o in enumerate(scene.objects) if (o.colour, o.kind) in HELDOUT_COMBOS), None)
        intent = language.sample_intent(rng, QUERY_FAMILIES)
        turn = language.make_turn(scene.objects, rng, intent=intent, spoken=True, phrasing="heldout",
                                  focus=focus, allowed_combos=ALL_COMBOS)
        out.append({**turn.to_dict(), "id": f"tts-{i:03d}", "frames": scene.frames})
    return out


def short_form_queries(seed: int = 0) -> list[dict]:
    """Every ``language.SHORT_FORMS`` sentence ("left", "go ahead", "stop it"...) as a no-camera-needed
    command (route ``speech``) with a rendered scene in view (deterministic in ``seed``). These are
    in the recognisers' grammar but in no training or test data."""
    out = []
    for i, (intent, sentence) in enumerate((it, s) for it, forms in language.SHORT_FORMS.items() for s in forms):
        spec = sample_scene(int(np.random.default_rng([int(seed), 17, i]).integers(2**31)), allowed_combos=ALL_COMBOS)
        out.append({"id": f"short-{i:03d}", "intent": intent, "route": "speech", "query": sentence,
                    "answer": language.SPEECH_ANSWERS[intent], "action": language.INTENT_ACTION[intent],
                    "frames": render_scene(spec).frames})
    return out


def wrapped_queries(queries: list[dict], seed: int = 0) -> list[dict]:
    """The same queries spoken inside words people wrap around a command ("robot, ...", "...
    please", "can you ... now"): each gets a prefix, a suffix or both from
    model/speech/command_wrappers.py's lists (deterministic in ``seed``), as ``spoken_text``; what it
    should be heard as, answered and done stays the query's."""
    from tristream_ros.model.speech.command_wrappers import PREFIXES, SUFFIXES, wrap
    out = []
    for i, q in enumerate(queries):
        rng = np.random.default_rng([int(seed), 19, i])
        form = int(rng.integers(3))  # 0: prefix, 1: suffix, 2: both
        pre = PREFIXES[int(rng.integers(len(PREFIXES)))] if form != 1 else ""
        suf = SUFFIXES[int(rng.integers(len(SUFFIXES)))] if form != 0 else ""
        out.append({**q, "spoken_text": wrap(pre, q["query"], suf)})
    return out


def _pad(x: np.ndarray) -> np.ndarray:
    z = np.zeros(int(SILENCE_S * SAMPLE_RATE), np.float32)
    return np.concatenate([z, x.astype(np.float32), z])


def _summary(items: list[dict]) -> dict:
    if not items:
        return {"n": 0}
    res = {"n": len(items),
            "transcript_cer": float(np.mean([r["cer"] for r in items])),
            "transcript_exact": float(np.mean([r["heard"] == normalize(r["query"]) for r in items])),
            "action_accuracy": float(np.mean([r["pred_action"] == r["action"] for r in items])),
            "answer_exact_match": float(np.mean([r["pred"] == normalize(r["answer"]) for r in items])),
            "no_utterance_detected": int(sum(r["no_utterance"] for r in items)),
            "not_understood": int(sum(r.get("not_understood", False) for r in items))}
    nocam = [r for r in items if "nocam" in r]
    if nocam:
        res["speech_commands_no_camera"] = {
            "n": len(nocam),
            "action_accuracy": float(np.mean([r["nocam"]["action"] == r["action"] for r in nocam])),
            "answer_exact_match": float(np.mean([r["nocam"]["text"] == normalize(r["answer"]) for r in nocam]))}
    return res


def room_for(seed: int, query_id: str) -> AugmentSpec:
    """The room a query is heard in with ``room=True``: drawn like the generator's augmented test utterances
    (noise at 5-35 dB SNR, reverb, gain, band limits, speed), the same for every voice."""
    return sample_augment(np.random.default_rng([int(seed), 13, int(query_id.split("-")[-1])]))


def spoken_with_pause(text: str, synth, pause_s: float) -> np.ndarray:
    """``text`` spoken in two halves (split before its middle word) with ``pause_s`` of silence
    between: a speaker hesitating mid-command. One-word texts are spoken whole."""
    words = text.split()
    if pause_s <= 0 or len(words) < 2:
        return synth(text)
    cut = len(words) // 2
    gap = np.zeros(int(pause_s * SAMPLE_RATE), np.float32)
    return np.concatenate([synth(" ".join(words[:cut])), gap, synth(" ".join(words[cut:]))])


def _run_voice(model, tok, queries: list[dict], synth, room: bool = False, seed: int = 0,
               pause_s: float = 0.0) -> list[dict]:
    from tristream_ros.training.evaluate import run_query
    rows = []
    for q in queries:
        clean = spoken_with_pause(q.get("spoken_text", q["query"]), synth, pause_s)
        audio = augment(clean, room_for(seed, q["id"]))[0] if room else _pad(clean)
        utt = tok.transcribe(audio)
        text, tokens = ("", None) if utt is None else (utt.text, utt.tokens if utt.tokens.numel() else None)
        heard = normalize(text)
        rejected = utt is not None and not utt.understood
        if rejected:  # "not understood": the speech node forwards no query (no answer, no action)
            text, tokens = "", None
        if not text and tokens is None:
            pred = {"action": None, "text": "", "route": None}
        else:  # as evaluate_split: the front end's text as is, the scene offered lazily (sparse)
            pred = run_query(model, text, tokens, q["frames"], None, dense=False)
        row = {"id": q["id"], "route": q["route"], "query": q["query"], "spoken_text": q.get("spoken_text", q["query"]),
               "heard": heard,
               "cer": char_error_rate(q["query"], heard), "answer": q["answer"], "pred": pred["text"],
               "action": q["action"], "pred_action": pred["action"], "pred_route": pred["route"],
               "no_utterance": utt is None, "not_understood": rejected}
        if q["route"] == "speech":  # the same command with no camera (as evaluate_split's no-camera figures)
            nocam = (run_query(model, text, tokens, None, None, dense=False, camera=False)
                     if (text or tokens is not None) else pred)
            row["nocam"] = {"text": nocam["text"], "action": nocam["action"]}
        rows.append(row)
    return rows


def evaluate_tts(model_dir: str | Path, engine: str = "flite", voices: list[str] | None = None, n: int = 30,
                 seed: int = 0, espeak_reference: bool = True, keep_predictions: bool = False, room: bool = False,
                 tokens_from: str = "respoken", pause_s: float = 0.0, hold_ms: float | None = None,
                 progress: bool = False, query_set: str = "heldout", wrapped: bool = False,
                 command_wrappers: bool = COMMAND_WRAPPERS_DEFAULT) -> dict:
    """Per-voice and overall figures for ``engine`` voices (data/tts_engines.py: flite, festival).
    query_set: ``heldout`` (``n`` held-out-phrasing queries, tts_queries) or ``short`` (every
    SHORT_FORMS sentence once, short_form_queries; ``n`` unused).
    room: each query heard through room_for(seed, id) (noise, reverb, ...) instead of clean.
    pause_s: each query spoken in two halves with this pause between (spoken_with_pause).
    hold_ms: the front end's VadConfig.incomplete_hold_ms (None: the default).
    wrapped: each query spoken inside a prefix / suffix people wrap around commands
    (wrapped_queries: "robot stop", "turn left please"); command_wrappers: the front end's grammar
    hears them (the node's default) or not (False: the grammar's sentences only)."""
    from tristream_ros.data.tts_engines import check_engine_voices, engine_synthesize, engine_voices
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.ship import load_shipped

    voices = list(voices) if voices else list(engine_voices(engine))
    check_engine_voices(engine, voices)
    t0 = time.perf_counter()
    model, speech = load_shipped(model_dir)
    from tristream_ros.model.speech.vad import VadConfig
    if not pause_s >= 0:
        raise InputError(f"pause must be a number of seconds >= 0, got {pause_s}")
    vad = VadConfig() if hold_ms is None else VadConfig(incomplete_hold_ms=hold_ms)
    tok = build_frontend(speech, "hybrid", model_dir, tokens_from, vad, command_wrappers=command_wrappers)
    if query_set not in ("heldout", "short"):
        raise InputError(f"query set must be heldout or short, got {query_set!r}")
    queries = tts_queries(n, seed) if query_set == "heldout" else short_form_queries(seed)
    if wrapped:
        queries = wrapped_queries(queries, seed)
    per_voice, all_rows, preds = {}, [], {}
    for v in voices:
        if progress:
            print(f"{engine} voice {v} ({len(queries)} queries)", flush=True)
        rows = _run_voice(model, tok, queries, lambda text, v=v: engine_synthesize(engine, text, v), room, seed, pause_s)
        per_voice[v] = _summary(rows)
        per_voice[v]["routes"] = {r: _summary([x for x in rows if x["route"] == r]) for r in ("speech", "speech_vision")}
        all_rows += rows
        preds[v] = rows
    report = {"engine": engine, "model": str(model_dir), "frontend": "hybrid (default)", "speech_tokens": tokens_from,
              "pause_s": pause_s, "incomplete_hold_ms": vad.incomplete_hold_ms, "seed": seed,
              "queries": len(queries), "phrasing": query_set, "wrapped": wrapped,
              "command_wrappers": command_wrappers,
              "audio": "test-split room effects (training/evaluate_tts.room_for)" if room else "clean, 0.3 s silence either side", "voices": voices, "per_voice": per_voice,
              "overall": _summary(all_rows)}
    report["overall"]["routes"] = {r: _summary([x for x in all_rows if x["route"] == r])
                                   for r in ("speech", "speech_vision")}
    if espeak_reference:
        from tristream_ros.data.speech_synth import sample_voice, synthesize
        if progress:
            print("espeak-ng reference (test-split voices)", flush=True)
        rows = []
        for i, q in enumerate(queries):
            voice = sample_voice(np.random.default_rng([int(seed), 11, i]), "test")
            rows += _run_voice(model, tok, [q], lambda text, voice=voice: synthesize(text, voice), room, seed, pause_s)
        report["espeak_reference"] = _summary(rows)
        report["espeak_reference"]["voices"] = "espeak-ng test-split voices (never trained on)"
        preds["espeak_reference"] = rows
    report["seconds"] = round(time.perf_counter() - t0, 1)
    if keep_predictions:
        report["predictions"] = preds
    return report
