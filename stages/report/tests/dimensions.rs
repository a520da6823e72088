//! `evaluate` on estimates inputs: each dimension's agreement (CCC with its interval, Pearson,
//! MAE, RMSE) on the rated clips of the scored split, by group, and pooled over the folds of a
//! cross-validation. Expected values are numpy's on the same arrays.

mod common;

use std::path::Path;

use vox_api::audio::{AudioSet, Clip, Split};
use vox_api::estimates::{Estimate, Estimates};
use vox_api::{ArtifactKind, Fold, Input};

/// (file_id, split, true arousal, predicted arousal).
type Row = (&'static str, Split, Option<f64>, f64);

/// The scored clips: numpy gives CCC 0.7547169811320755, r 0.9449111825230682, MAE 0.7,
/// RMSE 0.806225774829855 for these five; `m` clips a-c alone: CCC 0.7272727272727274, r
/// 0.8660254037844386, MAE 0.5, RMSE 0.5; `f` clips d-e: CCC 0, MAE 1, RMSE 1.118033988749895.
const SCORED: [(&str, f64, f64); 5] = [("a", 1.0, 1.5), ("b", 2.0, 2.5), ("c", 3.0, 2.5), ("d", 4.0, 3.5), ("e", 5.0, 3.5)];

fn write_estimates(dir: &Path, rows: &[Row]) {
    std::fs::create_dir_all(dir).unwrap();
    let rows = rows
        .iter()
        .map(|&(id, split, truth, predicted)| Estimate {
            file_id: id.into(),
            split,
            truth: vec![truth, truth.map(|t| 6.0 - t)],
            predicted: vec![predicted, 6.0 - predicted],
        })
        .collect();
    Estimates { dimensions: vec!["arousal".into(), "valence".into()], rows }.write(dir).unwrap();
}

fn write_audio(dir: &Path) {
    let mut set = AudioSet { labels: common::ravdess(), ..AudioSet::default() };
    for (id, _, _) in SCORED.iter().chain(&[("unrated", 0.0, 0.0), ("t1", 0.0, 0.0)]) {
        let sex = if ["a", "b", "c"].contains(id) { "m" } else { "f" };
        let clip = Clip { file_id: id.to_string(), corpus: "lab".into(), sex: sex.into(), sample_rate: 16000, ..Clip::default() };
        set.push(clip, &[0.1; 160]);
    }
    std::fs::create_dir_all(dir).unwrap();
    set.write(dir).unwrap();
}

fn table(path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(str::to_string).collect();
    std::iter::once(header).chain(reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect())).collect()
}

fn close(cell: &str, expected: f64) -> bool {
    (cell.parse::<f64>().unwrap() - expected).abs() < 1e-12
}

