//! Operations that vox computes itself on some backends, where burn's own are slow: a burn
//! backend extension ([`Kernels`]), implemented for every backend vox runs on and for their
//! autodiff wrappers.
//!
//! - **Exact GELU** (`0.5 x (1 + erf(x / sqrt 2))`, HF's `"gelu"`) and its derivative. burn
//!   0.21's flex computes both one element at a time with libm's `erff`, on one thread: 48 ms
//!   for the 6.5 M activations of wav2vec2-base's first conv on a 2-s clip pair, against 3.8 ms
//!   in PyTorch (`examples/train_step.rs`'s shapes, 2 threads, 2026-11-26). Here the erf is a
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
//!   burn's `Dropout` does, so a seed drops the same probabilities. cuda composes attention
//!   from operations ([`attention_by_ops`]).
//!
//! - **Conv windows** (im2col) of the feature encoder's convs as matrix products, and their
//!   gradient: on flex one copy per window (a window is a contiguous run of the channels-last
//!   input) and one gathering pass back, instead of narrows, reshapes of strided views and a
//!   concatenation whose backward allocated a zero tensor per piece.
//!
//! - **Matrix products** of 2-D operands (the feature encoder's convs as products, the
//!   encoder's linears): on CPUs with AVX-512, flex runs vox's own [`sgemm`] (a packed,
//!   register-blocked microkernel) instead of burn-flex's gemm crate, 2.5x faster per core on
//!   the development machine. Without AVX-512, for thin products (see [`sgemm::MIN_DEPTH`])
//!   and for other dtypes, burn's product.
//!
//! - **AdamW's update** of a parameter (the fine-tune's optimizer, [`crate::adamw`]): one
//!   parallel pass reading the value, gradient and both moments and writing three, instead of
//!   burn-optim's ten element-wise operations, each a fresh tensor, which burn-flex runs on one
//!   thread: 0.64 s of a wav2vec2-base step on 1 thread and still 0.60 s on 2
//!   (`benches/wav2vec2-threads.sh`, 2026-12-05). The same f32 operations in the same order, so
//!   the same bits as burn's.
//!
//!   The clipping's global norm is one parallel f64 pass per gradient ([`Kernels::squared_sums`])
//!   and its factor is applied inside the update; the parameter and moments are updated in
//!   place where nothing else holds them.
//!
//! - **The layer norms' backward**, the **heads' split and merge** of attention and the
//!   **linears' bias** (and its gradient, the columns' sums): burn composes the first from
//!   about fifteen element-wise operations and the others are broadcasts and copies of
//!   strided views, all on one thread in burn-flex; a perf profile split by thread (2 threads,
//!   `examples/train_step.rs`, 2026-12-05) showed them as most of what one thread did while
//!   the other waited. Here each is one parallel pass (the layer norm's forward stays the
//!   backend's own, parallel in flex).
//!
//! - **WavLM's gated relative position bias** added to the attention scores
//!   (`scores + gate * bias`, and its gradients): burn broadcasts the product and the sum
//!   over strided views on one thread; vox's WavLM extraction took 3.2 s more than its
//!   wav2vec2 (transformers': 0.4 s, BENCHMARKS-ssl.md).
//!
//! - **The positional conv's weight norm** (`g * v / ||v||` over 4.7 M values in base, 8.4 M
//!   in XLSR-large, each forward) and its gradients, and **copies of permuted weights** (the
//!   feature encoder's convs as matrices): composed, a dozen passes that burn-flex makes on one
//!   thread while the others wait. Found by binning a 2-thread `perf` profile of a base step
//!   by how many threads worked (`benches/wav2vec2-occupancy.sh`): with these, the head's
//!   projector through vox's product and the first conv's thin product through sgemm, the
//!   bins with one thread busy went from 2.8% of the step's work to 0.6% (2026-12-05), the
//!   serial part that bounds the speed-up on 16 cores.
//!
//! flex and ndarray share these kernels ([`host`]: contiguous f32 values in and out). burn's
//! cubecl backends (cuda; wgpu in the tests) run vox's cubecl kernels for the optimizer, the
//! norms, GELU, softmax and the convs' windows ([`cube`], which says why and what they cut);
//! the rest there, with `cuda-fusion`, and other dtypes everywhere, compute the same from
//! burn's tensor operations (the trait's default methods).

mod attention;
mod attention_ops;
#[cfg(feature = "cube")]
mod cube;
pub mod grouped_conv;
mod host;
#[cfg(target_arch = "x86_64")]
pub mod sgemm;
mod zeros;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, binary, unary};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::ops::{ConvOptions, FloatTensor, FloatTensorOps};
use burn::tensor::{Shape, Tensor, TensorPrimitive};

use attention_ops::{composed_attention, record_attention};
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
    /// feature encoder's weights as matrices: a quarter of what one of two threads did alone
    /// in a base step, 2026-12-05).
    fn contiguous(x: FloatTensor<Self>) -> FloatTensor<Self> {
        x
    }

    /// Weight normalization over the last dimension (PyTorch's `weight_norm(dim=2)` on the
    /// positional conv's `[channels, channels / groups, kernel]`): `g * v / ||v||`, the norm of
    /// `v`'s values at each index of its last dimension over all the others, `g` one magnitude
    /// per index (HF's `[1, 1, kernel]`). Composed, it is five element-wise operations over
    /// `v` forward and seven in the backward pass, on one thread each in burn-flex (the
    /// largest single-threaded work of a base step, 2026-12-05); the CPU backends make one
    /// parallel pass for the norms (f64 sums in fixed blocks of rows) and one for the output.
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
    /// on one thread (3.6% of an SSL extraction's samples for 13 states, 2026-12-05); the CPU
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
    /// backends): the context, the probabilities before dropout `[batch, heads, frames,
    /// frames]`, and the dropout's keep mask (drawn from the backend's generator as burn's
    /// `Dropout` draws it: Bernoulli with `1 - dropout`, the probabilities then times keep
    /// over `1 - dropout`), for [`Kernels::attention_backward`]. The default: `None`, and
    /// autodiff composes attention from operations instead.
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

/// One AdamW step's settings, as burn-optim's `AdamW` holds them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWStep {
    /// Decay of the first moment.
    pub beta_1: f32,
    /// Decay of the second moment.
    pub beta_2: f32,
    /// Added to the root of the corrected second moment.
    pub epsilon: f32,
    /// Decoupled weight decay.
    pub weight_decay: f32,
    /// The learning rate.
    pub lr: f64,
    /// The step's number, from 1.
    pub time: usize,
    /// The factor of the gradient (the global-norm clipping's), `None` for 1.
    pub grad_scale: Option<f32>,
}

/// The f32 scalars of an [`AdamWStep`], rounded as burn-optim rounds them (its scalars reach
/// f32 tensors through `f64` and back), so that the fused kernel and the operations agree to
/// the bit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdamWScalars {
    beta_1: f32,
    beta_2: f32,
    /// `1 - beta_1`, `1 - beta_2`.
    factor_1: f32,
    factor_2: f32,
    /// The bias corrections `1 - beta^t`.
    correction_1: f32,
    correction_2: f32,
    epsilon: f32,
    /// `1 - lr * weight_decay`, or `None` without decay (burn then leaves the value as is).
    decay: Option<f32>,
    lr: f32,
    grad_scale: Option<f32>,
}

impl AdamWStep {
    pub(crate) fn scalars(&self) -> AdamWScalars {
        let time = self.time as i32;
        let decay_rate = self.lr * f64::from(self.weight_decay);
        AdamWScalars {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            factor_1: 1.0 - self.beta_1,
            factor_2: 1.0 - self.beta_2,
            correction_1: 1f32 - self.beta_1.powi(time),
            correction_2: 1f32 - self.beta_2.powi(time),
            epsilon: self.epsilon,
            decay: (decay_rate != 0.0).then_some((1.0 - decay_rate) as f32),
            lr: self.lr as f32,
            grad_scale: self.grad_scale,
        }
    }
}

impl AdamWScalars {
    /// One element's update: `(param, moment_1, moment_2)` after the step, each operation as
    /// burn-optim's tensor operation on this element (no fused multiply-adds).
    #[inline(always)]
    pub(crate) fn update(&self, param: f32, grad: f32, moments: Option<(f32, f32)>) -> (f32, f32, f32) {
        let grad = match self.grad_scale {
            Some(scale) => grad * scale,
            None => grad,
        };
        let square = grad * grad;
        let (m, v) = match moments {
            Some((m, v)) => (m * self.beta_1 + grad * self.factor_1, v * self.beta_2 + square * self.factor_2),
            None => (grad * self.factor_1, square * self.factor_2),
        };
        let delta = (m / self.correction_1) / ((v / self.correction_2).sqrt() + self.epsilon);
        let decayed = match self.decay {
            Some(keep) => param * keep,
            None => param,
        };
        (decayed - delta * self.lr, m, v)
    }
}

/// [`Kernels::adamw_step`] from the backend's operations, as burn-optim 0.21's `AdamW`.
fn adamw_step_by_ops<B: Backend>(
    param: FloatTensor<B>,
    grad: FloatTensor<B>,
    moments: Option<[FloatTensor<B>; 2]>,
    step: AdamWStep,
) -> [FloatTensor<B>; 3] {
    let s = step.scalars();
    let grad = match s.grad_scale {
        Some(scale) => B::float_mul_scalar(grad, scale.into()),
        None => grad,
    };
    let square = B::float_mul(grad.clone(), grad.clone());
    let (m, v) = match moments {
        Some([m, v]) => (
            B::float_add(B::float_mul_scalar(m, s.beta_1.into()), B::float_mul_scalar(grad, s.factor_1.into())),
            B::float_add(B::float_mul_scalar(v, s.beta_2.into()), B::float_mul_scalar(square, s.factor_2.into())),
        ),
        None => (B::float_mul_scalar(grad, s.factor_1.into()), B::float_mul_scalar(square, s.factor_2.into())),
    };
    let corrected_1 = B::float_div_scalar(m.clone(), s.correction_1.into());
    let corrected_2 = B::float_div_scalar(v.clone(), s.correction_2.into());
    let delta = B::float_div(corrected_1, B::float_add_scalar(B::float_sqrt(corrected_2), s.epsilon.into()));
    let decayed = match s.decay {
        Some(keep) => B::float_mul_scalar(param, keep.into()),
        None => param,
    };
    [B::float_sub(decayed, B::float_mul_scalar(delta, s.lr.into())), m, v]
}

/// [`Kernels::squared_sums`] from the backend's operations: each `x^2` summed in its float
/// type on the device, the sums joined and read at once.
fn squared_sums_by_ops<B: Backend>(xs: Vec<FloatTensor<B>>) -> Vec<f64> {
    if xs.is_empty() {
        return Vec::new();
    }
    let sums = xs
        .into_iter()
        .map(|x| {
            let n = burn::tensor::TensorMetadata::shape(&x).num_elements();
            let flat = Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(B::float_reshape(x, [n].into())));
            flat.powi_scalar(2).sum()
        })
        .collect();
    let sums = Tensor::cat(sums, 0).into_data().convert::<f64>();
    sums.into_vec().expect("f64 values after `convert`")
}

/// The last dimension of a float primitive.
fn last_dim<B: Backend>(x: &FloatTensor<B>) -> usize {
    burn::tensor::TensorMetadata::shape(x).num_dims() - 1
}

/// [`Kernels::softmax_last`] from the backend's operations: `exp(x - max) / Σ exp(x - max)`.
fn softmax_last_by_ops<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let dim = last_dim::<B>(&x);
    let max = B::float_max_dim(x.clone(), dim);
    let exp = B::float_exp(B::float_sub(x, max));
    let sum = B::float_sum_dim(exp.clone(), dim);
    B::float_div(exp, sum)
}

/// [`Kernels::softmax_last_backward`] from the backend's operations.
fn softmax_last_backward_by_ops<B: Backend>(
    y: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let dim = last_dim::<B>(&y);
    let dot = B::float_sum_dim(B::float_mul(grad.clone(), y.clone()), dim);
    B::float_mul(y, B::float_sub(grad, dot))
}

/// [`Kernels::exact_gelu_backward`] from the backend's `erf` and `exp`.
fn exact_gelu_backward_by_ops<B: Backend>(
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let cdf = B::float_mul_scalar(
        B::float_add_scalar(
            B::float_erf(B::float_mul_scalar(
                x.clone(),
                std::f32::consts::FRAC_1_SQRT_2.into(),
            )),
            1.0.into(),
        ),
        0.5.into(),
    );
    let square = B::float_mul(x.clone(), x.clone());
    let pdf = B::float_mul_scalar(
        B::float_exp(B::float_mul_scalar(square, (-0.5).into())),
        FRAC_1_SQRT_2PI.into(),
    );
    let derivative = B::float_add(cdf, B::float_mul(x, pdf));
    B::float_mul(derivative, grad)
}

/// The windows (frames) of an unpadded conv of `kernel` taps and `stride` over `time` steps,
/// `time >= kernel`.
fn window_count(time: usize, kernel: usize, stride: usize) -> usize {
    (time - kernel) / stride + 1
}

/// The pieces [`conv_windows_by_ops`] cuts a window into, each `(offset, width, start,
/// skip)`: time steps `offset..offset + width` of the window, read from rows of `stride`
/// steps starting at time step `start` of the input, `skip` steps into each row.
///
/// The input cut into rows of `stride` time steps holds in row `t` the first `stride` steps of
/// frame `t`'s window; its next `stride` steps are row `t + 1`, and so on, so a window is
/// `ceil(kernel / stride)` consecutive rows, the last one cut short. Each piece is read from
/// rows aligned on its own end, which keeps every row inside the input; only a kernel shorter
/// than the stride may need the input padded with zeros (never read).
fn window_pieces(kernel: usize, stride: usize) -> impl Iterator<Item = [usize; 4]> {
    (0..kernel.div_ceil(stride)).map(move |piece| {
        let offset = piece * stride;
        let width = stride.min(kernel - offset);
        match (offset + width).checked_sub(stride) {
            Some(start) => [offset, width, start, stride - width],
            None => [offset, width, offset, 0],
        }
    })
}

