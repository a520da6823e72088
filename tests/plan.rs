//! `vox plan` and `vox explain`: run/cached and the reason for every kind of change.

use crate::support::{Project, SMALL};

/// `vox plan` rows as (stage, status, why).
fn plan(p: &Project, extra: &[&str]) -> Vec<(String, String, String)> {
    let mut args = vec!["plan", "p.toml", "--json"];
    args.extend_from_slice(extra);
    let run = p.vox(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let why: Vec<&str> = s["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
            (s["name"].as_str().unwrap().into(), s["status"].as_str().unwrap().into(), why.join("; "))
        })
        .collect()
}

fn rows(expected: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    expected.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect()
}

#[test]
fn reasons_for_every_kind_of_change() {
    let p = Project::new();
    p.file("p.toml", SMALL);
    assert_eq!(
        plan(&p, &[]),
        rows(&[
            ("data", "run", "new"),
            ("audio", "run", "input `data` will run"),
            ("padded", "run", "input `audio` will run"),
            ("split", "run", "input `padded` will run"),
        ])
    );
    p.run_json("p.toml", &[]);
    assert!(plan(&p, &[]).iter().all(|(_, status, why)| status == "cached" && why.is_empty()));

    assert_eq!(
        plan(&p, &["--set", "padded.length=12000"]),
        rows(&[
            ("data", "cached", ""),
            ("audio", "cached", ""),
            ("padded", "run", "param `length` changed: 16000 -> 12000"),
            ("split", "run", "input `padded` will run"),
        ])
    );
    assert_eq!(plan(&p, &["--set", "padded.crop=center"])[2].2, "param `crop` changed: \"start\" -> \"center\"");
    // The seed reaches the kinds that declare one (synth, split), not decode or pad.
    let reseeded = plan(&p, &["--set", "pipeline.seed=8"]);
    assert_eq!(reseeded[0].2, "param `seed` changed: 7 -> 8");
    assert_eq!(reseeded[1].2, "input `data` will run");
    assert_eq!(plan(&p, &["--force", "audio"])[1], ("audio".into(), "run".into(), "forced".into()));

    // A bumped implementation version: pretend the last run used version 2.
    let record_path = p.cache().join("records/small/split.json");
    let mut record: serde_json::Value = serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    record["components"]["version"] = 2.into();
    record["key"] = "0".repeat(64).into();
    std::fs::write(&record_path, record.to_string()).unwrap();
    let key = plan(&p, &[]);
    assert_eq!(key[3].1, "cached", "the entry for the current key still exists");
    let entries = p.cache().join("entries");
    for shard in std::fs::read_dir(&entries).unwrap() {
        for entry in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let entry = entry.unwrap().path();
            let manifest = std::fs::read_to_string(entry.join("entry.json")).unwrap();
            if manifest.contains("\"kind\": \"split\"") {
                std::fs::remove_dir_all(entry).unwrap();
            }
        }
    }
    assert_eq!(plan(&p, &[])[3].2, "implementation version bumped: 2 -> 1");
}

