#!/usr/bin/env bash
# Issue 15, point 1 ("benchmark the user's view first"): a whole `vox run` of a pipeline whose
# fine-tune trains an XLSR-53-sized wav2vec2 from scratch on cuda (batch 8 x 60000 samples,
# AdamW, frozen feature encoder, 2 epochs over 195 train / 45 val synthetic clips, validation
# each epoch, predictions for every clip), against the same work in transformers + PyTorch on
# the same clips, with TF32 products and under bf16 autocast; vox in f32 and with `precision =
# "bf16"`. Per side: each epoch's time, the
# step split (torch), first-use overhead (epoch 1 - epoch 2), peak GPU memory, clips/s, the
# whole stage, predictions + save, val macro-F1. Writes OUT/summary.md and prints a block for
# BENCHMARKS-gpu.md (OUT/benchmarks-gpu-block.md); about 3-5 minutes on an H200.
#
# Run on a CUDA machine from the repository root, with binaries built by `--features cuda`:
#   BIN=.gpu OUT=/tmp/gpu-epoch benches/gpu-epoch.sh
# where BIN holds `vox` and, optionally, `train_step` (the vox-wav2vec2 example: it gives vox's
# forward / backward / optimizer split, which the stage does not log), built e.g. with
#   CUDARC_CUDA_VERSION=13000 cargo build --features cuda --bin vox
#   CUDARC_CUDA_VERSION=13000 cargo build -p vox-wav2vec2 --features cuda --example train_step
# (CUDARC_CUDA_VERSION = the driver's CUDA version; no CUDA toolkit is needed to build; the
# binaries are target/debug/vox and target/debug/examples/train_step). The torch side needs
# $PYTHON (default python3) with torch, transformers and numpy.
#
# Settings (environment; see benches/gpu_epoch.py): BACKEND (vox, cuda), DEVICE (torch, cuda),
# CLIPS (240), EPOCHS (2), BATCH (8), SAMPLES (60000), LAYERS (24), HIDDEN (1024), HEADS (16),
# FFN (4096), CONV_DIM (512), LR, WARMUP, WEIGHT_DECAY, VAL_FRACTION (0.2), SEED, TIMED_STEPS,
# PRECISIONS (torch's, "tf32 bf16"; empty: no torch run), VOX_PRECISIONS ("f32 bf16"), VOX_BIN
# (the vox binary's name in BIN, default vox: e.g. `vox-fusion`, built with `--features
# cuda-fusion`, in a second call with PRECISIONS="" to compare burn's fusion with the plain
# build), timeouts DATA_TIMEOUT (60 s), VOX_TIMEOUT (140 s each), TORCH_TIMEOUT (80 s each),
# STEP_TIMEOUT (40 s each): at most 580 s in all, so give the call 600 s. WORK
# (/tmp/gpu-epoch-work) holds the cache and checkpoints (GBs at XLSR's size: keep it out of
# OUT). A tiny check on a CPU (vox on flex, torch on the CPU):
#   BACKEND=flex DEVICE=cpu CLIPS=30 SAMPLES=16000 BATCH=4 LAYERS=2 HIDDEN=64 HEADS=2 FFN=128 \
#     CONV_DIM=32 BIN=/work/target-gpu-epoch/debug PYTHON=/work/pyenv/bin/python benches/gpu-epoch.sh
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$(cd "${BIN:-$ROOT/.gpu}" && pwd)"
OUT="${OUT:-/tmp/gpu-epoch}"
WORK="${WORK:-/tmp/gpu-epoch-work}"
PYTHON="${PYTHON:-python3}"
export BACKEND="${BACKEND:-cuda}" DEVICE="${DEVICE:-cuda}" WORK
PIPE="$ROOT/benches/pipelines/gpu-epoch.toml"
HELPER="$ROOT/benches/gpu_epoch.py"
mkdir -p "$OUT" "$WORK"
OUT="$(cd "$OUT" && pwd)" WORK="$(cd "$WORK" && pwd)"
rm -rf "$OUT"/vox "$OUT"/vox-bf16 "$OUT"/vox-data "$OUT"/vox-step "$OUT"/vox-step-bf16 "$OUT"/torch-tf32 "$OUT"/torch-bf16 \
  "$WORK"/cache "$WORK"/runs "$WORK"/torch-*
start=$(date +%s)

# cubecl compiles its kernels at run time with NVRTC: put a libnvrtc on the library path.
[[ "$BACKEND" == cuda ]] && source "$ROOT/benches/nvrtc-path.sh"

