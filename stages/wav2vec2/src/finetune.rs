//! The `fine-tune` stage: trains a wav2vec2 sequence classifier on an audio set's train split
//! (from scratch or from a Hugging Face checkpoint of wav2vec2, HuBERT or WavLM, by its
//! `model_type`), keeps the epoch with the best
//! validation macro-F1, and scores every clip; with `targets`, estimates emotion dimensions
//! instead (the best epoch by validation CCC).
//!
//! - [`labels`]: the classes scored, the train split's or a checkpoint's in the data's order;
//! - [`data`]: targets, valid lengths, batches (noise, per-clip normalization, frame masks);
//! - [`fit`]: the generic training loop, checkpoints in the scratch folder, inference, outputs;
//! - [`checkpoint`]: what survives an interrupted attempt and how it is resumed;
//! - [`metrics`]: accuracy, macro-F1 and loss from probabilities;
//! - [`dimensions`]: the kind's variant with `targets`, which estimates emotion dimensions;
//! - [`regression`]: its losses (CCC, MSE) and validation scores;
//! - [`history`]: the per-epoch rows of either task.

mod checkpoint;
#[cfg(test)]
mod checkpoint_tests;
mod data;
#[cfg(test)]
mod dimension_tests;
mod dimensions;
pub use dimensions::FineTuneDimensions;
mod history;
mod regression;
pub(crate) use data::{check_lengths, padded_batch, valid_length};
mod fit;
mod labels;
mod metrics;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::{
    Applied, Applies, ApplyContext, ArtifactKind, BackendError, Facts, ImpliedStage, InputSpec, ParamError, PlannedInput,
    StageContext, StageDef, StageError,
};

use crate::config::{ClassifierHead, FeatExtractNorm, Wav2Vec2Config};
use crate::model::Precision;

/// The backend of a stage that names none.
pub(crate) const DEFAULT_BACKEND: &str = if cfg!(feature = "flex") { "flex" } else { "ndarray" };

/// The `model` value that builds a randomly initialized model from the size params.
const SCRATCH: &str = "scratch";

/// The params that size a scratch model; a loaded model has its config's sizes (writing one
/// for it is an error).
const SCRATCH_PARAMS: &[&str] =
    &["hidden_size", "layers", "heads", "intermediate_size", "conv_dim", "conv_kernel", "conv_stride", "norm"];

