//! Operations that vox computes itself on some backends, where burn's own are slow: a burn
//! backend extension ([`Kernels`]), implemented for every backend vox runs on and for their
//! autodiff wrappers.
//!
//! - **Exact GELU** (`0.5 x (1 + erf(x / sqrt 2))`, HF's `"gelu"`) and its derivative. burn
//!   0.21's flex computes both one element at a time with libm's `erff`, on one thread: on
//!   wav2vec2-base's first conv, an order of magnitude slower than PyTorch (measured:
//!   BENCHMARKS-wav2vec2.md, section "Measurements behind the code's choices"). Here the erf is a
//!   rational approximation (max abs error 4.2e-7 against `math.erf`, TensorFlow/XLA's f32
//!   coefficients) and the derivative's Gaussian uses a Cephes-style `exp`, both branch-free so
//!   that the loops vectorize (AVX-512 or AVX2 picked at run time), over chunks on rayon's pool.
//!   Elementwise, so the result does not depend on the thread count.
//!
//! - **Per-channel normalization over time** (wav2vec2-base's first conv layer: HF's
//!   `GroupNorm(512, 512)`, on channels-last `[batch, time, channels]`), forward and backward
//!   as one operation each. Composed from burn's operations, autodiff records a dozen ops whose
//!   broadcasts (`[batch, 1, channels]` against `[batch, time, channels]`) flex walks element
//!   by element, on one thread; here each is one pass for the statistics (f64 sums) and one
//!   for the output, in parallel.
//!
//! - **The positional conv** (a stride-1 grouped conv over time, kernel 128, 16 groups) and
//!   its gradients, channels last: on flex, [`grouped_conv`]'s kernel instead of burn-flex's
//!   im2col + gemm and single-threaded transposed conv.
//!
//! - **Softmax** over the last dimension (attention's probabilities) and its gradient: one
//!   pass per row each, instead of burn's max, subtraction, exp, sum and division and their
//!   backward ops. The max and the sum run over 16 lanes combined in a fixed order: with a
//!   running sum the exponentials' loop stayed scalar.
//!
//! - **Attention** ([`Kernels::multi_head_attention`] for inference,
//!   [`Kernels::training_attention`] for training, [`attention`]): the scores, bias, mask,
//!   softmax, dropout and context of each head and block of queries in one task, from the
//!   projections to the merged heads; inference keeps no `frames x frames` tensor, training
//!   keeps the probabilities for its backward step, one kernel per (item, head) for all five
//!   gradients instead of the composed operations' dozen steps. Dropout draws its mask as
//!   burn's `Dropout` does, so a seed drops the same probabilities. The cubecl backends run
//!   attention as flash-style kernels (`cube_attention.rs`: per-query softmax statistics
//!   saved instead of the probabilities); the composed operations are
//!   [`attention_by_ops`].
//!
//! - **Conv windows** (im2col) of the feature encoder's convs as matrix products, and their
//!   gradient: on flex one copy per window (a window is a contiguous run of the channels-last
//!   input) and one gathering pass back, instead of narrows, reshapes of strided views and a
//!   concatenation whose backward allocated a zero tensor per piece.
//!
//! - **Matrix products** of 2-D operands (the feature encoder's convs as products, the
//!   encoder's linears): on CPUs with AVX-512, flex runs vox's own [`sgemm`] (a packed,
//!   register-blocked microkernel) instead of burn-flex's gemm crate, much faster per core on
//!   the development machine (measured: BENCHMARKS-wav2vec2.md, section "Single operations at
//!   a base step's shapes"). Without AVX-512, for thin products (see [`sgemm::MIN_DEPTH`]) and
//!   for other dtypes, burn's product.
//!
//! - **AdamW's update** of a parameter (the fine-tune's optimizer, [`crate::adamw`]): one
//!   parallel pass reading the value, gradient and both moments and writing three, instead of
//!   burn-optim's ten element-wise operations, each a fresh tensor, which burn-flex runs on one
//!   thread: the optimizer took almost as long on 2 threads as on 1 (measured:
//!   BENCHMARKS-wav2vec2.md, section "Where scaling stops", "The optimizer does not scale at
//!   all"). The same f32 operations in the same order, so the same bits as burn's.
//!
//!   The clipping's global norm is one parallel f64 pass per gradient ([`Kernels::squared_sums`])
//!   and its factor is applied inside the update; the parameter and moments are updated in
//!   place where nothing else holds them.
//!
//! - **The layer norms' backward**, the **heads' split and merge** of attention and the
//!   **linears' bias** (and its gradient, the columns' sums): burn composes the first from
//!   about fifteen element-wise operations and the others are broadcasts and copies of
//!   strided views, all on one thread in burn-flex; a perf profile split by thread showed them
//!   as most of what one thread did while the other waited (measured: BENCHMARKS-wav2vec2.md,
//!   section "Where scaling stops", the paragraph "After the 12:20 sweep"). Here each is one
//!   parallel pass (the layer norm's forward stays the backend's own, parallel in flex).
//!
//! - **WavLM's gated relative position bias** added to the attention scores
//!   (`scores + gate * bias`, and its gradients): burn broadcasts the product and the sum
//!   over strided views on one thread; vox's WavLM extraction took much longer than its
//!   wav2vec2, where transformers' takes little longer (measured: BENCHMARKS-ssl.md, section
//!   "After the thread-balance kernels", "WavLM's gated position bias").
//!
//! - **The positional conv's weight norm** (`g * v / ||v||` over 4.7 M values in base, 8.4 M
//!   in XLSR-large, each forward) and its gradients, and **copies of permuted weights** (the
//!   feature encoder's convs as matrices): composed, a dozen passes that burn-flex makes on one
//!   thread while the others wait. Found by binning a 2-thread `perf` profile of a base step
//!   by how many threads worked (`benches/wav2vec2-occupancy.sh`): with these, the head's
//!   projector through vox's product and the first conv's thin product through sgemm, the
//!   bins with one thread busy shrank to a small fraction of what they were, and that serial
//!   part is what bounds the speed-up on 16 cores (measured: BENCHMARKS-wav2vec2.md, section
//!   "Where scaling stops", "What ran on one thread while the other waited").
//!
//! flex and ndarray share these kernels ([`host`]: contiguous f32 values in and out). burn's
//! cubecl backends (cuda; wgpu in the tests) run vox's cubecl kernels for the optimizer, the
//! norms, GELU, softmax and the convs' windows (`cube.rs`, which says why and what they cut)
//! and for attention (`cube_attention.rs`);
//! the rest there, with `cuda-fusion`, and other dtypes everywhere, compute the same from
//! burn's tensor operations (the trait's default methods).
//!
//! Where each part lives: this file holds the trait and its functions on tensors;
//! [`composed`] the operations composed from burn's (the defaults, and the references the
//! tests hold the kernels to); `host_backends.rs` the trait for flex and ndarray, [`host`] and
//! [`cpu`] their loops ([`sgemm`], [`grouped_conv`], [`attention`] the larger ones);
//! [`autodiff`] the trait on burn's autodiff wrapper (each kernel with its own backward
//! step); [`adamw_step`] the optimizer step's settings shared by every backend.

