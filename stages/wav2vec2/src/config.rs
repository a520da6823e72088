//! The model configuration, read from a Hugging Face `config.json`.
//!
//! Field names and defaults mirror `transformers.Wav2Vec2Config` so that an HF `config.json` loads
//! unchanged (unknown HF fields such as `vocab_size` or `mask_time_prob` are ignored). Two fields
//! are ours: [`Wav2Vec2Config::classifier_head`] picks the classification head, and
//! [`Wav2Vec2Config::final_dropout`] is shared by HF's CTC head and the dense+tanh head.
//!
//! Three model families load from the same configuration (HF `model_type`): wav2vec2, HuBERT
//! (wav2vec2's body under the key prefix `hubert.`, its feature-projection layer norm optional:
//! `feat_proj_layer_norm`) and WavLM (prefix `wavlm.`, plus a gated relative position bias in
//! every attention layer: `num_buckets`, `max_bucket_distance`); see [`ModelType`].
//!
//! The two architectures of the checkpoints in use:
//! - base (`feat_extract_norm = "group"`, `do_stable_layer_norm = false`): group norm after the
//!   first conv only, post-LN transformer layers, a layer norm before the first layer;
//! - large / XLSR (`"layer"`, `true`): a layer norm after every conv, pre-LN ("stable layer norm")
//!   transformer layers, a layer norm after the last layer.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ConfigProblem, Wav2Vec2Error};

/// How the feature encoder normalizes its conv outputs (HF `feat_extract_norm`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatExtractNorm {
    /// Group norm (one group per channel) after the first conv only (base models).
    Group,
    /// Layer norm over channels after every conv (large and XLSR models).
    Layer,
}

/// An activation function, by its HF name (`hidden_act`, `feat_extract_activation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// Exact GELU, `x * Φ(x)` with the error function (HF `gelu`).
    Gelu,
    /// GELU with the tanh approximation (HF `gelu_new`, `gelu_pytorch_tanh`).
    #[serde(alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluNew,
    /// `max(0, x)`.
    Relu,
    /// `x * sigmoid(x)` (HF `silu`, `swish`).
    #[serde(alias = "swish")]
    Silu,
    /// Hyperbolic tangent.
    Tanh,
}

/// The model family (HF `model_type`). All three share the feature encoder, the positional conv
/// and the transformer layers; they differ where [`Wav2Vec2Config`]'s family fields say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelType {
    /// `Wav2Vec2Model` (also XLSR, and what a config without `model_type` means).
    #[default]
    Wav2vec2,
    /// `HubertModel`: wav2vec2's body; `feat_proj_layer_norm` may drop the projection's norm.
    Hubert,
    /// `WavLMModel`: wav2vec2's body with a gated relative position bias in attention.
    Wavlm,
}

impl ModelType {
    /// The HF key prefix of the body in a `*ForSequenceClassification` checkpoint.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Wav2vec2 => "wav2vec2",
            Self::Hubert => "hubert",
            Self::Wavlm => "wavlm",
        }
    }
}

/// Which classification head sits on the mean-pooled encoder output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClassifierHead {
    /// HF `Wav2Vec2ForSequenceClassification`: `projector` (hidden -> `classifier_proj_size`)
    /// on every frame, mean over valid frames, then `classifier` (-> `num_labels`).
    /// Keys: `projector.{weight,bias}`, `classifier.{weight,bias}`.
    #[default]
    Projector,
    /// The SER notebooks' `Wav2Vec2ClassificationHead`: mean over valid frames, dropout,
    /// `dense` (hidden -> hidden), tanh, dropout, `out_proj` (-> `num_labels`), dropout
    /// probability `final_dropout`. Keys: `classifier.dense.*`, `classifier.out_proj.*`.
    DenseTanh,
}

