//! The `ssl-states` stage kind: one forward pass of a wav2vec2-family model (or Whisper's
//! encoder, [`super::whisper`]) over an audio set, pooled per clip for every hidden state
//! ([`super::pooled`]).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::AudioSet;
use vox_api::{ArtifactKind, BackendError, Facts, InputSpec, ParamError, PlannedInput, StageContext, StageDef, StageError, Applies};

use super::pooled::{self, Layout, Writer};
use super::whisper::WhisperFeatures;
use crate::config::Wav2Vec2Config;
use crate::finetune::{DEFAULT_BACKEND, FineTune, FineTuneError, check_lengths, padded_batch, valid_length};
use crate::kernels::Kernels;
use crate::loader::load_classifier;
use crate::model::Wav2Vec2Model;
use crate::preprocess::Preprocessor;

/// The name of the work `ssl-states` shares across splits of the same clips (`vox_api::memo`).
const SHARED_STATES: &str = "states";
/// The summary for people, kept with the shared states and copied into each stage's report.
const SUMMARY: &str = "states.txt";

/// Runs a wav2vec2-family model or Whisper's encoder (a Hugging Face model folder: a hub
/// download, a local copy or a `fine-tune` stage's output) over every clip of an audio set
/// once, in inference mode, and
/// keeps the mean and the standard deviation over each clip's valid frames of every hidden
/// state (the embedded input, then each transformer layer's output: HF's `hidden_states`).
/// `featurize` with `set = "ssl"` implies this stage (`<stage>.states`) and picks layers from
/// its output, so that trying other layers never repeats the forward pass.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SslStates {
    /// A local model folder (`config.json` and `model.safetensors` or `pytorch_model.bin`).
    /// Otherwise the model is the stage's last input (a model download, or a `fine-tune`
    /// stage whose output is a model folder).
    #[serde(default)]
    pub model_path: Option<PathBuf>,
    /// Clips per forward pass, at least 1. Clips are batched in order of length, each batch
    /// padded to its longest clip; padded frames never reach the statistics, and with a
    /// layer-norm model (large, XLSR, HuBERT, WavLM) a clip's states do not depend on its
    /// batch. A group-norm model (wav2vec2-base) normalizes its first conv over the padded
    /// length, in transformers as here: `batch_size = 1` pools each such clip exactly alone.
    /// Whisper pads every clip to its 30 s input and attends over all of it (as transformers
    /// does): its states never depend on the batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Scale each clip to zero mean and unit variance before the model (HF's feature
    /// extractor's `do_normalize`). Unset: as the model folder's `preprocessor_config.json`
    /// says, as transformers' `AutoFeatureExtractor` does (normalized where the folder has none;
    /// some checkpoints, e.g. `microsoft/wavlm-base-plus`, are not). Whisper: not normalized
    /// unless set, as its feature extractor's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
}

pub(super) fn default_batch_size() -> usize {
    8
}

/// Failures of the `ssl-states` stage.
#[derive(Debug, thiserror::Error)]
pub enum SslError {
    /// No model given.
    #[error(
        "no model: set `model` (a hub repository), `model_path` (a local model folder), or add a model folder input \
         (a `download` or `fine-tune` stage) after the audio"
    )]
    NoModel,
    /// The model input is not a model folder.
    #[error("input `{input}` is not a model folder: it has no `config.json` (a model comes from a `download` of a hub model or a `fine-tune` stage)")]
    NotAModel {
        /// The input.
        input: String,
    },
}

/// Checks a local model folder at plan time (config and weights' keys), so that one that
/// cannot load is an error at `model_path` before anything runs; one that does not exist is
/// the plan's own error. `ssl-states` and `featurize set = "ssl"` (where the pipeline wrote the
/// path of the states stage it implies) both check it.
pub(super) fn check_model_path(model_path: Option<&Path>) -> Result<(), ParamError> {
    match model_path.filter(|dir| dir.exists()) {
        Some(dir) => crate::inspect::check_encoder(dir).map_err(|e| ParamError::new("model_path", e.to_string())),
        None => Ok(()),
    }
}

