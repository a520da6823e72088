#!/usr/bin/env python3
"""Reference for vox-classic's MLP: scikit-learn's MLPClassifier on the committed fixture.

Reads `tests/fixtures/dataset.csv` (made by `make_fixtures.py`, not regenerated), standardizes
with the train rows' mean and population std (as vox's Standardizer), and fits
MLPClassifier(hidden_layer_sizes=(100,), alpha=1e-4, learning_rate_init=1e-3, batch_size=200,
max_iter=200, tol=1e-4) with random_state 0..4, without weights and with balanced class weights
as sample weights (`n / (n_classes * n_class)`, the weights vox's `class_weight = "balanced"`
gives). An MLP's accuracy moves by a few points with its seed, so the reference is the mean
validation accuracy over the five seeds (each seed's is kept too). Writes
`tests/fixtures/sklearn_mlp.json`.

    pip install scikit-learn numpy && python3 stages/classic/scripts/make_mlp_fixture.py
"""

import json
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
SEEDS = range(5)


def main():
    rows = np.genfromtxt(FIXTURES / "dataset.csv", delimiter=",", skip_header=1, dtype=str)
    is_train = rows[:, 0] == "train"
    x, y = rows[:, 2:].astype(float), rows[:, 1].astype(int)
    mean, std = x[is_train].mean(axis=0), x[is_train].std(axis=0)
    std[std == 0] = 1.0
    z = (x - mean) / std
    zt, yt, zv, yv = z[is_train], y[is_train], z[~is_train], y[~is_train]
    counts = np.bincount(yt)
    balanced = (len(yt) / (len(counts) * counts))[yt]
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    reference = {"sklearn_version": __import__("sklearn").__version__}
    for name, weights in (("none", None), ("balanced", balanced)):
        scores, epochs = [], []
        for seed in SEEDS:
            mlp = MLPClassifier(hidden_layer_sizes=(100,), alpha=1e-4, learning_rate_init=1e-3, batch_size=200,
                                max_iter=200, tol=1e-4, random_state=seed)
            mlp.fit(zt, yt, sample_weight=weights)
            scores.append(float(mlp.score(zv, yv)))
            epochs.append(int(mlp.n_iter_))
        reference[name] = {"val_accuracy_per_seed": scores, "val_accuracy_mean": float(np.mean(scores)), "epochs": epochs}
    with open(FIXTURES / "sklearn_mlp.json", "w") as f:
        json.dump(reference, f, indent=2)
        f.write("\n")
    print(json.dumps(reference, indent=2))


if __name__ == "__main__":
    main()
