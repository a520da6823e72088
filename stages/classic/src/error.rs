//! The errors of the classic baselines.

use std::path::PathBuf;

use vox_api::estimates::EstimatesError;
use vox_api::features::FeatureTableError;
use vox_api::predictions::PredictionsError;

/// Failure to train or apply a classic model.
#[derive(Debug, thiserror::Error)]
pub enum ClassicError {
    /// The input feature table could not be read.
    #[error(transparent)]
    Features(#[from] FeatureTableError),
    /// No labeled clip has `split = train`.
    #[error(
        "{clips} clips in the input, none labeled with `split = train`: run a `split` stage \
         upstream or label the training clips"
    )]
    NoTrainClips {
        /// Clips in the input.
        clips: usize,
    },
    /// Importance was asked for, but no labelled clip has `split = val`.
    #[error(
        "`importance_repeats` measures importance on the labelled `val` clips, and the input has none: \
         hold out a val part in the `split` stage (`val_fraction`) or unset `importance_repeats`"
    )]
    NoValClips,
    /// The training labels hold fewer than two classes.
    #[error("the training clips are all labeled `{class}`: a classifier needs at least 2 classes")]
    OneClass {
        /// The only class code.
        class: String,
    },
    /// A dimension to estimate has fewer than two rated training clips.
    #[error(
        "{rated} train clip(s) have a value in `{dimension}`: a regressor needs at least 2 \
         (the clips have {columns})"
    )]
    TooFewRatings {
        /// The dimension's manifest column.
        dimension: String,
        /// Rated training clips.
        rated: usize,
        /// The manifest columns the clips have values in, listed.
        columns: String,
    },
    /// Importance was asked for, but a dimension has fewer than two rated `val` clips.
    #[error(
        "`importance_repeats` measures importance on the rated `val` clips, and `{dimension}` has {rated}: \
         hold out a val part in the `split` stage (`val_fraction`) or unset `importance_repeats`"
    )]
    NoValRatings {
        /// The dimension.
        dimension: String,
        /// Its rated val clips.
        rated: usize,
    },
    /// A clip's rating is not a number, or the estimates could not be written.
    #[error(transparent)]
    Estimates(#[from] EstimatesError),
    /// A feature value is NaN or infinite.
    #[error(
        "clip `{file_id}`: feature `{feature}` is {value}; the classic models need finite values"
    )]
    NonFinite {
        /// The clip.
        file_id: String,
        /// The feature.
        feature: String,
        /// The value.
        value: f64,
    },
    /// `standardization.csv` could not be read.
    #[error("{path}: {source}")]
    StandardizationCsv {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: csv::Error,
    },
    /// `standardization.csv` has no row for a feature of the table.
    #[error("{path}: no row for feature `{feature}`")]
    StandardizationMissing {
        /// The file.
        path: PathBuf,
        /// The feature.
        feature: String,
    },
    /// `standardization.csv` has a non-finite mean or a negative or non-finite std.
    #[error("{path}: feature `{feature}` has mean {mean} and std {std}")]
    StandardizationValue {
        /// The file.
        path: PathBuf,
        /// The feature.
        feature: String,
        /// The mean read.
        mean: f64,
        /// The std read.
        std: f64,
    },
    /// The features to score lack a column the model was trained on.
    #[error("the features lack `{feature}`, which the model in {} reads", .model.display())]
    MissingFeature {
        /// The feature.
        feature: String,
        /// The model's folder.
        model: PathBuf,
    },
    /// The thread pool could not be built.
    #[error("thread pool: {0}")]
    ThreadPool(#[from] rayon::ThreadPoolBuildError),
    /// The predictions could not be written.
    #[error(transparent)]
    Predictions(#[from] PredictionsError),
    /// The importance files could not be written.
    #[error(transparent)]
    Importance(#[from] vox_api::csv_file::CsvFileError),
    /// An output file could not be written, or the model file read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The model could not be serialized.
    #[error("{path}: {source}")]
    ModelJson {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}
