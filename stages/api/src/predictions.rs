//! The predictions artifact: `predictions.csv`, one row per clip of every split the model saw
//! or was asked to score, with one probability column per class the model knows:
//!
//! ```text
//! file_id,split,label,predicted,p01,p02,p03,p04,p05,p06,p07,p08
//! 03-01-05-01-01-01-12,val,05,05,0.01,0.02,0.01,0.03,0.85,0.04,0.02,0.02
//! clip_0001,test,,03,...
//! ```
//!
//! `label` is empty for unlabeled clips. A model trained without some class has no column for it
//! (never a silent zero), so consumers can tell "absent" from "improbable". Models that train in
//! epochs also write `history.csv` ([`Epoch`] rows) beside it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::audio::{Clip, Split};
use crate::csv_file::CsvFileError;
use crate::emotion::Emotion;

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
    /// The true label, when known.
    pub label: Option<Emotion>,
    /// Probabilities, aligned with [`Predictions::classes`]; they sum to 1.
    pub probabilities: Vec<f64>,
}

/// Every clip's scores from one model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Predictions {
    /// The classes the model knows, in code order.
    pub classes: Vec<Emotion>,
    /// One row per clip.
    pub rows: Vec<Prediction>,
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
        let mut best = 0;
        for (i, p) in self.probabilities.iter().enumerate() {
            if *p > self.probabilities[best] {
                best = i;
            }
        }
        best
    }
}

impl Predictions {
    /// Predictions for `clips` (labels and splits from the manifest) with one probability row
    /// per clip, aligned with `classes`.
    pub fn from_clips(classes: Vec<Emotion>, clips: &[Clip], probabilities: Vec<Vec<f64>>) -> Self {
        let rows = clips
            .iter()
            .zip(probabilities)
            .map(|(clip, probabilities)| Prediction {
                file_id: clip.file_id.clone(),
                split: clip.split,
                label: clip.emotion,
                probabilities,
            })
            .collect();
        Self { classes, rows }
    }

    /// The predicted class of `row`.
    pub fn predicted(&self, row: &Prediction) -> Emotion {
        self.classes[row.argmax()]
    }

    /// The rows of one split.
    pub fn split(&self, split: Split) -> impl Iterator<Item = &Prediction> {
        self.rows.iter().filter(move |r| r.split == split)
    }

    /// Reads `predictions.csv` from `dir`.
    pub fn read(dir: &Path) -> Result<Self, CsvFileError> {
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
            return Err(malformed(1, "the header must start with `file_id,split,label,predicted`".into()));
        }
        let classes = header
            .iter()
            .skip(4)
            .map(|col| {
                col.strip_prefix('p')
                    .and_then(|code| code.parse::<Emotion>().ok())
                    .ok_or_else(|| malformed(1, format!("`{col}` is not a class column (p01..p08)")))
            })
            .collect::<Result<Vec<Emotion>, _>>()?;
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(csv_err)?;
            let line = i as u64 + 2;
            let split = match &record[1] {
                "" => Split::None,
                "train" => Split::Train,
                "val" => Split::Val,
                "test" => Split::Test,
                other => return Err(malformed(line, format!("unknown split `{other}`"))),
            };
            let label = match &record[2] {
                "" => None,
                code => Some(code.parse::<Emotion>().map_err(|e| malformed(line, e.to_string()))?),
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
        Ok(Self { classes, rows })
    }

    /// Writes `predictions.csv` into `dir` (which must exist).
    pub fn write(&self, dir: &Path) -> Result<(), CsvFileError> {
        let path = dir.join(PREDICTIONS);
        let csv_err = |source| CsvFileError::Csv { path: path.clone(), source };
        let mut writer = csv::Writer::from_path(&path).map_err(csv_err)?;
        let mut header = vec!["file_id".to_string(), "split".into(), "label".into(), "predicted".into()];
        header.extend(self.classes.iter().map(|c| format!("p{}", c.code())));
        writer.write_record(&header).map_err(csv_err)?;
        for row in &self.rows {
            let split = match row.split {
                Split::None => "",
                Split::Train => "train",
                Split::Val => "val",
                Split::Test => "test",
            };
            let mut record = vec![
                row.file_id.clone(),
                split.to_string(),
                row.label.map(|l| l.code().to_string()).unwrap_or_default(),
                self.predicted(row).code().to_string(),
            ];
            record.extend(row.probabilities.iter().map(|p| p.to_string()));
            writer.write_record(&record).map_err(csv_err)?;
        }
        writer.flush().map_err(|e| csv_err(e.into()))
    }
}

/// Reads `history.csv` from `dir`, or `None` when the model did not train in epochs.
pub fn read_history(dir: &Path) -> Result<Option<Vec<Epoch>>, CsvFileError> {
    let path = dir.join(HISTORY);
    if !path.exists() {
        return Ok(None);
    }
    let csv_err = |source| CsvFileError::Csv { path: path.clone(), source };
    let mut reader = csv::Reader::from_path(&path).map_err(csv_err)?;
    let epochs = reader.deserialize().collect::<Result<Vec<Epoch>, _>>().map_err(csv_err)?;
    Ok(Some(epochs))
}

/// Writes `history.csv` into `dir`.
pub fn write_history(dir: &Path, epochs: &[Epoch]) -> Result<(), CsvFileError> {
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
    fn round_trips_with_missing_classes_and_labels() {
        let dir = tempfile::tempdir().unwrap();
        let preds = Predictions {
            classes: vec![Emotion::Neutral, Emotion::Angry, Emotion::Sad],
            rows: vec![
                Prediction {
                    file_id: "a".into(),
                    split: Split::Val,
                    label: Some(Emotion::Angry),
                    probabilities: vec![0.2, 0.5, 0.3],
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
            "file_id,split,label,predicted,p01,p05,p04\na,val,05,05,0.2,0.5,0.3\nb,test,,01,0.4,0.2,0.4\n"
        );
        assert_eq!(Predictions::read(dir.path()).unwrap(), preds);
        assert_eq!(preds.split(Split::Val).count(), 1);
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
