"""Summarise harness.py's runs: per set, actions right, wrong motions (a moving action other than
the one meant), not understood, for the grammar before and after session 29's forms. Each set is
restricted to the sentences of the last file's sets (the final list: a first run had 4 more forms,
summary_first_list.json).

    python summarise.py before.json after.json > summary.json"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probe_stats import stats  # noqa: E402


def summary(path, sets):
    d = json.load(open(path))
    rows = [r for rs in d["voices"].values() for r in rs if r["query"] in sets[r["set"]]]
    out = {"grammar": d["grammar"], "room": d["room"], "voices": len(d["voices"])}
    for name in ("new", "probe", "unseen"):
        rs = [r for r in rows if r["set"] == name]
        out[name] = stats(rs)
    return out


final_sets = {k: set(v) for k, v in json.load(open(sys.argv[-1]))["sets"].items()}
print(json.dumps({p.rsplit("/", 1)[-1]: summary(p, final_sets) for p in sys.argv[1:]}, indent=1))
