import sys, json
sys.path.insert(0, '/work/main')
from tristream_ros.data import language
from tristream_ros.training.evaluate_tts import evaluate_tts
mode, room = sys.argv[1], sys.argv[2] == "room"
if mode == "before":  # the grammar without the short forms (session 20's)
    orig = language.all_queries
    language.all_queries = lambda phrasing=None: orig(phrasing) if phrasing else sorted(set(orig("train")) | set(orig("heldout")))
out = {}
for eng in ("flite", "festival"):
    r = evaluate_tts('/work/main/models/demo', eng, query_set="short", room=room, keep_predictions=True,
                     espeak_reference=(eng == "flite"))
    out[eng] = r
    print(mode, eng, "room" if room else "clean", json.dumps(r["overall"]), json.dumps(r.get("espeak_reference", {})), flush=True)
json.dump(out, open(f'/tmp/s21/short_{mode}_{sys.argv[2]}.json', 'w'), indent=1)
