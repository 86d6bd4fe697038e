#!/tmp/s20/real/venv/bin/python
"""add.py: convert a source audio to 16k mono s16 wav and upsert manifest entry.
usage: add.py SRC OUTNAME JSON_META  (meta keys: source_package, source_version, registry,
   path_in_package, license_package, license_audio, transcript, transcript_source, speaker, notes)
   options: --remix1 (take channel 1 instead of mixing)"""
import json, subprocess, sys, os, wave
R = "/tmp/s20/real"
MAN = f"{R}/manifest.json"
args = [a for a in sys.argv[1:] if not a.startswith("--")]
src, out, meta = args[0], args[1], json.loads(args[2])
dst = f"{R}/wav/{out}"
cmd = ["sox", src, "-r", "16000", "-c", "1", "-b", "16", "-e", "signed-integer", dst]
if "--remix1" in sys.argv: cmd = ["sox", src, "-r", "16000", "-b", "16", "-e", "signed-integer", dst, "remix", "1"]
if src.endswith(".raw"): cmd = ["sox", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw", src, "-r", "16000", "-b", "16", dst]
subprocess.run(cmd, check=True)
with wave.open(dst) as w:
    dur = w.getnframes() / w.getframerate()
hyp = None
try:
    from pocketsphinx import Decoder
    d = Decoder(loglevel="ERROR") if False else Decoder()
    with wave.open(dst) as w: data = w.readframes(w.getnframes())
    d.start_utt(); d.process_raw(data, full_utt=True); d.end_utt()
    hyp = d.hyp().hypstr if d.hyp() else ""
except Exception as e:
    hyp = f"ERR {e}"
f0 = None
try:
    import numpy as np
    with wave.open(dst) as w: x = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(float)
    fr, hop = 640, 160; f0s = []
    thr = 0.1 * max(1.0, np.percentile(np.abs(x), 99))
    for i in range(0, len(x) - fr, hop):
        seg = x[i:i+fr] - x[i:i+fr].mean()
        if np.sqrt((seg**2).mean()) < thr: continue
        ac = np.correlate(seg, seg, "full")[fr-1:]
        lo, hi = 16000//400, 16000//60
        k = lo + int(np.argmax(ac[lo:hi]))
        if ac[k] > 0.4 * ac[0]: f0s.append(16000/k)
    if len(f0s) >= 3: f0 = round(float(np.median(f0s)))
except Exception as e:
    f0 = None
entry = dict(file=f"wav/{out}", **meta, duration_s=round(dur, 3), synthetic=False, median_f0_hz_est=f0,
             pocketsphinx_default_hyp=hyp)
m = json.load(open(MAN)) if os.path.exists(MAN) else []
m = [e for e in m if e["file"] != entry["file"]] + [entry]
json.dump(m, open(MAN, "w"), indent=1)
print(out, round(dur, 2), "f0", f0, "|", meta.get("transcript"), "| ps:", hyp)
