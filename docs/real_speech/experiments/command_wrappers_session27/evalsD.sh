cd /work/main; export PYTHONPATH=/work/main
M=models/demo; O=/tmp/s27/F
for e in "$@"; do
.venv/bin/tristream eval --model $M --engine $e --wrapped --command-wrappers --predictions --json --out ${O}_${e}_wrapped.json > /dev/null 2>&1
.venv/bin/tristream eval --model $M --engine $e --wrapped --predictions --json --out ${O}_${e}_wrapped_off.json > /dev/null 2>&1
done
echo done
