//! `vox sweep` and `vox compare`: variants planned as one DAG, shared stages once, the table.

use std::collections::BTreeMap;

use crate::support::Project;

/// A 30-clip corpus through eGeMAPS and a forest, swept over two params and two seeds.
const SWEPT: &str = r#"
[pipeline]
name = "swept"
seed = 3

[stages.data]
kind = "synth"
actors = 2
statements = 1
repetitions = 1
duration = 1.0
sample_rate = 16000
seed = 11

[stages.audio]
kind = "decode"
inputs = ["data"]

[stages.split]
kind = "split"
inputs = ["audio"]

[stages.egemaps]
kind = "featurize"
inputs = ["split"]

[stages.rf]
kind = "baseline"
inputs = ["egemaps"]

[stages.report]
kind = "evaluate"
inputs = ["rf"]
plots = false

[sweep]
seeds = [1, 2]
metrics = ["macro_f1", "accuracy"]

[sweep.grid]
"split.val_fraction" = [0.3, 0.5]
"rf.n_trees" = [5, 50]
"#;

fn summary(dir: &std::path::Path) -> BTreeMap<String, f64> {
    let rows = vox_api::summary::read(dir);
    let path = dir.join(vox_api::summary::FILE);
    assert_eq!(rows.len(), 1, "{}", path.display());
    rows[0].iter().filter_map(|(h, v)| Some((h.clone(), v.parse().ok()?))).collect()
}

