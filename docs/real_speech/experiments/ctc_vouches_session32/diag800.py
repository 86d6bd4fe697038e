"""Session 32: per spoken scene utterance of the 800-sample set, what pocketsphinx heard, what the CTC
grammar ranked, and what the front end chose."""
import json, sys, time
import torch
torch.set_num_threads(1)
from tristream_ros.data.dataset import DatasetReader
from tristream_ros.training.evaluate import build_frontend
from tristream_ros.training.ship import load_shipped
from tristream_ros.model.speech.ctc_grammar import normalize
model, speech = load_shipped("models/demo")
tok = build_frontend(speech, "hybrid", "models/demo", "respoken")
reader = DatasetReader(sys.argv[1], "test")
rows = []
t0 = time.time()
for i in range(len(reader)):
    s = reader[i]
    if s["audio"] is None:
        continue
    utt = tok.transcribe(s["audio"])
    m = tok.last_match
    rows.append(dict(id=s["id"], route=s["route"], intent=s.get("intent"), query=s["query"],
                     heard=None if utt is None else normalize(utt.text), understood=None if utt is None else utt.understood,
                     ps=tok.last_pocketsphinx_text, ps_score=tok.last_pocketsphinx_score,
                     m=None if m is None else dict(text=m.text, score=m.score, margin=m.margin, lead=m.lead),
                     rescored=tok.last_rescored, gate=tok.last_voice_familiarity, wrapper=list(tok.last_wrapper),
                     voice=s.get("voice")))
    if len(rows) % 50 == 0:
        print(len(rows), round(time.time() - t0), flush=True)
tok.close()
json.dump(rows, open(sys.argv[2], "w"), indent=0, default=str)
