"""Front end transcripts on the spoken samples of a split: sequential (CMN carried over, as eval) vs CMN reset per utterance."""
import json, sys, time
sys.path.insert(0, '/work/main')
from tristream_ros.training.evaluate import load_checkpoint, load_speech_model, build_frontend
from tristream_ros.data.dataset import DatasetReader
M, data, mode, limit = '/work/main/models/demo', sys.argv[1], sys.argv[2], int(sys.argv[3])
reader = DatasetReader(data, 'test')
model = load_checkpoint(M); speech = load_speech_model(M, model.config)
tok = build_frontend(speech, 'hybrid', M)
ps = tok.recognizer
init = {}
def decs():
    return [d for d in (ps.decoder, ps._aligner, ps._phone_loop) if d is not None]
ok = n = 0; t0 = time.time(); rows = []
for i in range(min(limit, len(reader))):
    s = reader[i]
    if s['audio'] is None: continue
    if mode == 'reset':
        ps.align_scores(['stop']) if ps._aligner is None else None
        for d in decs():
            init.setdefault(id(d), d.get_cmn())
            d.set_cmn(init[id(d)])
    utt = tok.transcribe(s['audio'])
    heard = utt.text if (utt and utt.understood) else ''
    n += 1; ok += heard == s['query']
    rows.append((s['id'], s['query'], heard))
print(mode, f'{ok}/{n} = {ok/n:.3f}', f'{time.time()-t0:.0f}s')
json.dump(rows, open(f'/tmp/s20/cmn_{mode}.json', 'w'))
