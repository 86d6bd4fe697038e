"""Session 32: per wav file of the given folders, the default front end's decision details
(pocketsphinx's sentence, the CTC grammar's best with score/margin/lead, the gate's p, the chosen text)."""
import json, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from tristream_ros.signal.audio_file import load_audio
from tristream_ros.training.evaluate import build_frontend
from tristream_ros.training.ship import load_shipped
model, speech = load_shipped("models/demo")
tok = build_frontend(speech, "hybrid", "models/demo", "respoken")
rows = []
for folder in sys.argv[2:]:
    for f in sorted(Path(folder).glob("*.wav")):
        utt = tok.transcribe(load_audio(f))
        m = tok.last_match
        rows.append(dict(file=str(f), heard=None if utt is None else utt.text, understood=None if utt is None else utt.understood,
                         ps=tok.last_pocketsphinx_text, m=None if m is None else dict(text=m.text, score=m.score, margin=m.margin, lead=m.lead),
                         gate=tok.last_voice_familiarity, wrapper=list(tok.last_wrapper)))
        print(len(rows), flush=True)
tok.close()
json.dump(rows, open(sys.argv[1], "w"), indent=0, default=str)
