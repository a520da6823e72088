//! The `synth` stage's `naming` param: the corpus whose file naming and folder layout the
//! synthesized clips are written in, with that corpus' speakers and emotions.
//!
//! A *take* is one speaker saying one statement (1 or 2: the vowels of RAVDESS' two sentences)
//! once (a repetition, see below) in one emotion's style (see [`crate::synth`]) at normal or strong
//! intensity. Each naming speaks the labels its corpus has and names every take with the corpus
//! module's own formatter, the inverse of the parser `decode` uses, so the two cannot disagree.
//! With `S` statements and `R` repetitions:
//!
//! | naming    | example path                        | speakers (`actors` caps them)      | labels                              | clips per speaker     |
//! |-----------|-------------------------------------|------------------------------------|-------------------------------------|-----------------------|
//! | `ravdess` | `Actor_01/03-01-05-02-01-01-01.wav` | `01`..`24`, odd male               | all 8 (neutral at normal only)      | (7 x 2 + 1) S R (60)  |
//! | `savee`   | `AudioData/DC/a01.wav`              | DC, JE, JK, KL, male               | 7 (no calm)                         | 7 x 2 S R (56)        |
//! | `tess`    | `OAF_angry/OAF_back_angry.wav`      | OAF, YAF, female                   | 7 (no calm; surprised is `ps`)      | 7 x 2 S R (56)        |
//! | `crema-d` | `AudioWAV/1001_IEO_ANG_MD.wav`      | `1001`..`1091`, odd ids male voice | 6 (no calm, no surprise)            | 6 x 2 S R (48)        |
//! | `emodb`   | `wav/03a01La.wav`                   | 03, 08, .. 16 with EmoDB's sexes   | 6 + boredom `L` (no calm, surprise) | 7 x 2 S R (56)        |
//!
//! (the counts in brackets for S = R = 2). The speakers are the corpus' first `actors` in the
//! order above. RAVDESS names two repetitions; the other namings name further takes of a
//! statement, up to [`Naming::max_repetitions`] (8; 6 for CREMA-D, which has 12 sentences). How
//! a take's statement, repetition and intensity become the corpus' fields, with
//! `k = ((intensity - 1) S + statement - 1) R + repetition - 1` the take's index (0..2SR):
//!
//! - `savee`: sentence number `k + 1` (`a01`, `a02`, ..);
//! - `tess`: target word number `k` of TESS' list (back, bar, base, bath, bean, ..);
//! - `crema-d`: sentence number `(statement - 1) R + repetition - 1` of CREMA-D's list (IEO,
//!   TIE, IOM, IWW, ..), level `MD` at normal and `HI` at strong intensity (the synthesized
//!   voices' sex is not in CREMA-D's names, so `decode` leaves it empty, as for the real corpus);
//! - `emodb`: text number `(intensity - 1) S + statement - 1` of EmoDB's list (a01, a02, a04,
//!   a05), version `a`, `b`, .. for repetition 1, 2, ... Boredom is spoken in the calm style (low
//!   arousal) and named `L`, so a pipeline on it needs a `labels` policy in `decode`, as EmoDB.
//!
//! Only RAVDESS has no strong neutral; the other corpora name no intensity, so their neutral
//! takes come at both (strong is 2 dB louder). The random streams of every naming but `ravdess`
//! are offset by the naming, so a SAVEE speaker never has the voice or the takes of a RAVDESS
//! actor and cross-corpus demos do not test on their training clips.

use std::ops::RangeInclusive;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use crate::emotion::Emotion;

use crate::corpus::{Corpus, Label, NameError, RavdessName, crema_d, emodb, iemocap, savee, tess};

/// The corpus layout that the `synth` stage names its files in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Naming {
    /// RAVDESS: `Actor_AA/03-01-EE-II-SS-RR-AA.wav`, up to 24 actors, 8 emotions.
    Ravdess,
    /// SAVEE: `AudioData/DC/a01.wav`, speakers DC, JE, JK, KL, 7 emotions.
    Savee,
    /// TESS: `OAF_angry/OAF_back_angry.wav`, speakers OAF, YAF, 7 emotions.
    Tess,
    /// CREMA-D: `AudioWAV/1001_IEO_ANG_MD.wav`, up to 91 actors, 6 emotions.
    CremaD,
    /// Berlin EmoDB: `wav/03a01Fa.wav`, 10 speakers, 6 emotions and boredom (`L`).
    Emodb,
    /// IEMOCAP: `Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav` with the labels
    /// in `Session1/dialog/EmoEvaluation/Ses01F_impro01.txt`; 10 speakers (a female and a male
    /// actor per session), improvised (statement 1) and scripted (statement 2) dialogs, and
    /// IEMOCAP's six frequent categories: neutral, happy, excited, angry, sad, frustrated.
    Iemocap,
}

