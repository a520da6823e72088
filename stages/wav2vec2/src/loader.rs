//! Loading Hugging Face checkpoints with burn-store.
//!
//! A model folder holds `config.json` and `model.safetensors` (preferred) or
//! `pytorch_model.bin`. Tensors go through burn-store's `PyTorchToBurnAdapter` (as
//! [`PyTorchLayout`] for safetensors, with faster transposes; Linear weights transposed
//! from PyTorch's `[out, in]` to burn's `[in, out]`; norm `weight`/`bias` to `gamma`/`beta`)
//! after these key renames (HF key -> burn path):
//!
//! | HF key | burn path |
//! |---|---|
//! | `hubert.*` (`model_type = "hubert"`), `wavlm.*` (`"wavlm"`) | `wav2vec2.*` |
//! | `feature_extractor.*`, `feature_projection.*`, `encoder.*` (bare `Wav2Vec2Model` files) | `wav2vec2.` + key |
//! | `wav2vec2.feature_extractor.conv_layers.0.layer_norm.*` (group-norm models only) | `...conv_layers.0.group_norm.*` |
//! | `wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original0` | `...conv.weight_g` |
//! | `wav2vec2.encoder.pos_conv_embed.conv.parametrizations.weight.original1` | `...conv.weight_v` |
//! | `classifier.weight`, `classifier.bias` (`projector` head) | `classifier.out_proj.*` |
//! | `*layer_norm.weight`, `*layer_norm.bias` (and `group_norm`) | `*.gamma`, `*.beta` |
//!
//! [`save_classifier`] writes the same layout back (HF names, PyTorch Linear layout, the body
//! under its family's prefix: `hubert.` for a HuBERT, so that transformers reads it as one).
//!
//! Everything else maps one to one (`wav2vec2.encoder.layers.3.attention.q_proj.weight`, ...).
//! Missing tensors are an error except in the head (`projector.*`, `classifier.*`) and
//! `masked_spec_embed` (when SpecAugment is switched on for a checkpoint made without it): a
//! CTC or pretraining checkpoint yields a freshly initialized head, as HF does. Unused tensors
//! (`lm_head.*`, `quantizer.*`, `masked_spec_embed`, ...) are listed in the [`LoadReport`].

use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use burn_store::{ApplyResult, ModuleSnapshot, PytorchStore, SafetensorsStore};

use crate::config::{ClassifierHead, FeatExtractNorm, ModelType, Wav2Vec2Config};
use crate::error::Wav2Vec2Error;
use crate::kernels::Kernels;
use crate::layout::{Direction, PyTorchLayout};
use crate::model::Wav2Vec2ForSequenceClassification;
use crate::writer::write_safetensors;

/// The configuration file of a model folder.
pub const CONFIG_FILE: &str = "config.json";
/// The safetensors weights of a model folder.
pub const SAFETENSORS_FILE: &str = "model.safetensors";
/// The PyTorch pickle weights of a model folder, used when there is no safetensors file.
pub const PYTORCH_FILE: &str = "pytorch_model.bin";

/// Key renames applied to every checkpoint, as `(regex, replacement)`.
const COMMON_RENAMES: &[(&str, &str)] = &[
    (
        r"^(feature_extractor|feature_projection|encoder|masked_spec_embed)",
        "wav2vec2.$1",
    ),
    (
        r"(pos_conv_embed\.conv)\.parametrizations\.weight\.original0$",
        "$1.weight_g",
    ),
    (
        r"(pos_conv_embed\.conv)\.parametrizations\.weight\.original1$",
        "$1.weight_v",
    ),
];
/// The body of a HuBERT or WavLM checkpoint is our `wav2vec2` module: (load, save) renames of
/// the family's prefix.
fn family_renames(model_type: ModelType) -> Option<[(&'static str, &'static str); 2]> {
    match model_type {
        ModelType::Wav2vec2 => None,
        ModelType::Hubert => Some([(r"^hubert\.", "wav2vec2."), (r"^wav2vec2\.", "hubert.")]),
        ModelType::Wavlm => Some([(r"^wavlm\.", "wav2vec2."), (r"^wav2vec2\.", "wavlm.")]),
    }
}
/// The group-norm layer's HF name.
const GROUP_NORM_RENAME: (&str, &str) = (
    r"(feature_extractor\.conv_layers\.0)\.layer_norm\.",
    "$1.group_norm.",
);
/// HF's `classifier` Linear is our `classifier.out_proj`.
const PROJECTOR_HEAD_RENAME: (&str, &str) =
    (r"^classifier\.(weight|bias)$", "classifier.out_proj.$1");
