//! The wav2vec2 network: feature encoder, feature projection, transformer encoder, and the
//! sequence-classification head.
//!
//! Module and field names mirror the HF checkpoint keys (`feature_extractor.conv_layers.0.conv`,
//! `encoder.layers.3.attention.q_proj`, ...) so that loading is a near-identity mapping; see
//! [`crate::loader`] for the few renames.

mod augment;
mod encoder;
mod feature_encoder;
mod head;
mod mask;
mod positional;
mod precision;
pub mod relative;

pub use augment::Augmentation;
pub use encoder::{Attention, Encoder, EncoderLayer, FeedForward};
pub use feature_encoder::{FeatureConvLayer, FeatureEncoder};
pub use head::{ClassificationOutput, Classifier, Wav2Vec2ForSequenceClassification};
pub use mask::FrameMask;
pub use positional::{PositionalConvEmbedding, WeightNormConv1d};
pub use precision::Precision;

use burn::module::{Initializer, Module, Param};
use burn::nn::{Dropout, DropoutConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::Tensor;
use burn::tensor::activation::{gelu_approximate, relu, silu, tanh};
use burn::tensor::backend::Backend;

use crate::config::{Activation, Wav2Vec2Config};
use crate::kernels::{Kernels, gelu};

/// Applies `activation` element-wise.
pub(crate) fn activate<B: Kernels, const D: usize>(activation: Activation, x: Tensor<B, D>) -> Tensor<B, D> {
    match activation {
        Activation::Gelu => gelu(x),
        Activation::GeluNew => gelu_approximate(x),
        Activation::Relu => relu(x),
        Activation::Silu => silu(x),
        Activation::Tanh => tanh(x),
    }
}

/// `linear` on `[batch, time, features]` as one 2-D product over the `batch * time` rows, with
/// [`crate::kernels::matmul`] in `precision`. On 3-D input burn broadcasts the weight to each batch item: its
/// backward copies the transposed weight on flex (a reshape of a strided view) and computes
/// the weight's gradient per batch item before summing.
fn linear_rows<B: Kernels>(linear: &Linear<B>, x: Tensor<B, 3>, precision: Precision) -> Tensor<B, 3> {
    let [batch, time, features] = x.dims();
    let y = precision.matmul(x.reshape([batch * time, features]), linear.weight.val());
    let y = match &linear.bias {
        Some(bias) => crate::kernels::add_bias(y, bias.val()),
        None => y,
    };
    let [_, out] = y.dims();
    y.reshape([batch, time, out])
}

/// Layer norm and linear from the conv channels to the transformer width (HF
/// `feature_projection`; epsilon `layer_norm_eps`). HuBERT checkpoints may have no norm here
/// (`feat_proj_layer_norm = false`).
#[derive(Module, Debug)]
pub struct FeatureProjection<B: Backend> {
    /// Layer norm over the conv channels.
    pub layer_norm: Option<LayerNorm<B>>,
    /// `conv_dim[-1]` -> `hidden_size`.
    pub projection: Linear<B>,
    /// Dropout (`feat_proj_dropout`).
    pub dropout: Dropout,
    /// The norm's epsilon (`layer_norm_eps`).
    pub norm_epsilon: f64,
    /// The projection's dtype.
    pub precision: Precision,
}

impl<B: Kernels> FeatureProjection<B> {
    fn new(config: &Wav2Vec2Config, device: &B::Device) -> Self {
        let channels = config.conv_dim[config.conv_dim.len() - 1];
        Self {
            layer_norm: config.has_feat_proj_layer_norm().then(|| {
                LayerNormConfig::new(channels)
                    .with_epsilon(config.layer_norm_eps)
                    .init(device)
            }),
            projection: LinearConfig::new(channels, config.hidden_size).init(device),
            dropout: DropoutConfig::new(config.feat_proj_dropout).init(),
            norm_epsilon: config.layer_norm_eps,
            precision: Precision::F32,
        }
    }

    /// `[batch, frames, conv_dim[-1]]` -> `[batch, frames, hidden]`.
    pub fn forward(&self, features: Tensor<B, 3>) -> Tensor<B, 3> {
        let features = match &self.layer_norm {
            Some(norm) => crate::kernels::layer_norm(norm, self.norm_epsilon, features),
            None => features,
        };
        self.dropout.forward(linear_rows(&self.projection, features, self.precision))
    }
}

/// The wav2vec2 body (HF `Wav2Vec2Model`, keys under `wav2vec2.`), also HuBERT's and WavLM's
/// (their keys are renamed to `wav2vec2.` on loading, see [`crate::loader`]).
#[derive(Module, Debug)]
pub struct Wav2Vec2Model<B: Backend> {
    /// Conv feature encoder.
    pub feature_extractor: FeatureEncoder<B>,
    /// Projection to the transformer width.
    pub feature_projection: FeatureProjection<B>,
    /// Transformer encoder.
    pub encoder: Encoder<B>,
    /// Replaces SpecAugment-masked frames in training, `[hidden]`; present when the config
    /// masks (`mask_time_prob > 0` or `mask_feature_prob > 0`), as in HF.
    pub masked_spec_embed: Option<Param<Tensor<B, 1>>>,
}

impl<B: Kernels> Wav2Vec2Model<B> {
    /// A randomly initialized model for a validated `config`.
    pub fn new(config: &Wav2Vec2Config, device: &B::Device) -> Self {
        Self {
            feature_extractor: FeatureEncoder::new(config, device),
            feature_projection: FeatureProjection::new(config, device),
            encoder: Encoder::new(config, device),
            masked_spec_embed: config.has_masked_spec_embed().then(|| {
                Initializer::Uniform { min: 0.0, max: 1.0 }.init([config.hidden_size], device)
            }),
        }
    }

    /// The model with its feature encoder's and transformer's matrix products in `precision`
    /// (a new model's are f32).
    pub fn with_precision(mut self, precision: Precision) -> Self {
        for layer in &mut self.feature_extractor.conv_layers {
            layer.precision = precision;
        }
        self.feature_projection.precision = precision;
        for layer in &mut self.encoder.layers {
            layer.attention.precision = precision;
            layer.feed_forward.precision = precision;
        }
        self
    }

    /// `[batch, samples]` -> last hidden state `[batch, frames, hidden]`. `mask` (from
    /// [`FrameMask::new`]) marks each clip's valid frames; without it every frame is valid.
    /// Samples are expected normalized as HF's feature extractor does (zero mean, unit
    /// variance per clip) when the checkpoint was trained that way.
    pub fn forward(&self, samples: Tensor<B, 2>, mask: Option<&FrameMask<B>>) -> Tensor<B, 3> {
        self.forward_augmented(samples, mask, None)
    }

    /// Every hidden state of the encoder for `[batch, samples]` (see
    /// [`Encoder::hidden_states`]: `num_hidden_layers + 1` tensors `[batch, frames, hidden]`,
    /// as HF's `hidden_states` with `output_hidden_states=True`), in inference mode.
    pub fn hidden_states(&self, samples: Tensor<B, 2>, mask: Option<&FrameMask<B>>) -> Vec<Tensor<B, 3>> {
        let hidden = self.encoder_input(samples, None);
        self.encoder.hidden_states(hidden, mask.map(|mask| &mask.valid))
    }

    /// [`Wav2Vec2Model::forward`] with training-time SpecAugment and LayerDrop draws (see
    /// [`Augmentation`]); `None` is plain inference.
    pub fn forward_augmented(
        &self,
        samples: Tensor<B, 2>,
        mask: Option<&FrameMask<B>>,
        augmentation: Option<&Augmentation<B>>,
    ) -> Tensor<B, 3> {
        let hidden = self.encoder_input(samples, augmentation);
        let skip_layers = augmentation.map_or(&[][..], |a| &a.skip_layers[..]);
        self.encoder
            .forward(hidden, mask.map(|mask| &mask.valid), skip_layers)
    }

    /// The states a weighted-layer-sum head mixes ([`Encoder::layer_states`]), with
    /// training-time draws as in [`Self::forward_augmented`].
    pub fn layer_states_augmented(
        &self,
        samples: Tensor<B, 2>,
        mask: Option<&FrameMask<B>>,
        augmentation: Option<&Augmentation<B>>,
    ) -> Vec<Tensor<B, 3>> {
        let hidden = self.encoder_input(samples, augmentation);
        let skip_layers = augmentation.map_or(&[][..], |a| &a.skip_layers[..]);
        self.encoder
            .layer_states(hidden, mask.map(|mask| &mask.valid), skip_layers)
    }

    /// The feature encoder and projection, and SpecAugment's time mask where drawn: the
    /// encoder's input.
    fn encoder_input(&self, samples: Tensor<B, 2>, augmentation: Option<&Augmentation<B>>) -> Tensor<B, 3> {
        let features = self.feature_extractor.forward(samples);
        let hidden = self.feature_projection.forward(features);
        let time_mask = augmentation.and_then(|a| a.time_mask.as_ref());
        match (time_mask, &self.masked_spec_embed) {
            (Some(time_mask), Some(embed)) => {
                let masked = time_mask.clone().unsqueeze_dim::<3>(2);
                let embed = embed.val().unsqueeze_dims::<3>(&[0, 1]);
                hidden * (masked.clone().neg() + 1.0) + embed * masked
            }
            _ => hidden,
        }
    }
}
