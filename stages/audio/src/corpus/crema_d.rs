//! CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset): 91 actors, 12 sentences,
//! six emotions.
//!
//! `1001_DFA_ANG_XX.wav`: actor id `1001`..`1091` (the speaker), sentence code (the statement
//! id), emotion (`ANG`, `DIS`, `FEA`, `HAP`, `NEU`, `SAD`) and level (`LO`, `MD`, `HI`, or `XX`
//! unspecified; the intensity id). The actors' sex is in CREMA-D's demographics table, not in
//! the name, so it is left empty.

use crate::emotion::Emotion;

use super::{Corpus, Label, Labels, NameError, code_of, lookup, number, one_of};

/// The twelve sentence codes.
pub(crate) const SENTENCES: [&str; 12] =
    ["IEO", "TIE", "IOM", "IWW", "TAI", "MTI", "IWL", "ITH", "DFA", "ITS", "TSI", "WSI"];

/// Emotion codes and their labels.
pub(super) const EMOTIONS: [(&str, Label); 6] = [
    ("ANG", Label::Coded(Emotion::Angry)),
    ("DIS", Label::Coded(Emotion::Disgust)),
    ("FEA", Label::Coded(Emotion::Fearful)),
    ("HAP", Label::Coded(Emotion::Happy)),
    ("NEU", Label::Coded(Emotion::Neutral)),
    ("SAD", Label::Coded(Emotion::Sad)),
];

/// Emotion levels: low, medium, high, unspecified.
const LEVELS: [&str; 4] = ["LO", "MD", "HI", "XX"];

/// The actors' ids.
pub(crate) const ACTORS: std::ops::RangeInclusive<u16> = 1001..=1091;

/// The layout, for messages.
const LAYOUT: &str = "actor_sentence_emotion_level, e.g. 1001_DFA_ANG_XX";

/// Checks an actor id, `1001`..`1091`.
fn check_actor(actor: &str) -> Result<u16, NameError> {
    number(actor, 4, "actor", ACTORS, "one of 1001..1091")
}

/// The path of `actor` saying `sentence` in `label` at `level`, in CREMA-D's `AudioWAV`
/// folder: `AudioWAV/1001_DFA_ANG_XX.wav`; the inverse of [`labels`].
pub(crate) fn path(
    actor: u16,
    sentence: &str,
    label: Label,
    level: &str,
) -> Result<String, NameError> {
    let actor = actor.to_string();
    check_actor(&actor)?;
    one_of(sentence, "sentence", &SENTENCES)?;
    let emotion = code_of(Corpus::CremaD, label, &EMOTIONS)?;
    one_of(level, "level", &LEVELS)?;
    Ok(format!("AudioWAV/{actor}_{sentence}_{emotion}_{level}.wav"))
}

/// The labels of `stem` (`1001_DFA_ANG_XX`).
pub(super) fn labels(stem: &str) -> Result<Labels, NameError> {
    let fields: Vec<&str> = stem.split('_').collect();
    let [actor, sentence, emotion, level] = fields[..] else {
        return Err(NameError::FieldCount {
            expected: "4",
            separator: "underscore",
            layout: LAYOUT,
            found: fields.len(),
        });
    };
    check_actor(actor)?;
    one_of(sentence, "sentence", &SENTENCES)?;
    let label = lookup(emotion, "emotion", &EMOTIONS)?;
    one_of(level, "level", &LEVELS)?;
    Ok(Labels {
        speaker: actor.to_string(),
        sex: String::new(),
        label: Some(label),
        intensity: level.to_string(),
        statement: sentence.to_string(),
        repetition: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{ClipName, Corpus};

    #[test]
    fn every_actor_sentence_emotion_and_level() {
        let mut seen = 0;
        for actor in 1001..=1091 {
            for sentence in SENTENCES {
                for (emotion, label) in EMOTIONS {
                    for level in LEVELS {
                        let stem = format!("{actor}_{sentence}_{emotion}_{level}");
                        let expected = ClipName {
                            file_id: stem.clone(),
                            labels: Labels {
                                speaker: actor.to_string(),
                                sex: String::new(),
                                label: Some(label),
                                intensity: level.into(),
                                statement: sentence.into(),
                                repetition: String::new(),
                            },
                        };
                        let path = format!("AudioWAV/{stem}.wav");
                        assert_eq!(Corpus::CremaD.parse(&path).unwrap(), expected, "{path}");
                        seen += 1;
                    }
                }
            }
        }
        assert_eq!(seen, 91 * 12 * 6 * 4);
        let name = Corpus::CremaD.parse("1091_WSI_FEA_HI.wav").unwrap();
        assert_eq!(
            (name.labels.speaker.as_str(), name.labels.label),
            ("1091", Some(Label::Coded(Emotion::Fearful)))
        );
    }

    #[test]
    fn formatted_paths_parse_back() {
        let path = super::path(1042, "IEO", Label::Coded(Emotion::Disgust), "HI").unwrap();
        assert_eq!(path, "AudioWAV/1042_IEO_DIS_HI.wav");
        let labels = Corpus::CremaD.parse(&path).unwrap().labels;
        assert_eq!(
            (labels.speaker.as_str(), labels.statement.as_str(), labels.intensity.as_str()),
            ("1042", "IEO", "HI")
        );
        assert_eq!(labels.label, Some(Label::Coded(Emotion::Disgust)));
        let errors = [
            (
                super::path(1092, "IEO", Label::Coded(Emotion::Sad), "HI"),
                "actor `1092` is not one of 1001..1091",
            ),
            (
                super::path(1001, "IEO", Label::Coded(Emotion::Surprised), "HI"),
                "corpus `crema-d` has no label `surprised`",
            ),
            (
                super::path(1001, "IEO", Label::Coded(Emotion::Sad), "XY"),
                "level `XY` is not one of LO, MD, HI, XX",
            ),
        ];
        for (result, message) in errors {
            assert_eq!(result.unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn malformed_crema_d_names_are_precise_errors() {
        let cases = [
            (
                "1001_DFA_ANG.wav",
                format!("expected 4 underscore-separated fields ({LAYOUT}), found 3"),
            ),
            (
                "1001-DFA-ANG-XX.wav",
                format!("expected 4 underscore-separated fields ({LAYOUT}), found 1"),
            ),
            ("1000_DFA_ANG_XX.wav", "actor `1000` is not one of 1001..1091".into()),
            ("1092_DFA_ANG_XX.wav", "actor `1092` is not one of 1001..1091".into()),
            ("101_DFA_ANG_XX.wav", "actor `101` is not one of 1001..1091".into()),
            (
                "1001_ABC_ANG_XX.wav",
                "sentence `ABC` is not one of IEO, TIE, IOM, IWW, TAI, MTI, IWL, ITH, DFA, ITS, \
                 TSI, WSI"
                    .into(),
            ),
            (
                "1001_DFA_SUR_XX.wav",
                "emotion `SUR` is not one of ANG, DIS, FEA, HAP, NEU, SAD".into(),
            ),
            (
                "1001_DFA_ang_XX.wav",
                "emotion `ang` is not one of ANG, DIS, FEA, HAP, NEU, SAD".into(),
            ),
            ("1001_DFA_ANG_X.wav", "level `X` is not one of LO, MD, HI, XX".into()),
        ];
        for (path, message) in cases {
            let err = Corpus::CremaD.parse(path).unwrap_err();
            assert_eq!(err.to_string(), message, "{path}");
        }
    }
}
