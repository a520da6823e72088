//! The errors of the report stages.

use std::path::PathBuf;

use vox_api::audio::AudioSetError;
use vox_api::csv_file::CsvFileError;
use vox_api::predictions::PredictionsError;

/// Everything that can stop a report stage.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A predictions folder could not be read or written.
    #[error(transparent)]
    Predictions(#[from] PredictionsError),
    /// A `history.csv` could not be read, or a `clips.csv` written.
    #[error(transparent)]
    File(#[from] CsvFileError),
    /// The audio-set input could not be read.
    #[error(transparent)]
    Audio(#[from] AudioSetError),
    /// `evaluate`'s `by` names a column no clip of the audio input has.
    #[error("`by`: no clip of audio input `{input}` has a `{column}` (its clips have {have})")]
    NoGroupColumn {
        /// The column.
        column: String,
        /// The audio input.
        input: String,
        /// The columns its clips have, quoted and comma-separated.
        have: String,
    },
    /// A scored clip is not in `evaluate`'s audio input, which `by` groups by.
    #[error("`by`: clip `{file_id}` scored by `{model}` is not in audio input `{input}` (give `evaluate` the audio set the models' clips come from)")]
    ClipNotInAudio {
        /// The model.
        model: String,
        /// The clip.
        file_id: String,
        /// The audio input.
        input: String,
    },
    /// A file or folder could not be written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A CSV table could not be written.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: csv::Error,
    },
    /// A JSON document could not be written or read.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// plotters failed while drawing a figure.
    #[error("{path}: drawing failed: {source}")]
    Plot {
        /// The figure file.
        path: PathBuf,
        /// The cause, from the plotting backend.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A rendered bitmap could not be encoded as PNG.
    #[error("{path}: {source}")]
    Png {
        /// The figure file.
        path: PathBuf,
        /// The cause.
        source: png::EncodingError,
    },
    /// The FFT of the signal analysis rejected its buffers (a bug, not bad data).
    #[error("signal analysis: {0}")]
    Fft(#[from] realfft::FftError),
    /// The font embedded in the binary was rejected by the font parser.
    #[error("the embedded font `{0}` could not be parsed")]
    Font(&'static str),
    /// An input's name cannot be used as a folder name.
    #[error("input `{0}` cannot name a report folder (it is empty, `.`, `..` or contains a path separator)")]
    InputName(String),
    /// More than one audio-set input.
    #[error(
        "inputs `{first}` and `{second}` are both audio sets; `evaluate` draws signal plots for at most one"
    )]
    SeveralAudioInputs {
        /// The first audio input.
        first: String,
        /// The second audio input.
        second: String,
    },
    /// A predictions file with rows but no class columns.
    #[error("input `{0}`: predictions.csv has rows but no class columns (p01..p08)")]
    NoClasses(String),
    /// A row whose probability count differs from the class count.
    #[error("input `{input}`: clip `{file_id}` has {found} probabilities for {expected} classes")]
    RowWidth {
        /// The predictions input.
        input: String,
        /// The clip.
        file_id: String,
        /// Probabilities in the row.
        found: usize,
        /// Classes in the header.
        expected: usize,
    },
    /// An audio set whose labelled clips do not share one sample rate.
    #[error(
        "audio input `{input}`: clip `{file_id}` is sampled at {found} Hz but earlier clips at {expected} Hz; resample the set first"
    )]
    MixedSampleRates {
        /// The audio input.
        input: String,
        /// The first clip at another rate.
        file_id: String,
        /// Its rate, Hz.
        found: u32,
        /// The rate of the first labelled clip, Hz.
        expected: u32,
    },
    /// The run's `weights.json` weighs other members than the ensemble is given.
    #[error("{path} weighs {trained} members, not the {inputs} given")]
    TrainedMembers {
        /// The run's `weights.json`.
        path: PathBuf,
        /// Members in it.
        trained: usize,
        /// Members given.
        inputs: usize,
    },
    /// `weights` lists a number of weights other than the number of inputs.
    #[error("`weights` lists {given} weights for {inputs} inputs; give one weight per input, in input order")]
    WeightCount {
        /// Weights in the param.
        given: usize,
        /// Predictions inputs.
        inputs: usize,
    },
    /// A weight rule that scores members on `val` met a member without labelled `val` clips.
    #[error("input `{input}` has no labelled clips in split `val`; `weights = \"{rule}\"` needs them")]
    NoValLabels {
        /// The member.
        input: String,
        /// The weight rule.
        rule: &'static str,
    },
    /// `weights = "optimize"` found no labelled `val` clip that every member scores.
    #[error("no labelled clip of split `val` is scored by every input; `weights = \"optimize\"` needs them")]
    NoSharedValLabels,
    /// Every member scored 0 on `val`, which would make every weight 0.
    #[error(
        "every input scores 0 on `val`, so `weights = \"{rule}\"` gives all-zero weights; use `\"equal\"` or explicit weights"
    )]
    AllZeroScores {
        /// The weight rule.
        rule: &'static str,
    },
    /// The optimizing search would try too many weight vectors.
    #[error(
        "`weights = \"optimize\"` with {members} inputs and `grid_steps = {steps}` would try more than {limit} weight vectors; lower `grid_steps`"
    )]
    GridTooLarge {
        /// Predictions inputs.
        members: usize,
        /// The grid resolution.
        steps: u32,
        /// The most weight vectors allowed.
        limit: u64,
    },
    /// A member lists the same clip twice.
    #[error("input `{input}`: clip `{file_id}` has more than one row")]
    DuplicateClip {
        /// The member.
        input: String,
        /// The clip.
        file_id: String,
    },
    /// A clip that some members score and another does not.
    #[error(
        "input `{input}` has no row for clip `{file_id}`; {unshared} of {total} clips are not scored by every input (set `on_missing_clips = \"intersect\"` to keep the {shared} shared ones)"
    )]
    MissingClip {
        /// The first member (in input order) that lacks a clip.
        input: String,
        /// The first clip it lacks.
        file_id: String,
        /// Clips missing from at least one member.
        unshared: usize,
        /// Clips in any member.
        total: usize,
        /// Clips in every member.
        shared: usize,
    },
    /// No clip is scored by every member.
    #[error("no clip is scored by every input ({total} clips in all)")]
    NoSharedClips {
        /// Clips in any member.
        total: usize,
    },
    /// Two members disagree about a clip's label or split.
    #[error(
        "clip `{file_id}` has {field} `{first_value}` in input `{first}` but `{other_value}` in input `{other}`"
    )]
    Disagreement {
        /// The clip.
        file_id: String,
        /// `label` or `split`.
        field: &'static str,
        /// The first member.
        first: String,
        /// Its value (`none` when absent).
        first_value: Box<str>,
        /// The member that disagrees.
        other: String,
        /// Its value.
        other_value: Box<str>,
    },
    /// Members know different classes and `missing_classes = "error"`.
    #[error(
        "input `{other}` knows classes {other_classes} but input `{first}` knows {first_classes}; set `missing_classes` to `\"renormalize\"` or `\"zero\"` to combine them"
    )]
    ClassesDiffer {
        /// The first member.
        first: String,
        /// Its class codes, comma-separated.
        first_classes: String,
        /// The member that differs.
        other: String,
        /// Its class codes, comma-separated.
        other_classes: String,
    },
    /// An estimates input could not be read.
    #[error(transparent)]
    Estimates(#[from] vox_api::estimates::EstimatesError),
    /// A features input could not be read.
    #[error(transparent)]
    Features(#[from] vox_api::features::FeatureTableError),
    /// The folds of a cross-validated regressor estimate different dimensions.
    #[error("input `{other}` estimates {other_dimensions} but input `{first}` estimates {first_dimensions}")]
    DimensionsDiffer {
        /// The first fold's input.
        first: String,
        /// Its dimensions, comma-separated.
        first_dimensions: String,
        /// The input that differs.
        other: String,
        /// Its dimensions, comma-separated.
        other_dimensions: String,
    },
    /// `calibrate`'s input has no labelled `val` clip of a class it knows to fit on.
    #[error("input `{input}` has no labelled clip in split `val` to fit the temperature on; hold out a `val` part in the `split` stage (`val_fraction` or `val_speakers`)")]
    NothingToCalibrateOn {
        /// The model.
        input: String,
    },
    /// `weights = "val-ccc"` and a member has no rated `val` clip in a dimension.
    #[error("input `{input}` has no clip rated in `{dimension}` in split `val`; `weights = \"val-ccc\"` needs them")]
    NoValRatings {
        /// The member.
        input: String,
        /// The dimension.
        dimension: String,
    },
    /// `weights = "val-ccc"` and no member agrees with the ratings of a dimension at all.
    #[error("no input has a CCC above 0 in `{dimension}` on `val`: `weights = \"val-ccc\"` would weigh them all 0 (give weights by hand)")]
    NoPositiveCcc {
        /// The dimension.
        dimension: String,
    },
    /// A member of an estimates ensemble lacks a clip another one estimates.
    #[error("input `{input}` has no estimate of clip `{file_id}`, which `{other}` estimates: the members must estimate the same clips")]
    MissingEstimate {
        /// The member lacking the clip.
        input: String,
        /// The clip.
        file_id: String,
        /// A member that has it.
        other: String,
    },
    /// Two folds of a cross-validation hold out the same clip.
    #[error("clip `{file_id}` is held out by two folds of `{model}`: the folds of a cross-validation must not overlap")]
    HeldOutTwice {
        /// The model.
        model: String,
        /// The clip.
        file_id: String,
    },
    /// Cross-validated inputs scored on another split than `test` (at plan time, from the
    /// inputs' facts; at run time, from their folds).
    #[error("{}", folds_need_test(models, split))]
    FoldsNeedTest {
        /// The cross-validated inputs.
        models: Vec<String>,
        /// The split asked for.
        split: &'static str,
    },
    /// Members come from data with different label sets.
    #[error(
        "input `{other}` has the label set {other_classes} but input `{first}` has {first_classes}; \
         an ensemble's members must score the same classes (decode their data with the same \
         `classes`)"
    )]
    LabelSetsDiffer {
        /// The first member.
        first: String,
        /// Its label set, comma-separated.
        first_classes: String,
        /// The member that differs.
        other: String,
        /// Its label set, comma-separated.
        other_classes: String,
    },
}

impl ReportError {
    /// An [`ReportError::Io`] error about `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

/// [`ReportError::FoldsNeedTest`]'s message.
fn folds_need_test(models: &[String], split: &str) -> String {
    let names: Vec<String> = models.iter().map(|m| format!("`{m}`")).collect();
    let (noun, verb) = if models.len() == 1 { ("input", "comes") } else { ("inputs", "come") };
    format!(
        "{noun} {} {verb} from a cross-validation: score `test` (each clip is held out by one fold), not `{split}` \
         (a clip is in the `{split}` part of several folds): set `split = \"test\"`",
        names.join(", ")
    )
}
