//! The convolutional feature encoder: raw 16 kHz samples to 20 ms frames.
//!
//! Reference: `Wav2Vec2FeatureEncoder` and its `Wav2Vec2{Group,Layer,No}NormConvLayer`s in
//! transformers' `modeling_wav2vec2.py`. Layer `i` is `conv_layers.{i}`: an unpadded conv
//! (`conv_dim[i]` channels, `conv_kernel[i]`, `conv_stride[i]`, bias if `conv_bias`), then
//! - `feat_extract_norm = "group"`: on layer 0 only, a group norm with one group per channel
//!   (normalizes each channel over time; HF key `layer_norm`, ours `group_norm`);
//! - `feat_extract_norm = "layer"`: on every layer, a layer norm over channels (`layer_norm`);
//!
//! and the activation. Both norms use PyTorch's default epsilon 1e-5, as HF does.

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, LayerNorm, LayerNormConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::activate;
use crate::config::{Activation, FeatExtractNorm, Wav2Vec2Config};

/// PyTorch's default epsilon of `nn.LayerNorm` and `nn.GroupNorm`.
const TORCH_NORM_EPS: f64 = 1e-5;

/// One conv block of the feature encoder.
#[derive(Module, Debug)]
pub struct FeatureConvLayer<B: Backend> {
    /// The strided conv, weight `[out, in, kernel]`.
    pub conv: Conv1d<B>,
    /// Layer norm over channels (`feat_extract_norm = "layer"`).
    pub layer_norm: Option<LayerNorm<B>>,
    /// Per-channel group norm over time (`feat_extract_norm = "group"`, layer 0 only).
    pub group_norm: Option<GroupNorm<B>>,
    /// The activation after the norm.
    pub activation: Activation,
}

impl<B: Backend> FeatureConvLayer<B> {
    /// `[batch, in, time]` -> `[batch, out, (time - kernel) / stride + 1]`.
    pub fn forward(&self, input: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = self.conv.forward(input);
        let x = match (&self.layer_norm, &self.group_norm) {
            (Some(norm), _) => norm.forward(x.swap_dims(1, 2)).swap_dims(1, 2),
            (None, Some(norm)) => norm.forward(x),
            (None, None) => x,
        };
        activate(self.activation, x)
    }
}

/// The stack of conv blocks (HF `feature_extractor`).
#[derive(Module, Debug)]
pub struct FeatureEncoder<B: Backend> {
    /// The conv blocks, first to last.
    pub conv_layers: Vec<FeatureConvLayer<B>>,
}

impl<B: Backend> FeatureEncoder<B> {
    /// A randomly initialized encoder for `config`.
    pub fn new(config: &Wav2Vec2Config, device: &B::Device) -> Self {
        let mut channels_in = 1;
        let conv_layers = (0..config.conv_dim.len())
            .map(|i| {
                let channels_out = config.conv_dim[i];
                let conv = Conv1dConfig::new(channels_in, channels_out, config.conv_kernel[i])
                    .with_stride(config.conv_stride[i])
                    .with_bias(config.conv_bias)
                    .init(device);
                channels_in = channels_out;
                let layer_norm = (config.feat_extract_norm == FeatExtractNorm::Layer).then(|| {
                    LayerNormConfig::new(channels_out)
                        .with_epsilon(TORCH_NORM_EPS)
                        .init(device)
                });
                let group_norm = (config.feat_extract_norm == FeatExtractNorm::Group && i == 0)
                    .then(|| {
                        GroupNormConfig::new(channels_out, channels_out)
                            .with_epsilon(TORCH_NORM_EPS)
                            .init(device)
                    });
                FeatureConvLayer {
                    conv,
                    layer_norm,
                    group_norm,
                    activation: config.feat_extract_activation,
                }
            })
            .collect();
        Self { conv_layers }
    }

    /// `[batch, samples]` -> `[batch, conv_dim[-1], frames]`, frames as in
    /// [`Wav2Vec2Config::frame_count`].
    pub fn forward(&self, samples: Tensor<B, 2>) -> Tensor<B, 3> {
        self.conv_layers
            .iter()
            .fold(samples.unsqueeze_dim(1), |x, layer| layer.forward(x))
    }
}
