//! Berlin EmoDB: ten actors, ten German texts, seven emotions.
//!
//! `03a01Fa.wav`: speaker (`03`..`16`), text code (`a01`..`b10`, the statement id), emotion
//! letter from the German word (`W` Wut anger, `L` Langeweile boredom, `E` Ekel disgust, `A`
//! Angst fear, `F` Freude happiness, `T` Trauer sadness, `N` neutral) and version letter
//! (`a`, `b`, ...: the repetition id). Boredom has no RAVDESS code, so it is an uncoded label
//! that the `decode` stage's `labels` policy must drop or merge. The speakers' sex is EmoDB's
//! documented list.

use crate::emotion::Emotion;

use super::{Corpus, Label, Labels, NameError, code_of, lookup, one_of};

/// The speakers and their sex, from EmoDB's documentation.
pub(crate) const SPEAKERS: [(&str, &str); 10] = [
    ("03", "m"),
    ("08", "f"),
    ("09", "f"),
    ("10", "m"),
    ("11", "m"),
    ("12", "m"),
    ("13", "f"),
    ("14", "f"),
    ("15", "m"),
    ("16", "f"),
];

/// The ten text codes.
pub(crate) const TEXTS: [&str; 10] =
    ["a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10"];

/// Emotion letters and their labels.
pub(super) const EMOTIONS: [(&str, Label); 7] = [
    ("W", Label::Coded(Emotion::Angry)),
    ("L", Label::Uncoded("boredom")),
    ("E", Label::Coded(Emotion::Disgust)),
    ("A", Label::Coded(Emotion::Fearful)),
    ("F", Label::Coded(Emotion::Happy)),
    ("T", Label::Coded(Emotion::Sad)),
    ("N", Label::Coded(Emotion::Neutral)),
];

/// The layout, for messages.
const LAYOUT: &str = "speaker, text, emotion, version, e.g. 03a01Fa";

/// Checks that a version is one lower-case letter.
fn check_version(version: &str) -> Result<(), NameError> {
    let mut letters = version.chars();
    match (letters.next(), letters.next()) {
        (Some(letter), None) if letter.is_ascii_lowercase() => Ok(()),
        _ => Err(NameError::Field {
            field: "version",
            value: version.to_string(),
            expected: "a lower-case letter".into(),
        }),
    }
}

/// The path of `speaker` saying `text` in `label`, version `version`, in EmoDB's `wav` folder:
/// `wav/03a01Fa.wav`; the inverse of [`labels`].
pub(crate) fn path(
    speaker: &str,
    text: &str,
    label: Label,
    version: char,
) -> Result<String, NameError> {
    lookup(speaker, "speaker", &SPEAKERS)?;
    one_of(text, "text", &TEXTS)?;
    let letter = code_of(Corpus::Emodb, label, &EMOTIONS)?;
    let version = version.to_string();
    check_version(&version)?;
    Ok(format!("wav/{speaker}{text}{letter}{version}.wav"))
}

