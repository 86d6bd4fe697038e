cd /work/main
M=/tmp/s26/mC; O=/tmp/s24/C
.venv/bin/python docs/real_speech/experiments/realrun.py $M /tmp/s23/real355 ${O}_real355.json > ${O}_real355.log 2>&1
for e in pico flite festival; do
  for s in "" "--short-forms" "--room"; do
    t=$(echo "$s" | sed 's/--short-forms/_short/; s/--room/_room/')
    .venv/bin/tristream eval --model $M --engine $e $s --json --out ${O}_${e}${t}.json > /dev/null 2>&1
  done
done
echo doneB
