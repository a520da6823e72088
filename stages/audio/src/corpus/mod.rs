//! Corpus naming schemes: how a file's path becomes a clip id and labels.
//!
//! Every corpus names its labels with words; by default `decode` maps them onto RAVDESS's
//! classes (the codes `01`..`08`, see [`crate::emotion`]) by their RAVDESS emotion names:
//!
//! | corpus     | file name                         | speaker          | sex            | labels without a RAVDESS code |
//! |------------|-----------------------------------|------------------|----------------|-------------------------------|
//! | `ravdess`  | `Actor_12/03-01-05-02-01-02-12`   | actor `01`..`24` | odd actors `m` | none (all eight codes)        |
//! | `savee`    | `DC/a01` or `DC_a01`              | DC, JE, JK, KL   | all `m`        | none (no calm)                |
//! | `tess`     | `OAF_back_angry`, `YAF_..._ps`    | OAF, YAF         | both `f`       | none (no calm)                |
//! | `crema-d`  | `1001_DFA_ANG_XX`                 | `1001`..`1091`   | empty          | none (no calm, no surprise)   |
//! | `emodb`    | `03a01Fa`                         | `03`..`16`       | EmoDB's list   | `boredom` (no calm, surprise) |
//! | `iemocap`  | `Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000`, labelled by `dialog/EmoEvaluation/*.txt` | `Ses01F`..`Ses05M` | from the turn | `excited`, `frustrated`, `other`, `no-agreement` |
//! | `unlabeled`| anything                          | empty            | empty          | no labels at all              |
//! | `csv`      | a table's rows (see [`crate::table`]) | a column     | a column       | its own label words           |
//!
//! A corpus label is named by its RAVDESS emotion name when it has a code (SAVEE `sa` is
//! `sad`, TESS `ps` is `surprised`) and by its own word when it has none (EmoDB `boredom`);
//! those names are the keys of the `decode` stage's `labels` policy table. To add a corpus, add
//! a [`Corpus`] variant and a module with its parser; the `decode` stage needs no other change.
//!
//! Each module also formats names (the inverse of its parser, tested as a round trip), so that
//! the `synth` stage writes exactly what `decode` reads; a new corpus gets a formatter and a
//! [`crate::Naming`] variant too, so that pipelines on it have an offline demo.

pub(crate) mod crema_d;
pub(crate) mod emodb;
pub(crate) mod iemocap;
mod ravdess;
pub(crate) mod savee;
pub(crate) mod tess;

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::labels::LabelSet;

use crate::emotion::{Emotion, ravdess_classes};

pub use ravdess::RavdessName;

/// The naming scheme that labels the decoded files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Corpus {
    /// RAVDESS: `MM-VV-EE-II-SS-RR-AA.wav` (modality 03, vocal channel, emotion, intensity,
    /// statement, repetition, actor); odd actors are male.
    Ravdess,
    /// SAVEE: `DC/a01.wav` (speaker folder) or `DC_a01.wav`; speakers DC, JE, JK, KL (male);
    /// emotion prefix a, d, f, h, n, sa, su and a two-digit number. Clip ids are `DC_a01` in
    /// both layouts.
    Savee,
    /// TESS: `OAF_word_emotion.wav` / `YAF_word_emotion.wav` (female speakers); the emotion is
    /// the last token (angry, disgust, fear, happy, neutral, ps, sad), the word the statement;
    /// folder names are ignored.
    Tess,
    /// CREMA-D: `1001_DFA_ANG_XX.wav` (actor 1001..1091, sentence, emotion ANG DIS FEA HAP NEU
    /// SAD, level LO MD HI XX as intensity); sex is not in the name and left empty.
    CremaD,
    /// Berlin EmoDB: `03a01Fa.wav` (speaker, text, emotion letter W L E A F T N, version);
    /// sex from EmoDB's speaker list. Boredom (L) has no RAVDESS code: give it a `labels` policy.
    Emodb,
    /// IEMOCAP's released layout: utterances `SessionN/sentences/wav/DIALOG/UTTERANCE.wav`
    /// labelled by their dialog's `SessionN/dialog/EmoEvaluation/DIALOG.txt` (the majority
    /// category); speakers `Ses01F`..`Ses05M`; the session, improvised/scripted type and
    /// valence/arousal/dominance as extra manifest columns. Excited, frustrated, other and
    /// no-agreement (`xxx`) need a `labels` policy.
    Iemocap,
    /// No labels: any file name; emotion, speaker and sex are left empty.
    Unlabeled,
    /// A table (CSV or TSV, the `table` param) with a row per clip: the audio file's path
    /// relative to the table's folder and, optionally, the label, speaker, split, sex, corpus,
    /// a clip id, and start/end times that cut segments out of longer files; other columns are
    /// kept in the manifest. Its classes are the labels found, unless `classes` lists them.
    Csv,
}

