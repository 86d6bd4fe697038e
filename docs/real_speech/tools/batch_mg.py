import json, subprocess, os, shutil, glob
R="/tmp/s20/real"
paths={os.path.basename(p.strip()):R+"/x/"+p.strip() for p in open("/tmp/mg.txt")}
base=glob.glob(f"{R}/x/megaglest-data*")[0]
sel=[]
for l in open("/tmp/mg_hyp.txt"):
    name,rest=l.split(" ",1); hyp=rest.split("|",1)[1].strip()
    if hyp in ("yes","yes sir","okay","ready","no","ready for orders"): sel.append((name,hyp))
added=[]
for name,hyp in sel:
    p=paths[name]; faction=p.split("/techs/")[1].split("/")[0:3]
    out=f"megaglest_{p.split('/factions/')[1].split('/')[0] if '/factions/' in p else 'common'}_{name.rsplit('.',1)[0]}.wav"
    if out in added: continue
    r=subprocess.run([f"{R}/tools/add.py",p,out,json.dumps(dict(registry="debian apt (bookworm)",source_package="megaglest-data",source_version="3.13.0-3",path_in_package=os.path.relpath(p,base),
        license_package="CC-BY-SA-3.0 (debian/copyright Files: *)",license_audio="CC-BY-SA-3.0; credits: 'My family, some friends and neighbors for the unit voices' (real people)",
        transcript=None,transcript_source=f"NONE in package. pocketsphinx default-model hypothesis was '{hyp}' (used only to select the file) - do not use as ground truth for pocketsphinx tests",
        transcript_verified=False,speaker="MegaGlest unit voice (amateur volunteer), unnamed",notes="unit select/acknowledge line (fantasy RTS); likely 'yes'/'yes sir'/'okay'/'ready' but unverified"))],capture_output=True,text=True)
    print(r.stdout.strip()); added.append(out)
m=json.load(open(f"{R}/manifest.json")); lm=json.load(open(f"{R}/manifest_lowconf.json")); keep=[]
for e in m:
    if os.path.basename(e["file"]).startswith("megaglest_"):
        shutil.move(f"{R}/{e['file']}",f"{R}/wav_lowconf/"); e["file"]=e["file"].replace("wav/","wav_lowconf/"); lm.append(e)
    else: keep.append(e)
json.dump(keep,open(f"{R}/manifest.json","w"),indent=1); json.dump(lm,open(f"{R}/manifest_lowconf.json","w"),indent=1); print(len(keep),len(lm))
