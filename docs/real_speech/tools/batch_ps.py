import json, subprocess, re
R="/tmp/s20/real"; L=f"{R}/x/py/pocketsphinx-5.0.0/test/data/librivox"
def add(src,out,meta,*opt):
    r=subprocess.run([f"{R}/tools/add.py",src,out,json.dumps(meta),*opt],capture_output=True,text=True)
    print(r.stdout.strip(), r.stderr.strip()[-300:] if r.returncode else "")
for l in open(f"{L}/transcription"):
    m=re.match(r"<s>\s*(.*?)\s*</s>\s*\((.*)\)",l.strip()); t,n=m.group(1),m.group(2)
    add(f"{L}/{n}.wav",f"pocketsphinx500_{n}.wav",dict(registry="PyPI (sdist)",source_package="pocketsphinx",source_version="5.0.0",path_in_package=f"test/data/librivox/{n}.wav",
        license_package="BSD-2-Clause-style (CMU) per LICENSE",license_audio="LibriVox recording - public domain",transcript=t,transcript_source="package's test/data/librivox/transcription (also per-file .txt)",
        speaker="LibriVox reader of 'Sense and Sensibility' ch.1 (female)",notes="read audiobook sentence; NOT in the excluded list (goforward/numbers/something/forever/cards/2934z). Same sdist also has test/regression/chan3.wav (20.9 s conversational, no transcript) and test/data/vad/leak-test.wav (9.4 s, no transcript) - not converted"))
