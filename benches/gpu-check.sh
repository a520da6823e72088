#!/usr/bin/env bash
# Checks for a GPU machine (it also has many cores). The cuda backend (issue 5): parity with
# transformers, the demo's fine-tune on cuda beside flex, forward+backward step time against
# PyTorch on the same GPU. Decode + resample + pad of 1440 files on all cores against librosa in
# one process (issue 3's throughput comparison on a machine with more than 2 cores).
#
# Run on a CUDA machine from the repository root, with binaries built by `--features cuda`:
#   BIN=.gpu OUT=/tmp/gpu benches/gpu-check.sh
# where BIN holds `vox`, `model` (the vox-wav2vec2 test binary), optionally `cube` (its cube
# kernels' test binary) and `train_step` (its example),
# e.g. built elsewhere with
#   CUDARC_CUDA_VERSION=13000 cargo build --features cuda --bin vox
#   CUDARC_CUDA_VERSION=13000 cargo test -p vox-wav2vec2 --features cuda --no-run
#   CUDARC_CUDA_VERSION=13000 cargo build -p vox-wav2vec2 --features cuda --example train_step
# (CUDARC_CUDA_VERSION = the driver's CUDA version; no CUDA toolkit is needed to build). The
# torch side needs python3 with torch and transformers. Writes logs and a summary into OUT.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$(cd "${BIN:-$ROOT/.gpu}" && pwd)"
OUT="${OUT:-/tmp/gpu-check}"
mkdir -p "$OUT"
SUMMARY="$OUT/summary.md"
SECTIONS=" ${SECTIONS:-1 2 3 4} "
want() { [[ "$SECTIONS" == *" $1 "* ]]; }
say() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
: >"$SUMMARY"

# The test binary finds its fixtures at the path it was built in.
BUILT_IN="$(grep -a -m1 -o '/[[:alnum:]/_.-]*/stages/wav2vec2' "$BIN/model" | head -1 || true)"
BUILT_ROOT="${BUILT_IN%/stages/wav2vec2}"
if [[ -n "$BUILT_ROOT" && ! -e "$BUILT_ROOT" ]]; then
  mkdir -p "$(dirname "$BUILT_ROOT")"
  ln -sfn "$ROOT" "$BUILT_ROOT"
fi

# cubecl compiles its kernels at run time with NVRTC: put a libnvrtc on the library path.
source "$ROOT/benches/nvrtc-path.sh"

say "# GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
say ""
say "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader)"
say "- CPU: $(nproc) cores; torch: $(python3 -c 'import torch, transformers; print(torch.__version__, "/ transformers", transformers.__version__)' 2>&1 | tail -1)"
say "- nvrtc: $(ls $(echo "${LD_LIBRARY_PATH:-}" | tr : " ") 2>/dev/null | grep -m1 libnvrtc.so) (LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-})"
say ""

if want 1; then
# 1. Parity: the transformers fixtures on cuda (max abs diff <= 1e-4, as on the CPU backends).
say "## 1. Parity with transformers on cuda"
timeout 180 "$BIN/model" --ignored cuda --test-threads 1 --nocapture >"$OUT/parity.log" 2>&1
say "exit $?: $(grep -E '^test result' "$OUT/parity.log")"
grep -E '^cuda |differs|panicked' "$OUT/parity.log" | head -20 | sed 's/^/- /' | tee -a "$SUMMARY"
# vox's cube kernels (src/kernels/cube.rs) on cuda against flex's and transformers', when
# BIN has the `cube` test binary (benches/gpu-build.sh builds it with --features cuda).
if [[ -x "$BIN/cube" ]]; then
  timeout 180 "$BIN/cube" --test-threads 1 --nocapture >"$OUT/cube.log" 2>&1
  say "cube kernels on cuda: exit $?: $(grep -E '^test result' "$OUT/cube.log")"
  grep -E 'max \||parity|losses|squared sums|panicked' "$OUT/cube.log" | head -30 | sed 's/^/- /' | tee -a "$SUMMARY"
