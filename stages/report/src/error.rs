//! The errors of the report stages.

use std::path::PathBuf;

use vox_api::audio::AudioSetError;
use vox_api::predictions::PredictionsError;

/// Everything that can stop a report stage.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A predictions folder (or its `history.csv`) could not be read.
    #[error(transparent)]
    Predictions(#[from] PredictionsError),
    /// The audio-set input could not be read.
    #[error(transparent)]
    Audio(#[from] AudioSetError),
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
    /// A JSON document could not be written.
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
}

impl ReportError {
    /// An [`ReportError::Io`] error about `path`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
