//! The content-addressed cache: entries and records here; keys in [`key`], locks in [`lock`],
//! the external-file stat cache in [`external`], verify and gc in [`maintain`].
//!
//! A stage's key is blake3 over a canonical JSON encoding (sorted maps) of [`KeyComponents`]:
//!
//! | hashed into the key                               | never in the key                      |
//! |---------------------------------------------------|---------------------------------------|
//! | stage kind and its implementation version         | stage and input names (renames are free) |
//! | resolved params, every default filled in (`seed`  | absolute paths (path params are keyed by content) |
//! | too: the pipeline's seed unless the stage sets it) | the pipeline seed for kinds without a `seed` param |
//! | backend                                           | wall clock, mtimes, thread counts, `--jobs` |
//! | content hash of each input's output, in order     | the upstream stages' keys             |
//! | names, only for kinds whose outputs show them     | params the others leave unread (`vox_api::StageDef::unread`: a listed split's seed) |
//!
//! Stage names stay out of every key except those of kinds that declare
//! `vox_api::StageDef::OUTPUT_NAMES` (evaluate's tables and figures, the vote's weights name the
//! models): for them the stage's and its inputs' names are hashed, so a rename reruns them (they
//! take seconds) instead of serving outputs that show the old names, while every other stage's
//! rename stays free. No other kind writes a name into its outputs (a test renames every stage
//! of a pipeline and finds no old name in any entry the rerun uses).
//!
//! Keying on the inputs' *output* hashes (a Merkle chain over content, not over keys) gives early
//! cutoff: an upstream rerun that yields identical bytes leaves downstream keys unchanged. The
//! output hash skips `report/` (plots, tables and logs for people), which no stage reads.
//!
//! Layout under the cache root:
//!
//! ```text
//! entries/<k0k1>/<key>/entry.json   manifest: key, components, output hash, every file's size, mtime, blake3
//! entries/<k0k1>/<key>/out/...      the stage's outputs (read-only by convention)
//! records/<pipeline>/<stage>.json   the components last used for a stage, to explain why it reruns
//! locks/<key>.lock                  per-entry lock, present while a process builds the entry: made
//!                                   with O_EXCL, its owner (host, pid) inside, its mtime a
//!                                   heartbeat; see [`lock`] for why this holds on NFS
//! tmp/<key>.<host>-<pid>-<n>/       an entry being built; renamed into entries/ only when complete
//! tmp/<key>.replaced.<host>-<pid>-<n>/ an entry a rebuild replaced, being deleted in the background
//!                                   (`vox gc` removes one that a killed run left)
//! scratch/<key>/                    survives a failed attempt (partial downloads, checkpoints)
//! external.json                     (path, size, mtime, inode) -> blake3 for files outside the cache
//!                                   (merged under a lock on save: no process loses another's)
//! ```
//!
//! What a cache shared by many processes and hosts relies on: `rename` within one file system
//! is atomic (entries, records, `external.json` and run-folder files are written aside and
//! renamed into place), `O_EXCL` create is atomic (locks; NFSv3 and later honour it, where
//! `flock` may not be), and the file server stamping mtimes with its own clock (a lock whose
//! heartbeat is older than [`lock::STALE`] by that clock is taken over; the hosts' clocks do
//! not matter).
//! Temp names carry the host as well as the process (`crate::host`), so two nodes never pick
//! the same one.
//!
//! An entry is a hit only if its manifest parses and every file still has its recorded size and
//! mtime; a file whose stat changed is rehashed, and a hash mismatch makes the entry corrupt: it
//! is reported and recomputed. `entry.json`'s mtime records when the entry was last used.
//!
//! A rebuilt entry (forced, or corrupt) replaces the old one only when it commits, so a rebuild
//! that fails or is killed keeps what was there. The old entry is then set aside and deleted on
//! a background thread (freeing a large file's pages takes tens of milliseconds that the next
//! stage need not wait for); dropping the [`Cache`] waits for those deletions.

