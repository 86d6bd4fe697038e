"""The 100 spliced real-voice commands (tristream_ros/data/recordings/spliced) through the default
front end and model (evaluate_real_folder), with the wrong motions counted; used by the sessions'
evals.sh.

    PYTHONPATH=/work/main python spliced_eval.py OUT.json"""
import json
import sys

import torch

torch.set_num_threads(1)
from tristream_ros.training.evaluate import MOVING_ACTIONS
from tristream_ros.training.evaluate_domain import RECORDINGS_DIR, evaluate_real_folder

r = evaluate_real_folder("models/demo", RECORDINGS_DIR / "spliced")
r["wrong_motions"] = len([p for p in r["per_file"] if p["action"] != p["reference_action"] and p["action"] in MOVING_ACTIONS])
json.dump(r, open(sys.argv[1], "w"), indent=1)
print({k: r[k] for k in ("n", "not_understood", "moved_the_robot", "heard_exact", "action_as_reference", "wrong_motions")})
