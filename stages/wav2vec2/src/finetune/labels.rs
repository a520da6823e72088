//! Which classes a fine-tune scores (or which dimensions it estimates, [`dimensions`]), and
//! where its head's outputs come from.
//!
//! - A new head (scratch, a checkpoint without a head, or `new_head = true`) has one output
//!   per class of the train split, in the label set's order; at least two are needed.
//! - A checkpoint's head keeps the checkpoint's classes: output `i` is `id2label[i]`, whatever
//!   order the checkpoint lists them in. Each is matched to a class of the data's label set: by
//!   `checkpoint_labels` (a class, or `"drop"` to remove that output), else by class name or
//!   description ignoring case (`angry` is RAVDESS `05`). The head's rows are then reordered to
//!   the label set's order. A checkpoint class that matches nothing is an error naming it; a
//!   train class the checkpoint lacks is an error when training (`epochs > 0`) unless
//!   `new_head`. Scoring (`epochs = 0`) needs no train split. On unlabeled data (an empty label
//!   set) the checkpoint's classes, in its order, are the label set.

use vox_api::audio::{AudioSet, Split};
use vox_api::labels::LabelSet;

use super::{FineTune, FineTuneError};
use crate::inspect::ModelInfo;

/// The value of `checkpoint_labels` that removes an output.
pub const DROP: &str = "drop";

/// The classes of a fine-tune.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classes {
    /// The label set the predictions carry: the data's, or the checkpoint's on unlabeled data.
    pub labels: LabelSet,
    /// The model's classes, names of `labels` in its order: one per head output.
    pub names: Vec<String>,
    /// For a checkpoint's head: for each class, the checkpoint output it is; `None` for a new
    /// head.
    pub rows: Option<Vec<usize>>,
}

/// The classes of the train split's labelled clips, in the label set's order.
pub fn train_classes(set: &AudioSet) -> Vec<String> {
    let present: Vec<bool> = set
        .labels
        .names()
        .map(|name| set.clips.iter().any(|c| c.split == Split::Train && c.label.as_deref() == Some(name)))
        .collect();
    set.labels.names().zip(present).filter(|(_, p)| *p).map(|(n, _)| n.to_string()).collect()
}

/// The classes of a fine-tune of `set` (from input `input`) with the model folder described by
/// `info` (`None` for a scratch model).
pub fn plan(params: &FineTune, set: &AudioSet, input: &str, info: Option<&ModelInfo>) -> Result<Classes, FineTuneError> {
    match info {
        Some(info) if info.head.is_some() && !params.new_head => from_checkpoint(params, set, info),
        _ => {
            let names = train_classes(set);
            if names.len() < 2 {
                return Err(FineTuneError::TooFewClasses { input: input.to_string(), found: names.len() });
            }
            Ok(Classes { labels: set.labels.clone(), names, rows: None })
        }
    }
}

/// The classes of a checkpoint's head (see the module doc). A head whose outputs are no
/// softmax class scores (`problem_type` regression or multi-label) is refused: read as classes,
/// its values would be mislabelled without a word.
fn from_checkpoint(params: &FineTune, set: &AudioSet, info: &ModelInfo) -> Result<Classes, FineTuneError> {
    if let Some(kind) = info.config.problem_type.as_deref().filter(|k| *k != "single_label_classification") {
        return Err(FineTuneError::NotAClassifier { problem_type: kind.to_string(), outputs: info.labels.join(", ") });
    }
    for key in params.checkpoint_labels.keys() {
        if !info.labels.contains(key) {
            return Err(FineTuneError::UnknownCheckpointLabel { key: key.clone(), labels: info.labels.join(", ") });
        }
    }
    if set.labels.is_empty() && params.checkpoint_labels.is_empty() {
        let labels = LabelSet::from_names(info.labels.iter().cloned()).map_err(FineTuneError::CheckpointLabels)?;
        return Ok(Classes { labels, names: info.labels.clone(), rows: Some((0..info.labels.len()).collect()) });
    }
    let data = &set.labels;
    // (class index in the data's set, checkpoint output)
    let mut matched: Vec<(usize, usize)> = Vec::new();
    let mut unmatched = Vec::new();
    for (row, label) in info.labels.iter().enumerate() {
        let class = match params.checkpoint_labels.get(label) {
            Some(value) if value == DROP => continue,
            Some(value) => match data.resolve(value) {
                Some(class) => class,
                None => {
                    return Err(FineTuneError::BadCheckpointLabelTarget {
                        key: label.clone(),
                        value: value.clone(),
                        classes: described(data),
                    });
                }
            },
            None => match data.resolve(label) {
                Some(class) => class,
                None => {
                    unmatched.push(label.clone());
                    continue;
                }
            },
        };
        if let Some(&(_, first)) = matched.iter().find(|(c, _)| *c == class) {
            return Err(FineTuneError::TwoOutputsOneClass {
                class: data.classes()[class].name.clone(),
                first: info.labels[first].clone(),
                second: label.clone(),
            });
        }
        matched.push((class, row));
    }
    if !unmatched.is_empty() {
        return Err(FineTuneError::UnmatchedCheckpointLabels { labels: unmatched, classes: described(data) });
    }
    if matched.len() < 2 {
        return Err(FineTuneError::TooFewCheckpointClasses { kept: matched.len() });
    }
    matched.sort_unstable();
    let names: Vec<String> = matched.iter().map(|&(class, _)| data.classes()[class].name.clone()).collect();
    if params.epochs > 0 {
        let lacking: Vec<String> = train_classes(set).into_iter().filter(|c| !names.contains(c)).collect();
        if !lacking.is_empty() {
            return Err(FineTuneError::CheckpointLacksClasses { lacking, classes: names.join(", ") });
        }
    }
    Ok(Classes { labels: data.clone(), names, rows: Some(matched.iter().map(|&(_, row)| row).collect()) })
}

