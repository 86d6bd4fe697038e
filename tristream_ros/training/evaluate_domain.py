"""Speech outside the robot's domain, and real people's commands, through the default front end + model.

    report = evaluate_domain(model_dir)

- ``out_of_domain``: the held-out half of data/out_of_domain.py's sentences, each spoken by an
  espeak test voice and by a flite voice: the fraction the front end marks "not understood"
  (the speech node then forwards no query: no answer, no action) and the fraction that made
  the robot move (any action but none / stop), per engine.
- ``packaged_recordings``: data/recordings/ (real people, pocketsphinx's test recordings): the
  command among them must give its expected action with no camera; the rest are out of domain.
- ``shared_recordings`` (when `shared_dir` is given, `tristream eval --real DIR`): each audio
  file (WAV of any rate / channels / sample format, FLAC, OGG, MP3; with its TXT reference when
  there is one) through the same path: what was heard, whether it was understood, the action
  and answer, and with a reference whether the robot acts as it would on the exact words
  (evaluate_folder; `tristream eval --real DIR` without --data runs only this). A folder of real commands is evaluated this way; the
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
from tristream_ros.model.speech.command_wrappers import COMMAND_WRAPPERS_DEFAULT

RECORDINGS_DIR = Path(__file__).resolve().parents[1] / "data" / "recordings"


def _run(model, tok, audio: np.ndarray) -> dict:
    """One utterance, no camera, as the speech node + fusion node would take it."""
    from tristream_ros.training.evaluate import run_query

    utt = tok.transcribe(audio)
    if utt is None:
        return {"heard": "", "understood": False, "no_utterance": True, "action": None, "answer": "",
                "not_understood_why": "no speech found (VAD)"}
    row = {"heard": utt.text, "understood": bool(utt.understood), "no_utterance": False,
           "rejection": tok.last_rejection, "not_understood_why": utt.not_understood_why}
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


def evaluate_folder(model, tok, folder: str | Path) -> dict:
    """Each audio file of ``folder`` (any format signal/audio_file reads; its TXT reference when
    there is one) through the default front end and model, no camera: what was heard, whether it
    was understood, the action and answer; with a reference also whether the words were heard
    exactly and whether the robot does what it would have done had it heard them exactly
    (``action_as_reference``: the model run on the reference text)."""
    from tristream_ros.errors import InputError
    from tristream_ros.model.text_tokenizer import normalize
    from tristream_ros.signal.audio_file import audio_files, load_audio
    from tristream_ros.training.evaluate import run_query

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"recordings folder {str(folder)!r} does not exist")
    rows, errors = [], []
    for f in audio_files(folder):
        ref_file = f.with_suffix(".txt")
        ref = normalize(ref_file.read_text()) if ref_file.is_file() else None
        try:
            audio = load_audio(f)
        except InputError as exc:  # an unreadable file is reported and skipped, the rest go on
            errors.append({"file": f.name, "error": str(exc)})
            continue
        r = {"file": f.name, "reference": ref, **_run(model, tok, audio)}
        r["heard_exact"] = None if ref is None else normalize(r["heard"]) == ref
        if ref:
            ref_action = run_query(model, ref, None, None, None, dense=False, camera=False)["action"]
            r["reference_action"] = ref_action
            r["action_as_reference"] = r["action"] == ref_action
        rows.append(r)
    known = [r for r in rows if r["heard_exact"] is not None]
    acted = [r for r in rows if "action_as_reference" in r]
    keys = ("file", "reference", "heard", "heard_exact", "understood", "not_understood_why", "action",
            "reference_action", "action_as_reference", "answer")
    return {"source": str(folder),
            "note": "each recording through the default front end and model, no camera; the default "
                    "folder (../shared/data/speech) holds read sentences, none a command: those should be "
                    "not understood",
            **_summary(rows),
            "heard_exact": float(np.mean([r["heard_exact"] for r in known])) if known else None,
            "action_as_reference": float(np.mean([r["action_as_reference"] for r in acted])) if acted else None,
            "per_file": [{k: r.get(k) for k in keys} for r in rows], "unreadable": errors}


def evaluate_real_folder(model_dir: str | Path, folder: str | Path, tokens_from: str = "respoken",
                         command_wrappers: bool = COMMAND_WRAPPERS_DEFAULT) -> dict:
    """`tristream eval --real FOLDER` without a dataset: evaluate_folder with the default front end
    (command_wrappers False: without the words around a command, `--no-command-wrappers`)."""
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.ship import load_shipped

    t0 = time.perf_counter()
    model, speech = load_shipped(model_dir)
    tok = build_frontend(speech, "hybrid", model_dir, tokens_from, command_wrappers=command_wrappers)
    report = {"model": str(model_dir), "frontend": "hybrid (default)", "speech_tokens": tokens_from,
              "command_wrappers": command_wrappers,
              "rejection_on": tok.thresholds.rejects, **evaluate_folder(model, tok, folder)}
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report


def evaluate_domain(model_dir: str | Path, shared_dir: str | Path | None = None, seed: int = 0,
                    progress: bool = False, tokens_from: str = "respoken",
                    command_wrappers: bool = COMMAND_WRAPPERS_DEFAULT) -> dict:
    from tristream_ros.data.out_of_domain import utterances
    from tristream_ros.signal.audio_file import load_audio
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.ship import load_shipped

    t0 = time.perf_counter()
    model, speech = load_shipped(model_dir)
    tok = build_frontend(speech, "hybrid", model_dir, tokens_from, command_wrappers=command_wrappers)
    report = {"model": str(model_dir), "frontend": "hybrid (default)", "speech_tokens": tokens_from,
              "command_wrappers": command_wrappers, "rejection_on": tok.thresholds.rejects}
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
        r = _run(model, tok, load_audio(it["path"]))
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
    if shared_dir is not None and Path(shared_dir).is_dir():
        folder_report = evaluate_folder(model, tok, shared_dir)
        if folder_report["n"]:
            report["shared_recordings"] = folder_report
    report["seconds"] = round(time.perf_counter() - t0, 1)
    return report
