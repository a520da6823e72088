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
//! On ndarray (alone or under autodiff) the conv runs as batched matrix products (see
//! [`grouped_conv_as_matmul`]): ndarray's grouped conv backward is single-threaded, and was 5x
//! the rest of a small model's training step (kernel 128, 16 groups, 2 clips of 2 s, 2 cores:
//! 0.33 s per step instead of 0.11 s, busy CPUs). Other backends go through
//! [`kernels::grouped_conv1d`]: vox's own kernel on flex (see [`crate::kernels::grouped_conv`]),
//! the backend's conv elsewhere.
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
        let (groups, padding) = (self.conv.groups, [left, right]);
        let x = match B::name(&hidden.device()).contains("ndarray") {
            true => grouped_conv_as_matmul(hidden, weight, groups, padding),
            false => kernels::grouped_conv1d(hidden, weight, groups, padding),
        };
        activate(self.activation, x + self.conv.bias.val().unsqueeze_dims::<3>(&[0, 1]))
    }
}

/// A stride-1 grouped conv without bias as one batched matrix product per group:
/// `[batch, time, channels]` (channels last), weight `[channels, channels / groups, kernel]`,
/// `padding` zeros before and after -> `[batch, time + padding - kernel + 1, channels]`.
///
/// The input goes group-major, `[groups, batch, padded time, channels / groups]`; the `kernel`
/// shifted views of it, concatenated, are each frame's window `[groups, batch * frames, kernel *
/// channels / groups]`, multiplied by the weight as `[groups, kernel * channels / groups,
/// channels / groups]`. This holds `kernel` copies of the input (the price of turning the conv
/// and its backward pass into matrix products, which the CPU backends run multi-threaded).
fn grouped_conv_as_matmul<B: Backend>(
    x: Tensor<B, 3>,
    weight: Tensor<B, 3>,
    groups: usize,
    [left, right]: [usize; 2],
) -> Tensor<B, 3> {
    let [batch, time, channels] = x.dims();
    let [out, per_group, kernel] = weight.dims();
    let out_per_group = out / groups;
    let device = x.device();
    let padded = Tensor::cat(
        vec![
            Tensor::zeros([batch, left, channels], &device),
            x,
            Tensor::zeros([batch, right, channels], &device),
        ],
        1,
    );
    let padded_time = time + left + right;
    let frames = padded_time + 1 - kernel;
    let padded = padded
        .reshape([batch, padded_time, groups, per_group])
        .permute([2, 0, 1, 3]);
    let windows = Tensor::cat(
        (0..kernel)
            .map(|tap| padded.clone().narrow(2, tap, frames))
            .collect(),
        3,
    )
    .reshape([groups, batch * frames, kernel * per_group]);
    let weight = weight
        .reshape([groups, out_per_group, per_group, kernel])
        .permute([0, 3, 2, 1])
        .reshape([groups, kernel * per_group, out_per_group]);
    windows
        .matmul(weight)
        .reshape([groups, batch, frames, out_per_group])
        .permute([1, 2, 0, 3])
        .reshape([batch, frames, out])
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use burn::tensor::Distribution;
    use burn::tensor::module::conv1d;
    use burn::tensor::ops::PaddedConvOptions;

    use super::*;

    #[test]
    fn grouped_conv_as_matmul_equals_burns_conv1d() {
        let _rng = crate::burn_rng_lock();
        let device = Default::default();
        // (channels, groups, kernel, left, right): wav2vec2's even kernel padded one less on the
        // right, an odd kernel, no groups.
        for (channels, groups, kernel, left, right) in
            [(8, 4, 6, 3, 2), (6, 3, 5, 2, 2), (4, 1, 4, 2, 1)]
        {
            let weight = Tensor::<NdArray, 3>::random(
                [channels, channels / groups, kernel],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let x = Tensor::<NdArray, 3>::random(
                [2, 11, channels],
                Distribution::Normal(0.0, 1.0),
                &device,
            );
            let options = PaddedConvOptions::asymmetric([1], [left], [right], [1], groups);
            let expected =
                conv1d(x.clone().swap_dims(1, 2), weight.clone(), None, options).swap_dims(1, 2);
            let found = grouped_conv_as_matmul(x, weight, groups, [left, right]);
            assert_eq!(found.dims(), expected.dims());
            let diff = (found - expected).abs().max().into_scalar();
            assert!(
                diff < 1e-5,
                "{channels} channels, {groups} groups: differs by {diff}"
            );
        }
    }

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
    fn matrix_form_gradients_are_reproducible_on_ndarray() {
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
