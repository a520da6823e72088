//! Corpus naming schemes: how a file name becomes labels.
//!
//! Every corpus maps its labels onto the RAVDESS emotion codes (see [`vox_api::emotion`]). To add
//! a corpus (SAVEE, TESS, CREMA-D, EmoDB), add a [`Corpus`] variant and its parser here; the
//! `decode` stage needs no other change.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::emotion::Emotion;

/// The naming scheme that labels the decoded files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Corpus {
    /// RAVDESS: `MM-VV-EE-II-SS-RR-AA.wav` (modality 03, vocal channel, emotion, intensity,
    /// statement, repetition, actor); odd actors are male.
    Ravdess,
    /// No labels: any file name; emotion, speaker and sex are left empty.
    Unlabeled,
}

/// The labels a corpus parser reads from a file name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    /// Speaker id, empty if unknown.
    pub speaker: String,
    /// `m`, `f` or empty.
    pub sex: String,
    /// The emotion, if the corpus labels it.
    pub emotion: Option<Emotion>,
    /// Corpus-specific intensity id, empty if none.
    pub intensity: String,
    /// Corpus-specific statement id, empty if none.
    pub statement: String,
    /// Corpus-specific repetition id, empty if none.
    pub repetition: String,
}

impl Corpus {
    /// The name written in the manifest's `corpus` column.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ravdess => "ravdess",
            Self::Unlabeled => "unlabeled",
        }
    }

    /// The labels encoded in `stem`, a file name without its extension.
    pub fn labels(self, stem: &str) -> Result<Labels, NameError> {
        match self {
            Self::Ravdess => RavdessName::parse(stem).map(RavdessName::labels),
            Self::Unlabeled => Ok(Labels::default()),
        }
    }
}

/// Why a file name does not follow its corpus' naming scheme.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name does not have the scheme's number of fields.
    #[error("expected {expected} dash-separated fields ({layout}), found {found}")]
    FieldCount {
        /// Fields the scheme has.
        expected: usize,
        /// The scheme's layout.
        layout: &'static str,
        /// Fields the name has.
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
        expected: &'static str,
    },
    /// RAVDESS records neutral speech at normal intensity only.
    #[error("neutral (01) has no strong intensity (02) in RAVDESS")]
    StrongNeutral,
}

/// A RAVDESS audio-only file name, `03-VV-EE-II-SS-RR-AA`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RavdessName {
    /// Vocal channel: 1 speech, 2 song.
    pub channel: u8,
    /// The emotion.
    pub emotion: Emotion,
    /// Intensity: 1 normal, 2 strong.
    pub intensity: u8,
    /// Statement: 1 "Kids are talking by the door", 2 "Dogs are sitting by the door".
    pub statement: u8,
    /// Repetition: 1 or 2.
    pub repetition: u8,
    /// Actor 1..=24; odd actors are male.
    pub actor: u8,
}

/// The RAVDESS field layout, for messages.
const RAVDESS_LAYOUT: &str =
    "modality-channel-emotion-intensity-statement-repetition-actor, e.g. 03-01-05-02-01-01-12";

impl RavdessName {
    /// The number of actors in RAVDESS.
    pub const ACTORS: u8 = 24;

    /// Parses a file name without extension.
    pub fn parse(stem: &str) -> Result<Self, NameError> {
        let fields: Vec<&str> = stem.split('-').collect();
        let [modality, channel, emotion, intensity, statement, repetition, actor] = fields[..]
        else {
            return Err(NameError::FieldCount {
                expected: 7,
                layout: RAVDESS_LAYOUT,
                found: fields.len(),
            });
        };
        field(modality, "modality", 3..=3, "03 (audio-only)")?;
        let emotion_code = field(emotion, "emotion", 1..=8, "one of 01..08")?;
        let name = Self {
            channel: field(channel, "vocal channel", 1..=2, "01 (speech) or 02 (song)")?,
            // `field` checked the code is 1..=8.
            emotion: Emotion::ALL[usize::from(emotion_code) - 1],
            intensity: field(intensity, "intensity", 1..=2, "01 (normal) or 02 (strong)")?,
            statement: field(statement, "statement", 1..=2, "01 or 02")?,
            repetition: field(repetition, "repetition", 1..=2, "01 or 02")?,
            actor: field(actor, "actor", 1..=Self::ACTORS, "one of 01..24")?,
        };
        if name.emotion == Emotion::Neutral && name.intensity == 2 {
            return Err(NameError::StrongNeutral);
        }
        Ok(name)
    }

