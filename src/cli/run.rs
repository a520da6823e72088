//! `vox run` and `vox sweep`: plan, then run the stages here or submit them to Slurm.

#[allow(unused_imports)]
use super::*;

/// Where a run's stages run.
#[derive(Args, Debug)]
pub(super) struct Placement {
    /// Where the stages run: `local` (threads of this process, `--jobs` at a time) or `slurm`
    /// (each uncached stage one `sbatch` job running `vox exec-stage` on the shared cache, after
    /// its inputs' jobs; configured by the pipeline's `[executor]` table and stages'
    /// `resources`). With `slurm`, the cache, the run folder and this binary must be on paths
    /// every node sees.
    #[arg(long, value_enum, default_value_t = ExecutorKind::Local)]
    pub(super) executor: ExecutorKind,
    /// With `--executor slurm`: return once the jobs are submitted (their ids are in
    /// `<RUN_DIR>/slurm.json`); `vox status RUN_DIR` follows them later.
    #[arg(long)]
    pub(super) detach: bool,
}

/// `--executor`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ExecutorKind {
    /// Threads of this process.
    Local,
    /// Slurm jobs.
    Slurm,
}

/// The arguments of `vox run`.
#[derive(Args, Debug)]
pub(super) struct RunArgs {
    #[command(flatten)]
    pub(super) pipeline: PipelineArgs,
    /// Run only these stages and the stages they need (`vox run p.toml rf` runs the forest
    /// and what feeds it; a cross-validated stage's name means all of its folds). Default:
    /// every stage.
    #[arg(value_name = "STAGE")]
    pub(super) targets: Vec<String>,
    /// Stages to run at once (default: the number of cores).
    #[arg(long, short, value_parser = at_least_one)]
    pub(super) jobs: Option<usize>,
    /// Rerun this stage even if cached (repeatable).
    #[arg(long, value_name = "STAGE")]
    pub(super) force: Vec<String>,
    /// Print only the run's JSON summary on stdout (logs stay on stderr).
    #[arg(long)]
    pub(super) json: bool,
    #[command(flatten)]
    pub(super) placement: Placement,
}

/// The arguments of `vox sweep`.
#[derive(Args, Debug)]
pub(super) struct SweepArgs {
    #[command(flatten)]
    pub(super) pipeline: PipelineArgs,
    /// Add a grid axis on top of the pipeline's `[sweep]`: STAGE.PARAM=A,B,C (or a TOML
    /// array, `split.val_speakers=[["21"],["22"]]`). Repeatable.
    #[arg(long = "grid", value_name = "STAGE.PARAM=A,B")]
    pub(super) grid: Vec<String>,
    /// Stages to run at once (default: the number of cores).
    #[arg(long, short, value_parser = at_least_one)]
    pub(super) jobs: Option<usize>,
    /// Print the comparison as JSON on stdout.
    #[arg(long)]
    pub(super) json: bool,
    #[command(flatten)]
    pub(super) placement: Placement,
}

/// `vox run`.
pub(super) fn run(args: RunArgs, global: &Global, registry: Registry, progress: &MultiProgress) -> Result<ExitCode, Failure> {
    let RunArgs { pipeline, targets, jobs, force, json, placement } = args;
    placement.check()?;
    let registry = placement.registry(registry);
    let loaded = load(&pipeline, None)?;
    let cache = open_cache(global)?;
    let recorder = new_run(global, &loaded)?;
    let options = RunOptions { recorder: Some(&recorder), ..run_options(jobs, progress) };
    let counting = placement.executor(&loaded, &pipeline, None, global, &cache, options.clone())?;
    let planned = expand_for_run(&loaded, &registry, counting.as_ref(), &options)?;
    let plan = &planned.sweep.plan;
    let force = check_force(plan, force)?;
    let only = (!targets.is_empty()).then(|| with_ancestors(plan, &targets)).transpose()?;
    let options = RunOptions { force, ..options };
    if placement.detach {
        return submit_detached(&placement, &loaded, &pipeline, None, global, &cache, options, plan, only.as_ref());
    }
    let executor = placement.executor(&loaded, &pipeline, None, global, &cache, options.clone())?;
    let (outcomes, run) = run_plan(plan, &cache, executor.as_ref(), &options, &planned.before, only.as_ref())?;
    let mut stdout = std::io::stdout().lock();
    if json {
        let doc = serde_json::json!({
            "pipeline": run.pipeline,
            "run_dir": run.run_dir,
            "stages": run.stages.iter().map(|s| serde_json::json!({
                "name": s.name, "kind": s.kind, "status": s.status, "seconds": s.seconds, "key": s.key,
            })).collect::<Vec<_>>(),
        });
        let _ = writeln!(stdout, "{doc:#}");
    } else {
        let _ = write!(stdout, "{}", report::table(&run));
        let _ = writeln!(stdout, "run folder: {}", run.run_dir.display());
    }
    Ok(exit_status(&outcomes))
}

