"""Session 27: pocketsphinx alone, plain grammar vs one grammar with the command wrappers at JSGF
weight W (argument: plain | W), or "final": the front end's two decoders (the plain grammar's
text unless the wrapper decoder, short forms bare only, weight WRAPPER_WEIGHT, hears a wrapper).
Exact (the sentence inside) on the 100 spliced real-voice commands, the first 200 spoken val
utterances (/tmp/s12/val800) and 80 wrapped held-out commands of ten Pico / flite / Festival
voices (evaluate_tts.wrapped_queries(tts_queries(8, 5), 5)) -> /tmp/s27/harness_ARG.json.
Written for session 27's runs (first with "now" among the prefixes and the short forms
wrappable: the weight sweep; "final" with the shipped lists). dual.py W combines plain and W
the way the two decoders do.

    python harness.py plain|1.0|1e-30|final"""
import json, sys, os, math, glob, numpy as np
sys.path.insert(0, '/work/main')
from tristream_ros.signal.audio_file import load_audio
from tristream_ros.data.tts_engines import engine_synthesize, engine_voices
from tristream_ros.training.evaluate_tts import _pad, tts_queries, wrapped_queries
from tristream_ros.model.speech.pocketsphinx_frontend import PocketsphinxRecognizer, PocketsphinxConfig, DomainVocabulary, DOMAIN_BEAM, sentence_words
from tristream_ros.model.speech.command_wrappers import CommandWrappers
from tristream_ros.data.language import sentences_for
from tristream_ros.model.text_tokenizer import normalize
S = sentences_for("queries"); core = frozenset(" ".join(sentence_words(x)) for x in S)
# the audio of every item, made once (the wrapped commands drawn from the lists at that time);
# SUFFIX=_final: a second cache drawn from the shipped lists (harness_plain_final / harness_final)
TAG = os.environ.get("SUFFIX", "")
cache = f'/tmp/s27/harness_audio{TAG}.npz'
if not os.path.exists(cache):
    items = []
    D = "tristream_ros/data/recordings/spliced/"
    for f in sorted(glob.glob(D + "*.wav")):
        items.append(("spliced", open(f[:-4] + ".txt").read().strip(), load_audio(f)))
    man = [json.loads(l) for l in open('/tmp/s12/val800/val/manifest.jsonl')]
    for m in [m for m in man if m['spoken']][:200]:
        items.append(("val", m['query'], load_audio('/tmp/s12/val800/val/' + m['audio_file'])))
    qs = wrapped_queries(tts_queries(8, 5), 5)
    for eng in ("pico", "flite", "festival"):
        for v in engine_voices(eng):
            for q in qs:
                items.append(("wrapped-" + eng, q['query'], _pad(engine_synthesize(eng, q['spoken'], v))))
    np.savez(cache, kinds=[i[0] for i in items], refs=[i[1] for i in items], **{f"a{j}": i[2] for j, i in enumerate(items)})
z = np.load(cache)
items = [(k, r, z[f"a{j}"]) for j, (k, r) in enumerate(zip(z['kinds'], z['refs']))]
variant = sys.argv[1]
if variant == "final":
    from dataclasses import replace
    from tristream_ros.model.speech.command_wrappers import WRAPPER_WEIGHT
    from tristream_ros.data.language import all_queries
    wr = CommandWrappers(bare_only=frozenset(all_queries("short")))
    plain = PocketsphinxRecognizer(PocketsphinxConfig(DomainVocabulary(S, "grammar"), beam=DOMAIN_BEAM))
    wdec = PocketsphinxRecognizer(PocketsphinxConfig(DomainVocabulary(tuple(wr.wrappable(S)), "grammar", wr), beam=DOMAIN_BEAM))
    res, out = {}, []
    for k, ref, a in items:
        plain.start(); wdec.start()
        for i in range(0, len(a), 1600):
            plain.feed(a[i:i+1600].astype(np.float32)); wdec.feed(a[i:i+1600].astype(np.float32))
        hp, hw = " ".join(sentence_words(plain.end())), " ".join(sentence_words(wdec.end()))
        parts = wr.split(hw, core)
        h = parts[1] if parts and (parts[0] or parts[2]) else hp
        ok = h == normalize(ref)
        res.setdefault(k, []).append(ok)
        out.append((k, ref, hw if parts and (parts[0] or parts[2]) else hp, ok))
    print(variant, {k: f"{sum(v)}/{len(v)}" for k, v in res.items()}, flush=True)
    json.dump(out, open(f'/tmp/s27/harness_{variant}{TAG if variant == "plain" else ""}.json', 'w'), indent=0)
    sys.exit(0)
W = None if variant == "plain" else float(variant)
if W is not None and W != 1.0:
    orig = DomainVocabulary.jsgf
    DomainVocabulary.jsgf = lambda self: orig(self).replace("[ <prefix> ]", f"( /1/ <NULL> | /{W}/ <prefix> )").replace("[ <suffix> ]", f"( /1/ <NULL> | /{W}/ <suffix> )")
wr = CommandWrappers()
rec = PocketsphinxRecognizer(PocketsphinxConfig(DomainVocabulary(S, "grammar", None if W is None else wr), beam=DOMAIN_BEAM))
res = {}
out = []
for k, ref, a in items:
    rec.start()
    for i in range(0, len(a), 1600): rec.feed(a[i:i+1600].astype(np.float32))
    h = " ".join(sentence_words(rec.end()))
    inner = wr.inner(h, core) if W is not None else h
    ok = inner == normalize(ref)
    res.setdefault(k, []).append(ok)
    out.append((k, ref, h, ok))
print(variant, {k: f"{sum(v)}/{len(v)}" for k, v in res.items()}, flush=True)
json.dump(out, open(f'/tmp/s27/harness_{variant}{TAG if variant == "plain" else ""}.json', 'w'), indent=0)
