//! The `regress` stage end to end on the scikit-learn regression fixture
//! (`tests/fixtures/regression.csv`, made by `scripts/make_regression_fixture.py`): ridge and
//! k-NN estimates of two dimensions against Ridge and KNeighborsRegressor behind a
//! StandardScaler, unrated clips, the report, applying the model, and the errors.

use std::path::{Path, PathBuf};

use indicatif::{MultiProgress, ProgressDrawTarget};
use vox_api::agreement::Agreement;
use vox_api::audio::Split;
use vox_api::estimates::Estimates;
use vox_api::features::FeatureTable;
use vox_api::{ApplyContext, ArtifactKind, Input, StageContext, StageDef};
use vox_classic::Regress;

use crate::fixture::{clip, codes};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `regression.csv` as a feature table: clips `row000`.., `arousal` and `valence` as manifest
/// columns (valence empty on the first 5 train rows).
fn table() -> FeatureTable {
    let mut reader = csv::Reader::from_path(fixtures().join("regression.csv")).unwrap();
    let names = reader.headers().unwrap().iter().skip(3).map(str::to_string).collect();
    let mut table = FeatureTable { names, labels: codes(), ..FeatureTable::default() };
    for (i, record) in reader.records().enumerate() {
        let record = record.unwrap();
        let split = if &record[0] == "train" { Split::Train } else { Split::Val };
        let mut clip = clip(&format!("row{i:03}"), None, split);
        for (column, value) in [("arousal", &record[1]), ("valence", &record[2])] {
            if !value.is_empty() {
                clip.extra.insert(column.into(), value.into());
            }
        }
        table.clips.push(clip);
        table.rows.push(record.iter().skip(3).map(|v| v.parse().unwrap()).collect());
    }
    table
}

fn context<'a>(inputs: &'a [Input], out: &'a Path, scratch: &'a Path, progress: &'a MultiProgress) -> StageContext<'a> {
    StageContext { stage: "dims", inputs, out_dir: out, scratch_dir: scratch, seed: 42, backend: None, threads: 2, progress, memo: None }
}

/// Runs the stage with `toml` params on the features in `input`, writing into `out`.
fn run(toml: &str, input: &Path, out: &Path) -> Result<(), String> {
    let stage: Regress = toml::from_str(toml).map_err(|e| e.to_string())?;
    stage.validate().map_err(|e| e.to_string())?;
    let inputs = [Input::new("features", ArtifactKind::Features, input.to_path_buf())];
    let scratch = tempfile::tempdir().unwrap();
    let progress = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
    stage.run(&context(&inputs, out, scratch.path(), &progress)).map_err(|e| e.to_string())
}

fn reference() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("sklearn_regression.json")).unwrap()).unwrap()
}

/// The val estimates of dimension `d` in `out`.
fn val_estimates(out: &Path, d: usize) -> Vec<f64> {
    Estimates::read(out).unwrap().split(Split::Val).map(|r| r.predicted[d]).collect()
}

fn assert_close(ours: &[f64], theirs: &serde_json::Value, tolerance: f64, what: &str) {
    let theirs: Vec<f64> = serde_json::from_value(theirs.clone()).unwrap();
    assert_eq!(ours.len(), theirs.len(), "{what}");
    let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    assert!(worst < tolerance, "{what}: largest difference {worst}");
}

