//! A checkpoint's labels are its labels: a loaded head scores each class under the name its
//! `id2label` gives it, whatever the order, on the committed transformers fixtures (`tests/
//! fixtures/`, whose parity with transformers `tests/parity.rs` proves).

use std::path::Path;

use burn::backend::NdArray;
use burn::tensor::activation::softmax;
use indicatif::{MultiProgress, ProgressDrawTarget};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tempfile::TempDir;
use vox_api::audio::{AudioSet, Clip, Split};
use vox_api::labels::{Class, LabelSet};
use vox_api::predictions::Predictions;
use vox_api::{ArtifactKind, Input, StageContext};

use super::data::Dataset;
use super::*;
use crate::loader::load_classifier;

/// RAVDESS's emotion names, in code order.
const EMOTIONS: [&str; 8] = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"];

/// RAVDESS's label set: codes described by emotion names.
fn ravdess() -> LabelSet {
    let classes = EMOTIONS.iter().enumerate().map(|(k, n)| Class { name: format!("{:02}", k + 1), description: n.to_string() });
    LabelSet::new(classes.collect()).unwrap()
}

/// A copy of the fixture `variant` whose `config.json` has `id2label = labels` (by index) and
/// no `classifier_head` (so the head must come from the weights' keys).
pub(super) fn checkpoint(variant: &str, labels: &[&str]) -> TempDir {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(variant);
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    let path = dir.path().join("config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let id2label: serde_json::Map<String, serde_json::Value> =
        labels.iter().enumerate().map(|(i, l)| (i.to_string(), (*l).into())).collect();
    let label2id: serde_json::Map<String, serde_json::Value> =
        labels.iter().enumerate().map(|(i, l)| (l.to_string(), i.into())).collect();
    config["id2label"] = id2label.into();
    config["label2id"] = label2id.into();
    config.as_object_mut().unwrap().remove("classifier_head");
    std::fs::write(&path, serde_json::to_string_pretty(&config).unwrap()).unwrap();
    dir
}

/// Five clips of 2000 samples (one padded to 1300 valid), labelled with `labels` of the set
/// (`None` for unlabeled), each split as given.
fn audio(set_labels: LabelSet, labels: &[(Option<&str>, Split)]) -> AudioSet {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut set = AudioSet { labels: set_labels, ..AudioSet::default() };
    for (i, (label, split)) in labels.iter().enumerate() {
        let valid = if i == 1 { 1300 } else { 2000 };
        let samples: Vec<f32> = (0..2000).map(|n| if n < valid { rng.random_range(-1.0..1.0) } else { 0.0 }).collect();
        let clip = Clip {
            file_id: format!("clip{i}"),
            label: label.map(Into::into),
            split: *split,
            sample_rate: 16000,
            original_length: valid as u64,
            ..Clip::default()
        };
        set.push(clip, &samples);
    }
    set
}

/// Runs the stage with `params` (and the seed) on `set` on ndarray; the output folder, or the error.
pub(super) fn run(params: &FineTune, set: &AudioSet) -> Result<TempDir, String> {
    let (input, out, scratch) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    set.write(input.path()).unwrap();
    run_in(params, input.path(), out.path(), scratch.path(), None)?;
    Ok(out)
}

/// Runs the stage with `params` on the audio set in `input` into `out` with the scratch folder
/// `scratch` on ndarray, stopping after epoch `stop_after` when given.
pub(super) fn run_in(params: &FineTune, input: &Path, out: &Path, scratch: &Path, stop_after: Option<u32>) -> Result<(), String> {
    let inputs = [Input::new("audio", ArtifactKind::Audio, input.to_path_buf())];
    let progress = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
    let ctx = StageContext {
        stage: "w2v",
        inputs: &inputs,
        out_dir: out,
        scratch_dir: scratch,
        seed: 5,
        backend: Some("ndarray"),
        threads: 2,
        progress: &progress,
        memo: None,
    };
    let _one_at_a_time = crate::burn_rng_lock();
    params.run_until(&ctx, stop_after).map_err(|e| e.to_string())
}

/// `model_path = dir`, `epochs` epochs, with `extra` TOML params.
fn params(dir: &Path, epochs: u32, extra: &str) -> FineTune {
    let text = format!("model_path = {:?}\nepochs = {epochs}\nbatch_size = 2\nseed = 5\n{extra}", dir.display().to_string());
    let params: FineTune = toml::from_str(&text).unwrap();
    params.validate().unwrap();
    params
}

/// The checkpoint's own probabilities of every clip of `set` (as the stage batches and
/// normalizes them), by output index, from the model as the checkpoint defines it.
fn reference(dir: &Path, set: &AudioSet) -> Vec<Vec<f64>> {
    let device = Default::default();
    let loaded = load_classifier::<NdArray>(dir, |_| {}, &device).unwrap();
    let data = Dataset::new(set.clone(), Vec::new(), true);
    let all: Vec<usize> = (0..set.clips.len()).collect();
    let batch = data.batch::<NdArray>(&loaded.config, &all, None, &device).unwrap();
    let logits = loaded.model.forward(batch.samples, Some(&batch.mask)).logits;
    let values: Vec<f32> = softmax(logits, 1).into_data().convert::<f32>().into_vec().unwrap();
    values.chunks(loaded.config.num_labels()).map(|row| row.iter().map(|&p| f64::from(p)).collect()).collect()
}

/// Asserts that the stage's probability of each class (by name) is the checkpoint's
/// probability of the output `id2label` names so (`names[i]` is output `i`'s class).
fn assert_by_name(out: &Path, expected: &[Vec<f64>], names: &[&str]) {
    let predictions = Predictions::read(out).unwrap();
    for (row, want) in predictions.rows.iter().zip(expected) {
        for (column, class) in predictions.classes.iter().enumerate() {
            let output = names.iter().position(|n| n == class).unwrap_or_else(|| panic!("class {class}"));
            let (got, want) = (row.probabilities[column], want[output]);
            assert!((got - want).abs() < 1e-6, "{} {class}: {got} vs {want}", row.file_id);
        }
    }
}

/// The checkpoint classes (alphabetical, as hub SER checkpoints list them) as RAVDESS codes.
fn alphabetical_codes() -> Vec<String> {
    let mut sorted = EMOTIONS;
    sorted.sort();
    sorted.iter().map(|name| format!("{:02}", EMOTIONS.iter().position(|e| e == name).unwrap() + 1)).collect()
}

#[test]
fn a_loaded_head_scores_each_class_under_its_own_name_in_any_order() {
    let mut alphabetical = EMOTIONS;
    alphabetical.sort();
    let model = checkpoint("base", &alphabetical);
    let unlabeled_test: Vec<(Option<&str>, Split)> = vec![(Some("05"), Split::Val), (None, Split::Test), (Some("01"), Split::Val)];
    let set = audio(ravdess(), &unlabeled_test);
    let expected = reference(model.path(), &set);
    // No train split: scoring needs none.
    let out = run(&params(model.path(), 0, ""), &set).unwrap();
    let predictions = Predictions::read(out.path()).unwrap();
    assert_eq!(predictions.classes, ["01", "02", "03", "04", "05", "06", "07", "08"]);
    assert_by_name(out.path(), &expected, &alphabetical_codes().iter().map(String::as_str).collect::<Vec<_>>());
    // "angry" is output 0 of the checkpoint and class 05 of the data.
    assert!((predictions.rows[0].probabilities[4] - expected[0][0]).abs() < 1e-6);
    // The saved model names its outputs by class, in the label set's order, and scores alike.
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap()).unwrap();
    assert_eq!(config["id2label"]["0"], "01");
    assert_eq!(config["id2label"]["4"], "05");
    let again = run(&params(out.path(), 0, ""), &set).unwrap();
    assert_eq!(Predictions::read(again.path()).unwrap(), predictions);
    // training.txt shows the checkpoint's sizes, not the ignored scratch params.
    let report = std::fs::read_to_string(out.path().join("report/training.txt")).unwrap();
    assert!(!report.contains("\"hidden_size\"") && !report.contains("\"conv_dim\""), "{report}");
    assert!(report.contains("hidden 32, 2 layers"), "{report}");
    assert!(report.contains("classes: 01 neutral, 02 calm"), "{report}");
}

