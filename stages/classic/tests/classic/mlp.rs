//! The MLP against scikit-learn's MLPClassifier (`scripts/make_mlp_fixture.py`): mean validation
//! accuracy over five seeds within the 2 points, unweighted and balanced, and the same
//! bytes for a seed at any thread count.

use vox_classic::data::{ClassWeight, TrainingData};
use vox_classic::mlp::{Mlp, MlpParams};
use vox_classic::scaling::Standardizer;

use crate::fixture::{accuracy, dataset, validation};

fn params(seed: u64) -> MlpParams {
    MlpParams { hidden: vec![100], alpha: 1e-4, learning_rate: 1e-3, batch_size: 200, max_iter: 200, tol: 1e-4, seed }
}

#[test]
fn mean_accuracy_over_seeds_is_within_two_points_of_scikit_learn() {
    let table = dataset();
    let train = TrainingData::from_table(&table).unwrap();
    let (val_rows, val_labels) = validation(&table);
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sklearn_mlp.json");
    let sklearn: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (mode, name) in [(ClassWeight::None, "none"), (ClassWeight::Balanced, "balanced")] {
        let weights = train.row_weights(&train.class_weights(mode));
        let scores: Vec<f64> = (0..5)
            .map(|seed| {
                let mlp = Mlp::fit(&train.rows, &train.labels, 8, Standardizer::fit(&train.rows), &weights, &params(seed), &|| {});
                accuracy(&mlp.predict_proba(&val_rows), &val_labels)
            })
            .collect();
        let ours = scores.iter().sum::<f64>() / 5.0;
        let theirs = sklearn[name]["val_accuracy_mean"].as_f64().unwrap();
        eprintln!("mlp {name}: val accuracy ours {ours:.4} {scores:.3?}, scikit-learn {theirs:.4}");
        assert!((ours - theirs).abs() <= 0.02, "{name}: ours {ours:.4} vs scikit-learn {theirs:.4}");
    }
}

#[test]
fn a_seed_gives_the_same_model_at_any_thread_count() {
    let table = dataset();
    let train = TrainingData::from_table(&table).unwrap();
    let weights = vec![1.0; train.labels.len()];
    let fit = |threads| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let p = MlpParams { max_iter: 15, ..params(3) };
        pool.install(|| serde_json::to_string(&Mlp::fit(&train.rows, &train.labels, 8, Standardizer::fit(&train.rows), &weights, &p, &|| {})).unwrap())
    };
    let one = fit(1);
    assert_eq!(one, fit(2));
    assert_ne!(one, {
        let p = MlpParams { max_iter: 15, ..params(4) };
        serde_json::to_string(&Mlp::fit(&train.rows, &train.labels, 8, Standardizer::fit(&train.rows), &weights, &p, &|| {})).unwrap()
    });
}