/// Fine-tunes a wav2vec2 classifier (or a HuBERT or WavLM one, from such a checkpoint: its
/// `config.json`'s `model_type` decides) on the train split of an audio set: AdamW with linear
/// warmup and decay, global-norm clipping, gradient accumulation, optional feature-encoder
/// freezing, class weights and white-noise augmentation. Keeps the epoch with the best
/// validation macro-F1 and writes the model (`config.json` + `model.safetensors` +
/// `preprocessor_config.json`, itself a valid `model_path`), `history.csv`, `predictions.csv`
/// for every clip, and `report/training.txt`.
/// Classes are those of the train split (a val clip of another class counts as wrong; without a
/// val split the last epoch is kept), or a loaded head's own classes (`id2label`, matched to the
/// data's classes by name, whatever their order in the checkpoint). Checkpoints each epoch (model, AdamW state,
/// history) in the scratch folder and resumes there after an interruption. With `targets`, the
/// head estimates those emotion dimensions (a regression head, `estimates.csv`; see `targets`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FineTune {
    /// `"scratch"` (default): a randomly initialized model sized by `hidden_size`, `layers`,
    /// `heads`, `intermediate_size`, `conv_*` and `norm`. Any other value is a Hugging Face hub
    /// repository, `owner/name`: the stage then gets a `download` stage `<stage>.model` (`hub =
    /// model`) that fetches its `config.json` and `model.safetensors` (or `pytorch_model.bin`)
    /// once into the cache and feeds them in as this stage's last input. Where the hub is
    /// unreachable, point `model_path` at a local copy (`--set STAGE.model_path=DIR`): it
    /// replaces the hub model. A model folder can also come from an explicit input: `inputs =
    /// ["split", "xlsr"]` with `xlsr` a `download` stage.
    #[serde(default = "default_model")]
    pub model: String,
    /// A local model folder with `config.json` and `model.safetensors` (or
    /// `pytorch_model.bin`), e.g. a hub download or another fine-tune stage's output. It
    /// replaces `model` (a local copy of a hub model needs no hub); the scratch size params
    /// are then an error (the sizes are the checkpoint's). The head is new when
    /// the checkpoint has none (a CTC or pretraining checkpoint) or with `new_head`; otherwise
    /// the checkpoint's head is kept with its own classes (see `checkpoint_labels`).
    #[serde(default)]
    pub model_path: Option<PathBuf>,
    /// Scratch model: transformer width; a multiple of `heads`.
    #[serde(default, serialize_with = "keyed::hidden_size")]
    pub hidden_size: Option<usize>,
    /// Scratch model: transformer layers, at least 1.
    #[serde(default, serialize_with = "keyed::layers")]
    pub layers: Option<usize>,
    /// Scratch model: attention heads per layer (also the positional conv's groups).
    #[serde(default, serialize_with = "keyed::heads")]
    pub heads: Option<usize>,
    /// Scratch model: feed-forward width.
    #[serde(default, serialize_with = "keyed::intermediate_size")]
    pub intermediate_size: Option<usize>,
    /// Scratch model: output channels of each feature-encoder conv.
    #[serde(default, serialize_with = "keyed::conv_dim")]
    pub conv_dim: Option<Vec<usize>>,
    /// Scratch model: kernel of each feature-encoder conv, in samples (first) or frames. The
    /// default stack `[10, 3, 3, 3]` with strides `[5, 4, 4, 4]` has wav2vec2's total stride of
    /// 320 samples (20 ms at 16 kHz: 60000 samples -> 187 frames) and a 220-sample receptive
    /// field.
    #[serde(default, serialize_with = "keyed::conv_kernel")]
    pub conv_kernel: Option<Vec<usize>>,
    /// Scratch model: stride of each feature-encoder conv; one entry per `conv_dim` entry.
    #[serde(default, serialize_with = "keyed::conv_stride")]
    pub conv_stride: Option<Vec<usize>>,
    /// Scratch model layout: `group` (wav2vec2-base: group norm after the first conv, post-LN
    /// transformer) or `layer` (large/XLSR: layer norm after every conv, conv bias, pre-LN
    /// "stable layer norm" transformer).
    #[serde(default, serialize_with = "keyed::norm")]
    pub norm: Option<Norm>,
    /// The classification head on the mean of the valid frames: `projector` (HF
    /// `Wav2Vec2ForSequenceClassification`) or `dense-tanh` (dense, tanh, out projection).
    /// Unset: a loaded checkpoint's own head (read from its weights' keys), else `projector`.
    /// A value other than the checkpoint's head is an error unless `new_head = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<Head>,
    /// Replace a loaded checkpoint's head with a new one (layout `head`) over the train split's
    /// classes, as for a checkpoint without a head. Default false: the checkpoint's head and its
    /// classes are kept.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub new_head: bool,
    /// A loaded head's classes (its `id2label` names) that do not name one of the data's
    /// classes themselves, mapped to one, or `"drop"` to remove that output, e.g.
    /// `{ ang = "05", hap = "03", neu = "01", sad = "04" }` or `{ LABEL_0 = "neutral" }`. Names
    /// that match a class name or description (ignoring case) need no entry. Empty by default.
    /// With `targets`: the loaded head's outputs (its `id2label` names) mapped to targets,
    /// or `"drop"`, e.g. `{ LABEL_0 = "arousal" }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checkpoint_labels: BTreeMap<String, String>,
    /// Estimate emotion dimensions instead of classifying: the manifest columns with the raters'
    /// values (e.g. `["arousal", "valence", "dominance"]`, IEMOCAP's or a table's columns). The
    /// head then has one linear output per target (no softmax), trains on the train clips rated
    /// in every target with `loss`, keeps the epoch with the best validation CCC (mean over the
    /// targets, each over its rated val clips), and writes `estimates.csv` instead of
    /// `predictions.csv`; the model folder's `config.json` says `problem_type = "regression"`
    /// with the targets as `id2label`, as transformers writes it. A loaded regression head (an
    /// audEERING-style dimensional checkpoint) keeps its outputs, matched to the targets by name
    /// whatever their order (or by `checkpoint_labels`); outputs no target names are left out.
    /// Absent: a classifier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// With `targets`: the training loss, `ccc` (default: `1 -` the batch's concordance
    /// correlation, mean over the targets, the loss of dimensional SER papers; needs `batch_size`
    /// of at least 2) or `mse` (mean squared error, transformers' regression loss).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss: Option<DimensionLoss>,
    /// Training epochs; 0 scores the clips with the initial (or loaded) model.
    #[serde(default = "default_epochs")]
    pub epochs: u32,
    /// Clips per forward pass, at least 1.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Clips per forward pass when scoring (validation each epoch, the predictions after
    /// training, `vox predict`), at least 1; absent: `batch_size`. Scoring keeps no autodiff
    /// graph, so a GPU fits several times the training batch. Clips are scored in order of
    /// length, so a batch pads little; a group-norm model (wav2vec2-base) still normalizes its
    /// first conv over its batch's padded length, as in transformers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_batch_size: Option<usize>,
    /// Batches whose gradients are summed (each loss divided by their count) before one
    /// optimizer step, at least 1; the effective batch is `batch_size * grad_accum`.
    #[serde(default = "default_grad_accum")]
    pub grad_accum: usize,
    /// Peak learning rate of AdamW, reached after warmup; positive.
    #[serde(default = "default_lr")]
    pub lr: f64,
    /// Share of all optimizer steps spent warming the rate up linearly from 0 (ceil, as HF),
    /// in [0, 1]; the rate then decays linearly to 0 at the last step.
    #[serde(default = "default_warmup_ratio")]
    pub warmup_ratio: f64,
    /// AdamW decoupled weight decay, not applied to biases and norms; at least 0.
    #[serde(default = "default_weight_decay")]
    pub weight_decay: f64,
    /// AdamW epsilon; positive.
    #[serde(default = "default_adam_eps")]
    pub adam_eps: f64,
    /// Largest global L2 norm of the gradients (all scaled together, as PyTorch's
    /// `clip_grad_norm_`); 0 switches clipping off.
    #[serde(default = "default_max_grad_norm")]
    pub max_grad_norm: f64,
    /// What does not train: `feature-encoder` (the conv stack, HF `freeze_feature_encoder`),
    /// `none`, or `all-but-head` (the whole wav2vec2 body).
    #[serde(default)]
    pub freeze: Freeze,
    /// Epochs after which the frozen part trains too (e.g. 2: frozen in epochs 1-2, trained from
    /// epoch 3); absent keeps it frozen. Needs `freeze` other than `none`. With
    /// `unfreeze_layers_per_epoch`: the epochs with the whole body frozen before gradual
    /// unfreezing starts (absent: 0, it starts in epoch 1).
    #[serde(default)]
    pub unfreeze_after: Option<u32>,
    /// Gradual (ULMFiT-style) layer-wise unfreezing, at least 1; needs `freeze =
    /// "all-but-head"`. In epoch `unfreeze_after + k` (k >= 1) the top `k *
    /// unfreeze_layers_per_epoch` units of the body train with the head, from the top down:
    /// each transformer layer is a unit (the last layer first), then the stem (positional conv,
    /// feature projection and the encoder layer norm; a pre-LN encoder's final layer norm goes
    /// with the last layer). The conv feature encoder stays frozen throughout, so the schedule
    /// ends where `freeze = "feature-encoder"` starts. E.g. 12 layers, 2 per epoch, no
    /// `unfreeze_after`: layers 11-12 train in epoch 1, 9-12 in epoch 2, all in epoch 6, the
    /// stem too from epoch 7. Absent: no gradual unfreezing.
    #[serde(default)]
    pub unfreeze_layers_per_epoch: Option<u32>,
    /// `[lo, hi]` in dB: during training, each clip gets white Gaussian noise at a signal-to-noise
    /// ratio drawn uniformly from this range (over its valid samples, before normalization).
    /// Absent: no noise. Validation and predictions never get noise.
    #[serde(default)]
    pub noise_snr_db: Option<[f64; 2]>,
    /// Scale each clip to zero mean and unit variance before the model (HF's feature
    /// extractor's `do_normalize`). Unset: as a loaded model's `preprocessor_config.json` says
    /// (normalized where it has none, as transformers does; `false` in some checkpoints, e.g.
    /// `microsoft/wavlm-base-plus`), normalized for a scratch model. The trained model folder
    /// gets a `preprocessor_config.json` that says which, so `vox predict`, a `featurize set =
    /// "ssl"` on it and transformers' pipelines prepare audio as it was trained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
    /// Loss weights per class: `none`, or `balanced` (`n / (classes * n_class)` over the train
    /// split, as scikit-learn).
    #[serde(default)]
    pub class_weights: ClassWeights,
    /// Stop when the validation macro-F1 has not improved for this many epochs (at least 1);
    /// absent trains every epoch.
    #[serde(default)]
    pub early_stopping_patience: Option<u32>,
    /// The dtype of the network's large matrix products (the feature encoder's convs, the
    /// transformer's linears), in training and scoring: `f32` (default) or `bf16`, mixed
    /// precision as PyTorch's bf16 autocast: parameters, AdamW's state, norms, softmax, the
    /// head and the loss stay f32. Pays on GPUs with bf16 tensor cores (`cuda`); `flex`
    /// computes bf16 products in f32 after rounding (no faster, for checking a bf16 run's
    /// numbers on a CPU); `ndarray` has no bf16.
    // The default is left out of the key (`skip_serializing_if`), which also hides it from the
    // schema: named here for `vox stages`.
    #[serde(default, skip_serializing_if = "Precision::is_f32")]
    #[schemars(extend("default" = "f32"))]
    pub precision: Precision,
    /// Seed of the weight initialization, shuffling, dropout and noise; the engine fills it with
    /// the pipeline seed unless set.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// The scratch model's normalization layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Norm {
    /// wav2vec2-base: group norm after the first conv, post-LN transformer layers.
    Group,
    /// large/XLSR: layer norm after every conv, pre-LN transformer layers.
    Layer,
}

