//! How each stage of a run ended: what executors report and the run folder records.

use std::path::PathBuf;

use crate::dirty::DirtyReason;
use crate::plan::PlannedStage;

/// How a stage ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Status {
    /// It ran and its entry was stored.
    Ran,
    /// Its entry was already in the cache.
    Cached,
    /// It failed; why.
    Failed(String),
    /// It did not run because an input failed or was skipped.
    Skipped(String),
}

impl Status {
    /// `ran`, `cached`, `failed` or `skipped`.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Ran => "ran",
            Self::Cached => "cached",
            Self::Failed(_) => "failed",
            Self::Skipped(_) => "skipped",
        }
    }
}

/// One stage's outcome.
#[derive(Clone, Debug)]
pub struct StageOutcome {
    /// The stage name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// How it ended.
    pub status: Status,
    /// Wall time in this run (near zero when cached).
    pub seconds: f64,
    /// Its cache key, once known.
    pub key: Option<String>,
    /// Its output content hash, once known.
    pub output_hash: Option<String>,
    /// Its output folder in the cache.
    pub out_dir: Option<PathBuf>,
    /// Why it ran (empty when cached).
    pub reasons: Vec<DirtyReason>,
    /// Its resolved params (path params by content), once keyed.
    pub params: Option<serde_json::Value>,
}

/// The outcome of `stage` with nothing known but how it ended.
pub fn outcome(stage: &PlannedStage, status: Status, seconds: f64) -> StageOutcome {
    StageOutcome {
        name: stage.name.clone(),
        kind: stage.kind.to_string(),
        status,
        seconds,
        key: None,
        output_hash: None,
        out_dir: None,
        reasons: Vec::new(),
        params: None,
    }
}
