#!/usr/bin/env bash
# Kernel launches of a wav2vec2 training step on a cubecl backend, counted and timed by kernel
# with cubecl's profiler: how many launches the forward, the backward and the optimizer make,
# what more encoder layers add, and which kernels take the time (issue 15: on cuda, every burn
# operation is its own launch). For each of vox's own cubecl kernels on, on but with attention
# composed from burn's operations, and off (`VOX_CUBE_KERNELS`, `VOX_CUBE_ATTENTION`;
# src/kernels/cube.rs, cube_attention.rs), runs `train_step` with LAYERS and LAYERS + MORE
# layers under CUBECL_DEBUG_OPTION=profile, then benches/cube_profile.py on the logs.
#
#   TRAIN_STEP=.gpu/train_step BACKEND=cuda OUT=$OUT bash benches/gpu-kernels.sh   # a GPU machine
#   TRAIN_STEP=target/debug/examples/train_step BACKEND=wgpu BATCH=1 SAMPLES=8000 \
#     bash benches/gpu-kernels.sh                                                # lavapipe, here
#
# (train_step built with `--features cuda`, or `--features wgpu` for Mesa's lavapipe, whose
# kernel times are a CPU's: there, count launches only.) The profiler times each launch on its
# own, so the step's own time is gpu-epoch.sh's; the tables are the kernels' device time.
# CONFIG (large), LAYERS (2), MORE (2), BATCH (8), SAMPLES (60000), FREEZE (feature-encoder),
# KERNELS ("1 composed-attention 0": vox's kernels on, then all but attention's, then none),
# PYTHON (for nvrtc's wheel, python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TRAIN_STEP="${TRAIN_STEP:-$ROOT/target/debug/examples/train_step}"
BACKEND="${BACKEND:-cuda}" CONFIG="${CONFIG:-large}" LAYERS="${LAYERS:-2}" MORE="${MORE:-2}"
BATCH="${BATCH:-8}" SAMPLES="${SAMPLES:-60000}" FREEZE="${FREEZE:-feature-encoder}"
KERNELS="${KERNELS:-1 composed-attention 0}" PYTHON="${PYTHON:-python3}"
OUT="${OUT:-/tmp/gpu-kernels}"
mkdir -p "$OUT"

# cubecl compiles its kernels at run time with NVRTC: put a libnvrtc on the library path.
[[ "$BACKEND" == cuda ]] && source "$ROOT/benches/nvrtc-path.sh"

commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || cat "$(dirname "$TRAIN_STEP")/commit" 2>/dev/null || echo '?')"
: >"$OUT/kernels.md"
for kernels in $KERNELS; do
  for layers in "$LAYERS" "$((LAYERS + MORE))"; do
    name="$CONFIG-$layers-kernels$kernels"
    rm -f "$OUT/profile-$name.log"
    cube=1 attention=1
    [[ $kernels == 0 ]] && cube=0
    [[ $kernels == composed-attention ]] && attention=0
    VOX_CUBE_KERNELS="$cube" VOX_CUBE_ATTENTION="$attention" CUBECL_DEBUG_OPTION=profile CUBECL_DEBUG_LOG="$OUT/profile-$name.log" \
      "$TRAIN_STEP" "$CONFIG" "$BACKEND" "$layers" "$BATCH" "$SAMPLES" 1 "$FREEZE" \
      >"$OUT/step-$name.json" 2>"$OUT/step-$name.err"
  done
  {
    case $kernels in
      0) which=off ;;
      composed-attention) which="on, attention composed" ;;
      *) which=on ;;
    esac
    echo "## $CONFIG on $BACKEND, vox's cube kernels $which: batch $BATCH x $SAMPLES, freeze $FREEZE"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), commit $commit; the step of $LAYERS layers, per layer from $((LAYERS + MORE))."
    echo
    python3 "$ROOT/benches/cube_profile.py" "$OUT/profile-$CONFIG-$LAYERS-kernels$kernels.log" \
      "$OUT/profile-$CONFIG-$((LAYERS + MORE))-kernels$kernels.log" "$MORE"
    echo
  } | tee -a "$OUT/kernels.md"
done
