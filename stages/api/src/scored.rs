//! The scored clips of a report: for each model an `evaluate` stage scores, the labelled clips of
//! the scored split with their true and predicted classes, in `<report folder>/<input>/clips.csv`:
//!
//! ```text
//! file_id,label,predicted
//! 03-01-05-01-01-01-12,05,05
//! ```
//!
//! The report folder is the stage's `report/` in the cache and `<run>/<stage>/` in a run folder,
//! so that comparisons across runs (`vox compare`) and across a sweep's variants can test
//! whether two models differ on the same clips.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::csv_file::CsvFileError;

/// The file name inside an input's report folder.
pub const CLIPS: &str = "clips.csv";

/// One scored clip.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoredClip {
    /// The clip id.
    pub file_id: String,
    /// Its true class.
    pub label: String,
    /// The class the model predicted.
    pub predicted: String,
}

impl ScoredClip {
    /// Whether the prediction is right.
    pub fn correct(&self) -> bool {
        self.label == self.predicted
    }
}

/// Writes `clips` as `report_dir/input/clips.csv` (the folder must exist).
pub fn write(report_dir: &Path, input: &str, clips: &[ScoredClip]) -> Result<(), CsvFileError> {
    let path = report_dir.join(input).join(CLIPS);
    let csv_err = |source| CsvFileError::Csv { path: path.clone(), source };
    let mut writer = csv::Writer::from_path(&path).map_err(csv_err)?;
    for clip in clips {
        writer.serialize(clip).map_err(csv_err)?;
    }
    writer.flush().map_err(|e| csv_err(e.into()))
}

/// Reads `report_dir/input/clips.csv`; `None` when there is none (the input had no labelled
/// clip in the scored split, or the report predates the file).
pub fn read(report_dir: &Path, input: &str) -> Result<Option<Vec<ScoredClip>>, CsvFileError> {
    let path = report_dir.join(input).join(CLIPS);
    if !path.is_file() {
        return Ok(None);
    }
    let csv_err = |source| CsvFileError::Csv { path: path.clone(), source };
    let mut reader = csv::Reader::from_path(&path).map_err(csv_err)?;
    let clips = reader.deserialize().collect::<Result<Vec<ScoredClip>, _>>().map_err(csv_err)?;
    Ok(Some(clips))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tells_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rf")).unwrap();
        let clips = vec![
            ScoredClip { file_id: "a".into(), label: "05".into(), predicted: "05".into() },
            ScoredClip { file_id: "b".into(), label: "neu".into(), predicted: "sad, low".into() },
        ];
        write(dir.path(), "rf", &clips).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("rf/clips.csv")).unwrap(), "file_id,label,predicted\na,05,05\nb,neu,\"sad, low\"\n");
        assert_eq!(read(dir.path(), "rf").unwrap(), Some(clips.clone()));
        assert!(clips[0].correct() && !clips[1].correct());
        assert_eq!(read(dir.path(), "svm").unwrap(), None);
    }
}
