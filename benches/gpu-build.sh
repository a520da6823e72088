#!/usr/bin/env bash
# Builds, on the development machine (no GPU, no CUDA toolkit), every binary the GPU scripts
# need, stripped and gzipped into one folder small enough to carry to a lent GPU machine:
#   vox         (--features cuda)          benches/gpu-epoch.sh, gpu-check.sh sections 2-3
#   vox-fusion  (--features cuda-fusion)   benches/gpu-epoch.sh with VOX_BIN=vox-fusion
#   model       (vox-wav2vec2's test binary, --features cuda)   gpu-check.sh section 1
#   train_step  (vox-wav2vec2's example, --features cuda)       step splits in both scripts
#   cube        (vox-wav2vec2's cube kernels' tests, --features cuda)   gpu-check.sh section 1
#
#   CUDA=13000 OUT=.gpu bash benches/gpu-build.sh      # about 25 min on 2 cores from clean
#
# PARTS picks some ("vox model train_step cube vox-fusion" by default). Gzipped at 4dad77e
# (2026-12-05): vox 20.6 MB, model 12.4 MB, train_step 12.1 MB (cube, added 2026-12-06, about
# as much as model), so vox-fusion does not fit the device's 64 MiB carry limit beside the
# others: carry it in its own call (PARTS).
# CUDA is the driver's CUDA version for cudarc (CUDARC_CUDA_VERSION; 13000 = CUDA 13.0, the
# lent H100/H200s' driver 580). The fusion build has its own target folder (other burn
# features: everything rebuilds). On the GPU machine, before the scripts:
#   gunzip -kf .gpu/*.gz && chmod +x .gpu/*
# The test binary finds its fixtures through the path it was built in; gpu-check.sh links it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/.gpu}"
FUSION_TARGET="${FUSION_TARGET:-$ROOT/target/cuda-fusion}"
export CUDARC_CUDA_VERSION="${CUDA:-13000}"
mkdir -p "$OUT"
cd "$ROOT"

pack() { # SOURCE NAME: stripped and gzipped into OUT/NAME.gz
  strip -o "$OUT/$2" "$1"
  gzip -9f "$OUT/$2"
}
want() { [[ " ${PARTS:-vox model train_step cube vox-fusion} " == *" $1 "* ]]; }

if want vox; then
  cargo build --features cuda --bin vox
  pack target/debug/vox vox
fi
if want train_step; then
  cargo build -p vox-wav2vec2 --features cuda --example train_step
  pack target/debug/examples/train_step train_step
fi
if want model; then
  # The test binary: the `tests/main.rs` line of `--no-run`'s "Executable" list.
  model="$(cargo test -p vox-wav2vec2 --features cuda --no-run 2>&1 \
    | sed -n 's/.*Executable tests\/main.rs (\(.*\))/\1/p' | tail -1)"
  pack "$model" model
fi
if want cube; then
  cube="$(cargo test -p vox-wav2vec2 --features cuda --test cube --no-run 2>&1 \
    | sed -n 's/.*Executable tests\/cube.rs (\(.*\))/\1/p' | tail -1)"
  pack "$cube" cube
fi
if want vox-fusion; then
  CARGO_TARGET_DIR="$FUSION_TARGET" cargo build --features cuda-fusion --bin vox
  pack "$FUSION_TARGET/debug/vox" vox-fusion
fi
git rev-parse --short HEAD >"$OUT/commit"
ls -la "$OUT"
du -sh "$OUT"
