#!/usr/bin/env bash
# Where scaling stops (issue 17): how many of N threads are busy during wav2vec2's training
# steps and inference forwards on flex, and which call paths run while the others wait, from
# `perf record` of `examples/train_step.rs` (benches/occupancy.py explains the measure). Writes
# the "Thread occupancy" section of BENCHMARKS-wav2vec2.md. Not a test.
#
#   benches/wav2vec2-occupancy.sh [THREADS...]   (default: 2 and all cores)
#
# About 1.5 minutes per thread count for base (12 layers, batch 8 x 32000) on 2 cores, less on
# more. Needs `perf` allowed to sample (root, or kernel.perf_event_paranoid <= 1) and python3.
# Env: TRAIN_STEP (the example, default: built here into /work/target-wav2vec2; on a host
# without cargo, point it at a copy), CONFIG (base), LAYERS (12), BATCH (8), SAMPLES (32000),
# STEPS (2), RATE (samples per second per thread, 499), PERF_OUT (where the perf data goes, a
# fresh temporary folder; about 200 MB per thread count, as perf writes one sample per period of CPU time).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v perf >/dev/null || { echo "perf is not installed (linux-perf / linux-tools)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is needed" >&2; exit 1; }
CONFIG="${CONFIG:-base}" LAYERS="${LAYERS:-12}" BATCH="${BATCH:-8}" SAMPLES="${SAMPLES:-32000}"
STEPS="${STEPS:-2}" RATE="${RATE:-499}"
if [ $# -gt 0 ]; then THREADS=("$@"); else THREADS=(2); [ "$(nproc)" -gt 2 ] && THREADS+=("$(nproc)"); fi
if [ -z "${TRAIN_STEP:-}" ]; then
    CARGO_TARGET_DIR=/work/target-wav2vec2 cargo build -p vox-wav2vec2 --example train_step
    TRAIN_STEP=/work/target-wav2vec2/debug/examples/train_step
fi
PERF_OUT="${PERF_OUT:-$(mktemp -d)}"
mkdir -p "$PERF_OUT"
report="$PERF_OUT/report.md"
started="$(date -u '+%Y-%m-%d %H:%M UTC')"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
{
    echo "## Thread occupancy: what runs while threads wait"
    echo
    echo "Measured $started by \`benches/wav2vec2-occupancy.sh ${THREADS[*]}\` (issue 17; not a test) on $cpu, $(nproc) CPUs: \`train_step $CONFIG flex $LAYERS $BATCH $SAMPLES $STEPS feature-encoder\` under \`perf record -F $RATE --call-graph dwarf\`, read by \`benches/occupancy.py\` (a thread is busy at a point when perf sampled it on both sides, running, and the nearer sample is work, not rayon's waiting or the scheduler)."
    echo
} >"$report"
for n in "${THREADS[@]}"; do
    data="$PERF_OUT/perf-$n.data"
    RAYON_NUM_THREADS="$n" perf record -q -k CLOCK_MONOTONIC -F "$RATE" --call-graph dwarf,8192 -o "$data" -- \
        "$TRAIN_STEP" "$CONFIG" flex "$LAYERS" "$BATCH" "$SAMPLES" "$STEPS" feature-encoder >"$PERF_OUT/step-$n.json"
    perf script -i "$data" -F tid,time,ip,sym 2>/dev/null >"$PERF_OUT/perf-$n.txt"
    python3 benches/occupancy.py "$PERF_OUT/perf-$n.txt" "$PERF_OUT/step-$n.json" "$n" "$RATE" >>"$report"
    step="$(python3 -c 'import json,sys; d=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print("step %.3f s, inference %.3f s (under perf)" % (d["step_s"], d["infer_s"]))' "$PERF_OUT/step-$n.json")"
    echo "- $n threads: $step" >>"$report"
    echo >>"$report"
    rm -f "$data" "$PERF_OUT/perf-$n.txt"
done
python3 - "$report" BENCHMARKS-wav2vec2.md <<'EOF'
import sys
report, target = open(sys.argv[1]).read().rstrip() + "\n", sys.argv[2]
text = open(target).read()
begin, end = "<!-- occupancy:begin (written by benches/wav2vec2-occupancy.sh; edits here are overwritten) -->", "<!-- occupancy:end -->"
section = f"{begin}\n{report}\n{end}"
if begin in text and end in text:
    text = text[: text.index(begin)] + section + text[text.index(end) + len(end):]
else:
    text = text.rstrip() + "\n\n" + section + "\n"
open(target, "w").write(text)
EOF
cat "$report"
