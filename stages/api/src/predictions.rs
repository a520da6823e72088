//! The predictions artifact: `predictions.csv`, one row per clip of every split the model saw
//! or was asked to score, with one probability column (`p` + the class name) per class the
//! model knows, beside `classes.csv`, the label set of the data ([`crate::labels`]):
//!
//! ```text
//! file_id,split,label,predicted,p01,p02,p03,p04,p05,p06,p07,p08
//! 03-01-05-01-01-01-12,val,05,05,0.01,0.02,0.01,0.03,0.85,0.04,0.02,0.02
//! clip_0001,test,,03,...
//! ```
//!
//! `label` is empty for unlabeled clips. A model trained without some class of the set has no
//! column for it (never a silent zero), so consumers can tell "absent" from "improbable"; the
//! columns follow the set's order. Models that train in epochs also write `history.csv`
//! ([`Epoch`] rows) beside it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::audio::{Clip, Split};
use crate::csv_file::CsvFileError;
use crate::labels::{LabelSet, LabelSetError};

/// The predictions file name inside a predictions folder.
pub const PREDICTIONS: &str = "predictions.csv";
/// The training-history file name inside a predictions folder.
pub const HISTORY: &str = "history.csv";

/// One clip's scores.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The clip id, as in the audio manifest.
    pub file_id: String,
    /// The split the clip belongs to.
    pub split: Split,
    /// The true label (a class name of the set), when known.
    pub label: Option<String>,
    /// Probabilities, aligned with [`Predictions::classes`]; they sum to 1.
    pub probabilities: Vec<f64>,
}

/// Every clip's scores from one model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Predictions {
    /// The label set of the data the model was trained on or scores.
    pub labels: LabelSet,
    /// The classes the model knows (names of `labels`, in the set's order).
    pub classes: Vec<String>,
    /// One row per clip.
    pub rows: Vec<Prediction>,
}

/// Failure to read or write a predictions folder.
#[derive(Debug, thiserror::Error)]
pub enum PredictionsError {
    /// `classes.csv` is missing or invalid.
    #[error(transparent)]
    Labels(#[from] LabelSetError),
    /// `predictions.csv` could not be read or written, or breaks the format.
    #[error(transparent)]
    File(#[from] CsvFileError),
    /// Predictions to average are over different label sets.
    #[error("the predictions to average are over different label sets: {first} and {other}")]
    LabelSetsDiffer {
        /// The first set, listed.
        first: String,
        /// A different one, listed.
        other: String,
    },
    /// Predictions to average do not score the same clips.
    #[error("the predictions to average do not score the same clips: `{file_id}` is in some and not in others")]
    ClipsDiffer {
        /// A clip some lack.
        file_id: String,
    },
}

/// One epoch of a model's training history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Epoch {
    /// One-based epoch number.
    pub epoch: u32,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy.
    pub train_accuracy: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Validation macro-F1.
    pub val_macro_f1: f64,
}

impl Prediction {
    /// Index into the classes of the most probable class (the first one on ties).
    pub fn argmax(&self) -> usize {
        argmax(&self.probabilities)
    }
}

/// The index of the largest value (the first on ties): the predicted class of a probability
/// row, for every stage that predicts.
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best
}

/// `exp(s_k - max s) / sum_j exp(s_j - max s)`: probabilities from scores, for every stage
/// that turns scores (logits, margins, log-probabilities) into a probability row.
pub fn softmax(scores: &[f64]) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}

impl Predictions {
    /// Predictions for `clips` (labels and splits from the manifest) of the data labelled by
    /// `labels`, with one probability row per clip, aligned with `classes`.
    pub fn from_clips(
        labels: LabelSet,
        classes: Vec<String>,
        clips: &[Clip],
        probabilities: Vec<Vec<f64>>,
    ) -> Self {
        let rows = clips
            .iter()
            .zip(probabilities)
            .map(|(clip, probabilities)| Prediction {
                file_id: clip.file_id.clone(),
                split: clip.split,
                label: clip.label.clone(),
                probabilities,
            })
            .collect();
        Self { labels, classes, rows }
    }

    /// The predicted class of `row`.
    pub fn predicted(&self, row: &Prediction) -> &str {
        &self.classes[row.argmax()]
    }

    /// The position in the label set of each of the model's classes.
    pub fn class_indices(&self) -> Vec<usize> {
        self.classes.iter().filter_map(|c| self.labels.index_of(c)).collect()
    }

