"""_record + CTC-posterior features (greedy text, non-blank confidence) per utterance.
usage: records2.py OUT.json SET... (val:N, spliced:DIR, festival, flite)"""
import json, sys, time
import numpy as np, torch
sys.path.insert(0, "/work/main")
from tristream_ros.model.checkpoint import load_config
from tristream_ros.model.speech.ctc_grammar import NEVER_OVERRIDE
from tristream_ros.model.speech.ctc import greedy_decode
from tristream_ros.training.calibrate_grammar import _record
from tristream_ros.training.evaluate import build_frontend, load_speech_model
from tristream_ros.training.evaluate_tts import _pad, tts_queries
from tristream_ros.data.tts_engines import engine_synthesize, engine_voices
from tristream_ros.signal.audio_file import load_audio, audio_files
from tristream_ros.data.dataset import DatasetReader
torch.set_num_threads(1)
M = "models/demo"
tok = build_frontend(load_speech_model(M, load_config(M)), "hybrid", recognizer_dir=M)
tok.thresholds = NEVER_OVERRIDE
def rec(audio, q, src):
    r = _record(tok, audio, q, src)
    lp = tok.encoder_frontend.log_probs
    if lp.shape[0]:
        p = lp.exp(); mx, am = p.max(-1)
        nb = am != 0
        r.update(greedy=greedy_decode(lp), blank_frac=float((~nb).float().mean()),
                 nonblank_conf=float(mx[nb].mean()) if nb.any() else 0.0, mean_max=float(mx.mean()))
    return r
out = sys.argv[1]; recs = []; t0 = time.time()
for s in sys.argv[2:]:
    if s.startswith("val:"):
        rd = DatasetReader("/tmp/s12/val800", "val"); n = int(s[4:])
        for i in range(len(rd)):
            x = rd[i]
            if x["audio"] is not None and sum(r["source"].startswith("val") for r in recs) < n:
                recs.append(rec(x["audio"], x["query"], "val:" + x["voice"]["variant"]))
    elif s.startswith("spliced:"):
        for f in audio_files(s[8:]):
            recs.append(rec(load_audio(f), f.with_suffix(".txt").read_text().strip(), "spliced:" + f.stem))
    else:
        for v in engine_voices(s):
            for q in tts_queries(30, 0):
                recs.append(rec(_pad(engine_synthesize(s, q["query"], v)), q["query"], f"{s}:{v}"))
    print(s, len(recs), f"{time.time()-t0:.0f}s", flush=True)
json.dump(recs, open(out, "w"))
