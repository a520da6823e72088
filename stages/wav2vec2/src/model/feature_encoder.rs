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
//!
//! On the CPU backends each conv can run as one matrix product of the input's windows with
//! the weight, activations channels last (see [`conv_as_matmul`]): its backward pass is then
//! matrix products too, which burn's CPU backends run multi-threaded, where their own conv
//! backward goes through a transposed conv, single-threaded on ndarray. That made a step of
//! the small config (32 channels) on ndarray several times faster (with the positional conv as
//! matrix products too), and one of wav2vec2-base (512 channels) on flex faster on busy CPUs
//! and about even on idle ones. On flex at 32 channels burn's conv stayed faster until the
//! group norm and GELU of the channels-last path became vox's own kernels ([`crate::kernels`]);
//! since then the matrix form is faster there too. Hence the rule in
//! [`FeatureEncoder::matmul_budget`] (measured: BENCHMARKS-wav2vec2.md, section "Measurements
//! behind the code's choices"). Weights keep burn's `Conv1d` layout `[out, in, kernel]` either
//! way, so checkpoints load unchanged.

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{GroupNorm, GroupNormConfig, LayerNorm, LayerNormConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::ConvOptions;

use super::{Precision, activate};
use crate::config::{Activation, FeatExtractNorm, Wav2Vec2Config};
use crate::kernels::{self, Kernels};

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
    /// The conv's dtype (the norm and the activation stay f32).
    pub precision: Precision,
}

impl<B: Kernels> FeatureConvLayer<B> {
    /// `[batch, in, time]` -> `[batch, out, (time - kernel) / stride + 1]`, with the backend's
    /// conv.
    pub fn forward(&self, input: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = match self.precision {
            Precision::F32 => self.conv.forward(input),
            precision => {
                let conv = &self.conv;
                let narrow = |x: Tensor<B, 3>| precision.narrow(x);
                let options = ConvOptions::new([conv.stride], [0], [conv.dilation], conv.groups);
                let x = burn::tensor::module::conv1d(
                    narrow(input),
                    narrow(conv.weight.val()),
                    conv.bias.as_ref().map(|bias| precision.narrow(bias.val())),
                    options,
                );
                precision.widen(x)
            }
        };
        let x = match (&self.layer_norm, &self.group_norm) {
            (Some(norm), _) => norm.forward(x.swap_dims(1, 2)).swap_dims(1, 2),
            (None, Some(norm)) => norm.forward(x),
            (None, None) => x,
        };
        activate(self.activation, x)
    }

    /// [`Self::forward`] channels last, `[batch, time, in]` -> `[batch, frames, out]`, with the
    /// conv as a matrix product ([`conv_as_matmul`]).
    pub fn forward_as_matmul(&self, input: Tensor<B, 3>) -> Tensor<B, 3> {
        self.forward_with_matrix(input, weight_matrix(&self.conv))
    }

    /// [`Self::forward_as_matmul`] with the conv's weight already laid out as a matrix
    /// ([`weight_matrix`]), which a batch cut into pieces lays out once.
    fn forward_with_matrix(&self, input: Tensor<B, 3>, weight: Tensor<B, 2>) -> Tensor<B, 3> {
        let x = conv_as_matmul(&self.conv, input, weight, self.precision);
        let x = match (&self.layer_norm, &self.group_norm) {
            (Some(norm), _) => crate::kernels::layer_norm(norm, TORCH_NORM_EPS, x),
            (None, Some(norm)) => group_norm_over_time(norm, x),
            (None, None) => x,
        };
        activate(self.activation, x)
    }
}

