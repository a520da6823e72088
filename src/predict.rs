//! `vox predict`: a finished run's trained models applied to new recordings, without training
//! anything again.
//!
//! The run folder's `run.json` records every stage's kind, resolved params, inputs, backend and
//! cache key. From each chosen model, predict walks the recorded DAG up to the stages where
//! recordings enter ([`Applies::Entry`], decode), then goes down again applying each stage to
//! the new clips ([`vox_api::StageDef::apply`]) with the run's params and the run's fitted state
//! read from its cache entry: the decode's sample rate and classes, the pad length, the feature
//! set with the train split's standardization, the fitted forest or linear model, the
//! fine-tuned wav2vec2 folder, the ensemble's weights. A stage no new clip passes through (a
//! model download) lends its cached output as it is. A stage shared by several models runs
//! once. The folds of a cross-validated model (`rf[fold=1]` .. `rf[fold=5]`, asked for as `rf`)
//! score the clips together: the mean of their probabilities, as `evaluate` writes for
//! unlabeled clips.
//!
//! Outputs, per model, under the output folder: `predictions.csv` + `classes.csv` (the
//! predictions artifact, `split` and `label` empty) and `output.txt` (the submission format,
//! [`vox_api::output_txt`]); a model of emotion dimensions (a `regress` stage) writes
//! `estimates.csv` ([`vox_api::estimates`], the true values empty), its folds' mean for a
//! cross-validated one. Intermediate outputs live in a work folder removed at the end.
//!
//! With windows or pauses ([`vox_api::windows`]), the entry stages cut each recording into
//! window clips (fixed windows, or the stretches between its pauses);
//! the rows above are then the windows' (a timeline per recording), `windows.csv` in the output
//! folder says where each lies, and each model's `recordings/` folder holds the recordings'
//! scores in the same three files: the mean of each recording's windows' probabilities.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use indicatif::MultiProgress;
use serde::Deserialize;
use vox_api::audio::{AudioSet, AudioSetError};
use vox_api::csv_file::CsvFileError;
use vox_api::estimates::{Estimates, EstimatesError};
use vox_api::predictions::{Predictions, PredictionsError};
use vox_api::windows::{self, Cutting, Window};
use vox_api::{Applied, Applies, ApplyContext, ArtifactKind, Input, StageContext};

use crate::cache::{Cache, Lookup};
use crate::outcome::error_chain;
use crate::registry::Registry;

/// What `vox predict` is asked.
pub struct Request<'a> {
    /// The run folder (`runs/<pipeline>/<run-id>`).
    pub run_dir: &'a Path,
    /// Models by stage name, or by name without a `[fold=K]` suffix for all of a
    /// cross-validation's folds; empty: every model of the run.
    pub models: &'a [String],
    /// Audio files, folders of them, tables of them.
    pub inputs: &'a [PathBuf],
    /// Where the predictions go.
    pub out_dir: &'a Path,
    /// Cut each recording into windows or at its pauses and score them, then the recordings.
    pub windows: Option<Cutting>,
    /// A backend for every stage that has one, instead of the run's.
    pub backend: Option<&'a str>,
    /// Threads a stage may use.
    pub threads: usize,
    /// Where progress bars are drawn.
    pub progress: &'a MultiProgress,
}

/// One model's predictions on the new audio.
#[derive(Debug)]
pub struct Written {
    /// The model (a stage name, or a cross-validated model's name).
    pub model: String,
    /// How many stages (folds) it averages.
    pub folds: usize,
    /// Its output folder.
    pub dir: PathBuf,
    /// Clips scored.
    pub clips: usize,
    /// What the clips were given.
    pub predicted: Outcome,
    /// With windows: the recordings scored and what they were given.
    pub recordings: Option<(usize, Outcome)>,
}

/// What a model gave the new clips, in sum.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Clips per predicted class, in the label set's order (classes no clip got omitted).
    Classes(Vec<(String, usize)>),
    /// The mean estimate of each dimension.
    Dimensions(Vec<(String, f64)>),
}

