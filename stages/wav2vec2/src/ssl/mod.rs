//! Self-supervised embeddings as features: `featurize` with `set = "ssl"`.
//!
//! Two stage kinds split the work so that choosing layers is cheap:
//! - [`states`]: the `ssl-states` kind runs the model once over an audio set and keeps, for
//!   every clip, the mean and standard deviation over its valid frames of **every** hidden
//!   state (HF's `hidden_states`: the embedded input, then each layer's output), in
//!   [`pooled`]'s binary format;
//! - [`featurize`]: the `featurize` variant for `set = "ssl"` picks layers and statistics
//!   from those pooled states into a `features.csv`. Its params imply the `ssl-states` stage
//!   (`<stage>.states`, taking the stage's inputs), so a sweep over `layers` or `stats` runs
//!   the forward pass once and every other trial reads the cached states.
//!
//! The model is a wav2vec2-family folder (wav2vec2, HuBERT, WavLM) or a Whisper one
//! ([`whisper`]: its encoder, on its log-mel input).

pub mod featurize;
pub mod pooled;
pub mod states;
pub mod whisper;
