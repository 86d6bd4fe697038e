"""Session 23: the CTC's best grammar sentence alone vs pocketsphinx alone vs the hybrid, per record
(calibrate_grammar._record), on the spliced real voice, Pico, flite, Festival (clean, seed-0 queries).
usage: ctc_alone_session23.py MODEL OUT.json spliced,pico,short_pico,flite,festival"""
import json, sys, time
import numpy as np, torch
sys.path.insert(0, "/work/main")
from tristream_ros.model.checkpoint import load_config
from tristream_ros.training.calibrate_grammar import _record
from tristream_ros.training.evaluate import build_frontend, load_speech_model
from tristream_ros.training.evaluate_tts import _pad, tts_queries, short_form_queries
from tristream_ros.data.tts_engines import engine_synthesize, engine_voices
from tristream_ros.signal.audio_file import load_audio, audio_files
torch.set_num_threads(1)
M = sys.argv[1]; out = sys.argv[2]; sets = sys.argv[3].split(",")
speech = load_speech_model(M, load_config(M))
tok = build_frontend(speech, "hybrid", recognizer_dir=M)
recs = []; t0 = time.time()
if "spliced" in sets:
    for f in audio_files("/work/main/tristream_ros/data/recordings/spliced"):
        recs.append(_record(tok, load_audio(f), f.with_suffix(".txt").read_text().strip(), "spliced:" + f.stem))
for eng in ("pico", "flite", "festival"):
    if eng in sets:
        for v in engine_voices(eng):
            for q in tts_queries(30, 0):
                recs.append(_record(tok, _pad(engine_synthesize(eng, q["query"], v)), q["query"], f"{eng}:{v}"))
    if "short_" + eng in sets:
        for v in engine_voices(eng):
            for q in short_form_queries(0):
                recs.append(_record(tok, _pad(engine_synthesize(eng, q["query"], v)), q["query"], f"short_{eng}:{v}"))
json.dump(recs, open(out, "w"))
from collections import defaultdict
g = defaultdict(list)
for r in recs: g[r["source"].split(":")[0]].append(r)
for k, rs in g.items():
    n = len(rs)
    print(f"{k:14s} n={n} ctc_best={sum(r['ctc_best']==r['query'] for r in rs)} ps={sum(r['pocketsphinx']==r['query'] for r in rs)} heard={sum(r['heard']==r['query'] for r in rs)}")
print(f"{time.time()-t0:.0f}s")
