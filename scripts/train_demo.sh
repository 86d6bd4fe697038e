#!/usr/bin/env bash
# The exact recipe of the shipped demo checkpoint (models/demo), on 2 CPU cores:
#   generate data (fixed seed) -> phase 1 (STVE contrastive) -> phase 2 (alignment)
#   -> phase 3 (DPO + colour and count read-out re-fits) -> kind read-out on shape only (+ count
#   re-fit) -> colour read-out with two-tone scenes -> recogniser fine-tuning -> calibrate the speech front end
#   (override thresholds + rescoring), the STVE budget and the existence threshold -> eval -> models/demo
#   (+ recipe.json with per-step wall-clock)
# Usage: scripts/train_demo.sh [RUN_DIR] [MODEL_DIR]     (defaults: runs/demo, models/demo)
# Resumable: RESUME=1 scripts/train_demo.sh keeps finished phases' state and caches.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/demo}
MODEL=${2:-models/demo}
SEED=${SEED:-0}
TRAIN_N=${TRAIN_N:-1200}
TEST_N=${TEST_N:-240}
RESUME_FLAG=$([ "${RESUME:-0}" = 1 ] && echo --resume || true)
mkdir -p "$RUN"
TIMES="$RUN/times.tsv"
: > "$TIMES"

step() {  # step NAME COMMAND... : run, log, record wall-clock seconds
  local name=$1; shift
  echo "== $name: $*" | tee -a "$RUN/commands.log"
  local t0=$(date +%s.%N)
  "$@"
  local t1=$(date +%s.%N)
  printf '%s\t%s\t%s\n' "$name" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')" "$*" >> "$TIMES"
}

if [ ! -f "$RUN/data/info.json" ] || [ "${RESUME:-0}" != 1 ]; then
  step generate tristream generate dataset --out "$RUN/data" --train "$TRAIN_N" --val 0 --test "$TEST_N" \
       --seed "$SEED" --frames render --no-progress
fi
step phase1 tristream train --phase 1 --config demo --data "$RUN/data" --out "$RUN/out" --seed "$SEED" $RESUME_FLAG
step phase2 tristream train --phase 2 --config demo --data "$RUN/data" --out "$RUN/out" --seed "$SEED" $RESUME_FLAG
step phase3 tristream train --phase 3 --config demo --data "$RUN/data" --out "$RUN/out" --seed "$SEED" $RESUME_FLAG
# the probe's kind read-out on shape only (session 15): the colour branch projected out of the
# tokens it reads, re-fitted on scene-pool, unnamed-colour and over-bright scenes (a quarter of
# the examples on the sparse budget's tokens, session 16), then the count read-out;
# rewrites phase3/model.safetensors + config.json (curves in out/kind_readout)
step kind_readout python -m tristream_ros.training.kind_readout --model "$RUN/out/phase3" --run "$RUN/out/kind_readout" \
     --seed "$SEED" $RESUME_FLAG --no-progress
# the probe's colour read-out again (session 17): scene-pool scenes plus a twentieth of each batch of
# two-tone scenes (every kind but the cone with the cone's white band, labelled with the body
# colour), so a green cone's band is not read as its colour; rewrites phase3/model.safetensors
step colour_readout python -m tristream_ros.training.colour_readout --model "$RUN/out/phase3" \
     --run "$RUN/out/colour_readout" --seed "$SEED" $RESUME_FLAG --no-progress
# the front end's separate recogniser (session 13, shipped since session 14): a copy of the speech
# encoder + CTC fine-tuned with vocal-tract-length warping and (session 18) speech of recombined
# training text -> phase3/recognizer.safetensors
step recognizer python -m tristream_ros.training.recognizer --model "$RUN/out/phase3" --data "$RUN/data" \
     --run "$RUN/out" --seed "$SEED" $RESUME_FLAG --no-progress
# the hybrid front end's CTC-override thresholds, chosen for this CTC on voices it was neither
# trained nor tested on (800 val samples, seed 5; 200 chose a rescoring that failed on test voices,
# session 18) with flite voices as a guard -> phase3/ctc_grammar.json
if [ ! -f "$RUN/val_grammar/info.json" ] || [ "${RESUME:-0}" != 1 ]; then
  step generate_val tristream generate dataset --out "$RUN/val_grammar" --train 0 --val 800 --test 0 --seed 5 \
       --frames render --no-progress
fi
# (--reject-margin 0: the shipped thresholds were chosen before session 25 put a margin between
# the out-of-domain rejection and the in-domain records; a new recogniser gets the default 0.15.
# --guard-engines flite --guard-rooms off are the defaults, spelled out: session 26 measured a
# wider guard and kept this one)
step calibrate python -m tristream_ros.training.calibrate_grammar --model "$RUN/out/phase3" --data "$RUN/val_grammar" \
     --out "$RUN/calibration.json" --reject-margin 0 --guard-engines flite --guard-rooms off --write --no-progress
# the voice gate (session 31): our CTC overrides pocketsphinx only for voices like its espeak
# training voices -> phase3/voice_gate.json. It needs real human speech, which no registry ships as
# one file: REAL_SPEECH=folder of WAVs built with docs/real_speech/tools (the 355-file collection;
# the Asterisk speaker kept out to test on). Without REAL_SPEECH no gate is fitted (the shipped
# models/demo/voice_gate.json was fitted with exactly this command, seed 31).
if [ -n "${REAL_SPEECH:-}" ]; then
  step voice_gate python -m tristream_ros.training.voice_gate --real "$REAL_SPEECH" --exclude asterisk \
       --threshold 0.3 --out "$RUN/out/phase3/voice_gate.json"
fi
# the STVE token budget the model answers with: the cheapest whose exact match on 800 more val
# samples (seed 11) is at least that of all 64 tokens -> phase3/config.json + budget_calibration.*
if [ ! -f "$RUN/val_budget/info.json" ] || [ "${RESUME:-0}" != 1 ]; then
  step generate_val_budget tristream generate dataset --out "$RUN/val_budget" --train 0 --val 800 --test 0 \
       --seed 11 --frames render --no-progress
fi
step calibrate_budget python -m tristream_ros.training.calibrate_budget --model "$RUN/out/phase3" \
     --data "$RUN/val_budget" --write --no-progress > /dev/null
# the existence answers' yes/no threshold on the probe's best match, on the existence questions of
# 2000 more val samples (seed 5) -> phase3/config.json copy.existence_min_match + existence_calibration.*
if [ ! -f "$RUN/val_exist/info.json" ] || [ "${RESUME:-0}" != 1 ]; then
  step generate_val_exist tristream generate dataset --out "$RUN/val_exist" --train 0 --val 2000 --test 0 \
       --seed 5 --frames render --no-progress
fi
step calibrate_existence python -m tristream_ros.training.calibrate_existence --model "$RUN/out/phase3" \
     --data "$RUN/val_exist" --write --no-progress > /dev/null
# ship (float16 copy of phase 3 + speech model), then evaluate exactly what is shipped
python -m tristream_ros.training.ship --run "$RUN" --model "$MODEL" --seed "$SEED" > /dev/null
step eval tristream eval --model "$MODEL" --data "$RUN/data" --json --out "$RUN/eval.json"
python -m tristream_ros.training.ship --run "$RUN" --model "$MODEL" --seed "$SEED"  # + eval.json, recipe.json
echo "shipped $MODEL"; cat "$TIMES"