fi
say ""
fi

if want 2; then
# 2. The demo pipeline with its fine-tune on cuda (fresh cache: every stage runs).
say "## 2. demo.toml with \`--set w2v.backend=cuda\`"
export VOX_CACHE_DIR="$OUT/cache" VOX_RUNS_DIR="$OUT/runs"
start=$(date +%s.%N)
timeout 300 "$BIN/vox" -q run pipelines/demo.toml --set w2v.backend=cuda --json \
  >"$OUT/demo-cuda.json" 2>"$OUT/demo-cuda.log"
code=$?
python3 - "$OUT/demo-cuda.json" "$code" "$start" <<'EOF' | tee -a "$SUMMARY"
import csv, json, sys, time
path, code, start = sys.argv[1], sys.argv[2], float(sys.argv[3])
try:
    doc = json.load(open(path))
except Exception as e:
    print(f"- exit {code}, no JSON ({e})"); sys.exit()
for s in doc["stages"]:
    print(f"- {s['name']}: {s['status']} in {s['seconds']:.1f} s")
rows = list(csv.DictReader(open(f"{doc['run_dir']}/report/summary.csv")))
for r in rows:
    print(f"- val macro-F1 of {r['input']}: {r['macro_f1']}")
print(f"- exit {code}; whole command {time.time() - start:.0f} s")
EOF
tail -3 "$OUT/demo-cuda.log" | tee -a "$SUMMARY"
say ""
fi

