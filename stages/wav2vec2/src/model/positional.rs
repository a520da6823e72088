//! The convolutional relative positional embedding.
//!
//! Reference: `Wav2Vec2PositionalConvEmbedding` in transformers. A grouped conv over time
//! (`hidden_size` channels, kernel `num_conv_pos_embeddings`, `num_conv_pos_embedding_groups`
//! groups, padding `kernel / 2` on both sides) whose weight is weight-normalized over dim 2:
//! `weight = g * v / ||v||`, the norm taken over the output and input channels separately for
//! each kernel tap, `g` of shape `[1, 1, kernel]`. For an even kernel HF drops the last output
//! frame (`Wav2Vec2SamePadLayer`); we pad one sample less on the right instead, which gives the
//! same frames. The activation is `feat_extract_activation`.
//!
//! `g` and `v` stay separate parameters (HF `weight_g`/`weight_v`, or
//! `parametrizations.weight.original0`/`original1` in newer PyTorch) so that fine-tuning
//! trains the same parameters as HF does; the weight is folded from them on each forward.

use burn::module::Initializer;
use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::module::conv1d;
use burn::tensor::ops::PaddedConvOptions;

use super::activate;
use crate::config::{Activation, Wav2Vec2Config};

/// A grouped 1D conv with a weight-normalized kernel.
#[derive(Module, Debug)]
pub struct WeightNormConv1d<B: Backend> {
    /// Magnitude per kernel tap, `[1, 1, kernel]`.
    pub weight_g: Param<Tensor<B, 3>>,
    /// Direction, `[channels, channels / groups, kernel]`.
    pub weight_v: Param<Tensor<B, 3>>,
    /// Bias, `[channels]`.
    pub bias: Param<Tensor<B, 1>>,
    /// Conv groups.
    pub groups: usize,
}

impl<B: Backend> WeightNormConv1d<B> {
    /// The effective kernel `g * v / ||v||`, `[channels, channels / groups, kernel]`.
    pub fn weight(&self) -> Tensor<B, 3> {
        let v = self.weight_v.val();
        let norm = v.clone().powi_scalar(2).sum_dims(&[0, 1]).sqrt();
        v * (self.weight_g.val() / norm)
    }
}

/// The positional embedding block (HF `pos_conv_embed`).
#[derive(Module, Debug)]
pub struct PositionalConvEmbedding<B: Backend> {
    /// The weight-normed conv.
    pub conv: WeightNormConv1d<B>,
    /// The activation after the conv.
    pub activation: Activation,
}

impl<B: Backend> PositionalConvEmbedding<B> {
    /// A randomly initialized embedding for `config`.
    pub fn new(config: &Wav2Vec2Config, device: &B::Device) -> Self {
        let channels = config.hidden_size;
        let groups = config.num_conv_pos_embedding_groups;
        let kernel = config.num_conv_pos_embeddings;
        let fan_in = channels / groups * kernel;
        let init = Initializer::Normal {
            mean: 0.0,
            std: (2.0 / fan_in as f64).sqrt(),
        };
        let weight_v = init.init([channels, channels / groups, kernel], device);
        // g = ||v||, so that the initial kernel is v itself (as `weight_norm` initializes it);
        // built from data so that it is a leaf of the autodiff graph.
        let norm = weight_v
            .val()
            .powi_scalar(2)
            .sum_dims(&[0, 1])
            .sqrt()
            .into_data();
        let conv = WeightNormConv1d {
            weight_g: Param::from_tensor(Tensor::from_data(norm, device)),
            weight_v,
            bias: Initializer::Zeros.init([channels], device),
            groups,
        };
        Self {
            conv,
            activation: config.feat_extract_activation,
        }
    }

    /// `[batch, frames, hidden]` -> `[batch, frames, hidden]`: the embedding to add.
    pub fn forward(&self, hidden: Tensor<B, 3>) -> Tensor<B, 3> {
        let weight = self.conv.weight();
        let kernel = weight.dims()[2];
        let left = kernel / 2;
        let right = if kernel.is_multiple_of(2) {
            left.saturating_sub(1)
        } else {
            left
        };
        let options = PaddedConvOptions::asymmetric([1], [left], [right], [1], self.conv.groups);
        let x = conv1d(
            hidden.swap_dims(1, 2),
            weight,
            Some(self.conv.bias.val()),
            options,
        );
        activate(self.activation, x).swap_dims(1, 2)
    }
}
