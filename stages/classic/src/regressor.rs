//! The fitted-regressor file, `regressor.json`, written beside `estimates.csv`:
//!
//! ```text
//! {
//!   "format": "vox-classic-regressor/1",
//!   "features": ["F0semitoneFrom27.5Hz_sma3nz_amean", ...],   // input columns, in order
//!   "dimensions": ["arousal", "valence"],                     // one model per dimension
//!   "models": [
//!     {"kind": "ridge", "standardizer": {"source": "file", "mean": [...], "scale": [...]},
//!      "weights": [...per feature...], "intercept": 3.02},
//!     // or {"kind": "knn", "standardizer": {...}, "n_neighbors": 5, "weights": "uniform",
//!     //     "rows": [[...standardized training row...], ...], "targets": [...per row...]}
//!     // or {"kind": "rbf-svr", "standardizer": {...}, "gamma": 0.025, "support_vectors": [[...]],
//!     //     "coefficients": [...], "rho": -3.0}
//!     // or {"kind": "hist-gradient-boosting", "baseline": 3.01, "trees": [...as model.json's...]}
//!   ]
//! }
//! ```
//!
//! Ridge estimates `weights . ((x - mean) / scale) + intercept` ([`crate::ridge`]); k-NN the
//! (weighted) mean of the nearest training rows' values ([`crate::knn`]); SVR its support
//! vectors' kernel sum minus `rho` ([`crate::kernel_svm::svr`]); boosting the baseline
//! plus every tree's leaf value for the row ([`crate::boosting`]). Each dimension has
//! its own model because each is fitted on the training clips rated in it. Plain JSON with
//! numbers in their shortest round-trip form, as `model.json` ([`crate::model`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::boosting::BoostedRegressor;
use crate::error::ClassicError;
use crate::kernel_svm::svr::RbfSvr;
use crate::knn::KnnRegressor;
use crate::ridge::Ridge;

/// The regressor file name inside a `regress` stage's output folder.
pub const REGRESSOR: &str = "regressor.json";
/// The value of [`RegressorFile::format`] this version writes.
pub const FORMAT: &str = "vox-classic-regressor/1";

/// A fitted regressor of one dimension.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Regressor {
    /// Ridge regression on standardized features.
    Ridge(Ridge),
    /// k nearest neighbours on standardized features.
    Knn(KnnRegressor),
    /// Epsilon-support vector regression on standardized features.
    RbfSvr(RbfSvr),
    /// Gradient-boosted trees on raw features.
    HistGradientBoosting(BoostedRegressor),
}

impl Regressor {
    /// The estimate of each raw feature row.
    pub fn predict(&self, rows: &[&[f64]]) -> Vec<f64> {
        match self {
            Self::Ridge(ridge) => ridge.predict(rows),
            Self::Knn(knn) => knn.predict(rows),
            Self::RbfSvr(svr) => svr.predict(rows),
            Self::HistGradientBoosting(boosting) => boosting.predict(rows),
        }
    }
}

/// The content of `regressor.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegressorFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// The feature columns the models read, in order.
    pub features: Vec<String>,
    /// The dimensions, aligned with `models`.
    pub dimensions: Vec<String>,
    /// One model per dimension.
    pub models: Vec<Regressor>,
}

impl RegressorFile {
    /// Every row's estimates, one value per dimension.
    pub fn predict(&self, rows: &[&[f64]]) -> Vec<Vec<f64>> {
        let columns: Vec<Vec<f64>> = self.models.iter().map(|m| m.predict(rows)).collect();
        (0..rows.len()).map(|i| columns.iter().map(|c| c[i]).collect()).collect()
    }

    /// Writes the file as compact JSON into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), ClassicError> {
        let path = dir.join(REGRESSOR);
        let json = serde_json::to_vec(self).map_err(|source| ClassicError::ModelJson { path: path.clone(), source })?;
        std::fs::write(&path, json).map_err(|source| ClassicError::Io { path, source })
    }

    /// Reads `regressor.json` from `dir`.
    pub fn read(dir: &Path) -> Result<Self, ClassicError> {
        let path = dir.join(REGRESSOR);
        let json = std::fs::read(&path).map_err(|source| ClassicError::Io { path: path.clone(), source })?;
        serde_json::from_slice(&json).map_err(|source| ClassicError::ModelJson { path, source })
    }
}
