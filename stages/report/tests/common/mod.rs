//! Hand-made stage inputs shared by the end-to-end tests and the `gallery` example: two
//! predictions folders (one with a training history and all eight classes, one without some
//! classes) and a small synthetic audio set with two tone clips per emotion.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use vox_api::audio::{AudioSet, Clip, Split};
use vox_api::labels::{Class, LabelSet};
use vox_api::predictions::{Epoch, Prediction, Predictions, write_history};
use vox_api::{ArtifactKind, Input, StageContext, StageKind};

pub use Emotion::*;

/// RAVDESS's eight emotions: the classes these inputs are labelled with (by code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emotion {
    Neutral,
    Calm,
    Happy,
    Sad,
    Angry,
    Fearful,
    Disgust,
    Surprised,
}

impl Emotion {
    pub const ALL: [Emotion; 8] = [Neutral, Calm, Happy, Sad, Angry, Fearful, Disgust, Surprised];

    /// Zero-based position.
    pub fn index(self) -> usize {
        self as usize
    }

    /// The code, the class name: `01`..`08`.
    pub fn code(self) -> String {
        format!("{:02}", self.index() + 1)
    }

    /// The emotion's name, the class's description.
    pub fn name(self) -> &'static str {
        ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"][self.index()]
    }
}

/// RAVDESS's label set: the codes described by emotion names.
pub fn ravdess() -> LabelSet {
    LabelSet::new(Emotion::ALL.iter().map(|e| Class { name: e.code(), description: e.name().into() }).collect())
        .unwrap()
}

/// Codes of `classes`.
fn codes(classes: &[Emotion]) -> Vec<String> {
    classes.iter().map(|e| e.code()).collect()
}

/// Probability given to the predicted class; the rest is shared evenly.
const TOP: f64 = 0.65;

/// Probabilities over `classes` that make `predicted` the most likely.
pub fn probabilities(classes: &[Emotion], predicted: Emotion) -> Vec<f64> {
    let rest = (1.0 - TOP) / (classes.len() - 1) as f64;
    classes.iter().map(|&c| if c == predicted { TOP } else { rest }).collect()
}

/// A row of `split` with `label`, predicted as `predicted`.
fn row(
    classes: &[Emotion],
    id: &str,
    split: Split,
    label: Option<Emotion>,
    predicted: Emotion,
) -> Prediction {
    Prediction {
        file_id: id.into(),
        split,
        label: label.map(Emotion::code),
        probabilities: probabilities(classes, predicted),
    }
}

/// The val pairs of `w2v`: 6 labelled clips, scores worked out in `tests/evaluate.rs`.
pub const W2V_VAL: [(Emotion, Emotion); 6] =
    [(Neutral, Neutral), (Neutral, Neutral), (Neutral, Calm), (Calm, Calm), (Angry, Angry), (Angry, Sad)];

/// Writes `w2v`: all eight classes, val rows [`W2V_VAL`] plus one unlabeled val row, two
/// labelled train rows, three unlabeled test rows, and a three-epoch history.
pub fn write_w2v(dir: &Path) {
    let classes = Emotion::ALL.to_vec();
    let mut rows: Vec<Prediction> = W2V_VAL
        .iter()
        .enumerate()
        .map(|(i, &(truth, predicted))| {
            row(&classes, &format!("val_{i}"), Split::Val, Some(truth), predicted)
        })
        .collect();
    rows.push(row(&classes, "val_unlabeled", Split::Val, None, Happy));
    rows.push(row(&classes, "train_0", Split::Train, Some(Sad), Happy));
    rows.push(row(&classes, "train_1", Split::Train, Some(Fearful), Fearful));
    for (i, predicted) in [Happy, Happy, Surprised].into_iter().enumerate() {
        rows.push(row(&classes, &format!("test_{i}"), Split::Test, None, predicted));
    }
    Predictions { labels: ravdess(), classes: codes(&classes), rows }.write(dir).unwrap();
    let epochs: Vec<Epoch> = (1..=3)
        .map(|e| {
            let e64 = e as f64;
            Epoch {
                epoch: e,
                train_loss: 2.0 / e64,
                train_accuracy: 0.3 * e64,
                val_loss: 2.2 / e64 + 0.1,
                val_accuracy: 0.25 * e64,
                val_macro_f1: 0.2 * e64,
            }
        })
        .collect();
    write_history(dir, &epochs).unwrap();
}