impl StageDef for SslStates {
    const KIND: &'static str = "ssl-states";
    // 2: attention as one kernel on the CPU backends: states round differently.
    // 3: the positional conv as one product per group on CPUs with AVX-512, and the pooling
    //    sums in f64 on the CPU backends: pooled values round differently.
    // 4: the positional conv's weight norm is one kernel on the CPU backends (its norms sum in
    //    f64): states round differently.
    // 5: products from 32 deep and wide (was 128) through vox's sgemm on flex: a small
    //    model's states round differently.
    // 6: the model folder's `preprocessor_config.json` decides the normalization unless
    //    `normalize` is set; `states.txt` says which.
    const VERSION: u32 = 6;
    const INPUTS: InputSpec =
        InputSpec::one(&[ArtifactKind::Audio]).then_optional(&[ArtifactKind::Files, ArtifactKind::Predictions]);
    const OUTPUT: ArtifactKind = ArtifactKind::Files;
    const APPLIES: Applies = Applies::Yes;
    const BACKENDS: &'static [&'static str] = crate::finetune::BACKEND_NAMES;
    const PATH_PARAMS: &'static [&'static str] = &["model_path"];
    // Building the model before its weights are loaded draws from burn's process-global random
    // generator, which a fine-tune beside it would see.
    const EXCLUSIVE: bool = true;
    // The forward pass is shared across splits of the same clips (`run_on`).
    const SHARES_WORK: bool = true;

    fn backend_available(backend: &str) -> Result<(), BackendError> {
        FineTune::backend_available(backend)
    }

    fn backend_built(backend: &str) -> Result<(), BackendError> {
        FineTune::backend_built(backend)
    }

    fn validate(&self) -> Result<(), ParamError> {
        if self.batch_size == 0 {
            return Err(ParamError::new("batch_size", "`batch_size` must be at least 1"));
        }
        check_model_path(self.model_path.as_deref())
    }

    /// The audio set's facts; no model at all is an error here, before anything runs.
    fn facts(&self, inputs: &[PlannedInput]) -> Result<Facts, ParamError> {
        if inputs.len() < 2 && self.model_path.is_none() {
            return Err(ParamError::new("model_path", SslError::NoModel.to_string()));
        }
        Ok(Facts::combined(&inputs[..inputs.len().min(1)]))
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        vox_api::pool::install(ctx.threads, || match ctx.backend.unwrap_or(DEFAULT_BACKEND) {
            #[cfg(feature = "flex")]
            "flex" => self.run_on::<burn::backend::Flex>(ctx, Default::default()),
            "ndarray" => self.run_on::<burn::backend::NdArray>(ctx, Default::default()),
            #[cfg(feature = "cuda")]
            "cuda" => self.run_on::<burn::backend::Cuda>(ctx, crate::finetune::cuda_device()?),
            other => Err(FineTuneError::UnknownBackend(other.to_string()).into()),
        })?
    }
}

impl SslStates {
    /// The model folder: `model_path` or the last input.
    fn model_dir(&self, ctx: &StageContext) -> Result<PathBuf, StageError> {
        let folder = ctx.inputs.get(1);
        match (&self.model_path, folder) {
            (Some(_), Some(input)) => Err(FineTuneError::TwoModelSources { input: input.name.clone() }.into()),
            (Some(dir), None) => Ok(dir.clone()),
            (None, Some(input)) if input.dir.join(crate::loader::CONFIG_FILE).is_file() => Ok(input.dir.clone()),
            (None, Some(input)) => Err(SslError::NotAModel { input: input.name.clone() }.into()),
            (None, None) => Err(SslError::NoModel.into()),
        }
    }

    fn run_on<B: Kernels>(&self, ctx: &StageContext, device: B::Device) -> Result<(), StageError> {
        let dir = self.model_dir(ctx)?;
        let manifest = AudioSet::read_manifest(&ctx.input().dir)?;
        // The forward pass reads nothing of the clips' split: the folds of a cross-validation
        // (and the splits of a seed sweep) run it once.
        let shared = ctx.shared_work(SHARED_STATES, |out| self.forward::<B>(ctx, &dir, &device, out))?;
        AudioSet::write_manifest(&manifest.labels, &manifest.clips, ctx.out_dir)?;
        for file in [pooled::LAYOUT_FILE, pooled::VALUES_FILE] {
            vox_api::memo::link_or_copy(&shared.dir.join(file), &ctx.out_dir.join(file))?;
        }
        vox_api::memo::link_or_copy(&shared.dir.join(SUMMARY), &ctx.report_dir()?.join(SUMMARY))?;
        Ok(())
    }

