#!/bin/sh
# Session 30: the ROS 2 graph's latency with the wrapper decoder in a child process (the new
# default), in the speech node's own process (session 29's default) and with no wrapper decoder,
# one run after another on an otherwise idle 2-core machine; latency.json gathers the results.
cd "$(dirname "$0")/../../../.." || exit 1
export ROS_DOMAIN_ID=62
B=".venv/bin/tristream bench latency --json --no-audio-only --no-cascade"
OUT=${OUT:-/tmp/s30}
mkdir -p "$OUT"
$B > "$OUT/lat_proc_on.json"
$B --set speech_tokenizer_node:speech.wrapper_decoder_process=false > "$OUT/lat_proc_off.json"
$B --set speech_tokenizer_node:speech.command_wrappers=false > "$OUT/lat_wrap_off_1.json"
$B > "$OUT/lat_proc_on_2.json"
$B --set speech_tokenizer_node:speech.wrapper_decoder_process=false > "$OUT/lat_proc_off_2.json"
$B --set speech_tokenizer_node:speech.command_wrappers=false > "$OUT/lat_wrap_off_2.json"
$B > "$OUT/lat_proc_on_3.json"
