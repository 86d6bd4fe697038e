"""Session 27: 18 hand-written natural commands outside the grammar ("robot stop", "please go
back", "move backwards") x every Pico / flite / Festival voice through the hybrid front end,
with the command wrappers off or on.

    python wrapped_probe.py MODEL OUT.json [on]"""
import sys, json, collections
from pathlib import Path
import numpy as np, torch
torch.set_num_threads(2)
sys.path.insert(0, '/work/main')
from tristream_ros.data import language
from tristream_ros.data.dataset import ALL_COMBOS
from tristream_ros.data.scenes import render_scene, sample_scene
from tristream_ros.training.evaluate_tts import _run_voice
from tristream_ros.training.evaluate import build_frontend
from tristream_ros.training.ship import load_shipped
from tristream_ros.data.tts_engines import engine_synthesize, engine_voices
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from natural_commands import PROBE as SENT  # noqa: E402  (the 18 natural commands)
gram = set(language.all_queries(None))
print("in grammar:", [s for s, _ in SENT if s in gram])
model_dir = sys.argv[1] if len(sys.argv) > 1 else '/work/main/models/demo'
model, speech = load_shipped(model_dir)
tok = build_frontend(speech, "hybrid", model_dir, "respoken", command_wrappers=len(sys.argv) > 3 and sys.argv[3] == "on")
frames = render_scene(sample_scene(3, allowed_combos=ALL_COMBOS)).frames
inv = {v: k for k, v in language.INTENT_ACTION.items() if k in language.SPEECH_ANSWERS}
qs = [{"id": f"w-{i:03d}", "route": "speech", "query": s, "answer": language.SPEECH_ANSWERS[inv[a]], "action": a, "frames": frames}
      for i, (s, a) in enumerate(SENT)]
out = {}
for eng in ("pico", "flite", "festival"):
    for v in engine_voices(eng):
        rows = _run_voice(model, tok, qs, lambda t, v=v: engine_synthesize(eng, t, v))
        out[f"{eng}:{v}"] = rows
        ok = sum(r['pred_action'] == r['action'] for r in rows); wrong = sum(r['pred_action'] not in (None, 'none', r['action']) for r in rows)
        print(eng, v, f"actions {ok}/{len(rows)} wrong motion {wrong}", flush=True)
        for r in rows:
            if r['pred_action'] != r['action']:
                print("   ", r['query'], '->', repr(r['heard']), r['pred_action'], 'NU' if r['not_understood'] else '')
json.dump(out, open(sys.argv[2] if len(sys.argv) > 2 else '/tmp/s27/wrapped.json', 'w'), indent=1, default=str)
