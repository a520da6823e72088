//! `impl Kernels` for burn's autodiff wrapper: each of vox's operations recorded with its
//! own backward step (the inner backend's kernel), instead of the dozen steps burn records
//! for the same computation composed from operations.

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::{base::Checkpointer, strategy::CheckpointStrategy};
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, binary, unary};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

use super::attention_ops::composed_attention;
use super::{AttentionInputs, Kernels, SavedAttention, tensor};

/// The backward step of an operation whose one computation gives every parent's gradient:
/// the output's gradient consumed, `partials(state, grad)` computed, and each partial
/// registered to its parent in order (an untracked parent's dropped).
pub(super) fn register_partials<B: Backend, S, const N: usize, P: IntoIterator<Item = FloatTensor<B>>>(
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

/// vox's operations of one tensor whose backward step keeps one tensor: GELU its input,
/// softmax its output.
#[derive(Clone, Copy, Debug)]
enum SingleInput {
    /// [`Kernels::exact_gelu`].
    ExactGelu,
    /// [`Kernels::softmax_last`].
    SoftmaxLast,
}

impl SingleInput {
    fn forward<B: Kernels>(self, x: FloatTensor<B>) -> FloatTensor<B> {
        match self {
            Self::ExactGelu => B::exact_gelu(x),
            Self::SoftmaxLast => B::softmax_last(x),
        }
    }
}

impl<B: Kernels> Backward<B, 1> for SingleInput {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let kept = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| match self {
            Self::ExactGelu => B::exact_gelu_backward(kept, grad),
            Self::SoftmaxLast => B::softmax_last_backward(kept, grad),
        });
    }
}

/// `op` of `x` on the autodiff backend, keeping what its backward step needs when tracked.
fn single_input<B: Kernels, C: CheckpointStrategy>(
    op: SingleInput,
    x: FloatTensor<Autodiff<B, C>>,
) -> FloatTensor<Autodiff<B, C>> {
    match op.prepare::<C>([x.node.clone()]).compute_bound().stateful() {
        // GELU keeps its input, softmax its output (the input is not held while the
        // kernel runs, so that it may write in place).
        OpsKind::Tracked(prep) => match op {
            SingleInput::ExactGelu => {
                let y = op.forward::<B>(x.primitive.clone());
                prep.finish(x.primitive, y)
            }
            SingleInput::SoftmaxLast => {
                let y = op.forward::<B>(x.primitive);
                prep.finish(y.clone(), y)
            }
        },
        OpsKind::UnTracked(prep) => prep.finish(op.forward::<B>(x.primitive)),
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
        single_input::<B, C>(SingleInput::ExactGelu, x)
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
        single_input::<B, C>(SingleInput::SoftmaxLast, x)
    }
}

/// Backward step of [`Kernels::training_attention`] where the backend computes it as one
/// kernel: parents `[q, k, v]` or, gated, `[q, k, v, gate, bias]`.
#[derive(Debug)]
struct TrainingAttention;

impl<B: Kernels, const N: usize> Backward<B, N> for TrainingAttention {
    type State = (AttentionInputs<FloatTensor<B>>, SavedAttention<FloatTensor<B>>, f64);

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        register_partials::<B, _, N, _>(ops, grads, |(x, saved, dropout), grad| {
            let g = B::attention_backward(x, saved, dropout, grad);
            [g.q, g.k, g.v].into_iter().chain(g.gated.into_iter().flatten())
        });
    }
}

/// Records [`TrainingAttention`] with `parents` (3 or 5) for the context in `state`.
fn record_attention<B: Kernels, C: CheckpointStrategy, const N: usize>(
    parents: [FloatTensor<Autodiff<B, C>>; N],
    state: <TrainingAttention as Backward<B, N>>::State,
) -> FloatTensor<Autodiff<B, C>> {
    match TrainingAttention.prepare::<C>(parents.map(|parent| parent.node)).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let output = state.1.context.clone();
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(state.1.context),
    }
}