/// The categories synthesized in IEMOCAP naming (its frequent ones), each with the style that
/// speaks it: excited as surprised (high arousal, positive), frustrated as disgust.
const IEMOCAP_SPOKEN: [(Label, Emotion); 6] = [
    (Label::Coded(Emotion::Neutral), Emotion::Neutral),
    (Label::Coded(Emotion::Happy), Emotion::Happy),
    (Label::Uncoded("excited"), Emotion::Surprised),
    (Label::Coded(Emotion::Angry), Emotion::Angry),
    (Label::Coded(Emotion::Sad), Emotion::Sad),
    (Label::Uncoded("frustrated"), Emotion::Disgust),
];

/// One synthesized clip, in the terms of the synthesizer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Take {
    /// The speaker's position in the naming's speaker list, from 0.
    pub speaker: u8,
    /// The corpus label the file is named with.
    pub label: Label,
    /// The emotion whose style is spoken (calm for EmoDB boredom).
    pub style: Emotion,
    /// 1 normal, 2 strong.
    pub intensity: u8,
    /// 1 or 2.
    pub statement: u8,
    /// 1 or 2.
    pub repetition: u8,
}

/// The sentence codes' level of a take's intensity, CREMA-D naming.
const CREMA_D_LEVELS: [&str; 2] = ["MD", "HI"];

impl Naming {
    /// The corpus whose `decode` reads the files.
    pub fn corpus(self) -> Corpus {
        match self {
            Self::Ravdess => Corpus::Ravdess,
            Self::Savee => Corpus::Savee,
            Self::Tess => Corpus::Tess,
            Self::CremaD => Corpus::CremaD,
            Self::Emodb => Corpus::Emodb,
            Self::Iemocap => Corpus::Iemocap,
        }
    }

    /// The number of speakers the corpus has.
    pub fn speakers(self) -> u8 {
        match self {
            Self::Ravdess => RavdessName::ACTORS,
            Self::Savee => savee::SPEAKERS.len() as u8,
            Self::Tess => tess::SPEAKERS.len() as u8,
            Self::CremaD => (crema_d::ACTORS.end() - crema_d::ACTORS.start() + 1) as u8,
            Self::Emodb => emodb::SPEAKERS.len() as u8,
            Self::Iemocap => 2 * iemocap::SESSIONS,
        }
    }

    /// The most repetitions (takes of a statement at one intensity) the naming can name:
    /// RAVDESS' 2, CREMA-D's 12 sentences over 2 statements, 8 for the others (TESS' 32 words
    /// over 2 statements and 2 intensities).
    pub fn max_repetitions(self) -> u8 {
        match self {
            Self::Ravdess => 2,
            Self::CremaD => (crema_d::SENTENCES.len() / 2) as u8,
            Self::Savee | Self::Tess | Self::Emodb => (tess::WORDS.len() / 4) as u8,
            // Dialogs of each type per session.
            Self::Iemocap => 8,
        }
    }

    /// Whether speaker `speaker` (from 0) has a male voice: the corpus' documented sex, and
    /// alternating (first male) where the names carry none (RAVDESS' odd actors, CREMA-D).
    pub(crate) fn male(self, speaker: u8) -> bool {
        let documented =
            |table: &[(&str, &str)]| table.get(usize::from(speaker)).is_some_and(|s| s.1 == "m");
        match self {
            Self::Ravdess | Self::CremaD => speaker.is_multiple_of(2),
            // Each session's female actor, then its male one.
            Self::Iemocap => !speaker.is_multiple_of(2),
            Self::Savee => documented(&savee::SPEAKERS),
            Self::Tess => documented(&tess::SPEAKERS),
            Self::Emodb => documented(&emodb::SPEAKERS),
        }
    }

