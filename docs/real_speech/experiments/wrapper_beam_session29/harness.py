"""Session 29: the wrapper decoder (speech.command_wrappers) doubles the front end's CPU (a second
pocketsphinx search at DOMAIN_BEAM 1e-80). Does a narrower beam for the second decoder alone keep
what it hears? Sets: session 27's 18 natural commands (wrapped_probe.py) and 12 held-out queries
inside wrapper words (evaluate_tts.wrapped_queries), by every Pico / flite / Festival voice, and
the same 12 queries bare by 4 espeak-ng test voices (where nothing should change), through the
default front end with the wrapper decoder's beam = BEAM (same order for every beam).

    PYTHONPATH=/work/main python harness.py MODEL OUT.json BEAM"""
import json
import sys
from pathlib import Path
import time
from dataclasses import replace

import numpy as np
import torch

torch.set_num_threads(1)
from tristream_ros.data import language
from tristream_ros.data.dataset import ALL_COMBOS
from tristream_ros.data.scenes import render_scene, sample_scene
from tristream_ros.data.speech_synth import sample_voice, synthesize
from tristream_ros.data.tts_engines import engine_synthesize, engine_voices
from tristream_ros.model.speech.pocketsphinx_frontend import PocketsphinxRecognizer
from tristream_ros.training.evaluate import MOVING_ACTIONS, build_frontend
from tristream_ros.training.evaluate_tts import _run_voice, tts_queries, wrapped_queries
from tristream_ros.training.ship import load_shipped

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from natural_commands import PROBE  # noqa: E402  (session 27's 18 natural commands)
model_dir, out_path, beam = sys.argv[1], sys.argv[2], float(sys.argv[3])
model, speech = load_shipped(model_dir)
tok = build_frontend(speech, "hybrid", model_dir, "respoken")
cfg = tok.wrapper_recognizer.config
tok.wrapper_recognizer = PocketsphinxRecognizer(replace(cfg, beam=beam))
tok.recognizer.align_words_of(tok.wrapper_recognizer)
frames = render_scene(sample_scene(3, allowed_combos=ALL_COMBOS)).frames
inv = {v: k for k, v in language.INTENT_ACTION.items() if k in language.SPEECH_ANSWERS}
probe = [{"id": f"p-{i:03d}", "route": "speech", "query": s, "answer": language.SPEECH_ANSWERS[inv[a]], "action": a,
          "frames": frames} for i, (s, a) in enumerate(PROBE)]
held = tts_queries(12, 5)
wrapped = wrapped_queries(held, 5)
out = {"beam": beam, "rows": {}}
cpu = 0.0
for eng in ("pico", "flite", "festival"):
    for v in engine_voices(eng):
        c = time.process_time()
        rows = _run_voice(model, tok, probe + wrapped, lambda t, v=v, eng=eng: engine_synthesize(eng, t, v))
        cpu += time.process_time() - c
        out["rows"][f"{eng}:{v}"] = rows
for i in range(4):
    voice = sample_voice(np.random.default_rng([5, 11, i]), "test")
    c = time.process_time()
    out["rows"][f"espeak:{i}"] = _run_voice(model, tok, held, lambda t, voice=voice: synthesize(t, voice))
    cpu += time.process_time() - c
rows = [r for rs in out["rows"].values() for r in rs]
for name, pick in (("probe", lambda r: r["id"].startswith("p-")), ("wrapped", lambda r: r["spoken_text"] != r["query"]),
                   ("espeak_bare", lambda r: r["id"].startswith("tts-") and r["spoken_text"] == r["query"])):
    rs = [r for r in rows if pick(r)]
    out[name] = {"n": len(rs), "actions_right": sum(r["pred_action"] == r["action"] for r in rs),
                 "heard_exact": sum(r["heard"] == r["query"] for r in rs),
                 "wrong_motions": sum(r["pred_action"] in MOVING_ACTIONS and r["pred_action"] != r["action"] for r in rs)}
out["cpu_s"] = round(cpu, 1)
print(json.dumps({k: v for k, v in out.items() if k != "rows"}))
json.dump(out, open(out_path, "w"), default=str)
