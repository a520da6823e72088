//! The audio set as the training loop sees it: each clip's valid samples and class index (or
//! its ratings, for a fine-tune that estimates dimensions), and batches as tensors (optional
//! white noise, per-clip normalization, frame masks).

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use vox_api::audio::{AudioSet, Clip, Split};
use vox_api::estimates::{EstimatesError, rating};

use super::{ClassWeights, FineTuneError};
use crate::config::Wav2Vec2Config;
use crate::error::Wav2Vec2Error;
use crate::model::FrameMask;
use crate::preprocess::normalize_clip;

/// The audio set with the model's classes.
pub struct Dataset {
    /// Every clip's samples.
    pub set: AudioSet,
    /// The model's classes (see [`super::labels`]), one per head output.
    pub classes: Vec<String>,
    /// Per clip (manifest order), the class index of its label when the model knows it.
    pub targets: Vec<Option<usize>>,
    /// For a model that estimates dimensions ([`Dataset::rated`]; `classes` then names them),
    /// per clip its rating in each, `None` where unrated; empty for a classifier.
    pub ratings: Vec<Vec<Option<f64>>>,
    /// Whether each clip is scaled to zero mean and unit variance before the model (the
    /// model's [`crate::preprocess::Preprocessor`], or the stage's `normalize`).
    pub normalize: bool,
}

/// One batch on a backend.
pub struct Batch<B: Backend> {
    /// `[clips, samples]`, zero after each clip's valid samples.
    pub samples: Tensor<B, 2>,
    /// The valid frames.
    pub mask: FrameMask<B>,
}

impl Dataset {
    /// `set` scored over `classes`: each clip's target is its label's position among them;
    /// batches normalized per clip when `normalize`.
    pub fn new(set: AudioSet, classes: Vec<String>, normalize: bool) -> Self {
        let targets = set
            .clips
            .iter()
            .map(|c| c.label.as_deref().and_then(|l| classes.iter().position(|k| k == l)))
            .collect();
        Self { set, classes, targets, normalize, ratings: Vec::new() }
    }

    /// The dataset of a model that estimates the dimensions `classes` names: each clip's
    /// ratings from the manifest columns of those names (a value that is no number is an error
    /// naming the clip).
    pub fn rated(mut self) -> Result<Self, EstimatesError> {
        self.ratings = self
            .set
            .clips
            .iter()
            .map(|clip| self.classes.iter().map(|d| rating(clip, d)).collect())
            .collect::<Result<_, _>>()?;
        Ok(self)
    }

    /// Indices of the clips of `split`: for train, those a model learns from (labelled, or
    /// rated in every dimension); for other splits of a model that estimates dimensions, those
    /// rated in any (the others cannot be scored).
    pub fn indices(&self, split: Split) -> Vec<usize> {
        (0..self.set.clips.len())
            .filter(|&i| self.set.clips[i].split == split)
            .filter(|&i| match (self.ratings.get(i), split) {
                (None, Split::Train) => self.targets[i].is_some(),
                (None, _) => true,
                (Some(rated), Split::Train) => rated.iter().all(Option::is_some),
                (Some(rated), _) => rated.iter().any(Option::is_some),
            })
            .collect()
    }

    /// The ratings of clips `indices`, rated in every dimension, as a `[clips, dimensions]`
    /// tensor.
    pub fn rating_values<B: Backend>(&self, indices: &[usize], device: &B::Device) -> Tensor<B, 2> {
        let values: Vec<f32> = indices.iter().flat_map(|&i| self.ratings[i].iter().map(|r| r.unwrap_or(0.0) as f32)).collect();
        Tensor::from_data(TensorData::new(values, [indices.len(), self.classes.len()]), device)
    }

    /// Checks that every clip makes at least one frame.
    pub fn check_lengths(&self, config: &Wav2Vec2Config) -> Result<(), FineTuneError> {
        check_lengths(&self.set, config)
    }

    /// Loss weights per class, or `None` for equal weights.
    pub fn class_weights(&self, weights: ClassWeights, train: &[usize]) -> Option<Vec<f32>> {
        match weights {
            ClassWeights::None => None,
            ClassWeights::Balanced => {
                let mut counts = vec![0usize; self.classes.len()];
                for &i in train {
                    if let Some(t) = self.targets[i] {
                        counts[t] += 1;
                    }
                }
                let n = train.len() as f64;
                let k = self.classes.len() as f64;
                Some(
                    counts
                        .iter()
                        .map(|&c| (n / (k * c.max(1) as f64)) as f32)
                        .collect(),
                )
            }
        }
    }

    /// The batch of clips `indices`, padded to the longest valid length among them; with
    /// `noise`, each clip gets white noise at an SNR drawn from `[lo, hi]` dB; then normalized
    /// when the dataset says so.
    pub fn batch<B: Backend>(
        &self,
        config: &Wav2Vec2Config,
        indices: &[usize],
        noise: Option<(&mut ChaCha8Rng, [f64; 2])>,
        device: &B::Device,
    ) -> Result<Batch<B>, Wav2Vec2Error> {
        padded_batch(&self.set, config, indices, noise, self.normalize, device)
    }

