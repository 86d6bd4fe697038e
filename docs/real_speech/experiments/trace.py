import json, sys
sys.path.insert(0, '/work/main')
from tristream_ros.training.evaluate import load_checkpoint, load_speech_model, build_frontend
from tristream_ros.data.dataset import DatasetReader
M = '/work/main/models/demo'
ev = json.load(open(sys.argv[1]))['split']['predictions']
data = sys.argv[2]
reader = DatasetReader(data, 'test')
idx = {reader[i]['id'] if False else None: i for i in []}
man = [json.loads(l) for l in open(f'{data}/test/manifest.jsonl')]
pos = {m['id']: i for i, m in enumerate(man)}
model = load_checkpoint(M); speech = load_speech_model(M, model.config)
tok = build_frontend(speech, 'hybrid', M)
print(tok.thresholds)
out = []
for p in ev:
    m = man[pos[p['id']]]
    if not m.get('spoken') or p['route'] not in ('speech_vision','trimodal') or p['heard'] == p['query']: continue
    s = reader[pos[p['id']]]
    utt = tok.transcribe(s['audio'])
    lm = tok.last_match
    r = dict(id=p['id'], query=p['query'], heard=utt.text if utt else None, ps=tok.last_pocketsphinx_text,
             ctc=utt.ctc_text if utt else None, voice=m['voice'], aug=m['augment'],
             match=(lm.text, round(lm.score,3), round(lm.margin,3), round(lm.lead,3)) if lm else None,
             ps_score=tok.last_pocketsphinx_score,
             rescored=[(t, round(c,3), round(a,5)) for t,c,a in (tok.last_rescored or [])],
             rej=tok.last_rejection)
    out.append(r)
    print(json.dumps(r))
json.dump(out, open(sys.argv[3], 'w'), indent=1)
