import json, subprocess, glob, os
R="/tmp/s20/real"
def add(src,out,meta,*opt):
    r=subprocess.run([f"{R}/tools/add.py",src,out,json.dumps(meta),*opt],capture_output=True,text=True)
    print(r.stdout.strip(), r.stderr.strip()[-300:] if r.returncode else "")
A=glob.glob(f"{R}/x/alsa*")[0]+"/usr/share/sounds/alsa"
for n in "Front_Center Front_Left Front_Right Rear_Center Rear_Left Rear_Right Side_Left Side_Right".split():
    add(f"{A}/{n}.wav",f"alsa_{n}.wav",dict(source_package="alsa-utils",source_version="1.2.8-1",registry="debian apt (bookworm)",
        path_in_package=f"/usr/share/sounds/alsa/{n}.wav",license_package="GPL-2 (debian/copyright, Files: *)",license_audio="not separately stated",
        transcript=n.replace("_"," ").lower(),transcript_source="file name = speaker-test channel name (announced by voice); pocketsphinx hyp agrees partly",
        speaker="single adult speaker, unnamed (same voice in all 8)",notes="speaker-test channel announcement; orig 48 kHz mono"))
K=glob.glob(f"{R}/x/ktuberling*")[0]+"/usr/share/ktuberling/sounds/en"
for f in sorted(glob.glob(K+"/*.ogg")):
    b=os.path.basename(f)[:-4]
    word=b.split("_",1)[1] if "_" in b else b
    add(f,f"ktuberling_en_{b}.wav",dict(source_package="ktuberling-data",source_version="4:22.12.3-1",registry="debian apt (bookworm)",
        path_in_package=f"/usr/share/ktuberling/sounds/en/{b}.ogg",license_package="GPL-2+ (debian/copyright, Files: *)",license_audio="not separately stated (covered by Files: *)",
        transcript=word,transcript_source="sound name in en.soundtheme / *.theme (object name, theme prefix stripped); spoken form may differ slightly (e.g. 'palmtree' = 'palm tree')",
        speaker="unnamed English speaker(s) (KDE ktuberling en sound theme)",notes="single-word object name; orig 44.1 kHz stereo, channels mixed"))
