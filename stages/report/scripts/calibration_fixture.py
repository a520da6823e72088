#!/usr/bin/env python3
"""Writes tests/fixtures/calibration.json: scikit-learn's calibration numbers for a few models'
probability rows.

The Rust tests in src/calibration.rs compare vox-report's reliability table, ECE, MCE, Brier score
and log loss against it, so that they never need Python. The reliability table is scikit-learn's
`calibration_curve` of the top-label problem (is the most probable class the true one, at that
probability?), with the same 15 uniform bins, (k/15, (k+1)/15]; ECE and MCE are Guo et al.'s
(2017) weighted mean and maximum of its bins' |accuracy - confidence|. Rerun (from stages/report)
only when adding cases:

    python3 scripts/calibration_fixture.py > tests/fixtures/calibration.json
"""

import json
import sys

import numpy as np
import sklearn
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, log_loss

BINS = 15


def case(name, y_true, proba):
    proba = np.asarray(proba, dtype=np.float64)
    y_true = np.asarray(y_true)
    k = proba.shape[1]
    predicted = proba.argmax(axis=1)  # the first on ties, as vox's argmax
    confidence = proba[np.arange(len(y_true)), predicted]
    correct = (predicted == y_true).astype(np.float64)
    accuracy, mean_confidence = calibration_curve(correct, confidence, n_bins=BINS, strategy="uniform")
    edges = np.linspace(0.0, 1.0, BINS + 1)
    # calibration_curve's own bin ids, to count each non-empty bin's clips.
    ids = np.searchsorted(edges[1:-1], confidence)
    counts = np.bincount(ids, minlength=BINS)
    nonempty = np.flatnonzero(counts)
    gaps = np.abs(accuracy - mean_confidence)
    weights = counts[nonempty] / len(y_true)
    return {
        "name": name,
        "y_true": y_true.tolist(),
        "probabilities": proba.tolist(),
        "bins": [
            {"bin": int(b), "clips": int(counts[b]), "confidence": float(c), "accuracy": float(a)}
            for b, c, a in zip(nonempty, mean_confidence, accuracy)
        ],
        "ece": float(np.sum(weights * gaps)),
        "mce": float(np.max(gaps)),
        "brier": float(brier_score_loss(y_true, proba, labels=list(range(k)))),
        "log_loss": float(log_loss(y_true, proba, labels=list(range(k)))),
    }


def main():
    rng = np.random.default_rng(5)
    cases = [
        case("hand case", [0, 1, 2, 1, 0], [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.6, 0.4, 0.0], [1.0, 0.0, 0.0]]),
    ]
    # A softmax model: Dirichlet rows sharpened towards the truth on 70% of the clips.
    n, k = 200, 8
    y = rng.integers(0, k, n)
    p = rng.dirichlet(np.full(k, 0.6), n)
    boost = rng.random(n) < 0.7
    p[boost, y[boost]] += 1.5
    p /= p.sum(axis=1, keepdims=True)
    cases.append(case("eight classes, softmax-like", y.tolist(), p))
    # A forest of 30 trees: votes / 30, so confidences fall on bin edges (0.4 = 6/15) and a true
    # class may get probability 0 (log loss clips it to machine epsilon).
    n, k, trees = 120, 4, 30
    y = rng.integers(0, k, n)
    votes = np.stack([rng.multinomial(trees, np.where(np.arange(k) == t, 0.55, 0.15)) for t in y])
    first, tied = np.arange(5), np.arange(5, 10)
    votes[:10] = 0
    votes[first, (y[first] + 1) % k] = trees  # confidently wrong: the truth at probability 0
    votes[tied, y[tied]] = 12
    votes[tied, (y[tied] + 1) % k] = 12
    votes[tied, (y[tied] + 2) % k] = 6  # a tie at 0.4: argmax takes the first
    cases.append(case("four classes, forest votes", y.tolist(), votes / trees))
    json.dump({"sklearn": sklearn.__version__, "bins": BINS, "cases": cases}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
