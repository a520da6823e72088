//! Errors of the feature stages.

use std::path::PathBuf;

/// A failure while featurizing an audio set.
#[derive(Debug, thiserror::Error)]
pub enum FeaturesError {
    /// `set = "ssl"` reached this crate's kind: the registry lacks the wav2vec2 crate's.
    #[error("`set = \"ssl\"` is computed by vox's wav2vec2 stage kinds, which this registry lacks")]
    SslElsewhere,
    /// The input audio set could not be read.
    #[error(transparent)]
    Audio(#[from] vox_api::audio::AudioSetError),
    /// The feature table could not be written.
    #[error(transparent)]
    Table(#[from] vox_api::features::FeatureTableError),
    /// A clip's sample rate does not suit the feature set.
    #[error("clip `{file_id}` is sampled at {found} Hz but `set = \"egemaps-v02\"` needs {expected} Hz (resample it upstream)")]
    SampleRate {
        /// The clip.
        file_id: String,
        /// Its sample rate.
        found: u32,
        /// The rate the feature set needs.
        expected: u32,
    },
    /// The clips of one audio set have different sample rates (spectrogram sets need one).
    #[error("clip `{file_id}` is sampled at {found} Hz but earlier clips at {expected} Hz; `set = \"{set}\"` needs one sample rate")]
    MixedSampleRates {
        /// The clip.
        file_id: String,
        /// Its sample rate.
        found: u32,
        /// The first clip's sample rate.
        expected: u32,
        /// The feature set.
        set: &'static str,
    },
    /// `fmax` lies above the Nyquist frequency of the clips.
    #[error("`fmax` = {fmax} Hz is above the Nyquist frequency {nyquist} Hz of the input clips")]
    FmaxAboveNyquist {
        /// The requested upper edge.
        fmax: f64,
        /// Half the sample rate.
        nyquist: f64,
    },
    /// A file could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A CSV file could not be written.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: csv::Error,
    },
    /// The shared feature rows do not hold the set's clips and features.
    #[error("{path}: holds {found} bytes where the set's clips and features take {expected} (a damaged cache entry? `vox cache verify` finds and removes it)")]
    SharedRows {
        /// The file.
        path: PathBuf,
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        found: usize,
    },
    /// `normalize`: no clip has a value in the `by` column.
    #[error("no clip has a `{column}` to normalize by (the clips have {columns})")]
    NoGroupColumn {
        /// The `by` column.
        column: String,
        /// The columns some clip has a value in, quoted and comma-separated.
        columns: String,
    },
    /// `normalize`: a group of the run's clips has one clip.
    #[error("clip `{file_id}` is the only one {group}: normalized by its own statistics every feature would be 0 (give its group more clips, leave it out upstream, or normalize `by` another column){more}")]
    LoneClip {
        /// The clip.
        file_id: String,
        /// Its group in words (``with `speaker` = `07` ``).
        group: String,
        /// The other clips alone in their groups, in words; empty when there are none.
        more: String,
    },
    /// `normalize` in `vox predict`: a new clip is alone with its value of the column.
    #[error("new clip `{file_id}` is the only one with {group}: normalized by its own statistics every feature would be 0 (give `vox predict` several clips of each {column})")]
    LoneNewClip {
        /// The clip.
        file_id: String,
        /// Its group in words (`` `speaker` = `07` ``).
        group: String,
        /// The `by` columns in words (`` `speaker` ``).
        column: String,
    },
    /// `normalize` in `vox predict`: a new clip without a value has no other clip to be
    /// normalized with.
    #[error("new clip `{file_id}` has no {column} and no other clip to be normalized with: by its own statistics every feature would be 0 (give `vox predict` several clips in a table with a {column} column, or cut a long recording into windows with `--window`)")]
    LoneUngroupedClip {
        /// The clip.
        file_id: String,
        /// The `by` columns in words (`` `speaker` ``).
        column: String,
    },
    /// `select`: more features asked for than there are.
    #[error("`k` = {k} but the input has {features} features")]
    SelectMoreThanThere {
        /// Features asked for.
        k: usize,
        /// Features in the input.
        features: usize,
    },
    /// `select`: too few classes or clips for an ANOVA.
    #[error("ANOVA needs at least two classes and more clips than classes among the clips it scores ({clips} clips of {classes} class{})", if *classes == 1 { "" } else { "es" })]
    SelectNeedsClasses {
        /// Labelled clips scored.
        clips: usize,
        /// Their distinct classes.
        classes: usize,
    },
    /// `select` in `vox predict`: a feature the run kept is not among the new clips'.
    #[error("feature `{feature}`, which the run's selection kept, is not among the new clips' features")]
    SelectedMissing {
        /// The feature.
        feature: String,
    },
    /// The worker pool could not be started.
    #[error("cannot start {threads} feature threads: {source}")]
    ThreadPool {
        /// Requested threads.
        threads: usize,
        /// The cause.
        source: rayon::ThreadPoolBuildError,
    },
}
