//! The training view of a feature table: the classes present in the training labels, the
//! training rows with their class indices, and per-class weights.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::Split;
use vox_api::features::FeatureTable;

use crate::error::ClassicError;

/// How training clips are weighted by class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClassWeight {
    /// Every clip weighs 1.
    #[default]
    None,
    /// Clips of class `k` weigh `n / (n_classes * n_k)` (scikit-learn's `"balanced"`), so that
    /// every class carries the same total weight.
    Balanced,
}

/// The labeled training clips of a feature table.
#[derive(Debug)]
pub struct TrainingData<'a> {
    /// The classes present in the training labels, in the label set's order.
    pub classes: Vec<String>,
    /// The training rows' features, in table order.
    pub rows: Vec<&'a [f64]>,
    /// Each training row's index into `classes`.
    pub labels: Vec<usize>,
}

impl<'a> TrainingData<'a> {
    /// Collects the labeled clips with `split = train`; unlabeled training clips are skipped
    /// (they are still scored). Fails when there are none or when they hold a single class.
    pub fn from_table(table: &'a FeatureTable) -> Result<Self, ClassicError> {
        // Labels are class indices into the label set (reading the table checked that every
        // label is one of its classes), so classes come out in the set's order.
        let train: Vec<(usize, &[f64])> = table
            .clips
            .iter()
            .zip(&table.rows)
            .filter(|(clip, _)| clip.split == Split::Train)
            .filter_map(|(clip, row)| {
                let class = table.labels.index_of(clip.label.as_deref()?)?;
                Some((class, row.as_slice()))
            })
            .collect();
        let mut present: Vec<usize> = train.iter().map(|(class, _)| *class).collect();
        present.sort_unstable();
        present.dedup();
        match present.as_slice() {
            [] => {
                return Err(ClassicError::NoTrainClips {
                    clips: table.clips.len(),
                });
            }
            [only] => {
                return Err(ClassicError::OneClass {
                    class: table.labels.classes()[*only].name.clone(),
                });
            }
            _ => {}
        }
        let labels = train
            .iter()
            .map(|(class, _)| present.binary_search(class).unwrap_or_default())
            .collect();
        let classes = present.iter().map(|&i| table.labels.classes()[i].name.clone()).collect();
        let rows = train.into_iter().map(|(_, row)| row).collect();
        Ok(Self {
            classes,
            rows,
            labels,
        })
    }

    /// How many training clips each class has, aligned with `classes`.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.classes.len()];
        for &label in &self.labels {
            counts[label] += 1;
        }
        counts
    }

    /// The weight of each class, aligned with `classes`.
    pub fn class_weights(&self, mode: ClassWeight) -> Vec<f64> {
        let counts = self.class_counts();
        match mode {
            ClassWeight::None => vec![1.0; counts.len()],
            ClassWeight::Balanced => {
                let scale = self.labels.len() as f64 / counts.len() as f64;
                counts.iter().map(|&n| scale / n as f64).collect()
            }
        }
    }

    /// Each training row's weight: its class's in `class_weights` (the models that weigh rows,
    /// not classes).
    pub fn row_weights(&self, class_weights: &[f64]) -> Vec<f64> {
        self.labels.iter().map(|&y| class_weights[y]).collect()
    }
}

/// Fails on the first NaN or infinite feature value of any clip, naming it.
pub fn check_finite(table: &FeatureTable) -> Result<(), ClassicError> {
    for (clip, row) in table.clips.iter().zip(&table.rows) {
        if let Some((name, value)) = table.names.iter().zip(row).find(|(_, v)| !v.is_finite()) {
            return Err(ClassicError::NonFinite {
                file_id: clip.file_id.clone(),
                feature: name.clone(),
                value: *value,
            });
        }
    }
    Ok(())
}

