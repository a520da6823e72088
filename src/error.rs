//! Pipeline errors found before anything runs, and their rendering with file:line:col, a caret
//! excerpt and a hint.

use std::path::PathBuf;

use crate::source::{Loc, SourceMap};

/// What is wrong with a pipeline.
#[derive(Debug, thiserror::Error)]
pub enum SpecErrorKind {
    /// A pipeline file could not be read.
    #[error("cannot read pipeline file `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is malformed or has an unexpected top-level shape.
    #[error("{message}")]
    Toml {
        /// toml's message, first line.
        message: String,
    },
    /// A key of the `[pipeline]` table written at the top level of the file.
    #[error("`{key}` belongs in the `[pipeline]` table: write it under `[pipeline]`")]
    HeaderKeyOutside {
        /// The key.
        key: String,
    },
    /// `[pipeline] name` is missing.
    #[error("the pipeline has no name: add `name = \"...\"` under `[pipeline]`")]
    MissingName,
    /// The pipeline declares no stages.
    #[error("the pipeline declares no stages: add a `[stages.NAME]` table")]
    NoStages,
    /// `extends` or `include` forms a loop.
    #[error("`{path}` includes or extends itself: {chain}")]
    IncludeCycle {
        /// The repeated file.
        path: String,
        /// The chain of files, `a.toml -> b.toml -> a.toml`.
        chain: String,
    },
    /// An included fragment has a `[pipeline]` table.
    #[error("included file `{path}` may only define `[stages.*]` tables, not `[pipeline]`")]
    IncludeHasPipeline {
        /// The fragment.
        path: String,
    },
    /// A stage has no `kind`.
    #[error("stage `{stage}` has no `kind`")]
    MissingKind {
        /// The stage.
        stage: String,
    },
    /// `kind`, `inputs` or `backend` has the wrong type.
    #[error("`{key}` of stage `{stage}` must be {expected}")]
    BadEngineKey {
        /// The stage.
        stage: String,
        /// The key.
        key: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// No stage kind has this name.
    #[error("stage `{stage}` has unknown kind `{kind}`")]
    UnknownKind {
        /// The stage.
        stage: String,
        /// The kind written.
        kind: String,
        /// The closest known kind.
        suggestion: Option<String>,
        /// Every known kind.
        known: Vec<String>,
    },
    /// An input names no stage.
    #[error("stage `{stage}` has unknown input `{input}`")]
    UnknownInput {
        /// The stage.
        stage: String,
        /// The input written.
        input: String,
        /// The closest stage name.
        suggestion: Option<String>,
    },
    /// The same input is listed twice.
    #[error("stage `{stage}` lists input `{input}` twice")]
    DuplicateInput {
        /// The stage.
        stage: String,
        /// The input.
        input: String,
    },
    /// The stage takes a different number of inputs.
    #[error("stage `{stage}` (kind `{kind}`) takes {expected}, but {found} given")]
    InputCount {
        /// The stage.
        stage: String,
        /// Its kind.
        kind: String,
        /// What the kind takes.
        expected: &'static str,
        /// How many were listed.
        found: usize,
    },
    /// An input produces an artifact the stage cannot read.
    #[error("stage `{stage}` (kind `{kind}`) cannot read input `{input}`: it produces {produces}, but `{kind}` reads {accepts}")]
    InputType {
        /// The stage.
        stage: String,
        /// Its kind.
        kind: String,
        /// The input.
        input: String,
        /// What the input produces.
        produces: &'static str,
        /// What the kind reads.
        accepts: String,
    },
    /// The stage table has a param its kind does not declare.
    #[error("stage `{stage}` (kind `{kind}`) has unknown param `{param}`")]
    UnknownParam {
        /// The stage.
        stage: String,
        /// Its kind.
        kind: String,
        /// The param written.
        param: String,
        /// The closest declared param.
        suggestion: Option<String>,
    },
    /// A param value is invalid for its kind.
    #[error("stage `{stage}`: invalid {what}: {message}")]
    BadParam {
        /// The stage.
        stage: String,
        /// `param `x`` or `params`.
        what: String,
        /// The kind's message.
        message: String,
    },
    /// The kind takes no backend, or not this one.
    #[error("stage `{stage}` (kind `{kind}`) {problem}")]
    BadBackend {
        /// The stage.
        stage: String,
        /// Its kind.
        kind: String,
        /// What is wrong.
        problem: BackendProblem,
    },
    /// The stages' inputs form a loop.
    #[error("the stages form a cycle: {path}")]
    Cycle {
        /// `a -> b -> c -> a`.
        path: String,
    },
    /// A `--set` override is malformed or names nothing.
    #[error("invalid override `{text}`: {problem}")]
    BadOverride {
        /// The override as given.
        text: String,
        /// What is wrong.
        problem: String,
        /// The closest valid name.
        suggestion: Option<String>,
    },
    /// A `[search]` key or `[search.space]` entry is invalid.
    #[error("invalid [search] `{key}`: {problem}")]
    BadSearch {
        /// The key, or the space's `STAGE.PARAM`.
        key: String,
        /// What is wrong.
        problem: String,
    },
}

/// One problem in a pipeline, with where it is.
/// What is wrong with a stage's `backend` (the kind's name precedes it in the message).
#[derive(Debug, thiserror::Error)]
pub enum BackendProblem {
    /// The kind runs on no backend.
    #[error("takes no `backend`")]
    TakesNone,
    /// The kind does not run on this one.
    #[error("has no backend `{backend}`; it runs on: {}", supported.join(", "))]
    NotOffered {
        /// The backend asked for.
        backend: String,
        /// The kind's backends.
        supported: &'static [&'static str],
    },
    /// The kind runs on it, but not in this binary or on this machine.
    #[error("cannot use backend `{backend}`: {why}")]
    Unusable {
        /// The backend asked for.
        backend: String,
        /// Why not.
        why: vox_api::BackendError,
    },
}

