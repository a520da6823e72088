//! A Whisper `config.json`: the encoder's fields (transformers' `WhisperConfig`; the
//! decoder's are ignored).

use std::path::Path;

use serde::Deserialize;

use super::input::WhisperInput;
use crate::config::{Activation, Wav2Vec2Config};
use crate::error::{ConfigProblem, Wav2Vec2Error};

/// The encoder's configuration, field names and defaults as transformers' `WhisperConfig`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct WhisperConfig {
    /// Log-mel bins of the input (`num_mel_bins`: 80, or 128 from large-v3 on).
    #[serde(default = "default_mel_bins")]
    pub num_mel_bins: usize,
    /// The width of every hidden state (`d_model`).
    #[serde(default = "default_d_model")]
    pub d_model: usize,
    /// Transformer layers (`encoder_layers`).
    #[serde(default = "default_layers")]
    pub encoder_layers: usize,
    /// Attention heads (`encoder_attention_heads`).
    #[serde(default = "default_heads")]
    pub encoder_attention_heads: usize,
    /// The feed-forward block's inner width (`encoder_ffn_dim`).
    #[serde(default = "default_ffn")]
    pub encoder_ffn_dim: usize,
    /// Encoder positions, the frames of 30 s after the stride-2 conv (`max_source_positions`).
    #[serde(default = "default_positions")]
    pub max_source_positions: usize,
    /// The feed-forward activation (`activation_function`).
    #[serde(default = "default_activation")]
    pub activation_function: Activation,
}

fn default_mel_bins() -> usize {
    80
}
fn default_d_model() -> usize {
    384
}
fn default_layers() -> usize {
    4
}
fn default_heads() -> usize {
    6
}
fn default_ffn() -> usize {
    1536
}
fn default_positions() -> usize {
    1500
}
fn default_activation() -> Activation {
    Activation::Gelu
}

/// transformers' `nn.LayerNorm` default, which Whisper's norms keep.
const LAYER_NORM_EPS: f64 = 1e-5;

impl WhisperConfig {
    /// Reads and checks a Whisper `config.json`.
    pub fn from_file(path: &Path) -> Result<Self, Wav2Vec2Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Wav2Vec2Error::Io { path: path.to_path_buf(), source })?;
        let config: Self =
            serde_json::from_str(&text).map_err(|source| Wav2Vec2Error::Config { path: path.to_path_buf(), source })?;
        if config.encoder_attention_heads == 0 || !config.d_model.is_multiple_of(config.encoder_attention_heads) {
            return Err(Wav2Vec2Error::InvalidConfig(ConfigProblem::Indivisible {
                hidden: config.d_model,
                field: "encoder_attention_heads",
                parts: config.encoder_attention_heads,
            }));
        }
        Ok(config)
    }

    /// The configuration of the shared transformer layers ([`crate::model::EncoderLayer`]):
    /// pre-LN, Whisper's widths and activation, no dropout (features are inference only).
    pub fn layer_config(&self) -> Wav2Vec2Config {
        Wav2Vec2Config {
            hidden_size: self.d_model,
            num_hidden_layers: self.encoder_layers,
            num_attention_heads: self.encoder_attention_heads,
            intermediate_size: self.encoder_ffn_dim,
            hidden_act: self.activation_function,
            layer_norm_eps: LAYER_NORM_EPS,
            do_stable_layer_norm: true,
            attention_dropout: 0.0,
            hidden_dropout: 0.0,
            activation_dropout: 0.0,
            ..Wav2Vec2Config::default()
        }
    }

    /// Mel frames the encoder takes: two per position (the second conv's stride).
    pub fn mel_frames(&self) -> usize {
        2 * self.max_source_positions
    }

    /// The input's frames must be the encoder's positions, twice (transformers refuses any
    /// other length).
    pub fn check_input(&self, input: &WhisperInput) -> Result<(), Wav2Vec2Error> {
        if input.frames() != self.mel_frames() {
            return Err(Wav2Vec2Error::InvalidConfig(ConfigProblem::WhisperFrames {
                frames: input.frames(),
                expected: self.mel_frames(),
            }));
        }
        Ok(())
    }
}
