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

mod compare;
mod exec_stage;
mod inspect;
mod logging;
mod maintain;
mod predict;
mod run;
mod search;
mod status;

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a pipeline: every stage whose key is not cached, independent stages in parallel.
    Run(run::RunArgs),
    /// Run every variant of a pipeline's `[sweep]` (grid, named variants, seeds) as one DAG
    /// (shared stages run once) and compare their `evaluate` metrics in a table and plots.
    Sweep(run::SweepArgs),
    /// Search the params of `[search.space]`: random search or successive halving, every
    /// trial a cached variant of the pipeline, scored on the validation split only.
    ///
    /// Each round of trials is one DAG (what trials share runs once). The run folder gets
    /// `search.csv` and `search.md` (every trial with its params and `val` score) and
    /// `best.json` (the chosen trial's params, also as `--set` arguments). Test scores are
    /// never read: rerun the pipeline with the best params to score `test`.
    #[command(after_help = "Examples:\n  vox search pipelines/demo-search.toml\n  vox search p.toml --trials 40 -j 4")]
    Search(search::SearchArgs),
    /// Show where a run stands: each stage's outcome, a Slurm run's unfinished jobs too.
    ///
    /// For a run submitted to Slurm, each unfinished job's state (pending, running); `--wait`
    /// follows them to the end. When every stage has finished it writes the run's `run.json`.
    /// Exit 0 when all finished well, 1 when a stage failed, 3 while jobs are still pending or
    /// running, or while a local run has not finished (still running, or interrupted).
    #[command(after_help = "Examples:\n  vox status runs/demo/latest\n  vox status runs/demo/latest --wait")]
    Status(status::StatusArgs),
    /// Compare runs side by side: the params that differ and every `evaluate` metric.
    Compare(compare::CompareArgs),
    /// Apply a finished run's trained models to new recordings, without training anything:
    /// each model's `predictions.csv` and `output.txt`.
    ///
    /// The new audio goes through the run's own stages with the run's settings and fitted
    /// state: its decode (sample rate, classes), pad, features (with the standardization of the
    /// run's train split), the fitted forest, logistic or SVM model, the fine-tuned wav2vec2,
    /// an ensemble's weights. A cross-validated model (`rf[fold=1]`..`rf[fold=K]`, asked for as
    /// `rf`) averages its folds' probabilities. The run's stages must still be in the cache.
    /// Long recordings are cropped to the run's clip length unless `--window` scores them
    /// window by window.
    #[command(after_help = "Examples:\n  vox predict runs/demo/<run-id> new_clips/\n  vox predict runs/demo/<run-id> --model rf a.wav b.wav\n  vox predict runs/iemocap/<run-id> --model vote --out preds meta.csv\n  vox predict runs/demo/<run-id> --model rf --window 3.75 interview.wav")]
    Predict(predict::PredictArgs),
    /// Run one stage of a pipeline whose inputs are cached: the command a cluster job runs.
    ///
    /// It plans the pipeline as `vox run` (or, with `--sweep`, as `vox sweep`) would, with the
    /// same overrides, recomputes the stage's key from its inputs' cache entries, exits 0 at once
    /// when that key is cached, and otherwise runs the stage into the shared cache. Either way
    /// it records the outcome in the run folder (`<RUN_DIR>/stages/<stage>.json`). An input that
    /// is not cached is an error (exit 1): the job that makes it has not finished.
    ExecStage(exec_stage::ExecStageArgs),
    /// Show each stage in order with `run` or `cached` and why, without running anything.
    Plan(inspect::PlanArgs),
    /// Show a stage's key components and how they differ from its last run.
    Explain(inspect::ExplainArgs),
    /// Print the pipeline's DAG as Graphviz DOT.
    Dag(inspect::DagArgs),
    /// List every stage kind with its inputs, output, params, types, defaults and docs.
    Stages(inspect::StagesArgs),
    /// Cache maintenance.
    Cache(maintain::CacheArgs),
    /// Remove cache entries the given pipelines do not use (and, with --days, that were not
    /// used recently).
    Gc(maintain::GcArgs),
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
    let json = matches!(&cli.command, Command::Run(args) if args.json)
        || matches!(&cli.command, Command::Sweep(args) if args.json)
        || matches!(&cli.command, Command::Search(args) if args.json);
    let progress = if cli.global.quiet || json || !std::io::stderr().is_terminal() {
        MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
    } else {
        MultiProgress::new()
    };
    logging::init_logging(&cli.global, progress.clone());
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
        Command::Run(args) => run::run(args, global, registry, progress),
        Command::Sweep(args) => run::sweep(args, global, registry, progress),
        Command::Search(args) => search::search(args, global, registry, progress),
        Command::Predict(args) => predict::predict(args, global, registry, progress),
        Command::ExecStage(args) => exec_stage::exec_stage(args, global, registry, progress),
        Command::Status(args) => status::status_command(args, progress),
        Command::Compare(args) => compare::compare(args),
        Command::Plan(args) => inspect::plan(args, global, registry),
        Command::Explain(args) => inspect::explain(args, global, registry),
        Command::Dag(args) => inspect::dag(args, global, registry),
        Command::Stages(args) => inspect::stages(args, registry),
        Command::Cache(args) => maintain::cache_command(args, global),
        Command::Gc(args) => maintain::gc(args, global, registry),
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
fn new_run(global: &Global, loaded: &Loaded) -> Result<NewRun, Failure> {
    report::Recorder::create(&global.runs_dir, &loaded.spec.name.value, &report::run_id())
        .map(NewRun)
        .map_err(io_failure("cannot create the run folder"))
}

