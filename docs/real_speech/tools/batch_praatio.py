import json, subprocess
R="/tmp/s20/real"; P=f"{R}/x/py/praatio-6.2.2/examples/files"
def add(src,out,meta,*opt):
    r=subprocess.run([f"{R}/tools/add.py",src,out,json.dumps(meta),*opt],capture_output=True,text=True)
    print(r.stdout.strip(), r.stderr.strip()[-300:] if r.returncode else "")
for n,t,tg in [("bobby","bobby ripped the ledger","bobby_words.TextGrid (word/phrase tier)"),("mary","mary rolled the barrel","mary.TextGrid (word tier)"),("damon_set_test","damon fried the omelet","damon_set_test.TextGrid (words tier)")]:
    add(f"{P}/{n}.wav",f"praatio_{n}.wav",dict(registry="PyPI (sdist)",source_package="praatio",source_version="6.2.2",path_in_package=f"examples/files/{n}.wav",
        license_package="MIT (c) Tim Mahrt",license_audio="not separately stated",transcript=t,transcript_source=f"package's own {tg}",speaker="unnamed adult (praatio example recordings)",notes="short read sentence (prosody research style)"))