impl Outcome {
    /// For people: `neutral: 3, happy: 1` or `mean arousal 3.12, valence 2.95`.
    pub fn describe(&self) -> String {
        match self {
            Self::Classes(counts) => counts.iter().map(|(class, n)| format!("{class}: {n}")).collect::<Vec<_>>().join(", "),
            Self::Dimensions(means) => {
                let means: Vec<String> = means.iter().map(|(d, m)| format!("{d} {m:.2}")).collect();
                format!("mean {}", means.join(", "))
            }
        }
    }

    /// The mean estimate of each dimension of `estimates`.
    fn of_estimates(estimates: &Estimates) -> Self {
        let n = estimates.rows.len().max(1) as f64;
        Self::Dimensions(
            estimates
                .dimensions
                .iter()
                .enumerate()
                .map(|(d, name)| (name.clone(), estimates.rows.iter().map(|r| r.predicted[d]).sum::<f64>() / n))
                .collect(),
        )
    }
}

/// Why `vox predict` stopped.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// The run record could not be read.
    #[error("cannot read `{}`: {source} (is `{}` a run folder, `runs/<pipeline>/<run-id>`?)", .path.display(), .path.parent().unwrap_or(Path::new("")).display())]
    ReadRecord {
        /// `run.json`.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The run record is not valid JSON of a run.
    #[error("`{}` is not a vox run record: {source}", .path.display())]
    BadRecord {
        /// `run.json`.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// The run record predates the inputs and backends `vox predict` follows.
    #[error("`{}` was written by an older vox that did not record the stages' inputs; run the pipeline again (its stages are cached, so this takes seconds) and predict with the new run folder", .path.display())]
    OldRecord {
        /// `run.json`.
        path: PathBuf,
    },
    /// No stage of the run makes predictions.
    #[error("the run `{run}` has no trained model: none of its stages makes predictions")]
    NoModels {
        /// The run folder.
        run: String,
    },
    /// `--model` names no model of the run.
    #[error(
        "the run has no model `{name}`{}; its models are {models}",
        .suggestion.as_ref().map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default()
    )]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// The nearest model name, if one is near.
        suggestion: Option<String>,
        /// The run's models, listed.
        models: String,
    },
    /// A stage the predictions need did not finish in the run.
    #[error("stage `{stage}` {status} in this run, so it has no trained output; fix it and run the pipeline again")]
    NotFinished {
        /// The stage.
        stage: String,
        /// `failed` or `skipped`.
        status: String,
    },
    /// A stage's output is no longer in the cache.
    #[error(
        "the output of stage `{stage}` is not in the cache `{}`{}; run the pipeline again to rebuild it, or pass the run's `--cache-dir`",
        .cache.display(),
        .damage.as_ref().map(|d| format!(" intact ({d})")).unwrap_or_default()
    )]
    NotCached {
        /// The stage.
        stage: String,
        /// The cache folder.
        cache: PathBuf,
        /// How the entry is damaged; `None` when it is gone.
        damage: Option<crate::cache::Damage>,
    },
    /// A model none of whose inputs comes from recordings.
    #[error("model `{model}` reads no recordings: no stage upstream of it decodes audio files, so new audio cannot reach it")]
    NoEntry {
        /// The model.
        model: String,
    },
    /// A stage on the way to a model that cannot take new clips.
    #[error("stage `{stage}` (kind `{kind}`) cannot be applied to new audio, and model `{model}` depends on it")]
    CannotApply {
        /// The stage.
        stage: String,
        /// Its kind.
        kind: String,
        /// The model.
        model: String,
    },
    /// The record names a kind this vox does not know.
    #[error("stage `{stage}` has kind `{kind}`, which this vox does not know")]
    UnknownKind {
        /// The stage.
        stage: String,
        /// The kind.
        kind: String,
    },
    /// The record names an input that is not a stage of the run.
    #[error("stage `{stage}` reads `{input}`, which is not a stage of the run record")]
    UnknownInput {
        /// The stage.
        stage: String,
        /// The input.
        input: String,
    },
    /// A path param's file or folder is gone or changed since the run.
    #[error(
        "`{param}` of stage `{stage}` is `{}`, which {} since the run: the predictions would not be the run's. \
         Put back what the run read, or run the pipeline again",
        .path.display(),
        if *.gone { "is gone" } else { "has changed" }
    )]
    PathChanged {
        /// The stage.
        stage: String,
        /// The param.
        param: String,
        /// Where the run found it.
        path: PathBuf,
        /// Whether it is gone (else its content differs).
        gone: bool,
    },
    /// A path param recorded by its content only (a `run.json` of an older vox).
    #[error(
        "the run recorded `{param}` of stage `{stage}` by its content only (a run of an older vox), not where it is: \
         run the pipeline again (cached stages are not recomputed) and predict with the new run folder"
    )]
    UnrecordedPath {
        /// The stage.
        stage: String,
        /// The param.
        param: String,
    },
    /// The recorded params no longer configure the kind.
    #[error("the recorded params of stage `{stage}` are not valid for this vox: {message}")]
    Params {
        /// The stage.
        stage: String,
        /// What is wrong.
        message: String,
    },
    /// The backend is not available here.
    #[error("stage `{stage}` ran on backend `{backend}`, which is not available here: {why}; choose another with `--backend`")]
    Backend {
        /// The stage.
        stage: String,
        /// The backend.
        backend: String,
        /// Why not.
        why: vox_api::BackendError,
    },
    /// The stage's params cannot run on the backend chosen for it.
    #[error("stage `{stage}` cannot run on backend `{backend}`: {why}")]
    BackendParams {
        /// The stage.
        stage: String,
        /// The backend.
        backend: String,
        /// Why not (the stage's own words).
        why: String,
    },
    /// A stage failed on the new clips.
    #[error("`{stage}` failed on the new audio: {message}")]
    Stage {
        /// The stage.
        stage: String,
        /// The error and its causes.
        message: String,
    },
    /// A file or folder could not be written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A model's predictions could not be read, averaged or written.
    #[error("model `{model}`: {source}")]
    Predictions {
        /// The model.
        model: String,
        /// The cause.
        source: PredictionsError,
    },
    /// A model's estimates could not be read, averaged or written.
    #[error("model `{model}`: {source}")]
    Estimates {
        /// The model.
        model: String,
        /// The cause.
        source: EstimatesError,
    },
    /// The new clips' manifest, which says where each window lies, could not be read.
    #[error("the windows of the new audio: {0}")]
    WindowManifest(#[source] AudioSetError),
    /// `windows.csv` could not be written.
    #[error(transparent)]
    WindowList(CsvFileError),
}

