"""Summarise harness.py's runs: per set, actions right, wrong motions (a moving action other than
the one meant), not understood, heard as said (an alias: heard as the sentence it forwards).
The before figures of probe / new29 / unseen29 are session 29's final run
(../natural_forms_session29/summary.json, nat_after2.json: the same voices and front end without
the aliases).

    python summarise.py before.json after.json > summary.json"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probe_stats import stats  # noqa: E402


def summary(path):
    d = json.load(open(path))
    rows = [r for rs in d["voices"].values() for r in rs]
    return {"grammar": d["grammar"], "aliases": d["aliases"], "voices": len(d["voices"]),
            **{name: stats([r for r in rows if r["set"] == name], heard_exact=False) for name in d["sets"]}}


s29 = json.load(open(Path(__file__).resolve().parents[1] / "natural_forms_session29" / "summary.json"))["nat_after2.json"]
before = summary(sys.argv[1])
for name, key in (("probe", "probe"), ("new29", "new"), ("unseen29", "unseen")):
    before[name] = {**s29[key], "from": "natural_forms_session29/summary.json nat_after2.json"}
print(json.dumps({"before": before, "after": summary(sys.argv[2])}, indent=1))