/// The classification head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Head {
    /// Projector on every frame, masked mean, linear classifier (HF's head).
    #[default]
    Projector,
    /// Masked mean, dropout, dense, tanh, dropout, linear (the SER notebooks' head).
    DenseTanh,
}

/// The loss of a fine-tune that estimates dimensions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DimensionLoss {
    /// `1 -` the batch's concordance correlation coefficient, mean over the targets.
    #[default]
    Ccc,
    /// Mean squared error over the clips and targets.
    Mse,
}

impl DimensionLoss {
    /// The param's spelling.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Ccc => "ccc",
            Self::Mse => "mse",
        }
    }
}

/// What a fine-tune's head learns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Task {
    /// Classes, by cross-entropy; the best epoch has the best validation macro-F1.
    Classes,
    /// Values of the `targets` dimensions, by this loss; the best epoch has the best
    /// validation CCC.
    Dimensions(DimensionLoss),
}

/// Which parameters are frozen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Freeze {
    /// The conv feature encoder.
    #[default]
    FeatureEncoder,
    /// Nothing.
    None,
    /// Everything but the head.
    AllButHead,
}

/// Loss weights per class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClassWeights {
    /// Every class weighs 1.
    #[default]
    None,
    /// Inversely proportional to the class's train-split count.
    Balanced,
}

/// The scratch sizes as the cache key and the reports see them: the value, else the default.
/// Every fine-tune's key has held them resolved since they were plain params, so a loaded
/// model's key (where writing one is an error) still holds the defaults and its entries stay
/// valid.
mod keyed {
    use serde::{Serialize, Serializer};

    use super::Norm;

    macro_rules! resolved {
        ($($name:ident: $ty:ty = $default:path;)*) => {$(
            pub fn $name<S: Serializer>(value: &Option<$ty>, s: S) -> Result<S::Ok, S::Error> {
                match value {
                    Some(v) => v.serialize(s),
                    None => $default().serialize(s),
                }
            }
        )*};
    }

    resolved! {
        hidden_size: usize = super::default_hidden_size;
        layers: usize = super::default_layers;
        heads: usize = super::default_heads;
        intermediate_size: usize = super::default_intermediate_size;
        conv_dim: Vec<usize> = super::default_conv_dim;
        conv_kernel: Vec<usize> = super::default_conv_kernel;
        conv_stride: Vec<usize> = super::default_conv_stride;
        norm: Norm = super::default_norm;
    }
}

fn default_model() -> String {
    SCRATCH.into()
}
fn default_hidden_size() -> usize {
    64
}
fn default_layers() -> usize {
    2
}
fn default_heads() -> usize {
    4
}
fn default_intermediate_size() -> usize {
    128
}
fn default_conv_dim() -> Vec<usize> {
    vec![32; 4]
}
fn default_conv_kernel() -> Vec<usize> {
    vec![10, 3, 3, 3]
}
fn default_conv_stride() -> Vec<usize> {
    vec![5, 4, 4, 4]
}
fn default_norm() -> Norm {
    Norm::Group
}
fn default_epochs() -> u32 {
    10
}
fn default_batch_size() -> usize {
    8
}
fn default_grad_accum() -> usize {
    1
}
fn default_lr() -> f64 {
    1e-4
}
fn default_warmup_ratio() -> f64 {
    0.1
}
fn default_weight_decay() -> f64 {
    0.01
}
fn default_adam_eps() -> f64 {
    1e-8
}
fn default_max_grad_norm() -> f64 {
    1.0
}