#[test]
fn checkpoint_classes_that_name_no_class_must_be_mapped_or_dropped() {
    let labels = ["LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3", "LABEL_4", "LABEL_5", "LABEL_6", "LABEL_7"];
    let model = checkpoint("base", &labels);
    let set = audio(ravdess(), &[(Some("03"), Split::Val), (Some("04"), Split::Val)]);
    let err = run(&params(model.path(), 0, ""), &set).unwrap_err();
    assert!(
        err.starts_with(
            "the checkpoint's classes `LABEL_0`, `LABEL_1`, `LABEL_2`, `LABEL_3`, `LABEL_4`, `LABEL_5`, \
             `LABEL_6`, `LABEL_7` are none of the data's classes (01 neutral, 02 calm, 03 happy"
        ),
        "{err}"
    );
    assert!(err.contains("`checkpoint_labels = { LABEL_0 = \"...\""), "{err}");
    // Mapped in reverse and with two outputs dropped: six classes, each its output's probability
    // renormalized over the six.
    let map = "checkpoint_labels = { LABEL_0 = \"08\", LABEL_1 = \"sad\", LABEL_2 = \"06\", LABEL_3 = \"05\", \
               LABEL_4 = \"drop\", LABEL_5 = \"03\", LABEL_6 = \"Calm\", LABEL_7 = \"drop\" }";
    let out = run(&params(model.path(), 0, map), &set).unwrap();
    let predictions = Predictions::read(out.path()).unwrap();
    assert_eq!(predictions.classes, ["02", "03", "04", "05", "06", "08"]);
    let full = reference(model.path(), &set);
    let kept = [6, 5, 1, 3, 2, 0];
    for (row, probabilities) in predictions.rows.iter().zip(&full) {
        let total: f64 = kept.iter().map(|&k| probabilities[k]).sum();
        for (column, &output) in kept.iter().enumerate() {
            let want = probabilities[output] / total;
            assert!((row.probabilities[column] - want).abs() < 1e-6, "{}: {column}", row.file_id);
        }
    }
    let cases = [
        ("checkpoint_labels = { LABEL_9 = \"01\" }", "`checkpoint_labels.LABEL_9`: the checkpoint's head has no output `LABEL_9`"),
        ("checkpoint_labels = { LABEL_0 = \"joy\" }", "`checkpoint_labels.LABEL_0 = \"joy\"` is neither \"drop\" nor one of the data's classes (01 neutral"),
    ];
    for (extra, message) in cases {
        let err = run(&params(model.path(), 0, extra), &set).unwrap_err();
        assert!(err.starts_with(message), "{extra}: {err}");
    }
    let two = "checkpoint_labels = { LABEL_0 = \"01\", LABEL_1 = \"neutral\", LABEL_2 = \"drop\", LABEL_3 = \"drop\", \
               LABEL_4 = \"drop\", LABEL_5 = \"drop\", LABEL_6 = \"drop\", LABEL_7 = \"drop\" }";
    let err = run(&params(model.path(), 0, two), &set).unwrap_err();
    assert_eq!(err, "the checkpoint's classes `LABEL_0` and `LABEL_1` would both be class `01`; map one elsewhere or \"drop\" it in `checkpoint_labels`");
}

