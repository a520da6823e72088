//! The fitted-model file, `model.json`, written beside `predictions.csv`:
//!
//! ```text
//! {
//!   "format": "vox-classic-model/1",
//!   "features": ["F0semitoneFrom27.5Hz_sma3nz_amean", ...],   // input columns, in order
//!   "classes": ["01", "03", ...],                            // probability order
//!   "model": {"kind": "random-forest", "n_classes": 8, "importances": [...], "trees": [
//!       {"splits": [{"feature": 12, "threshold": 0.53, "left": 1, "right": -4}, ...],
//!        "leaves": [[0.0, 1.0, ...], ...]}, ...]}
//!   // or {"kind": "logistic" | "linear-svm",
//!   //     "standardizer": {"source": "file" | "train-rows", "mean": [...], "scale": [...]},
//!   //     "weights": [[...per feature...] per class], "intercepts": [...per class]}
//!   // or {"kind": "knn", "standardizer": {...}, "n_neighbors": 5, "weights": "uniform" | "distance",
//!   //     "n_classes": 8, "rows": [[...standardized training row...], ...], "labels": [...]}
//!   // or {"kind": "hist-gradient-boosting", "n_classes": 8, "baseline": [...per score...],
//!   //     "iterations": [[{"splits": [{"feature": 30, "threshold": 225.023, "left": -1, "right": 1}, ...],
//!   //                      "leaves": [0.012, ...]}, ...one tree per score], ...per iteration]}
//!   // or {"kind": "rbf-svm", "standardizer": {...}, "gamma": 0.0114, "n_classes": 8,
//!   //     "support_vectors": [[...standardized training row...], ...],
//!   //     "pairs": [{"classes": [0, 1], "support": [...indices into support_vectors...],
//!   //                "coefficients": [...], "rho": 0.21, "prob_a": -2.1, "prob_b": 0.05}, ...]}
//!   // or {"kind": "mlp", "standardizer": {...}, "epochs": 143, "loss": 0.52,
//!   //     "layers": [{"weights": [[...outputs...] per input], "biases": [...]}, ...]}
//!   //     (ReLU after every layer but the last, softmax after it; see [`crate::mlp`])
//! }
//! ```
//!
//! Trees: a child `c >= 0` is `splits[c]`, `c < 0` is `leaves[-1 - c]`; rows with
//! `x[feature] <= threshold` go left; a tree without splits is `leaves[0]`; the probability is
//! the mean over trees of the leaf distributions ([`crate::forest`]). Linear models score
//! `weights[k] . ((x - mean) / scale) + intercepts[k]` and take the softmax ([`crate::linear`]).
//! Boosted trees ([`crate::boosting`]) use the same split encoding with one number per leaf: a
//! row's score `k` is `baseline[k]` plus, for every iteration, the leaf value of tree `k`;
//! there is one score per class (probability = softmax), or for two classes one score, the
//! second class's logit (probability = `[1 - s, s]` with `s = 1 / (1 + exp(-score))`).
//! The RBF SVM ([`crate::kernel_svm`]) scores pair `(i, j)` as `f = sum_s coefficients[s] *
//! exp(-gamma |support_vectors[support[s]] - z|^2) - rho` on the standardized row `z`, turns it
//! into `P(i | i or j) = 1 / (1 + exp(prob_a f + prob_b))` clipped to `[1e-7, 1 - 1e-7]`, and
//! couples the pairs into class probabilities (libsvm's `multiclass_probability`).
//! Plain JSON so that any language can apply the model; numbers are written in their shortest
//! round-trip form and read back exactly (serde_json's `float_roundtrip`), so a model read from
//! the file reproduces `predictions.csv` bit for bit. A forest of 200 fully grown trees on 1152
//! clips x 88 features and 8 classes takes about 6 MB.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ClassicError;
use crate::boosting::GradientBoosting;
use crate::forest::Forest;
use crate::kernel_svm::RbfSvm;
use crate::knn::Knn;
use crate::linear::LinearModel;
use crate::mlp::Mlp;

/// The model file name inside a baseline's output folder.
pub const MODEL: &str = "model.json";
/// The value of [`ModelFile::format`] this version writes.
pub const FORMAT: &str = "vox-classic-model/1";

/// A fitted classic model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FittedModel {
    /// A random forest on raw features.
    RandomForest(Forest),
    /// Multinomial logistic regression on standardized features.
    Logistic(LinearModel),
    /// One-vs-rest linear SVM on standardized features.
    LinearSvm(LinearModel),
    /// k nearest neighbours on standardized features.
    Knn(Knn),
    /// Histogram-based gradient-boosted trees on raw features.
    HistGradientBoosting(GradientBoosting),
    /// One-vs-one RBF-kernel SVM on standardized features.
    RbfSvm(RbfSvm),
    /// A multilayer perceptron on standardized features.
    Mlp(Mlp),
}

impl FittedModel {
    /// Class probabilities of each raw feature row, aligned with the training classes.
    pub fn predict_proba(&self, rows: &[&[f64]]) -> Vec<Vec<f64>> {
        match self {
            Self::RandomForest(forest) => forest.predict_proba(rows),
            Self::Logistic(linear) | Self::LinearSvm(linear) => linear.predict_proba(rows),
            Self::Knn(knn) => knn.predict_proba(rows),
            Self::HistGradientBoosting(boosting) => boosting.predict_proba(rows),
            Self::RbfSvm(svm) => svm.predict_proba(rows),
            Self::Mlp(mlp) => mlp.predict_proba(rows),
        }
    }
}

/// The content of `model.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// The feature columns the model reads, in order.
    pub features: Vec<String>,
    /// The classes of the probability vectors, in the label set's order.
    pub classes: Vec<String>,
    /// The model.
    pub model: FittedModel,
}

impl ModelFile {
    /// Writes the file as compact JSON into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), ClassicError> {
        let path = dir.join(MODEL);
        let json = serde_json::to_vec(self).map_err(|source| ClassicError::ModelJson {
            path: path.clone(),
            source,
        })?;
        std::fs::write(&path, json).map_err(|source| ClassicError::Io { path, source })
    }

    /// Reads `model.json` from `dir`.
    pub fn read(dir: &Path) -> Result<Self, ClassicError> {
        let path = dir.join(MODEL);
        let json = std::fs::read(&path).map_err(|source| ClassicError::Io {
            path: path.clone(),
            source,
        })?;
        serde_json::from_slice(&json).map_err(|source| ClassicError::ModelJson { path, source })
    }
}
