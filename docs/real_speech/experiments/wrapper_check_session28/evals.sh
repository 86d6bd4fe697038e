# Session 28: the default front end (command wrappers on, with the alignment check and the CTC
# veto) on every set measured before. A: test split, probe, spliced, real OOD, 800-sample set;
# B: the engines' held-out queries clean / short forms / room / wrapped.
cd /work/main; export PYTHONPATH=/work/main
M=models/demo; O=/tmp/s28/E
case "$1" in
 A)
  .venv/bin/python docs/real_speech/experiments/realrun.py $M /tmp/s23/real355 ${O}_real355.json > ${O}_real355.log 2>&1
  .venv/bin/tristream eval --model $M --data /tmp/s23/train --no-domain --real none --predictions --json --out ${O}_eval240.json > ${O}_eval240.log 2>&1
  .venv/bin/python docs/real_speech/experiments/spliced_eval.py ${O}_spliced_dom.json > ${O}_spliced_dom.log 2>&1
  .venv/bin/tristream eval --model $M --data /tmp/s12/test800 --no-domain --real none --json --out ${O}_eval800.json > ${O}_eval800.log 2>&1
  ;;
 B)
  for e in pico flite festival; do
    .venv/bin/tristream eval --model $M --engine $e --wrapped --predictions --json --out ${O}_${e}_wrapped.json > ${O}_${e}_wrapped.log 2>&1
  done
  .venv/bin/python docs/real_speech/experiments/command_wrappers_session27/wrapped_probe.py $M ${O}_probe.json on > ${O}_probe.log 2>&1
  for e in pico flite festival; do
    for s in "--short-forms" "" "--room"; do
      t=$(echo "$s" | sed 's/--short-forms/_short/; s/--room/_room/')
      .venv/bin/tristream eval --model $M --engine $e $s --predictions --json --out ${O}_${e}${t}.json > ${O}_${e}${t}.log 2>&1
    done
  done
  ;;
esac
echo done $1
