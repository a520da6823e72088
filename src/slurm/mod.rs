//! The Slurm executor (`vox run --executor slurm`, `vox sweep --executor slurm`): every stage
//! whose key is not cached becomes one `sbatch` job running `vox exec-stage` on the shared cache,
//! waiting for its inputs' jobs (`--dependency=afterok`); the submitter records the cached
//! stages, then follows the jobs through their outcome files and `squeue`.
//!
//! The folds of a stage that shares work across splits (`vox_api::StageDef::SHARES_WORK`: the
//! clips' features, an SSL model's forward pass) would each start and wait on the cache lock of
//! the one making that work, holding a node (a GPU) meanwhile; so fold 2..K's jobs are queued
//! after fold 1's (`afterany`: they start when it ends, whatever its end, and find the work made
//! or make it themselves).
//!
//! The plan is made once, on the submitting (login) node; each job plans the same pipeline again
//! (same file, overrides, sweep) and checks that its stage's key is the one the submitter saw
//! through its inputs' entries. A job's script and log are in the run folder (`jobs/`, `logs/`),
//! and `slurm.json` lists the jobs, so `vox status RUN_DIR` can follow a detached run.

mod follow;
mod sbatch;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use indicatif::MultiProgress;
use serde::{Deserialize, Serialize};

pub use follow::{Progress, follow, tally};
pub use sbatch::{Invocation, SearchRound, check_available};

use crate::cache::Cache;
use crate::execute::{self, RunOptions, StageOutcome, Status};
use crate::outcome::{Failure, Skip};
use crate::executor::Executor;
use crate::plan::Plan;
use crate::preview::preview;
use crate::report::Recorder;
use crate::spec::{ExecutorSpec, Resources};

/// Failures of the Slurm executor.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    /// A Slurm command could not be started.
    #[error("cannot run `{command}` (is this a Slurm login node, with the Slurm client commands on the PATH?): {source}")]
    Spawn {
        /// The command.
        command: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// `sbatch` refused a job.
    #[error("Slurm refused the job of stage `{stage}`: {said}\n  command: {command}")]
    Rejected {
        /// The stage.
        stage: String,
        /// The command line.
        command: String,
        /// What sbatch printed.
        said: String,
    },
    /// Another Slurm command failed.
    #[error("`{command}` failed: {said}")]
    Refused {
        /// The command line.
        command: String,
        /// What it printed.
        said: String,
    },
    /// The run folder could not be written or read.
    #[error("{what} `{}`: {source}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `slurm.json` is missing or damaged.
    #[error("`{}` is not a run submitted to Slurm ({why})", path.display())]
    NotSubmitted {
        /// The run folder.
        path: PathBuf,
        /// Why.
        why: String,
    },
}

/// `slurm.json`: what was submitted for a run, for `vox status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Submission {
    /// The pipeline's name.
    pub pipeline: String,
    /// Its seed.
    pub seed: u64,
    /// Every stage that takes part, in plan order (cached ones have no job).
    pub stages: Vec<String>,
    /// The jobs, in submission (plan) order.
    pub jobs: Vec<Job>,
}

/// One submitted stage.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
    /// The stage.
    pub stage: String,
    /// Its kind.
    pub kind: String,
    /// The Slurm job id.
    pub id: String,
    /// Its log file.
    pub log: PathBuf,
    /// The submitted stages it waits for.
    pub after: Vec<String>,
    /// The submitted stages it is queued after, whatever their end (the fold making the work
    /// this one shares).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queued_after: Vec<String>,
}

/// The file in the run folder that lists the submitted jobs.
pub const SUBMISSION: &str = "slurm.json";

impl Submission {
    /// Reads `<run_dir>/slurm.json`.
    pub fn read(run_dir: &Path) -> Result<Self, SlurmError> {
        let path = run_dir.join(SUBMISSION);
        let bytes = std::fs::read(&path).map_err(|e| SlurmError::NotSubmitted { path: run_dir.to_path_buf(), why: e.to_string() })?;
        serde_json::from_slice(&bytes).map_err(|e| SlurmError::NotSubmitted { path: run_dir.to_path_buf(), why: e.to_string() })
    }

