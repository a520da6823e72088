//! `vox predict`: a finished run's models applied to new recordings ([`crate::predict`]).

#[allow(unused_imports)]
use super::*;

/// The arguments of `vox predict`.
#[derive(Args, Debug)]
pub(super) struct PredictArgs {
    /// The run folder (`runs/<pipeline>/<run-id>`).
    pub(super) run: PathBuf,
    /// The recordings: audio files (WAV, FLAC, MP3, Ogg Vorbis, AIFF), folders (every audio
    /// file under them, identified by its path inside the folder without the extension), or
    /// CSV/TSV tables with a `file` (or `path`)
    /// column relative to the table, optional `id`, `start` and `end` (seconds) columns.
    #[arg(required = true)]
    pub(super) inputs: Vec<PathBuf>,
    /// A model to apply: a stage that makes predictions (a baseline, fine-tune or ensemble),
    /// or a cross-validated model's name. Repeatable; default: every model of the run.
    #[arg(long = "model", value_name = "STAGE")]
    pub(super) models: Vec<String>,
    /// The output folder (default: `<RUN>/predictions/<time>`); each model writes
    /// `<OUT>/<model>/predictions.csv`, `classes.csv` and `output.txt`.
    #[arg(long, value_name = "DIR")]
    pub(super) out: Option<PathBuf>,
    /// Run every stage that has backends on this one (e.g. `flex` where the run used
    /// `cuda` and this machine has no GPU).
    #[arg(long)]
    pub(super) backend: Option<String>,
    /// Threads a stage may use (default: the number of cores).
    #[arg(long, short, value_parser = at_least_one)]
    pub(super) jobs: Option<usize>,
}

/// `vox predict`.
pub(super) fn predict(args: PredictArgs, global: &Global, registry: Registry, progress: &MultiProgress) -> Result<ExitCode, Failure> {
    let PredictArgs { run, inputs, models, out, backend, jobs } = args;
    let cache = read_cache(global)?;
    let out = out.unwrap_or_else(|| run.join("predictions").join(report::run_id()));
    let threads = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let request = crate::predict::Request {
        run_dir: &run,
        models: &models,
        inputs: &inputs,
        out_dir: &out,
        backend: backend.as_deref(),
        threads,
        progress,
    };
    let written = crate::predict::predict(&request, &registry, &cache).map_err(|e| match e.is_bad_request() {
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