#[test]
fn unlabeled_data_is_scored_under_the_checkpoints_own_classes() {
    let names = ["sad", "neutral", "angry", "happy", "calm", "fear", "disgust", "surprise"];
    let model = checkpoint("base", &names);
    let set = audio(LabelSet::default(), &[(None, Split::Test), (None, Split::Test)]);
    let out = run(&params(model.path(), 0, ""), &set).unwrap();
    let predictions = Predictions::read(out.path()).unwrap();
    assert_eq!(predictions.labels.names().collect::<Vec<_>>(), names);
    assert_eq!(predictions.classes, names);
    assert_by_name(out.path(), &reference(model.path(), &set), &names);
}

#[test]
fn the_head_layout_comes_from_the_checkpoints_weights() {
    let codes = alphabetical_codes();
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    // `large-dense-tanh` holds `classifier.dense.*`: with `classifier_head` gone from its
    // config and `head` unset, the dense-tanh head is found from the keys and loaded whole.
    let model = checkpoint("large-dense-tanh", &codes);
    let set = audio(ravdess(), &[(Some("05"), Split::Val), (Some("02"), Split::Val)]);
    let out = run(&params(model.path(), 0, ""), &set).unwrap();
    let report = std::fs::read_to_string(out.path().join("report/training.txt")).unwrap();
    assert!(report.contains("head DenseTanh"), "{report}");
    assert!(report.contains("new: []"), "{report}");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.path().join("config.json")).unwrap()).unwrap();
    config["classifier_head"] = "dense-tanh".into();
    std::fs::write(model.path().join("config.json"), config.to_string()).unwrap();
    assert_by_name(out.path(), &reference(model.path(), &set), &codes);
    // A `head` that contradicts the weights is refused, at plan time and at `head`, rather
    // than scoring with a random head.
    let text = format!("model_path = {:?}\nhead = \"projector\"", model.path().display().to_string());
    let err = toml::from_str::<FineTune>(&text).unwrap().validate().unwrap_err();
    assert_eq!(err.path, "head");
    assert_eq!(
        err.message,
        "`head = \"projector\"` but the checkpoint's head is `dense-tanh`; leave `head` unset to use it, or set \
         `new_head = true` to replace it"
    );
}

