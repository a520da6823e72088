//! wav2vec2 in burn, with Hugging Face weights and numerical parity with transformers.
//!
//! - [`config`]: the serde mirror of HF's `config.json` (base and large/XLSR layouts);
//! - [`model`]: feature encoder, feature projection, positional conv, transformer encoder in
//!   both layer-norm orders, the padding mask, the mean-pooling classification heads, and the
//!   training-time SpecAugment / LayerDrop draws;
//! - [`loader`]: `model.safetensors` / `pytorch_model.bin` through burn-store, with a report
//!   of fresh and unused tensors, and saving in the same HF layout;
//! - [`layout`]: PyTorch's and burn's tensor layouts, converted on loading and saving;
//! - [`writer`]: a module's parameters as a safetensors file, read where the backend keeps them;
//! - [`preprocess`]: HF's per-clip zero-mean unit-variance input normalization;
//! - [`train`]: AdamW groups, the warmup/decay schedule, global-norm clipping, freezing;
//! - [`adamw`]: AdamW with each parameter's update as one (parallel) backend operation;
//! - [`finetune`]: the `fine-tune` stage kind;
//! - [`ssl`]: self-supervised embeddings as features (`featurize` with `set = "ssl"`);
//! - [`whisper`]: Whisper's encoder and log-mel input, for those features;
//! - [`kernels`]: vox's own versions of operations that are slow in burn on some backends.
//!
//! Parity with `transformers` is tested against fixtures made by `scripts/make_fixtures.py`.

pub mod adamw;
pub mod config;
pub mod error;
pub mod finetune;
pub mod inspect;
pub mod kernels;
pub mod layout;
pub mod loader;
pub mod model;
pub mod preprocess;
pub mod ssl;
pub mod train;
pub mod whisper;
pub mod writer;

pub use config::{Activation, ClassifierHead, FeatExtractNorm, ModelType, Wav2Vec2Config};
pub use error::{ConfigProblem, Wav2Vec2Error};
pub use loader::{LoadReport, LoadedModel, load_classifier, load_weights, save_classifier};
pub use model::{
    Augmentation, ClassificationOutput, FrameMask, Precision, Wav2Vec2ForSequenceClassification, Wav2Vec2Model,
};

/// Held by every test that draws from burn's process-global random generator (initializing a
/// module, `Tensor::random`, training), so that concurrent tests cannot shift each other's
/// draws: the training tests assert byte-identical results.
#[cfg(test)]
pub(crate) fn burn_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The stage kinds of this crate, for the engine's registry: `fine-tune` (a classifier, or
/// with `targets` an estimator of dimensions), `featurize` with
/// `set = "ssl"` and the `ssl-states` it implies.
pub fn kinds() -> Vec<Box<dyn vox_api::StageKind>> {
    vec![
        vox_api::kind::<finetune::FineTune>(),
        vox_api::kind::<finetune::FineTuneDimensions>(),
        vox_api::kind::<ssl::featurize::SslFeaturize>(),
        vox_api::kind::<ssl::states::SslStates>(),
    ]
}
