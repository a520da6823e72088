//! Sequence classification: the wav2vec2 body, mean pooling over valid frames, a head.
//!
//! Two heads, picked by [`ClassifierHead`]:
//! - `projector` (HF `Wav2Vec2ForSequenceClassification`): `projector` (hidden ->
//!   `classifier_proj_size`) on every frame, padded frames zeroed, sum over frames divided by
//!   the valid-frame count, `classifier` (-> `num_labels`). HF's `classifier.{weight,bias}` load
//!   into our `classifier.out_proj`.
//! - `dense-tanh` (the SER notebooks' `Wav2Vec2ClassificationHead`): the same masked mean of
//!   the last hidden state, dropout, `dense` (hidden -> hidden), tanh, dropout, `out_proj`
//!   (-> `num_labels`), dropout probability `final_dropout`. Unlike those notebooks, which
//!   average padded frames too, the mean covers valid frames only when a mask is given.
//!
//! With `use_weighted_layer_sum` (the SUPERB checkpoints' heads), the frames pooled are not the
//! encoder's output but a mix of every hidden state, weighted by the softmax of a learned
//! `layer_weights` (one per state), as transformers does.

use burn::module::{Module, Param};
use burn::tensor::activation::softmax;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::{Int, Tensor, TensorData};
use burn::tensor::backend::Backend;

use super::{Augmentation, FrameMask, Precision, Wav2Vec2Model};
use crate::config::{ClassifierHead, Wav2Vec2Config};
use crate::kernels::Kernels;

/// The layers after pooling (HF `classifier`).
#[derive(Module, Debug)]
pub struct Classifier<B: Backend> {
    /// hidden -> hidden, followed by tanh (`dense-tanh` head only).
    pub dense: Option<Linear<B>>,
    /// -> `num_labels`.
    pub out_proj: Linear<B>,
    /// Dropout before `dense` and before `out_proj` (`dense-tanh` head only).
    pub dropout: Dropout,
}

impl<B: Kernels> Classifier<B> {
    /// `[batch, features]` -> logits `[batch, num_labels]`.
    pub fn forward(&self, pooled: Tensor<B, 2>) -> Tensor<B, 2> {
        match &self.dense {
            Some(dense) => {
                let x = dense.forward(self.dropout.forward(pooled)).tanh();
                self.out_proj.forward(self.dropout.forward(x))
            }
            None => self.out_proj.forward(pooled),
        }
    }
}

/// What [`Wav2Vec2ForSequenceClassification::forward`] returns.
#[derive(Debug, Clone)]
pub struct ClassificationOutput<B: Backend> {
    /// What the head pools, `[batch, frames, hidden]`: the encoder output, or with
    /// `use_weighted_layer_sum` the weighted sum of the hidden states.
    pub last_hidden_state: Tensor<B, 3>,
    /// Unnormalized class scores, `[batch, num_labels]`.
    pub logits: Tensor<B, 2>,
}

/// wav2vec2 with a mean-pooling classification head.
#[derive(Module, Debug)]
pub struct Wav2Vec2ForSequenceClassification<B: Backend> {
    /// The body.
    pub wav2vec2: Wav2Vec2Model<B>,
    /// hidden -> `classifier_proj_size` on every frame (`projector` head only).
    pub projector: Option<Linear<B>>,
    /// The layers after pooling.
    pub classifier: Classifier<B>,
    /// One weight per hidden state, mixed by their softmax (`use_weighted_layer_sum` only;
    /// HF `layer_weights`, initialized uniform as there).
    pub layer_weights: Option<Param<Tensor<B, 1>>>,
}

impl<B: Kernels> Wav2Vec2ForSequenceClassification<B> {
    /// A randomly initialized model for a validated `config`.
    pub fn new(config: &Wav2Vec2Config, device: &B::Device) -> Self {
        let (projector, classifier) = new_head(config, device);
        let states = config.num_hidden_layers + 1;
        let layer_weights = config
            .use_weighted_layer_sum
            .then(|| Param::from_tensor(Tensor::ones([states], device) / states as f64));
        Self {
            wav2vec2: Wav2Vec2Model::new(config, device),
            projector,
            classifier,
            layer_weights,
        }
    }