/// [`Kernels::conv_windows`] from reshapes, narrows and a concatenation (see
/// [`window_pieces`]).
fn conv_windows_by_ops<B: Backend>(
    x: FloatTensor<B>,
    kernel: usize,
    stride: usize,
) -> FloatTensor<B> {
    let x = tensor::<B, 3>(x);
    let [batch, time, channels] = x.dims();
    let frames = window_count(time, kernel, stride);
    let x = match frames * stride > time {
        true => {
            let zeros = Tensor::zeros([batch, frames * stride - time, channels], (&x.device(), x.dtype()));
            Tensor::cat(vec![x, zeros], 1)
        }
        false => x,
    };
    let pieces: Vec<Tensor<B, 3>> = window_pieces(kernel, stride)
        .map(|[_, width, start, skip]| {
            let rows = x.clone().narrow(1, start, frames * stride).reshape([
                batch,
                frames,
                stride * channels,
            ]);
            rows.narrow(2, skip * channels, width * channels)
        })
        .collect();
    let windows = Tensor::cat(pieces, 2).reshape([batch * frames, kernel * channels]);
    windows.into_primitive().tensor()
}

/// [`Kernels::conv_windows_backward`] by the same reshapes as [`conv_windows_by_ops`], in
/// reverse: each piece's columns of the gradient padded back to whole rows and added at its
/// rows.
fn conv_windows_backward_by_ops<B: Backend>(
    grad: FloatTensor<B>,
    [batch, time, channels]: [usize; 3],
    kernel: usize,
    stride: usize,
) -> FloatTensor<B> {
    let frames = window_count(time, kernel, stride);
    let grad = tensor::<B, 2>(grad).reshape([batch, frames, kernel * channels]);
    // In the gradient's dtype (bf16 under `Precision::Bf16`).
    let options = (&grad.device(), grad.dtype());
    let zeros = |steps: usize| Tensor::<B, 3>::zeros([batch, frames, steps * channels], options);
    let mut dx = Tensor::<B, 3>::zeros([batch, time.max(frames * stride), channels], options);
    for [offset, width, start, skip] in window_pieces(kernel, stride) {
        let piece = grad.clone().narrow(2, offset * channels, width * channels);
        let after = stride - skip - width;
        let parts =
            [(skip > 0).then(|| zeros(skip)), Some(piece), (after > 0).then(|| zeros(after))];
        let rows = Tensor::cat(parts.into_iter().flatten().collect(), 2)
            .reshape([batch, frames * stride, channels]);
        let range = [0..batch, start..start + frames * stride, 0..channels];
        dx = dx.clone().slice_assign(range.clone(), dx.slice(range) + rows);
    }
    dx.narrow(1, 0, time).into_primitive().tensor()
}

/// `x` `[batch, time, channels]` channels first, `[batch, channels, time + padding]`, with
/// `padding` zeros before and after its time steps.
fn padded_channels_first<B: Backend>(
    x: FloatTensor<B>,
    [left, right]: [usize; 2],
) -> FloatTensor<B> {
    let x = tensor::<B, 3>(x).swap_dims(1, 2);
    let [batch, channels, _] = x.dims();
    let zeros = |steps| Tensor::<B, 3>::zeros([batch, channels, steps], (&x.device(), x.dtype()));
    let pieces =
        [(left > 0).then(|| zeros(left)), Some(x.clone()), (right > 0).then(|| zeros(right))];
    Tensor::cat(pieces.into_iter().flatten().collect(), 2).into_primitive().tensor()
}

/// The options of [`Kernels::grouped_conv1d`] as burn's conv on a padded input.
fn grouped_conv_options(groups: usize) -> ConvOptions<1> {
    ConvOptions::new([1], [0], [1], groups)
}

/// [`Kernels::grouped_conv1d`] with the backend's conv.
fn grouped_conv1d_by_ops<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    groups: usize,
    padding: [usize; 2],
) -> FloatTensor<B> {
    let padded = padded_channels_first::<B>(x, padding);
    let y = B::conv1d(padded, weight, None, grouped_conv_options(groups));
    tensor::<B, 3>(y).swap_dims(1, 2).into_primitive().tensor()
}

/// [`Kernels::grouped_conv1d_backward`] with the backend's conv backward.
fn grouped_conv1d_backward_by_ops<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    groups: usize,
    padding: [usize; 2],
) -> [FloatTensor<B>; 2] {
    let time = tensor::<B, 3>(x.clone()).dims()[1];
    let padded = padded_channels_first::<B>(x, padding);
    let grad = tensor::<B, 3>(grad).swap_dims(1, 2).into_primitive().tensor();
    let options = grouped_conv_options(groups);
    let dx = B::conv1d_x_backward(padded.clone(), weight.clone(), grad.clone(), options.clone());
    let dx = tensor::<B, 3>(dx).narrow(2, padding[0], time).swap_dims(1, 2);
    let dweight = B::conv1d_weight_backward(padded, weight, grad, options);
    [dx.into_primitive().tensor(), dweight]
}

/// [`Kernels::group_norm_over_time`] from the backend's tensor operations.
fn group_norm_over_time_by_ops<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    beta: FloatTensor<B>,
    epsilon: f64,
) -> FloatTensor<B> {
    let (normalized, _) = normalize(tensor::<B, 3>(x), epsilon);
    let [channels] = tensor::<B, 1>(gamma.clone()).dims();
    let gamma = tensor::<B, 1>(gamma).reshape([1, 1, channels]);
    let beta = tensor::<B, 1>(beta).reshape([1, 1, channels]);
    (normalized * gamma + beta).into_primitive().tensor()
}

/// [`Kernels::group_norm_over_time_backward`] from the backend's tensor operations.
fn group_norm_over_time_backward_by_ops<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    grad: FloatTensor<B>,
    epsilon: f64,
) -> [FloatTensor<B>; 3] {
    let (normalized, std) = normalize(tensor::<B, 3>(x), epsilon);
    let grad = tensor::<B, 3>(grad);
    let [channels] = tensor::<B, 1>(gamma.clone()).dims();
    let scaled = grad.clone() * tensor::<B, 1>(gamma).reshape([1, 1, channels]);
    let dx = normalized_gradient(scaled, normalized.clone(), std);
    let dgamma = (grad.clone() * normalized).sum_dim(1).sum_dim(0).reshape([channels]);
    let dbeta = grad.sum_dim(1).sum_dim(0).reshape([channels]);
    [
        dx.into_primitive().tensor(),
        dgamma.into_primitive().tensor(),
        dbeta.into_primitive().tensor(),
    ]
}

/// [`Kernels::layer_norm_last_backward`] from the backend's tensor operations, on `x` seen
/// as rows of its last dimension.
fn layer_norm_last_backward_by_ops<B: Backend>(
    x: FloatTensor<B>,
    gamma: FloatTensor<B>,
    grad: FloatTensor<B>,
    epsilon: f64,
) -> [FloatTensor<B>; 3] {
    let shape = burn::tensor::TensorMetadata::shape(&x);
    let width = shape[shape.num_dims() - 1];
    let rows = shape.num_elements() / width.max(1);
    let x = tensor::<B, 2>(B::float_reshape(x, [rows, width].into()));
    let grad = tensor::<B, 2>(B::float_reshape(grad, [rows, width].into()));
    let (normalized, std) = normalize(x, epsilon);
    let scaled = grad.clone() * tensor::<B, 1>(gamma).reshape([1, width]);
    let dx = normalized_gradient(scaled, normalized.clone(), std);
    let dgamma = (grad.clone() * normalized).sum_dim(0).reshape([width]);
    let dbeta = grad.sum_dim(0).reshape([width]);
    [
        B::float_reshape(dx.into_primitive().tensor(), shape),
        dgamma.into_primitive().tensor(),
        dbeta.into_primitive().tensor(),
    ]
}

/// [`Kernels::add_gated_bias`] as burn's broadcast product and sum.
fn add_gated_bias_by_ops<B: Backend>(
    scores: FloatTensor<B>,
    gate: FloatTensor<B>,
    bias: FloatTensor<B>,
) -> FloatTensor<B> {
    let gate = tensor::<B, 3>(gate).unsqueeze_dim::<4>(3);
    let gated = gate * tensor::<B, 3>(bias).unsqueeze_dim::<4>(0);
    (tensor::<B, 4>(scores) + gated).into_primitive().tensor()
}

/// [`Kernels::add_gated_bias_backward`] from burn's operations.
fn add_gated_bias_backward_by_ops<B: Backend>(
    gate: FloatTensor<B>,
    bias: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> [FloatTensor<B>; 2] {
    let (gate, bias, grad) = (tensor::<B, 3>(gate), tensor::<B, 3>(bias), tensor::<B, 4>(grad));
    let ([batch, heads, frames], [_, _, keys]) = (gate.dims(), bias.dims());
    let dgate = (grad.clone() * bias.unsqueeze_dim::<4>(0)).sum_dim(3).reshape([batch, heads, frames]);
    let dbias = (grad * gate.unsqueeze_dim::<4>(3)).sum_dim(0).reshape([heads, frames, keys]);
    [dgate.into_primitive().tensor(), dbias.into_primitive().tensor()]
}

/// [`Kernels::add_bias`] as burn's broadcast addition.
fn add_bias_by_ops<B: Backend>(x: FloatTensor<B>, bias: FloatTensor<B>) -> FloatTensor<B> {
    (tensor::<B, 2>(x) + tensor::<B, 1>(bias).unsqueeze_dim::<2>(0)).into_primitive().tensor()
}

/// [`Kernels::column_sums`] as burn's sum over rows.
fn column_sums_by_ops<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let [_, n] = tensor::<B, 2>(x.clone()).dims();
    tensor::<B, 2>(x).sum_dim(0).reshape([n]).into_primitive().tensor()
}

/// `v` `[rows..., k]` and `g` (`k` values) as `[rows, k]` and `[1, k]`, and `v`'s shape.
fn weight_norm_operands<B: Backend>(v: FloatTensor<B>, g: FloatTensor<B>) -> (Tensor<B, 2>, Tensor<B, 2>, Shape) {
    let shape = burn::tensor::TensorMetadata::shape(&v);
    let k = shape[shape.num_dims() - 1];
    let rows = shape.num_elements() / k.max(1);
    let v = tensor::<B, 2>(B::float_reshape(v, Shape::new([rows, k])));
    let g = tensor::<B, 2>(B::float_reshape(g, Shape::new([1, k])));
    (v, g, shape)
}

/// [`Kernels::weight_norm`] from burn's operations.
fn weight_norm_by_ops<B: Backend>(v: FloatTensor<B>, g: FloatTensor<B>) -> FloatTensor<B> {
    let (v, g, shape) = weight_norm_operands::<B>(v, g);
    let norm = v.clone().powi_scalar(2).sum_dim(0).sqrt();
    B::float_reshape((v * (g / norm)).into_primitive().tensor(), shape)
}

/// [`Kernels::weight_norm_backward`] from burn's operations.
fn weight_norm_backward_by_ops<B: Backend>(
    v: FloatTensor<B>,
    g: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> [FloatTensor<B>; 2] {
    let g_shape = burn::tensor::TensorMetadata::shape(&g);
    let (v, g, shape) = weight_norm_operands::<B>(v, g);
    let grad = tensor::<B, 2>(B::float_reshape(grad, Shape::new(v.dims())));
    let norm = v.clone().powi_scalar(2).sum_dim(0).sqrt();
    let d = (grad.clone() * v.clone()).sum_dim(0);
    let dv = grad * (g.clone() / norm.clone()) - v * (g * d.clone() / norm.clone().powi_scalar(3));
    let dg = d / norm;
    [B::float_reshape(dv.into_primitive().tensor(), shape), B::float_reshape(dg.into_primitive().tensor(), g_shape)]
}

/// [`Kernels::masked_mean_std`] from burn's broadcasts and sums.
fn masked_mean_std_by_ops<B: Backend>(state: FloatTensor<B>, valid: FloatTensor<B>) -> FloatTensor<B> {
    let (state, valid) = (tensor::<B, 3>(state), tensor::<B, 2>(valid));
    let counts = valid.clone().sum_dim(1);
    let weights = valid.unsqueeze_dim::<3>(2);
    let mean = (state.clone() * weights.clone()).sum_dim(1).squeeze_dim::<2>(1) / counts.clone();
    let centered = (state - mean.clone().unsqueeze_dim::<3>(1)) * weights;
    let variance = centered.powi_scalar(2).sum_dim(1).squeeze_dim::<2>(1) / counts;
    Tensor::cat(vec![mean, variance.sqrt()], 1).into_primitive().tensor()
}

/// [`Kernels::split_heads`] as burn's reshape and transposed view.
fn split_heads_by_ops<B: Backend>(x: FloatTensor<B>, heads: usize) -> FloatTensor<B> {
    let [batch, frames, hidden] = tensor::<B, 3>(x.clone()).dims();
    let t = tensor::<B, 3>(x).reshape([batch, frames, heads, hidden / heads]).swap_dims(1, 2);
    t.into_primitive().tensor()
}

/// [`Kernels::merge_heads`] as burn's transposed view and reshape.
fn merge_heads_by_ops<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let [batch, heads, frames, width] = tensor::<B, 4>(x.clone()).dims();
    let t = tensor::<B, 4>(x).swap_dims(1, 2).reshape([batch, frames, heads * width]);
    t.into_primitive().tensor()
}

/// A float primitive as a tensor of rank `D`.
fn tensor<B: Backend, const D: usize>(x: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(x))
}

/// `x` normalized along dimension 1 (over time per channel of `[batch, time, channels]`, the
/// group norm's; over each row of `[rows, width]`, the layer norm's), and the standard
/// deviations, kept as a dimension of 1 (biased variance, as PyTorch's norms). (A division,
/// not a multiplication by `recip()`: ndarray's SIMD `recip` is an approximation, off by up to
/// 1e-4.)
fn normalize<B: Backend, const D: usize>(x: Tensor<B, D>, epsilon: f64) -> (Tensor<B, D>, Tensor<B, D>) {
    let centered = x.clone() - x.mean_dim(1);
    let std = (centered.clone().powi_scalar(2).mean_dim(1) + epsilon).sqrt();
    (centered / std.clone(), std)
}

