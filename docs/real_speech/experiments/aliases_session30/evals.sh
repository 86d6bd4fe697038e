#!/bin/sh
# Session 30: the sets the aliases could cost, with and without them: the 355 real out-of-domain
# recordings (rebuilt from the registries this session into /tmp/s30/real355 by
# docs/real_speech/tools' steps; realrun.py) and the test split (/tmp/s30/test240:
# `tristream generate dataset --out /tmp/s30/test240 --train 0 --val 0 --test 240 --seed 0 --frames render`).
cd /work/main; export PYTHONPATH=/work/main
R=docs/real_speech/experiments/realrun.py
.venv/bin/python $R models/demo /tmp/s30/real355 /tmp/s30/real_after.json
.venv/bin/python -c "
import sys, runpy
from tristream_ros.data import language
language.SPOKEN_ALIASES.clear()
sys.argv = ['realrun.py', 'models/demo', '/tmp/s30/real355', '/tmp/s30/real_before.json']
runpy.run_path('$R', run_name='__main__')
"
.venv/bin/tristream eval --model models/demo --data /tmp/s30/test240 --no-domain --real none --predictions --json --out /tmp/s30/eval240.json
