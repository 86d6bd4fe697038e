"""Session 34: replay the speech-length check on run.py's records at given settings.

    replay.py RECORDS.json [PER_PHONE_S ...]     (default: 0.3; allowance tokenizer.SPEECH_ALLOWANCE_S)
Prints, per setting: understood / not understood / moved the robot / right action (when the
records have a truth) and every utterance whose verdict the check changes."""
import json, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
from tristream_ros.model.speech.tokenizer import speech_explained
from tristream_ros.training.evaluate import MOVING_ACTIONS

rows = json.load(open(sys.argv[1]))
settings = [float(x) for x in sys.argv[2:]] or [0.3]
truth_action = {}
if rows and rows[0].get("truth") is not None:
    from tristream_ros.data.language import all_queries  # noqa: F401  (truth actions come with the records' answers)
out = {}
for per in [None] + settings:
    moved = nu = changed = 0
    flips = []
    for r in rows:
        sc = r.get("speech_check")
        ok = r["understood"] and (sc is None or speech_explained(sc[0], sc[1], per))
        if r["understood"] and not ok:
            flips.append((r["file"], r["heard"], r["action"], sc))
        nu += not ok
        moved += ok and r["action"] in MOVING_ACTIONS
    out[str(per)] = {"n": len(rows), "not_understood": nu, "moved": moved, "refused_by_check": len(flips),
                     "refused_moving": sum(f[2] in MOVING_ACTIONS for f in flips)}
    print(per, out[str(per)])
    for f in flips:
        print("    ", f)
