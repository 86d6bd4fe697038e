cd /work/main; export PYTHONPATH=/work/main
M=models/demo; O=/tmp/s27/W
.venv/bin/python docs/real_speech/experiments/continued_recognizer_session24/spliced_dom.py $M ${O}_spliced_dom.json > ${O}_spliced_dom.log 2>&1
.venv/bin/tristream eval --model $M --data /tmp/s23/train --json --out ${O}_eval240.json > ${O}_eval240.log 2>&1
.venv/bin/tristream eval --model $M --data /tmp/s12/test800 --no-domain --predictions --json --out ${O}_eval800.json > ${O}_eval800.log 2>&1
echo doneA