impl PredictError {
    /// Whether the request itself is wrong (not a run folder, no such model), as opposed to
    /// a stage or the file system failing.
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            Self::ReadRecord { .. } | Self::BadRecord { .. } | Self::NoModels { .. } | Self::UnknownModel { .. } | Self::NoEntry { .. }
        )
    }
}

/// `run.json` as predict reads it.
#[derive(Deserialize)]
struct Record {
    seed: u64,
    stages: Vec<RecordedStage>,
}

/// One stage of `run.json`.
#[derive(Deserialize)]
struct RecordedStage {
    name: String,
    kind: String,
    status: String,
    key: Option<String>,
    #[serde(default)]
    params: Option<serde_json::Value>,
    /// Path params where the run found them (`params` holds their content's hash).
    #[serde(default)]
    paths: BTreeMap<String, PathBuf>,
    inputs: Option<Vec<String>>,
    #[serde(default)]
    backend: Option<String>,
}

/// The model name of a stage: its name without a `[fold=K]` suffix.
fn model_name(stage: &str) -> &str {
    match stage.rsplit_once("[fold=") {
        Some((base, fold)) if fold.strip_suffix(']').is_some_and(|k| k.parse::<usize>().is_ok()) => base,
        _ => stage,
    }
}

/// Applies the chosen models of `request.run_dir` to `request.inputs`; each model's output.
pub fn predict(request: &Request, registry: &Registry, cache: &Cache) -> Result<Vec<Written>, PredictError> {
    let path = request.run_dir.join(crate::report::RUN_JSON);
    let bytes = std::fs::read(&path).map_err(|source| PredictError::ReadRecord { path: path.clone(), source })?;
    let record: Record = serde_json::from_slice(&bytes).map_err(|source| PredictError::BadRecord { path: path.clone(), source })?;
    if record.stages.iter().any(|s| s.inputs.is_none()) {
        return Err(PredictError::OldRecord { path });
    }
    let stages = &record.stages;
    let index: BTreeMap<&str, usize> = stages.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let mut inputs: Vec<Vec<usize>> = Vec::with_capacity(stages.len());
    for stage in stages {
        let ids = stage.inputs.iter().flatten().map(|input| {
            index.get(input.as_str()).copied().ok_or_else(|| PredictError::UnknownInput { stage: stage.name.clone(), input: input.clone() })
        });
        inputs.push(ids.collect::<Result<_, _>>()?);
    }
    let kinds = stages
        .iter()
        .map(|s| {
            // The run's resolved params (JSON) as TOML values, for the kinds' variants.
            let param = |name: &str| toml::Value::try_from(s.params.as_ref()?.get(name)?).ok();
            registry.resolve(&s.kind, param)
        }.ok_or_else(|| PredictError::UnknownKind { stage: s.name.clone(), kind: s.kind.clone() }))
        .collect::<Result<Vec<_>, _>>()?;
    let groups = choose_models(request, stages, &kinds)?;

    // The stages each model needs, up to (and including) where recordings enter. A model
    // folder input (a kind's optional last input) is used as the run left it, never applied
    // to the new clips: new audio does not change a model's weights.
    let model_input: Vec<Option<usize>> = (0..stages.len()).map(|i| model_input(i, &inputs, &kinds)).collect();
    let model_input = &model_input;
    let data_inputs = |i: usize| inputs[i].iter().copied().filter(move |&j| model_input[i] != Some(j));
    let mut needed = BTreeSet::new();
    for (model, members) in &groups {
        for &m in members {
            if !entry_upstream(m, &inputs, &kinds) {
                return Err(PredictError::NoEntry { model: model.clone() });
            }
            let mut pending = vec![m];
            while let Some(i) = pending.pop() {
                if needed.insert(i) && kinds[i].applies() != Applies::Entry {
                    pending.extend(data_inputs(i));
                }
            }
        }
    }

    let work = request.out_dir.join(".work");
    let _ = std::fs::remove_dir_all(&work);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PredictError::Io { path, source }
    };
    std::fs::create_dir_all(&work).map_err(io(&work))?;
    let shared = crate::memo::ScratchMemo::new(work.join("shared"));
    let mut outputs: BTreeMap<usize, (PathBuf, bool)> = BTreeMap::new();
    let mut as_left: BTreeMap<usize, PathBuf> = BTreeMap::new();
    for j in needed.iter().filter_map(|&i| model_input[i]) {
        as_left.insert(j, trained_dir(&stages[j], cache)?);
    }
    for &i in &needed {
        let stage = &stages[i];
        let kind = kinds[i];
        let entry = kind.applies() == Applies::Entry;
        let new = entry || data_inputs(i).any(|j| outputs.get(&j).is_some_and(|(_, new)| *new));
        let trained = trained_dir(stage, cache)?;
        if !new {
            outputs.insert(i, (trained, false));
            continue;
        }
        if kind.applies() == Applies::No {
            let model = groups.iter().find(|(_, m)| m.iter().any(|&m| depends_on(m, i, &inputs))).map(|(name, _)| name.clone());
            return Err(PredictError::CannotApply { stage: stage.name.clone(), kind: stage.kind.clone(), model: model.unwrap_or_default() });
        }
        let mut params = toml_table(stage.params.as_ref());
        restore_paths(stage, kind.path_params(), cache, &mut params)?;
        let configured =
            configure_recorded(kind, params).map_err(|e| PredictError::Params { stage: stage.name.clone(), message: e.to_string() })?;
        let backend = request.backend.filter(|_| !kind.backends().is_empty()).or(stage.backend.as_deref());
        if let Some(backend) = backend {
            kind.backend_available(backend).map_err(|why| PredictError::Backend {
                stage: stage.name.clone(),
                backend: backend.to_string(),
                why,
            })?;
        }
        if !kind.backends().is_empty() {
            configured.check_backend(backend).map_err(|e| PredictError::BackendParams {
                stage: stage.name.clone(),
                backend: backend.unwrap_or("its default").to_string(),
                why: e.message,
            })?;
        }
        let stage_inputs: Vec<Input> = if entry {
            Vec::new()
        } else {
            let dir = |j: usize| if model_input[i] == Some(j) { as_left[&j].clone() } else { outputs[&j].0.clone() };
            inputs[i].iter().map(|&j| Input::new(stages[j].name.clone(), kinds[j].output(), dir(j))).collect()
        };
        let configured_as = serde_json::json!({
            "kind": stage.kind,
            "version": kind.version(),
            "params": stage.params,
            "backend": backend,
            "inputs": stage_inputs.iter().map(|input| &input.dir).collect::<Vec<_>>(),
        });
        let memo = shared.for_stage(&stage.name, &configured_as);
        let out_dir = work.join(i.to_string());
        let scratch_dir = work.join(format!("{i}.scratch"));
        for dir in [&out_dir, &scratch_dir] {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let ctx = ApplyContext {
            run: StageContext {
                stage: &stage.name,
                inputs: &stage_inputs,
                out_dir: &out_dir,
                scratch_dir: &scratch_dir,
                seed: record.seed,
                backend,
                threads: request.threads,
                progress: request.progress,
                memo: Some(&memo),
            },
            trained: &trained,
            new_audio: request.inputs,
            windows: request.windows,
        };
        tracing::info!("applying `{}` ({}) to the new audio", stage.name, stage.kind);
        let applied = catch_unwind(AssertUnwindSafe(|| configured.apply(&ctx)));
        let applied = match applied {
            Ok(Ok(applied)) => applied,
            Ok(Err(e)) => return Err(PredictError::Stage { stage: stage.name.clone(), message: error_chain(e.as_ref()) }),
            Err(panic) => {
                let message = format!("panicked: {}", vox_api::panic_message(panic.as_ref()).unwrap_or("unknown panic"));
                return Err(PredictError::Stage { stage: stage.name.clone(), message });
            }
        };
        let dir = match applied {
            Applied::Wrote => out_dir,
            Applied::PassedThrough => outputs[&inputs[i][0]].0.clone(),
        };
        outputs.insert(i, (dir, true));
    }

    let windows = match request.windows {
        Some(_) => {
            let windows = new_windows(&needed, &kinds, &outputs)?;
            let path = request.out_dir.join(windows::WINDOWS_CSV);
            Window::write_all(&windows, &path).map_err(PredictError::WindowList)?;
            Some(windows)
        }
        None => None,
    };
    let mut written = Vec::with_capacity(groups.len());
    for (model, members) in &groups {
        let dir = request.out_dir.join(model);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        if kinds[members[0]].output() == ArtifactKind::Estimates {
            written.push(write_estimates(model, members, &outputs, windows.as_deref(), &dir)?);
            continue;
        }
        let failed = |source| PredictError::Predictions { model: model.clone(), source };
        let each = members.iter().map(|m| Predictions::read(&outputs[m].0)).collect::<Result<Vec<_>, _>>().map_err(failed)?;
        let predictions = match <[Predictions; 1]>::try_from(each) {
            Ok([one]) => one,
            Err(each) => Predictions::mean(&each).map_err(failed)?,
        };
        predictions.write(&dir).map_err(failed)?;
        write_output_txt(&predictions, &dir)?;
        let recordings = match &windows {
            Some(windows) => {
                let recordings = windows::recordings(&predictions, windows);
                let folder = dir.join("recordings");
                std::fs::create_dir_all(&folder).map_err(io(&folder))?;
                recordings.write(&folder).map_err(failed)?;
                write_output_txt(&recordings, &folder)?;
                Some((recordings.rows.len(), Outcome::Classes(predicted_counts(&recordings))))
            }
            None => None,
        };
        let predicted = Outcome::Classes(predicted_counts(&predictions));
        written.push(Written { model: model.clone(), folds: members.len(), dir, clips: predictions.rows.len(), predicted, recordings });
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(written)
}

/// Writes a model of emotion dimensions' `estimates.csv` into `dir` (its folds' mean), and with
/// windows its recordings' in `dir/recordings/`.
fn write_estimates(
    model: &str,
    members: &[usize],
    outputs: &BTreeMap<usize, (PathBuf, bool)>,
    windows: Option<&[Window]>,
    dir: &Path,
) -> Result<Written, PredictError> {
    let failed = |source| PredictError::Estimates { model: model.to_string(), source };
    let each = members.iter().map(|m| Estimates::read(&outputs[m].0)).collect::<Result<Vec<_>, _>>().map_err(failed)?;
    let estimates = Estimates::mean(&each).map_err(failed)?;
    estimates.write(dir).map_err(failed)?;
    let recordings = match windows {
        Some(windows) => {
            let recordings = windows::recording_estimates(&estimates, windows);
            let folder = dir.join("recordings");
            std::fs::create_dir_all(&folder).map_err(|source| PredictError::Io { path: folder.clone(), source })?;
            recordings.write(&folder).map_err(failed)?;
            Some((recordings.rows.len(), Outcome::of_estimates(&recordings)))
        }
        None => None,
    };
    Ok(Written {
        model: model.to_string(),
        folds: members.len(),
        dir: dir.to_path_buf(),
        clips: estimates.rows.len(),
        predicted: Outcome::of_estimates(&estimates),
        recordings,
    })
}

/// Writes the submission format of `predictions` as `output.txt` in `dir`.
fn write_output_txt(predictions: &Predictions, dir: &Path) -> Result<(), PredictError> {
    let text = vox_api::output_txt::render(&predictions.labels, &predictions.classes, &predictions.rows);
    let path = dir.join("output.txt");
    std::fs::write(&path, text).map_err(|source| PredictError::Io { path, source })
}

/// Rows per predicted class, in the label set's order (classes no row got omitted).
fn predicted_counts(predictions: &Predictions) -> Vec<(String, usize)> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for row in &predictions.rows {
        *counts.entry(predictions.predicted(row)).or_default() += 1;
    }
    predictions.labels.names().filter_map(|c| Some((c.to_string(), *counts.get(c)?))).collect()
}

