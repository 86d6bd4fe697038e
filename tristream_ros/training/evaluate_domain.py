"""Speech outside the robot's domain, and real people's commands, through the default front end + model.

    report = evaluate_domain(model_dir)

- ``out_of_domain``: the held-out half of data/out_of_domain.py's sentences, each spoken by an
  espeak test voice and by a flite voice: the fraction the front end marks "not understood"
  (the speech node then forwards no query: no answer, no action) and the fraction that made
  the robot move (any action but none / stop), per engine.
- ``packaged_recordings``: data/recordings/ (real people, pocketsphinx's test recordings): the
  command among them must give its expected action with no camera; the rest are out of domain.
- ``shared_recordings`` (when `shared_dir` is given, `tristream eval --real DIR`): each WAV (with
  its TXT reference when there is one) through the same path: what was heard, whether it was
  understood, the action and answer. A folder of real commands is evaluated this way; the
  default, ../shared/data/speech, holds five LibriVox sentences, none a command, which the
  default grammar should reject, or at least not act on.
Nothing here is trained on; the rejection thresholds were chosen on the other half of the
sentences (training/calibrate_grammar.py, third stage).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from tristream_ros.training.evaluate import MOVING_ACTIONS

RECORDINGS_DIR = Path(__file__).resolve().parents[1] / "data" / "recordings"


def _run(model, tok, audio: np.ndarray) -> dict:
    """One utterance, no camera, as the speech node + fusion node would take it."""
    from tristream_ros.training.evaluate import run_query

    utt = tok.transcribe(audio)
    if utt is None:
        return {"heard": "", "understood": False, "no_utterance": True, "action": None, "answer": ""}
    row = {"heard": utt.text, "understood": bool(utt.understood), "no_utterance": False,
           "rejection": tok.last_rejection}
    if not utt.understood:
        return {**row, "action": None, "answer": ""}
    tokens = utt.tokens if utt.tokens.numel() else None
    p = run_query(model, utt.text, tokens, None, None, dense=False, camera=False)
    return {**row, "action": p["action"], "answer": p["text"]}


def _summary(rows: list[dict]) -> dict:
    if not rows:
        return {"n": 0}
    return {"n": len(rows),
            "not_understood": float(np.mean([not r["understood"] for r in rows])),
            "moved_the_robot": float(np.mean([r["action"] in MOVING_ACTIONS for r in rows]))}


def read_manifest(folder: str | Path = RECORDINGS_DIR) -> list[dict]:
    """The packaged recordings' manifest entries, each with its absolute `path`."""
    folder = Path(folder)
    items = json.loads((folder / "manifest.json").read_text())["recordings"]
    return [{**it, "path": str(folder / it["file"])} for it in items]


def evaluate_domain(model_dir: str | Path, shared_dir: str | Path | None = None, seed: int = 0,
                    progress: bool = False, tokens_from: str = "respoken") -> dict:
    from tristream_ros.data.out_of_domain import utterances
    from tristream_ros.data.speech_synth import read_wav
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.ship import load_shipped

    t0 = time.perf_counter()
    model, speech = load_shipped(model_dir)
    tok = build_frontend(speech, "hybrid", model_dir, tokens_from)
    report = {"model": str(model_dir), "frontend": "hybrid (default)", "speech_tokens": tokens_from, "rejection_on": tok.thresholds.rejects}
    items = utterances("heldout", seed)
    if progress:
        from tqdm import tqdm
        items = tqdm(items, desc="out of domain", unit="utt", mininterval=2.0)
    rows = [{"text": u["text"], "source": u["source"], **_run(model, tok, u["audio"])} for u in items]
    report["out_of_domain"] = {
        "sentences": "data/out_of_domain.py, held-out half (espeak test voices + flite voices)",
        **_summary(rows),
        "per_engine": {e: _summary([r for r in rows if r["source"].startswith(e)]) for e in ("espeak", "flite")},
        "per_utterance": [{k: r[k] for k in ("text", "source", "heard", "understood", "action")} for r in rows]}
    packaged = []
    for it in read_manifest():
        r = _run(model, tok, read_wav(it["path"]))
        entry = {"file": it["file"], "reference": it["transcript"], "in_domain": it["in_domain"],
                 **{k: r[k] for k in ("heard", "understood", "action", "answer")}}
        if it.get("expected_action"):
            entry["expected_action"] = it["expected_action"]
            entry["action_correct"] = r["action"] == it["expected_action"]
        packaged.append(entry)
    cmds = [p for p in packaged if p["in_domain"]]
    ood = [p for p in packaged if not p["in_domain"]]
    report["packaged_recordings"] = {
        "source": "tristream_ros/data/recordings (real people; pocketsphinx 5.1.1's test recordings)",
        "commands": len(cmds),
        "command_action_accuracy": float(np.mean([p["action_correct"] for p in cmds])) if cmds else None,
        "out_of_domain": _summary(ood), "per_file": packaged}
    shared = Path(shared_dir) if shared_dir is not None else None  # None: skipped
    wavs = sorted(shared.glob("*.wav")) if shared is not None and shared.is_dir() else []
    if wavs:
        from tristream_ros.model.text_tokenizer import normalize
        srows = []
        for w in wavs:
            ref = w.with_suffix(".txt")
            r = {"file": w.name, "reference": normalize(ref.read_text()) if ref.is_file() else None,
                 **_run(model, tok, read_wav(w))}
            r["heard_exact"] = None if r["reference"] is None else normalize(r["heard"]) == r["reference"]
            srows.append(r)
        known = [r for r in srows if r["heard_exact"] is not None]
        report["shared_recordings"] = {
            "source": str(shared),
            "note": "the --real folder through the default front end and model, no camera (the default "
                    "folder holds read sentences, none a command: those should be not understood)",
            **_summary(srows),
            "heard_exact": float(np.mean([r["heard_exact"] for r in known])) if known else None,
            "per_file": [{k: r[k] for k in ("file", "reference", "heard", "heard_exact", "understood", "action",
                                            "answer")} for r in srows]}
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report
