//! The transformer encoder, in both layer-norm orders.
//!
//! Reference: `Wav2Vec2Encoder` / `Wav2Vec2EncoderStableLayerNorm`, `Wav2Vec2EncoderLayer` /
//! `Wav2Vec2EncoderLayerStableLayerNorm`, `Wav2Vec2Attention` and `Wav2Vec2FeedForward` in
//! transformers. Before the layers, padded frames are zeroed and the positional embedding is
//! added; then
//! - post-LN (`do_stable_layer_norm = false`): `layer_norm`, dropout, and per layer
//!   `x = LN(x + attn(x))`, `x = LN'(x + ff(x))`;
//! - pre-LN (`true`): dropout, per layer `x = x + attn(LN(x))`, `x = x + ff(LN'(x))`, and
//!   `layer_norm` after the last layer.
//!
//! Attention is multi-head scaled dot product with biases on `q_proj`, `k_proj`, `v_proj`,
//! `out_proj`; padded frames are excluded as keys (HF adds `finfo(f32).min` to their scores;
//! we fill them with it, which gives the same probabilities). LayerDrop skips come from
//! [`super::Augmentation`].
//!
//! WavLM (`model_type = "wavlm"`, `WavLMEncoder*` in transformers) adds a gated relative
//! position bias to the scores ([`super::relative`]): the encoder computes it once per batch
//! from layer 0's bucket embedding, each layer gates it; as in transformers, LayerDrop never
//! skips layer 0 of a WavLM.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::Tensor;

use super::{Precision, activate, linear_rows};
use super::positional::PositionalConvEmbedding;
use super::relative;
use crate::config::{Activation, ModelType, Wav2Vec2Config};
use crate::kernels::{self, Kernels};

/// Multi-head self-attention (HF `attention`).
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// Query projection.
    pub q_proj: Linear<B>,
    /// Key projection.
    pub k_proj: Linear<B>,
    /// Value projection.
    pub v_proj: Linear<B>,
    /// Output projection.
    pub out_proj: Linear<B>,
    /// Dropout on the attention probabilities.
    pub dropout: Dropout,
    /// Number of heads.
    pub num_heads: usize,
    /// WavLM: the gate's per-head constant, `[1, heads, 1, 1]`.
    pub gru_rel_pos_const: Option<Param<Tensor<B, 4>>>,
    /// WavLM: the gate's projection, head_dim -> 8.
    pub gru_rel_pos_linear: Option<Linear<B>>,
    /// WavLM, layer 0 only: the bucket embedding, `[num_buckets, heads]`.
    pub rel_attn_embed: Option<Embedding<B>>,
    /// The projections' dtype (attention's own products stay f32).
    pub precision: Precision,
}

impl<B: Kernels> Attention<B> {
    fn new(config: &Wav2Vec2Config, first: bool, device: &B::Device) -> Self {
        let linear = || LinearConfig::new(config.hidden_size, config.hidden_size).init(device);
        let heads = config.num_attention_heads;
        let wavlm = config.model_type == ModelType::Wavlm;
        Self {
            q_proj: linear(),
            k_proj: linear(),
            v_proj: linear(),
            out_proj: linear(),
            dropout: DropoutConfig::new(config.attention_dropout).init(),
            num_heads: heads,
            gru_rel_pos_const: wavlm.then(|| Param::from_tensor(Tensor::ones([1, heads, 1, 1], device))),
            gru_rel_pos_linear: wavlm
                .then(|| LinearConfig::new(config.hidden_size / heads, 8).init(device)),
            rel_attn_embed: (wavlm && first)
                .then(|| EmbeddingConfig::new(config.num_buckets(), heads).init(device)),
            precision: Precision::F32,
        }
    }

