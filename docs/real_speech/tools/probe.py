#!/tmp/s20/real/venv/bin/python
import sys, subprocess, wave, os
from pocketsphinx import Decoder
d=Decoder(loglevel="ERROR")
for src in sys.argv[1:]:
    t="/tmp/probe.wav"
    args=["sox",src,"-r","16000","-c","1","-b","16","-e","signed-integer",t]
    if src.endswith(".raw"): args=["sox","-r","8000","-c","1","-b","16","-e","signed-integer","-t","raw",src,"-r","16000",t]
    subprocess.run(args,check=True,stderr=subprocess.DEVNULL)
    w=wave.open(t); data=w.readframes(w.getnframes()); dur=w.getnframes()/16000
    d.start_utt(); d.process_raw(data,full_utt=True); d.end_utt()
    print(f"{os.path.basename(src)} {dur:.2f}s | {d.hyp().hypstr if d.hyp() else ''}")
