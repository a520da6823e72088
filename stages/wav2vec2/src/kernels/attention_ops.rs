//! Attention through vox's backend extension: its operands and results, the tensor-level
//! entry points ([`multi_head_attention`] for inference, [`training_attention`]), the same
//! computation composed from burn's operations ([`attention_by_ops`]: cuda's road, the trait's
//! defaults and the tests' reference), and the operands of training's autodiff step
//! (recorded in [`super::autodiff`]). The CPU kernel itself is [`super::attention`].

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Bool, Tensor};

use super::attention::Dims;
use super::{Kernels, add_gated_bias, merge_heads, softmax_last, split_heads, tensor};

/// Attention composed from tensor operations (vox's kernels where it has them), with
/// `dropout` applied to the probabilities: training's path, whose autodiff graph keeps what
/// the backward pass needs, and [`Kernels::multi_head_attention`]'s default. `mask` is [`key_mask`]'s;
/// the rest as [`Kernels::multi_head_attention`].
#[allow(clippy::too_many_arguments)]
pub fn attention_by_ops<B: Kernels>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    heads: usize,
    scale: f32,
    mask: Option<&Tensor<B, 4, Bool>>,
    gated: Option<(Tensor<B, 3>, Tensor<B, 3>)>,
    dropout: impl FnOnce(Tensor<B, 4>) -> Tensor<B, 4>,
) -> Tensor<B, 3> {
    let q = split_heads(q * scale, heads);
    let (k, v) = (split_heads(k, heads), split_heads(v, heads));
    // [batch, heads, frames (queries), frames (keys)]
    let scores = q.matmul(k.swap_dims(2, 3));
    let scores = match gated {
        Some((gate, bias)) => add_gated_bias(scores, gate, bias),
        None => scores,
    };
    let scores = match mask {
        Some(mask) => scores.mask_fill(mask.clone(), f32::MIN),
        None => scores,
    };
    merge_heads(dropout(softmax_last(scores)).matmul(v))
}

/// The key padding mask of attention with `heads` heads: `[batch, heads, frames, frames]`,
/// true at the keys where `valid` `[batch, frames]` is below 0.5. Laid out in full (once per
/// forward pass): a mask fill with an expanded view copied it element by element on one
/// thread in every layer (burn-flex's `to_contiguous`, 2% of an SSL extraction).
pub fn key_mask<B: Backend>(valid: Tensor<B, 2>, heads: usize) -> Tensor<B, 4, Bool> {
    let [_, frames] = valid.dims();
    valid.lower_elem(0.5).unsqueeze_dims::<4>(&[1, 2]).repeat(&[1, heads, frames, 1])
}

/// [`Kernels::multi_head_attention`] on tensors.
#[allow(clippy::too_many_arguments)]
pub fn multi_head_attention<B: Kernels>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    heads: usize,
    scale: f32,
    valid: Option<Tensor<B, 2>>,
    gated: Option<(Tensor<B, 3>, Tensor<B, 3>)>,
) -> Tensor<B, 3> {
    tensor(B::multi_head_attention(primitives(q, k, v, heads, scale, valid, gated)))
}

/// The tensor entry points' operands as the trait takes them.
fn primitives<B: Backend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    heads: usize,
    scale: f32,
    valid: Option<Tensor<B, 2>>,
    gated: Option<(Tensor<B, 3>, Tensor<B, 3>)>,
) -> AttentionInputs<FloatTensor<B>> {
    let [q, k, v] = [q, k, v].map(|x| x.into_primitive().tensor());
    let valid = valid.map(|valid| valid.into_primitive().tensor());
    let gated = gated.map(|(gate, bias)| [gate.into_primitive().tensor(), bias.into_primitive().tensor()]);
    AttentionInputs { q, k, v, heads, scale, valid, gated }
}