/// `vox sweep`.
pub(super) fn sweep(args: SweepArgs, global: &Global, registry: Registry, progress: &MultiProgress) -> Result<ExitCode, Failure> {
    let SweepArgs { pipeline, grid, jobs, json, placement } = args;
    placement.check()?;
    let registry = placement.registry(registry);
    let loaded = load(&pipeline, Some(&grid))?;
    let metrics = sweep_metrics(&loaded.spec)
        .map_err(|errors| Failure::Invalid(render_errors(&errors, &loaded.sources, &pipeline.pipeline)))?;
    let cache = open_cache(global)?;
    let recorder = new_run(global, &loaded)?;
    let options = RunOptions { recorder: Some(&recorder), ..run_options(jobs, progress) };
    let executor = placement.executor(&loaded, &pipeline, Some(&grid), global, &cache, options.clone())?;
    let planned = expand_for_run(&loaded, &registry, executor.as_ref(), &options)?;
    let plan = &planned.sweep;
    if placement.detach {
        return submit_detached(&placement, &loaded, &pipeline, Some(&grid), global, &cache, options, &plan.plan, None);
    }
    let (outcomes, run) = run_plan(&plan.plan, &cache, executor.as_ref(), &options, &planned.before, None)?;
    let metrics = if metrics.is_empty() { sweep::default_metrics(&outcomes) } else { metrics };
    let by = loaded.spec.sweep.as_ref().map(|s| s.by.clone()).unwrap_or_default();
    let rows = sweep::compare(plan, &outcomes, &metrics, &by);
    for column in &by {
        if !rows.iter().any(|r| r.by.as_ref() == Some(column)) {
            tracing::warn!("the sweep's `by = [\"{column}\"]`: no report scored by `{column}` (an `evaluate` stage's `by` names it)");
        }
    }
    let table = sweep::markdown(&rows, &metrics);
    std::fs::write(run.run_dir.join("sweep.md"), &table).map_err(io_failure("cannot write sweep.md"))?;
    std::fs::write(run.run_dir.join("sweep.csv"), sweep::csv_table(&rows, &metrics)).map_err(io_failure("cannot write sweep.csv"))?;
    if let Err(e) = sweep::plot(&rows, &metrics, &plan.plan.name, &run.run_dir) {
        tracing::warn!("cannot draw the sweep plots: {e}");
    }
    if json {
        let doc: Vec<_> = rows
            .iter()
            .map(|r| {
                let versus = match r.versus_best {
                    sweep::Versus::Best => serde_json::json!("best"),
                    sweep::Versus::Tested(p) => serde_json::json!(p),
                    sweep::Versus::NotComparable => serde_json::Value::Null,
                };
                serde_json::json!({"variant": r.variant, "model": r.model, "split": r.split, "values": r.values, "p_vs_best": versus})
            })
            .collect();
        println!("{}", serde_json::json!({"pipeline": plan.plan.name, "run_dir": run.run_dir, "variants": plan.variants.len(), "stages": run.stages.iter().map(|s| serde_json::json!({"name": s.name, "kind": s.kind, "status": s.status})).collect::<Vec<_>>(), "rows": doc}));
    } else {
        print!("{}", report::table(&run));
        println!("\n{} variants, {} stages\n\n{table}\nrun folder: {}", plan.variants.len(), plan.plan.stages.len(), run.run_dir.display());
    }
    Ok(exit_status(&outcomes))
}

impl Placement {
    /// The registry for planning here: a login node submitting to Slurm does not check for the
    /// devices its jobs will have (`vox exec-stage` does, on the node).
    pub(super) fn registry(&self, mut registry: Registry) -> Registry {
        registry.device_checks = self.executor == ExecutorKind::Local;
        registry
    }

    /// Refuses what cannot work before anything is made: `--detach` without Slurm, Slurm
    /// without its commands.
    pub(super) fn check(&self) -> Result<(), Failure> {
        match self.executor {
            ExecutorKind::Local if self.detach => {
                Err(Failure::Invalid("`--detach` needs `--executor slurm`: a local run cannot outlive this process".into()))
            }
            ExecutorKind::Local => Ok(()),
            ExecutorKind::Slurm => {
                let version = slurm::check_available().map_err(|e| Failure::Io(e.to_string()))?;
                tracing::debug!("submitting with {version}");
                Ok(())
            }
        }
    }

