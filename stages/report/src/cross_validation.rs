//! `evaluate` across the folds of a cross-validation: one model's fold inputs (marked by
//! `Input::fold`, see `vox_api::FanOut`) become one report.
//!
//! - **Pooled**: every fold's held-out (`test`) clips together, each clip once (it is held out
//!   by exactly one fold), scored as one set: the report folder `report/<model>/` (metrics with
//!   bootstrap intervals, confusion matrices, `clips.csv`) and the model's `summary.csv` row.
//! - **Per fold**: each fold's scores, their mean and sample standard deviation, in
//!   `report/cv.csv` (and `cv.md`) and `report/<model>/folds.csv`.
//! - **Unlabeled clips** are in every fold's test part: `output.txt` gives the mean of the
//!   fold models' probabilities (a class a fold's model lacks counts as 0 for it), so new audio
//!   is scored by the cross-validation's models together.
//!
//! - **Inner validation**: where the folds have a `val` part, each fold's `val` scores and
//!   their mean over folds ([`pool`]'s third result): what a hyperparameter search
//!   (`vox search`) optimizes, so that choosing params never looks at a held-out clip. The
//!   `val` parts are not pooled: a clip is in the `val` (and `train`) part of several folds.
//!
//! A fold's model may lack a class its training part had no clip of; the pooled predictions
//! have a column for every class some fold knows, 0 in the folds that do not.

use vox_api::Input;
use vox_api::audio::Split;
use vox_api::predictions::{Prediction, Predictions};

use crate::error::ReportError;
use crate::files::write_csv;
use crate::metrics::{Confusion, Scores};
use crate::scoring::check_rows;

/// One fold's scores, a row of `cv.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct FoldScores {
    /// The fold, 1-based.
    pub fold: usize,
    /// Labelled clips scored.
    pub clips: u64,
    /// Accuracy, macro-F1, weighted-F1 and UAR.
    pub metrics: [f64; 4],
}

/// A cross-validated model's fold table: its name, each fold's scores, and the pooled clip
/// count and metrics (when the folds had labelled clips).
pub type ModelFolds = (String, Vec<FoldScores>, Option<(u64, [f64; 4])>);

/// The metric columns of the fold tables.
const METRICS: [&str; 4] = ["accuracy", "macro_f1", "weighted_f1", "uar"];

/// The fold inputs of one model, pooled: held-out clips of every fold (widened to every class
/// some fold knows) and each unlabeled clip's mean over the folds; each fold's scores on its
/// held-out clips; and each fold's scores on its `val` part (folds without one left out).
pub fn pool(model: &str, inputs: &[&Input]) -> Result<(Predictions, Vec<FoldScores>, Vec<FoldScores>), ReportError> {
    let mut folds = Vec::with_capacity(inputs.len());
    for input in inputs {
        let predictions = Predictions::read(&input.dir)?;
        check_rows(&input.name, &predictions)?;
        folds.push((input.fold.as_ref().map_or(0, |f| f.fold), input.name.as_str(), predictions));
    }
    let labels = folds[0].2.labels.clone();
    if let Some((_, name, other)) = folds.iter().find(|(_, _, p)| p.labels != labels) {
        return Err(ReportError::LabelSetsDiffer {
            first: folds[0].1.to_string(),
            first_classes: labels.listing(),
            other: name.to_string(),
            other_classes: other.labels.listing(),
        });
    }
    let classes: Vec<String> =
        labels.names().filter(|c| folds.iter().any(|(_, _, p)| p.classes.iter().any(|k| k == c))).map(str::to_string).collect();
    let widen = |p: &Predictions, row: &Prediction| -> Vec<f64> {
        classes.iter().map(|c| p.classes.iter().position(|k| k == c).map_or(0.0, |i| row.probabilities[i])).collect()
    };
    let mut rows = Vec::new();
    let mut scores = Vec::with_capacity(folds.len());
    let mut val_scores = Vec::new();
    let mut unlabeled: Vec<Predictions> = Vec::with_capacity(folds.len());
    let fold_scores = |fold: usize, pairs: &[(usize, usize)]| {
        let scores = Scores::new(&Confusion::from_pairs(&labels, pairs));
        FoldScores { fold, clips: scores.clips, metrics: [scores.accuracy, scores.macro_f1, scores.weighted_f1, scores.uar] }
    };
    for (fold, _, predictions) in &folds {
        let mut pairs = Vec::new();
        let mut val_pairs = Vec::new();
        let mut new_audio = Vec::new();
        for row in &predictions.rows {
            let pair = || Some((labels.index_of(row.label.as_deref()?)?, labels.index_of(predictions.predicted(row))?));
            match (&row.label, row.split) {
                (Some(_), Split::Test) => {
                    pairs.extend(pair());
                    rows.push(Prediction { probabilities: widen(predictions, row), ..row.clone() });
                }
                (Some(_), Split::Val) => val_pairs.extend(pair()),
                (None, Split::Test | Split::None) => new_audio.push(row.clone()),
                _ => {}
            }
        }
        unlabeled.push(Predictions { labels: labels.clone(), classes: predictions.classes.clone(), rows: new_audio });
        scores.push(fold_scores(*fold, &pairs));
        if !val_pairs.is_empty() {
            val_scores.push(fold_scores(*fold, &val_pairs));
        }
    }
    if let Some(clip) = first_duplicate(rows.iter().map(|r| r.file_id.as_str())) {
        return Err(ReportError::HeldOutTwice { model: model.to_string(), file_id: clip });
    }
    // Each unlabeled clip is in every fold's test part: the mean of the fold models, over the
    // same classes as `classes` (those some fold knows, in the label set's order).
    rows.extend(Predictions::mean(&unlabeled)?.rows);
    Ok((Predictions { labels, classes, rows }, scores, val_scores))
}