#[test]
fn training_a_loaded_head_needs_its_classes_or_a_new_head() {
    let model = checkpoint("base", &["neutral", "happy", "sad", "angry", "a", "b", "c", "d"]);
    let drop = "checkpoint_labels = { a = \"drop\", b = \"drop\", c = \"drop\", d = \"drop\" }";
    let mut clips = vec![(Some("01"), Split::Train), (Some("02"), Split::Train), (Some("04"), Split::Train)];
    clips.push((Some("01"), Split::Val));
    let set = audio(ravdess(), &clips);
    let err = run(&params(model.path(), 1, drop), &set).unwrap_err();
    assert_eq!(
        err,
        "the train split has classes the checkpoint's head lacks: `02`; its classes are 01, 03, 04, 05. Set \
         `new_head = true` to train a new head on the train split's classes, or leave those clips out \
         (decode's `labels`)"
    );
    let out = run(&params(model.path(), 1, "new_head = true"), &set).unwrap();
    let predictions = Predictions::read(out.path()).unwrap();
    assert_eq!(predictions.classes, ["01", "02", "04"]);
    let report = std::fs::read_to_string(out.path().join("report/training.txt")).unwrap();
    assert!(report.contains("loaded 46 tensors from model.safetensors; new: [\"classifier.out_proj.bias\", \"classifier.out_proj.weight\", \"projector.bias\", \"projector.weight\"]"), "{report}");
    let scratch: FineTune = toml::from_str("new_head = true\nepochs = 0").unwrap();
    let err = run(&scratch, &set).unwrap_err();
    assert_eq!(err, "`new_head` applies to a loaded model (`model`, `model_path` or a model folder input), not to a scratch model");
}

/// audEERING's dimensional model is a wav2vec2 with a dense-tanh head whose three outputs are
/// arousal, dominance and valence values (`problem_type = "regression"`): never scored as three
/// classes; with `new_head`, its encoder trains a classifier whose saved config is a classifier's.
#[test]
fn a_regression_checkpoint_is_no_classifier() {
    // The fixture's head has 8 outputs: 8 rated dimensions.
    let dimensions = ["arousal", "dominance", "valence", "interest", "confidence", "stress", "warmth", "energy"];
    let model = checkpoint("large-dense-tanh", &dimensions);
    let path = model.path().join("config.json");
    let mut config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["problem_type"] = "regression".into();
    std::fs::write(&path, config.to_string()).unwrap();
    let unlabeled = audio(LabelSet::default(), &[(None, Split::Test), (None, Split::Test)]);
    let err = run(&params(model.path(), 0, ""), &unlabeled).unwrap_err();
    assert_eq!(
        err,
        "the checkpoint's head is no classifier: its config.json says `problem_type = \"regression\"`, so its outputs \
         (arousal, dominance, valence, interest, confidence, stress, warmth, energy) are values on a scale, not class probabilities. Set `new_head = true` to train a \
         classifier on its encoder; or estimate its dimensions with `targets` (fine-tuning it, or scoring with \
         `epochs = 0`), or take its hidden states as features (`featurize` with `set = \"ssl\"`) and estimate them \
         with `regress`"
    );
    let clips = [(Some("01"), Split::Train), (Some("05"), Split::Train), (Some("01"), Split::Val)];
    let out = run(&params(model.path(), 1, "new_head = true"), &audio(ravdess(), &clips)).unwrap();
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("config.json")).unwrap()).unwrap();
    assert!(saved.get("problem_type").is_none(), "{saved}");
    assert_eq!(saved["id2label"]["1"], "05");
    config["problem_type"] = "multi_label_classification".into();
    std::fs::write(&path, config.to_string()).unwrap();
    let err = run(&params(model.path(), 0, ""), &unlabeled).unwrap_err();
    assert!(err.contains("are independent sigmoid scores, not class probabilities"), "{err}");
}
