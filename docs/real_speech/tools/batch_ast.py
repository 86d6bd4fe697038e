import json, subprocess, glob, os, re
R="/tmp/s20/real"
def add(src,out,meta,*opt):
    r=subprocess.run([f"{R}/tools/add.py",src,out,json.dumps(meta),*opt],capture_output=True,text=True)
    print(r.stdout.strip(), r.stderr.strip()[-300:] if r.returncode else "")
T={}
for l in open(f"{R}/x/ast-en/core-sounds-en.txt"):
    if l.startswith(";") or ": " not in l: continue
    k,v=l.rstrip("\n").split(": ",1); T[k]=v
D=glob.glob(f"{R}/x/asterisk-core-sounds-en-wav*")[0]+"/usr/share/asterisk/sounds/en_US_f_Allison"
keys=[f"digits/{n}" for n in list(range(0,21))+[30,40,50,60,70,80,90]]+["digits/hundred","digits/thousand","digits/oh","digits/minus"]
keys+=["vm-no","dictate/pause","dictate/record","dictate/playback","letters/ascii91","letters/ascii93","letters/ascii123","letters/ascii125",
       "hello","goodbye","hello-world","cancelled","activated","de-activated","enabled","disabled","auth-thankyou","im-sorry",
       "conf-hasleft","vm-dialout","vm-star-cancel","vm-helpexit","vm-nomore","all-circuits-busy-now","agent-loggedoff","vm-deleted",
       "followme/sorry","demo-nomatch","confbridge-unmuted","vm-next","vm-prev","vm-toforward","followme/options","phonetic/a_p","phonetic/g_p","phonetic/r_p","phonetic/s_p"]
for k in keys:
    src=f"{D}/{k}.wav"
    if not os.path.exists(src): print("MISSING",k); continue
    add(src,"asterisk_"+k.replace("/","_")+".wav",dict(source_package="asterisk-core-sounds-en-wav",source_version="1.6.1-1",registry="debian apt (bookworm)",
        path_in_package=f"/usr/share/asterisk/sounds/en_US_f_Allison/{k}.wav",license_package="CC-BY-SA-3.0 (debian/copyright)",license_audio="CC-BY-SA-3.0, recorded by Allison Smith (credit required)",
        transcript=T.get(k),transcript_source="package's own core-sounds-en.txt (in asterisk-core-sounds-en 1.6.1-1, /usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz)",
        speaker="Allison Smith, adult female, US English, professional IVR voice talent",notes="original 8 kHz telephone-band studio prompt, upsampled to 16 kHz (no content above 4 kHz)"))
