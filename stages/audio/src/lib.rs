//! vox data stages: a synthetic RAVDESS-layout corpus, download, decode, pad and split.

use vox_api::StageKind;

/// Every stage kind of this crate, for the engine's registry.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![]
}
