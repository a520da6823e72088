//! `impl Kernels` for burn's CPU backends, flex and ndarray: vox's kernels ([`host`]) for
//! contiguous f32 tensors, the composed operations for the rest.

use burn::tensor::ops::{FloatTensor, FloatTensorOps};

use super::composed::{adamw_step_by_ops, add_bias_by_ops, add_gated_bias_backward_by_ops, add_gated_bias_by_ops, column_sums_by_ops, conv_windows_backward_by_ops, conv_windows_by_ops, exact_gelu_backward_by_ops, group_norm_over_time_backward_by_ops, group_norm_over_time_by_ops, grouped_conv1d_backward_by_ops, grouped_conv1d_by_ops, layer_norm_last_backward_by_ops, masked_mean_std_by_ops, merge_heads_by_ops, softmax_last_backward_by_ops, softmax_last_by_ops, split_heads_by_ops, squared_sums_by_ops, weight_norm_backward_by_ops, weight_norm_by_ops};
use super::attention_ops::{composed_attention, keep_mask};
use super::{AdamWStep, AttentionGradients, AttentionInputs, Kernels, SavedAttention, attention_backward_by_ops, cpu, host};

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
                let keep = keep_mask::<Self>(dims, dropout, &Self::float_device(&x.q));
                let [context, probs] = host::attention_saving(dims, &x, keep.as_ref(), dropout);
                Some(SavedAttention { context, softmax: probs, keep })
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
                            host::attention_backward(dims, &x, &saved.softmax, saved.keep.as_ref(), dropout, &grad);
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
