"""records (calibrate_grammar._record, pocketsphinx-only 'heard') of the spliced real voice for a model folder"""
import json, sys
sys.path.insert(0, "/work/main")
import torch; torch.set_num_threads(1)
from tristream_ros.model.checkpoint import load_config
from tristream_ros.model.speech.ctc_grammar import NEVER_OVERRIDE
from tristream_ros.training.calibrate_grammar import _record
from tristream_ros.training.evaluate import build_frontend, load_speech_model
from tristream_ros.signal.audio_file import load_audio, audio_files
M, out = sys.argv[1], sys.argv[2]
speech = load_speech_model(M, load_config(M))
tok = build_frontend(speech, "hybrid", recognizer_dir=M)
tok.thresholds = NEVER_OVERRIDE
recs = [_record(tok, load_audio(f), f.with_suffix(".txt").read_text().strip(), "spliced:" + f.stem)
        for f in audio_files("/work/main/tristream_ros/data/recordings/spliced")]
json.dump(recs, open(out, "w"))
print(len(recs), sum(r["heard"] == r["query"] for r in recs), sum(r["ctc_best"] == r["query"] for r in recs))
