//! vox data stages: a synthetic RAVDESS-layout corpus, decoding, padding and splitting.
//!
//! | kind     | inputs | output | what it does                                                   |
//! |----------|--------|--------|----------------------------------------------------------------|
//! | `synth`  | none   | files  | writes a deterministic speech-like corpus in RAVDESS layout    |
//! | `decode` | files  | audio  | reads every WAV, mixes to mono, resamples, labels by file name |
//! | `pad`    | audio  | audio  | pads or crops every clip to one length                         |
//! | `split`  | audio  | audio  | assigns clips to train/val/test, stratified or by speaker      |

mod corpus;
mod decode;
mod error;
mod pad;
mod parallel;
mod resample;
mod speech;
mod split;
mod synth;
#[cfg(test)]
mod test_support;
mod wav;

pub use corpus::{Corpus, Labels, NameError, RavdessName};
pub use decode::{Decode, OnError};
pub use error::{AudioError, FileError};
pub use pad::{Crop, Pad, PadSide};
pub use split::{Split, Strategy};
pub use synth::Synth;

use vox_api::StageKind;

/// Every stage kind of this crate, for the engine's registry.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![
        vox_api::kind::<Synth>(),
        vox_api::kind::<Decode>(),
        vox_api::kind::<Pad>(),
        vox_api::kind::<Split>(),
    ]
}
