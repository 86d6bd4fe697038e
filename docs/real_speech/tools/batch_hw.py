import json, subprocess, glob, os
R="/tmp/s20/real"
def add(src,out,meta,*opt):
    r=subprocess.run([f"{R}/tools/add.py",src,out,json.dumps(meta),*opt],capture_output=True,text=True)
    print(r.stdout.strip(), r.stderr.strip()[-300:] if r.returncode else "")
W={"Fire":"fire","Hello":"hello","Yessir":"yes sir","Hurry":"hurry","Runaway":"run away","Takecover":"take cover","Incoming":"incoming",
   "Comeonthen":"come on then","Watchit":"watch it","Watchthis":"watch this","Byebye":"bye bye","Solong":"so long","Missed":"missed",
   "Oops":"oops","Victory":"victory","Enemydown":"enemy down","Cutitout":"cut it out","Leavemealone":"leave me alone","Nooo":"nooo","Flyaway":"fly away"}
V=glob.glob(f"{R}/x/hedgewars-data*")[0]+"/usr/share/games/hedgewars/Data/Sounds/voices"
for pack in "Default Classic British Surfer HillBilly Mobster Pirate".split():
    for k,t in W.items():
        src=f"{V}/{pack}/{k}.ogg"
        if not os.path.exists(src): print("MISSING",pack,k); continue
        std = pack in ("Default","Classic","British")
        add(src,f"hedgewars_{pack}_{k}.wav",dict(source_package="hedgewars-data",source_version="1.0.2-6",registry="debian apt (bookworm)",
            path_in_package=f"/usr/share/games/hedgewars/Data/Sounds/voices/{pack}/{k}.ogg",license_package="GPL-2 (code) / GFDL-1.3 for Data/Sounds/* (debian/copyright)",license_audio="GFDL-1.3 (debian/copyright: Files: share/hedgewars/Data/Sounds/*)",
            transcript=t,transcript_source="file name = the game's voice-line id (no transcript file in package); "+("standard delivery" if std else "character voice pack: exact wording/accent may differ from the id"),
            transcript_verified=False,speaker=f"hedgewars '{pack}' voice pack actor, unnamed",notes="acted game voice line (emotive, may have effects/reverb)"))
