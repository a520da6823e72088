#!/usr/bin/env bash
# The benchmark of issue 3: vox against peers, as ratios measured in ONE run on ONE machine.
#   1. no-op rerun latency: `vox run` of a cached pipeline vs `dvc repro` of an up-to-date
#      equivalent dvc.yaml (480- and 1440-file synth -> decode -> pad -> split pipelines);
#   2. decode + resample + pad throughput: vox `decode` + `pad` (--jobs 1 and default) vs
#      librosa.load(sr=16000) + numpy pad/crop, single process; and, as an additional row, vox's
#      decode/pad functions in memory (stages/audio/examples/decode_throughput.rs) with the
#      time of each phase against librosa's (soundfile read, soxr_hq resample, pad).
# Writes BENCHMARKS.md at the repository root (results, exact commands, machine facts, date,
# a perf/strace profile) with the hand-written benches/ANALYSIS.md appended.
#
# Usage: benches/runner.sh            (about 8-10 minutes on 2 cores; needs ~7 GB in $TMPDIR)
# Env:   RUNS=20 (no-op runs per side), ROUNDS=3 (throughput rounds), PROFILE=1 (perf/strace
#        section), KEEP_WORK=1 (keep the temp dir), TMPDIR.
# Tools: hyperfine (apt-get install hyperfine when missing, as root), dvc and librosa in the
#        git-ignored venv benches/.venv (created with pip on first use), /usr/bin/time; perf and
#        strace optional.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/benches"
RUNS="${RUNS:-20}"
ROUNDS="${ROUNDS:-3}"
PROFILE="${PROFILE:-1}"
SIZES=(480 1440)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vox-bench.XXXXXX")"
RES="$WORK/results"
mkdir -p "$RES"
cleanup() { [[ -n "${KEEP_WORK:-}" ]] || rm -rf "$WORK"; }
trap cleanup EXIT

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
# Appends a command to the "Exact commands" list (the temp dir shown as $WORK, the repository
# root as $REPO).
note() { printf '%s\n' "$*" | sed -e "s#$WORK#\$WORK#g" -e "s#$ROOT#\$REPO#g" >>"$RES/commands.txt"; }
# Runs a command and records it.
run() { note "$*"; "$@"; }
# Seconds since the epoch, with nanoseconds; seconds elapsed since $1.
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f\n", b - a }'; }
# The seconds field of stage $2 in the `vox run --json` document $1.
stage_s() { "$PY" -c "import json,sys; print(next(s['seconds'] for s in json.load(open(sys.argv[1]))['stages'] if s['name']==sys.argv[2]))" "$1" "$2"; }

# --- Tools -----------------------------------------------------------------------------------
if ! command -v hyperfine >/dev/null; then
  log "installing hyperfine (Debian package)"
  apt-get install -y hyperfine >/dev/null
fi
VENV="$BENCH/.venv"
if ! "$VENV/bin/python" -c 'import librosa, dvc' 2>/dev/null; then
  log "creating $VENV with dvc and librosa (pip)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q dvc librosa
fi
PY="$VENV/bin/python"
DVC="$VENV/bin/dvc"
HELP="$BENCH/bench.py"
# The librosa side is single-threaded; make sure no numeric library starts a pool. (Not
# exported: GNU nproc honours OMP_NUM_THREADS.)
ONE_THREAD=(env OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1)
NPROC="$(nproc)"
export DVC_NO_ANALYTICS=1

