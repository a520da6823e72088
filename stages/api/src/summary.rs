//! `summary.csv`: a report stage's headline numbers, one row per scored model, the format the
//! engine reads to compare runs (`vox compare`) and sweep variants without knowing which stage
//! kind wrote it. A stage whose output folder holds this file is a report stage to the engine.
//!
//! ```text
//! input,split,clips,accuracy,macro_f1,weighted_f1,uar,accuracy_low,accuracy_high,...,uar_high
//! rf,test,75,0.88,0.8731,...
//! ```
//!
//! `input` is the scored model's stage name; the `_low`/`_high` columns are a 95% interval,
//! empty when none was computed.

use std::collections::BTreeMap;
use std::path::Path;

/// The file name, at the top of the stage's output folder (and in its `report/`).
pub const FILE: &str = "summary.csv";

/// The headline metrics, in column order.
pub const METRICS: [&str; 4] = ["accuracy", "macro_f1", "weighted_f1", "uar"];

/// Every column, in order.
pub const COLUMNS: [&str; 15] = [
    "input",
    "split",
    "clips",
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "uar",
    "accuracy_low",
    "accuracy_high",
    "macro_f1_low",
    "macro_f1_high",
    "weighted_f1_low",
    "weighted_f1_high",
    "uar_low",
    "uar_high",
];

/// A report stage's agreement table for estimates of emotion dimensions, beside `summary.csv`:
/// `input,split,dimension,clips,ccc,ccc_low,ccc_high,pcc,mae,rmse`, a row per model, split and
/// dimension (see [`crate::agreement`]).
pub const DIMENSIONS: &str = "dimensions.csv";

/// A report stage's calibration table, in its `report/` folder beside `summary.csv`:
/// `input,split,clips,bins,ece,mce,brier,log_loss`, a row per scored model (how well its
/// probabilities are calibrated).
pub const CALIBRATION: &str = "calibration.csv";

/// The calibration scores `vox compare` lists: expected calibration error and Brier score.
pub const CALIBRATION_METRICS: [&str; 2] = ["ece", "brier"];

/// The search metric of estimates: a model's CCC averaged over its dimensions; `ccc_<dimension>`
/// is one dimension's.
pub const CCC: &str = "ccc";

/// Whether `metric` names a score of estimates ([`CCC`] or `ccc_<dimension>`).
pub fn is_dimension_metric(metric: &str) -> bool {
    metric == CCC || metric.strip_prefix("ccc_").is_some_and(|d| !d.is_empty())
}

/// Each model's value of dimension metric `metric` ([`is_dimension_metric`]) on `split` from
/// the `dimensions.csv` rows `rows`, in first-row order; a model without the dimension is left
/// out.
pub fn dimension_scores(rows: &[BTreeMap<String, String>], split: &str, metric: &str) -> Vec<(String, f64)> {
    let mut models: Vec<(String, Vec<f64>)> = Vec::new();
    for row in rows.iter().filter(|r| r.get("split").is_some_and(|s| s == split)) {
        let wanted = match metric.strip_prefix("ccc_") {
            Some(dimension) => row.get("dimension").is_some_and(|d| d == dimension),
            None => metric == CCC,
        };
        let (Some(input), Some(Ok(ccc))) = (row.get("input"), row.get("ccc").map(|v| v.parse::<f64>())) else { continue };
        if !wanted {
            continue;
        }
        match models.iter_mut().find(|(m, _)| m == input) {
            Some((_, values)) => values.push(ccc),
            None => models.push((input.clone(), vec![ccc])),
        }
    }
    models.into_iter().map(|(m, v)| (m, v.iter().sum::<f64>() / v.len() as f64)).collect()
}

/// The rows of the `summary.csv` in `dir` as column -> cell maps; none when `dir` holds no
/// summary (a stage that is not a report) or it cannot be read.
pub fn read(dir: &Path) -> Vec<BTreeMap<String, String>> {
    read_table(&dir.join(FILE))
}

/// The rows of the `calibration.csv` in `dir`, as [`read`] does `summary.csv`'s.
pub fn read_calibration(dir: &Path) -> Vec<BTreeMap<String, String>> {
    read_table(&dir.join(CALIBRATION))
}

/// The rows of the `dimensions.csv` in `dir`, as [`read`] does `summary.csv`'s.
pub fn read_dimensions(dir: &Path) -> Vec<BTreeMap<String, String>> {
    read_table(&dir.join(DIMENSIONS))
}

/// The file of a report stage's scores by the groups of column `column` (`evaluate`'s `by`),
/// beside `summary.csv`: `input,<column>,clips,accuracy,macro_f1,weighted_f1,uar`, a row per
/// model and group, each model's groups in the order people read them.
pub fn by_file(column: &str) -> String {
    format!("by_{column}.csv")
}

/// The rows of the [`by_file`] of `column` in `dir`, as [`read`] does `summary.csv`'s.
pub fn read_by(dir: &Path, column: &str) -> Vec<BTreeMap<String, String>> {
    read_table(&dir.join(by_file(column)))
}

/// A CSV file's rows as column -> cell maps; none when it cannot be read.
fn read_table(path: &Path) -> Vec<BTreeMap<String, String>> {
    let Ok(mut reader) = csv::Reader::from_path(path) else { return Vec::new() };
    let Ok(header) = reader.headers().cloned() else { return Vec::new() };
    reader
        .records()
        .flatten()
        .map(|r| header.iter().zip(r.iter()).map(|(h, c)| (h.to_string(), c.to_string())).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimension_metrics_average_or_pick_a_models_dimensions_on_a_split() {
        let row = |input: &str, split: &str, dimension: &str, ccc: f64| -> BTreeMap<String, String> {
            [("input", input), ("split", split), ("dimension", dimension)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .chain([("ccc".to_string(), ccc.to_string())])
                .collect()
        };
        let rows = [row("ridge", "val", "arousal", 0.8), row("ridge", "val", "valence", 0.4), row("ridge", "test", "arousal", 0.1), row("knn", "val", "arousal", 0.6)];
        assert_eq!(dimension_scores(&rows, "val", "ccc"), [("ridge".to_string(), 0.6000000000000001), ("knn".to_string(), 0.6)]);
        assert_eq!(dimension_scores(&rows, "val", "ccc_valence"), [("ridge".to_string(), 0.4)]);
        assert_eq!(dimension_scores(&rows, "test", "ccc"), [("ridge".to_string(), 0.1)]);
        assert!(is_dimension_metric("ccc") && is_dimension_metric("ccc_arousal"));
        assert!(!is_dimension_metric("ccc_") && !is_dimension_metric("uar"));
    }
}
