"""Writes the regression fixtures of `regress` (ridge and k-NN regressors of emotion dimensions).

Fixture (`tests/fixtures/regression.csv`): 300 clips (70% train, 30% val) of 40 features from
make_regression, with two dimensions on a 1..5 scale like IEMOCAP's: `arousal` linear in the
features plus noise, `valence` a tanh of two of them (`f00` minus `f05`, standardized) plus
noise. The first 5 train rows have no valence (unrated clips: fitted on for arousal only).

Reference (`tests/fixtures/sklearn_regression.json`): for each dimension, the val estimates of
StandardScaler (fitted on all train rows) + Ridge(alpha) at alpha 1 and 30, fitted on the train
rows rated in that dimension; the same for KNeighborsRegressor(5, uniform | distance); ridge
fitted on the first 25 rated train rows only (more features than rows: vox's dual solution);
and HistGradientBoostingRegressor(early_stopping=False) on the raw features, with its defaults
(`hgb_default`) and with max_iter=60, learning_rate=0.2, max_leaf_nodes=8, min_samples_leaf=10,
l2_regularization=1.0, max_bins=64 (`hgb_small`); SVR (RBF) on the standardized features, with
its defaults (`svr_default`) and with C=10, epsilon=0.3, gamma=0.01 (`svr_wide`).

Run once with scikit-learn installed: `python scripts/make_regression_fixture.py`.
"""

import json
from pathlib import Path

import numpy as np
import sklearn
from sklearn.datasets import make_regression
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.linear_model import Ridge
from sklearn.neighbors import KNeighborsRegressor
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures"
N, P = 300, 40


def main():
    x, a = make_regression(n_samples=N, n_features=P, n_informative=12, noise=20.0, random_state=3)
    rng = np.random.default_rng(3)
    x = x * rng.uniform(0.5, 40.0, size=P) + rng.uniform(-100, 100, size=P)
    arousal = 3.0 + 1.5 * a / a.std()
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    valence = 3.0 + 1.2 * np.tanh(z[:, 0] - z[:, 5]) + rng.normal(0, 0.3, N)
    is_train = rng.uniform(size=N) < 0.7
    valence_rated = np.ones(N, dtype=bool)
    valence_rated[np.flatnonzero(is_train)[:5]] = False
    with open(FIXTURES / "regression.csv", "w") as f:
        f.write("split,arousal,valence," + ",".join(f"f{j:02}" for j in range(P)) + "\n")
        for i in range(N):
            v = repr(float(valence[i])) if valence_rated[i] else ""
            f.write(",".join(["train" if is_train[i] else "val", repr(float(arousal[i])), v] + [repr(float(t)) for t in x[i]]) + "\n")
    scaler = StandardScaler().fit(x[is_train])
    z = scaler.transform(x)
    val = ~is_train
    reference = {"sklearn_version": sklearn.__version__}
    for name, y, rated in [("arousal", arousal, np.ones(N, dtype=bool)), ("valence", valence, valence_rated)]:
        fit = is_train & rated
        entry = {}
        for alpha in [1.0, 30.0]:
            entry[f"ridge_{alpha:g}"] = Ridge(alpha=alpha).fit(z[fit], y[fit]).predict(z[val]).tolist()
        for weights in ["uniform", "distance"]:
            knn = KNeighborsRegressor(n_neighbors=5, weights=weights).fit(z[fit], y[fit])
            entry[f"knn_{weights}"] = knn.predict(z[val]).tolist()
        few = np.flatnonzero(fit)[:25]
        entry["ridge_25_rows"] = Ridge(alpha=1.0).fit(z[few], y[few]).predict(z[val]).tolist()
        hgb = HistGradientBoostingRegressor(early_stopping=False).fit(x[fit], y[fit])
        entry["hgb_default"] = hgb.predict(x[val]).tolist()
        small = dict(max_iter=60, learning_rate=0.2, max_leaf_nodes=8, min_samples_leaf=10, l2_regularization=1.0, max_bins=64)
        hgb = HistGradientBoostingRegressor(early_stopping=False, **small).fit(x[fit], y[fit])
        entry["hgb_small"] = hgb.predict(x[val]).tolist()
        entry["svr_default"] = SVR().fit(z[fit], y[fit]).predict(z[val]).tolist()
        entry["svr_wide"] = SVR(C=10.0, epsilon=0.3, gamma=0.01).fit(z[fit], y[fit]).predict(z[val]).tolist()
        reference[name] = entry
    with open(FIXTURES / "sklearn_regression.json", "w") as f:
        json.dump(reference, f, indent=1)
    print({k: (v if isinstance(v, str) else {m: len(p) for m, p in v.items()}) for k, v in reference.items()})


if __name__ == "__main__":
    main()