log "building vox (dev profile, the project's one profile)"
(cd "$ROOT" && cargo build --bin vox)
# The in-memory decoder benchmark: vox's decode/pad functions without the engine or the cache.
(cd "$ROOT" && cargo build -p vox-audio --example decode_throughput)
# A private copy: a rebuild of target/debug/vox during the run must not change what is measured.
cp "$ROOT/target/debug/vox" "$WORK/vox"
cp "$ROOT/target/debug/examples/decode_throughput" "$WORK/decode_throughput"
VOX="$WORK/vox"
INMEM="$WORK/decode_throughput"
note "# \$REPO = the repository root, \$WORK = mktemp -d"
note "cd \$REPO && cargo build --bin vox && cp target/debug/vox \$WORK/vox"
note "cargo build -p vox-audio --example decode_throughput && cp target/debug/examples/decode_throughput \$WORK/"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- 1. No-op reruns -----------------------------------------------------------------------
declare -A FILL DVC_FIRST
for n in "${SIZES[@]}"; do
  pipeline="$BENCH/pipelines/noop-$n.toml"
  cache="$WORK/vox-$n/cache" runs="$WORK/vox-$n/runs"
  vox_args=(run "$pipeline" --cache-dir "$cache" --runs-dir "$runs")

  log "vox: filling the cache of noop-$n.toml"
  note "# no-op, $n files: fill the cache, check the rerun is a no-op, time reruns"
  t0="$(now)"
  run "$VOX" "${vox_args[@]}" --json >"$RES/fill-$n.json"
  FILL[$n]="$(since "$t0")"
  run "$VOX" "${vox_args[@]}" --json >"$RES/noop-$n.json"
  "$PY" "$HELP" check-run "$RES/noop-$n.json" data=cached audio=cached padded=cached split=cached

  log "vox: $RUNS no-op reruns of noop-$n.toml"
  note "hyperfine -N --style basic --warmup 3 --runs $RUNS --export-json $RES/vox-noop-$n.json \"$VOX ${vox_args[*]} -q\""
  hyperfine -N --style basic --warmup 3 --runs "$RUNS" --export-json "$RES/vox-noop-$n.json" \
    "$VOX ${vox_args[*]} -q"

  # The dvc twin: the same four stages, each copying the files vox's stage wrote.
  repo="$WORK/dvc-$n"
  mkdir -p "$repo"
  {
    echo "stages:"
    prev=""
    for stage in data audio padded split; do
      src="$("$PY" "$HELP" out-dir "$RES/fill-$n.json" "$cache" "$stage")"
      echo "  $stage:"
      echo "    cmd: cp -r $src $stage"
      [[ -n "$prev" ]] && echo "    deps: [$prev]"
      echo "    outs: [$stage]"
      prev="$stage"
    done
  } >"$repo/dvc.yaml"
  note "# dvc twin of noop-$n.toml (\$WORK/dvc-$n/dvc.yaml):"
  note "$(sed 's/^/#   /' "$repo/dvc.yaml")"
  log "dvc: first repro of the $n-file twin"
  (
    cd "$repo"
    note "cd \$WORK/dvc-$n"
    run "$DVC" init --no-scm -q
    run "$DVC" config core.analytics false
    run "$DVC" config core.check_update false
    t0="$(now)"
    run "$DVC" repro -q
    since "$t0" >"$RES/dvc-first-$n.txt"
    "$DVC" status | tee "$RES/dvc-status-$n.txt" | grep -q "up to date"
    log "dvc: $RUNS no-op reruns of the $n-file twin"
    note "hyperfine -N --style basic --warmup 2 --runs $RUNS --export-json $RES/dvc-noop-$n.json \"$DVC repro\""
    hyperfine -N --style basic --warmup 2 --runs "$RUNS" --export-json "$RES/dvc-noop-$n.json" \
      "$DVC repro"
  )
  DVC_FIRST[$n]="$(cat "$RES/dvc-first-$n.txt")"
  (cd "$repo" && "$DVC" repro) >"$RES/dvc-noop-$n.txt" 2>&1
  grep -q "Data and pipelines are up to date" "$RES/dvc-noop-$n.txt" \
    || { echo "dvc repro of the $n-file twin was not a no-op" >&2; exit 1; }
  # The dvc outputs are not needed any more: free the disk for the next size.
  rm -rf "$repo"
done