#[derive(Debug)]
pub struct SpecError {
    /// What is wrong (boxed: errors are rare, and results carrying one stay small).
    pub kind: Box<SpecErrorKind>,
    /// Where, when it points into a source.
    pub loc: Option<Loc>,
    /// The overrides that made it (`in sweep variant `...``, `with `--set ...``): the line it
    /// points at may be fine in the pipeline as written.
    pub context: Option<String>,
}

impl SpecError {
    /// An error at `loc`.
    pub fn at(kind: SpecErrorKind, loc: Loc) -> Self {
        Self { kind: Box::new(kind), loc: Some(loc), context: None }
    }

    /// An error without a location.
    pub fn bare(kind: SpecErrorKind) -> Self {
        Self { kind: Box::new(kind), loc: None, context: None }
    }

    /// What is wrong, with the overrides that made it.
    pub fn message(&self) -> String {
        match &self.context {
            Some(context) => format!("{context}: {}", self.kind),
            None => self.kind.to_string(),
        }
    }

    /// The error as made by overrides: `context` says which.
    pub fn made_by(self, context: String) -> Self {
        Self { context: Some(context), ..self }
    }

    /// The short text under the caret.
    fn label(&self) -> String {
        use SpecErrorKind as K;
        match self.kind.as_ref() {
            K::UnknownKind { .. } => "unknown kind".into(),
            K::UnknownInput { .. } => "no stage has this name".into(),
            K::UnknownParam { .. } => "unknown param".into(),
            K::BadParam { message, .. } => message.clone(),
            K::Cycle { .. } => "this input closes the cycle".into(),
            K::InputType { produces, .. } => format!("produces {produces}"),
            K::IncludeCycle { .. } => "included again here".into(),
            _ => "here".into(),
        }
    }

    /// A hint: "did you mean", or the known names.
    pub fn help(&self) -> Option<String> {
        use SpecErrorKind as K;
        let did_you_mean = |s: &Option<String>| s.as_ref().map(|s| format!("did you mean `{s}`?"));
        match self.kind.as_ref() {
            K::UnknownKind { suggestion, known, .. } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`? (`vox stages` lists every kind)"),
                None => format!("known kinds: {}", known.join(", ")),
            }),
            K::UnknownInput { suggestion, .. } => did_you_mean(suggestion),
            K::UnknownParam { suggestion, kind, .. } => Some(match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("`vox stages` lists the params of `{kind}`"),
            }),
            K::BadOverride { suggestion, .. } => did_you_mean(suggestion),
            _ => None,
        }
    }

    /// Renders the error as text: the message, `file:line:col`, the excerpt with a caret, the hint.
    pub fn render(&self, sources: &SourceMap, color: bool) -> String {
        let mut diag = miette::MietteDiagnostic::new(self.message());
        if let Some(help) = self.help() {
            diag = diag.with_help(help);
        }
        let report = match &self.loc {
            Some(loc) => {
                let len = loc.span.end.saturating_sub(loc.span.start);
                diag = diag.with_label(miette::LabeledSpan::at(loc.span.start..loc.span.start + len, self.label()));
                let file = &sources.files[loc.file];
                miette::Report::new(diag)
                    .with_source_code(miette::NamedSource::new(&file.name, file.text.to_string()))
            }
            None => miette::Report::new(diag),
        };
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        let handler = miette::GraphicalReportHandler::new_themed(theme).with_context_lines(1);
        let mut out = String::new();
        // Rendering into a String cannot fail.
        let _ = handler.render_report(&mut out, report.as_ref());
        out
    }
}

/// The closest of `candidates` to `word`, if any is close enough to be a likely typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= (word.len().max(c.len()) / 3).max(1) || (word.len() >= 3 && c.starts_with(word)))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_only_close_names() {
        let kinds = ["decode", "featurize", "fine-tune", "split"];
        assert_eq!(closest("featurise", kinds), Some("featurize".into()));
        assert_eq!(closest("spilt", kinds), Some("split".into()));
        assert_eq!(closest("banana", kinds), None);
        assert_eq!(closest("pad", ["padded", "split"]), Some("padded".into()));
    }

    #[test]
    fn renders_location_caret_and_hint() {
        let mut sources = SourceMap::default();
        let text = "[stages.a]\nkind = \"featurise\"\n";
        let file = sources.add("p.toml".into(), None, text.into());
        let start = text.find("\"featurise\"").unwrap();
        let err = SpecError::at(
            SpecErrorKind::UnknownKind {
                stage: "a".into(),
                kind: "featurise".into(),
                suggestion: Some("featurize".into()),
                known: vec![],
            },
            Loc { file, span: start..start + 11 },
        );
        let out = err.render(&sources, false);
        assert!(out.contains("stage `a` has unknown kind `featurise`"), "{out}");
        assert!(out.contains("[p.toml:2:8]"), "{out}");
        assert!(out.contains("did you mean `featurize`?"), "{out}");
        assert!(out.contains("kind = \"featurise\""), "{out}");
    }
}
