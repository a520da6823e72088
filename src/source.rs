//! The text of every pipeline file read for a run, so that errors can point into it.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A position in one of the [`SourceMap`]'s files: a byte range.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Loc {
    /// Index into [`SourceMap::files`].
    pub file: usize,
    /// Byte range in that file's text.
    pub span: Range<usize>,
}

impl Loc {
    /// Sort key: file, then position.
    pub fn order(&self) -> (usize, usize, usize) {
        (self.file, self.span.start, self.span.end)
    }
}

/// A value and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Located<T> {
    /// The value.
    pub value: T,
    /// Where it came from.
    pub loc: Loc,
}

/// One source text: a pipeline file or the command line's overrides.
#[derive(Debug)]
pub struct SourceFile {
    /// The name shown in messages (the path as the user wrote it, or `--set`).
    pub name: String,
    /// The absolute path, for files.
    pub path: Option<PathBuf>,
    /// The whole text.
    pub text: Arc<String>,
}

/// Every source text of one pipeline load.
#[derive(Debug, Default)]
pub struct SourceMap {
    /// The files, in the order they were read.
    pub files: Vec<SourceFile>,
}

impl SourceMap {
    /// Adds a text and returns its index.
    pub fn add(&mut self, name: String, path: Option<PathBuf>, text: String) -> usize {
        self.files.push(SourceFile { name, path, text: Arc::new(text) });
        self.files.len() - 1
    }

    /// blake3 over every text read (each file by its absolute path, the overrides by name), in
    /// order: what a cluster job compares with its submitter's, so that a pipeline edited while
    /// jobs wait in the queue is refused rather than run half old, half new.
    pub fn fingerprint(&self) -> String {
        let mut hasher = blake3::Hasher::new();
        for file in &self.files {
            let name = file.path.as_ref().map_or_else(|| file.name.clone(), |p| p.display().to_string());
            hasher.update(name.as_bytes()).update(b"\0").update(file.text.as_bytes()).update(b"\0");
        }
        hasher.finalize().to_hex().to_string()
    }

    /// The folder of the file `file`, against which its relative paths resolve.
    pub fn dir_of(&self, file: usize) -> Option<&Path> {
        self.files[file].path.as_deref().and_then(Path::parent)
    }

    /// `name:line:col` of a location (1-based line and column).
    pub fn describe(&self, loc: &Loc) -> String {
        let file = &self.files[loc.file];
        let before = &file.text[..loc.span.start.min(file.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
        format!("{}:{line}:{col}", file.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_line_and_column() {
        let mut map = SourceMap::default();
        let f = map.add("p.toml".into(), None, "a = 1\nbb = 2\n".into());
        assert_eq!(map.describe(&Loc { file: f, span: 0..1 }), "p.toml:1:1");
        assert_eq!(map.describe(&Loc { file: f, span: 11..12 }), "p.toml:2:6");
    }
}
