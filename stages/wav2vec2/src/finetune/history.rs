//! The per-epoch rows of a fine-tune, `history.csv`: a classifier's ([`Epoch`]: loss, accuracy,
//! macro-F1), or those of a fine-tune that estimates dimensions ([`DimensionEpoch`]: loss and
//! CCC, no accuracy to leave empty or fake), and which epoch each judges best.

use std::path::Path;

use serde::{Deserialize, Serialize};
use vox_api::csv_file::CsvFileError;
use vox_api::predictions::{Epoch, read_history_rows, write_history};

use super::Task;

/// One epoch of a fine-tune that estimates dimensions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DimensionEpoch {
    /// One-based epoch number.
    pub epoch: u32,
    /// Mean training loss (the stage's `loss`).
    pub train_loss: f64,
    /// The loss over the validation clips at once.
    pub val_loss: f64,
    /// Validation CCC, the mean over the targets.
    pub val_ccc: f64,
}

/// The rows of every epoch done.
#[derive(Clone, Debug, PartialEq)]
pub enum History {
    /// A classifier's.
    Classes(Vec<Epoch>),
    /// A fine-tune's that estimates dimensions.
    Dimensions(Vec<DimensionEpoch>),
}

impl History {
    /// No epoch yet, for `task`.
    pub fn new(task: Task) -> Self {
        match task {
            Task::Classes => Self::Classes(Vec::new()),
            Task::Dimensions(_) => Self::Dimensions(Vec::new()),
        }
    }

    /// Epochs recorded.
    pub fn len(&self) -> usize {
        match self {
            Self::Classes(rows) => rows.len(),
            Self::Dimensions(rows) => rows.len(),
        }
    }

    /// What the best epoch is chosen by, of epoch `epoch` (1-based): validation macro-F1 or
    /// CCC, higher is better.
    pub fn criterion(&self, epoch: u32) -> f64 {
        let i = epoch as usize - 1;
        match self {
            Self::Classes(rows) => rows[i].val_macro_f1,
            Self::Dimensions(rows) => rows[i].val_ccc,
        }
    }

    /// Writes `history.csv` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), CsvFileError> {
        match self {
            Self::Classes(rows) => write_history(dir, rows),
            Self::Dimensions(rows) => write_history(dir, rows),
        }
    }

    /// `history.csv` of `dir` for `task`, empty when there is none.
    pub fn read(dir: &Path, task: Task) -> Result<Self, CsvFileError> {
        Ok(match task {
            Task::Classes => Self::Classes(read_history_rows(dir)?.unwrap_or_default()),
            Task::Dimensions(_) => Self::Dimensions(read_history_rows(dir)?.unwrap_or_default()),
        })
    }
}