/// The wav2vec2 configuration (HF `config.json`). Comments give the HF meaning.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct Wav2Vec2Config {
    /// The model family (`model_type`); always written, so that transformers' `AutoModel` and
    /// vox read a saved model back as the same family.
    #[serde(default)]
    pub model_type: ModelType,
    /// Output channels of each feature-encoder conv (`conv_dim`).
    #[serde(default = "default_conv_dim")]
    pub conv_dim: Vec<usize>,
    /// Kernel size of each feature-encoder conv, in samples or frames (`conv_kernel`).
    #[serde(default = "default_conv_kernel")]
    pub conv_kernel: Vec<usize>,
    /// Stride of each feature-encoder conv (`conv_stride`).
    #[serde(default = "default_conv_stride")]
    pub conv_stride: Vec<usize>,
    /// Whether the feature-encoder convs have a bias (`conv_bias`).
    #[serde(default)]
    pub conv_bias: bool,
    /// Normalization in the feature encoder (`feat_extract_norm`).
    #[serde(default = "default_feat_extract_norm")]
    pub feat_extract_norm: FeatExtractNorm,
    /// Activation of the feature encoder and of the positional conv (`feat_extract_activation`).
    #[serde(default = "default_activation")]
    pub feat_extract_activation: Activation,
    /// Pre-LN transformer layers and a final layer norm (`do_stable_layer_norm`).
    #[serde(default)]
    pub do_stable_layer_norm: bool,
    /// HuBERT: whether the feature projection starts with a layer norm (`feat_proj_layer_norm`,
    /// HF's default `true`; `facebook/hubert-base-ls960` has `false`). wav2vec2 and WavLM always
    /// have it; see [`Wav2Vec2Config::has_feat_proj_layer_norm`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feat_proj_layer_norm: Option<bool>,
    /// HuBERT's batch norm in place of the positional conv's weight norm
    /// (`conv_pos_batch_norm`); only `false` is supported.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub conv_pos_batch_norm: bool,
    /// WavLM: relative-position buckets (`num_buckets`, HF's default 320; half for each
    /// direction, the first quarter exact distances, the rest log-spaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_buckets: Option<usize>,
    /// WavLM: the distance at which the log-spaced buckets end (`max_bucket_distance`, 800).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_bucket_distance: Option<usize>,
    /// Transformer width (`hidden_size`).
    #[serde(default = "default_hidden_size")]
    pub hidden_size: usize,
    /// Transformer layers (`num_hidden_layers`).
    #[serde(default = "default_num_hidden_layers")]
    pub num_hidden_layers: usize,
    /// Attention heads per layer (`num_attention_heads`).
    #[serde(default = "default_num_attention_heads")]
    pub num_attention_heads: usize,
    /// Feed-forward width (`intermediate_size`).
    #[serde(default = "default_intermediate_size")]
    pub intermediate_size: usize,
    /// Feed-forward activation (`hidden_act`).
    #[serde(default = "default_activation")]
    pub hidden_act: Activation,
    /// Kernel of the positional conv (`num_conv_pos_embeddings`).
    #[serde(default = "default_num_conv_pos_embeddings")]
    pub num_conv_pos_embeddings: usize,
    /// Groups of the positional conv (`num_conv_pos_embedding_groups`).
    #[serde(default = "default_num_conv_pos_embedding_groups")]
    pub num_conv_pos_embedding_groups: usize,
    /// Epsilon of the projection and transformer layer norms (`layer_norm_eps`); the
    /// feature-encoder norms use PyTorch's default 1e-5 as in HF.
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Dropout after attention, feed-forward and the positional embedding (`hidden_dropout`).
    #[serde(default = "default_dropout")]
    pub hidden_dropout: f64,
    /// Dropout on attention probabilities (`attention_dropout`).
    #[serde(default = "default_dropout")]
    pub attention_dropout: f64,
    /// Dropout after the feed-forward activation (`activation_dropout`).
    #[serde(default = "default_dropout")]
    pub activation_dropout: f64,
    /// Dropout after the feature projection (`feat_proj_dropout`).
    #[serde(default)]
    pub feat_proj_dropout: f64,
    /// Dropout in the dense+tanh head (`final_dropout`).
    #[serde(default = "default_dropout")]
    pub final_dropout: f64,
    /// Whether training applies SpecAugment at all (`apply_spec_augment`).
    #[serde(default = "default_true")]
    pub apply_spec_augment: bool,
    /// SpecAugment: share of frames that start a masked span in training (`mask_time_prob`).
    /// A positive value (or `mask_feature_prob`) gives the model a `masked_spec_embed`.
    #[serde(default = "default_mask_time_prob")]
    pub mask_time_prob: f64,
    /// SpecAugment: frames per masked span (`mask_time_length`).
    #[serde(default = "default_mask_time_length")]
    pub mask_time_length: usize,
    /// SpecAugment: fewest masked spans per clip (`mask_time_min_masks`).
    #[serde(default = "default_mask_time_min_masks")]
    pub mask_time_min_masks: usize,
    /// SpecAugment over feature channels (`mask_feature_prob`); only read to know whether the
    /// checkpoint has `masked_spec_embed`: channel masking is not applied.
    #[serde(default)]
    pub mask_feature_prob: f64,
    /// Probability of skipping each transformer layer in training (`layerdrop`).
    #[serde(default = "default_dropout")]
    pub layerdrop: f64,
    /// Width of the HF head's projector (`classifier_proj_size`).
    #[serde(default = "default_classifier_proj_size")]
    pub classifier_proj_size: usize,
    /// Number of classes; HF writes `id2label` instead, see [`Wav2Vec2Config::num_labels`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_labels: Option<usize>,
    /// Class names by index, as HF writes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id2label: Option<BTreeMap<String, String>>,
    /// HF's `problem_type`: what the head's outputs are. `single_label_classification` (or
    /// unset) is what vox's heads are: class scores under a softmax. `regression` heads give
    /// values on a scale (audEERING's arousal, dominance, valence), `multi_label_classification`
    /// heads a sigmoid per class; `fine-tune` refuses to read either as classes, and with
    /// `targets` reads a regression head's outputs as the dimensions `id2label` names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem_type: Option<String>,
    /// HF's weighted sum of every hidden state (a learned softmax over them, `layer_weights`)
    /// instead of the encoder's output, before the head (the SUPERB checkpoints').
    #[serde(default)]
    pub use_weighted_layer_sum: bool,
    /// HF's adapter after the encoder; only `false` is supported.
    #[serde(default)]
    pub add_adapter: bool,
    /// The classification head (ours, not HF's).
    #[serde(default)]
    pub classifier_head: ClassifierHead,
}

