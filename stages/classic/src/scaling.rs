//! Feature standardization for the linear models: `(x - mean) / std` per feature.
//!
//! The featurize stage may leave `standardization.csv` (columns `feature,mean,std`, computed on
//! the training clips only) beside `features.csv`; when it is there its statistics are used, so
//! that every model downstream of one featurization scales alike. Otherwise they are computed
//! here on the training rows ([`Standardizer::fit`]). A std of 0 (a constant feature) scales by
//! 1, as scikit-learn's `StandardScaler` does.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::ClassicError;

/// The statistics file a featurize stage may write beside `features.csv`.
pub const STANDARDIZATION: &str = "standardization.csv";

/// Per-feature mean and std, aligned with the feature table's columns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Standardizer {
    /// Where the statistics came from.
    pub source: ScalingSource,
    /// Mean of each feature.
    pub mean: Vec<f64>,
    /// Divisor of each feature (the std, or 1 where the std is 0).
    pub scale: Vec<f64>,
}

/// Where standardization statistics came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ScalingSource {
    /// The input folder's `standardization.csv`.
    File,
    /// Computed on the training rows by this stage.
    TrainRows,
}

impl fmt::Display for ScalingSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::File => STANDARDIZATION,
            Self::TrainRows => "computed on the training rows",
        })
    }
}

#[derive(Deserialize)]
struct StatsRow {
    feature: String,
    mean: f64,
    std: f64,
}

impl Standardizer {
    /// Reads `standardization.csv` from `dir` for the features `names` when the file exists,
    /// else computes the statistics on `train_rows`.
    pub fn read_or_fit(
        dir: &Path,
        names: &[String],
        train_rows: &[&[f64]],
    ) -> Result<Self, ClassicError> {
        let path = dir.join(STANDARDIZATION);
        if !path.exists() {
            return Ok(Self::fit(train_rows));
        }
        let csv_err = |source| ClassicError::StandardizationCsv {
            path: path.clone(),
            source,
        };
        let mut reader = csv::Reader::from_path(&path).map_err(csv_err)?;
        let mut stats = BTreeMap::new();
        for row in reader.deserialize::<StatsRow>() {
            let row = row.map_err(csv_err)?;
            if !row.mean.is_finite() || !row.std.is_finite() || row.std < 0.0 {
                return Err(ClassicError::StandardizationValue {
                    path,
                    feature: row.feature,
                    mean: row.mean,
                    std: row.std,
                });
            }
            stats.insert(row.feature, (row.mean, row.std));
        }
        let (mean, std) = names
            .iter()
            .map(|name| {
                stats
                    .get(name)
                    .copied()
                    .ok_or_else(|| ClassicError::StandardizationMissing {
                        path: path.clone(),
                        feature: name.clone(),
                    })
            })
            .collect::<Result<(Vec<f64>, Vec<f64>), _>>()?;
        Ok(Self::new(ScalingSource::File, mean, &std))
    }

    /// Mean and population std (scikit-learn's `StandardScaler`) of `rows`' columns.
    pub fn fit(rows: &[&[f64]]) -> Self {
        let n_features = rows.first().map_or(0, |r| r.len());
        let n = rows.len().max(1) as f64;
        let mut mean = vec![0.0; n_features];
        for row in rows {
            for (m, x) in mean.iter_mut().zip(*row) {
                *m += x;
            }
        }
        mean.iter_mut().for_each(|m| *m /= n);
        let mut var = vec![0.0; n_features];
        for row in rows {
            for ((v, x), m) in var.iter_mut().zip(*row).zip(&mean) {
                *v += (x - m) * (x - m);
            }
        }
        let std: Vec<f64> = var.iter().map(|v| (v / n).sqrt()).collect();
        Self::new(ScalingSource::TrainRows, mean, &std)
    }

    fn new(source: ScalingSource, mean: Vec<f64>, std: &[f64]) -> Self {
        let scale = std.iter().map(|&s| if s > 0.0 { s } else { 1.0 }).collect();
        Self {
            source,
            mean,
            scale,
        }
    }

    /// The standardized copy of `row`.
    pub fn apply(&self, row: &[f64]) -> Vec<f64> {
        row.iter()
            .zip(&self.mean)
            .zip(&self.scale)
            .map(|((x, m), s)| (x - m) / s)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_population_statistics_and_keeps_constant_features() {
        let rows: Vec<&[f64]> = vec![&[1.0, 5.0], &[3.0, 5.0]];
        let s = Standardizer::fit(&rows);
        assert_eq!(
            (s.mean.clone(), s.scale.clone()),
            (vec![2.0, 5.0], vec![1.0, 1.0])
        );
        assert_eq!(s.apply(&[4.0, 7.0]), vec![2.0, 2.0]);
        assert_eq!(s.source, ScalingSource::TrainRows);
    }

    #[test]
    fn reads_the_featurize_statistics_by_feature_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(STANDARDIZATION),
            "feature,mean,std\nb,10,4\na,1,0.5\n",
        )
        .unwrap();
        let names = vec!["a".to_string(), "b".to_string()];
        let s = Standardizer::read_or_fit(dir.path(), &names, &[&[0.0, 0.0]]).unwrap();
        assert_eq!(s.source, ScalingSource::File);
        assert_eq!(s.apply(&[2.0, 18.0]), vec![2.0, 2.0]);

        let names = vec!["a".to_string(), "c".to_string()];
        let err = Standardizer::read_or_fit(dir.path(), &names, &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.ends_with("standardization.csv: no row for feature `c`"),
            "{err}"
        );
    }
}
