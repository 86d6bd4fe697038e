"""Session 28: evals.sh's runs (/tmp/s28/E_*.json, the default front end: command wrappers on,
with the alignment check, the CTC veto and the rejection on the command's own audio) next to the
front end without them (the shipped figures: models/demo/eval.json and session 27's runs named
below) -> evals.json beside this file.

    python summarise_evals.py"""
import json
from pathlib import Path

E = Path("/tmp/s28")
MOVING = {"forward", "backward", "turn_left", "turn_right", "navigate_to", "look_at"}
out = {}


def load(name):
    p = E / f"E_{name}.json"
    return json.loads(p.read_text()) if p.is_file() else None


def engine(d):
    o = d["overall"]
    preds = [r for k, v in d.get("predictions", {}).items() if k != "espeak_reference" for r in v]
    wm = sum(r["pred_action"] in MOVING and r["pred_action"] != r["action"] for r in preds) if preds else None
    return {"n": o["n"], "heard_exact": round(o["transcript_exact"], 3), "action_accuracy": round(o["action_accuracy"], 3),
            "answer_exact_match": round(o["answer_exact_match"], 3), "not_understood": o["not_understood"],
            "wrong_motions": wm, "espeak_reference_action_accuracy": round(d["espeak_reference"]["action_accuracy"], 3)
            if isinstance(d.get("espeak_reference"), dict) else None}


for e in ("pico", "flite", "festival"):
    for s in ("_wrapped", "", "_short", "_room"):
        d = load(e + s)
        if d is not None:
            out[f"{e}{s or '_clean'}"] = engine(d)
for name, key in (("eval240", "test240"), ("eval800", "test800")):
    d = load(name)
    if d is not None:
        sp = d["split"]
        out[key] = {k: {m: round(sp[k][m], 3) for m in ("answer_exact_match", "action_accuracy") if m in sp[k]}
                    for k in ("overall", "spoken_scene_questions", "speech_commands_no_camera")}
        out[key].update(transcript_cer=round(sp["transcript_cer"], 4), not_understood=sp["not_understood"])
d = load("spliced_dom")
if d is not None:
    out["spliced_real_voice"] = {k: d[k] for k in ("n", "not_understood", "heard_exact", "action_as_reference", "wrong_motions")}
d = load("real355")
if d is not None:
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
    from tristream_ros.data.language import all_queries
    from tristream_ros.model.speech.command_wrappers import CommandWrappers
    from tristream_ros.model.speech.pocketsphinx_frontend import sentence_words
    w, core = CommandWrappers(), frozenset(" ".join(sentence_words(q)) for q in all_queries(None))
    taken = [r for r in d if (lambda p: p is not None and (p[0] or p[2]))(w.split(" ".join(sentence_words(str(r["ps"]))), core))]
    out["real_out_of_domain_355"] = {"n": len(d), "not_understood": sum(not r["understood"] for r in d),
                                     "moved_the_robot": sum(r["action"] in MOVING for r in d),
                                     "wrapper_taken": len(taken),
                                     "wrapper_taken_understood": sum(r["understood"] for r in taken),
                                     "wrapper_taken_moved": sum(r["action"] in MOVING for r in taken),
                                     "wrapper_taken_below_min_gap": sum(bool((r.get("rejection") or {}).get("wrapped_below_min_gap")) for r in taken)}
d = load("probe")
if d is not None:
    rows = [r for v in d.values() for r in v]
    out["probe_18x10"] = {"n": len(rows), "actions_right": sum(r["pred_action"] == r["action"] for r in rows),
                          "wrong_motions": sum(r["pred_action"] in MOVING and r["pred_action"] != r["action"] for r in rows)}
Path(__file__).with_name("evals.json").write_text(json.dumps(out, indent=1) + "\n")
print(json.dumps(out, indent=1))