mod adamw_step;
mod attention;
mod attention_ops;
mod autodiff;
mod composed;
mod cpu;
#[cfg(feature = "cube")]
mod cube;
#[cfg(feature = "cube")]
mod cube_attention;
#[cfg(feature = "cube")]
mod cube_support;
pub mod grouped_conv;
mod host;
mod host_backends;
#[cfg(target_arch = "x86_64")]
pub mod sgemm;
mod zeros;

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

pub use adamw_step::AdamWStep;
pub(crate) use adamw_step::AdamWScalars;
use attention_ops::composed_attention;
use composed::{
    adamw_step_by_ops, add_bias_by_ops, add_gated_bias_backward_by_ops, add_gated_bias_by_ops, column_sums_by_ops, conv_windows_backward_by_ops, conv_windows_by_ops, exact_gelu_backward_by_ops, group_norm_over_time_backward_by_ops, group_norm_over_time_by_ops, grouped_conv1d_backward_by_ops, grouped_conv1d_by_ops, layer_norm_last_backward_by_ops, masked_mean_std_by_ops, merge_heads_by_ops, softmax_last_backward_by_ops, softmax_last_by_ops, split_heads_by_ops, squared_sums_by_ops, weight_norm_backward_by_ops, weight_norm_by_ops,
};
pub use attention_ops::{
    AttentionGradients, AttentionInputs, SavedAttention, attention_backward_by_ops, attention_by_ops, key_mask,
    multi_head_attention, training_attention,
};

