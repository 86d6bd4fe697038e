"""calibrate_grammar records (override off) of other engines' voices for a model folder:
each engine's voices x tts_queries(n, seed), clean and in test-split rooms (room_for), sources
"ENGINE:VOICE" / "ENGINE-room:VOICE"; with a sixth argument "short", the 14 short forms
(short_form_queries(seed); n unused), sources "ENGINE-short:VOICE" / "ENGINE-short-room:VOICE".

    python guardrecs.py MODEL OUT.json flite,pico,festival 24 1 [short]

(Session 25 wrote /tmp/s25/guardB.json with the first form; session 26 /tmp/s26/guardshortB.json
with the second, then a copy of this script named guardshort.py. calibrate_grammar.guard_records
now records the first form itself.)"""
import json, sys
import torch; torch.set_num_threads(1)
from tristream_ros.model.checkpoint import load_config
from tristream_ros.model.speech.ctc_grammar import NEVER_OVERRIDE
from tristream_ros.training.calibrate_grammar import _record
from tristream_ros.training.evaluate import build_frontend, load_speech_model
from tristream_ros.training.evaluate_tts import _pad, room_for, short_form_queries, tts_queries
from tristream_ros.data.tts_engines import engine_voices, engine_synthesize
from tristream_ros.data.speech_synth import augment
M, out, engines, n, seed = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]), int(sys.argv[5])
short = sys.argv[6:] == ["short"]
speech = load_speech_model(M, load_config(M))
tok = build_frontend(speech, "hybrid", recognizer_dir=M)
tok.thresholds = NEVER_OVERRIDE
queries = short_form_queries(seed) if short else tts_queries(n, seed)
tag = "-short" if short else ""
recs = []
for e in engines:
    for v in engine_voices(e):
        for q in queries:
            clean = engine_synthesize(e, q["query"], v)
            recs.append(_record(tok, _pad(clean), q["query"], f"{e}{tag}:{v}"))
            recs.append(_record(tok, augment(clean, room_for(seed, q["id"]))[0], q["query"], f"{e}{tag}-room:{v}"))
    print(e, len(recs), flush=True)
json.dump(recs, open(out, "w"))