/// One emotion label of a corpus.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Label {
    /// A label with a RAVDESS code.
    Coded(Emotion),
    /// A label the RAVDESS codes lack, by its name (EmoDB `boredom`); the `decode` stage needs
    /// a policy for it.
    Uncoded(&'static str),
}

impl Label {
    /// The name used in messages and as key of the `labels` policy table: the RAVDESS emotion
    /// name for a coded label, the corpus' own word otherwise.
    pub fn name(self) -> &'static str {
        match self {
            Self::Coded(emotion) => emotion.name(),
            Self::Uncoded(name) => name,
        }
    }
}

/// The labels a corpus parser reads from a file's path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    /// Speaker id, empty if unknown.
    pub speaker: String,
    /// `m`, `f` or empty.
    pub sex: String,
    /// The emotion label, if the corpus labels it.
    pub label: Option<Label>,
    /// Corpus-specific intensity id, empty if none.
    pub intensity: String,
    /// Corpus-specific statement id, empty if none.
    pub statement: String,
    /// Corpus-specific repetition id, empty if none.
    pub repetition: String,
}

/// A parsed file path: the clip id it gets and its labels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClipName {
    /// Unique id of the clip: the file name without extension, except for SAVEE's folder
    /// layout, where it is `SPEAKER_name` as in the flat layout.
    pub file_id: String,
    /// The labels.
    pub labels: Labels,
}

impl Corpus {
    /// Every corpus, in declaration order.
    pub const ALL: [Corpus; 8] =
        [Self::Ravdess, Self::Savee, Self::Tess, Self::CremaD, Self::Emodb, Self::Iemocap, Self::Unlabeled, Self::Csv];

    /// The name written in the manifest's `corpus` column (as in the `corpus` param).
    pub fn name(self) -> &'static str {
        match self {
            Self::Ravdess => "ravdess",
            Self::Savee => "savee",
            Self::Tess => "tess",
            Self::CremaD => "crema-d",
            Self::Emodb => "emodb",
            Self::Iemocap => "iemocap",
            Self::Unlabeled => "unlabeled",
            Self::Csv => "csv",
        }
    }

    /// Whether the corpus labels files by their paths (else a table labels them).
    pub fn is_named(self) -> bool {
        self != Self::Csv
    }

    /// The words of every label the corpus can carry, in vocabulary order (the keys its
    /// `labels` policy may have); `None` when only the data knows them (a table).
    pub fn words(self) -> Option<Vec<&'static str>> {
        self.is_named().then(|| self.vocabulary().into_iter().map(Label::name).collect())
    }

    /// The classes a decode of this corpus has unless `classes` says otherwise: RAVDESS's
    /// codes for the emotion corpora, none for `unlabeled`, `None` (the labels found) for a
    /// table.
    pub fn default_classes(self) -> Option<LabelSet> {
        match self {
            Self::Unlabeled => Some(LabelSet::default()),
            Self::Csv => None,
            _ => Some(ravdess_classes()),
        }
    }

    /// Parses `relative`, a `/`-separated path relative to the decoded folder.
    pub fn parse(self, relative: &str) -> Result<ClipName, NameError> {
        let path = Path::new(relative);
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let folder =
            path.parent().and_then(Path::file_name).map(|f| f.to_string_lossy().into_owned());
        let labelled = |labels| Ok(ClipName { file_id: stem.clone(), labels });
        match self {
            Self::Ravdess => labelled(RavdessName::parse(&stem)?.labels()),
            Self::Savee => savee::parse(&stem, folder.as_deref()),
            Self::Tess => labelled(tess::labels(&stem)?),
            Self::CremaD => labelled(crema_d::labels(&stem)?),
            Self::Emodb => labelled(emodb::labels(&stem)?),
            // The labels are in the dialog's EmoEvaluation file (see `iemocap::sources`).
            Self::Iemocap => {
                let utterance = iemocap::utterance(&stem)?;
                labelled(Labels {
                    speaker: utterance.speaker,
                    sex: utterance.sex.to_string(),
                    statement: utterance.dialog,
                    ..Labels::default()
                })
            }
            // A table corpus is labelled by its table, not by paths.
            Self::Unlabeled | Self::Csv => labelled(Labels::default()),
        }
    }

    /// Every label the corpus' names can carry, in code order, uncoded labels last.
    pub fn vocabulary(self) -> Vec<Label> {
        let mut labels: Vec<Label> = match self {
            Self::Ravdess => Emotion::ALL.map(Label::Coded).to_vec(),
            Self::Savee => savee::EMOTIONS.iter().map(|&(_, label)| label).collect(),
            Self::Tess => tess::EMOTIONS.iter().map(|&(_, label)| label).collect(),
            Self::CremaD => crema_d::EMOTIONS.iter().map(|&(_, label)| label).collect(),
            Self::Emodb => emodb::EMOTIONS.iter().map(|&(_, label)| label).collect(),
            Self::Iemocap => iemocap::LABELS.iter().map(|&(_, label)| label).collect(),
            Self::Unlabeled | Self::Csv => Vec::new(),
        };
        labels.sort();
        labels
    }
}

