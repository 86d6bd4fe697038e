"""Session 28: harness.py's records -> the front end with the alignment check at each lead.

A lead L takes the wrappers-on result when the wrapper decoder heard a wrapper and its text
aligned at least L (ln per frame) better than the plain decoder's, else the wrappers-off result.
Per set: exact (heard the reference sentence and understood it), not understood; the 355 real
out-of-domain recordings: understood, moved the robot. Writes summary.json beside this file.

    python summarise.py /tmp/s28/h_0.json /tmp/s28/h_1.json"""
import json, sys
from collections import defaultdict
from pathlib import Path

MOVING = {"forward", "backward", "turn_left", "turn_right", "navigate_to", "look_at"}
rows = [r for f in sys.argv[1:] for r in json.load(open(f))]
LEADS = [None, -1e9, -0.0002, 0.0, 0.0002, 0.0004, 0.0005, 0.0006, 0.0007, 0.0008, 0.001]


def pick(r, lead):
    if lead is None:
        return r["off"]
    c = r["check"]
    if c is None:
        return r["off"]
    gap = c[1] - c[3]
    return r["on"] if gap == gap and gap >= lead else r["off"]


# sanity: with no wrapper heard the two front ends ran the same plain path
same = sum(r["on"] == r["off"] for r in rows if r["check"] is None)
print(f"{len(rows)} utterances; no wrapper heard: {sum(r['check'] is None for r in rows)} "
      f"(on == off for {same}); wrapper heard: {sum(r['check'] is not None for r in rows)}")
table = {}
for lead in LEADS:
    by = defaultdict(lambda: defaultdict(int))
    for r in rows:
        p, b = pick(r, lead), by[r["kind"]]
        b["n"] += 1
        b["not_understood"] += not p["understood"]
        if r["ref"]:
            b["exact"] += p["understood"] and p["heard"] == r["ref"]
        else:
            b["moved"] += p["action"] in MOVING
        b["wrapper_taken"] += p is r["on"] and r["check"] is not None
    name = "off" if lead is None else ("on, unchecked" if lead == -1e9 else f"lead {lead:g}")
    table[name] = {k: dict(v) for k, v in sorted(by.items())}
    print(f"{name:>15}: " + "  ".join(
        f"{k} {v.get('exact', v.get('moved'))}/{v['n']} nu {v['not_understood']}" for k, v in sorted(by.items())))
# what the check refused and took where the two differ, per set
changes = defaultdict(list)
for r in rows:
    if r["check"] is not None and r["on"] != r["off"]:
        changes[r["kind"]].append({"ref": r["ref"], "off": r["off"]["heard"], "on": r["on"]["heard"],
                                   "on_understood": r["on"]["understood"], "wrapped": r["check"][0],
                                   "plain": r["check"][2], "lead": r["check"][1] - r["check"][3]})
Path(__file__).with_name("summary.json").write_text(json.dumps({"by_lead": table, "changes": changes}, indent=1))
