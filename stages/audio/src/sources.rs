//! What a `decode` reads: one [`Source`] per clip, from a corpus's file names (every audio
//! file under the input folder, in path order: see [`crate::audio_file`]) or from a table's rows (see [`crate::table`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vox_api::audio::Split;

use crate::audio_file::Segment;
use crate::corpus::{ClipName, Corpus, NameError};
use crate::error::AudioError;

/// One clip to decode: where its samples are and what the corpus says of it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Source {
    /// The audio file, `/`-separated, relative to the input folder.
    pub file: String,
    /// The 1-based table row (header excluded) the clip comes from; `None` for named files.
    pub row: Option<usize>,
    /// The stretch of the file that is the clip; `None` for the whole file.
    pub segment: Option<Segment>,
    /// The file's channel (1-based) that is the clip, from a table's `channel` column; `None`:
    /// the stage's `channel`, else the channels' mean.
    pub channel: Option<u16>,
    /// The clip id.
    pub file_id: String,
    /// The corpus name the manifest records.
    pub corpus: String,
    /// The corpus's label word, before the `labels` policy.
    pub label: Option<String>,
    /// Speaker id, empty if unknown.
    pub speaker: String,
    /// `m`, `f` or empty.
    pub sex: String,
    /// Corpus-specific intensity id, empty if none.
    pub intensity: String,
    /// Corpus-specific statement id, empty if none.
    pub statement: String,
    /// Corpus-specific repetition id, empty if none.
    pub repetition: String,
    /// The split the corpus assigns, if any.
    pub split: Split,
    /// Further columns for the manifest.
    pub extra: BTreeMap<String, String>,
}

impl Source {
    /// The source of named file `file` of `corpus`.
    pub(crate) fn named(corpus: Corpus, file: String, name: ClipName) -> Self {
        let labels = name.labels;
        Self {
            file,
            row: None,
            segment: None,
            channel: None,
            file_id: name.file_id,
            corpus: corpus.name().to_string(),
            label: labels.label.map(|l| l.name().to_string()),
            speaker: labels.speaker,
            sex: labels.sex,
            intensity: labels.intensity,
            statement: labels.statement,
            repetition: labels.repetition,
            split: Split::None,
            extra: BTreeMap::new(),
        }
    }

}

/// Where a clip comes from, for reports: a file, or a table's row and the file it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    /// The 1-based table row (header excluded); `None` for named files.
    pub row: Option<usize>,
    /// The file, relative to the input folder; empty for a row without one.
    pub file: String,
}

impl Place {
    /// The cells of a report row: the file, after its row for a table.
    pub(crate) fn cells(&self) -> Vec<String> {
        match self.row {
            Some(row) => vec![row.to_string(), self.file.clone()],
            None => vec![self.file.clone()],
        }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.row, self.file.is_empty()) {
            (Some(row), true) => write!(f, "row {row}"),
            (Some(row), false) => write!(f, "row {row} (`{}`)", self.file),
            (None, _) => write!(f, "`{}`", self.file),
        }
    }
}

/// Clips to decode, in order: where each comes from, and its source or why it has none.
pub(crate) type Sources = Vec<(Place, Result<Source, crate::error::FileError>)>;

/// Every audio file under `root` parsed by `corpus`'s naming scheme, in path order: the
/// sources, or per file the reason its name is not the scheme's.
pub(crate) fn named_files(corpus: Corpus, root: &Path) -> Result<Sources, AudioError> {
    Ok(audio_files(root)?
        .into_iter()
        .map(|file| {
            let source = corpus.parse(&file).map(|name| Source::named(corpus, file.clone(), name));
            (Place { row: None, file }, source.map_err(NameError::into))
        })
        .collect())
}

/// The relative paths (`/`-separated) of every audio file under `root` (by extension, read by
/// vox or not: [`crate::audio_file::is_audio`]), sorted.
pub(crate) fn audio_files(root: &Path) -> Result<Vec<String>, AudioError> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = root.join(&relative);
        let io_err = |source| AudioError::Io { path: dir.clone(), source };
        for entry in std::fs::read_dir(&dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let path = relative.join(entry.file_name());
            if entry.file_type().map_err(io_err)?.is_dir() {
                pending.push(path);
            } else if crate::audio_file::is_audio(&path) {
                let parts: Vec<String> = path
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                found.push(parts.join("/"));
            }
        }
    }
    found.sort();
    Ok(found)
}
