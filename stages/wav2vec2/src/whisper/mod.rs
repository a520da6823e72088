//! Whisper's encoder as a self-supervised feature model (`featurize set = "ssl"` on an
//! `openai/whisper-*` folder, or a fine-tuned `WhisperForAudioClassification`'s).
//!
//! Whisper's encoder is the wav2vec2 family's pre-LN transformer behind another input: a
//! log-mel spectrogram of the clip padded to 30 s ([`input`], HF's `WhisperFeatureExtractor`),
//! two convs (the second with stride 2) and fixed sinusoidal positions ([`encoder`]). Its
//! layers are [`crate::model::EncoderLayer`]s (pre-LN, exact GELU, biases everywhere but
//! `k_proj`), so that attention, the layer norms and the products run on vox's kernels on every
//! backend; only the stem and the input are Whisper's own.
//!
//! The decoder is not loaded (its tensors are listed as unused): the features are the
//! encoder's hidden states, pooled over each clip's own frames. Whisper attends over the whole
//! 30 s, its padding included, as in transformers (the encoder takes no mask); the statistics
//! read only the frames of the clip (`(ceil(n / hop) - 1) / 2 + 1` of 1500), so the padding's
//! silence never enters a clip's features. Clips longer than 30 s are refused: transformers
//! would cut them silently.

pub mod config;
pub mod encoder;
pub mod input;

pub use config::WhisperConfig;
pub use encoder::{WhisperEncoder, load_encoder};
pub use input::WhisperInput;

use std::path::Path;

use crate::error::Wav2Vec2Error;
use crate::loader::CONFIG_FILE;

/// Whether the model folder `dir` holds a Whisper model (`"model_type": "whisper"` in its
/// `config.json`); a folder whose config cannot be read is left to the wav2vec2 reader's
/// message.
pub fn is_whisper(dir: &Path) -> Result<bool, Wav2Vec2Error> {
    crate::config::model_type(&dir.join(CONFIG_FILE)).map(|found| found.as_deref() == Some(crate::config::WHISPER))
}