    /// The executor: this process's threads, or Slurm jobs re-creating this plan.
    #[allow(clippy::too_many_arguments)]
    fn executor<'a>(
        &self,
        loaded: &'a Loaded,
        args: &PipelineArgs,
        grid: Option<&[String]>,
        global: &Global,
        cache: &'a Cache,
        options: RunOptions<'a>,
    ) -> Result<Box<dyn Executor + 'a>, Failure> {
        match self.executor {
            ExecutorKind::Local => Ok(Box::new(Local { cache, options })),
            ExecutorKind::Slurm => {
                let invocation = invocation(args, grid, global, loaded)?;
                Ok(Box::new(Slurm { settings: &loaded.spec.executor, invocation, cache, options }))
            }
        }
    }
}

/// How a cluster job re-creates this command's plan (every path absolute: the job's shell starts
/// elsewhere). `VOX_EXE` names the binary jobs run when this one is not on a shared path.
pub(super) fn invocation(args: &PipelineArgs, grid: Option<&[String]>, global: &Global, loaded: &Loaded) -> Result<slurm::Invocation, Failure> {
    let cwd = std::env::current_dir().map_err(io_failure("cannot read the current folder"))?;
    let exe = match std::env::var_os("VOX_EXE") {
        Some(exe) => PathBuf::from(exe),
        None => std::env::current_exe().map_err(io_failure("cannot find this vox binary"))?,
    };
    Ok(slurm::Invocation {
        exe: slurm::absolute(&exe, &cwd),
        pipeline: slurm::absolute(&args.pipeline, &cwd),
        sets: args.sets.clone(),
        sweep: grid.map(<[String]>::to_vec),
        search: None,
        cache_dir: slurm::absolute(&global.cache_dir, &cwd),
        fingerprint: loaded.sources.fingerprint(),
        cwd,
    })
}

/// `--detach`: submits the plan's uncached stages and returns.
#[allow(clippy::too_many_arguments)]
fn submit_detached(
    placement: &Placement,
    loaded: &Loaded,
    args: &PipelineArgs,
    grid: Option<&[String]>,
    global: &Global,
    cache: &Cache,
    options: RunOptions,
    plan: &Plan,
    only: Option<&BTreeSet<usize>>,
) -> Result<ExitCode, Failure> {
    debug_assert_eq!(placement.executor, ExecutorKind::Slurm);
    let run_dir = options.recorder.map(|r| r.run_dir().to_path_buf()).unwrap_or_default();
    let executor = Slurm { settings: &loaded.spec.executor, invocation: invocation(args, grid, global, loaded)?, cache, options };
    let submission = executor.submit(plan, only).map_err(|e| Failure::Io(e.to_string()))?;
    let cached = submission.stages.len() - submission.jobs.len();
    println!("submitted {} job(s) to Slurm ({cached} stage(s) cached)", submission.jobs.len());
    println!("run folder: {}", run_dir.display());
    println!("follow it with: vox status {}{}", run_dir.display(), if submission.jobs.is_empty() { "" } else { " --wait" });
    if submission.jobs.is_empty()
        && let Some(recorder) = executor.options.recorder
    {
        recorder.finish(plan).map_err(io_failure("cannot write the run folder"))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The metrics a sweep compares, checked against what `evaluate` writes; none when the sweep
/// names none (the run's reports decide, [`sweep::default_metrics`]).
fn sweep_metrics(spec: &spec::PipelineSpec) -> Result<Vec<String>, Vec<SpecError>> {
    let asked = spec.sweep.as_ref().map(|s| s.metrics.clone()).unwrap_or_default();
    let unknown: Vec<SpecError> = asked
        .iter()
        .filter(|m| !sweep::is_metric(m))
        .map(|m| {
            let kind = SpecErrorKind::BadOverride {
                text: format!("metrics = [\"{m}\"]"),
                problem: format!("unknown metric; `evaluate` reports {} (and `ccc`, `ccc_<dimension>` for estimates)", sweep::METRICS.join(", ")),
                suggestion: closest(m, sweep::METRICS),
            };
            SpecError::at(kind, spec.name.loc.clone())
        })
        .collect();
    if unknown.is_empty() { Ok(asked) } else { Err(unknown) }
}
