//! The estimates artifact: a model's values for continuous emotion dimensions (arousal,
//! valence, dominance: what IEMOCAP's and MSP-Podcast's raters give each clip on a scale),
//! `estimates.csv`, one row per clip of every split the model saw or was asked to score:
//!
//! ```text
//! file_id,split,arousal,valence,predicted_arousal,predicted_valence
//! Ses01F_impro01_F000,test,2.5,3.0,2.71,2.88
//! new_clip,test,,,3.40,2.05
//! ```
//!
//! The true values (empty where a clip has no rating) come from the manifest's columns of the
//! same names ([`rating`]); the predicted ones are the model's, for every clip. Categorical
//! models write `predictions.csv` ([`crate::predictions`]) instead: a class is not a number on
//! a scale, and a dimension has no classes.

use std::path::Path;

use crate::audio::{Clip, Split};
use crate::csv_file::CsvFileError;

/// The estimates file name inside an estimates folder.
pub const ESTIMATES: &str = "estimates.csv";

/// The prefix of a predicted dimension's column.
const PREDICTED: &str = "predicted_";

/// One clip's values.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// The clip id, as in the audio manifest.
    pub file_id: String,
    /// The split the clip belongs to.
    pub split: Split,
    /// The true value of each dimension, where the clip is rated.
    pub truth: Vec<Option<f64>>,
    /// The model's value of each dimension.
    pub predicted: Vec<f64>,
}

/// Every clip's values from one model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Estimates {
    /// The dimensions, in column order (manifest column names: `arousal`, `valence`, ...).
    pub dimensions: Vec<String>,
    /// One row per clip.
    pub rows: Vec<Estimate>,
}

/// Failure to read a clip's rating or an estimates folder.
#[derive(Debug, thiserror::Error)]
pub enum EstimatesError {
    /// `estimates.csv` could not be read or written, or breaks the format.
    #[error(transparent)]
    File(#[from] CsvFileError),
    /// Estimates to average are of different dimensions.
    #[error("the estimates to average are of different dimensions: {first} and {other}")]
    DimensionsDiffer {
        /// The first model's, listed.
        first: String,
        /// A different one, listed.
        other: String,
    },
    /// Estimates to average do not cover the same clips.
    #[error("the estimates to average do not cover the same clips: `{file_id}` is in some and not in others")]
    ClipsDiffer {
        /// A clip some lack.
        file_id: String,
        /// The position of a model that lacks it.
        lacking: usize,
        /// The position of a model that has it.
        having: usize,
    },
    /// A clip's value in a dimension's manifest column is not a finite number.
    #[error("clip `{file_id}`: `{dimension}` is `{value}`, not a number")]
    NotANumber {
        /// The clip.
        file_id: String,
        /// The dimension's column.
        dimension: String,
        /// The value found.
        value: String,
    },
}

/// Manifest columns that hold no rating, with why.
const NOT_RATINGS: [(&str, &str); 8] = [
    ("label", "holds classes: a classifier learns them (`baseline`, or `fine-tune` without `targets`)"),
    ("file_id", "names clips"),
    ("split", "names splits"),
    ("sample_rate", "is a position in the audio, not a rating"),
    ("offset", "is a position in the audio, not a rating"),
    ("length", "is a position in the audio, not a rating"),
    ("original_length", "is a position in the audio, not a rating"),
    ("", "must name a manifest column with ratings (`arousal`, `valence`, ...)"),
];

/// Why manifest column `column` can hold no rating (`label` holds classes, `length` a position
/// in the audio), for the stages whose `targets` name rated columns; `None` for any other column.
pub fn not_a_rating(column: &str) -> Option<&'static str> {
    NOT_RATINGS.iter().find(|(c, _)| *c == column).map(|(_, why)| *why)
}

/// Checks a stage's `targets` param (the manifest columns with the ratings it estimates): at
/// least one, none twice, none a column that holds no rating ([`not_a_rating`]); the error names
/// the entry at fault.
pub fn check_targets(targets: &[String]) -> Result<(), crate::ParamError> {
    if targets.is_empty() {
        return Err(crate::ParamError::new(
            "targets",
            "name the manifest columns with the ratings to estimate (`targets = [\"arousal\", \"valence\"]`)",
        ));
    }
    for (i, target) in targets.iter().enumerate() {
        let why = match not_a_rating(target) {
            Some(why) => why,
            None if targets[..i].contains(target) => "is listed twice",
            None => continue,
        };
        return Err(crate::ParamError::new(format!("targets.{i}"), format!("`{target}` {why}")));
    }
    Ok(())
}

/// The rating of `clip` in manifest column `dimension`: `None` when the clip has no value
/// there (it is not rated, as an unlabeled clip has no class), an error when the value is not a
/// finite number.
pub fn rating(clip: &Clip, dimension: &str) -> Result<Option<f64>, EstimatesError> {
    let value = clip.column(dimension);
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    match value.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(EstimatesError::NotANumber {
            file_id: clip.file_id.clone(),
            dimension: dimension.to_string(),
            value: value.to_string(),
        }),
    }
}

