//! The `featurize` stage kind: one feature vector per clip of an audio set.
//!
//! Outputs (in the stage folder): `features.csv` + `manifest.csv` ([`FeatureTable`]),
//! `standardization.csv` ([`crate::standardization`]) and, for spectrogram sets with
//! `output = "frames"`, the frame matrices ([`crate::frames`]). Clips are processed in
//! parallel (one extractor per worker thread) and collected in manifest order, so the output
//! bytes depend only on the params and the input.

use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::{AudioSet, Clip};
use vox_api::features::FeatureTable;
use vox_api::{ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

use crate::egemaps::{self, Egemaps};
use crate::error::FeaturesError;
use crate::frames::{self, ClipFrames};
use crate::librosa::{self, Kind, Padding, Settings, Spectrogram};
use crate::standardization;

/// Computes per-clip acoustic features of an audio set: openSMILE's eGeMAPSv02 functionals
/// (88 features, openSMILE's names; needs 16 kHz), or librosa-compatible MFCC or log-mel
/// spectrograms summarized per coefficient (mean, std, p10, p50, p90) or kept frame by frame.
/// Also writes `standardization.csv` (per-feature mean and std over the `train` clips, or all
/// clips when the set is not split).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Featurize {
    /// Feature set: `egemaps-v02` (openSMILE eGeMAPSv02 functionals), `mfcc` or `logmel`.
    #[serde(default = "default_set")]
    pub set: FeatureSet,
    /// `mfcc` only: number of cepstral coefficients, 1..=`n_mels`. Default 13.
    #[serde(default = "default_n_mfcc")]
    pub n_mfcc: usize,
    /// `mfcc`/`logmel`: number of mel bands, >= 1. Unset means 40 for `mfcc`, 64 for `logmel`.
    #[serde(default)]
    pub n_mels: Option<usize>,
    /// `mfcc`/`logmel`: FFT size in samples, 16..=65536. Default 512 (32 ms at 16 kHz).
    #[serde(default = "default_n_fft")]
    pub n_fft: usize,
    /// `mfcc`/`logmel`: hop between frames in samples, >= 1. Default 160 (10 ms at 16 kHz).
    #[serde(default = "default_hop_length")]
    pub hop_length: usize,
    /// `mfcc`/`logmel`: Hann window length in samples, 1..=`n_fft`. Unset means `n_fft`.
    #[serde(default)]
    pub win_length: Option<usize>,
    /// `mfcc`/`logmel`: lowest mel filter edge in Hz, >= 0. Default 0.
    #[serde(default)]
    pub fmin: f64,
    /// `mfcc`/`logmel`: highest mel filter edge in Hz, > `fmin` and <= half the sample rate.
    /// Unset means half the sample rate.
    #[serde(default)]
    pub fmax: Option<f64>,
    /// `mfcc`/`logmel`: append first-order deltas (librosa `delta`, width 9) as extra
    /// coefficients named `<name>_delta`. Default false.
    #[serde(default)]
    pub deltas: bool,
    /// `mfcc`/`logmel`: how the signal is padded by `n_fft / 2` at both ends (`center=True`):
    /// `constant` (zeros, librosa >= 0.10's default) or `reflect`.
    #[serde(default = "default_pad_mode")]
    pub pad_mode: PadMode,
    /// `mfcc`/`logmel`: `functionals` (per-coefficient mean, std, p10, p50, p90 in
    /// `features.csv`, named like `mfcc3_mean`) or `frames` (additionally every frame in
    /// `frames.f32`, see the crate docs for the layout). `egemaps-v02` supports only
    /// `functionals`.
    #[serde(default = "default_output")]
    pub output: Output,
}

/// The feature sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureSet {
    /// openSMILE's eGeMAPSv02 functionals (88 features).
    EgemapsV02,
    /// librosa MFCC.
    Mfcc,
    /// librosa dB mel spectrogram.
    Logmel,
}

impl FeatureSet {
    fn name(self) -> &'static str {
        match self {
            Self::EgemapsV02 => "egemaps-v02",
            Self::Mfcc => "mfcc",
            Self::Logmel => "logmel",
        }
    }
}

/// What a spectrogram set writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Output {
    /// Per-coefficient functionals only.
    Functionals,
    /// Functionals plus every frame.
    Frames,
}