    /// Runs the model over every clip and writes the pooled states and their summary
    /// (`states.txt`) into `out`.
    fn forward<B: Kernels>(&self, ctx: &StageContext, dir: &Path, device: &B::Device, out: &Path) -> Result<(), StageError> {
        let set = AudioSet::read(&ctx.input().dir)?;
        // Before the model loads: a clip at another rate (or too long for Whisper) fails at once.
        let encoder = if crate::whisper::is_whisper(dir)? {
            Encoder::Whisper(Box::new(WhisperFeatures::load(dir, &set, self.normalize, device)?))
        } else {
            let preprocessor = Preprocessor::for_set(Some(dir), &set, self.normalize)?;
            let model = load_body::<B>(dir, device)?;
            check_lengths(&set, &model.config)?;
            Encoder::Family(Box::new(model), preprocessor)
        };
        let layout = encoder.layout(set.clips.len());
        let lengths: Vec<usize> = set.clips.iter().map(valid_length).collect();
        // Batches of similar lengths waste little on padding; the order is fixed by the data,
        // so the output is too.
        let mut order: Vec<usize> = (0..set.clips.len()).collect();
        order.sort_by_key(|&i| (lengths[i], i));
        let mut pooled_rows: Vec<Vec<f32>> = vec![Vec::new(); set.clips.len()];
        let bar = ctx.progress_bar(order.len() as u64, "ssl states");
        for chunk in order.chunks(self.batch_size) {
            let rows = match &encoder {
                Encoder::Family(model, preprocessor) => {
                    pool_batch(&model.body, &model.config, &set, chunk, preprocessor.do_normalize, device)?
                }
                Encoder::Whisper(whisper) => whisper.pool_batch(&set, chunk, device)?,
            };
            for (&i, row) in chunk.iter().zip(rows) {
                pooled_rows[i] = row;
            }
            bar.inc(chunk.len() as u64);
        }
        bar.finish_and_clear();
        let mut writer = Writer::create(out, layout)?;
        for row in &pooled_rows {
            writer.push(row)?;
        }
        writer.finish()?;
        let model = match &encoder {
            Encoder::Family(model, preprocessor) => format!(
                "model: {} layers, hidden size {}, {} layer norm; inputs {}\n",
                model.config.num_hidden_layers,
                model.config.hidden_size,
                if model.config.do_stable_layer_norm { "pre" } else { "post" },
                preprocessor.describe(),
            ),
            Encoder::Whisper(whisper) => whisper.describe(),
        };
        let text = format!(
            "{} clips x {} hidden states (embedded input + {} layers) x {} dims, mean and std over valid frames\n{model}",
            layout.clips,
            layout.states,
            layout.states - 1,
            layout.hidden,
        );
        std::fs::write(out.join(SUMMARY), text)?;
        Ok(())
    }
}

/// The model an `ssl-states` stage runs (boxed: both are large, and one lives per run).
enum Encoder<B: Kernels> {
    /// wav2vec2, HuBERT or WavLM, with how its clips are prepared.
    Family(Box<Body<B>>, Preprocessor),
    /// Whisper's encoder.
    Whisper(Box<WhisperFeatures<B>>),
}

impl<B: Kernels> Encoder<B> {
    fn layout(&self, clips: usize) -> Layout {
        match self {
            Self::Family(model, _) => {
                Layout { format: 1, clips, states: model.config.num_hidden_layers + 1, hidden: model.config.hidden_size }
            }
            Self::Whisper(whisper) => whisper.layout(clips),
        }
    }
}

/// A model body and its configuration.
pub struct Body<B: Kernels> {
    /// The configuration.
    pub config: Wav2Vec2Config,
    /// The wav2vec2 body (any head of the checkpoint is dropped).
    pub body: Wav2Vec2Model<B>,
}

/// Loads the body of the checkpoint in `dir` (any head, or none).
pub fn load_body<B: Kernels>(dir: &Path, device: &B::Device) -> Result<Body<B>, crate::Wav2Vec2Error> {
    let loaded = load_classifier::<B>(dir, |_| {}, device)?;
    Ok(Body { config: loaded.config, body: loaded.model.wav2vec2 })
}

/// The pooled rows ([`Layout::per_clip`] values each) of clips `chunk` of `set`, batched
/// with [`padded_batch`] (normalized per clip when `normalize`).
pub fn pool_batch<B: Kernels>(
    body: &Wav2Vec2Model<B>,
    config: &Wav2Vec2Config,
    set: &AudioSet,
    chunk: &[usize],
    normalize: bool,
    device: &B::Device,
) -> Result<Vec<Vec<f32>>, StageError> {
    let batch = padded_batch::<B>(set, config, chunk, None, normalize, device)?;
    let states = body.hidden_states(batch.samples, Some(&batch.mask));
    Ok(pooled::rows(states, &batch.mask.valid).map_err(|e| format!("{e:?}"))?)
}
