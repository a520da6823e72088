//! What can be wrong with a cache entry, as a lookup (sizes and mtimes, rehashing what
//! changed) or `vox cache verify` (rehashing everything) finds it. The run that finds it
//! recomputes the entry; the reason it gives says which file and how.

use std::io;

/// One problem of a cache entry: the first one found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    /// The entry's folder exists without its manifest (an interrupted commit, or a hand edit).
    #[error("entry.json is missing")]
    NoManifest,
    /// The manifest exists but cannot be read.
    #[error("cannot read entry.json: {0}")]
    ManifestUnreadable(io::ErrorKind),
    /// The manifest is not an entry's JSON.
    #[error("entry.json is not valid (line {line}, column {column})")]
    ManifestInvalid {
        /// Where the JSON parser stopped.
        line: usize,
        /// The column there.
        column: usize,
    },
    /// An output file the manifest lists is gone.
    #[error("`{file}` is missing")]
    Missing {
        /// The file, relative to the entry's outputs.
        file: String,
    },
    /// An output file's size differs from the manifest's.
    #[error("`{file}` has {found} bytes, expected {expected}")]
    Size {
        /// The file.
        file: String,
        /// Its size now.
        found: u64,
        /// The manifest's.
        expected: u64,
    },
    /// An output file exists but cannot be read to be rehashed.
    #[error("`{file}` cannot be read: {kind}")]
    Unreadable {
        /// The file.
        file: String,
        /// The read's error.
        kind: io::ErrorKind,
    },
    /// An output file's content changed: its blake3 differs from the manifest's.
    #[error("`{file}` changed: blake3 {} expected {}", short(found), short(expected))]
    Changed {
        /// The file.
        file: String,
        /// Its hash now (hex).
        found: String,
        /// The manifest's (hex).
        expected: String,
    },
}

/// A hash's first 12 hex digits, as the messages show it.
fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