/// Edge padding before framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PadMode {
    /// Zeros.
    Constant,
    /// Mirror images of the signal.
    Reflect,
}

fn default_set() -> FeatureSet {
    FeatureSet::EgemapsV02
}
fn default_n_mfcc() -> usize {
    13
}
fn default_n_fft() -> usize {
    512
}
fn default_hop_length() -> usize {
    160
}
fn default_pad_mode() -> PadMode {
    PadMode::Constant
}
fn default_output() -> Output {
    Output::Functionals
}

impl Featurize {
    fn n_mels(&self) -> usize {
        self.n_mels.unwrap_or(if self.set == FeatureSet::Logmel { 64 } else { 40 })
    }

    /// The spectrogram settings at `sample_rate` (None for eGeMAPS).
    fn settings(&self, sample_rate: u32) -> Result<Option<Settings>, FeaturesError> {
        let kind = match self.set {
            FeatureSet::EgemapsV02 => return Ok(None),
            FeatureSet::Mfcc => Kind::Mfcc { n_mfcc: self.n_mfcc },
            FeatureSet::Logmel => Kind::LogMel,
        };
        let nyquist = sample_rate as f64 / 2.0;
        let fmax = self.fmax.unwrap_or(nyquist);
        if fmax > nyquist {
            return Err(FeaturesError::FmaxAboveNyquist { fmax, nyquist });
        }
        Ok(Some(Settings {
            sample_rate: sample_rate as f64,
            kind,
            n_mels: self.n_mels(),
            n_fft: self.n_fft,
            hop_length: self.hop_length,
            win_length: self.win_length.unwrap_or(self.n_fft),
            fmin: self.fmin,
            fmax,
            deltas: self.deltas,
            padding: match self.pad_mode {
                PadMode::Constant => Padding::Constant,
                PadMode::Reflect => Padding::Reflect,
            },
        }))
    }

    /// The sample rate shared by the clips, checked against the set's needs.
    fn sample_rate(&self, clips: &[Clip]) -> Result<u32, FeaturesError> {
        let first = clips.first().map_or(egemaps::SAMPLE_RATE, |c| c.sample_rate);
        for c in clips {
            if self.set == FeatureSet::EgemapsV02 && c.sample_rate != egemaps::SAMPLE_RATE {
                return Err(FeaturesError::SampleRate {
                    file_id: c.file_id.clone(),
                    found: c.sample_rate,
                    expected: egemaps::SAMPLE_RATE,
                });
            }
            if c.sample_rate != first {
                return Err(FeaturesError::MixedSampleRates {
                    file_id: c.file_id.clone(),
                    found: c.sample_rate,
                    expected: first,
                    set: self.set.name(),
                });
            }
        }
        Ok(first)
    }
}

/// One worker's extractor.
enum Extractor {
    Egemaps(Box<Egemaps>),
    Spectrogram { spectrogram: Box<Spectrogram>, matrix: Vec<f64>, column: Vec<f64> },
}

impl Extractor {
    fn new(settings: Option<Settings>) -> Self {
        match settings {
            None => Self::Egemaps(Box::new(Egemaps::new())),
            Some(s) => Self::Spectrogram {
                spectrogram: Box::new(Spectrogram::new(s)),
                matrix: Vec::new(),
                column: Vec::new(),
            },
        }
    }

    /// The clip's feature row and, when asked, its frames.
    fn clip(&mut self, samples: &[f32], keep_frames: bool) -> (Vec<f64>, Option<ClipFrames>) {
        match self {
            Self::Egemaps(e) => (e.extract(samples).to_vec(), None),
            Self::Spectrogram { spectrogram, matrix, column } => {
                let n_frames = spectrogram.compute(samples, matrix);
                let width = spectrogram.settings().n_coefficients();
                let mut row = Vec::with_capacity(width * librosa::FUNCTIONALS.len());
                librosa::functionals(matrix, n_frames, width, column, &mut row);
                let frames = keep_frames
                    .then(|| ClipFrames { n_frames, values: matrix.iter().map(|&v| v as f32).collect() });
                (row, frames)
            }
        }
    }
}

