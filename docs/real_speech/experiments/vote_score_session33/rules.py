"""Offline: per-utterance records (gatehook) -> outcomes under candidate rejection rules for gated utterances."""
import json, sys
from collections import Counter
sys.path.insert(0, '/work/main')
import torch; torch.set_num_threads(2)
from tristream_ros.training.evaluate import build_frontend, run_query, MOVING_ACTIONS
from tristream_ros.training.ship import load_shipped
M = '/work/main/models/demo'
model, speech = load_shipped(M)
tok = build_frontend(speech, "hybrid", M)
_cache = {}
def action(text):
    if text not in _cache:
        tokens = tok._tokens_for(text, torch.zeros(0, tok._token_dim)) if text else None
        tokens = tokens if tokens is not None and tokens.numel() else None
        _cache[text] = run_query(model, text, tokens, None, None, dense=False, camera=False)["action"]
    return _cache[text]

def align(files, recs):
    out, j = [], 0
    for f in files:
        if f.get('no_utterance'):
            out.append(None); continue
        first, k = recs[j], j
        while not (recs[k]['on_rej'] == f['rejection'] and recs[k]['ps'] == f['ps']):
            k += 1
        if first['on'] != f['heard']: print('heard differs', first['on'], '|', f['heard'])
        out.append(first); j = k + 1
    assert j == len(recs)
    return out

real = json.load(open('/tmp/s33/real355.json')); rr = json.load(open('/tmp/s33/rec_real355.json'))
real_rec = align(real, rr)
sp = json.load(open('/tmp/s33/spliced.json'))['per_file']; sr = json.load(open('/tmp/s33/rec_spliced.json'))
assert len(sp) == len(sr)
eng = json.load(open('/tmp/s33/engines.json'))['voices']; er = json.load(open('/tmp/s33/rec_engines.json'))
erows = [r for v in eng.values() for r in v]
assert len(erows) == len(er)
json.dump(dict(real=real_rec), open('/tmp/s34/aligned.json', 'w'))

from tristream_ros.model.speech.ctc_grammar import not_understood
TH = tok.thresholds
def base_nu(rej):
    if rej is None or rej.get('gap') is None: return False
    return not_understood(rej['ctc_score'], rej['gap'], TH) or bool(rej.get('wrapped_below_min_gap'))
def nu(rej): return bool(rej and rej.get('not_understood'))

def outcome(r, rule):
    if r is None: return ('', False)
    if rule == 'current' or not r['gated']: return (r['on'], not nu(r['on_rej']))
    if rule == 'nogate': return (r['off'], not nu(r['off_rej']))
    if rule == 'R1': return (r['on'], not nu(r['on_rej']) and not base_nu(r['off_rej']))
    if rule.startswith('R2'):
        T = float(rule[3:]); m = r['m']; s = m['score'] - m['lead']
        return (r['on'], not nu(r['on_rej']) and s >= T)
    if rule.startswith('R3'):  # the rejection rule applied with the ps sentence's own CTC score and the CTC choice's gap
        m = r['m']; s = m['score'] - m['lead']; rej = r['off_rej']
        bad = rej is not None and rej.get('gap') is not None and not_understood(s, rej['gap'], TH)
        return (r['on'], not nu(r['on_rej']) and not bad and not base_nu(r['off_rej']))
    if rule == 'R4':  # the rejection with the CTC's score of the sentence chosen (pocketsphinx's)
        m = r['m']; s = m['score'] - m['lead']; rej = r['on_rej'] or {}
        g = rej.get('gap'); g = 0.0 if g is None else g
        bad = not_understood(s, g, TH) or bool(rej.get('wrapped_below_min_gap'))
        return (r['on'], not nu(r['on_rej']) and not bad)
    raise ValueError(rule)

# sanity: current actions reproduce the runs
bad = 0
for f, r in zip(real, real_rec):
    t, u = outcome(r, 'current')
    a = action(t) if u else None
    if r is not None and (u != f['understood'] or a != f['action']): bad += 1
print('real355 mismatches vs run', bad)
for s, r in zip(sp, sr):
    t, u = outcome(r, 'current'); a = action(t) if u else None
    if t != s['heard'] or u != s['understood'] or (a or 'none') != (s['action'] or 'none'): print('spliced mismatch', s, t, u, a)

INDOM = {'alias', 'probe', 'new29'}
def summary(rule):
    mv = nu_ = 0; changed = []
    for f, r in zip(real, real_rec):
        t, u = outcome(r, rule); a = action(t) if u else None
        mv += a in MOVING_ACTIONS; nu_ += (not u)
    sp_ex = sp_act = sp_wrong = sp_nu = 0
    for s, r in zip(sp, sr):
        t, u = outcome(r, rule); a = (action(t) if u else None) or 'none'
        ref = s['reference_action'] or 'none'
        sp_nu += not u; sp_ex += (t == s['reference'] and u); sp_act += a == ref; sp_wrong += (a != ref and a in MOVING_ACTIONS)
    e = {'in': [0, 0, 0, 0], 'oog': [0, 0, 0, 0]}
    for row, r in zip(erows, er):
        t, u = outcome(r, rule); a = (action(t) if u else None) or 'none'
        k = 'in' if row['set'] in INDOM else 'oog'
        e[k][0] += 1; e[k][1] += a == row['action']; e[k][2] += (a != row['action'] and a in MOVING_ACTIONS); e[k][3] += not u
    return dict(rule=rule, real_moved=mv, real_nu=nu_, sp_nu=sp_nu, sp_exact=sp_ex, sp_act=sp_act, sp_wrong=sp_wrong,
                eng_in=e['in'], eng_oog=e['oog'])
for rule in sys.argv[1:] or ['current', 'nogate', 'R1', 'R2:-0.6', 'R2:-0.7', 'R2:-0.8', 'R2:-0.9', 'R2:-1.0', 'R3']:
    print(summary(rule))
print('gated counts: real', sum(bool(r and r['gated']) for r in real_rec), 'spliced', sum(r['gated'] for r in sr), 'engines', sum(r['gated'] for r in er))
print('--- spliced changes R4')
for s, r in zip(sp, sr):
    a, b = outcome(r, 'current'), outcome(r, 'R4')
    if a != b: print(s['file'], s['reference'], a, b, r['m'])
print('--- engines changes R4')
for row, r in zip(erows, er):
    a, b = outcome(r, 'current'), outcome(r, 'R4')
    if a != b: print(row['set'], row['query'], row['action'], a, action(a[0]) if a[1] else None, b, round(r['m']['score']-r['m']['lead'],3))
print('--- real355 changes R4')
for f, r in zip(real, real_rec):
    a, b = outcome(r, 'current'), outcome(r, 'R4')
    if a != b: print(f['file'], round(f['dur'],2), a, action(a[0]) if a[1] else None, b, round(r['m']['score']-r['m']['lead'],3), r['m']['text'], r['off'])
