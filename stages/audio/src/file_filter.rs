//! `decode`'s `include` and `exclude` params: which of a corpus's files are decoded, by glob
//! patterns over their paths relative to the input folder (`Actor_24/*`, `**/*_a*.wav`). `*`,
//! `?` and `[...]` stay inside one folder; `**` crosses folders. A file is decoded when it
//! matches some `include` pattern (or `include` is empty) and no `exclude` pattern.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use vox_api::ParamError;

/// The compiled patterns.
#[derive(Clone, Debug, Default)]
pub(crate) struct FileFilter {
    /// `include`, when not empty.
    include: Option<GlobSet>,
    /// `exclude`, when not empty.
    exclude: Option<GlobSet>,
    /// Every pattern, with the param it comes from, for the unused-pattern warning.
    patterns: Vec<(String, Glob)>,
}

impl FileFilter {
    /// Compiles the two params' patterns; a bad pattern is an error at its entry.
    pub(crate) fn new(include: &[String], exclude: &[String]) -> Result<Self, ParamError> {
        let mut patterns = Vec::new();
        let mut set = |param: &str, list: &[String]| -> Result<Option<GlobSet>, ParamError> {
            if list.is_empty() {
                return Ok(None);
            }
            let mut builder = GlobSetBuilder::new();
            for (i, pattern) in list.iter().enumerate() {
                let glob = GlobBuilder::new(pattern).literal_separator(true).build().map_err(|e| {
                    ParamError::new(format!("{param}.{i}"), format!("`{pattern}` is not a glob pattern: {}", e.kind()))
                })?;
                patterns.push((format!("{param} = \"{pattern}\""), glob.clone()));
                builder.add(glob);
            }
            builder.build().map(Some).map_err(|e| ParamError::new(param, e.to_string()))
        };
        let include = set("include", include)?;
        let exclude = set("exclude", exclude)?;
        Ok(Self { include, exclude, patterns })
    }

    /// Whether there are patterns at all.
    pub(crate) fn is_active(&self) -> bool {
        self.include.is_some() || self.exclude.is_some()
    }

    /// Whether the file at `path` (`/`-separated, relative to the input folder) is decoded.
    pub(crate) fn keeps(&self, path: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.is_match(path))
            && !self.exclude.as_ref().is_some_and(|set| set.is_match(path))
    }

    /// The patterns (as `param = "pattern"`) that match none of `paths`: most likely typos.
    pub(crate) fn unused<'a>(&self, paths: impl Iterator<Item = &'a str> + Clone) -> Vec<&str> {
        self.patterns
            .iter()
            .filter(|(_, glob)| {
                let matcher = glob.compile_matcher();
                !paths.clone().any(|p| matcher.is_match(p))
            })
            .map(|(shown, _)| shown.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(include: &[&str], exclude: &[&str]) -> FileFilter {
        let owned = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        FileFilter::new(&owned(include), &owned(exclude)).unwrap()
    }

    #[test]
    fn include_then_exclude_with_single_folder_stars() {
        let all = filter(&[], &[]);
        assert!(!all.is_active() && all.keeps("Actor_01/a.wav"));
        let one = filter(&["Actor_24/*"], &[]);
        assert!(one.keeps("Actor_24/03-01-05-01-01-01-24.wav"));
        assert!(!one.keeps("Actor_23/03-01-05-01-01-01-23.wav"));
        assert!(!one.keeps("x/Actor_24/a.wav"), "`*` stays in one folder");
        let deep = filter(&["**/*-24.wav"], &["**/03-01-01-*"]);
        assert!(deep.keeps("x/Actor_24/03-01-05-01-01-01-24.wav"));
        assert!(!deep.keeps("Actor_24/03-01-01-01-01-01-24.wav"));
        assert_eq!(
            deep.unused(["Actor_24/03-01-05-01-01-01-24.wav"].into_iter()),
            ["exclude = \"**/03-01-01-*\""]
        );
        let err = FileFilter::new(&["a[".into()], &[]).unwrap_err();
        assert_eq!(err.path, "include.0");
        assert!(err.message.starts_with("`a[` is not a glob pattern"), "{}", err.message);
    }
}