/// `1 / sqrt(2 pi)`, the standard normal density at 0.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// A burn backend with vox's own versions of some operations (see the module doc). The
/// default methods are, or are composed from, the backend's own operations.
pub trait Kernels: Backend {
    /// Exact (erf) GELU, element-wise.
    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        <Self as burn::tensor::ops::ActivationOps<Self>>::gelu(x)
    }

    /// The gradient through [`Kernels::exact_gelu`]: `grad * gelu'(x)`, with `gelu'(x) =
    /// Φ(x) + x φ(x)` from the backend's `erf` and `exp`. (burn 0.21's default
    /// `gelu_backward`, which ndarray and cuda use, is the derivative of the tanh
    /// approximation instead: off by up to 1e-3.)
    fn exact_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        exact_gelu_backward_by_ops::<Self>(x, grad)
    }

    /// The matrix product of `a` `[m, k]` and `b` `[k, n]` (2-D, either may be a transposed
    /// view).
    fn matmul_2d(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(a, b)
    }

    /// Normalizes each channel of `x` `[batch, time, channels]` over time, then scales by
    /// `gamma` and shifts by `beta` (`[channels]`): a group norm with one group per channel.
    fn group_norm_over_time(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        group_norm_over_time_by_ops::<Self>(x, gamma, beta, epsilon)
    }

    /// The gradients through [`Kernels::group_norm_over_time`] for `x`, `gamma` and `beta`,
    /// given the output's `grad`: with `x̂` the normalized input, `σ` the standard deviation
    /// and `g = grad * gamma`, `dx = (g - mean_t g - x̂ mean_t(g x̂)) / σ`,
    /// `dgamma = Σ grad x̂`, `dbeta = Σ grad`.
    fn group_norm_over_time_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        epsilon: f64,
    ) -> [FloatTensor<Self>; 3] {
        group_norm_over_time_backward_by_ops::<Self>(x, gamma, grad, epsilon)
    }

    /// Layer norm over the last dimension of `x` (any rank), scaled by `gamma` and shifted by
    /// `beta` (`[last]`). The default is the backend's own layer norm, so inference on every
    /// backend is as before; what vox adds is the backward.
    fn layer_norm_last(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        <Self as burn::tensor::ops::ModuleOps<Self>>::layer_norm(x, gamma, Some(beta), epsilon)
    }

    /// The gradients through [`Kernels::layer_norm_last`] for `x`, `gamma` and `beta`, given
    /// the output's `grad`: with `x̂` the normalized input, `σ` the standard deviation and
    /// `g = grad * gamma`, per row `dx = (g - mean g - x̂ mean(g x̂)) / σ`; `dgamma = Σ grad
    /// x̂`, `dbeta = Σ grad` over the rows.
    fn layer_norm_last_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        epsilon: f64,
    ) -> [FloatTensor<Self>; 3] {
        layer_norm_last_backward_by_ops::<Self>(x, gamma, grad, epsilon)
    }

    /// A stride-1 grouped conv over time of channels-last `x` `[batch, time, channels]` with
    /// `weight` `[channels, channels / groups, kernel]` and `padding` zeros before and after
    /// the input, without bias: `[batch, time + padding - kernel + 1, channels]` (wav2vec2's
    /// positional conv).
    fn grouped_conv1d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        groups: usize,
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        grouped_conv1d_by_ops::<Self>(x, weight, groups, padding)
    }

    /// The gradients through [`Kernels::grouped_conv1d`] for `x` and `weight`, given the
    /// output's `grad`.
    fn grouped_conv1d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        groups: usize,
        padding: [usize; 2],
    ) -> [FloatTensor<Self>; 2] {
        grouped_conv1d_backward_by_ops::<Self>(x, weight, grad, groups, padding)
    }

    /// The windows of an unpadded conv of `kernel` taps and `stride` over channels-last `x`
    /// `[batch, time, channels]`, as the rows of a matrix (im2col): `[batch * frames, kernel *
    /// channels]`, `frames = (time - kernel) / stride + 1`, row `b * frames + f` holding time
    /// steps `f * stride..f * stride + kernel` of item `b`.
    fn conv_windows(x: FloatTensor<Self>, kernel: usize, stride: usize) -> FloatTensor<Self> {
        conv_windows_by_ops::<Self>(x, kernel, stride)
    }

    /// The gradient through [`Kernels::conv_windows`] of an input of shape `dims`: each
    /// window's gradient added back onto the time steps it was read from.
    fn conv_windows_backward(
        grad: FloatTensor<Self>,
        dims: [usize; 3],
        kernel: usize,
        stride: usize,
    ) -> FloatTensor<Self> {
        conv_windows_backward_by_ops::<Self>(grad, dims, kernel, stride)
    }

    /// An unpadded conv of `kernel` taps and `stride` over channels-last `x` `[batch, time,
    /// in]` as a matrix product: its windows ([`Kernels::conv_windows`]) times `weight`
    /// `[kernel * in, out]`, `[batch * frames, out]`. The CPU backends read the windows from
    /// `x` in place (a strided view whose rows overlap) instead of copying them out: the
    /// copies of wav2vec2-base's feature encoder are 1.6 times the size of its input per
    /// layer, 600 MB per batch of 8 x 64000 samples, each a fresh mapping the kernel zeroes.
    /// The same sums in the same order as the composed operations, so the same bits.
    fn conv_as_matmul(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
    ) -> FloatTensor<Self> {
        Self::matmul_2d(Self::conv_windows(x, kernel, stride), weight)
    }

    /// `scores` `[batch, heads, frames, frames]` plus `gate` `[batch, heads, frames]` times
    /// `bias` `[heads, frames, frames]` (WavLM's gated relative position bias: each query
    /// frame's gate scales its row of the bias), `scores + gate * bias` in one pass. burn
    /// broadcasts the product and the sum over strided views, on one thread in burn-flex.
    fn add_gated_bias(
        scores: FloatTensor<Self>,
        gate: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        add_gated_bias_by_ops::<Self>(scores, gate, bias)
    }

    /// The gradients through [`Kernels::add_gated_bias`] for the gate and the bias, given the
    /// output's `grad` (the scores' gradient is `grad` itself): `dgate = Σ_keys grad bias`,
    /// `dbias = Σ_batch grad gate`.
    fn add_gated_bias_backward(
        gate: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> [FloatTensor<Self>; 2] {
        add_gated_bias_backward_by_ops::<Self>(gate, bias, grad)
    }

    /// `x` `[rows, n]` plus `bias` `[n]` on every row (a linear layer's bias).
    fn add_bias(x: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        add_bias_by_ops::<Self>(x, bias)
    }

    /// The sums of the columns of `x` `[rows, n]`: `[n]` (the bias's gradient).
    fn column_sums(x: FloatTensor<Self>) -> FloatTensor<Self> {
        column_sums_by_ops::<Self>(x)
    }

    /// `x`'s values laid out contiguously in row-major order (a copy of a strided view, such as
    /// a permuted weight before a reshape); its gradient is the output's. The default is `x`
    /// itself (cuda's reshapes lay out what they need); on flex a large view is copied in
    /// parallel, where burn-flex's reshape copies it element by element on one thread (the
    /// feature encoder's weights as matrices: a large part of what one of two threads did
    /// alone in a base step; measured: BENCHMARKS-wav2vec2.md, section "Measurements behind
    /// the code's choices").
    fn contiguous(x: FloatTensor<Self>) -> FloatTensor<Self> {
        x
    }

    /// Weight normalization over the last dimension (PyTorch's `weight_norm(dim=2)` on the
    /// positional conv's `[channels, channels / groups, kernel]`): `g * v / ||v||`, the norm of
    /// `v`'s values at each index of its last dimension over all the others, `g` one magnitude
    /// per index (HF's `[1, 1, kernel]`). Composed, it is five element-wise operations over
    /// `v` forward and seven in the backward pass, on one thread each in burn-flex (the
    /// largest single-threaded work of a base step; measured: BENCHMARKS-wav2vec2.md, section
    /// "Where scaling stops", "What ran on one thread while the other waited"); the CPU
    /// backends make one parallel pass for the norms (f64 sums in fixed blocks of rows) and one
    /// for the output.
    fn weight_norm(v: FloatTensor<Self>, g: FloatTensor<Self>) -> FloatTensor<Self> {
        weight_norm_by_ops::<Self>(v, g)
    }

    /// The gradients of [`Kernels::weight_norm`] for `v` and `g` from the output's `grad`:
    /// with `n` the norms and `d = sum(grad * v)` over the same values, `dv = g / n * grad - g
    /// d / n^3 * v` and `dg = d / n`.
    fn weight_norm_backward(
        v: FloatTensor<Self>,
        g: FloatTensor<Self>,
        grad: FloatTensor<Self>,
    ) -> [FloatTensor<Self>; 2] {
        weight_norm_backward_by_ops::<Self>(v, g, grad)
    }

    /// The mean and population standard deviation over the frames of `state` `[batch, frames,
    /// hidden]` weighted by `valid` `[batch, frames]` (1 at valid frames, 0 at padding), as
    /// `[batch, 2 * hidden]`: means, then deviations (SSL features' pooling). Composed, that is
    /// eight broadcast operations per hidden state, which burn-flex walks element by element
    /// on one thread (a visible share of a profiled SSL extraction for 13 states; measured:
    /// BENCHMARKS-wav2vec2.md, section "Measurements behind the code's choices"); the CPU
    /// backends make one parallel pass per item, summing in f64.
    fn masked_mean_std(state: FloatTensor<Self>, valid: FloatTensor<Self>) -> FloatTensor<Self> {
        masked_mean_std_by_ops::<Self>(state, valid)
    }

    /// Attention's heads of `x` `[batch, frames, heads * width]` as `[batch, heads, frames,
    /// width]`, laid out contiguously (the default is burn's reshape and transposed view,
    /// which the products and reshapes after it copy element by element, on one thread in
    /// burn-flex).
    fn split_heads(x: FloatTensor<Self>, heads: usize) -> FloatTensor<Self> {
        split_heads_by_ops::<Self>(x, heads)
    }

    /// The inverse of [`Kernels::split_heads`]: `[batch, heads, frames, width]` to `[batch,
    /// frames, heads * width]`.
    fn merge_heads(x: FloatTensor<Self>) -> FloatTensor<Self> {
        merge_heads_by_ops::<Self>(x)
    }

    /// Multi-head attention without dropout (inference): the context `[batch, frames,
    /// hidden]` of queries, keys and values `[batch, frames, hidden]` split into `heads`, the
    /// queries times `scale`; keys where `valid` `[batch, frames]` is below 0.5 masked; with
    /// `gated` (WavLM's gate `[batch, heads, frames]` and bias `[heads, frames, frames]`),
    /// `gate * bias` added to the scores (see [`AttentionInputs`]). The default is
    /// [`attention_by_ops`].
    fn multi_head_attention(x: AttentionInputs<FloatTensor<Self>>) -> FloatTensor<Self> {
        composed_attention::<Self>(x, 0.0)
    }

    /// Attention for training (on an autodiff backend): [`Kernels::multi_head_attention`]
    /// with dropout of probability `dropout` on the probabilities, as burn's `Dropout` applies
    /// it. The default is [`attention_by_ops`] with burn's `Dropout`.
    fn training_attention(x: AttentionInputs<FloatTensor<Self>>, dropout: f64) -> FloatTensor<Self> {
        composed_attention::<Self>(x, dropout)
    }

    /// Training attention's forward pass as one kernel where the backend has one (the CPU
    /// and cubecl backends): the context, what the backward needs of the softmax (see
    /// [`SavedAttention::softmax`]), and the dropout's keep mask (drawn from the backend's
    /// generator as burn's `Dropout` draws it: Bernoulli with `1 - dropout`, the
    /// probabilities then times keep over `1 - dropout`), for [`Kernels::attention_backward`].
    /// The default: `None`, and autodiff composes attention from operations instead.
    fn attention_saving(x: AttentionInputs<FloatTensor<Self>>, dropout: f64) -> Option<SavedAttention<FloatTensor<Self>>> {
        let _ = (x, dropout);
        None
    }

    /// The gradients through [`Kernels::attention_saving`] given the context's `grad`. The
    /// default is composed from operations ([`attention_backward_by_ops`]).
    fn attention_backward(
        x: AttentionInputs<FloatTensor<Self>>,
        saved: SavedAttention<FloatTensor<Self>>,
        dropout: f64,
        grad: FloatTensor<Self>,
    ) -> AttentionGradients<FloatTensor<Self>> {
        attention_backward_by_ops::<Self>(x, saved, dropout, grad)
    }

    /// Softmax over the last dimension of `x` (attention's probabilities).
    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        softmax_last_by_ops::<Self>(x)
    }

    /// The gradient through [`Kernels::softmax_last`] from its output `y` and the output's
    /// `grad`: `y (grad - Σ_last grad y)`.
    fn softmax_last_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        softmax_last_backward_by_ops::<Self>(y, grad)
    }

    /// One AdamW update of a parameter: its new value and moments `[param, moment_1,
    /// moment_2]` from the parameter, its gradient (times `step.grad_scale`, the clipping's
    /// factor) and the moments after the last step (`None` at the first). The default is
    /// burn-optim 0.21's `AdamW::step`, operation for operation, after the scaling.
    fn adamw_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moments: Option<[FloatTensor<Self>; 2]>,
        step: AdamWStep,
    ) -> [FloatTensor<Self>; 3] {
        adamw_step_by_ops::<Self>(param, grad, moments, step)
    }

    /// The sum of the squares of each tensor's values, read back to the host together (the
    /// gradient clipping's norm over every gradient). The default sums `x^2` in the backend's
    /// own float type, each on the device, and reads all the sums in one transfer: one host
    /// sync per optimizer step instead of one per parameter (XLSR-large has 400 or so).
    fn squared_sums(xs: Vec<FloatTensor<Self>>) -> Vec<f64> {
        squared_sums_by_ops::<Self>(xs)
    }

    /// `x`'s values as bytes in row-major order, borrowed from the backend where it keeps them
    /// so in host memory (the CPU backends' contiguous f32 tensors), for writing them out
    /// without a copy ([`crate::writer`]). The default: `None`, read them with `to_data`.
    fn host_bytes(x: &FloatTensor<Self>) -> Option<&[u8]> {
        let _ = x;
        None
    }
}


