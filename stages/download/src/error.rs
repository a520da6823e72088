//! The errors of the `download` stage, each with the file, URL or zip entry at fault.

use std::io;
use std::path::{Path, PathBuf};

/// Everything that can go wrong while fetching, verifying, extracting or placing a file.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// No connection could be made, even after retrying.
    #[error(
        "cannot reach {url} after {attempts} attempt(s): {source}. The network may be offline: \
         download the file by hand (or copy it, or its extracted folder, here) and run again with \
         `--set {stage}.path=PATH` (a local copy replaces `url`; or write `path` into the \
         pipeline, relative to its file)"
    )]
    Unreachable {
        /// The stage's name in the pipeline.
        stage: String,
        /// The URL requested.
        url: String,
        /// How many requests were tried.
        attempts: u32,
        /// The last connection error.
        source: Box<ureq::Error>,
    },
    /// The Hugging Face hub could not be reached, even after retrying.
    #[error(
        "cannot reach the Hugging Face hub at {endpoint} for `{repo}`: {source}. vox needs no \
         hub: download the model where the hub is reachable (`huggingface-cli download {repo} \
         --local-dir models/NAME`), copy the folder here and run again with `--set \
         {local_copy}=models/NAME` (a path on the command line is relative to the current \
         folder; written into the pipeline, to the pipeline file's)"
    )]
    HubUnreachable {
        /// The param that takes a local copy: `<fine-tune>.model_path` for the download a
        /// fine-tune's `model` implies, `<stage>.path` for a hub stage of the pipeline's own.
        local_copy: String,
        /// The repository id.
        repo: String,
        /// The hub's base URL.
        endpoint: String,
        /// The last connection error.
        source: Box<ureq::Error>,
    },
    /// None of a hub file's alternative names exists at the revision.
    #[error("the Hugging Face hub has none of {names} in `{repo}` at revision `{revision}`")]
    NotOnHub {
        /// The repository id.
        repo: String,
        /// The revision asked for.
        revision: String,
        /// The names tried, quoted.
        names: String,
    },
    /// The transfer broke off and the retries ran out; the partial file is kept for a resume.
    #[error(
        "download of {url} broke off at byte {received} after {attempts} attempt(s): {source}; \
         run again to resume from there"
    )]
    Interrupted {
        /// The URL requested.
        url: String,
        /// Bytes of the file kept so far.
        received: u64,
        /// How many requests were tried.
        attempts: u32,
        /// The last transfer error.
        source: io::Error,
    },
    /// The server answered with an HTTP status that is not a success (after retries for 5xx).
    #[error("{url} answered HTTP status {status} after {attempts} attempt(s)")]
    HttpStatus {
        /// The URL requested.
        url: String,
        /// The status code of the last answer.
        status: u16,
        /// How many requests were tried.
        attempts: u32,
    },
    /// A request failed in a way that retrying cannot fix (bad URL, TLS, redirect loop).
    #[error("request for {url} failed: {source}")]
    Request {
        /// The URL requested.
        url: String,
        /// The error from the HTTP client.
        source: Box<ureq::Error>,
    },
    /// The file's digest differs from the one given in the params.
    #[error("{algorithm} mismatch for `{file}`: expected {expected}, got {actual}")]
    ChecksumMismatch {
        /// The file checked (its name).
        file: String,
        /// The param naming the algorithm (`md5`, `sha256`, `blake3`).
        algorithm: &'static str,
        /// The digest from the params.
        expected: String,
        /// The digest of the bytes on disk.
        actual: String,
    },
    /// `extract = "zip"` but the file does not start with a zip signature.
    #[error("`{file}` is not a zip archive, but the stage has `extract = \"zip\"`")]
    NotZip {
        /// The file checked.
        file: PathBuf,
    },
    /// A zip entry's name would land outside the output folder.
    #[error(
        "zip `{archive}`: entry `{entry}` would be written outside the output folder; refusing to extract"
    )]
    UnsafeEntry {
        /// The archive.
        archive: PathBuf,
        /// The entry's name as stored.
        entry: String,
    },
    /// A zip entry is a symbolic link, which could point anywhere.
    #[error("zip `{archive}`: entry `{entry}` is a symbolic link; refusing to extract")]
    SymlinkEntry {
        /// The archive.
        archive: PathBuf,
        /// The entry's name as stored.
        entry: String,
    },
    /// The zip archive is malformed or uses an unsupported feature.
    #[error("zip `{archive}`: {source}")]
    Zip {
        /// The archive.
        archive: PathBuf,
        /// The error from the zip reader.
        source: zip::result::ZipError,
    },
    /// Checksums were given for a `path` that is a folder.
    #[error(
        "`path` {path} is a folder, but checksums (`md5`, `sha256`, `blake3`) apply to a single file"
    )]
    ChecksumOnFolder {
        /// The folder.
        path: PathBuf,
    },
    /// A filesystem operation failed.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done (`read`, `create`, `link`...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The error from the OS.
        source: io::Error,
    },
}

impl DownloadError {
    /// A function turning an [`io::Error`] on `path` into [`DownloadError::Io`], for `map_err`.
    pub(crate) fn io(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| Self::Io { action, path, source }
    }
}
