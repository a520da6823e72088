#!/usr/bin/env bash
# SSL feature extraction, vox (`featurize` with `set = "ssl"`: its implied `emb.states` stage,
# burn flex and ndarray) vs transformers + PyTorch on the CPU. Not a test: ratios from one
# interleaved run, since the CPUs may be shared. The numbers go in BENCHMARKS-ssl.md.
#
#   benches/ssl.sh [ROUNDS] [THREADS]   (default 3 rounds, all CPUs; ~12 minutes on 2 cores)
#
# Work: 48 synthetic clips of 4 s at 16 kHz (synth -> decode -> pad, cached once), every hidden
# state of a random base-sized wav2vec2 and WavLM (`Wav2Vec2Config()` / `WavLMConfig()`
# defaults, saved by transformers), mean and std over each clip's valid frames, batch 8;
# `MODELS=whisper` (or "wav2vec2 wavlm whisper"): a random whisper-base encoder, each clip's
# log-mel over 30 s computed by each side (WhisperFeatureExtractor in the peer).
# Timed: vox's own seconds for the forced `emb.states` stage (`vox run --json`, loading the
# model, reading the audio, forward passes, pooling, writing), and the same span inside the
# Python peer (benches/ssl_peer.py: from_pretrained .. np.save, imports excluded). Each round
# runs vox flex, vox ndarray, transformers back to back per model; the ratio of a round divides
# vox's seconds by transformers' in that round (below 1: vox faster). After round 1, vox's
# pooled states are compared with transformers' (max abs difference).
#
# Env: VOX (default target/debug/vox, used as built), PYTHON (default /work/pyenv/bin/python:
# torch + transformers + safetensors), SSL_BENCH_DIR (work folder, default a new temp folder;
# models and audio in it are reused), MODELS (default "wav2vec2 wavlm"), BACKENDS (vox's, default "flex ndarray"), DEVICE (the
# peer's, default cpu). On a GPU machine, with a vox built by `--features cuda`
# (benches/gpu-build.sh):
#   BACKENDS=cuda DEVICE=cuda VOX=.gpu/vox PYTHON=python3 bash benches/ssl.sh 3
# (transformers then multiplies in TF32, as vox's cuda backend does; the clock starts after
# CUDA is up on both sides).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
ROUNDS="${1:-3}"
THREADS="${2:-$(nproc)}"
VOX="${VOX:-$ROOT/target/debug/vox}"
PYTHON="${PYTHON:-/work/pyenv/bin/python}"
WORK="${SSL_BENCH_DIR:-$(mktemp -d /tmp/ssl-bench.XXXXXX)}"
PEER="$ROOT/benches/ssl_peer.py"
read -r -a MODELS <<<"${MODELS:-wav2vec2 wavlm}"
read -r -a BACKENDS <<<"${BACKENDS:-flex ndarray}"
DEVICE="${DEVICE:-cpu}"
mkdir -p "$WORK"
echo "work folder: $WORK; $ROUNDS rounds, $THREADS threads" >&2

for family in "${MODELS[@]}"; do
    [ -f "$WORK/$family/model.safetensors" ] || "$PYTHON" "$PEER" model "$family" "$WORK/$family" 2>/dev/null
done

cat >"$WORK/p.toml" <<EOF
[pipeline]
name = "ssl-bench"
seed = 42

# 2 speakers x 6 emotions x 2 intensities x 2 statements = 48 clips of 4 s.
[stages.data]
kind = "synth"
naming = "crema-d"
actors = 2
statements = 2
repetitions = 1
duration = 4.0
sample_rate = 16000

[stages.audio]
kind = "decode"
inputs = ["data"]
corpus = "crema-d"
sample_rate = 16000

[stages.padded]
kind = "pad"
inputs = ["audio"]
length = 64000

[stages.emb]
kind = "featurize"
set = "ssl"
inputs = ["padded"]
model_path = "$WORK/${MODELS[0]}"
backend = "flex"
layers = "all"
stats = ["mean", "std"]
EOF

vox() {
    "$VOX" run "$WORK/p.toml" --cache-dir "$WORK/cache" --runs-dir "$WORK/runs" --jobs "$THREADS" --json -q "$@"
}
# The out folder of stage $2 in the run summary $1.
out_dir() {
    "$PYTHON" -c 'import json, sys
s = [s for s in json.load(open(sys.argv[1]))["stages"] if s["name"] == sys.argv[2]][0]
print(sys.argv[3] + "/entries/" + s["key"][:2] + "/" + s["key"] + "/out")' "$1" "$2" "$WORK/cache"
}
seconds() {
    "$PYTHON" -c 'import json, sys
print([s for s in json.load(open(sys.argv[1]))["stages"] if s["name"] == sys.argv[2]][0]["seconds"])' "$1" "$2"
}