    /// `[batch, frames, hidden]` -> `[batch, frames, hidden]`; `padding` `[batch, frames]` is
    /// 1.0 at real frames and 0.0 at padded ones, never attended to as keys; `bias` is a
    /// WavLM's ungated position bias `[heads, frames, frames]` (ignored by an attention
    /// without a gate).
    ///
    /// With autodiff (training), [`kernels::training_attention`], with dropout on the
    /// probabilities; without (inference, where dropout is off),
    /// [`kernels::multi_head_attention`]. Both are one kernel on the CPU backends.
    pub fn forward(&self, x: Tensor<B, 3>, padding: Option<&Tensor<B, 2>>, bias: Option<&Tensor<B, 3>>) -> Tensor<B, 3> {
        let [_, _, hidden] = x.dims();
        let gated = match (bias, &self.gru_rel_pos_linear, &self.gru_rel_pos_const) {
            (Some(bias), Some(linear), Some(constant)) => {
                Some((relative::gate(x.clone(), linear, constant, self.num_heads), bias.clone()))
            }
            _ => None,
        };
        let scale = ((hidden / self.num_heads) as f64).powf(-0.5) as f32;
        let training = B::ad_enabled(&x.device());
        let q = linear_rows(&self.q_proj, x.clone(), self.precision);
        let k = linear_rows(&self.k_proj, x.clone(), self.precision);
        let v = linear_rows(&self.v_proj, x, self.precision);
        let valid = padding.cloned();
        let context = match training {
            true => kernels::training_attention(q, k, v, self.num_heads, scale, valid, gated, self.dropout.prob),
            false => kernels::multi_head_attention(q, k, v, self.num_heads, scale, valid, gated),
        };
        linear_rows(&self.out_proj, context, self.precision)
    }
}

/// The position-wise feed-forward block (HF `feed_forward`).
#[derive(Module, Debug)]
pub struct FeedForward<B: Backend> {
    /// hidden -> intermediate.
    pub intermediate_dense: Linear<B>,
    /// intermediate -> hidden.
    pub output_dense: Linear<B>,
    /// Dropout after the activation (`activation_dropout`).
    pub intermediate_dropout: Dropout,
    /// Dropout on the output (`hidden_dropout`).
    pub output_dropout: Dropout,
    /// The activation (`hidden_act`).
    pub activation: Activation,
    /// The two products' dtype.
    pub precision: Precision,
}

impl<B: Kernels> FeedForward<B> {
    fn new(config: &Wav2Vec2Config, device: &B::Device) -> Self {
        Self {
            intermediate_dense: LinearConfig::new(config.hidden_size, config.intermediate_size)
                .init(device),
            output_dense: LinearConfig::new(config.intermediate_size, config.hidden_size)
                .init(device),
            intermediate_dropout: DropoutConfig::new(config.activation_dropout).init(),
            output_dropout: DropoutConfig::new(config.hidden_dropout).init(),
            activation: config.hidden_act,
            precision: Precision::F32,
        }
    }

    /// `[batch, frames, hidden]` -> `[batch, frames, hidden]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let x = activate(self.activation, linear_rows(&self.intermediate_dense, x, self.precision));
        let x = self.intermediate_dropout.forward(x);
        self.output_dropout.forward(linear_rows(&self.output_dense, x, self.precision))
    }
}

/// One transformer layer (HF `layers.{i}`).
#[derive(Module, Debug)]
pub struct EncoderLayer<B: Backend> {
    /// Self-attention.
    pub attention: Attention<B>,
    /// The norm around attention (after it post-LN, before it pre-LN).
    pub layer_norm: LayerNorm<B>,
    /// Feed-forward.
    pub feed_forward: FeedForward<B>,
    /// The norm around the feed-forward block.
    pub final_layer_norm: LayerNorm<B>,
    /// Dropout after attention (`hidden_dropout`).
    pub dropout: Dropout,
    /// Pre-LN ("stable layer norm") order.
    pub pre_norm: bool,
    /// The norms' epsilon (`layer_norm_eps`; burn's `LayerNorm` keeps its own private).
    pub norm_epsilon: f64,
}