gpu="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
"$PYTHON" - "$OUT/machine.json" <<EOF
import json, sys
json.dump({"date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
           "commit": "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- 2>/dev/null || echo '+dirty')",
           "gpu": """${gpu:-no GPU (nvidia-smi absent)}""", "gpu_name": """$(echo "${gpu:-cpu}" | cut -d, -f1)""",
           "cpus": $(nproc), "vox": """$("$BIN/${VOX_BIN:-vox}" --version 2>&1 | head -1) (${VOX_BIN:-vox})""", "work": "$WORK",
           "nvrtc": """$(ls $(echo "${LD_LIBRARY_PATH:-}" | tr : " ") 2>/dev/null | grep -m1 libnvrtc.so)"""},
          open(sys.argv[1], "w"), indent=1)
EOF

mapfile -t ARGS < <("$PYTHON" "$HELPER" args)
VOX=("$BIN/${VOX_BIN:-vox}" --cache-dir "$WORK/cache" --runs-dir "$WORK/runs")
mkdir -p "$OUT/vox"
printf '%s\n' "$PIPE" "${ARGS[@]}" >"$OUT/vox/args.txt"
cp "$PIPE" "$OUT/vox/"

# 1. The data stages (synth -> decode -> pad -> split), untimed, so that both sides start from
#    the same cached audio set and the timed run measures the fine-tune.
echo "== data stages" >&2
"$PYTHON" "$HELPER" measure "$OUT/vox-data" "${DATA_TIMEOUT:-60}" -- \
  "${VOX[@]}" -q run "$PIPE" split "${ARGS[@]}" --json
SPLIT="$("$PYTHON" "$HELPER" split-dir "$OUT/vox-data/stdout" "$WORK/cache" 2>/dev/null)"
"$PYTHON" "$HELPER" check-wavs "$OUT/vox-data/stdout" "$WORK/cache" >"$OUT/vox-data/wav-check.txt" 2>&1

# 2. The whole `vox run` (timed; `-v` stamps every log line with the seconds since start), once
#    per precision of the fine-tune (`precision = "bf16"`: mixed precision, in OUT/vox-bf16).
for precision in ${VOX_PRECISIONS:-f32 bf16}; do
  dir="$OUT/vox"; [[ "$precision" == f32 ]] || dir="$OUT/vox-$precision"
  mkdir -p "$dir"
  echo "== vox run ($BACKEND, $precision)" >&2
  RUST_LOG="${RUST_LOG:-info}" "$PYTHON" "$HELPER" measure "$dir" "${VOX_TIMEOUT:-140}" -- \
    "${VOX[@]}" -v run "$PIPE" "${ARGS[@]}" --set "w2v.precision=$precision" --json
  tail -3 "$dir/stderr" >&2
done

# 3. The PyTorch peer, each precision in its own process.
for precision in ${PRECISIONS-tf32 bf16}; do
  echo "== torch $precision ($DEVICE)" >&2
  if [[ -z "$SPLIT" || ! -d "$SPLIT" ]]; then
    mkdir -p "$OUT/torch-$precision"
    echo "no split stage output (see $OUT/vox-data/stderr)" >"$OUT/torch-$precision/skipped.txt"
    continue
  fi
  "$PYTHON" "$HELPER" measure "$OUT/torch-$precision" "${TORCH_TIMEOUT:-80}" -- \
    "$PYTHON" "$HELPER" torch "$OUT/torch-$precision" "$precision" "$SPLIT"
  tail -2 "$OUT/torch-$precision/stderr" >&2
done

# 4. vox's step split, from the train_step example (when BIN has it): XLSR's layout at LAYERS.
if [[ -x "$BIN/train_step" ]]; then
  for precision in ${VOX_PRECISIONS:-f32 bf16}; do
    dir="$OUT/vox-step"; [[ "$precision" == f32 ]] || dir="$OUT/vox-step-$precision"
    echo "== vox train_step example ($precision)" >&2
    "$PYTHON" "$HELPER" measure "$dir" "${STEP_TIMEOUT:-40}" -- \
      "$BIN/train_step" large "$BACKEND" "${LAYERS:-24}" "${BATCH:-8}" "${SAMPLES:-60000}" \
      "${STEP_STEPS:-5}" feature-encoder "$precision"
  done
fi

"$PYTHON" "$HELPER" summary "$OUT"
echo "whole script: $(( $(date +%s) - start )) s; summary in $OUT/summary.md" >&2
rm -rf "$WORK"/torch-*
