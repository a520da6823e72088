//! Hyperparameter search (`vox search`): random search and successive halving over a pipeline's
//! params, every trial a cached variant, scored on `val` only (a cross-validation's folds' val
//! parts), with the trials' table and the best trial in the run folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::{Project, SMALL, csv_rows as rows};

/// MFCCs and a logistic regression scored on `val` (evaluate's default split): the stages every
/// test's trials vary.
const TRIAL_STAGES: &str = r#"
[stages.mfcc]
kind = "featurize"
inputs = ["split"]
set = "mfcc"

[stages.lr]
kind = "baseline"
inputs = ["mfcc"]
model = "logistic"

[stages.report]
kind = "evaluate"
inputs = ["lr"]
plots = false
bootstrap = 0
"#;

/// [`SMALL`] with [`TRIAL_STAGES`] and `search`.
fn pipeline(search: &str) -> String {
    format!("{SMALL}{TRIAL_STAGES}{search}")
}

const RANDOM: &str = r#"
[search]
trials = 5
seed = 3

[search.space]
"lr.c" = { log_uniform = [0.001, 100.0] }
"lr.class_weight" = ["none", "balanced"]
"#;

/// Runs `vox search p.toml --json ARGS`: the document.
fn search(p: &Project, extra: &[&str]) -> serde_json::Value {
    let args = [&["search", "p.toml", "--json"], extra].concat();
    let run = p.vox(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}

/// The run folder's `run.json`: stage name -> (status, output folder).
fn stages(p: &Project, doc: &serde_json::Value) -> BTreeMap<String, (String, PathBuf)> {
    let run: serde_json::Value = serde_json::from_slice(&std::fs::read(Path::new(doc["run_dir"].as_str().unwrap()).join("run.json")).unwrap()).unwrap();
    run["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), (s["status"].as_str().unwrap().to_string(), p.entry(s["key"].as_str().unwrap()))))
        .collect()
}

/// The `split` row's `metric` of a report's summary.csv.
fn summary(dir: &Path, split: &str, metric: &str) -> f64 {
    rows(&dir.join("summary.csv")).iter().find(|r| r["split"] == split).unwrap_or_else(|| panic!("no {split} row"))[metric].parse().unwrap()
}

#[test]
fn random_search_scores_every_trial_on_val_and_keeps_the_best() {
    let p = Project::new();
    p.file("p.toml", &pipeline(RANDOM));
    let doc = search(&p, &[]);
    let trials = doc["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 5);
    let stages = stages(&p, &doc);
    // One DAG: the shared prefix once, each trial's model and report once.
    assert_eq!(stages.keys().filter(|n| n.starts_with("mfcc")).count(), 1);
    assert!(stages.contains_key("lr[trial03]") && stages.contains_key("report[trial05]"), "{:?}", stages.keys());
    assert!(stages.values().all(|(status, _)| status == "ran"));

    // Each trial's score is its report's `val` macro-F1, and its params are its model's.
    let mut scores = Vec::new();
    for trial in trials {
        let name = trial["trial"].as_str().unwrap();
        let score = trial["score"].as_f64().unwrap();
        assert_eq!(score, summary(&stages[&format!("report[{name}]")].1, "val", "macro_f1"), "{name}");
        let c = trial["params"]["lr.c"].as_f64().unwrap();
        assert!((0.001..=100.0).contains(&c), "{c}");
        let digits = format!("{c:e}").split('e').next().unwrap().replace('.', "").len();
        assert!(digits <= 4, "4 significant digits: {c}");
        scores.push((name.to_string(), score));
    }
    let draws: Vec<f64> = trials.iter().map(|t| t["params"]["lr.c"].as_f64().unwrap()).collect();
    assert!(draws.windows(2).any(|w| w[0] != w[1]), "trials differ: {draws:?}");
    let best = scores.iter().fold(None::<&(String, f64)>, |b, s| if b.is_none_or(|b| s.1 > b.1) { Some(s) } else { b }).unwrap();
    assert_eq!(doc["best"]["trial"], best.0.as_str());
    assert_eq!(doc["best"]["score"], best.1);
    assert_eq!(doc["best"]["split"], "val");

    // The tables: every trial, val only; best.json gives the winner as --set arguments.
    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    let csv = std::fs::read_to_string(run_dir.join("search.csv")).unwrap();
    assert_eq!(csv.lines().next(), Some("trial,lr.c,lr.class_weight,val_macro_f1,status"));
    assert_eq!(csv.lines().count(), 6);
    assert!(!csv.contains("test") && !std::fs::read_to_string(run_dir.join("search.md")).unwrap().contains("test"));
    let best_json: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("best.json")).unwrap()).unwrap();
    assert_eq!(best_json, doc["best"]);
    let sets: Vec<String> = best_json["set"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect();
    assert_eq!(sets.len(), 2);

    // Running the pipeline with the best params finds the winning trial's model cached.
    let mut args = vec!["run", "p.toml", "--json"];
    for set in &sets {
        args.extend(["--set", set]);
    }
    let rerun = p.vox(&args);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    let statuses = crate::support::statuses(&rerun.stdout);
    assert!(statuses.contains(&("lr".to_string(), "cached".to_string())), "{statuses:?}");

    // A rerun of the search is all cached, with the same table; another seed draws other trials.
    let again = search(&p, &[]);
    assert!(self::stages(&p, &again).values().all(|(status, _)| status == "cached"));
    assert_eq!(std::fs::read_to_string(PathBuf::from(again["run_dir"].as_str().unwrap()).join("search.csv")).unwrap(), csv);
    p.file("p.toml", &pipeline(&RANDOM.replace("seed = 3", "seed = 4")));
    let other = search(&p, &["--trials", "2"]);
    assert_eq!(other["trials"].as_array().unwrap().len(), 2);
    assert_ne!(other["trials"][0]["params"], doc["trials"][0]["params"]);
}

#[test]
fn successive_halving_promotes_the_best_third_to_three_times_the_budget() {
    let p = Project::new();
    let text = pipeline(
        r#"
[stages.rf]
kind = "baseline"
inputs = ["mfcc"]
class_weight = "balanced"

[search]
method = "halving"
model = "rf"
budget = "rf.n_trees"
min_budget = 2
max_budget = 18

[search.space]
"rf.max_depth" = { int = [1, 8] }
"rf.max_features" = { uniform = [0.05, 1.0] }
"#,
    )
    .replace("inputs = [\"lr\"]", "inputs = [\"lr\", \"rf\"]");
    p.file("p.toml", &text);
    let doc = search(&p, &[]);
    let trials = doc["trials"].as_array().unwrap();
    let rung = |k: u64| trials.iter().filter(|t| t["rung"] == k).collect::<Vec<_>>();
    // 3^(3 rungs - 1) = 9 trials on 2 trees, the best 3 on 6, the best one on 18.
    let (r0, r1, r2) = (rung(0), rung(1), rung(2));
    assert_eq!((r0.len(), r1.len(), r2.len()), (9, 3, 1));
    assert!(r0.iter().all(|t| t["budget"] == 2) && r1.iter().all(|t| t["budget"] == 6) && r2[0]["budget"] == 18);
    let top = |rows: &[&serde_json::Value], n: usize| {
        let mut ranked: Vec<(f64, usize, String)> = rows
            .iter()
            .map(|t| {
                let name = t["trial"].as_str().unwrap().to_string();
                (t["score"].as_f64().unwrap(), name[5..].parse().unwrap(), name)
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked.into_iter().take(n).map(|(_, _, name)| name).collect::<Vec<_>>()
    };
    let promoted: Vec<String> = r1.iter().map(|t| t["trial"].as_str().unwrap().to_string()).collect();
    assert_eq!(promoted, top(&r0, 3));
    assert_eq!(vec![r2[0]["trial"].as_str().unwrap().to_string()], top(&r1, 1));
    assert_eq!(doc["best"]["trial"], r2[0]["trial"]);
    assert_eq!(doc["best"]["budget"], 18);
    // The budget is the trial's model's param: 18 trees in the winner's model.
    let stages = stages(&p, &doc);
    let winner = format!("rf[{}, rf.n_trees=18]", r2[0]["trial"].as_str().unwrap());
    let model: serde_json::Value = serde_json::from_slice(&std::fs::read(stages[&winner].1.join("model.json")).unwrap()).unwrap();
    assert_eq!(model["model"]["trees"].as_array().unwrap().len(), 18);
    // The score is rf's, not lr's: the report scores both, `model = "rf"` picks.
    let report = &stages[&format!("report[{}, rf.n_trees=18]", r2[0]["trial"].as_str().unwrap())].1;
    let rf_val = rows(&report.join("summary.csv")).into_iter().find(|r| r["split"] == "val" && r["input"].starts_with("rf")).unwrap();
    assert_eq!(doc["best"]["score"].as_f64().unwrap(), rf_val["macro_f1"].parse::<f64>().unwrap());
    // `vox gc p.toml` keeps every trial of every rung: the search reruns nothing after it.
    let gc = p.vox(&["gc", "p.toml"]);
    assert_eq!(gc.code, 0, "{}", gc.stderr);
    assert!(gc.stdout.starts_with("removed 0 entries"), "{}", gc.stdout);
    let again = search(&p, &[]);
    assert!(self::stages(&p, &again).values().all(|(status, _)| status == "cached"));
}

#[test]
fn a_search_never_scores_test_and_says_what_it_needs() {
    let p = Project::new();
    // A report on `test` only: the search has nothing it may look at.
    let on_test = pipeline(RANDOM).replace("plots = false", "plots = false\nsplit = \"test\"");
    p.file("p.toml", &on_test.replace("val_fraction = 0.2", "val_fraction = 0.2\ntest_fraction = 0.2"));
    let run = p.vox(&["search", "p.toml"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("error: trial `trial01` has no `val` score: a search optimizes the `val` rows"), "{}", run.stderr);
    assert!(!run.stderr.contains("error: error:"), "{}", run.stderr);

    // Two models scored: which one counts must be said.
    let two = pipeline(RANDOM).replace("inputs = [\"lr\"]", "inputs = [\"lr\", \"knn\"]")
        + "\n[stages.knn]\nkind = \"baseline\"\ninputs = [\"mfcc\"]\nmodel = \"knn\"\n";
    p.file("p.toml", &two);
    let run = p.vox(&["search", "p.toml", "--trials", "1"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("scores several models on `val` (`lr`, `knn`): set `[search] model`"), "{}", run.stderr);

    // A param of the space that the stage lacks is located in the pipeline file.
    p.file("p.toml", &pipeline(&RANDOM.replace("\"lr.class_weight\"", "\"lr.n_trees\"")));
    let run = p.vox(&["search", "p.toml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("p.toml:"), "[{}]", run.stderr);
    assert!(run.stderr.contains("n_trees"), "{}", run.stderr);

    // `vox plan` says how to run the search it does not plan.
    p.file("p.toml", &pipeline(RANDOM));
    let plan = p.vox(&["plan", "p.toml"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stdout.contains("the pipeline has a [search]: `vox search p.toml` runs its trials"), "{}", plan.stdout);

    // No [search]: a hint of what to write.
    p.file("p.toml", &pipeline(""));
    let run = p.vox(&["search", "p.toml"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no [search] table"), "{}", run.stderr);
}

#[test]
fn in_a_cross_validation_the_search_scores_the_folds_val_parts() {
    let p = Project::new();
    let text = format!(
        r#"
[pipeline]
name = "cv-search"
seed = 5

[stages.data]
kind = "synth"
actors = 3
statements = 1
repetitions = 1
duration = 1.0
sample_rate = 16000

[stages.audio]
kind = "decode"
inputs = ["data"]

[stages.split]
kind = "split"
inputs = ["audio"]
strategy = "kfold"
folds = 3
val_fraction = 0.25

{}{}"#,
        TRIAL_STAGES.replace("plots = false", "split = \"test\"\nplots = false"),
        RANDOM.replace("trials = 5", "trials = 2")
    );
    p.file("p.toml", &text);
    let doc = search(&p, &[]);
    let stages = stages(&p, &doc);
    for trial in doc["trials"].as_array().unwrap() {
        let name = trial["trial"].as_str().unwrap();
        let report = &stages[&format!("report[{name}]")].1;
        // The report's `val` row: the mean over the 3 folds of each fold's val part...
        let val_clips: usize = (1..=3)
            .map(|fold| {
                let manifest = rows(&stages[&format!("split[fold={fold}]")].1.join("manifest.csv"));
                manifest.iter().filter(|r| r["split"] == "val").count()
            })
            .sum();
        let row = rows(&report.join("summary.csv")).into_iter().find(|r| r["split"] == "val").unwrap();
        assert_eq!(row["clips"].parse::<usize>().unwrap(), val_clips);
        let cv = rows(&report.join("report/lr/folds.csv"));
        assert!(!cv.is_empty());
        // ...is what the search scored; the pooled held-out (`test`) row is another number.
        assert_eq!(trial["score"].as_f64().unwrap(), row["macro_f1"].parse::<f64>().unwrap());
        assert!(summary(report, "test", "macro_f1").is_finite());
    }
}

/// A search over a `regress` stage's penalty scored by one dimension's CCC on `val`: each
/// trial's score is its report's `val` row of `dimensions.csv`, and the best is the largest.
#[test]
fn a_search_over_a_regressor_optimizes_a_dimensions_ccc_on_val() {
    let p = Project::new();
    p.file("p.toml", DIMS_SEARCH);
    let doc = search(&p, &[]);
    let trials = doc["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 3);
    let stages = stages(&p, &doc);
    let mut scores = Vec::new();
    for trial in trials {
        let name = trial["trial"].as_str().unwrap();
        let report = &stages[&format!("report[{name}]")].1;
        let row = rows(&report.join("dimensions.csv")).into_iter().find(|r| r["split"] == "val" && r["dimension"] == "valence").unwrap();
        let score = trial["score"].as_f64().unwrap();
        assert_eq!(score, row["ccc"].parse::<f64>().unwrap(), "{name}");
        scores.push((score, name.to_string()));
    }
    let best = scores.iter().max_by(|a, b| a.0.total_cmp(&b.0)).unwrap();
    assert_eq!(doc["best"]["trial"].as_str(), Some(best.1.as_str()), "{doc}");
    // The penalties differ enough for the scores to differ: the search chose something.
    assert!(scores.iter().any(|s| (s.0 - best.0).abs() > 1e-3), "{scores:?}");
    let table = std::fs::read_to_string(Path::new(doc["run_dir"].as_str().unwrap()).join("search.csv")).unwrap();
    assert!(table.starts_with("trial,dims.alpha,val_ccc_valence,status\n"), "{table}");

    p.file("q.toml", &DIMS_SEARCH.replace("metric = \"ccc_valence\"", "metric = \"cc\""));
    let bad = p.vox(&["search", "q.toml"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("`cc` is not a summary metric (accuracy, macro_f1, weighted_f1, uar), nor `ccc` or `ccc_<dimension>` for a `regress`"), "{}", bad.stderr);
}

/// A synthetic IEMOCAP (ratings in its EmoEvaluation files), eGeMAPS, ridge regressions of two
/// dimensions scored on `val`, and a search over the ridge penalty.
pub(crate) const DIMS_SEARCH: &str = r#"
[pipeline]
name = "dims-search"
seed = 5

[stages.data]
kind = "synth"
naming = "iemocap"
actors = 4
statements = 1
repetitions = 1
duration = 1.0
sample_rate = 16000

[stages.audio]
kind = "decode"
inputs = ["data"]
corpus = "iemocap"
classes = ["neutral", "happy", "angry", "sad"]
labels = { excited = "happy", "*" = "drop" }

[stages.split]
kind = "split"
inputs = ["audio"]
val_fraction = 0.3

[stages.egemaps]
kind = "featurize"
inputs = ["split"]
set = "egemaps-v02"

[stages.dims]
kind = "regress"
inputs = ["egemaps"]
targets = ["arousal", "valence"]

[stages.report]
kind = "evaluate"
inputs = ["dims"]
plots = false
bootstrap = 0

[search]
trials = 3
seed = 2
metric = "ccc_valence"

[search.space]
"dims.alpha" = { log_uniform = [0.01, 1000.0] }
"#;
