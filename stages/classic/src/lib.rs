//! vox classic baselines: the `baseline` stage kind trains a random forest, a multinomial
//! logistic regression, a linear SVM, a k-nearest-neighbours classifier, histogram
//! gradient-boosted trees, an RBF-kernel SVM or a multilayer perceptron on a feature table and
//! scores every clip, optionally measuring each feature's permutation importance; the
//! `regress` stage kind fits ridge or k-NN regressors of emotion dimensions (arousal, valence,
//! dominance) and estimates every clip.
//!
//! Modules: [`data`] (training view of a feature table, class weights), [`scaling`]
//! (standardization), [`forest`], [`logistic`], [`svm`], [`linear`], [`knn`], [`boosting`],
//! [`kernel_svm`] and [`mlp`] (the models), [`ridge`] (ridge regression), [`regressor`] (the
//! `regressor.json` format), [`regress`] (the regression stage kind), [`importance`] (permutation importance),
//! [`model`] (the `model.json` format), [`report`] (`report/model.txt`) and [`baseline`] (the
//! stage kind).

pub mod baseline;
pub mod boosting;
pub mod data;
pub mod error;
pub mod forest;
pub mod importance;
pub mod kernel_svm;
pub mod knn;
pub mod linear;
pub mod logistic;
pub mod mlp;
pub mod model;
pub mod regress;
pub mod regressor;
pub mod report;
pub mod ridge;
pub mod scaling;
pub mod svm;

use vox_api::StageKind;

pub use baseline::Baseline;
pub use regress::Regress;
pub use error::ClassicError;

/// Every stage kind of this crate, for the engine's registry.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![vox_api::kind::<Baseline>(), vox_api::kind::<Regress>()]
}
