//! `ssl-states` on a Whisper model folder: its encoder over each clip padded to 30 s, every
//! hidden state pooled over the clip's own frames (see [`crate::whisper`]).

use std::path::Path;

use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;
use vox_api::StageError;
use vox_api::audio::AudioSet;

use super::pooled::{self, Layout};
use crate::error::Wav2Vec2Error;
use crate::finetune::valid_length;
use crate::kernels::Kernels;
use crate::preprocess::check_rate;
use crate::whisper::{WhisperConfig, WhisperEncoder, WhisperInput};

/// A loaded Whisper encoder with its input and the clips' normalization.
pub struct WhisperFeatures<B: Kernels> {
    /// The configuration.
    pub config: WhisperConfig,
    /// The encoder.
    pub encoder: WhisperEncoder<B>,
    /// The log-mel input.
    pub input: WhisperInput,
    /// Zero mean and unit variance per clip before the spectrogram (`normalize`; Whisper's
    /// extractor does not by default).
    pub normalize: bool,
    normalize_by_param: bool,
}

impl<B: Kernels> WhisperFeatures<B> {
    /// Checks the clips of `set` against the model folder `dir` (rate, lengths, the input's
    /// frames against the encoder's positions), then loads the encoder.
    pub fn load(dir: &Path, set: &AudioSet, normalize: Option<bool>, device: &B::Device) -> Result<Self, Wav2Vec2Error> {
        let input = WhisperInput::read(dir)?;
        let source = if input.from_file { "its `preprocessor_config.json`" } else { "Whisper's rate; the model folder has no `preprocessor_config.json`" };
        check_rate(set, input.sampling_rate, source)?;
        for clip in &set.clips {
            let samples = valid_length(clip);
            if samples == 0 || samples > input.n_samples {
                return Err(Wav2Vec2Error::WhisperClipLength {
                    file_id: clip.file_id.clone(),
                    seconds: samples as f64 / f64::from(input.sampling_rate),
                    limit: input.n_samples as f64 / f64::from(input.sampling_rate),
                });
            }
        }
        let config = WhisperConfig::from_file(&dir.join(crate::loader::CONFIG_FILE))?;
        config.check_input(&input)?;
        let encoder = WhisperEncoder::load(dir, &config, device)?;
        Ok(Self { config, encoder, input, normalize: normalize.unwrap_or(false), normalize_by_param: normalize.is_some() })
    }

    /// The pooled states' layout for `clips` clips.
    pub fn layout(&self, clips: usize) -> Layout {
        Layout { format: 1, clips, states: self.config.encoder_layers + 1, hidden: self.config.d_model }
    }

    /// The encoder frames of a clip of `samples` samples: those its mel frames reach through
    /// the stride-2 conv (transformers' `_get_feat_extract_output_lengths`).
    pub fn frames(&self, samples: usize) -> usize {
        (self.input.valid_frames(samples) - 1) / 2 + 1
    }

    /// The pooled rows ([`Layout::per_clip`] values each) of clips `chunk` of `set`.
    pub fn pool_batch(&self, set: &AudioSet, chunk: &[usize], device: &B::Device) -> Result<Vec<Vec<f32>>, StageError> {
        let (n_mels, frames) = (self.input.n_mels, self.input.frames());
        let mel: Vec<Vec<f32>> = chunk
            .par_iter()
            .map(|&i| {
                let clip = &set.clips[i];
                self.input.log_mel(&set.samples_of(clip)[..valid_length(clip)], self.normalize)
            })
            .collect();
        let mel = Tensor::<B, 3>::from_data(TensorData::new(mel.concat(), [chunk.len(), n_mels, frames]), device);
        let positions = self.config.max_source_positions;
        let valid: Vec<f32> = chunk
            .iter()
            .flat_map(|&i| {
                let n = self.frames(valid_length(&set.clips[i]));
                (0..positions).map(move |t| if t < n { 1.0 } else { 0.0 })
            })
            .collect();
        let valid = Tensor::<B, 2>::from_data(TensorData::new(valid, [chunk.len(), positions]), device);
        let states = self.encoder.hidden_states(mel);
        Ok(pooled::rows(states, &valid).map_err(|e| format!("{e:?}"))?)
    }

    /// What `states.txt` says of the model and its input.
    pub fn describe(&self) -> String {
        let why = if self.normalize_by_param { "`normalize`" } else { "Whisper's default" };
        format!(
            "model: Whisper encoder, {} layers, width {}; inputs {} Hz, log-mel {} bins over {} s ({} frames), {} per clip ({why}); \
             pooled over each clip's own frames\n",
            self.config.encoder_layers,
            self.config.d_model,
            self.input.sampling_rate,
            self.input.n_mels,
            self.input.n_samples as f64 / f64::from(self.input.sampling_rate),
            self.config.max_source_positions,
            if self.normalize { "normalized" } else { "not normalized" },
        )
    }
}
