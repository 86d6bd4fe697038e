#!/bin/sh
# Session 34: the speech-length check's runs (/tmp/s34). real355: docs/real_speech's collection,
# rebuilt from the registries (docs/real_speech/tools, manifest.json).
cd /work/main; export PYTHONPATH=/work/main
E=docs/real_speech/experiments/speech_check_session34
tristream() { .venv/bin/tristream "$@"; }
tristream generate dataset --out /tmp/s34/test240 --train 0 --val 0 --test 240 --seed 0 --frames render
tristream generate dataset --out /tmp/s34/test800 --train 0 --val 0 --test 800 --seed 21 --frames render
# the truth's speech rates (the constants: ~1.5x the slowest; the real recordings were run after)
.venv/bin/python $E/truth_rates.py eval=/tmp/s34/test800:/tmp/s34/eval800.json eval=/tmp/s34/test240:/tmp/s34/eval240.json \
  manifest=tristream_ros/data/recordings/spliced manifest=tristream_ros/data/recordings
# test sets without the check (before it was written) and with it
tristream eval --model models/demo --data /tmp/s34/test240 --no-domain --real none --predictions --json --out /tmp/s34/eval240.json
tristream eval --model models/demo --data /tmp/s34/test800 --no-domain --real none --predictions --json --out /tmp/s34/eval800.json
tristream eval --model models/demo --data /tmp/s34/test240 --no-domain --real none --predictions --json --out /tmp/s34/eval240_check.json
tristream eval --model models/demo --data /tmp/s34/test800 --no-domain --real none --predictions --json --out /tmp/s34/eval800_check.json
# real recordings, the check recorded (not applied), replayed at several settings
.venv/bin/python $E/run.py folder models/demo tristream_ros/data/recordings/spliced $E/spliced_records.json
.venv/bin/python $E/run.py folder models/demo /tmp/s34/real355 $E/real355_records.json
.venv/bin/python $E/replay.py $E/real355_records.json 0.2 0.25 0.3 0.4
.venv/bin/python $E/replay.py $E/spliced_records.json 0.2 0.25 0.3
# ten engine voices with the check on
.venv/bin/python docs/real_speech/experiments/aliases_session30/harness.py models/demo $E/engines.json after
# the graph
tristream bench latency --json --out /tmp/s34/latency2.json
