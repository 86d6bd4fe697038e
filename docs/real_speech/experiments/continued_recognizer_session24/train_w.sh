set -e
cd /work/main
T0=$(date +%s)
.venv/bin/python -m tristream_ros.training.recognizer --model models/demo --data /tmp/s23/train --run /tmp/s24/rec \
   --out /tmp/s24/recW.safetensors --pico-pool 4000 --threads 2 --seed 0 --steps 1000 --lr 2e-4 \
   --init models/demo/recognizer.safetensors --no-progress
echo "total $(( $(date +%s) - T0 ))s"
