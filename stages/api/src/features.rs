//! The features artifact: `features.csv` (`file_id`, then one numeric column per feature, in the
//! extractor's order, like openSMILE's CSV) beside the audio set's `manifest.csv` (labels and
//! splits, no samples) and `classes.csv` (its label set), so that models downstream find labels
//! without the audio.

use std::path::Path;

use crate::audio::{AudioSet, AudioSetError, Clip, Manifest};
use crate::labels::LabelSet;
use crate::csv_file::CsvFileError;

/// The feature file name inside a features folder.
pub const FEATURES: &str = "features.csv";

/// A table of per-clip feature vectors with the clips' labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FeatureTable {
    /// Feature names, in column order.
    pub names: Vec<String>,
    /// The classes the clips' labels come from.
    pub labels: LabelSet,
    /// One row per clip, in manifest order; `clips[i]` describes `rows[i]`.
    pub clips: Vec<Clip>,
    /// Feature values; every row has `names.len()` values.
    pub rows: Vec<Vec<f64>>,
}

/// Failure to read or write a feature table.
#[derive(Debug, thiserror::Error)]
pub enum FeatureTableError {
    /// The manifest could not be read or written.
    #[error(transparent)]
    Manifest(#[from] AudioSetError),
    /// `features.csv` could not be read or written, or does not line up with the manifest.
    #[error(transparent)]
    File(#[from] CsvFileError),
}

impl FeatureTable {
    /// Reads the table in `dir`.
    pub fn read(dir: &Path) -> Result<Self, FeatureTableError> {
        let Manifest { labels, clips } = AudioSet::read_manifest(dir)?;
        let path = dir.join(FEATURES);
        let csv_err = |source| CsvFileError::Csv { path: path.clone(), source };
        let mut reader = csv::Reader::from_path(&path).map_err(csv_err)?;
        let header = reader.headers().map_err(csv_err)?.clone();
        if header.get(0) != Some("file_id") {
            let message = "the first column must be `file_id`".into();
            return Err(CsvFileError::Malformed { path, line: 1, message }.into());
        }
        let names: Vec<String> = header.iter().skip(1).map(str::to_string).collect();
        let mut rows = Vec::with_capacity(clips.len());
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(csv_err)?;
            let line = i as u64 + 2;
            let malformed = |message: String| CsvFileError::Malformed {
                path: path.clone(),
                line,
                message,
            };
            let expected = clips.get(i).map(|c| c.file_id.as_str());
            if record.get(0) != expected {
                return Err(malformed(format!(
                    "file_id `{}` does not match manifest row `{}`",
                    record.get(0).unwrap_or(""),
                    expected.unwrap_or("<none>")
                ))
                .into());
            }
            let values = record
                .iter()
                .skip(1)
                .zip(&names)
                .map(|(cell, name)| {
                    cell.parse::<f64>()
                        .map_err(|_| malformed(format!("`{name}` = `{cell}` is not a number")))
                })
                .collect::<Result<Vec<f64>, _>>()?;
            rows.push(values);
        }
        if rows.len() != clips.len() {
            let message = format!("{} feature rows for {} manifest clips", rows.len(), clips.len());
            return Err(CsvFileError::Malformed { path, line: rows.len() as u64 + 1, message }.into());
        }
        Ok(Self { names, labels, clips, rows })
    }

    /// Writes the table into `dir` (which must exist).
    pub fn write(&self, dir: &Path) -> Result<(), FeatureTableError> {
        AudioSet::write_manifest(&self.labels, &self.clips, dir)?;
        let path = dir.join(FEATURES);
        let csv_err = |source| CsvFileError::Csv { path: path.clone(), source };
        let mut writer = csv::Writer::from_path(&path).map_err(csv_err)?;
        writer
            .write_record(std::iter::once("file_id").chain(self.names.iter().map(String::as_str)))
            .map_err(csv_err)?;
        for (clip, row) in self.clips.iter().zip(&self.rows) {
            let cells = row.iter().map(|v| v.to_string());
            writer
                .write_record(std::iter::once(clip.file_id.clone()).chain(cells))
                .map_err(csv_err)?;
        }
        Ok(writer.flush().map_err(|e| csv_err(e.into()))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Split;

    fn clip(id: &str) -> Clip {
        Clip {
            file_id: id.into(),
            corpus: "ravdess".into(),
            speaker: "02".into(),
            sex: "f".into(),
            label: Some("04".into()),
            intensity: "02".into(),
            statement: "01".into(),
            repetition: "02".into(),
            split: Split::Train,
            source: String::new(),
            sample_rate: 16000,
            offset: 0,
            length: 60000,
            original_length: 52000,
            extra: Default::default(),
        }
    }

    #[test]
    fn round_trips_and_checks_alignment() {
        let dir = tempfile::tempdir().unwrap();
        let table = FeatureTable {
            names: vec!["F0semitoneFrom27.5Hz_sma3nz_amean".into(), "loudness_sma3_amean".into()],
            labels: LabelSet::from_names(["04"]).unwrap(),
            clips: vec![clip("a"), clip("b")],
            rows: vec![vec![30.5, 0.25], vec![-1e-7, 3.0]],
        };
        table.write(dir.path()).unwrap();
        assert_eq!(FeatureTable::read(dir.path()).unwrap(), table);

        let csv = std::fs::read_to_string(dir.path().join(FEATURES)).unwrap();
        std::fs::write(dir.path().join(FEATURES), csv.replace("\nb,", "\nc,")).unwrap();
        let err = FeatureTable::read(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("features.csv:3: file_id `c` does not match manifest row `b`"), "{err}");
    }
}
