import json, sys, dataclasses, numpy as np
sys.path.insert(0, "/work/main")
from tristream_ros.training.calibrate_grammar import chosen
from tristream_ros.model.speech.ctc_grammar import load_grammar_thresholds
folder, calibf, extra = sys.argv[1], sys.argv[2], sys.argv[3:]
t = load_grammar_thresholds(folder); th = tuple(getattr(t, f.name) for f in dataclasses.fields(t))
recs = json.load(open(calibf))["records"]
for e in extra: recs += json.load(open(e))
part = {p: [r for r in recs if r["source"].split(":")[0] == p] for p in ("val", "flite", "spliced")}
def gated(r, G):
    if r["ctc_best"] is None or r["score"] < G: return r["heard"]
    return chosen(r, *th)
for G in (-9, -0.4, -0.35, -0.3, -0.25, -0.2, -0.15, -0.1):
    print(G, {p: sum(gated(r, G) == r["query"] for r in rs) for p, rs in part.items()}, {p: len(rs) for p, rs in part.items()})
