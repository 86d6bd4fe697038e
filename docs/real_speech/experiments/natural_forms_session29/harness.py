"""Session 29: everyday direction commands added to the grammar ("go to the left", "move to your
right", "drive backwards": data/language.SHORT_FORMS). Every sentence of three sets, by every
Pico / flite / Festival voice, through the default front end (command wrappers on) built with the
grammar before (session 21's short forms) or after (session 29's):
  new:    the forms session 29 added (32);
  probe:  session 27's 18 natural commands (wrapped_probe.py; "go to the left" was its most missed);
  unseen: natural commands in neither grammar, none chosen by looking at results ("move left",
          "go forwards", "turn around", ...): what the grammar change does to speech it still lacks
          (a wrong motion is the failure that matters; "not understood" or "none" is safe).

    PYTHONPATH=/work/main python harness.py MODEL OUT.json before|after [room]"""
import json
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)
from tristream_ros.data import language
from tristream_ros.data.dataset import ALL_COMBOS
from tristream_ros.data.scenes import render_scene, sample_scene
from tristream_ros.data.tts_engines import engine_synthesize, engine_voices
from tristream_ros.training.evaluate import build_frontend
from tristream_ros.training.evaluate_tts import _run_voice
from tristream_ros.training.ship import load_shipped

SESSION21 = {"stop": ["stop it", "stop please", "stop that"], "turn_left": ["left", "go left"],
             "turn_right": ["right", "go right"], "forward": ["forward", "go ahead", "keep going"],
             "backward": ["backward", "backwards", "go backward"], "capabilities": ["help"]}
AFTER = {k: list(v) for k, v in language.SHORT_FORMS.items()}
NEW = [(s, k) for k, forms in AFTER.items() for s in forms if s not in SESSION21.get(k, [])]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from natural_commands import PROBE  # noqa: E402  (session 27's 18 natural commands)
# written before any run of this harness; expected action = what a person means
UNSEEN = [("move left", "turn_left"), ("move right", "turn_right"), ("go forwards", "forward"),
          ("turn around", "none"), ("come here", "none"), ("slow down", "none"), ("wait", "none"),
          ("step back", "backward"), ("go straight on", "forward"), ("take a left", "turn_left"),
          ("take a right", "turn_right"), ("hang a left", "turn_left"), ("veer right", "turn_right"),
          ("stop there", "stop"), ("back up a bit", "backward"), ("forward a little", "forward")]

which = sys.argv[3]
language.SHORT_FORMS.clear()
language.SHORT_FORMS.update(SESSION21 if which == "before" else AFTER)
room = len(sys.argv) > 4 and sys.argv[4] == "room"
model_dir = sys.argv[1]
model, speech = load_shipped(model_dir)
tok = build_frontend(speech, "hybrid", model_dir, "respoken")  # the default (wrappers on)
frames = render_scene(sample_scene(3, allowed_combos=ALL_COMBOS)).frames
inv = {v: k for k, v in language.INTENT_ACTION.items() if k in language.SPEECH_ANSWERS}
qs = []
for name, items in (("new", NEW), ("probe", PROBE), ("unseen", UNSEEN)):
    for s, a in items:
        qs.append({"id": f"n-{len(qs):03d}", "set": name, "route": "speech", "query": s,
                   "answer": language.SPEECH_ANSWERS[inv[a]] if a in inv else "", "action": a, "frames": frames})
out = {"grammar": which, "room": room, "sets": {n: [s for s, _ in it] for n, it in (("new", NEW), ("probe", PROBE), ("unseen", UNSEEN))}, "voices": {}}
for eng in ("pico", "flite", "festival"):
    for v in engine_voices(eng):
        rows = _run_voice(model, tok, qs, lambda t, v=v, eng=eng: engine_synthesize(eng, t, v), room=room)
        for q, r in zip(qs, rows):
            r["set"] = q["set"]
            r.pop("nocam", None)
        out["voices"][f"{eng}:{v}"] = rows
        print(eng, v, {n: sum(r["pred_action"] == r["action"] for r in rows if r["set"] == n) for n in ("new", "probe", "unseen")}, flush=True)
json.dump(out, open(sys.argv[2], "w"), indent=1, default=str)
