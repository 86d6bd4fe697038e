"""Session 34: each audio file (or a dataset split's spoken samples) through the default front end
with the speech-length check OFF, recording what it needs (speech seconds, phones of the sentence
heard with its wrapper words), so the check can be replayed offline at any setting (replay.py).

    run.py folder MODEL FOLDER OUT.json          every audio file of FOLDER (no camera)
    run.py split MODEL DATA OUT.json             the test split's spoken samples (no camera)
"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[4]))
from tristream_ros.training.evaluate import build_frontend
from tristream_ros.training.ship import load_shipped
from tristream_ros.training.evaluate_domain import _run
from tristream_ros.signal.audio_file import audio_files, load_audio

kind, M, src, out = sys.argv[1:5]
model, speech = load_shipped(M)
tok = build_frontend(speech, "hybrid", M)
tok.speech_s_per_phone = None  # recorded, never applied: replay.py applies it
checks = []  # every utterance's (speech s, phones) in order: transcribe() answers with the first
_check = tok._check_speech
def _record(spoken):
    _check(spoken)
    checks.append(tok.last_speech_check)
tok._check_speech = _record
if kind == "folder":
    items = [(f.name, None, lambda f=f: load_audio(f)) for f in audio_files(src)]
else:
    from tristream_ros.data.dataset import DatasetReader
    r = DatasetReader(src, "test")
    items = [(r.rows[i]["id"], r.rows[i]["query"], lambda i=i: r[i]["audio"]) for i in range(len(r))]
rows, t0 = [], time.time()
for name, truth, get in items:
    a = get()
    if a is None:
        continue
    checks.clear()
    res = _run(model, tok, a)
    res.update(file=name, truth=truth, dur=len(a) / 16000, speech_check=checks[0] if checks else None,
               utterances=len(checks),
               wrapper=list(tok.last_wrapper), ps=tok.last_pocketsphinx_text)
    rows.append(res)
tok.close()
json.dump(rows, open(out, "w"), indent=0, default=str)
print(len(rows), f"{time.time() - t0:.0f}s")
