//! The `vox` command line: a thin layer over spec -> plan -> cache -> execute -> report.
//!
//! Exit codes: 0 success, 1 a stage failed, 2 invalid pipeline or arguments.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use indicatif::{MultiProgress, ProgressDrawTarget};

use crate::cache::Cache;
use crate::error::{SpecError, SpecErrorKind, closest};
use crate::execute::{self, RunOptions, Status};
use crate::executor::{Executor, Local};
use crate::slurm::{self, Slurm};
use crate::fan_out;
use crate::plan::Plan;
use crate::predict;
use crate::preview::preview;
use crate::registry::{self, Registry};
use crate::report;
use crate::source::SourceMap;
use crate::significance;
use crate::spec;
use crate::sweep;

/// Declarative, cached experiment pipelines for speech-emotion recognition.
///
/// A pipeline is a TOML file of stages (download, decode, pad, split, featurize, baseline,
/// fine-tune, evaluate, ...). `vox run` runs each stage only when its content-hash key (kind,
/// version, params, backend, seed and its inputs' content) is not already cached, with
/// independent stages in parallel. Start with `vox run pipelines/demo.toml`.
#[derive(Parser, Debug)]
#[command(name = "vox", version, about, long_about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct Global {
    /// The cache folder.
    #[arg(long, global = true, env = "VOX_CACHE_DIR", default_value = "cache")]
    cache_dir: PathBuf,
    /// Where run folders (reports, plots, run.json) go.
    #[arg(long, global = true, env = "VOX_RUNS_DIR", default_value = "runs")]
    runs_dir: PathBuf,
    /// More logging, each line stamped with the seconds since start (-v: debug, -vv: trace);
    /// RUST_LOG overrides the level.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct PipelineArgs {
    /// The pipeline file.
    pipeline: PathBuf,
    /// Override a param: STAGE.PARAM=VALUE (typed by the param's declared type), also
    /// STAGE.inputs=a,b, STAGE.backend=NAME and pipeline.seed=N. Repeatable.
    #[arg(long = "set", value_name = "STAGE.PARAM=VALUE")]
    sets: Vec<String>,
}

/// Where a run's stages run.
#[derive(Args, Debug)]
struct Placement {
    /// Where the stages run: `local` (threads of this process, `--jobs` at a time) or `slurm`
    /// (each uncached stage one `sbatch` job running `vox exec-stage` on the shared cache, after
    /// its inputs' jobs; configured by the pipeline's `[executor]` table and stages'
    /// `resources`). With `slurm`, the cache, the run folder and this binary must be on paths
    /// every node sees.
    #[arg(long, value_enum, default_value_t = ExecutorKind::Local)]
    executor: ExecutorKind,
    /// With `--executor slurm`: return once the jobs are submitted (their ids are in
    /// `<RUN_DIR>/slurm.json`); `vox status RUN_DIR` follows them later.
    #[arg(long)]
    detach: bool,
}

