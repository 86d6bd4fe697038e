import json, subprocess, glob, os, shutil
R="/tmp/s20/real"
def add(src,out,meta,*opt):
    r=subprocess.run([f"{R}/tools/add.py",src,out,json.dumps(meta),*opt],capture_output=True,text=True)
    print(r.stdout.strip(), r.stderr.strip()[-300:] if r.returncode else "")
T=glob.glob(f"{R}/x/tuxtype-data*")[0]+"/usr/share/tuxtype/sounds"
add(f"{T}/excuseme.wav","tuxtype_excuseme.wav",dict(registry="debian apt (bookworm)",source_package="tuxtype-data",source_version="1.8.3-5.1",path_in_package="/usr/share/tuxtype/sounds/excuseme.wav",
    license_package="GPL-2+ (debian/copyright)",license_audio="not separately stated",transcript="excuse me",transcript_source="file name; pocketsphinx hyp 'excuse me' matches",speaker="unnamed",notes="game sound effect"))
low=[]
P=glob.glob(f"{R}/x/pingus-data*")[0]+"/usr/share/games/pingus/data/sounds"
for n,t in [("letsgo","let's go"),("ohno","oh no"),("yipee","yippee"),("goodidea","good idea")]:
    add(f"{P}/{n}.wav",f"pingus_{n}.wav",dict(registry="debian apt (bookworm)",source_package="pingus-data",source_version="0.7.6-5.1",path_in_package=f"/usr/share/games/pingus/data/sounds/{n}.wav",
        license_package="GPL-3+ (see debian/copyright)",license_audio="not separately stated",transcript=t,transcript_source="file name only",transcript_verified=False,speaker="cartoon character voice (pitched), unnamed",notes="LOW CONFIDENCE: cartoon voice, very short, pocketsphinx does not recognise"))
    low.append(f"pingus_{n}.wav")
B=glob.glob(f"{R}/x/boswars-data*")[0]+"/usr/share/games/boswars/units"
for f in sorted(glob.glob(B+"/*/*.ready.wav")+glob.glob(B+"/*/*.underattack.wav")+glob.glob(B+"/*/*.completed.wav")):
    b=os.path.basename(f)[:-4]; unit,kind=b.rsplit(".",1)
    t=unit.replace("."," ")+" "+{"ready":"ready","underattack":"under attack","completed":"completed"}[kind]
    add(f,f"boswars_{b}.wav",dict(registry="debian apt (bookworm)",source_package="boswars-data",source_version="2.7+svn160110-5",path_in_package=os.path.relpath(f,glob.glob(f"{R}/x/boswars-data*")[0]),
        license_package="GPL-2 (see debian/copyright)",license_audio="not separately stated",transcript=t,transcript_source="file name (unit name + event); wording unverified",transcript_verified=False,speaker="unnamed game voice",notes="LOW CONFIDENCE: human vs synthetic not documented; unit names are game jargon"))
    low.append(f"boswars_{b}.wav")
m=json.load(open(f"{R}/manifest.json")); lm=json.load(open(f"{R}/manifest_lowconf.json"))
keep=[]
for e in m:
    if os.path.basename(e["file"]) in low:
        shutil.move(f"{R}/{e['file']}",f"{R}/wav_lowconf/"); e["file"]=e["file"].replace("wav/","wav_lowconf/"); lm.append(e)
    else: keep.append(e)
json.dump(keep,open(f"{R}/manifest.json","w"),indent=1); json.dump(lm,open(f"{R}/manifest_lowconf.json","w"),indent=1); print(len(keep),len(lm))