    /// The class indices of labelled clips `indices` as a tensor.
    pub fn labels<B: Backend>(&self, indices: &[usize], device: &B::Device) -> Tensor<B, 1, Int> {
        let labels: Vec<i64> = indices
            .iter()
            .map(|&i| self.targets[i].map_or(0, |t| t as i64))
            .collect();
        Tensor::from_data(TensorData::new(labels, [indices.len()]), device)
    }
}

/// Checks that every clip of `set` makes at least one frame of the feature encoder.
pub fn check_lengths(set: &AudioSet, config: &Wav2Vec2Config) -> Result<(), FineTuneError> {
    for clip in &set.clips {
        let samples = valid_length(clip);
        if config.frame_count(samples).is_none() {
            return Err(FineTuneError::ClipTooShort { file_id: clip.file_id.clone(), samples });
        }
    }
    Ok(())
}

/// The clips `indices` of `set` as one batch, padded to the longest valid length among them:
/// with `noise`, each clip gets white noise at an SNR drawn from `[lo, hi]` dB; with
/// `normalize`, each is then scaled to zero mean and unit variance ([`normalize_clip`]).
pub fn padded_batch<B: Backend>(
    set: &AudioSet,
    config: &Wav2Vec2Config,
    indices: &[usize],
    mut noise: Option<(&mut ChaCha8Rng, [f64; 2])>,
    normalize: bool,
    device: &B::Device,
) -> Result<Batch<B>, Wav2Vec2Error> {
    let lengths: Vec<usize> = indices.iter().map(|&i| valid_length(&set.clips[i])).collect();
    let padded = lengths.iter().copied().max().unwrap_or(0);
    let mut values = vec![0f32; indices.len() * padded];
    for ((row, &i), &length) in values.chunks_mut(padded.max(1)).zip(indices).zip(&lengths) {
        row[..length].copy_from_slice(&set.samples_of(&set.clips[i])[..length]);
        if let Some((rng, [lo, hi])) = noise.as_mut() {
            add_noise(&mut row[..length], rng.random_range(*lo..=*hi), rng);
        }
        if normalize {
            normalize_clip(row, length);
        }
    }
    let samples = Tensor::from_data(TensorData::new(values, [indices.len(), padded]), device);
    let mask = FrameMask::new(config, &lengths, padded, device)?;
    Ok(Batch { samples, mask })
}

/// The samples of `clip` that are audio, not padding: `original_length` when the set was padded
/// after decoding (0 means unknown), never more than the stored length.
pub fn valid_length(clip: &Clip) -> usize {
    let original = if clip.original_length == 0 {
        clip.length
    } else {
        clip.original_length
    };
    original.min(clip.length) as usize
}

/// Adds white Gaussian noise at `snr_db` relative to the mean power of `samples` (Box-Muller
/// normals from `rng`). Silence stays silent.
fn add_noise(samples: &mut [f32], snr_db: f64, rng: &mut ChaCha8Rng) {
    if samples.is_empty() {
        return;
    }
    let power = samples.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>() / samples.len() as f64;
    let std = (power / 10f64.powf(snr_db / 10.0)).sqrt();
    for x in samples.iter_mut() {
        let u1: f64 = 1.0 - rng.random::<f64>();
        let u2: f64 = rng.random();
        let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        *x += (normal * std) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn noise_has_the_requested_snr() {
        let signal: Vec<f32> = (0..20000).map(|i| (i as f32 * 0.05).sin()).collect();
        let mut noisy = signal.clone();
        add_noise(&mut noisy, 10.0, &mut ChaCha8Rng::seed_from_u64(3));
        let power =
            |x: &[f32]| x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / x.len() as f64;
        let noise: Vec<f32> = noisy.iter().zip(&signal).map(|(a, b)| a - b).collect();
        let snr = 10.0 * (power(&signal) / power(&noise)).log10();
        assert!((snr - 10.0).abs() < 0.1, "SNR {snr} dB");
    }

    #[test]
    fn valid_length_uses_the_original_length_when_padded() {
        let clip = |length, original_length| Clip {
            file_id: "a".into(),
            corpus: String::new(),
            speaker: String::new(),
            sex: String::new(),
            label: None,
            intensity: String::new(),
            statement: String::new(),
            repetition: String::new(),
            split: Split::Train,
            source: String::new(),
            sample_rate: 16000,
            offset: 0,
            length,
            original_length,
            extra: Default::default(),
        };
        assert_eq!(valid_length(&clip(60000, 30000)), 30000);
        assert_eq!(valid_length(&clip(60000, 90000)), 60000);
        assert_eq!(valid_length(&clip(60000, 0)), 60000);
    }
}
