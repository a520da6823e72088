//! Whisper's input: the log-mel spectrogram of HF's `WhisperFeatureExtractor`, read from the
//! model folder's `preprocessor_config.json`.
//!
//! Per clip, as transformers computes it (its torch path; the numpy path agrees to 1e-5):
//! 1. optionally zero mean and unit variance over the clip (`normalize`; Whisper's default is
//!    off), then zeros to `n_samples` (30 s);
//! 2. a centred STFT (`n_fft` 400, hop 160, periodic Hann window, reflected ends), power
//!    spectra, the last frame dropped: `n_samples / hop` frames (3000);
//! 3. Slaney's mel filterbank ([`vox_api::mel`], 0 to 8 kHz), `log10(max(mel, 1e-10))`;
//! 4. floored at the clip's largest value less 8 (80 dB below its peak), then `(x + 4) / 4`.
//!
//! In f64 (transformers: f32): a value differs from transformers' by f32 rounding only.
//!
//! realfft for the transform, as the feature crate does; the framing is a few lines, written
//! here rather than shared because the feature crate is another stage crate.

use std::path::Path;
use std::sync::Arc;

use realfft::RealFftPlanner;
use realfft::RealToComplex;
use serde::Deserialize;
use vox_api::mel::Filterbank;

use crate::error::{ConfigProblem, Wav2Vec2Error};
use crate::preprocess::{PREPROCESSOR_FILE, normalize_clip};

/// The feature extractor of Whisper checkpoints.
pub const FEATURE_EXTRACTOR: &str = "WhisperFeatureExtractor";
/// transformers' floor on mel power before the logarithm.
const MEL_FLOOR: f64 = 1e-10;
/// The dynamic range kept below a clip's peak, in log10 units (80 dB).
const DYNAMIC_RANGE: f64 = 8.0;
/// The filterbank's top, fixed in transformers whatever the rate.
const MAX_FREQUENCY: f64 = 8000.0;

/// `preprocessor_config.json`'s fields, with `WhisperFeatureExtractor`'s defaults.
#[derive(Deserialize)]
struct File {
    #[serde(default = "default_feature_size")]
    feature_size: usize,
    #[serde(default = "default_sampling_rate")]
    sampling_rate: u32,
    #[serde(default = "default_hop")]
    hop_length: usize,
    #[serde(default = "default_chunk")]
    chunk_length: usize,
    #[serde(default = "default_n_fft")]
    n_fft: usize,
    #[serde(default)]
    padding_value: f64,
    #[serde(default)]
    dither: f64,
    #[serde(default)]
    feature_extractor_type: Option<String>,
}

fn default_feature_size() -> usize {
    80
}
fn default_sampling_rate() -> u32 {
    16_000
}
fn default_hop() -> usize {
    160
}
fn default_chunk() -> usize {
    30
}
fn default_n_fft() -> usize {
    400
}

/// How a Whisper model sees audio, and the tables to compute it.
#[derive(Clone)]
pub struct WhisperInput {
    /// Mel bins (`feature_size`).
    pub n_mels: usize,
    /// The sample rate (`sampling_rate`).
    pub sampling_rate: u32,
    /// The hop between frames, samples (`hop_length`).
    pub hop_length: usize,
    /// The FFT size and window length (`n_fft`).
    pub n_fft: usize,
    /// Samples every clip is padded to (`chunk_length` seconds).
    pub n_samples: usize,
    /// Whether the model folder has the file (else the extractor's defaults).
    pub from_file: bool,
    window: Vec<f64>,
    /// The mel filters over the FFT bins.
    bands: Filterbank,
    fft: Arc<dyn RealToComplex<f64>>,
}

impl std::fmt::Debug for WhisperInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WhisperInput")
            .field("n_mels", &self.n_mels)
            .field("sampling_rate", &self.sampling_rate)
            .field("hop_length", &self.hop_length)
            .field("n_fft", &self.n_fft)
            .field("n_samples", &self.n_samples)
            .finish()
    }
}