/// The input's gradient of a norm along dimension 1 from [`normalize`]'s output and the
/// gradient scaled by gamma, `scaled`: `(scaled - mean scaled - x̂ mean(scaled x̂)) / σ`.
fn normalized_gradient<B: Backend, const D: usize>(
    scaled: Tensor<B, D>,
    normalized: Tensor<B, D>,
    std: Tensor<B, D>,
) -> Tensor<B, D> {
    (scaled.clone() - scaled.clone().mean_dim(1) - normalized.clone() * (scaled * normalized).mean_dim(1)) / std
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

/// Whether vox's kernels run on burn's cubecl backends ([`cube`]; off with
/// `VOX_CUBE_KERNELS=0`, and without the `cube` feature).
pub fn cube_kernels_on() -> bool {
    #[cfg(feature = "cube")]
    return cube::enabled();
    #[cfg(not(feature = "cube"))]
    false
}

// Without fusion, cuda (and wgpu) are burn-cubecl's `CubeBackend`, with vox's kernels in
// [`cube`]; with it, the trait's defaults.
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

/// `impl Kernels` for a CPU backend whose float tensors are [`host::HostTensor`]s: vox's
/// kernels for f32, burn's operations (the trait's defaults) for what they refuse.
macro_rules! host_kernels {
    ($backend:ty) => {
        impl Kernels for $backend {
            fn matmul_2d(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
                match host::sgemm(&a, &b) {
                    Some(c) => c,
                    None => <Self as FloatTensorOps<Self>>::float_matmul(a, b),
                }
            }

            fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
                match host::map(&x, None, cpu::gelu) {
                    Some(y) => y,
                    None => <Self as burn::tensor::ops::ActivationOps<Self>>::gelu(x),
                }
            }

            fn exact_gelu_backward(
                x: FloatTensor<Self>,
                grad: FloatTensor<Self>,
            ) -> FloatTensor<Self> {
                match host::map(&x, Some(&grad), cpu::gelu_backward) {
                    Some(y) => y,
                    None => exact_gelu_backward_by_ops::<Self>(x, grad),
                }
            }

            fn group_norm_over_time(
                x: FloatTensor<Self>,
                gamma: FloatTensor<Self>,
                beta: FloatTensor<Self>,
                epsilon: f64,
            ) -> FloatTensor<Self> {
                match host::all_f32(&[&x, &gamma, &beta]) {
                    true => host::group_norm_over_time(&x, &gamma, &beta, epsilon),
                    false => group_norm_over_time_by_ops::<Self>(x, gamma, beta, epsilon),
                }
            }

            fn group_norm_over_time_backward(
                x: FloatTensor<Self>,
                gamma: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                epsilon: f64,
            ) -> [FloatTensor<Self>; 3] {
                match host::all_f32(&[&x, &gamma, &grad]) {
                    true => host::group_norm_over_time_backward(&x, &gamma, &grad, epsilon),
                    false => group_norm_over_time_backward_by_ops::<Self>(x, gamma, grad, epsilon),
                }
            }

            fn layer_norm_last_backward(
                x: FloatTensor<Self>,
                gamma: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                epsilon: f64,
            ) -> [FloatTensor<Self>; 3] {
                match host::all_f32(&[&x, &gamma, &grad]) {
                    true => host::layer_norm_last_backward(&x, &gamma, &grad, epsilon),
                    false => layer_norm_last_backward_by_ops::<Self>(x, gamma, grad, epsilon),
                }
            }

            fn grouped_conv1d(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                groups: usize,
                padding: [usize; 2],
            ) -> FloatTensor<Self> {
                match host::grouped_conv(&x, &weight, groups, padding) {
                    Some(conv) => host::grouped_conv1d(&conv, &x, &weight),
                    None => grouped_conv1d_by_ops::<Self>(x, weight, groups, padding),
                }
            }

            fn grouped_conv1d_backward(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                groups: usize,
                padding: [usize; 2],
            ) -> [FloatTensor<Self>; 2] {
                match host::grouped_conv(&x, &weight, groups, padding) {
                    Some(conv) if host::all_f32(&[&grad]) => {
                        host::grouped_conv1d_backward(&conv, &x, &weight, &grad)
                    }
                    _ => grouped_conv1d_backward_by_ops::<Self>(x, weight, grad, groups, padding),
                }
            }

            fn conv_windows(
                x: FloatTensor<Self>,
                kernel: usize,
                stride: usize,
            ) -> FloatTensor<Self> {
                match host::all_f32(&[&x]) {
                    true => host::conv_windows(&x, kernel, stride),
                    false => conv_windows_by_ops::<Self>(x, kernel, stride),
                }
            }

            fn conv_as_matmul(
                x: FloatTensor<Self>,
                weight: FloatTensor<Self>,
                kernel: usize,
                stride: usize,
            ) -> FloatTensor<Self> {
                match host::conv_as_matmul(&x, &weight, kernel, stride) {
                    Some(y) => y,
                    None => Self::matmul_2d(Self::conv_windows(x, kernel, stride), weight),
                }
            }

            fn conv_windows_backward(
                grad: FloatTensor<Self>,
                dims: [usize; 3],
                kernel: usize,
                stride: usize,
            ) -> FloatTensor<Self> {
                match host::all_f32(&[&grad]) {
                    true => host::conv_windows_backward(&grad, dims, kernel, stride),
                    false => conv_windows_backward_by_ops::<Self>(grad, dims, kernel, stride),
                }
            }

            fn add_gated_bias(
                scores: FloatTensor<Self>,
                gate: FloatTensor<Self>,
                bias: FloatTensor<Self>,
            ) -> FloatTensor<Self> {
                match host::gated_bias_shapes(&scores, &gate, &bias) {
                    true => host::add_gated_bias(&scores, &gate, &bias),
                    false => add_gated_bias_by_ops::<Self>(scores, gate, bias),
                }
            }

            fn add_gated_bias_backward(
                gate: FloatTensor<Self>,
                bias: FloatTensor<Self>,
                grad: FloatTensor<Self>,
            ) -> [FloatTensor<Self>; 2] {
                match host::gated_bias_shapes(&grad, &gate, &bias) {
                    true => host::add_gated_bias_backward(&gate, &bias, &grad),
                    false => add_gated_bias_backward_by_ops::<Self>(gate, bias, grad),
                }
            }

            fn add_bias(x: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
                let (dims, n) = (burn::tensor::TensorMetadata::shape(&x), burn::tensor::TensorMetadata::shape(&bias));
                match host::all_f32(&[&x, &bias]) && dims.num_dims() == 2 && n.num_dims() == 1 && dims[1] == n[0] {
                    true => host::add_bias(&x, &bias),
                    false => add_bias_by_ops::<Self>(x, bias),
                }
            }

            fn column_sums(x: FloatTensor<Self>) -> FloatTensor<Self> {
                let dims = burn::tensor::TensorMetadata::shape(&x);
                match host::all_f32(&[&x]) && dims.num_dims() == 2 {
                    true => host::column_sums(&x),
                    false => column_sums_by_ops::<Self>(x),
                }
            }

            fn contiguous(x: FloatTensor<Self>) -> FloatTensor<Self> {
                match host::all_f32(&[&x]) {
                    true => host::HostTensor::contiguous(&x),
                    false => x,
                }
            }

            fn weight_norm(v: FloatTensor<Self>, g: FloatTensor<Self>) -> FloatTensor<Self> {
                match host::weight_norm(&v, &g) {
                    Some(w) => w,
                    None => weight_norm_by_ops::<Self>(v, g),
                }
            }

            fn weight_norm_backward(
                v: FloatTensor<Self>,
                g: FloatTensor<Self>,
                grad: FloatTensor<Self>,
            ) -> [FloatTensor<Self>; 2] {
                match host::weight_norm_backward(&v, &g, &grad) {
                    Some(partials) => partials,
                    None => weight_norm_backward_by_ops::<Self>(v, g, grad),
                }
            }

            fn masked_mean_std(state: FloatTensor<Self>, valid: FloatTensor<Self>) -> FloatTensor<Self> {
                match host::masked_mean_std(&state, &valid) {
                    Some(pooled) => pooled,
                    None => masked_mean_std_by_ops::<Self>(state, valid),
                }
            }

            fn split_heads(x: FloatTensor<Self>, heads: usize) -> FloatTensor<Self> {
                let dims = burn::tensor::TensorMetadata::shape(&x);
                match host::all_f32(&[&x]) && dims.num_dims() == 3 && dims[2] % heads.max(1) == 0 {
                    true => host::split_heads(&x, heads),
                    false => split_heads_by_ops::<Self>(x, heads),
                }
            }

            fn merge_heads(x: FloatTensor<Self>) -> FloatTensor<Self> {
                let dims = burn::tensor::TensorMetadata::shape(&x);
                match host::all_f32(&[&x]) && dims.num_dims() == 4 {
                    true => host::merge_heads(&x),
                    false => merge_heads_by_ops::<Self>(x),
                }
            }

            fn multi_head_attention(x: AttentionInputs<FloatTensor<Self>>) -> FloatTensor<Self> {
                match host::attention(&x) {
                    Some(context) => context,
                    None => composed_attention::<Self>(x, 0.0),
                }
            }

            fn attention_saving(x: AttentionInputs<FloatTensor<Self>>, dropout: f64) -> Option<SavedAttention<FloatTensor<Self>>> {
                let dims = host::attention_dims(&x)?;
                // Drawn as burn's `Dropout` draws it (`random_like` of the probabilities), so a
                // seed gives the same mask as the composed operations.
                let keep = (dropout > 0.0).then(|| {
                    let shape = burn::tensor::Shape::from([dims.batch, dims.heads, dims.frames, dims.frames]);
                    let keep = burn::tensor::Distribution::Bernoulli(1.0 - dropout);
                    let device = Self::float_device(&x.q);
                    Self::float_random(shape, keep, &device, burn::tensor::FloatDType::F32)
                });
                let [context, probs] = host::attention_saving(dims, &x, keep.as_ref(), dropout);
                Some(SavedAttention { context, probs, keep })
            }

            fn attention_backward(
                x: AttentionInputs<FloatTensor<Self>>,
                saved: SavedAttention<FloatTensor<Self>>,
                dropout: f64,
                grad: FloatTensor<Self>,
            ) -> AttentionGradients<FloatTensor<Self>> {
                match host::attention_dims(&x) {
                    Some(dims) => {
                        let ([q, k, v], gated) =
                            host::attention_backward(dims, &x, &saved.probs, saved.keep.as_ref(), dropout, &grad);
                        AttentionGradients { q, k, v, gated }
                    }
                    None => attention_backward_by_ops::<Self>(x, saved, dropout, grad),
                }
            }

            fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
                match host::rows_map(&x, None, cpu::softmax_rows) {
                    Some(y) => y,
                    None => softmax_last_by_ops::<Self>(x),
                }
            }

            fn softmax_last_backward(
                y: FloatTensor<Self>,
                grad: FloatTensor<Self>,
            ) -> FloatTensor<Self> {
                match host::rows_map(&y, Some(&grad), cpu::softmax_backward_rows) {
                    Some(dx) => dx,
                    None => softmax_last_backward_by_ops::<Self>(y, grad),
                }
            }

            fn adamw_step(
                param: FloatTensor<Self>,
                grad: FloatTensor<Self>,
                moments: Option<[FloatTensor<Self>; 2]>,
                step: AdamWStep,
            ) -> [FloatTensor<Self>; 3] {
                let f32 = host::all_f32(&[&param, &grad]) && moments.as_ref().is_none_or(|[m, v]| host::all_f32(&[m, v]));
                match f32 {
                    true => host::adamw_step(param, &grad, moments, step.scalars()),
                    false => adamw_step_by_ops::<Self>(param, grad, moments, step),
                }
            }

            fn squared_sums(xs: Vec<FloatTensor<Self>>) -> Vec<f64> {
                // No device to wait for: each sum in f64, in parallel within the tensor.
                xs.into_iter()
                    .map(|x| match host::all_f32(&[&x]) {
                        true => host::squared_sum(&x),
                        false => squared_sums_by_ops::<Self>(vec![x])[0],
                    })
                    .collect()
            }

            fn host_bytes(x: &FloatTensor<Self>) -> Option<&[u8]> {
                host::HostTensor::laid_out(x).map(bytemuck_f32)
            }
        }
    };
}

/// `values`' bytes in memory order.
fn bytemuck_f32(values: &[f32]) -> &[u8] {
    // SAFETY: any f32 is 4 initialized bytes, and u8 has no alignment requirement.
    unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), size_of_val(values)) }
}

host_kernels!(burn::backend::NdArray);
#[cfg(feature = "flex")]
host_kernels!(burn::backend::Flex);

/// The backward step of an operation whose one computation gives every parent's gradient:
/// the output's gradient consumed, `partials(state, grad)` computed, and each partial
/// registered to its parent in order (an untracked parent's dropped).
fn register_partials<B: Backend, S, const N: usize, P: IntoIterator<Item = FloatTensor<B>>>(
    ops: Ops<S, N>,
    grads: &mut Gradients,
    partials: impl FnOnce(S, FloatTensor<B>) -> P,
) {
    let grad = grads.consume::<B>(&ops.node);
    for (parent, partial) in ops.parents.into_iter().zip(partials(ops.state, grad)) {
        if let Some(parent) = parent {
            grads.register::<B>(parent.id, partial);
        }
    }
}

/// The norms with a gamma and a beta that vox computes itself; one autodiff step serves both
/// (its state is the input, gamma and epsilon).
#[derive(Clone, Copy, Debug)]
enum AffineNorm {
    /// [`Kernels::group_norm_over_time`].
    GroupOverTime,
    /// [`Kernels::layer_norm_last`].
    LayerLast,
}

