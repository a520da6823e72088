#!/usr/bin/env bash
# The benchmark of issue 4: vox's classic path against its peers, as ratios measured in ONE run
# on ONE machine, vox and peer interleaved in pairs (order alternating):
#   1. eGeMAPSv02 functionals throughput, single-threaded: vox's native extractor
#      (stages/features/examples/egemaps_speed.rs) vs openSMILE's Python package, on the same
#      vox-features fixture clips;
#   2. RandomForest fit time (200 trees, sqrt features, balanced), 1 and 2 threads: vox-classic's
#      forest (stages/classic/examples/fit_time.rs) vs scikit-learn's RandomForestClassifier
#      (stages/classic/scripts/make_fixtures.py --bench), on the same 1440 x 88 feature table.
# Writes BENCHMARKS-classic.md at the repository root.
#
# Usage: benches/classic.sh        (about 3-5 minutes on 2 busy cores, builds included)
# Env:   PAIRS=3 (interleaved vox/peer pairs per measurement), FIT_REPEATS=2 (timed fits per forest run, after a warm-up), KEEP_WORK=1, TMPDIR.
# Tools: opensmile and scikit-learn in the git-ignored venv benches/.venv (installed with pip
#        when missing); cargo builds into /work/target-features and /work/target-classic unless
#        FEATURES_TARGET / CLASSIC_TARGET say otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/benches"
PAIRS="${PAIRS:-3}"
# Passes per eGeMAPS run: egemaps_speed.rs does 3, so the peer does too.
EG_ROUNDS=3
FIT_REPEATS="${FIT_REPEATS:-2}"
FEATURES_TARGET="${FEATURES_TARGET:-/work/target-features}"
CLASSIC_TARGET="${CLASSIC_TARGET:-/work/target-classic}"
FIXTURES="$ROOT/stages/features/tests/fixtures"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vox-classic-bench.XXXXXX")"
RES="$WORK/results"
mkdir -p "$RES"
cleanup() { [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"; }
trap cleanup EXIT

# Before the export below: GNU nproc honours OMP_NUM_THREADS.
NPROC="$(nproc)"
# Single-threaded numeric libraries on the Python side (the forest's threads are its n_jobs).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
# Appends a command to the "Exact commands" list ($WORK and $REPO stand for the temp dir and root).
note() { printf '%s\n' "$*" | sed -e "s#$WORK#\$WORK#g" -e "s#$ROOT#\$REPO#g" >>"$RES/commands.txt"; }

# --- tools -------------------------------------------------------------------------------------
VENV="$BENCH/.venv"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
if ! "$PY" -c "import opensmile, sklearn, soundfile" 2>/dev/null; then
  log "installing opensmile and scikit-learn into $VENV"
  "$VENV/bin/pip" install --quiet opensmile scikit-learn soundfile
fi
HELPER=("$PY" "$BENCH/classic.py")

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- builds (the workspace's dev profile: opt-level 3 for both crates) -------------------------
cd "$ROOT"
log "building the examples"
note "# builds (dev profile, opt-level 3 for vox-features and vox-classic; OMP/OPENBLAS/MKL_NUM_THREADS=1 for all commands)"
note "CARGO_TARGET_DIR=$FEATURES_TARGET cargo build -p vox-features --example egemaps_speed"
CARGO_TARGET_DIR="$FEATURES_TARGET" cargo build --quiet -p vox-features --example egemaps_speed
note "CARGO_TARGET_DIR=$CLASSIC_TARGET cargo build -p vox-classic --example fit_time"
CARGO_TARGET_DIR="$CLASSIC_TARGET" cargo build --quiet -p vox-classic --example fit_time
EG_BIN="$FEATURES_TARGET/debug/examples/egemaps_speed"
FIT_BIN="$CLASSIC_TARGET/debug/examples/fit_time"

# --- 1. eGeMAPS throughput ---------------------------------------------------------------------
note "# eGeMAPS pairs (x$PAIRS, order alternating); egemaps_speed does 3 passes and reads the fixtures of vox-features"
note "$EG_BIN"
note "$PY benches/classic.py opensmile $FIXTURES $EG_ROUNDS"
vox_egemaps() { "$EG_BIN" >"$WORK/eg.log" && "${HELPER[@]}" parse-egemaps "$WORK/eg.log"; }
peer_egemaps() { "${HELPER[@]}" opensmile "$FIXTURES" "$EG_ROUNDS"; }
for i in $(seq 1 "$PAIRS"); do
  if ((i % 2)); then
    v="$(vox_egemaps)"; p="$(peer_egemaps)"
  else
    p="$(peer_egemaps)"; v="$(vox_egemaps)"
  fi
  printf '{"vox": %s, "opensmile": %s}\n' "$v" "$p" >"$RES/egemaps-pair-$i.json"
  log "eGeMAPS pair $i: vox $v; openSMILE $p"
done

# --- 2. forest fit time ------------------------------------------------------------------------
CSV="$WORK/classic-bench.csv"
note "# forest pairs (x$PAIRS, order alternating); make_fixtures.py --bench (re)writes the same seeded 1440 x 88 CSV each time"
note "$PY stages/classic/scripts/make_fixtures.py --bench $CSV --repeats $FIT_REPEATS"
note "$FIT_BIN $CSV --repeats $FIT_REPEATS"
peer_fit() {
  "$PY" stages/classic/scripts/make_fixtures.py --bench "$CSV" --repeats "$FIT_REPEATS" >"$WORK/sk.log" &&
    "${HELPER[@]}" parse-fit "$WORK/sk.log"
}
vox_fit() { "$FIT_BIN" "$CSV" --repeats "$FIT_REPEATS" >"$WORK/fit.log" && "${HELPER[@]}" parse-fit "$WORK/fit.log"; }
for i in $(seq 1 "$PAIRS"); do
  # The CSV must exist before vox's first run: sklearn goes first on odd pairs, from pair 1.
  if ((i % 2)); then
    s="$(peer_fit)"; v="$(vox_fit)"
  else
    v="$(vox_fit)"; s="$(peer_fit)"
  fi
  printf '{"vox": %s, "sklearn": %s}\n' "$v" "$s" >"$RES/forest-pair-$i.json"
  log "forest pair $i: vox $v; sklearn $s"
done

# --- facts and report --------------------------------------------------------------------------
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$RES/facts.json" <<EOF
import json, platform, sys, importlib.metadata as md
json.dump({
    "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
    "nproc": "$NPROC",
    "cpu": "$(lscpu | sed -n 's/^Model name: *//p' | head -1)",
    "kernel": "$(uname -sr)",
    "rustc": "$(rustc --version)",
    "python": platform.python_version(),
    "opensmile": md.version("opensmile"),
    "sklearn": md.version("scikit-learn"),
    "numpy": md.version("numpy"),
    "commit": "$(git -C "$ROOT" rev-parse --short HEAD)",
    "load_before": "$LOAD_BEFORE",
    "load_after": "$LOAD_AFTER",
    "egemaps_rounds": $EG_ROUNDS,
    "forest_repeats": $FIT_REPEATS,
}, open(sys.argv[1], "w"), indent=1)
EOF
note "# report"
note "$PY benches/classic.py report \$WORK/results BENCHMARKS-classic.md"
"${HELPER[@]}" report "$RES" "$ROOT/BENCHMARKS-classic.md"
log "wrote $ROOT/BENCHMARKS-classic.md"