    /// The mean of several models' probabilities on the same clips (the fold models of a
    /// cross-validation scoring new audio), in the first one's clip order: over every class
    /// some model knows, in the label set's order, a class a model lacks counting 0 for it;
    /// each row the mean, renormalized to sum to 1. Labels and splits are the first model's.
    pub fn mean(models: &[Predictions]) -> Result<Self, PredictionsError> {
        let Some(first) = models.first() else {
            return Ok(Self::default());
        };
        if let Some(other) = models.iter().find(|m| m.labels != first.labels) {
            return Err(PredictionsError::LabelSetsDiffer { first: first.labels.listing(), other: other.labels.listing() });
        }
        let classes: Vec<String> = first
            .labels
            .names()
            .filter(|c| models.iter().any(|m| m.classes.iter().any(|k| k == c)))
            .map(str::to_string)
            .collect();
        let mut rows: Vec<Prediction> =
            first.rows.iter().map(|r| Prediction { probabilities: vec![0.0; classes.len()], ..r.clone() }).collect();
        let position: std::collections::HashMap<&str, usize> =
            first.rows.iter().enumerate().map(|(i, r)| (r.file_id.as_str(), i)).collect();
        for model in models {
            let columns: Vec<usize> =
                model.classes.iter().map(|c| classes.iter().position(|k| k == c).unwrap_or(0)).collect();
            if model.rows.len() != rows.len() {
                let missing = rows.iter().find(|r| !model.rows.iter().any(|m| m.file_id == r.file_id));
                let extra = model.rows.iter().find(|m| !position.contains_key(m.file_id.as_str()));
                let file_id = missing.or(extra).map_or_else(String::new, |r| r.file_id.clone());
                return Err(PredictionsError::ClipsDiffer { file_id });
            }
            for row in &model.rows {
                let Some(&i) = position.get(row.file_id.as_str()) else {
                    return Err(PredictionsError::ClipsDiffer { file_id: row.file_id.clone() });
                };
                for (&column, p) in columns.iter().zip(&row.probabilities) {
                    rows[i].probabilities[column] += p;
                }
            }
        }
        let n = models.len() as f64;
        for row in &mut rows {
            row.probabilities.iter_mut().for_each(|p| *p /= n);
            let total: f64 = row.probabilities.iter().sum();
            if total > 0.0 {
                row.probabilities.iter_mut().for_each(|p| *p /= total);
            }
        }
        Ok(Self { labels: first.labels.clone(), classes, rows })
    }

    /// The rows of one split.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &Prediction> {
        self.rows.iter().filter(move |r| r.split == split)
    }

    /// Reads `predictions.csv` and `classes.csv` from `dir`; fails on a column or label that is
    /// not a class of the set.
    pub fn read(dir: &Path) -> Result<Self, PredictionsError> {
        let labels = LabelSet::read(dir)?;
        let path = dir.join(PREDICTIONS);
        let csv_err = |source| CsvFileError::Csv { path: path.clone(), source };
        let malformed = |line: u64, message: String| CsvFileError::Malformed {
            path: path.clone(),
            line,
            message,
        };
        let mut reader = csv::Reader::from_path(&path).map_err(csv_err)?;
        let header = reader.headers().map_err(csv_err)?.clone();
        let fixed: Vec<&str> = header.iter().take(4).collect();
        if fixed != ["file_id", "split", "label", "predicted"] {
            return Err(malformed(1, "the header must start with `file_id,split,label,predicted`".into()).into());
        }
        let mut classes = Vec::new();
        for col in header.iter().skip(4) {
            match col.strip_prefix('p').filter(|name| labels.contains(name)) {
                Some(name) if !classes.iter().any(|c| c == name) => classes.push(name.to_string()),
                _ => {
                    let message = format!(
                        "`{col}` is not a class column (`p` + one of the classes {}, each once)",
                        labels.listing()
                    );
                    return Err(malformed(1, message).into());
                }
            }
        }
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(csv_err)?;
            let line = i as u64 + 2;
            let Some(split) = Split::from_name(&record[1]) else {
                return Err(malformed(line, format!("unknown split `{}`", &record[1])).into());
            };
            let label = match &record[2] {
                "" => None,
                name if labels.contains(name) => Some(name.to_string()),
                name => {
                    let message = format!("label `{name}` is not a class of the set ({})", labels.listing());
                    return Err(malformed(line, message).into());
                }
            };
            let probabilities = record
                .iter()
                .skip(4)
                .map(|cell| {
                    cell.parse::<f64>()
                        .map_err(|_| malformed(line, format!("probability `{cell}` is not a number")))
                })
                .collect::<Result<Vec<f64>, _>>()?;
            rows.push(Prediction { file_id: record[0].to_string(), split, label, probabilities });
        }
        Ok(Self { labels, classes, rows })
    }

    /// Writes `predictions.csv` and `classes.csv` into `dir` (which must exist).
    pub fn write(&self, dir: &Path) -> Result<(), PredictionsError> {
        self.labels.write(dir)?;
        let path = dir.join(PREDICTIONS);
        let csv_err = |source| CsvFileError::Csv { path: path.clone(), source };
        let mut writer = csv::Writer::from_path(&path).map_err(csv_err)?;
        let mut header = vec!["file_id".to_string(), "split".into(), "label".into(), "predicted".into()];
        header.extend(self.classes.iter().map(|c| format!("p{c}")));
        writer.write_record(&header).map_err(csv_err)?;
        for row in &self.rows {
            let mut record = vec![
                row.file_id.clone(),
                row.split.name().to_string(),
                row.label.clone().unwrap_or_default(),
                self.predicted(row).to_string(),
            ];
            record.extend(row.probabilities.iter().map(|p| p.to_string()));
            writer.write_record(&record).map_err(csv_err)?;
        }
        writer.flush().map_err(|e| csv_err(e.into()))?;
        Ok(())
    }
}