/// `01 neutral, 02 calm`: a label set's classes as people read them.
fn described(labels: &LabelSet) -> String {
    if labels.is_empty() {
        return "none: the data is unlabeled".into();
    }
    (0..labels.len()).map(|i| labels.display(i)).collect::<Vec<_>>().join(", ")
}

/// The outputs of a fine-tune that estimates `params.targets` of `set`, with the model folder
/// described by `info` (`None` for a scratch model). A new head has one output per target, in
/// their order. A checkpoint's regression head keeps its outputs: each is matched to a target by
/// `checkpoint_labels` (a target, or `"drop"`), else by name ignoring case, and the head's rows
/// are reordered to the targets' order; outputs that name no target are left out (a target
/// list is a choice among the checkpoint's dimensions), a target without an output is an
/// error. A classifier's head is refused: its softmax scores are no ratings.
pub fn dimensions(params: &FineTune, set: &AudioSet, info: Option<&ModelInfo>) -> Result<Classes, FineTuneError> {
    let targets = &params.targets;
    let labels = set.labels.clone();
    let Some(info) = info.filter(|info| info.head.is_some() && !params.new_head) else {
        return Ok(Classes { labels, names: targets.clone(), rows: None });
    };
    let outputs = info.labels.join(", ");
    let problem_type = info.config.problem_type.as_deref().unwrap_or_default();
    if problem_type != "regression" {
        return Err(FineTuneError::NotARegression { problem_type: problem_type.to_string(), outputs });
    }
    for key in params.checkpoint_labels.keys() {
        if !info.labels.contains(key) {
            return Err(FineTuneError::UnknownCheckpointLabel { key: key.clone(), labels: outputs });
        }
    }
    // For each target, the output that estimates it.
    let mut rows: Vec<Option<usize>> = vec![None; targets.len()];
    for (row, label) in info.labels.iter().enumerate() {
        let name = match params.checkpoint_labels.get(label) {
            Some(value) if value == DROP => continue,
            Some(value) => match targets.iter().position(|t| t == value) {
                Some(target) => Some(target),
                None => {
                    return Err(FineTuneError::BadCheckpointTarget {
                        key: label.clone(),
                        value: value.clone(),
                        targets: targets.join(", "),
                    });
                }
            },
            None => targets.iter().position(|t| t.eq_ignore_ascii_case(label)),
        };
        let Some(target) = name else { continue };
        if let Some(first) = rows[target] {
            return Err(FineTuneError::TwoOutputsOneTarget {
                target: targets[target].clone(),
                first: info.labels[first].clone(),
                second: label.clone(),
            });
        }
        rows[target] = Some(row);
    }
    let missing: Vec<String> =
        targets.iter().zip(&rows).filter(|(_, row)| row.is_none()).map(|(t, _)| t.clone()).collect();
    if !missing.is_empty() {
        return Err(FineTuneError::TargetsWithoutOutput { missing, outputs });
    }
    Ok(Classes { labels, names: targets.clone(), rows: Some(rows.into_iter().flatten().collect()) })
}
