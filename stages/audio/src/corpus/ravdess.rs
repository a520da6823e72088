//! RAVDESS audio-only names, `03-VV-EE-II-SS-RR-AA`: the eight emotion codes themselves.

use crate::emotion::Emotion;

use super::{Label, Labels, NameError, number};

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
const LAYOUT: &str =
    "modality-channel-emotion-intensity-statement-repetition-actor, e.g. 03-01-05-02-01-01-12";

/// Parses a two-digit field whose value must lie in `range` (at most 24).
fn field(
    value: &str,
    name: &'static str,
    range: std::ops::RangeInclusive<u16>,
    expected: &'static str,
) -> Result<u8, NameError> {
    // The ranges used here end at 24, so the value fits a u8.
    number(value, 2, name, range, expected).map(|n| n as u8)
}

impl RavdessName {
    /// The number of actors in RAVDESS.
    pub const ACTORS: u8 = 24;

    /// Parses a file name without extension.
    pub fn parse(stem: &str) -> Result<Self, NameError> {
        let fields: Vec<&str> = stem.split('-').collect();
        let [modality, channel, emotion, intensity, statement, repetition, actor] = fields[..]
        else {
            return Err(NameError::FieldCount {
                expected: "7",
                separator: "dash",
                layout: LAYOUT,
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
            actor: field(actor, "actor", 1..=u16::from(Self::ACTORS), "one of 01..24")?,
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

    /// The path in RAVDESS' layout, `Actor_AA/03-VV-EE-II-SS-RR-AA.wav`.
    pub fn path(&self) -> String {
        format!("{}/{}", self.actor_dir(), self.file_name())
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
            label: Some(Label::Coded(self.emotion)),
            intensity: format!("{:02}", self.intensity),
            statement: format!("{:02}", self.statement),
            repetition: format!("{:02}", self.repetition),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Corpus;

    #[test]
    fn parses_every_ravdess_field() {
        let name = Corpus::Ravdess.parse("Actor_12/03-01-05-02-01-02-12.wav").unwrap();
        assert_eq!(name.file_id, "03-01-05-02-01-02-12");
        assert_eq!(
            name.labels,
            Labels {
                speaker: "12".into(),
                sex: "f".into(),
                label: Some(Label::Coded(Emotion::Angry)),
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
        assert_eq!(name.path(), "Actor_07/03-02-08-01-02-01-07.wav");
        assert_eq!(
            Corpus::Ravdess.parse("03-01-01-01-01-01-01.wav").unwrap().labels.label,
            Some(Label::Coded(Emotion::Neutral))
        );
    }

    #[test]
    fn malformed_ravdess_names_are_precise_errors() {
        let cases = [
            ("03-01-05-02-01-01", format!("expected 7 dash-separated fields ({LAYOUT}), found 6")),
            (
                "03-01-05-02-01-01-12-1",
                format!("expected 7 dash-separated fields ({LAYOUT}), found 8"),
            ),
            ("recording", format!("expected 7 dash-separated fields ({LAYOUT}), found 1")),
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
            let err = Corpus::Ravdess.parse(&format!("{stem}.wav")).unwrap_err();
            assert_eq!(err.to_string(), message, "{stem}");
        }
    }
}