    /// The offset of the naming's random streams: 0 for `ravdess`, whose output predates the
    /// param, a distinct high bit pattern for each other naming.
    pub(crate) fn stream_offset(self) -> u64 {
        let tag: u64 = match self {
            Self::Ravdess => 0,
            Self::Savee => 1,
            Self::Tess => 2,
            Self::CremaD => 3,
            Self::Emodb => 4,
            Self::Iemocap => 5,
        };
        tag << 48
    }

    /// The labels spoken, in the corpus' vocabulary order, each with the emotion whose style
    /// speaks it: a coded label its own, an uncoded one (EmoDB boredom) calm's.
    pub(crate) fn labels(self) -> Vec<(Label, Emotion)> {
        if self == Self::Iemocap {
            return IEMOCAP_SPOKEN.to_vec();
        }
        let style = |label| match label {
            Label::Coded(emotion) => emotion,
            Label::Uncoded(_) => Emotion::Calm,
        };
        self.corpus().vocabulary().into_iter().map(|label| (label, style(label))).collect()
    }

    /// The intensities spoken for `label`: RAVDESS has no strong neutral.
    pub(crate) fn intensities(self, label: Label) -> RangeInclusive<u8> {
        if self == Self::Ravdess && label == Label::Coded(Emotion::Neutral) { 1..=1 } else { 1..=2 }
    }