/// Kernel of the scratch model's positional conv, in frames (HF's 128 covers 2.56 s; small
/// models on short clips need less).
const SCRATCH_POSITIONAL_KERNEL: usize = 16;

/// Every backend the kind understands; [`FineTune::backend_available`] says which this build and
/// machine can use.
pub(crate) const BACKEND_NAMES: &[&str] = &["flex", "ndarray", "cuda"];

/// Failures of the fine-tune stage.
#[derive(Debug, thiserror::Error)]
pub enum FineTuneError {
    /// The train split has fewer than two labelled classes.
    #[error(
        "the train split of `{input}` has {found} labelled classes; fine-tuning needs at least 2"
    )]
    TooFewClasses {
        /// The input stage.
        input: String,
        /// Classes found.
        found: usize,
    },
    /// A clip is shorter than the feature encoder's receptive field.
    #[error(
        "clip `{file_id}` has {samples} valid samples, too few for one frame of the feature encoder"
    )]
    ClipTooShort {
        /// The clip.
        file_id: String,
        /// Its valid samples.
        samples: usize,
    },
    /// Two sources of initial weights were given.
    #[error(
        "the stage has both `model_path` and a model folder input `{input}`: keep one of them"
    )]
    TwoModelSources {
        /// The model folder input.
        input: String,
    },
    /// `model` names a hub repository, but no input brings its files (the engine adds one).
    #[error("`model = \"{model}\"` needs the model folder input that the engine adds for it")]
    HubModelWithoutInput {
        /// The repository id.
        model: String,
    },
    /// The pipeline asked for a backend this build lacks.
    #[error("backend `{0}` is not available for fine-tune in this build")]
    UnknownBackend(String),
    /// `precision` names a dtype the stage's backend cannot compute in.
    #[error("`precision = \"{precision}\"` needs a backend with {precision} arithmetic, and `{backend}` has none: choose `flex` or `cuda`, or `precision = \"f32\"`")]
    UnsupportedPrecision {
        /// The param's value.
        precision: &'static str,
        /// The backend's name.
        backend: String,
    },
    /// A loaded head whose outputs are not softmax class scores.
    #[error(
        "the checkpoint's head is no classifier: its config.json says `problem_type = \"{problem_type}\"`, so \
         its outputs ({outputs}) are {}, not class probabilities. Set `new_head = true` to train a \
         classifier on its encoder{}",
        if .problem_type == "regression" { "values on a scale" } else { "independent sigmoid scores" },
        if .problem_type == "regression" {
            "; or estimate its dimensions with `targets` (fine-tuning it, or scoring with `epochs = 0`), or take \
             its hidden states as features (`featurize` with `set = \"ssl\"`) and estimate them with `regress`"
        } else {
            ""
        }
    )]
    NotAClassifier {
        /// The config's `problem_type`.
        problem_type: String,
        /// The head's outputs (`id2label`), listed.
        outputs: String,
    },
    /// A loaded head's classes that match none of the data's classes.
    #[error(
        "the checkpoint's classes {} are none of the data's classes ({classes}); map each to a \
         class or \"drop\" with `checkpoint_labels = {{ {} }}`, or set `new_head = true` to train a \
         new head on the train split's classes",
        quoted(.labels),
        example_map(.labels)
    )]
    UnmatchedCheckpointLabels {
        /// The unmatched `id2label` names.
        labels: Vec<String>,
        /// The data's classes, for the message.
        classes: String,
    },
    /// `checkpoint_labels` names an output the checkpoint's head does not have.
    #[error("`checkpoint_labels.{key}`: the checkpoint's head has no output `{key}` (its outputs: {labels})")]
    UnknownCheckpointLabel {
        /// The key.
        key: String,
        /// The checkpoint's classes.
        labels: String,
    },
    /// `checkpoint_labels` maps a class to something that is not a class of the data.
    #[error("`checkpoint_labels.{key} = \"{value}\"` is neither \"drop\" nor one of the data's classes ({classes})")]
    BadCheckpointLabelTarget {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// The data's classes.
        classes: String,
    },
    /// Two head outputs would be one class.
    #[error("the checkpoint's classes `{first}` and `{second}` would both be class `{class}`; map one elsewhere or \"drop\" it in `checkpoint_labels`")]
    TwoOutputsOneClass {
        /// The class.
        class: String,
        /// The first output's name.
        first: String,
        /// The second output's name.
        second: String,
    },
    /// Fewer than two outputs left after `"drop"`.
    #[error("`checkpoint_labels` leaves {kept} of the checkpoint's classes; a classifier needs at least 2")]
    TooFewCheckpointClasses {
        /// Outputs kept.
        kept: usize,
    },
    /// Training a loaded head on classes it lacks.
    #[error(
        "the train split has classes the checkpoint's head lacks: {}; its classes are {classes}. Set \
         `new_head = true` to train a new head on the train split's classes, or leave those \
         clips out (decode's `labels`)",
        quoted(.lacking)
    )]
    CheckpointLacksClasses {
        /// The train classes without an output.
        lacking: Vec<String>,
        /// The head's classes (as the data names them).
        classes: String,
    },
    /// The `head` param names another layout than the checkpoint's.
    #[error(
        "`head = \"{param}\"` but the checkpoint's head is `{checkpoint}`; leave `head` unset to use it, \
         or set `new_head = true` to replace it"
    )]
    HeadMismatch {
        /// The param's layout.
        param: &'static str,
        /// The checkpoint's layout.
        checkpoint: &'static str,
    },
    /// A param that applies to a loaded checkpoint only, on a scratch model.
    #[error("`{param}` applies to a loaded model (`model`, `model_path` or a model folder input), not to a scratch model")]
    NoCheckpoint {
        /// The param.
        param: &'static str,
    },
    /// A checkpoint's class names cannot label unlabeled data.
    #[error("the checkpoint's `id2label` cannot be a label set: {0}")]
    CheckpointLabels(vox_api::labels::LabelSetError),
    /// A fine-tune with `targets` given a checkpoint whose head is no regression head.
    #[error(
        "the checkpoint's head is a classifier (its outputs: {outputs}), not an estimator of \
         dimensions{}: set `new_head = true` to train a head for the targets on its encoder",
        if .problem_type.is_empty() { String::new() } else { format!(" (`problem_type = \"{}\"`)", .problem_type) }
    )]
    NotARegression {
        /// The config's `problem_type`, empty when unset.
        problem_type: String,
        /// The head's outputs (`id2label`), listed.
        outputs: String,
    },
    /// Targets no output of a loaded regression head estimates.
    #[error(
        "the checkpoint's head has no output for {}; its outputs are {outputs}. Map one with \
         `checkpoint_labels = {{ OUTPUT = \"{}\" }}`, or set `new_head = true` to train a new head",
        quoted(.missing),
        .missing[0]
    )]
    TargetsWithoutOutput {
        /// The targets without an output.
        missing: Vec<String>,
        /// The head's outputs, listed.
        outputs: String,
    },
    /// Two head outputs would estimate one target.
    #[error("the checkpoint's outputs `{first}` and `{second}` would both estimate `{target}`; map one elsewhere or \"drop\" it in `checkpoint_labels`")]
    TwoOutputsOneTarget {
        /// The target.
        target: String,
        /// The first output's name.
        first: String,
        /// The second output's name.
        second: String,
    },
    /// `checkpoint_labels` maps an output to something that is not a target.
    #[error("`checkpoint_labels.{key} = \"{value}\"` is neither \"drop\" nor one of the targets ({targets})")]
    BadCheckpointTarget {
        /// The key.
        key: String,
        /// The value.
        value: String,
        /// The targets, listed.
        targets: String,
    },
    /// A target no clip has a value in (a misspelt column, most likely).
    #[error("no clip of `{input}` has a value in `{target}`: `targets` names manifest columns, and its columns with values are {columns}")]
    UnratedTarget {
        /// The target.
        target: String,
        /// The input stage.
        input: String,
        /// The manifest's columns that have values, listed.
        columns: String,
    },
    /// Training on dimensions with no train clip rated in every target.
    #[error(
        "no clip of the train split of `{input}` is rated in every target ({targets}): check the \
         manifest's columns of those names"
    )]
    NoRatedTrainClips {
        /// The input stage.
        input: String,
        /// The targets, listed.
        targets: String,
    },
    /// The run was asked to stop after an epoch (tests simulate interruptions this way).
    #[error("interrupted after epoch {0}")]
    Interrupted(u32),
}