/// The window clips the entry stages cut the new audio into, from the first entry's manifest
/// (every entry cuts the same recordings the same way).
fn new_windows(
    needed: &BTreeSet<usize>,
    kinds: &[&dyn vox_api::StageKind],
    outputs: &BTreeMap<usize, (PathBuf, bool)>,
) -> Result<Vec<Window>, PredictError> {
    let entry = needed.iter().find(|&&i| kinds[i].applies() == Applies::Entry && kinds[i].output() == ArtifactKind::Audio);
    let Some((dir, _)) = entry.and_then(|i| outputs.get(i)) else {
        return Ok(Vec::new());
    };
    let manifest = AudioSet::read_manifest(dir).map_err(PredictError::WindowManifest)?;
    Ok(manifest.clips.iter().filter_map(Window::of).collect())
}

/// The models asked for (or every model), each with its stages: one, or a cross-validation's
/// folds.
fn choose_models(
    request: &Request,
    stages: &[RecordedStage],
    kinds: &[&dyn vox_api::StageKind],
) -> Result<Vec<(String, Vec<usize>)>, PredictError> {
    let mut all: Vec<(String, Vec<usize>)> = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        if !matches!(kinds[i].output(), ArtifactKind::Predictions | ArtifactKind::Estimates) {
            continue;
        }
        let name = model_name(&stage.name);
        match all.iter_mut().find(|(n, _)| n == name) {
            Some((_, members)) => members.push(i),
            None => all.push((name.to_string(), vec![i])),
        }
    }
    if all.is_empty() {
        return Err(PredictError::NoModels { run: request.run_dir.display().to_string() });
    }
    let chosen = if request.models.is_empty() {
        all
    } else {
        let mut chosen = Vec::new();
        for name in request.models {
            // A model's name, or one fold's stage name.
            let group = all.iter().find(|(n, _)| n == name).cloned().or_else(|| {
                let i = all.iter().flat_map(|(_, members)| members).copied().find(|&i| &stages[i].name == name)?;
                Some((name.clone(), vec![i]))
            });
            match group {
                Some(group) => chosen.push(group),
                None => {
                    let models: Vec<String> = all.iter().map(|(n, _)| format!("`{n}`")).collect();
                    let suggestion = crate::error::closest(name, all.iter().map(|(n, _)| n.as_str()));
                    return Err(PredictError::UnknownModel { name: name.clone(), suggestion, models: models.join(", ") });
                }
            }
        }
        chosen
    };
    for (_, members) in &chosen {
        for &m in members {
            if stages[m].status != "ran" && stages[m].status != "cached" {
                return Err(PredictError::NotFinished { stage: stages[m].name.clone(), status: stages[m].status.clone() });
            }
        }
    }
    Ok(chosen)
}