/// Why a file name does not follow its corpus' naming scheme.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name does not have the scheme's number of fields.
    #[error("expected {expected} {separator}-separated fields ({layout}), found {found}")]
    FieldCount {
        /// Fields the scheme has (`7`, `at least 3`).
        expected: &'static str,
        /// The separator's name (`dash`, `underscore`).
        separator: &'static str,
        /// The scheme's layout.
        layout: &'static str,
        /// Fields the name has.
        found: usize,
    },
    /// The name does not have the scheme's fixed length.
    #[error("expected {expected} characters ({layout}), found {found}")]
    Length {
        /// Characters the scheme has.
        expected: usize,
        /// The scheme's layout.
        layout: &'static str,
        /// Characters the name has.
        found: usize,
    },
    /// One field has a value outside the scheme.
    #[error("{field} `{value}` is not {expected}")]
    Field {
        /// The field's name.
        field: &'static str,
        /// The value found.
        value: String,
        /// What the scheme allows.
        expected: String,
    },
    /// A SAVEE name without speaker prefix that sits in no folder.
    #[error(
        "`{name}` names no speaker: expected `SPEAKER_{name}` or a speaker folder `SPEAKER/{name}` (SPEAKER one of DC, JE, JK, KL)"
    )]
    NoSpeaker {
        /// The file name without extension.
        name: String,
    },
    /// RAVDESS records neutral speech at normal intensity only.
    #[error("neutral (01) has no strong intensity (02) in RAVDESS")]
    StrongNeutral,
    /// A name was asked for a label the corpus does not have.
    #[error("corpus `{corpus}` has no label `{label}`")]
    NoLabel {
        /// The corpus' name.
        corpus: &'static str,
        /// The label's name.
        label: &'static str,
    },
}

/// Parses a field of `width` digits whose value must lie in `range`.
fn number(
    value: &str,
    width: usize,
    field: &'static str,
    range: std::ops::RangeInclusive<u16>,
    expected: &'static str,
) -> Result<u16, NameError> {
    let bad = || NameError::Field { field, value: value.to_string(), expected: expected.into() };
    if value.len() != width || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let number: u16 = value.parse().map_err(|_| bad())?;
    if range.contains(&number) { Ok(number) } else { Err(bad()) }
}

