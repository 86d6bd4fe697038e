"""Session 34: seconds of speech (silero windows >= threshold, whole file) per cmudict phone of the
true sentence (and of the sentence heard, from `tristream eval --predictions`), per set -> /tmp/s34/dur.json.
tokenizer.SPEECH_S_PER_PHONE / SPEECH_ALLOWANCE_S were set at ~1.5x the slowest true rates (this run also
printed the 800-set's mishearings above the 99th percentile; the real recordings were run after).

    truth_rates.py eval=DATA:EVAL.json ... manifest=FOLDER ...
"""
import sys, json, re, collections
import numpy as np
sys.path.insert(0, '/work/main')
from tristream_ros.model.speech.vad import StreamingVad, WINDOW_SAMPLES
from tristream_ros.model.speech.pocketsphinx_frontend import dictionary_entries, sentence_words
from tristream_ros.data.dataset import DatasetReader
from tristream_ros.data.language import all_queries
from tristream_ros.signal.audio_file import load_audio
words = set()
for q in all_queries(None): words.update(sentence_words(q))
lines, _ = dictionary_entries(sorted(words) + ['robot', 'please', 'now', 'okay', 'hey', 'can', 'you', 'thanks', 'thank'])
PH = {}
for l in lines:
    h, *p = l.split()
    if '(' not in h: PH[h] = len(p)
def phones(s):
    ws = sentence_words(s or '')
    return sum(PH.get(w, 4) for w in ws)
vad = StreamingVad()
def speech_s(a):
    vad.reset(); vad.accept(a); vad.flush()
    p = np.array(vad.probabilities)
    return float((p >= vad.config.threshold).sum() * WINDOW_SAMPLES / 16000)
out = []
for name in sys.argv[1:]:
    kind, path = name.split('=', 1)
    if kind == 'eval':  # eval=DATA:EVALJSON
        data, evj = path.split(':')
        preds = json.load(open(evj))['split']['predictions']
        r = DatasetReader(data, 'test')
        for i, x in enumerate(preds):
            s = r[i]
            if s['audio'] is None: continue
            sp = speech_s(s['audio'])
            out.append(dict(set=data.split('/')[-1], id=x['id'], speech_s=sp, query=x['query'], heard=x['heard'],
                            q_ph=phones(x['query']), h_ph=phones(x['heard']), bad=x['pred_action'] != x['action']))
    elif kind == 'manifest':  # folder with manifest.json of files + transcripts
        import pathlib
        folder = pathlib.Path(path)
        man = json.load(open(folder / 'manifest.json'))
        recs = man.get('recordings') or man.get('files') if isinstance(man, dict) else man
        for e in recs:
            t = e.get('transcript') or e.get('text')
            if e.get('in_domain') is False: continue
            if not t: continue
            a = load_audio(folder / e['file'])
            out.append(dict(set=folder.name, id=e['file'], speech_s=speech_s(a), query=t, heard=None, q_ph=phones(t), h_ph=0, bad=False))
json.dump(out, open('/tmp/s34/dur.json', 'w'))
