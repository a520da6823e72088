//! The `download` stage kind: one file from a URL (resumable, retried, checksummed), a model's
//! files from the Hugging Face hub, or a local file or folder; zips are extracted; everything
//! lands in the output folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::ProgressStyle;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::{ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

use crate::checksum::{self, Algorithm};
use crate::error::DownloadError;
use crate::extract::{extract_zip, is_zip};
use crate::fetch::{Backoff, Fetch, file_name_from_url};
use crate::place::{clone_or_copy, mirror_dir, move_or_copy};

/// Fetches one file over HTTP(S), a model's files from the Hugging Face hub, or takes a local
/// file or folder; checks the checksum and extracts the file when it is a zip. A broken
/// download resumes where it stopped on the next run.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, into = "Keyed")]
pub struct Download {
    /// The http(s) URL to fetch; the file is named after the URL's last path segment
    /// (percent-decoded, query ignored), e.g. `Audio_Speech_Actors_01-24.zip`. Give `url` or
    /// `hub`, or `path`; a `url` needs at least one checksum.
    #[serde(default)]
    pub url: Option<String>,
    /// A Hugging Face hub repository, `owner/name` (e.g.
    /// `jonatasgrosman/wav2vec2-large-xlsr-53-english`): `files` at `revision` are fetched from
    /// `$HF_ENDPOINT` (default `https://huggingface.co`) into a model folder that `fine-tune`
    /// reads. A `fine-tune` with `model = "owner/name"` implies such a stage.
    #[serde(default)]
    pub hub: Option<String>,
    /// With `hub`: the branch, tag or commit to fetch. A commit hash pins the files; a branch
    /// is cached under its name, so a later upstream change is not fetched again.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_REVISION))]
    pub revision: Option<String>,
    /// With `hub`: the files to fetch, by their path in the repository; `a|b` fetches `a`, or
    /// `b` where the hub has no `a`, and a trailing `?` skips an entry the hub has none of.
    /// The default takes `config.json`, `model.safetensors` (else `pytorch_model.bin`, as
    /// transformers does) and `preprocessor_config.json` where there is one (how the model's
    /// input is prepared, which `fine-tune` and `featurize` honour).
    #[serde(default)]
    #[schemars(extend("default" = default_hub_files()))]
    pub files: Option<Vec<String>>,
    /// A local file or folder to use instead of downloading, relative to the pipeline file.
    /// A folder is mirrored as is (copy-on-write clones where the file system has them, else
    /// copies: editing the original never changes the cache); a file is checked and extracted
    /// like a download. With `url` or `hub` also set, `path` is a local copy of what they name and
    /// replaces them, so `--set data.path=DIR` points a pipeline at a copy you have: nothing is
    /// fetched, a file is checked against the checksums, a folder (an extracted copy) is taken
    /// as it is.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Expected MD5 of the file, 32 hex digits (the digest Zenodo publishes).
    #[serde(default)]
    pub md5: Option<String>,
    /// Expected SHA-256 of the file, 64 hex digits.
    #[serde(default)]
    pub sha256: Option<String>,
    /// Expected BLAKE3 of the file, 64 hex digits.
    #[serde(default)]
    pub blake3: Option<String>,
    /// What to do with the file: `auto` extracts it when it is a zip (by its first bytes) and
    /// keeps it as is otherwise, `zip` requires a zip, `none` never extracts.
    #[serde(default)]
    pub extract: Extract,
    /// With `url` or `hub`: how many times a failed request (connection error, broken
    /// transfer, HTTP 408, 429 or 5xx) is retried, with delays doubling from 0.5 s up to 30 s;
    /// the count restarts after a request that received data. Not part of the cache key.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_RETRIES))]
    pub retries: Option<u32>,
    /// With `url` or `hub`: seconds allowed to connect, to receive the response headers and
    /// for each read of the body (not for the whole transfer); at least 1. Not part of the
    /// cache key.
    #[serde(default)]
    #[schemars(extend("default" = DEFAULT_TIMEOUT_SECONDS))]
    pub timeout: Option<u64>,
}

/// Whether the fetched file is extracted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Extract {
    /// Extract when the file starts with a zip signature.
    #[default]
    Auto,
    /// Extract; a file that is not a zip is an error.
    Zip,
    /// Place the file as is.
    None,
}

const DEFAULT_REVISION: &str = "main";

fn default_hub_files() -> Vec<String> {
    vec!["config.json".into(), "model.safetensors|pytorch_model.bin".into(), "preprocessor_config.json?".into()]
}

/// The params as the cache key and the reports see them: what decides the output's bytes.
/// `retries` and `timeout` only decide how hard a fetch tries, and `revision` and `files` exist
/// only for a hub fetch that no local `path` replaces, so a default of theirs that changes (the
/// hub files did, when `preprocessor_config.json` joined them) never reruns a corpus's download.
#[derive(Debug, Clone, Serialize, JsonSchema)]
struct Keyed {
    url: Option<String>,
    hub: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<Vec<String>>,
    path: Option<PathBuf>,
    md5: Option<String>,
    sha256: Option<String>,
    blake3: Option<String>,
    extract: Extract,
}

impl From<Download> for Keyed {
    fn from(d: Download) -> Self {
        let fetched_from_hub = d.hub.is_some() && d.path.is_none();
        Self {
            revision: fetched_from_hub.then(|| d.revision().to_string()),
            files: fetched_from_hub.then(|| d.files()),
            url: d.url,
            hub: d.hub,
            path: d.path,
            md5: d.md5,
            sha256: d.sha256,
            blake3: d.blake3,
            extract: d.extract,
        }
    }
}