/// Looks `value` up in `table` (exact, case-sensitive); the error lists the table's keys.
fn lookup<T: Copy>(value: &str, field: &'static str, table: &[(&str, T)]) -> Result<T, NameError> {
    match table.iter().find(|(key, _)| *key == value) {
        Some(&(_, found)) => Ok(found),
        None => Err(not_one_of(value, field, table.iter().map(|&(key, _)| key))),
    }
}

/// The key of `label` in `corpus`' emotion `table`: the inverse of [`lookup`].
fn code_of(
    corpus: Corpus,
    label: Label,
    table: &[(&'static str, Label)],
) -> Result<&'static str, NameError> {
    match table.iter().find(|&&(_, l)| l == label) {
        Some(&(code, _)) => Ok(code),
        None => Err(NameError::NoLabel { corpus: corpus.name(), label: label.name() }),
    }
}

/// Checks that `value` is one of `allowed` (exact, case-sensitive).
fn one_of(value: &str, field: &'static str, allowed: &[&str]) -> Result<(), NameError> {
    if allowed.contains(&value) {
        Ok(())
    } else {
        Err(not_one_of(value, field, allowed.iter().copied()))
    }
}

/// The error for a `field` whose `value` is none of `allowed`.
fn not_one_of<'a>(
    value: &str,
    field: &'static str,
    allowed: impl Iterator<Item = &'a str>,
) -> NameError {
    let allowed: Vec<&str> = allowed.collect();
    NameError::Field {
        field,
        value: value.to_string(),
        expected: format!("one of {}", allowed.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlabeled_names_give_no_labels() {
        let name = Corpus::Unlabeled.parse("any/folder/anything at all.WAV").unwrap();
        assert_eq!(name, ClipName { file_id: "anything at all".into(), labels: Labels::default() });
        assert_eq!(Corpus::Unlabeled.name(), "unlabeled");
        assert!(Corpus::Unlabeled.vocabulary().is_empty());
    }

    #[test]
    fn names_match_the_corpus_param() {
        for corpus in Corpus::ALL {
            let json = serde_json::to_value(corpus).unwrap();
            assert_eq!(json, corpus.name());
        }
    }

    #[test]
    fn vocabularies_name_labels_by_ravdess_name_or_own_word() {
        let names = |corpus: Corpus| -> Vec<&str> {
            corpus.vocabulary().into_iter().map(Label::name).collect()
        };
        let seven = ["neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised"];
        assert_eq!(names(Corpus::Ravdess).len(), 8);
        assert_eq!(names(Corpus::Savee), seven);
        assert_eq!(names(Corpus::Tess), seven);
        assert_eq!(
            names(Corpus::CremaD),
            ["neutral", "happy", "sad", "angry", "fearful", "disgust"]
        );
        assert_eq!(
            names(Corpus::Emodb),
            ["neutral", "happy", "sad", "angry", "fearful", "disgust", "boredom"]
        );
    }

    #[test]
    fn lookup_and_number_errors_list_what_is_allowed() {
        let table = [("a", 1), ("sa", 2)];
        assert_eq!(lookup("sa", "prefix", &table), Ok(2));
        assert_eq!(
            lookup("x", "prefix", &table).unwrap_err().to_string(),
            "prefix `x` is not one of a, sa"
        );
        assert_eq!(code_of(Corpus::Savee, Label::Coded(Emotion::Sad), &savee::EMOTIONS), Ok("sa"));
        assert_eq!(
            code_of(Corpus::Savee, Label::Coded(Emotion::Calm), &savee::EMOTIONS)
                .unwrap_err()
                .to_string(),
            "corpus `savee` has no label `calm`"
        );
        assert_eq!(one_of("b", "letter", &["a", "b"]), Ok(()));
        assert_eq!(
            one_of("c", "letter", &["a", "b"]).unwrap_err().to_string(),
            "letter `c` is not one of a, b"
        );
        assert_eq!(number("1091", 4, "actor", 1001..=1091, "1001..1091"), Ok(1091));
        for bad in ["1092", "101", "10a1", "+101"] {
            assert_eq!(
                number(bad, 4, "actor", 1001..=1091, "1001..1091").unwrap_err().to_string(),
                format!("actor `{bad}` is not 1001..1091")
            );
        }
    }
}