impl<B: Kernels> EncoderLayer<B> {
    /// A randomly initialized layer for `config`; `first` holds WavLM's bucket embedding.
    pub(crate) fn new(config: &Wav2Vec2Config, first: bool, device: &B::Device) -> Self {
        Self {
            attention: Attention::new(config, first, device),
            layer_norm: layer_norm(config, device),
            feed_forward: FeedForward::new(config, device),
            final_layer_norm: layer_norm(config, device),
            dropout: DropoutConfig::new(config.hidden_dropout).init(),
            pre_norm: config.do_stable_layer_norm,
            norm_epsilon: config.layer_norm_eps,
        }
    }

    /// `[batch, frames, hidden]` -> `[batch, frames, hidden]`; `bias` as [`Attention::forward`].
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        padding: Option<&Tensor<B, 2>>,
        bias: Option<&Tensor<B, 3>>,
    ) -> Tensor<B, 3> {
        let norm = |norm: &LayerNorm<B>, x| kernels::layer_norm(norm, self.norm_epsilon, x);
        if self.pre_norm {
            let attended = self.attention.forward(norm(&self.layer_norm, x.clone()), padding, bias);
            let x = x + self.dropout.forward(attended);
            x.clone() + self.feed_forward.forward(norm(&self.final_layer_norm, x))
        } else {
            let attended = self.attention.forward(x.clone(), padding, bias);
            let x = norm(&self.layer_norm, x + self.dropout.forward(attended));
            norm(&self.final_layer_norm, x.clone() + self.feed_forward.forward(x))
        }
    }
}

fn layer_norm<B: Backend>(config: &Wav2Vec2Config, device: &B::Device) -> LayerNorm<B> {
    LayerNormConfig::new(config.hidden_size)
        .with_epsilon(config.layer_norm_eps)
        .init(device)
}

/// The transformer encoder (HF `encoder`).
#[derive(Module, Debug)]
pub struct Encoder<B: Backend> {
    /// The convolutional positional embedding.
    pub pos_conv_embed: PositionalConvEmbedding<B>,
    /// Before the first layer (post-LN) or after the last (pre-LN).
    pub layer_norm: LayerNorm<B>,
    /// The transformer layers.
    pub layers: Vec<EncoderLayer<B>>,
    /// Dropout after the positional embedding (`hidden_dropout`).
    pub dropout: Dropout,
    /// Pre-LN ("stable layer norm") order.
    pub pre_norm: bool,
    /// WavLM's `num_buckets` (unused by other families).
    pub num_buckets: usize,
    /// WavLM's `max_bucket_distance` (unused by other families).
    pub max_bucket_distance: usize,
    /// The norm's epsilon (`layer_norm_eps`).
    pub norm_epsilon: f64,
}

impl<B: Kernels> Encoder<B> {
    /// A randomly initialized encoder for `config`.
    pub fn new(config: &Wav2Vec2Config, device: &B::Device) -> Self {
        Self {
            pos_conv_embed: PositionalConvEmbedding::new(config, device),
            layer_norm: layer_norm(config, device),
            layers: (0..config.num_hidden_layers)
                .map(|i| EncoderLayer::new(config, i == 0, device))
                .collect(),
            dropout: DropoutConfig::new(config.hidden_dropout).init(),
            pre_norm: config.do_stable_layer_norm,
            num_buckets: config.num_buckets(),
            max_bucket_distance: config.max_bucket_distance(),
            norm_epsilon: config.layer_norm_eps,
        }
    }

    /// A WavLM's ungated position bias for `frames` frames, from layer 0's bucket embedding;
    /// `None` for the other families.
    fn position_bias(&self, frames: usize) -> Option<Tensor<B, 3>> {
        let embed = self.layers.first()?.attention.rel_attn_embed.as_ref()?;
        Some(relative::position_bias(embed, frames, self.num_buckets, self.max_bucket_distance))
    }