fn default_conv_dim() -> Vec<usize> {
    vec![512; 7]
}
fn default_conv_kernel() -> Vec<usize> {
    vec![10, 3, 3, 3, 3, 2, 2]
}
fn default_conv_stride() -> Vec<usize> {
    vec![5, 2, 2, 2, 2, 2, 2]
}
fn default_feat_extract_norm() -> FeatExtractNorm {
    FeatExtractNorm::Group
}
fn default_activation() -> Activation {
    Activation::Gelu
}
fn default_hidden_size() -> usize {
    768
}
fn default_num_hidden_layers() -> usize {
    12
}
fn default_num_attention_heads() -> usize {
    12
}
fn default_intermediate_size() -> usize {
    3072
}
fn default_num_conv_pos_embeddings() -> usize {
    128
}
fn default_num_conv_pos_embedding_groups() -> usize {
    16
}
fn default_layer_norm_eps() -> f64 {
    1e-5
}
fn default_dropout() -> f64 {
    0.1
}
fn default_true() -> bool {
    true
}
fn default_mask_time_prob() -> f64 {
    0.05
}
fn default_mask_time_length() -> usize {
    10
}
fn default_mask_time_min_masks() -> usize {
    2
}
fn default_classifier_proj_size() -> usize {
    256
}

/// HF's default label count when a config names none.
const DEFAULT_NUM_LABELS: usize = 2;

