import json, sys
sys.path.insert(0, "/work/main")
import torch; torch.set_num_threads(1)
from tristream_ros.training.evaluate_domain import evaluate_real_folder
M, out = sys.argv[1], sys.argv[2]
r = evaluate_real_folder(M, "/work/main/tristream_ros/data/recordings/spliced")
mv = {"forward", "backward", "turn_left", "turn_right", "navigate_to", "look_at"}
wrong = [p for p in r["per_file"] if p["action"] != p["reference_action"] and p["action"] in mv]
r["wrong_motions"] = len(wrong)
json.dump(r, open(out, "w"), indent=1)
print({k: r[k] for k in ("n", "not_understood", "moved_the_robot", "heard_exact", "action_as_reference", "wrong_motions")})
for p in wrong: print(p["file"], p["heard"], p["action"], p["reference_action"])