/// Attention's operands, for [`Kernels::training_attention`] and its steps: queries, keys and
/// values `[batch, frames, hidden]` split into `heads`, the queries times `scale`; keys where
/// `valid` `[batch, frames]` is below 0.5 masked; WavLM's gate `[batch, heads, frames]` and
/// bias `[heads, frames, frames]` in `gated`.
#[derive(Clone, Debug)]
pub struct AttentionInputs<T> {
    /// Queries.
    pub q: T,
    /// Keys.
    pub k: T,
    /// Values.
    pub v: T,
    /// Heads.
    pub heads: usize,
    /// Multiplies the queries.
    pub scale: f32,
    /// 1.0 at real frames, 0.0 at padding.
    pub valid: Option<T>,
    /// WavLM's gate and ungated position bias.
    pub gated: Option<[T; 2]>,
}

impl<T> AttentionInputs<T> {
    /// The sizes of this attention when its operands fit together (queries, keys and values
    /// `[batch, frames, heads * head_dim]`, the mask `[batch, frames]`, the gate `[batch,
    /// heads, frames]` and bias `[heads, frames, frames]`) and are all f32, as a backend's
    /// tensors report them through `shape` and `is_f32`; `None` otherwise. What every attention
    /// kernel of vox's asks before it takes them (the CPU's and cubecl's).
    pub(super) fn fitting_dims(&self, shape: impl Fn(&T) -> Vec<usize>, is_f32: impl Fn(&T) -> bool) -> Option<Dims> {
        let q = shape(&self.q);
        let &[batch, frames, hidden] = q.as_slice() else { return None };
        let heads = self.heads;
        let fits = [&self.q, &self.k, &self.v].into_iter().all(&is_f32)
            && heads > 0
            && hidden % heads == 0
            && shape(&self.k) == q
            && shape(&self.v) == q
            && self.valid.as_ref().is_none_or(|valid| is_f32(valid) && shape(valid) == [batch, frames])
            && self.gated.as_ref().is_none_or(|[gate, bias]| {
                is_f32(gate) && is_f32(bias) && shape(gate) == [batch, heads, frames] && shape(bias) == [heads, frames, frames]
            });
        fits.then_some(Dims { batch, frames, heads, head_dim: hidden / heads })
    }

    /// The same operands, each tensor through `f`.
    pub(super) fn map<U>(self, f: impl Fn(T) -> U) -> AttentionInputs<U> {
        AttentionInputs {
            q: f(self.q),
            k: f(self.k),
            v: f(self.v),
            heads: self.heads,
            scale: self.scale,
            valid: self.valid.map(&f),
            gated: self.gated.map(|[gate, bias]| [f(gate), f(bias)]),
        }
    }
}

/// What [`Kernels::attention_saving`] returns.
#[derive(Clone, Debug)]
pub struct SavedAttention<T> {
    /// The context `[batch, frames, hidden]`.
    pub context: T,
    /// What the backward pass needs of the softmax: on the CPU backends the probabilities
    /// before dropout, `[batch, heads, frames, frames]`; on the cubecl backends, which
    /// recompute them (flash attention's way), each query's largest score and sum of
    /// exponentials, `[batch, heads, frames, 2]`.
    pub softmax: T,
    /// The dropout's keep mask (1.0 kept, 0.0 dropped), like the probabilities; `None` without
    /// dropout.
    pub keep: Option<T>,
}

/// What [`Kernels::attention_backward`] returns: the gradients of the queries, keys, values
/// and, for a gated attention, of the gate and the bias.
#[derive(Clone, Debug)]
pub struct AttentionGradients<T> {
    /// Of the queries.
    pub q: T,
    /// Of the keys.
    pub k: T,
    /// Of the values.
    pub v: T,
    /// Of the gate and the bias.
    pub gated: Option<[T; 2]>,
}