vox padded >"$WORK/audio.json"
AUDIO="$(out_dir "$WORK/audio.json" padded)"

RESULTS="$WORK/results.tsv"
printf 'round\tmodel\tengine\tstage_s\tprocess_s\tforward_s\tload1\n' >"$RESULTS"
PARITY="$WORK/parity.tsv"
: >"$PARITY"
for round in $(seq 1 "$ROUNDS"); do
    for family in "${MODELS[@]}"; do
        for backend in "${BACKENDS[@]}"; do
            summary="$WORK/r$round-$family-$backend.json"
            start=$(date +%s.%N)
            vox emb.states --force emb.states --set "emb.model_path=$WORK/$family" \
                --set "emb.backend=$backend" >"$summary"
            end=$(date +%s.%N)
            s=$(seconds "$summary" emb.states)
            printf '%s\t%s\tvox-%s\t%s\t%s\t\t%s\n' "$round" "$family" "$backend" "$s" \
                "$(echo "$end - $start" | bc)" "$(cut -d' ' -f1 /proc/loadavg)" >>"$RESULTS"
            echo "round $round $family vox $backend: $s s" >&2
        done
        npy="$WORK/peer-$family.npy"
        start=$(date +%s.%N)
        line=$("$PYTHON" "$PEER" peer "$AUDIO" "$WORK/$family" "$npy" 8 "$THREADS" "$DEVICE" 2>/dev/null)
        end=$(date +%s.%N)
        s=$(echo "$line" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["seconds"])')
        f=$(echo "$line" | "$PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["forward_seconds"])')
        printf '%s\t%s\ttransformers\t%s\t%s\t%s\t%s\n' "$round" "$family" "$s" \
            "$(echo "$end - $start" | bc)" "$f" "$(cut -d' ' -f1 /proc/loadavg)" >>"$RESULTS"
        echo "round $round $family transformers: $s s (forward $f s)" >&2
        if [ "$round" = 1 ]; then
            for backend in "${BACKENDS[@]}"; do
                states="$(out_dir "$WORK/r1-$family-$backend.json" emb.states)"
                printf '%s\t%s\t%s\n' "$family" "$backend" \
                    "$("$PYTHON" "$PEER" compare "$states" "$npy")" >>"$PARITY"
            done
        fi
    done
done

# Tables: seconds per round, medians, per-round ratios vox / transformers and their median.
"$PYTHON" - "$RESULTS" "$PARITY" <<'EOF'
import csv, json, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
t = {(int(r["round"]), r["model"], r["engine"]): r for r in rows}
rounds = sorted({k[0] for k in t})
for model in dict.fromkeys(r["model"] for r in rows):
    print(f"\n### {model}\n")
    print("| engine | " + " | ".join(f"round {i} s" for i in rounds) + " | median s | ratios vox/transformers per round | median ratio |")
    print("|---|" + "---|" * (len(rounds) + 3))
    engines = list(dict.fromkeys(r["engine"] for r in rows if r["model"] == model))
    for engine in engines:
        secs = [float(t[(i, model, engine)]["stage_s"]) for i in rounds]
        if engine == "transformers":
            ratios, med = "", ""
        else:
            rs = [s / float(t[(i, model, "transformers")]["stage_s"]) for i, s in zip(rounds, secs)]
            ratios, med = ", ".join(f"{x:.2f}" for x in rs), f"**{statistics.median(rs):.2f}x**"
        print(f"| {engine} | " + " | ".join(f"{s:.1f}" for s in secs) + f" | {statistics.median(secs):.1f} | {ratios} | {med} |")
    fw = [float(t[(i, model, "transformers")]["forward_s"]) for i in rounds]
    procs = {e: statistics.median(float(t[(i, model, e)]["process_s"]) for i in rounds) for e in engines}
    print(f"\ntransformers forward passes alone: {', '.join(f'{x:.1f}' for x in fw)} s; "
          f"whole-process medians (vox: planning and hashing the model file included; python: imports included): "
          + ", ".join(f"{e} {s:.1f} s" for e, s in procs.items()))
    print("load average (1 min) after each run: " + ", ".join(f"{t[(i, model, e)]['load1']}" for i in rounds for e in engines))
print("\n### parity (round 1)\n")
for line in open(sys.argv[2]):
    model, backend, js = line.rstrip("\n").split("\t", 2)
    p = json.loads(js)
    print(f"- {model} {backend}: max |vox - transformers| over {p['clips']} clips x {p['states']} states x {p['hidden']}: "
          f"means {p['max_abs_mean']:.2e}, stds {p['max_abs_std']:.2e} (largest value {p['max_abs_value']:.2f})")
EOF
