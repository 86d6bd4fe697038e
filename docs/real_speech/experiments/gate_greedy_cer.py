import json, sys, collections
sys.path.insert(0, "/work/main")
from tristream_ros.model.speech.ctc_grammar import load_grammar_thresholds
from tristream_ros.training.calibrate_grammar import chosen
from tristream_ros.training.cache import char_error_rate
t = load_grammar_thresholds("/work/main/models/demo")
T = (t.min_score, t.min_margin, t.min_lead, t.unsure_below, t.unsure_min_lead, t.rescore_top, t.rescore_weight, t.rescore_bonus, t.rescore_length)
recs = []
for f in sys.argv[1:]: recs += json.load(open(f))
g = collections.defaultdict(list)
for r in recs:
    if r["ctc_best"] is not None: r["gcer"] = char_error_rate(r["ctc_best"], r["greedy"])
    g[r["source"].split(":")[0]].append(r)
def pick(r, G, feat="gcer"):
    if r["ctc_best"] is None: return r["heard"]
    if r[feat] > G: return r["heard"]
    return chosen(r, *T)
Gs = [9, 0.8, 0.7, 0.6, 0.55, 0.5, 0.45, 0.4, 0.35, 0.3, 0.25, 0.2, -1]
print(f"{'set':10s} {'n':>4s} " + " ".join(f"{x:>5}" for x in Gs))
for name, rs in g.items():
    print(f"{name:10s} {len(rs):4d} " + " ".join(f"{sum(pick(r, G) == r['query'] for r in rs):5d}" for G in Gs))
# the changes the CTC makes and their gcer
for name, rs in g.items():
    c = collections.Counter()
    for r in rs:
        if r["ctc_best"] is None: continue
        fin = chosen(r, *T)
        if fin != r["heard"]:
            v = "fix" if fin == r["query"] else ("break" if r["heard"] == r["query"] else "other")
            c[v, round(min(r["gcer"], 0.99) // 0.1 * 0.1, 1)] += 1
    print(name, sorted(c.items()))