/// `` `a`, `b` ``.
fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// `a = "...", "b c" = "..."`: a `checkpoint_labels` table to fill in.
fn example_map(names: &[String]) -> String {
    let key = |n: &String| {
        if n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') { n.clone() } else { format!("{n:?}") }
    };
    names.iter().map(|n| format!("{} = \"...\"", key(n))).collect::<Vec<_>>().join(", ")
}

impl Head {
    /// The param's spelling.
    fn name(self) -> &'static str {
        match self {
            Self::Projector => "projector",
            Self::DenseTanh => "dense-tanh",
        }
    }

    /// The model config's head.
    fn layout(self) -> ClassifierHead {
        match self {
            Self::Projector => ClassifierHead::Projector,
            Self::DenseTanh => ClassifierHead::DenseTanh,
        }
    }
}

/// The param's spelling of a model config's head.
fn head_name(head: ClassifierHead) -> &'static str {
    match head {
        ClassifierHead::Projector => Head::Projector.name(),
        ClassifierHead::DenseTanh => Head::DenseTanh.name(),
    }
}

impl FineTune {
    fn hidden_size(&self) -> usize {
        self.hidden_size.unwrap_or_else(default_hidden_size)
    }
    fn layers(&self) -> usize {
        self.layers.unwrap_or_else(default_layers)
    }
    fn heads(&self) -> usize {
        self.heads.unwrap_or_else(default_heads)
    }
    fn intermediate_size(&self) -> usize {
        self.intermediate_size.unwrap_or_else(default_intermediate_size)
    }
    fn conv_dim(&self) -> Vec<usize> {
        self.conv_dim.clone().unwrap_or_else(default_conv_dim)
    }
    fn conv_kernel(&self) -> Vec<usize> {
        self.conv_kernel.clone().unwrap_or_else(default_conv_kernel)
    }
    fn conv_stride(&self) -> Vec<usize> {
        self.conv_stride.clone().unwrap_or_else(default_conv_stride)
    }
    fn norm(&self) -> Norm {
        self.norm.unwrap_or_else(default_norm)
    }

