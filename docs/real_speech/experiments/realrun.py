import json, sys, time
sys.path.insert(0, '/work/main')
from pathlib import Path
from tristream_ros.training.evaluate import build_frontend
from tristream_ros.training.ship import load_shipped
from tristream_ros.training.evaluate_domain import _run
from tristream_ros.signal.audio_file import audio_files, load_audio
M = sys.argv[1]; folder = Path(sys.argv[2]); out = sys.argv[3]
model, speech = load_shipped(M)
tok = build_frontend(speech, "hybrid", M)
import os
if os.environ.get("MAKEUP_OFF"): tok.quiet_peak_dbfs = None
rows = []; t0 = time.time()
for f in audio_files(folder):
    a = load_audio(f)
    r = _run(model, tok, a)
    lm = tok.last_match
    r.update(file=f.name, dur=len(a)/16000, ps=tok.last_pocketsphinx_text, ps_score=tok.last_pocketsphinx_score,
             match=(lm.text, lm.score, lm.margin, lm.lead) if lm else None)
    rows.append(r)
json.dump(rows, open(out, 'w'), indent=0, default=str)
from collections import Counter
mv = {"forward", "backward", "turn_left", "turn_right", "navigate_to", "look_at"}
print(len(rows), 'not understood', sum(not r['understood'] for r in rows), 'moved', sum(r['action'] in mv for r in rows), f'{time.time()-t0:.0f}s')
print(Counter(r['action'] for r in rows))