/// `conv` (no padding, dilation or groups) as one matrix product: `[batch, time, in]` ->
/// `[batch, frames, out]`, channels last. The input's windows `[batch * frames, kernel * in]`
/// times the weight as `[kernel * in, out]` ([`kernels::conv_as_matmul`]: on the CPU backends
/// one product reading the windows from the input in place, on cuda reshapes and a product);
/// the backward pass is then two matrix products as well, which the CPU backends run
/// multi-threaded (their conv backward is slow or single-threaded). `weight` is the conv's
/// weight as [`weight_matrix`] lays it out; the product runs in `precision`.
fn conv_as_matmul<B: Kernels>(
    conv: &Conv1d<B>,
    input: Tensor<B, 3>,
    weight: Tensor<B, 2>,
    precision: Precision,
) -> Tensor<B, 3> {
    let [out, _, kernel] = conv.weight.dims();
    let batch = input.dims()[0];
    let x = precision.widen(kernels::conv_as_matmul(
        precision.narrow(input),
        precision.narrow(weight),
        kernel,
        conv.stride,
    ));
    let frames = x.dims()[0] / batch;
    let x = match &conv.bias {
        // One parallel pass on the CPU backends (burn-flex broadcasts on one thread).
        Some(bias) => kernels::add_bias(x, bias.val()),
        None => x,
    };
    x.reshape([batch, frames, out])
}

/// `conv`'s weight `[out, in, kernel]` as the matrix `[kernel * in, out]` that multiplies its
/// windows: a copy of a permuted view (3 MB per layer of wav2vec2-base), in parallel on flex
/// ([`kernels::contiguous`]).
fn weight_matrix<B: Kernels>(conv: &Conv1d<B>) -> Tensor<B, 2> {
    let [out, channels, kernel] = conv.weight.dims();
    kernels::contiguous(conv.weight.val().permute([2, 1, 0])).reshape([kernel * channels, out])
}

/// A group norm with one group per channel (normalizing each channel over time) on
/// `[batch, time, channels]`, as `norm.forward` on `[batch, channels, time]`, through
/// [`crate::kernels::group_norm_over_time`] (one fused operation on flex).
fn group_norm_over_time<B: Kernels>(norm: &GroupNorm<B>, x: Tensor<B, 3>) -> Tensor<B, 3> {
    let [_, _, channels] = x.dims();
    let device = x.device();
    let gamma = norm.gamma.as_ref().map_or_else(|| Tensor::ones([channels], &device), |g| g.val());
    let beta = norm.beta.as_ref().map_or_else(|| Tensor::zeros([channels], &device), |b| b.val());
    kernels::group_norm_over_time(x, gamma, beta, norm.epsilon)
}

/// The stack of conv blocks (HF `feature_extractor`).
#[derive(Module, Debug)]
pub struct FeatureEncoder<B: Backend> {
    /// The conv blocks, first to last.
    pub conv_layers: Vec<FeatureConvLayer<B>>,
}