    /// The first scratch size param written, if any.
    fn scratch_param_written(&self) -> Option<&'static str> {
        let written = [
            self.hidden_size.is_some(),
            self.layers.is_some(),
            self.heads.is_some(),
            self.intermediate_size.is_some(),
            self.conv_dim.is_some(),
            self.conv_kernel.is_some(),
            self.conv_stride.is_some(),
            self.norm.is_some(),
        ];
        SCRATCH_PARAMS.iter().zip(written).find_map(|(name, written)| written.then_some(*name))
    }

    /// A scratch size param written for a loaded model, as the error at its line.
    fn refuse_scratch_sizes(&self) -> Result<(), ParamError> {
        match self.scratch_param_written() {
            Some(param) => Err(ParamError::new(
                param,
                format!("`{param}` sizes a scratch model; a loaded model (`model`, `model_path` or a model folder input) has its config's sizes"),
            )),
            None => Ok(()),
        }
    }

    /// What the head learns: dimensions when `targets` names any, else classes.
    pub(crate) fn task(&self) -> Task {
        match self.targets.is_empty() {
            true => Task::Classes,
            false => Task::Dimensions(self.loss.unwrap_or_default()),
        }
    }

    /// The seed in use (the engine fills `seed`; a hand-built params struct falls back to 0).
    fn seed(&self) -> u64 {
        self.seed.unwrap_or(0)
    }

    /// Clips per forward pass when scoring.
    fn eval_batch_size(&self) -> usize {
        self.eval_batch_size.unwrap_or(self.batch_size)
    }

    /// The configuration of the scratch model for `labels` classes.
    fn scratch_config(&self) -> Wav2Vec2Config {
        let layer = self.norm() == Norm::Layer;
        Wav2Vec2Config {
            conv_dim: self.conv_dim(),
            conv_kernel: self.conv_kernel(),
            conv_stride: self.conv_stride(),
            conv_bias: layer,
            feat_extract_norm: if layer {
                FeatExtractNorm::Layer
            } else {
                FeatExtractNorm::Group
            },
            do_stable_layer_norm: layer,
            hidden_size: self.hidden_size(),
            num_hidden_layers: self.layers(),
            num_attention_heads: self.heads(),
            intermediate_size: self.intermediate_size(),
            num_conv_pos_embeddings: SCRATCH_POSITIONAL_KERNEL,
            num_conv_pos_embedding_groups: self.heads(),
            classifier_proj_size: self.hidden_size(),
            // No SpecAugment or LayerDrop from scratch: a 4-layer stack on short clips has too
            // few frames and layers for either; dropouts stay at HF's 0.1.
            mask_time_prob: 0.0,
            layerdrop: 0.0,
            ..Wav2Vec2Config::default()
        }
    }

    /// The head a new head gets: `head`, else `projector`.
    fn new_head_layout(&self) -> ClassifierHead {
        self.head.unwrap_or_default().layout()
    }

    /// Checks the scratch model's sizes.
    fn validate_scratch(&self) -> Result<(), ParamError> {
        let (hidden_size, heads) = (self.hidden_size(), self.heads());
        let (conv_dim, conv_kernel, conv_stride) = (self.conv_dim(), self.conv_kernel(), self.conv_stride());
        let positive = [
            ("hidden_size", hidden_size),
            ("layers", self.layers()),
            ("heads", heads),
            ("intermediate_size", self.intermediate_size()),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ParamError::new(
                    name,
                    format!("`{name}` must be at least 1"),
                ));
            }
        }
        if !hidden_size.is_multiple_of(heads) {
            return Err(ParamError::new(
                "hidden_size",
                format!("`hidden_size` {hidden_size} is not a multiple of `heads` {heads}"),
            ));
        }
        if conv_dim.is_empty() {
            return Err(ParamError::new(
                "conv_dim",
                "`conv_dim` needs at least one conv layer",
            ));
        }
        let n = conv_dim.len();
        for (name, list) in [
            ("conv_kernel", &conv_kernel),
            ("conv_stride", &conv_stride),
        ] {
            if list.len() != n {
                return Err(ParamError::new(
                    name,
                    format!(
                        "`{name}` has {} entries but `conv_dim` has {n}: one per conv layer",
                        list.len()
                    ),
                ));
            }
        }
        for (name, list) in [
            ("conv_dim", &conv_dim),
            ("conv_kernel", &conv_kernel),
            ("conv_stride", &conv_stride),
        ] {
            if let Some(i) = list.iter().position(|&v| v == 0) {
                return Err(ParamError::new(
                    format!("{name}.{i}"),
                    format!("`{name}` entries must be at least 1"),
                ));
            }
        }
        Ok(())
    }

    /// Runs the stage on the backend of `ctx`, stopping with [`FineTuneError::Interrupted`]
    /// after epoch `stop_after` (tests only pass `Some`).
    fn run_backend(&self, ctx: &StageContext, stop_after: Option<u32>) -> Result<(), StageError> {
        match ctx.backend.unwrap_or(DEFAULT_BACKEND) {
            #[cfg(feature = "flex")]
            "flex" => fit::run::<burn::backend::Autodiff<burn::backend::Flex>>(
                self,
                ctx,
                Default::default(),
                stop_after,
            ),
            "ndarray" => fit::run::<burn::backend::Autodiff<burn::backend::NdArray>>(
                self,
                ctx,
                Default::default(),
                stop_after,
            ),
            #[cfg(feature = "cuda")]
            "cuda" => fit::run::<burn::backend::Autodiff<burn::backend::Cuda>>(
                self,
                ctx,
                cuda_device()?,
                stop_after,
            ),
            other => Err(FineTuneError::UnknownBackend(other.to_string()).into()),
        }
    }
}

/// The first CUDA device, after checking that it opens. cubecl panics when there is none, on its
/// own device thread, so the probe runs under `catch_unwind` with a panic hook that keeps the
/// first panic's message (the cause; the caller only sees a closed channel) instead of printing
/// it with a backtrace.
#[cfg(feature = "cuda")]
pub(crate) fn cuda_device() -> Result<burn::backend::cuda::CudaDevice, BackendError> {
    use std::sync::{Arc, Mutex};

    use burn::backend::Cuda;
    use burn::tensor::Tensor;
    use vox_api::panic_message;
    let first_panic = Arc::new(Mutex::new(None::<String>));
    let previous_hook = std::panic::take_hook();
    let keep = first_panic.clone();
    std::panic::set_hook(Box::new(move |info| {
        let mut first = keep.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        first.get_or_insert_with(|| panic_message(info.payload()).unwrap_or_default().to_string());
    }));
    let device = burn::backend::cuda::CudaDevice::default();
    let probe = device.clone();
    let outcome = std::panic::catch_unwind(move || Tensor::<Cuda, 1>::zeros([1], &probe).into_data());
    std::panic::set_hook(previous_hook);
    let panic = match outcome {
        Ok(_) => return Ok(device),
        Err(panic) => panic,
    };
    let cause = first_panic.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    let cause = cause.or_else(|| panic_message(panic.as_ref()).map(str::to_string)).unwrap_or_default();
    Err(BackendError::NoDevice { device: "CUDA device", cause: explain_cuda_failure(&cause) })
}

