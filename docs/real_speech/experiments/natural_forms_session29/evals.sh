# Session 29: the grammar with session 29's direction forms (data/language.SHORT_FORMS) on the sets
# the grammar can cost: the 355 real out-of-domain recordings, the test split, the spliced real voice.
cd /work/main; export PYTHONPATH=/work/main
M=models/demo; O=/tmp/s29/F
.venv/bin/python docs/real_speech/experiments/realrun.py $M /tmp/s23/real355 ${O}_real355.json > ${O}_real355.log 2>&1
.venv/bin/tristream eval --model $M --data /tmp/s23/train --no-domain --real none --predictions --json --out ${O}_eval240.json > ${O}_eval240.log 2>&1
.venv/bin/python - <<'PY' > ${O}_spliced_dom.log 2>&1
import json
import torch; torch.set_num_threads(1)
from tristream_ros.training.evaluate_domain import evaluate_real_folder
r = evaluate_real_folder("models/demo", "/work/main/tristream_ros/data/recordings/spliced")
mv = {"forward", "backward", "turn_left", "turn_right", "navigate_to", "look_at"}
r["wrong_motions"] = len([p for p in r["per_file"] if p["action"] != p["reference_action"] and p["action"] in mv])
json.dump(r, open("/tmp/s29/F_spliced_dom.json", "w"), indent=1)
print({k: r[k] for k in ("n", "not_understood", "moved_the_robot", "heard_exact", "action_as_reference", "wrong_motions")})
PY
echo done