impl WhisperInput {
    /// Reads `dir`'s `preprocessor_config.json` (a folder without one gets the defaults: 80
    /// bins, 16 kHz, 30 s).
    pub fn read(dir: &Path) -> Result<Self, Wav2Vec2Error> {
        let path = dir.join(PREPROCESSOR_FILE);
        let (file, from_file) = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let file: File = serde_json::from_str(&text)
                    .map_err(|source| Wav2Vec2Error::Preprocessor { path: path.clone(), source })?;
                (file, true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (serde_json::from_str::<File>("{}").map_err(Wav2Vec2Error::Serialize)?, false),
            Err(source) => return Err(Wav2Vec2Error::Io { path, source }),
        };
        if let Some(found) = file.feature_extractor_type.filter(|t| t != FEATURE_EXTRACTOR) {
            return Err(Wav2Vec2Error::FeatureExtractor { path, found });
        }
        let problem = |problem| Err(Wav2Vec2Error::InvalidConfig(problem));
        // Dither adds random noise to every input: features would not be a function of the clip.
        if file.dither != 0.0 {
            return problem(ConfigProblem::WhisperInput("`dither` must be 0 (it adds random noise to each input)"));
        }
        if file.padding_value != 0.0 {
            return problem(ConfigProblem::WhisperInput("`padding_value` must be 0 (silence)"));
        }
        if file.n_fft < 2 || file.hop_length == 0 || file.feature_size == 0 || file.chunk_length == 0 {
            return problem(ConfigProblem::WhisperInput("`n_fft`, `hop_length`, `feature_size` and `chunk_length` must be positive"));
        }
        let n_samples = file.chunk_length * file.sampling_rate as usize;
        if n_samples <= file.n_fft / 2 {
            return problem(ConfigProblem::WhisperInput("`chunk_length` must be longer than half an `n_fft` window"));
        }
        let bank = vox_api::mel::slaney_filterbank(f64::from(file.sampling_rate), file.n_fft, file.feature_size, 0.0, MAX_FREQUENCY);
        let bands = Filterbank::from_dense(bank);
        Ok(Self {
            n_mels: file.feature_size,
            sampling_rate: file.sampling_rate,
            hop_length: file.hop_length,
            n_fft: file.n_fft,
            n_samples,
            from_file,
            window: (0..file.n_fft)
                .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / file.n_fft as f64).cos())
                .collect(),
            bands,
            fft: RealFftPlanner::<f64>::new().plan_fft_forward(file.n_fft),
        })
    }

    /// Frames of every input: `n_samples / hop_length` (the STFT's last frame is dropped).
    pub fn frames(&self) -> usize {
        self.n_samples / self.hop_length
    }

    /// The frames that hold the clip of `samples` samples, as transformers' rescaled attention
    /// mask counts them: those starting inside it.
    pub fn valid_frames(&self, samples: usize) -> usize {
        samples.div_ceil(self.hop_length).min(self.frames())
    }

    /// The log-mel input of `clip` (at most [`Self::n_samples`] samples), `[n_mels][frames]`
    /// row-major, zero mean and unit variance first when `normalize`.
    pub fn log_mel(&self, clip: &[f32], normalize: bool) -> Vec<f32> {
        let mut padded = vec![0f32; self.n_samples];
        let n = clip.len().min(self.n_samples);
        padded[..n].copy_from_slice(&clip[..n]);
        if normalize {
            normalize_clip(&mut padded, n);
        }
        let half = self.n_fft / 2;
        // Reflection without the edge sample (numpy's and torch's "reflect").
        let at = |i: isize| -> f64 {
            let len = self.n_samples as isize;
            let j = if i < 0 { -i } else if i >= len { 2 * (len - 1) - i } else { i };
            f64::from(padded[j as usize])
        };
        let frames = self.frames();
        let mut input = self.fft.make_input_vec();
        let mut output = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut mel = vec![0f64; self.n_mels * frames];
        let mut power = vec![0f64; output.len()];
        let mut energies = vec![0f64; self.n_mels];
        for t in 0..frames {
            let start = (t * self.hop_length) as isize - half as isize;
            for (k, x) in input.iter_mut().enumerate() {
                *x = at(start + k as isize) * self.window[k];
            }
            // Sizes come from the plan, so the transform cannot fail.
            let _ = self.fft.process_with_scratch(&mut input, &mut output, &mut scratch);
            for (p, c) in power.iter_mut().zip(&output) {
                *p = c.norm_sqr();
            }
            self.bands.apply(&power, &mut energies);
            for (m, energy) in energies.iter().enumerate() {
                mel[m * frames + t] = energy.max(MEL_FLOOR).log10();
            }
        }
        let floor = mel.iter().copied().fold(f64::NEG_INFINITY, f64::max) - DYNAMIC_RANGE;
        mel.into_iter().map(|x| ((x.max(floor) + 4.0) / 4.0) as f32).collect()
    }
}