/// A float primitive as a tensor of rank `D`.
fn tensor<B: Backend, const D: usize>(x: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(x))
}

/// An autodiff backend whose inner backend has [`Kernels`] too (for validation passes on
/// `model.valid()`).
pub trait AutodiffKernels: AutodiffBackend<InnerBackend: Kernels> + Kernels {}

impl<B: AutodiffBackend<InnerBackend: Kernels> + Kernels> AutodiffKernels for B {}

/// Exact GELU through the backend's [`Kernels::exact_gelu`].
pub fn gelu<B: Kernels, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    tensor(B::exact_gelu(x.into_primitive().tensor()))
}

/// [`Kernels::matmul_2d`] on tensors: `a` `[m, k]` times `b` `[k, n]`.
pub fn matmul<B: Kernels>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 2> {
    tensor(B::matmul_2d(a.into_primitive().tensor(), b.into_primitive().tensor()))
}

/// [`Kernels::group_norm_over_time`] on tensors.
pub fn group_norm_over_time<B: Kernels>(
    x: Tensor<B, 3>,
    gamma: Tensor<B, 1>,
    beta: Tensor<B, 1>,
    epsilon: f64,
) -> Tensor<B, 3> {
    tensor(B::group_norm_over_time(
        x.into_primitive().tensor(),
        gamma.into_primitive().tensor(),
        beta.into_primitive().tensor(),
        epsilon,
    ))
}

