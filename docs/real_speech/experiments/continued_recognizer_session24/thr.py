import json, sys
sys.path.insert(0, "/work/main")
from tristream_ros.training.calibrate_grammar import chosen, rejected, exact, kept, thresholds_of, rejection_fields
from tristream_ros.model.speech.ctc_grammar import load_grammar_thresholds
import dataclasses
def tup(folder):
    t = load_grammar_thresholds(folder); return tuple(getattr(t, f.name) for f in dataclasses.fields(t))
calib = json.load(open(sys.argv[1])); recs = calib["records"]
extra = json.load(open(sys.argv[2])) if len(sys.argv) > 2 else []
part = {p: [r for r in recs + extra if r["source"].startswith(p + ":")] for p in ("val", "flite", "ood", "real", "spliced")}
for name, folder in (("shipped", "/work/main/models/demo"), ("W-cal", "/tmp/s24/mW"), ("W2-cal", "/tmp/s24/mW2")):
    try: th = tup(folder)
    except Exception as e: print(name, e); continue
    print(name, {p: (round(exact(rs, *th), 4), round(kept(rs, *th), 4), sum(rejected(r, *th) for r in rs)) for p, rs in part.items() if rs})
