//! The executor seam: the planner hands a plan (keys computed in one place, [`crate::execute::components`])
//! and the stages to run to an executor, which reports every stage's outcome in plan order.
//!
//! [`Local`] runs stages as threads of this process ([`crate::execute`]); [`crate::slurm::Slurm`]
//! submits each uncached stage as a cluster job running `vox exec-stage`. Either way each
//! outcome is recorded in the run folder as it finishes ([`crate::report::Recorder`]), so the
//! record of a run does not depend on where its stages ran.

use std::collections::BTreeSet;

use crate::cache::Cache;
use crate::execute::{self, RunOptions, StageOutcome};
use crate::plan::Plan;

/// Runs a plan's stages somewhere.
pub trait Executor {
    /// Runs the stages `only` (plan indices, their ancestors among them; `None`: every stage)
    /// and returns every stage's outcome in plan order (a stage outside `only` is skipped).
    fn run(&self, plan: &Plan, only: Option<&BTreeSet<usize>>) -> Vec<StageOutcome>;
}

/// Stages as threads of this process, `options.jobs` at a time.
pub struct Local<'a> {
    /// The cache.
    pub cache: &'a Cache,
    /// Jobs, threads, forced stages, progress, recorder.
    pub options: RunOptions<'a>,
}

impl Executor for Local<'_> {
    fn run(&self, plan: &Plan, only: Option<&BTreeSet<usize>>) -> Vec<StageOutcome> {
        let options = RunOptions { only: only.cloned(), ..self.options.clone() };
        execute::execute(plan, self.cache, &options)
    }
}
