"""Keyword-spotting check of the chosen sentence: pocketsphinx's kws search (the phrase against
its own phone-loop garbage model, one search) at a grid of thresholds; per utterance the largest
threshold exponent at which the chosen sentence is still spotted.

    kwsrun.py val N OUT | kwsrun.py FOLDER N OUT   (a folder's TXT beside a file is its `ref`;
    the session-20 run over the real folder predates that and recorded ref null; it changes
    nothing else)"""
import json, sys, os, time, tempfile; sys.path.insert(0,'/work/main')
import numpy as np
from pocketsphinx import Decoder
from tristream_ros.data.language import all_queries
from tristream_ros.model.speech.pocketsphinx_frontend import dictionary_entries, sentence_words
from tristream_ros.signal.audio_file import audio_files, load_audio
from tristream_ros.training.evaluate import build_frontend
from tristream_ros.training.ship import load_shipped
GRID = (-80, -60, -40, -30, -20, -10, 0, 10, 20, 40)
words = sorted({w for q in all_queries() for w in sentence_words(q)})
entries, _ = dictionary_entries(words)
tmp = tempfile.mkdtemp(); d = os.path.join(tmp, 'd.dict'); open(d,'w').write(''.join(l+'\n' for l in entries))
dec = Decoder(samprate=16000, loglevel='FATAL', dict=d, keyphrase='stop', kws_threshold=1e-20)
def spotted(sent, pcm, e):
    kf = os.path.join(tmp, 'k.kws'); open(kf,'w').write(f"{' '.join(sentence_words(sent))} /1e{e}/\n")
    dec.add_kws('k', kf); dec.activate_search('k')
    dec.start_utt(); dec.process_raw(pcm, False, True); dec.end_utt()
    h = dec.hyp(); return bool(h and h.hypstr)
def max_exp(sent, pcm):
    best = None
    for e in GRID:  # spotted is monotone in the threshold: stop at the first miss
        if spotted(sent, pcm, e): best = e
        else: break
    return best
M = '/work/main/models/demo'
model, speech = load_shipped(M)
tok = build_frontend(speech, 'hybrid', M)
which, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
items = []
if which == 'val':
    from tristream_ros.data.dataset import DatasetReader
    r = DatasetReader('/tmp/s12/val800', 'val')
    for i in range(len(r)):
        s = r[i]
        if s['audio'] is not None: items.append((s['id'], s['query'], s['audio']))
        if len(items) >= n: break
else:
    for f in audio_files(which)[:n]: items.append((f.name, f.with_suffix(".txt").read_text().strip() if f.with_suffix(".txt").is_file() else None, load_audio(f)))
rows = []; t0 = time.time()
for name, ref, audio in items:
    utt = tok.transcribe(audio)
    if utt is None: rows.append(dict(id=name, none=True)); continue
    pcm = b''.join(tok.recognizer._pcm)
    rows.append(dict(id=name, ref=ref, text=utt.text, understood=utt.understood, rej=tok.last_rejection,
                     kws=max_exp(utt.text, pcm) if utt.text else None))
json.dump(rows, open(out, 'w'), default=str)
print(which, len(rows), f'{time.time()-t0:.0f}s')