    /// `[batch, frames, hidden]` -> `[batch, frames, hidden]`. `valid` is `[batch, frames]`,
    /// 1.0 at real frames and 0.0 at padding; padded frames are zeroed first, as in HF.
    /// `skip_layers[i]` skips layer `i` (LayerDrop); missing entries mean no skip.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        valid: Option<&Tensor<B, 2>>,
        skip_layers: &[bool],
    ) -> Tensor<B, 3> {
        let x = self.through_layers(x, valid, skip_layers, None);
        self.finish(x)
    }

    /// Every hidden state, as HF's `output_hidden_states=True` returns them: `layers + 1`
    /// tensors `[batch, frames, hidden]`, the input of each layer and then the output of the
    /// last. So index 0 is the embedded input (post-LN: after `layer_norm`; pre-LN: before any
    /// norm), index `i` the output of layer `i` (pre-LN: without the final norm), and the last
    /// index the encoder's output (pre-LN: with the final norm), which equals
    /// [`Encoder::forward`]'s. Inference only (no LayerDrop).
    pub fn hidden_states(&self, x: Tensor<B, 3>, valid: Option<&Tensor<B, 2>>) -> Vec<Tensor<B, 3>> {
        let mut states = Vec::with_capacity(self.layers.len() + 1);
        let x = self.through_layers(x, valid, &[], Some(&mut states));
        states.push(self.finish(x));
        states
    }

    /// The states a weighted-layer-sum head mixes (`use_weighted_layer_sum`), as transformers
    /// 5 collects them: [`Self::hidden_states`] but the last is the last layer's output itself
    /// (pre-LN: without the final norm, which transformers 4 had applied; post-LN models have
    /// none, so both agree). With LayerDrop, a skipped layer passes its input on.
    pub fn layer_states(&self, x: Tensor<B, 3>, valid: Option<&Tensor<B, 2>>, skip_layers: &[bool]) -> Vec<Tensor<B, 3>> {
        let mut states = Vec::with_capacity(self.layers.len() + 1);
        let x = self.through_layers(x, valid, skip_layers, Some(&mut states));
        states.push(x);
        states
    }

    /// The embedded input through the layers (LayerDrop's `skip_layers` skipped), without the
    /// pre-LN final norm; each layer's input is pushed onto `inputs` when given.
    fn through_layers(
        &self,
        x: Tensor<B, 3>,
        valid: Option<&Tensor<B, 2>>,
        skip_layers: &[bool],
        mut inputs: Option<&mut Vec<Tensor<B, 3>>>,
    ) -> Tensor<B, 3> {
        let bias = self.position_bias(x.dims()[1]);
        let x = self.embed(x, valid);
        self.layers.iter().enumerate().fold(x, |x, (i, layer)| {
            if let Some(inputs) = inputs.as_mut() {
                inputs.push(x.clone());
            }
            // transformers never drops a WavLM's layer 0 (`i > 0` in its LayerDrop draw).
            let skip = skip_layers.get(i).copied().unwrap_or(false) && !(i == 0 && bias.is_some());
            if skip { x } else { layer.forward(x, valid, bias.as_ref()) }
        })
    }

    /// Padding zeroed, positional embedding added, the post-LN norm and dropout: the first
    /// layer's input.
    fn embed(&self, x: Tensor<B, 3>, valid: Option<&Tensor<B, 2>>) -> Tensor<B, 3> {
        let x = match valid {
            Some(valid) => x * valid.clone().unsqueeze_dim::<3>(2),
            None => x,
        };
        let x = x.clone() + self.pos_conv_embed.forward(x);
        let x = if self.pre_norm { x } else { kernels::layer_norm(&self.layer_norm, self.norm_epsilon, x) };
        self.dropout.forward(x)
    }

    /// The pre-LN encoder's final norm after the last layer (post-LN: nothing).
    fn finish(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        if self.pre_norm { kernels::layer_norm(&self.layer_norm, self.norm_epsilon, x) } else { x }
    }
}
