"""Summarise session 31's runs with and without the voice gate: ten engine voices through
aliases_session30/harness.py (before: session 30's final run, the same front end without the
gate; after: with it), per set and per engine, and the spliced real-voice commands.

    python summarise.py engines_before.json engines_after.json spliced_before.json spliced_after.json > summary.json"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from probe_stats import stats  # noqa: E402


def engines(path):
    d = json.load(open(path))
    rows = [dict(r, voice=v) for v, rs in d["voices"].items() for r in rs]
    out = {name: stats([r for r in rows if r["set"] == name], heard_exact=False) for name in d["sets"]}
    for eng in ("pico", "flite", "festival"):
        out[f"all_sets_{eng}"] = stats([r for r in rows if r["voice"].startswith(eng + ":")], heard_exact=False)
        out[f"all_sets_{eng}"].pop("wrong_motion_examples")
    return out


def spliced(path):
    d = json.load(open(path))
    return {k: d[k] for k in ("n", "not_understood", "moved_the_robot", "heard_exact", "action_as_reference",
                              "wrong_motions")}


b, a, sb, sa = sys.argv[1:5]
print(json.dumps({"engines_before": engines(b), "engines_after": engines(a),
                  "spliced_before": spliced(sb), "spliced_after": spliced(sa)}, indent=1))