/// Reads `history.csv` from `dir`, or `None` when the model did not train in epochs.
pub fn read_history(dir: &Path) -> Result<Option<Vec<Epoch>>, CsvFileError> {
    read_history_rows(dir)
}

/// `history.csv` of `dir` as rows of another shape than a classifier's [`Epoch`] (a model that
/// estimates dimensions has no accuracy); `None` when there is none.
pub fn read_history_rows<T: serde::de::DeserializeOwned>(dir: &Path) -> Result<Option<Vec<T>>, CsvFileError> {
    let path = dir.join(HISTORY);
    if !path.exists() {
        return Ok(None);
    }
    let csv_err = |source| CsvFileError::Csv { path: path.clone(), source };
    let mut reader = csv::Reader::from_path(&path).map_err(csv_err)?;
    let epochs = reader.deserialize().collect::<Result<Vec<T>, _>>().map_err(csv_err)?;
    Ok(Some(epochs))
}

/// Writes `history.csv` into `dir`: [`Epoch`] rows, or another model's rows.
pub fn write_history<T: Serialize>(dir: &Path, epochs: &[T]) -> Result<(), CsvFileError> {
    let path = dir.join(HISTORY);
    let csv_err = |source| CsvFileError::Csv { path: path.clone(), source };
    let mut writer = csv::Writer::from_path(&path).map_err(csv_err)?;
    for epoch in epochs {
        writer.serialize(epoch).map_err(csv_err)?;
    }
    writer.flush().map_err(|e| csv_err(e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_shift_invariant_and_sums_to_one() {
        let p = softmax(&[1000.0, 1000.0 + 2f64.ln()]);
        // ln 2 is added to 1000, whose ulp is 1.1e-13.
        assert!(
            (p[0] - 1.0 / 3.0).abs() < 1e-12 && (p[1] - 2.0 / 3.0).abs() < 1e-12,
            "{p:?}"
        );
        assert_eq!(softmax(&[-3.0, -3.0, -3.0, -3.0]), vec![0.25; 4]);
    }

    #[test]
    fn round_trips_with_missing_classes_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        let preds = Predictions {
            labels: LabelSet::from_names(["01", "02", "04", "05"]).unwrap(),
            classes: vec!["01".into(), "04".into(), "05".into()],
            rows: vec![
                Prediction {
                    file_id: "a".into(),
                    split: Split::Val,
                    label: Some("05".into()),
                    probabilities: vec![0.2, 0.3, 0.5],
                },
                Prediction {
                    file_id: "b".into(),
                    split: Split::Test,
                    label: None,
                    probabilities: vec![0.4, 0.2, 0.4],
                },
            ],
        };
        preds.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(PREDICTIONS)).unwrap();
        assert_eq!(
            text,
            "file_id,split,label,predicted,p01,p04,p05\na,val,05,05,0.2,0.3,0.5\nb,test,,01,0.4,0.2,0.4\n"
        );
        assert_eq!(Predictions::read(dir.path()).unwrap(), preds);
        assert_eq!(preds.split(Split::Val).count(), 1);
        assert_eq!(preds.class_indices(), [0, 2, 3]);
        let classes = std::fs::read_to_string(dir.path().join(crate::labels::CLASSES)).unwrap();
        assert_eq!(classes, "class,description\n01,\n02,\n04,\n05,\n");
        std::fs::write(dir.path().join(PREDICTIONS), text.replace("p05", "p06")).unwrap();
        let err = Predictions::read(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("predictions.csv:1: `p06` is not a class column (`p` + one of the classes 01, 02, 04, 05, each once)"), "{err}");
        std::fs::write(dir.path().join(PREDICTIONS), text.replace("a,val,05", "a,val,03")).unwrap();
        let err = Predictions::read(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("predictions.csv:2: label `03` is not a class of the set (01, 02, 04, 05)"), "{err}");
    }

    #[test]
    fn history_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_history(dir.path()).unwrap(), None);
        let epochs = vec![Epoch {
            epoch: 1,
            train_loss: 2.0,
            train_accuracy: 0.2,
            val_loss: 1.9,
            val_accuracy: 0.25,
            val_macro_f1: 0.2,
        }];
        write_history(dir.path(), &epochs).unwrap();
        assert_eq!(read_history(dir.path()).unwrap(), Some(epochs));
    }
}