mod damage;
mod external;
mod key;
pub mod lock;
mod maintain;

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

pub use damage::Damage;
pub use key::{InputComponent, KeyComponents};
pub use lock::EntryLock;
pub use maintain::GcReport;

/// One output file of an entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Path relative to `out/`, with `/` separators.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the epoch (the stat fast path).
    pub mtime_ns: u64,
    /// blake3 of the contents.
    pub blake3: String,
}

/// `entry.json`: what an entry holds and how it was made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EntryManifest {
    /// The entry's key.
    pub key: String,
    /// blake3 over the sorted (path, file hash) list: what downstream keys see.
    pub output_hash: String,
    /// What the key was made of.
    pub components: KeyComponents,
    /// How long the stage ran, seconds.
    pub seconds: f64,
    /// Every output file.
    pub files: Vec<FileRecord>,
    /// The keys of the shared work (`vox_api::memo`) the stage made or read: `vox gc` keeps
    /// them with this entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shared: Vec<String>,
}

/// The components last used for a stage of a pipeline.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// The key.
    pub key: String,
    /// Its components.
    pub components: KeyComponents,
}

/// The result of looking a key up.
pub enum Lookup {
    /// A complete, intact entry.
    Hit(EntryManifest),
    /// No entry.
    Miss,
    /// An entry that is damaged; how.
    Corrupt(Damage),
}

/// What [`Cache::claim`] gives a builder of a key.
pub enum Claim {
    /// Another process built the entry while this one waited for the lock.
    Built(EntryManifest),
    /// This one builds it, holding the key's lock: fill `out_dir`, then commit or abandon.
    Build(Pending, EntryLock),
}

/// The cache's steps around building an entry (a stage's, or shared work).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStep {
    /// Taking the entry's lock.
    Lock,
    /// Making the entry's temporary folders.
    Prepare,
    /// Hashing and moving the outputs into the entry.
    Commit,
}

impl fmt::Display for CacheStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Lock => "lock cache entry",
            Self::Prepare => "prepare cache entry",
            Self::Commit => "store outputs in the cache",
        })
    }
}

/// An entry being built: its temp folder and output folder.
pub struct Pending {
    key: String,
    tmp: PathBuf,
    /// Where the stage writes its outputs.
    pub out_dir: PathBuf,
    /// The key's scratch folder.
    pub scratch_dir: PathBuf,
}

/// A cache rooted at a folder.
pub struct Cache {
    root: PathBuf,
    external: Mutex<external::Known>,
    /// Deletions of replaced entries still running; joined on drop.
    deletions: Mutex<Vec<JoinHandle<()>>>,
}

impl Cache {
    /// Opens (creating if needed) the cache at `root`.
    pub fn open(root: &Path) -> io::Result<Self> {
        for sub in ["entries", "records", "locks", "tmp", "scratch"] {
            fs::create_dir_all(root.join(sub))?;
        }
        let external = external::Known::read(root);
        Ok(Self { root: root.to_path_buf(), external: Mutex::new(external), deletions: Mutex::default() })
    }

    /// The cache at `root` for commands that only read it (`plan`, `explain`, `dag`,
    /// `predict`): opened as usual when it exists, else an empty cache that creates nothing on
    /// disk (so `vox plan` does not leave a `cache/` folder wherever it is typed).
    pub fn open_to_read(root: &Path) -> io::Result<Self> {
        if root.is_dir() {
            return Self::open(root);
        }
        Ok(Self { root: root.to_path_buf(), external: Mutex::default(), deletions: Mutex::default() })
    }