/// The first clip id seen twice among the folds' held-out clips `ids` (a broken
/// cross-validation), if any.
pub fn first_duplicate<'a>(ids: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut seen = std::collections::BTreeSet::new();
    ids.into_iter().find(|id| !seen.insert(*id)).map(str::to_string)
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

/// The rows of a fold table for `model`: each fold, then `mean`, `std` and (when given) the
/// pooled scores.
fn table_rows(model: &str, folds: &[FoldScores], pooled: Option<(u64, [f64; 4])>) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = folds
        .iter()
        .map(|f| {
            [model.to_string(), f.fold.to_string(), f.clips.to_string()]
                .into_iter()
                .chain(f.metrics.iter().map(f64::to_string))
                .collect()
        })
        .collect();
    let stats: Vec<(f64, f64)> = (0..4).map(|k| mean_std(&folds.iter().map(|f| f.metrics[k]).collect::<Vec<_>>())).collect();
    let clips: u64 = folds.iter().map(|f| f.clips).sum();
    for (what, pick) in [("mean", 0), ("std", 1)] {
        let values = stats.iter().map(|s| if pick == 0 { s.0 } else { s.1 }.to_string());
        rows.push([model.to_string(), what.to_string(), clips.to_string()].into_iter().chain(values).collect());
    }
    if let Some((clips, metrics)) = pooled {
        let values = metrics.iter().map(f64::to_string);
        rows.push([model.to_string(), "pooled".to_string(), clips.to_string()].into_iter().chain(values).collect());
    }
    rows
}

/// Writes one model's `folds.csv` into its report folder.
pub fn write_model_table(path: &std::path::Path, model: &str, folds: &[FoldScores], pooled: Option<(u64, [f64; 4])>) -> Result<(), ReportError> {
    let header: Vec<&str> = ["model", "fold", "clips"].into_iter().chain(METRICS).collect();
    write_csv(path, &header, table_rows(model, folds, pooled))
}

/// Writes `cv.csv` and `cv.md` for every cross-validated model: `(model, folds, pooled)`.
pub fn write_tables(dir: &std::path::Path, models: &[ModelFolds]) -> Result<(), ReportError> {
    let header: Vec<&str> = ["model", "fold", "clips"].into_iter().chain(METRICS).collect();
    let rows = models.iter().flat_map(|(model, folds, pooled)| table_rows(model, folds, *pooled));
    write_csv(&dir.join("cv.csv"), &header, rows)?;
    let mut text = String::from(
        "| model | folds | accuracy | macro-F1 | weighted-F1 | UAR | pooled UAR | pooled macro-F1 |\n|---|---:|---|---|---|---|---:|---:|\n",
    );
    for (model, folds, pooled) in models {
        let cells: Vec<String> = (0..4)
            .map(|k| {
                let (mean, std) = mean_std(&folds.iter().map(|f| f.metrics[k]).collect::<Vec<_>>());
                format!("{mean:.4} ± {std:.4}")
            })
            .collect();
        let (uar, f1) = pooled.map_or(("-".into(), "-".into()), |(_, m)| (format!("{:.4}", m[3]), format!("{:.4}", m[1])));
        text += &format!("| {model} | {} | {} | {uar} | {f1} |\n", folds.len(), cells.join(" | "));
    }
    text += "\nPer-fold scores on each fold's held-out clips: mean ± sample standard deviation over the folds. \
             Pooled: every held-out clip of every fold scored together (each clip once).\n";
    crate::files::write_text(&dir.join("cv.md"), &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_give_each_fold_then_mean_std_and_pooled() {
        let folds = vec![
            FoldScores { fold: 1, clips: 10, metrics: [0.5, 0.4, 0.45, 0.5] },
            FoldScores { fold: 2, clips: 12, metrics: [0.7, 0.6, 0.65, 0.7] },
        ];
        let rows = table_rows("rf", &folds, Some((22, [0.6, 0.52, 0.56, 0.61])));
        assert_eq!(rows[0], ["rf", "1", "10", "0.5", "0.4", "0.45", "0.5"]);
        assert_eq!(rows[2][..3], ["rf", "mean", "22"]);
        assert!((rows[2][3].parse::<f64>().unwrap() - 0.6).abs() < 1e-12);
        // sqrt(((0.5 - 0.6)^2 + (0.7 - 0.6)^2) / 1) = 0.1414...
        assert!((rows[3][3].parse::<f64>().unwrap() - 0.02f64.sqrt()).abs() < 1e-12, "{:?}", rows[3]);
        assert_eq!(rows[4], ["rf", "pooled", "22", "0.6", "0.52", "0.56", "0.61"]);
    }
}