if want 3; then
# 3. Decode + resample + pad throughput on every core: the 1440-file pipeline of
#    benches/runner.sh against librosa.load(sr=16000) + pad in one single-threaded process,
#    same WAVs, page cache warm, ROUNDS rounds (default 3), each side once per round. vox is
#    timed as a whole command in two ways: `--force audio --force padded` (recomputes both
#    entries, then deletes the replaced ones before exiting), and "first" (both entries
#    removed beforehand, untimed, as a first decode of the corpus finds them), at the default
#    jobs (= cores); plus a forced run at --jobs 1. librosa comes from wheels in WHEELS
#    (default .whl) when that folder exists.
say ""
say "## 3. Decode + resample + pad, 1440 files (48 kHz -> 16 kHz, 60000 samples), $(nproc) cores"
WHEELS="${WHEELS:-$ROOT/.whl}"
if [[ -d "$WHEELS" ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl >"$OUT/pip.log" 2>&1
  export PYTHONPATH=/tmp/site
fi
DEC="$OUT/decode"
mkdir -p "$DEC"
: >"$DEC/results.txt"
vox_dec=("$BIN/vox" run "$ROOT/benches/pipelines/noop-1440.toml" --cache-dir "$DEC/cache"
  --runs-dir "$DEC/runs" --json)
"${vox_dec[@]}" >"$DEC/fill.json" 2>"$DEC/fill.log"
data_dir="$(python3 "$ROOT/benches/bench.py" out-dir "$DEC/fill.json" "$DEC/cache" data)"
entry() { python3 -c 'import json, sys; k = next(s["key"] for s in json.load(open(sys.argv[1]))["stages"] if s["name"] == sys.argv[2]); print(f"{sys.argv[3]}/entries/{k[:2]}/{k}")' "$DEC/fill.json" "$1" "$DEC/cache"; }
audio_entry="$(entry audio)"; padded_entry="$(entry padded)"
find "$data_dir" -name '*.wav' | sort >"$DEC/wavs.txt"
cat $(cat "$DEC/wavs.txt") >/dev/null
# One untimed forced run, so that the rounds do not meet the fill's pending writeback.
"${vox_dec[@]}" --force audio --force padded >/dev/null 2>>"$DEC/run.log"
TIMEFORMAT='%R %U %S'
for round in $(seq "${ROUNDS:-3}"); do
  for way in forced first "forced --jobs 1"; do
    args=(--force audio --force padded)
    [[ $way == first ]] && { rm -rf "$audio_entry" "$padded_entry"; args=(); }
    [[ $way == *"--jobs 1" ]] && args+=(--jobs 1)
    { time "${vox_dec[@]}" "${args[@]}" >"$DEC/run.json" 2>>"$DEC/run.log"; } 2>"$DEC/time.txt"
    python3 "$ROOT/benches/bench.py" check-run "$DEC/run.json" audio=ran padded=ran split=cached
    read -r wall user sys <"$DEC/time.txt"
    echo "vox $way round $round: wall $wall s, cpu $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }') s" >>"$DEC/results.txt"
  done
  env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \
    python3 "$ROOT/benches/bench.py" librosa "$DEC/wavs.txt" 16000 60000 >"$DEC/librosa-$round.json" 2>>"$DEC/librosa.log"
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); w, c = d["loop_wall_s"], d["loop_cpu_s"]; print(f"librosa round {sys.argv[2]}: wall {w:.3f} s, cpu {c:.3f} s")' \
    "$DEC/librosa-$round.json" "$round" >>"$DEC/results.txt" 2>>"$DEC/librosa.log"
done
tee -a "$SUMMARY" <"$DEC/results.txt"
python3 - "$DEC/results.txt" <<'EOF' | tee -a "$SUMMARY"
import re, statistics, sys
rows = [re.match(r"(.+) round (\d+): wall ([0-9.]+)", l).groups() for l in open(sys.argv[1])]
wall = {(side, int(r)): float(w) for side, r, w in rows}
rounds = sorted({r for _, r in wall})
lib = min(wall["librosa", r] for r in rounds)
for side in ["vox forced", "vox first", "vox forced --jobs 1"]:
    best = min(wall[side, r] for r in rounds)
    paired = [wall["librosa", r] / wall[side, r] for r in rounds]
    print(f"- {side}: best {best:.3f} s, **{lib / best:.2f}x** librosa's best ({lib:.3f} s); "
          f"paired by round {', '.join(f'{p:.2f}x' for p in paired)} (median {statistics.median(paired):.2f}x)")
EOF
fi

if want 4; then
# 4. One training step (forward + backward), random weights, batch 8 x 60000 samples (the
#    reference clip), vox cuda vs PyTorch cuda (TF32 tensor-core products on both), base and XLSR-sized large.
say ""
say "## 4. Forward + backward step, batch 8 x 60000 samples"
say ""
say "| config | layers | vox cuda s/step | torch cuda s/step | vox/torch | vox fwd / bwd s | torch fwd / bwd s |"
say "|---|---|---|---|---|---|---|"
for case in "base 12" "large 24"; do
  set -- $case
  vox_json=$(timeout 150 "$BIN/train_step" "$1" cuda "$2" 8 60000 5 2>"$OUT/step-$1-vox.log" | tail -1)
  torch_json=$(timeout 120 python3 "$ROOT/benches/wav2vec2.py" torch "$1" "$2" 8 60000 5 "$(nproc)" cuda 2>"$OUT/step-$1-torch.log" | tail -1)
  python3 - "$1" "$2" "$vox_json" "$torch_json" <<'EOF' | tee -a "$SUMMARY"
import json, sys
name, layers, v, t = sys.argv[1:5]
try:
    v, t = json.loads(v), json.loads(t)
    print(f"| {name} | {layers} | {v['step_s']:.4f} | {t['step_s']:.4f} | **{v['step_s'] / t['step_s']:.2f}x** | "
          f"{v['forward_s']:.4f} / {v['backward_s']:.4f} | {t['forward_s']:.4f} / {t['backward_s']:.4f} |")
except Exception as e:
    print(f"| {name} | {layers} | failed: {e!r} (vox {v[:80]!r}, torch {t[:80]!r}) | | | | |")
EOF
done
nvidia-smi --query-gpu=memory.used --format=csv,noheader >>"$OUT/nvidia-smi.txt" 2>&1
fi