/// The labels of `stem` (`03a01Fa`).
pub(super) fn labels(stem: &str) -> Result<Labels, NameError> {
    let found = stem.chars().count();
    if found != 7 || !stem.is_ascii() {
        return Err(NameError::Length { expected: 7, layout: LAYOUT, found });
    }
    let (speaker, text, emotion, version) = (&stem[0..2], &stem[2..5], &stem[5..6], &stem[6..7]);
    let sex = lookup(speaker, "speaker", &SPEAKERS)?;
    one_of(text, "text", &TEXTS)?;
    let label = lookup(emotion, "emotion", &EMOTIONS)?;
    check_version(version)?;
    Ok(Labels {
        speaker: speaker.to_string(),
        sex: sex.to_string(),
        label: Some(label),
        intensity: String::new(),
        statement: text.to_string(),
        repetition: version.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{ClipName, Corpus};

    #[test]
    fn every_speaker_text_emotion_and_version() {
        let mut seen = 0;
        for (speaker, sex) in SPEAKERS {
            for text in TEXTS {
                for (letter, label) in EMOTIONS {
                    for version in ["a", "b", "c"] {
                        let stem = format!("{speaker}{text}{letter}{version}");
                        let expected = ClipName {
                            file_id: stem.clone(),
                            labels: Labels {
                                speaker: speaker.into(),
                                sex: sex.into(),
                                label: Some(label),
                                intensity: String::new(),
                                statement: text.into(),
                                repetition: version.into(),
                            },
                        };
                        let path = format!("wav/{stem}.wav");
                        assert_eq!(Corpus::Emodb.parse(&path).unwrap(), expected, "{path}");
                        seen += 1;
                    }
                }
            }
        }
        assert_eq!(seen, 10 * 10 * 7 * 3);
        let labels = |stem: &str| Corpus::Emodb.parse(stem).unwrap().labels;
        let bored = labels("03a01La.wav");
        assert_eq!(bored.label, Some(Label::Uncoded("boredom")));
        assert_eq!(bored.label.map(Label::name), Some("boredom"));
        assert_eq!(labels("16b10Wb.wav").label, Some(Label::Coded(Emotion::Angry)));
        assert_eq!(labels("08a02Ec.wav").label, Some(Label::Coded(Emotion::Disgust)));
        assert_eq!(labels("09a04Aa.wav").label, Some(Label::Coded(Emotion::Fearful)));
        let sexes: Vec<(&str, String)> =
            ["03", "08", "09", "10", "11", "12", "13", "14", "15", "16"]
                .into_iter()
                .map(|s| (s, labels(&format!("{s}a01Na.wav")).sex))
                .collect();
        let expected = [
            ("03", "m"),
            ("08", "f"),
            ("09", "f"),
            ("10", "m"),
            ("11", "m"),
            ("12", "m"),
            ("13", "f"),
            ("14", "f"),
            ("15", "m"),
            ("16", "f"),
        ]
        .map(|(s, x)| (s, x.to_string()));
        assert_eq!(sexes, expected);
    }

    #[test]
    fn formatted_paths_parse_back() {
        let path = super::path("13", "b02", Label::Uncoded("boredom"), 'b').unwrap();
        assert_eq!(path, "wav/13b02Lb.wav");
        let labels = Corpus::Emodb.parse(&path).unwrap().labels;
        assert_eq!(
            (labels.speaker.as_str(), labels.sex.as_str(), labels.statement.as_str()),
            ("13", "f", "b02")
        );
        assert_eq!(
            (labels.label, labels.repetition.as_str()),
            (Some(Label::Uncoded("boredom")), "b")
        );
        let errors = [
            (
                super::path("04", "a01", Label::Coded(Emotion::Sad), 'a'),
                "speaker `04` is not one of 03, 08, 09, 10, 11, 12, 13, 14, 15, 16",
            ),
            (
                super::path("03", "a01", Label::Coded(Emotion::Calm), 'a'),
                "corpus `emodb` has no label `calm`",
            ),
            (
                super::path("03", "a01", Label::Coded(Emotion::Sad), 'B'),
                "version `B` is not a lower-case letter",
            ),
        ];
        for (result, message) in errors {
            assert_eq!(result.unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn malformed_emodb_names_are_precise_errors() {
        let cases = [
            ("03a01F.wav", format!("expected 7 characters ({LAYOUT}), found 6")),
            ("03a01Faa.wav", format!("expected 7 characters ({LAYOUT}), found 8")),
            ("03a01Fä.wav", format!("expected 7 characters ({LAYOUT}), found 7")),
            (
                "04a01Fa.wav",
                "speaker `04` is not one of 03, 08, 09, 10, 11, 12, 13, 14, 15, 16".into(),
            ),
            (
                "03a03Fa.wav",
                "text `a03` is not one of a01, a02, a04, a05, a07, b01, b02, b03, b09, b10".into(),
            ),
            ("03a01Xa.wav", "emotion `X` is not one of W, L, E, A, F, T, N".into()),
            ("03a01fa.wav", "emotion `f` is not one of W, L, E, A, F, T, N".into()),
            ("03a01FA.wav", "version `A` is not a lower-case letter".into()),
            ("03a01F1.wav", "version `1` is not a lower-case letter".into()),
        ];
        for (path, message) in cases {
            let err = Corpus::Emodb.parse(path).unwrap_err();
            assert_eq!(err.to_string(), message, "{path}");
        }
    }
}