impl AffineNorm {
    fn forward<B: Kernels>(
        self,
        x: FloatTensor<B>,
        gamma: FloatTensor<B>,
        beta: FloatTensor<B>,
        epsilon: f64,
    ) -> FloatTensor<B> {
        match self {
            Self::GroupOverTime => B::group_norm_over_time(x, gamma, beta, epsilon),
            Self::LayerLast => B::layer_norm_last(x, gamma, beta, epsilon),
        }
    }
}

impl<B: Kernels> Backward<B, 3> for AffineNorm {
    type State = (FloatTensor<B>, FloatTensor<B>, f64);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        register_partials::<B, _, 3, _>(ops, grads, |(x, gamma, epsilon), grad| match self {
            Self::GroupOverTime => B::group_norm_over_time_backward(x, gamma, grad, epsilon),
            Self::LayerLast => B::layer_norm_last_backward(x, gamma, grad, epsilon),
        });
    }
}

/// `norm` of `x` on the autodiff backend, recording its backward step when tracked.
fn affine_norm<B: Kernels, C: CheckpointStrategy>(
    norm: AffineNorm,
    x: FloatTensor<Autodiff<B, C>>,
    gamma: FloatTensor<Autodiff<B, C>>,
    beta: FloatTensor<Autodiff<B, C>>,
    epsilon: f64,
) -> FloatTensor<Autodiff<B, C>> {
    let nodes = [x.node.clone(), gamma.node.clone(), beta.node.clone()];
    match norm.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let output = norm.forward::<B>(x.primitive.clone(), gamma.primitive.clone(), beta.primitive, epsilon);
            prep.finish((x.primitive, gamma.primitive, epsilon), output)
        }
        OpsKind::UnTracked(prep) => prep.finish(norm.forward::<B>(x.primitive, gamma.primitive, beta.primitive, epsilon)),
    }
}

impl<B: Kernels, C: CheckpointStrategy> Kernels for Autodiff<B, C> {
    fn host_bytes(x: &FloatTensor<Self>) -> Option<&[u8]> {
        B::host_bytes(&x.primitive)
    }

    fn training_attention(x: AttentionInputs<FloatTensor<Self>>, dropout: f64) -> FloatTensor<Self> {
        let inner = x.clone().map(|t| t.primitive);
        let Some(saved) = B::attention_saving(inner.clone(), dropout) else {
            return composed_attention::<Self>(x, dropout);
        };
        let state = (inner, saved, dropout);
        match x.gated {
            Some([gate, bias]) => {
                record_attention::<B, C, 5>([x.q, x.k, x.v, gate, bias], state)
            }
            None => record_attention::<B, C, 3>([x.q, x.k, x.v], state),
        }
    }

    fn matmul_2d(a: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        /// Backward step of [`Kernels::matmul_2d`]; its state is both operands:
        /// `da = grad b^T`, `db = a^T grad`.
        #[derive(Debug)]
        struct Matmul2d;

        impl<B: Kernels> Backward<B, 2> for Matmul2d {
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let (a, b) = ops.state;
                let transpose = |x| B::float_swap_dims(x, 0, 1);
                binary::<B, _, _>(
                    ops.parents,
                    ops.node,
                    grads,
                    |grad| B::matmul_2d(grad, transpose(b)),
                    |grad| B::matmul_2d(transpose(a), grad),
                );
            }
        }

        match Matmul2d.prepare::<C>([a.node.clone(), b.node.clone()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::matmul_2d(a.primitive.clone(), b.primitive.clone());
                prep.finish((a.primitive, b.primitive), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::matmul_2d(a.primitive, b.primitive)),
        }
    }

    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        /// Backward step of [`Kernels::exact_gelu`]; its state is the input.
        #[derive(Debug)]
        struct ExactGelu;

        impl<B: Kernels> Backward<B, 1> for ExactGelu {
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let input = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::exact_gelu_backward(input, grad)
                });
            }
        }

        match ExactGelu.prepare::<C>([x.node.clone()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::exact_gelu(x.primitive.clone());
                prep.finish(x.primitive, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::exact_gelu(x.primitive)),
        }
    }

    fn group_norm_over_time(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        affine_norm::<B, C>(AffineNorm::GroupOverTime, x, gamma, beta, epsilon)
    }

    fn layer_norm_last(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        affine_norm::<B, C>(AffineNorm::LayerLast, x, gamma, beta, epsilon)
    }

    fn grouped_conv1d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        groups: usize,
        padding: [usize; 2],
    ) -> FloatTensor<Self> {
        /// Backward step of [`Kernels::grouped_conv1d`]; its state is the input, the weight,
        /// the groups and the padding.
        #[derive(Debug)]
        struct GroupedConv1d;

        impl<B: Kernels> Backward<B, 2> for GroupedConv1d {
            type State = (FloatTensor<B>, FloatTensor<B>, usize, [usize; 2]);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                register_partials::<B, _, 2, _>(ops, grads, |(x, weight, groups, padding), grad| {
                    B::grouped_conv1d_backward(x, weight, grad, groups, padding)
                });
            }
        }

        let nodes = [x.node.clone(), weight.node.clone()];
        match GroupedConv1d.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (input, taps) = (x.primitive.clone(), weight.primitive.clone());
                let output = B::grouped_conv1d(input, taps, groups, padding);
                prep.finish((x.primitive, weight.primitive, groups, padding), output)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::grouped_conv1d(x.primitive, weight.primitive, groups, padding))
            }
        }
    }

    fn conv_windows(x: FloatTensor<Self>, kernel: usize, stride: usize) -> FloatTensor<Self> {
        /// Backward step of [`Kernels::conv_windows`]; its state is the input's shape, the
        /// kernel and the stride.
        #[derive(Debug)]
        struct ConvWindows;

        impl<B: Kernels> Backward<B, 1> for ConvWindows {
            type State = ([usize; 3], usize, usize);

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let (dims, kernel, stride) = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::conv_windows_backward(grad, dims, kernel, stride)
                });
            }
        }

        let dims = tensor::<B, 3>(x.primitive.clone()).dims();
        match ConvWindows.prepare::<C>([x.node.clone()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                prep.finish((dims, kernel, stride), B::conv_windows(x.primitive, kernel, stride))
            }
            OpsKind::UnTracked(prep) => prep.finish(B::conv_windows(x.primitive, kernel, stride)),
        }
    }

    fn conv_as_matmul(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
    ) -> FloatTensor<Self> {
        /// Backward step of [`Kernels::conv_as_matmul`]; its state is the input, the weight,
        /// the kernel and the stride: `dx` is the windows' gradient `grad weight^T` added back
        /// onto the time steps, `dweight = windows^T grad`, the windows copied out again only
        /// here (the composed operations kept them in the graph from the forward on).
        #[derive(Debug)]
        struct ConvAsMatmul;

        impl<B: Kernels> Backward<B, 2> for ConvAsMatmul {
            type State = (FloatTensor<B>, FloatTensor<B>, usize, usize);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let (x, weight, kernel, stride) = ops.state;
                let dims = tensor::<B, 3>(x.clone()).dims();
                let transpose = |t| B::float_swap_dims(t, 0, 1);
                binary::<B, _, _>(
                    ops.parents,
                    ops.node,
                    grads,
                    |grad| {
                        let windows = B::matmul_2d(grad, transpose(weight));
                        B::conv_windows_backward(windows, dims, kernel, stride)
                    },
                    |grad| B::matmul_2d(transpose(B::conv_windows(x, kernel, stride)), grad),
                );
            }
        }

        let nodes = [x.node.clone(), weight.node.clone()];
        match ConvAsMatmul.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output =
                    B::conv_as_matmul(x.primitive.clone(), weight.primitive.clone(), kernel, stride);
                prep.finish((x.primitive, weight.primitive, kernel, stride), output)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::conv_as_matmul(x.primitive, weight.primitive, kernel, stride))
            }
        }
    }

    fn add_gated_bias(
        scores: FloatTensor<Self>,
        gate: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        /// Backward step of [`Kernels::add_gated_bias`]; its state is the gate and the bias.
        #[derive(Debug)]
        struct AddGatedBias;

        impl<B: Kernels> Backward<B, 3> for AddGatedBias {
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 3>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let (gate, bias) = ops.state;
                let grad = grads.consume::<B>(&ops.node);
                let [scores, gate_parent, bias_parent] = ops.parents;
                if gate_parent.is_some() || bias_parent.is_some() {
                    let [dgate, dbias] = B::add_gated_bias_backward(gate, bias, grad.clone());
                    if let Some(parent) = gate_parent {
                        grads.register::<B>(parent.id, dgate);
                    }
                    if let Some(parent) = bias_parent {
                        grads.register::<B>(parent.id, dbias);
                    }
                }
                if let Some(parent) = scores {
                    grads.register::<B>(parent.id, grad);
                }
            }
        }

        let nodes = [scores.node.clone(), gate.node.clone(), bias.node.clone()];
        match AddGatedBias.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::add_gated_bias(scores.primitive, gate.primitive.clone(), bias.primitive.clone());
                prep.finish((gate.primitive, bias.primitive), output)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::add_gated_bias(scores.primitive, gate.primitive, bias.primitive))
            }
        }
    }

    fn add_bias(x: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        /// Backward step of [`Kernels::add_bias`]: the gradient itself for `x`, its column
        /// sums for the bias.
        #[derive(Debug)]
        struct AddBias;

        impl<B: Kernels> Backward<B, 2> for AddBias {
            type State = ();

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                binary::<B, _, _>(ops.parents, ops.node, grads, |grad| grad, |grad| B::column_sums(grad));
            }
        }

        match AddBias.prepare::<C>([x.node.clone(), bias.node.clone()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((), B::add_bias(x.primitive, bias.primitive)),
            OpsKind::UnTracked(prep) => prep.finish(B::add_bias(x.primitive, bias.primitive)),
        }
    }

    fn contiguous(x: FloatTensor<Self>) -> FloatTensor<Self> {
        /// Backward step of [`Kernels::contiguous`]: the gradient itself.
        #[derive(Debug)]
        struct Contiguous;

        impl<B: Kernels> Backward<B, 1> for Contiguous {
            type State = ();

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                unary::<B, _>(ops.parents, ops.node, grads, |grad| grad);
            }
        }

        Contiguous.prepare::<C>([x.node.clone()]).compute_bound().stateless(B::contiguous(x.primitive))
    }

    fn weight_norm(v: FloatTensor<Self>, g: FloatTensor<Self>) -> FloatTensor<Self> {
        /// Backward step of [`Kernels::weight_norm`]; its state is `v` and `g`.
        #[derive(Debug)]
        struct WeightNorm;

        impl<B: Kernels> Backward<B, 2> for WeightNorm {
            type State = (FloatTensor<B>, FloatTensor<B>);

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                register_partials::<B, _, 2, _>(ops, grads, |(v, g), grad| B::weight_norm_backward(v, g, grad));
            }
        }

        match WeightNorm.prepare::<C>([v.node.clone(), g.node.clone()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let output = B::weight_norm(v.primitive.clone(), g.primitive.clone());
                prep.finish((v.primitive, g.primitive), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::weight_norm(v.primitive, g.primitive)),
        }
    }

    fn split_heads(x: FloatTensor<Self>, heads: usize) -> FloatTensor<Self> {
        /// Backward step of [`Kernels::split_heads`]: the gradient's heads merged back.
        #[derive(Debug)]
        struct SplitHeads;

        impl<B: Kernels> Backward<B, 1> for SplitHeads {
            type State = ();

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                unary::<B, _>(ops.parents, ops.node, grads, |grad| B::merge_heads(grad));
            }
        }

        match SplitHeads.prepare::<C>([x.node.clone()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((), B::split_heads(x.primitive, heads)),
            OpsKind::UnTracked(prep) => prep.finish(B::split_heads(x.primitive, heads)),
        }
    }

    fn merge_heads(x: FloatTensor<Self>) -> FloatTensor<Self> {
        /// Backward step of [`Kernels::merge_heads`]: the gradient split into heads again.
        #[derive(Debug)]
        struct MergeHeads;

        impl<B: Kernels> Backward<B, 1> for MergeHeads {
            type State = usize;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let heads = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| B::split_heads(grad, heads));
            }
        }

        let heads = tensor::<B, 4>(x.primitive.clone()).dims()[1];
        match MergeHeads.prepare::<C>([x.node.clone()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(heads, B::merge_heads(x.primitive)),
            OpsKind::UnTracked(prep) => prep.finish(B::merge_heads(x.primitive)),
        }
    }

    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        /// Backward step of [`Kernels::softmax_last`]; its state is the output.
        #[derive(Debug)]
        struct SoftmaxLast;

        impl<B: Kernels> Backward<B, 1> for SoftmaxLast {
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let y = ops.state;
                unary::<B, _>(ops.parents, ops.node, grads, |grad| {
                    B::softmax_last_backward(y, grad)
                });
            }
        }

        match SoftmaxLast.prepare::<C>([x.node.clone()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = B::softmax_last(x.primitive);
                prep.finish(y.clone(), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::softmax_last(x.primitive)),
        }
    }
}

