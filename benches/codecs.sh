#!/usr/bin/env bash
# Compressed input: what decoding FLAC and MP3 (symphonia, src/compressed.rs) costs `decode`
# over the same clips as WAV, against what it costs libsndfile (libFLAC, mpg123) through
# soundfile. Not a test: ratios from one interleaved run, since the CPUs may be shared. The
# numbers go in BENCHMARKS-codecs.md.
#
#   benches/codecs.sh [ROUNDS]   (default 5 rounds; ~1 minute on 2 cores)
#
# Work: 240 synthetic clips (4 actors, 48 kHz 16-bit mono, 3.5 s: `synth` defaults), written
# again by libsndfile as 16-bit WAV, FLAC and MP3. Per round and format: vox's own seconds for
# a forced `decode` (`vox run --json --jobs 1`: reading, mixing down, resampling to 16 kHz,
# writing and hashing the audio set) and one Python thread reading every file with
# `soundfile.read(dtype="float32")` (nothing else). Within each tool everything but the
# decoding is the same for the three formats, so the *extra* seconds over WAV are the
# decoder's: the ratio vox extra / libsndfile extra compares the decoders alone (below 1: vox
# faster).
#
# Env: VOX (default target/debug/vox, used as built), PYTHON (default /work/pyenv/bin/python:
# numpy + soundfile), CODECS_BENCH_DIR (work folder, default a new temp folder).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
ROUNDS="${1:-5}"
VOX="${VOX:-$ROOT/target/debug/vox}"
PYTHON="${PYTHON:-/work/pyenv/bin/python}"
WORK="${CODECS_BENCH_DIR:-$(mktemp -d /tmp/codecs-bench.XXXXXX)}"
FORMATS=(wav flac mp3)
mkdir -p "$WORK" && cd "$WORK"
echo "work folder: $WORK; $ROUNDS rounds" >&2

cat >synth.toml <<'TOML'
[pipeline]
name = "synth"
[stages.data]
kind = "synth"
actors = 4
sample_rate = 48000
TOML
if [ ! -d corpus-mp3 ]; then
  "$VOX" run synth.toml --json >synth.json
  SRC=$("$PYTHON" -c "import json; d = json.load(open('synth.json')); print([s['key'] for s in d['stages'] if s['name'] == 'data'][0])")
  "$PYTHON" - "cache/entries/${SRC:0:2}/$SRC/out" <<'PY'
import glob, os, sys
import soundfile as sf
src = sys.argv[1]
for path in sorted(glob.glob(src + "/**/*.wav", recursive=True)):
    pcm, rate = sf.read(path, dtype="int16")
    stem = os.path.relpath(path, src)[:-4]
    for ext, kind in (("wav", dict(subtype="PCM_16")), ("flac", dict(subtype="PCM_16")), ("mp3", dict(format="MP3"))):
        out = os.path.join(f"corpus-{ext}", stem + "." + ext)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        sf.write(out, pcm if ext != "mp3" else pcm / 32768.0, rate, **kind)
PY
fi
for f in "${FORMATS[@]}"; do
  printf '[pipeline]\nname = "%s"\n[stages.data]\nkind = "download"\npath = "corpus-%s"\n[stages.audio]\nkind = "decode"\ninputs = ["data"]\n' "$f" "$f" >"$f.toml"
  "$VOX" run "$f.toml" -q >/dev/null
done
cat >peer.py <<'PY'
import glob, sys, time
import soundfile as sf
files = sorted(glob.glob(sys.argv[1] + "/**/*." + sys.argv[2], recursive=True))
start = time.perf_counter()
for f in files:
    sf.read(f, dtype="float32")
print(time.perf_counter() - start)
PY
stage_seconds() { "$PYTHON" -c "import json, sys; d = json.load(sys.stdin); print([s['seconds'] for s in d['stages'] if s['name'] == 'audio'][0])"; }
echo "round,format,files,mb,vox_s,libsndfile_s"
for r in $(seq 1 "$ROUNDS"); do
  for f in "${FORMATS[@]}"; do
    vox_s=$("$VOX" run "$f.toml" --force audio --jobs 1 --json -q | stage_seconds)
    peer_s=$("$PYTHON" peer.py "corpus-$f" "$f")
    files=$(find "corpus-$f" -name "*.$f" | wc -l)
    mb=$(du -sm "corpus-$f" | cut -f1)
    echo "$r,$f,$files,$mb,$vox_s,$peer_s"
  done
done
