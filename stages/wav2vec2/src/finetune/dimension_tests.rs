//! A fine-tune with `targets`: it learns ratings from audio, writes estimates and a model folder
//! that transformers reads as a regression model, resumes exactly, and reads a dimensional
//! checkpoint's outputs under their own names, whatever their order.

use std::path::Path;

use burn::backend::NdArray;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tempfile::TempDir;
use vox_api::agreement::Agreement;
use vox_api::audio::{AudioSet, Clip, Split};
use vox_api::estimates::Estimates;
use vox_api::labels::LabelSet;
use vox_api::StageDef;

use super::checkpoint_tests::{checkpoint, run, run_in};
use super::data::Dataset;
use super::*;
use crate::loader::load_classifier;

/// Clip length in samples.
const SAMPLES: usize = 4000;
/// Tone frequencies (Hz) and the ratings a clip of each gets: `(freq, arousal, valence)`; the
/// two dimensions order the tones differently, so one output cannot serve both.
const TONES: [(f32, f64, f64); 4] = [(150.0, 1.0, 2.0), (600.0, 3.0, 1.0), (1500.0, 2.0, 4.0), (3500.0, 4.0, 3.0)];

/// 12 clips per tone (8 train, 2 val, 2 test), rated `arousal` and `valence` (with rater
/// noise); one train clip lacks its valence (left out of training), one val clip its arousal.
fn rated_set() -> AudioSet {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut set = AudioSet::default();
    for n in 0..12 {
        for (k, (freq, arousal, valence)) in TONES.iter().enumerate() {
            let valid = if n % 4 == 3 { 3000 } else { SAMPLES };
            let phase: f32 = rng.random_range(0.0..std::f32::consts::TAU);
            let amplitude: f32 = rng.random_range(0.1..0.8);
            let samples: Vec<f32> = (0..SAMPLES)
                .map(|i| match i < valid {
                    true => amplitude * (std::f32::consts::TAU * freq * i as f32 / 16000.0 + phase).sin() + rng.random_range(-0.05..0.05),
                    false => 0.0,
                })
                .collect();
            let split = match n {
                0..8 => Split::Train,
                8..10 => Split::Val,
                _ => Split::Test,
            };
            let mut clip = Clip { file_id: format!("tone{k}_{n:02}"), split, sample_rate: 16000, original_length: valid as u64, ..Clip::default() };
            let noise = |rng: &mut ChaCha8Rng| rng.random_range(-0.2..0.2);
            if !(k == 0 && n == 0) {
                clip.extra.insert("valence".into(), format!("{:.2}", valence + noise(&mut rng)));
            }
            if !(k == 1 && n == 8) {
                clip.extra.insert("arousal".into(), format!("{:.2}", arousal + noise(&mut rng)));
            }
            set.push(clip, &samples);
        }
    }
    set
}