/// Whether some stage upstream of `stage` (or itself) is an entry.
fn entry_upstream(stage: usize, inputs: &[Vec<usize>], kinds: &[&dyn vox_api::StageKind]) -> bool {
    kinds[stage].applies() == Applies::Entry || inputs[stage].iter().any(|&i| entry_upstream(i, inputs, kinds))
}

/// The input of `stage` that is a model folder: its kind's optional last input (see
/// [`vox_api::InputSpec::optional_last`]), where the stage has one.
fn model_input(stage: usize, inputs: &[Vec<usize>], kinds: &[&dyn vox_api::StageKind]) -> Option<usize> {
    let spec = kinds[stage].inputs();
    let &last = inputs[stage].last()?;
    let produces = kinds[last].output();
    let beyond_arity = match spec.arity {
        vox_api::Arity::One => inputs[stage].len() == 2,
        vox_api::Arity::None | vox_api::Arity::AtLeastOne => !spec.accepts.contains(&produces),
    };
    (beyond_arity && spec.optional_last.contains(&produces)).then_some(last)
}

/// Whether `stage` is `other` or depends on it.
fn depends_on(stage: usize, other: usize, inputs: &[Vec<usize>]) -> bool {
    stage == other || inputs[stage].iter().any(|&i| depends_on(i, other, inputs))
}

