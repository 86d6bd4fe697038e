#!/bin/sh
# Session 31: the voice gate's runs (/tmp/s31). The model folder without the gate is a copy of
# models/demo without voice_gate.json (symlinks): /tmp/s31/nogate.
cd /work/main; export PYTHONPATH=/work/main
E=docs/real_speech/experiments
# the gate itself (models/demo/voice_gate.json; /tmp/s30/real355: docs/real_speech's collection)
.venv/bin/python -m tristream_ros.training.voice_gate --real /tmp/s30/real355 --exclude asterisk \
  --check tristream_ros/data/recordings/spliced --check tristream_ros/data/recordings --check /work/shared/data/speech \
  --threshold 0.3 --out models/demo/voice_gate.json
# the 100 spliced real-voice commands without and with it
.venv/bin/python $E/voice_gate_session31/spliced.py /tmp/s31/nogate $E/voice_gate_session31/spliced_before.json
.venv/bin/python $E/voice_gate_session31/spliced.py models/demo $E/voice_gate_session31/spliced_after.json
# ten engine voices (before: session 30's final run of the same harness, /tmp/s30/al_after.json)
.venv/bin/python $E/aliases_session30/harness.py models/demo $E/voice_gate_session31/engines_after.json after
# test split (generated as in aliases_session30/evals.sh) and the 800-sample set
# (`tristream generate dataset --out /tmp/s30/test800 --train 0 --val 0 --test 800 --seed 21 --frames render`)
.venv/bin/tristream eval --model models/demo --data /tmp/s30/test240 --no-domain --real none --predictions --json --out /tmp/s31/eval240.json
.venv/bin/tristream eval --model /tmp/s31/nogate --data /tmp/s30/test800 --no-domain --real none --predictions --json --out /tmp/s31/eval800.json
# the 355 real out-of-domain recordings (before: /tmp/s30/real_after.json, the same front end without the gate)
.venv/bin/python $E/realrun.py models/demo /tmp/s30/real355 /tmp/s31/real355_after.json
