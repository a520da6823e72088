//! vox feature stages: the `featurize` kind, with a native implementation of openSMILE's
//! eGeMAPSv02 functionals ([`egemaps`]) and librosa-compatible MFCC / log-mel features
//! ([`librosa`]), sharing one DSP module ([`dsp`]).

pub mod dsp;
pub mod egemaps;

use vox_api::StageKind;

/// Every stage kind of this crate, for the engine's registry.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![]
}
