//! The external-file stat cache (`external.json`): the blake3 of each file outside the cache
//! that a key depends on (path params, local sources), reused while the file's size, mtime and
//! inode stay the same, so a no-op rerun reads no audio.
//!
//! Several processes update it at once (a local run and a sweep, or a cluster's jobs), so a
//! save re-reads the file under its lock and merges this process's new records into it: no
//! writer loses another's records.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Cache, collect_files, hash_file, lock, mtime_ns, write_json};

/// One file's stat and hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct StatRecord {
    size: u64,
    mtime_ns: u64,
    inode: u64,
    blake3: String,
}

/// The records this process knows, and which of them it made.
#[derive(Debug, Default)]
pub(super) struct Known {
    records: BTreeMap<String, StatRecord>,
    made: BTreeSet<String>,
}

/// The file, under the cache root.
const FILE: &str = "external.json";

impl Known {
    /// The records saved under `root` (none if the file is missing or damaged).
    pub(super) fn read(root: &Path) -> Self {
        let records = fs::read(root.join(FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        Self { records, made: BTreeSet::new() }
    }
}

impl Cache {
    /// The content hash of a file or folder outside the cache; unchanged files (same size,
    /// mtime and inode) are not read again.
    pub fn external_hash(&self, path: &Path) -> io::Result<String> {
        let meta = fs::metadata(path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        if !meta.is_dir() {
            return self.external_file_hash(path, &meta);
        }
        let mut files = Vec::new();
        collect_files(path, path, &mut files)?;
        files.sort();
        let mut hasher = blake3::Hasher::new();
        for rel in files {
            let full = path.join(&rel);
            let hash = self.external_file_hash(&full, &fs::metadata(&full)?)?;
            hasher.update(rel.as_bytes()).update(b"\0").update(hash.as_bytes()).update(b"\n");
        }
        Ok(hasher.finalize().to_hex().to_string())
    }

    fn external_file_hash(&self, path: &Path, meta: &fs::Metadata) -> io::Result<String> {
        let id = path.display().to_string();
        let stat = (meta.len(), mtime_ns(meta), meta.ino());
        {
            let known = self.external.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(rec) = known.records.get(&id)
                && (rec.size, rec.mtime_ns, rec.inode) == stat
            {
                return Ok(rec.blake3.clone());
            }
        }
        let hash = hash_file(path)?;
        let mut known = self.external.lock().unwrap_or_else(|e| e.into_inner());
        known.records.insert(id.clone(), StatRecord { size: stat.0, mtime_ns: stat.1, inode: stat.2, blake3: hash.clone() });
        known.made.insert(id);
        Ok(hash)
    }

    /// Saves the records this process made, merged into what is on disk now (under the file's
    /// lock, so two processes saving at once both keep theirs).
    pub fn save(&self) -> io::Result<()> {
        let known = self.external.lock().unwrap_or_else(|e| e.into_inner());
        if known.made.is_empty() || !self.root.is_dir() {
            return Ok(());
        }
        let _lock = lock::acquire(&self.root.join("locks"), FILE)?;
        let mut merged = Known::read(&self.root).records;
        for id in &known.made {
            merged.insert(id.clone(), known.records[id].clone());
        }
        write_json(&self.root.join(FILE), &merged, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_hashes_follow_content() {
        let dir = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let cache = Cache::open(root.path()).unwrap();
        fs::create_dir_all(dir.path().join("sub")).unwrap();
        fs::write(dir.path().join("sub/x.wav"), b"1234").unwrap();
        let first = cache.external_hash(dir.path()).unwrap();
        assert_eq!(first, cache.external_hash(dir.path()).unwrap());
        cache.save().unwrap();
        let reopened = Cache::open(root.path()).unwrap();
        assert_eq!(first, reopened.external_hash(dir.path()).unwrap());
        fs::write(dir.path().join("sub/x.wav"), b"12345").unwrap();
        assert_ne!(first, reopened.external_hash(dir.path()).unwrap());
    }

    #[test]
    fn two_processes_saving_keep_each_others_records() {
        let dir = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.wav"), b"a").unwrap();
        fs::write(dir.path().join("b.wav"), b"b").unwrap();
        // Both open before either saves, as two jobs started together do.
        let one = Cache::open(root.path()).unwrap();
        let two = Cache::open(root.path()).unwrap();
        one.external_hash(&dir.path().join("a.wav")).unwrap();
        two.external_hash(&dir.path().join("b.wav")).unwrap();
        one.save().unwrap();
        two.save().unwrap();
        let saved = Known::read(root.path()).records;
        let names: Vec<&str> = saved.keys().map(|k| k.rsplit('/').next().unwrap()).collect();
        assert_eq!(names, ["a.wav", "b.wav"]);
        assert!(!root.path().join("locks/external.json.lock").exists(), "the lock is gone once released");
    }
}
