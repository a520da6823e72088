//! vox: declarative, cached experiment pipelines for speech-emotion recognition.
//!
//! The engine is a chain of passes with dependencies pointing one way:
//! [`spec`] (TOML files -> merged, spanned spec) -> [`plan`] (checked against the [`registry`],
//! a petgraph DAG) -> [`cache`] (content-addressed keys and entries) -> [`execute`] (parallel
//! scheduler) -> [`report`] (run summary, `run.json`). [`cli`] is a thin layer over them.
//! Stage kinds live in the `stages/` crates and are seen only through `vox_api::StageKind`.

pub mod cli;
pub mod error;
pub mod plan;
pub mod registry;
pub mod source;
pub mod spec;
pub mod cache;
pub mod dirty;
pub mod execute;
pub mod executor;
pub mod fan_out;
pub mod host;
pub mod interrupt;
pub mod memo;
pub mod outcome;
pub mod predict;
pub mod preview;
pub mod report;
pub mod search;
pub mod significance;
pub mod slurm;
pub mod sweep;
