cd /work/main
M=$1; O=$2
.venv/bin/tristream eval --model $M --data /tmp/s23/train --json --out ${O}_eval240.json > ${O}_eval240.log 2>&1
.venv/bin/tristream eval --model $M --real tristream_ros/data/recordings/spliced --json --out ${O}_spliced.json > ${O}_spliced.log 2>&1
for e in pico flite festival; do
  .venv/bin/tristream eval --model $M --engine $e --json --out ${O}_${e}.json > /dev/null 2>&1
  .venv/bin/tristream eval --model $M --engine $e --short-forms --json --out ${O}_${e}_short.json > /dev/null 2>&1
done
echo done