/// The element-wise math, vectorized by the compiler for the widest SIMD the CPU has.
mod cpu {
    /// Calls the `#[inline(always)]` loop `$f` compiled for AVX-512 or AVX2 + FMA when the CPU
    /// has them, else as built. No floating-point contraction either way, so every path gives
    /// the same bits.
    macro_rules! widest {
        ($f:ident($($arg:ident: $ty:ty),*)) => {{
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
                fn avx512($($arg: $ty),*) {
                    $f($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) {
                    $f($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                {
                    // SAFETY: the CPU has the features `avx512` is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has the features `avx2` is compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $f($($arg),*)
        }};
    }

    /// `out = gelu(x)`.
    pub(super) fn gelu(x: &[f32], _: Option<&[f32]>, out: &mut [f32]) {
        widest!(gelu_loop(x: &[f32], out: &mut [f32]))
    }

    /// `out = grad * gelu'(x)`.
    pub(super) fn gelu_backward(x: &[f32], grad: Option<&[f32]>, out: &mut [f32]) {
        let grad = grad.expect("gelu_backward takes the incoming gradient");
        widest!(gelu_backward_loop(x: &[f32], grad: &[f32], out: &mut [f32]))
    }

    /// [`super::grouped_conv`]'s correlation of `rows` with `taps` into `out`.
    pub(super) fn correlate(rows: &[f32], taps: &[f32], n: usize, kernel: usize, out: &mut [f32]) {
        use super::grouped_conv::simd::correlate_loop;
        widest!(correlate_loop(rows: &[f32], taps: &[f32], n: usize, kernel: usize, out: &mut [f32]))
    }

    /// [`super::grouped_conv`]'s lagged products of `output` and `input`, added to `lags`.
    pub(super) fn accumulate_lags(output: &[f32], input: &[f32], lags: &mut [f32]) {
        use super::grouped_conv::simd::accumulate_lags_loop;
        widest!(accumulate_lags_loop(output: &[f32], input: &[f32], lags: &mut [f32]))
    }

    /// Softmax of each row of `x` (rows of `n`) into `out`.
    pub(super) fn softmax_rows(x: &[f32], _: Option<&[f32]>, out: &mut [f32], n: usize) {
        widest!(softmax_loop(x: &[f32], out: &mut [f32], n: usize))
    }

    /// `y (grad - Σ grad y)` for each row (of `n`) of the softmax output `y`, into `out`.
    pub(super) fn softmax_backward_rows(
        y: &[f32],
        grad: Option<&[f32]>,
        out: &mut [f32],
        n: usize,
    ) {
        let grad = grad.expect("softmax_backward takes the incoming gradient");
        widest!(softmax_backward_loop(y: &[f32], grad: &[f32], out: &mut [f32], n: usize))
    }

    /// [`super::attention`]'s product of a block of rows with a matrix (scores, context and
    /// the backward's products; see `block_product_loop`).
    pub(super) fn attention_block_product(a: &[f32], depth: usize, b: &[f32], out: &mut [f32]) {
        use super::attention::simd::block_product_loop;
        widest!(block_product_loop(a: &[f32], depth: usize, b: &[f32], out: &mut [f32]))
    }

    /// One query's scores `row` into its attention probabilities, in place: `gate * bias` added
    /// (`(gate, bias row)`), keys with `valid` below 0.5 filled with `f32::MIN` (as the
    /// composed path's mask fill), then the softmax.
    pub(super) fn attention_probabilities(row: &mut [f32], gated: Option<(f32, &[f32])>, valid: Option<&[f32]>) {
        widest!(probabilities_loop(row: &mut [f32], gated: Option<(f32, &[f32])>, valid: Option<&[f32]>))
    }

    #[inline(always)]
    fn probabilities_loop(row: &mut [f32], gated: Option<(f32, &[f32])>, valid: Option<&[f32]>) {
        if let Some((gate, bias)) = gated {
            for (s, &b) in row.iter_mut().zip(bias) {
                *s += gate * b;
            }
        }
        if let Some(valid) = valid {
            for (s, &v) in row.iter_mut().zip(valid) {
                *s = if v < 0.5 { f32::MIN } else { *s };
            }
        }
        softmax_row(row);
    }

    #[inline(always)]
    fn softmax_loop(x: &[f32], out: &mut [f32], n: usize) {
        for (x, out) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
            out.copy_from_slice(x);
            softmax_row(out);
        }
    }

    /// Lanes of the softmax's max and sum: independent partial results that vectorize,
    /// combined in a fixed order, so every path and thread count gives the same bits.
    const LANES: usize = 16;

    /// The softmax of `row`, in place. The exponentials run in their own loop (a running sum
    /// beside them kept the loop scalar), the sum over [`LANES`] partial sums.
    #[inline(always)]
    fn softmax_row(row: &mut [f32]) {
        let mut lanes = [f32::NEG_INFINITY; LANES];
        let chunks = row.chunks_exact(LANES);
        for (lane, &v) in lanes.iter_mut().zip(chunks.remainder()) {
            *lane = v;
        }
        for chunk in chunks {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                *lane = lane.max(v);
            }
        }
        let max = lanes.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        for v in row.iter_mut() {
            *v = exp(*v - max);
        }
        let scale = 1.0 / lane_sum(row);
        for v in row.iter_mut() {
            *v *= scale;
        }
    }

    #[inline(always)]
    fn softmax_backward_loop(y: &[f32], grad: &[f32], out: &mut [f32], n: usize) {
        let rows = y.chunks_exact(n).zip(grad.chunks_exact(n)).zip(out.chunks_exact_mut(n));
        for ((y, grad), out) in rows {
            out.copy_from_slice(grad);
            softmax_backward_row(y, out);
        }
    }

    /// The softmax's gradient for one row, in place: `grad` becomes `y (grad - Σ grad y)`.
    #[inline(always)]
    fn softmax_backward_row(y: &[f32], grad: &mut [f32]) {
        let dot = lane_dot(y, grad);
        for (g, &y) in grad.iter_mut().zip(y) {
            *g = y * (*g - dot);
        }
    }

    /// [`super::attention`]'s backward step from one query's gradient of the probabilities
    /// after dropout (`row`, in place) to that of its scores: back through the dropout
    /// (`(keep, factor)`), the softmax of `probs`, and the key mask (zero at keys with `valid`
    /// below 0.5), as the composed operations' backward steps do.
    pub(super) fn attention_scores_gradient(
        row: &mut [f32],
        probs: &[f32],
        keep: Option<(&[f32], f32)>,
        valid: Option<&[f32]>,
    ) {
        widest!(scores_gradient_loop(row: &mut [f32], probs: &[f32], keep: Option<(&[f32], f32)>, valid: Option<&[f32]>))
    }

    #[inline(always)]
    fn scores_gradient_loop(row: &mut [f32], probs: &[f32], keep: Option<(&[f32], f32)>, valid: Option<&[f32]>) {
        if let Some((keep, factor)) = keep {
            for (g, &keep) in row.iter_mut().zip(keep) {
                *g = *g * factor * keep;
            }
        }
        softmax_backward_row(probs, row);
        if let Some(valid) = valid {
            for (g, &v) in row.iter_mut().zip(valid) {
                *g = if v < 0.5 { 0.0 } else { *g };
            }
        }
    }

    /// `Σ x`, over [`LANES`] partial sums combined in order.
    #[inline(always)]
    fn lane_sum(x: &[f32]) -> f32 {
        let mut lanes = [0f32; LANES];
        let chunks = x.chunks_exact(LANES);
        for (lane, &v) in lanes.iter_mut().zip(chunks.remainder()) {
            *lane = v;
        }
        for chunk in chunks {
            for (lane, &v) in lanes.iter_mut().zip(chunk) {
                *lane += v;
            }
        }
        lanes.iter().sum()
    }

    /// `Σ a b`, over [`LANES`] partial sums combined in order.
    #[inline(always)]
    fn lane_dot(a: &[f32], b: &[f32]) -> f32 {
        let mut lanes = [0f32; LANES];
        let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
        for ((lane, &a), &b) in lanes.iter_mut().zip(a_chunks.remainder()).zip(b_chunks.remainder()) {
            *lane = a * b;
        }
        for (a, b) in a_chunks.zip(b_chunks) {
            for ((lane, &a), &b) in lanes.iter_mut().zip(a).zip(b) {
                *lane += a * b;
            }
        }
        lanes.iter().sum()
    }

    #[inline(always)]
    fn gelu_loop(x: &[f32], out: &mut [f32]) {
        for (o, &x) in out.iter_mut().zip(x) {
            *o = x * normal_cdf(x);
        }
    }

    #[inline(always)]
    fn gelu_backward_loop(x: &[f32], grad: &[f32], out: &mut [f32]) {
        for ((o, &x), &g) in out.iter_mut().zip(x).zip(grad) {
            *o = g * gelu_derivative(x);
        }
    }

    /// `d/dx gelu(x) = Φ(x) + x φ(x)`.
    #[inline(always)]
    fn gelu_derivative(x: f32) -> f32 {
        normal_cdf(x) + x * super::FRAC_1_SQRT_2PI * exp(-0.5 * x * x)
    }

    /// The standard normal CDF `Φ(x) = (1 + erf(x / sqrt 2)) / 2`; `gelu(x) = x Φ(x)`.
    #[inline(always)]
    fn normal_cdf(x: f32) -> f32 {
        0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
    }

    /// erf for f32, branch-free: `x P(x^2) / Q(x^2)` with the coefficients of TensorFlow/XLA's
    /// `ErfImpl32` (max abs error 4.2e-7), and exactly ±1 from |x| = 3.86 on, where erf
    /// rounds to ±1 in f32 (so that gelu of a large negative input is 0, not a rounding
    /// residue times the input).
    #[inline(always)]
    pub(super) fn erf(x: f32) -> f32 {
        let saturated = x.abs() >= 3.86;
        let x = x.clamp(-3.86, 3.86);
        let x2 = x * x;
        let p = [
            -2.726_142_3e-10,
            2.770_681_4e-8,
            -2.101_024e-6,
            -5.692_506_4e-5,
            -7.349_906_3e-4,
            -2.954_6e-3,
            -1.609_603_3e-2,
        ]
        .into_iter()
        .fold(0.0f32, |acc, c| acc * x2 + c);
        let q = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2]
            .into_iter()
            .fold(0.0f32, |acc, c| acc * x2 + c);
        if saturated { 1f32.copysign(x) } else { x * p / q }
    }

    /// `e^x` for `x <= 0`, branch-free (Cephes `expf`: `x = n ln 2 + r`, a degree-6
    /// polynomial in `r`, `2^n` from the exponent bits); inputs below -87 give `e^-87`. `n` is
    /// rounded by adding 1.5 * 2^23, which leaves it in the low bits of the sum, so no
    /// float-to-int conversion (with its NaN branch) keeps the loop from vectorizing.
    #[inline(always)]
    pub(super) fn exp(x: f32) -> f32 {
        const SHIFT: f32 = 12_582_912.0;
        let x = x.clamp(-87.0, 0.0);
        let shifted = x * std::f32::consts::LOG2_E + SHIFT;
        let n = shifted - SHIFT;
        let two_to_n = f32::from_bits(shifted.to_bits().wrapping_sub(SHIFT.to_bits() - 127) << 23);
        let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
        let p = [1.987_569_1e-4, 1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5]
            .into_iter()
            .fold(0.0f32, |acc, c| acc * r + c);
        let e = p * r * r + r + 1.0;
        e * two_to_n
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use burn::tensor::{Tensor, TensorData, Tolerance};

    use super::*;

    /// -12..12 densely, plus the clamp points and zero.
    fn grid() -> Vec<f32> {
        let mut xs: Vec<f32> = (-120_000..=120_000).map(|i| i as f32 * 1e-4).collect();
        xs.extend([-87.5, -40.0, -5.657, 5.657, 0.0, -0.0, 1e-30, 40.0]);
        xs
    }

    #[test]
    fn erf_and_exp_are_within_f32_rounding_of_f64() {
        for x in grid() {
            let erf = cpu::erf(x) as f64;
            let expected = libm::erf(x as f64);
            assert!((erf - expected).abs() < 5e-7, "erf({x}) = {erf}, expected {expected}");
            let y = -x.abs();
            let exp = cpu::exp(y) as f64;
            let expected = (y as f64).max(-87.0).exp();
            assert!(
                (exp - expected).abs() <= 3e-7 * expected,
                "exp({y}) = {exp}, expected {expected}"
            );
        }
    }

    /// gelu and its derivative in f64.
    fn exact(x: f32) -> (f64, f64) {
        let x = x as f64;
        let cdf = 0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
        let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
        (x * cdf, cdf + x * pdf)
    }

    /// The forward and backward of [`gelu`] on `B` against f64, within f32 rounding.
    fn check_against_f64<B: Kernels>() {
        let device = Default::default();
        let xs = grid();
        let n = xs.len();
        let grad: Vec<f32> = (0..n).map(|i| 1.0 + (i % 7) as f32 * 0.25).collect();
        let x = Tensor::<B, 1>::from_data(TensorData::new(xs.clone(), [n]), &device);
        let g = Tensor::<B, 1>::from_data(TensorData::new(grad.clone(), [n]), &device);
        let forward = gelu(x.clone()).into_data().to_vec::<f32>().unwrap();
        let backward =
            B::exact_gelu_backward(x.into_primitive().tensor(), g.into_primitive().tensor());
        let backward = Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(backward))
            .into_data()
            .to_vec::<f32>()
            .unwrap();
        for i in 0..n {
            let (value, derivative) = exact(xs[i]);
            let close = |found: f32, expected: f64| {
                (found as f64 - expected).abs() <= 2e-6 + 1e-6 * expected.abs()
            };
            assert!(
                close(forward[i], value),
                "{}: gelu({}) = {}, expected {value}",
                B::name(&device),
                xs[i],
                forward[i]
            );
            assert!(
                close(backward[i], grad[i] as f64 * derivative),
                "{}: gelu'({}) * {} = {}, expected {}",
                B::name(&device),
                xs[i],
                grad[i],
                backward[i],
                grad[i] as f64 * derivative
            );
        }
    }

    #[test]
    fn gelu_and_its_gradient_are_exact_on_every_cpu_backend() {
        check_against_f64::<NdArray>();
        #[cfg(feature = "flex")]
        check_against_f64::<burn::backend::Flex>();
    }

    /// On flex, tensors of other dtypes than f32 go through burn's operations, with the same
    /// results within f16 rounding.
    #[cfg(feature = "flex")]
    #[test]
    fn flex_kernels_take_other_dtypes_through_burns_operations() {
        use burn::backend::Flex;
        use burn::tensor::{DType, FloatDType};
        let device = Default::default();
        let ramp = |n: usize| -> Vec<f32> { (0..n).map(|i| (i % 7) as f32 * 0.5 - 1.5).collect() };
        let x = Tensor::<Flex, 3>::from_data(TensorData::new(ramp(30), [2, 5, 3]), &device);
        let gamma = Tensor::<Flex, 1>::from_data(TensorData::new(ramp(3), [3]), &device);
        let beta = gamma.clone() * 0.5;
        let half = |t: Tensor<Flex, 3>| t.cast(FloatDType::F16);
        let (x16, gamma16, beta16) = (
            half(x.clone()),
            gamma.clone().cast(FloatDType::F16),
            beta.clone().cast(FloatDType::F16),
        );
        assert_eq!(x16.dtype(), DType::F16);
        let pairs = [
            (gelu(x.clone()), gelu(x16.clone())),
            (
                group_norm_over_time(x.clone(), gamma.clone(), beta.clone(), 1e-5),
                group_norm_over_time(x16, gamma16, beta16, 1e-5),
            ),
        ];
        for (full, reduced) in pairs {
            assert_eq!(reduced.dtype(), DType::F16);
            reduced
                .cast(FloatDType::F32)
                .into_data()
                .assert_approx_eq::<f32>(&full.into_data(), Tolerance::absolute(2e-2));
        }
    }

    /// [`matmul`] and its gradients against burn's product on ndarray, with a transposed view
    /// as the right operand, as the encoder's linears and convs use it.
    #[test]
    fn matmul_and_its_gradients_equal_burns_product() {
        fn run<B: AutodiffKernels>(ours: bool) -> [Vec<f32>; 3] {
            let device = Default::default();
            let values = |n: usize, seed: usize| -> Vec<f32> {
                (0..n).map(|i| ((i * 7919 + seed) % 1000) as f32 / 500.0 - 1.0).collect()
            };
            let (m, k, n) = (40, 150, 130); // deep and wide enough for flex to use vox's sgemm
            let a = Tensor::<B, 2>::from_data(TensorData::new(values(m * k, 1), [m, k]), &device)
                .require_grad();
            let bt = Tensor::<B, 2>::from_data(TensorData::new(values(n * k, 2), [n, k]), &device)
                .require_grad();
            let weights =
                Tensor::<B, 2>::from_data(TensorData::new(values(m * n, 3), [m, n]), &device);
            let b = bt.clone().transpose();
            let c = if ours { matmul(a.clone(), b) } else { a.clone().matmul(b) };
            let grads = (c.clone() * weights).sum().backward();
            let flat = |t: Tensor<B::InnerBackend, 2>| t.into_data().to_vec::<f32>().unwrap();
            [flat(c.inner()), flat(a.grad(&grads).unwrap()), flat(bt.grad(&grads).unwrap())]
        }
        let expected = run::<Autodiff<NdArray>>(false);
        let mut found = vec![("ndarray", run::<Autodiff<NdArray>>(true))];
        #[cfg(feature = "flex")]
        found.push(("flex", run::<Autodiff<burn::backend::Flex>>(true)));
        for (backend, found) in found {
            for (what, (found, expected)) in
                ["c", "da", "db"].iter().zip(found.iter().zip(&expected))
            {
                let diff =
                    found.iter().zip(expected).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
                assert!(diff < 1e-4, "{backend} {what}: differs by {diff}");
            }
        }
    }

    /// The grouped conv and its gradients through autodiff, on a transposed input as the
    /// encoder hands it over, with wav2vec2's even kernel padded one less on the right: vox's
    /// kernel (ndarray, flex) against burn's own `conv1d` and its autodiff.
    #[test]
    fn grouped_conv_and_its_gradients_agree_with_burns_conv() {
        fn run<B: AutodiffKernels>(ours: bool) -> [Vec<f32>; 3] {
            let device = Default::default();
            let values = |n: usize, seed: usize| -> Vec<f32> {
                (0..n).map(|i| ((i * 7919 + seed) % 1000) as f32 / 500.0 - 1.0).collect()
            };
            let (batch, time, channels, groups, kernel) = (2, 37, 12, 3, 16);
            let x = Tensor::<B, 3>::from_data(
                TensorData::new(values(batch * channels * time, 1), [batch, channels, time]),
                &device,
            )
            .require_grad();
            let weight = Tensor::<B, 3>::from_data(
                TensorData::new(values(channels * 4 * kernel, 2), [channels, 4, kernel]),
                &device,
            )
            .require_grad();
            let y = match ours {
                true => grouped_conv1d(x.clone().swap_dims(1, 2), weight.clone(), groups, [8, 7]),
                false => {
                    use burn::tensor::ops::PaddedConvOptions;
                    let options = PaddedConvOptions::asymmetric([1], [8], [7], [1], groups);
                    burn::tensor::module::conv1d(x.clone(), weight.clone(), None, options)
                        .swap_dims(1, 2)
                }
            };
            assert_eq!(y.dims(), [batch, time, channels]);
            let weights = Tensor::<B, 3>::from_data(
                TensorData::new(values(batch * time * channels, 3), [batch, time, channels]),
                &device,
            );
            let grads = (y.clone() * weights).sum().backward();
            let flat = |t: Tensor<B::InnerBackend, 3>| t.into_data().to_vec::<f32>().unwrap();
            [flat(y.inner()), flat(x.grad(&grads).unwrap()), flat(weight.grad(&grads).unwrap())]
        }
        let expected = run::<Autodiff<NdArray>>(false);
        assert!(expected.iter().all(|v| v.iter().any(|&x| x != 0.0)));
        let mut found = vec![("ndarray", run::<Autodiff<NdArray>>(true))];
        #[cfg(feature = "flex")]
        found.push(("flex", run::<Autodiff<burn::backend::Flex>>(true)));
        for (backend, found) in found {
            let names = ["y", "dx", "dweight"];
            for (what, (found, expected)) in names.iter().zip(found.iter().zip(&expected)) {
                assert_eq!(found.len(), expected.len());
                let diff =
                    found.iter().zip(expected).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
                assert!(diff < 1e-4, "{backend} {what}: differs by {diff}");
            }
        }
    }

    /// Softmax over the last dimension and its gradient through autodiff, with a masked
    /// (`f32::MIN`) key as attention has: vox's (ndarray, flex) against burn's `softmax`.
    #[test]
    fn softmax_and_its_gradient_agree_with_burns() {
        fn run<B: AutodiffKernels>(ours: bool) -> [Vec<f32>; 2] {
            let device = Default::default();
            let dims = [2, 3, 5, 37];
            let n = dims.iter().product::<usize>();
            let scores: Vec<f32> = (0..n)
                .map(|i| match i % 37 {
                    36 => f32::MIN,
                    k => ((i * 7919) % 1000) as f32 / 100.0 - 5.0 + k as f32 * 0.1,
                })
                .collect();
            let x =
                Tensor::<B, 4>::from_data(TensorData::new(scores, dims), &device).require_grad();
            let y = match ours {
                true => softmax_last(x.clone()),
                false => burn::tensor::activation::softmax(x.clone(), 3),
            };
            let weights: Vec<f32> = (0..n).map(|i| (i % 11) as f32 - 5.0).collect();
            let weights = Tensor::<B, 4>::from_data(TensorData::new(weights, dims), &device);
            let grads = (y.clone() * weights).sum().backward();
            let flat = |t: Tensor<B::InnerBackend, 4>| t.into_data().to_vec::<f32>().unwrap();
            [flat(y.inner()), flat(x.grad(&grads).unwrap())]
        }
        let expected = run::<Autodiff<NdArray>>(false);
        let mut found = vec![("ndarray", run::<Autodiff<NdArray>>(true))];
        #[cfg(feature = "flex")]
        found.push(("flex", run::<Autodiff<burn::backend::Flex>>(true)));
        for (backend, found) in found {
            for (what, (found, expected)) in ["y", "dx"].iter().zip(found.iter().zip(&expected)) {
                let diff =
                    found.iter().zip(expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(diff < 1e-5, "{backend} {what}: differs by {diff}");
            }
            assert!(found[0].iter().skip(36).step_by(37).all(|&p| p < 1e-30), "{backend}");
        }
    }

    /// The trait's defaults, composed from burn's operations (what cuda runs), against the
    /// CPU kernels, each operation forward and backward on ndarray.
    #[test]
    fn the_defaults_from_burns_operations_equal_the_cpu_kernels() {
        type B = NdArray;
        fn input(dims: &[usize], seed: usize) -> FloatTensor<B> {
            let n = dims.iter().product::<usize>();
            let values: Vec<f32> =
                (0..n).map(|i| ((i * 7919 + seed) % 1000) as f32 / 250.0 - 2.0).collect();
            B::float_from_data(TensorData::new(values, dims.to_vec()), &Default::default())
        }
        fn values(x: FloatTensor<B>) -> Vec<f32> {
            let n = burn::tensor::TensorMetadata::shape(&x).num_elements();
            tensor::<B, 1>(B::float_reshape(x, [n].into())).into_data().to_vec().unwrap()
        }
        fn check(what: &str, found: FloatTensor<B>, expected: FloatTensor<B>) {
            let (found, expected) = (values(found), values(expected));
            assert_eq!(found.len(), expected.len(), "{what}");
            let diff = found
                .iter()
                .zip(&expected)
                .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
                .fold(0f32, f32::max);
            assert!(diff < 1e-4, "{what}: differs by {diff} (relative)");
        }
        let x = input(&[2, 33, 6], 1);
        let grad = input(&[2, 33, 6], 2);
        // Item 0 valid for its first 20 frames, item 1 for all 33.
        let valid: Vec<f32> = (0..66).map(|i| if (20..33).contains(&i) { 0.0 } else { 1.0 }).collect();
        let valid = B::float_from_data(TensorData::new(valid, [2, 33]), &Default::default());
        check(
            "masked mean and std",
            B::masked_mean_std(x.clone(), valid.clone()),
            masked_mean_std_by_ops::<B>(x.clone(), valid),
        );
        check(
            "gelu backward",
            B::exact_gelu_backward(x.clone(), grad.clone()),
            exact_gelu_backward_by_ops::<B>(x.clone(), grad.clone()),
        );
        let (gamma, beta) = (input(&[6], 3), input(&[6], 4));
        check(
            "group norm",
            B::group_norm_over_time(x.clone(), gamma.clone(), beta.clone(), 1e-5),
            group_norm_over_time_by_ops::<B>(x.clone(), gamma.clone(), beta, 1e-5),
        );
        let found = B::group_norm_over_time_backward(x.clone(), gamma.clone(), grad.clone(), 1e-5);
        let expected =
            group_norm_over_time_backward_by_ops::<B>(x.clone(), gamma.clone(), grad.clone(), 1e-5);
        let pairs = found.into_iter().zip(expected);
        for (what, (found, expected)) in ["dx", "dgamma", "dbeta"].iter().zip(pairs) {
            check(&format!("group norm {what}"), found, expected);
        }
        // The layer norm's rows are the last dimension: 6 wide here.
        let found = B::layer_norm_last_backward(x.clone(), gamma.clone(), grad.clone(), 1e-5);
        let expected = layer_norm_last_backward_by_ops::<B>(x.clone(), gamma, grad.clone(), 1e-5);
        let pairs = found.into_iter().zip(expected);
        for (what, (found, expected)) in ["dx", "dgamma", "dbeta"].iter().zip(pairs) {
            check(&format!("layer norm {what}"), found, expected);
        }
        let weight = input(&[6, 2, 8], 5);
        let conv_grad = input(&[2, 33, 6], 6);
        check(
            "grouped conv",
            B::grouped_conv1d(x.clone(), weight.clone(), 3, [4, 3]),
            grouped_conv1d_by_ops::<B>(x.clone(), weight.clone(), 3, [4, 3]),
        );
        let found =
            B::grouped_conv1d_backward(x.clone(), weight.clone(), conv_grad.clone(), 3, [4, 3]);
        let expected = grouped_conv1d_backward_by_ops::<B>(x.clone(), weight, conv_grad, 3, [4, 3]);
        let pairs = found.into_iter().zip(expected);
        for (what, (found, expected)) in ["dx", "dweight"].iter().zip(pairs) {
            check(&format!("grouped conv {what}"), found, expected);
        }
        let y = B::softmax_last(x.clone());
        check("softmax", y.clone(), softmax_last_by_ops::<B>(x.clone()));
        check(
            "softmax backward",
            B::softmax_last_backward(y.clone(), grad.clone()),
            softmax_last_backward_by_ops::<B>(y, grad.clone()),
        );
        for (kernel, stride) in [(10, 5), (3, 2), (3, 4)] {
            let frames = (33 - kernel) / stride + 1;
            check(
                "conv windows",
                B::conv_windows(x.clone(), kernel, stride),
                conv_windows_by_ops::<B>(x.clone(), kernel, stride),
            );
            let windows_grad = input(&[2 * frames, kernel * 6], 7);
            check(
                "conv windows backward",
                B::conv_windows_backward(windows_grad.clone(), [2, 33, 6], kernel, stride),
                conv_windows_backward_by_ops::<B>(windows_grad, [2, 33, 6], kernel, stride),
            );
        }
    }

    /// The conv windows and their gradient through autodiff against loops over the definition,
    /// on every backend's path: overlapping windows, disjoint ones, a kernel shorter than the
    /// stride (with steps no window reads), one tap.
    #[test]
    fn conv_windows_and_their_gradient_follow_the_definition() {
        fn run<B: AutodiffKernels>(dims: [usize; 3], kernel: usize, stride: usize) -> [Vec<f32>; 2]
        {
            let device = Default::default();
            let n = dims.iter().product::<usize>();
            let x = Tensor::<B, 3>::from_data(
                TensorData::new((0..n).map(|i| i as f32).collect::<Vec<_>>(), dims),
                &device,
            )
            .require_grad();
            let windows = conv_windows(x.clone(), kernel, stride);
            let [rows, width] = windows.dims();
            let weights: Vec<f32> = (0..rows * width).map(|i| (i % 7) as f32 - 3.0).collect();
            let weights =
                Tensor::<B, 2>::from_data(TensorData::new(weights, [rows, width]), &device);
            let grads = (windows.clone() * weights).sum().backward();
            [
                windows.inner().into_data().to_vec::<f32>().unwrap(),
                x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap(),
            ]
        }
        let cases = [(10, 5, 53), (3, 2, 20), (2, 2, 9), (3, 4, 31), (3, 4, 32), (1, 1, 4)];
        for (kernel, stride, time) in cases {
            let (batch, channels) = (2, 3);
            let frames = (time - kernel) / stride + 1;
            let mut windows = vec![];
            let mut dx = vec![0f32; batch * time * channels];
            let mut column = 0;
            for b in 0..batch {
                for f in 0..frames {
                    for k in 0..kernel {
                        for c in 0..channels {
                            let at = (b * time + f * stride + k) * channels + c;
                            windows.push(at as f32);
                            dx[at] += (column % 7) as f32 - 3.0;
                            column += 1;
                        }
                    }
                }
            }
            let dims = [batch, time, channels];
            let mut found = vec![("ndarray", run::<Autodiff<NdArray>>(dims, kernel, stride))];
            #[cfg(feature = "flex")]
            found.push(("flex", run::<Autodiff<burn::backend::Flex>>(dims, kernel, stride)));
            for (backend, [found_windows, found_dx]) in found {
                assert_eq!(found_windows, windows, "{backend}, kernel {kernel}, stride {stride}");
                assert_eq!(found_dx, dx, "{backend}, kernel {kernel}, stride {stride}");
            }
        }
    }

    /// The conv as one product reading its windows in place: the same bits as the windows
    /// copied out and multiplied (forward, and both gradients through autodiff), on 1 and 3
    /// threads, where vox's sgemm runs on both backends (at least `sgemm::MIN_DEPTH` deep and wide, overlapping
    /// and disjoint windows, a batch whose items' windows do not line up) and where flex leaves
    /// thin products to burn.
    #[test]
    fn conv_as_matmul_is_the_windows_times_the_weight_to_the_bit() {
        fn run<B: AutodiffKernels>(dims: [usize; 3], out: usize, kernel: usize, stride: usize, composed: bool) -> [Vec<u32>; 3] {
            let device = Default::default();
            let values = |len: usize, seed: usize| {
                (0..len).map(|i| ((i * 7919 + seed * 104_729) % 2000) as f32 / 1000.0 - 1.0).collect::<Vec<_>>()
            };
            let x = Tensor::<B, 3>::from_data(TensorData::new(values(dims.iter().product(), 1), dims), &device)
                .require_grad();
            let depth = kernel * dims[2];
            let weight = Tensor::<B, 2>::from_data(TensorData::new(values(depth * out, 2), [depth, out]), &device)
                .require_grad();
            let y = match composed {
                true => matmul(conv_windows(x.clone(), kernel, stride), weight.clone()),
                false => conv_as_matmul(x.clone(), weight.clone(), kernel, stride),
            };
            let frames = (dims[1] - kernel) / stride + 1;
            assert_eq!(y.dims(), [dims[0] * frames, out]);
            let scale = Tensor::<B, 2>::from_data(TensorData::new(values(dims[0] * frames * out, 3), [dims[0] * frames, out]), &device);
            let grads = (y.clone() * scale).sum().backward();
            let bits = |t: Tensor<B::InnerBackend, 2>| t.into_data().to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect();
            let dx = x.grad(&grads).unwrap().reshape([dims[0] * dims[1], dims[2]]);
            [bits(y.inner()), bits(dx), bits(weight.grad(&grads).unwrap())]
        }
        fn check<B: AutodiffKernels>(backend: &str) {
            // (batch, time, channels, out, kernel, stride)
            let cases = [(3, 57, 64, 130, 3, 2), (2, 41, 64, 128, 2, 2), (2, 50, 130, 140, 1, 3), (2, 33, 6, 5, 3, 2)];
            for (batch, time, channels, out, kernel, stride) in cases {
                let dims = [batch, time, channels];
                let expected = run::<B>(dims, out, kernel, stride, true);
                for threads in [1, 3] {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    let found = pool.install(|| run::<B>(dims, out, kernel, stride, false));
                    for (what, (found, expected)) in ["y", "dx", "dweight"].iter().zip(found.iter().zip(&expected)) {
                        assert!(found == expected, "{backend} {dims:?} x {out}, kernel {kernel}, stride {stride}, {threads} threads: {what} differs");
                    }
                }
            }
        }
        check::<Autodiff<NdArray>>("ndarray");
        #[cfg(feature = "flex")]
        check::<Autodiff<burn::backend::Flex>>("flex");
    }

    /// Gradients through the autodiff wrapper equal the analytic derivative, on a strided
    /// (transposed) input as the model produces them.
    #[test]
    fn autodiff_gradient_is_the_derivative() {
        fn check<B: AutodiffKernels>() {
            let device = Default::default();
            let values: Vec<f32> = (0..60).map(|i| (i as f32 - 30.0) * 0.2).collect();
            let x = Tensor::<B, 2>::from_data(TensorData::new(values.clone(), [6, 10]), &device)
                .require_grad();
            let y = gelu(x.clone().swap_dims(0, 1));
            let grads = (y * 3.0).sum().backward();
            let found = x.grad(&grads).expect("x has a gradient").into_data();
            let expected: Vec<f32> = values.iter().map(|&v| 3.0 * exact(v).1 as f32).collect();
            found.assert_approx_eq::<f32>(
                &TensorData::new(expected, [6, 10]),
                Tolerance::absolute(1e-6),
            );
        }
        check::<Autodiff<NdArray>>();
        #[cfg(feature = "flex")]
        check::<Autodiff<burn::backend::Flex>>();
    }

    /// The host AdamW with a clipping factor leaves the same bits as burn's operations after
    /// scaling the gradient, whether it updates its tensors in place (nothing else holds them)
    /// or copies them (the caller keeps a clone), at the first step and after it.
    #[test]
    fn host_adamw_with_a_gradient_scale_matches_the_operations() {
        fn bits<B: Kernels>(x: FloatTensor<B>) -> Vec<u32> {
            let t = Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(x));
            t.into_data().to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
        }
        fn check<B: Kernels<FloatTensorPrimitive: host::HostTensor>>() {
            let device = Default::default();
            let n = 3 * 40_000; // several chunks
            let values = |seed: u32| -> Tensor<B, 2> {
                let v = (0..n).map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as f32 / u32::MAX as f32 - 0.5);
                Tensor::from_data(TensorData::new(v.collect::<Vec<_>>(), [3, n / 3]), &device)
            };
            let prim = |t: Tensor<B, 2>| t.into_primitive().tensor();
            let step = |time| AdamWStep {
                beta_1: 0.9,
                beta_2: 0.999,
                epsilon: 1e-8,
                weight_decay: 0.01,
                lr: 3e-4,
                time,
                grad_scale: Some(0.37),
            };
            let (param, grad, m, v) = (values(1), values(2), values(3).abs(), values(4).abs());
            // The first step (no moments), then a later one, each in place and on shared inputs.
            for moments in [None, Some([m.clone(), v.clone()])] {
                let time = if moments.is_some() { 5 } else { 1 };
                let prims = |m: &Option<[Tensor<B, 2>; 2]>| m.clone().map(|[a, b]| [prim(a), prim(b)]);
                let expected = adamw_step_by_ops::<B>(prim(param.clone()), prim(grad.clone()), prims(&moments), step(time));
                let expected = expected.map(bits::<B>);
                // Shared: `param` and the moments stay held here.
                let shared = B::adamw_step(prim(param.clone()), prim(grad.clone()), prims(&moments), step(time));
                assert_eq!(shared.map(bits::<B>), expected, "shared inputs, step {time}");
                // Unique: fresh copies that nothing else holds.
                let copy = |t: &Tensor<B, 2>| Tensor::<B, 2>::from_data(t.to_data(), &device);
                let unique_moments = moments.as_ref().map(|[a, b]| [prim(copy(a)), prim(copy(b))]);
                let unique = B::adamw_step(prim(copy(&param)), prim(grad.clone()), unique_moments, step(time));
                assert_eq!(unique.map(bits::<B>), expected, "in place, step {time}");
            }
            // And the inputs held here were not written by the shared call.
            assert_eq!(bits::<B>(prim(param.clone())), bits::<B>(prim(values(1))));
            // The unique case is the in-place one, the shared case is not.
            use host::HostTensor;
            let mut fresh = prim(values(1));
            assert!(fresh.values_mut().is_some(), "a fresh tensor is written in place");
            let kept = fresh.clone();
            assert!(fresh.values_mut().is_none(), "a shared tensor is not");
            drop(kept);
            let mut transposed = prim(values(1).swap_dims(0, 1));
            assert!(transposed.values_mut().is_none(), "a transposed view is not");
        }
        check::<NdArray>();
        #[cfg(feature = "flex")]
        check::<burn::backend::Flex>();
    }

