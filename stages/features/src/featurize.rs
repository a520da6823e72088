//! The `featurize` stage kind: one feature vector per clip of an audio set.
//!
//! Outputs (in the stage folder): `features.csv` + `manifest.csv` ([`FeatureTable`]),
//! `standardization.csv` ([`crate::standardization`]) and, for spectrogram sets with
//! `output = "frames"`, the frame matrices ([`crate::frames`]). Clips are processed in
//! parallel (one extractor per worker thread) and collected in manifest order, so the output
//! bytes depend only on the params and the input.

use std::path::Path;

use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::{AudioSet, Clip};
use vox_api::features::FeatureTable;
use vox_api::{Applied, Applies, ApplyContext, ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

use crate::egemaps::{self, Egemaps};
use crate::error::FeaturesError;
use crate::frames::{self, ClipFrames};
use crate::librosa::{self, Kind, Padding, Settings, Spectrogram};
use crate::rows;
use crate::standardization;

/// The name of the work `featurize` shares across splits of the same clips (`vox_api::memo`).
const SHARED_FEATURES: &str = "features";

/// Computes per-clip acoustic features of an audio set: openSMILE's eGeMAPSv02 functionals
/// (88 features, openSMILE's names; needs 16 kHz), or librosa-compatible MFCC or log-mel
/// spectrograms summarized per coefficient (mean, std, p10, p50, p90) or kept frame by frame.
/// Also writes `standardization.csv` (per-feature mean and std over the `train` clips, or all
/// clips when the set is not split).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, into = "Keyed")]
pub struct Featurize {
    /// Feature set: `egemaps-v02` (openSMILE eGeMAPSv02 functionals), `mfcc`, `logmel`, or
    /// `ssl` (a self-supervised model's pooled hidden states; its params are listed under
    /// `featurize with set = "ssl"`).
    #[serde(default = "default_set")]
    pub set: FeatureSet,
    /// `mfcc` only: number of cepstral coefficients, 1..=`n_mels`.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_N_MFCC))]
    pub n_mfcc: Option<usize>,
    /// `mfcc`/`logmel`: number of mel bands, >= 1. Unset means 40 for `mfcc`, 64 for `logmel`.
    #[serde(default)]
    pub n_mels: Option<usize>,
    /// `mfcc`/`logmel`: FFT size in samples, 16..=65536 (512: 32 ms at 16 kHz).
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_N_FFT))]
    pub n_fft: Option<usize>,
    /// `mfcc`/`logmel`: hop between frames in samples, >= 1 (160: 10 ms at 16 kHz).
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_HOP_LENGTH))]
    pub hop_length: Option<usize>,
    /// `mfcc`/`logmel`: Hann window length in samples, 1..=`n_fft`. Unset means `n_fft`.
    #[serde(default)]
    pub win_length: Option<usize>,
    /// `mfcc`/`logmel`: lowest mel filter edge in Hz, >= 0.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_FMIN))]
    pub fmin: Option<f64>,
    /// `mfcc`/`logmel`: highest mel filter edge in Hz, > `fmin` and <= half the sample rate.
    /// Unset means half the sample rate.
    #[serde(default)]
    pub fmax: Option<f64>,
    /// `mfcc`/`logmel`: append first-order deltas (librosa `delta`, width 9) as extra
    /// coefficients named `<name>_delta`.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_DELTAS))]
    pub deltas: Option<bool>,
    /// `mfcc`/`logmel`: how the signal is padded by `n_fft / 2` at both ends (`center=True`):
    /// `constant` (zeros, librosa >= 0.10's default) or `reflect`.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_PAD_MODE))]
    pub pad_mode: Option<PadMode>,
    /// `mfcc`/`logmel`: `functionals` (per-coefficient mean, std, p10, p50, p90 in
    /// `features.csv`, named like `mfcc3_mean`) or `frames` (additionally every frame in
    /// `frames.f32`, see the crate docs for the layout). `egemaps-v02` supports only
    /// `functionals`.
    #[serde(default = "default_output")]
    pub output: Output,
}

