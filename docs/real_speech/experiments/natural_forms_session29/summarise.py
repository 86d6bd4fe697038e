"""Summarise harness.py's runs: per set, actions right, wrong motions (a moving action other than
the one meant), not understood, for the grammar before and after session 29's forms. Each set is
restricted to the sentences of the last file's sets (the final list: a first run had 4 more forms,
summary_first_list.json).

    python summarise.py before.json after.json > summary.json"""
import json
import sys

MOVING = {"forward", "backward", "turn_left", "turn_right", "navigate_to", "look_at"}


def stats(rows):
    return {"n": len(rows),
            "actions_right": sum(r["pred_action"] == r["action"] for r in rows),
            "wrong_motions": sum(r["pred_action"] in MOVING and r["pred_action"] != r["action"] for r in rows),
            "not_understood": sum(bool(r["not_understood"]) for r in rows),
            "heard_exact": sum(r["heard"] == r["query"] for r in rows)}


def summary(path, sets):
    d = json.load(open(path))
    rows = [r for rs in d["voices"].values() for r in rs if r["query"] in sets[r["set"]]]
    out = {"grammar": d["grammar"], "room": d["room"], "voices": len(d["voices"])}
    for name in ("new", "probe", "unseen"):
        rs = [r for r in rows if r["set"] == name]
        out[name] = stats(rs)
        out[name]["wrong_motion_examples"] = sorted({f"{r['query']} -> {r['heard']} ({r['pred_action']})" for r in rs
                                                     if r["pred_action"] in MOVING and r["pred_action"] != r["action"]})
    return out


final_sets = {k: set(v) for k, v in json.load(open(sys.argv[-1]))["sets"].items()}
print(json.dumps({p.rsplit("/", 1)[-1]: summary(p, final_sets) for p in sys.argv[1:]}, indent=1))
