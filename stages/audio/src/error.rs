//! The crate's errors: [`AudioError`] for a whole stage, [`FileError`] for one input file.

use std::path::PathBuf;

use vox_api::audio::AudioSetError;
use vox_api::labels::LabelSet;

use crate::corpus::NameError;
use crate::label_policy::unresolved_message;
use crate::resample::ResampleFailure;
use crate::table::RowError;

/// What the formats `decode` reads (see [`crate::audio_file`]) are called in messages.
const READ_FORMATS: &str = "WAV, FLAC, MP3, Ogg Vorbis or AIFF";

/// Where `augment` belongs, for its errors at plan time and at run time.
pub(crate) const AFTER_SPLIT: &str =
    "put `augment` after a `split` (copies made before it could land on both of its sides); only train clips are copied";

/// Why a stage of this crate failed.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The input or output audio set could not be read or written.
    #[error(transparent)]
    AudioSet(#[from] AudioSetError),
    /// A report table could not be written.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: csv::Error,
    },
    /// A WAV file could not be written.
    #[error("{path}: {source}")]
    WavWrite {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: hound::Error,
    },
    /// One input file could not be decoded (with `on_error = "fail"`).
    #[error("{file}: {source}{hint}")]
    File {
        /// The file, relative to the input folder, in backticks (after its table row).
        file: String,
        /// The cause.
        source: FileError,
        /// What the user can do about it (with a leading separator), or nothing.
        hint: &'static str,
    },
    /// `include`/`exclude` leave none of the input's files.
    #[error("`include`/`exclude` leave none of the {files} files of input `{input}`")]
    NothingIncluded {
        /// The input stage's name.
        input: String,
        /// Its files (or table rows).
        files: usize,
    },
    /// An IEMOCAP `EmoEvaluation` line breaks the format.
    #[error("{file}:{line}: {what}")]
    Evaluation {
        /// The file, relative to the input folder.
        file: String,
        /// One-based line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// The table has no rows.
    #[error("table `{table}` has no rows")]
    EmptyTable {
        /// The table, relative to the input folder.
        table: String,
    },
    /// The input folder holds no audio file.
    #[error("input `{input}` holds no audio files ({})", READ_FORMATS)]
    NoAudioFiles {
        /// The input stage's name.
        input: String,
    },
    /// A folder given to `vox predict` holds no audio file.
    #[error("folder `{}` holds no audio files ({})", .folder.display(), READ_FORMATS)]
    NoAudioFilesIn {
        /// The folder.
        folder: PathBuf,
    },
    /// Two input files have the same name in different folders, so their clip ids clash.
    #[error("{first} and {second} would both be clip `{file_id}`; clip ids must be unique{hint}")]
    DuplicateClip {
        /// The clashing id (the file name without extension).
        file_id: String,
        /// The first file, relative to the input folder, in backticks.
        first: String,
        /// The second file.
        second: String,
        /// What the user can do about it (with a leading separator), or nothing.
        hint: String,
    },
    /// Every input file was skipped or dropped.
    #[error(
        "all {files} {what} of input `{input}` were left out: {skipped} skipped{}, {dropped} dropped by \
         the `labels` policy",
        .first_skip.as_ref().map(|why| format!(" (the first: {why})")).unwrap_or_default()
    )]
    NoClipsLeft {
        /// The input stage's name.
        input: String,
        /// What the clips came from: `audio files` or `table rows`.
        what: &'static str,
        /// How many files (or rows) the input holds.
        files: usize,
        /// How many files could not be decoded.
        skipped: usize,
        /// How many files the `labels` policy dropped.
        dropped: usize,
        /// The first skipped file and why (the stage failed, so no report of them is kept).
        first_skip: Option<String>,
    },
    /// Corpus labels that are none of the classes and have no `labels` policy.
    #[error("{}", unresolved_message(.corpus, .classes, .labels))]
    UnresolvedLabels {
        /// The corpus' name.
        corpus: &'static str,
        /// The classes.
        classes: LabelSet,
        /// Each label and how many files carry it, by label.
        labels: Vec<(String, usize)>,
    },
    /// The `table` param leaves the input folder.
    #[error("`table = \"{0}\"` must be a path inside the input folder")]
    TableOutside(String),
    /// `columns` names a column the table does not have.
    #[error("`columns.{field} = \"{column}\"`: table `{table}` has no column `{column}`; its columns are {columns}")]
    UnknownColumn {
        /// The table, relative to the input folder.
        table: String,
        /// The field whose column is missing.
        field: &'static str,
        /// The column named.
        column: String,
        /// The table's columns, comma-separated.
        columns: String,
    },
    /// The table has no column of audio paths.
    #[error(
        "table `{table}` has no column of audio paths (`file` or `path`); name it with `columns = \
         {{ path = \"...\" }}` (its columns are {columns})"
    )]
    NoPathColumn {
        /// The table, relative to the input folder.
        table: String,
        /// The table's columns, comma-separated.
        columns: String,
    },
    /// Two rows of the table give the same clip id.
    #[error("table `{table}`: rows {first} and {row} are both clip `{file_id}`; clip ids must be unique (give an `id` column)")]
    DuplicateRowId {
        /// The table.
        table: String,
        /// The id.
        file_id: String,
        /// The first row with it.
        first: usize,
        /// The second.
        row: usize,
    },
    /// Some rows of the table have a split and others none.
    #[error(
        "table `{table}`: row {split} has a split but row {unsplit} ({unsplit_rows} rows in all) has \
         none; fill the split column on every row, or on none and add a `split` stage"
    )]
    PartlySplit {
        /// The table.
        table: String,
        /// A row with a split.
        split: usize,
        /// The first row without one.
        unsplit: usize,
        /// How many rows have none.
        unsplit_rows: usize,
    },
    /// Two inputs of `merge` have different label sets.
    #[error(
        "input `{input}` has the classes {classes} but input `{first_input}` has {first_classes}; \
         merge needs one label set (give the decode stages the same `classes`, mapping labels \
         onto them with `labels`)"
    )]
    LabelSetMismatch {
        /// The first input with classes.
        first_input: String,
        /// Its classes.
        first_classes: String,
        /// The input whose classes differ.
        input: String,
        /// Those classes.
        classes: String,
    },
    /// Two inputs of `merge` have different sample rates.
    #[error(
        "input `{input}` is at {rate} Hz but input `{first_input}` is at {first_rate} Hz; merge \
         needs one sample rate (give the decode stages the same `sample_rate`)"
    )]
    SampleRateMismatch {
        /// The input of the first clip.
        first_input: String,
        /// Its sample rate, Hz.
        first_rate: u32,
        /// The input whose rate differs.
        input: String,
        /// That rate, Hz.
        rate: u32,
    },
    /// `merge` with `keep_splits` got a split input and an unsplit one.
    #[error(
        "input `{split_input}` is split (train/val/test) but input `{unsplit_input}` has unsplit \
         clips; set `keep_splits = false` to clear the splits and add a `split` stage after the \
         merge"
    )]
    MixedSplits {
        /// An input with split clips.
        split_input: String,
        /// An input with unsplit clips.
        unsplit_input: String,
    },
    /// `merge` found one clip id twice even after prefixing ids with the corpus.
    #[error(
        "clip `{file_id}` (corpus `{corpus}`) is in input `{first_input}` and in input \
         `{input}`; prefixing clip ids with the corpus cannot tell them apart: merge each \
         corpus' clips only once"
    )]
    DuplicateAcrossInputs {
        /// The clip id, as merged.
        file_id: String,
        /// The clips' corpus.
        corpus: String,
        /// The input that had it first.
        first_input: String,
        /// The input that has it again.
        input: String,
    },
    /// `augment`: the input has no train clips to copy.
    #[error("none of the input's {clips} clips is in a `train` split: {}", AFTER_SPLIT)]
    NothingToAugment {
        /// Clips in the input.
        clips: usize,
    },
    /// `degrade`: no clip of the input is one it copies.
    #[error("{}no labelled clip of the input is in {splits}: put `degrade` after a `split` that holds clips out (or `clips = \"all\"` for unlabeled ones)", clips.map_or(String::new(), |n| format!("of the input's {n} clips, ")))]
    NothingToDegrade {
        /// Clips in the input, when known (at run time).
        clips: Option<usize>,
        /// The chosen splits, in words.
        splits: String,
    },
    /// `degrade`: the input already has a `condition` column.
    #[error("clip `{file_id}` already has a `condition` (`{value}`): degrade once, with every condition in one stage (or rename the table's column with `columns`)")]
    ConditionTaken {
        /// The clip.
        file_id: String,
        /// Its condition.
        value: String,
    },
    /// `degrade`: a pass band above the clips' Nyquist frequency.
    #[error("band {low}-{high} Hz reaches above what clip `{file_id}` holds: sampled at {rate} Hz, its frequencies stop at {} Hz", rate / 2)]
    BandAboveNyquist {
        /// The band's low edge, Hz.
        low: f64,
        /// Its high edge, Hz.
        high: f64,
        /// The clip.
        file_id: String,
        /// Its sample rate.
        rate: u32,
    },
    /// `degrade`: a copy's id is a clip's of the input.
    #[error("the `{condition}` copy of clip `{original}` would be `{file_id}`, the id of a clip of the input: rename one of them upstream")]
    DegradedIdTaken {
        /// The copy's id.
        file_id: String,
        /// Its original.
        original: String,
        /// The condition.
        condition: String,
    },
    /// `augment` or `degrade`: a noise input without `noise_snr`.
    #[error("input `{input}` is noise to add, but no `noise_snr` says at what level")]
    NoiseWithoutSnr {
        /// The noise input's name.
        input: String,
    },
    /// `augment` or `degrade`: the second input (noise or rooms) holds no samples.
    #[error("{role} input `{input}` holds no samples")]
    NoRecordings {
        /// The input's name.
        input: String,
        /// What it holds: `noise`, `rooms`.
        role: &'static str,
    },
    /// `augment` or `degrade`: a noise or room recording's sample rate differs from the clip it
    /// would be applied to.
    #[error("{what} clip `{recording}` is sampled at {found} Hz but clip `{clip}` at {expected} Hz: decode the {what} at the corpus's rate (`sample_rate = {expected}`)")]
    RecordingRate {
        /// The recording.
        recording: String,
        /// What it is: `noise`, `room`.
        what: &'static str,
        /// Its rate.
        found: u32,
        /// The clip it would be applied to.
        clip: String,
        /// That clip's rate.
        expected: u32,
    },
    /// `augment` or `degrade`: a room impulse response holds only zeros.
    #[error("room clip `{room}` holds only zeros: it is no impulse response (leave it out of the rooms' decode)")]
    SilentRoom {
        /// The room clip.
        room: String,
    },
    /// `degrade`: resampling to or from a codec's rate failed.
    #[error("clip `{file_id}` through the {codec} codec: {source}")]
    Codec {
        /// The clip.
        file_id: String,
        /// The codec's name.
        codec: &'static str,
        /// The cause.
        source: ResampleFailure,
    },
    /// `augment`: speed perturbation failed.
    #[error("clip `{file_id}` at speed {speed}: {source}")]
    Speed {
        /// The clip.
        file_id: String,
        /// The speed factor.
        speed: f64,
        /// The cause.
        source: ResampleFailure,
    },
    /// `augment`: a copy's id is a clip's of the input.
    #[error("copy {copy} of clip `{original}` would be `{file_id}`, the id of a clip of the input: rename one of them upstream")]
    CopyIdTaken {
        /// The copy's id.
        file_id: String,
        /// Its original.
        original: String,
        /// The copy's number.
        copy: usize,
    },
    /// `split` of degraded copies.
    #[error("clip `{file_id}` is a degraded copy of `{original}`: split before `degrade` (a copy and its original on two sides of a split would score the model on what it trained on)")]
    SplitOfDegraded {
        /// The copy.
        file_id: String,
        /// Its original.
        original: String,
    },
    /// `split` of augmented copies.
    #[error("clip `{file_id}` is an augmented copy of `{original}`: split before `augment` (a copy and its original on two sides of a split would score the model on what it trained on)")]
    SplitOfCopies {
        /// The copy.
        file_id: String,
        /// Its original.
        original: String,
    },
    /// The worker thread pool could not be started.
    #[error("cannot start {threads} worker threads: {source}")]
    ThreadPool {
        /// Threads asked for.
        threads: usize,
        /// The cause.
        source: rayon::ThreadPoolBuildError,
    },
    /// A speaker list names a speaker that the input does not have.
    #[error(
        "`{param}` names speaker `{speaker}`, which the input does not have (speakers: {known})"
    )]
    UnknownSpeaker {
        /// The param holding the list.
        param: &'static str,
        /// The unknown speaker id.
        speaker: String,
        /// The input's speakers, comma-separated.
        known: String,
    },
    /// A labelled clip without the group that group k-fold groups by.
    #[error("clip `{file_id}` is labelled but has no `{column}`; group-kfold groups every labelled clip by it")]
    MissingGroup {
        /// The clip.
        file_id: String,
        /// The `group_by` column.
        column: String,
    },
    /// `rated_by` names a column no clip has a value in.
    #[error("`rated_by`: no clip has a value in `{column}` (the clips have {have})")]
    NoRatings {
        /// The column.
        column: String,
        /// The columns the clips have values in, listed.
        have: String,
    },
    /// More folds than groups.
    #[error("group-kfold with `folds = {folds}` needs at least {folds} groups, but the clips have {groups}")]
    FewerGroupsThanFolds {
        /// Distinct groups.
        groups: usize,
        /// Folds asked for.
        folds: usize,
    },
    /// A cross-validation split run without a fold (vox sets it per fold).
    #[error(
        "a cross-validation split runs once per fold: `vox run` makes one copy per fold and sets \
         its `fold`; set `fold` to run a single fold by hand"
    )]
    NoFold,
    /// `fold` beyond the folds.
    #[error("`fold = {fold}` but there are {folds} folds")]
    FoldOutOfRange {
        /// The fold asked for.
        fold: usize,
        /// The folds there are.
        folds: usize,
    },
    /// Two listed ids (`5` and `"05"`) are one speaker on two sides.
    #[error("speaker `{speaker}` is listed in both `val_speakers` and `test_speakers`")]
    SpeakerTwice {
        /// The speaker.
        speaker: String,
    },
    /// A labelled clip has no speaker id, so it cannot be split by speaker.
    #[error(
        "clip `{file_id}` has a label but no speaker id; strategy = \"speaker\" needs one"
    )]
    MissingSpeaker {
        /// The clip.
        file_id: String,
    },
    /// The held-out speakers leave no speaker for training.
    #[error("holding out {held_out} of {speakers} speakers leaves none for train")]
    NoTrainSpeakers {
        /// Speakers in the input.
        speakers: usize,
        /// Speakers put in val or test.
        held_out: usize,
    },
    /// The `synth` stage could not name a clip in its corpus' layout.
    #[error("cannot name a synthesized clip in the `{naming}` layout: {source}")]
    SynthName {
        /// The naming's corpus.
        naming: &'static str,
        /// The cause.
        source: NameError,
    },
}

