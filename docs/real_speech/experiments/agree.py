import sys, json, numpy as np
sys.path.insert(0, '/work/main')
from pathlib import Path
from tristream_ros.training.ship import load_shipped
from tristream_ros.training.evaluate import build_frontend
from tristream_ros.data.tts_engines import engine_synthesize, engine_voices
from tristream_ros.training.evaluate_tts import _pad, short_form_queries, room_for
from tristream_ros.data.speech_synth import augment, sample_voice, synthesize
from tristream_ros.model.text_tokenizer import normalize
M = Path('/work/main/models/demo')
model, speech = load_shipped(M)
tok = build_frontend(speech, "hybrid", M)
qs = short_form_queries(0)
rows = []
voices = [(e, v) for e in ("flite", "festival") for v in engine_voices(e)] + [("espeak", i) for i in range(5)]
for room in (False, True):
    for eng, v in voices:
        for q in qs:
            if eng == "espeak":
                vs = sample_voice(np.random.default_rng([0, 11, v, int(q['id'][-3:])]), "test")
                clean = synthesize(q['query'], vs)
            else:
                clean = engine_synthesize(eng, q['query'], v)
            audio = augment(clean, room_for(0, q["id"]))[0] if room else _pad(clean)
            utt = tok.transcribe(audio)
            m = tok.last_match
            rows.append(dict(room=room, eng=eng, voice=str(v), query=q['query'], heard=normalize(utt.text) if utt else None,
                             understood=utt.understood if utt else None, ps=normalize(tok.last_pocketsphinx_text),
                             ctc=m.text if m else None, ctc_score=m.score if m else None))
        print(room, eng, v, flush=True)
json.dump(rows, open('/tmp/s21/agree.json', 'w'), indent=0)
