"""Session 30: spoken aliases ("move left" -> "turn left": data/language.SPOKEN_ALIASES). Every
sentence of five sets, by every Pico / flite / Festival voice, through the default front end
(command wrappers on) built without the aliases (before) or with them (after):
  alias:     the aliases themselves (expected: the action of the sentence they are forwarded as);
  probe:     session 27's 18 natural commands (natural_commands.py);
  new29:     session 29's everyday direction forms (short forms): "move to the left" must not
             become "move left" -> something else;
  unseen29:  session 29's 16 commands in neither grammar (8 of them are aliases now: no longer unseen);
  unseen30:  20 natural commands in neither the grammar nor the alias table, written this session
             before any run (a wrong motion is the failure that matters; not understood is safe).

    PYTHONPATH=/work/main python harness.py MODEL OUT.json before|after [SET,SET,...]

Run in session 30 as `before alias,unseen30` and `after` (all sets): the before figures of probe,
new29 and unseen29 are session 29's final run (natural_forms_session29, the same voices and
front end but for the aliases; the wrapper decoder's process gives the same words)."""
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from natural_commands import PROBE  # noqa: E402  (session 27's 18 natural commands)

SESSION21 = {"stop": ["stop it", "stop please", "stop that"], "turn_left": ["left", "go left"],
             "turn_right": ["right", "go right"], "forward": ["forward", "go ahead", "keep going"],
             "backward": ["backward", "backwards", "go backward"], "capabilities": ["help"]}
NEW29 = [(s, k) for k, forms in language.SHORT_FORMS.items() for s in forms if s not in SESSION21.get(k, [])]
UNSEEN29 = [("move left", "turn_left"), ("move right", "turn_right"), ("go forwards", "forward"),
            ("turn around", "none"), ("come here", "none"), ("slow down", "none"), ("wait", "none"),
            ("step back", "backward"), ("go straight on", "forward"), ("take a left", "turn_left"),
            ("take a right", "turn_right"), ("hang a left", "turn_left"), ("veer right", "turn_right"),
            ("stop there", "stop"), ("back up a bit", "backward"), ("forward a little", "forward")]
# written in session 30 before any run of this harness; expected action = what a person means
UNSEEN30 = [("spin left", "turn_left"), ("spin to the right", "turn_right"), ("bear left", "turn_left"),
            ("swing right", "turn_right"), ("drive on", "forward"), ("onwards", "forward"),
            ("go on ahead", "forward"), ("carry on", "forward"), ("reverse a bit", "backward"),
            ("move back a bit", "backward"), ("retreat", "backward"), ("back away", "backward"),
            ("hold still", "stop"), ("hold it", "stop"), ("stand still", "stop"), ("hold position", "stop"),
            ("look around", "none"), ("go home", "none"), ("follow me", "none"), ("dance", "none")]
ALIASES = dict(language.SPOKEN_ALIASES)
ACTION_OF = {s: language.INTENT_ACTION[i] for i, (tr, ho) in language.SPEECH_INTENTS.items() for s in tr + ho}
ACTION_OF.update({s: language.INTENT_ACTION[i] for i, forms in language.SHORT_FORMS.items() for s in forms})
ALIAS = [(s, ACTION_OF[t]) for s, t in ALIASES.items()]
grammar_after = set(language.all_queries())
assert not {s for s, _ in UNSEEN30} & grammar_after, {s for s, _ in UNSEEN30} & grammar_after

which = sys.argv[3]
if which == "before":
    language.SPOKEN_ALIASES.clear()
model_dir = sys.argv[1]
model, speech = load_shipped(model_dir)
tok = build_frontend(speech, "hybrid", model_dir, "respoken")  # the default (wrappers on)
frames = render_scene(sample_scene(3, allowed_combos=ALL_COMBOS)).frames
inv = {v: k for k, v in language.INTENT_ACTION.items() if k in language.SPEECH_ANSWERS}
SETS = (("alias", ALIAS), ("probe", PROBE), ("new29", NEW29), ("unseen29", UNSEEN29), ("unseen30", UNSEEN30))
if len(sys.argv) > 4:
    SETS = tuple((n, it) for n, it in SETS if n in sys.argv[4].split(","))
qs = []
for name, items in SETS:
    for s, a in items:
        qs.append({"id": f"n-{len(qs):03d}", "set": name, "route": "speech", "query": s,
                   "answer": language.SPEECH_ANSWERS[inv[a]] if a in inv else "", "action": a, "frames": frames})
out = {"grammar": which, "aliases": dict(language.SPOKEN_ALIASES), "sets": {n: [s for s, _ in it] for n, it in SETS},
       "voices": {}}
for eng in ("pico", "flite", "festival"):
    for v in engine_voices(eng):
        rows = _run_voice(model, tok, qs, lambda t, v=v, eng=eng: engine_synthesize(eng, t, v), room=False)
        for q, r in zip(qs, rows):
            r["set"] = q["set"]
            r.pop("nocam", None)
        out["voices"][f"{eng}:{v}"] = rows
        print(eng, v, {n: sum(r["pred_action"] == r["action"] for r in rows if r["set"] == n) for n, _ in SETS}, flush=True)
tok.close()
json.dump(out, open(sys.argv[2], "w"), indent=1, default=str)
