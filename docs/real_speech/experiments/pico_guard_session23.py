"""Session 23: add 120 Pico utterances (clean + room) as guard records to the candidate's calibration records
(/tmp/s23/calibP.json), then `calibrate_grammar --records` re-chooses the thresholds."""
import json, sys
import torch
sys.path.insert(0, "/work/main")
from tristream_ros.model.checkpoint import load_config
from tristream_ros.model.speech.ctc_grammar import NEVER_OVERRIDE
from tristream_ros.training.calibrate_grammar import _record
from tristream_ros.training.evaluate import build_frontend, load_speech_model
from tristream_ros.training.evaluate_tts import _pad, tts_queries, room_for
from tristream_ros.data.tts_engines import engine_synthesize, engine_voices
from tristream_ros.data.speech_synth import augment
torch.set_num_threads(1)
M = "/tmp/s23/mP"
speech = load_speech_model(M, load_config(M))
tok = build_frontend(speech, "hybrid", recognizer_dir=M)
tok.thresholds = NEVER_OVERRIDE
recs = []
for v in engine_voices("pico"):
    for q in tts_queries(30, 1):
        a = _pad(engine_synthesize("pico", q["query"], v))
        recs.append(_record(tok, a, q["query"], f"flite:pico-{v}"))
        recs.append(_record(tok, augment(a, room_for(1, q["id"]))[0], q["query"], f"flite:pico-room-{v}"))
c = json.load(open("/tmp/s23/calibP.json"))
print(len(c["records"]), sum(r["source"].startswith("flite:") for r in c["records"]))
c["records"] += recs
json.dump(c, open("/tmp/s23/calibP_picoguard.json", "w"))
print("added", len(recs))
