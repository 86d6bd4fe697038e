"""The 100 spliced real-voice commands through the default front end of MODEL (models/demo with
the voice gate, or a copy without voice_gate.json), wrong motions counted (as spliced_eval.py).

    PYTHONPATH=/work/main python spliced.py MODEL OUT.json"""
import json
import sys

import torch

torch.set_num_threads(1)
from tristream_ros.training.evaluate import MOVING_ACTIONS
from tristream_ros.training.evaluate_domain import RECORDINGS_DIR, evaluate_real_folder

r = evaluate_real_folder(sys.argv[1], RECORDINGS_DIR / "spliced")
r["wrong_motions"] = len([p for p in r["per_file"] if p["action"] != p["reference_action"] and p["action"] in MOVING_ACTIONS])
json.dump(r, open(sys.argv[2], "w"), indent=1)
print({k: r[k] for k in ("n", "not_understood", "moved_the_robot", "heard_exact", "action_as_reference", "wrong_motions")})
