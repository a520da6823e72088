//! IEMOCAP (Interactive Emotional Dyadic Motion Capture): five sessions of two actors each
//! (one female, one male), improvised and scripted dialogs cut into utterances.
//!
//! The released layout (`IEMOCAP_full_release/`, any folder above `Session1` is fine):
//!
//! ```text
//! Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav    one utterance
//! Session1/dialog/EmoEvaluation/Ses01F_impro01.txt                  its dialog's labels
//! ```
//!
//! The labels are not in the file names: each dialog's `EmoEvaluation` file has a line per
//! utterance, `[START - END]<tab>UTTERANCE<tab>CODE<tab>[V, A, D]`, with the majority
//! category (`neu`, `hap`, `exc`, `ang`, `sad`, `fru`, `fea`, `sur`, `dis`, `oth`, or `xxx`
//! without a majority) and the mean valence, activation and dominance (1..5). The utterance
//! id names the speaker: `Ses01F_impro01_F000` is session 1's female actor (speaker
//! `Ses01F`), `..._M012` its male one; the dialog (`Ses01F_impro01`, `Ses01M_script02_1`) is
//! the statement id. The manifest keeps the session (`session`, for leave-one-session-out),
//! the dialog type (`type`: `improvised` or `scripted`, to keep one of them) and
//! `valence`/`arousal`/`dominance` as extra columns. Full-dialog recordings (`dialog/wav`) are
//! not utterances and are not read.
//!
//! Labels are named by their RAVDESS emotion name where it has one (`ang` is `angry`) and by
//! IEMOCAP's word otherwise: `excited`, `frustrated`, `other`, `no-agreement` (`xxx`). The
//! usual four-class protocol is `classes = ["neutral", "happy", "angry", "sad"]` with
//! `labels = { excited = "happy", "*" = "drop" }` (see `pipelines/iemocap.toml`).

use std::collections::BTreeMap;
use std::path::Path;

use crate::emotion::Emotion;
use crate::error::{AudioError, FileError};
use crate::sources::{Place, Source, Sources, audio_files};

use super::{Corpus, Label, NameError, lookup};

/// Category codes and their labels, in IEMOCAP's documented order.
pub(crate) const LABELS: [(&str, Label); 11] = [
    ("neu", Label::Coded(Emotion::Neutral)),
    ("hap", Label::Coded(Emotion::Happy)),
    ("exc", Label::Uncoded("excited")),
    ("ang", Label::Coded(Emotion::Angry)),
    ("sad", Label::Coded(Emotion::Sad)),
    ("fru", Label::Uncoded("frustrated")),
    ("fea", Label::Coded(Emotion::Fearful)),
    ("sur", Label::Coded(Emotion::Surprised)),
    ("dis", Label::Coded(Emotion::Disgust)),
    ("oth", Label::Uncoded("other")),
    ("xxx", Label::Uncoded("no-agreement")),
];

/// The number of sessions.
pub(crate) const SESSIONS: u8 = 5;

/// What an utterance id says: `Ses01F_impro01_F000`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Utterance {
    /// `Ses01`.
    pub session: String,
    /// `Ses01F`: the session and the speaking actor's sex.
    pub speaker: String,
    /// `f` or `m`.
    pub sex: &'static str,
    /// `Ses01F_impro01`.
    pub dialog: String,
    /// `improvised` or `scripted`.
    pub kind: &'static str,
}

/// The layout of an utterance id, for messages.
const LAYOUT: &str = "SesNNX_dialog_XNNN, e.g. Ses01F_impro01_F000";

/// Parses an utterance id (a file name without extension).
pub(crate) fn utterance(id: &str) -> Result<Utterance, NameError> {
    let bad = |field: &'static str, value: &str, expected: &str| NameError::Field {
        field,
        value: value.to_string(),
        expected: expected.to_string(),
    };
    let Some((dialog, turn)) = id.rsplit_once('_') else {
        return Err(NameError::FieldCount { expected: "at least 3", separator: "underscore", layout: LAYOUT, found: 1 });
    };
    let session = dialog.get(..5).filter(|s| s.starts_with("Ses") && s[3..].bytes().all(|b| b.is_ascii_digit()));
    let Some(session) = session else {
        return Err(bad("session", dialog.split('_').next().unwrap_or(dialog), "Ses01..Ses05"));
    };
    let sex = match turn.chars().next() {
        Some('F') => "f",
        Some('M') => "m",
        _ => return Err(bad("turn", turn, "F or M and a number, e.g. F000")),
    };
    let kind = if dialog.contains("_impro") {
        "improvised"
    } else if dialog.contains("_script") {
        "scripted"
    } else {
        return Err(bad("dialog", dialog, "an `impro` or `script` dialog"));
    };
    Ok(Utterance {
        session: session.to_string(),
        speaker: format!("{session}{}", sex.to_ascii_uppercase()),
        sex,
        dialog: dialog.to_string(),
        kind,
    })
}

