//! The scored clips of a report: for each model an `evaluate` stage scores, the labelled clips of
//! the scored split with their true and predicted classes, and their group in each of
//! `evaluate`'s `by` columns, in `<report folder>/<input>/clips.csv`:
//!
//! ```text
//! file_id,label,predicted,condition
//! 03-01-05-01-01-01-12,05,05,clean
//! 03-01-05-01-01-01-12_noise10dB,05,03,noise 10 dB (pink)
//! ```
//!
//! The report folder is the stage's `report/` in the cache and `<run>/<stage>/` in a run folder,
//! so that comparisons across runs (`vox compare`, also group by group) and across a sweep's
//! variants can test whether two models differ on the same clips.

use std::path::Path;

use crate::csv_file::CsvFileError;

/// The file name inside an input's report folder.
pub const CLIPS: &str = "clips.csv";

/// The columns every file starts with.
const HEADER: [&str; 3] = ["file_id", "label", "predicted"];

/// One scored clip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScoredClip {
    /// The clip id.
    pub file_id: String,
    /// Its true class.
    pub label: String,
    /// The class the model predicted.
    pub predicted: String,
    /// Its group in each of the file's group columns, in their order.
    pub groups: Vec<String>,
}

impl ScoredClip {
    /// Whether the prediction is right.
    pub fn correct(&self) -> bool {
        self.label == self.predicted
    }
}

/// A model's scored clips and the columns they are grouped by (`evaluate`'s `by`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scored {
    /// The group columns, in `by` order.
    pub columns: Vec<String>,
    /// The clips, each with a group per column.
    pub clips: Vec<ScoredClip>,
}

impl Scored {
    /// The clips in group `value` of column `column`; `None` without that column.
    pub fn in_group(&self, column: &str, value: &str) -> Option<Vec<ScoredClip>> {
        let c = self.columns.iter().position(|name| name == column)?;
        Some(self.clips.iter().filter(|clip| clip.groups.get(c).is_some_and(|g| g == value)).cloned().collect())
    }
}

/// Writes `scored` as `report_dir/input/clips.csv` (the folder must exist).
pub fn write(report_dir: &Path, input: &str, scored: &Scored) -> Result<(), CsvFileError> {
    let path = report_dir.join(input).join(CLIPS);
    let csv_err = |source| CsvFileError::Csv { path: path.clone(), source };
    let mut writer = csv::Writer::from_path(&path).map_err(csv_err)?;
    writer.write_record(HEADER.iter().copied().chain(scored.columns.iter().map(String::as_str))).map_err(csv_err)?;
    for clip in &scored.clips {
        let cells = [&clip.file_id, &clip.label, &clip.predicted].into_iter().chain(&clip.groups);
        writer.write_record(cells).map_err(csv_err)?;
    }
    writer.flush().map_err(|e| csv_err(e.into()))
}

/// Reads `report_dir/input/clips.csv`; `None` when there is none (the input had no labelled
/// clip in the scored split, or the report predates the file). Files from before group
/// columns were written read with none.
pub fn read(report_dir: &Path, input: &str) -> Result<Option<Scored>, CsvFileError> {
    let path = report_dir.join(input).join(CLIPS);
    if !path.is_file() {
        return Ok(None);
    }
    let csv_err = |source| CsvFileError::Csv { path: path.clone(), source };
    let mut reader = csv::Reader::from_path(&path).map_err(csv_err)?;
    let header = reader.headers().map_err(csv_err)?.clone();
    if header.len() < HEADER.len() || header.iter().zip(HEADER).any(|(found, expected)| found != expected) {
        let message = format!("the header starts with `{}`, not `{}`", header.iter().collect::<Vec<_>>().join(","), HEADER.join(","));
        return Err(CsvFileError::Malformed { path, line: 1, message });
    }
    let columns: Vec<String> = header.iter().skip(HEADER.len()).map(str::to_string).collect();
    let mut clips = Vec::new();
    for record in reader.records() {
        // The csv reader holds every record to the header's length.
        let record = record.map_err(csv_err)?;
        let cell = |i: usize| record.get(i).unwrap_or_default().to_string();
        clips.push(ScoredClip { file_id: cell(0), label: cell(1), predicted: cell(2), groups: (HEADER.len()..record.len()).map(cell).collect() });
    }
    Ok(Some(Scored { columns, clips }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(id: &str, label: &str, predicted: &str, groups: &[&str]) -> ScoredClip {
        ScoredClip { file_id: id.into(), label: label.into(), predicted: predicted.into(), groups: groups.iter().map(|g| g.to_string()).collect() }
    }

    #[test]
    fn round_trips_and_tells_missing_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rf")).unwrap();
        let scored = Scored { columns: vec![], clips: vec![clip("a", "05", "05", &[]), clip("b", "neu", "sad, low", &[])] };
        write(dir.path(), "rf", &scored).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join("rf/clips.csv")).unwrap(), "file_id,label,predicted\na,05,05\nb,neu,\"sad, low\"\n");
        assert_eq!(read(dir.path(), "rf").unwrap(), Some(scored.clone()));
        assert!(scored.clips[0].correct() && !scored.clips[1].correct());
        assert_eq!(read(dir.path(), "svm").unwrap(), None);
    }

    #[test]
    fn group_columns_round_trip_and_select_clips() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rf")).unwrap();
        let scored = Scored {
            columns: vec!["condition".into(), "sex".into()],
            clips: vec![
                clip("a", "05", "05", &["clean", "F"]),
                clip("a_noise0dB", "05", "03", &["noise 0 dB (pink)", "F"]),
                clip("b", "03", "03", &["clean", "(none)"]),
            ],
        };
        write(dir.path(), "rf", &scored).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("rf/clips.csv")).unwrap(),
            "file_id,label,predicted,condition,sex\na,05,05,clean,F\na_noise0dB,05,03,noise 0 dB (pink),F\nb,03,03,clean,(none)\n"
        );
        let back = read(dir.path(), "rf").unwrap().unwrap();
        assert_eq!(back, scored);
        let ids = |clips: Vec<ScoredClip>| clips.into_iter().map(|c| c.file_id).collect::<Vec<_>>();
        assert_eq!(ids(back.in_group("condition", "clean").unwrap()), ["a", "b"]);
        assert_eq!(ids(back.in_group("sex", "F").unwrap()), ["a", "a_noise0dB"]);
        assert_eq!(back.in_group("speaker", "01"), None);

        std::fs::write(dir.path().join("rf/clips.csv"), "id,label,predicted\na,05,05\n").unwrap();
        let error = read(dir.path(), "rf").unwrap_err().to_string();
        assert!(error.ends_with("clips.csv:1: the header starts with `id,label,predicted`, not `file_id,label,predicted`"), "{error}");
    }
}