/// A new run's recorder whose folder is removed again when the command ends with nothing
/// recorded in it (a plan refused after the folder was made, for the fold counts it may
/// run): an invalid pipeline leaves no empty run behind and `latest` where it was.
struct NewRun(report::Recorder);

impl std::ops::Deref for NewRun {
    type Target = report::Recorder;

    fn deref(&self) -> &report::Recorder {
        &self.0
    }
}

impl Drop for NewRun {
    fn drop(&mut self) {
        self.0.discard_if_unused();
    }
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

/// A note when the pipeline has a `[sweep]` or a `[search]` that `vox plan` (without `--sweep`) leaves out.
fn loaded_sweep(args: &PipelineArgs) -> Result<Option<String>, Failure> {
    let loaded = load(args, Some(&[]))?;
    let mut notes = Vec::new();
    if loaded.variants.len() > 1 {
        notes.push(format!(
            "the pipeline's [sweep] has {} variants: `vox plan {} --sweep` plans them all as `vox sweep` runs them",
            loaded.variants.len(),
            args.pipeline.display()
        ));
    }
    if loaded.spec.search.is_some() {
        notes.push(format!(
            "the pipeline has a [search]: `vox search {}` runs its trials (each a variant of this plan)",
            args.pipeline.display()
        ));
    }
    Ok((!notes.is_empty()).then(|| notes.join("\n")))
}

/// [`load_plan`] of the pipeline's sweep (with `grid` axes on top) when `grid` is given.
fn load_plan_of(
    args: &PipelineArgs,
    grid: Option<&[String]>,
    registry: &Registry,
    cache: &Cache,
) -> Result<(Plan, Option<String>), Failure> {
    plan_loaded(&load(args, grid)?, args, registry, cache)
}

/// [`load_plan_of`] for a pipeline already loaded (with its variants set).
fn plan_loaded(loaded: &Loaded, args: &PipelineArgs, registry: &Registry, cache: &Cache) -> Result<(Plan, Option<String>), Failure> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let counting = fan_out::Counting::Cached(cache);
    match fan_out::plan(&loaded.spec, &loaded.overrides, loaded.variants.clone(), registry, &loaded.sources, &cwd, counting) {
        Ok(planned) => Ok((planned.sweep.plan, None)),
        Err(fan_out::Problem::Spec(errors)) => Err(Failure::Invalid(render_errors(&errors, &loaded.sources, &args.pipeline))),
        Err(fan_out::Problem::Failed { why, .. }) => Err(Failure::Io(why.to_string())),
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
                eprintln!("{}: {}", sources.describe(loc), e.message());
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

