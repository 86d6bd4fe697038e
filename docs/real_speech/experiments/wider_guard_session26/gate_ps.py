"""Session 26: leave the rescoring off where pocketsphinx's acoustic score per frame is at least a gate
(a voice-familiarity gate?), on the shipped thresholds and the calibration + guard + spliced records."""
import json, sys, dataclasses, numpy as np
sys.path.insert(0, "/work/main")
from tristream_ros.training.calibrate_grammar import chosen, guard_groups
from tristream_ros.model.speech.ctc_grammar import load_grammar_thresholds
t = load_grammar_thresholds("/work/main/models/demo"); B = tuple(getattr(t, f.name) for f in dataclasses.fields(t))[:9]
norescore = B[:5] + (0, 0.0, 0.0, 0.0)
recs = json.load(open("/tmp/s26/merged2.json"))["records"]
g = guard_groups([r for r in recs if r["source"].split(":")[0] not in ("ood", "real")])
g["spliced"] = json.load(open("/tmp/s25_recsB_spliced.json"))
def ex(rs, gate):
    n = 0
    for r in rs:
        ps = r.get("pocketsphinx_score")
        th = norescore if (ps is not None and ps >= gate) else B
        n += chosen(r, *th) == r["query"]
    return n
for k, rs in g.items():
    sc = [r["pocketsphinx_score"] for r in rs if r.get("pocketsphinx_score") is not None]
    print(f"{k:20s} n={len(rs):4d} ps_score p10 {np.percentile(sc,10):.4f} p50 {np.median(sc):.4f} p90 {np.percentile(sc,90):.4f}  " +
          " ".join(f"{gate}:{ex(rs, gate)}" for gate in (np.inf, 0.06, 0.055, 0.05, 0.048, 0.045, 0.04)))
