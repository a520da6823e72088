//! The scikit-learn fixture (`tests/fixtures/`, written by `scripts/make_fixtures.py`) as a
//! feature table, and its reference results.

use std::path::PathBuf;

use vox_api::audio::{Clip, Split};
use vox_api::features::FeatureTable;
use vox_api::labels::{Class, LabelSet};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The classes `01`..`08` (RAVDESS's codes, described), which the tables here are labelled with.
pub fn codes() -> LabelSet {
    let names = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"];
    let classes = names
        .iter()
        .enumerate()
        .map(|(k, name)| Class { name: format!("{:02}", k + 1), description: name.to_string() })
        .collect();
    LabelSet::new(classes).unwrap()
}

/// A manifest row with the given id, label and split; the other fields are fixed.
pub fn clip(file_id: &str, label: Option<&str>, split: Split) -> Clip {
    Clip {
        file_id: file_id.into(),
        corpus: "synthetic".into(),
        speaker: String::new(),
        sex: String::new(),
        label: label.map(Into::into),
        intensity: String::new(),
        statement: String::new(),
        repetition: String::new(),
        split,
        source: String::new(),
        sample_rate: 16000,
        offset: 0,
        length: 0,
        original_length: 0,
        extra: Default::default(),
    }
}

/// `dataset.csv` as a feature table: label `k` becomes class `k + 1` (`01`..).
pub fn dataset() -> FeatureTable {
    let mut reader = csv::Reader::from_path(fixtures().join("dataset.csv")).unwrap();
    let names = reader
        .headers()
        .unwrap()
        .iter()
        .skip(2)
        .map(str::to_string)
        .collect();
    let mut table = FeatureTable {
        names,
        labels: codes(),
        ..FeatureTable::default()
    };
    for (i, record) in reader.records().enumerate() {
        let record = record.unwrap();
        let split = if &record[0] == "train" {
            Split::Train
        } else {
            Split::Val
        };
        let label = format!("{:02}", record[1].parse::<usize>().unwrap() + 1);
        table
            .clips
            .push(clip(&format!("row{i:03}"), Some(&label), split));
        table
            .rows
            .push(record.iter().skip(2).map(|v| v.parse().unwrap()).collect());
    }
    table
}

/// `sklearn_reference.json`.
pub fn reference() -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("sklearn_reference.json")).unwrap(),
    )
    .unwrap()
}

/// The validation rows and their class indices (label code - 1).
pub fn validation(table: &FeatureTable) -> (Vec<&[f64]>, Vec<usize>) {
    table
        .clips
        .iter()
        .zip(&table.rows)
        .filter(|(clip, _)| clip.split == Split::Val)
        .map(|(clip, row)| (row.as_slice(), clip.label.as_deref().unwrap().parse::<usize>().unwrap() - 1))
        .unzip()
}

/// Fraction of rows whose most probable class (first on ties) is the label.
pub fn accuracy(probabilities: &[Vec<f64>], labels: &[usize]) -> f64 {
    let correct = probabilities
        .iter()
        .zip(labels)
        .filter(|(p, y)| argmax(p) == **y)
        .count();
    correct as f64 / labels.len() as f64
}

pub use vox_api::predictions::argmax;