/// A param the others leave unread (a split's seed where its speakers are listed) is not in
/// the key: a new pipeline seed reruns nothing of it, and a sweep over seeds shares it.
#[test]
fn a_param_left_unread_is_not_in_the_key() {
    let p = Project::new();
    // The corpus keeps its own seed, so only the split could follow the pipeline's.
    let listed = SMALL
        .replace("sample_rate = 16000\n\n[stages.audio]", "sample_rate = 16000\nseed = 7\n\n[stages.audio]")
        .replace("val_fraction = 0.2\n", "strategy = \"speaker\"\nval_speakers = [\"01\"]\n");
    p.file("p.toml", &listed);
    p.run_json("p.toml", &[]);
    let reseeded = plan(&p, &["--set", "pipeline.seed=8"]);
    assert!(reseeded.iter().all(|(_, status, _)| status == "cached"), "{reseeded:?}");
    // Speakers drawn by a fraction are the seed's.
    let drawn = listed.replace("val_speakers = [\"01\"]\n", "val_fraction = 0.5\n");
    p.file("p.toml", &drawn);
    p.run_json("p.toml", &[]);
    assert_eq!(plan(&p, &["--set", "pipeline.seed=8"])[3].2, "param `seed` changed: 7 -> 8");

    let swept = |pipeline: &str| {
        p.file("p.toml", &format!("{pipeline}\n[sweep]\nseeds = [1, 2]\n"));
        let planned = p.vox(&["plan", "p.toml", "--sweep", "--json"]);
        assert_eq!(planned.code, 0, "{}", planned.stderr);
        let doc: serde_json::Value = serde_json::from_str(&planned.stdout).unwrap();
        doc["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(swept(&listed), ["data", "audio", "padded", "split"]);
    assert_eq!(swept(&drawn), ["data", "audio", "padded", "split[seed=1]", "split[seed=2]"]);
}

#[test]
fn explain_lists_components_and_the_difference() {
    let p = Project::new();
    p.file("p.toml", SMALL);
    let run = p.vox(&["explain", "p.toml", "padded"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("key: not known yet: an input has to run first"), "{}", run.stdout);
    p.run_json("p.toml", &[]);
    let run = p.vox(&["explain", "p.toml", "padded", "--set", "padded.length=8000"]);
    let out = &run.stdout;
    assert!(out.starts_with("stage `padded` (kind `pad`) in pipeline `small`\nstatus: run\nkey: "), "{out}");
    assert!(out.contains("  param    length = 8000\n"), "{out}");
    assert!(out.contains("  param    pad = \"end\"\n"), "{out}");
    assert!(out.contains("  input    audio = "), "{out}");
    assert!(out.contains("difference to the last run:\n  param `length` changed: 16000 -> 8000\n"), "{out}");
}

#[test]
fn dag_is_graphviz() {
    let p = Project::new();
    p.file("p.toml", SMALL);
    let run = p.vox(&["dag", "p.toml"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("digraph \"small\" {"), "{}", run.stdout);
    for edge in ["\"data\" -> \"audio\";", "\"audio\" -> \"padded\";", "\"padded\" -> \"split\";"] {
        assert!(run.stdout.contains(edge), "{}", run.stdout);
    }
}

#[test]
fn stages_lists_kinds_params_defaults_and_docs() {
    let p = Project::new();
    let run = p.vox(&["stages", "pad"]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("pad  (1 input: audio -> audio; version 1)\n"), "{}", run.stdout);
    assert!(run.stdout.contains("  length : integer = 60000\n"), "{}", run.stdout);
    assert!(run.stdout.contains("  pad : \"end\" | \"start\" | \"both\" = \"end\"\n"), "{}", run.stdout);
    let all = p.vox(&["stages"]);
    for kind in ["synth", "download", "decode", "pad", "split"] {
        assert!(all.stdout.contains(&format!("\n{kind}  (")) || all.stdout.starts_with(&format!("{kind}  (")), "{kind}");
    }
}

#[test]
fn the_reference_pipeline_takes_local_copies_with_one_flag_each_and_reports_on_test() {
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("ravdess")).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let pipeline = root.join("pipelines/ravdess.toml");
    // The pipeline's `head = "dense-tanh"` must match a local checkpoint's head (the plan reads
    // it): the XLSR-large fixture with that head stands in for the real model.
    let model = root.join("stages/wav2vec2/tests/fixtures/large-dense-tanh");
    let args = [
        "plan",
        pipeline.to_str().unwrap(),
        "--json",
        "--set",
        "w2v.backend=flex",
        "--set",
        "data.path=ravdess",
        "--set",
        &format!("w2v.model_path={}", model.display()),
    ];
    let run = p.vox(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let names: Vec<&str> = doc["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    // No `w2v.model` download: the local copy replaces the hub model.
    assert_eq!(
        names,
        ["data", "audio", "new_audio", "all", "padded", "split", "egemaps", "rf", "w2v", "mfcc", "mfcc_lr", "vote", "rf_cal", "report"]
    );
    // The report scores the held-out test part; scoring `val` is allowed, and a split with no
    // test part is refused before anything runs.
    let text: toml::Table = std::fs::read_to_string(&pipeline).unwrap().parse().unwrap();
    assert_eq!(text["stages"]["report"]["split"].as_str(), Some("test"));
    let no_test = p.vox(&[&args[..2], &["--set", "split.test_fraction=0", "--set", "w2v.backend=flex"]].concat());
    assert_eq!(no_test.code, 2, "{}", no_test.stderr);
    assert!(no_test.stderr.contains("stage `report`: invalid param `split`: inputs `w2v`, `rf`, `mfcc_lr`, `vote`, `rf_cal` have no labelled clips in split `test`"), "{}", no_test.stderr);
}

#[test]
fn every_offline_demo_pipeline_plans() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut demos: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with("demo") && p.extension().is_some_and(|e| e == "toml"))
        .collect();
    demos.sort();
    assert!(demos.len() >= 7, "{demos:?}");
    let p = Project::new();
    for demo in &demos {
        let run = p.vox(&["plan", demo.to_str().unwrap(), "--json"]);
        assert_eq!(run.code, 0, "{}: {}", demo.display(), run.stderr);
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert!(doc["stages"].as_array().unwrap().len() >= 5, "{}", demo.display());
    }
}
