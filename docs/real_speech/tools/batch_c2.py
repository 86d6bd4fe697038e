import json, subprocess, glob, os
R="/tmp/s20/real"
def add(src,out,meta,*opt):
    r=subprocess.run([f"{R}/tools/add.py",src,out,json.dumps(meta),*opt],capture_output=True,text=True)
    print(r.stdout.strip(), r.stderr.strip()[-300:] if r.returncode else "")
C=glob.glob(f"{R}/x/codec2-examples*")[0]+"/usr/share/codec2"
items={
 "raw/speech_orig_16k.wav":("The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. It's easy to tell the depth of a well. Four hours of steady work faced us.",
    "not in package: recognised by me as Harvard sentences list 1, sentences 1-4 (pocketsphinx hyp matches); treat as probable","unnamed adult speaker (likely the Open Speech Repository Harvard recording)"),
 "wav/vk5qi.wav":(None,"none in package; content per pocketsphinx/listening-free estimate: ham call-sign + phonetic spelling, then 'testing one two three four five, five four three two one'","amateur radio operator VK5QI (male), off-air/mic recording"),
 "raw/g3plx.raw":(None,"none in package; pocketsphinx hears 'one two three four five ... testing'","amateur radio operator G3PLX"),
 "raw/kristoff.raw":(None,"none in package; pocketsphinx: 'hi this is ... november ... report'","unnamed (ham radio operator 'Kristoff')"),
 "raw/ve9qrp_10s.raw":(None,"none in package; first 10 s of ve9qrp: greeting + phonetic call sign 'bravo romeo uniform charlie echo'","amateur radio operator VE9QRP (male)"),
 "raw/cq_ref.raw":(None,"none in package; ham CQ call with phonetic alphabet","unnamed"),
 "wav/hts1a.wav":(None,"none in package (classic codec test sentence; pocketsphinx: 'the navy attacked the big ...')","unnamed male (codec2 standard test sample)"),
 "wav/hts2a.wav":(None,"none in package (classic codec test sentence)","unnamed (codec2 standard test sample)"),
 "wav/big_dog.wav":(None,"none in package (pocketsphinx: 'the big dog ...')","unnamed"),
 "wav/cross.wav":(None,"none in package","unnamed"),
 "wav/mmt1.wav":(None,"none in package","unnamed"),
 "wav/morig.wav":(None,"none in package (male original, same sentence as m2400)","unnamed male"),
 "wav/forig.wav":(None,"none in package (female original; pocketsphinx: '... trash on the street')","unnamed female"),
}
for k,(t,ts,spk) in items.items():
    add(f"{C}/{k}","codec2_"+os.path.basename(k).rsplit(".",1)[0]+".wav",dict(source_package="codec2-examples",source_version="1.0.5-1",registry="debian apt (bookworm)",
        path_in_package=f"/usr/share/codec2/{k}",license_package="LGPL-2.1 (debian/copyright Files: ... raw/* wav/*, (c) 2007-2019 David Rowe)",license_audio="as package (LGPL-2.1 per debian/copyright); original provenance of the speech not documented",
        transcript=t,transcript_source=ts,speaker=spk,notes="codec test speech; 8 kHz source upsampled unless 16k" ))
