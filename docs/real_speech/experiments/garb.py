"""Garbage-loop test: one pocketsphinx JSGF search holding the chosen sentence and a free loop of
single-phone words, so both paths share the per-frame normalisation. For each garbage weight,
does the loop win? Features per utterance -> JSON."""
import json, sys, os, time, tempfile
sys.path.insert(0, '/work/main')
import numpy as np
from pocketsphinx import Decoder, get_model_path
from tristream_ros.model.speech.pocketsphinx_frontend import dictionary_entries, sentence_words
PHONES = "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
WEIGHTS = [1e-12, 1e-9, 1e-6, 1e-4, 1e-2, 1.0, 1e2]

class Garbage:
    def __init__(self, words, lw=1.0):
        entries, missing = dictionary_entries(words)
        tmp = tempfile.mkdtemp()
        d = os.path.join(tmp, 'g.dict')
        with open(d, 'w') as fh:
            fh.write(''.join(l + '\n' for l in entries))
            fh.write(''.join(f'ph_{p.lower()} {p}\n' for p in PHONES))
        g = os.path.join(tmp, 'g.gram')
        open(g, 'w').write('#JSGF V1.0;\ngrammar g;\npublic <u> = stop;\n')
        self.dec = Decoder(samprate=16000, loglevel='FATAL', dict=d, jsgf=g, lw=lw, wip=1.0, beam=1e-30, pbeam=1e-30, wbeam=1e-20, maxhmmpf=3000)
    def loop_wins(self, sentence, pcm, w):
        body = ' '.join(sentence_words(sentence))
        ph = ' | '.join(f'ph_{p.lower()}' for p in PHONES)
        js = f'#JSGF V1.0;\ngrammar g;\npublic <u> = /1/ ( {body} ) | /{w:g}/ <g>;\n<g> = ( {ph} )+;\n'
        self.dec.set_jsgf_string('g%d' % id(js), js) if False else None
        self.dec.add_jsgf_string('cur', js); self.dec.activate_search('cur')
        self.dec.start_utt(); self.dec.process_raw(pcm, False, True); self.dec.end_utt()
        h = self.dec.hyp()
        s = h.hypstr if h else ''
        return s.startswith('ph_') or s == '', s

if __name__ == '__main__':
    from tristream_ros.training.evaluate import build_frontend
    from tristream_ros.training.ship import load_shipped
    from tristream_ros.data.language import all_queries
    from tristream_ros.data.dataset import DatasetReader
    from tristream_ros.signal.audio_file import audio_files, load_audio
    M = '/work/main/models/demo'
    model, speech = load_shipped(M)
    tok = build_frontend(speech, 'hybrid', M)
    words = sorted({w for q in all_queries() for w in sentence_words(q)})
    G = {lw: Garbage(words, lw) for lw in (1.0, 3.0)}
    which, n = sys.argv[1], int(sys.argv[2])
    items = []
    if which == 'val':
        r = DatasetReader('/tmp/s12/val800', 'val')
        for i in range(len(r)):
            s = r[i]
            if s['audio'] is not None: items.append((s['id'], s['query'], s['audio']))
            if len(items) >= n: break
    else:
        for f in audio_files(which)[:n]:
            items.append((f.name, None, load_audio(f)))
    rows = []; t0 = time.time()
    for name, ref, audio in items:
        utt = tok.transcribe(audio)
        if utt is None: rows.append(dict(id=name, none=True)); continue
        pcm = b''.join(tok.recognizer._pcm)
        row = dict(id=name, ref=ref, text=utt.text, understood=utt.understood, rej=tok.last_rejection)
        for lw, g in G.items():
            row[f'lw{lw}'] = [g.loop_wins(utt.text, pcm, w)[0] for w in WEIGHTS]
        rows.append(row)
    json.dump(rows, open(sys.argv[3], 'w'), default=str)
    print(which, len(rows), f'{time.time()-t0:.0f}s')
    for lw in G:
        arr = np.array([r[f'lw{lw}'] for r in rows if f'lw{lw}' in r])
        print('lw', lw, 'loop wins per weight', dict(zip(WEIGHTS, arr.mean(0).round(3))))