    /// The squared sum is the f64 sum of squares (to f64 rounding) on every backend path.
    #[test]
    fn squared_sum_is_the_sum_of_squares() {
        fn check<B: Kernels>() {
            let device = Default::default();
            let values: Vec<f32> = (0..100_003).map(|i| ((i % 1000) as f32 - 500.0) * 1e-3).collect();
            let expected: f64 = values.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            let x = Tensor::<B, 2>::from_data(TensorData::new(values, [1, 100_003]), &device);
            // A transposed view reads the same values; a tensor of twos sums to 4 per value.
            let twos = Tensor::<B, 2>::full([3, 5], 2.0, &device);
            let found = squared_sums(vec![x.clone(), x.swap_dims(0, 1).reshape([1, 100_003]), twos]);
            assert_eq!(found.len(), 3);
            for found in &found[..2] {
                assert!((found - expected).abs() <= 1e-9 * expected, "{found} vs {expected}");
            }
            assert_eq!(found[2], 60.0);
            assert!(squared_sums::<B, 2>(Vec::new()).is_empty());
        }
        /// The default's sums (in f32 here, every value and sum exact in f32 below 2^24).
        fn check_by_ops<B: Kernels>() {
            let device = Default::default();
            let ramp = Tensor::<B, 1>::from_data(TensorData::new((0..100).map(|i| i as f32).collect::<Vec<_>>(), [100]), &device);
            let xs = vec![ramp.clone().into_primitive().tensor(), ramp.neg().into_primitive().tensor()];
            assert_eq!(squared_sums_by_ops::<B>(xs), vec![328_350.0; 2]);
            assert!(squared_sums_by_ops::<B>(Vec::new()).is_empty());
        }
        check::<NdArray>();
        check_by_ops::<NdArray>();
        #[cfg(feature = "flex")]
        check::<burn::backend::Flex>();
    }