/// The cached output folder of a finished stage of the run.
fn trained_dir(stage: &RecordedStage, cache: &Cache) -> Result<PathBuf, PredictError> {
    let not_cached = |damage| PredictError::NotCached { stage: stage.name.clone(), cache: cache.root().to_path_buf(), damage };
    let Some(key) = stage.key.as_deref().filter(|_| stage.status == "ran" || stage.status == "cached") else {
        return Err(PredictError::NotFinished { stage: stage.name.clone(), status: stage.status.clone() });
    };
    match cache.lookup(key) {
        Lookup::Hit(_) => {
            cache.touch(key);
            Ok(cache.out_dir(key))
        }
        Lookup::Miss => Err(not_cached(None)),
        Lookup::Corrupt(damage) => Err(not_cached(Some(damage))),
    }
}

/// Puts the path params of `stage` back where the run found them, once their content is what
/// the run read (the key holds its hash): a checkpoint changed since would score the new clips
/// otherwise than the run would have, silently.
fn restore_paths(
    stage: &RecordedStage,
    path_params: &[&str],
    cache: &Cache,
    params: &mut toml::Table,
) -> Result<(), PredictError> {
    let recorded = |name: &str| stage.params.as_ref()?.get(name)?.get("content")?.as_str().map(str::to_string);
    for (name, path) in &stage.paths {
        let now = cache.external_hash(path).ok();
        if now.is_none() || now != recorded(name) {
            return Err(PredictError::PathChanged {
                stage: stage.name.clone(),
                param: name.clone(),
                path: path.clone(),
                gone: now.is_none(),
            });
        }
        params.insert(name.clone(), toml::Value::String(path.display().to_string()));
    }
    match path_params.iter().find(|name| !stage.paths.contains_key(**name) && recorded(name).is_some()) {
        Some(name) => Err(PredictError::UnrecordedPath { stage: stage.name.clone(), param: name.to_string() }),
        None => Ok(()),
    }
}

