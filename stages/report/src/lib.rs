//! vox report stages: the `evaluate` kind, which turns predictions into metrics, tables,
//! confusion matrices, training curves, `output.txt` and signal-analysis figures.
//!
//! Modules by concern: [`metrics`] (the math, checked against scikit-learn), [`output_txt`] (the
//! submission format), [`signal`] (spectral summaries for figures), [`plot`] (plotters figures
//! with an embedded font), and the stage glue in `evaluate`, `scoring` and `signal_report`.

#![warn(missing_docs)]

mod error;
mod evaluate;
mod files;
pub mod metrics;
pub mod output_txt;
pub mod plot;
mod scoring;
pub mod signal;
mod signal_report;

pub use error::ReportError;
pub use evaluate::{Evaluate, ScoredSplit};

use vox_api::StageKind;

/// Every stage kind of this crate, for the engine's registry.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![vox_api::kind::<Evaluate>()]
}