impl Estimates {
    /// Estimates for `clips` (true values from their manifest columns `dimensions`), with one
    /// row of predicted values per clip, aligned with `dimensions`.
    pub fn from_clips(dimensions: Vec<String>, clips: &[Clip], predicted: Vec<Vec<f64>>) -> Result<Self, EstimatesError> {
        let rows = clips
            .iter()
            .zip(predicted)
            .map(|(clip, predicted)| {
                let truth = dimensions.iter().map(|d| rating(clip, d)).collect::<Result<_, _>>()?;
                Ok(Estimate { file_id: clip.file_id.clone(), split: clip.split, truth, predicted })
            })
            .collect::<Result<_, EstimatesError>>()?;
        Ok(Self { dimensions, rows })
    }

    /// The mean of several models' estimates of the same clips (the fold models of a
    /// cross-validation estimating new audio), in the first one's clip order; truths and splits
    /// are the first one's.
    pub fn mean(models: &[Estimates]) -> Result<Self, EstimatesError> {
        let models: Vec<&Estimates> = models.iter().collect();
        let ones: Vec<Vec<f64>> = models.iter().map(|m| vec![1.0; m.dimensions.len()]).collect();
        let mut mean = Self::weighted_sum(&models, &ones)?;
        let n = models.len() as f64;
        mean.rows.iter_mut().for_each(|r| r.predicted.iter_mut().for_each(|v| *v /= n));
        Ok(mean)
    }

    /// Clip by clip, the sum over `models` of each one's values times its weight in that
    /// dimension (`weights[model][dimension]`), in the first one's clip order; truths and splits
    /// are the first one's. The models must estimate the same dimensions, in the same order, of
    /// the same clips.
    pub fn weighted_sum(models: &[&Estimates], weights: &[Vec<f64>]) -> Result<Self, EstimatesError> {
        let Some(first) = models.first() else {
            return Ok(Self::default());
        };
        let mut rows: Vec<Estimate> =
            first.rows.iter().map(|r| Estimate { predicted: vec![0.0; r.predicted.len()], ..r.clone() }).collect();
        let position: std::collections::HashMap<&str, usize> =
            first.rows.iter().enumerate().map(|(i, r)| (r.file_id.as_str(), i)).collect();
        for (m, (model, weight)) in models.iter().zip(weights).enumerate() {
            if model.dimensions != first.dimensions {
                return Err(EstimatesError::DimensionsDiffer { first: first.dimensions.join(", "), other: model.dimensions.join(", ") });
            }
            let mut seen = std::collections::HashSet::with_capacity(model.rows.len());
            for row in &model.rows {
                let Some(&i) = position.get(row.file_id.as_str()) else {
                    return Err(EstimatesError::ClipsDiffer { file_id: row.file_id.clone(), lacking: 0, having: m });
                };
                seen.insert(i);
                rows[i].predicted.iter_mut().zip(&row.predicted).zip(weight).for_each(|((sum, v), w)| *sum += w * v);
            }
            if let Some(row) = (seen.len() < rows.len()).then(|| (0..rows.len()).find(|i| !seen.contains(i))).flatten() {
                return Err(EstimatesError::ClipsDiffer { file_id: first.rows[row].file_id.clone(), lacking: m, having: 0 });
            }
        }
        Ok(Self { dimensions: first.dimensions.clone(), rows })
    }