# --- 2. Decode + resample + pad throughput -------------------------------------------------
n=1440
pipeline="$BENCH/pipelines/noop-$n.toml"
cache="$WORK/vox-$n/cache" runs="$WORK/vox-$n/runs"
data_dir="$("$PY" "$HELP" out-dir "$RES/fill-$n.json" "$cache" data)"
find "$data_dir" -name '*.wav' | sort >"$WORK/wavs.txt"
[[ "$(wc -l <"$WORK/wavs.txt")" == "$n" ]]
cat $(cat "$WORK/wavs.txt") >/dev/null   # both sides read the WAVs from the page cache
note "# throughput, $n files, $ROUNDS interleaved rounds (\$WORK/wavs.txt = the synth entry's WAVs)"
rounds_json="$RES/throughput.json"
echo "{\"files\": $n, \"rounds\": [" >"$rounds_json"
for round in $(seq "$ROUNDS"); do
  entries=()
  for side in vox1 voxd; do
    jobs=()
    [[ "$side" == vox1 ]] && jobs=(--jobs 1)
    log "throughput round $round: vox ${jobs[*]:-(default jobs)}"
    args=(run "$pipeline" --cache-dir "$cache" --runs-dir "$runs" --force audio --force padded "${jobs[@]}" --json)
    [[ "$round" == 1 ]] && note "/usr/bin/time -f '%e %U %S' $VOX ${args[*]}"
    /usr/bin/time -f '%e %U %S' -o "$WORK/time.txt" "$VOX" "${args[@]}" >"$RES/force-$side-$round.json"
    # Early cutoff: the recomputed audio is byte-identical, so `split` stays cached.
    "$PY" "$HELP" check-run "$RES/force-$side-$round.json" data=cached audio=ran padded=ran split=cached
    read -r wall user sys <"$WORK/time.txt"
    entries+=("\"${side}_wall\": $wall, \"${side}_cpu\": $(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')"
      "\"${side}_audio\": $(stage_s "$RES/force-$side-$round.json" audio)"
      "\"${side}_padded\": $(stage_s "$RES/force-$side-$round.json" padded)")
  done
  log "throughput round $round: librosa"
  [[ "$round" == 1 ]] && note "OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \$REPO/benches/.venv/bin/python \$REPO/benches/bench.py librosa \$WORK/wavs.txt 16000 60000"
  "${ONE_THREAD[@]}" "$PY" "$HELP" librosa "$WORK/wavs.txt" 16000 60000 >"$RES/librosa-$round.json"
  lib="$(cat "$RES/librosa-$round.json")"
  entries+=("$("$PY" -c "import json,sys; d=json.loads(sys.argv[1]); print(f'\"librosa_wall\": {d[\"loop_wall_s\"]}, \"librosa_cpu\": {d[\"loop_cpu_s\"]}, \"librosa_import\": {d[\"import_s\"]}, ' + ', '.join(f'\"librosa_{k}\": {d[k]}' for k in ('read_s', 'resample_s', 'pad_s')))" "$lib")")
  log "throughput round $round: vox in memory (decode_throughput example)"
  mkdir -p "$WORK/inmem"
  [[ "$round" == 1 ]] && note "\$WORK/decode_throughput \$WORK/wavs.txt 16000 60000 \$WORK/inmem"
  "$INMEM" "$WORK/wavs.txt" 16000 60000 "$WORK/inmem" >"$RES/inmem-$round.json"
  rm -rf "$WORK/inmem"
  entries+=("$("$PY" -c "import json,sys; d=json.loads(sys.argv[1]); print(f'\"inmem_wall\": {d[\"loop_wall_s\"]}, \"inmem_cpu\": {d[\"loop_cpu_s\"]}, ' + ', '.join(f'\"inmem_{k}\": {d[k]}' for k in ('read_s', 'resample_s', 'pad_s', 'encode_write_s', 'hash_s')))" "$(cat "$RES/inmem-$round.json")")")
  sep=","; [[ "$round" == "$ROUNDS" ]] && sep=""
  (IFS=,; echo "{${entries[*]}}$sep") >>"$rounds_json"
done
echo "]}" >>"$rounds_json"

padded_dir="$("$PY" "$HELP" out-dir "$RES/fill-$n.json" "$cache" padded)"
"${ONE_THREAD[@]}" "$PY" "$HELP" compare "$WORK/wavs.txt" "$padded_dir/manifest.csv" "$padded_dir/audio.f32" 16000 60000 24 \
  >"$RES/compare.json"

