#!/usr/bin/env bash
# The fine-tune step (forward, backward, AdamW) and inference of wav2vec2 over thread counts,
# vox (burn flex / ndarray) vs PyTorch with the same threads, for issue 17. Writes the "Thread
# sweep" section of BENCHMARKS-wav2vec2.md and benches/figures/wav2vec2-threads.svg. Not a
# test: ratios from one interleaved run (the CPUs may be shared).
#
#   benches/wav2vec2-threads.sh [THREADS...]   (default: 1 2 4 8 16 32 64 up to nproc, and nproc)
#
# About 12 minutes on 2 cores (1 and 2 threads, 2 rounds); on 16 cores 1..16 about 25 minutes.
# Env: PYTHON (default /work/pyenv/bin/python: torch + transformers), TRAIN_STEP (the example,
# default: built here into /work/target-wav2vec2; on a host without cargo, point it at a copy),
# ROUNDS (2), BATCH (8), SAMPLES (32000), CONFIGS ("base:12 small:2").
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-/work/pyenv/bin/python}"
"$PYTHON" -c "import torch, transformers" || {
    echo "no torch + transformers at $PYTHON" >&2
    exit 1
}
if [ $# -gt 0 ]; then
    THREADS=("$@")
else
    THREADS=()
    for t in 1 2 4 8 16 32 64; do [ "$t" -le "$(nproc)" ] && THREADS+=("$t"); done
    [ "${THREADS[-1]}" -eq "$(nproc)" ] || THREADS+=("$(nproc)")
fi
if [ -z "${TRAIN_STEP:-}" ]; then
    CARGO_TARGET_DIR=/work/target-wav2vec2 cargo build -p vox-wav2vec2 --example train_step
    export TRAIN_STEP=/work/target-wav2vec2/debug/examples/train_step
fi
mkdir -p benches/figures
"$PYTHON" benches/wav2vec2_threads.py BENCHMARKS-wav2vec2.md benches/figures/wav2vec2-threads.svg "${THREADS[@]}"
