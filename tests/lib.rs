//! End-to-end tests: the real `vox` binary on pipelines written into temp folders.

mod support;

mod cache;
mod classic;
mod cross_validation;
mod deep;
mod errors;
mod labels;
mod plan;
mod predict;
mod run;
mod search;
mod ssl;
mod sweep;
