//! `vox status`: where a run stands, a Slurm run's jobs followed to the end with `--wait`.

#[allow(unused_imports)]
use super::*;

/// The arguments of `vox status`.
#[derive(Args, Debug)]
pub(super) struct StatusArgs {
    /// The run folder (`runs/<pipeline>/<run-id>`, or `runs/<pipeline>/latest`).
    pub(super) run: PathBuf,
    /// Follow the jobs until every one has ended, with a progress bar.
    #[arg(long)]
    pub(super) wait: bool,
}

/// `vox status`.
pub(super) fn status_command(args: StatusArgs, progress: &MultiProgress) -> Result<ExitCode, Failure> {
    let StatusArgs { run, wait } = args;
    status(&run, wait, progress)
}

/// `vox status RUN_DIR [--wait]`.
fn status(run: &Path, wait: bool, progress: &MultiProgress) -> Result<ExitCode, Failure> {
    let recorder = report::Recorder::open_existing(run).map_err(|e| Failure::Invalid(format!("`{}` is not a run folder: {e}", run.display())))?;
    let submission = match slurm::Submission::read(run) {
        Ok(s) => s,
        Err(_) => {
            // A local run: its outcome files are all there is, and `run.json` says it ended.
            let report = recorder.read_all();
            print!("{}", report::table_of(&report));
            if !recorder.has_finished() {
                println!(
                    "\nthe run has not finished (no run.json): it is still running, or it was interrupted or \
                     killed; the stages above finished, the same `vox run` resumes the rest"
                );
                return Ok(ExitCode::from(3));
            }
            let failed = report.iter().any(|r| r.status == "failed");
            return Ok(if failed { ExitCode::from(1) } else { ExitCode::SUCCESS });
        }
    };
    let hidden = slurm::hidden_progress();
    let state = slurm::follow(&submission, &recorder, if wait { progress } else { &hidden }, wait).map_err(|e| Failure::Io(e.to_string()))?;
    let jobs: std::collections::BTreeMap<&str, &slurm::Job> = submission.jobs.iter().map(|j| (j.stage.as_str(), j)).collect();
    let rows: Vec<[String; 5]> = submission
        .stages
        .iter()
        .map(|name| {
            let job = jobs.get(name.as_str());
            let recorded = state.finished.get(name).cloned().or_else(|| recorder.read(name));
            let (status, seconds, why) = match (&recorded, state.queued.get(name)) {
                (Some(r), _) => (r.status.clone(), format!("{:.2}", r.seconds), r.reasons.join("; ")),
                (None, Some(q)) => (q.state.to_lowercase(), "-".into(), if q.reason == "None" { String::new() } else { q.reason.clone() }),
                (None, None) => ("unknown".into(), "-".into(), String::new()),
            };
            [name.clone(), job.map_or("-".into(), |j| j.id.clone()), status, seconds, why]
        })
        .collect();
    progress.clear().ok();
    print!("{}", report::render_table(&["stage", "job", "status", "seconds", "why"], &rows));
    let (fine, bad, open) = slurm::tally(&submission, &state);
    println!("\n{} jobs: {fine} finished, {bad} failed or skipped, {open} pending or running", submission.jobs.len());
    if open > 0 {
        return Ok(ExitCode::from(3));
    }
    let finished = recorder
        .finish_stages(&submission.pipeline, submission.seed, submission.stages.iter().map(String::as_str))
        .map_err(io_failure("cannot write run.json"))?;
    println!("run folder: {}", finished.run_dir.display());
    for job in submission.jobs.iter().filter(|j| state.finished.get(&j.stage).is_some_and(|r| r.status == "failed")) {
        eprintln!("error: stage `{}` failed (job {}); log: {}", job.stage, job.id, job.log.display());
    }
    Ok(if bad > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
}
