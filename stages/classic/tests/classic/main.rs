//! Integration tests of vox-classic: parity with scikit-learn on committed fixtures
//! ([`parity`]), class weighting ([`weighting`]) and the `baseline` stage end to end ([`stage`]).

mod boosting;
mod fixture;
mod importance;
mod kernel_svm;
mod mlp;
mod parity;
mod regress;
mod stage;
mod weighting;