    /// The cache root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn entry_dir(&self, key: &str) -> PathBuf {
        self.root.join("entries").join(&key[..2.min(key.len())]).join(key)
    }

    /// The output folder of the entry `key`.
    pub fn out_dir(&self, key: &str) -> PathBuf {
        self.entry_dir(key).join("out")
    }

    /// Looks `key` up, checking every file's size and mtime and rehashing those that changed.
    pub fn lookup(&self, key: &str) -> Lookup {
        let dir = self.entry_dir(key);
        let manifest_path = dir.join("entry.json");
        let bytes = match fs::read(&manifest_path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return if dir.exists() { Lookup::Corrupt(Damage::NoManifest) } else { Lookup::Miss };
            }
            Err(e) => return Lookup::Corrupt(Damage::ManifestUnreadable(e.kind())),
        };
        let manifest: EntryManifest = match serde_json::from_slice(&bytes) {
            Ok(m) => m,
            Err(e) => return Lookup::Corrupt(Damage::ManifestInvalid { line: e.line(), column: e.column() }),
        };
        for file in &manifest.files {
            if let Err(damage) = check_file(&dir.join("out").join(&file.path), file, false) {
                return Lookup::Corrupt(damage);
            }
        }
        Lookup::Hit(manifest)
    }

    /// Takes the exclusive lock of `key`, waiting for another process (on any host) that holds
    /// it.
    pub fn lock(&self, key: &str) -> io::Result<EntryLock> {
        lock::acquire(&self.root.join("locks"), key)
    }

    /// The lock of `key` if no one holds it.
    fn try_lock(&self, key: &str) -> io::Result<EntryLock> {
        lock::try_acquire(&self.root.join("locks"), key)?.ok_or_else(|| io::Error::new(io::ErrorKind::WouldBlock, "locked"))
    }

    /// The right to build `key`, after a lookup found it missing (or `forced`): takes its lock
    /// (waiting for another process that builds it), looks again unless forced (the other may
    /// have built it meanwhile: then that entry, touched), and prepares the attempt.
    pub fn claim(&self, key: &str, forced: bool) -> Result<Claim, (CacheStep, io::Error)> {
        let lock = self.lock(key).map_err(|e| (CacheStep::Lock, e))?;
        if !forced && let Lookup::Hit(manifest) = self.lookup(key) {
            self.touch(key);
            return Ok(Claim::Built(manifest));
        }
        let pending = self.prepare(key, &lock).map_err(|e| (CacheStep::Prepare, e))?;
        Ok(Claim::Build(pending, lock))
    }

    /// Starts building `key` (the caller holds its lock): removes leftovers of interrupted
    /// attempts and makes a fresh temp folder. An existing entry stays until [`Cache::commit`]
    /// replaces it.
    pub fn prepare(&self, key: &str, _lock: &EntryLock) -> io::Result<Pending> {
        let tmp_root = self.root.join("tmp");
        for leftover in fs::read_dir(&tmp_root)? {
            let leftover = leftover?;
            let name = leftover.file_name().to_string_lossy().into_owned();
            // Replaced entries are this or another process's background deletions.
            if name.starts_with(&format!("{key}.")) && !name.starts_with(&format!("{key}.replaced.")) {
                tracing::debug!("removing leftover of an interrupted attempt: {}", leftover.path().display());
                remove_dir_all_if_present(&leftover.path())?;
            }
        }
        let tmp = tmp_root.join(format!("{key}.{}", crate::host::unique_suffix()));
        let out_dir = tmp.join("out");
        fs::create_dir_all(&out_dir)?;
        let scratch_dir = self.root.join("scratch").join(key);
        fs::create_dir_all(&scratch_dir)?;
        Ok(Pending { key: key.to_string(), tmp, out_dir, scratch_dir })
    }

    /// Drops a failed attempt's outputs. Its scratch folder stays for the next attempt when the
    /// stage left something there (checkpoints, a partial download); an empty one goes.
    pub fn abandon(&self, pending: Pending) {
        let _ = fs::remove_dir_all(&pending.tmp);
        let _ = fs::remove_dir(&pending.scratch_dir);
    }

    /// Seals a finished attempt: hashes its files, writes `entry.json` (with the keys of the
    /// shared work it used), renames it into place (setting aside any entry it replaces, which
    /// is deleted in the background).
    pub fn commit(&self, pending: Pending, components: KeyComponents, seconds: f64, shared: Vec<String>) -> io::Result<EntryManifest> {
        let mut files = Vec::new();
        collect_files(&pending.out_dir, &pending.out_dir, &mut files)?;
        files.sort();
        let records = files
            .iter()
            .map(|rel| {
                let path = pending.out_dir.join(rel);
                let meta = fs::metadata(&path)?;
                Ok(FileRecord { path: rel.clone(), size: meta.len(), mtime_ns: mtime_ns(&meta), blake3: hash_file(&path)? })
            })
            .collect::<io::Result<Vec<_>>>()?;
        let manifest = EntryManifest {
            key: pending.key.clone(),
            output_hash: output_hash(&records),
            components,
            seconds,
            files: records,
            shared,
        };
        write_json(&pending.tmp.join("entry.json"), &manifest, true)?;
        let dest = self.entry_dir(&pending.key);
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        let replaced = self.set_aside(&pending.key, "replaced")?;
        fs::rename(&pending.tmp, &dest)?;
        if let Some(replaced) = replaced {
            self.delete_in_background(replaced);
        }
        let _ = fs::remove_dir_all(&pending.scratch_dir);
        Ok(manifest)
    }

    /// Moves the entry `key`, if any, out of `entries/` to `tmp/<key>.<why>.<pid>.<n>` (one
    /// rename: no reader ever sees a half-deleted entry); returns where it went.
    fn set_aside(&self, key: &str, why: &str) -> io::Result<Option<PathBuf>> {
        let dir = self.entry_dir(key);
        let aside = self.root.join("tmp").join(format!("{key}.{why}.{}", crate::host::unique_suffix()));
        match fs::rename(&dir, &aside) {
            Ok(()) => Ok(Some(aside)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes `dir` on a thread of its own; [`Cache`]'s drop waits for it.
    fn delete_in_background(&self, dir: PathBuf) {
        let deletion = std::thread::spawn(move || {
            if let Err(e) = remove_dir_all_if_present(&dir) {
                tracing::warn!("cannot delete the replaced cache entry `{}`: {e}", dir.display());
            }
        });
        self.deletions.lock().unwrap_or_else(|e| e.into_inner()).push(deletion);
    }

    /// Removes the entry `key` if present (the caller holds its lock).
    pub fn remove_entry(&self, key: &str) -> io::Result<()> {
        match self.set_aside(key, "removed")? {
            Some(doomed) => remove_dir_all_if_present(&doomed),
            None => Ok(()),
        }
    }

    /// Marks the entry `key` as used now (for `vox gc --days`).
    pub fn touch(&self, key: &str) {
        if let Ok(f) = File::options().write(true).open(self.entry_dir(key).join("entry.json")) {
            let _ = f.set_modified(SystemTime::now());
        }
    }

    fn record_path(&self, pipeline: &str, stage: &str) -> PathBuf {
        self.root.join("records").join(sanitize(pipeline)).join(format!("{}.json", sanitize(stage)))
    }

    /// The components last used for `stage` of `pipeline`.
    pub fn read_record(&self, pipeline: &str, stage: &str) -> Option<Record> {
        fs::read(self.record_path(pipeline, stage)).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Remembers the components used for `stage` of `pipeline`; a no-op when they are the ones
    /// already recorded (so that a cached run writes nothing).
    pub fn write_record(&self, pipeline: &str, stage: &str, record: &Record) -> io::Result<()> {
        if self.read_record(pipeline, stage).is_some_and(|old| old.key == record.key && old.components == record.components) {
            return Ok(());
        }
        let path = self.record_path(pipeline, stage);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        // Records only explain reruns: atomic, but not worth an fsync.
        write_json(&path, record, false)
    }
}

impl Drop for Cache {
    /// Waits for the background deletions of replaced entries.
    fn drop(&mut self) {
        let deletions = std::mem::take(self.deletions.get_mut().unwrap_or_else(|e| e.into_inner()));
        if deletions.is_empty() {
            return;
        }
        let waiting = std::time::Instant::now();
        let count = deletions.len();
        for deletion in deletions {
            let _ = deletion.join();
        }
        tracing::debug!("deleted {count} replaced cache entries ({:.3}s spent waiting)", waiting.elapsed().as_secs_f64());
    }
}

/// Removes `dir` and everything under it; a folder that is already gone is not an error.
fn remove_dir_all_if_present(dir: &Path) -> io::Result<()> {
    match fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Checks one output file against its record; with `full`, always rehashes.
fn check_file(path: &Path, record: &FileRecord, full: bool) -> Result<(), Damage> {
    let file = || record.path.clone();
    let meta = fs::metadata(path).map_err(|_| Damage::Missing { file: file() })?;
    if meta.len() != record.size {
        return Err(Damage::Size { file: file(), found: meta.len(), expected: record.size });
    }
    if full || mtime_ns(&meta) != record.mtime_ns {
        let hash = hash_file(path).map_err(|e| Damage::Unreadable { file: file(), kind: e.kind() })?;
        if hash != record.blake3 {
            return Err(Damage::Changed { file: file(), found: hash, expected: record.blake3.clone() });
        }
    }
    Ok(())
}

/// blake3 of a file (memory-mapped and multithreaded for large files).
pub fn hash_file(path: &Path) -> io::Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update_mmap_rayon(path)?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// The content hash of the audio set in the entry folder `out_dir` with its clips' split left
/// out: [`output_hash`] with `manifest.csv` hashed as [`vox_api::memo::split_blind_manifest`]
/// makes it; the other files' hashes come from `entry.json`.
pub fn split_blind_hash(out_dir: &Path) -> io::Result<String> {
    let entry = out_dir.parent().unwrap_or(out_dir).join("entry.json");
    let manifest: EntryManifest = serde_json::from_slice(&fs::read(&entry)?).map_err(io::Error::other)?;
    let mut files = manifest.files;
    for file in files.iter_mut().filter(|f| f.path == vox_api::audio::MANIFEST) {
        let blind = vox_api::memo::split_blind_manifest(out_dir).map_err(io::Error::other)?;
        file.blake3 = blake3::hash(&blind).to_hex().to_string();
    }
    Ok(output_hash(&files))
}

/// The content hash downstream keys see: every output file except the human-facing `report/`
/// folder, so that a changed plot or log never dirties the stages that read the data.
fn output_hash(files: &[FileRecord]) -> String {
    let mut hasher = blake3::Hasher::new();
    for f in files.iter().filter(|f| !f.path.starts_with("report/")) {
        hasher.update(f.path.as_bytes()).update(b"\0").update(f.blake3.as_bytes()).update(b"\n");
    }
    hasher.finalize().to_hex().to_string()
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
        }
    }
    Ok(())
}

fn mtime_ns(meta: &fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos() as u64)
}

fn dir_size(dir: &Path) -> u64 {
    let mut files = Vec::new();
    if collect_files(dir, dir, &mut files).is_err() {
        return 0;
    }
    files.iter().filter_map(|f| fs::metadata(dir.join(f)).ok()).map(|m| m.len()).sum()
}

/// Writes JSON atomically (temp file + rename), flushed to disk first when `durable`.
fn write_json<T: Serialize>(path: &Path, value: &T, durable: bool) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", crate::host::unique_suffix()));
    let mut file = File::create(&tmp)?;
    file.write_all(&serde_json::to_vec_pretty(value).map_err(io::Error::other)?)?;
    if durable {
        file.sync_all()?;
    }
    fs::rename(tmp, path)
}

