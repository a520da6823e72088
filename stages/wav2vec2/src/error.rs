//! The crate's error type.

use std::path::PathBuf;

/// Everything that can go wrong while configuring, loading or running wav2vec2.
#[derive(Debug, thiserror::Error)]
pub enum Wav2Vec2Error {
    /// A file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `config.json` is not a valid configuration.
    #[error("invalid model config `{path}`: {source}")]
    Config {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// The configuration could not be written as JSON.
    #[error("cannot serialize the model config: {0}")]
    Serialize(serde_json::Error),
    /// The configuration is well-formed but describes an unsupported or impossible model.
    #[error("invalid model config: {0}")]
    InvalidConfig(String),
    /// The model folder holds neither `model.safetensors` nor `pytorch_model.bin`.
    #[error("no `model.safetensors` or `pytorch_model.bin` in `{0}`")]
    NoWeights(PathBuf),
    /// burn-store could not read or write a safetensors file.
    #[error("cannot read or write safetensors weights `{path}`: {source}")]
    Safetensors {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: burn_store::SafetensorsStoreError,
    },
    /// A safetensors file could not be written.
    #[error("cannot write `{path}`: {source}")]
    SafetensorsWrite {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: safetensors::SafeTensorError,
    },
    /// A parameter's element type has no safetensors counterpart vox writes.
    #[error("cannot save parameter `{name}`: its element type {dtype:?} is not a float type")]
    UnsavableDtype {
        /// The parameter's name in the file.
        name: String,
        /// Its element type.
        dtype: burn::tensor::DType,
    },
    /// burn-store could not read a PyTorch checkpoint.
    #[error("cannot load PyTorch weights `{path}`: {source}")]
    Pytorch {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: burn_store::PytorchStoreError,
    },
    /// Tensors in the checkpoint did not fit the model (shape or dtype mismatches).
    #[error("weights in `{path}` do not fit the model: {}", errors.join("; "))]
    Mismatch {
        /// The file.
        path: PathBuf,
        /// One message per offending tensor.
        errors: Vec<String>,
    },
    /// Parameters of the model that the checkpoint lacks (outside the head, which may be new).
    #[error("weights in `{path}` lack {} model tensors: {}", missing.len(), missing.join(", "))]
    MissingWeights {
        /// The file.
        path: PathBuf,
        /// The model paths with no tensor, sorted.
        missing: Vec<String>,
    },
    /// burn could not write or read a training checkpoint record.
    #[error("cannot write or read checkpoint `{path}`: {source}")]
    Record {
        /// The file, without the extension the recorder adds.
        path: PathBuf,
        /// The cause.
        source: burn::record::RecorderError,
    },
    /// A checkpoint's `history.csv` could not be written or read.
    #[error("checkpoint history: {0}")]
    History(vox_api::csv_file::CsvFileError),
    /// A clip in a batch is shorter than the feature encoder's receptive field.
    #[error("clip {index} has {samples} samples, fewer than the {min} the feature encoder needs")]
    ClipTooShort {
        /// Position of the clip in the batch.
        index: usize,
        /// Its valid samples.
        samples: usize,
        /// The receptive field of the feature encoder.
        min: usize,
    },
    /// A clip's valid length exceeds the padded batch length.
    #[error("clip {index} has {samples} valid samples but the batch is only {padded} long")]
    ClipTooLong {
        /// Position of the clip in the batch.
        index: usize,
        /// Its valid samples.
        samples: usize,
        /// The padded length.
        padded: usize,
    },
}
