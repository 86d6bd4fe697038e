# Session 29: the grammar with session 29's direction forms (data/language.SHORT_FORMS) on the sets
# the grammar can cost: the 355 real out-of-domain recordings, the test split, the spliced real voice.
cd /work/main; export PYTHONPATH=/work/main
M=models/demo; O=/tmp/s29/F
.venv/bin/python docs/real_speech/experiments/realrun.py $M /tmp/s23/real355 ${O}_real355.json > ${O}_real355.log 2>&1
.venv/bin/tristream eval --model $M --data /tmp/s23/train --no-domain --real none --predictions --json --out ${O}_eval240.json > ${O}_eval240.log 2>&1
.venv/bin/python docs/real_speech/experiments/spliced_eval.py ${O}_spliced_dom.json > ${O}_spliced_dom.log 2>&1
echo done