impl<B: Kernels> FeatureEncoder<B> {
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
                    precision: Precision::F32,
                }
            })
            .collect();
        Self { conv_layers }
    }

    /// `[batch, samples]` -> `[batch, frames, conv_dim[-1]]` (channels last), frames as in
    /// [`Wav2Vec2Config::frame_count`].
    pub fn forward(&self, samples: Tensor<B, 2>) -> Tensor<B, 3> {
        match self.matmul_budget(&samples.device()) {
            Some(budget) => self.forward_in_pieces(samples, budget),
            None => self
                .conv_layers
                .iter()
                .fold(samples.unsqueeze_dim(1), |x, layer| layer.forward(x))
                .swap_dims(1, 2),
        }
    }

    /// The channels-last path of [`Self::forward`] over as many batch items at a time as keep
    /// each layer's activations within `budget` bytes (at least one item), the pieces joined
    /// at the end.
    ///
    /// Why: the allocator reuses freed blocks up to a size (see
    /// `vox_api::allocator::keep_freed_memory`) and maps larger ones afresh, their pages
    /// faulted in and zeroed by the kernel at first touch. wav2vec2-base's first conv turns a
    /// batch of 8 clips of 4 s into 210 MB of activations, then its norm and activation into
    /// as many again, the next layers into half as much each: about 900 MB of fresh pages per
    /// batch, a large share of a profile of training and inference (BENCHMARKS-wav2vec2.md,
    /// "Measurements behind the code's choices"). One clip's 26 MB
    /// stay within the reused sizes. Each item's values do not depend on the others', so the
    /// pieces give the same bits as the whole batch.
    fn forward_in_pieces(&self, samples: Tensor<B, 2>, budget: usize) -> Tensor<B, 3> {
        let [batch, length] = samples.dims();
        let per_item = self.largest_activation(length) * size_of::<f32>();
        let items = (budget / per_item.max(1)).clamp(1, batch.max(1));
        let weights: Vec<_> = self.conv_layers.iter().map(|layer| weight_matrix(&layer.conv)).collect();
        let forward = |samples: Tensor<B, 2>| {
            self.conv_layers
                .iter()
                .zip(&weights)
                .fold(samples.unsqueeze_dim(2), |x, (layer, weight)| {
                    layer.forward_with_matrix(x, weight.clone())
                })
        };
        match items >= batch {
            true => forward(samples),
            false => Tensor::cat(samples.split(items, 0).into_iter().map(forward).collect(), 0),
        }
    }

    /// The most values any layer's output holds for one clip of `length` samples.
    fn largest_activation(&self, length: usize) -> usize {
        let mut time = length;
        let mut largest = 0;
        for layer in &self.conv_layers {
            let [out, _, kernel] = layer.conv.weight.dims();
            time = time.saturating_sub(kernel) / layer.conv.stride + 1;
            largest = largest.max(time * out);
        }
        largest
    }

    /// Whether the convs run as matrix products on `device`'s backend (see the module doc),
    /// and over pieces of the batch of how many bytes of activations: on the CPU backends
    /// (ndarray, flex) within the allocator's reused sizes ([`Self::forward_in_pieces`]); on
    /// burn's cubecl backends (cuda; wgpu in the tests) the whole batch, one im2col kernel
    /// and one product on tensor cores per conv ([`crate::kernels`]' cube kernels), where
    /// burn-cubecl 0.21 without autotune runs a direct conv kernel on CUDA cores between
    /// NCHW/NHWC permutations (`VOX_CUBE_KERNELS=0` keeps that, to measure one against the
    /// other); `None` for the backend's own conv.
    fn matmul_budget(&self, device: &B::Device) -> Option<usize> {
        let backend = B::name(device);
        if backend.contains("ndarray") || backend.contains("flex") {
            Some(vox_api::allocator::REUSED_UP_TO)
        } else if backend.contains("cubecl") && crate::kernels::cube_kernels_on() {
            Some(usize::MAX)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use burn::tensor::{Distribution, ElementConversion};

    use super::*;

    /// Checks [`conv_as_matmul`] against burn's `Conv1d` on backend `B`.
    fn check_conv_as_matmul<B: Kernels>() {
        let device = Default::default();
        // (kernel, stride, channels in, time): wav2vec2's first conv, overlapping and disjoint
        // windows, a kernel shorter than the stride with and without padding, odd lengths.
        let cases = [
            (10, 5, 1, 203),
            (3, 2, 4, 50),
            (3, 2, 4, 51),
            (2, 2, 4, 33),
            (3, 4, 4, 31),
            (3, 4, 4, 32),
            (4, 3, 2, 20),
            (1, 1, 3, 7),
        ];
        for (kernel, stride, channels, time) in cases {
            for bias in [false, true] {
                let conv = Conv1dConfig::new(channels, 5, kernel)
                    .with_stride(stride)
                    .with_bias(bias)
                    .init::<B>(&device);
                let x = Tensor::<B, 3>::random(
                    [2, time, channels],
                    Distribution::Normal(0.0, 1.0),
                    &device,
                );
                let expected = conv.forward(x.clone().swap_dims(1, 2)).swap_dims(1, 2);
                let found = conv_as_matmul(&conv, x, weight_matrix(&conv), Precision::F32);
                assert_eq!(found.dims(), expected.dims());
                assert_eq!(found.dims()[1], (time - kernel) / stride + 1);
                let diff: f32 = (found - expected).abs().max().into_scalar().elem();
                assert!(
                    diff < 1e-5,
                    "kernel {kernel}, stride {stride}, time {time}: differs by {diff}"
                );
            }
        }
    }

    #[test]
    fn conv_as_matmul_equals_burns_conv1d() {
        let _rng = crate::burn_rng_lock();
        check_conv_as_matmul::<NdArray>();
        #[cfg(feature = "flex")]
        check_conv_as_matmul::<burn::backend::Flex>();
    }

    /// In bf16 both conv paths (burn's conv channels first, cuda's; the windows' product
    /// channels last, the CPU backends') round their operands: both land within bf16 rounding
    /// of the f32 layer and agree with each other, and neither is the f32 result.
    #[cfg(feature = "flex")]
    #[test]
    fn bf16_convs_round_alike_on_both_paths() {
        type B = burn::backend::Flex;
        let _rng = crate::burn_rng_lock();
        let device = Default::default();
        let config = Wav2Vec2Config {
            conv_dim: vec![24, 24],
            conv_kernel: vec![10, 3],
            conv_stride: vec![5, 2],
            feat_extract_norm: FeatExtractNorm::Layer,
            conv_bias: true,
            ..Wav2Vec2Config::default()
        };
        let mut encoder = FeatureEncoder::<B>::new(&config, &device);
        let x = Tensor::<B, 3>::random([2, 300, 24], Distribution::Normal(0.0, 1.0), &device);
        let layer = &mut encoder.conv_layers[1];
        let f32_result = layer.forward_as_matmul(x.clone());
        layer.precision = Precision::Bf16;
        let by_windows = layer.forward_as_matmul(x.clone());
        let by_conv = layer.forward(x.swap_dims(1, 2)).swap_dims(1, 2);
        let max_diff = |a: &Tensor<B, 3>, b: &Tensor<B, 3>| -> f32 { (a.clone() - b.clone()).abs().max().into_scalar().elem() };
        // Layer-normed, GELU'd outputs of O(1); a bf16 operand is off by at most 2^-9 relative.
        for (path, found) in [("windows", &by_windows), ("conv", &by_conv)] {
            let error = max_diff(found, &f32_result);
            assert!(error > 1e-4 && error < 5e-2, "{path}: off by {error} from f32");
        }
        assert!(max_diff(&by_windows, &by_conv) < 5e-2);
    }

    /// The batch in pieces of one or two items gives the whole batch's bits, with both norms,
    /// on both CPU backends.
    #[test]
    fn a_batch_in_pieces_gives_the_same_bits() {
        fn check<B: Kernels>(norm: FeatExtractNorm) {
            let device = Default::default();
            let config = Wav2Vec2Config {
                conv_dim: vec![8, 8, 8],
                conv_kernel: vec![10, 3, 2],
                conv_stride: vec![5, 2, 2],
                feat_extract_norm: norm,
                conv_bias: norm == FeatExtractNorm::Layer,
                ..Wav2Vec2Config::default()
            };
            let encoder = FeatureEncoder::<B>::new(&config, &device);
            let x = Tensor::<B, 2>::random([5, 400], Distribution::Normal(0.0, 1.0), &device);
            let whole = encoder.forward_in_pieces(x.clone(), usize::MAX);
            // Layer 0 holds 79 frames x 8 channels per clip.
            assert_eq!(encoder.largest_activation(400), 79 * 8);
            for items in [1, 2] {
                let budget = items * 79 * 8 * 4;
                let pieces = encoder.forward_in_pieces(x.clone(), budget);
                assert_eq!(pieces.dims(), [5, 19, 8]);
                let bits = |t: Tensor<B, 3>| t.into_data().to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert!(bits(pieces) == bits(whole.clone()), "{norm:?}, {items} per piece");
            }
        }
        let _rng = crate::burn_rng_lock();
        for norm in [FeatExtractNorm::Group, FeatExtractNorm::Layer] {
            check::<NdArray>(norm);
            #[cfg(feature = "flex")]
            check::<burn::backend::Flex>(norm);
        }
    }

    #[test]
    fn both_paths_of_a_conv_block_agree_for_both_norms() {
        let _rng = crate::burn_rng_lock();
        let device = Default::default();
        for norm in [FeatExtractNorm::Group, FeatExtractNorm::Layer] {
            let config = Wav2Vec2Config {
                conv_dim: vec![6, 6],
                conv_kernel: vec![10, 3],
                conv_stride: vec![5, 2],
                feat_extract_norm: norm,
                conv_bias: norm == FeatExtractNorm::Layer,
                ..Wav2Vec2Config::default()
            };
            let encoder = FeatureEncoder::<NdArray>::new(&config, &device);
            let x = Tensor::<NdArray, 2>::random([2, 400], Distribution::Normal(0.0, 1.0), &device);
            let (first, second) = (&encoder.conv_layers[0], &encoder.conv_layers[1]);
            let expected = second
                .forward(first.forward(x.clone().unsqueeze_dim(1)))
                .swap_dims(1, 2);
            let found = second.forward_as_matmul(first.forward_as_matmul(x.unsqueeze_dim(2)));
            assert_eq!(found.dims(), [2, 39, 6]);
            let diff = (found - expected).abs().max().into_scalar();
            assert!(diff < 1e-5, "{norm:?}: differs by {diff}");
        }
    }

    /// The output of a group norm over time of `x` `[batch, time, channels]` and the
    /// gradients of `x`, gamma and beta of a weighted sum of it, on `B`, through burn's
    /// `GroupNorm` (on `[batch, channels, time]`) or through [`group_norm_over_time`].
    fn group_norm_and_gradients<B: crate::kernels::AutodiffKernels>(
        x: &[f32],
        [batch, time, channels]: [usize; 3],
        ours: bool,
    ) -> [Vec<f32>; 4] {
        use burn::module::Param;
        use burn::tensor::TensorData;
        let device = Default::default();
        let ramp = |n: usize, scale: f32, offset: f32| -> Vec<f32> {
            (0..n).map(|i| (i * 37 % 101) as f32 * scale + offset).collect()
        };
        let gamma = Tensor::<B, 1>::from_data(TensorData::new(ramp(channels, 0.02, 0.5), [channels]), &device);
        let beta = Tensor::<B, 1>::from_data(TensorData::new(ramp(channels, 0.04, -2.0), [channels]), &device);
        let norm = GroupNorm {
            gamma: Some(Param::from_tensor(gamma)),
            beta: Some(Param::from_tensor(beta)),
            ..GroupNormConfig::new(channels, channels).init::<B>(&device)
        };
        let dims = [batch, time, channels];
        let x = Tensor::<B, 3>::from_data(TensorData::new(x.to_vec(), dims), &device).require_grad();
        let weights = Tensor::<B, 3>::from_data(TensorData::new(ramp(x.shape().num_elements(), 0.01, -0.5), dims), &device);
        let y = match ours {
            true => group_norm_over_time(&norm, x.clone()),
            false => norm.forward(x.clone().swap_dims(1, 2)).swap_dims(1, 2),
        };
        let grads = (y.clone() * weights).sum().backward();
        let values = |t: Tensor<B::InnerBackend, 3>| t.into_data().to_vec::<f32>().unwrap();
        let vector = |t: Tensor<B::InnerBackend, 1>| t.into_data().to_vec::<f32>().unwrap();
        [
            values(y.inner()),
            values(x.grad(&grads).unwrap()),
            vector(norm.gamma.as_ref().unwrap().grad(&grads).unwrap()),
            vector(norm.beta.as_ref().unwrap().grad(&grads).unwrap()),
        ]
    }

    #[test]
    fn group_norm_over_time_and_its_gradients_equal_burns_group_norm() {
        use burn::backend::Autodiff;
        // 70 channels: flex's kernel reduces blocks of 64, so one full and one partial block.
        let dims = [2, 33, 70];
        let x: Vec<f32> = (0..dims.iter().product())
            .map(|i: usize| ((i * 7919 % 1000) as f32 / 250.0 - 2.0) * (1.0 + (i % 70) as f32 / 10.0) + (i % 70) as f32 / 10.0)
            .collect();
        let expected = group_norm_and_gradients::<Autodiff<NdArray>>(&x, dims, false);
        let mut backends = vec![("ndarray", group_norm_and_gradients::<Autodiff<NdArray>>(&x, dims, true))];
        #[cfg(feature = "flex")]
        backends.push(("flex", group_norm_and_gradients::<Autodiff<burn::backend::Flex>>(&x, dims, true)));
        for (backend, found) in backends {
            for (what, (found, expected)) in ["output", "dx", "dgamma", "dbeta"].iter().zip(found.iter().zip(&expected)) {
                assert_eq!(found.len(), expected.len());
                let diff = found.iter().zip(expected).map(|(a, b)| (a - b).abs() / (1.0 + b.abs())).fold(0f32, f32::max);
                // The reference is f32 through a dozen autodiff ops: its dx is off by ~1.5e-5.
                assert!(diff < 5e-5, "{backend} {what}: differs by {diff} (relative)");
            }
        }
    }
}
