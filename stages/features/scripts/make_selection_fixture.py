#!/usr/bin/env python3
"""Generates the feature-selection fixture of the `vox-features` tests (`src/select.rs`):
scikit-learn's `f_classif` (one-way ANOVA F and its p-value per feature) and
`SelectKBest(f_classif, k=3)` on a small table, under ../tests/fixtures/:

- selection_table.csv: `class` (a, b, c; 40, 30 and 20 rows) then features f0..f9: f0-f2 move
  with the class by decreasing amounts, f3 and f4 are the same column (a tie, which
  SelectKBest breaks towards the later one), f5 is constant (F undefined: ranked last), f6-f9
  are noise at very different scales;
- selection_expected.csv: `feature,f,p,kept` (f and p empty where scikit-learn gives NaN).

Run once from anywhere: `python3 stages/features/scripts/make_selection_fixture.py`
(`pip install scikit-learn`). The Rust tests read only the committed outputs; they never run
Python.
"""

import csv
import os
import warnings

import numpy as np
from sklearn.feature_selection import SelectKBest, f_classif

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "fixtures")


def main():
    rng = np.random.default_rng(11)
    classes = np.array(["a"] * 40 + ["b"] * 30 + ["c"] * 20)
    code = np.array([{"a": 0.0, "b": 1.0, "c": 2.0}[c] for c in classes])
    n = len(classes)
    f3 = 0.3 * code + rng.standard_normal(n)
    columns = [
        2.0 * code + rng.standard_normal(n),
        0.8 * code + rng.standard_normal(n),
        0.5 * code + 3.0 * rng.standard_normal(n) + 100.0,
        f3,
        f3.copy(),
        np.full(n, 7.25),
        1e-6 * rng.standard_normal(n),
        1e6 * rng.standard_normal(n),
        rng.standard_normal(n),
        rng.uniform(-1, 1, n),
    ]
    x = np.column_stack(columns)
    names = [f"f{i}" for i in range(x.shape[1])]
    with open(os.path.join(OUT, "selection_table.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class"] + names)
        for c, row in zip(classes, x):
            w.writerow([c] + [repr(float(v)) for v in row])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f_values, p_values = f_classif(x, classes)
        kept = SelectKBest(f_classif, k=3).fit(x, classes).get_support()
    with open(os.path.join(OUT, "selection_expected.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["feature", "f", "p", "kept"])
        for name, fv, pv, k in zip(names, f_values, p_values, kept):
            cell = lambda v: "" if np.isnan(v) else repr(float(v))
            w.writerow([name, cell(fv), cell(pv), int(k)])


if __name__ == "__main__":
    main()