/// The params as the cache key and the reports see them: the set's own, so that a
/// spectrogram param written for eGeMAPS (which has its own fixed framing) or `n_mfcc` for
/// log-mel can never rerun a stage. An `mfcc` stage's key is what it was when every param was
/// keyed (the unset `n_mels`, `win_length` and `fmax` stay `null`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
struct Keyed {
    set: FeatureSet,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    spectrogram: Option<KeyedSpectrogram>,
    output: Output,
}

/// The spectrogram params of [`Keyed`].
#[derive(Debug, Clone, Serialize, JsonSchema)]
struct KeyedSpectrogram {
    #[serde(skip_serializing_if = "Option::is_none")]
    n_mfcc: Option<usize>,
    n_mels: Option<usize>,
    n_fft: usize,
    hop_length: usize,
    win_length: Option<usize>,
    fmin: f64,
    fmax: Option<f64>,
    deltas: bool,
    pad_mode: PadMode,
}

impl From<Featurize> for Keyed {
    fn from(f: Featurize) -> Self {
        let spectrogram = matches!(f.set, FeatureSet::Mfcc | FeatureSet::Logmel).then(|| KeyedSpectrogram {
            n_mfcc: (f.set == FeatureSet::Mfcc).then(|| f.n_mfcc()),
            n_mels: f.n_mels,
            n_fft: f.n_fft(),
            hop_length: f.hop_length(),
            win_length: f.win_length,
            fmin: f.fmin(),
            fmax: f.fmax,
            deltas: f.deltas(),
            pad_mode: f.pad_mode(),
        });
        Self { set: f.set, spectrogram, output: f.output }
    }
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
    /// Pooled hidden states of a self-supervised model: a kind of its own in vox-wav2vec2
    /// (`vox stages featurize` lists its params), which the engine picks for this value.
    Ssl,
}