/// A CUDA start-up failure in words: the missing library and what provides it, or the runtime's
/// own message.
#[cfg(any(feature = "cuda", test))]
fn explain_cuda_failure(cause: &str) -> String {
    if cause.contains("dynamically load the \"cuda\" shared library") {
        "the NVIDIA driver library (libcuda.so.1) is not installed: this machine has no NVIDIA \
         GPU or driver"
            .into()
    } else if cause.contains("dynamically load the \"nvrtc\" shared library") {
        "the CUDA runtime compiler library (libnvrtc.so, from the CUDA toolkit or the \
         nvidia-cuda-nvrtc wheel) was not found: add its folder to LD_LIBRARY_PATH"
            .into()
    } else if cause.is_empty() {
        "the CUDA runtime failed to start".into()
    } else {
        cause.lines().next().unwrap_or(cause).to_string()
    }
}

impl StageDef for FineTune {
    const KIND: &'static str = "fine-tune";
    // 2: convs as matrix products on ndarray (and flex at >= 128 channels) round differently.
    // 3: GELU's gradient is exact on ndarray and cuda (burn's is the tanh approximation's);
    //    flex computes GELU, the group norm and (with AVX-512) the matrix products with vox's
    //    kernels (`crate::kernels`) and runs every feature-encoder conv as a matrix product;
    //    all of which round differently.
    // 4: flex computes the positional conv and its gradients with vox's kernel, and the group
    //    norm's statistics in one pass; ndarray now runs all of vox's CPU kernels as flex does
    //    (GELU, the group norm, conv windows, the positional conv, large products); all of which
    //    round differently.
    // 5: label sets: a loaded head keeps its classes (reordered to the data's label set), and
    //    the saved `id2label` names the label set's classes.
    // 6: clips are scored in order of length (`eval_batch_size` per batch): a group-norm model's
    //    first conv sees other padding.
    // 7: the clipping's global norm sums squares in f64 (was the backend's f32 sum), the
    //    layer norms' gradients are vox's (f64 statistics; burn's composed backward was off by
    //    up to 2.5e-5) and the biases' gradients sum rows in fixed blocks: trained weights
    //    round differently.
    // 8: attention is one kernel on the CPU backends (training and inference), and the
    //    softmax sums in 16 lanes: probabilities and trained weights round differently.
    // 9: the positional conv (and its input gradient) is one product per group on CPUs with
    //    AVX-512: its sums run in another order.
    // 10: the positional conv's weight norm is one kernel on the CPU backends (norms and the
    //    gradients' sums in f64), and the head's projector runs through vox's product: trained
    //    weights and probabilities round differently.
    // 11: products from 32 deep and wide (was 128) through vox's sgemm on flex: a small
    //    model's linears and convs round differently.
    // 12: the model folder also holds `preprocessor_config.json` (how its input is prepared),
    //    and a loaded checkpoint's own file decides the normalization.
    const VERSION: u32 = 12;
    // The audio set, then optionally a model folder (the hub download `model` implies).
    const INPUTS: InputSpec =
        InputSpec::one(&[ArtifactKind::Audio]).then_optional(&[ArtifactKind::Files]);
    const OUTPUT: ArtifactKind = ArtifactKind::Predictions;
    const APPLIES: Applies = Applies::Yes;
    const BACKENDS: &'static [&'static str] = BACKEND_NAMES;
    const PATH_PARAMS: &'static [&'static str] = &["model_path"];
    // burn's random generator is process-global: two trainings at once would interleave draws.
    const EXCLUSIVE: bool = true;

    fn backend_available(backend: &str) -> Result<(), BackendError> {
        match backend {
            "ndarray" => Ok(()),
            "flex" if cfg!(feature = "flex") => Ok(()),
            "flex" => Err(BackendError::NotBuilt {
                what: "burn's flex backend (the `flex` feature of vox-wav2vec2)",
                remedy: None,
            }),
            #[cfg(feature = "cuda")]
            "cuda" => cuda_device().map(|_| ()),
            #[cfg(not(feature = "cuda"))]
            "cuda" => Err(BackendError::NotBuilt {
                what: "CUDA",
                remedy: Some(
                    "rebuild it with `cargo build --release --features cuda` (the machine that runs it \
                     needs the NVIDIA driver and NVRTC), or choose `flex` (CPU)",
                ),
            }),
            other => Err(BackendError::Unknown(other.to_string())),
        }
    }

    fn backend_built(backend: &str) -> Result<(), BackendError> {
        match backend {
            "cuda" if cfg!(feature = "cuda") => Ok(()),
            other => Self::backend_available(other),
        }
    }

    /// `precision` on a CPU backend without its dtype (ndarray has no bf16), asked of the
    /// backend itself; cuda's device answers when the stage runs.
    fn check_backend(&self, backend: Option<&str>) -> Result<(), ParamError> {
        let backend = backend.unwrap_or(DEFAULT_BACKEND);
        let checked = match backend {
            "ndarray" => self.precision_on::<burn::backend::NdArray>(backend, &Default::default()),
            #[cfg(feature = "flex")]
            "flex" => self.precision_on::<burn::backend::Flex>(backend, &Default::default()),
            _ => Ok(self.precision),
        };
        checked.map(|_| ()).map_err(|error| ParamError::new("precision", error.to_string()))
    }

    fn implied_stages(&self) -> Vec<ImpliedStage> {
        // A local copy (`model_path`) replaces the hub model: nothing to fetch.
        if self.model == SCRATCH || self.model_path.is_some() {
            return Vec::new();
        }
        let mut params = toml::Table::new();
        params.insert("hub".into(), self.model.clone().into());
        vec![ImpliedStage { suffix: "model", kind: "download", params, because_of: "model", takes_inputs: false }]
    }

    fn validate(&self) -> Result<(), ParamError> {
        if self.model_path.is_none() && self.model == SCRATCH {
            self.validate_scratch()?;
        } else {
            self.refuse_scratch_sizes()?;
        }
        // A local checkpoint is read now (its config, its weights' keys, its head and labels,
        // as the run reads them first), so that a folder that cannot load is an error at
        // `model_path` before anything runs. One that does not exist is the plan's error.
        if let Some(dir) = self.model_path.as_deref().filter(|dir| dir.exists()) {
            let info = crate::inspect::inspect(dir).map_err(|e| ParamError::new("model_path", e.to_string()))?;
            if let (Some(head), Some(layout), false) = (self.head, info.head, self.new_head)
                && head.layout() != layout
            {
                let mismatch = FineTuneError::HeadMismatch { param: head.name(), checkpoint: head_name(layout) };
                return Err(ParamError::new("head", mismatch.to_string()));
            }
        }
        let positive = [
            ("batch_size", self.batch_size),
            ("eval_batch_size", self.eval_batch_size()),
            ("grad_accum", self.grad_accum),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(ParamError::new(
                    name,
                    format!("`{name}` must be at least 1"),
                ));
            }
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(ParamError::new(
                "lr",
                format!("`lr` must be positive, got {}", self.lr),
            ));
        }
        if !(0.0..=1.0).contains(&self.warmup_ratio) {
            return Err(ParamError::new(
                "warmup_ratio",
                format!(
                    "`warmup_ratio` must be in [0, 1], got {}",
                    self.warmup_ratio
                ),
            ));
        }
        let non_negative = [
            ("weight_decay", self.weight_decay),
            ("max_grad_norm", self.max_grad_norm),
        ];
        for (name, value) in non_negative {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ParamError::new(
                    name,
                    format!("`{name}` must be at least 0, got {value}"),
                ));
            }
        }
        if !(self.adam_eps.is_finite() && self.adam_eps > 0.0) {
            return Err(ParamError::new(
                "adam_eps",
                format!("`adam_eps` must be positive, got {}", self.adam_eps),
            ));
        }
        if self.unfreeze_after.is_some() && self.freeze == Freeze::None {
            return Err(ParamError::new(
                "unfreeze_after",
                "`unfreeze_after` needs `freeze` = \"feature-encoder\" or \"all-but-head\"",
            ));
        }
        if let Some(per_epoch) = self.unfreeze_layers_per_epoch {
            if per_epoch == 0 {
                return Err(ParamError::new(
                    "unfreeze_layers_per_epoch",
                    "`unfreeze_layers_per_epoch` must be at least 1 layer",
                ));
            }
            if self.freeze != Freeze::AllButHead {
                return Err(ParamError::new(
                    "unfreeze_layers_per_epoch",
                    "`unfreeze_layers_per_epoch` unfreezes a frozen body from the top down: it \
                     needs `freeze` = \"all-but-head\"",
                ));
            }
        }
        if let Some([lo, hi]) = self.noise_snr_db
            && !(lo.is_finite() && hi.is_finite() && lo <= hi)
        {
            return Err(ParamError::new(
                "noise_snr_db",
                format!(
                    "`noise_snr_db` must be a finite range [lo, hi] with lo <= hi, got [{lo}, {hi}]"
                ),
            ));
        }
        if self.early_stopping_patience == Some(0) {
            return Err(ParamError::new(
                "early_stopping_patience",
                "`early_stopping_patience` must be at least 1 epoch",
            ));
        }
        if self.targets.is_empty() && self.loss.is_some() {
            return Err(ParamError::new(
                "loss",
                "`loss` is the loss of a fine-tune that estimates dimensions: it needs `targets` \
                 (a classifier trains with cross-entropy)",
            ));
        }
        Ok(())
    }

    /// The audio set's facts (the model folder input has none); on unlabeled data a loaded
    /// head's classes are the checkpoint's, known only once it is read.
    fn facts(&self, inputs: &[PlannedInput]) -> Result<Facts, ParamError> {
        // A model folder input is a loaded model too.
        if inputs.len() > 1 {
            self.refuse_scratch_sizes()?;
        }
        let mut facts = Facts::combined(&inputs[..inputs.len().min(1)]);
        if facts.classes.as_ref().is_some_and(|c| c.is_empty()) {
            facts.classes = None;
        }
        Ok(facts)
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        self.run_until(ctx, None)
    }

    /// Scores new clips with the run's fine-tuned model (its output folder is a model folder),
    /// on the backend of `ctx`, in inference mode.
    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError> {
        vox_api::pool::install(ctx.run.threads, || match ctx.run.backend.unwrap_or(DEFAULT_BACKEND) {
            #[cfg(feature = "flex")]
            "flex" => fit::apply::<burn::backend::Flex>(self, ctx, Default::default()),
            "ndarray" => fit::apply::<burn::backend::NdArray>(self, ctx, Default::default()),
            #[cfg(feature = "cuda")]
            "cuda" => fit::apply::<burn::backend::Cuda>(self, ctx, cuda_device()?),
            other => Err(FineTuneError::UnknownBackend(other.to_string()).into()),
        })??;
        Ok(Applied::Wrote)
    }
}

impl FineTune {
    /// The `precision` param, checked against what backend `B` (the stage's `backend`) computes
    /// in on `device`: at plan time for the CPU backends, when the stage runs for every one.
    pub(crate) fn precision_on<B: burn::tensor::backend::Backend>(
        &self,
        backend: &str,
        device: &B::Device,
    ) -> Result<Precision, FineTuneError> {
        match self.precision.supported::<B>(device) {
            true => Ok(self.precision),
            false => Err(FineTuneError::UnsupportedPrecision {
                precision: self.precision.name(),
                backend: backend.to_string(),
            }),
        }
    }

    /// [`Self::run_backend`] on the stage's threads (`vox_api::pool`: the run's shared pool, or
    /// `ctx.threads` of its own; the CPU backends parallelize with rayon), stopping after epoch
    /// `stop_after` when given (tests only).
    fn run_until(&self, ctx: &StageContext, stop_after: Option<u32>) -> Result<(), StageError> {
        vox_api::pool::install(ctx.threads, || self.run_backend(ctx, stop_after))?
    }
}
