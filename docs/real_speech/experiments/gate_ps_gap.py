import json, sys, collections, math
sys.path.insert(0, "/work/main")
from tristream_ros.model.speech.ctc_grammar import load_grammar_thresholds
from tristream_ros.training.calibrate_grammar import chosen
t = load_grammar_thresholds("/work/main/models/demo")
T = (t.min_score, t.min_margin, t.min_lead, t.unsure_below, t.unsure_min_lead, t.rescore_top, t.rescore_weight, t.rescore_bonus, t.rescore_length)
def ps_gap(r):
    if r.get("phone_loop") is None: return None
    a = next((c[2] for c in r["candidates"] if c[0] == r["pocketsphinx"]), None)
    return None if a is None or not math.isfinite(a) else a - r["phone_loop"]
def pick(r, G):
    if r["ctc_best"] is None: return r["heard"]
    g = ps_gap(r)
    if g is not None and g >= G: return r["heard"]
    return chosen(r, *T)
recs = []
for f in sys.argv[1:]:
    d = json.load(open(f)); recs += d["records"] if isinstance(d, dict) else d
groups = collections.defaultdict(list)
for r in recs:
    g = r["source"].split(":")[0]
    groups[g].append(r)
Gs = [math.inf, 3e-3, 2e-3, 1.5e-3, 1e-3, 7e-4, 5e-4, 3e-4, 2e-4, 1e-4, 0.0, -1e-4, -2e-4, -5e-4]
print(f"{'set':16s} {'n':>4s} " + " ".join(f"{g:>7.0e}" for g in Gs))
for name, rs in groups.items():
    if name in ("ood", "real"): continue
    row = [sum(pick(r, g) == r["query"] for r in rs) for g in Gs]
    print(f"{name:16s} {len(rs):4d} " + " ".join(f"{x:7d}" for x in row))
# distribution of ps_gap when ps right vs wrong, per set
for name, rs in groups.items():
    if name in ("ood","real"): continue
    right = sorted(g for r in rs if (g := ps_gap(r)) is not None and r["pocketsphinx"] == r["query"])
    wrong = sorted(g for r in rs if (g := ps_gap(r)) is not None and r["pocketsphinx"] != r["query"])
    q = lambda xs, p: xs[int(p*(len(xs)-1))] if xs else float('nan')
    print(f"{name:14s} ps right n={len(right)} q10/50/90 {q(right,.1):.1e} {q(right,.5):.1e} {q(right,.9):.1e} | wrong n={len(wrong)} {q(wrong,.1):.1e} {q(wrong,.5):.1e} {q(wrong,.9):.1e}")
