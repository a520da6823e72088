//! Work shared between stages whose inputs differ only in how their clips are split.
//!
//! A cross-validation runs every stage below its split once per fold, and a seed sweep or a
//! split ablation once per split; each such stage's audio input holds the same clips and
//! samples every time, only their `split` (and `fold`) column differs, so each has its own key.
//! Per-clip work (acoustic features, a self-supervised model's forward pass) reads nothing of
//! the split, and repeating it per fold costs K times the one computation that a lab's GPU or
//! cores spend most of their time on. A kind puts that work in
//! [`StageContext::shared_work`](crate::StageContext::shared_work):
//! the engine keys it like the stage (kind, version, params, backend, inputs) but with each
//! audio input's split and fold left out ([`split_blind_manifest`]), so the first stage of a
//! set of folds computes it and the others read it. The stage's own output (which carries the
//! split) is still the stage's, so a cached stage and a shared piece of work never disagree.
//!
//! A kind may share only what does not depend on its inputs' split: its clips' features, never
//! statistics over a split's part.

use std::path::{Path, PathBuf};

use crate::audio::{AudioSetError, MANIFEST};

/// A stage's error (`crate::StageError`, spelled out so that this module needs nothing of the
/// stage module, which needs this one).
type StageError = Box<dyn std::error::Error + Send + Sync>;

/// The engine's store for shared work (see the module doc).
pub trait Memo: Send + Sync {
    /// The folder of the shared work `part` of the running stage, made by `fill` (given an
    /// empty folder) unless a stage with the same split-blind key made it before; a stage of
    /// another process making it now is waited for.
    fn get_or_fill(&self, part: &str, fill: &mut dyn FnMut(&Path) -> Result<(), StageError>) -> Result<Shared, StageError>;
}

/// Where a piece of shared work is.
#[derive(Clone, Debug)]
pub struct Shared {
    /// The folder holding it (read-only).
    pub dir: PathBuf,
}

/// The manifest columns that say how a set is split.
const SPLIT_COLUMNS: [&str; 2] = ["split", "fold"];

/// `manifest.csv` of the audio set in `dir` with its `split` and `fold` cells emptied: what the
/// engine hashes instead of the manifest for a split-blind key.
pub fn split_blind_manifest(dir: &Path) -> Result<Vec<u8>, AudioSetError> {
    let path = dir.join(MANIFEST);
    let csv_err = |source| AudioSetError::Csv { path: path.clone(), source };
    let mut reader = csv::Reader::from_path(&path).map_err(csv_err)?;
    let header = reader.headers().map_err(csv_err)?.clone();
    let blind: Vec<bool> = header.iter().map(|h| SPLIT_COLUMNS.contains(&h)).collect();
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(&header).map_err(csv_err)?;
    for record in reader.records() {
        let record = record.map_err(csv_err)?;
        writer
            .write_record(record.iter().zip(&blind).map(|(cell, &blind)| if blind { "" } else { cell }))
            .map_err(csv_err)?;
    }
    writer.into_inner().map_err(|e| AudioSetError::Io { path, source: e.into_error() })
}

/// A file of shared work could not be put in a stage's output.
#[derive(Debug, thiserror::Error)]
#[error("cannot put `{}` at `{}`: {source}", from.display(), to.display())]
pub struct LinkError {
    /// The shared file.
    pub from: PathBuf,
    /// Where the stage wanted it.
    pub to: PathBuf,
    /// The cause.
    pub source: std::io::Error,
}

/// Puts the file `from` (shared work) at `to` (a stage's output) without copying its bytes
/// where the file system allows: a hard link (both are read-only cache files), else a copy.
pub fn link_or_copy(from: &Path, to: &Path) -> Result<(), LinkError> {
    if std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to).map(|_| ()).map_err(|source| LinkError { from: from.to_path_buf(), to: to.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_and_fold_cells_are_emptied_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let write = |text: &str| std::fs::write(dir.path().join(MANIFEST), text).unwrap();
        write("file_id,label,split,length,fold\na,01,train,5,2\nb,02,test,7,1\n");
        let one = split_blind_manifest(dir.path()).unwrap();
        assert_eq!(String::from_utf8(one.clone()).unwrap(), "file_id,label,split,length,fold\na,01,,5,\nb,02,,7,\n");
        write("file_id,label,split,length,fold\na,01,val,5,1\nb,02,train,7,3\n");
        assert_eq!(split_blind_manifest(dir.path()).unwrap(), one);
        write("file_id,label,split,length,fold\na,01,val,5,1\nb,03,train,7,3\n");
        assert_ne!(split_blind_manifest(dir.path()).unwrap(), one, "a label is not the split's");
    }
}
