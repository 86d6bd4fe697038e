cd /work/main; export PYTHONPATH=/work/main
.venv/bin/tristream eval --model models/demo --data /tmp/s30/test240 --no-domain --real none --predictions --json --out /tmp/s32/eval240.json > /tmp/s32/eval240.log 2>&1
.venv/bin/python /tmp/s32/diag800.py /tmp/s30/test800 /tmp/s32/diag800_new.json > /tmp/s32/diag800_new.log 2>&1
touch /tmp/s32/q1.done
cd /work/main; export PYTHONPATH=/work/main
E=docs/real_speech/experiments
mkdir -p $E/ctc_vouches_session32
.venv/bin/python $E/voice_gate_session31/spliced.py models/demo $E/ctc_vouches_session32/spliced.json > /tmp/s32/spliced.log 2>&1
.venv/bin/python $E/realrun.py models/demo /tmp/s30/real355 /tmp/s32/real355.json > /tmp/s32/real355.log 2>&1
.venv/bin/python $E/aliases_session30/harness.py models/demo $E/ctc_vouches_session32/engines.json after > /tmp/s32/engines.log 2>&1
touch /tmp/s32/q2.done
