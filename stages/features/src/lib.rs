//! vox feature stages: the `featurize` kind ([`featurize::Featurize`]), with a native
//! implementation of openSMILE's eGeMAPSv02 functionals ([`egemaps`]) and librosa-compatible
//! MFCC / log-mel features ([`librosa`]), sharing one DSP module ([`dsp`]).
//!
//! Output layout of a `featurize` stage: `features.csv` + `manifest.csv`
//! ([`vox_api::features::FeatureTable`]), `standardization.csv` ([`standardization`]), and
//! with `output = "frames"` the frame matrices ([`frames`]); `report/features.txt` summarizes the
//! run for people. The `normalize` kind ([`normalize::Normalize`]) z-scores a feature table's
//! groups of clips (speakers, corpora) by their own statistics; the `select` kind
//! ([`select::Select`]) keeps the `k` features with the largest ANOVA F ([`anova`]).

pub mod anova;
pub mod dsp;
pub mod egemaps;
pub mod error;
pub mod featurize;
pub mod frames;
pub mod librosa;
pub mod normalize;
pub mod rows;
pub mod select;
pub mod standardization;

use vox_api::StageKind;

/// Every stage kind of this crate, for the engine's registry.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![vox_api::kind::<featurize::Featurize>(), vox_api::kind::<normalize::Normalize>(), vox_api::kind::<select::Select>()]
}
