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
//! The conv itself is [`kernels::grouped_conv1d`], channels last: vox's own kernel on the CPU
//! backends (see [`crate::kernels::grouped_conv`]), the backend's conv on cuda. (On ndarray it
//! used to run as batched matrix products over `kernel` shifted copies of the input, because
//! ndarray's grouped conv backward is single-threaded; that form took 0.06 s of a 0.10 s
//! small-config step, against 0.014 s for the whole step with the kernel.)
//!
//! `g` and `v` stay separate parameters (HF `weight_g`/`weight_v`, or
//! `parametrizations.weight.original0`/`original1` in newer PyTorch) so that fine-tuning
//! trains the same parameters as HF does; the weight is folded from them on each forward.

use burn::module::Initializer;
use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::activate;
use crate::config::{Activation, Wav2Vec2Config};
use crate::kernels::{self, Kernels};

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

impl<B: Kernels> WeightNormConv1d<B> {
    /// The effective kernel `g * v / ||v||`, `[channels, channels / groups, kernel]`.
    pub fn weight(&self) -> Tensor<B, 3> {
        kernels::weight_norm(self.weight_v.val(), self.weight_g.val())
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

impl<B: Kernels> PositionalConvEmbedding<B> {
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
        let x = kernels::grouped_conv1d(hidden, weight, self.conv.groups, [left, right]);
        activate(self.activation, x + self.conv.bias.val().unsqueeze_dims::<3>(&[0, 1]))
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use burn::tensor::Distribution;

    use super::*;

    /// The positional conv weight's gradient and the first feature conv's, as bits, from a
    /// forward + backward of `model` on `samples`.
    fn gradient_bits<B: crate::kernels::AutodiffKernels>(
        model: &crate::Wav2Vec2ForSequenceClassification<B>,
        samples: &Tensor<B, 2>,
    ) -> Vec<u32> {
        let grads = model.forward(samples.clone(), None).logits.sum().backward();
        let positional = model.wav2vec2.encoder.pos_conv_embed.conv.weight_v.val();
        let first = model.wav2vec2.feature_extractor.conv_layers[0]
            .conv
            .weight
            .val();
        [
            positional.grad(&grads).unwrap(),
            first.grad(&grads).unwrap(),
        ]
        .into_iter()
        .flat_map(|grad| grad.into_data().to_vec::<f32>().unwrap())
        .map(f32::to_bits)
        .collect()
    }

    #[test]
    fn gradients_are_reproducible_on_ndarray() {
        let _rng = crate::burn_rng_lock();
        type B = burn::backend::Autodiff<NdArray>;
        let device = Default::default();
        let mut config = crate::Wav2Vec2Config {
            hidden_size: 16,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            intermediate_size: 32,
            conv_dim: vec![8, 8],
            conv_kernel: vec![10, 3],
            conv_stride: vec![5, 2],
            num_conv_pos_embeddings: 8,
            num_conv_pos_embedding_groups: 4,
            classifier_proj_size: 8,
            hidden_dropout: 0.0,
            attention_dropout: 0.0,
            activation_dropout: 0.0,
            feat_proj_dropout: 0.0,
            mask_time_prob: 0.0,
            ..Default::default()
        };
        config.set_labels(["a", "b"]);
        // Weights and input are drawn once (burn's generator is shared with concurrent tests);
        // the computation alone must repeat bit for bit on 2 threads.
        let model = crate::Wav2Vec2ForSequenceClassification::<B>::new(&config, &device);
        let samples = Tensor::<B, 2>::random([2, 4000], Distribution::Normal(0.0, 1.0), &device);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        let first = pool.install(|| gradient_bits(&model, &samples));
        assert!(first.iter().any(|&bits| bits != 0));
        for _ in 0..3 {
            assert!(pool.install(|| gradient_bits(&model, &samples)) == first);
        }
    }
}