/// A tiny scratch model estimating `targets`, `epochs` epochs.
fn params(epochs: u32, extra: &str) -> FineTune {
    let text = format!(
        "targets = [\"arousal\", \"valence\"]\nhidden_size = 32\nlayers = 1\nheads = 2\nintermediate_size = 64\n\
         conv_dim = [16, 16, 16, 16]\nepochs = {epochs}\nbatch_size = 8\nlr = 1e-2\nfreeze = \"none\"\nseed = 5\n{extra}"
    );
    let params: FineTune = toml::from_str(&text).unwrap();
    FineTuneDimensions(params.clone()).validate().unwrap();
    params
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn learns_ratings_and_writes_a_regression_model() {
    let set = rated_set();
    let out = run(&params(8, ""), &set).unwrap();
    let estimates = Estimates::read(out.path()).unwrap();
    assert_eq!(estimates.dimensions, ["arousal", "valence"]);
    assert_eq!(estimates.rows.len(), 48);
    // Every clip is estimated, rated or not; the unrated side stays empty.
    let unrated = estimates.rows.iter().find(|r| r.file_id == "tone0_00").unwrap();
    assert_eq!(unrated.truth[1], None);
    assert!(unrated.truth[0].is_some() && unrated.predicted.iter().all(|v| v.is_finite()));
    for (d, dimension) in ["arousal", "valence"].iter().enumerate() {
        let agreement = Agreement::of(&estimates.pairs(Split::Test, d)).unwrap();
        // Chance is 0; measured on ndarray (2026-12-07): arousal 0.977, valence 0.987.
        assert!(agreement.ccc > 0.9, "test CCC of {dimension}: {}", agreement.ccc);
    }
    let config = json(&out.path().join("config.json"));
    assert_eq!(config["problem_type"], "regression");
    assert_eq!(config["id2label"], serde_json::json!({"0": "arousal", "1": "valence"}));
    assert_eq!(config["num_labels"], 2);
    let history = std::fs::read_to_string(out.path().join("history.csv")).unwrap();
    assert!(history.starts_with("epoch,train_loss,val_loss,val_ccc\n"), "{history}");
    let rows: Vec<Vec<f64>> =
        history.lines().skip(1).map(|l| l.split(',').map(|v| v.parse().unwrap()).collect()).collect();
    assert_eq!(rows.len(), 8);
    assert!(rows[7][1] < rows[0][1] * 0.5, "the CCC loss falls: {history}");
    for row in &rows {
        assert!((row[2] - (1.0 - row[3])).abs() < 1e-12, "the CCC loss is 1 - CCC: {history}");
    }
    let report = std::fs::read_to_string(out.path().join("report/training.txt")).unwrap();
    assert!(report.contains("32 train (31 rated in every target), 8 val (8 rated)"), "{report}");
    assert!(report.contains("dimensions: arousal, valence (loss ccc)"), "{report}");
    let best = rows.iter().max_by(|a, b| a[3].total_cmp(&b[3])).unwrap()[0];
    assert!(report.contains(&format!("best: epoch {best}")), "{report}");

    // The folder is a model: loaded with its own head (by `id2label`), it estimates the same
    // values; asked for the targets in the other order, it gives them in that order.
    let mut reload = params(0, "");
    (reload.hidden_size, reload.layers, reload.heads, reload.intermediate_size, reload.conv_dim) = (None, None, None, None, None);
    reload.model_path = Some(out.path().to_path_buf());
    let again = run(&reload, &set).unwrap();
    assert_eq!(std::fs::read(again.path().join("estimates.csv")).unwrap(), std::fs::read(out.path().join("estimates.csv")).unwrap());
    reload.targets = vec!["valence".into(), "arousal".into()];
    let swapped = Estimates::read(run(&reload, &set).unwrap().path()).unwrap();
    assert_eq!(swapped.dimensions, ["valence", "arousal"]);
    for (a, b) in estimates.rows.iter().zip(&swapped.rows) {
        assert_eq!((a.predicted[0], a.predicted[1]), (b.predicted[1], b.predicted[0]), "{}", a.file_id);
    }
}

#[test]
fn an_interrupted_run_resumes_as_an_uninterrupted_one() {
    let input = tempfile::tempdir().unwrap();
    rated_set().write(input.path()).unwrap();
    let params = params(3, "loss = \"mse\"");
    let (first, scratch) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_in(&params, input.path(), first.path(), scratch.path(), None).unwrap();
    let (out, scratch) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let err = run_in(&params, input.path(), out.path(), scratch.path(), Some(2)).unwrap_err();
    assert_eq!(err, "interrupted after epoch 2");
    let resumed = tempfile::tempdir().unwrap();
    run_in(&params, input.path(), resumed.path(), scratch.path(), None).unwrap();
    for file in ["estimates.csv", "history.csv", "model.safetensors", "config.json"] {
        assert!(std::fs::read(first.path().join(file)).unwrap() == std::fs::read(resumed.path().join(file)).unwrap(), "resumed {file} differs");
    }
    let history = std::fs::read_to_string(first.path().join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 4, "{history}");
}

/// The checkpoint's raw outputs for every clip of `set` (as the stage batches and normalizes
/// them), by output index.
fn raw_outputs(dir: &Path, set: &AudioSet) -> Vec<Vec<f64>> {
    let device = Default::default();
    let loaded = {
        let _rng = crate::burn_rng_lock();
        let head = crate::inspect::inspect(dir).unwrap().head.unwrap();
        load_classifier::<NdArray>(dir, |config| config.classifier_head = head, &device).unwrap()
    };
    let data = Dataset::new(set.clone(), Vec::new(), true);
    let all: Vec<usize> = (0..set.clips.len()).collect();
    let batch = data.batch::<NdArray>(&loaded.config, &all, None, &device).unwrap();
    let logits = loaded.model.forward(batch.samples, Some(&batch.mask)).logits;
    let values: Vec<f32> = logits.into_data().convert::<f32>().into_vec().unwrap();
    values.chunks(loaded.config.num_labels()).map(|row| row.iter().map(|&v| f64::from(v)).collect()).collect()
}

/// Five unlabeled, unrated test clips.
fn new_audio() -> AudioSet {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut set = AudioSet { labels: LabelSet::default(), ..AudioSet::default() };
    for i in 0..5 {
        let samples: Vec<f32> = (0..2000).map(|_| rng.random_range(-1.0..1.0)).collect();
        set.push(Clip { file_id: format!("clip{i}"), split: Split::Test, sample_rate: 16000, original_length: 2000, ..Clip::default() }, &samples);
    }
    set
}

/// `model_path = dir`, `epochs = 0`, these targets, with `extra` TOML params.
fn scoring(dir: &Path, targets: &[&str], extra: &str) -> FineTune {
    let text = format!("model_path = {:?}\ntargets = {targets:?}\nepochs = 0\nbatch_size = 2\nseed = 5\n{extra}", dir.display().to_string());
    let params: FineTune = toml::from_str(&text).unwrap();
    FineTuneDimensions(params.clone()).validate().unwrap();
    params
}

/// A copy of the dense-tanh fixture (8 outputs) named `outputs`, as a regression head.
fn dimensional(outputs: &[&str]) -> TempDir {
    let model = checkpoint("large-dense-tanh", outputs);
    let path = model.path().join("config.json");
    let mut config = json(&path);
    config["problem_type"] = "regression".into();
    std::fs::write(&path, config.to_string()).unwrap();
    model
}

/// audEERING's models list arousal, dominance, valence in that order (and the fixture has 8
/// outputs): asked for valence then arousal, the stage gives outputs 2 then 0, the others left
/// out; an output named `LABEL_k` is a target only through `checkpoint_labels`.
#[test]
fn a_dimensional_checkpoint_estimates_under_its_own_names() {
    let outputs = ["Arousal", "dominance", "valence", "interest", "confidence", "stress", "warmth", "energy"];
    let model = dimensional(&outputs);
    let set = new_audio();
    let reference = raw_outputs(model.path(), &set);
    let out = run(&scoring(model.path(), &["valence", "arousal"], ""), &set).unwrap();
    let estimates = Estimates::read(out.path()).unwrap();
    assert_eq!(estimates.dimensions, ["valence", "arousal"]);
    for (row, want) in estimates.rows.iter().zip(&reference) {
        assert!((row.predicted[0] - want[2]).abs() < 1e-6 && (row.predicted[1] - want[0]).abs() < 1e-6, "{}", row.file_id);
        assert_eq!(row.truth, [None, None]);
    }
    let spread = reference.iter().map(|r| r[2]).fold(f64::NEG_INFINITY, f64::max) - reference.iter().map(|r| r[2]).fold(f64::INFINITY, f64::min);
    assert!(spread > 1e-4, "the clips get different values: {reference:?}");

    let generic = dimensional(&["LABEL_0", "LABEL_1", "LABEL_2", "LABEL_3", "LABEL_4", "LABEL_5", "LABEL_6", "LABEL_7"]);
    let err = run(&scoring(generic.path(), &["arousal"], ""), &set).unwrap_err();
    assert_eq!(
        err,
        "the checkpoint's head has no output for `arousal`; its outputs are LABEL_0, LABEL_1, LABEL_2, LABEL_3, LABEL_4, \
         LABEL_5, LABEL_6, LABEL_7. Map one with `checkpoint_labels = { OUTPUT = \"arousal\" }`, or set `new_head = true` to \
         train a new head"
    );
    let mapped = run(&scoring(generic.path(), &["arousal"], "checkpoint_labels = { LABEL_2 = \"arousal\" }"), &set).unwrap();
    let mapped = Estimates::read(mapped.path()).unwrap();
    for (row, want) in mapped.rows.iter().zip(&reference) {
        assert!((row.predicted[0] - want[2]).abs() < 1e-6, "{}", row.file_id);
    }
    let twice = "checkpoint_labels = { LABEL_2 = \"arousal\", LABEL_5 = \"arousal\" }";
    let err = run(&scoring(generic.path(), &["arousal"], twice), &set).unwrap_err();
    assert_eq!(err, "the checkpoint's outputs `LABEL_2` and `LABEL_5` would both estimate `arousal`; map one elsewhere or \"drop\" it in `checkpoint_labels`");
    let err = run(&scoring(generic.path(), &["arousal"], "checkpoint_labels = { LABEL_2 = \"valence\" }"), &set).unwrap_err();
    assert_eq!(err, "`checkpoint_labels.LABEL_2 = \"valence\"` is neither \"drop\" nor one of the targets (arousal)");
    // A dropped output estimates nothing, even where its name is a target's.
    let err = run(&scoring(model.path(), &["arousal"], "checkpoint_labels = { Arousal = \"drop\" }"), &set).unwrap_err();
    assert!(err.starts_with("the checkpoint's head has no output for `arousal`; its outputs are Arousal, dominance"), "{err}");
    let err = run(&scoring(model.path(), &["arousal"], "checkpoint_labels = { LABEL_9 = \"arousal\" }"), &set).unwrap_err();
    assert!(err.starts_with("`checkpoint_labels.LABEL_9`: the checkpoint's head has no output `LABEL_9`"), "{err}");
}

/// A classifier's softmax scores are no ratings: refused, unless a new head is trained.
#[test]
fn a_classifier_checkpoint_needs_a_new_head_to_estimate() {
    let model = checkpoint("large-dense-tanh", &["01", "02", "03", "04", "05", "06", "07", "08"]);
    let set = rated_set();
    let err = run(&scoring(model.path(), &["arousal", "valence"], ""), &set).unwrap_err();
    assert_eq!(
        err,
        "the checkpoint's head is a classifier (its outputs: 01, 02, 03, 04, 05, 06, 07, 08), not an estimator of \
         dimensions: set `new_head = true` to train a head for the targets on its encoder"
    );
    let mut params = scoring(model.path(), &["arousal", "valence"], "new_head = true");
    params.epochs = 1;
    let out = run(&params, &set).unwrap();
    let config = json(&out.path().join("config.json"));
    assert_eq!((config["problem_type"].as_str(), config["id2label"]["1"].as_str()), (Some("regression"), Some("valence")));
    let report = std::fs::read_to_string(out.path().join("report/training.txt")).unwrap();
    assert!(report.contains("new: [\"classifier.out_proj.bias\", \"classifier.out_proj.weight\", \"projector.bias\""), "{report}");
}

#[test]
fn targets_are_checked_before_anything_runs() {
    let check = |extra: &str| {
        let params: FineTune = toml::from_str(extra).unwrap();
        FineTuneDimensions(params).validate().map_err(|e| (e.path, e.message))
    };
    assert_eq!(check("targets = []").unwrap_err().0, "targets");
    assert_eq!(
        check("targets = [\"arousal\", \"arousal\"]").unwrap_err(),
        ("targets.1".into(), "`arousal` is listed twice".into())
    );
    assert_eq!(
        check("targets = [\"label\"]").unwrap_err(),
        ("targets.0".into(), "`label` holds classes: a classifier learns them (`baseline`, or `fine-tune` without `targets`)".into())
    );
    assert_eq!(check("targets = [\"arousal\"]\nclass_weights = \"balanced\"").unwrap_err().0, "class_weights");
    assert_eq!(check("targets = [\"arousal\"]\nbatch_size = 1").unwrap_err().0, "batch_size");
    assert!(check("targets = [\"arousal\"]\nbatch_size = 1\nloss = \"mse\"").is_ok());
    let classifier: FineTune = toml::from_str("loss = \"mse\"").unwrap();
    assert_eq!(classifier.validate().unwrap_err().path, "loss");
}

#[test]
fn training_needs_rated_train_clips() {
    let mut set = rated_set();
    for clip in &mut set.clips {
        clip.extra.remove("valence");
    }
    let err = run(&params(1, ""), &set).unwrap_err();
    assert_eq!(
        err,
        "no clip of `audio` has a value in `valence`: `targets` names manifest columns, and its columns with values are \
         file_id, split, arousal"
    );
    // Rated, but never in both targets on one train clip.
    for clip in set.clips.iter_mut().filter(|c| c.split == Split::Val) {
        clip.extra.insert("valence".into(), "2".into());
    }
    let err = run(&params(1, ""), &set).unwrap_err();
    assert_eq!(
        err,
        "no clip of the train split of `audio` is rated in every target (arousal, valence): check the manifest's columns of those names"
    );
    set.clips[0].extra.insert("valence".into(), "high".into());
    let err = run(&params(1, ""), &set).unwrap_err();
    assert!(err.contains("tone0_00") && err.contains("high"), "{err}");
}