/// A `files` entry without its trailing `?`, and whether it had one (optional: skipped where the
/// hub has none of its alternatives).
fn optional_entry(entry: &str) -> (&str, bool) {
    entry.strip_suffix('?').map_or((entry, false), |alternatives| (alternatives, true))
}

/// Where hub files come from unless `HF_ENDPOINT` says otherwise (the variable Hugging Face's
/// own tools read, e.g. for a mirror).
const HUB_ENDPOINT: &str = "https://huggingface.co";

const DEFAULT_RETRIES: u32 = 5;

const DEFAULT_TIMEOUT_SECONDS: u64 = 60;

/// How a verified file reaches the output folder when it is not extracted.
#[derive(Clone, Copy)]
enum Placement {
    /// A download in the scratch folder: move it.
    Move,
    /// The user's own file: clone or copy it, never move or link it.
    Copy,
}

/// The progress bar style for byte counts.
const BYTES_TEMPLATE: &str =
    "{prefix:>12.cyan.bold} {msg:<10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}";

impl StageDef for Download {
    const KIND: &'static str = "download";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::NONE;
    const OUTPUT: ArtifactKind = ArtifactKind::Files;
    const PATH_PARAMS: &'static [&'static str] = &["path"];

    fn validate(&self) -> Result<(), ParamError> {
        for (algorithm, hex) in self.checksums() {
            algorithm
                .check_hex(hex)
                .map_err(|message| ParamError::new(algorithm.name(), message))?;
        }
        if self.timeout == Some(0) {
            return Err(ParamError::new(
                "timeout",
                "`timeout` is in seconds and must be at least 1",
            ));
        }
        // A param that cannot apply is an error, never a silent part of the key.
        let inapplicable = [
            ("revision", self.revision.is_some() && self.hub.is_none(), "a `hub` download"),
            ("files", self.files.is_some() && self.hub.is_none(), "a `hub` download"),
            ("retries", self.retries.is_some() && self.url.is_none() && self.hub.is_none(), "a `url` or `hub` download"),
            ("timeout", self.timeout.is_some() && self.url.is_none() && self.hub.is_none(), "a `url` or `hub` download"),
        ];
        if let Some((param, _, applies_to)) = inapplicable.into_iter().find(|(_, given, _)| *given) {
            return Err(ParamError::new(param, format!("`{param}` applies to {applies_to} only, and this one has none")));
        }
        match (&self.url, &self.hub, &self.path) {
            (None, None, None) => Err(ParamError::new(
                "url",
                "give `url` (a file to download), `hub` (a Hugging Face model) or `path` \
                 (a local file or folder)",
            )),
            (Some(_), Some(_), _) => Err(ParamError::new("hub", "give `url` or `hub`, not both")),
            // A local copy replaces the remote source: what it replaces need not be valid.
            (_, _, Some(_)) => Ok(()),
            (Some(url), None, None) => validate_url(url, self.checksums().is_empty()),
            (None, Some(repo), None) => self.validate_hub(repo),
        }
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        self.run_with(ctx, Backoff::default())
    }
}

fn validate_url(url: &str, no_checksum: bool) -> Result<(), ParamError> {
    let lower = url.to_ascii_lowercase();
    if !lower.starts_with("http://") && !lower.starts_with("https://") {
        return Err(ParamError::new("url", format!("`{url}` is not an http:// or https:// URL")));
    }
    if file_name_from_url(url).is_none() {
        return Err(ParamError::new(
            "url",
            format!(
                "`{url}` does not end in a file name (like `.../Audio_Speech_Actors_01-24.zip`)"
            ),
        ));
    }
    if no_checksum {
        return Err(ParamError::new(
            "url",
            "a download needs a checksum to catch corrupted or changed files: \
             set `md5`, `sha256` or `blake3` (e.g. the md5 published beside the file)",
        ));
    }
    Ok(())
}

