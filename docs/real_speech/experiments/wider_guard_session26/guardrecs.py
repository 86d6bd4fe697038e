"""calibrate_grammar records (override off) of other engines' voices for a model folder:
each engine's voices x tts_queries(n, seed), clean and in test-split rooms (room_for)."""
import json, sys
import torch; torch.set_num_threads(1)
from tristream_ros.model.checkpoint import load_config
from tristream_ros.model.speech.ctc_grammar import NEVER_OVERRIDE
from tristream_ros.training.calibrate_grammar import _record
from tristream_ros.training.evaluate import build_frontend, load_speech_model
from tristream_ros.training.evaluate_tts import _pad, tts_queries, room_for
from tristream_ros.data.tts_engines import engine_voices, engine_synthesize
from tristream_ros.data.speech_synth import augment
M, out, engines, n, seed = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4]), int(sys.argv[5])
speech = load_speech_model(M, load_config(M))
tok = build_frontend(speech, "hybrid", recognizer_dir=M)
tok.thresholds = NEVER_OVERRIDE
recs = []
for e in engines:
    for v in engine_voices(e):
        for q in tts_queries(n, seed):
            clean = engine_synthesize(e, q["query"], v)
            recs.append(_record(tok, _pad(clean), q["query"], f"{e}:{v}"))
            recs.append(_record(tok, augment(clean, room_for(seed, q["id"]))[0], q["query"], f"{e}-room:{v}"))
    print(e, len(recs), flush=True)
json.dump(recs, open(out, "w"))
