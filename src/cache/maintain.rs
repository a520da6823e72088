//! Cache maintenance: listing, verifying and collecting entries (`vox cache verify`, `vox gc`).

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::time::{Duration, SystemTime};

use super::{Cache, Damage, Lookup, check_file, dir_size, remove_dir_all_if_present};

/// What `vox gc` removed.
#[derive(Debug, Default)]
pub struct GcReport {
    /// Entries removed.
    pub removed: usize,
    /// Entries kept.
    pub kept: usize,
    /// Bytes freed.
    pub bytes: u64,
}


impl Cache {
    /// Every entry key in the cache.
    pub fn keys(&self) -> io::Result<Vec<String>> {
        let mut keys = Vec::new();
        for shard in fs::read_dir(self.root.join("entries"))? {
            for entry in fs::read_dir(shard?.path())? {
                keys.push(entry?.file_name().to_string_lossy().into_owned());
            }
        }
        keys.sort();
        Ok(keys)
    }

    /// Rehashes every file of every entry; returns each corrupt entry's key and problem,
    /// after removing it (the next run recomputes it).
    pub fn verify(&self) -> io::Result<(usize, Vec<(String, Damage)>)> {
        let keys = self.keys()?;
        let mut corrupt = Vec::new();
        for key in &keys {
            let problem = match self.lookup(key) {
                Lookup::Miss => None,
                Lookup::Corrupt(problem) => Some(problem),
                Lookup::Hit(manifest) => manifest.files.iter().find_map(|f| {
                    check_file(&self.out_dir(key).join(&f.path), f, true).err()
                }),
            };
            if let Some(problem) = problem {
                let lock = self.lock(key)?;
                self.remove_entry(key)?;
                drop(lock);
                corrupt.push((key.clone(), problem));
            }
        }
        Ok((keys.len(), corrupt))
    }

    /// Removes every entry not in `keep` and not used within `used_within`, except the shared
    /// work (`vox_api::memo`) of the entries it keeps, and leftovers of interrupted attempts
    /// that no process is working on.
    pub fn gc(&self, keep: &BTreeSet<String>, used_within: Option<Duration>) -> io::Result<GcReport> {
        let mut report = GcReport::default();
        let now = SystemTime::now();
        let keys = self.keys()?;
        let recent = |key: &str| {
            used_within.is_some_and(|window| {
                fs::metadata(self.entry_dir(key).join("entry.json"))
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| now.duration_since(t).unwrap_or_default() <= window)
            })
        };
        let mut kept: BTreeSet<String> = keys.iter().filter(|k| keep.contains(*k) || recent(k)).cloned().collect();
        let shared: Vec<String> = kept
            .iter()
            .filter_map(|key| fs::read(self.entry_dir(key).join("entry.json")).ok())
            .filter_map(|bytes| serde_json::from_slice::<super::EntryManifest>(&bytes).ok())
            .flat_map(|manifest| manifest.shared)
            .collect();
        kept.extend(shared);
        for key in keys {
            let dir = self.entry_dir(&key);
            if kept.contains(&key) {
                report.kept += 1;
                continue;
            }
            let Ok(lock) = self.try_lock(&key) else { continue };
            report.bytes += dir_size(&dir);
            self.remove_entry(&key)?;
            drop(lock);
            report.removed += 1;
        }
        for leftover in fs::read_dir(self.root.join("tmp"))? {
            let leftover = leftover?;
            let name = leftover.file_name().to_string_lossy().into_owned();
            let key = name.split('.').next().unwrap_or_default().to_string();
            if let Ok(lock) = self.try_lock(&key) {
                report.bytes += dir_size(&leftover.path());
                remove_dir_all_if_present(&leftover.path())?;
                drop(lock);
            }
        }
        Ok(report)
    }
}