/// Configures `kind` from a run's recorded params. A record may hold a param at its default
/// that the kind refuses when written, where it cannot apply: a run of an older vox keyed every
/// param (a forest's `c`, eGeMAPS's `n_fft`), and some kinds still key such params resolved so
/// that their entries stay valid (a loaded model's scratch sizes, a split's fractions beside
/// speaker lists). Such a param, recorded at its documented default, is left out, which cannot
/// change the stage. Any other refusal is the error.
fn configure_recorded(kind: &dyn vox_api::StageKind, mut params: toml::Table) -> Result<Box<dyn vox_api::Stage>, vox_api::ParamError> {
    let schema = kind.schema();
    loop {
        let error = match kind.configure(params.clone()) {
            Ok(stage) => return Ok(stage),
            Err(e) => e,
        };
        let name = error.path.split('.').next().unwrap_or_default();
        let default = schema.as_object().and_then(|o| o.get("properties")?.get(name)?.get("default"));
        let recorded = params.get(name).and_then(|v| serde_json::to_value(v).ok());
        match (default, recorded) {
            (Some(default), Some(recorded)) if *default == recorded => {
                tracing::debug!("recorded param `{name}` (its default) no longer applies; left out");
                params.remove(name);
            }
            _ => return Err(error),
        }
    }
}