/// One `EmoEvaluation` line's judgement of an utterance.
#[derive(Clone, Debug, PartialEq)]
struct Judgement {
    /// The category's label.
    label: Label,
    /// `[valence, activation, dominance]`, as written.
    vad: [String; 3],
    /// Start and end in the dialog, seconds, as written.
    times: [String; 2],
}

/// Every utterance's judgement from the `dialog/EmoEvaluation/*.txt` files under `root`, by
/// utterance id; a line that breaks the format is an error naming the file and line.
fn judgements(root: &Path, files: &[String]) -> Result<BTreeMap<String, Judgement>, AudioError> {
    let mut judged = BTreeMap::new();
    for file in files.iter().filter(|f| f.contains("/dialog/EmoEvaluation/") && f.ends_with(".txt")) {
        let path = root.join(file);
        let text = std::fs::read_to_string(&path).map_err(|source| AudioError::Io { path: path.clone(), source })?;
        for (i, line) in text.lines().enumerate().filter(|(_, l)| l.starts_with('[')) {
            let bad = |what: String| AudioError::Evaluation { file: file.clone(), line: i + 1, what };
            let fields: Vec<&str> = line.split('\t').map(str::trim).collect();
            let [times, id, code, vad] = fields[..] else {
                return Err(bad(format!("expected 4 tab-separated fields ([START - END], utterance, category, [V, A, D]), found {}", fields.len())));
            };
            let label = lookup(code, "category", &LABELS).map_err(|e| bad(e.to_string()))?;
            let numbers = |text: &str| -> Vec<String> {
                text.trim_matches(['[', ']']).split([',', '-']).map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect()
            };
            let (times, vad) = (numbers(times), numbers(vad));
            let (Ok(times), Ok(vad)) = (<[String; 2]>::try_from(times), <[String; 3]>::try_from(vad)) else {
                return Err(bad(format!("`{line}` does not give [START - END] and [V, A, D]")));
            };
            judged.insert(id.to_string(), Judgement { label, vad, times });
        }
    }
    Ok(judged)
}

/// Every utterance under `root` (`.../SessionN/sentences/wav/DIALOG/UTTERANCE.wav`), in path
/// order, labelled by its dialog's `EmoEvaluation` file.
pub(crate) fn sources(root: &Path) -> Result<Sources, AudioError> {
    let mut files = Vec::new();
    let mut pending = vec![std::path::PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = root.join(&relative);
        let io_err = |source| AudioError::Io { path: dir.clone(), source };
        for entry in std::fs::read_dir(&dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let path = relative.join(entry.file_name());
            if entry.file_type().map_err(io_err)?.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "txt") {
                files.push(path.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
            }
        }
    }
    files.sort();
    let judged = judgements(root, &files)?;
    let utterances = audio_files(root)?.into_iter().filter(|f| f.contains("/sentences/wav/"));
    Ok(utterances
        .map(|file| {
            let source = source(&file, &judged);
            (Place { row: None, file }, source)
        })
        .collect())
}

/// The source of utterance file `file`.
fn source(file: &str, judged: &BTreeMap<String, Judgement>) -> Result<Source, FileError> {
    let id = Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let utterance = utterance(&id)?;
    let Some(judgement) = judged.get(&id) else {
        return Err(FileError::Unjudged { dialog: utterance.dialog });
    };
    let mut extra = BTreeMap::new();
    extra.insert("session".to_string(), utterance.session.clone());
    extra.insert("type".to_string(), utterance.kind.to_string());
    for (name, value) in ["valence", "arousal", "dominance"].iter().zip(&judgement.vad) {
        extra.insert(name.to_string(), value.clone());
    }
    extra.insert("start".to_string(), judgement.times[0].clone());
    extra.insert("end".to_string(), judgement.times[1].clone());
    Ok(Source {
        file: file.to_string(),
        row: None,
        segment: None,
        channel: None,
        file_id: id,
        corpus: Corpus::Iemocap.name().to_string(),
        label: Some(judgement.label.name().to_string()),
        speaker: utterance.speaker,
        sex: utterance.sex.to_string(),
        intensity: String::new(),
        statement: utterance.dialog,
        repetition: String::new(),
        split: vox_api::audio::Split::None,
        extra,
    })
}

/// The code of `label` (the inverse of the category table).
pub(crate) fn code(label: Label) -> Result<&'static str, NameError> {
    super::code_of(Corpus::Iemocap, label, &LABELS)
}

/// The utterance id of turn `turn` of speaker `sex` (`F`/`M`) in dialog `dialog`.
pub(crate) fn utterance_id(dialog: &str, sex: char, turn: u16) -> String {
    format!("{dialog}_{sex}{turn:03}")
}

