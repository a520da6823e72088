#!/usr/bin/env python3
"""Reference fixtures for vox-classic's parity tests, and a timing baseline for its benchmark.

Run once (needs `pip install scikit-learn numpy`); the Rust tests only read what it commits:

    python3 stages/classic/scripts/make_fixtures.py            # writes tests/fixtures/
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
        python3 stages/classic/scripts/make_fixtures.py --bench /tmp/bench.csv --repeats 10

Fixture (`tests/fixtures/dataset.csv`): an 8-class, imbalanced make_classification problem of
800 rows x 88 features (24 informative, 16 redundant, the rest noise; features shifted and
scaled at random like eGeMAPS columns), values rounded to 6 significant digits so that Python and
Rust see the same numbers, with columns `split` (train/val, stratified 70/30), `label` (class
index 0..7) and `f00`..`f87`.

Reference (`tests/fixtures/sklearn_reference.json`): for each model, sklearn's validation
accuracy and its per-class probabilities for the first validation rows:
- forest: RandomForestClassifier(n_estimators=200, max_features='sqrt', class_weight='balanced',
  random_state=0), plus the mean over random_state 0..4 of the validation accuracy and of the
  first rows' probabilities (one forest's probabilities move by a few hundredths with the seed);
- logistic: LogisticRegression(C=1.0) on features standardized with the train rows' mean and
  (population) std, solved to tol=1e-10 so that the probabilities are the optimum's (the default
  tol=1e-4 stops about 4e-3 away from it; its accuracy is the same);
- linear_svm: LinearSVC(C=1.0) on the same standardized features (accuracy only).
`--knn` adds `tests/fixtures/sklearn_knn.json` from the committed `dataset.csv` (not regenerated):
KNeighborsClassifier(n_neighbors=5, weights=uniform | distance) on the standardized features,
its validation accuracy and the first validation rows' probabilities.

`--boosting-svm` adds `tests/fixtures/sklearn_hgb_svm.json` from the committed `dataset.csv`:
HistGradientBoostingClassifier(early_stopping=False) on the raw features and SVC(kernel='rbf',
C=1, gamma='scale', probability=True, random_state=0..4) on the standardized ones, each with
class_weight None and 'balanced': validation accuracies (SVC: by votes, and by the argmax of the
probabilities, per seed and averaged), first rows' probabilities, HGB's bin thresholds and first
split, SVC's support-vector counts and one-vs-one decision values.

`--bench-boosting PATH --features N` writes a 1440-row set of N columns and prints the fit times
of HistGradientBoostingClassifier and LightGBM's LGBMClassifier (needs `pip install lightgbm`)
with --threads 1,2 (`examples/boosting_time.rs` times vox the same way;
`benches/classic-boosting.sh` runs both).

`--bench PATH` instead writes a RAVDESS-sized set (1440 rows x 88 features, 80 % train) in the
same format and prints sklearn's fit times (best wall time and mean CPU time of --repeats runs
after a warm-up) with n_jobs=1 and n_jobs=2; `examples/fit_time.rs` times vox-classic the same
way on that file.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.svm import LinearSVC

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
N_FEATURES = 88
WEIGHTS = [0.05, 0.15, 0.15, 0.15, 0.15, 0.15, 0.12, 0.08]
FIRST_ROWS = 5
FOREST_SEEDS = range(5)


def make_dataset(n_samples, val_fraction, seed, n_features=N_FEATURES):
    """Rounded features, labels and a stratified train/val split (88 features: 24 informative,
    16 redundant; wider sets scale both with the width)."""
    x, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=24 * n_features // N_FEATURES,
        n_redundant=16 * n_features // N_FEATURES,
        n_repeated=0,
        n_classes=8,
        n_clusters_per_class=2,
        weights=WEIGHTS,
        flip_y=0.02,
        class_sep=1.0,
        shift=None,
        scale=None,
        random_state=seed,
    )
    x = np.array([[float(f"{v:.6g}") for v in row] for row in x])
    idx = np.arange(n_samples)
    train_idx, _ = train_test_split(idx, test_size=val_fraction, stratify=y, random_state=seed)
    is_train = np.zeros(n_samples, dtype=bool)
    is_train[train_idx] = True
    return x, y, is_train


def write_csv(path, x, y, is_train):
    with open(path, "w") as f:
        f.write("split,label," + ",".join(f"f{j:02}" for j in range(x.shape[1])) + "\n")
        for row, label, train in zip(x, y, is_train):
            cells = [f"{v:.6g}" for v in row]
            f.write(("train" if train else "val") + f",{label}," + ",".join(cells) + "\n")


def standardize(x, is_train):
    mean = x[is_train].mean(axis=0)
    std = x[is_train].std(axis=0)
    std[std == 0] = 1.0
    return (x - mean) / std


def forest(seed, n_jobs=1):
    return RandomForestClassifier(
        n_estimators=200,
        max_features="sqrt",
        class_weight="balanced",
        random_state=seed,
        n_jobs=n_jobs,
    )


def fixtures():
    x, y, is_train = make_dataset(800, 0.3, 0)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    write_csv(FIXTURES / "dataset.csv", x, y, is_train)
    xt, yt, xv, yv = x[is_train], y[is_train], x[~is_train], y[~is_train]
    z = standardize(x, is_train)
    zt, zv = z[is_train], z[~is_train]

    rf = forest(0).fit(xt, yt)
    forests = [forest(s).fit(xt, yt) for s in FOREST_SEEDS]
    lr = LogisticRegression(C=1.0, max_iter=10000, tol=1e-10).fit(zt, yt)
    svm = LinearSVC(C=1.0).fit(zt, yt)
    reference = {
        "sklearn_version": __import__("sklearn").__version__,
        "train_rows": int(is_train.sum()),
        "val_rows": int((~is_train).sum()),
        "forest": {
            "val_accuracy": rf.score(xv, yv),
            "val_accuracy_mean_seeds_0_4": float(np.mean([f.score(xv, yv) for f in forests])),
            "val_probabilities_first_rows": rf.predict_proba(xv[:FIRST_ROWS]).tolist(),
            "val_probabilities_first_rows_mean_seeds_0_4": np.mean(
                [f.predict_proba(xv[:FIRST_ROWS]) for f in forests], axis=0
            ).tolist(),
        },
        "logistic": {
            "val_accuracy": lr.score(zv, yv),
            "val_probabilities_first_rows": lr.predict_proba(zv[:FIRST_ROWS]).tolist(),
        },
        "linear_svm": {"val_accuracy": svm.score(zv, yv)},
    }
    with open(FIXTURES / "sklearn_reference.json", "w") as f:
        json.dump(reference, f, indent=2)
        f.write("\n")
    print(json.dumps({k: v for k, v in reference.items()}, indent=2))


def read_csv(path):
    rows = np.genfromtxt(path, delimiter=",", skip_header=1, dtype=str)
    is_train = rows[:, 0] == "train"
    return rows[:, 2:].astype(float), rows[:, 1].astype(int), is_train


def knn_fixtures():
    from sklearn.neighbors import KNeighborsClassifier

    x, y, is_train = read_csv(FIXTURES / "dataset.csv")
    z = standardize(x, is_train)
    zt, yt, zv, yv = z[is_train], y[is_train], z[~is_train], y[~is_train]
    reference = {"sklearn_version": __import__("sklearn").__version__}
    for weights in ("uniform", "distance"):
        knn = KNeighborsClassifier(n_neighbors=5, weights=weights).fit(zt, yt)
        reference[weights] = {
            "val_accuracy": knn.score(zv, yv),
            "val_probabilities_first_rows": knn.predict_proba(zv[:FIRST_ROWS]).tolist(),
        }
    with open(FIXTURES / "sklearn_knn.json", "w") as f:
        json.dump(reference, f, indent=2)
        f.write("\n")
    print(json.dumps(reference, indent=2))


def hgb(class_weight, **kwargs):
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(early_stopping=False, class_weight=class_weight, **kwargs)


def boosting_svm_fixtures():
    import warnings

    from sklearn.svm import SVC

    # SVC(probability=True) is deprecated since 1.9 (libsvm's internal Platt scaling, which vox
    # mirrors) but still computed the same way.
    warnings.filterwarnings("ignore", message="The `probability` parameter", category=FutureWarning)

    x, y, is_train = read_csv(FIXTURES / "dataset.csv")
    xt, yt, xv, yv = x[is_train], y[is_train], x[~is_train], y[~is_train]
    z = standardize(x, is_train)
    zt, zv = z[is_train], z[~is_train]
    reference = {"sklearn_version": __import__("sklearn").__version__}
    for name, class_weight in (("none", None), ("balanced", "balanced")):
        model = hgb(class_weight).fit(xt, yt)
        first_tree = model._predictors[0][0].nodes[0]
        reference[f"hgb_{name}"] = {
            "val_accuracy": model.score(xv, yv),
            "val_probabilities_first_rows": model.predict_proba(xv[:FIRST_ROWS]).tolist(),
            "train_probabilities_first_rows": model.predict_proba(xt[:FIRST_ROWS]).tolist(),
            "n_thresholds": [len(t) for t in model._bin_mapper.bin_thresholds_],
            "thresholds_feature_0": model._bin_mapper.bin_thresholds_[0].tolist(),
            "first_tree_root": {
                "feature": int(first_tree["feature_idx"]),
                "threshold": float(first_tree["num_threshold"]),
                "gain": float(first_tree["gain"]),
            },
        }
        svcs = [
            SVC(kernel="rbf", C=1.0, gamma="scale", probability=True, class_weight=class_weight,
                random_state=seed).fit(zt, yt)
            for seed in FOREST_SEEDS
        ]
        proba = [s.predict_proba(zv) for s in svcs]
        reference[f"svm_{name}"] = {
            "val_accuracy_votes": svcs[0].score(zv, yv),
            "val_accuracy_probabilities_seed_0": float(np.mean(proba[0].argmax(axis=1) == yv)),
            "val_accuracy_probabilities_mean_seeds_0_4": float(
                np.mean([np.mean(p.argmax(axis=1) == yv) for p in proba])
            ),
            "val_probabilities_first_rows_mean_seeds_0_4": np.mean(
                [p[:FIRST_ROWS] for p in proba], axis=0
            ).tolist(),
            "n_support": svcs[0].n_support_.tolist(),
            "val_decision_first_rows_ovo": SVC(
                kernel="rbf", C=1.0, gamma="scale", class_weight=class_weight,
                decision_function_shape="ovo",
            ).fit(zt, yt).decision_function(zv[:FIRST_ROWS]).tolist(),
        }
    with open(FIXTURES / "sklearn_hgb_svm.json", "w") as f:
        json.dump(reference, f, indent=2)
        f.write("\n")
    for name, values in reference.items():
        if isinstance(values, dict):
            print(name, {k: v for k, v in values.items() if "accuracy" in k or k == "n_support"})


def best_time(fit, repeats):
    fit()
    times = []
    cpu_start = time.process_time()
    for _ in range(repeats):
        start = time.perf_counter()
        fit()
        times.append(time.perf_counter() - start)
    cpu = (time.process_time() - cpu_start) / repeats
    return f"wall {min(times):.3f} s, cpu {cpu:.3f} s"


def bench(path, repeats):
    x, y, is_train = make_dataset(1440, 0.2, 1)
    write_csv(path, x, y, is_train)
    xt, yt = x[is_train], y[is_train]
    zt = standardize(x, is_train)[is_train]
    print(f"{path}: {len(y)} rows, {int(is_train.sum())} train, {x.shape[1]} features")
    for n_jobs in (1, 2):
        t = best_time(lambda: forest(0, n_jobs).fit(xt, yt), repeats)
        print(f"sklearn random-forest (200 trees, balanced) n_jobs={n_jobs}: {t}")
    t = best_time(lambda: LogisticRegression(C=1.0, max_iter=1000).fit(zt, yt), repeats)
    print(f"sklearn logistic: {t}")
    t = best_time(lambda: LinearSVC(C=1.0).fit(zt, yt), repeats)
    print(f"sklearn linear-svm: {t}")


def bench_boosting(path, n_features, repeats, threads):
    """Writes a 1440-row set of `n_features` columns and times scikit-learn's
    HistGradientBoostingClassifier and LightGBM's LGBMClassifier with comparable params."""
    import lightgbm
    from threadpoolctl import threadpool_limits

    x, y, is_train = make_dataset(1440, 0.2, 1, n_features)
    write_csv(path, x, y, is_train)
    xt, yt, xv, yv = x[is_train], y[is_train], x[~is_train], y[~is_train]
    print(f"{path}: {len(y)} rows, {int(is_train.sum())} train, {x.shape[1]} features")
    for n in threads:
        with threadpool_limits(limits=n):
            model = hgb(None)
            t = best_time(lambda: model.fit(xt, yt), repeats)
            print(f"sklearn hist-gradient-boosting n_jobs={n}: {t} (val accuracy {model.score(xv, yv):.4f})")
        # LightGBM with scikit-learn's defaults spelled out: 31 leaves, 20 rows per leaf, 255
        # bins, no minimum hessian beyond scikit-learn's 1e-3, no bagging or feature sampling.
        lgbm = lightgbm.LGBMClassifier(
            n_estimators=100, learning_rate=0.1, num_leaves=31, min_child_samples=20, max_bin=255,
            min_child_weight=1e-3, reg_lambda=0.0, subsample=1.0, colsample_bytree=1.0,
            n_jobs=n, verbose=-1, deterministic=True, force_col_wise=True,
        )
        t = best_time(lambda: lgbm.fit(xt, yt), repeats)
        print(f"lightgbm n_jobs={n}: {t} (val accuracy {lgbm.score(xv, yv):.4f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", type=Path, help="write a timing set here and time sklearn")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--bench-boosting", type=Path,
        help="write a timing set here and time HistGradientBoostingClassifier and LightGBM",
    )
    parser.add_argument("--features", type=int, default=N_FEATURES, help="columns of --bench-boosting's set")
    parser.add_argument("--threads", default="1,2", help="thread counts for --bench-boosting")
    parser.add_argument("--knn", action="store_true", help="add sklearn_knn.json from dataset.csv")
    parser.add_argument(
        "--boosting-svm", action="store_true", help="add sklearn_hgb_svm.json from dataset.csv"
    )
    args = parser.parse_args()
    if args.knn:
        knn_fixtures()
    elif args.boosting_svm:
        boosting_svm_fixtures()
    elif args.bench_boosting:
        threads = [int(n) for n in args.threads.split(",")]
        bench_boosting(args.bench_boosting, args.features, args.repeats, threads)
    elif args.bench:
        bench(args.bench, args.repeats)
    else:
        fixtures()
