"""Offline: which rule changed pocketsphinx's sentence (override at pocketsphinx sure / unsure, rescoring), right or wrong, per set."""
import json, sys, collections
sys.path.insert(0, "/work/main")
from tristream_ros.model.speech.ctc_grammar import load_grammar_thresholds, grammar_overrides
from tristream_ros.training.calibrate_grammar import chosen
t = load_grammar_thresholds("/work/main/models/demo")
T = (t.min_score, t.min_margin, t.min_lead, t.unsure_below, t.unsure_min_lead, t.rescore_top, t.rescore_weight, t.rescore_bonus, t.rescore_length)
recs = []
for f in sys.argv[1:]:
    d = json.load(open(f)); recs += d["records"] if isinstance(d, dict) else d
groups = collections.defaultdict(list)
for r in recs:
    groups[r["source"].split(":")[0]].append(r)
for name, rs in groups.items():
    if name in ("ood", "real"): continue
    c = collections.Counter(); ex = []
    for r in rs:
        ps = r["heard"]; fin = chosen(r, *T)
        if r["ctc_best"] is None or fin == ps:
            c["kept", ps == r["query"]] += 1; continue
        psc = r["pocketsphinx_score"]
        if grammar_overrides(r["score"], r["margin"], r["lead"], psc, t):
            how = "override_unsure" if psc < t.unsure_below and r["lead"] < t.min_lead else "override"
        else:
            how = "rescore"
        verdict = "fix" if fin == r["query"] else ("break" if ps == r["query"] else "other")
        c[how, verdict] += 1
        ex.append((how, verdict, round(r["score"], 3), round(psc, 4), round(r["lead"], 3)))
    print(name, len(rs), dict(sorted(c.items(), key=str)))
    if len(sys.argv) > 2 and name in ("spliced",): print("   ", ex)
