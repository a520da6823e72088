//! Our models against scikit-learn 1.9 on the committed 8-class fixture (560 train, 240 val
//! rows, 88 features): validation accuracy and the first validation rows' probabilities.

use vox_classic::data::{ClassWeight, TrainingData};
use vox_classic::forest::{Forest, ForestParams};
use vox_classic::scaling::Standardizer;
use vox_classic::{logistic, svm};

use crate::fixture::{accuracy, dataset, reference, validation};

fn reference_probabilities(model: &str, key: &str) -> Vec<Vec<f64>> {
    serde_json::from_value(reference()[model][key].clone()).unwrap()
}

fn max_abs_difference(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn forest_matches_scikit_learn_accuracy_and_probabilities() {
    let table = dataset();
    let train = TrainingData::from_table(&table).unwrap();
    let (val_rows, val_labels) = validation(&table);
    let weights = train.class_weights(ClassWeight::Balanced);
    // Both sides averaged over 5 seeds: one seed's accuracy on 240 rows moves by about a point.
    let seeds = [0u64, 1, 2, 3, 4];
    let fits: Vec<Vec<Vec<f64>>> = seeds
        .iter()
        .map(|&seed| {
            let params = ForestParams {
                n_trees: 200,
                max_depth: None,
                min_samples_leaf: 1,
                max_features: 9,
                bootstrap: true,
                seed,
            };
            let forest = Forest::fit(&train.rows, &train.labels, 8, &weights, &params, &|| {});
            forest.predict_proba(&val_rows)
        })
        .collect();
    let ours = fits.iter().map(|p| accuracy(p, &val_labels)).sum::<f64>() / seeds.len() as f64;
    let sklearn = reference()["forest"]["val_accuracy_mean_seeds_0_4"]
        .as_f64()
        .unwrap();
    assert!(
        (ours - sklearn).abs() <= 0.02,
        "mean val accuracy: ours {ours:.4}, scikit-learn {sklearn:.4}"
    );

    // Both sides' probabilities averaged over the 5 seeds: one forest's move by a few hundredths.
    let expected = reference_probabilities("forest", "val_probabilities_first_rows_mean_seeds_0_4");
    let mean: Vec<Vec<f64>> = (0..expected.len())
        .map(|row| {
            (0..8)
                .map(|k| fits.iter().map(|p| p[row][k]).sum::<f64>() / seeds.len() as f64)
                .collect()
        })
        .collect();
    let difference = max_abs_difference(&mean, &expected);
    assert!(
        difference < 0.05,
        "forest probabilities differ by up to {difference:.3}: {mean:?}"
    );
}

#[test]
fn logistic_matches_scikit_learn_optimum() {
    let table = dataset();
    let train = TrainingData::from_table(&table).unwrap();
    let (val_rows, val_labels) = validation(&table);
    let unit = vec![1.0; train.labels.len()];
    let standardizer = Standardizer::fit(&train.rows);
    let model = logistic::fit(
        &train.rows,
        &train.labels,
        8,
        standardizer,
        &unit,
        1.0,
        1e-10,
        1000,
    );
    let probabilities = model.predict_proba(&val_rows);
    let ours = accuracy(&probabilities, &val_labels);
    let sklearn = reference()["logistic"]["val_accuracy"].as_f64().unwrap();
    // One clip of 240 is 0.0042: allow one clip near a decision boundary to flip.
    assert!(
        (ours - sklearn).abs() <= 0.005,
        "val accuracy: ours {ours:.4}, scikit-learn {sklearn:.4}"
    );
    // The same convex optimum: scikit-learn was solved to tol=1e-10.
    let expected = reference_probabilities("logistic", "val_probabilities_first_rows");
    let difference = max_abs_difference(&probabilities[..expected.len()], &expected);
    assert!(
        difference < 1e-4,
        "logistic probabilities differ by up to {difference:.2e}"
    );
}

#[test]
fn linear_svm_matches_scikit_learn_accuracy() {
    let table = dataset();
    let train = TrainingData::from_table(&table).unwrap();
    let (val_rows, val_labels) = validation(&table);
    let sample_c = vec![1.0; train.labels.len()];
    let model = svm::fit(
        &train.rows,
        &train.labels,
        8,
        Standardizer::fit(&train.rows),
        &sample_c,
        1e-4,
        1000,
    );
    let ours = accuracy(&model.predict_proba(&val_rows), &val_labels);
    let sklearn = reference()["linear_svm"]["val_accuracy"].as_f64().unwrap();
    assert!(
        (ours - sklearn).abs() <= 0.01,
        "val accuracy: ours {ours:.4}, scikit-learn {sklearn:.4}"
    );
}

#[test]
fn knn_matches_scikit_learn_accuracy_and_probabilities() {
    use vox_classic::knn::{Knn, Weights};
    let table = dataset();
    let train = TrainingData::from_table(&table).unwrap();
    let (val_rows, val_labels) = validation(&table);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sklearn_knn.json");
    let sklearn: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (weights, name) in [(Weights::Uniform, "uniform"), (Weights::Distance, "distance")] {
        let knn = Knn::fit(&train.rows, &train.labels, 8, Standardizer::fit(&train.rows), 5, weights);
        let probabilities = knn.predict_proba(&val_rows);
        let ours = accuracy(&probabilities, &val_labels);
        let theirs = sklearn[name]["val_accuracy"].as_f64().unwrap();
        // The same neighbours, so the same votes: equal, not merely within the 2 points.
        assert!((ours - theirs).abs() < 1e-9, "{name}: val accuracy ours {ours:.4}, scikit-learn {theirs:.4}");
        let expected: Vec<Vec<f64>> = serde_json::from_value(sklearn[name]["val_probabilities_first_rows"].clone()).unwrap();
        let difference = max_abs_difference(&probabilities[..expected.len()], &expected);
        assert!(difference < 1e-9, "{name}: first rows' probabilities differ by {difference}");
    }
}