    /// Element-wise passes cut their rows into tasks by the thread count: GELU, its gradient
    /// and the softmax give the same bits at any count (rows 777 wide, so that tasks end
    /// inside the vector loops' blocks).
    #[test]
    fn element_wise_passes_give_the_same_bits_at_any_thread_count() {
        fn check<B: Kernels>() {
            let device = Default::default();
            let (rows, width) = (301, 777);
            let values: Vec<f32> = (0..rows * width).map(|i| ((i * 7919 % 2003) as f32 - 1001.0) * 4e-3).collect();
            let x = || Tensor::<B, 2>::from_data(TensorData::new(values.clone(), [rows, width]), &device);
            let run = || {
                let bits = |t: FloatTensor<B>| tensor::<B, 2>(t).into_data().to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                let p = |t: Tensor<B, 2>| t.into_primitive().tensor();
                [
                    bits(B::exact_gelu(p(x()))),
                    bits(B::exact_gelu_backward(p(x()), p(x().neg()))),
                    bits(B::softmax_last(p(x()))),
                ]
            };
            let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run);
            for threads in [2, 3, 16] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                assert!(pool.install(run) == one, "{threads} threads");
            }
        }
        check::<NdArray>();
        #[cfg(feature = "flex")]
        check::<burn::backend::Flex>();
    }

    /// [`contiguous`] lays out permuted, flipped and narrowed views (with offsets and negative
    /// strides, larger than one task) as burn's reshape does, and passes the gradient through.
    #[test]
    fn contiguous_copies_strided_views_as_burn_does() {
        fn check<B: AutodiffKernels>() {
            let device = Default::default();
            let dims = [30, 64, 37]; // 71 040 values: more than one parallel task's
            let n = dims.iter().product::<usize>();
            let values: Vec<f32> = (0..n).map(|i| i as f32).collect();
            let x = Tensor::<B, 3>::from_data(TensorData::new(values, dims), &device);
            let views = [
                x.clone().permute([2, 1, 0]),
                x.clone().swap_dims(0, 1).flip([2]),
                x.clone().narrow(1, 5, 50).permute([1, 0, 2]),
                x.clone(),
            ];
            for (i, view) in views.into_iter().enumerate() {
                let expected = view.clone().reshape([-1]).into_data();
                let found = contiguous(view.clone());
                assert_eq!(found.dims(), view.dims(), "view {i}");
                assert_eq!(found.reshape([-1]).into_data(), expected, "view {i}");
            }
            let x = x.require_grad();
            let weights = Tensor::<B, 3>::from_data(
                TensorData::new((0..n).map(|i| (i % 7) as f32).collect::<Vec<_>>(), [37, 64, 30]),
                &device,
            );
            let grads = (contiguous(x.clone().permute([2, 1, 0])) * weights.clone()).sum().backward();
            let expected = weights.inner().permute([2, 1, 0]).into_data();
            assert_eq!(x.grad(&grads).unwrap().into_data(), expected);
        }
        check::<Autodiff<NdArray>>();
        #[cfg(feature = "flex")]
        check::<Autodiff<burn::backend::Flex>>();
    }

    /// The weight norm and its gradients (for `v` and `g`) against f64: vox's kernel on every
    /// CPU backend to f32 rounding, at any thread count to the bit; the composition cuda runs
    /// (the trait's defaults) and burn's autodiff through the composed operations within f32
    /// sums' rounding.
    #[test]
    fn weight_norm_and_its_gradients_match_f64() {
        fn check<B: AutodiffKernels>() {
            let device = Default::default();
            let (dims, k) = ([40, 12, 7], 7); // 480 rows of taps: two blocks of the kernel's sums
            let n = dims.iter().product::<usize>();
            let v_values: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.02).collect();
            let g_values: Vec<f32> = (0..k).map(|i| 0.5 + i as f32 * 0.3).collect();
            let weights: Vec<f32> = (0..n).map(|i| ((i * 13 % 29) as f32 - 14.0) * 0.1).collect();
            // f64: w = g v / |v|, dv = g / |v| c - g d / |v|^3 v, dg = d / |v|, d = sum(c v).
            let (mut squares, mut dots) = (vec![0f64; k], vec![0f64; k]);
            for i in 0..n {
                let (v, c) = (f64::from(v_values[i]), f64::from(weights[i]));
                squares[i % k] += v * v;
                dots[i % k] += c * v;
            }
            let norm = |j: usize| squares[j].sqrt();
            let g = |j: usize| f64::from(g_values[j]);
            let w: Vec<f64> = (0..n).map(|i| g(i % k) * f64::from(v_values[i]) / norm(i % k)).collect();
            let dv: Vec<f64> = (0..n)
                .map(|i| {
                    let j = i % k;
                    g(j) / norm(j) * f64::from(weights[i]) - g(j) * dots[j] / norm(j).powi(3) * f64::from(v_values[i])
                })
                .collect();
            let dg: Vec<f64> = (0..k).map(|j| dots[j] / norm(j)).collect();
            let expected = [w, dv, dg];
            let worst = |found: &[Vec<f32>; 3]| -> f64 {
                found.iter().zip(&expected).flat_map(|(f, e)| {
                    assert_eq!(f.len(), e.len());
                    f.iter().zip(e).map(|(&f, &e)| (f64::from(f) - e).abs() / (1.0 + e.abs()))
                }).fold(0.0, f64::max)
            };
            let inputs = || {
                let v = Tensor::<B, 3>::from_data(TensorData::new(v_values.clone(), dims), &device).require_grad();
                let g = Tensor::<B, 3>::from_data(TensorData::new(g_values.clone(), [1, 1, k]), &device).require_grad();
                (v, g)
            };
            let c = Tensor::<B, 3>::from_data(TensorData::new(weights.clone(), dims), &device);
            let run = |ours: bool| {
                let (v, g) = inputs();
                let w = match ours {
                    true => weight_norm(v.clone(), g.clone()),
                    false => v.clone() * (g.clone() / v.clone().powi_scalar(2).sum_dims(&[0, 1]).sqrt()),
                };
                let grads = (w.clone() * c.clone()).sum().backward();
                let vec = |d: TensorData| d.to_vec::<f32>().unwrap();
                [vec(w.into_data()), vec(v.grad(&grads).unwrap().into_data()), vec(g.grad(&grads).unwrap().into_data())]
            };
            let ours = run(true);
            assert!(worst(&ours) < 1e-6, "{}: vox's kernel off f64 by {}", B::name(&device), worst(&ours));
            assert!(worst(&run(false)) < 1e-4, "burn's composition off f64 by {}", worst(&run(false)));
            // The defaults, which cuda runs.
            let inner = |values: &[f32], shape: [usize; 3]| {
                Tensor::<B::InnerBackend, 3>::from_data(TensorData::new(values.to_vec(), shape), &device)
                    .into_primitive()
                    .tensor()
            };
            let bits = |x| tensor::<B::InnerBackend, 3>(x).into_data().to_vec::<f32>().unwrap();
            let composed = weight_norm_by_ops::<B::InnerBackend>(inner(&v_values, dims), inner(&g_values, [1, 1, k]));
            let [dv, dg] = weight_norm_backward_by_ops::<B::InnerBackend>(
                inner(&v_values, dims),
                inner(&g_values, [1, 1, k]),
                inner(&weights, dims),
            );
            let by_ops = [bits(composed), bits(dv), bits(dg)];
            assert!(worst(&by_ops) < 1e-4, "the default composition off f64 by {}", worst(&by_ops));
            // Not vacuous: the gradients are far from zero.
            assert!(expected[1].iter().fold(0f64, |m, x| m.max(x.abs())) > 0.1);
            assert!(expected[2].iter().fold(0f64, |m, x| m.max(x.abs())) > 0.1);
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                assert!(pool.install(|| run(true)) == ours, "{threads} threads");
            }
        }
        check::<Autodiff<NdArray>>();
        #[cfg(feature = "flex")]
        check::<Autodiff<burn::backend::Flex>>();
    }

    /// Gradients through vox's layer norm equal those through burn's composed one (x, gamma
    /// and beta, on a strided input as the model's transposes make them), and the forward is
    /// the same.
    #[test]
    fn layer_norm_gradients_match_burns() {
        fn check<B: AutodiffKernels>() {
            use burn::nn::LayerNormConfig;
            let device = Default::default();
            let (rows, width) = (70, 48); // more rows than one task's
            let values: Vec<f32> = (0..rows * width).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.05).collect();
            let weights: Vec<f32> = (0..rows * width).map(|i| ((i * 13 % 29) as f32 - 14.0) * 0.1).collect();
            let mut norm = LayerNormConfig::new(width).with_epsilon(1e-5).init::<B>(&device);
            let gamma: Vec<f32> = (0..width).map(|i| 0.5 + i as f32 * 0.03).collect();
            let beta: Vec<f32> = (0..width).map(|i| i as f32 * -0.01).collect();
            norm.gamma = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(gamma, [width]), &device));
            norm.beta = Some(burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(beta, [width]), &device)));
            let run = |ours: bool| {
                let x = Tensor::<B, 3>::from_data(TensorData::new(values.clone(), [2, width, rows / 2]), &device)
                    .require_grad();
                let w = Tensor::<B, 3>::from_data(TensorData::new(weights.clone(), [2, rows / 2, width]), &device);
                let input = x.clone().swap_dims(1, 2);
                let y = if ours { layer_norm(&norm, 1e-5, input) } else { norm.forward(input) };
                let grads = (y.clone() * w).sum().backward();
                let data = |t: Option<Tensor<B::InnerBackend, 1>>| t.unwrap().into_data();
                let x_grad = x.grad(&grads).unwrap().into_data();
                let gamma_grad = data(norm.gamma.grad(&grads));
                let beta_grad = data(norm.beta.as_ref().unwrap().grad(&grads));
                (y.into_data(), x_grad, gamma_grad, beta_grad)
            };
            let (ours, theirs) = (run(true), run(false));
            // The forward is the backend's own; burn's composed backward runs in f32 and is off
            // by up to 2.5e-5 on this input (PyTorch in f64 agrees with ours to 1e-7).
            ours.0.assert_approx_eq::<f32>(&theirs.0, Tolerance::absolute(1e-5));
            ours.1.assert_approx_eq::<f32>(&theirs.1, Tolerance::absolute(1e-4));
            ours.2.assert_approx_eq::<f32>(&theirs.2, Tolerance::absolute(1e-4));
            ours.3.assert_approx_eq::<f32>(&theirs.3, Tolerance::absolute(1e-4));
            // dx against the formula in f64, row by row (x is [2, width, rows / 2] and each
            // row of the norm is one (item, time) column of it).
            let dx = ours.1.to_vec::<f32>().unwrap();
            let (gamma, half) = (norm.gamma.val().into_data().to_vec::<f32>().unwrap(), rows / 2);
            let mut largest = 0f64;
            for item in 0..2 {
                for t in 0..half {
                    let at = |j: usize| item * width * half + j * half + t;
                    let x: Vec<f64> = (0..width).map(|j| f64::from(values[at(j)])).collect();
                    let g: Vec<f64> = (0..width)
                        .map(|j| f64::from(weights[(item * half + t) * width + j]) * f64::from(gamma[j]))
                        .collect();
                    let n = width as f64;
                    let mean = x.iter().sum::<f64>() / n;
                    let rstd = 1.0 / (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n + 1e-5).sqrt();
                    let normalized: Vec<f64> = x.iter().map(|v| (v - mean) * rstd).collect();
                    let mean_g = g.iter().sum::<f64>() / n;
                    let mean_gn = g.iter().zip(&normalized).map(|(a, b)| a * b).sum::<f64>() / n;
                    for j in 0..width {
                        let expected = (g[j] - mean_g - normalized[j] * mean_gn) * rstd;
                        let found = f64::from(dx[at(j)]);
                        assert!((found - expected).abs() < 2e-6, "dx at {:?}: {found} vs {expected}", (item, j, t));
                        largest = largest.max(found.abs());
                    }
                }
            }
            // Not vacuous: the gradients are far from zero.
            assert!(largest > 0.1, "largest dx {largest}");
        }
        check::<Autodiff<NdArray>>();
        #[cfg(feature = "flex")]
        check::<Autodiff<burn::backend::Flex>>();
    }

    /// Splitting and merging heads gives burn's reshape-and-transpose values, and gradients
    /// through both are the same as through burn's views.
    #[test]
    fn heads_split_and_merge_as_burns_views() {
        fn check<B: AutodiffKernels>() {
            let device = Default::default();
            let (batch, frames, heads, width) = (2, 5, 3, 4);
            let values: Vec<f32> = (0..batch * frames * heads * width).map(|i| i as f32 * 0.5 - 7.0).collect();
            let weights: Vec<f32> = (0..batch * frames * heads * width).map(|i| (i % 11) as f32 - 5.0).collect();
            let run = |ours: bool| {
                let x = Tensor::<B, 3>::from_data(TensorData::new(values.clone(), [batch, frames, heads * width]), &device)
                    .require_grad();
                let w = Tensor::<B, 4>::from_data(TensorData::new(weights.clone(), [batch, heads, frames, width]), &device);
                let split = match ours {
                    true => split_heads(x.clone(), heads),
                    false => x.clone().reshape([batch, frames, heads, width]).swap_dims(1, 2),
                };
                let scaled = split.clone() * w;
                let merged = match ours {
                    true => merge_heads(scaled),
                    false => scaled.swap_dims(1, 2).reshape([batch, frames, heads * width]),
                };
                let grads = (merged.clone() * merged.clone()).sum().backward();
                (split.into_data(), merged.into_data(), x.grad(&grads).unwrap().into_data())
            };
            let (ours, theirs) = (run(true), run(false));
            assert_eq!(ours.0, theirs.0);
            assert_eq!(ours.1, theirs.1);
            assert_eq!(ours.2, theirs.2);
        }
        check::<Autodiff<NdArray>>();
        #[cfg(feature = "flex")]
        check::<Autodiff<burn::backend::Flex>>();
    }

    /// The bias added on every row, and its gradient the columns' sums (over more rows than
    /// one task's), as burn's broadcast addition gives them.
    #[test]
    fn bias_and_its_gradient_as_burns() {
        fn check<B: AutodiffKernels>() {
            let device = Default::default();
            let (rows, n) = (150, 7);
            let values: Vec<f32> = (0..rows * n).map(|i| (i % 13) as f32 * 0.25 - 1.0).collect();
            let run = |ours: bool| {
                let x = Tensor::<B, 2>::from_data(TensorData::new(values.clone(), [rows, n]), &device).require_grad();
                let b = Tensor::<B, 1>::from_data(TensorData::new((0..n).map(|i| i as f32).collect::<Vec<_>>(), [n]), &device)
                    .require_grad();
                let y = match ours {
                    true => add_bias(x.clone(), b.clone()),
                    false => x.clone() + b.clone().unsqueeze_dim::<2>(0),
                };
                let grads = (y.clone() * y.clone()).sum().backward();
                (y.into_data(), x.grad(&grads).unwrap().into_data(), b.grad(&grads).unwrap().into_data())
            };
            let (ours, theirs) = (run(true), run(false));
            assert_eq!(ours.0, theirs.0);
            assert_eq!(ours.1, theirs.1);
            ours.2.assert_approx_eq::<f32>(&theirs.2, Tolerance::absolute(1e-3));
            let largest = ours.2.to_vec::<f32>().unwrap().iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(largest > 100.0, "bias gradient {largest}");
        }
        check::<Autodiff<NdArray>>();
        #[cfg(feature = "flex")]
        check::<Autodiff<burn::backend::Flex>>();
    }

    /// The gated bias and its gradients as burn's broadcast product and sum give them.
    #[test]
    fn gated_bias_and_its_gradients_as_burns() {
        fn check<B: AutodiffKernels>() {
            let device = Default::default();
            let (batch, heads, frames) = (2, 3, 37);
            let values = |n: usize, seed: usize| -> Vec<f32> { (0..n).map(|i| ((i * 31 + seed) % 17) as f32 * 0.125 - 1.0).collect() };
            let run = |ours: bool| {
                let scores = Tensor::<B, 4>::from_data(TensorData::new(values(batch * heads * frames * frames, 1), [batch, heads, frames, frames]), &device).require_grad();
                let gate = Tensor::<B, 3>::from_data(TensorData::new(values(batch * heads * frames, 2), [batch, heads, frames]), &device).require_grad();
                // The bias as the model makes it: a permuted view.
                let stored = Tensor::<B, 3>::from_data(TensorData::new(values(frames * frames * heads, 3), [frames, frames, heads]), &device).require_grad();
                let bias = stored.clone().permute([2, 0, 1]);
                let y = match ours {
                    true => add_gated_bias(scores.clone(), gate.clone(), bias),
                    false => scores.clone() + gate.clone().unsqueeze_dim::<4>(3) * bias.unsqueeze_dim::<4>(0),
                };
                let grads = (y.clone() * y.clone()).sum().backward();
                let g = |t: Option<Tensor<B::InnerBackend, 3>>| t.unwrap().into_data();
                (y.into_data(), scores.grad(&grads).unwrap().into_data(), g(gate.grad(&grads)), g(stored.grad(&grads)))
            };
            let (ours, theirs) = (run(true), run(false));
            assert_eq!(ours.0, theirs.0);
            assert_eq!(ours.1, theirs.1);
            ours.2.assert_approx_eq::<f32>(&theirs.2, Tolerance::absolute(1e-3));
            ours.3.assert_approx_eq::<f32>(&theirs.3, Tolerance::absolute(1e-3));
            let largest = ours.2.to_vec::<f32>().unwrap().iter().fold(0f32, |m, v| m.max(v.abs()));
            assert!(largest > 1.0, "gate gradient {largest}");
        }
        check::<Autodiff<NdArray>>();
        #[cfg(feature = "flex")]
        check::<Autodiff<burn::backend::Flex>>();
    }
}