/// [`Kernels::training_attention`] on tensors (`valid` `[batch, frames]`, the gate and bias
/// 3-D), `dropout` its probability.
#[allow(clippy::too_many_arguments)]
pub fn training_attention<B: Kernels>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    heads: usize,
    scale: f32,
    valid: Option<Tensor<B, 2>>,
    gated: Option<(Tensor<B, 3>, Tensor<B, 3>)>,
    dropout: f64,
) -> Tensor<B, 3> {
    tensor(B::training_attention(primitives(q, k, v, heads, scale, valid, gated), dropout))
}

/// Dropout's keep mask for the probabilities of an attention of `dims` (1.0 kept, 0.0
/// dropped), `None` at probability 0: drawn as burn's `Dropout` draws it (`random_like` of the
/// probabilities, Bernoulli with `1 - dropout`), so that a seed gives the kernels the same
/// mask as the composed operations.
pub(super) fn keep_mask<B: Backend>(dims: Dims, dropout: f64, device: &B::Device) -> Option<FloatTensor<B>> {
    let Dims { batch, heads, frames, .. } = dims;
    (dropout > 0.0).then(|| {
        let shape = burn::tensor::Shape::from([batch, heads, frames, frames]);
        B::float_random(shape, burn::tensor::Distribution::Bernoulli(1.0 - dropout), device, burn::tensor::FloatDType::F32)
    })
}

/// What dropout of probability `dropout` multiplies the kept values by, as burn's `Dropout`
/// computes it (`1 / (1 - dropout)` in f64, then the element type).
pub(super) fn kept_scale(dropout: f64) -> f32 {
    (1.0 / (1.0 - dropout)) as f32
}

/// [`attention_by_ops`] on the trait's operands, with burn's `Dropout` of probability
/// `dropout` (the identity at 0 and without autodiff): the default of
/// [`Kernels::multi_head_attention`] (at 0) and [`Kernels::training_attention`].
pub(super) fn composed_attention<B: Kernels>(x: AttentionInputs<FloatTensor<B>>, dropout: f64) -> FloatTensor<B> {
    let mask = x.valid.map(|valid| key_mask(tensor::<B, 2>(valid), x.heads));
    let gated = x.gated.map(|[gate, bias]| (tensor::<B, 3>(gate), tensor::<B, 3>(bias)));
    let [q, k, v] = [x.q, x.k, x.v].map(tensor::<B, 3>);
    let dropout = burn::nn::DropoutConfig::new(dropout).init();
    attention_by_ops(q, k, v, x.heads, x.scale, mask.as_ref(), gated, |p| dropout.forward(p))
        .into_primitive()
        .tensor()
}

