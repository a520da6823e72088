//! How audio is prepared for a model, as HF's `Wav2Vec2FeatureExtractor` does it.
//!
//! A model folder's `preprocessor_config.json` says how its model was trained to see audio:
//! `do_normalize` (each clip scaled to zero mean and unit variance, as in the XLSR and
//! wav2vec2-base checkpoints; `false` in others, e.g. `microsoft/wavlm-base-plus`) and
//! `sampling_rate`. transformers' `AutoFeatureExtractor` reads it; so does vox, so that a
//! checkpoint sees its audio as it does in transformers. A folder without one gets the
//! extractor's defaults (normalized, 16 kHz). A fine-tuned model is written with the file, so
//! that `vox predict`, a downstream `featurize set = "ssl"` and transformers' pipelines prepare
//! its input as it was trained.
//!
//! Normalization: `(x - mean) / sqrt(var + 1e-7)` over the clip's valid samples with the
//! population variance; padding is set to 0 (`padding_value`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Wav2Vec2Error;
use vox_api::audio::AudioSet;

/// The feature-extractor configuration of a model folder (HF's name).
pub const PREPROCESSOR_FILE: &str = "preprocessor_config.json";

/// The only feature extractor of wav2vec2, HuBERT and WavLM checkpoints.
const FEATURE_EXTRACTOR: &str = "Wav2Vec2FeatureExtractor";

/// HF's epsilon in `zero_mean_unit_var_norm`.
const VARIANCE_EPS: f64 = 1e-7;

/// What a model folder's `preprocessor_config.json` says of the audio its model takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preprocessor {
    /// Scale each clip to zero mean and unit variance (`do_normalize`).
    pub do_normalize: bool,
    /// The sample rate the model was trained on (`sampling_rate`).
    pub sampling_rate: u32,
    /// Whether the folder has the file (else the fields are the extractor's defaults).
    pub from_file: bool,
    /// Whether a stage's `normalize` param set [`Self::do_normalize`] (see [`Self::with_param`]).
    pub by_param: bool,
}

impl Default for Preprocessor {
    /// `Wav2Vec2FeatureExtractor`'s defaults.
    fn default() -> Self {
        Self { do_normalize: true, sampling_rate: 16_000, from_file: false, by_param: false }
    }
}

/// The fields vox reads; the rest of the file (padding side, feature size) is the extractor's
/// fixed layout for raw audio.
#[derive(Deserialize)]
struct PreprocessorFile {
    #[serde(default = "default_normalize")]
    do_normalize: bool,
    #[serde(default = "default_sampling_rate")]
    sampling_rate: u32,
    #[serde(default)]
    feature_extractor_type: Option<String>,
}

fn default_normalize() -> bool {
    Preprocessor::default().do_normalize
}
fn default_sampling_rate() -> u32 {
    Preprocessor::default().sampling_rate
}

/// The file vox writes: what `Wav2Vec2FeatureExtractor.save_pretrained` writes, field for field.
#[derive(Serialize)]
struct WrittenFile {
    do_normalize: bool,
    feature_extractor_type: &'static str,
    feature_size: u32,
    padding_side: &'static str,
    padding_value: f64,
    return_attention_mask: bool,
    sampling_rate: u32,
}

impl Preprocessor {
    /// Reads `dir`'s `preprocessor_config.json`; a folder without one gets the defaults.
    pub fn read(dir: &Path) -> Result<Self, Wav2Vec2Error> {
        let path = dir.join(PREPROCESSOR_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(source) => return Err(Wav2Vec2Error::Io { path, source }),
        };
        let file: PreprocessorFile =
            serde_json::from_str(&text).map_err(|source| Wav2Vec2Error::Preprocessor { path: path.clone(), source })?;
        if let Some(found) = file.feature_extractor_type.filter(|t| t != FEATURE_EXTRACTOR) {
            return Err(Wav2Vec2Error::FeatureExtractor { path, found });
        }
        Ok(Self { do_normalize: file.do_normalize, sampling_rate: file.sampling_rate, from_file: true, by_param: false })
    }

    /// This configuration with a stage's `normalize` param, when set, deciding the
    /// normalization.
    pub fn with_param(self, normalize: Option<bool>) -> Self {
        match normalize {
            Some(do_normalize) => Self { do_normalize, by_param: true, ..self },
            None => self,
        }
    }

