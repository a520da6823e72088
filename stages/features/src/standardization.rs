//! `standardization.csv`: per-feature mean and standard deviation for z-scoring downstream,
//! computed on the training clips only (every clip when the set is not split), so that
//! validation and test clips never leak into the statistics.
//!
//! Layout: header `feature,mean,std`, one row per feature in table order; `std` is the
//! population standard deviation (divisor `n`, as scikit-learn's `StandardScaler`) and is 0
//! for constant features (consumers must not divide by it then).

use std::path::Path;

use vox_api::audio::Split;
use vox_api::features::FeatureTable;

use crate::error::FeaturesError;

/// The file name inside the stage's output folder.
pub const STANDARDIZATION: &str = "standardization.csv";

/// Mean and population standard deviation of one feature.
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureStats {
    /// Feature name.
    pub feature: String,
    /// Mean over the reference clips.
    pub mean: f64,
    /// Population standard deviation over the reference clips.
    pub std: f64,
}

/// Statistics of every feature over the `train` clips, or over all clips when none is.
pub fn compute(table: &FeatureTable) -> Vec<FeatureStats> {
    let train: Vec<&Vec<f64>> =
        table.clips.iter().zip(&table.rows).filter(|(c, _)| c.split == Split::Train).map(|(_, r)| r).collect();
    let rows: Vec<&Vec<f64>> = if train.is_empty() { table.rows.iter().collect() } else { train };
    let n = rows.len().max(1) as f64;
    table
        .names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let mean = rows.iter().map(|r| r[j]).sum::<f64>() / n;
            let var = rows.iter().map(|r| (r[j] - mean) * (r[j] - mean)).sum::<f64>() / n;
            FeatureStats { feature: name.clone(), mean, std: var.sqrt() }
        })
        .collect()
}

/// Writes `stats` as `standardization.csv` into `dir`.
pub fn write(stats: &[FeatureStats], dir: &Path) -> Result<(), FeaturesError> {
    let path = dir.join(STANDARDIZATION);
    let csv_err = |source| FeaturesError::Csv { path: path.clone(), source };
    let mut w = csv::Writer::from_path(&path).map_err(csv_err)?;
    w.write_record(["feature", "mean", "std"]).map_err(csv_err)?;
    for s in stats {
        w.write_record([s.feature.as_str(), &s.mean.to_string(), &s.std.to_string()]).map_err(csv_err)?;
    }
    w.flush().map_err(|source| FeaturesError::Io { path: path.clone(), source })
}

/// Copies the run's `standardization.csv` from its stage output `trained` into `dir`: new
/// clips (`vox predict`) are scaled by the run's train statistics, never their own.
pub fn copy_trained(trained: &Path, dir: &Path) -> Result<(), FeaturesError> {
    let from = trained.join(STANDARDIZATION);
    std::fs::copy(&from, dir.join(STANDARDIZATION)).map_err(|source| FeaturesError::Io { path: from, source })?;
    Ok(())
}
