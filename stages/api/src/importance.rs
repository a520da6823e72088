//! Feature importance files beside a model's `predictions.csv`: what a classic model writes when
//! asked for permutation importance, and what `evaluate` draws from (as it draws training
//! curves from `history.csv`), without knowing which kind wrote them.
//!
//! ```text
//! importance.csv     rank,feature,mean,std              every feature, most important first:
//!                                                       the mean and std over repeats of the
//!                                                       drop in `metric` on `split` when the
//!                                                       feature's column is shuffled
//! importance.json    {"metric": "macro_f1", "split": "val", "repeats": 5, "seed": 42,
//!                     "score": 0.61, "clips": 180}      the unshuffled score and its clips
//! distributions.csv  feature,rank,class,split,count,min,q1,median,q3,max,mean
//!                                                       per class, the most important
//!                                                       features' values on `split`
//! ```

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::csv_file::CsvFileError;

/// The importance table's file name.
pub const IMPORTANCE: &str = "importance.csv";
/// The importance settings' file name.
pub const SETTINGS: &str = "importance.json";
/// The distributions' file name.
pub const DISTRIBUTIONS: &str = "distributions.csv";

/// One feature's permutation importance.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureImportance {
    /// 1 = most important.
    pub rank: usize,
    /// The feature column's name (openSMILE's for eGeMAPS).
    pub feature: String,
    /// Mean drop of the metric over the repeats (negative: shuffling helped).
    pub mean: f64,
    /// Population standard deviation of the drop over the repeats.
    pub std: f64,
}

/// How the importance was measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The metric whose drop is measured (a [`crate::summary::METRICS`] name).
    pub metric: String,
    /// The split scored.
    pub split: String,
    /// Shuffles per feature.
    pub repeats: usize,
    /// The seed of the shuffles.
    pub seed: u64,
    /// The metric on the unshuffled split.
    pub score: f64,
    /// Labelled clips scored.
    pub clips: usize,
}

/// One class's values of one feature: five-number summary and mean.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    /// The feature.
    pub feature: String,
    /// Its importance rank.
    pub rank: usize,
    /// The class.
    pub class: String,
    /// The split the values come from.
    pub split: String,
    /// Clips of the class.
    pub count: usize,
    /// Smallest value.
    pub min: f64,
    /// First quartile (linear interpolation, numpy's default).
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    /// Largest value.
    pub max: f64,
    /// Mean.
    pub mean: f64,
}

/// A model's importance files.
#[derive(Clone, Debug, PartialEq)]
pub struct Importance {
    /// How it was measured.
    pub settings: Settings,
    /// Every feature, most important first.
    pub features: Vec<FeatureImportance>,
    /// The most important features' values per class.
    pub distributions: Vec<Distribution>,
}

fn write_rows<T: Serialize>(path: &Path, rows: &[T]) -> Result<(), CsvFileError> {
    let csv_err = |source| CsvFileError::Csv { path: path.to_path_buf(), source };
    let mut writer = csv::Writer::from_path(path).map_err(csv_err)?;
    for row in rows {
        writer.serialize(row).map_err(csv_err)?;
    }
    writer.flush().map_err(|e| csv_err(e.into()))
}

fn read_rows<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>, CsvFileError> {
    let csv_err = |source| CsvFileError::Csv { path: path.to_path_buf(), source };
    let mut reader = csv::Reader::from_path(path).map_err(csv_err)?;
    reader.deserialize().collect::<Result<Vec<T>, _>>().map_err(csv_err)
}

impl Importance {
    /// Writes the three files into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), CsvFileError> {
        write_rows(&dir.join(IMPORTANCE), &self.features)?;
        write_rows(&dir.join(DISTRIBUTIONS), &self.distributions)?;
        let path = dir.join(SETTINGS);
        let json = serde_json::to_vec_pretty(&self.settings).unwrap_or_default();
        std::fs::write(&path, json).map_err(|e| CsvFileError::Csv { path, source: e.into() })
    }

    /// Reads them from `dir`, or `None` when the model wrote none.
    pub fn read(dir: &Path) -> Result<Option<Self>, CsvFileError> {
        let path = dir.join(SETTINGS);
        if !path.exists() {
            return Ok(None);
        }
        let text = std::fs::read(&path).map_err(|e| CsvFileError::Csv { path: path.clone(), source: e.into() })?;
        let settings = serde_json::from_slice(&text)
            .map_err(|e| CsvFileError::Malformed { path: path.clone(), line: e.line() as u64, message: e.to_string() })?;
        Ok(Some(Self {
            settings,
            features: read_rows(&dir.join(IMPORTANCE))?,
            distributions: read_rows(&dir.join(DISTRIBUTIONS))?,
        }))
    }
}

/// The five-number summary and mean of `values` (sorted here), numpy's linear quantiles.
pub fn summarize(values: &mut [f64]) -> [f64; 6] {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return [f64::NAN; 6];
    }
    let quantile = |q: f64| {
        let at = q * (n - 1) as f64;
        let (low, high) = (at.floor() as usize, at.ceil() as usize);
        values[low] + (values[high] - values[low]) * (at - low as f64)
    };
    let mean = values.iter().sum::<f64>() / n as f64;
    [values[0], quantile(0.25), quantile(0.5), quantile(0.75), values[n - 1], mean]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_follow_numpy_and_files_round_trip() {
        // numpy.percentile([4, 1, 3, 2, 10], [0, 25, 50, 75, 100]) = [1, 2, 3, 4, 10]
        assert_eq!(summarize(&mut [4.0, 1.0, 3.0, 2.0, 10.0]), [1.0, 2.0, 3.0, 4.0, 10.0, 4.0]);
        // [1, 2, 3, 4]: q1 = 1.75, median 2.5, q3 = 3.25
        assert_eq!(summarize(&mut [1.0, 2.0, 3.0, 4.0])[1..4], [1.75, 2.5, 3.25]);
        let dir = tempfile::tempdir().unwrap();
        let importance = Importance {
            settings: Settings { metric: "uar".into(), split: "val".into(), repeats: 3, seed: 1, score: 0.5, clips: 10 },
            features: vec![FeatureImportance { rank: 1, feature: "F0semitoneFrom27.5Hz_sma3nz_amean".into(), mean: 0.1, std: 0.01 }],
            distributions: vec![Distribution {
                feature: "F0semitoneFrom27.5Hz_sma3nz_amean".into(),
                rank: 1,
                class: "01".into(),
                split: "train".into(),
                count: 4,
                min: 1.0,
                q1: 1.75,
                median: 2.5,
                q3: 3.25,
                max: 4.0,
                mean: 2.5,
            }],
        };
        importance.write(dir.path()).unwrap();
        assert_eq!(Importance::read(dir.path()).unwrap(), Some(importance));
        assert_eq!(Importance::read(tempfile::tempdir().unwrap().path()).unwrap(), None);
    }
}
