cd /work/main; export PYTHONPATH=/work/main
E=docs/real_speech/experiments
mkdir -p $E/vote_score_session33
(.venv/bin/python docs/real_speech/experiments/vote_score_session33/gatehook.py /tmp/s34/rec_spliced.json $E/voice_gate_session31/spliced.py models/demo $E/vote_score_session33/spliced.json > /tmp/s34/spliced.log 2>&1; touch /tmp/s34/spliced.done) &
(.venv/bin/python docs/real_speech/experiments/vote_score_session33/gatehook.py /tmp/s34/rec_real355.json $E/realrun.py models/demo /tmp/s30/real355 /tmp/s34/real355.json > /tmp/s34/real355.log 2>&1; touch /tmp/s34/real355.done) &
(.venv/bin/python docs/real_speech/experiments/vote_score_session33/gatehook.py /tmp/s34/rec_engines.json $E/aliases_session30/harness.py models/demo $E/vote_score_session33/engines.json after > /tmp/s34/engines.log 2>&1; touch /tmp/s34/engines.done) &
wait