/// A file-name-safe form of a pipeline or stage name.
fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dirty::DirtyReason;
    use std::collections::BTreeSet;
    use std::time::Duration;

    pub(super) fn components(lr: f64) -> KeyComponents {
        KeyComponents {
            kind: "fine-tune".into(),
            version: 1,
            backend: None,
            params: serde_json::json!({"lr": lr, "epochs": 3, "seed": 42}),
            inputs: vec![InputComponent { name: "split".into(), hash: "ab".repeat(32) }],
            names: None,
            shared: None,
        }
    }

    /// Builds `key` with one file `a.txt` holding `text`; `commit` false abandons the attempt.
    fn build(cache: &Cache, c: &KeyComponents, text: &str, commit: bool) {
        let lock = cache.lock(&c.key()).unwrap();
        let pending = cache.prepare(&c.key(), &lock).unwrap();
        fs::write(pending.out_dir.join("a.txt"), text).unwrap();
        if commit {
            cache.commit(pending, c.clone(), 0.1, Vec::new()).unwrap();
        } else {
            cache.abandon(pending);
        }
    }

    /// A claim builds a missing entry, finds one built while it waited for the lock, and
    /// builds again when forced; a waiting claimer gets the lock once the builder commits.
    #[test]
    fn a_claim_builds_once_unless_forced() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::open(root.path()).unwrap();
        let c = components(1e-4);
        let key = c.key();
        let Claim::Build(pending, lock) = cache.claim(&key, false).unwrap() else { panic!("nothing was built") };
        let waiter = std::thread::scope(|scope| {
            let waiting = scope.spawn(|| cache.claim(&key, false).unwrap());
            std::thread::sleep(Duration::from_millis(200));
            fs::write(pending.out_dir.join("a.txt"), "made").unwrap();
            cache.commit(pending, c.clone(), 0.1, Vec::new()).unwrap();
            drop(lock);
            waiting.join().unwrap()
        });
        let Claim::Built(found) = waiter else { panic!("the waiter built it again") };
        assert_eq!(found.files[0].blake3, blake3::hash(b"made").to_hex().to_string());
        assert!(matches!(cache.claim(&key, true).unwrap(), Claim::Build(..)), "forced: built again");
    }

    #[test]
    fn a_rebuild_replaces_the_entry_only_when_it_commits() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::open(root.path()).unwrap();
        let c = components(1e-4);
        let key = c.key();
        let contents = |cache: &Cache| fs::read_to_string(cache.out_dir(&key).join("a.txt")).unwrap();
        build(&cache, &c, "old", true);
        // A rebuild that fails keeps the old entry, intact.
        build(&cache, &c, "failed", false);
        assert!(matches!(cache.lookup(&key), Lookup::Hit(_)));
        assert_eq!(contents(&cache), "old");
        // One that commits replaces it; the old one is deleted once the cache is dropped.
        build(&cache, &c, "new", true);
        let Lookup::Hit(hit) = cache.lookup(&key) else { panic!("expected a hit") };
        assert_eq!(hit.files[0].blake3, blake3::hash(b"new").to_hex().to_string());
        assert_eq!(contents(&cache), "new");
        drop(cache);
        assert_eq!(fs::read_dir(root.path().join("tmp")).unwrap().count(), 0, "tmp/ is empty");
        let reopened = Cache::open(root.path()).unwrap();
        assert_eq!(contents(&reopened), "new");
    }

    #[test]
    fn commit_lookup_and_corruption() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::open(root.path()).unwrap();
        let c = components(1e-4);
        let key = c.key();
        assert!(matches!(cache.lookup(&key), Lookup::Miss));
        let lock = cache.lock(&key).unwrap();
        let pending = cache.prepare(&key, &lock).unwrap();
        fs::create_dir_all(pending.out_dir.join("report")).unwrap();
        fs::write(pending.out_dir.join("a.txt"), b"hello").unwrap();
        fs::write(pending.out_dir.join("report/b.txt"), b"world").unwrap();
        let manifest = cache.commit(pending, c.clone(), 0.5, Vec::new()).unwrap();
        drop(lock);
        let paths: Vec<_> = manifest.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["a.txt", "report/b.txt"]);
        assert_eq!(manifest.files[0].blake3, blake3::hash(b"hello").to_hex().to_string());
        let Lookup::Hit(hit) = cache.lookup(&key) else { panic!("expected a hit") };
        assert_eq!(hit.output_hash, manifest.output_hash);
        assert_eq!(manifest.output_hash, output_hash(&manifest.files[..1]), "report/ is not part of it");

        // Same size, different bytes: the mtime changes, so the file is rehashed and caught.
        std::thread::sleep(Duration::from_millis(10));
        fs::write(cache.out_dir(&key).join("a.txt"), b"jello").unwrap();
        let Lookup::Corrupt(damage) = cache.lookup(&key) else { panic!("expected corruption") };
        let jello = blake3::hash(b"jello").to_hex().to_string();
        let expected = Damage::Changed { file: "a.txt".into(), found: jello.clone(), expected: manifest.files[0].blake3.clone() };
        assert_eq!(damage, expected);
        assert_eq!(damage.to_string(), format!("`a.txt` changed: blake3 {} expected {}", &jello[..12], &manifest.files[0].blake3[..12]));
        let (total, corrupt) = cache.verify().unwrap();
        assert_eq!((total, corrupt.len()), (1, 1));
        assert!(matches!(cache.lookup(&key), Lookup::Miss));
    }

    #[test]
    fn each_kind_of_damage_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path()).unwrap();
        let c = components(1e-4);
        let key = c.key();
        let damage = |cache: &Cache| match cache.lookup(&key) {
            Lookup::Corrupt(damage) => damage,
            _ => panic!("expected corruption"),
        };
        build(&cache, &c, "hello", true);
        let file = cache.out_dir(&key).join("a.txt");
        fs::write(&file, "hello!").unwrap();
        assert_eq!(damage(&cache), Damage::Size { file: "a.txt".into(), found: 6, expected: 5 });
        fs::remove_file(&file).unwrap();
        assert_eq!(damage(&cache), Damage::Missing { file: "a.txt".into() });
        let manifest = cache.entry_dir(&key).join("entry.json");
        fs::write(&manifest, "{\n  \"files\": [").unwrap();
        assert_eq!(damage(&cache), Damage::ManifestInvalid { line: 2, column: 12 });
        fs::remove_file(&manifest).unwrap();
        assert_eq!(damage(&cache), Damage::NoManifest);
        assert_eq!(
            DirtyReason::Corrupt(Damage::NoManifest).to_string(),
            "cache entry corrupt: entry.json is missing"
        );
    }

    #[test]
    fn gc_keeps_referenced_entries_and_their_shared_work() {
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::open(root.path()).unwrap();
        let store = |c: KeyComponents, shared: Vec<String>| {
            let key = c.key();
            let lock = cache.lock(&key).unwrap();
            let pending = cache.prepare(&key, &lock).unwrap();
            fs::write(pending.out_dir.join("w"), b"weights").unwrap();
            cache.commit(pending, c, 0.0, shared).unwrap();
            key
        };
        let work = store(KeyComponents { shared: Some("features".into()), ..components(1.0) }, Vec::new());
        let other_work = store(KeyComponents { shared: Some("features".into()), ..components(2.0) }, Vec::new());
        let kept = store(components(1.0), vec![work.clone()]);
        let doomed = store(components(2.0), vec![other_work.clone()]);
        let keep: BTreeSet<String> = [kept.clone()].into();
        let doomed_bytes = dir_size(&cache.entry_dir(&doomed)) + dir_size(&cache.entry_dir(&other_work));
        assert!(doomed_bytes > 14, "the weights plus entry.json, twice");
        let report = cache.gc(&keep, None).unwrap();
        assert_eq!((report.removed, report.kept, report.bytes), (2, 2, doomed_bytes));
        let mut left = vec![kept, work];
        left.sort();
        assert_eq!(cache.keys().unwrap(), left);
    }
}
