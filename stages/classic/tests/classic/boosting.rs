//! Histogram gradient boosting against scikit-learn 1.9's `HistGradientBoostingClassifier`
//! (`early_stopping=False`, other params default) on the committed fixture
//! (`sklearn_hgb_svm.json`, written by `make_fixtures.py --boosting-svm`), and its determinism.

use vox_classic::boosting::binning::BinnedMatrix;
use vox_classic::boosting::{BoostingParams, GradientBoosting};
use vox_classic::data::{ClassWeight, TrainingData};
use vox_classic::model::{FittedModel, ModelFile};

use crate::fixture::{accuracy, dataset, validation};

/// `sklearn_hgb_svm.json`.
pub fn reference() -> serde_json::Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sklearn_hgb_svm.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// scikit-learn's defaults.
pub const DEFAULTS: BoostingParams = BoostingParams {
    max_iter: 100,
    learning_rate: 0.1,
    max_leaf_nodes: 31,
    max_depth: None,
    min_samples_leaf: 20,
    l2_regularization: 0.0,
    max_bins: 255,
};

fn fit(train: &TrainingData, mode: ClassWeight) -> GradientBoosting {
    let weights = train.class_weights(mode);
    let row_weights: Vec<f64> = train.labels.iter().map(|&y| weights[y]).collect();
    GradientBoosting::fit(&train.rows, &train.labels, 8, &row_weights, &DEFAULTS, &|| {})
}

#[test]
fn bins_like_scikit_learn() {
    let table = dataset();
    let train = TrainingData::from_table(&table).unwrap();
    let sklearn = reference();
    for (mode, name) in [(ClassWeight::None, "hgb_none"), (ClassWeight::Balanced, "hgb_balanced")] {
        let weights = train.class_weights(mode);
        let row_weights: Vec<f64> = train.labels.iter().map(|&y| weights[y]).collect();
        let binned = BinnedMatrix::fit(&train.rows, &row_weights, 255);
        let counts: Vec<usize> = binned.thresholds.iter().map(Vec::len).collect();
        let expected: Vec<usize> = serde_json::from_value(sklearn[name]["n_thresholds"].clone()).unwrap();
        assert_eq!(counts, expected, "{name}");
        let expected: Vec<f64> = serde_json::from_value(sklearn[name]["thresholds_feature_0"].clone()).unwrap();
        assert_eq!(binned.thresholds[0], expected, "{name}: feature 0's thresholds");
    }
}

#[test]
fn matches_scikit_learn_accuracy_with_and_without_class_weights() {
    let table = dataset();
    let train = TrainingData::from_table(&table).unwrap();
    let (val_rows, val_labels) = validation(&table);
    let sklearn = reference();
    for (mode, name) in [(ClassWeight::None, "hgb_none"), (ClassWeight::Balanced, "hgb_balanced")] {
        let model = fit(&train, mode);
        // The first split of the first tree is scikit-learn's: same bins, same gain formula.
        let root = &model.iterations[0][0].splits[0];
        let expected = &sklearn[name]["first_tree_root"];
        assert_eq!(
            (u64::from(root.feature), root.threshold),
            (expected["feature"].as_u64().unwrap(), expected["threshold"].as_f64().unwrap()),
            "{name}"
        );
        let probabilities = model.predict_proba(&val_rows);
        let ours = accuracy(&probabilities, &val_labels);
        let theirs = sklearn[name]["val_accuracy"].as_f64().unwrap();
        assert!((ours - theirs).abs() <= 0.02, "{name}: val accuracy vox {ours:.4}, scikit-learn {theirs:.4}");
        let expected: Vec<Vec<f64>> =
            serde_json::from_value(sklearn[name]["val_probabilities_first_rows"].clone()).unwrap();
        let difference = probabilities
            .iter()
            .flatten()
            .zip(expected.iter().flatten())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        // Same bins, same splits, gradients in float32 as scikit-learn's: the same trees, so the
        // probabilities agree to rounding (measured: 4e-16).
        assert!(difference < 1e-6, "{name}: first rows' probabilities differ by up to {difference:.2e}");
    }
}

#[test]
fn byte_identical_at_any_thread_count_and_through_model_json() {
    let table = dataset();
    let train = TrainingData::from_table(&table).unwrap();
    let (val_rows, _) = validation(&table);
    let params = BoostingParams { max_iter: 20, ..DEFAULTS };
    let weights = train.class_weights(ClassWeight::Balanced);
    let row_weights: Vec<f64> = train.labels.iter().map(|&y| weights[y]).collect();
    let fit_in = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let model = pool.install(|| GradientBoosting::fit(&train.rows, &train.labels, 8, &row_weights, &params, &|| {}));
        serde_json::to_vec(&model).unwrap()
    };
    let (one, two, again) = (fit_in(1), fit_in(2), fit_in(2));
    assert!(one == two && two == again, "model JSON depends on the thread count or the run");

    let model: GradientBoosting = serde_json::from_slice(&one).unwrap();
    let probabilities = model.predict_proba(&val_rows);
    let dir = tempfile::tempdir().unwrap();
    let file = ModelFile {
        format: vox_classic::model::FORMAT.into(),
        features: table.names.clone(),
        classes: (1..=8).map(|k| format!("{k:02}")).collect(),
        model: FittedModel::HistGradientBoosting(model),
    };
    file.write(dir.path()).unwrap();
    let read = ModelFile::read(dir.path()).unwrap();
    assert_eq!(read, file);
    assert!(read.model.predict_proba(&val_rows) == probabilities, "model.json does not reproduce the probabilities");
    // The JSON is the documented shape: a baseline score per class and 8 trees per iteration.
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("model.json")).unwrap()).unwrap();
    assert_eq!(json["model"]["kind"], "hist-gradient-boosting");
    assert_eq!(json["model"]["baseline"].as_array().unwrap().len(), 8);
    assert_eq!(json["model"]["iterations"][19].as_array().unwrap().len(), 8);
    assert!(json["model"]["iterations"][0][0]["splits"][0]["threshold"].is_f64());
}