/// One `EmoEvaluation` line.
pub(crate) fn evaluation_line(start: f64, end: f64, id: &str, code: &str, vad: [f64; 3]) -> String {
    format!("[{start:.4} - {end:.4}]\t{id}\t{code}\t[{:.4}, {:.4}, {:.4}]", vad[0], vad[1], vad[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utterance_ids_name_session_speaker_and_dialog() {
        let u = utterance("Ses01F_impro01_F000").unwrap();
        assert_eq!((u.session.as_str(), u.speaker.as_str(), u.sex, u.dialog.as_str(), u.kind), ("Ses01", "Ses01F", "f", "Ses01F_impro01", "improvised"));
        let u = utterance("Ses03M_script02_1_F012").unwrap();
        assert_eq!((u.speaker.as_str(), u.sex, u.dialog.as_str(), u.kind), ("Ses03F", "f", "Ses03M_script02_1", "scripted"));
        assert_eq!(utterance("Ses05M_impro08_M029").unwrap().speaker, "Ses05M");
        assert_eq!(utterance("Ses01F_impro01_X000").unwrap_err().to_string(), "turn `X000` is not F or M and a number, e.g. F000");
        assert_eq!(utterance("Sx01F_impro01_F000").unwrap_err().to_string(), "session `Sx01F` is not Ses01..Ses05");
        assert_eq!(utterance("Ses01F_chat_F000").unwrap_err().to_string(), "dialog `Ses01F_chat` is not an `impro` or `script` dialog");
        assert_eq!(utterance_id("Ses02F_impro03", 'M', 7), "Ses02F_impro03_M007");
        assert_eq!(evaluation_line(6.29, 8.2357, "Ses01F_impro01_F000", "neu", [2.5, 2.5, 2.5]), "[6.2900 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]");
        assert_eq!(code(Label::Uncoded("excited")), Ok("exc"));
    }

    /// An `EmoEvaluation` file as released: a header, utterance lines, per-annotator lines.
    const EVALUATION: &str = "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n\
        [6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n\
        C-E2:\tNeutral;\t()\nC-E3:\tNeutral;\t()\nA-E3:\tval 3; act 2; dom  2;\t()\n\n\
        [10.0100 - 11.3925]\tSes01F_impro01_M001\texc\t[3.5000, 3.5000, 3.0000]\n\
        [14.8872 - 18.0175]\tSes01F_impro01_F001\txxx\t[2.0000, 2.5000, 2.5000]\n";

    #[test]
    fn sources_join_utterance_files_with_their_dialogs_evaluation() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("IEMOCAP_full_release/Session1");
        std::fs::create_dir_all(root.join("dialog/EmoEvaluation")).unwrap();
        std::fs::write(root.join("dialog/EmoEvaluation/Ses01F_impro01.txt"), EVALUATION).unwrap();
        for id in ["Ses01F_impro01_F000", "Ses01F_impro01_M001", "Ses01F_impro01_F001", "Ses01F_impro01_F002"] {
            crate::test_support::write_wav(&root.join(format!("sentences/wav/Ses01F_impro01/{id}.wav")), 16000, 1, &[0; 8]);
        }
        crate::test_support::write_wav(&root.join("dialog/wav/Ses01F_impro01.wav"), 16000, 1, &[0; 8]);
        let sources = sources(dir.path()).unwrap();
        assert_eq!(sources.len(), 4, "the full-dialog recording is not an utterance");
        let first = sources[0].1.as_ref().unwrap();
        assert_eq!(first.file, "IEMOCAP_full_release/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav");
        assert_eq!((first.label.as_deref(), first.speaker.as_str(), first.sex.as_str()), (Some("neutral"), "Ses01F", "f"));
        assert_eq!(first.extra["session"], "Ses01");
        assert_eq!(first.extra["type"], "improvised");
        assert_eq!((first.extra["valence"].as_str(), first.extra["start"].as_str(), first.extra["end"].as_str()), ("2.5000", "6.2901", "8.2357"));
        let labels: Vec<Option<&str>> = sources.iter().map(|(_, s)| s.as_ref().ok().and_then(|s| s.label.as_deref())).collect();
        assert_eq!(labels, [Some("neutral"), Some("no-agreement"), None, Some("excited")]);
        assert_eq!(
            sources[2].1.as_ref().unwrap_err().to_string(),
            "no line of dialog/EmoEvaluation/Ses01F_impro01.txt labels this utterance"
        );
        std::fs::write(root.join("dialog/EmoEvaluation/Ses01F_impro01.txt"), "[1.0 - 2.0]\tSes01F_impro01_F000\tjoy\t[1, 2, 3]\n").unwrap();
        assert_eq!(
            sources_error(dir.path()),
            "IEMOCAP_full_release/Session1/dialog/EmoEvaluation/Ses01F_impro01.txt:1: category `joy` is not one of neu, hap, exc, ang, sad, fru, fea, sur, dis, oth, xxx"
        );
    }

    fn sources_error(root: &Path) -> String {
        sources(root).unwrap_err().to_string()
    }
}
