#!/usr/bin/env python3
"""Writes tests/fixtures/temperature.json: temperature scaling (Guo et al. 2017) fitted by SciPy.

For a few models' probability rows and true classes, the temperature T in [0.05, 20] that
minimizes the mean negative log-likelihood of softmax(ln p / T) (probabilities floored at machine
epsilon), found by SciPy's bounded scalar minimizer, and the log loss at T = 1 and at T. The Rust
test in src/calibrate.rs fits its own T by bisection and compares. Rerun (from stages/report) only
when adding cases:

    python3 scripts/temperature_fixture.py > tests/fixtures/temperature.json
"""

import json
import sys

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import logsumexp

EPS = np.finfo(np.float64).eps


def nll(z, y, t):
    s = z / t
    return float(np.mean(logsumexp(s, axis=1) - s[np.arange(len(y)), y]))


def case(name, y, p):
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y)
    z = np.log(np.maximum(p, EPS))
    best = minimize_scalar(lambda t: nll(z, y, t), bounds=(0.05, 20.0), method="bounded", options={"xatol": 1e-12})
    return {
        "name": name,
        "y_true": y.tolist(),
        "probabilities": p.tolist(),
        "temperature": float(best.x),
        "log_loss": [nll(z, y, 1.0), nll(z, y, float(best.x))],
    }


def main():
    rng = np.random.default_rng(11)
    cases = []
    # Over-confident: sharp softmax rows, right on 60% of the clips.
    n, k = 150, 6
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    right = rng.random(n) < 0.6
    logits[right, y[right]] += 2.0
    logits *= 4.0
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    cases.append(case("over-confident softmax", y, p / p.sum(axis=1, keepdims=True)))
    # Under-confident: a forest's vote shares, right on 85% of the clips.
    n, k, trees = 120, 4, 50
    y = rng.integers(0, k, n)
    votes = np.stack([rng.multinomial(trees, np.where(np.arange(k) == t, 0.34, 0.66 / 3)) for t in y])
    cases.append(case("under-confident forest", y, votes / trees))
    # A few true classes at probability 0 (no tree voted for them).
    n, k, trees = 200, 3, 10
    y = rng.integers(0, k, n)
    votes = np.stack([rng.multinomial(trees, np.where(np.arange(k) == t, 0.5, 0.25)) for t in y])
    votes[0] = 0
    votes[0, (y[0] + 1) % k] = trees
    cases.append(case("a true class at probability 0", y, votes / trees))
    json.dump(cases, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
