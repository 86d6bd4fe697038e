"""Summarise harness.py's runs: per set, actions right, wrong motions (a moving action other than
the one meant), not understood, heard as said (an alias: heard as the sentence it forwards).
The before figures of probe / new29 / unseen29 are session 29's final run
(../natural_forms_session29/summary.json, nat_after2.json: the same voices and front end without
the aliases).

    python summarise.py before.json after.json > summary.json"""
import json
import sys
from pathlib import Path

MOVING = {"forward", "backward", "turn_left", "turn_right", "navigate_to", "look_at"}


def stats(rows):
    return {"n": len(rows),
            "actions_right": sum(r["pred_action"] == r["action"] for r in rows),
            "wrong_motions": sum(r["pred_action"] in MOVING and r["pred_action"] != r["action"] for r in rows),
            "not_understood": sum(bool(r["not_understood"]) for r in rows),
            "wrong_motion_examples": sorted({f"{r['query']} -> {r['heard']} ({r['pred_action']})" for r in rows
                                             if r["pred_action"] in MOVING and r["pred_action"] != r["action"]})}


def summary(path):
    d = json.load(open(path))
    rows = [r for rs in d["voices"].values() for r in rs]
    return {"grammar": d["grammar"], "aliases": d["aliases"], "voices": len(d["voices"]),
            **{name: stats([r for r in rows if r["set"] == name]) for name in d["sets"]}}


s29 = json.load(open(Path(__file__).resolve().parents[1] / "natural_forms_session29" / "summary.json"))["nat_after2.json"]
before = summary(sys.argv[1])
for name, key in (("probe", "probe"), ("new29", "new"), ("unseen29", "unseen")):
    before[name] = {**s29[key], "from": "natural_forms_session29/summary.json nat_after2.json"}
print(json.dumps({"before": before, "after": summary(sys.argv[2])}, indent=1))