#[test]
fn ridge_and_knn_match_scikit_learn_per_dimension() {
    let input = tempfile::tempdir().unwrap();
    table().write(input.path()).unwrap();
    let reference = reference();
    let cases = [
        ("model = \"ridge\"", "ridge_1", 1e-9),
        ("alpha = 30.0", "ridge_30", 1e-9),
        ("model = \"knn\"", "knn_uniform", 1e-12),
        ("model = \"knn\"\nweights = \"distance\"", "knn_distance", 1e-12),
    ];
    for (params, key, tolerance) in cases {
        let out = tempfile::tempdir().unwrap();
        run(&format!("targets = [\"arousal\", \"valence\"]\n{params}"), input.path(), out.path()).unwrap();
        for (d, dimension) in ["arousal", "valence"].into_iter().enumerate() {
            assert_close(&val_estimates(out.path(), d), &reference[dimension][key], tolerance, &format!("{key} {dimension}"));
        }
        let estimates = Estimates::read(out.path()).unwrap();
        assert_eq!(estimates.dimensions, ["arousal", "valence"]);
        assert_eq!(estimates.rows.len(), 300);
        // The 5 unrated train clips are estimated, with no true valence.
        let unrated: Vec<&str> =
            estimates.rows.iter().filter(|r| r.truth[1].is_none()).map(|r| r.file_id.as_str()).collect();
        assert_eq!(unrated.len(), 5, "{key}");
        if key == "ridge_1" {
            // The fixture's arousal is linear in the features: ridge recovers it closely.
            let ccc = Agreement::of(&estimates.pairs(Split::Val, 0)).unwrap().ccc;
            assert!(ccc > 0.9, "val CCC {ccc}");
            let report = std::fs::read_to_string(out.path().join("report/model.txt")).unwrap();
            assert!(report.starts_with("model: ridge\nparams: {\"targets\":[\"arousal\",\"valence\"],\"model\":\"ridge\",\"alpha\":1.0}\nfeatures: 40 (standardized with computed on the training rows)\n"), "{report}");
            let arousal_line = report.lines().find(|l| l.starts_with("arousal")).unwrap();
            let fields: Vec<&str> = arousal_line.split_whitespace().collect();
            assert_eq!((fields[1], fields[3], fields[4]), ("215", "85", format!("{ccc:.4}").as_str()), "{report}");
            assert!(report.lines().any(|l| l.starts_with("valence") && l.split_whitespace().nth(1) == Some("210")), "{report}");
        }
    }
}

/// Epsilon-SVR against scikit-learn's `SVR` behind a `StandardScaler`: the same dual solved by
/// libsvm's SMO to its tolerance (vox keeps the kernel in f64 and does not shrink): the
/// estimates agree to 1e-6 (5e-8 measured on 2026-12-07).
#[test]
fn support_vector_regression_matches_scikit_learn() {
    let input = tempfile::tempdir().unwrap();
    table().write(input.path()).unwrap();
    let reference = reference();
    for (params, key) in [("", "svr_default"), ("c = 10.0\nepsilon = 0.3\ngamma = 0.01", "svr_wide")] {
        let out = tempfile::tempdir().unwrap();
        let toml = format!("targets = [\"arousal\", \"valence\"]\nmodel = \"rbf-svr\"\n{params}");
        run(&toml, input.path(), out.path()).unwrap();
        for (d, dimension) in ["arousal", "valence"].into_iter().enumerate() {
            assert_close(&val_estimates(out.path(), d), &reference[dimension][key], 1e-6, &format!("{key} {dimension}"));
        }
    }
}

