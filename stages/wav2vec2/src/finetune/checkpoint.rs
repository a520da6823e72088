//! Per-epoch checkpoints in the stage's scratch folder, and resuming from them.
//!
//! After epoch `k`, `checkpoint-k/` receives the model (`model.mpk`, a burn record that keeps
//! parameter ids), the best model so far (`best.mpk`), the AdamW moments of both groups
//! (`optimizer-*.bin`) and `history.csv`; then `checkpoint.json` (epoch, optimizer step, best
//! epoch, and the params the run was started with) is replaced atomically to point at it, and
//! older folders are removed. An attempt interrupted at any moment thus leaves either the
//! previous or the new checkpoint complete. A checkpoint made with other params is ignored.
//!
//! Every epoch draws its randomness (shuffling, noise, dropout) from generators seeded by the
//! seed and the epoch number alone, so a resumed run continues exactly as an uninterrupted one.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder, Recorder};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};
use super::Task;
use super::history::History;

use crate::error::Wav2Vec2Error;
use crate::kernels::Kernels;
use crate::model::Wav2Vec2ForSequenceClassification;
use crate::train::FineTuneOptimizer;

/// The pointer file in the scratch folder.
const STATE_FILE: &str = "checkpoint.json";
/// The model record (the recorder adds `.mpk`).
const MODEL_FILE: &str = "model";
/// The best model's record.
const BEST_FILE: &str = "best";

/// How far training got.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Epochs done.
    pub epoch: u32,
    /// Optimizer steps done.
    pub step: usize,
    /// One row per epoch done.
    pub history: History,
    /// The epoch (1-based) of the best model so far; 0 for the initial model.
    pub best_epoch: u32,
}

/// A checkpoint to resume from.
pub struct Resume {
    /// Its folder.
    pub dir: PathBuf,
    /// How far training got.
    pub progress: Progress,
}

impl Resume {
    /// Loads the model of the checkpoint into `model` (parameter ids included, so build the
    /// optimizer from the result).
    pub fn model<B: AutodiffBackend>(
        &self,
        model: Wav2Vec2ForSequenceClassification<B>,
        device: &B::Device,
    ) -> Result<Wav2Vec2ForSequenceClassification<B>, Wav2Vec2Error> {
        load_model(model, self.dir.join(MODEL_FILE), device)
    }

    /// Loads the best model so far into `model`.
    pub fn best_model<B: AutodiffBackend>(
        &self,
        model: Wav2Vec2ForSequenceClassification<B>,
        device: &B::Device,
    ) -> Result<Wav2Vec2ForSequenceClassification<B>, Wav2Vec2Error> {
        load_model(model, self.dir.join(BEST_FILE), device)
    }

    /// Restores the optimizer state of the checkpoint.
    pub fn optimizer<B: AutodiffBackend<InnerBackend: Kernels>>(
        &self,
        optimizer: FineTuneOptimizer<B>,
        device: &B::Device,
    ) -> Result<FineTuneOptimizer<B>, Wav2Vec2Error> {
        optimizer.load(&self.dir, device)
    }
}

/// `checkpoint.json`.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    /// The resolved params of the run.
    params: serde_json::Value,
    epoch: u32,
    step: usize,
    best_epoch: u32,
    /// The folder, relative to the scratch folder.
    dir: String,
}

/// Something went wrong with a checkpoint file.
fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Wav2Vec2Error + '_ {
    move |source| Wav2Vec2Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn recorder() -> NamedMpkFileRecorder<FullPrecisionSettings> {
    NamedMpkFileRecorder::new()
}

/// Writes `model`'s record to `path`.
fn save_model<B: AutodiffBackend>(
    model: &Wav2Vec2ForSequenceClassification<B>,
    path: PathBuf,
) -> Result<(), Wav2Vec2Error> {
    Recorder::<B>::record(&recorder(), model.clone().into_record(), path.clone())
        .map_err(|source| Wav2Vec2Error::Record { path, source })
}

