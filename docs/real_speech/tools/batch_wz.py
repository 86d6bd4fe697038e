import json, subprocess, glob, os, re
R="/tmp/s20/real"
def add(src,out,meta,*opt):
    r=subprocess.run([f"{R}/tools/add.py",src,out,json.dumps(meta),*opt],capture_output=True,text=True)
    print(r.stdout.strip(), r.stderr.strip()[-300:] if r.returncode else "")
A=f"{R}/x/wz/audio"
cfg={}
for l in open(f"{A}/audio.cfg",errors="replace"):
    m=re.search(r'audio\s+"([^"]+)"[^/]*/\*(.*?)\*/',l)
    if m: cfg.setdefault(m.group(1),m.group(2).strip())
paths={os.path.basename(p):p for p in glob.glob(f"{A}/**/*.ogg",recursive=True)}
sel=[f"{i}.ogg" for i in range(10)]+["commnder.ogg","group.ogg","reprting.ogg"]
sel+=[f"pcv{n}.ogg" for n in [337,343,357,366,367,368,369,372,399,400,401,402,404,411,413,414,415,416,419,420,421,422,423,424,425,426,427,428,429,430,431,432,433,434,438,439,450,451,455,458,459,460,461,463,464,465,466,467,470,476]]
sel+=["t-gogogo.ogg","t-grnli5.ogg","t-grnli4.ogg","t-grnli3.ogg","t-grnli2.ogg","t-arboys.ogg","t-dustof.ogg","t-aprolz.ogg",
      "v-eloc1.ogg","v-onway1.ogg","v-retba1.ogg","v-locon1.ogg","v-atkrn1.ogg","v-abtrn1.ogg","v-onway2.ogg","v-retba3.ogg","com039.ogg","com040.ogg","com041.ogg","com037.ogg","lz-clear.ogg"]
digits={f"{i}.ogg":["zero","one","two","three","four","five","six","seven","eight","nine"][i] for i in range(10)}
digits.update({"commnder.ogg":"commander","group.ogg":"group","reprting.ogg":"reporting"})
for f in sel:
    if f not in paths: print("MISSING",f); continue
    p=paths[f]; rel=os.path.relpath(p,f"{R}/x/wz")
    if f in digits: t=digits[f]; ts="file name (commander voice digit/word clip, used to compose 'Commander N reporting'); no comment in audio.cfg"
    else: t=cfg.get(f); ts="comment next to the file in audio/audio.cfg (a label of the message; exact spoken wording not independently verified)"
    add(p,"warzone2100_"+f.replace(".ogg",".wav"),dict(source_package="warzone2100-data",source_version="4.3.3-3",registry="debian apt (bookworm)",
        path_in_package=f"/usr/share/games/warzone2100/base.wz :: {rel}",license_package="GPL-2+ (debian/copyright Files: *, (c) 1999-2004 Eidos Interactive, 2005-2013 Warzone 2100 Project)",license_audio="not separately stated (covered by Files: *)",
        transcript=t,transcript_source=ts,transcript_verified=False,
        speaker="Warzone 2100 game voice actor(s), unnamed (original 1999 Pumpkin Studios game)",notes="game voice message; may carry radio/console effect"))
