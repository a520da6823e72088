//! The classic path end to end: synth -> decode -> pad -> split -> eGeMAPS -> RandomForest ->
//! evaluate, with the metrics read back from the run folder.

use crate::support::Project;

/// A 240-clip corpus (4 actors, 2 s clips at 16 kHz) through the demo's classic stages.
const CLASSIC: &str = r#"
[pipeline]
name = "classic"
seed = 42

[stages.data]
kind = "synth"
actors = 4
duration = 2.0
sample_rate = 16000

[stages.audio]
kind = "decode"
inputs = ["data"]

[stages.padded]
kind = "pad"
inputs = ["audio"]
length = 32000

[stages.split]
kind = "split"
inputs = ["padded"]
val_fraction = 0.25

[stages.egemaps]
kind = "featurize"
inputs = ["split"]
set = "egemaps-v02"

[stages.rf]
kind = "baseline"
inputs = ["egemaps"]
n_trees = 200
class_weight = "balanced"

[stages.report]
kind = "evaluate"
inputs = ["rf"]
plots = false
"#;

#[test]
fn random_forest_on_egemaps_learns_the_synthetic_emotions() {
    let p = Project::new();
    p.file("p.toml", CLASSIC);
    let run = p.vox(&["run", "p.toml", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let run_dir = std::path::PathBuf::from(doc["run_dir"].as_str().unwrap());

    let summary = std::fs::read_to_string(run_dir.join("report/summary.csv")).unwrap();
    let mut lines = summary.lines();
    assert_eq!(lines.next(), Some("input,split,clips,accuracy,macro_f1,weighted_f1,uar"));
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!((row[0], row[1], row[2]), ("rf", "val", "60"));
    let macro_f1: f64 = row[4].parse().unwrap();
    // Measured 0.84, 0.79 and 0.85 with pipeline seeds 42, 1 and 2 (chance: 0.125). 0.6 leaves
    // room for seed-level variation yet fails any real regression of the features or the forest.
    assert!(macro_f1 > 0.6, "macro-F1 {macro_f1} on the synthetic corpus");

    // The run folder has the reports a researcher reads.
    for file in ["rf/classification_report.txt", "rf/confusion_counts.csv", "rf/metrics.json", "rf/per_class.csv"] {
        assert!(run_dir.join("report").join(file).is_file(), "{file}");
    }
    let model = std::fs::read_to_string(run_dir.join("rf/model.txt")).unwrap();
    assert!(model.contains("random-forest"), "{model}");
}
