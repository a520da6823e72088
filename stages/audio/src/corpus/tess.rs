//! TESS (Toronto Emotional Speech Set): two female speakers saying "Say the word ..." with
//! 200 target words in seven emotions.
//!
//! `OAF_back_angry.wav`: speaker (`OAF` older, `YAF` younger adult female), the target word
//! (the statement id) and the emotion as the last token (`angry`, `disgust`, `fear`, `happy`,
//! `neutral`, `ps` pleasant surprise, `sad`). TESS' folder names are inconsistent across
//! copies (`OAF_Pleasant_surprise`, `YAF_pleasant_surprised`, ...), so only the file name is
//! read.

use crate::emotion::Emotion;

use super::{Corpus, Label, Labels, NameError, code_of, lookup};

/// The speakers and their sex.
pub(crate) const SPEAKERS: [(&str, &str); 2] = [("OAF", "f"), ("YAF", "f")];

/// Emotion tokens and their labels; pleasant surprise maps onto surprised (08).
pub(super) const EMOTIONS: [(&str, Label); 7] = [
    ("angry", Label::Coded(Emotion::Angry)),
    ("disgust", Label::Coded(Emotion::Disgust)),
    ("fear", Label::Coded(Emotion::Fearful)),
    ("happy", Label::Coded(Emotion::Happy)),
    ("neutral", Label::Coded(Emotion::Neutral)),
    ("ps", Label::Coded(Emotion::Surprised)),
    ("sad", Label::Coded(Emotion::Sad)),
];

/// The first 32 of TESS' 200 target words (from the Northwestern University Auditory Test
/// No. 6), for synthesized corpora; the parser accepts any word.
pub(crate) const WORDS: [&str; 32] = [
    "back", "bar", "base", "bath", "bean", "beg", "bite", "boat", "bone", "book", "bought", "burn",
    "cab", "calm", "came", "cause", "chain", "chair", "chalk", "chat", "check", "cheek", "chief",
    "choice", "cool", "dab", "date", "dead", "death", "deep", "dime", "dip",
];

/// The layout, for messages.
const LAYOUT: &str = "speaker_word_emotion, e.g. OAF_back_angry";

/// The error for a name of `found` tokens, fewer than three.
fn too_few(found: usize) -> NameError {
    NameError::FieldCount { expected: "at least 3", separator: "underscore", layout: LAYOUT, found }
}

/// Checks that a target word is not empty.
fn check_word(word: &str) -> Result<(), NameError> {
    if word.is_empty() {
        return Err(NameError::Field {
            field: "word",
            value: word.to_string(),
            expected: "a non-empty word".into(),
        });
    }
    Ok(())
}

/// The path of `speaker` saying `word` in `label`, in a folder per speaker and emotion as TESS
/// is distributed: `OAF_angry/OAF_back_angry.wav`; the inverse of [`labels`].
pub(crate) fn path(speaker: &str, word: &str, label: Label) -> Result<String, NameError> {
    lookup(speaker, "speaker", &SPEAKERS)?;
    let token = code_of(Corpus::Tess, label, &EMOTIONS)?;
    check_word(word)?;
    Ok(format!("{speaker}_{token}/{speaker}_{word}_{token}.wav"))
}