impl Default for Wav2Vec2Config {
    /// The `facebook/wav2vec2-base` architecture with HF's defaults.
    fn default() -> Self {
        // Every field has a serde default, so an empty object is the default config.
        serde_json::from_str("{}").unwrap_or_else(|_| unreachable!("all fields have defaults"))
    }
}

/// The `model_type` of a Whisper `config.json` (its encoder is read by [`crate::whisper`]).
pub const WHISPER: &str = "whisper";

/// Only the family is read first, to choose the reader.
#[derive(Deserialize)]
struct Family {
    #[serde(default)]
    model_type: Option<String>,
}

/// The `model_type` of the `config.json` at `path` (`None` where it has none).
pub fn model_type(path: &Path) -> Result<Option<String>, Wav2Vec2Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Wav2Vec2Error::Io { path: path.to_path_buf(), source })?;
    model_type_in(&text, path)
}

/// The `model_type` of `text`, the `config.json` at `path`.
fn model_type_in(text: &str, path: &Path) -> Result<Option<String>, Wav2Vec2Error> {
    let family: Family =
        serde_json::from_str(text).map_err(|source| Wav2Vec2Error::Config { path: path.to_path_buf(), source })?;
    Ok(family.model_type)
}

impl Wav2Vec2Config {
    /// Reads and checks a `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, Wav2Vec2Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Wav2Vec2Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        // A Whisper folder is a feature model only: say so rather than serde's `unknown variant`.
        if model_type_in(&text, path)?.as_deref() == Some(WHISPER) {
            return Err(Wav2Vec2Error::InvalidConfig(ConfigProblem::WhisperFeaturesOnly));
        }
        let config: Self = serde_json::from_str(&text).map_err(|source| Wav2Vec2Error::Config {
            path: path.to_path_buf(),
            source,
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the combinations that serde cannot.
    pub fn validate(&self) -> Result<(), Wav2Vec2Error> {
        let invalid = |problem: ConfigProblem| Err(Wav2Vec2Error::InvalidConfig(problem));
        if self.conv_dim.is_empty() {
            return invalid(ConfigProblem::NoConvLayers);
        }
        if self.conv_kernel.len() != self.conv_dim.len()
            || self.conv_stride.len() != self.conv_dim.len()
        {
            return invalid(ConfigProblem::ConvLists {
                dims: self.conv_dim.len(),
                kernels: self.conv_kernel.len(),
                strides: self.conv_stride.len(),
            });
        }
        for (field, parts) in [
            ("num_attention_heads", self.num_attention_heads),
            ("num_conv_pos_embedding_groups", self.num_conv_pos_embedding_groups),
        ] {
            if parts == 0 || !self.hidden_size.is_multiple_of(parts) {
                return invalid(ConfigProblem::Indivisible { hidden: self.hidden_size, field, parts });
            }
        }
        for (field, set) in [
            ("add_adapter", self.add_adapter),
            ("conv_pos_batch_norm", self.conv_pos_batch_norm),
        ] {
            if set {
                return invalid(ConfigProblem::Unsupported(field));
            }
        }
        if self.model_type == ModelType::Wavlm && self.num_buckets() < 4 {
            return invalid(ConfigProblem::TooFewBuckets(self.num_buckets()));
        }
        if self.model_type == ModelType::Wavlm && self.max_bucket_distance() <= self.num_buckets() / 4 {
            return invalid(ConfigProblem::BucketDistance {
                distance: self.max_bucket_distance(),
                exact: self.num_buckets() / 4,
            });
        }
        if self.num_labels() == 0 {
            return invalid(ConfigProblem::NoLabels);
        }
        Ok(())
    }

    /// Whether the feature projection starts with a layer norm (only HuBERT may lack it).
    pub fn has_feat_proj_layer_norm(&self) -> bool {
        self.model_type != ModelType::Hubert || self.feat_proj_layer_norm.unwrap_or(true)
    }

    /// WavLM's relative-position buckets (HF default 320).
    pub fn num_buckets(&self) -> usize {
        self.num_buckets.unwrap_or(320)
    }

    /// WavLM's largest bucketed distance (HF default 800).
    pub fn max_bucket_distance(&self) -> usize {
        self.max_bucket_distance.unwrap_or(800)
    }

    /// Whether the model has HF's `masked_spec_embed` (the vector that replaces masked frames).
    pub fn has_masked_spec_embed(&self) -> bool {
        self.mask_time_prob > 0.0 || self.mask_feature_prob > 0.0
    }

    /// The number of classes: `id2label`'s size, else `num_labels`, else HF's default 2.
    pub fn num_labels(&self) -> usize {
        match (&self.id2label, self.num_labels) {
            (Some(labels), _) if !labels.is_empty() => labels.len(),
            (_, Some(n)) => n,
            _ => DEFAULT_NUM_LABELS,
        }
    }

    /// Sets the classes, by index: both `id2label` and `num_labels`, so that a checkpoint's own
    /// labels (HF writes `LABEL_0`, `LABEL_1` by default) cannot shadow them.
    pub fn set_labels<S: Into<String>>(&mut self, names: impl IntoIterator<Item = S>) {
        let labels: BTreeMap<String, String> = names
            .into_iter()
            .enumerate()
            .map(|(i, name)| (i.to_string(), name.into()))
            .collect();
        self.num_labels = Some(labels.len());
        self.id2label = Some(labels);
        // The outputs are classes now, whatever the checkpoint's head was.
        self.problem_type = None;
    }

    /// Frames the feature encoder makes of `samples` samples (HF
    /// `_get_feat_extract_output_lengths`: `floor((len - kernel) / stride) + 1` per conv), or
    /// `None` when the clip is shorter than the encoder's receptive field.
    pub fn frame_count(&self, samples: usize) -> Option<usize> {
        self.conv_kernel
            .iter()
            .zip(&self.conv_stride)
            .try_fold(samples, |len, (&k, &s)| {
                len.checked_sub(k).map(|rest| rest / s + 1)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_wav2vec2_base() {
        let config = Wav2Vec2Config::default();
        assert_eq!(config.conv_dim, vec![512; 7]);
        assert_eq!(config.hidden_size, 768);
        assert_eq!(config.feat_extract_norm, FeatExtractNorm::Group);
        assert_eq!(config.num_labels(), 2);
        assert_eq!(config.classifier_head, ClassifierHead::Projector);
    }

    #[test]
    fn frame_count_matches_hf_formula() {
        let config = Wav2Vec2Config::default();
        // 60000 samples at 16 kHz -> 187 frames of 20 ms (HF gives the same).
        assert_eq!(config.frame_count(60000), Some(187));
        assert_eq!(config.frame_count(16000), Some(49));
        // The receptive field is 400 samples: the shortest clip with one frame.
        assert_eq!(config.frame_count(400), Some(1));
        assert_eq!(config.frame_count(399), None);
    }

    #[test]
    fn hf_xlsr_config_parses() {
        let json = r#"{"architectures": ["Wav2Vec2ForCTC"], "conv_bias": true,
            "feat_extract_norm": "layer", "do_stable_layer_norm": true, "hidden_size": 1024,
            "num_hidden_layers": 24, "num_attention_heads": 16, "intermediate_size": 4096,
            "hidden_act": "gelu", "mask_time_prob": 0.05, "vocab_size": 33,
            "id2label": {"0": "neutral", "1": "calm", "2": "happy"}}"#;
        let config: Wav2Vec2Config = serde_json::from_str(json).unwrap();
        config.validate().unwrap();
        assert!(config.conv_bias && config.do_stable_layer_norm);
        assert_eq!(config.feat_extract_norm, FeatExtractNorm::Layer);
        assert_eq!(config.num_labels(), 3);
    }

    #[test]
    fn hubert_and_wavlm_configs_parse_with_their_family_fields() {
        let hubert: Wav2Vec2Config =
            serde_json::from_str(r#"{"model_type": "hubert", "feat_proj_layer_norm": false}"#).unwrap();
        assert_eq!(hubert.model_type, ModelType::Hubert);
        assert!(!hubert.has_feat_proj_layer_norm());
        let wavlm: Wav2Vec2Config = serde_json::from_str(r#"{"model_type": "wavlm", "num_buckets": 320}"#).unwrap();
        assert_eq!((wavlm.num_buckets(), wavlm.max_bucket_distance()), (320, 800));
        // wav2vec2 always has the projection norm, whatever a stray field says.
        let plain: Wav2Vec2Config = serde_json::from_str(r#"{"feat_proj_layer_norm": false}"#).unwrap();
        assert!(plain.has_feat_proj_layer_norm());
        // The family is written back, so a saved HuBERT stays one.
        let json = serde_json::to_value(&hubert).unwrap();
        assert_eq!(json["model_type"], "hubert");
        assert!(json.get("num_buckets").is_none());
        let batch_norm: Wav2Vec2Config =
            serde_json::from_str(r#"{"model_type": "hubert", "conv_pos_batch_norm": true}"#).unwrap();
        assert!(matches!(
            batch_norm.validate(),
            Err(Wav2Vec2Error::InvalidConfig(ConfigProblem::Unsupported("conv_pos_batch_norm")))
        ));
        let unknown = serde_json::from_str::<Wav2Vec2Config>(r#"{"model_type": "data2vec-audio"}"#);
        assert!(unknown.unwrap_err().to_string().contains("unknown variant `data2vec-audio`"));
    }

    #[test]
    fn set_labels_replaces_the_checkpoint_labels() {
        let mut config: Wav2Vec2Config =
            serde_json::from_str(r#"{"id2label": {"0": "LABEL_0", "1": "LABEL_1"}}"#).unwrap();
        config.set_labels(["neutral", "calm", "happy"]);
        assert_eq!(config.num_labels(), 3);
        assert_eq!(config.id2label.as_ref().unwrap()["2"], "happy");
    }

    #[test]
    fn mismatched_conv_lists_are_rejected() {
        let config = Wav2Vec2Config {
            conv_kernel: vec![10, 3],
            ..Wav2Vec2Config::default()
        };
        let message = config.validate().unwrap_err().to_string();
        assert!(message.contains("got 7, 2 and 7"), "{message}");
    }

    #[test]
    fn each_impossible_config_names_its_problem() {
        let problem = |json: &str| match serde_json::from_str::<Wav2Vec2Config>(json).unwrap().validate() {
            Err(Wav2Vec2Error::InvalidConfig(problem)) => problem,
            other => panic!("{json}: {other:?}"),
        };
        assert_eq!(problem(r#"{"conv_dim": [], "conv_kernel": [], "conv_stride": []}"#), ConfigProblem::NoConvLayers);
        assert_eq!(
            problem(r#"{"conv_dim": [512, 512], "conv_kernel": [10], "conv_stride": [5, 2]}"#),
            ConfigProblem::ConvLists { dims: 2, kernels: 1, strides: 2 }
        );
        let heads = problem(r#"{"hidden_size": 768, "num_attention_heads": 7}"#);
        assert_eq!(heads, ConfigProblem::Indivisible { hidden: 768, field: "num_attention_heads", parts: 7 });
        assert_eq!(heads.to_string(), "`hidden_size` 768 is not a multiple of `num_attention_heads` 7");
        assert_eq!(
            problem(r#"{"hidden_size": 768, "num_conv_pos_embedding_groups": 0}"#),
            ConfigProblem::Indivisible { hidden: 768, field: "num_conv_pos_embedding_groups", parts: 0 }
        );
        assert_eq!(problem(r#"{"add_adapter": true}"#), ConfigProblem::Unsupported("add_adapter"));
        assert_eq!(problem(r#"{"model_type": "wavlm", "num_buckets": 3}"#), ConfigProblem::TooFewBuckets(3));
        assert_eq!(
            problem(r#"{"model_type": "wavlm", "num_buckets": 320, "max_bucket_distance": 80}"#),
            ConfigProblem::BucketDistance { distance: 80, exact: 80 }
        );
    }
}
