#!/usr/bin/env bash
# wav2vec2 forward + backward throughput and peak memory, vox (burn flex / ndarray) vs PyTorch
# CPU, for issue 5. Writes BENCHMARKS-wav2vec2.md at the repository root. Not a test: the
# numbers are ratios from one interleaved run, since the CPUs may be shared.
#
#   benches/wav2vec2.sh [THREADS]     (default: all CPUs; ~9 minutes on 2 shared cores)
#
# Needs a venv with torch + transformers at $W2V_VENV (default /tmp/w2v-venv):
#   python3 -m venv /tmp/w2v-venv && /tmp/w2v-venv/bin/pip install torch transformers
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS="${1:-$(nproc)}"
VENV="${W2V_VENV:-/tmp/w2v-venv}"
"$VENV/bin/python" -c "import torch, transformers" || {
    echo "no torch + transformers in $VENV (see the header of $0)" >&2
    exit 1
}
CARGO_TARGET_DIR=/work/target-wav2vec2 cargo build -p vox-wav2vec2 --example train_step --example ops
"$VENV/bin/python" benches/wav2vec2.py run BENCHMARKS-wav2vec2.md "$THREADS"
