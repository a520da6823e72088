//! vox report stages: the `evaluate` kind, which turns predictions into metrics, tables,
//! confusion matrices, training curves, `output.txt` (its format is `vox_api::output_txt`,
//! shared with `vox predict`) and signal-analysis figures, and the `ensemble-vote` kind, which
//! combines several models' predictions into one. `evaluate` also scores the estimates of
//! emotion dimensions (`dimensions`: CCC, Pearson, MAE, RMSE), and `ensemble-mean` fuses them
//! by a weighted mean, and `calibrate` rescales a model's probabilities by a temperature fitted
//! on its `val` clips.
//!
//! Modules by concern: [`metrics`] (the math, checked against scikit-learn), [`signal`]
//! (spectral summaries for figures), [`plot`] (plotters figures with an embedded font), the
//! stage glue in `evaluate`, `scoring` and `signal_report`, and `ensemble` (with `members`,
//! `combine` and `weighting`) for `ensemble-vote`.

#![warn(missing_docs)]

mod bootstrap;
mod calibrate;
mod calibration;
mod cross_validation;
mod dimensions;
mod ensemble;
mod ensemble_mean;
mod error;
mod evaluate;
mod feature_maps;
mod files;
mod groups;
mod projection;
pub mod metrics;
pub mod plot;
mod scoring;
pub mod signal;
mod signal_report;
#[cfg(test)]
mod test_labels;

pub use error::ReportError;
pub use calibrate::Calibrate;
pub use ensemble::{EnsembleVote, Method, MissingClasses, OnMissingClips, WeightRule, Weights};
pub use ensemble_mean::{EnsembleMean, MeanRule, MeanWeights};
pub use evaluate::{Evaluate, ScoredSplit};

use vox_api::StageKind;

/// Every stage kind of this crate, for the engine's registry.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![
        vox_api::kind::<Evaluate>(),
        vox_api::kind::<EnsembleVote>(),
        vox_api::kind::<EnsembleMean>(),
        vox_api::kind::<Calibrate>(),
    ]
}