/// Writes `rf`: classes neutral, happy, sad, angry only; two labelled val rows and two
/// unlabeled rows without a split; no history.
pub fn write_rf(dir: &Path) {
    let classes = vec![Neutral, Happy, Sad, Angry];
    let rows = vec![
        row(&classes, "val_0", Split::Val, Some(Happy), Happy),
        row(&classes, "val_1", Split::Val, Some(Sad), Angry),
        Prediction {
            file_id: "u_0".into(),
            split: Split::None,
            label: None,
            probabilities: vec![0.1, 0.2, 0.3, 0.4],
        },
        Prediction {
            file_id: "u_1".into(),
            split: Split::None,
            label: None,
            probabilities: vec![0.5, 0.25, 0.125, 0.125],
        },
    ];
    Predictions { labels: ravdess(), classes: codes(&classes), rows }.write(dir).unwrap();
}

/// Sample rate of the synthetic audio set, Hz.
pub const RATE: u32 = 16_000;

/// Tone frequency of `emotion`'s clips, Hz.
pub fn tone_hz(emotion: Emotion) -> f64 {
    250.0 * (emotion.index() + 1) as f64
}

/// Writes `audio`: per emotion two clips (0.6 s and 0.5 s) of a tone at [`tone_hz`] whose
/// amplitude rises linearly, plus one unlabeled clip.
pub fn write_audio(dir: &Path) {
    let mut set = AudioSet { labels: ravdess(), ..AudioSet::default() };
    let clip = |id: String, emotion: Option<Emotion>| Clip {
        file_id: id,
        corpus: "synthetic".into(),
        speaker: "01".into(),
        sex: "f".into(),
        label: emotion.map(Emotion::code),
        intensity: String::new(),
        statement: String::new(),
        repetition: String::new(),
        split: Split::Train,
        source: String::new(),
        sample_rate: RATE,
        offset: 0,
        length: 0,
        original_length: 0,
        extra: Default::default(),
    };
    let tone = |hz: f64, seconds: f64| -> Vec<f32> {
        let n = (seconds * RATE as f64) as usize;
        (0..n)
            .map(|i| {
                let t = i as f64 / RATE as f64;
                (0.8 * (i as f64 / n as f64) * (2.0 * std::f64::consts::PI * hz * t).sin()) as f32
            })
            .collect()
    };
    for emotion in Emotion::ALL {
        for (k, seconds) in [0.6, 0.5].into_iter().enumerate() {
            set.push(
                clip(format!("{}_{k}", emotion.name()), Some(emotion)),
                &tone(tone_hz(emotion), seconds),
            );
        }
    }
    set.push(clip("unlabeled".into(), None), &tone(100.0, 0.3));
    set.write(dir).unwrap();
}

/// Writes every input under `root` and returns them in pipeline order: `w2v`, `rf`, `audio`.
pub fn write_inputs(root: &Path) -> Vec<Input> {
    let input = |name: &str, kind: ArtifactKind| {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Input::new(name, kind, dir)
    };
    let inputs = vec![
        input("w2v", ArtifactKind::Predictions),
        input("rf", ArtifactKind::Predictions),
        input("audio", ArtifactKind::Audio),
    ];
    write_w2v(&inputs[0].dir);
    write_rf(&inputs[1].dir);
    write_audio(&inputs[2].dir);
    inputs
}

/// The `evaluate` kind, as the engine registers it.
pub fn evaluate_kind() -> Box<dyn StageKind> {
    vox_report::kinds().into_iter().find(|k| k.name() == "evaluate").unwrap()
}

/// Configures `evaluate` with the TOML `params` and runs it on `inputs` into a fresh
/// `out/` under `root`, which it returns.
pub fn run(root: &Path, params: &str, inputs: &[Input]) -> Result<PathBuf, vox_api::StageError> {
    run_kind(root, "evaluate", params, inputs)
}

/// Configures the crate's kind `kind` with the TOML `params` (which must be valid) and runs it
/// on `inputs` into a fresh `out/` under `root`, which it returns.
pub fn run_kind(root: &Path, kind: &str, params: &str, inputs: &[Input]) -> Result<PathBuf, vox_api::StageError> {
    let kind = vox_report::kinds().into_iter().find(|k| k.name() == kind).unwrap();
    let stage = kind.configure(toml::from_str(params).unwrap()).unwrap();
    let out = root.join("out");
    let scratch = root.join("scratch");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::create_dir_all(&scratch).unwrap();
    let progress = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
    let ctx = StageContext {
        stage: "report",
        inputs,
        out_dir: &out,
        scratch_dir: &scratch,
        seed: 42,
        backend: None,
        threads: 2,
        progress: &progress,
        memo: None,
    };
    stage.run(&ctx)?;
    Ok(out)
}