#[test]
fn scores_each_dimension_on_the_rated_clips_of_the_split_and_by_group() {
    let root = tempfile::tempdir().unwrap();
    let mut rows: Vec<Row> = SCORED.iter().map(|&(id, t, p)| (id, Split::Val, Some(t), p)).collect();
    rows.extend([("unrated", Split::Val, None, 9.0), ("t1", Split::Train, Some(1.0), 5.0)]);
    let dims = Input::new("dims", ArtifactKind::Estimates, root.path().join("dims"));
    write_estimates(&dims.dir, &rows);
    let audio = Input::new("audio", ArtifactKind::Audio, root.path().join("audio"));
    write_audio(&audio.dir);
    let out = common::run(root.path(), "plots = false\nby = [\"sex\"]\nbootstrap = 200", &[dims, audio]).unwrap();

    let table_rows = table(&out.join("dimensions.csv"));
    assert_eq!(table_rows[0], ["input", "split", "dimension", "clips", "ccc", "ccc_low", "ccc_high", "pcc", "mae", "rmse"]);
    assert_eq!(table_rows.len(), 3);
    for row in &table_rows[1..] {
        // Valence is 6 - arousal on both sides: the same agreement.
        assert_eq!(&row[..4], ["dims", "val", row[2].as_str(), "5"]);
        assert!(close(&row[4], 0.7547169811320755) && close(&row[7], 0.9449111825230682), "{row:?}");
        assert!(close(&row[8], 0.7) && close(&row[9], 0.806225774829855), "{row:?}");
        let (low, high) = (row[5].parse::<f64>().unwrap(), row[6].parse::<f64>().unwrap());
        assert!(low < 0.7547 && 0.7547 < high && high <= 1.0, "{row:?}");
    }
    assert_eq!(std::fs::read(out.join("dimensions.csv")).unwrap(), std::fs::read(out.join("report/dimensions.csv")).unwrap());

    let groups = table(&out.join("report/dims/by_sex.csv"));
    assert_eq!(groups[0], ["sex", "dimension", "clips", "ccc", "pcc", "mae", "rmse"]);
    let arousal: Vec<&Vec<String>> = groups.iter().filter(|r| r[1] == "arousal").collect();
    assert_eq!((arousal[0][0].as_str(), arousal[0][2].as_str()), ("f", "2"));
    assert!(close(&arousal[0][3], 0.0) && close(&arousal[0][6], 1.118033988749895), "{arousal:?}");
    assert_eq!((arousal[1][0].as_str(), arousal[1][2].as_str()), ("m", "3"));
    assert!(close(&arousal[1][3], 0.7272727272727274) && close(&arousal[1][4], 0.8660254037844386), "{arousal:?}");
    // Every model's groups in one table, the model first.
    let all = table(&out.join("report/dimensions_by_sex.csv"));
    assert_eq!(all[0], ["input", "sex", "dimension", "clips", "ccc", "pcc", "mae", "rmse"]);
    assert_eq!(all.len(), 5);
    assert_eq!(all[1][..], [vec!["dims".to_string()], groups[1].clone()].concat()[..]);

    // With figures: estimates against ratings, a panel per dimension with its CCC.
    let root = tempfile::tempdir().unwrap();
    let dims = Input::new("dims", ArtifactKind::Estimates, root.path().join("dims"));
    write_estimates(&dims.dir, &rows);
    // The regressor measured arousal's importance (`regress` with `importance_repeats`).
    use vox_api::importance::{FeatureImportance, Importance, Settings};
    let importance = Importance {
        settings: Settings { metric: "ccc".into(), split: "val".into(), repeats: 3, seed: 1, score: 0.75, clips: 5 },
        features: vec![FeatureImportance { rank: 1, feature: "loudness_sma3_amean".into(), mean: 0.4, std: 0.05 }],
        distributions: Vec::new(),
    };
    let measured = dims.dir.join("importance/arousal");
    std::fs::create_dir_all(&measured).unwrap();
    importance.write(&measured).unwrap();
    let out = common::run(root.path(), "formats = [\"svg\"]\nbootstrap = 0", &[dims]).unwrap();
    let drawn = out.join("report/dims/importance/arousal");
    assert_eq!(Importance::read(&drawn).unwrap(), Some(importance));
    let bars = std::fs::read_to_string(drawn.join("importance.svg")).unwrap();
    for text in ["dims (arousal): permutation importance on val (5 clips, 3 repeats)", "drop in ccc (from 0.750)", "loudness_sma3_amean"] {
        assert!(bars.contains(text), "{text} not in the figure");
    }
    assert!(!out.join("report/dims/importance/valence").exists());
    let svg = std::fs::read_to_string(out.join("report/dims/estimates.svg")).unwrap();
    for caption in ["dims: estimates against ratings on val (5 rated clips)", "arousal (CCC 0.755)", "valence (CCC 0.755)"] {
        assert!(svg.contains(caption), "{caption} not in the figure");
    }
    assert_eq!(svg.matches("<circle").count(), 10, "a dot per rated clip and dimension");
}