    /// What the stage reports: the rate, whether clips are normalized, and what decided it,
    /// e.g. "16000 Hz, not normalized per clip (the model's `preprocessor_config.json`)".
    pub fn describe(&self) -> String {
        let why = match (self.by_param, self.from_file) {
            (true, _) => "`normalize`",
            (false, true) => "the model's `preprocessor_config.json`",
            (false, false) => "the default",
        };
        let normalized = if self.do_normalize { "normalized" } else { "not normalized" };
        format!("{} Hz, {normalized} per clip ({why})", self.sampling_rate)
    }

    /// Writes this configuration into the model folder `dir`. `return_attention_mask` is true
    /// whatever the model: vox trains and scores every model with the frame mask (HF's
    /// wav2vec2-base checkpoints say false because they were pretrained without one), so
    /// transformers reproduces vox's batched scores only with it.
    pub fn write(&self, dir: &Path) -> Result<(), Wav2Vec2Error> {
        let file = WrittenFile {
            do_normalize: self.do_normalize,
            feature_extractor_type: FEATURE_EXTRACTOR,
            feature_size: 1,
            padding_side: "right",
            padding_value: 0.0,
            return_attention_mask: true,
            sampling_rate: self.sampling_rate,
        };
        let path = dir.join(PREPROCESSOR_FILE);
        let json = serde_json::to_string_pretty(&file).map_err(Wav2Vec2Error::Serialize)?;
        std::fs::write(&path, json + "\n").map_err(|source| Wav2Vec2Error::Io { path, source })
    }

    /// Where [`Self::sampling_rate`] comes from, for messages.
    fn rate_source(&self) -> &'static str {
        if self.from_file {
            "its `preprocessor_config.json`"
        } else {
            "wav2vec2's rate; the model folder has no `preprocessor_config.json`"
        }
    }

    /// How the clips of `set` are prepared for the model in `folder`: as its
    /// `preprocessor_config.json` says (every clip checked at its sample rate), or, without a
    /// folder (a scratch model), normalized at the set's one rate; a stage's `normalize`, when
    /// set, decides the normalization either way.
    pub fn for_set(folder: Option<&Path>, set: &AudioSet, normalize: Option<bool>) -> Result<Self, Wav2Vec2Error> {
        let found = match folder {
            Some(dir) => {
                let found = Self::read(dir)?;
                check_rate(set, found.sampling_rate, found.rate_source())?;
                found
            }
            None => Self { sampling_rate: set_rate(set)?, ..Self::default() },
        };
        Ok(found.with_param(normalize))
    }
}

/// The one sample rate of the clips of `set` (a model takes one), or 16 kHz for an empty set:
/// what a scratch model is trained on.
fn set_rate(set: &AudioSet) -> Result<u32, Wav2Vec2Error> {
    let Some(first) = set.clips.first() else {
        return Ok(Preprocessor::default().sampling_rate);
    };
    check_rate(set, first.sample_rate, "the rate of the set's first clip")?;
    Ok(first.sample_rate)
}

/// Fails on the first clip of `set` not at `expected` Hz, naming where that rate comes from.
pub(crate) fn check_rate(set: &AudioSet, expected: u32, source_of_rate: &'static str) -> Result<(), Wav2Vec2Error> {
    match set.clips.iter().find(|clip| clip.sample_rate != expected) {
        Some(clip) => Err(Wav2Vec2Error::SampleRate {
            file_id: clip.file_id.clone(),
            rate: clip.sample_rate,
            expected,
            source_of_rate,
        }),
        None => Ok(()),
    }
}