/// The labels of `stem` (`OAF_back_angry`).
pub(super) fn labels(stem: &str) -> Result<Labels, NameError> {
    let tokens: Vec<&str> = stem.split('_').collect();
    let [speaker, ref word @ .., emotion] = tokens[..] else {
        return Err(too_few(tokens.len()));
    };
    if word.is_empty() {
        return Err(too_few(tokens.len()));
    }
    let sex = lookup(speaker, "speaker", &SPEAKERS)?;
    let label = lookup(emotion, "emotion", &EMOTIONS)?;
    let word = word.join("_");
    check_word(&word)?;
    Ok(Labels {
        speaker: speaker.to_string(),
        sex: sex.to_string(),
        label: Some(label),
        intensity: String::new(),
        statement: word,
        repetition: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::{ClipName, Corpus};

    #[test]
    fn every_speaker_and_emotion_whatever_the_folder() {
        let folders = [
            "",
            "TESS Toronto emotional speech set data/OAF_Pleasant_surprise/",
            "YAF_pleasant_surprised/",
            "OAF_Fear/",
            "tess/YAF_angry/",
            "OAF_neutral/",
        ];
        for (speaker, _) in SPEAKERS {
            for (token, label) in EMOTIONS {
                for word in ["back", "youth", "chair"] {
                    let stem = format!("{speaker}_{word}_{token}");
                    let expected = ClipName {
                        file_id: stem.clone(),
                        labels: Labels {
                            speaker: speaker.into(),
                            sex: "f".into(),
                            label: Some(label),
                            intensity: String::new(),
                            statement: word.into(),
                            repetition: String::new(),
                        },
                    };
                    for folder in folders {
                        let path = format!("{folder}{stem}.wav");
                        assert_eq!(Corpus::Tess.parse(&path).unwrap(), expected, "{path}");
                    }
                }
            }
        }
        let surprise = Corpus::Tess.parse("OAF_Fear/YAF_dog_ps.wav").unwrap();
        assert_eq!(surprise.labels.label, Some(Label::Coded(Emotion::Surprised)));
        assert_eq!(surprise.labels.speaker, "YAF");
        let fear = Corpus::Tess.parse("YAF_happy/OAF_bath_fear.wav").unwrap();
        assert_eq!(fear.labels.label, Some(Label::Coded(Emotion::Fearful)));
        let two_words = Corpus::Tess.parse("OAF_ice_cream_sad.wav").unwrap();
        assert_eq!(two_words.labels.statement, "ice_cream");
    }

    #[test]
    fn formatted_paths_parse_back() {
        let path = super::path("YAF", "bean", Label::Coded(Emotion::Surprised)).unwrap();
        assert_eq!(path, "YAF_ps/YAF_bean_ps.wav");
        let name = Corpus::Tess.parse(&path).unwrap();
        assert_eq!(name.file_id, "YAF_bean_ps");
        assert_eq!(
            (name.labels.speaker.as_str(), name.labels.statement.as_str(), name.labels.label),
            ("YAF", "bean", Some(Label::Coded(Emotion::Surprised)))
        );
        let errors = [
            (
                super::path("MAF", "bean", Label::Coded(Emotion::Sad)),
                "speaker `MAF` is not one of OAF, YAF",
            ),
            (
                super::path("OAF", "bean", Label::Coded(Emotion::Calm)),
                "corpus `tess` has no label `calm`",
            ),
            (super::path("OAF", "", Label::Coded(Emotion::Sad)), "word `` is not a non-empty word"),
        ];
        for (result, message) in errors {
            assert_eq!(result.unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn malformed_tess_names_are_precise_errors() {
        let cases = [
            (
                "OAF_angry.wav",
                format!("expected at least 3 underscore-separated fields ({LAYOUT}), found 2"),
            ),
            (
                "back.wav",
                format!("expected at least 3 underscore-separated fields ({LAYOUT}), found 1"),
            ),
            ("MAF_back_angry.wav", "speaker `MAF` is not one of OAF, YAF".into()),
            (
                "OAF_back_surprise.wav",
                "emotion `surprise` is not one of angry, disgust, fear, happy, neutral, ps, sad"
                    .into(),
            ),
            (
                "OAF_back_Angry.wav",
                "emotion `Angry` is not one of angry, disgust, fear, happy, neutral, ps, sad"
                    .into(),
            ),
            ("OAF__angry.wav", "word `` is not a non-empty word".into()),
        ];
        for (path, message) in cases {
            let err = Corpus::Tess.parse(path).unwrap_err();
            assert_eq!(err.to_string(), message, "{path}");
        }
    }
}