/// Boosted trees against scikit-learn's HistGradientBoostingRegressor (`early_stopping=False`)
/// on the raw features: the same bins, gain and float32 gradients make the same trees, so the
/// estimates agree to rounding; valence, a tanh of two features that ridge cannot bend to, is
/// estimated better than ridge does.
#[test]
fn boosted_trees_match_scikit_learn_and_bend_where_ridge_cannot() {
    let input = tempfile::tempdir().unwrap();
    table().write(input.path()).unwrap();
    let reference = reference();
    let small = "max_iter = 60\nlearning_rate = 0.2\nmax_leaf_nodes = 8\nmin_samples_leaf = 10\nl2_regularization = 1.0\nmax_bins = 64";
    for (params, key) in [("", "hgb_default"), (small, "hgb_small")] {
        let out = tempfile::tempdir().unwrap();
        let toml = format!("targets = [\"arousal\", \"valence\"]\nmodel = \"hist-gradient-boosting\"\n{params}");
        run(&toml, input.path(), out.path()).unwrap();
        for (d, dimension) in ["arousal", "valence"].into_iter().enumerate() {
            assert_close(&val_estimates(out.path(), d), &reference[dimension][key], 1e-9, &format!("{key} {dimension}"));
        }
        let report = std::fs::read_to_string(out.path().join("report/model.txt")).unwrap();
        assert!(report.contains("features: 40 (raw: trees are blind to scaling)"), "{report}");
    }
    let valence = |key: &str| -> Vec<f64> { serde_json::from_value(reference["valence"][key].clone()).unwrap() };
    let out = tempfile::tempdir().unwrap();
    run("targets = [\"valence\"]", input.path(), out.path()).unwrap();
    let truth: Vec<f64> = Estimates::read(out.path()).unwrap().split(Split::Val).map(|r| r.truth[0].unwrap()).collect();
    let ccc = |estimates: Vec<f64>| Agreement::of(&truth.iter().copied().zip(estimates).collect::<Vec<_>>()).unwrap().ccc;
    let (trees, ridge) = (ccc(valence("hgb_default")), ccc(valence("ridge_1")));
    // scikit-learn's own estimates: trees 0.907, ridge 0.859 (2026-12-07, 1.9.1).
    assert!(trees > ridge + 0.03, "valence val CCC: trees {trees:.3}, ridge {ridge:.3}");
}

/// More features than rated training clips: the dual solution, still scikit-learn's.
#[test]
fn ridge_with_more_features_than_clips_matches_scikit_learn() {
    let mut table = table();
    // Keep the scaling of every train row (written as the featurize stage would), but rate only
    // the first 25 train rows rated in each dimension.
    let train: Vec<&[f64]> =
        table.clips.iter().zip(&table.rows).filter(|(c, _)| c.split == Split::Train).map(|(_, r)| r.as_slice()).collect();
    let scaler = vox_classic::scaling::Standardizer::fit(&train);
    let mut stats = String::from("feature,mean,std\n");
    for (name, (mean, scale)) in table.names.iter().zip(scaler.mean.iter().zip(&scaler.scale)) {
        stats += &format!("{name},{mean},{scale}\n");
    }
    for dimension in ["arousal", "valence"] {
        let mut kept = 0;
        for clip in table.clips.iter_mut().filter(|c| c.split == Split::Train) {
            if clip.extra.contains_key(dimension) {
                kept += 1;
                if kept > 25 {
                    clip.extra.remove(dimension);
                }
            }
        }
    }
    let input = tempfile::tempdir().unwrap();
    table.write(input.path()).unwrap();
    std::fs::write(input.path().join(vox_classic::scaling::STANDARDIZATION), stats).unwrap();
    let out = tempfile::tempdir().unwrap();
    run("targets = [\"arousal\", \"valence\"]", input.path(), out.path()).unwrap();
    let reference = reference();
    for (d, dimension) in ["arousal", "valence"].into_iter().enumerate() {
        assert_close(&val_estimates(out.path(), d), &reference[dimension]["ridge_25_rows"], 1e-8, dimension);
    }
    let report = std::fs::read_to_string(out.path().join("report/model.txt")).unwrap();
    assert!(report.contains("(standardized with standardization.csv)"), "{report}");
}

