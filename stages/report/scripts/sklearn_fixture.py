#!/usr/bin/env python3
"""Writes tests/fixtures/sklearn_report.json: scikit-learn's metrics for a few label lists.

The Rust tests in src/metrics.rs compare vox-report's metrics and text table against it, so that
they never need Python. Rerun (from stages/report) only when adding cases:

    python3 scripts/sklearn_fixture.py > tests/fixtures/sklearn_report.json
"""

import json
import random
import sys

import sklearn
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    recall_score,
)

NAMES = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]


def noisy_case(seed, n, classes, accuracy):
    """n clips over `classes`, each predicted correctly with probability `accuracy`."""
    rng = random.Random(seed)
    y_true = [rng.choice(classes) for _ in range(n)]
    y_pred = [t if rng.random() < accuracy else rng.choice(range(1, 9)) for t in y_true]
    return y_true, y_pred


def case(name, y_true, y_pred):
    labels = sorted(set(y_true) | set(y_pred))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    names = [f"{code:02d} {NAMES[code - 1]}" for code in labels]
    return {
        "name": name,
        "y_true": y_true,
        "y_pred": y_pred,
        "labels": labels,
        "precision": p.tolist(),
        "recall": r.tolist(),
        "f1": f.tolist(),
        "support": s.tolist(),
        "accuracy": accuracy_score(y_true, y_pred),
        "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0),
        "weighted_f1": f1_score(y_true, y_pred, average="weighted", zero_division=0),
        "uar": recall_score(y_true, y_pred, average="macro", zero_division=0),
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "report": classification_report(
            y_true, y_pred, labels=labels, target_names=names, digits=4, zero_division=0
        ),
    }


def main():
    cases = [
        case("hand case", [1, 1, 1, 3, 3, 4], [1, 1, 3, 3, 5, 5]),
        case("eight classes, 70% correct", *noisy_case(7, 120, list(range(1, 9)), 0.7)),
        # Disgust and surprised never occur in the truth; the noisy predictions may name them.
        case("six classes, 40% correct", *noisy_case(11, 45, [1, 2, 3, 4, 5, 6], 0.4)),
    ]
    json.dump({"sklearn": sklearn.__version__, "cases": cases}, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
