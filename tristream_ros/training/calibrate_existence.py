"""Choose the probe-evidence thresholds (copy.existence_min_match, copy.absent_min_match) on val data.

"is there a white cone" is answered "yes there is ..." or "no there is no ...". The copy head
offers P(yes) = the attribute probe's best match of the object said (P(kind) x P(colour) over
the vision tokens) as one mixture component, and the learnt gate weighs it against the LM, so in
effect the answer is "yes" only when the match is above about 0.5. Objects of colour/kind pairs
never seen in training are matched lower (0.08-0.35 on the val scenes, session 12), so the
model said "no" to objects in plain view. This tool measures, on the val split's existence
questions (their scenes, the model's sparse budget, the true query words), the best match
against the truth, and picks the threshold with the most right yes/no decisions:

    python -m tristream_ros.training.calibrate_existence --model MODEL_DIR --data VAL_DATA \\
        [--out calib.json] [--write]

Ties between grid values go to the median of the tied ones (the middle of the gap between
absent and present objects). The same questions are answered once by the model as it is (true
text; spoken ones with respoken speech tokens, as the speech node gives them), so the report
shows what the threshold changes. With --write, MODEL_DIR/config.json gets
copy.existence_min_match and existence_calibration.json + .png record the sweep; training/ship.py
ships both. Only val data is read: the test split stays unseen.

The same evidence decides a second threshold, copy.absent_min_match: on the val split's
questions and commands that name an object and act on it or describe it ("go to the red box",
"which colour does the cup have", "where is the ball"), the generator names an absent object a
tenth of the time and the answer is then "i can't see a red box" with no action. The decoder
never learnt to say that for held-out phrasings (session 13: 0 of 33 on the test splits), so the
model says it when the probe's best match of the object named is below the threshold; the sweep
is the same ("present iff best >= t"), on those questions.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from tristream_ros.data.language import ACT_ON_INTENTS, NOT_SEEN

GRID = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5, 0.7)
CALIBRATION_FILE = "existence_calibration.json"


def is_existence(sample: dict) -> bool:
    """A val sample whose answer is a yes/no about an object (the generator's `exists` intent)."""
    return sample.get("intent") == "exists"


def is_referring(sample: dict) -> bool:
    """A val sample that names an object to act on or describe (answered "i can't see ..." when absent)."""
    return sample.get("intent") in ACT_ON_INTENTS


def said_absent(answer: str) -> bool:
    return answer.startswith(NOT_SEEN)


def sweep(best: list[float], present: list[bool], grid=GRID) -> list[dict]:
    """Accuracy of "yes iff best >= t" for each t in grid."""
    n = max(1, len(best))
    return [{"threshold": t, "accuracy": round(sum((b >= t) == p for b, p in zip(best, present)) / n, 4)}
            for t in grid]


def choose(rows: list[dict]) -> dict:
    """The most accurate threshold; ties: the median of the tied grid values."""
    top = max(r["accuracy"] for r in rows)
    tied = [r for r in rows if r["accuracy"] >= top - 1e-9]
    return tied[(len(tied) - 1) // 2]


def run(model_dir: str, data_dir: str, limit: int | None = None, progress: bool = True) -> dict:
    import torch

    from tristream_ros.data.dataset import DatasetReader
    from tristream_ros.errors import InputError
    from tristream_ros.model.checkpoint import load_checkpoint
    from tristream_ros.model.speech.respoken import RespokenTokens
    from tristream_ros.training.evaluate import load_speech_model, run_query

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    model = load_checkpoint(model_dir)
    if model.copy_head is None or not model.config.copy.existence:
        raise InputError(f"{model_dir}: the model has no existence read-out (copy.existence)")
    model.config = dataclasses.replace(model.config, copy=dataclasses.replace(
        model.config.copy, existence_min_match=0.0, absent_min_match=0.0))  # the model as it was
    respoken = RespokenTokens(load_speech_model(model_dir, model.config))
    head, words, tok = model.copy_head, model.copy_words, model.tokenizer
    reader = DatasetReader(data_dir, "val")
    n = len(reader) if limit is None else min(limit, len(reader))
    items = range(n)
    if progress:
        from tqdm import tqdm
        items = tqdm(items, desc="val questions naming an object", unit="sample", mininterval=2.0)
    records, referring = [], []
    with torch.no_grad():
        for i in items:
            s = reader[i]
            if not (is_existence(s) or is_referring(s)):
                continue
            model.vision.reset()
            vt = model.encode_vision(s["frames"])  # the model's own sparse budget, as it answers
            mask = torch.ones(1, vt.features.shape[0], dtype=torch.bool)
            attrs = head.attributes(vt.features[None].float(), vt.rows[None], vt.cols[None], mask)
            ids = torch.tensor([tok.encode(s["query"])], dtype=torch.long)
            best, has_kind = head.said_best_match(attrs, mask, words, ids, torch.ones_like(ids, dtype=torch.bool))
            tokens = respoken(s["query"]) if s["audio"] is not None else None
            pred = run_query(model, s["query"], tokens, s["frames"], s.get("context"), dense=False)
            rec = {"id": s["id"], "query": s["query"], "answer": s["answer"], "best_match": round(float(best[0]), 5),
                   "kind_said": bool(has_kind[0]), "model_answer": pred["text"], "model_action": pred["action"]}
            if is_existence(s):
                records.append({**rec, "present": s["answer"].startswith("yes")})
            else:
                referring.append({**rec, "present": not said_absent(s["answer"])})
    if not records or not referring:
        raise InputError(f"{data_dir}: the val split has {len(records)} existence questions and {len(referring)} "
                         "questions naming an object; both are needed (generate more with --val N)")
    usable = [r for r in records if r["kind_said"]]
    rows = sweep([r["best_match"] for r in usable], [r["present"] for r in usable])
    mixture = sum(r["model_answer"].split()[:1] == (["yes"] if r["present"] else ["no"]) for r in usable)
    named = [r for r in referring if r["kind_said"]]
    absent_rows = sweep([r["best_match"] for r in named], [r["present"] for r in named])
    decoder = sum(said_absent(r["model_answer"]) != r["present"] for r in named)
    absent = {"questions": len(referring), "with_a_kind_said": len(named),
              "absent_objects": sum(not r["present"] for r in named),
              "decoder_present_absent_accuracy": round(decoder / max(1, len(named)), 4),
              "decoder_said_not_seen": sum(said_absent(r["model_answer"]) for r in named),
              "sweep": absent_rows, "chosen": choose(absent_rows), "records": referring}
    return {"model": str(model_dir), "data": str(data_dir), "questions": len(records),
            "with_a_kind_said": len(usable),
            "mixture_yes_no_accuracy": round(mixture / max(1, len(usable)), 4),
            "sweep": rows, "chosen": choose(rows), "absent": absent,
            "seconds": round(time.perf_counter() - t0, 1), "records": records}


def plot(result: dict, path: str | Path) -> Path:
    """Per threshold: best match of each question (present / absent) and the accuracy of each
    threshold; top row existence questions, bottom row questions naming an object to act on."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(9, 6.6), dpi=80)
    ab = result["absent"]
    panels = ((result, "mixture_yes_no_accuracy", "yes iff match >= t", "mixture (off)", "yes/no right (val)",
               f"existence questions ({result['with_a_kind_said']} val)"),
              (ab, "decoder_present_absent_accuracy", "present iff match >= t", "decoder (off)",
               "present/absent right (val)", f"questions naming an object to act on ({ab['with_a_kind_said']} val)"))
    for (a1, a2), (res, base, label, base_label, ylabel, title) in zip(axes, panels):
        recs = [r for r in res["records"] if r["kind_said"]]
        for present, colour, y in ((True, "tab:green", 1.0), (False, "tab:red", 0.0)):
            xs = [max(r["best_match"], 1e-4) for r in recs if r["present"] == present]
            a1.plot(xs, [y] * len(xs), "|", color=colour, markersize=18, label="present" if present else "absent")
        a1.axvline(res["chosen"]["threshold"], color="k", linewidth=1, label="chosen")
        a1.set_xscale("log")
        a1.set_yticks([0, 1], ["absent", "present"])
        a1.set_xlabel("probe's best match of the object said")
        a1.set_title(title, fontsize=9)
        a1.legend(fontsize=7)
        sw = res["sweep"]
        a2.plot([r["threshold"] for r in sw], [r["accuracy"] for r in sw], "o-", label=label)
        a2.axhline(res[base], color="k", linewidth=1, linestyle="--", label=base_label)
        a2.set_xscale("log")
        a2.set_xlabel("threshold t")
        a2.set_ylabel(ylabel)
        a2.legend(fontsize=7)
    fig.suptitle("is the object named there? the probe's best match, calibrated on val")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def write(model_dir: str | Path, result: dict) -> Path:
    """Store the chosen thresholds in MODEL_DIR/config.json, the sweeps beside it (JSON + PNG)."""
    from tristream_ros.model.checkpoint import load_config, save_config
    folder = Path(model_dir)
    cfg = load_config(folder)
    cfg = dataclasses.replace(cfg, copy=dataclasses.replace(
        cfg.copy, existence_min_match=float(result["chosen"]["threshold"]),
        absent_min_match=float(result["absent"]["chosen"]["threshold"])))
    path = save_config(folder, cfg)
    (folder / CALIBRATION_FILE).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    plot(result, folder / "existence_calibration.png")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="model folder (config.json, model.safetensors, speech.safetensors)")
    p.add_argument("--data", required=True, help="generated dataset with a val split")
    p.add_argument("--limit", type=int, default=None, help="first N val samples only")
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--write", action="store_true", help="store the chosen threshold in MODEL/config.json")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    from tristream_ros.errors import InputError, ModelFileError
    try:
        res = run(a.model, a.data, limit=a.limit, progress=not a.no_progress)
    except (InputError, ModelFileError, FileNotFoundError) as exc:
        print(f"calibrate_existence: {exc}", file=sys.stderr)
        return 2
    if a.out:
        Path(a.out).write_text(json.dumps(res, indent=1) + "\n")
    if a.write:
        print(f"wrote {write(a.model, res)}", file=sys.stderr)
    brief = {k: v for k, v in res.items() if k != "records"}
    brief["absent"] = {k: v for k, v in res["absent"].items() if k != "records"}
    print(json.dumps(brief, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
