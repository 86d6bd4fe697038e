# the fixed front end with the wrappers on, on the unwrapped sets (session 27)
cd /work/main; export PYTHONPATH=/work/main
M=models/demo; O=/tmp/s27/F
case "$1" in
 a) .venv/bin/python - <<'PY' > ${O}_spliced_dom.log 2>&1
import json, sys
sys.path.insert(0, "/work/main")
import torch; torch.set_num_threads(1)
from tristream_ros.training import evaluate
orig = evaluate.build_frontend
evaluate.build_frontend = lambda *a, **k: orig(*a, **{**k, "command_wrappers": True})
from tristream_ros.training.evaluate_domain import evaluate_real_folder
r = evaluate_real_folder("models/demo", "/work/main/tristream_ros/data/recordings/spliced")
mv = {"forward", "backward", "turn_left", "turn_right", "navigate_to", "look_at"}
r["wrong_motions"] = len([p for p in r["per_file"] if p["action"] != p["reference_action"] and p["action"] in mv])
json.dump(r, open("/tmp/s27/F_spliced_dom.json", "w"), indent=1)
print({k: r[k] for k in ("n", "not_understood", "moved_the_robot", "heard_exact", "action_as_reference", "wrong_motions")})
PY
 ;;
 b) .venv/bin/python - <<'PY' > ${O}_eval240.log 2>&1
import sys, json
sys.path.insert(0, "/work/main")
from tristream_ros.training import evaluate
orig = evaluate.build_frontend
evaluate.build_frontend = lambda *a, **k: orig(*a, **{**k, "command_wrappers": True})
import torch; torch.set_num_threads(1)
split = evaluate.evaluate_split("models/demo", "/tmp/s23/train", "test", None, "hybrid", keep_predictions=True)
json.dump({"model": "models/demo", "split": split}, open("/tmp/s27/F_eval240.json", "w"), indent=1)
print({k: split[k] for k in ("overall", "spoken_scene_questions", "speech_commands_no_camera", "transcript_cer", "not_understood")})
PY
 ;;
 c) .venv/bin/python - <<'PY' > ${O}_real355.log 2>&1
import sys, runpy
sys.path.insert(0, "/work/main")
from tristream_ros.training import evaluate
orig = evaluate.build_frontend
evaluate.build_frontend = lambda *a, **k: orig(*a, **{**k, "command_wrappers": True})
sys.argv = ["realrun.py", "models/demo", "/tmp/s23/real355", "/tmp/s27/F_real355.json"]
runpy.run_path("docs/real_speech/experiments/realrun.py", run_name="__main__")
PY
 ;;
esac
echo done $1
