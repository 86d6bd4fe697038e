"""Session 28: the alignment check on the wrapper decoder's text (CommandWrappers.min_align_lead).

Every utterance goes through the shipped hybrid front end twice: wrappers off (the default) and
wrappers on with the check passing everything (session 27's front end), recording what each
heard, whether it understood, the model's action (no camera), and the pocketsphinx alignments
of the wrapper decoder's text and the plain decoder's. A check at lead L gives the "on" result
when (aligned wrapped - aligned plain) >= L and the "off" result otherwise (the front end is
then the plain one), so summarise.py sweeps L from these records.

Sets: A = the test split's spoken queries (/tmp/s23/train) + the 100 spliced real-voice commands;
B = 200 val utterances + 80 wrapped Pico / flite / Festival commands (session 27's
harness_audio.npz) + the 355 real out-of-domain recordings (/tmp/s23/real355).

    PYTHONPATH=/work/main python harness.py A|B|AB SHARD/N OUT.json   (every N-th item from SHARD)"""
import glob, json, sys, time
from dataclasses import replace
from pathlib import Path
import numpy as np
import torch
from tqdm import tqdm
from tristream_ros.training.evaluate import build_frontend
from tristream_ros.training.evaluate_domain import _run
from tristream_ros.training.ship import load_shipped
from tristream_ros.data.dataset import DatasetReader
from tristream_ros.signal.audio_file import audio_files, load_audio
from tristream_ros.model.text_tokenizer import normalize

torch.set_num_threads(1)
M = "models/demo"
which, (shard, n_shards), out = sys.argv[1], map(int, sys.argv[2].split("/")), sys.argv[3]
model, speech = load_shipped(M)
off = build_frontend(speech, "hybrid", M)
on = build_frontend(speech, "hybrid", M, command_wrappers=True)
on.wrappers = replace(on.wrappers, min_align_lead=-1e9)  # checked, never refused: the ungated front end


def items():
    if "A" in which:
        r = DatasetReader("/tmp/s23/train", "test")
        for i in range(len(r)):
            s = r[i]
            if s["audio"] is not None:
                yield "test", s["query"], s["audio"]
        for f in sorted(glob.glob("tristream_ros/data/recordings/spliced/*.wav")):
            yield "spliced", open(f[:-4] + ".txt").read().strip(), load_audio(f)
    if "B" in which:
        z = np.load("/tmp/s27/harness_audio.npz")
        for j, (k, ref) in enumerate(zip(z["kinds"], z["refs"])):
            if k != "spliced":
                yield str(k), str(ref), z[f"a{j}"]
        for f in audio_files(Path("/tmp/s23/real355")):
            yield "real355", "", load_audio(f)


rows, t0 = [], time.time()
for kind, ref, a in tqdm(list(items())[shard::n_shards], desc=which, mininterval=10):
    a = np.asarray(a, dtype=np.float32)
    r_off = _run(model, off, a)
    r_on = _run(model, on, a)
    rows.append({"kind": kind, "ref": normalize(ref) if ref else "",
                 "off": {k: r_off[k] for k in ("heard", "understood", "action")},
                 "on": {k: r_on[k] for k in ("heard", "understood", "action")},
                 "wrapper": list(on.last_wrapper), "check": on.last_wrapper_check})
json.dump(rows, open(out, "w"), indent=0)
print(which, len(rows), f"{time.time() - t0:.0f}s")
