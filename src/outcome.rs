//! How each stage of a run ended: what executors report and the run folder records.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use crate::cache::CacheStep;
use crate::dirty::DirtyReason;
use crate::plan::PlannedStage;

/// An error shared by the outcomes it ended (one executor failure ends every stage).
pub type SharedError = Arc<dyn std::error::Error + Send + Sync>;

/// How a stage ended.
#[derive(Clone, Debug)]
pub enum Status {
    /// It ran and its entry was stored.
    Ran,
    /// Its entry was already in the cache.
    Cached,
    /// It failed; why.
    Failed(Failure),
    /// It did not run; why.
    Skipped(Skip),
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

/// Why a stage failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum Failure {
    /// The run's thread pool could not start, so no stage ran.
    #[error("cannot start the run's {threads} threads: {cause}")]
    Threads {
        /// The threads asked for.
        threads: usize,
        /// rayon's error.
        cause: Arc<rayon::ThreadPoolBuildError>,
    },
    /// The stage's key could not be computed (a path param's content could not be read).
    #[error("{0}")]
    Key(Arc<UnreadableParam>),
    /// A step of the cache around the stage failed.
    #[error("cannot {step}: {cause}")]
    Cache {
        /// Which step.
        step: CacheStep,
        /// The filesystem's error.
        cause: Arc<std::io::Error>,
    },
    /// The stage returned an error (shown with its sources, outer to inner).
    #[error("{}", error_chain(.0.as_ref()))]
    Stage(SharedError),
    /// The stage panicked.
    #[error("panicked: {message}")]
    Panicked {
        /// The panic's message.
        message: String,
    },
    /// The executor failed before the stage could report (a Slurm submission or its polling).
    #[error("{0}")]
    Executor(SharedError),
    /// As the stage's record in the run folder says (a Slurm job's report).
    #[error("{0}")]
    Recorded(Recorded),
}

/// A path param whose content could not be read to be hashed into the key.
#[derive(Debug, thiserror::Error)]
#[error("param `{param}`: {cause}")]
pub struct UnreadableParam {
    /// The param.
    pub param: String,
    /// The read's error.
    #[source]
    pub cause: std::io::Error,
}

/// Why a stage did not run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// The run asked for other stages only (the stages a fold count needs, a partial plan).
    #[error("not needed yet")]
    NotNeeded,
    /// An input of it failed or was skipped.
    #[error("input `{input}` {status}")]
    Input {
        /// The input stage.
        input: String,
        /// How it ended (`failed` or `skipped`).
        status: &'static str,
    },
    /// As the stage's record in the run folder says (a Slurm job's report).
    #[error("{0}")]
    Recorded(Recorded),
}

/// What a stage's record in the run folder says of why it failed or was skipped: written as
/// text by the process that ran it (a Slurm job), read back by the one that follows the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    /// The reasons, as recorded.
    pub reasons: Vec<String>,
    /// The Slurm job that ran it.
    pub job: Option<String>,
    /// Its log.
    pub log: Option<PathBuf>,
}

impl fmt::Display for Recorded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reasons.join("; "))?;
        match (&self.job, &self.log) {
            (Some(job), Some(log)) => write!(f, " (job {job}, log {})", log.display()),
            (Some(job), None) => write!(f, " (job {job})"),
            (None, Some(log)) => write!(f, " (log {})", log.display()),
            (None, None) => Ok(()),
        }
    }
}

/// An error and its sources, `outer: inner: innermost` (a source already quoted by the
/// message before it is not repeated).
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
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
