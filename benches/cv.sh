#!/usr/bin/env bash
# What a cross-validation costs against one split of the same pipeline: benches/pipelines/
# cv-loso.toml (leave one speaker out: 10 folds; eGeMAPS + forest, embeddings of a tiny WavLM +
# logistic regression) run whole and as its fold 1 alone (`--set split.fold=1`), each on a
# fresh cache, the two in turn in every round, on one machine. Prints each run's wall time and
# the seconds its stages spent by kind (from `vox run --json`), then the ratio whole / one fold.
# Per-clip work (features, the model's forward pass) reads nothing of the split, so a
# cross-validation should cost it once (`vox_api::memo`); the trainings are K times one's.
#
# Usage: VOX=target/release/vox benches/cv.sh [ROUNDS]     (ROUNDS default 2; about 1 min each
#        on 2 cores)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VOX="${VOX:-$ROOT/target/release/vox}"
ROUNDS="${1:-2}"
PIPELINE="$ROOT/benches/pipelines/cv-loso.toml"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/vox-cv.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

run() { # side round
    local args=()
    [[ $1 == one ]] && args=(--set split.fold=1)
    rm -rf "$WORK/cache" "$WORK/runs"
    local start end
    start=$(date +%s.%N)
    "$VOX" --cache-dir "$WORK/cache" --runs-dir "$WORK/runs" -q run "$PIPELINE" "${args[@]}" --json >"$WORK/$1-$2.json"
    end=$(date +%s.%N)
    echo "$end - $start" | bc >"$WORK/$1-$2.wall"
}

echo "vox: $("$VOX" --version) ($VOX); $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ)"
for round in $(seq "$ROUNDS"); do
    run one "$round"
    run all "$round"
done
python3 - "$WORK" "$ROUNDS" <<'PY'
import json, sys, statistics
from collections import defaultdict
work, rounds = sys.argv[1], int(sys.argv[2])
def load(side, r):
    doc = json.load(open(f"{work}/{side}-{r}.json"))
    by_kind = defaultdict(float)
    for s in doc["stages"]:
        by_kind[s["kind"]] += s["seconds"]
    return float(open(f"{work}/{side}-{r}.wall").read()), by_kind, len(doc["stages"])
print("| round | side | stages | wall s | featurize s | ssl-states s | baseline s |")
print("|---|---|---|---|---|---|---|")
ratios = []
for r in range(1, rounds + 1):
    walls = {}
    for side in ("one", "all"):
        wall, k, n = load(side, r)
        walls[side] = wall
        print(f"| {r} | {'fold 1 alone' if side == 'one' else 'all 10 folds'} | {n} | {wall:.2f} | {k['featurize']:.2f} | {k['ssl-states']:.2f} | {k['baseline']:.2f} |")
    ratios.append(walls["all"] / walls["one"])
print(f"\nwall time, all folds / one fold, per round: {', '.join(f'{x:.2f}x' for x in ratios)} (median {statistics.median(ratios):.2f}x)")
PY
