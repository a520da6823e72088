//! The ensemble's members: their predictions read from the inputs, checked, and lined up clip by
//! clip.
//!
//! The ensemble scores the clips every member scores, in the first member's row order. A clip
//! that some member lacks is an error, or with `on_missing_clips = "intersect"` is dropped with a
//! warning that counts the dropped clips. Members must agree on each shared clip's label and
//! split; a clip listed twice by one member is an error.

use std::collections::{HashMap, HashSet};

use tracing::warn;
use vox_api::Input;
use vox_api::audio::Split;
use vox_api::labels::LabelSet;
use vox_api::predictions::{Prediction, Predictions};

use super::{MissingClasses, OnMissingClips};
use crate::error::ReportError;
use crate::scoring::check_rows;

/// One member: an input's name and predictions.
#[derive(Clone, Debug)]
pub struct Member {
    /// The input (upstream stage) name.
    pub name: String,
    /// Its predictions.
    pub predictions: Predictions,
}

impl Member {
    /// Reads and checks the predictions of `input`.
    pub fn read(input: &Input) -> Result<Self, ReportError> {
        let predictions = Predictions::read(&input.dir)?;
        check_rows(&input.name, &predictions)?;
        let mut seen = HashSet::new();
        if let Some(row) = predictions.rows.iter().find(|r| !seen.insert(r.file_id.as_str())) {
            return Err(ReportError::DuplicateClip {
                input: input.name.clone(),
                file_id: row.file_id.clone(),
            });
        }
        Ok(Self { name: input.name.clone(), predictions })
    }

    /// The `(label, predicted)` pairs of its own labelled `val` clips, as class indices.
    pub fn val_pairs(&self) -> Vec<(usize, usize)> {
        let p = &self.predictions;
        labelled_pairs(&p.labels, &p.classes, p.split(Split::Val))
    }
}

/// The `(label, predicted)` pairs of the labelled rows among `rows`, whose probabilities align
/// with `classes`, as indices into `labels`.
pub fn labelled_pairs<'a>(
    labels: &LabelSet,
    classes: &[String],
    rows: impl IntoIterator<Item = &'a Prediction>,
) -> Vec<(usize, usize)> {
    rows.into_iter()
        .filter_map(|row| {
            let truth = labels.index_of(row.label.as_deref()?)?;
            let predicted = labels.index_of(&classes[row.argmax()])?;
            Some((truth, predicted))
        })
        .collect()
}

/// Refuses members whose label sets differ: their classes would not mean the same.
pub fn check_label_sets(members: &[Member]) -> Result<(), ReportError> {
    let Some((first, rest)) = members.split_first() else { return Ok(()) };
    match rest.iter().find(|m| m.predictions.labels != first.predictions.labels) {
        Some(other) => Err(ReportError::LabelSetsDiffer {
            first: first.name.clone(),
            first_classes: first.predictions.labels.listing(),
            other: other.name.clone(),
            other_classes: other.predictions.labels.listing(),
        }),
        None => Ok(()),
    }
}

/// Refuses members whose class lists differ when `missing` is `error`.
pub fn check_classes(members: &[Member], missing: MissingClasses) -> Result<(), ReportError> {
    if missing != MissingClasses::Error {
        return Ok(());
    }
    let codes = |m: &Member| m.predictions.classes.join(",");
    let Some((first, rest)) = members.split_first() else { return Ok(()) };
    match rest.iter().find(|m| m.predictions.classes != first.predictions.classes) {
        Some(other) => Err(ReportError::ClassesDiffer {
            first: first.name.clone(),
            first_classes: codes(first),
            other: other.name.clone(),
            other_classes: codes(other),
        }),
        None => Ok(()),
    }
}

/// The clips every member scores: `clips[k][m]` is member `m`'s row of the `k`-th shared clip,
/// in the first member's row order.
pub fn align(members: &[Member], policy: OnMissingClips) -> Result<Vec<Vec<&Prediction>>, ReportError> {
    let indexes: Vec<HashMap<&str, &Prediction>> = members
        .iter()
        .map(|m| m.predictions.rows.iter().map(|r| (r.file_id.as_str(), r)).collect())
        .collect();
    // Every clip once, in order of first appearance (inputs in order, rows in order).
    let mut seen = HashSet::new();
    let all: Vec<&str> = members
        .iter()
        .flat_map(|m| &m.predictions.rows)
        .map(|r| r.file_id.as_str())
        .filter(|id| seen.insert(*id))
        .collect();
    let in_every = |id: &str| indexes.iter().all(|index| index.contains_key(id));
    let shared = all.iter().filter(|id| in_every(id)).count();
    if shared < all.len() {
        match policy {
            OnMissingClips::Error => {
                let (input, file_id) = members
                    .iter()
                    .zip(&indexes)
                    .find_map(|(m, index)| all.iter().find(|id| !index.contains_key(*id)).map(|id| (m, id)))
                    .map(|(m, id)| (m.name.clone(), id.to_string()))
                    .unwrap_or_default();
                return Err(ReportError::MissingClip {
                    input,
                    file_id,
                    unshared: all.len() - shared,
                    total: all.len(),
                    shared,
                });
            }
            OnMissingClips::Intersect => {
                let lacking: Vec<String> = members
                    .iter()
                    .zip(&indexes)
                    .map(|(m, index)| format!("`{}` lacks {}", m.name, all.len() - index.len()))
                    .collect();
                warn!(
                    "keeping the {shared} clips every input scores, dropping {} of {} ({})",
                    all.len() - shared,
                    all.len(),
                    lacking.join(", ")
                );
            }
        }
    }
    if shared == 0 {
        return Err(ReportError::NoSharedClips { total: all.len() });
    }
    let clips: Vec<Vec<&Prediction>> = members[0]
        .predictions
        .rows
        .iter()
        .filter(|r| in_every(&r.file_id))
        .map(|r| indexes.iter().map(|index| index[r.file_id.as_str()]).collect())
        .collect();
    for rows in &clips {
        check_agreement(members, rows)?;
    }
    Ok(clips)
}

/// Refuses a clip whose label or split differs between members.
fn check_agreement(members: &[Member], rows: &[&Prediction]) -> Result<(), ReportError> {
    let label: fn(&Prediction) -> &str = |r| r.label.as_deref().unwrap_or("none");
    let split: fn(&Prediction) -> &str = |r| split_name(r.split);
    for (field, value) in [("label", label), ("split", split)] {
        if let Some(m) = (1..rows.len()).find(|&m| value(rows[m]) != value(rows[0])) {
            return Err(ReportError::Disagreement {
                file_id: rows[0].file_id.clone(),
                field,
                first: members[0].name.clone(),
                first_value: value(rows[0]).into(),
                other: members[m].name.clone(),
                other_value: value(rows[m]).into(),
            });
        }
    }
    Ok(())
}

/// A split's name as in `predictions.csv`, `none` for no split.
fn split_name(split: Split) -> &'static str {
    match split {
        Split::None => "none",
        Split::Train => "train",
        Split::Val => "val",
        Split::Test => "test",
    }
}