    fn write(&self, run_dir: &Path) -> Result<(), SlurmError> {
        let path = run_dir.join(SUBMISSION);
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other);
        bytes
            .and_then(|b| std::fs::write(&path, b))
            .map_err(|source| SlurmError::Io { what: "cannot write the job list", path, source })
    }
}

/// Submits stages as Slurm jobs (see the module doc).
pub struct Slurm<'a> {
    /// `[executor]` of the pipeline.
    pub settings: &'a ExecutorSpec,
    /// How the jobs re-create the plan.
    pub invocation: Invocation,
    /// The shared cache.
    pub cache: &'a Cache,
    /// The options for recording cached stages here: recorder, progress, forced stages.
    pub options: RunOptions<'a>,
}

impl Slurm<'_> {
    fn recorder(&self) -> &Recorder {
        self.options.recorder.expect("a Slurm run records into a run folder")
    }

    /// The resources of stage `index`'s job: its own, else its kind's defaults from
    /// `[executor.resources.KIND]`; a `cuda` stage asks for one GPU unless told otherwise.
    fn resources(&self, plan: &Plan, index: usize) -> Resources {
        let stage = &plan.stages[index];
        let kind = self.settings.resources.get(stage.kind).cloned().unwrap_or_default();
        let mut resources = stage.resources.clone().unwrap_or_default().or(&kind);
        if stage.backend.as_deref() == Some("cuda") && resources.gpus.is_none() {
            resources.gpus = Some(1);
        }
        resources
    }

    /// Records the stages `only` that are cached, submits the others (plan order, each after its
    /// submitted inputs) and writes `slurm.json`. A refused job cancels those already submitted.
    pub fn submit(&self, plan: &Plan, only: Option<&BTreeSet<usize>>) -> Result<Submission, SlurmError> {
        let recorder = self.recorder();
        let run_dir = absolute(recorder.run_dir(), &self.invocation.cwd);
        let taking_part: Vec<usize> = (0..plan.stages.len()).filter(|i| only.is_none_or(|o| o.contains(i))).collect();
        let previews = preview(plan, self.cache, &self.options.force);
        let cached: BTreeSet<usize> = taking_part.iter().copied().filter(|&i| !previews[i].will_run).collect();
        if !cached.is_empty() {
            // Looked up (and recorded) here: no job for a stage that needs none.
            let options = RunOptions { only: Some(cached), ..self.options.clone() };
            execute::execute(plan, self.cache, &options);
        }
        for folder in ["jobs", "logs"] {
            let path = run_dir.join(folder);
            std::fs::create_dir_all(&path).map_err(|source| SlurmError::Io { what: "cannot create", path, source })?;
        }
        let submitted = Arc::new(Mutex::new(Vec::<String>::new()));
        let cancel_on_interrupt = {
            let submitted = Arc::clone(&submitted);
            crate::interrupt::on_interrupt(move || cancel_all(&submitted.lock().unwrap_or_else(|e| e.into_inner())))
        };
        let mut ids: BTreeMap<usize, String> = BTreeMap::new();
        let mut jobs = Vec::new();
        let recorded: BTreeSet<usize> = taking_part.iter().copied().filter(|i| recorder.read(&plan.stages[*i].name).is_some()).collect();
        // Of each stage sharing work across its folds, the first fold submitted.
        let mut makers: BTreeMap<String, usize> = BTreeMap::new();
        for &i in taking_part.iter().filter(|i| !recorded.contains(i)) {
            let stage = &plan.stages[i];
            let file = crate::report::file_name(&stage.name);
            let log = run_dir.join("logs").join(format!("{file}.log"));
            let script_path = run_dir.join("jobs").join(format!("{file}.sh"));
            let resources = self.resources(plan, i);
            let text = sbatch::script(
                &self.invocation,
                &stage.name,
                &run_dir,
                &log,
                self.options.force.contains(&stage.name),
                resources.cpus,
            );
            std::fs::write(&script_path, text)
                .map_err(|source| SlurmError::Io { what: "cannot write the job script", path: script_path.clone(), source })?;
            let after_stages: Vec<usize> = stage.inputs.iter().copied().filter(|j| ids.contains_key(j)).collect();
            let queued_after: Vec<usize> = if stage.shares_work {
                let maker = *makers.entry(crate::sweep::without_fold(&stage.name)).or_insert(i);
                if maker == i { Vec::new() } else { vec![maker] }
            } else {
                Vec::new()
            };
            let request = sbatch::JobRequest {
                pipeline: &plan.name,
                stage: &stage.name,
                resources,
                after: after_stages.iter().map(|j| ids[j].clone()).collect(),
                queued_after: queued_after.iter().map(|j| ids[j].clone()).collect(),
                script: script_path,
                log: log.clone(),
            };
            let id = match sbatch::submit(self.settings, &request, &self.invocation.cwd) {
                Ok(id) => id,
                Err(e) => {
                    if let Some(line) = cancel_all(&submitted.lock().unwrap_or_else(|e| e.into_inner())) {
                        tracing::warn!("{line}");
                    }
                    return Err(e);
                }
            };
            tracing::debug!("stage `{}`: job {id}", stage.name);
            submitted.lock().unwrap_or_else(|e| e.into_inner()).push(id.clone());
            ids.insert(i, id.clone());
            jobs.push(Job {
                stage: stage.name.clone(),
                kind: stage.kind.to_string(),
                id,
                log,
                after: after_stages.iter().map(|&j| plan.stages[j].name.clone()).collect(),
                queued_after: queued_after.iter().map(|&j| plan.stages[j].name.clone()).collect(),
            });
        }
        let submission = Submission {
            pipeline: plan.name.clone(),
            seed: plan.seed,
            stages: taking_part.iter().map(|&i| plan.stages[i].name.clone()).collect(),
            jobs,
        };
        submission.write(&run_dir)?;
        drop(cancel_on_interrupt);
        Ok(submission)
    }
}