#[test]
fn two_params_by_two_seeds_share_stages_and_tabulate() {
    let p = Project::new();
    p.file("p.toml", SWEPT);
    // `vox plan` names the sweep it leaves out; `--sweep` plans every stage the sweep runs.
    let base = p.vox(&["plan", "p.toml"]);
    assert!(base.stdout.contains("the pipeline's [sweep] has 8 variants: `vox plan p.toml --sweep` plans them all"), "{}", base.stdout);
    let planned = p.vox(&["plan", "p.toml", "--sweep", "--json"]);
    assert_eq!(planned.code, 0, "{}", planned.stderr);
    let planned: serde_json::Value = serde_json::from_str(&planned.stdout).unwrap();
    let run = p.vox(&["sweep", "p.toml", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["variants"], 8);
    let names = |doc: &serde_json::Value| -> Vec<String> {
        doc["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(names(&planned), names(&doc), "the plan is the sweep's DAG");
    let stages: Vec<(String, String)> = doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string()))
        .collect();
    let count = |base: &str| stages.iter().filter(|(n, _)| n.split('[').next() == Some(base)).count();
    // Data and decoding are shared by all 8 variants; split and features vary with
    // (val_fraction, seed); the forest and its report with everything.
    assert_eq!(
        [count("data"), count("audio"), count("split"), count("egemaps"), count("rf"), count("report")],
        [1, 1, 4, 4, 8, 8]
    );
    assert!(stages.iter().all(|(_, status)| status == "ran"));
    assert!(stages.iter().any(|(n, _)| n == "split[split.val_fraction=0.5, seed=2]"), "{stages:?}");
    assert!(stages.iter().any(|(n, _)| n == "rf[split.val_fraction=0.5, rf.n_trees=50, seed=2]"), "{stages:?}");

    // Each table row is the mean of its two seeds' evaluate summaries.
    let run_dir = std::path::PathBuf::from(doc["run_dir"].as_str().unwrap());
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for row in rows {
        let variant = row["variant"].as_str().unwrap();
        let per_seed: Vec<f64> = [1, 2]
            .iter()
            .map(|seed| summary(&run_dir.join(format!("report[{variant}, seed={seed}]")))["macro_f1"])
            .collect();
        let values: Vec<f64> = row["values"]["macro_f1"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(values, per_seed, "{variant}");
    }
    let table = std::fs::read_to_string(run_dir.join("sweep.md")).unwrap();
    assert!(table.starts_with("| variant | model | split | n | macro_f1 | accuracy | vs best (McNemar) |\n"), "{table}");
    assert!(table.contains("| split.val_fraction=0.3, rf.n_trees=5 | rf | val | 2 | "), "{table}");
    // Against the best row: McNemar on the clips both scored, seeds paired. Rows of the other
    // validation fraction scored other clips and are not compared.
    let best = rows.iter().position(|r| r["p_vs_best"] == "best").expect("a best row");
    let best_variant = rows[best]["variant"].as_str().unwrap().to_string();
    for row in rows {
        let variant = row["variant"].as_str().unwrap();
        let same_clips = variant.split(',').next() == best_variant.split(',').next();
        if variant == best_variant {
            continue;
        }
        if !same_clips {
            assert!(row["p_vs_best"].is_null(), "{variant}: {row}");
            continue;
        }
        // The discordant clips summed over both seeds, and the exact two-sided binomial tail.
        let (mut b, mut c) = (0u64, 0u64);
        for seed in [1, 2] {
            let clips = |v: &str| -> std::collections::BTreeMap<String, bool> {
                let text = std::fs::read_to_string(run_dir.join(format!("report[{v}, seed={seed}]/rf[{v}, seed={seed}]/clips.csv")))
                    .unwrap_or_else(|e| panic!("{v}: {e}"));
                text.lines().skip(1).map(|l| {
                    let cells: Vec<&str> = l.split(',').collect();
                    (cells[0].to_string(), cells[1] == cells[2])
                }).collect()
            };
            let (ours, theirs) = (clips(variant), clips(&best_variant));
            for (id, right) in &ours {
                match (theirs[id], *right) {
                    (true, false) => b += 1,
                    (false, true) => c += 1,
                    _ => {}
                }
            }
        }
        let n = b + c;
        let choose = |k: u64| (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64);
        let tail: f64 = (0..=b.min(c)).map(choose).sum::<f64>() / 2f64.powi(n as i32);
        let expected = (2.0 * tail).min(1.0);
        let p = row["p_vs_best"].as_f64().unwrap();
        assert!((p - expected).abs() < 1e-12, "{variant}: {p} vs {expected} ({b}, {c})");
    }
    let csv = std::fs::read_to_string(run_dir.join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5);
    assert!(run_dir.join("sweep_macro_f1.png").is_file());

    // A second sweep is all cached.
    let again = p.vox(&["sweep", "p.toml", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert!(doc["stages"].as_array().unwrap().iter().all(|s| s["status"] == "cached"));
}

#[test]
fn command_line_grid_and_bad_targets() {
    let p = Project::new();
    p.file("p.toml", &SWEPT.replace("[sweep.grid]\n\"split.val_fraction\" = [0.3, 0.5]\n\"rf.n_trees\" = [5, 50]\n", ""));
    let run = p.vox(&["sweep", "p.toml", "--grid", "rf.max_features=sqrt,all", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["variants"], 4);
    assert_eq!(doc["rows"].as_array().unwrap().len(), 2);

    let bad = p.vox(&["sweep", "p.toml", "--grid", "rf.n_tres=1,2"]);
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("kind `baseline` has no param `n_tres`"), "{}", bad.stderr);
    assert!(bad.stderr.contains("did you mean `n_trees`?"), "{}", bad.stderr);

    // A variant that makes a written param inapplicable (eGeMAPS reads no `n_mfcc`): the error
    // points at the line as written and names the variant (and the `--set`) that made it.
    let mfcc = SWEPT.replace("[sweep.grid]\n\"split.val_fraction\" = [0.3, 0.5]\n\"rf.n_trees\" = [5, 50]\n", "").replace("[stages.egemaps]\nkind = \"featurize\"\ninputs = [\"split\"]\n", "[stages.egemaps]\nkind = \"featurize\"\ninputs = [\"split\"]\nset = \"mfcc\"\nn_mfcc = 20\n");
    p.file("m.toml", &mfcc);
    let swept = p.vox(&["plan", "--sweep", "m.toml", "--grid", "egemaps.set=mfcc,egemaps-v02"]);
    assert_eq!(swept.code, 2, "{}", swept.stderr);
    let first = swept.stderr.lines().next().unwrap_or_default();
    assert!(first.starts_with("m.toml:27:10: in sweep variant `egemaps.set=egemaps-v02, seed=1`: "), "{}", swept.stderr);
    assert!(first.ends_with("stage `egemaps`: invalid param `n_mfcc`: `n_mfcc` applies to `mfcc` only (eGeMAPS has its own fixed framing)"), "{first}");
    let set = p.vox(&["plan", "m.toml", "--set", "egemaps.set=egemaps-v02"]);
    assert_eq!(set.code, 2, "{}", set.stderr);
    assert!(set.stderr.starts_with("m.toml:27:10: with `--set egemaps.set=egemaps-v02`: stage `egemaps`"), "{}", set.stderr);
}

#[test]
fn compare_shows_differing_params_and_metrics() {
    let p = Project::new();
    let plain = SWEPT.split("[sweep]").next().unwrap().to_string();
    p.file("p.toml", &plain);
    let dir = |extra: &[&str]| {
        let mut args = vec!["run", "--json", "p.toml"];
        args.extend_from_slice(extra);
        let run = p.vox(&args);
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        doc["run_dir"].as_str().unwrap().to_string()
    };
    let (a, b) = (dir(&[]), dir(&["--set", "rf.n_trees=7"]));
    let run = p.vox(&["compare", &a, &b]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("| rf.n_trees | 200 | 7 |"), "{}", run.stdout);
    assert!(!run.stdout.contains("| audio.sample_rate |"), "equal params are not listed:\n{}", run.stdout);
    assert!(run.stdout.contains("| report/rf macro_f1 | "), "{}", run.stdout);
    // Each run's calibration of the forest, as its report wrote it.
    let ece = |dir: &str| {
        let table = std::fs::read_to_string(p.path().join(dir).join("report/calibration.csv")).unwrap();
        let row = table.lines().find(|l| l.starts_with("rf,")).unwrap_or_else(|| panic!("{table}")).to_string();
        format!("{:.4}", row.split(',').nth(4).unwrap().parse::<f64>().unwrap())
    };
    assert!(run.stdout.contains(&format!("| report/rf ece | {} | {} |", ece(&a), ece(&b))), "{}", run.stdout);
    assert!(run.stdout.contains("| report/rf brier | "), "{}", run.stdout);
    // The two forests on the same val clips: McNemar's test, and what it means.
    let row = run.stdout.lines().find(|l| l.starts_with("| report/rf vs first run | - | p ")).unwrap_or_else(|| panic!("{}", run.stdout));
    let p_value: f64 = row["| report/rf vs first run | - | p = ".len()..].split([',', ' ']).next().unwrap().parse().unwrap();
    assert!((0.0..=1.0).contains(&p_value), "{row}");
    assert_eq!(row.contains("not significant"), p_value >= 0.05, "{row}");
    assert!(run.stdout.contains("McNemar's exact test on the clips both runs scored"), "{}", run.stdout);
    // A run on other clips (another validation part) is not compared.
    let c = dir(&["--set", "split.val_fraction=0.5"]);
    let run = p.vox(&["compare", &a, &c]);
    assert!(run.stdout.contains("| report/rf vs first run | - | other clips |"), "{}", run.stdout);
}

/// A sweep of a regressor's penalty: with no `metrics`, its table compares the `ccc` of each
/// variant's estimates (the mean over dimensions of its report's `val` rows), and `vox compare`
/// lists each dimension's CCC per run.
#[test]
fn a_sweep_of_a_regressor_compares_its_ccc() {
    let p = Project::new();
    let base = crate::search::DIMS_SEARCH.split("[search]").next().unwrap();
    p.file("p.toml", &format!("{base}[sweep]\ngrid = {{ \"dims.alpha\" = [0.1, 100.0] }}\n"));
    let run = p.vox(&["sweep", "p.toml", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let run_dir = std::path::PathBuf::from(doc["run_dir"].as_str().unwrap());
    let table = std::fs::read_to_string(run_dir.join("sweep.md")).unwrap();
    assert!(table.starts_with("| variant | model | split | n | ccc | vs best (McNemar) |\n"), "{table}");
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{table}");
    for row in rows {
        let variant = row["variant"].as_str().unwrap();
        let dimensions = crate::support::csv_rows(&run_dir.join(format!("report[{variant}]")).join("dimensions.csv"));
        let val: Vec<f64> = dimensions.iter().filter(|r| r["split"] == "val").map(|r| r["ccc"].parse().unwrap()).collect();
        assert_eq!(val.len(), 2);
        let value = row["values"]["ccc"][0].as_f64().unwrap();
        assert!((value - (val[0] + val[1]) / 2.0).abs() < 1e-12, "{variant}: {value} vs {val:?}");
    }

    p.file("q.toml", &format!("{base}[sweep]\ngrid = {{ \"dims.alpha\" = [0.1, 100.0] }}\nmetrics = [\"ccc_arousal\", \"cc\"]\n"));
    let bad = p.vox(&["sweep", "q.toml"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("unknown metric; `evaluate` reports accuracy, macro_f1, weighted_f1, uar (and `ccc`, `ccc_<dimension>` for estimates)"), "{}", bad.stderr);

    // Two plain runs side by side: each dimension's CCC on val.
    let first = p.vox(&["run", "p.toml", "--json"]);
    let second = p.vox(&["run", "p.toml", "--set", "dims.alpha=100.0", "--json"]);
    let dir = |run: &crate::support::Run| serde_json::from_str::<serde_json::Value>(&run.stdout).unwrap()["run_dir"].as_str().unwrap().to_string();
    let compared = p.vox(&["compare", &dir(&first), &dir(&second)]);
    assert_eq!(compared.code, 0, "{}", compared.stderr);
    let line = compared.stdout.lines().find(|l| l.starts_with("| report/dims val ccc_valence |")).unwrap_or_else(|| panic!("{}", compared.stdout));
    let cells: Vec<&str> = line.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
    assert_eq!(cells.len(), 3, "{line}");
    assert_ne!(cells[1], cells[2], "{line}");
}

#[test]
fn a_sweep_by_condition_ranks_each_group_apart() {
    let pipeline = SWEPT
        .replace("[stages.split]\nkind = \"split\"\ninputs = [\"audio\"]", "[stages.split]\nkind = \"split\"\ninputs = [\"audio\"]\ntest_fraction = 0.4")
        .replace(
            "[stages.egemaps]\nkind = \"featurize\"\ninputs = [\"split\"]",
            "[stages.conditions]\nkind = \"degrade\"\ninputs = [\"split\"]\ngain_db = [-30.0]\n\n[stages.egemaps]\nkind = \"featurize\"\ninputs = [\"conditions\"]",
        )
        .replace("inputs = [\"rf\"]\nplots = false", "inputs = [\"rf\", \"conditions\"]\nsplit = \"test\"\nby = [\"condition\"]\nformats = [\"svg\"]")
        .replace("seeds = [1, 2]\nmetrics = [\"macro_f1\", \"accuracy\"]", "metrics = [\"uar\"]\nby = [\"condition\"]")
        .replace("\"split.val_fraction\" = [0.3, 0.5]\n", "");
    let p = Project::new();
    p.file("p.toml", &pipeline);
    let run = p.vox(&["sweep", "p.toml", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let run_dir = std::path::PathBuf::from(doc["run_dir"].as_str().unwrap());
    let rows = doc["rows"].as_array().unwrap();
    let splits: Vec<(&str, &str)> = rows.iter().map(|r| (r["variant"].as_str().unwrap(), r["split"].as_str().unwrap())).collect();
    assert_eq!(
        splits,
        [
            ("rf.n_trees=5", "test"),
            ("rf.n_trees=5", "test · condition = clean"),
            ("rf.n_trees=5", "test · condition = gain -30 dB"),
            ("rf.n_trees=50", "test"),
            ("rf.n_trees=50", "test · condition = clean"),
            ("rf.n_trees=50", "test · condition = gain -30 dB"),
        ]
    );
    // Each group's row holds the variant's report's score of that group.
    for row in rows.iter().filter(|r| r["split"] != "test") {
        let variant = row["variant"].as_str().unwrap();
        let group = row["split"].as_str().unwrap().split(" = ").nth(1).unwrap();
        let table = crate::support::csv_rows(&run_dir.join(format!("report[{variant}]/by_condition.csv")));
        let score = table.iter().find(|r| r["condition"] == group).unwrap()["uar"].parse::<f64>().unwrap();
        assert_eq!(row["values"]["uar"][0].as_f64().unwrap(), score, "{variant}, {group}");
    }
    // Each group is ranked apart: one best row per split, the other tested on the group's clips.
    for split in ["test", "test · condition = clean", "test · condition = gain -30 dB"] {
        let cells: Vec<&serde_json::Value> = rows.iter().filter(|r| r["split"] == split).map(|r| &r["p_vs_best"]).collect();
        assert_eq!(cells.iter().filter(|c| **c == "best").count(), 1, "{split}: {cells:?}");
        assert!(cells.iter().any(|c| c.is_f64()), "{split}: {cells:?}");
    }
    let table = std::fs::read_to_string(run_dir.join("sweep.md")).unwrap();
    assert!(table.contains("| rf.n_trees=50 | rf | test · condition = gain -30 dB | 1 | "), "{table}");
    // The chart draws the whole split's rows only.
    let chart = std::fs::read_to_string(run_dir.join("sweep_uar.svg")).unwrap();
    assert!(!chart.contains("condition ="), "sweep_uar.svg");

    let unknown = p.vox(&["sweep", "p.toml", "--set", "report.by=sex"]);
    assert!(unknown.stderr.contains("the sweep's `by = [\"condition\"]`: no report scored by `condition`"), "{}", unknown.stderr);
}