/// `--executor`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ExecutorKind {
    /// Threads of this process.
    Local,
    /// Slurm jobs.
    Slurm,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a pipeline: every stage whose key is not cached, independent stages in parallel.
    Run {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Run only these stages and the stages they need (`vox run p.toml rf` runs the forest
        /// and what feeds it; a cross-validated stage's name means all of its folds). Default:
        /// every stage.
        #[arg(value_name = "STAGE")]
        targets: Vec<String>,
        /// Stages to run at once (default: the number of cores).
        #[arg(long, short, value_parser = at_least_one)]
        jobs: Option<usize>,
        /// Rerun this stage even if cached (repeatable).
        #[arg(long, value_name = "STAGE")]
        force: Vec<String>,
        /// Print only the run's JSON summary on stdout (logs stay on stderr).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        placement: Placement,
    },
    /// Run every variant of a pipeline's `[sweep]` (grid, named variants, seeds) as one DAG
    /// (shared stages run once) and compare their `evaluate` metrics in a table and plots.
    Sweep {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Add a grid axis on top of the pipeline's `[sweep]`: STAGE.PARAM=A,B,C (or a TOML
        /// array, `split.val_speakers=[["21"],["22"]]`). Repeatable.
        #[arg(long = "grid", value_name = "STAGE.PARAM=A,B")]
        grid: Vec<String>,
        /// Stages to run at once (default: the number of cores).
        #[arg(long, short, value_parser = at_least_one)]
        jobs: Option<usize>,
        /// Print the comparison as JSON on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        placement: Placement,
    },
    /// Show where a run stands: each stage's outcome, and for a run submitted to Slurm each
    /// unfinished job's state (pending, running). When every stage has finished it writes the
    /// run's `run.json`. Exit 0 when all finished well, 1 when a stage failed, 3 while jobs are
    /// still pending or running.
    #[command(after_help = "Examples:\n  vox status runs/demo/latest\n  vox status runs/demo/latest --wait")]
    Status {
        /// The run folder (`runs/<pipeline>/<run-id>`, or `runs/<pipeline>/latest`).
        run: PathBuf,
        /// Follow the jobs until every one has ended, with a progress bar.
        #[arg(long)]
        wait: bool,
    },
    /// Compare runs side by side: the params that differ and every `evaluate` metric.
    Compare {
        /// Run folders (`runs/<pipeline>/<run-id>`), two or more.
        #[arg(required = true, num_args = 2..)]
        runs: Vec<PathBuf>,
    },
    /// Apply a finished run's trained models to new recordings, without training anything:
    /// each model's `predictions.csv` and `output.txt`.
    ///
    /// The new audio goes through the run's own stages with the run's settings and fitted
    /// state: its decode (sample rate, classes), pad, features (with the standardization of the
    /// run's train split), the fitted forest, logistic or SVM model, the fine-tuned wav2vec2,
    /// an ensemble's weights. A cross-validated model (`rf[fold=1]`..`rf[fold=K]`, asked for as
    /// `rf`) averages its folds' probabilities. The run's stages must still be in the cache.
    #[command(after_help = "Examples:\n  vox predict runs/demo/<run-id> new_clips/\n  vox predict runs/demo/<run-id> --model rf a.wav b.wav\n  vox predict runs/iemocap/<run-id> --model vote --out preds meta.csv")]
    Predict {
        /// The run folder (`runs/<pipeline>/<run-id>`).
        run: PathBuf,
        /// The recordings: WAV files, folders (every `.wav` under them, identified by their path
        /// inside the folder without `.wav`), or CSV/TSV tables with a `file` (or `path`)
        /// column relative to the table, optional `id`, `start` and `end` (seconds) columns.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// A model to apply: a stage that makes predictions (a baseline, fine-tune or ensemble),
        /// or a cross-validated model's name. Repeatable; default: every model of the run.
        #[arg(long = "model", value_name = "STAGE")]
        models: Vec<String>,
        /// The output folder (default: `<RUN>/predictions/<time>`); each model writes
        /// `<OUT>/<model>/predictions.csv`, `classes.csv` and `output.txt`.
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Run every stage that has backends on this one (e.g. `flex` where the run used
        /// `cuda` and this machine has no GPU).
        #[arg(long)]
        backend: Option<String>,
        /// Threads a stage may use (default: the number of cores).
        #[arg(long, short, value_parser = at_least_one)]
        jobs: Option<usize>,
    },
    /// Run one stage of a pipeline whose inputs are cached: the command a cluster job runs.
    ///
    /// It plans the pipeline as `vox run` (or, with `--sweep`, as `vox sweep`) would, with the
    /// same overrides, recomputes the stage's key from its inputs' cache entries, exits 0 at once
    /// when that key is cached, and otherwise runs the stage into the shared cache. Either way
    /// it records the outcome in the run folder (`<RUN_DIR>/stages/<stage>.json`). An input that
    /// is not cached is an error (exit 1): the job that makes it has not finished.
    ExecStage {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// The stage (its name in the plan: `rf[fold=2]`, a sweep variant's `rf[seed=2]`).
        stage: String,
        /// The run folder the outcome is recorded in.
        #[arg(long, value_name = "DIR")]
        run_dir: PathBuf,
        /// Plan the pipeline's `[sweep]`, as `vox sweep` does.
        #[arg(long)]
        sweep: bool,
        /// With `--sweep`: a grid axis on top of the pipeline's `[sweep]` (repeatable).
        #[arg(long = "grid", value_name = "STAGE.PARAM=A,B")]
        grid: Vec<String>,
        /// Where the job's log is, to record with the outcome (with `$SLURM_JOB_ID`).
        #[arg(long, value_name = "FILE")]
        log: Option<PathBuf>,
        /// Rebuild the stage even if its key is cached.
        #[arg(long)]
        force: bool,
        /// Threads the stage may use (default: `$SLURM_CPUS_PER_TASK`, else the number of
        /// cores).
        #[arg(long, short, value_parser = at_least_one, env = "SLURM_CPUS_PER_TASK")]
        jobs: Option<usize>,
    },
    /// Show each stage in order with `run` or `cached` and why, without running anything.
    Plan {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// Plan the pipeline's `[sweep]` (every variant as `vox sweep` runs them, shared stages
        /// once) instead of the base pipeline alone.
        #[arg(long)]
        sweep: bool,
        /// With `--sweep`: a grid axis on top of the pipeline's `[sweep]` (repeatable).
        #[arg(long = "grid", value_name = "STAGE.PARAM=A,B")]
        grid: Vec<String>,
        /// Rerun this stage even if cached (repeatable).
        #[arg(long, value_name = "STAGE")]
        force: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a stage's key components and how they differ from its last run.
    Explain {
        #[command(flatten)]
        pipeline: PipelineArgs,
        /// The stage.
        stage: String,
    },
    /// Print the pipeline's DAG as Graphviz DOT.
    Dag {
        #[command(flatten)]
        pipeline: PipelineArgs,
    },
    /// List every stage kind with its inputs, output, params, types, defaults and docs.
    Stages {
        /// Only this kind.
        kind: Option<String>,
    },
    /// Cache maintenance.
    Cache {
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// Remove cache entries the given pipelines do not use (and, with --days, that were not
    /// used recently).
    Gc {
        /// Pipelines whose current entries are kept.
        pipelines: Vec<PathBuf>,
        /// Also keep entries used within this many days.
        #[arg(long)]
        days: Option<u64>,
    },
}

#[derive(Subcommand, Debug)]
enum CacheCommand {
    /// Rehash every entry; remove the corrupt ones (the next run recomputes them).
    Verify,
}

/// `--jobs`: a count of at least 1.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

/// Parses arguments and runs the command.
pub fn main() -> ExitCode {
    vox_api::allocator::keep_freed_memory();
    crate::interrupt::install();
    let cli = Cli::parse();
    let json = matches!(cli.command, Command::Run { json: true, .. } | Command::Sweep { json: true, .. });
    let progress = if cli.global.quiet || json || !std::io::stderr().is_terminal() {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    } else {
        MultiProgress::new()
    };
    init_logging(&cli.global, progress.clone());
    match dispatch(cli, &progress) {
        Ok(code) => code,
        Err(Failure::Invalid(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Io(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Why a command stopped.
enum Failure {
    /// Bad pipeline or arguments (exit 2); details already printed.
    Invalid(String),
    /// The environment failed (exit 1).
    Io(String),
}

fn io_failure(context: &str) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::Io(format!("{context}: {e}"))
}

fn dispatch(cli: Cli, progress: &MultiProgress) -> Result<ExitCode, Failure> {
    let registry = Registry::default();
    let global = &cli.global;
    match cli.command {
        Command::Run { pipeline, targets, jobs, force, json, placement } => {
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
        Command::Sweep { pipeline, grid, jobs, json, placement } => {
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
            let rows = sweep::compare(plan, &outcomes, &metrics);
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
        Command::Predict { run, inputs, models, out, backend, jobs } => {
            let cache = read_cache(global)?;
            let out = out.unwrap_or_else(|| run.join("predictions").join(report::run_id()));
            let threads = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let request = predict::Request {
                run_dir: &run,
                models: &models,
                inputs: &inputs,
                out_dir: &out,
                backend: backend.as_deref(),
                threads,
                progress,
            };
            let written = predict::predict(&request, &registry, &cache).map_err(|e| match e.is_bad_request() {
                true => Failure::Invalid(e.to_string()),
                false => Failure::Io(e.to_string()),
            })?;
            progress.clear().ok();
            for w in &written {
                let folds = if w.folds > 1 { format!(" (mean of {} folds)", w.folds) } else { String::new() };
                let counts: Vec<String> = w.predicted.iter().map(|(class, n)| format!("{class}: {n}")).collect();
                println!("{}{folds}: {} clips ({})", w.model, w.clips, counts.join(", "));
            }
            println!("predictions: {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::ExecStage { pipeline, stage, run_dir, sweep, grid, log, force, jobs } => {
            let cache = open_cache(global)?;
            let grid = (sweep || !grid.is_empty()).then_some(grid.as_slice());
            let (plan, unknown_folds) = load_plan_of(&pipeline, grid, &registry, &cache)?;
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
        Command::Status { run, wait } => status(&run, wait, progress),
        Command::Compare { runs } => {
            print!("{}", compare_runs(&runs).map_err(Failure::Invalid)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { pipeline, sweep, grid, force, json } => {
            let cache = read_cache(global)?;
            let grid = (sweep || !grid.is_empty()).then_some(grid.as_slice());
            let (plan, per_fold) = load_plan_of(&pipeline, grid, &registry, &cache)?;
            let force = check_force(&plan, force)?;
            let previews = preview(&plan, &cache, &force);
            let status = |will_run: bool| if will_run { "run" } else { "cached" };
            if json {
                let doc: Vec<_> = previews
                    .iter()
                    .map(|p| serde_json::json!({
                        "name": p.name, "kind": p.kind, "status": status(p.will_run),
                        "reasons": p.reasons.iter().map(ToString::to_string).collect::<Vec<_>>(),
                        "key": p.components.as_ref().map(|c| c.key()),
                    }))
                    .collect();
                println!("{}", serde_json::json!({ "pipeline": plan.name, "stages": doc }));
            } else {
                let rows: Vec<[String; 4]> = previews
                    .iter()
                    .map(|p| {
                        let why = p.reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                        [p.name.clone(), p.kind.clone(), status(p.will_run).into(), why]
                    })
                    .collect();
                print!("{}", report::render_table(&["stage", "kind", "status", "why"], &rows));
                let to_run = previews.iter().filter(|p| p.will_run).count();
                println!("\n{} stages, {to_run} to run", previews.len());
                if grid.is_none() && let Some(sweep) = &loaded_sweep(&pipeline)? {
                    println!("{sweep}");
                }
                if let Some(note) = per_fold {
                    println!("\n{note}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain { pipeline, stage } => {
            let cache = read_cache(global)?;
            let (plan, _) = load_plan(&pipeline, &registry, &cache)?;
            let Some(index) = plan.index_of(&stage) else {
                let message = format!("pipeline `{}` has no stage `{stage}`", plan.name);
                return Err(unknown(message, &stage, plan.stages.iter().map(|s| s.name.as_str())));
            };
            let previews = preview(&plan, &cache, &BTreeSet::new());
            print!("{}", explain(&plan, &previews[index]));
            Ok(ExitCode::SUCCESS)
        }
        Command::Dag { pipeline } => {
            let cache = read_cache(global)?;
            let (plan, _) = load_plan(&pipeline, &registry, &cache)?;
            print!("{}", plan.dot());
            Ok(ExitCode::SUCCESS)
        }
        Command::Stages { kind } => {
            if let Some(name) = &kind
                && registry.get(name).is_none()
            {
                let message = format!("no stage kind is named `{name}`");
                return Err(unknown(message, name, registry.kinds().map(|k| k.name())));
            }
            let kinds = registry.kinds().filter(|k| kind.as_deref().is_none_or(|n| n == k.name()));
            print!("{}", describe_kinds(kinds));
            Ok(ExitCode::SUCCESS)
        }
        Command::Cache { command: CacheCommand::Verify } => {
            let cache = open_cache(global)?;
            let (total, corrupt) = cache.verify().map_err(io_failure("cannot verify the cache"))?;
            for (key, problem) in &corrupt {
                println!("corrupt  {}  {problem} (removed; the next run recomputes it)", &key[..12]);
            }
            println!("{total} entries checked, {} corrupt", corrupt.len());
            Ok(if corrupt.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Gc { pipelines, days } => {
            if pipelines.is_empty() && days.is_none() {
                return Err(Failure::Invalid("`vox gc` needs pipelines to keep, `--days N`, or both".into()));
            }
            let cache = open_cache(global)?;
            let mut keep = BTreeSet::new();
            for path in pipelines {
                let args = PipelineArgs { pipeline: path, sets: Vec::new() };
                let (plan, _) = load_plan(&args, &registry, &cache)?;
                for p in preview(&plan, &cache, &BTreeSet::new()) {
                    if let (false, Some(c)) = (p.will_run, &p.components) {
                        keep.insert(c.key());
                    }
                }
            }
            let window = days.map(|d| std::time::Duration::from_secs(d * 86_400));
            let gc = cache.gc(&keep, window).map_err(io_failure("cannot collect garbage"))?;
            println!("removed {} entries ({:.1} MB), kept {}", gc.removed, gc.bytes as f64 / 1e6, gc.kept);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The options of a run on `jobs` parallel stages (default: the cores), which also sizes
/// rayon's global pool.
fn run_options(jobs: Option<usize>, progress: &MultiProgress) -> RunOptions<'_> {
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())).max(1);
    let _ = rayon::ThreadPoolBuilder::new().num_threads(jobs).build_global();
    RunOptions { jobs, threads: jobs, force: BTreeSet::new(), progress, only: None, recorder: None }
}

/// The run folder of a new run of `loaded`'s pipeline.
fn new_run(global: &Global, loaded: &Loaded) -> Result<report::Recorder, Failure> {
    report::Recorder::create(&global.runs_dir, &loaded.spec.name.value, &report::run_id())
        .map_err(io_failure("cannot create the run folder"))
}

/// Executes a plan, its outcomes recorded in the run folder of `options.recorder` as each
/// finishes, and writes `run.json`; `before` are the outcomes of stages that ran to count
/// cross-validation folds (reported as run, though the plan finds them cached).
fn run_plan(
    plan: &Plan,
    cache: &Cache,
    executor: &dyn Executor,
    options: &RunOptions,
    before: &[execute::StageOutcome],
    only: Option<&BTreeSet<usize>>,
) -> Result<(Vec<execute::StageOutcome>, report::RunReport), Failure> {
    let mut outcomes = fan_out::merge_outcomes(executor.run(plan, only), before);
    // Stages outside the targets took no part: the run folder does not list them.
    if let Some(only) = only {
        outcomes.retain(|o| plan.index_of(&o.name).is_some_and(|i| only.contains(&i)));
    }
    options.progress.clear().ok();
    cache.save().map_err(io_failure("cannot save the cache's file index"))?;
    let recorder = options.recorder.ok_or_else(|| Failure::Io("a run needs a run folder".into()))?;
    let run = recorder.finish(plan).map_err(io_failure("cannot write the run folder"))?;
    Ok((outcomes, run))
}

/// Exit 0, or print what failed and exit 1.
fn exit_status(outcomes: &[execute::StageOutcome]) -> ExitCode {
    let failed: Vec<_> = outcomes.iter().filter(|o| matches!(o.status, Status::Failed(_))).collect();
    if failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    for o in &failed {
        if let Status::Failed(why) = &o.status {
            eprintln!("error: stage `{}` ({}) failed: {why}", o.name, o.kind);
        }
    }
    let skipped = outcomes.iter().filter(|o| matches!(o.status, Status::Skipped(_))).count();
    eprintln!("error: {} stage(s) failed, {skipped} skipped; finished stages are cached, rerun to resume", failed.len());
    ExitCode::from(1)
}

/// The metrics a sweep compares, checked against what `evaluate` writes.
fn sweep_metrics(spec: &spec::PipelineSpec) -> Result<Vec<String>, Vec<SpecError>> {
    let asked = spec.sweep.as_ref().map(|s| s.metrics.clone()).unwrap_or_default();
    if asked.is_empty() {
        return Ok(sweep::DEFAULT_METRICS.iter().map(|m| m.to_string()).collect());
    }
    let unknown: Vec<SpecError> = asked
        .iter()
        .filter(|m| !sweep::METRICS.contains(&m.as_str()))
        .map(|m| {
            let kind = SpecErrorKind::BadOverride {
                text: format!("metrics = [\"{m}\"]"),
                problem: format!("unknown metric; `evaluate` reports {}", sweep::METRICS.join(", ")),
                suggestion: closest(m, sweep::METRICS),
            };
            SpecError::at(kind, spec.name.loc.clone())
        })
        .collect();
    if unknown.is_empty() { Ok(asked) } else { Err(unknown) }
}

/// `vox compare`: params that differ between runs, and every `evaluate` metric, side by side;
/// then, for each model scored in several runs, whether each run's result differs from the
/// first run's on the same clips (McNemar's exact test, [`crate::significance`]).
fn compare_runs(runs: &[PathBuf]) -> Result<String, String> {
    let mut docs = Vec::new();
    for dir in runs {
        let path = dir.join("run.json");
        let bytes = std::fs::read(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let doc: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("`{}` is not a run.json: {e}", path.display()))?;
        docs.push(doc);
    }
    let mut rows: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    let mut metric_rows: std::collections::BTreeMap<String, Vec<String>> = std::collections::BTreeMap::new();
    let mut clips: std::collections::BTreeMap<String, Vec<Option<Vec<vox_api::scored::ScoredClip>>>> =
        std::collections::BTreeMap::new();
    for (i, (doc, dir)) in docs.iter().zip(runs).enumerate() {
        for stage in doc["stages"].as_array().into_iter().flatten() {
            let name = stage["name"].as_str().unwrap_or("?");
            for (param, value) in stage["params"].as_object().into_iter().flatten() {
                rows.entry(format!("{name}.{param}")).or_insert_with(|| vec!["-".into(); runs.len()])[i] = value.to_string();
            }
            // A report stage's run-folder copy holds its summary (`vox_api::summary`).
            {
                for record in vox_api::summary::read(&dir.join(name)) {
                    let model = record.get("input").cloned().unwrap_or_default();
                    let scored = vox_api::scored::read(&dir.join(name), &model).ok().flatten();
                    clips.entry(format!("{name}/{model}")).or_insert_with(|| vec![None; runs.len()])[i] = scored;
                    for metric in sweep::METRICS {
                        if let Some(v) = record.get(metric) {
                            let cell = v.parse::<f64>().map_or_else(|_| v.clone(), |x| format!("{x:.4}"));
                            metric_rows.entry(format!("{name}/{model} {metric}")).or_insert_with(|| vec!["-".into(); runs.len()])[i] = cell;
                        }
                    }
                }
            }
        }
    }
    let mut header = vec!["".to_string()];
    header.extend(runs.iter().map(|r| r.file_name().map_or_else(|| r.display().to_string(), |n| n.to_string_lossy().into_owned())));
    let mut out = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
    for (name, cells) in rows.iter().filter(|(_, cells)| cells.iter().any(|c| c != &cells[0])) {
        out.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
    }
    for (name, cells) in &metric_rows {
        out.push_str(&format!("| {name} | {} |\n", cells.join(" | ")));
    }
    let mut tested = false;
    for (name, per_run) in clips.iter().filter(|(_, per_run)| per_run.iter().flatten().count() > 1) {
        let cells: Vec<String> = per_run
            .iter()
            .enumerate()
            .map(|(i, scored)| match (i, &per_run[0], scored) {
                (0, _, _) => "-".into(),
                (_, Some(first), Some(scored)) => match significance::Discordant::of(first, scored) {
                    Some(counts) => {
                        tested = true;
                        significance::describe(counts.p_value())
                    }
                    None => "other clips".into(),
                },
                _ => "-".into(),
            })
            .collect();
        out.push_str(&format!("| {name} vs first run | {} |\n", cells.join(" | ")));
    }
    if tested {
        out.push_str(&format!(
            "\n`vs first run`: McNemar's exact test on the clips both runs scored; \"not significant\" means \
             p >= {}: the data do not tell the two results apart.\n",
            significance::ALPHA
        ));
    }
    Ok(out)
}

impl Placement {
    /// The registry for planning here: a login node submitting to Slurm does not check for the
    /// devices its jobs will have (`vox exec-stage` does, on the node).
    fn registry(&self, mut registry: Registry) -> Registry {
        registry.device_checks = self.executor == ExecutorKind::Local;
        registry
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
            ExecutorKind::Local if self.detach => Err(Failure::Invalid("`--detach` needs `--executor slurm`: a local run cannot outlive this process".into())),
            ExecutorKind::Local => Ok(Box::new(Local { cache, options })),
            ExecutorKind::Slurm => {
                let invocation = invocation(args, grid, global)?;
                Ok(Box::new(Slurm { settings: &loaded.spec.executor, invocation, cache, options }))
            }
        }
    }
}

/// How a cluster job re-creates this command's plan (every path absolute: the job's shell starts
/// elsewhere). `VOX_EXE` names the binary jobs run when this one is not on a shared path.
fn invocation(args: &PipelineArgs, grid: Option<&[String]>, global: &Global) -> Result<slurm::Invocation, Failure> {
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
        cache_dir: slurm::absolute(&global.cache_dir, &cwd),
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
    let executor = Slurm { settings: &loaded.spec.executor, invocation: invocation(args, grid, global)?, cache, options };
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

/// `vox status RUN_DIR [--wait]`.
fn status(run: &Path, wait: bool, progress: &MultiProgress) -> Result<ExitCode, Failure> {
    let recorder = report::Recorder::open_existing(run).map_err(|e| Failure::Invalid(format!("`{}` is not a run folder: {e}", run.display())))?;
    let submission = match slurm::Submission::read(run) {
        Ok(s) => s,
        Err(_) => {
            // A local run: its outcome files are all there is.
            let report = recorder.read_all();
            print!("{}", report::table_of(&report));
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

fn open_cache(global: &Global) -> Result<Cache, Failure> {
    Cache::open(&global.cache_dir).map_err(|e| Failure::Io(format!("cannot open cache `{}`: {e}", global.cache_dir.display())))
}

/// The cache for a command that only reads it: nothing is created where there is none.
fn read_cache(global: &Global) -> Result<Cache, Failure> {
    Cache::open_to_read(&global.cache_dir)
        .map_err(|e| Failure::Io(format!("cannot open cache `{}`: {e}", global.cache_dir.display())))
}

/// A pipeline file with its overrides and the variants to plan.
struct Loaded {
    spec: spec::PipelineSpec,
    overrides: Vec<spec::Override>,
    sources: SourceMap,
    variants: Vec<sweep::Variant>,
    /// The pipeline file, for messages.
    path: PathBuf,
}

/// Loads and merges a pipeline and its overrides; with `grid`, its sweep's variants (and the
/// grid's axes), else the pipeline alone. Prints every problem (exit 2) if it is invalid.
fn load(args: &PipelineArgs, grid: Option<&[String]>) -> Result<Loaded, Failure> {
    let mut sources = SourceMap::default();
    let result = spec::load(&args.pipeline, &mut sources).and_then(|mut spec| {
        spec::narrow_input_locs(&mut spec, &sources);
        let overrides = spec::parse_overrides(&args.sets, &mut sources)?;
        let variants = match grid {
            Some(grid) => {
                let axes = spec::parse_grid(grid, &mut sources)?;
                sweep::variants(&spec, axes)?
            }
            None => vec![sweep::Variant::base()],
        };
        Ok((spec, overrides, variants))
    });
    match result {
        Ok((spec, overrides, variants)) => Ok(Loaded { spec, overrides, sources, variants, path: args.pipeline.clone() }),
        Err(errors) => Err(Failure::Invalid(render_errors(&errors, &sources, &args.pipeline))),
    }
}

/// Plans `loaded` with its folds, running what their counts need first (see [`fan_out`]) with
/// `executor`.
fn expand_for_run(loaded: &Loaded, registry: &Registry, executor: &dyn Executor, options: &RunOptions) -> Result<fan_out::Planned, Failure> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let counting = fan_out::Counting::Run(executor);
    let result = fan_out::plan(&loaded.spec, &loaded.overrides, loaded.variants.clone(), registry, &loaded.sources, &cwd, counting);
    match result {
        Ok(planned) => Ok(planned),
        Err(fan_out::Problem::Spec(errors)) => Err(Failure::Invalid(render_errors(&errors, &loaded.sources, &loaded.path))),
        Err(fan_out::Problem::Failed { outcomes, why }) => {
            options.progress.clear().ok();
            for o in &outcomes {
                if let Status::Failed(e) = &o.status {
                    eprintln!("error: stage `{}` ({}) failed: {e}", o.name, o.kind);
                }
            }
            Err(Failure::Io(format!("{why}; finished stages are cached, rerun to resume")))
        }
        Err(fan_out::Problem::Unknown { .. }) => Err(Failure::Io("fold counts unknown".into())),
    }
}

/// Loads and plans a pipeline for `plan`, `explain`, `dag` and `gc`: its folds expanded when
/// their counts are known (from the params, or from stages found in the cache), else the plan
/// without folds and a note that says which stages run per fold.
fn load_plan(args: &PipelineArgs, registry: &Registry, cache: &Cache) -> Result<(Plan, Option<String>), Failure> {
    load_plan_of(args, None, registry, cache)
}

/// A note when the pipeline has a `[sweep]` that `vox plan` (without `--sweep`) leaves out.
fn loaded_sweep(args: &PipelineArgs) -> Result<Option<String>, Failure> {
    let loaded = load(args, Some(&[]))?;
    Ok((loaded.variants.len() > 1).then(|| {
        format!(
            "the pipeline's [sweep] has {} variants: `vox plan {} --sweep` plans them all as `vox sweep` runs them",
            loaded.variants.len(),
            args.pipeline.display()
        )
    }))
}

/// [`load_plan`] of the pipeline's sweep (with `grid` axes on top) when `grid` is given.
fn load_plan_of(
    args: &PipelineArgs,
    grid: Option<&[String]>,
    registry: &Registry,
    cache: &Cache,
) -> Result<(Plan, Option<String>), Failure> {
    let loaded = load(args, grid)?;
    let cwd = std::env::current_dir().unwrap_or_default();
    let counting = fan_out::Counting::Cached(cache);
    match fan_out::plan(&loaded.spec, &loaded.overrides, loaded.variants.clone(), registry, &loaded.sources, &cwd, counting) {
        Ok(planned) => Ok((planned.sweep.plan, None)),
        Err(fan_out::Problem::Spec(errors)) => Err(Failure::Invalid(render_errors(&errors, &loaded.sources, &args.pipeline))),
        Err(fan_out::Problem::Failed { why, .. }) => Err(Failure::Io(why)),
        Err(fan_out::Problem::Unknown { sweep, fans }) => {
            let fans: Vec<String> = fans.iter().map(|f| format!("`{f}`")).collect();
            let note = format!(
                "{} and the stages below it run once per fold; the fold count (one per group) is known once the \
                 stages above it have run: `vox run` runs them first, then every fold",
                fans.join(", ")
            );
            Ok((sweep.plan, Some(note)))
        }
    }
}

fn render_errors(errors: &[SpecError], sources: &SourceMap, pipeline: &Path) -> String {
    let color = std::io::stderr().is_terminal();
    for e in errors {
        let rendered = e.render(sources, color);
        match (&e.loc, color) {
            // Not a terminal (a log, an editor, grep): a plain `file:line:col: message` line,
            // then the excerpt and hint without the message again.
            (Some(loc), false) => {
                eprintln!("{}: {}", sources.describe(loc), e.kind);
                let excerpt: String = rendered
                    .lines()
                    .skip_while(|l| l.starts_with("  × ") || l.starts_with("  │ ") || l.is_empty())
                    .map(|l| format!("{l}\n"))
                    .collect();
                eprintln!("{excerpt}");
            }
            _ => eprint!("{rendered}"),
        }
    }
    let n = errors.len();
    format!("{n} problem{} in `{}`; nothing was run", if n == 1 { "" } else { "s" }, pipeline.display())
}

/// An invalid-argument failure about `word`, hinting at the closest of `candidates`.
fn unknown<'a>(message: String, word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Failure {
    let hint = closest(word, candidates).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
    Failure::Invalid(format!("{message}{hint}"))
}

/// The plan indices of the `targets` (a stage's name, or a cross-validated stage's for all
/// its folds) and of every stage they need.
fn with_ancestors(plan: &Plan, targets: &[String]) -> Result<BTreeSet<usize>, Failure> {
    let mut chosen = BTreeSet::new();
    for name in targets {
        let copies: Vec<usize> = (0..plan.stages.len())
            .filter(|&i| {
                let n = plan.stages[i].name.as_str();
                n == name || n.strip_prefix(name.as_str()).is_some_and(|rest| rest.starts_with('['))
            })
            .collect();
        if copies.is_empty() {
            let message = format!("`{name}` is not a stage of pipeline `{}`", plan.name);
            return Err(unknown(message, name, plan.stages.iter().map(|s| s.name.as_str())));
        }
        chosen.extend(copies);
    }
    let mut all = fan_out::ancestors(plan, chosen.iter().copied());
    all.extend(chosen);
    Ok(all)
}

fn check_force(plan: &Plan, force: Vec<String>) -> Result<BTreeSet<String>, Failure> {
    let mut forced = BTreeSet::new();
    for name in &force {
        // A pipeline name forces every copy of the stage: `rf` forces `rf[fold=1]`, ...
        let copies: Vec<&str> = plan
            .stages
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| n == name || n.strip_prefix(name.as_str()).is_some_and(|rest| rest.starts_with('[')))
            .collect();
        if copies.is_empty() {
            let message = format!("invalid override `--force {name}`: no stage is named `{name}`");
            return Err(unknown(message, name, plan.stages.iter().map(|s| s.name.as_str())));
        }
        forced.extend(copies.into_iter().map(str::to_string));
    }
    Ok(forced)
}

fn explain(plan: &Plan, p: &crate::preview::Preview) -> String {
    let mut out = format!("stage `{}` (kind `{}`) in pipeline `{}`\n", p.name, p.kind, plan.name);
    let status = if p.will_run { "run" } else { "cached" };
    out.push_str(&format!("status: {status}\n"));
    match &p.components {
        Some(c) => {
            out.push_str(&format!("key: {}\n", c.key()));
            out.push_str("components:\n");
            out.push_str(&format!("  kind     {}\n  version  {}\n  backend  {}\n", c.kind, c.version, c.backend.as_deref().unwrap_or("-")));
            if let Some(params) = c.params.as_object() {
                for (name, value) in params {
                    out.push_str(&format!("  param    {name} = {value}\n"));
                }
            }
            for input in &c.inputs {
                out.push_str(&format!("  input    {} = {}\n", input.name, input.hash));
            }
        }
        None => out.push_str("key: not known yet: an input has to run first\n"),
    }
    match (&p.recorded, p.will_run) {
        (None, _) => out.push_str("last run: none recorded in this cache\n"),
        (Some(_), false) => out.push_str("difference to the cached entry: none\n"),
        (Some(_), true) => {
            out.push_str("difference to the last run:\n");
            for reason in &p.reasons {
                out.push_str(&format!("  {reason}\n"));
            }
        }
    }
    out
}

fn describe_kinds<'a>(kinds: impl Iterator<Item = &'a dyn vox_api::StageKind>) -> String {
    let mut out = String::new();
    for kind in kinds {
        let spec = kind.inputs();
        let inputs = match spec.arity {
            vox_api::Arity::None => "no inputs".to_string(),
            arity => {
                let names = spec.accepts.iter().map(|a| a.name()).collect::<Vec<_>>().join(" | ");
                let count = if arity == vox_api::Arity::One { "1 input" } else { "1+ inputs" };
                match spec.optional_last {
                    Some(last) => format!("{count}: {names}, then optionally 1: {}", last.name()),
                    None => format!("{count}: {names}"),
                }
            }
        };
        out.push_str(&format!("{}  ({inputs} -> {}; version {})\n", kind.name(), kind.output().name(), kind.version()));
        for line in registry::kind_doc(kind).lines() {
            out.push_str(&format!("    {line}\n"));
        }
        if !kind.backends().is_empty() {
            out.push_str(&format!("    backend: {}\n", kind.backends().join(" | ")));
        }
        for p in registry::params(kind) {
            let default = match (&p.default, p.optional) {
                (Some(d), _) => format!(" = {d}"),
                (None, true) => " (optional)".into(),
                (None, false) => " (required)".into(),
            };
            out.push_str(&format!("  {} : {}{default}\n", p.name, p.ty));
            for line in p.doc.lines() {
                out.push_str(&format!("      {line}\n"));
            }
        }
        out.push('\n');
    }
    out
}

/// Logs go to stderr through the progress bars so that neither garbles the other.
fn init_logging(global: &Global, progress: MultiProgress) {
    let level = match (global.quiet, global.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let clock = RunClock((global.verbose > 0).then(tracing_subscriber::fmt::time::uptime));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_timer(clock)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(move || ProgressWriter(progress.clone()))
        .try_init();
}

/// Log timestamps: seconds since start when verbose (a timeline of the run), none otherwise.
struct RunClock(Option<tracing_subscriber::fmt::time::Uptime>);

impl tracing_subscriber::fmt::time::FormatTime for RunClock {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(uptime) => uptime.format_time(w),
            None => Ok(()),
        }
    }
}

struct ProgressWriter(MultiProgress);

impl Write for ProgressWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
