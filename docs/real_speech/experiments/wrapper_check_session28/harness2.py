"""Session 28, second pass: does our CTC vouch for the plain grammar's sentence when the wrapper
decoder hears a wrapper? (A veto: the CTC knows the espeak-like voices it was trained on, where
the wrapper decoder's false wrappers came from, and scores wrapper words badly.)

Items: every utterance of harness.py's records (/tmp/s28/h_all.json) on which the wrapper decoder
heard a wrapper, plus session 27's 18 hand-written natural commands ("robot stop", "please go
back", ...: command_wrappers_session27/wrapped_probe.py) said by the ten Pico / flite / Festival
voices. Each through the front end with the wrappers on (no alignment check) and, for the probe
commands, off; recorded: what it heard, understood, the action (no camera), the alignment check's
inputs and the CTC's grammar match of the plain decoder's sentence on the whole utterance (score
per frame, margin, lead, whether the override rule fires).

    PYTHONPATH=/work/main python harness2.py SHARD/N OUT.json"""
import glob, json, sys, time
from dataclasses import replace
from pathlib import Path
import numpy as np
import torch
from tqdm import tqdm
from tristream_ros.data.dataset import DatasetReader
from tristream_ros.data.tts_engines import engine_synthesize, engine_voices
from tristream_ros.model.speech.ctc_grammar import grammar_overrides
from tristream_ros.signal.audio_file import audio_files, load_audio
from tristream_ros.training.evaluate import build_frontend
from tristream_ros.training.evaluate_domain import _run
from tristream_ros.training.evaluate_tts import _pad
from tristream_ros.training.ship import load_shipped

torch.set_num_threads(1)
M = "models/demo"
(shard, n_shards), out = map(int, sys.argv[1].split("/")), sys.argv[2]
model, speech = load_shipped(M)
off = build_frontend(speech, "hybrid", M, command_wrappers=False)
on = build_frontend(speech, "hybrid", M, command_wrappers=True)
on.wrappers = replace(on.wrappers, min_align_lead=-1e9)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from natural_commands import PROBE  # noqa: E402  (session 27's 18 natural commands)


def audio_in_harness_order():
    r = DatasetReader("/tmp/s23/train", "test")
    for i in range(len(r)):
        s = r[i]
        if s["audio"] is not None:
            yield s["audio"]
    for f in sorted(glob.glob("tristream_ros/data/recordings/spliced/*.wav")):
        yield load_audio(f)
    z = np.load("/tmp/s27/harness_audio.npz")
    for j, k in enumerate(z["kinds"]):
        if k != "spliced":
            yield z[f"a{j}"]
    for f in audio_files(Path("/tmp/s23/real355")):
        yield load_audio(f)


h = json.load(open("/tmp/s28/h_all.json"))
n0 = (len(h) + 1) // 2  # h_all = shard 0's records then shard 1's (every 2nd item each)
order = [2 * i for i in range(n0)] + [2 * i + 1 for i in range(len(h) - n0)]
heard = {order[j]: r for j, r in enumerate(h) if r["check"] is not None}
items = [({**heard[i], "src": "h"}, np.asarray(a, np.float32)) for i, a in enumerate(audio_in_harness_order()) if i in heard]
for eng in ("pico", "flite", "festival"):
    for v in engine_voices(eng):
        for text, action in PROBE:
            items.append(({"kind": "probe-" + eng, "ref": text, "ref_action": action, "voice": v, "src": "probe"},
                          _pad(engine_synthesize(eng, text, v))))
rows = []
for meta, a in tqdm(items[shard::n_shards], desc="h2", mininterval=10):
    r_on = _run(model, on, a)
    row = {**{k: v for k, v in meta.items() if k not in ("on",)},
           "on": {k: r_on[k] for k in ("heard", "understood", "action")},
           "check": on.last_wrapper_check, "wrapper": list(on.last_wrapper), "plain_ctc": None}
    c = on.last_wrapper_check
    lp = on.encoder_frontend.log_probs
    if c is not None and c[2] and lp is not None and lp.shape[0]:
        ranked = on.grammar.top(lp, 2, extra=(c[2],))
        m = on.grammar.match(ranked, c[2])
        t = on.thresholds
        row["plain_ctc"] = {"text": m.text, "score": m.score, "margin": m.margin, "lead": m.lead,
                            "override": bool(grammar_overrides(m.score, m.margin, m.lead, on.last_pocketsphinx_score, t))}
    if meta["src"] == "probe":
        r_off = _run(model, off, a)
        row["off"] = {k: r_off[k] for k in ("heard", "understood", "action")}
    rows.append(row)
json.dump(rows, open(out, "w"), indent=0, default=float)
print(len(rows))
