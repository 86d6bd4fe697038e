"""Session 34: `speech.wake_word: robot` (off by default). Ten Pico / flite / Festival voices say
twelve commands and questions bare and after "robot"; the 355 real out-of-domain recordings are run
through the same front end. Understood = heard exactly (the sentence inside the wrapper) and not refused.

    PYTHONPATH=/work/main python run.py MODEL REAL355_FOLDER OUT.json
"""
import json, sys, time
from collections import Counter
import torch
torch.set_num_threads(1)
from tristream_ros.data.tts_engines import engine_synthesize, engine_voices
from tristream_ros.signal.audio_file import audio_files, load_audio
from tristream_ros.training.evaluate import MOVING_ACTIONS, build_frontend
from tristream_ros.training.evaluate_domain import _run
from tristream_ros.training.ship import load_shipped

SENTENCES = ["stop", "turn left", "turn right", "go forward", "go back", "back up", "what can you do",
             "go to the red ball", "look at the cup", "what colour is the box", "how many cones are there",
             "where is the bottle"]
M, real, out = sys.argv[1:4]
model, speech = load_shipped(M)
tok = build_frontend(speech, "hybrid", M)
res = {"engines": {}, "real355": {}}
t0 = time.time()
for wake in ("", "robot"):
    tok.set_wake_word(wake)
    rows = []
    for eng in ("pico", "flite", "festival"):
        for v in engine_voices(eng):
            for s in SENTENCES:
                for said in (s, "robot " + s):
                    u = tok.transcribe(engine_synthesize(eng, said, v))
                    rows.append({"voice": f"{eng}:{v}", "said": said, "sentence": s,
                                 "heard": u.text if u else "", "understood": bool(u and u.understood),
                                 "why": u.not_understood_why if u else "no speech"})
    res["engines"][wake or "off"] = rows
    for pre in ("", "robot "):
        sel = [r for r in rows if r["said"] == pre + r["sentence"]]
        ok = sum(r["understood"] and r["heard"] == r["sentence"] for r in sel)
        nu = sum(not r["understood"] for r in sel)
        print(f"wake={wake or 'off'} said={'robot + ' if pre else 'bare'}: heard right and understood {ok} / {len(sel)}, not understood {nu}", flush=True)
    rrows = []
    for f in audio_files(real):
        r = _run(model, tok, load_audio(f))
        rrows.append({"file": f.name, "heard": r["heard"], "understood": r["understood"], "action": r["action"],
                      "why": r.get("not_understood_why", "")})
    res["real355"][wake or "off"] = rrows
    c = Counter(r["action"] if r["understood"] else "not understood" for r in rrows)
    print(f"wake={wake or 'off'} real355: not understood {c['not understood']}, stopped {c['stop']}, "
          f"moved {sum(v for k, v in c.items() if k in MOVING_ACTIONS)}", f"{time.time() - t0:.0f}s", flush=True)
tok.close()
json.dump(res, open(out, "w"), indent=0)