# --- Where the time goes -------------------------------------------------------------------
if [[ "$PROFILE" == 1 ]]; then
  log "profiling (perf/strace)"
  noop_cmd=("$VOX" run "$pipeline" --cache-dir "$cache" --runs-dir "$runs" -q)
  {
    if command -v strace >/dev/null; then
      # Two passes: tracing only fsync and rename keeps strace's overhead off the other calls.
      ten_runs=(bash -c 'for i in 1 2 3 4 5 6 7 8 9 10; do "$@" >/dev/null; done' _ "${noop_cmd[@]}")
      strace -f -w -c --seccomp-bpf -e trace=fsync,rename -o "$WORK/strace-sync.txt" "${ten_runs[@]}"
      strace -f -c --seccomp-bpf -e trace=statx,openat,read,write,copy_file_range,mkdir,getdents64 \
        -o "$WORK/strace-count.txt" "${ten_runs[@]}"
      echo "No-op rerun of the $n-file pipeline over 10 runs: wall time inside fsync and rename"
      echo "(\`strace -f -w -c -e trace=fsync,rename\`, summed over threads), then the other"
      echo "file-system calls by count (a second pass; their times there include strace's overhead):"
      echo
      echo '```'
      sed -n '1,6p' "$WORK/strace-sync.txt"
      echo
      awk 'NR <= 2 || ($4 ~ /^[0-9]+$/ && NF >= 5)' "$WORK/strace-count.txt" | sed -n '1,10p'
      echo '```'
      echo
    fi
    if perf stat -r 10 -o "$WORK/perfstat.txt" "${noop_cmd[@]}" >/dev/null 2>&1; then
      echo "No-op rerun, \`perf stat -r 10\`: CPU time against wall time:"
      echo
      echo '```'
      grep -E 'task-clock|context-switches|elapsed' "$WORK/perfstat.txt"
      echo '```'
      echo
      if perf record -q -o "$WORK/perf.data" "$VOX" run "$pipeline" --cache-dir "$cache" --runs-dir "$runs" \
          --force audio --force padded --jobs 1 -q >/dev/null 2>&1; then
        echo "\`vox run --force audio --force padded --jobs 1\`, \`perf record\` (self time, top symbols):"
        echo
        echo '```'
        perf report -i "$WORK/perf.data" --no-children --stdio --percent-limit 1.5 2>/dev/null \
          | grep -E '^ +[0-9]' | sed -E 's/ +$//' | cut -c1-150
        echo '```'
        echo
      fi
    fi
  } >"$RES/profile.md"
fi

# --- Report --------------------------------------------------------------------------------
fs_type="$(df -T "$WORK" | awk 'NR==2 {print $2}')"
FACTS_DATE="$(date -u '+%Y-%m-%d %H:%M:%S UTC')" \
FACTS_VOX="$("$VOX" --version)" \
FACTS_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD)" \
FACTS_DIRTY="$(git -C "$ROOT" status --porcelain --untracked-files=no | wc -l)" \
FACTS_CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
FACTS_NPROC="$NPROC" \
FACTS_MEM="$(free -h | awk '/^Mem:/ {print $2}')" \
FACTS_LOAD_BEFORE="$LOAD_BEFORE" \
FACTS_LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)" \
FACTS_KERNEL="$(uname -sr)" \
FACTS_FS="$fs_type" \
FACTS_PEERS="$(hyperfine --version); dvc $("$DVC" --version); $("$PY" -c 'import librosa, soxr, numpy, soundfile, sys; print(f"librosa {librosa.__version__} (soxr {soxr.__version__}, soundfile {soundfile.__version__}, numpy {numpy.__version__}), Python {sys.version.split()[0]}")')" \
FACTS_FILL="$(for n in "${SIZES[@]}"; do printf '"%s": %s,' "$n" "${FILL[$n]}"; done)" \
FACTS_DVC_FIRST="$(for n in "${SIZES[@]}"; do printf '"%s": %s,' "$n" "${DVC_FIRST[$n]}"; done)" \
FACTS_SIZES="${SIZES[*]}" \
"$PY" - "$RES" <<'EOF'
import json, os, sys
e = lambda k: os.environ["FACTS_" + k]
facts = {
    "date": e("DATE"), "vox_version": e("VOX"), "commit": e("COMMIT"), "dirty": e("DIRTY") != "0",
    "cpu": e("CPU"), "nproc": int(e("NPROC")), "mem": e("MEM"), "load_before": e("LOAD_BEFORE"),
    "load_after": e("LOAD_AFTER"), "kernel": e("KERNEL"), "fs": e("FS"), "peers": e("PEERS"),
    "fill": json.loads("{" + e("FILL").rstrip(",") + "}"),
    "dvc_first": json.loads("{" + e("DVC_FIRST").rstrip(",") + "}"),
    "sizes": [int(s) for s in e("SIZES").split()],
    "compare": json.load(open(os.path.join(sys.argv[1], "compare.json"))),
}
json.dump(facts, open(os.path.join(sys.argv[1], "facts.json"), "w"), indent=1)
EOF
# Keep the raw results (git-ignored) so that the report can be regenerated after editing
# benches/ANALYSIS.md: benches/.venv/bin/python benches/bench.py report benches/.results BENCHMARKS.md
rm -rf "$BENCH/.results"
cp -r "$RES" "$BENCH/.results"
"$PY" "$HELP" report "$RES" "$ROOT/BENCHMARKS.md"
log "wrote $ROOT/BENCHMARKS.md"