/// [`Kernels::grouped_conv1d`] on tensors.
pub fn grouped_conv1d<B: Kernels>(
    x: Tensor<B, 3>,
    weight: Tensor<B, 3>,
    groups: usize,
    padding: [usize; 2],
) -> Tensor<B, 3> {
    tensor(B::grouped_conv1d(
        x.into_primitive().tensor(),
        weight.into_primitive().tensor(),
        groups,
        padding,
    ))
}

/// [`Kernels::masked_mean_std`] on tensors: `state` `[batch, frames, hidden]`, `valid` `[batch,
/// frames]` -> `[batch, 2 * hidden]`.
pub fn masked_mean_std<B: Kernels>(state: Tensor<B, 3>, valid: Tensor<B, 2>) -> Tensor<B, 2> {
    tensor(B::masked_mean_std(state.into_primitive().tensor(), valid.into_primitive().tensor()))
}

/// [`Kernels::conv_as_matmul`] on tensors: `x` `[batch, time, in]` and `weight` `[kernel * in,
/// out]` -> `[batch * frames, out]`.
pub fn conv_as_matmul<B: Kernels>(
    x: Tensor<B, 3>,
    weight: Tensor<B, 2>,
    kernel: usize,
    stride: usize,
) -> Tensor<B, 2> {
    tensor(B::conv_as_matmul(
        x.into_primitive().tensor(),
        weight.into_primitive().tensor(),
        kernel,
        stride,
    ))
}