    /// The path of `take`, relative to the corpus folder, for a corpus of `statements`
    /// statements and `repetitions` repetitions.
    pub(crate) fn path(
        self,
        take: &Take,
        statements: u8,
        repetitions: u8,
    ) -> Result<String, NameError> {
        let speaker = |table: &[(&'static str, &str)]| {
            let ids: Vec<&'static str> = table.iter().map(|&(id, _)| id).collect();
            pick(&ids, take.speaker, "speaker")
        };
        let (intensity, statement, repetition) =
            (take.intensity - 1, take.statement - 1, take.repetition - 1);
        let text = intensity * statements + statement;
        let sentence = statement * repetitions + repetition;
        let index = text * repetitions + repetition;
        match self {
            Self::Ravdess => {
                let Label::Coded(emotion) = take.label else {
                    return Err(NameError::NoLabel {
                        corpus: Corpus::Ravdess.name(),
                        label: take.label.name(),
                    });
                };
                let name = RavdessName {
                    channel: 1,
                    emotion,
                    intensity: take.intensity,
                    statement: take.statement,
                    repetition: take.repetition,
                    actor: take.speaker + 1,
                };
                Ok(name.path())
            }
            Self::Savee => {
                savee::path(speaker(&savee::SPEAKERS)?, take.label, u16::from(index) + 1)
            }
            Self::Tess => tess::path(
                speaker(&tess::SPEAKERS)?,
                pick(&tess::WORDS, index, "word")?,
                take.label,
            ),
            Self::CremaD => crema_d::path(
                crema_d::ACTORS.start() + u16::from(take.speaker),
                pick(&crema_d::SENTENCES, sentence, "sentence")?,
                take.label,
                pick(&CREMA_D_LEVELS, intensity, "level")?,
            ),
            Self::Emodb => emodb::path(
                speaker(&emodb::SPEAKERS)?,
                pick(&emodb::TEXTS, text, "text")?,
                take.label,
                char::from(b'a' + repetition),
            ),
            Self::Iemocap => {
                let (session, _, utterance) = self.iemocap_utterance(take)?;
                let dialog = utterance.rsplit_once('_').map_or("", |(d, _)| d);
                Ok(format!("Session{session}/sentences/wav/{dialog}/{utterance}.wav"))
            }
        }
    }

    /// An IEMOCAP take's session (1..=5), category code and utterance id: dialog `impro0R`
    /// (statement 1) or `script0R_1` (statement 2) of repetition `R`, the speaker's turn
    /// numbered by category and intensity.
    pub(crate) fn iemocap_utterance(self, take: &Take) -> Result<(u8, &'static str, String), NameError> {
        let session = take.speaker / 2 + 1;
        if session > iemocap::SESSIONS {
            return Err(NameError::Field {
                field: "speaker",
                value: format!("number {}", take.speaker + 1),
                expected: format!("one of the corpus' {}", 2 * iemocap::SESSIONS),
            });
        }
        let code = iemocap::code(take.label)?;
        let kind = if take.statement == 1 { format!("impro{:02}", take.repetition) } else { format!("script{:02}_1", take.repetition) };
        let dialog = format!("Ses{session:02}F_{kind}");
        let category = iemocap::LABELS.iter().position(|(c, _)| *c == code).unwrap_or(0) as u16;
        let turn = category * 2 + u16::from(take.intensity - 1);
        let sex = if self.male(take.speaker) { 'M' } else { 'F' };
        Ok((session, code, iemocap::utterance_id(&dialog, sex, turn)))
    }
}

/// Entry `index` (from 0) of a corpus' `field` list; an error past its end.
fn pick<'a>(list: &[&'a str], index: u8, field: &'static str) -> Result<&'a str, NameError> {
    list.get(usize::from(index)).copied().ok_or_else(|| NameError::Field {
        field,
        value: format!("number {}", u16::from(index) + 1),
        expected: format!("one of the corpus' {}", list.len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Naming; 5] =
        [Naming::Ravdess, Naming::Savee, Naming::Tess, Naming::CremaD, Naming::Emodb];

    #[test]
    fn every_take_parses_back_with_its_corpus() {
        for naming in ALL {
            let mut paths = std::collections::BTreeSet::new();
            for speaker in [0, naming.speakers() - 1] {
                for (label, style) in naming.labels() {
                    for intensity in naming.intensities(label) {
                        for statement in 1..=2 {
                            for repetition in 1..=naming.max_repetitions() {
                                let take = Take {
                                    speaker,
                                    label,
                                    style,
                                    intensity,
                                    statement,
                                    repetition,
                                };
                                let path = naming.path(&take, 2, naming.max_repetitions()).unwrap();
                                let name = naming.corpus().parse(&path).unwrap();
                                assert_eq!(name.labels.label, Some(label), "{path}");
                                assert!(paths.insert(name.file_id), "{path} twice");
                            }
                        }
                    }
                }
            }
            // Labels x 2 intensities x 2 statements x repetitions (RAVDESS: neutral normal only).
            let per_speaker = match naming {
                Naming::Ravdess => 15 * 2 * 2,
                Naming::CremaD => 6 * 2 * 2 * 6,
                _ => 7 * 2 * 2 * 8,
            };
            assert_eq!(paths.len(), 2 * per_speaker, "{naming:?}");
        }
    }

    #[test]
    fn speakers_and_styles_follow_the_corpus() {
        let counts: Vec<u8> = ALL.iter().map(|n| n.speakers()).collect();
        assert_eq!(counts, [24, 4, 2, 91, 10]);
        let repetitions: Vec<u8> = ALL.iter().map(|n| n.max_repetitions()).collect();
        assert_eq!(repetitions, [2, 8, 8, 6, 8]);
        let males = |naming: Naming| -> Vec<bool> {
            (0..naming.speakers().min(4)).map(|s| naming.male(s)).collect()
        };
        assert_eq!(males(Naming::Ravdess), [true, false, true, false]);
        assert_eq!(males(Naming::Savee), [true; 4]);
        assert_eq!(males(Naming::Tess), [false; 2]);
        // EmoDB 03 m, 08 f, 09 f, 10 m.
        assert_eq!(males(Naming::Emodb), [true, false, false, true]);
        let emodb = Naming::Emodb.labels();
        assert_eq!(emodb.last(), Some(&(Label::Uncoded("boredom"), Emotion::Calm)));
        assert_eq!(emodb.len(), 7);
        assert_eq!(Naming::CremaD.labels().len(), 6);
        assert!(Naming::Savee.labels().iter().all(|&(l, s)| l == Label::Coded(s)));
        let take = Take {
            speaker: 1,
            label: Label::Coded(Emotion::Fearful),
            style: Emotion::Fearful,
            intensity: 2,
            statement: 2,
            repetition: 1,
        };
        let paths: Vec<String> = ALL.iter().map(|n| n.path(&take, 2, 2).unwrap()).collect();
        assert_eq!(
            paths,
            [
                "Actor_02/03-01-06-02-02-01-02.wav",
                "AudioData/JE/f07.wav",
                "YAF_fear/YAF_bite_fear.wav",
                "AudioWAV/1002_IOM_FEA_HI.wav",
                "wav/08a05Aa.wav",
            ]
        );
        let past = Take { speaker: 2, ..take };
        assert_eq!(
            Naming::Tess.path(&past, 2, 2).unwrap_err().to_string(),
            "speaker `number 3` is not one of the corpus' 2"
        );
    }
}