/// Norm parameters are `gamma`/`beta` in burn. burn-store's adapter can match `weight`/`bias`
/// as alternative names, but then still lists the file keys as unused; renaming keeps the
/// report exact.
const NORM_RENAMES: &[(&str, &str)] = &[
    (r"(layer_norm|group_norm)\.weight$", "$1.gamma"),
    (r"(layer_norm|group_norm)\.bias$", "$1.beta"),
];
/// burn path -> HF key when saving, as `(regex, replacement)`: the inverse of the load renames
/// (norm parameters are renamed by [`PyTorchLayout`]). The positional conv keeps the
/// legacy `weight_g`/`weight_v` names, which transformers loads into either parametrization.
const SAVE_RENAMES: &[(&str, &str)] = &[
    (
        r"(feature_extractor\.conv_layers\.0)\.group_norm\.",
        "$1.layer_norm.",
    ),
    (r"(layer_norm|group_norm)\.gamma$", "$1.weight"),
    (r"(layer_norm|group_norm)\.beta$", "$1.bias"),
];
/// Our `classifier.out_proj` is HF's `classifier` Linear in the `projector` head.
const PROJECTOR_HEAD_SAVE_RENAME: (&str, &str) = (r"^classifier\.out_proj\.", "classifier.");
/// Model paths that may be absent from a checkpoint: the head and `masked_spec_embed`,
/// initialized afresh.
const FRESH_PREFIXES: &[&str] = &["projector.", "classifier.", "wav2vec2.masked_spec_embed"];

/// What loading did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadReport {
    /// The weights file name inside the model folder.
    pub file: String,
    /// Model tensors loaded from the file.
    pub applied: usize,
    /// Head or `masked_spec_embed` tensors the file lacks, left randomly initialized (sorted).
    pub fresh: Vec<String>,
    /// File tensors the model has no place for (sorted).
    pub unused: Vec<String>,
}

/// A model, its configuration and what loading it did.
#[derive(Debug)]
pub struct LoadedModel<B: Backend> {
    /// The configuration read from `config.json`.
    pub config: Wav2Vec2Config,
    /// The model with the checkpoint's weights.
    pub model: Wav2Vec2ForSequenceClassification<B>,
    /// Loaded, new and unused tensors.
    pub report: LoadReport,
}

/// Loads `model_dir/config.json` and its weights into a classifier on `device`.
///
/// `configure` may adjust the configuration before the model is built (set `num_labels`, the
/// head, dropouts); the head is new whenever the checkpoint lacks it.
pub fn load_classifier<B: Kernels>(
    model_dir: &Path,
    configure: impl FnOnce(&mut Wav2Vec2Config),
    device: &B::Device,
) -> Result<LoadedModel<B>, Wav2Vec2Error> {
    let mut config = Wav2Vec2Config::from_file(&model_dir.join(CONFIG_FILE))?;
    configure(&mut config);
    config.validate()?;
    let mut model = Wav2Vec2ForSequenceClassification::new(&config, device);
    let report = load_weights(&mut model, &config, model_dir)?;
    tracing::debug!(
        file = %report.file,
        applied = report.applied,
        fresh = ?report.fresh,
        unused = ?report.unused,
        "loaded wav2vec2 weights"
    );
    Ok(LoadedModel {
        config,
        model,
        report,
    })
}

/// Loads the weights of `model_dir` into `model`, built from `config` (half-precision files
/// widened to f32 by [`PyTorchLayout`]).
pub fn load_weights<B: Backend>(
    model: &mut Wav2Vec2ForSequenceClassification<B>,
    config: &Wav2Vec2Config,
    model_dir: &Path,
) -> Result<LoadReport, Wav2Vec2Error> {
    let (path, result) = apply_checkpoint(model, &renames(config), model_dir)?;
    report(path, result, FRESH_PREFIXES)
}

/// Applies the checkpoint in `model_dir` (`model.safetensors`, else `pytorch_model.bin`) to
/// `module` with the key `renames` (HF key -> burn path, in order): the file read and
/// burn-store's result, which [`report`] judges. Every model vox loads goes through here.
pub(crate) fn apply_checkpoint<B: Backend, M: ModuleSnapshot<B>>(
    module: &mut M,
    renames: &[(&str, &str)],
    model_dir: &Path,
) -> Result<(PathBuf, ApplyResult), Wav2Vec2Error> {
    let safetensors = model_dir.join(SAFETENSORS_FILE);
    let pytorch = model_dir.join(PYTORCH_FILE);
    if safetensors.is_file() {
        let mut store = renames.iter().fold(
            SafetensorsStore::from_file(&safetensors)
                .with_from_adapter(PyTorchLayout(Direction::ToBurn))
                .validate(false)
                .allow_partial(true),
            |store, (from, to)| store.with_key_remapping(from, *to),
        );
        let result = module
            .load_from(&mut store)
            .map_err(|source| Wav2Vec2Error::Safetensors {
                path: safetensors.clone(),
                source,
            })?;
        Ok((safetensors, result))
    } else if pytorch.is_file() {
        check_pytorch_precision(&pytorch)?;
        let mut store = renames.iter().fold(
            PytorchStore::from_file(&pytorch)
                .validate(false)
                .allow_partial(true)
                .map_indices_contiguous(false),
            |store, (from, to)| store.with_key_remapping(from, *to),
        );
        let result = module
            .load_from(&mut store)
            .map_err(|source| Wav2Vec2Error::Pytorch {
                path: pytorch.clone(),
                source,
            })?;
        Ok((pytorch, result))
    } else {
        Err(Wav2Vec2Error::NoWeights(model_dir.to_path_buf()))
    }
}