/// [`Kernels::attention_backward`] from burn's operations (the formulas are
/// [`super::attention::backward`]'s), `saved.softmax` the probabilities as the CPU backends
/// save them.
pub fn attention_backward_by_ops<B: Kernels>(
    x: AttentionInputs<FloatTensor<B>>,
    saved: SavedAttention<FloatTensor<B>>,
    dropout: f64,
    grad: FloatTensor<B>,
) -> AttentionGradients<FloatTensor<B>> {
    let heads = x.heads;
    let split = |t: FloatTensor<B>| split_heads(tensor::<B, 3>(t), heads);
    let (q, k, v) = (split(x.q), split(x.k), split(x.v));
    let g = split(grad);
    let probs = tensor::<B, 4>(saved.softmax);
    let keep = saved.keep.map(tensor::<B, 4>);
    let factor = kept_scale(dropout);
    let dropped = match &keep {
        Some(keep) => probs.clone() * keep.clone() * factor,
        None => probs.clone(),
    };
    let dv = dropped.swap_dims(2, 3).matmul(g.clone());
    let dd = g.matmul(v.swap_dims(2, 3));
    let dp = match keep {
        Some(keep) => dd * factor * keep,
        None => dd,
    };
    let ds = tensor::<B, 4>(B::softmax_last_backward(probs.into_primitive().tensor(), dp.into_primitive().tensor()));
    let ds = match x.valid {
        Some(valid) => ds.mask_fill(key_mask(tensor::<B, 2>(valid), heads), 0.0),
        None => ds,
    };
    let gated = x.gated.map(|[gate, bias]| B::add_gated_bias_backward(gate, bias, ds.clone().into_primitive().tensor()));
    let dq = ds.clone().matmul(k) * x.scale;
    let dk = ds.swap_dims(2, 3).matmul(q * x.scale);
    let merge = |t: Tensor<B, 4>| merge_heads(t).into_primitive().tensor();
    AttentionGradients { q: merge(dq), k: merge(dk), v: merge(dv), gated }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::{Tensor, TensorData, Tolerance};

    use super::*;
    use crate::kernels::AutodiffKernels;

    /// The CPU backends' attention kernel gives what the composed operations give (within f32
    /// rounding of different summation orders), from strided operands as the model's
    /// projections and a WavLM's permuted bias are, masked and gated; a tensor of another
    /// shape goes to the operations.
    #[test]
    fn attention_kernel_as_the_operations() {
        fn check<B: Kernels>() {
            let device = Default::default();
            let (batch, frames, heads, width) = (2, 37, 3, 16);
            let hidden = heads * width;
            let values = |n: usize, seed: usize| -> Vec<f32> { (0..n).map(|i| ((i * 31 + seed) % 17) as f32 * 0.125 - 1.0).collect() };
            // [batch, hidden, frames] transposed: strided as burn's views are.
            let input = |seed| Tensor::<B, 3>::from_data(TensorData::new(values(batch * frames * hidden, seed), [batch, hidden, frames]), &device).swap_dims(1, 2);
            let (q, k, v) = (input(1), input(2), input(3));
            let valid: Vec<f32> = (0..batch * frames).map(|i| if i % frames < frames - 9 * (i / frames) { 1.0 } else { 0.0 }).collect();
            let valid = Tensor::<B, 2>::from_data(TensorData::new(valid, [batch, frames]), &device);
            let gate = Tensor::<B, 3>::from_data(TensorData::new(values(batch * heads * frames, 4), [batch, heads, frames]), &device);
            let stored = Tensor::<B, 3>::from_data(TensorData::new(values(frames * frames * heads, 5), [frames, frames, heads]), &device);
            let bias = stored.permute([2, 0, 1]);
            let scale = (width as f32).powf(-0.5);
            for (masked, gated) in [(false, false), (true, false), (true, true)] {
                let valid = masked.then(|| valid.clone());
                let gated = gated.then(|| (gate.clone(), bias.clone()));
                let ours = multi_head_attention(q.clone(), k.clone(), v.clone(), heads, scale, valid.clone(), gated.clone());
                let mask = valid.map(|valid| key_mask(valid, heads));
                let theirs = attention_by_ops(q.clone(), k.clone(), v.clone(), heads, scale, mask.as_ref(), gated, |p| p);
                assert_eq!(ours.dims(), [batch, frames, hidden]);
                ours.into_data().assert_approx_eq::<f32>(&theirs.into_data(), Tolerance::absolute(2e-6));
            }
            // A padding mask that does not fit the frames: the operations' own error, not the
            // kernel's silent misreading.
            let odd = Tensor::<B, 2>::ones([batch, frames + 1], &device);
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                multi_head_attention(q.clone(), k.clone(), v.clone(), heads, scale, Some(odd), None).into_data()
            }));
            assert!(result.is_err(), "a mask of the wrong size is refused");
        }
        check::<NdArray>();
        #[cfg(feature = "flex")]
        check::<burn::backend::Flex>();
    }

    /// Training's attention kernel (forward and backward, one autodiff step) gives the values
    /// and gradients of the composed operations with burn's dropout, masked, gated and with
    /// dropout (the same keep mask for the same seed), from strided operands.
    #[test]
    fn training_attention_kernel_as_the_operations() {
        fn check<B: AutodiffKernels>() {
            let device = Default::default();
            let (batch, frames, heads, width) = (2, 37, 3, 16);
            let hidden = heads * width;
            let values = |n: usize, seed: usize| -> Vec<f32> { (0..n).map(|i| ((i * 31 + seed) % 17) as f32 * 0.0625 - 0.5).collect() };
            let valid: Vec<f32> = (0..batch * frames).map(|i| if i % frames < frames - 9 * (i / frames) { 1.0 } else { 0.0 }).collect();
            let valid = Tensor::<B, 2>::from_data(TensorData::new(valid, [batch, frames]), &device);
            let scale = (width as f32).powf(-0.5);
            for (masked, gated, dropout) in [(false, false, 0.0), (true, false, 0.0), (true, true, 0.0), (true, true, 0.3)] {
                let run = |ours: bool| {
                    let _lock = crate::burn_rng_lock();
                    B::seed(&device, 11);
                    // [batch, hidden, frames] transposed: strided as burn's views are.
                    let input = |seed| Tensor::<B, 3>::from_data(TensorData::new(values(batch * frames * hidden, seed), [batch, hidden, frames]), &device).require_grad();
                    let (q, k, v) = (input(1), input(2), input(3));
                    let gate = Tensor::<B, 3>::from_data(TensorData::new(values(batch * heads * frames, 4), [batch, heads, frames]), &device).require_grad();
                    let stored = Tensor::<B, 3>::from_data(TensorData::new(values(frames * frames * heads, 5), [frames, frames, heads]), &device).require_grad();
                    let (qv, kv, vv) = (q.clone().swap_dims(1, 2), k.clone().swap_dims(1, 2), v.clone().swap_dims(1, 2));
                    let valid = masked.then(|| valid.clone());
                    let gating = gated.then(|| (gate.clone(), stored.clone().permute([2, 0, 1])));
                    let y = match ours {
                        true => {
                            let inner = AttentionInputs {
                                q: qv.clone().inner().into_primitive().tensor(),
                                k: kv.clone().inner().into_primitive().tensor(),
                                v: vv.clone().inner().into_primitive().tensor(),
                                heads,
                                scale,
                                valid: None,
                                gated: None,
                            };
                            assert!(B::InnerBackend::attention_saving(inner, 0.0).is_some(), "the kernel's road");
                            training_attention(qv, kv, vv, heads, scale, valid, gating, dropout)
                        }
                        false => {
                            let mask = valid.map(|valid| key_mask(valid, heads));
                            let dropout = burn::nn::DropoutConfig::new(dropout).init();
                            attention_by_ops(qv, kv, vv, heads, scale, mask.as_ref(), gating, |p| dropout.forward(p))
                        }
                    };
                    let weights = Tensor::<B, 3>::from_data(TensorData::new(values(batch * frames * hidden, 6), [batch, frames, hidden]), &device);
                    let grads = (y.clone() * weights).sum().backward();
                    let g = |t: &Tensor<B, 3>| t.grad(&grads).map(|g| g.into_data());
                    (y.into_data(), [g(&q), g(&k), g(&v), g(&gate), g(&stored)])
                };
                let (ours, theirs) = (run(true), run(false));
                let case = format!("masked {masked}, gated {gated}, dropout {dropout}");
                ours.0.assert_approx_eq::<f32>(&theirs.0, Tolerance::absolute(2e-6));
                for (i, (a, b)) in ours.1.iter().zip(&theirs.1).enumerate() {
                    match (a, b) {
                        (Some(a), Some(b)) => a.assert_approx_eq::<f32>(b, Tolerance::absolute(2e-5)),
                        (None, None) => assert!(!gated && i >= 3, "{case}: gradient {i} missing"),
                        _ => panic!("{case}: gradient {i} on one side only"),
                    }
                }
                let dq = ours.1[0].as_ref().unwrap().to_vec::<f32>().unwrap();
                assert!(dq.iter().any(|v| v.abs() > 1e-3), "{case}: a real gradient");
            }
        }
        check::<Autodiff<NdArray>>();
        #[cfg(feature = "flex")]
        check::<Autodiff<burn::backend::Flex>>();
    }
}