/// Checks a hub repository id, `owner/name`, in the characters the hub allows.
fn validate_hub_repo(repo: &str) -> Result<(), String> {
    let part_ok = |part: &str| {
        !part.is_empty()
            && !part.starts_with(['.', '-'])
            && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    match repo.split_once('/') {
        Some((owner, name)) if part_ok(owner) && part_ok(name) => Ok(()),
        _ => Err(format!(
            "`{repo}` is not a hub repository id: expected `owner/name`, e.g. \
             `jonatasgrosman/wav2vec2-large-xlsr-53-english`"
        )),
    }
}

impl Download {
    /// The hub branch, tag or commit (default `main`).
    fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or(DEFAULT_REVISION)
    }

    /// The hub files to fetch.
    fn files(&self) -> Vec<String> {
        self.files.clone().unwrap_or_else(default_hub_files)
    }

    /// Checks the hub params: a repository id, no checksums, safe relative file paths.
    fn validate_hub(&self, repo: &str) -> Result<(), ParamError> {
        validate_hub_repo(repo).map_err(|message| ParamError::new("hub", message))?;
        if !self.checksums().is_empty() {
            return Err(ParamError::new(
                "hub",
                "checksums apply to one file; pin hub files with a commit hash in `revision`",
            ));
        }
        let revision = self.revision();
        if revision.is_empty() || revision.contains(['/', '?', '#']) {
            let message = format!("`{revision}` is not a branch, tag or commit");
            return Err(ParamError::new("revision", message));
        }
        let files = self.files();
        if files.is_empty() {
            return Err(ParamError::new("files", "name at least one file to fetch"));
        }
        for (i, entry) in files.iter().enumerate() {
            for file in optional_entry(entry).0.split('|') {
                let unsafe_path = file.is_empty()
                    || file.starts_with('/')
                    || file.split('/').any(|part| part.is_empty() || part == "." || part == "..")
                    || file.contains(['?', '#', '\\']);
                if unsafe_path {
                    let message = format!("`{file}` is not a file path inside the repository");
                    return Err(ParamError::new(format!("files[{i}]"), message));
                }
            }
        }
        Ok(())
    }

    /// The checksums given, by algorithm.
    fn checksums(&self) -> Vec<(Algorithm, &str)> {
        [
            (Algorithm::Md5, &self.md5),
            (Algorithm::Sha256, &self.sha256),
            (Algorithm::Blake3, &self.blake3),
        ]
        .into_iter()
        .filter_map(|(algorithm, hex)| hex.as_deref().map(|hex| (algorithm, hex)))
        .collect()
    }

    /// Runs the stage with the given retry delays (tests use tiny ones).
    fn run_with(&self, ctx: &StageContext, backoff: Backoff) -> Result<(), StageError> {
        if let (Some(path), Some(remote)) = (&self.path, self.url.as_ref().or(self.hub.as_ref())) {
            tracing::info!(stage = ctx.stage, "using the local copy {} instead of fetching {remote}", path.display());
        }
        match (&self.url, &self.path) {
            (Some(url), None) => {
                let (file, name) = self.download(ctx, url, backoff)?;
                self.deliver(ctx, &file, &name, Placement::Move)?;
            }
            (None, None) if self.hub.is_some() => {
                let endpoint = std::env::var("HF_ENDPOINT").unwrap_or_else(|_| HUB_ENDPOINT.into());
                self.download_hub(ctx, &endpoint, backoff)?;
            }
            (url, Some(path)) if path.is_dir() => {
                // Checksums beside a `url` describe its file, of which the folder is an
                // extracted copy; beside a bare `path` they could only be a mistake.
                if url.is_none() && !self.checksums().is_empty() {
                    return Err(DownloadError::ChecksumOnFolder { path: path.clone() }.into());
                }
                let files = mirror_dir(path, ctx.out_dir)?;
                tracing::info!(stage = ctx.stage, files, "mirrored {}", path.display());
            }
            (_, Some(path)) => {
                let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
                checksum::verify(path, &name, &self.checksums())?;
                self.deliver(ctx, path, &name, Placement::Copy)?;
            }
            (None, None) => {
                return Err(ParamError::new("url", "give `url`, `hub` or `path`").into());
            }
        }
        Ok(())
    }

    /// Fetches the hub files one by one (each resumable) and places them under their
    /// repository paths. An unreachable hub is an error that says how to work without it: the
    /// local copy goes to `path` here, or to `model_path` of the fine-tune that implied this
    /// stage (named `<fine-tune>.model`, see [`vox_api::ImpliedStage`]).
    fn download_hub(
        &self,
        ctx: &StageContext,
        endpoint: &str,
        backoff: Backoff,
    ) -> Result<(), StageError> {
        let repo = self.hub.as_deref().unwrap_or_default();
        let endpoint = endpoint.trim_end_matches('/');
        let files = self.files();
        for entry in &files {
            let Some((file, part)) = self.fetch_first_of(ctx, endpoint, entry, backoff)? else {
                continue;
            };
            let target = ctx.out_dir.join(file);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(DownloadError::io("create", parent))?;
            }
            move_or_copy(&part, &target)?;
        }
        tracing::info!(stage = ctx.stage, files = files.len(), "fetched {repo}@{}", self.revision());
        Ok(())
    }

    /// Fetches the first of the `|`-separated alternatives in `entry` that the hub has (404
    /// moves on to the next) into its `.part` file in the scratch folder; returns its name and
    /// that file, or `None` for an optional entry (`?`) the hub has none of.
    fn fetch_first_of<'e>(
        &self,
        ctx: &StageContext,
        endpoint: &str,
        entry: &'e str,
        backoff: Backoff,
    ) -> Result<Option<(&'e str, PathBuf)>, DownloadError> {
        let repo = self.hub.as_deref().unwrap_or_default();
        let (alternatives, optional) = optional_entry(entry);
        for file in alternatives.split('|') {
            let url = format!("{endpoint}/{repo}/resolve/{}/{file}", self.revision());
            let part = ctx.scratch_dir.join(format!("{}.part", file.replace('/', "__")));
            match self.fetch(ctx, &url, &part, file, backoff) {
                Ok(_) => return Ok(Some((file, part))),
                Err(DownloadError::HttpStatus { status: 404, .. }) => {
                    tracing::debug!(stage = ctx.stage, url, "not on the hub; trying the next name");
                }
                Err(DownloadError::Unreachable { source, .. }) => {
                    // A fine-tune's `model` implies `<fine-tune>.model` (vox_api::ImpliedStage),
                    // which the pipeline cannot edit: the copy goes to the fine-tune.
                    let local_copy = match ctx.stage.strip_suffix(".model") {
                        Some(fine_tune) => format!("{fine_tune}.model_path"),
                        None => format!("{}.path", ctx.stage),
                    };
                    return Err(DownloadError::HubUnreachable {
                        local_copy,
                        repo: repo.to_string(),
                        endpoint: endpoint.to_string(),
                        source,
                    });
                }
                Err(other) => return Err(other),
            }
        }
        if optional {
            tracing::debug!(stage = ctx.stage, entry, "not on the hub; optional, skipped");
            return Ok(None);
        }
        Err(DownloadError::NotOnHub {
            repo: repo.to_string(),
            revision: self.revision().to_string(),
            names: alternatives.split('|').map(|f| format!("`{f}`")).collect::<Vec<_>>().join(" or "),
        })
    }

    /// Fetches `url` into `part` with a byte progress bar labelled `what`; returns the size.
    fn fetch(
        &self,
        ctx: &StageContext,
        url: &str,
        part: &Path,
        what: &str,
        backoff: Backoff,
    ) -> Result<u64, DownloadError> {
        std::fs::create_dir_all(ctx.scratch_dir)
            .map_err(DownloadError::io("create", ctx.scratch_dir))?;
        let bar = ctx.progress_bar(0, what);
        if let Ok(style) = ProgressStyle::with_template(BYTES_TEMPLATE) {
            bar.set_style(style.progress_chars("=> "));
        }
        let fetch = Fetch {
            stage: ctx.stage,
            url,
            retries: self.retries.unwrap_or(DEFAULT_RETRIES),
            timeout: Duration::from_secs(self.timeout.unwrap_or(DEFAULT_TIMEOUT_SECONDS)),
            backoff,
        };
        let size = fetch.run(part, &bar)?;
        bar.finish_and_clear();
        Ok(size)
    }

    /// Downloads `url` into the scratch folder and verifies it; returns the file and its name.
    fn download(
        &self,
        ctx: &StageContext,
        url: &str,
        backoff: Backoff,
    ) -> Result<(PathBuf, String), StageError> {
        let name = file_name_from_url(url).ok_or_else(|| {
            ParamError::new("url", format!("`{url}` does not end in a file name"))
        })?;
        let part = ctx.scratch_dir.join(format!("{name}.part"));
        let size = self.fetch(ctx, url, &part, "download", backoff)?;
        if let Err(mismatch) = checksum::verify(&part, &name, &self.checksums()) {
            std::fs::remove_file(&part).map_err(DownloadError::io("remove", &part))?;
            return Err(mismatch.into());
        }
        tracing::debug!(stage = ctx.stage, url, size, "downloaded and verified");
        Ok((part, name))
    }

    /// Extracts `file` into the output folder, or places it there as `name`.
    fn deliver(
        &self,
        ctx: &StageContext,
        file: &Path,
        name: &str,
        placement: Placement,
    ) -> Result<(), DownloadError> {
        let extract = match self.extract {
            Extract::None => false,
            Extract::Auto => is_zip(file)?,
            Extract::Zip if is_zip(file)? => true,
            Extract::Zip => return Err(DownloadError::NotZip { file: file.to_path_buf() }),
        };
        if extract {
            let bar = ctx.progress_bar(0, "extract");
            let files = extract_zip(file, ctx.out_dir, &bar)?;
            bar.finish_and_clear();
            tracing::info!(stage = ctx.stage, files, "extracted {name}");
        } else {
            let target = ctx.out_dir.join(name);
            match placement {
                Placement::Move => move_or_copy(file, &target)?,
                Placement::Copy => clone_or_copy(file, &target)?,
            }
            tracing::info!(stage = ctx.stage, "placed {name}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use indicatif::{MultiProgress, ProgressDrawTarget};
    use md5::Digest;

    use super::*;
    use crate::extract::tests::build_zip;
    use crate::test_server::{Behaviour, TestServer};

    const TINY_BACKOFF: Backoff =
        Backoff { base: Duration::from_millis(1), cap: Duration::from_millis(4) };

    /// A temporary stage folder layout: `out/` (empty) and `scratch/`.
    struct Dirs {
        root: tempfile::TempDir,
        out: PathBuf,
        scratch: PathBuf,
    }

    fn dirs() -> Dirs {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("out");
        let scratch = root.path().join("scratch");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::create_dir_all(&scratch).unwrap();
        Dirs { root, out, scratch }
    }

    /// Params from a TOML table, as the engine would pass them (defaults filled, validated).
    fn params(table: &str) -> Download {
        let def: Download = toml::from_str(table).unwrap();
        def.validate().unwrap();
        def
    }

    fn run(def: &Download, dirs: &Dirs) -> Result<(), StageError> {
        with_context(dirs, |ctx| def.run_with(ctx, TINY_BACKOFF))
    }

    /// Runs a `hub` stage against `endpoint`.
    fn run_hub(def: &Download, dirs: &Dirs, endpoint: &str) -> Result<(), StageError> {
        with_context(dirs, |ctx| def.download_hub(ctx, endpoint, TINY_BACKOFF))
    }

    fn with_context<T>(dirs: &Dirs, body: impl FnOnce(&StageContext) -> T) -> T {
        let progress = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let ctx = StageContext {
            stage: "data",
            inputs: &[],
            out_dir: &dirs.out,
            scratch_dir: &dirs.scratch,
            seed: 0,
            backend: None,
            threads: 1,
            progress: &progress,
            memo: None,
        };
        body(&ctx)
    }

    /// 200 kB of varied bytes (several reads, several TCP segments).
    fn payload() -> Vec<u8> {
        (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
    }

    fn md5_hex(bytes: &[u8]) -> String {
        format!("{:x}", md5::Md5::digest(bytes))
    }

    /// Every file under `dir` with its contents, by relative path.
    fn tree(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        fn walk(root: &Path, dir: &Path, files: &mut BTreeMap<String, Vec<u8>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(root, &path, files);
                } else {
                    let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                    files.insert(rel, std::fs::read(&path).unwrap());
                }
            }
        }
        let mut files = BTreeMap::new();
        walk(dir, dir, &mut files);
        files
    }

    fn url_params(url: &str, checksum: &str) -> Download {
        params(&format!("url = \"{url}\"\nmd5 = \"{checksum}\""))
    }

    #[test]
    fn downloads_verifies_md5_and_places_the_file_under_its_url_name() {
        let payload = payload();
        let server =
            TestServer::start(Behaviour { payload: payload.clone(), ..Behaviour::default() });
        let dirs = dirs();
        let def = url_params(&server.url("/files/Speech%20Set.bin?download=1"), &md5_hex(&payload));
        run(&def, &dirs).unwrap();
        let out = tree(&dirs.out);
        assert_eq!(out.keys().collect::<Vec<_>>(), ["Speech Set.bin"]);
        assert!(out["Speech Set.bin"] == payload);
        assert_eq!(server.ranges(), [None]);
        assert!(!dirs.scratch.join("Speech Set.bin.part").exists());
    }

    #[test]
    fn a_broken_transfer_resumes_with_a_range_request_in_the_same_run() {
        let payload = payload();
        let behaviour = Behaviour {
            payload: payload.clone(),
            cut_first_after: Some(70_000),
            ..Behaviour::default()
        };
        let server = TestServer::start(behaviour);
        let dirs = dirs();
        run(&url_params(&server.url("/f.bin"), &md5_hex(&payload)), &dirs).unwrap();
        assert_eq!(server.ranges(), [None, Some("bytes=70000-".to_string())]);
        assert!(std::fs::read(dirs.out.join("f.bin")).unwrap() == payload);
    }

    #[test]
    fn a_failed_run_keeps_the_partial_file_and_the_rerun_resumes_it() {
        let payload = payload();
        let behaviour = Behaviour {
            payload: payload.clone(),
            cut_first_after: Some(70_000),
            ..Behaviour::default()
        };
        let server = TestServer::start(behaviour);
        let dirs = dirs();
        let url = server.url("/f.bin");
        let def = params(&format!("url = \"{url}\"\nmd5 = \"{}\"\nretries = 0", md5_hex(&payload)));
        let err = run(&def, &dirs).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "download of {url} broke off at byte 70000 after 1 attempt(s)"
            )),
            "{err}"
        );
        assert!(err.ends_with("run again to resume from there"), "{err}");
        assert_eq!(std::fs::metadata(dirs.scratch.join("f.bin.part")).unwrap().len(), 70_000);
        assert!(tree(&dirs.out).is_empty());

        run(&def, &dirs).unwrap();
        assert_eq!(server.ranges(), [None, Some("bytes=70000-".to_string())]);
        assert!(std::fs::read(dirs.out.join("f.bin")).unwrap() == payload);
    }

    #[test]
    fn a_server_ignoring_range_makes_the_download_restart_from_zero() {
        let payload = payload();
        let server = TestServer::start(Behaviour {
            payload: payload.clone(),
            ignore_range: true,
            ..Behaviour::default()
        });
        let dirs = dirs();
        std::fs::write(dirs.scratch.join("f.bin.part"), vec![0xFF; 1000]).unwrap();
        run(&url_params(&server.url("/f.bin"), &md5_hex(&payload)), &dirs).unwrap();
        assert_eq!(server.ranges(), [Some("bytes=1000-".to_string())]);
        assert!(std::fs::read(dirs.out.join("f.bin")).unwrap() == payload);
    }

    #[test]
    fn a_complete_partial_file_is_confirmed_by_416_and_not_fetched_again() {
        let payload = payload();
        let server =
            TestServer::start(Behaviour { payload: payload.clone(), ..Behaviour::default() });
        let dirs = dirs();
        std::fs::write(dirs.scratch.join("f.bin.part"), &payload).unwrap();
        run(&url_params(&server.url("/f.bin"), &md5_hex(&payload)), &dirs).unwrap();
        assert_eq!(server.ranges(), [Some("bytes=200000-".to_string())]);
        assert!(std::fs::read(dirs.out.join("f.bin")).unwrap() == payload);
    }

    #[test]
    fn a_503_is_retried_until_the_server_answers() {
        let payload = payload();
        let server = TestServer::start(Behaviour {
            payload: payload.clone(),
            unavailable_first: 2,
            ..Behaviour::default()
        });
        let dirs = dirs();
        run(&url_params(&server.url("/f.bin"), &md5_hex(&payload)), &dirs).unwrap();
        assert_eq!(server.ranges(), [None, None, None]);
        assert!(std::fs::read(dirs.out.join("f.bin")).unwrap() == payload);
    }

    #[test]
    fn a_503_that_persists_fails_after_the_retries() {
        let server = TestServer::start(Behaviour {
            payload: payload(),
            unavailable_first: 100,
            ..Behaviour::default()
        });
        let dirs = dirs();
        let url = server.url("/f.bin");
        let def = params(&format!("url = \"{url}\"\nmd5 = \"{}\"\nretries = 2", "0".repeat(32)));
        let err = run(&def, &dirs).unwrap_err().to_string();
        assert_eq!(err, format!("{url} answered HTTP status 503 after 3 attempt(s)"));
        assert_eq!(server.ranges().len(), 3);
    }

    #[test]
    fn a_wrong_checksum_names_both_digests_and_leaves_nothing() {
        let payload = payload();
        let server =
            TestServer::start(Behaviour { payload: payload.clone(), ..Behaviour::default() });
        let dirs = dirs();
        let wrong = "0123456789abcdef0123456789abcdef";
        let err = run(&url_params(&server.url("/f.bin"), wrong), &dirs).unwrap_err().to_string();
        assert_eq!(
            err,
            format!("md5 mismatch for `f.bin`: expected {wrong}, got {}", md5_hex(&payload))
        );
        assert!(tree(&dirs.out).is_empty());
        assert!(!dirs.scratch.join("f.bin.part").exists(), "the next attempt starts clean");
    }

    #[test]
    fn a_downloaded_zip_is_extracted_with_its_nested_folders() {
        let archive = build_zip(&[
            ("Actor_01/", b""),
            ("Actor_01/03-01-01-01-01-01-01.wav", b"RIFF neutral"),
            ("Actor_02/sub/deep.txt", b"deep"),
            ("Actor_03/empty/", b""),
            ("readme.txt", b"RAVDESS"),
        ]);
        let server =
            TestServer::start(Behaviour { payload: archive.clone(), ..Behaviour::default() });
        let dirs = dirs();
        let sha256 = format!("{:x}", sha2::Sha256::digest(&archive));
        let def = params(&format!(
            "url = \"{}\"\nsha256 = \"{sha256}\"",
            server.url("/files/Audio_Speech_Actors_01-24.zip")
        ));
        run(&def, &dirs).unwrap();
        let out = tree(&dirs.out);
        let expected: BTreeMap<String, Vec<u8>> = [
            ("Actor_01/03-01-01-01-01-01-01.wav", &b"RIFF neutral"[..]),
            ("Actor_02/sub/deep.txt", b"deep"),
            ("readme.txt", b"RAVDESS"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_vec()))
        .collect();
        assert_eq!(out, expected);
        assert!(dirs.out.join("Actor_03/empty").is_dir());
    }

    /// Writes `archive` under `dirs.root` and runs the stage on it with `path`.
    fn run_on_local_zip(archive: &[u8], dirs: &Dirs) -> String {
        let file = dirs.root.path().join("archive.zip");
        std::fs::write(&file, archive).unwrap();
        let def = params(&format!("path = \"{}\"", file.display()));
        run(&def, dirs).unwrap_err().to_string()
    }

    #[test]
    fn a_zip_entry_with_dotdot_is_refused_by_name_and_nothing_is_written() {
        let dirs = dirs();
        let archive = build_zip(&[("ok.txt", b"fine"), ("../evil.txt", b"pwned")]);
        let err = run_on_local_zip(&archive, &dirs);
        assert!(err.ends_with("entry `../evil.txt` would be written outside the output folder; refusing to extract"), "{err}");
        assert!(tree(&dirs.out).is_empty());
        assert!(!dirs.root.path().join("evil.txt").exists());
    }

    #[test]
    fn a_zip_entry_with_an_absolute_path_is_refused_by_name_and_nothing_is_written() {
        let dirs = dirs();
        let target = dirs.root.path().join("absolute_evil.txt");
        let name = target.to_string_lossy().into_owned();
        let archive = build_zip(&[("ok.txt", b"fine"), (&name, b"pwned")]);
        let err = run_on_local_zip(&archive, &dirs);
        assert!(err.contains(&format!("entry `{name}` would be written outside")), "{err}");
        assert!(tree(&dirs.out).is_empty());
        assert!(!target.exists());
    }

    #[test]
    fn a_local_folder_is_mirrored() {
        let dirs = dirs();
        let src = dirs.root.path().join("ravdess");
        std::fs::create_dir_all(src.join("Actor_01")).unwrap();
        std::fs::write(src.join("Actor_01/03-01-05-01-01-01-01.wav"), b"angry").unwrap();
        std::fs::write(src.join("notes.txt"), b"n").unwrap();
        run(&params(&format!("path = \"{}\"", src.display())), &dirs).unwrap();
        let out = tree(&dirs.out);
        assert_eq!(out.len(), 2);
        assert_eq!(out["Actor_01/03-01-05-01-01-01-01.wav"], b"angry");
        assert_eq!(out["notes.txt"], b"n");
    }

    #[test]
    fn a_local_folder_with_a_checksum_is_an_error() {
        let dirs = dirs();
        let def =
            params(&format!("path = \"{}\"\nmd5 = \"{}\"", dirs.scratch.display(), "a".repeat(32)));
        let err = run(&def, &dirs).unwrap_err().to_string();
        assert!(
            err.ends_with(
                "is a folder, but checksums (`md5`, `sha256`, `blake3`) apply to a single file"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_local_copy_replaces_the_url_it_copies() {
        let first = dirs();
        let archive = build_zip(&[("Actor_01/a.wav", b"a")]);
        let file = first.root.path().join("Audio_Speech_Actors_01-24.zip");
        std::fs::write(&file, &archive).unwrap();
        // An unreachable URL is never tried: the local zip is checked against its md5.
        let url = "http://127.0.0.1:9/Audio_Speech_Actors_01-24.zip";
        let table = |path: &Path, md5: &str| format!("url = \"{url}\"\nmd5 = \"{md5}\"\npath = \"{}\"", path.display());
        run(&params(&table(&file, &md5_hex(&archive))), &first).unwrap();
        assert_eq!(tree(&first.out).keys().collect::<Vec<_>>(), ["Actor_01/a.wav"]);
        let wrong = dirs();
        std::fs::write(wrong.root.path().join("copy.zip"), &archive).unwrap();
        let err = run(&params(&table(&wrong.root.path().join("copy.zip"), &"0".repeat(32))), &wrong).unwrap_err();
        assert!(err.to_string().contains("md5"), "{err}");
        // An extracted copy (a folder) is taken as it is: the md5 describes the URL's zip.
        let extracted = dirs();
        let folder = extracted.root.path().join("ravdess");
        std::fs::create_dir_all(folder.join("Actor_01")).unwrap();
        std::fs::write(folder.join("Actor_01/a.wav"), b"a").unwrap();
        run(&params(&table(&folder, &md5_hex(&archive))), &extracted).unwrap();
        assert_eq!(tree(&extracted.out)["Actor_01/a.wav"], b"a");
        // The same goes for a hub model: a local folder replaces `hub`.
        assert!(configure(&format!("hub = \"x/y\"\npath = \"{}\"", folder.display())).is_ok());
    }

    #[test]
    fn a_local_zip_is_verified_and_extracted() {
        let dirs = dirs();
        let archive = build_zip(&[("a/b/c.txt", b"abc"), ("top.txt", b"top")]);
        let file = dirs.root.path().join("corpus.zip");
        std::fs::write(&file, &archive).unwrap();
        run(
            &params(&format!("path = \"{}\"\nmd5 = \"{}\"", file.display(), md5_hex(&archive))),
            &dirs,
        )
        .unwrap();
        let out = tree(&dirs.out);
        assert_eq!(out.keys().collect::<Vec<_>>(), ["a/b/c.txt", "top.txt"]);
        assert_eq!(out["a/b/c.txt"], b"abc");
        assert!(file.exists(), "the user's file stays where it was");
    }

    #[test]
    fn extract_none_keeps_a_zip_and_extract_zip_refuses_other_files() {
        let kept = dirs();
        let archive = build_zip(&[("x.txt", b"x")]);
        let zip_file = kept.root.path().join("keep.zip");
        std::fs::write(&zip_file, &archive).unwrap();
        run(&params(&format!("path = \"{}\"\nextract = \"none\"", zip_file.display())), &kept)
            .unwrap();
        assert_eq!(
            tree(&kept.out).into_iter().collect::<Vec<_>>(),
            [("keep.zip".to_string(), archive)]
        );

        let refused = dirs();
        let text = refused.root.path().join("plain.txt");
        std::fs::write(&text, b"not a zip").unwrap();
        let err =
            run(&params(&format!("path = \"{}\"\nextract = \"zip\"", text.display())), &refused)
                .unwrap_err()
                .to_string();
        assert_eq!(
            err,
            format!(
                "`{}` is not a zip archive, but the stage has `extract = \"zip\"`",
                text.display()
            )
        );
    }

    #[test]
    fn an_unreachable_host_suggests_downloading_by_hand() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dirs = dirs();
        let url = format!("http://127.0.0.1:{port}/Audio_Speech_Actors_01-24.zip");
        let def = params(&format!("url = \"{url}\"\nmd5 = \"{}\"\nretries = 1", "0".repeat(32)));
        let err = run(&def, &dirs).unwrap_err().to_string();
        assert!(err.starts_with(&format!("cannot reach {url} after 2 attempt(s): ")), "{err}");
        assert!(
            err.ends_with(
                "The network may be offline: download the file by hand (or copy it, or its extracted \
                 folder, here) and run again with `--set data.path=PATH` (a local copy replaces \
                 `url`; or write `path` into the pipeline, relative to its file)"
            ),
            "{err}"
        );
        assert!(tree(&dirs.out).is_empty());
    }

    #[test]
    fn hub_files_are_fetched_from_the_endpoint_under_their_repository_paths() {
        let payload = payload();
        let server =
            TestServer::start(Behaviour { payload: payload.clone(), ..Behaviour::default() });
        let dirs = dirs();
        let def = params(
            "hub = \"org/tiny-w2v\"\nrevision = \"3f2a9c1\"\n\
             files = [\"config.json\", \"weights/model.safetensors\"]",
        );
        run_hub(&def, &dirs, &server.url("/mirror/")).unwrap();
        assert_eq!(
            server.paths(),
            [
                "/mirror/org/tiny-w2v/resolve/3f2a9c1/config.json",
                "/mirror/org/tiny-w2v/resolve/3f2a9c1/weights/model.safetensors"
            ]
        );
        let out = tree(&dirs.out);
        assert_eq!(out.keys().collect::<Vec<_>>(), ["config.json", "weights/model.safetensors"]);
        assert!(out.values().all(|bytes| *bytes == payload));
        assert_eq!(std::fs::read_dir(&dirs.scratch).unwrap().count(), 0, "no .part file is left");
    }

    #[test]
    fn an_unreachable_hub_says_how_to_use_a_local_copy() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dirs = dirs();
        let def = Download {
            retries: Some(0),
            ..params("hub = \"jonatasgrosman/wav2vec2-large-xlsr-53-english\"")
        };
        let endpoint = format!("http://127.0.0.1:{port}");
        let err = run_hub(&def, &dirs, &endpoint).unwrap_err().to_string();
        assert!(
            err.starts_with(&format!(
                "cannot reach the Hugging Face hub at {endpoint} for \
                 `jonatasgrosman/wav2vec2-large-xlsr-53-english`: "
            )),
            "{err}"
        );
        assert!(
            err.contains(
                "(`huggingface-cli download jonatasgrosman/wav2vec2-large-xlsr-53-english \
                 --local-dir models/NAME`), copy the folder here and run again with `--set \
                 data.path=models/NAME`"
            ),
            "{err}"
        );
        assert!(tree(&dirs.out).is_empty());
    }

    #[test]
    fn https_sets_up_tls_and_a_hung_up_handshake_is_retried() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        // Accepts the two connections the stage makes and hangs up on each, mid-handshake.
        let hang_up = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            let mut accepted = 0;
            while accepted < 2 && std::time::Instant::now() < deadline {
                match listener.accept() {
                    Ok(_) => accepted += 1,
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            accepted
        });
        let dirs = dirs();
        let url = format!("https://127.0.0.1:{port}/f.zip");
        let def = params(&format!("url = \"{url}\"\nmd5 = \"{}\"\nretries = 1", "0".repeat(32)));
        let err = run(&def, &dirs).unwrap_err().to_string();
        assert_eq!(hang_up.join().unwrap(), 2, "both attempts reached the server");
        assert!(err.starts_with(&format!("cannot reach {url} after 2 attempt(s): ")), "{err}");
    }

    /// Parses and validates a table through the engine-facing adapter; the error as `path: message`.
    fn configure(table: &str) -> Result<serde_json::Value, String> {
        let table: toml::Table = toml::from_str(table).unwrap();
        vox_api::kind::<Download>()
            .configure(table)
            .map(|stage| stage.params())
            .map_err(|e| format!("{}: {}", e.path, e.message))
    }

    #[test]
    fn resolved_params_carry_every_default_that_decides_the_bytes() {
        // A hub fetch: its revision and files, defaults filled in.
        let hub = configure("hub = \"org/m\"").unwrap();
        assert_eq!(
            hub,
            serde_json::json!({
                "url": null, "hub": "org/m", "revision": "main",
                "files": ["config.json", "model.safetensors|pytorch_model.bin", "preprocessor_config.json?"],
                "path": null, "md5": null, "sha256": null, "blake3": null, "extract": "auto"
            })
        );
        // A local folder: no hub files, and how hard a fetch tries is never part of a key.
        let local = configure("path = \"/data/ravdess\"").unwrap();
        assert_eq!(
            local,
            serde_json::json!({
                "url": null, "hub": null, "path": "/data/ravdess",
                "md5": null, "sha256": null, "blake3": null, "extract": "auto"
            })
        );
        assert_eq!(configure("hub = \"org/m\"\nretries = 9\ntimeout = 5").unwrap(), hub);
        // A local copy of a hub model replaces the fetch: its files are what the folder holds.
        let copy = configure("hub = \"org/m\"\npath = \"/m\"\nrevision = \"v2\"").unwrap();
        assert_eq!(copy.get("revision"), None, "{copy}");
        assert_eq!(copy.get("files"), None, "{copy}");
    }

    #[test]
    fn validation_names_the_offending_param() {
        let md5 = "bc696df654c87fed845eb13823edef8a";
        let zenodo =
            "https://zenodo.org/records/1188976/files/Audio_Speech_Actors_01-24.zip?download=1";
        assert!(configure(&format!("url = \"{zenodo}\"\nmd5 = \"{md5}\"")).is_ok());
        assert!(configure("hub = \"x/y\"\nfiles = [\"config.json\", \"a.safetensors|a.bin?\"]").is_ok());
        let cases = [
            (
                "extract = \"auto\"".to_string(),
                "url: give `url` (a file to download), `hub` (a Hugging Face model) or `path`",
            ),
            (format!("hub = \"x/y\"\nurl = \"{zenodo}\""), "hub: give `url` or `hub`, not both"),
            ("hub = \"xlsr\"".to_string(), "hub: `xlsr` is not a hub repository id"),
            ("hub = \"a/b/c\"".to_string(), "hub: `a/b/c` is not a hub repository id"),
            (
                format!("hub = \"x/y\"\nmd5 = \"{md5}\""),
                "hub: checksums apply to one file; pin hub files with a commit hash",
            ),
            ("hub = \"x/y\"\nrevision = \"a/b\"".to_string(), "revision: `a/b` is not a branch"),
            ("hub = \"x/y\"\nfiles = []".to_string(), "files: name at least one file"),
            (
                "hub = \"x/y\"\nfiles = [\"config.json\", \"a.bin|../up\"]".to_string(),
                "files[1]: `../up` is not a file path inside the repository",
            ),
            (
                // One trailing `?` marks an optional entry; any other `?` is no path.
                "hub = \"x/y\"\nfiles = [\"config.json\", \"a.json??\"]".to_string(),
                "files[1]: `a.json?` is not a file path inside the repository",
            ),
            (format!("url = \"{zenodo}\""), "url: a download needs a checksum"),
            (
                format!("url = \"ftp://h/f.zip\"\nmd5 = \"{md5}\""),
                "url: `ftp://h/f.zip` is not an http:// or https:// URL",
            ),
            (
                format!("url = \"https://h/dir/\"\nmd5 = \"{md5}\""),
                "url: `https://h/dir/` does not end in a file name",
            ),
            (
                "path = \"x\"\nmd5 = \"abc\"".to_string(),
                "md5: a md5 digest has 32 hex digits, `abc` has 3",
            ),
            (
                format!("path = \"x\"\nblake3 = \"{md5}\""),
                "blake3: a blake3 digest has 64 hex digits",
            ),
            (
                "hub = \"x/y\"\ntimeout = 0".to_string(),
                "timeout: `timeout` is in seconds and must be at least 1",
            ),
            ("path = \"x\"\nextract = \"tar\"".to_string(), "extract: unknown variant `tar`"),
            (
                "path = \"x\"\nfiles = [\"a.wav\"]".to_string(),
                "files: `files` applies to a `hub` download only, and this one has none",
            ),
            (
                format!("url = \"{zenodo}\"\nmd5 = \"{md5}\"\nrevision = \"v1\""),
                "revision: `revision` applies to a `hub` download only",
            ),
            ("path = \"x\"\nretries = 3".to_string(), "retries: `retries` applies to a `url` or `hub` download only"),
            ("path = \"x\"\nchecksum = \"y\"".to_string(), "checksum: unknown field `checksum`"),
        ];
        for (table, expected) in cases {
            let err = configure(&table).unwrap_err();
            assert!(err.starts_with(expected), "{table}\n  got: {err}\n  want: {expected}");
        }
    }
}