#[test]
fn pools_a_cross_validations_held_out_clips_and_tables_its_folds() {
    let root = tempfile::tempdir().unwrap();
    let fold = |k: usize, held_out: &[(&'static str, f64, f64)]| {
        let mut input = Input::new(format!("dims[fold={k}]"), ArtifactKind::Estimates, root.path().join(format!("dims{k}")));
        input.fold = Some(Fold { fold: k, folds: 2, of: "dims".into() });
        let mut rows: Vec<Row> = held_out.iter().map(|&(id, t, p)| (id, Split::Test, Some(t), p)).collect();
        rows.push(("t1", Split::Train, Some(1.0), 4.0));
        // An unrated clip is in every fold's test part (as `split` leaves it): estimated by
        // each fold, held out by none.
        rows.push(("unrated", Split::Test, None, 2.0));
        // Each fold's val part: clips a-c again (CCC 0.7272727272727274).
        rows.extend(SCORED[..3].iter().map(|&(id, t, p)| (id, Split::Val, Some(t), p)));
        write_estimates(&input.dir, &rows);
        input
    };
    let inputs = [fold(1, &SCORED[..3]), fold(2, &SCORED[3..])];
    let out = common::run(root.path(), "plots = false\nbootstrap = 0", &inputs).unwrap();
    let pooled = table(&out.join("dimensions.csv"));
    assert_eq!(&pooled[1][..4], ["dims", "test", "arousal", "5"]);
    assert!(close(&pooled[1][4], 0.7547169811320755) && pooled[1][5].is_empty(), "{pooled:?}");
    // The folds' mean `val`, for a search: both folds' val parts, no interval.
    let val: Vec<&Vec<String>> = pooled.iter().filter(|r| r[1] == "val").collect();
    assert_eq!(val.len(), 2, "{pooled:?}");
    assert_eq!(&val[0][..4], ["dims", "val", "arousal", "6"]);
    assert!(close(&val[0][4], 0.7272727272727274) && val[0][5].is_empty(), "{val:?}");

    let folds = table(&out.join("report/dims/folds.csv"));
    assert_eq!(folds[0], ["fold", "dimension", "clips", "ccc", "pcc", "mae", "rmse"]);
    let arousal: Vec<&Vec<String>> = folds.iter().filter(|r| r[1] == "arousal").collect();
    let cells: Vec<(&str, &str)> = arousal.iter().map(|r| (r[0].as_str(), r[2].as_str())).collect();
    assert_eq!(cells, [("1", "3"), ("2", "2"), ("mean", ""), ("std", "")]);
    assert!(close(&arousal[2][3], 0.7272727272727274 / 2.0), "{arousal:?}");
    assert!(close(&arousal[3][3], 0.7272727272727274 / 2f64.sqrt()), "{arousal:?}");

    let err = common::run(root.path(), "plots = false\nsplit = \"val\"", &inputs).unwrap_err().to_string();
    assert!(err.starts_with("input `dims` comes from a cross-validation: score `test`"), "{err}");
    let twice = [fold(1, &SCORED[..3]), fold(2, &SCORED[2..])];
    let err = common::run(root.path(), "plots = false", &twice).unwrap_err().to_string();
    assert_eq!(err, "clip `c` is held out by two folds of `dims`: the folds of a cross-validation must not overlap");
}

/// Runs `ensemble-mean` with `params` on `inputs` into a fresh `out/` under `root`.
fn run_mean(root: &Path, params: &str, inputs: &[Input]) -> Result<std::path::PathBuf, String> {
    common::run_kind(root, "ensemble-mean", params, inputs).map_err(|e| e.to_string())
}

/// Two members, the second's dimensions in the other order: `eg` misses (CCC 0.7547 in both
/// dimensions on val), `ssl` is exact in arousal (CCC 1) and says 3 for every valence (CCC 0);
/// a test clip each.
fn members(root: &Path) -> [Input; 2] {
    let eg = Input::new("eg", ArtifactKind::Estimates, root.join("eg"));
    let mut rows: Vec<Row> = SCORED.iter().map(|&(id, t, p)| (id, Split::Val, Some(t), p)).collect();
    rows.push(("t1", Split::Test, None, 2.0));
    write_estimates(&eg.dir, &rows);
    let ssl = Input::new("ssl", ArtifactKind::Estimates, root.join("ssl"));
    std::fs::create_dir_all(&ssl.dir).unwrap();
    let mut rows: Vec<Estimate> = SCORED
        .iter()
        .map(|&(id, t, _)| Estimate { file_id: id.into(), split: Split::Val, truth: vec![Some(6.0 - t), Some(t)], predicted: vec![3.0, t] })
        .collect();
    rows.push(Estimate { file_id: "t1".into(), split: Split::Test, truth: vec![None, None], predicted: vec![3.0, 4.0] });
    Estimates { dimensions: vec!["valence".into(), "arousal".into()], rows }.write(&ssl.dir).unwrap();
    [eg, ssl]
}

#[test]
fn an_estimates_ensemble_weighs_members_equally_or_by_their_val_ccc() {
    let root = tempfile::tempdir().unwrap();
    let inputs = members(root.path());
    let out = run_mean(root.path(), "", &inputs).unwrap();
    let fused = Estimates::read(&out).unwrap();
    assert_eq!(fused.dimensions, ["arousal", "valence"]);
    let t1 = fused.rows.iter().find(|r| r.file_id == "t1").unwrap();
    // eg: arousal 2, valence 4; ssl: arousal 4, valence 3.
    assert_eq!(t1.predicted, [3.0, 3.5]);

    let root = tempfile::tempdir().unwrap();
    let inputs = members(root.path());
    let out = run_mean(root.path(), "weights = \"val-ccc\"", &inputs).unwrap();
    // Arousal: eg 0.7547, ssl 1; valence: eg alone (ssl's CCC is 0).
    let (w_eg, w_ssl) = (0.7547169811320755 / 1.7547169811320755, 1.0 / 1.7547169811320755);
    let weights: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("weights.json")).unwrap()).unwrap();
    assert_eq!((&weights["rule"], &weights["dimensions"]), (&serde_json::json!("val-ccc"), &serde_json::json!(["arousal", "valence"])));
    let eg_weights: Vec<f64> = serde_json::from_value(weights["members"][0]["weights"].clone()).unwrap();
    assert!((eg_weights[0] - w_eg).abs() < 1e-12 && eg_weights[1] == 1.0, "{weights}");
    let fused = Estimates::read(&out).unwrap();
    let a = fused.rows.iter().find(|r| r.file_id == "a").unwrap();
    assert!((a.predicted[0] - (w_eg * 1.5 + w_ssl * 1.0)).abs() < 1e-12, "{a:?}");
    assert_eq!(a.predicted[1], 4.5, "eg's valence alone");

    // New clips (`vox predict`) are fused with the run's weights.
    let new_root = tempfile::tempdir().unwrap();
    let new = members(new_root.path());
    let kind = vox_report::kinds().into_iter().find(|k| k.name() == "ensemble-mean").unwrap();
    let stage = kind.configure(toml::from_str("weights = \"val-ccc\"").unwrap()).unwrap();
    let (applied, scratch) = (new_root.path().join("applied"), new_root.path().join("scratch"));
    for dir in [&applied, &scratch] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let progress = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
    let ctx = vox_api::ApplyContext {
        run: vox_api::StageContext { stage: "fused", inputs: &new, out_dir: &applied, scratch_dir: &scratch, seed: 42, backend: None, threads: 1, progress: &progress, memo: None },
        trained: &out,
        new_audio: &[],
        windows: None,
    };
    stage.apply(&ctx).unwrap();
    let t1 = Estimates::read(&applied).unwrap().rows.into_iter().find(|r| r.file_id == "t1").unwrap();
    // eg: arousal 2, valence 4; ssl: arousal 4, valence 3.
    assert!((t1.predicted[0] - (w_eg * 2.0 + w_ssl * 4.0)).abs() < 1e-12 && t1.predicted[1] == 4.0, "{t1:?}");
    assert_eq!(a.truth, [Some(1.0), Some(5.0)]);
    let report = table(&out.join("report/ensemble.csv"));
    assert_eq!(report[0], ["input", "weight", "dimension", "clips", "ccc"]);
    let inputs_scored: Vec<&str> = report[1..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(inputs_scored, ["eg", "eg", "ssl", "ssl", "ensemble", "ensemble"]);

    let err = run_mean(root.path(), "weights = [1.0]", &inputs).unwrap_err();
    assert_eq!(err, "`weights` lists 1 weights for 2 inputs; give one weight per input, in input order");
    let kind = vox_report::kinds().into_iter().find(|k| k.name() == "ensemble-mean").unwrap();
    let err = kind.configure(toml::from_str("weights = [1.0, -1.0]").unwrap()).map(|_| ()).unwrap_err();
    assert_eq!((err.path.as_str(), err.message.as_str()), ("weights.1", "must be a number >= 0, got -1"));
    let short = Input::new("short", ArtifactKind::Estimates, root.path().join("short"));
    write_estimates(&short.dir, &[("a", Split::Val, Some(1.0), 1.0)]);
    let err = run_mean(root.path(), "", &[inputs[0].clone(), short]).unwrap_err();
    assert_eq!(err, "input `short` has no estimate of clip `b`, which `eg` estimates: the members must estimate the same clips");
}
