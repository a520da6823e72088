//! Each [`Kernels`] method composed from burn's tensor operations: the trait's default
//! methods (cuda with fusion, other dtypes, the autodiff wrapper's untracked paths) and the
//! reference that vox's kernels are tested against.

use burn::tensor::backend::Backend;
use burn::tensor::ops::{ConvOptions, FloatTensor};
use burn::tensor::{Shape, Tensor, TensorPrimitive};

use super::{AdamWStep, FRAC_1_SQRT_2PI, tensor};

/// [`Kernels::adamw_step`] from the backend's operations, as burn-optim 0.21's `AdamW`.
pub(super) fn adamw_step_by_ops<B: Backend>(
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
pub(super) fn squared_sums_by_ops<B: Backend>(xs: Vec<FloatTensor<B>>) -> Vec<f64> {
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
pub(super) fn softmax_last_by_ops<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let dim = last_dim::<B>(&x);
    let max = B::float_max_dim(x.clone(), dim);
    let exp = B::float_exp(B::float_sub(x, max));
    let sum = B::float_sum_dim(exp.clone(), dim);
    B::float_div(exp, sum)
}

/// [`Kernels::softmax_last_backward`] from the backend's operations.
pub(super) fn softmax_last_backward_by_ops<B: Backend>(
    y: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let dim = last_dim::<B>(&y);
    let dot = B::float_sum_dim(B::float_mul(grad.clone(), y.clone()), dim);
    B::float_mul(y, B::float_sub(grad, dot))
}

/// [`Kernels::exact_gelu_backward`] from the backend's `erf` and `exp`.
pub(super) fn exact_gelu_backward_by_ops<B: Backend>(
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
pub(super) fn window_count(time: usize, kernel: usize, stride: usize) -> usize {
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
pub(super) fn conv_windows_by_ops<B: Backend>(
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
pub(super) fn conv_windows_backward_by_ops<B: Backend>(
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
pub(super) fn grouped_conv1d_by_ops<B: Backend>(
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
pub(super) fn grouped_conv1d_backward_by_ops<B: Backend>(
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
pub(super) fn group_norm_over_time_by_ops<B: Backend>(
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
pub(super) fn group_norm_over_time_backward_by_ops<B: Backend>(
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
pub(super) fn layer_norm_last_backward_by_ops<B: Backend>(
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
pub(super) fn add_gated_bias_by_ops<B: Backend>(
    scores: FloatTensor<B>,
    gate: FloatTensor<B>,
    bias: FloatTensor<B>,
) -> FloatTensor<B> {
    let gate = tensor::<B, 3>(gate).unsqueeze_dim::<4>(3);
    let gated = gate * tensor::<B, 3>(bias).unsqueeze_dim::<4>(0);
    (tensor::<B, 4>(scores) + gated).into_primitive().tensor()
}

/// [`Kernels::add_gated_bias_backward`] from burn's operations.
pub(super) fn add_gated_bias_backward_by_ops<B: Backend>(
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
pub(super) fn add_bias_by_ops<B: Backend>(x: FloatTensor<B>, bias: FloatTensor<B>) -> FloatTensor<B> {
    (tensor::<B, 2>(x) + tensor::<B, 1>(bias).unsqueeze_dim::<2>(0)).into_primitive().tensor()
}

/// [`Kernels::column_sums`] as burn's sum over rows.
pub(super) fn column_sums_by_ops<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
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
pub(super) fn weight_norm_by_ops<B: Backend>(v: FloatTensor<B>, g: FloatTensor<B>) -> FloatTensor<B> {
    let (v, g, shape) = weight_norm_operands::<B>(v, g);
    let norm = v.clone().powi_scalar(2).sum_dim(0).sqrt();
    B::float_reshape((v * (g / norm)).into_primitive().tensor(), shape)
}

/// [`Kernels::weight_norm_backward`] from burn's operations.
pub(super) fn weight_norm_backward_by_ops<B: Backend>(
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
pub(super) fn masked_mean_std_by_ops<B: Backend>(state: FloatTensor<B>, valid: FloatTensor<B>) -> FloatTensor<B> {
    let (state, valid) = (tensor::<B, 3>(state), tensor::<B, 2>(valid));
    let counts = valid.clone().sum_dim(1);
    let weights = valid.unsqueeze_dim::<3>(2);
    let mean = (state.clone() * weights.clone()).sum_dim(1).squeeze_dim::<2>(1) / counts.clone();
    let centered = (state - mean.clone().unsqueeze_dim::<3>(1)) * weights;
    let variance = centered.powi_scalar(2).sum_dim(1).squeeze_dim::<2>(1) / counts;
    Tensor::cat(vec![mean, variance.sqrt()], 1).into_primitive().tensor()
}

/// [`Kernels::split_heads`] as burn's reshape and transposed view.
pub(super) fn split_heads_by_ops<B: Backend>(x: FloatTensor<B>, heads: usize) -> FloatTensor<B> {
    let [batch, frames, hidden] = tensor::<B, 3>(x.clone()).dims();
    let t = tensor::<B, 3>(x).reshape([batch, frames, heads, hidden / heads]).swap_dims(1, 2);
    t.into_primitive().tensor()
}

/// [`Kernels::merge_heads`] as burn's transposed view and reshape.
pub(super) fn merge_heads_by_ops<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let [batch, heads, frames, width] = tensor::<B, 4>(x.clone()).dims();
    let t = tensor::<B, 4>(x).swap_dims(1, 2).reshape([batch, frames, heads * width]);
    t.into_primitive().tensor()
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
