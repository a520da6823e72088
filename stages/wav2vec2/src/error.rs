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
    /// The configuration is well-formed but describes an unsupported or impossible model, or
    /// the checkpoint's head does not fit it.
    #[error("invalid model config: {0}")]
    InvalidConfig(ConfigProblem),
    /// A `pytorch_model.bin`'s keys could not be listed.
    #[error("cannot read the keys of `{path}`: {source}")]
    PytorchKeys {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: burn_store::pytorch::PytorchError,
    },
    /// A `model.safetensors` whose header cannot be read.
    #[error("`{path}` is not a safetensors file: {problem}")]
    NotSafetensors {
        /// The file.
        path: PathBuf,
        /// What is wrong with its header.
        problem: &'static str,
    },
    /// The values of a tensor could not be read back from the backend.
    #[error("cannot read a tensor's values: {0:?}")]
    TensorData(burn::tensor::DataError),
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
    /// A `pytorch_model.bin` in half precision, which burn-store's reader cannot widen.
    #[error(
        "`{path}` holds {dtype:?} tensors: vox reads half-precision weights from `model.safetensors` only; save the \
         model with transformers' `save_pretrained(DIR, safe_serialization=True)` (the hub's files usually include it)"
    )]
    HalfPrecisionPickle {
        /// The file.
        path: PathBuf,
        /// The first half-precision tensor's dtype.
        dtype: burn::tensor::DType,
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
    /// `preprocessor_config.json` is not a valid feature-extractor configuration.
    #[error("invalid feature-extractor config `{path}`: {source}")]
    Preprocessor {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// `preprocessor_config.json` names a feature extractor other than wav2vec2's.
    #[error(
        "`{path}` asks for the feature extractor `{found}`; vox prepares audio as `Wav2Vec2FeatureExtractor` \
         (raw samples, optionally normalized per clip), the input of wav2vec2, HuBERT and WavLM"
    )]
    FeatureExtractor {
        /// The file.
        path: PathBuf,
        /// Its `feature_extractor_type`.
        found: String,
    },
    /// A clip's sample rate is not the model's.
    #[error(
        "clip `{file_id}` is sampled at {rate} Hz but the model takes {expected} Hz ({source_of_rate}): \
         resample it with the decode stage's `sample_rate = {expected}`"
    )]
    SampleRate {
        /// The clip.
        file_id: String,
        /// Its sample rate.
        rate: u32,
        /// The model's.
        expected: u32,
        /// Where the model's rate comes from, for the message.
        source_of_rate: &'static str,
    },
    /// A clip Whisper cannot take whole: longer than its input window, or empty.
    #[error(
        "clip `{file_id}` is {seconds:.2} s long; a Whisper encoder takes clips of up to {limit} s (transformers would \
         cut the rest silently): cut long clips first (the `pad` stage's `length`, or `vox predict --window`) and \
         leave out empty ones"
    )]
    WhisperClipLength {
        /// The clip.
        file_id: String,
        /// Its length.
        seconds: f64,
        /// The input window, seconds.
        limit: f64,
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

/// What is wrong with a model's configuration, or with its checkpoint's head against it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigProblem {
    /// No conv layers.
    #[error("`conv_dim` is empty")]
    NoConvLayers,
    /// The conv layers' lists differ in length.
    #[error("`conv_dim`, `conv_kernel` and `conv_stride` must have one entry per conv layer, got {dims}, {kernels} and {strides}")]
    ConvLists {
        /// `conv_dim`'s entries.
        dims: usize,
        /// `conv_kernel`'s.
        kernels: usize,
        /// `conv_stride`'s.
        strides: usize,
    },
    /// The hidden size does not split into the heads, or the positional conv's groups.
    #[error("`hidden_size` {hidden} is not a multiple of `{field}` {parts}")]
    Indivisible {
        /// `hidden_size`.
        hidden: usize,
        /// `num_attention_heads` or `num_conv_pos_embedding_groups`.
        field: &'static str,
        /// Its value.
        parts: usize,
    },
    /// A transformers option vox has no implementation of.
    #[error("`{0} = true` is not supported")]
    Unsupported(&'static str),
    /// WavLM's relative position buckets: too few.
    #[error("`num_buckets` must be at least 4, got {0}")]
    TooFewBuckets(usize),
    /// WavLM's largest bucketed distance within the exact buckets.
    #[error("`max_bucket_distance` {distance} must exceed the exact buckets ({exact} = num_buckets / 4)")]
    BucketDistance {
        /// `max_bucket_distance`.
        distance: usize,
        /// `num_buckets / 4`.
        exact: usize,
    },
    /// No classes.
    #[error("the model needs at least one label")]
    NoLabels,
    /// A classifier layout vox has no head for.
    #[error("the checkpoint has `classifier.out_proj` without `classifier.dense` or `projector`: a head vox cannot load")]
    BareOutProj,
    /// A head without its output layer.
    #[error("the checkpoint's head has no output layer (`classifier.weight`)")]
    NoOutputLayer,
    /// `id2label` and the head's outputs disagree.
    #[error("`id2label` names {named} classes but the head has {outputs} outputs{}", missing.map(|i| format!(" (no entry \"{i}\")")).unwrap_or_default())]
    LabelCount {
        /// `id2label`'s entries.
        named: usize,
        /// The head's outputs.
        outputs: usize,
        /// The first output index `id2label` lacks, if any.
        missing: Option<usize>,
    },
    /// `id2label` names a class twice.
    #[error("`id2label` names class `{0}` twice")]
    DuplicateLabel(String),
    /// A Whisper feature-extractor setting vox does not compute.
    #[error("Whisper's `preprocessor_config.json`: {0}")]
    WhisperInput(&'static str),
    /// A Whisper model where only the wav2vec2 family fits.
    #[error(
        "`model_type = \"whisper\"`: vox uses Whisper's encoder for features (`featurize set = \"ssl\"`); \
         `fine-tune` and `vox predict` take a wav2vec2, HuBERT or WavLM model"
    )]
    WhisperFeaturesOnly,
    /// The feature extractor's frames and the encoder's positions disagree.
    #[error("the log-mel input has {frames} frames but the encoder takes {expected} (2 x `max_source_positions`)")]
    WhisperFrames {
        /// `chunk_length * sampling_rate / hop_length`.
        frames: usize,
        /// `2 * max_source_positions`.
        expected: usize,
    },
}