/// Cancels `ids`; the line that says so, for the interrupt message.
fn cancel_all(ids: &[String]) -> Option<String> {
    if ids.is_empty() {
        return None;
    }
    Some(match sbatch::cancel(ids) {
        Ok(()) => format!("cancelled the {} Slurm job(s) this run submitted ({})", ids.len(), ids.join(", ")),
        Err(e) => format!("could not cancel the Slurm jobs {}: {e}", ids.join(", ")),
    })
}

impl Executor for Slurm<'_> {
    fn run(&self, plan: &Plan, only: Option<&BTreeSet<usize>>) -> Vec<StageOutcome> {
        let progress = self.options.progress;
        let failed_all = |e: SlurmError| -> Vec<StageOutcome> {
            let why = Failure::Executor(Arc::new(e));
            plan.stages
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let status = if only.is_none_or(|o| o.contains(&i)) { Status::Failed(why.clone()) } else { Status::Skipped(Skip::NotNeeded) };
                    execute::outcome(s, status, 0.0)
                })
                .collect()
        };
        let submission = match self.submit(plan, only) {
            Ok(s) => s,
            Err(e) => return failed_all(e),
        };
        let recorder = self.recorder();
        // Ctrl-C while following cancels every job not yet finished.
        let ids: Vec<String> = submission.jobs.iter().map(|j| j.id.clone()).collect();
        let _cancel_on_interrupt = crate::interrupt::on_interrupt(move || cancel_all(&ids));
        if let Err(e) = follow(&submission, recorder, progress, true) {
            return failed_all(e);
        }
        plan.stages
            .iter()
            .enumerate()
            .map(|(i, s)| match recorder.read(&s.name) {
                Some(report) if only.is_none_or(|o| o.contains(&i)) => report.outcome(),
                _ => execute::outcome(s, Status::Skipped(Skip::NotNeeded), 0.0),
            })
            .collect()
    }
}

/// Resolves `path` against `cwd` (a job runs elsewhere, so every path it is given is absolute).
pub fn absolute(path: &Path, cwd: &Path) -> PathBuf {
    if path.is_absolute() { path.to_path_buf() } else { cwd.join(path) }
}

/// A `MultiProgress` that draws nowhere (for `vox status` without `--wait`).
pub fn hidden_progress() -> MultiProgress {
    MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden())
}
