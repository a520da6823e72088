//! SAVEE (Surrey Audio-Visual Expressed Emotion): four male speakers, seven emotions.
//!
//! Two layouts are read: the original `DC/a01.wav` (the speaker is the parent folder) and the
//! flat `DC_a01.wav` (any folder). The clip id is `DC_a01` in both, so clips from the two
//! layouts have the same ids. The name is an emotion prefix (`a` anger, `d` disgust, `f` fear,
//! `h` happiness, `n` neutral, `sa` sadness, `su` surprise) and a two-digit number; the whole
//! code (`a01`) is the statement id, since SAVEE's sentences are numbered per emotion.

use crate::emotion::Emotion;

use super::{ClipName, Corpus, Label, Labels, NameError, code_of, lookup, number};

/// The speakers and their sex (all male).
pub(crate) const SPEAKERS: [(&str, &str); 4] = [("DC", "m"), ("JE", "m"), ("JK", "m"), ("KL", "m")];

/// Emotion prefixes and their labels.
pub(super) const EMOTIONS: [(&str, Label); 7] = [
    ("a", Label::Coded(Emotion::Angry)),
    ("d", Label::Coded(Emotion::Disgust)),
    ("f", Label::Coded(Emotion::Fearful)),
    ("h", Label::Coded(Emotion::Happy)),
    ("n", Label::Coded(Emotion::Neutral)),
    ("sa", Label::Coded(Emotion::Sad)),
    ("su", Label::Coded(Emotion::Surprised)),
];

/// Checks a sentence number's two digits, `01`..`99`.
fn check_sentence(digits: &str) -> Result<u16, NameError> {
    number(digits, 2, "sentence number", 1..=99, "two digits 01..99")
}

/// The path of `speaker`'s clip of `label` with sentence number `sentence` (1..=99) in SAVEE's
/// original layout, `AudioData/DC/a01.wav`: the inverse of [`parse`].
pub(crate) fn path(speaker: &str, label: Label, sentence: u16) -> Result<String, NameError> {
    lookup(speaker, "speaker", &SPEAKERS)?;
    let prefix = code_of(Corpus::Savee, label, &EMOTIONS)?;
    let digits = format!("{sentence:02}");
    check_sentence(&digits)?;
    Ok(format!("AudioData/{speaker}/{prefix}{digits}.wav"))
}

/// Parses `stem` (`DC_a01`, or `a01` inside `folder`).
pub(super) fn parse(stem: &str, folder: Option<&str>) -> Result<ClipName, NameError> {
    let (speaker, code, speaker_field) = match (stem.split_once('_'), folder) {
        (Some((speaker, code)), _) => (speaker, code, "speaker"),
        (None, Some(folder)) => (folder, stem, "speaker folder"),
        (None, None) => {
            return Err(NameError::NoSpeaker { name: stem.to_string() });
        }
    };
    let sex = lookup(speaker, speaker_field, &SPEAKERS)?;
    let split = code.find(|c: char| c.is_ascii_digit()).unwrap_or(code.len());
    let (prefix, digits) = code.split_at(split);
    let label = lookup(prefix, "emotion prefix", &EMOTIONS)?;
    check_sentence(digits)?;
    Ok(ClipName {
        file_id: format!("{speaker}_{code}"),
        labels: Labels {
            speaker: speaker.to_string(),
            sex: sex.to_string(),
            label: Some(label),
            intensity: String::new(),
            statement: code.to_string(),
            repetition: String::new(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Corpus;

    #[test]
    fn every_speaker_and_emotion_in_both_layouts() {
        let mut seen = 0;
        for (speaker, _) in SPEAKERS {
            for (prefix, label) in EMOTIONS {
                let count = if prefix == "n" { 30 } else { 15 };
                for n in 1..=count {
                    let code = format!("{prefix}{n:02}");
                    let expected = ClipName {
                        file_id: format!("{speaker}_{code}"),
                        labels: Labels {
                            speaker: speaker.into(),
                            sex: "m".into(),
                            label: Some(label),
                            intensity: String::new(),
                            statement: code.clone(),
                            repetition: String::new(),
                        },
                    };
                    for path in [
                        format!("AudioData/{speaker}/{code}.wav"),
                        format!("{speaker}/{code}.wav"),
                        format!("{speaker}_{code}.wav"),
                        format!("ALL/{speaker}_{code}.wav"),
                    ] {
                        assert_eq!(Corpus::Savee.parse(&path).unwrap(), expected, "{path}");
                    }
                    seen += 1;
                }
            }
        }
        // 120 utterances per speaker: 30 neutral, 15 of each other emotion.
        assert_eq!(seen, 480);
        let sad = Corpus::Savee.parse("KL/sa07.wav").unwrap();
        assert_eq!(sad.labels.label, Some(Label::Coded(Emotion::Sad)));
        let surprise = Corpus::Savee.parse("JE_su15.wav").unwrap();
        assert_eq!(surprise.labels.label, Some(Label::Coded(Emotion::Surprised)));
    }

    #[test]
    fn formatted_paths_parse_back() {
        let path = super::path("KL", Label::Coded(Emotion::Surprised), 7).unwrap();
        assert_eq!(path, "AudioData/KL/su07.wav");
        let name = Corpus::Savee.parse(&path).unwrap();
        assert_eq!(name.file_id, "KL_su07");
        assert_eq!(
            (name.labels.speaker.as_str(), name.labels.label),
            ("KL", Some(Label::Coded(Emotion::Surprised)))
        );
        let errors = [
            (
                super::path("XY", Label::Coded(Emotion::Sad), 1),
                "speaker `XY` is not one of DC, JE, JK, KL",
            ),
            (
                super::path("DC", Label::Coded(Emotion::Calm), 1),
                "corpus `savee` has no label `calm`",
            ),
            (
                super::path("DC", Label::Coded(Emotion::Sad), 100),
                "sentence number `100` is not two digits 01..99",
            ),
        ];
        for (result, message) in errors {
            assert_eq!(result.unwrap_err().to_string(), message);
        }
    }

    #[test]
    fn malformed_savee_names_are_precise_errors() {
        let cases = [
            (
                "a01.wav",
                "`a01` names no speaker: expected `SPEAKER_a01` or a speaker folder \
                 `SPEAKER/a01` (SPEAKER one of DC, JE, JK, KL)",
            ),
            ("XY_a01.wav", "speaker `XY` is not one of DC, JE, JK, KL"),
            ("dc_a01.wav", "speaker `dc` is not one of DC, JE, JK, KL"),
            ("AudioData/a01.wav", "speaker folder `AudioData` is not one of DC, JE, JK, KL"),
            ("DC/x01.wav", "emotion prefix `x` is not one of a, d, f, h, n, sa, su"),
            ("DC_s01.wav", "emotion prefix `s` is not one of a, d, f, h, n, sa, su"),
            ("DC_01.wav", "emotion prefix `` is not one of a, d, f, h, n, sa, su"),
            ("DC_a1.wav", "sentence number `1` is not two digits 01..99"),
            ("DC_a00.wav", "sentence number `00` is not two digits 01..99"),
            ("DC_a001.wav", "sentence number `001` is not two digits 01..99"),
            ("DC_a01_x.wav", "sentence number `01_x` is not two digits 01..99"),
            ("DC/a.wav", "sentence number `` is not two digits 01..99"),
        ];
        for (path, message) in cases {
            let err = Corpus::Savee.parse(path).unwrap_err();
            assert_eq!(err.to_string(), message, "{path}");
        }
    }
}
