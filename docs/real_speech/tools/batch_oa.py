import json, subprocess, glob, os
R="/tmp/s20/real"
def add(src,out,meta,*opt):
    r=subprocess.run([f"{R}/tools/add.py",src,out,json.dumps(meta),*opt],capture_output=True,text=True)
    print(r.stdout.strip(), r.stderr.strip()[-300:] if r.returncode else "")
T={"feedback/one":"one","feedback/two":"two","feedback/three":"three","feedback/fight":"fight","feedback/prepare":"prepare to fight",
 "feedback/blueleads":"blue leads","feedback/redleads":"red leads","feedback/voc_youwin":"you win","feedback/voc_youlose":"you lose","feedback/youwin":"you win","feedback/youlose":"you lose",
 "feedback/excellent":"excellent","feedback/impressive":"impressive","feedback/denied":"denied","feedback/perfect":"perfect","feedback/vote_passed":"vote passed","feedback/vote_failed":"vote failed","feedback/vote_now":"vote now",
 "feedback/1_minute":"one minute remaining","feedback/5_minute":"five minutes remaining","feedback/takenlead":"you have taken the lead","feedback/lostlead":"you have lost the lead","feedback/tiedlead":"you are tied for the lead","feedback/teamstied":"teams are tied",
 "feedback/sudden_death":"sudden death","feedback/1_frag":"one frag left","feedback/2_frags":"two frags left","feedback/3_frags":"three frags left",
 "teamplay/voc_red_scores":"red scores","teamplay/voc_blue_scores":"blue scores","teamplay/voc_red_returned":"red flag returned","teamplay/voc_blue_returned":"blue flag returned",
 "teamplay/voc_base_attack":"your base is under attack","teamplay/voc_team_flag":"your team has the enemy flag","teamplay/voc_enemy_flag":"the enemy has your flag","teamplay/voc_you_flag":"you have the flag"}
for k,t in T.items():
    src=f"{R}/x/oa/sound/{k}.wav"
    if not os.path.exists(src): print("MISSING",k); continue
    add(src,"openarena_"+k.split("/")[1]+".wav",dict(source_package="openarena-081-misc",source_version="0.8.5split-14",registry="debian apt (bookworm)",
        path_in_package=f"/usr/share/games/openarena/baseoa/pak6-misc.pk3 :: sound/{k}.wav",license_package="GPL-2+ (debian/copyright Files: *)",license_audio="not separately stated (covered by Files: *)",
        transcript=t,transcript_source="file name / standard Quake-III-style announcer line (Q3 convention); no transcript file in package; NOT verified",transcript_verified=False,
        speaker="OpenArena announcer, unnamed; voice heavily processed (deepened, reverb)",notes="game announcer; processed voice"))
