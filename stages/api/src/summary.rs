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

/// The rows of the `summary.csv` in `dir` as column -> cell maps; none when `dir` holds no
/// summary (a stage that is not a report) or it cannot be read.
pub fn read(dir: &Path) -> Vec<BTreeMap<String, String>> {
    let Ok(mut reader) = csv::Reader::from_path(dir.join(FILE)) else { return Vec::new() };
    let Ok(header) = reader.headers().cloned() else { return Vec::new() };
    reader
        .records()
        .flatten()
        .map(|r| header.iter().zip(r.iter()).map(|(h, c)| (h.to_string(), c.to_string())).collect())
        .collect()
}
