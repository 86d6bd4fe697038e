"""Record calibrate_grammar._record for unseen-voice sets: spliced real words, Festival (clean, room),
flite seed 0 (the eval's queries), short forms (flite, festival). usage: records.py OUT.json [sets]"""
import json, sys, time
from pathlib import Path
import numpy as np, torch
sys.path.insert(0, "/work/main")
from tristream_ros.model.checkpoint import load_config
from tristream_ros.model.speech.ctc_grammar import NEVER_OVERRIDE
from tristream_ros.training.calibrate_grammar import _record
from tristream_ros.training.evaluate import build_frontend, load_speech_model
from tristream_ros.training.evaluate_tts import _pad, tts_queries, short_form_queries, room_for
from tristream_ros.data.tts_engines import engine_synthesize, engine_voices
from tristream_ros.signal.audio_file import load_audio, audio_files
from tristream_ros.data.speech_synth import augment

torch.set_num_threads(1)
M = "models/demo"
speech = load_speech_model(M, load_config(M))
tok = build_frontend(speech, "hybrid", recognizer_dir=M)
tok.thresholds = NEVER_OVERRIDE
out = sys.argv[1]
sets = sys.argv[2].split(",") if len(sys.argv) > 2 else ["spliced", "festival", "festival_room", "flite", "short"]
recs = []
t0 = time.time()
if "spliced" in sets:
    for f in audio_files(sys.argv[3] if len(sys.argv) > 3 else "/tmp/s22/spliced"):
        recs.append(_record(tok, load_audio(f), f.with_suffix(".txt").read_text().strip(), "spliced:" + f.stem))
if "real" in sets:
    for f in audio_files(sys.argv[3]):
        t = f.with_suffix(".txt")
        recs.append(_record(tok, load_audio(f), t.read_text().strip() if t.exists() else "", "real:" + f.stem))
for eng in ("festival", "flite"):
    for v in engine_voices(eng):
        if eng in sets or eng + "_room" in sets:
            for q in tts_queries(30, 0):
                a = _pad(engine_synthesize(eng, q["query"], v))
                if eng in sets:
                    recs.append(_record(tok, a, q["query"], f"{eng}:{v}"))
                if eng + "_room" in sets:
                    recs.append(_record(tok, augment(a, room_for(0, q["id"]))[0], q["query"], f"{eng}_room:{v}"))
        if "short" in sets:
            for q in short_form_queries(0):
                recs.append(_record(tok, _pad(engine_synthesize(eng, q["query"], v)), q["query"], f"short_{eng}:{v}"))
    print(eng, len(recs), f"{time.time()-t0:.0f}s", flush=True)
json.dump(recs, open(out, "w"))
print(len(recs), f"{time.time()-t0:.0f}s")