/// [`Kernels::conv_windows`] on tensors: `[batch, time, channels]` -> `[batch * frames, kernel *
/// channels]`.
pub fn conv_windows<B: Kernels>(x: Tensor<B, 3>, kernel: usize, stride: usize) -> Tensor<B, 2> {
    tensor(B::conv_windows(x.into_primitive().tensor(), kernel, stride))
}

/// Whether vox's kernels run on burn's cubecl backends (`cube.rs`; off with
/// `VOX_CUBE_KERNELS=0`, and without the `cube` feature).
pub fn cube_kernels_on() -> bool {
    #[cfg(feature = "cube")]
    return cube_support::enabled();
    #[cfg(not(feature = "cube"))]
    false
}

// Without fusion, cuda (and wgpu) are burn-cubecl's `CubeBackend`, with vox's kernels in
// `cube.rs`; with it, the trait's defaults.
#[cfg(feature = "cuda-fusion")]
impl Kernels for burn::backend::Cuda {}

/// `norm` (a layer norm with a bias, of epsilon `epsilon`) over the last dimension of `x`
/// through [`Kernels::layer_norm_last`]: the same forward as `norm.forward`, and on the autodiff
/// backends vox's backward instead of burn's composed one (about fifteen element-wise
/// operations, each on one thread in burn-flex). A norm without a bias is `norm.forward`.
pub fn layer_norm<B: Kernels, const D: usize>(
    norm: &burn::nn::LayerNorm<B>,
    epsilon: f64,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    match &norm.beta {
        Some(beta) => tensor(B::layer_norm_last(
            x.into_primitive().tensor(),
            norm.gamma.val().into_primitive().tensor(),
            beta.val().into_primitive().tensor(),
            epsilon,
        )),
        None => norm.forward(x),
    }
}

