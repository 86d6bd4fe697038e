cd /work/main; export PYTHONPATH=/work/main
M=models/demo; O=/tmp/s27/W
.venv/bin/python docs/real_speech/experiments/realrun.py $M /tmp/s23/real355 ${O}_real355.json > ${O}_real355.log 2>&1
for e in pico flite festival; do
  for s in "" "--short-forms" "--room" "--wrapped" "--wrapped --no-command-wrappers"; do
    t=$(echo "$s" | sed 's/--short-forms/_short/; s/--room/_room/; s/--wrapped --no-command-wrappers/_wrapped_off/; s/--wrapped/_wrapped/')
    .venv/bin/tristream eval --model $M --engine $e $s --json --out ${O}_${e}${t}.json > ${O}_${e}${t}.log 2>&1
  done
done
echo doneB