/// The rows of `table` with the columns a trained model reads, `features`, picked by name (new
/// clips' features may come in another order or with more columns); a missing one is an error
/// naming the model's folder `trained`.
pub fn model_columns(table: &FeatureTable, features: &[String], trained: &std::path::Path) -> Result<Vec<Vec<f64>>, ClassicError> {
    let columns = features
        .iter()
        .map(|feature| {
            table.names.iter().position(|n| n == feature).ok_or_else(|| ClassicError::MissingFeature {
                feature: feature.clone(),
                model: trained.to_path_buf(),
            })
        })
        .collect::<Result<Vec<usize>, _>>()?;
    Ok(table.rows.iter().map(|row| columns.iter().map(|&j| row[j]).collect()).collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vox_api::audio::Clip;

    /// A clip with the given id, label and split; the other manifest fields are fixed.
    pub(crate) fn clip(file_id: &str, label: Option<&str>, split: Split) -> Clip {
        Clip {
            file_id: file_id.into(),
            corpus: "ravdess".into(),
            speaker: "01".into(),
            sex: "m".into(),
            label: label.map(Into::into),
            intensity: "01".into(),
            statement: "01".into(),
            repetition: "01".into(),
            split,
            source: String::new(),
            sample_rate: 16000,
            offset: 0,
            length: 0,
            original_length: 0,
            extra: Default::default(),
        }
    }

    fn table(labels: &[(Option<&str>, Split)]) -> FeatureTable {
        FeatureTable {
            names: vec!["a".into()],
            labels: vox_api::labels::LabelSet::from_names(["01", "04", "05"]).unwrap(),
            clips: labels
                .iter()
                .enumerate()
                .map(|(i, (e, s))| clip(&format!("c{i}"), *e, *s))
                .collect(),
            rows: (0..labels.len()).map(|i| vec![i as f64]).collect(),
        }
    }

    #[test]
    fn collects_labeled_training_clips_and_balanced_weights() {
        let (angry, neutral, sad) = (Some("05"), Some("01"), Some("04"));
        let t = table(&[
            (sad, Split::Train),
            (neutral, Split::Train),
            (None, Split::Train),
            (angry, Split::Val),
            (sad, Split::Train),
            (sad, Split::Train),
        ]);
        let data = TrainingData::from_table(&t).unwrap();
        assert_eq!(data.classes, ["01", "04"]);
        assert_eq!(data.labels, vec![1, 0, 1, 1]);
        assert_eq!(data.rows, vec![&[0.0][..], &[1.0], &[4.0], &[5.0]]);
        assert_eq!(data.class_counts(), vec![1, 3]);
        assert_eq!(data.class_weights(ClassWeight::None), vec![1.0, 1.0]);
        // n / (k * n_k): 4 / (2 * 1) and 4 / (2 * 3).
        assert_eq!(
            data.class_weights(ClassWeight::Balanced),
            vec![2.0, 4.0 / 6.0]
        );
    }

    #[test]
    fn refuses_missing_training_clips_or_a_single_class() {
        let none = table(&[(Some("04"), Split::Val), (None, Split::Train)]);
        let err = TrainingData::from_table(&none).unwrap_err().to_string();
        assert!(
            err.starts_with("2 clips in the input, none labeled with `split = train`"),
            "{err}"
        );
        let one = table(&[
            (Some("04"), Split::Train),
            (Some("04"), Split::Train),
        ]);
        let err = TrainingData::from_table(&one).unwrap_err().to_string();
        assert_eq!(
            err,
            "the training clips are all labeled `04`: a classifier needs at least 2 classes"
        );
    }

    #[test]
    fn names_the_first_non_finite_value() {
        let mut t = table(&[(Some("04"), Split::Train), (None, Split::Test)]);
        t.rows[1][0] = f64::NAN;
        let err = check_finite(&t).unwrap_err().to_string();
        assert_eq!(
            err,
            "clip `c1`: feature `a` is NaN; the classic models need finite values"
        );
    }
}
