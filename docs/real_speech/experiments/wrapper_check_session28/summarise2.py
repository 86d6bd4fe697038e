"""Session 28: harness.py + harness2.py records -> the front end under each rule for taking the
wrapper decoder's text: an alignment lead L (wrapped minus plain, ln per frame) and/or a CTC veto
(our CTC's grammar match of the plain decoder's sentence on the whole utterance: the wrapper is
dropped when it vouches for that sentence). Sets as in summarise.py plus the 18 probe commands x
10 engine voices (action right, wrong motion). Writes summary2.json beside this file.

    python summarise2.py /tmp/s28/h_all.json /tmp/s28/h2_0.json /tmp/s28/h2_1.json"""
import json, math, sys
from collections import defaultdict
from pathlib import Path

MOVING = {"forward", "backward", "turn_left", "turn_right", "navigate_to", "look_at"}
h = json.load(open(sys.argv[1]))
h2 = [r for f in sys.argv[2:] for r in json.load(open(f))]
# harness records without a wrapper heard: the on front end is the off one (plain decoder alone)
base = [dict(r, on=r["off"]) for r in h if r["check"] is None] + [r for r in h2 if r["src"] == "h"]
# the wrapper-heard harness items: "off" from harness.py, "on" (and the CTC's view) from harness2.py
probe = [r for r in h2 if r["src"] == "probe"]
rows = base + probe

VETOES = {"none": lambda p: False,
          "override": lambda p: p["override"],
          "score>=-0.3": lambda p: p["score"] >= -0.3,
          "score>=-0.2": lambda p: p["score"] >= -0.2,
          "score>=-0.1": lambda p: p["score"] >= -0.1}
LEADS = [None, 0.0, 0.0002, 0.0005, 0.0007]


def pick(r, lead, veto):
    c = r["check"]
    if c is None:
        return r["on"]
    plain_heard = bool(c[2])
    if plain_heard:
        gap = c[1] - c[3]
        if lead is not None and not (gap == gap and math.isfinite(c[3]) and gap >= lead):
            return r["off"]
        if r["plain_ctc"] is not None and VETOES[veto](r["plain_ctc"]):
            return r["off"]
    return r["on"]


table = {}
for veto in VETOES:
    for lead in LEADS:
        by = defaultdict(lambda: defaultdict(int))
        for r in rows:
            p, b = pick(r, lead, veto), by[r["kind"].split("-")[0] if r["kind"].startswith("probe") else r["kind"]]
            b["n"] += 1
            b["nu"] += not p["understood"]
            if r["kind"].startswith("probe"):
                b["ok"] += p["action"] == r["ref_action"]
                b["wrong_motion"] += p["action"] in MOVING and p["action"] != r["ref_action"] or (
                    r["ref_action"] == "stop" and p["action"] in MOVING)
            elif r["ref"]:
                b["ok"] += p["understood"] and p["heard"] == r["ref"]
            else:
                b["moved"] += p["action"] in MOVING
        name = f"veto {veto}, lead {lead}"
        table[name] = {k: dict(v) for k, v in sorted(by.items())}
        print(f"{name:>30}: " + "  ".join(
            f"{k.replace('wrapped-', 'w-')} {v.get('ok', v.get('moved'))}/{v['n']}" + (f" wm{v['wrong_motion']}" if "wrong_motion" in v else "")
            + f" nu{v['nu']}" for k, v in sorted(by.items())))
# the probe off / on for reference
for side in ("off", "on"):
    ok = sum(r[side]["action"] == r["ref_action"] for r in probe)
    print(f"probe {side}: actions right {ok}/{len(probe)}")
Path(__file__).with_name("summary2.json").write_text(json.dumps(table, indent=1))