/// Fails on a `pytorch_model.bin` with half-precision tensors: burn-store's PyTorch reader
/// keeps their dtype, which an f32 module cannot take, and takes no adapter that could widen
/// them (the safetensors path does, [`PyTorchLayout`]). The hub's half-precision checkpoints
/// come as `model.safetensors`.
fn check_pytorch_precision(path: &Path) -> Result<(), Wav2Vec2Error> {
    let reader = burn_store::pytorch::PytorchReader::new(path)
        .map_err(|source| Wav2Vec2Error::PytorchKeys { path: path.to_path_buf(), source })?;
    let half = reader.tensors().values().find(|t| matches!(t.dtype, burn::tensor::DType::F16 | burn::tensor::DType::BF16));
    match half {
        Some(tensor) => Err(Wav2Vec2Error::HalfPrecisionPickle { path: path.to_path_buf(), dtype: tensor.dtype }),
        None => Ok(()),
    }
}

/// Writes `model` and `config` into `model_dir` as `config.json` and `model.safetensors` with
/// HF key names and layouts, so that [`load_classifier`] (or transformers, for the `projector`
/// head) reads them back. Existing files are replaced.
pub fn save_classifier<B: Kernels>(
    model: &Wav2Vec2ForSequenceClassification<B>,
    config: &Wav2Vec2Config,
    model_dir: &Path,
) -> Result<(), Wav2Vec2Error> {
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Wav2Vec2Error::Io { path, source }
    };
    std::fs::create_dir_all(model_dir).map_err(io_error(model_dir))?;
    let config_path = model_dir.join(CONFIG_FILE);
    let json = serde_json::to_string_pretty(config).map_err(Wav2Vec2Error::Serialize)?;
    std::fs::write(&config_path, json + "\n").map_err(io_error(&config_path))?;

    // One metadata entry keeps the file byte-identical across runs (burn-store's default is a
    // HashMap of three, written in random order), and `pt` is the format transformers requires.
    let metadata = [("format".to_string(), "pt".to_string())].into();
    write_safetensors(model, &save_renames(config), metadata, &model_dir.join(SAFETENSORS_FILE))
}

/// burn path -> HF key renames for saving `config`'s model, in application order.
pub(crate) fn save_renames(config: &Wav2Vec2Config) -> Vec<(&'static str, &'static str)> {
    let mut renames = SAVE_RENAMES.to_vec();
    if config.classifier_head == ClassifierHead::Projector {
        renames.push(PROJECTOR_HEAD_SAVE_RENAME);
    }
    if let Some([_, save]) = family_renames(config.model_type) {
        renames.push(save);
    }
    renames
}

/// The renames for `config`, in application order.
fn renames(config: &Wav2Vec2Config) -> Vec<(&'static str, &'static str)> {
    let mut renames: Vec<_> = family_renames(config.model_type).map(|[load, _]| load).into_iter().collect();
    renames.extend_from_slice(COMMON_RENAMES);
    if config.feat_extract_norm == FeatExtractNorm::Group {
        renames.push(GROUP_NORM_RENAME);
    }
    if config.classifier_head == ClassifierHead::Projector {
        renames.push(PROJECTOR_HEAD_RENAME);
    }
    renames.extend_from_slice(NORM_RENAMES);
    renames
}

/// Turns burn-store's result into a report, or an error for mismatches and for missing tensors
/// outside `fresh_prefixes` (paths a checkpoint may lack: a new head, left initialized).
pub(crate) fn report(path: PathBuf, result: ApplyResult, fresh_prefixes: &[&str]) -> Result<LoadReport, Wav2Vec2Error> {
    if !result.errors.is_empty() {
        let errors = result.errors.iter().map(ToString::to_string).collect();
        return Err(Wav2Vec2Error::Mismatch { path, errors });
    }
    let (mut fresh, mut missing): (Vec<String>, Vec<String>) = result
        .missing
        .into_iter()
        .map(|(name, _)| name)
        .partition(|name| fresh_prefixes.iter().any(|prefix| name.starts_with(prefix)));
    if !missing.is_empty() {
        missing.sort();
        return Err(Wav2Vec2Error::MissingWeights { path, missing });
    }
    fresh.sort();
    let mut unused = result.unused;
    unused.sort();
    let file = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(LoadReport {
        file,
        applied: result.applied.len(),
        fresh,
        unused,
    })
}