    /// The model with its body's large matrix products in `precision` (see [`Precision`]);
    /// the head stays f32.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.wav2vec2 = self.wav2vec2.with_precision(precision);
        self
    }

    /// The model with its body and a new, randomly initialized head for `config` (its
    /// layout and `num_labels`).
    pub fn with_new_head(self, config: &Wav2Vec2Config, device: &B::Device) -> Self {
        let (projector, classifier) = new_head(config, device);
        Self { projector, classifier, ..self }
    }

    /// `[batch, samples]` -> hidden state `[batch, frames, hidden]` and logits
    /// `[batch, num_labels]`; `mask` as in [`Wav2Vec2Model::forward`].
    pub fn forward(
        &self,
        samples: Tensor<B, 2>,
        mask: Option<&FrameMask<B>>,
    ) -> ClassificationOutput<B> {
        self.forward_augmented(samples, mask, None)
    }

    /// [`Self::forward`] with training-time SpecAugment and LayerDrop (see [`Augmentation`]).
    pub fn forward_augmented(
        &self,
        samples: Tensor<B, 2>,
        mask: Option<&FrameMask<B>>,
        augmentation: Option<&Augmentation<B>>,
    ) -> ClassificationOutput<B> {
        let last_hidden_state = match &self.layer_weights {
            Some(weights) => {
                let states = self.wav2vec2.layer_states_augmented(samples, mask, augmentation);
                let count = states.len();
                let weights = softmax(weights.val(), 0).reshape([1, count, 1, 1]);
                (Tensor::stack::<4>(states, 1) * weights).sum_dim(1).squeeze_dim::<3>(1)
            }
            None => self.wav2vec2.forward_augmented(samples, mask, augmentation),
        };
        let frames = match &self.projector {
            // Through vox's product (f32, as the rest of the head): burn's linear ran the
            // projector's product on one thread in flex.
            Some(projector) => super::linear_rows(projector, last_hidden_state.clone(), Precision::F32),
            None => last_hidden_state.clone(),
        };
        let logits = self
            .classifier
            .forward(mean_over_valid_frames(frames, mask));
        ClassificationOutput {
            last_hidden_state,
            logits,
        }
    }
}

/// A randomly initialized head for `config`: the projector (`projector` layout) and the
/// layers after pooling.
fn new_head<B: Backend>(config: &Wav2Vec2Config, device: &B::Device) -> (Option<Linear<B>>, Classifier<B>) {
    let labels = config.num_labels();
    let hidden = config.hidden_size;
    match config.classifier_head {
        ClassifierHead::Projector => (
            Some(LinearConfig::new(hidden, config.classifier_proj_size).init(device)),
            Classifier {
                dense: None,
                out_proj: LinearConfig::new(config.classifier_proj_size, labels).init(device),
                dropout: DropoutConfig::new(0.0).init(),
            },
        ),
        ClassifierHead::DenseTanh => (
            None,
            Classifier {
                dense: Some(LinearConfig::new(hidden, hidden).init(device)),
                out_proj: LinearConfig::new(hidden, labels).init(device),
                dropout: DropoutConfig::new(config.final_dropout).init(),
            },
        ),
    }
}

impl<B: Backend> Classifier<B> {
    /// The head with only the outputs `rows`, in this order: output `k` is the old output
    /// `rows[k]` (its weight column and bias), so a checkpoint's classes can be reordered to
    /// a label set's order or some of them removed.
    pub fn select_outputs(self, rows: &[usize], device: &B::Device) -> Self {
        let indices: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
        let indices = Tensor::<B, 1, Int>::from_data(TensorData::new(indices, [rows.len()]), device);
        // burn's Linear stores its weight `[d_input, d_output]`: outputs are columns.
        let select = |dim: usize| {
            let indices = indices.clone();
            move |tensor: Tensor<B, 2>| {
                let grad = tensor.is_require_grad();
                tensor.select(dim, indices).detach().set_require_grad(grad)
            }
        };
        let weight = self.out_proj.weight.map(select(1));
        let bias = self.out_proj.bias.map(|bias| {
            bias.map(|tensor| {
                let grad = tensor.is_require_grad();
                tensor.select(0, indices.clone()).detach().set_require_grad(grad)
            })
        });
        Self { out_proj: Linear { weight, bias }, ..self }
    }
}

/// `[batch, frames, features]` -> `[batch, features]`: the mean over each clip's valid frames
/// (all frames without a mask).
fn mean_over_valid_frames<B: Backend>(
    frames: Tensor<B, 3>,
    mask: Option<&FrameMask<B>>,
) -> Tensor<B, 2> {
    match mask {
        Some(mask) => {
            let valid = mask.valid.clone();
            let counts = valid.clone().sum_dim(1);
            let sums = (frames * valid.unsqueeze_dim::<3>(2))
                .sum_dim(1)
                .squeeze_dim::<2>(1);
            sums / counts
        }
        None => frames.mean_dim(1).squeeze_dim::<2>(1),
    }
}
