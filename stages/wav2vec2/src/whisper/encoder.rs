//! Whisper's encoder (transformers' `WhisperEncoder`): `conv1` (mel bins -> width, kernel 3),
//! GELU, `conv2` (kernel 3, stride 2), GELU, plus the fixed positions `embed_positions`, then
//! pre-LN layers and `layer_norm`.
//!
//! Keys, as `WhisperModel` (`encoder.*`), `WhisperForConditionalGeneration` (`model.encoder.*`)
//! and `WhisperForAudioClassification` (`encoder.*`) save them, renamed on loading:
//!
//! | HF key | burn path |
//! |---|---|
//! | `[model.]encoder.*` | `*` |
//! | `layers.N.self_attn.*` | `layers.N.attention.*` |
//! | `layers.N.self_attn_layer_norm.*` | `layers.N.layer_norm.*` |
//! | `layers.N.fc1.*`, `layers.N.fc2.*` | `layers.N.feed_forward.{intermediate,output}_dense.*` |
//! | `*layer_norm.weight`, `*layer_norm.bias` | `*.gamma`, `*.beta` |
//!
//! `k_proj` has no bias in Whisper: the layers' key projections are built without one. Every
//! encoder tensor must be in the file; the decoder's and a classifier's are unused. Half-precision
//! files (large-v3's f16) are widened to f32 as wav2vec2's are.

use std::path::Path;

use burn::module::Module;
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, PaddingConfig1d};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::config::WhisperConfig;
use crate::config::Activation;
use crate::error::Wav2Vec2Error;
use crate::kernels::{self, Kernels};
use crate::loader::{CONFIG_FILE, apply_checkpoint, report};
use crate::model::{EncoderLayer, activate};

/// HF key -> burn path, in application order.
const RENAMES: &[(&str, &str)] = &[
    (r"^(model\.)?encoder\.", ""),
    (r"\.self_attn\.", ".attention."),
    (r"\.self_attn_layer_norm\.", ".layer_norm."),
    (r"\.fc1\.", ".feed_forward.intermediate_dense."),
    (r"\.fc2\.", ".feed_forward.output_dense."),
    (r"(layer_norm)\.weight$", "$1.gamma"),
    (r"(layer_norm)\.bias$", "$1.beta"),
];

/// transformers' `nn.LayerNorm` default, which Whisper's final norm keeps.
const LAYER_NORM_EPS: f64 = 1e-5;

/// The encoder (transformers' `WhisperEncoder`).
#[derive(Module, Debug)]
pub struct WhisperEncoder<B: Backend> {
    /// Mel bins -> width, kernel 3, padding 1.
    pub conv1: Conv1d<B>,
    /// Width -> width, kernel 3, stride 2, padding 1.
    pub conv2: Conv1d<B>,
    /// The sinusoidal position of each frame, `[max_source_positions, d_model]` (stored in
    /// the checkpoint).
    pub embed_positions: Embedding<B>,
    /// The transformer layers (pre-LN).
    pub layers: Vec<EncoderLayer<B>>,
    /// After the last layer.
    pub layer_norm: LayerNorm<B>,
}

impl<B: Kernels> WhisperEncoder<B> {
    /// A randomly initialized encoder for `config`.
    pub fn new(config: &WhisperConfig, device: &B::Device) -> Self {
        let width = config.d_model;
        let layer_config = config.layer_config();
        let conv = |inputs, stride| {
            Conv1dConfig::new(inputs, width, 3).with_stride(stride).with_padding(PaddingConfig1d::Explicit(1, 1)).init(device)
        };
        let layers = (0..config.encoder_layers)
            .map(|i| {
                let mut layer = EncoderLayer::new(&layer_config, i == 0, device);
                layer.attention.k_proj.bias = None;
                layer
            })
            .collect();
        Self {
            conv1: conv(config.num_mel_bins, 1),
            conv2: conv(width, 2),
            embed_positions: EmbeddingConfig::new(config.max_source_positions, width).init(device),
            layers,
            layer_norm: LayerNormConfig::new(width).with_epsilon(LAYER_NORM_EPS).init(device),
        }
    }

    /// Every hidden state for log-mel inputs `[batch, mel bins, 2 * positions]`: the
    /// embedded input, each layer's output, the last after the final norm (transformers'
    /// `hidden_states` with its last entry `last_hidden_state`, as for wav2vec2), each
    /// `[batch, positions, width]`. Whisper takes no mask: every frame attends to all.
    pub fn hidden_states(&self, mel: Tensor<B, 3>) -> Vec<Tensor<B, 3>> {
        let x = activate(Activation::Gelu, self.conv1.forward(mel));
        let x = activate(Activation::Gelu, self.conv2.forward(x)).swap_dims(1, 2);
        let positions = self.embed_positions.weight.val().unsqueeze_dim::<3>(0);
        let mut x = x + positions;
        let mut states = Vec::with_capacity(self.layers.len() + 1);
        for layer in &self.layers {
            states.push(x.clone());
            x = layer.forward(x, None, None);
        }
        let norm = &self.layer_norm;
        states.push(kernels::layer_norm(norm, LAYER_NORM_EPS, x));
        states
    }
}

/// Loads the encoder of the Whisper model folder `dir` (`config.json` and `model.safetensors`
/// or `pytorch_model.bin`) on `device`, with its configuration.
pub fn load_encoder<B: Kernels>(dir: &Path, device: &B::Device) -> Result<(WhisperConfig, WhisperEncoder<B>), Wav2Vec2Error> {
    let config = WhisperConfig::from_file(&dir.join(CONFIG_FILE))?;
    let encoder = WhisperEncoder::load(dir, &config, device)?;
    Ok((config, encoder))
}

impl<B: Kernels> WhisperEncoder<B> {
    /// The encoder for `config` with the weights of the model folder `dir`: every encoder
    /// tensor must be there (none is initialized afresh).
    pub fn load(dir: &Path, config: &WhisperConfig, device: &B::Device) -> Result<Self, Wav2Vec2Error> {
        let mut encoder = Self::new(config, device);
        let (path, result) = apply_checkpoint(&mut encoder, RENAMES, dir)?;
        let report = report(path, result, &[])?;
        tracing::debug!(file = %report.file, applied = report.applied, unused = report.unused.len(), "loaded a Whisper encoder");
        Ok(encoder)
    }
}