/// Loads the record at `path` into `model`.
fn load_model<B: AutodiffBackend>(
    model: Wav2Vec2ForSequenceClassification<B>,
    path: PathBuf,
    device: &B::Device,
) -> Result<Wav2Vec2ForSequenceClassification<B>, Wav2Vec2Error> {
    let record = Recorder::<B>::load(&recorder(), path.clone(), device)
        .map_err(|source| Wav2Vec2Error::Record { path, source })?;
    Ok(model.load_record(record))
}

/// The scratch folder's checkpoints.
pub struct Checkpoints<'a> {
    /// The scratch folder.
    pub dir: &'a Path,
    /// The run's resolved params.
    pub params: serde_json::Value,
    /// What the model learns (which rows the history has).
    pub task: Task,
}

impl Checkpoints<'_> {
    /// The state of a checkpoint made with the same params, if any.
    fn state(&self) -> Option<State> {
        let text = std::fs::read_to_string(self.dir.join(STATE_FILE)).ok()?;
        let state: State = serde_json::from_str(&text).ok()?;
        if state.params != self.params {
            tracing::info!("ignoring a checkpoint made with other params");
            return None;
        }
        Some(state)
    }

    /// The latest checkpoint made with the same params, if any.
    pub fn latest(&self) -> Result<Option<Resume>, Wav2Vec2Error> {
        let Some(state) = self.state() else {
            return Ok(None);
        };
        let dir = self.dir.join(&state.dir);
        let history = History::read(&dir, self.task).map_err(Wav2Vec2Error::History)?;
        tracing::info!(
            epoch = state.epoch,
            "resuming fine-tuning from a checkpoint"
        );
        let progress = Progress {
            epoch: state.epoch,
            step: state.step,
            history,
            best_epoch: state.best_epoch,
        };
        Ok(Some(Resume { dir, progress }))
    }

    /// Saves the state after an epoch; `improved` says whether `model` is the new best.
    pub fn save<B: AutodiffBackend<InnerBackend: Kernels>>(
        &self,
        progress: &Progress,
        model: &Wav2Vec2ForSequenceClassification<B>,
        optimizer: &FineTuneOptimizer<B>,
        improved: bool,
    ) -> Result<(), Wav2Vec2Error> {
        let name = epoch_dir(progress.epoch);
        let dir = self.dir.join(&name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(io_error(&dir))?;
        }
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        save_model(model, dir.join(MODEL_FILE))?;
        if improved {
            save_model(model, dir.join(BEST_FILE))?;
        } else {
            let file = format!("{BEST_FILE}.mpk");
            let previous = self.dir.join(epoch_dir(progress.epoch - 1)).join(&file);
            std::fs::copy(&previous, dir.join(&file)).map_err(io_error(&previous))?;
        }
        optimizer.save(&dir)?;
        progress.history.write(&dir).map_err(Wav2Vec2Error::History)?;
        let state = State {
            params: self.params.clone(),
            epoch: progress.epoch,
            step: progress.step,
            best_epoch: progress.best_epoch,
            dir: name.clone(),
        };
        let json = serde_json::to_string_pretty(&state).map_err(Wav2Vec2Error::Serialize)?;
        let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
        std::fs::write(&tmp, json).map_err(io_error(&tmp))?;
        let path = self.dir.join(STATE_FILE);
        std::fs::rename(&tmp, &path).map_err(io_error(&path))?;
        for entry in std::fs::read_dir(self.dir)
            .map_err(io_error(self.dir))?
            .flatten()
        {
            let other = entry.file_name().to_string_lossy().into_owned();
            if other.starts_with("checkpoint-") && other != name {
                std::fs::remove_dir_all(entry.path()).map_err(io_error(&entry.path()))?;
            }
        }
        Ok(())
    }
}

/// The folder of the checkpoint after `epoch`.
fn epoch_dir(epoch: u32) -> String {
    format!("checkpoint-{epoch:04}")
}