/// [`Kernels::squared_sums`] on tensors: the sum of the squares of each one's values.
pub fn squared_sums<B: Kernels, const D: usize>(xs: Vec<Tensor<B, D>>) -> Vec<f64> {
    B::squared_sums(xs.into_iter().map(|x| x.into_primitive().tensor()).collect())
}

/// [`Kernels::add_gated_bias`] on tensors: `scores + gate * bias` with `gate` `[batch, heads,
/// frames]` scaling each query's row of `bias` `[heads, frames, frames]`.
pub fn add_gated_bias<B: Kernels>(scores: Tensor<B, 4>, gate: Tensor<B, 3>, bias: Tensor<B, 3>) -> Tensor<B, 4> {
    let [scores, gate, bias] = [scores.into_primitive().tensor(), gate.into_primitive().tensor(), bias.into_primitive().tensor()];
    tensor(B::add_gated_bias(scores, gate, bias))
}

/// [`Kernels::contiguous`] on tensors: `x`'s values laid out in row-major order.
pub fn contiguous<B: Kernels, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    tensor(B::contiguous(x.into_primitive().tensor()))
}

/// [`Kernels::weight_norm`] on tensors: `g * v / ||v||` over the last dimension of `v`.
pub fn weight_norm<B: Kernels, const D: usize, const E: usize>(v: Tensor<B, D>, g: Tensor<B, E>) -> Tensor<B, D> {
    tensor(B::weight_norm(v.into_primitive().tensor(), g.into_primitive().tensor()))
}

/// [`Kernels::add_bias`] on tensors: `bias` added to every row of `x`.
pub fn add_bias<B: Kernels>(x: Tensor<B, 2>, bias: Tensor<B, 1>) -> Tensor<B, 2> {
    tensor(B::add_bias(x.into_primitive().tensor(), bias.into_primitive().tensor()))
}

/// [`Kernels::split_heads`] on tensors: `[batch, frames, heads * width]` -> `[batch, heads,
/// frames, width]`.
pub fn split_heads<B: Kernels>(x: Tensor<B, 3>, heads: usize) -> Tensor<B, 4> {
    tensor(B::split_heads(x.into_primitive().tensor(), heads))
}

/// [`Kernels::merge_heads`] on tensors: `[batch, heads, frames, width]` -> `[batch, frames,
/// heads * width]`.
pub fn merge_heads<B: Kernels>(x: Tensor<B, 4>) -> Tensor<B, 3> {
    tensor(B::merge_heads(x.into_primitive().tensor()))
}

/// [`Kernels::softmax_last`] on tensors.
pub fn softmax_last<B: Kernels, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    tensor(B::softmax_last(x.into_primitive().tensor()))
}

#[cfg(test)]
mod tests;
