"""Session 27: harness.py's plain and one-grammar-with-wrappers runs combined as two decoders (the
wrapper grammar's text only when it heard a wrapper around a sentence).

    python dual.py W   (reads /tmp/s27/harness_plain.json and harness_W.json)"""
import json, sys
sys.path.insert(0, '/work/main')
from tristream_ros.model.speech.command_wrappers import CommandWrappers
from tristream_ros.data.language import sentences_for
from tristream_ros.model.speech.pocketsphinx_frontend import sentence_words
core = frozenset(" ".join(sentence_words(x)) for x in sentences_for("queries"))
w = CommandWrappers()
a = json.load(open('harness_plain.json')); b = json.load(open(f'harness_{sys.argv[1]}.json'))
res = {}; flips = []
for x, y in zip(a, b):
    parts = w.split(y[2], core)
    use = parts[1] if parts and (parts[0] or parts[2]) else x[2]
    ok = use == x[1]
    res.setdefault(x[0], []).append(ok)
    if ok != x[3]: flips.append((x[0], x[1], x[2], y[2], ok))
print(sys.argv[1], {k: f"{sum(v)}/{len(v)}" for k, v in res.items()})
for f in flips:
    if not f[0].startswith('wrapped'): print('  ', f)