impl FeatureSet {
    fn name(self) -> &'static str {
        match self {
            Self::EgemapsV02 => "egemaps-v02",
            Self::Mfcc => "mfcc",
            Self::Logmel => "logmel",
            Self::Ssl => "ssl",
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
fn default_output() -> Output {
    Output::Functionals
}

// The spectrogram params' defaults: what an unset one means, and what `vox stages` shows.
const DEFAULT_N_MFCC: usize = 13;
// 32 ms at 16 kHz.
const DEFAULT_N_FFT: usize = 512;
// 10 ms at 16 kHz.
const DEFAULT_HOP_LENGTH: usize = 160;
const DEFAULT_FMIN: f64 = 0.0;
const DEFAULT_DELTAS: bool = false;
const DEFAULT_PAD_MODE: PadMode = PadMode::Constant;

impl Featurize {
    fn n_mels(&self) -> usize {
        self.n_mels.unwrap_or(if self.set == FeatureSet::Logmel { 64 } else { 40 })
    }
    fn n_mfcc(&self) -> usize {
        self.n_mfcc.unwrap_or(DEFAULT_N_MFCC)
    }
    fn n_fft(&self) -> usize {
        self.n_fft.unwrap_or(DEFAULT_N_FFT)
    }
    fn hop_length(&self) -> usize {
        self.hop_length.unwrap_or(DEFAULT_HOP_LENGTH)
    }
    fn fmin(&self) -> f64 {
        self.fmin.unwrap_or(DEFAULT_FMIN)
    }
    fn deltas(&self) -> bool {
        self.deltas.unwrap_or(DEFAULT_DELTAS)
    }
    fn pad_mode(&self) -> PadMode {
        self.pad_mode.unwrap_or(DEFAULT_PAD_MODE)
    }

    /// The first spectrogram param written, if any (`egemaps-v02` refuses them: it has its
    /// own fixed framing).
    fn spectrogram_param_written(&self) -> Option<&'static str> {
        [
            ("n_mfcc", self.n_mfcc.is_some()),
            ("n_mels", self.n_mels.is_some()),
            ("n_fft", self.n_fft.is_some()),
            ("hop_length", self.hop_length.is_some()),
            ("win_length", self.win_length.is_some()),
            ("fmin", self.fmin.is_some()),
            ("fmax", self.fmax.is_some()),
            ("deltas", self.deltas.is_some()),
            ("pad_mode", self.pad_mode.is_some()),
        ]
        .into_iter()
        .find_map(|(name, written)| written.then_some(name))
    }

    /// The spectrogram settings at `sample_rate` (None for eGeMAPS).
    fn settings(&self, sample_rate: u32) -> Result<Option<Settings>, FeaturesError> {
        let kind = match self.set {
            FeatureSet::EgemapsV02 => return Ok(None),
            FeatureSet::Mfcc => Kind::Mfcc { n_mfcc: self.n_mfcc() },
            FeatureSet::Logmel => Kind::LogMel,
            FeatureSet::Ssl => return Err(FeaturesError::SslElsewhere),
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
            n_fft: self.n_fft(),
            hop_length: self.hop_length(),
            win_length: self.win_length.unwrap_or(self.n_fft()),
            fmin: self.fmin(),
            fmax,
            deltas: self.deltas(),
            padding: match self.pad_mode() {
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
            None => Self::Egemaps(Box::default()),
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
    // 2: the feature summary is `report/features.txt` (it was `output.txt`, the name of
    //    evaluate's submission file), and the label set travels in `classes.csv`.
    const VERSION: u32 = 2;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Audio]);
    const OUTPUT: ArtifactKind = ArtifactKind::Features;
    const APPLIES: Applies = Applies::Yes;
    // The clips' features are shared across splits of the same clips (`featurize`).
    const SHARES_WORK: bool = true;

    fn validate(&self) -> Result<(), ParamError> {
        if self.set == FeatureSet::Ssl {
            return Err(ParamError::new("set", FeaturesError::SslElsewhere.to_string()));
        }
        // A param the set does not read is an error, never a silent part of the key.
        if self.set == FeatureSet::EgemapsV02 {
            if self.output == Output::Frames {
                return Err(ParamError::new("output", "`egemaps-v02` has only `functionals`; use `mfcc` or `logmel` for frames"));
            }
            if let Some(param) = self.spectrogram_param_written() {
                let sets = if param == "n_mfcc" { "`mfcc`" } else { "`mfcc` and `logmel`" };
                let message = format!("`{param}` applies to {sets} only (eGeMAPS has its own fixed framing)");
                return Err(ParamError::new(param, message));
            }
        }
        if self.set == FeatureSet::Logmel && self.n_mfcc.is_some() {
            return Err(ParamError::new("n_mfcc", "`n_mfcc` applies to `mfcc` only"));
        }
        let (n_fft, fmin) = (self.n_fft(), self.fmin());
        if !(16..=65536).contains(&n_fft) {
            return Err(ParamError::new("n_fft", format!("must be within 16..=65536, got {n_fft}")));
        }
        if self.hop_length() == 0 {
            return Err(ParamError::new("hop_length", "must be at least 1"));
        }
        if let Some(w) = self.win_length
            && (w == 0 || w > n_fft)
        {
            return Err(ParamError::new("win_length", format!("must be within 1..=n_fft ({n_fft}), got {w}")));
        }
        let n_mels = self.n_mels();
        if n_mels == 0 {
            return Err(ParamError::new("n_mels", "must be at least 1"));
        }
        let n_mfcc = self.n_mfcc();
        if self.set == FeatureSet::Mfcc && (n_mfcc == 0 || n_mfcc > n_mels) {
            return Err(ParamError::new("n_mfcc", format!("must be within 1..=n_mels ({n_mels}), got {n_mfcc}")));
        }
        if !(fmin >= 0.0 && fmin.is_finite()) {
            return Err(ParamError::new("fmin", format!("must be a finite frequency >= 0 Hz, got {fmin}")));
        }
        if let Some(fmax) = self.fmax
            && !(fmax > fmin && fmax.is_finite())
        {
            return Err(ParamError::new("fmax", format!("must be above `fmin` ({fmin} Hz), got {fmax}")));
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        self.featurize(ctx, None)
    }

    /// New clips' features, with the run's standardization statistics (its train split's),
    /// never statistics of the new clips.
    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError> {
        self.featurize(&ctx.run, Some(ctx.trained))?;
        Ok(Applied::Wrote)
    }
}

impl Featurize {
    /// `report/features.txt`: what was computed, for people.
    fn write_summary(&self, ctx: &StageContext, table: &FeatureTable) -> Result<(), FeaturesError> {
        let dir = ctx.report_dir().map_err(|source| FeaturesError::Io { path: ctx.out_dir.join("report"), source })?;
        let train = table.clips.iter().filter(|c| c.split == vox_api::audio::Split::Train).count();
        let reference = if train > 0 { format!("the {train} train clips") } else { "all clips (no split)".into() };
        let mut text = format!(
            "{} clips x {} features (set `{}`)\nstandardization.csv: mean and std over {reference}\n",
            table.clips.len(),
            table.names.len(),
            self.set.name()
        );
        if self.output == Output::Frames {
            text += "frames.f32: per-clip frame matrices, see frames_index.csv and frames_columns.csv\n";
        }
        let path = dir.join("features.txt");
        std::fs::write(&path, text).map_err(|source| FeaturesError::Io { path, source })
    }

    /// Featurizes the input's clips; the standardization statistics are computed on its train
    /// clips, or copied from `trained` (the run's output, when applying to new clips).
    fn featurize(&self, ctx: &StageContext, trained: Option<&Path>) -> Result<(), StageError> {
        let manifest = AudioSet::read_manifest(&ctx.input().dir)?;
        let sample_rate = self.sample_rate(&manifest.clips)?;
        let settings = self.settings(sample_rate)?;
        let names = feature_names(settings.as_ref());
        // A clip's features read nothing of its split: the folds of a cross-validation (and
        // the splits of a seed sweep) compute them once.
        let shared = ctx.shared_work(SHARED_FEATURES, |dir| Ok(self.extract(ctx, settings, dir)?))?;
        let rows = rows::read(&shared.dir, manifest.clips.len(), names.len())?;
        let table = FeatureTable { names, labels: manifest.labels, clips: manifest.clips, rows };
        table.write(ctx.out_dir)?;
        if self.output == Output::Frames {
            for file in [frames::FRAMES, frames::FRAMES_INDEX, frames::FRAMES_COLUMNS] {
                vox_api::memo::link_or_copy(&shared.dir.join(file), &ctx.out_dir.join(file))?;
            }
        }
        match trained {
            None => {
                standardization::write(&standardization::compute(&table), ctx.out_dir)?;
                self.write_summary(ctx, &table)?;
            }
            Some(trained) => standardization::copy_trained(trained, ctx.out_dir)?,
        }
        tracing::info!(
            stage = ctx.stage,
            clips = table.clips.len(),
            features = table.names.len(),
            set = self.set.name(),
            "featurized"
        );
        Ok(())
    }

    /// Every clip's feature row (`rows.f64`) and, with `output = "frames"`, its frames, into
    /// `dir`. Clips are processed in parallel, one extractor per worker thread, and collected in
    /// manifest order.
    fn extract(&self, ctx: &StageContext, settings: Option<Settings>, dir: &Path) -> Result<(), FeaturesError> {
        let audio = AudioSet::read(&ctx.input().dir)?;
        let keep_frames = self.output == Output::Frames;
        let bar = ctx.progress_bar(audio.clips.len() as u64, "featurize");
        let threads = ctx.threads.max(1);
        let results: Vec<(Vec<f64>, Option<ClipFrames>)> = vox_api::pool::install(threads, || {
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
        })
        .map_err(|source| FeaturesError::ThreadPool { threads, source })?;
        bar.finish_and_clear();
        let (rows, clip_frames): (Vec<Vec<f64>>, Vec<Option<ClipFrames>>) = results.into_iter().unzip();
        rows::write(dir, &rows)?;
        if let Some(s) = settings.as_ref().filter(|_| keep_frames) {
            let empty = ClipFrames::default();
            let clips: Vec<(&str, &ClipFrames)> = audio
                .clips
                .iter()
                .zip(&clip_frames)
                .map(|(c, f)| (c.file_id.as_str(), f.as_ref().unwrap_or(&empty)))
                .collect();
            frames::write(dir, &s.coefficient_names(), &clips)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use vox_api::audio::Split;
    use vox_api::{Input, kind};

    use super::*;

    fn clip(id: &str, split: Split) -> Clip {
        Clip {
            file_id: id.into(),
            corpus: "synth".into(),
            speaker: "01".into(),
            sex: String::new(),
            label: None,
            intensity: String::new(),
            statement: String::new(),
            repetition: String::new(),
            split,
            source: format!("{id}.wav"),
            sample_rate: 16000,
            offset: 0,
            length: 0,
            original_length: 0,
            extra: Default::default(),
        }
    }

    /// A buzzy tone: harmonics 1..10 of `f0` with 1/h amplitudes.
    fn buzz(f0: f64, seconds: f64, level: f64) -> Vec<f32> {
        (0..(seconds * 16000.0) as usize)
            .map(|n| {
                let t = n as f64 / 16000.0;
                let v: f64 = (1..=10).map(|h| (2.0 * std::f64::consts::PI * f0 * h as f64 * t).sin() / h as f64).sum();
                (level * v / 2.0) as f32
            })
            .collect()
    }

    fn noise(seconds: f64) -> Vec<f32> {
        let mut state = 12345u64;
        (0..(seconds * 16000.0) as usize)
            .map(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((state >> 40) as f64 / (1u64 << 24) as f64 - 0.5) as f32 * 0.2
            })
            .collect()
    }

    fn audio_set(dir: &Path, splits: [Split; 3]) {
        let labels = vox_api::labels::LabelSet::from_names(["low", "high"]).unwrap();
        let mut set = AudioSet { labels, ..AudioSet::default() };
        set.push(Clip { label: Some("high".into()), ..clip("a", splits[0]) }, &buzz(200.0, 1.0, 0.3));
        set.push(clip("b", splits[1]), &noise(1.2));
        set.push(clip("c", splits[2]), &buzz(140.0, 0.8, 0.5));
        set.write(dir).unwrap();
    }

    fn run_stage(params: toml::Table, input: &Path, out: &Path, threads: usize) {
        let stage = kind::<Featurize>().configure(params).unwrap();
        let progress = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
        let scratch = tempfile::tempdir().unwrap();
        let inputs = [Input::new("audio", ArtifactKind::Audio, input.to_path_buf())];
        let ctx = StageContext {
            stage: "features",
            inputs: &inputs,
            out_dir: out,
            scratch_dir: scratch.path(),
            seed: 42,
            backend: None,
            threads,
            progress: &progress,
            memo: None,
        };
        stage.run(&ctx).unwrap();
    }

    fn read_stats(dir: &Path) -> Vec<(String, f64, f64)> {
        let mut r = csv::Reader::from_path(dir.join(standardization::STANDARDIZATION)).unwrap();
        assert_eq!(r.headers().unwrap().iter().collect::<Vec<_>>(), ["feature", "mean", "std"]);
        r.records()
            .map(|rec| {
                let rec = rec.unwrap();
                (rec[0].to_string(), rec[1].parse().unwrap(), rec[2].parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn egemaps_stage_writes_the_table_and_train_only_standardization() {
        let (input, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        audio_set(input.path(), [Split::Train, Split::Train, Split::Val]);
        run_stage(toml::Table::new(), input.path(), out.path(), 2);

        let table = FeatureTable::read(out.path()).unwrap();
        assert_eq!(table.names, egemaps::NAMES.to_vec());
        assert_eq!(table.labels.names().collect::<Vec<_>>(), ["low", "high"]);
        assert_eq!(table.clips[0].label.as_deref(), Some("high"));
        assert_eq!(table.clips.iter().map(|c| c.file_id.as_str()).collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(table.rows.iter().all(|r| r.len() == 88));
        // the 200 Hz buzz sits at 12 log2(200 / 27.5) = 34.36 semitones, the 140 Hz one at 28.2
        assert!((table.rows[0][0] - 34.36).abs() < 0.3, "{}", table.rows[0][0]);
        assert!((table.rows[2][0] - 28.18).abs() < 0.3, "{}", table.rows[2][0]);
        // noise is not voiced
        assert_eq!(table.rows[1][0], 0.0);

        let summary = std::fs::read_to_string(out.path().join("report/features.txt")).unwrap();
        assert_eq!(
            summary,
            "3 clips x 88 features (set `egemaps-v02`)\nstandardization.csv: mean and std over the 2 train clips\n"
        );
        let stats = read_stats(out.path());
        assert_eq!(stats.len(), 88);
        for (j, (name, mean, std)) in stats.iter().enumerate() {
            assert_eq!(name, &table.names[j]);
            // train clips are a and b only; population std of two values is half their distance
            let (a, b) = (table.rows[0][j], table.rows[1][j]);
            assert!((mean - (a + b) / 2.0).abs() <= 1e-12 * (1.0 + mean.abs()), "{name}");
            assert!((std - (a - b).abs() / 2.0).abs() <= 1e-9 * (1.0 + std.abs()), "{name}");
        }
    }

    #[test]
    fn mfcc_frames_output_layout_and_determinism() {
        let input = tempfile::tempdir().unwrap();
        audio_set(input.path(), [Split::None; 3]);
        let params: toml::Table =
            toml::from_str("set = \"mfcc\"\noutput = \"frames\"\ndeltas = true\nn_mfcc = 5").unwrap();
        let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        run_stage(params.clone(), input.path(), one.path(), 1);
        run_stage(params, input.path(), two.path(), 2);

        let table = FeatureTable::read(one.path()).unwrap();
        assert_eq!(table.names.len(), 10 * 5);
        assert_eq!(&table.names[..6], ["mfcc0_mean", "mfcc0_std", "mfcc0_p10", "mfcc0_p50", "mfcc0_p90", "mfcc1_mean"]);
        assert_eq!(table.names[25], "mfcc0_delta_mean");

        // 1 + len / hop frames per clip: 101, 121 and 81
        let index = std::fs::read_to_string(one.path().join(frames::FRAMES_INDEX)).unwrap();
        assert_eq!(index, "file_id,offset,n_frames\na,0,101\nb,1010,121\nc,2220,81\n");
        let columns = std::fs::read_to_string(one.path().join(frames::FRAMES_COLUMNS)).unwrap();
        assert!(columns.starts_with("coefficient\nmfcc0\nmfcc1\n") && columns.ends_with("mfcc4_delta\n"));
        let bytes = std::fs::read(one.path().join(frames::FRAMES)).unwrap();
        assert_eq!(bytes.len(), (101 + 121 + 81) * 10 * 4);
        // frame means in frames.f32 agree with the mean functional of features.csv
        let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let mean0: f64 = (0..101).map(|t| values[t * 10] as f64).sum::<f64>() / 101.0;
        assert!((mean0 - table.rows[0][0]).abs() < 1e-3 * (1.0 + mean0.abs()));

        // no split: statistics over every clip
        let stats = read_stats(one.path());
        let col: Vec<f64> = table.rows.iter().map(|r| r[0]).collect();
        assert!((stats[0].1 - col.iter().sum::<f64>() / 3.0).abs() < 1e-9);

        for file in ["features.csv", "manifest.csv", "standardization.csv", frames::FRAMES, frames::FRAMES_INDEX] {
            let (a, b) = (std::fs::read(one.path().join(file)).unwrap(), std::fs::read(two.path().join(file)).unwrap());
            assert!(a == b, "{file} differs between 1 and 2 threads");
        }
    }

    #[test]
    fn egemaps_rejects_other_sample_rates() {
        let (input, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut set = AudioSet::default();
        let mut c = clip("x", Split::None);
        c.sample_rate = 22050;
        set.push(c, &[0.0; 4000]);
        set.write(input.path()).unwrap();
        let stage = kind::<Featurize>().configure(toml::Table::new()).unwrap();
        let progress = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
        let inputs = [Input::new("audio", ArtifactKind::Audio, input.path().to_path_buf())];
        let ctx = StageContext {
            stage: "features",
            inputs: &inputs,
            out_dir: out.path(),
            scratch_dir: out.path(),
            seed: 0,
            backend: None,
            threads: 1,
            progress: &progress,
            memo: None,
        };
        let err = stage.run(&ctx).unwrap_err().to_string();
        assert_eq!(err, "clip `x` is sampled at 22050 Hz but `set = \"egemaps-v02\"` needs 16000 Hz (resample it upstream)");
    }

    #[test]
    fn validation_rejects_bad_combinations() {
        let cases = [
            ("output = \"frames\"", "output"),
            ("deltas = true", "deltas"),
            ("set = \"mfcc\"\nn_fft = 8", "n_fft"),
            ("set = \"mfcc\"\nhop_length = 0", "hop_length"),
            ("set = \"mfcc\"\nwin_length = 1024", "win_length"),
            ("set = \"mfcc\"\nn_mfcc = 41", "n_mfcc"),
            ("set = \"logmel\"\nn_mels = 0", "n_mels"),
            ("set = \"logmel\"\nfmin = 500.0\nfmax = 400.0", "fmax"),
            ("set = \"logmel\"\nfmin = -1.0", "fmin"),
            ("set = \"mfccs\"", "set"),
            ("sets = \"mfcc\"", "sets"),
            // eGeMAPS has its own framing; log-mel has no cepstrum.
            ("n_fft = 1024", "n_fft"),
            ("set = \"egemaps-v02\"\nhop_length = 160", "hop_length"),
            ("fmax = 4000.0", "fmax"),
            ("set = \"logmel\"\nn_mfcc = 13", "n_mfcc"),
        ];
        for (text, path) in cases {
            let err = match kind::<Featurize>().configure(toml::from_str(text).unwrap()) {
                Err(e) => e,
                Ok(_) => panic!("`{text}` was accepted"),
            };
            assert_eq!(err.path, path, "`{text}`: {}", err.message);
        }
        let ok = kind::<Featurize>().configure(toml::from_str("set = \"mfcc\"\nn_mels = 20\nn_mfcc = 20").unwrap());
        assert!(ok.is_ok());
    }

    #[test]
    fn the_key_holds_the_sets_own_params_with_their_defaults() {
        let params = |text: &str| kind::<Featurize>().configure(toml::from_str(text).unwrap()).unwrap().params();
        // An mfcc stage is keyed as it was when every param was (its cache entries stay valid).
        assert_eq!(
            params("set = \"mfcc\""),
            serde_json::json!({
                "set": "mfcc", "n_mfcc": 13, "n_mels": null, "n_fft": 512, "hop_length": 160, "win_length": null,
                "fmin": 0.0, "fmax": null, "deltas": false, "pad_mode": "constant", "output": "functionals"
            })
        );
        assert_eq!(params(""), serde_json::json!({"set": "egemaps-v02", "output": "functionals"}));
        let logmel = params("set = \"logmel\"\nn_mels = 32");
        assert_eq!(logmel.get("n_mfcc"), None, "{logmel}");
        assert_eq!((logmel["n_mels"].clone(), logmel["n_fft"].clone()), (serde_json::json!(32), serde_json::json!(512)));
        // A default written out is the same key as the default left unset.
        assert_eq!(params("set = \"mfcc\"\nn_fft = 512\ndeltas = false"), params("set = \"mfcc\""));
    }
}