/// Why one input file could not be decoded; the `decode` stage names the file.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file name does not follow the corpus' naming scheme.
    #[error("bad file name: {0}")]
    Name(#[from] NameError),
    /// A table row gives no clip.
    #[error("{0}")]
    Row(#[from] RowError),
    /// An IEMOCAP utterance that its dialog's `EmoEvaluation` file does not label.
    #[error("no line of dialog/EmoEvaluation/{dialog}.txt labels this utterance")]
    Unjudged {
        /// The dialog.
        dialog: String,
    },
    /// A segment starts after the file ends.
    #[error("the segment starts at {start} s but the file lasts {duration:.3} s")]
    SegmentOutside {
        /// Segment start, seconds.
        start: f64,
        /// The file's duration, seconds.
        duration: f64,
    },
    /// The file could not be read.
    #[error("cannot read: {0}")]
    Io(std::io::Error),
    /// The RIFF/WAVE structure is broken (truncated file, missing chunk, bad sizes).
    #[error("corrupt WAV: {0}")]
    Corrupt(hound::Error),
    /// The file ends before its header or data chunk does.
    #[error("corrupt WAV: the file ends early ({0})")]
    Truncated(std::io::Error),
    /// A well-formed WAV in an encoding that is not read (64-bit float, GSM, ...).
    #[error(
        "unsupported WAV encoding (readable: 8-bit unsigned, 16/24/32-bit PCM, 32-bit float, \
         mu-law, A-law, IMA and MS ADPCM): {0}"
    )]
    Unsupported(hound::Error),
    /// A FLAC, MP3, Ogg or AIFF file could not be decoded (broken, or a codec not read).
    #[error("cannot decode: {source}")]
    Codec {
        /// The decoder's reason.
        source: symphonia::core::errors::Error,
    },
    /// A file named as a compressed format whose bytes no reader recognises (an HTML error
    /// page saved by a failed download, a renamed file).
    #[error("not a FLAC, MP3, Ogg or AIFF stream, whatever its name says ({source})")]
    NotAudio {
        /// The prober's reason.
        source: symphonia::core::errors::Error,
    },
    /// A compressed file holds fewer frames than its header declares (a cut download).
    #[error("the file ends early: {frames} of the {declared} frames its header declares")]
    EndsEarly {
        /// Frames decoded.
        frames: u64,
        /// Frames the header declares.
        declared: u64,
    },
    /// An audio format or codec no reader of this crate decodes.
    #[error(
        "{what} is not read by vox (it reads {}): convert it, e.g. `ffmpeg -i in.{extension} \
         out.flac`",
        READ_FORMATS
    )]
    Unread {
        /// What the file holds: `` `.m4a` audio ``, `Opus audio`.
        what: String,
        /// The file's extension, as written.
        extension: String,
    },
    /// `channel` names a channel the file does not have.
    #[error("`channel = {channel}` but the file has {channels} channel(s)")]
    NoChannel {
        /// The channel asked for, 1-based.
        channel: usize,
        /// The file's channel count.
        channels: usize,
    },
    /// The file holds no samples.
    #[error("empty audio: the file holds no samples")]
    Empty,
    /// Resampling failed.
    #[error("resampling from {from} Hz to {to} Hz: {source}")]
    Resample {
        /// The file's sample rate.
        from: u32,
        /// The target sample rate.
        to: u32,
        /// The cause.
        source: ResampleFailure,
    },
}

impl From<hound::Error> for FileError {
    fn from(error: hound::Error) -> Self {
        match error {
            // hound reports a file that ends early as `Other` ("Failed to read enough bytes.").
            hound::Error::IoError(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::Other
                ) =>
            {
                Self::Truncated(e)
            }
            hound::Error::IoError(e) => Self::Io(e),
            hound::Error::Unsupported => Self::Unsupported(hound::Error::Unsupported),
            other => Self::Corrupt(other),
        }
    }
}
