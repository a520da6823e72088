#!/usr/bin/env python3
"""Writes tests/fixtures/tsne.json: scikit-learn's PCA and exact t-SNE of two small feature sets.

The Rust test in src/projection.rs maps the same rows and compares: PCA's explained variance and
coordinates (up to each axis's sign) to 1e-8; t-SNE's final KL divergence must be at most 5%
above scikit-learn's and its trustworthiness (k = 5) at most 0.02 below (the two optimize the
same objective from the same start with the same schedule, but scikit-learn searches the
perplexities in float32, so the maps part ways early and are not the same bits). The rows are z-scored here (population std), as
vox z-scores before mapping. Rerun (from stages/report) only when adding cases:

    python3 scripts/tsne_fixture.py > tests/fixtures/tsne.json
"""

import json
import sys

import numpy as np
import sklearn
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness


def case(name, x):
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    pca = PCA(n_components=2, svd_solver="full")
    coords = pca.fit_transform(x)
    n = len(x)
    perplexity = min(30.0, (n - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, method="exact", init="pca", learning_rate="auto", max_iter=1000, random_state=0)
    y = tsne.fit_transform(x)
    return {
        "name": name,
        "rows": x.tolist(),
        "pca_explained": pca.explained_variance_ratio_.tolist(),
        "pca": coords.tolist(),
        "perplexity": perplexity,
        "tsne_kl": float(tsne.kl_divergence_),
        "tsne_trustworthiness": float(trustworthiness(x, y, n_neighbors=5)),
    }


def main():
    rng = np.random.default_rng(2)
    # Three separated blobs in 10 dimensions, 40 points each.
    centres = np.eye(10)[:3] * 6.0
    blobs = np.concatenate([c + rng.uniform(-1, 1, (40, 10)) for c in centres])
    # Four overlapping classes in 20 correlated dimensions, 25 points each: a harder map.
    mixing = rng.normal(0, 1, (20, 20))
    means = rng.normal(0, 1.2, (4, 20))
    overlapping = np.concatenate([(m + rng.normal(0, 1, (25, 20))) @ mixing for m in means])
    cases = [case("separated blobs", blobs), case("overlapping classes", overlapping)]
    json.dump({"sklearn": sklearn.__version__, "cases": cases}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
