//! vox `download` stage: one file from an http(s) URL, resumable and retried, verified against
//! md5/sha256/blake3 and extracted safely when it is a zip; a model's files from the Hugging
//! Face hub; or a local file or folder instead.
//!
//! Modules: `download` (the params and the stage), `fetch` (HTTP with resume and retries),
//! `checksum`, `extract` (safe zip extraction), `place` (copy-on-write clones, copies and moves), `error`.

mod checksum;
mod download;
mod error;
mod extract;
mod fetch;
mod place;
#[cfg(test)]
mod test_server;

pub use download::{Download, Extract};
pub use error::DownloadError;

use vox_api::StageKind;

/// Every stage kind of this crate, for the engine's registry.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![vox_api::kind::<Download>()]
}