/// The recorded params as the TOML table a kind configures from (nulls are unset params).
fn toml_table(params: Option<&serde_json::Value>) -> toml::Table {
    fn convert(value: &serde_json::Value) -> Option<toml::Value> {
        use serde_json::Value as J;
        Some(match value {
            J::Null => return None,
            J::Bool(b) => toml::Value::Boolean(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => toml::Value::Integer(i),
                None => toml::Value::Float(n.as_f64()?),
            },
            J::String(s) => toml::Value::String(s.clone()),
            J::Array(items) => toml::Value::Array(items.iter().filter_map(convert).collect()),
            J::Object(map) => toml::Value::Table(map.iter().filter_map(|(k, v)| Some((k.clone(), convert(v)?))).collect()),
        })
    }
    match params.and_then(convert) {
        Some(toml::Value::Table(table)) => table,
        _ => toml::Table::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_suffixes_name_the_cross_validated_model() {
        assert_eq!(model_name("rf[fold=3]"), "rf");
        assert_eq!(model_name("rf"), "rf");
        assert_eq!(model_name("rf[rf.n_trees=300, seed=2]"), "rf[rf.n_trees=300, seed=2]");
        assert_eq!(model_name("rf[fold=x]"), "rf[fold=x]");
    }

    #[test]
    fn recorded_params_become_the_table_they_were_resolved_from() {
        let json = serde_json::json!({"n_trees": 20, "c": 1.0, "tol": 1e-4, "seed": null, "weights": [0.5, 1],
            "labels": {"*": "drop"}, "max_features": "sqrt"});
        let table = toml_table(Some(&json));
        let expected: toml::Table =
            "n_trees = 20\nc = 1.0\ntol = 1e-4\nweights = [0.5, 1]\nlabels = { \"*\" = \"drop\" }\nmax_features = \"sqrt\"".parse().unwrap();
        assert_eq!(table, expected);
    }
}
