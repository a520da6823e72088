//! `vox exec-stage`: one stage whose inputs are cached, as a cluster job runs it.

#[allow(unused_imports)]
use super::*;

/// The arguments of `vox exec-stage`.
#[derive(Args, Debug)]
pub(super) struct ExecStageArgs {
    #[command(flatten)]
    pub(super) pipeline: PipelineArgs,
    /// The stage (its name in the plan: `rf[fold=2]`, a sweep variant's `rf[seed=2]`).
    pub(super) stage: String,
    /// The run folder the outcome is recorded in.
    #[arg(long, value_name = "DIR")]
    pub(super) run_dir: PathBuf,
    /// Plan the pipeline's `[sweep]`, as `vox sweep` does.
    #[arg(long)]
    pub(super) sweep: bool,
    /// With `--sweep`: a grid axis on top of the pipeline's `[sweep]` (repeatable).
    #[arg(long = "grid", value_name = "STAGE.PARAM=A,B")]
    pub(super) grid: Vec<String>,
    /// Plan a round of the pipeline's `[search]`, as `vox search` does: the trials drawn
    /// (after its `--trials`).
    #[arg(long, value_name = "N", requires = "search_round")]
    pub(super) search_trials: Option<usize>,
    /// With `--search-trials`: the round's trials (`2,5,7`).
    #[arg(long, value_name = "TRIALS", value_delimiter = ',', requires = "search_trials")]
    pub(super) search_round: Vec<usize>,
    /// With `--search-trials`: the successive-halving rung of the round (from 0).
    #[arg(long, value_name = "K", requires = "search_trials")]
    pub(super) search_rung: Option<usize>,
    /// Where the job's log is, to record with the outcome (with `$SLURM_JOB_ID`).
    #[arg(long, value_name = "FILE")]
    pub(super) log: Option<PathBuf>,
    /// Rebuild the stage even if its key is cached.
    #[arg(long)]
    pub(super) force: bool,
    /// Threads the stage may use (default: `$SLURM_CPUS_PER_TASK`, else the number of
    /// cores).
    #[arg(long, short, value_parser = at_least_one, env = "SLURM_CPUS_PER_TASK")]
    pub(super) jobs: Option<usize>,
    /// The fingerprint of the pipeline's files when the job was submitted: a pipeline edited
    /// since is refused (rerun the submitting command) rather than run half old, half new.
    #[arg(long, value_name = "HASH")]
    pub(super) expect_sources: Option<String>,
}

/// `vox exec-stage`. A failure before the stage could run (a changed pipeline, an input not
/// cached) is recorded as the stage's outcome too, so the submitter reports why.
pub(super) fn exec_stage(args: ExecStageArgs, global: &Global, registry: Registry, progress: &MultiProgress) -> Result<ExitCode, Failure> {
    let (stage, run_dir, log) = (args.stage.clone(), args.run_dir.clone(), args.log.clone());
    let result = run_one(args, global, registry, progress);
    if let Err(Failure::Invalid(why) | Failure::Io(why)) = &result
        && let Ok(recorder) = report::Recorder::open(&run_dir)
        && recorder.read(&stage).is_none()
    {
        let failed = report::StageReport {
            name: stage,
            kind: String::new(),
            status: "failed".into(),
            seconds: 0.0,
            key: None,
            params: None,
            paths: Default::default(),
            inputs: Vec::new(),
            backend: None,
            reasons: vec![why.clone()],
            outputs: None,
            reports: Vec::new(),
            log,
            job: std::env::var("SLURM_JOB_ID").ok(),
        };
        let _ = recorder.write(&failed);
    }
    result
}

fn run_one(args: ExecStageArgs, global: &Global, registry: Registry, progress: &MultiProgress) -> Result<ExitCode, Failure> {
    let ExecStageArgs { pipeline, stage, run_dir, sweep, grid, search_trials, search_round, search_rung, log, force, jobs, expect_sources } =
        args;
    let grid = (sweep || !grid.is_empty()).then_some(grid.as_slice());
    let mut loaded = load(&pipeline, grid)?;
    if let Some(expected) = expect_sources
        && loaded.sources.fingerprint() != expected
    {
        return Err(Failure::Io(format!(
            "the pipeline `{}` (or a file it extends or includes) changed after this job was submitted; \
             rerun the submitting command to submit the pipeline as it is now",
            pipeline.pipeline.display()
        )));
    }
    if let Some(trials) = search_trials {
        let mut search = match crate::search::Search::from_spec(&loaded.spec) {
            Ok(Some(search)) => search,
            Ok(None) => return Err(Failure::Invalid(format!("`{}` has no [search] to plan a round of", pipeline.pipeline.display()))),
            Err(errors) => return Err(Failure::Invalid(render_errors(&errors, &loaded.sources, &pipeline.pipeline))),
        };
        search.trials = trials;
        loaded.variants = search.round(&search_round, search_rung);
    }
    let cache = open_cache(global)?;
    let (plan, unknown_folds) = plan_loaded(&loaded, &pipeline, &registry, &cache)?;
    if let Some(note) = unknown_folds {
        return Err(Failure::Io(format!("cannot plan the folds: {note}")));
    }
    let Some(index) = plan.index_of(&stage) else {
        let message = format!("`{stage}` is not a stage of pipeline `{}`", plan.name);
        return Err(unknown(message, &stage, plan.stages.iter().map(|s| s.name.as_str())));
    };
    let ancestors = fan_out::ancestors(&plan, std::iter::once(index));
    let previews = preview(&plan, &cache, &BTreeSet::new());
    if let Some(pending) = ancestors.iter().find(|&&i| previews[i].will_run) {
        return Err(Failure::Io(format!(
            "input `{}` of `{stage}` is not in the cache `{}`: the stage that makes it has not finished",
            plan.stages[*pending].name,
            global.cache_dir.display()
        )));
    }
    let recorder = report::Recorder::open(&run_dir).map_err(io_failure("cannot open the run folder"))?;
    let mut only = ancestors;
    only.insert(index);
    let force = if force { BTreeSet::from([stage.clone()]) } else { BTreeSet::new() };
    let options = RunOptions { only: Some(only), force, ..run_options(jobs, progress) };
    let outcomes = execute::execute(&plan, &cache, &options);
    progress.clear().ok();
    cache.save().map_err(io_failure("cannot save the cache's file index"))?;
    let outcome = &outcomes[index];
    let origin = report::Origin { job: std::env::var("SLURM_JOB_ID").ok(), log };
    let recorded = recorder.record(&plan, outcome, origin).map_err(io_failure("cannot record the outcome"))?;
    println!("{}: {}", recorded.name, recorded.status);
    Ok(exit_status(std::slice::from_ref(outcome)))
}
