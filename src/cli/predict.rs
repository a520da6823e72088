//! `vox predict`: a finished run's models applied to new recordings ([`crate::predict`]).

use vox_api::windows::{Cutting, Pauses};

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
    /// column relative to the table, optional `id`, `start` and `end` (seconds) and `channel`
    /// (1, 2, ...) columns.
    #[arg(required = true)]
    pub(super) inputs: Vec<PathBuf>,
    /// A model to apply: a stage that makes predictions (a baseline, fine-tune or ensemble) or
    /// estimates emotion dimensions (a regress), or a cross-validated model's name.
    /// Repeatable; default: every model of the run.
    #[arg(long = "model", value_name = "STAGE")]
    pub(super) models: Vec<String>,
    /// The output folder (default: `<RUN>/predictions/<time>`); each model writes
    /// `<OUT>/<model>/predictions.csv`, `classes.csv` and `output.txt`, a regress
    /// `<OUT>/<model>/estimates.csv`.
    #[arg(long, value_name = "DIR")]
    pub(super) out: Option<PathBuf>,
    /// Run every stage that has backends on this one (e.g. `flex` where the run used
    /// `cuda` and this machine has no GPU).
    #[arg(long)]
    pub(super) backend: Option<String>,
    /// Threads a stage may use (default: the number of cores).
    #[arg(long, short, value_parser = at_least_one)]
    pub(super) jobs: Option<usize>,
    /// Score long recordings window by window: each recording (a file, or a table row's
    /// segment) cut into windows of this many seconds, each scored as a clip
    /// `<id>_<start>-<end>`; `<OUT>/windows.csv` says where each lies, and each model's
    /// `recordings/` folder holds every recording's scores, the mean of its windows'. The
    /// last window ends where the recording does; a shorter recording is one window. Without
    /// it, a recording longer than the run's `pad` length is cropped to it, as in the run. Use
    /// the run's clip length (60000 samples at 16 kHz: 3.75).
    #[arg(long, value_name = "SECONDS")]
    pub(super) window: Option<f64>,
    /// Seconds from one window's start to the next (default: the window: windows that touch);
    /// a shorter hop overlaps them. Needs `--window`.
    #[arg(long, value_name = "SECONDS", requires = "window")]
    pub(super) hop: Option<f64>,
    /// Score long recordings utterance by utterance: each recording cut at its pauses, every
    /// stretch whose frames are within this many dB of the recording's loudest frame a clip
    /// `<id>_<start>-<end>` (librosa.effects.split, frames of 128 ms every 32 ms; 30 suits
    /// speech over a quiet background, 60 is librosa's default); the silence between them is
    /// not scored. `windows.csv` and each model's `recordings/` as with `--window` (a
    /// recording scores the mean of its segments'). A segment longer than the run's `pad`
    /// length is cropped to it.
    #[arg(long, value_name = "DB", conflicts_with = "window")]
    pub(super) segment: Option<f64>,
    /// With `--segment`: silences shorter than this many seconds do not cut (default 0.3: the
    /// dips between words are no pauses between utterances).
    #[arg(long, value_name = "SECONDS", requires = "segment")]
    pub(super) min_pause: Option<f64>,
}

/// `vox predict`.
pub(super) fn predict(args: PredictArgs, global: &Global, registry: Registry, progress: &MultiProgress) -> Result<ExitCode, Failure> {
    let PredictArgs { run, inputs, models, out, backend, jobs, window, hop, segment, min_pause } = args;
    let windows = match (window, segment) {
        (Some(length), _) => Some(
            vox_api::windows::Windows::new(length, hop)
                .map(Cutting::Windows)
                .map_err(|e| Failure::Invalid(format!("--window/--hop: {e}")))?,
        ),
        (None, Some(top_db)) => {
            let pauses = Pauses::new(top_db, min_pause).map_err(|e| Failure::Invalid(format!("--segment/--min-pause: {e}")))?;
            Some(Cutting::Pauses(pauses))
        }
        (None, None) => None,
    };
    let clips_word = windows.as_ref().map_or("clips", Cutting::clips);
    let cache = read_cache(global)?;
    let out = out.unwrap_or_else(|| run.join("predictions").join(report::run_id()));
    let threads = jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let request = crate::predict::Request {
        run_dir: &run,
        models: &models,
        inputs: &inputs,
        out_dir: &out,
        windows,
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
        match &w.recordings {
            None => println!("{}{folds}: {} clips ({})", w.model, w.clips, w.predicted.describe()),
            Some((recordings, predicted)) => println!(
                "{}{folds}: {} {clips_word} ({}); {recordings} recording{} ({})",
                w.model,
                w.clips,
                w.predicted.describe(),
                if *recordings == 1 { "" } else { "s" },
                predicted.describe()
            ),
        }
    }
    println!("predictions: {}", out.display());
    Ok(ExitCode::SUCCESS)
}
