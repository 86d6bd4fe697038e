import json, sys, collections
sys.path.insert(0, "/work/main")
from tristream_ros.model.speech.ctc_grammar import load_grammar_thresholds
from tristream_ros.training.calibrate_grammar import chosen
t = load_grammar_thresholds("/work/main/models/demo")
T = (t.min_score, t.min_margin, t.min_lead, t.unsure_below, t.unsure_min_lead, t.rescore_top, t.rescore_weight, t.rescore_bonus, t.rescore_length)
def pick(r, gate):
    if r["ctc_best"] is None: return r["heard"]
    if r["score"] < gate: return r["heard"]          # pocketsphinx's sentence stands
    return chosen(r, *T)
recs = []
for f in sys.argv[1:]:
    d = json.load(open(f)); recs += d["records"] if isinstance(d, dict) else d
groups = collections.defaultdict(list)
for r in recs:
    g = r["source"].split(":")[0]
    if g in ("ood", "real"): continue
    groups[g].append(r)
gates = [float("-inf"), -0.4, -0.35, -0.3, -0.25, -0.22, -0.2, -0.18, -0.16, -0.15, -0.14, -0.12, -0.1, float("inf")]
print(f"{'set':16s} {'n':>4s} " + " ".join(f"{g:>6}" for g in gates))
for name, rs in groups.items():
    row = [sum(pick(r, g) == r["query"] for r in rs) for g in gates]
    print(f"{name:16s} {len(rs):4d} " + " ".join(f"{x:6d}" for x in row))