/// New clips get the run's model's estimates, with no truth.
#[test]
fn applies_the_fitted_model_to_new_clips() {
    let input = tempfile::tempdir().unwrap();
    let table = table();
    table.write(input.path()).unwrap();
    let trained = tempfile::tempdir().unwrap();
    run("targets = [\"valence\"]\nmodel = \"knn\"", input.path(), trained.path()).unwrap();
    let fitted = Estimates::read(trained.path()).unwrap();
    // New clips: three val rows, unrated, their columns in reverse order.
    let picked = [0, 1, 2].map(|i| table.clips.iter().position(|c| c.split == Split::Val).unwrap() + i);
    let mut new = FeatureTable { names: table.names.iter().rev().cloned().collect(), labels: codes(), ..FeatureTable::default() };
    for &i in &picked {
        new.clips.push(clip(&format!("new{i}"), None, Split::None));
        new.rows.push(table.rows[i].iter().rev().copied().collect());
    }
    let new_dir = tempfile::tempdir().unwrap();
    new.write(new_dir.path()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let progress = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
    let inputs = [Input::new("features", ArtifactKind::Features, new_dir.path().to_path_buf())];
    let stage: Regress = toml::from_str("targets = [\"valence\"]\nmodel = \"knn\"").unwrap();
    let ctx = ApplyContext {
        run: context(&inputs, out.path(), scratch.path(), &progress),
        trained: trained.path(),
        new_audio: &[],
        windows: None,
    };
    stage.apply(&ctx).unwrap();
    let applied = Estimates::read(out.path()).unwrap();
    assert_eq!(applied.rows.len(), 3);
    for (row, &i) in applied.rows.iter().zip(&picked) {
        assert_eq!(row.truth, [None]);
        assert_eq!(row.predicted, fitted.rows[i].predicted, "{}", row.file_id);
    }
}

#[test]
fn refuses_what_cannot_be_estimated_at_its_param() {
    let error = |toml: &str| {
        let stage: Regress = toml::from_str(toml).unwrap();
        let error = stage.validate().unwrap_err();
        format!("{}: {}", error.path, error.message)
    };
    assert_eq!(error("targets = []"), "targets: name the manifest columns with the ratings to estimate (`targets = [\"arousal\", \"valence\"]`)");
    assert_eq!(error("targets = [\"arousal\", \"label\"]"), "targets.1: `label` holds classes: a classifier learns them (`baseline`, or `fine-tune` without `targets`)");
    assert_eq!(error("targets = [\"arousal\", \"arousal\"]"), "targets.1: `arousal` is listed twice");
    assert_eq!(error("targets = [\"length\"]"), "targets.0: `length` is a position in the audio, not a rating");
    assert_eq!(error("targets = [\"arousal\"]\nn_neighbors = 3"), "n_neighbors: `n_neighbors` does not apply to model `ridge` (its params: `alpha`)");
    assert_eq!(error("targets = [\"arousal\"]\nmodel = \"knn\"\nalpha = 2.0"), "alpha: `alpha` does not apply to model `knn` (its params: `n_neighbors`, `weights`)");
    assert_eq!(error("targets = [\"arousal\"]\nalpha = 0.0"), "alpha: must be a positive number, got 0");
    assert_eq!(
        error("targets = [\"arousal\"]\nmax_bins = 64"),
        "max_bins: `max_bins` does not apply to model `ridge` (its params: `alpha`)"
    );
    assert_eq!(
        error("targets = [\"arousal\"]\nmodel = \"hist-gradient-boosting\"\nmax_bins = 300"),
        "max_bins: must be from 2 to 255, got 300"
    );
    assert_eq!(
        error("targets = [\"arousal\"]\nmodel = \"rbf-svr\"\nepsilon = -0.1"),
        "epsilon: must be a number >= 0, got -0.1"
    );
    assert_eq!(
        error("targets = [\"arousal\"]\nmodel = \"knn\"\nc = 2.0"),
        "c: `c` does not apply to model `knn` (its params: `n_neighbors`, `weights`)"
    );
}

#[test]
fn a_dimension_no_clip_rates_or_a_rating_that_is_no_number_is_an_error() {
    let input = tempfile::tempdir().unwrap();
    let mut table = table();
    table.write(input.path()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = run("targets = [\"arousal\", \"dominance\"]", input.path(), out.path()).unwrap_err();
    assert_eq!(err, "0 train clip(s) have a value in `dominance`: a regressor needs at least 2 (the clips have `corpus`, `arousal`, `valence`)");
    table.clips[7].extra.insert("arousal".into(), "high".into());
    table.write(input.path()).unwrap();
    let err = run("targets = [\"arousal\"]", input.path(), out.path()).unwrap_err();
    assert_eq!(err, "clip `row007`: `arousal` is `high`, not a number");
}

/// Only the chosen regressor's params key the stage.
#[test]
fn keys_only_the_chosen_regressors_params() {
    let keyed = |toml: &str| serde_json::to_value(toml::from_str::<Regress>(toml).unwrap()).unwrap();
    assert_eq!(keyed("targets = [\"arousal\"]"), serde_json::json!({"targets": ["arousal"], "model": "ridge", "alpha": 1.0}));
    assert_eq!(
        keyed("targets = [\"arousal\"]\nmodel = \"knn\""),
        serde_json::json!({"targets": ["arousal"], "model": "knn", "n_neighbors": 5, "weights": "uniform"})
    );
    assert_eq!(
        keyed("targets = [\"arousal\"]\nmodel = \"hist-gradient-boosting\"\nmax_iter = 50"),
        serde_json::json!({"targets": ["arousal"], "model": "hist-gradient-boosting", "max_iter": 50, "learning_rate": 0.1,
            "max_leaf_nodes": 31, "min_samples_leaf": 20, "l2_regularization": 0.0, "max_bins": 255})
    );
    assert_eq!(
        keyed("targets = [\"arousal\"]\nmodel = \"rbf-svr\"\nc = 3.0"),
        serde_json::json!({"targets": ["arousal"], "model": "rbf-svr", "c": 3.0, "epsilon": 0.1, "gamma": "scale", "tol": 0.001})
    );
}

/// Permutation importance per dimension on the rated val clips: valence is a tanh of `f00` and
/// `f05` alone, so those two lead its ranking; arousal's baseline is its val CCC; the ranking
/// repeats for a seed.
#[test]
fn importance_ranks_the_features_a_dimension_depends_on() {
    let input = tempfile::tempdir().unwrap();
    table().write(input.path()).unwrap();
    let params = "targets = [\"arousal\", \"valence\"]\nimportance_repeats = 3\nseed = 7";
    let out = tempfile::tempdir().unwrap();
    run(params, input.path(), out.path()).unwrap();
    let read = |dimension: &str| vox_api::importance::Importance::read(&out.path().join("importance").join(dimension)).unwrap().unwrap();
    let valence = read("valence");
    let top: std::collections::BTreeSet<&str> = valence.features[..2].iter().map(|f| f.feature.as_str()).collect();
    assert_eq!(top, ["f00", "f05"].into(), "{:?}", &valence.features[..4]);
    assert!(valence.features[2].mean < valence.features[1].mean / 3.0, "{:?}", &valence.features[..4]);
    let arousal = read("arousal");
    let estimates = Estimates::read(out.path()).unwrap();
    let ccc = Agreement::of(&estimates.pairs(Split::Val, 0)).unwrap().ccc;
    assert_eq!((arousal.settings.metric.as_str(), arousal.settings.clips, arousal.settings.score), ("ccc", 85, ccc));
    assert_eq!(arousal.features.len(), 40);
    assert!(arousal.distributions.is_empty());
    let again = tempfile::tempdir().unwrap();
    run(params, input.path(), again.path()).unwrap();
    assert_eq!(vox_api::importance::Importance::read(&again.path().join("importance/arousal")).unwrap().unwrap(), arousal);
    // Keyed only when asked, with its seed.
    let keyed = serde_json::to_value(toml::from_str::<Regress>(params).unwrap()).unwrap();
    assert_eq!((keyed["importance_repeats"].as_u64(), keyed["seed"].as_u64()), (Some(3), Some(7)));
    let plain = serde_json::to_value(toml::from_str::<Regress>("targets = [\"arousal\"]\nseed = 7").unwrap()).unwrap();
    assert!(plain.get("seed").is_none(), "{plain}");
}
