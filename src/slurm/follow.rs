//! Following submitted jobs to their outcomes: a job's outcome file (written by `vox exec-stage`
//! when the stage ends) is the truth; `squeue` says which jobs are pending or running and which
//! ended without writing one (killed, out of time or memory, cancelled). A failed stage's waiting
//! dependents are cancelled at once (Slurm's own `--kill-on-invalid-dep` takes up to a scheduler
//! pass) and recorded as skipped.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use super::sbatch::{self, JobState};
use super::{Job, SlurmError, Submission};
use crate::report::{Recorder, StageReport};

/// Where each job stands.
#[derive(Debug, Default)]
pub struct Progress {
    /// Recorded outcomes by stage.
    pub finished: BTreeMap<String, StageReport>,
    /// The controller's state of each unfinished job, by stage.
    pub queued: BTreeMap<String, JobState>,
}

/// An ended job gets this long for its outcome file to appear (a shared file system may show it
/// late) before it counts as failed without one.
const GRACE: Duration = Duration::from_secs(10);

/// How long the controller may be unreachable before following gives up.
const PATIENCE: Duration = Duration::from_secs(600);

/// Follows the jobs of `submission`, recording what they could not (skipped dependents, jobs
/// that died), until all have ended (`wait`) or once. Shows a progress bar and a line per
/// finished stage.
pub fn follow(submission: &Submission, recorder: &Recorder, progress: &MultiProgress, wait: bool) -> Result<Progress, SlurmError> {
    let bar = progress.add(ProgressBar::new(submission.jobs.len() as u64));
    bar.set_style(
        ProgressStyle::with_template("{spinner} slurm [{bar:30}] {pos}/{len} jobs {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut state = Progress::default();
    let mut ended_at: BTreeMap<String, Instant> = BTreeMap::new();
    let mut unreachable_since: Option<Instant> = None;
    let mut pause = Duration::from_millis(200);
    let mut announced = std::collections::BTreeSet::new();
    loop {
        let before = state.finished.len();
        read_outcomes(submission, recorder, &mut state);
        cancel_dependents(submission, recorder, &mut state)?;
        let open: Vec<&Job> = submission.jobs.iter().filter(|j| !state.finished.contains_key(&j.stage)).collect();
        if !open.is_empty() {
            let ids: Vec<String> = open.iter().map(|j| j.id.clone()).collect();
            match sbatch::states(&ids) {
                Ok(states) => {
                    unreachable_since = None;
                    state.queued.clear();
                    for job in open {
                        match states.get(&job.id) {
                            Some(s) if !s.ended() => {
                                ended_at.remove(&job.id);
                                state.queued.insert(job.stage.clone(), s.clone());
                            }
                            ended => {
                                let since = *ended_at.entry(job.id.clone()).or_insert_with(Instant::now);
                                let cancelled_for_input = ended.is_some_and(|s| s.state == "CANCELLED" && s.reason.contains("Dependency"));
                                if since.elapsed() >= GRACE || cancelled_for_input || !wait {
                                    // One last look: the outcome may have landed since.
                                    if let Some(report) = recorder.read(&job.stage) {
                                        state.finished.insert(job.stage.clone(), report);
                                        continue;
                                    }
                                    if !wait && since.elapsed() < GRACE && !cancelled_for_input {
                                        continue;
                                    }
                                    let report = died(job, ended, cancelled_for_input);
                                    write(recorder, &report)?;
                                    state.finished.insert(job.stage.clone(), report);
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    let since = *unreachable_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > PATIENCE || !wait {
                        bar.finish_and_clear();
                        return Err(e);
                    }
                    tracing::warn!("{e}; retrying");
                }
            }
        }
        for job in &submission.jobs {
            if let Some(report) = state.finished.get(&job.stage)
                && wait
                && announced.insert(job.stage.clone())
            {
                announce(job, report);
            }
        }
        bar.set_position(state.finished.len() as u64);
        let running = state.queued.values().filter(|s| s.state == "RUNNING" || s.state == "COMPLETING").count();
        let pending = state.queued.len() - running;
        bar.set_message(format!("({running} running, {pending} pending)"));
        if !wait || state.finished.len() == submission.jobs.len() {
            bar.finish_and_clear();
            return Ok(state);
        }
        pause = if state.finished.len() > before { Duration::from_millis(200) } else { (pause * 3 / 2).min(Duration::from_secs(2)) };
        std::thread::sleep(pause);
    }
}

/// One line for a finished job.
fn announce(job: &Job, report: &StageReport) {
    match report.status.as_str() {
        "failed" => tracing::warn!(
            "`{}` failed (job {}): {}; log: {}",
            job.stage,
            job.id,
            report.reasons.join("; "),
            job.log.display()
        ),
        "skipped" => tracing::info!("`{}` skipped (job {}): {}", job.stage, job.id, report.reasons.join("; ")),
        status => tracing::info!("`{}` {status} (job {}, {:.1} s)", job.stage, job.id, report.seconds),
    }
}

/// Reads the outcome files of the unfinished jobs.
fn read_outcomes(submission: &Submission, recorder: &Recorder, state: &mut Progress) {
    for job in &submission.jobs {
        if !state.finished.contains_key(&job.stage)
            && let Some(mut report) = recorder.read(&job.stage)
        {
            // A job that failed before it could plan does not know its stage's kind.
            if report.kind.is_empty() {
                report.kind = job.kind.clone();
                let _ = recorder.write(&report);
            }
            state.finished.insert(job.stage.clone(), report);
        }
    }
}

/// Cancels the jobs waiting on a failed or skipped stage and records them skipped (in
/// submission order, so a chain of dependents goes in one pass).
fn cancel_dependents(submission: &Submission, recorder: &Recorder, state: &mut Progress) -> Result<(), SlurmError> {
    let mut doomed = Vec::new();
    for job in &submission.jobs {
        if state.finished.contains_key(&job.stage) {
            continue;
        }
        let bad = job.after.iter().find_map(|input| {
            let report = state.finished.get(input)?;
            matches!(report.status.as_str(), "failed" | "skipped").then(|| (input.clone(), report.status.clone()))
        });
        if let Some((input, status)) = bad {
            let report = StageReport {
                status: "skipped".into(),
                reasons: vec![format!("input `{input}` {status}")],
                ..bare(job)
            };
            write(recorder, &report)?;
            state.finished.insert(job.stage.clone(), report);
            doomed.push(job.id.clone());
        }
    }
    sbatch::cancel(&doomed)
}

/// The record of a job that ended without writing its outcome.
fn died(job: &Job, ended: Option<&JobState>, cancelled_for_input: bool) -> StageReport {
    if cancelled_for_input {
        return StageReport { status: "skipped".into(), reasons: vec!["an input's job failed".into()], ..bare(job) };
    }
    let how = match ended {
        Some(s) => sbatch::describe_end(&job.id).unwrap_or_else(|| s.state.clone()),
        None => "left the queue".into(),
    };
    StageReport {
        status: "failed".into(),
        reasons: vec![format!("job {} ended ({how}) without recording an outcome", job.id)],
        ..bare(job)
    }
}

/// A job's outcome record with nothing known but where it ran.
fn bare(job: &Job) -> StageReport {
    StageReport {
        name: job.stage.clone(),
        kind: job.kind.clone(),
        status: String::new(),
        seconds: 0.0,
        key: None,
        params: None,
        paths: Default::default(),
        inputs: job.after.clone(),
        backend: None,
        reasons: Vec::new(),
        outputs: None,
        reports: Vec::new(),
        log: Some(job.log.clone()),
        job: Some(job.id.clone()),
    }
}

fn write(recorder: &Recorder, report: &StageReport) -> Result<(), SlurmError> {
    recorder.write(report).map_err(|source| SlurmError::Io {
        what: "cannot record an outcome in",
        path: recorder.run_dir().to_path_buf(),
        source,
    })
}

/// Counts of a submission's jobs by status: (finished fine, failed or skipped, unfinished).
pub fn tally(submission: &Submission, progress: &Progress) -> (usize, usize, usize) {
    let mut counts = (0, 0, 0);
    for job in &submission.jobs {
        match progress.finished.get(&job.stage).map(|r| r.status.as_str()) {
            Some("ran" | "cached") => counts.0 += 1,
            Some(_) => counts.1 += 1,
            None => counts.2 += 1,
        }
    }
    counts
}