    /// The rows of one split.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &Estimate> {
        self.rows.iter().filter(move |r| r.split == split)
    }

    /// The (true, predicted) pairs of dimension `d` on the rated clips of `split`.
    pub fn pairs(&self, split: Split, d: usize) -> Vec<(f64, f64)> {
        self.split(split).filter_map(|r| Some((r.truth[d]?, r.predicted[d]))).collect()
    }

    /// Reads `estimates.csv` from `dir`.
    pub fn read(dir: &Path) -> Result<Self, EstimatesError> {
        let path = dir.join(ESTIMATES);
        let csv_err = |source| CsvFileError::Csv { path: path.clone(), source };
        let malformed = |line: u64, message: String| CsvFileError::Malformed { path: path.clone(), line, message };
        let mut reader = csv::Reader::from_path(&path).map_err(csv_err)?;
        let header = reader.headers().map_err(csv_err)?.clone();
        let columns: Vec<&str> = header.iter().collect();
        let dimensions: Vec<String> = columns.iter().skip(2).take_while(|c| !c.starts_with(PREDICTED)).map(|c| c.to_string()).collect();
        let expected: Vec<String> = ["file_id", "split"]
            .into_iter()
            .map(str::to_string)
            .chain(dimensions.iter().cloned())
            .chain(dimensions.iter().map(|d| format!("{PREDICTED}{d}")))
            .collect();
        if dimensions.is_empty() || columns != expected {
            let message = "the header must be `file_id,split`, the dimensions, then `predicted_` + each dimension in the same order".into();
            return Err(malformed(1, message).into());
        }
        let n = dimensions.len();
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(csv_err)?;
            let line = i as u64 + 2;
            let split = Split::from_name(&record[1]).ok_or_else(|| malformed(line, format!("unknown split `{}`", &record[1])))?;
            let number = |cell: &str| {
                cell.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| malformed(line, format!("`{cell}` is not a number")))
            };
            let truth = (0..n)
                .map(|d| match &record[2 + d] {
                    "" => Ok(None),
                    cell => number(cell).map(Some),
                })
                .collect::<Result<_, _>>()?;
            let predicted = (0..n).map(|d| number(&record[2 + n + d])).collect::<Result<_, _>>()?;
            rows.push(Estimate { file_id: record[0].to_string(), split, truth, predicted });
        }
        Ok(Self { dimensions, rows })
    }

    /// Writes `estimates.csv` into `dir` (which must exist).
    pub fn write(&self, dir: &Path) -> Result<(), EstimatesError> {
        let path = dir.join(ESTIMATES);
        let csv_err = |source| CsvFileError::Csv { path: path.clone(), source };
        let mut writer = csv::Writer::from_path(&path).map_err(csv_err)?;
        let header = ["file_id".to_string(), "split".into()]
            .into_iter()
            .chain(self.dimensions.iter().cloned())
            .chain(self.dimensions.iter().map(|d| format!("{PREDICTED}{d}")));
        writer.write_record(header).map_err(csv_err)?;
        for row in &self.rows {
            let record = [row.file_id.clone(), row.split.name().to_string()]
                .into_iter()
                .chain(row.truth.iter().map(|t| t.map_or_else(String::new, |v| v.to_string())))
                .chain(row.predicted.iter().map(f64::to_string));
            writer.write_record(record).map_err(csv_err)?;
        }
        writer.flush().map_err(|e| csv_err(e.into()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(id: &str, split: Split, arousal: &str) -> Clip {
        let mut clip = Clip { file_id: id.into(), split, ..Clip::default() };
        if !arousal.is_empty() {
            clip.extra.insert("arousal".into(), arousal.into());
        }
        clip
    }

    #[test]
    fn round_trips_with_unrated_clips() {
        let dir = tempfile::tempdir().unwrap();
        let clips = [clip("a", Split::Val, "2.5"), clip("b", Split::Test, "")];
        let estimates = Estimates::from_clips(vec!["arousal".into()], &clips, vec![vec![2.25], vec![3.5]]).unwrap();
        estimates.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(ESTIMATES)).unwrap();
        assert_eq!(text, "file_id,split,arousal,predicted_arousal\na,val,2.5,2.25\nb,test,,3.5\n");
        assert_eq!(Estimates::read(dir.path()).unwrap(), estimates);
        assert_eq!(estimates.pairs(Split::Val, 0), [(2.5, 2.25)]);
        assert!(estimates.pairs(Split::Test, 0).is_empty());

        std::fs::write(dir.path().join(ESTIMATES), text.replace("predicted_arousal", "predicted_valence")).unwrap();
        let err = Estimates::read(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("estimates.csv:1: the header must be `file_id,split`, the dimensions, then `predicted_` + each dimension in the same order"), "{err}");
        std::fs::write(dir.path().join(ESTIMATES), text.replace("3.5", "high")).unwrap();
        let err = Estimates::read(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("estimates.csv:3: `high` is not a number"), "{err}");
    }

    #[test]
    fn folds_average_clip_by_clip_over_the_same_clips() {
        let clips = [clip("a", Split::None, ""), clip("b", Split::None, "")];
        let one = Estimates::from_clips(vec!["arousal".into()], &clips, vec![vec![2.0], vec![4.0]]).unwrap();
        let mut two = Estimates::from_clips(vec!["arousal".into()], &clips, vec![vec![3.0], vec![2.0]]).unwrap();
        two.rows.reverse();
        let mean = Estimates::mean(&[one.clone(), two.clone()]).unwrap();
        assert_eq!(mean.rows.iter().map(|r| r.predicted[0]).collect::<Vec<_>>(), [2.5, 3.0]);
        two.rows.pop();
        let err = Estimates::mean(&[one.clone(), two]).unwrap_err().to_string();
        assert_eq!(err, "the estimates to average do not cover the same clips: `a` is in some and not in others");
        let other = Estimates { dimensions: vec!["valence".into()], ..one.clone() };
        assert!(Estimates::mean(&[one, other]).is_err());
    }

    #[test]
    fn a_rating_is_a_finite_number_or_absent() {
        assert_eq!(rating(&clip("a", Split::Train, " 4.0 "), "arousal").unwrap(), Some(4.0));
        assert_eq!(rating(&clip("a", Split::Train, ""), "arousal").unwrap(), None);
        assert_eq!(rating(&clip("a", Split::Train, "2"), "valence").unwrap(), None);
        let err = rating(&clip("x7", Split::Train, "high"), "arousal").unwrap_err().to_string();
        assert_eq!(err, "clip `x7`: `arousal` is `high`, not a number");
        assert!(rating(&clip("x7", Split::Train, "NaN"), "arousal").is_err());
    }
}
