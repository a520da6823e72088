#!/usr/bin/env bash
# Silence trimming: what vox's `trim` stage (src/trim.rs in stages/audio) costs against
# librosa.effects.trim, its reference, on the same clips. Not a test: ratios from one
# interleaved run, since the CPUs may be shared. The numbers go in BENCHMARKS-codecs.md.
#
#   benches/trim.sh [ROUNDS]   (default 5 rounds; under a minute on 2 cores)
#
# Work: the decoded audio set of 240 synthetic clips (4 actors, 3.5 s, 16 kHz). Per round and
# setting: vox's own seconds for a forced `trim` (`vox run --json --jobs 1`: reading the set,
# trimming, writing and hashing the trimmed set) and one Python thread doing the same work
# with librosa (reading `audio.f32` with numpy, `librosa.effects.trim` per clip, writing the
# kept samples; librosa warmed up by one call first): the ratio vox / librosa (below 1: vox
# faster). vox's seconds also hold what the stage does beyond that: the manifest written, the
# output hashed into the cache. Settings: librosa's defaults
# (60 dB, 2048, 512) and a tighter one (30 dB, 400, 160: 25 ms frames every 10 ms). The
# script checks that both keep the same number of samples.
#
# Env: VOX (default target/debug/vox, used as built), PYTHON (default /work/pyenv/bin/python:
# numpy + librosa), TRIM_BENCH_DIR (work folder, default a new temp folder).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
ROUNDS="${1:-5}"
VOX="${VOX:-$ROOT/target/debug/vox}"
PYTHON="${PYTHON:-/work/pyenv/bin/python}"
WORK="${TRIM_BENCH_DIR:-$(mktemp -d /tmp/trim-bench.XXXXXX)}"
mkdir -p "$WORK" && cd "$WORK"
echo "work folder: $WORK; $ROUNDS rounds" >&2

SETTINGS=("60 2048 512" "30 400 160")
for s in "${SETTINGS[@]}"; do
  read -r db frame hop <<<"$s"
  cat >"trim-$db.toml" <<TOML
[pipeline]
name = "trim-$db"
[stages.data]
kind = "synth"
actors = 4
sample_rate = 16000
[stages.audio]
kind = "decode"
inputs = ["data"]
[stages.trimmed]
kind = "trim"
inputs = ["audio"]
top_db = $db
frame_length = $frame
hop_length = $hop
TOML
  "$VOX" run "trim-$db.toml" -q >/dev/null
done
cat >peer.py <<'PY'
import csv, sys, time
import librosa
import numpy as np
folder, top_db, frame, hop, out = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
# librosa's first call loads and compiles its lazily imported parts (about 1.7 s here): once,
# outside the timing, so that the ratio compares the trimming, not a start-up.
librosa.effects.trim(np.ones(4 * frame, dtype=np.float32), top_db=top_db, frame_length=frame, hop_length=hop)
start = time.perf_counter()
samples = np.fromfile(folder + "/audio.f32", dtype="<f4")
kept = []
with open(folder + "/manifest.csv") as f:
    for row in csv.DictReader(f):
        offset, length = int(row["offset"]), int(row["length"])
        y, _ = librosa.effects.trim(samples[offset:offset + length], top_db=top_db, frame_length=frame, hop_length=hop)
        kept.append(y)
np.concatenate(kept).tofile(out)
print(time.perf_counter() - start, sum(len(k) for k in kept))
PY
seconds() { "$PYTHON" -c "import json, sys; d = json.load(sys.stdin); print([s['seconds'] for s in d['stages'] if s['name'] == sys.argv[1]][0])" "$1"; }
key() { "$VOX" run "$1" --json -q | "$PYTHON" -c "import json, sys; d = json.load(sys.stdin); print([s['key'] for s in d['stages'] if s['name'] == sys.argv[1]][0])" "$2"; }
echo "round,top_db,frame,hop,clips,vox_s,librosa_s,vox_samples,librosa_samples"
for r in $(seq 1 "$ROUNDS"); do
  for s in "${SETTINGS[@]}"; do
    read -r db frame hop <<<"$s"
    vox_s=$("$VOX" run "trim-$db.toml" --force trimmed --jobs 1 --json -q | seconds trimmed)
    audio=$(key "trim-$db.toml" audio)
    trimmed=$(key "trim-$db.toml" trimmed)
    read -r peer_s peer_samples < <("$PYTHON" peer.py "cache/entries/${audio:0:2}/$audio/out" "$db" "$frame" "$hop" peer.f32)
    vox_samples=$(( $(stat -c %s "cache/entries/${trimmed:0:2}/$trimmed/out/audio.f32") / 4 ))
    clips=$(( $(wc -l <"cache/entries/${audio:0:2}/$audio/out/manifest.csv") - 1 ))
    echo "$r,$db,$frame,$hop,$clips,$vox_s,$peer_s,$vox_samples,$peer_samples"
  done
done