    /// The file name, `03-VV-EE-II-SS-RR-AA.wav`.
    pub fn file_name(&self) -> String {
        format!(
            "03-{:02}-{}-{:02}-{:02}-{:02}-{:02}.wav",
            self.channel,
            self.emotion.code(),
            self.intensity,
            self.statement,
            self.repetition,
            self.actor
        )
    }

    /// The actor's folder, `Actor_AA`.
    pub fn actor_dir(&self) -> String {
        format!("Actor_{:02}", self.actor)
    }

    /// `m` for odd actors, `f` for even ones.
    pub fn sex(&self) -> &'static str {
        if self.actor % 2 == 1 { "m" } else { "f" }
    }

    /// The labels of this name.
    pub fn labels(self) -> Labels {
        Labels {
            speaker: format!("{:02}", self.actor),
            sex: self.sex().to_string(),
            emotion: Some(self.emotion),
            intensity: format!("{:02}", self.intensity),
            statement: format!("{:02}", self.statement),
            repetition: format!("{:02}", self.repetition),
        }
    }
}

/// Parses a two-digit field whose value must lie in `range`.
fn field(
    value: &str,
    name: &'static str,
    range: std::ops::RangeInclusive<u8>,
    expected: &'static str,
) -> Result<u8, NameError> {
    let bad = || NameError::Field { field: name, value: value.to_string(), expected };
    if value.len() != 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let number: u8 = value.parse().map_err(|_| bad())?;
    if range.contains(&number) { Ok(number) } else { Err(bad()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_ravdess_field() {
        let labels = Corpus::Ravdess.labels("03-01-05-02-01-02-12").unwrap();
        assert_eq!(
            labels,
            Labels {
                speaker: "12".into(),
                sex: "f".into(),
                emotion: Some(Emotion::Angry),
                intensity: "02".into(),
                statement: "01".into(),
                repetition: "02".into(),
            }
        );
        let name = RavdessName::parse("03-02-08-01-02-01-07").unwrap();
        assert_eq!(
            name,
            RavdessName {
                channel: 2,
                emotion: Emotion::Surprised,
                intensity: 1,
                statement: 2,
                repetition: 1,
                actor: 7
            }
        );
        assert_eq!(name.sex(), "m");
        assert_eq!(name.file_name(), "03-02-08-01-02-01-07.wav");
        assert_eq!(name.actor_dir(), "Actor_07");
        assert_eq!(
            Corpus::Ravdess.labels("03-01-01-01-01-01-01").unwrap().emotion,
            Some(Emotion::Neutral)
        );
    }

    #[test]
    fn unlabeled_names_give_no_labels() {
        assert_eq!(Corpus::Unlabeled.labels("anything at all").unwrap(), Labels::default());
        assert_eq!(Corpus::Unlabeled.name(), "unlabeled");
    }

    #[test]
    fn malformed_ravdess_names_are_precise_errors() {
        let layout = "modality-channel-emotion-intensity-statement-repetition-actor, e.g. 03-01-05-02-01-01-12";
        let cases = [
            ("03-01-05-02-01-01", format!("expected 7 dash-separated fields ({layout}), found 6")),
            (
                "03-01-05-02-01-01-12-1",
                format!("expected 7 dash-separated fields ({layout}), found 8"),
            ),
            ("recording", format!("expected 7 dash-separated fields ({layout}), found 1")),
            ("03-01-09-01-01-01-01", "emotion `09` is not one of 01..08".into()),
            ("03-01-00-01-01-01-01", "emotion `00` is not one of 01..08".into()),
            ("01-01-05-01-01-01-01", "modality `01` is not 03 (audio-only)".into()),
            ("03-03-05-01-01-01-01", "vocal channel `03` is not 01 (speech) or 02 (song)".into()),
            ("03-01-05-03-01-01-01", "intensity `03` is not 01 (normal) or 02 (strong)".into()),
            ("03-01-05-01-03-01-01", "statement `03` is not 01 or 02".into()),
            ("03-01-05-01-01-00-01", "repetition `00` is not 01 or 02".into()),
            ("03-01-05-01-01-01-25", "actor `25` is not one of 01..24".into()),
            ("03-01-05-01-01-01-1", "actor `1` is not one of 01..24".into()),
            ("03-01-5x-01-01-01-01", "emotion `5x` is not one of 01..08".into()),
            ("03-01-01-02-01-01-01", "neutral (01) has no strong intensity (02) in RAVDESS".into()),
        ];
        for (stem, message) in cases {
            let err = Corpus::Ravdess.labels(stem).unwrap_err();
            assert_eq!(err.to_string(), message, "{stem}");
        }
    }
}