/// Feature names of the set: openSMILE's for eGeMAPS, `<coefficient>_<functional>` otherwise.
fn feature_names(settings: Option<&Settings>) -> Vec<String> {
    match settings {
        None => egemaps::NAMES.iter().map(|s| s.to_string()).collect(),
        Some(s) => s
            .coefficient_names()
            .iter()
            .flat_map(|c| librosa::FUNCTIONALS.iter().map(move |f| format!("{c}_{f}")))
            .collect(),
    }
}

impl StageDef for Featurize {
    const KIND: &'static str = "featurize";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Audio]);
    const OUTPUT: ArtifactKind = ArtifactKind::Features;

    fn validate(&self) -> Result<(), ParamError> {
        if self.set == FeatureSet::EgemapsV02 {
            if self.output == Output::Frames {
                return Err(ParamError::new("output", "`egemaps-v02` has only `functionals`; use `mfcc` or `logmel` for frames"));
            }
            if self.deltas {
                return Err(ParamError::new("deltas", "deltas apply to `mfcc` and `logmel` only"));
            }
        }
        if !(16..=65536).contains(&self.n_fft) {
            return Err(ParamError::new("n_fft", format!("must be within 16..=65536, got {}", self.n_fft)));
        }
        if self.hop_length == 0 {
            return Err(ParamError::new("hop_length", "must be at least 1"));
        }
        if let Some(w) = self.win_length {
            if w == 0 || w > self.n_fft {
                return Err(ParamError::new("win_length", format!("must be within 1..=n_fft ({}), got {w}", self.n_fft)));
            }
        }
        let n_mels = self.n_mels();
        if n_mels == 0 {
            return Err(ParamError::new("n_mels", "must be at least 1"));
        }
        if self.set == FeatureSet::Mfcc && (self.n_mfcc == 0 || self.n_mfcc > n_mels) {
            return Err(ParamError::new("n_mfcc", format!("must be within 1..=n_mels ({n_mels}), got {}", self.n_mfcc)));
        }
        if !(self.fmin >= 0.0 && self.fmin.is_finite()) {
            return Err(ParamError::new("fmin", format!("must be a finite frequency >= 0 Hz, got {}", self.fmin)));
        }
        if let Some(fmax) = self.fmax {
            if !(fmax > self.fmin && fmax.is_finite()) {
                return Err(ParamError::new("fmax", format!("must be above `fmin` ({} Hz), got {fmax}", self.fmin)));
            }
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        Ok(self.featurize(ctx)?)
    }
}

impl Featurize {
    fn featurize(&self, ctx: &StageContext) -> Result<(), FeaturesError> {
        let audio = AudioSet::read(&ctx.input().dir)?;
        let sample_rate = self.sample_rate(&audio.clips)?;
        let settings = self.settings(sample_rate)?;
        let keep_frames = self.output == Output::Frames;
        let bar = ctx.progress_bar(audio.clips.len() as u64, "featurize");
        let threads = ctx.threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|source| FeaturesError::ThreadPool { threads, source })?;
        let results: Vec<(Vec<f64>, Option<ClipFrames>)> = pool.install(|| {
            audio
                .clips
                .par_iter()
                .map_init(
                    || Extractor::new(settings),
                    |ex, clip| {
                        let out = ex.clip(audio.samples_of(clip), keep_frames);
                        bar.inc(1);
                        out
                    },
                )
                .collect()
        });
        bar.finish_and_clear();
        let (rows, clip_frames): (Vec<Vec<f64>>, Vec<Option<ClipFrames>>) = results.into_iter().unzip();
        let table = FeatureTable { names: feature_names(settings.as_ref()), clips: audio.clips, rows };
        table.write(ctx.out_dir)?;
        if let Some(s) = settings.as_ref().filter(|_| keep_frames) {
            let empty = ClipFrames::default();
            let clips: Vec<(&str, &ClipFrames)> = table
                .clips
                .iter()
                .zip(&clip_frames)
                .map(|(c, f)| (c.file_id.as_str(), f.as_ref().unwrap_or(&empty)))
                .collect();
            frames::write(ctx.out_dir, &s.coefficient_names(), &clips)?;
        }
        let stats = standardization::compute(&table);
        standardization::write(&stats, ctx.out_dir)?;
        tracing::info!(
            stage = ctx.stage,
            clips = table.clips.len(),
            features = table.names.len(),
            set = self.set.name(),
            "featurized"
        );
        Ok(())
    }
}