/// Normalizes `clip` in place over its first `valid` samples and zeroes the rest.
pub fn normalize_clip(clip: &mut [f32], valid: usize) {
    let valid = valid.min(clip.len());
    let (head, padding) = clip.split_at_mut(valid);
    if !head.is_empty() {
        let n = head.len() as f64;
        let mean = head.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = head
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        let scale = 1.0 / (var + VARIANCE_EPS).sqrt();
        for x in head.iter_mut() {
            *x = ((f64::from(*x) - mean) * scale) as f32;
        }
    }
    padding.fill(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_samples_get_zero_mean_unit_variance_and_padding_zero() {
        let mut clip = [1.0, 2.0, 3.0, 4.0, 9.0, 9.0];
        normalize_clip(&mut clip, 4);
        // mean 2.5, population variance 1.25
        let s = (1.25f64 + 1e-7).sqrt();
        let expected = [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s, 0.0, 0.0];
        for (x, e) in clip.iter().zip(expected) {
            assert!((f64::from(*x) - e).abs() < 1e-6, "{clip:?}");
        }
    }

    #[test]
    fn a_folder_without_the_file_gets_the_extractors_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Preprocessor::read(dir.path()).unwrap(), Preprocessor::default());
        assert_eq!(
            Preprocessor::default(),
            Preprocessor { do_normalize: true, sampling_rate: 16_000, from_file: false, by_param: false }
        );
        assert_eq!(Preprocessor::default().describe(), "16000 Hz, normalized per clip (the default)");
        let overridden = Preprocessor::default().with_param(Some(false));
        assert_eq!(overridden.describe(), "16000 Hz, not normalized per clip (`normalize`)");
        assert_eq!(Preprocessor::default().with_param(None), Preprocessor::default());
    }

    #[test]
    fn the_file_is_read_as_transformers_writes_it_and_written_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        // microsoft/wavlm-base-plus's file, byte for byte.
        let hub = "{\n  \"do_normalize\": false,\n  \"feature_extractor_type\": \"Wav2Vec2FeatureExtractor\",\n  \
                   \"feature_size\": 1,\n  \"padding_side\": \"right\",\n  \"padding_value\": 0.0,\n  \
                   \"return_attention_mask\": true,\n  \"sampling_rate\": 16000\n}\n";
        std::fs::write(dir.path().join(PREPROCESSOR_FILE), hub).unwrap();
        let read = Preprocessor::read(dir.path()).unwrap();
        assert_eq!(read, Preprocessor { do_normalize: false, sampling_rate: 16_000, from_file: true, by_param: false });
        assert_eq!(read.describe(), "16000 Hz, not normalized per clip (the model's `preprocessor_config.json`)");
        let out = tempfile::tempdir().unwrap();
        read.write(out.path()).unwrap();
        assert_eq!(std::fs::read_to_string(out.path().join(PREPROCESSOR_FILE)).unwrap(), hub);

        // Fields left out take the extractor's defaults.
        std::fs::write(dir.path().join(PREPROCESSOR_FILE), r#"{"sampling_rate": 8000}"#).unwrap();
        let read = Preprocessor::read(dir.path()).unwrap();
        assert_eq!((read.do_normalize, read.sampling_rate), (true, 8000));
    }

    #[test]
    fn a_broken_file_or_another_extractor_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(PREPROCESSOR_FILE);
        std::fs::write(&path, r#"{"do_normalize": "yes"}"#).unwrap();
        let err = Preprocessor::read(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with(&format!("invalid feature-extractor config `{}`: ", path.display())), "{err}");
        std::fs::write(&path, r#"{"feature_extractor_type": "WhisperFeatureExtractor"}"#).unwrap();
        let err = Preprocessor::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("asks for the feature extractor `WhisperFeatureExtractor`"), "{err}");
    }

    #[test]
    fn clips_at_another_rate_are_named() {
        let clip = |file_id: &str, sample_rate: u32| vox_api::audio::Clip {
            file_id: file_id.into(),
            sample_rate,
            ..vox_api::audio::Clip::default()
        };
        let set = AudioSet { clips: vec![clip("a", 16_000), clip("b", 8_000)], ..AudioSet::default() };
        let dir = tempfile::tempdir().unwrap();
        let err = Preprocessor::for_set(Some(dir.path()), &set, None).unwrap_err().to_string();
        assert_eq!(
            err,
            "clip `b` is sampled at 8000 Hz but the model takes 16000 Hz (wav2vec2's rate; the model folder has \
             no `preprocessor_config.json`): resample it with the decode stage's `sample_rate = 16000`"
        );
        // A scratch model takes the set's one rate, whichever it is.
        let err = Preprocessor::for_set(None, &set, None).unwrap_err().to_string();
        assert!(err.contains("(the rate of the set's first clip)"), "{err}");
        let uniform = AudioSet { clips: vec![clip("a", 8_000), clip("b", 8_000)], ..AudioSet::default() };
        assert_eq!(Preprocessor::for_set(None, &uniform, None).unwrap().sampling_rate, 8_000);
        assert_eq!(Preprocessor::for_set(None, &AudioSet::default(), None).unwrap().sampling_rate, 16_000);
    }

    #[test]
    fn silent_clip_stays_finite() {
        let mut clip = [0.5f32; 8];
        normalize_clip(&mut clip, 8);
        assert!(clip.iter().all(|x| *x == 0.0));
    }
}
