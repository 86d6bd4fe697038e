set -e
cd /work/main
T0=$(date +%s)
.venv/bin/python -m tristream_ros.training.recognizer --model models/demo --data /tmp/s23/train --run /tmp/s24/rec2 \
   --out /tmp/s24/recW2.safetensors --pico-pool 4000 --threads 1 --seed 0 --steps 2000 --lr 2e-4 \
   --init models/demo/recognizer.safetensors --no-progress
echo "total $(( $(date +%s) - T0 ))s"
