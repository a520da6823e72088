//! The contract between the vox engine and its stages.
//!
//! The engine knows a stage kind only through [`StageKind`]; a stage kind knows nothing of the
//! engine. A kind is written as a params struct that implements [`StageDef`] (serde with
//! `deny_unknown_fields`, doc comments on every field) and is registered with [`kind`].
//! Artifacts passed between stages are plain files in folders; [`audio`] defines the audio-set
//! layout shared by the data stages and [`labels`] the label sets every artifact carries.

pub mod agreement;
pub mod allocator;
pub mod audio;
mod backend;
pub mod csv_file;
pub mod estimates;
pub mod features;
pub mod importance;
pub mod labels;
pub mod mel;
pub mod memo;
pub mod metrics;
pub mod output_txt;
pub mod pool;
pub mod predictions;
pub mod scored;
pub mod summary;
pub mod windows;
mod stage;

pub use backend::BackendError;
pub use stage::{
    Applied, Applies, ApplyContext, ArtifactKind, Arity, Facts, FanOut, Fold, ImpliedStage, Input, InputSpec, Kind, ParamError, PlannedInput,
    Stage, StageContext, StageDef, StageError, StageKind, Variant, kind, panic_message,
};
