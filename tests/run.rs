//! `vox run`: caching, exact reruns, early cutoff, failures, the run folder and `--json`.

use crate::support::{Project, SMALL, expect};

#[test]
fn second_run_is_all_cached_and_a_param_change_reruns_exactly_its_dependents() {
    let p = Project::new();
    p.file("p.toml", SMALL);
    let all_ran = expect(&[("data", "ran"), ("audio", "ran"), ("padded", "ran"), ("split", "ran")]);
    assert_eq!(p.run_json("p.toml", &[]), all_ran);
    let all_cached = expect(&[("data", "cached"), ("audio", "cached"), ("padded", "cached"), ("split", "cached")]);
    assert_eq!(p.run_json("p.toml", &[]), all_cached);
    assert_eq!(
        p.run_json("p.toml", &["--set", "split.val_fraction=0.4"]),
        expect(&[("data", "cached"), ("audio", "cached"), ("padded", "cached"), ("split", "ran")])
    );
    assert_eq!(
        p.run_json("p.toml", &["--set", "padded.length=8000"]),
        expect(&[("data", "cached"), ("audio", "cached"), ("padded", "ran"), ("split", "ran")])
    );
    // Back to the original params: everything is still cached.
    assert_eq!(p.run_json("p.toml", &[]), all_cached);
}

#[test]
fn early_cutoff_when_a_rerun_yields_identical_bytes() {
    let p = Project::new();
    p.file("p.toml", SMALL);
    p.run_json("p.toml", &[]);
    // `on_error = "skip"` changes decode's key but not its output (every file is valid),
    // so pad and split keep their keys.
    assert_eq!(
        p.run_json("p.toml", &["--set", "audio.on_error=skip"]),
        expect(&[("data", "cached"), ("audio", "ran"), ("padded", "cached"), ("split", "cached")])
    );
    // Forcing a deterministic stage rebuilds identical bytes: its dependents stay cached.
    assert_eq!(
        p.run_json("p.toml", &["--force", "data"]),
        expect(&[("data", "ran"), ("audio", "cached"), ("padded", "cached"), ("split", "cached")])
    );
}

#[test]
fn a_failed_stage_stops_its_dependents_and_unrelated_stages_finish() {
    let p = Project::new();
    p.file("broken/Actor_01/03-01-05-01-01-01-01.wav", "RIFF....not a wav file");
    std::fs::write(p.path().join("broken/Actor_01/03-01-04-01-01-01-01.wav"), crate::support::wav_16bit(16000, &[0, 1000, -1000, 0])).unwrap();
    let text = format!(
        "{SMALL}\n[stages.bad_data]\nkind = \"download\"\npath = \"broken\"\n\n[stages.bad_audio]\nkind = \"decode\"\ninputs = [\"bad_data\"]\n\n[stages.bad_padded]\nkind = \"pad\"\ninputs = [\"bad_audio\"]\n"
    );
    p.file("p.toml", &text);
    let run = p.vox(&["run", "p.toml", "--json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let statuses = crate::support::statuses(&run.stdout);
    assert_eq!(
        statuses,
        expect(&[
            ("data", "ran"),
            ("audio", "ran"),
            ("padded", "ran"),
            ("split", "ran"),
            ("bad_data", "ran"),
            ("bad_audio", "failed"),
            ("bad_padded", "skipped"),
        ])
    );
    assert!(run.stderr.contains("error: stage `bad_audio` (decode) failed: "), "{}", run.stderr);
    assert!(run.stderr.contains("03-01-05-01-01-01-01.wav"), "{}", run.stderr);
    // The error says how to go on without the file.
    assert!(run.stderr.contains("; `on_error = \"skip\"` leaves such files out (listed"), "{}", run.stderr);
    assert!(run.stderr.contains("1 stage(s) failed, 1 skipped; finished stages are cached"), "{}", run.stderr);
    let scratch: Vec<_> = std::fs::read_dir(p.cache().join("scratch")).unwrap().collect();
    assert!(scratch.is_empty(), "a failed stage that saved nothing leaves no scratch folder: {scratch:?}");
    // With the bad file skipped the branch resumes; the good branch stays cached.
    let resumed = p.run_json("p.toml", &["--set", "bad_audio.on_error=skip"]);
    assert_eq!(resumed[0], ("data".into(), "cached".into()));
    assert_eq!(resumed[4], ("bad_data".into(), "cached".into()));
    assert_eq!(resumed[5], ("bad_audio".into(), "ran".into()));
    assert_eq!(resumed[6], ("bad_padded".into(), "ran".into()));
}

#[test]
fn run_folder_holds_run_json_and_reports() {
    let p = Project::new();
    p.file("p.toml", SMALL);
    let run = p.vox(&["run", "p.toml", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["pipeline"], "small");
    let run_dir = std::path::PathBuf::from(doc["run_dir"].as_str().unwrap());
    assert!(run_dir.starts_with(p.path().join("runs/small")));
    let run_json: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    assert_eq!(run_json["stages"].as_array().unwrap().len(), 4);
    for stage in run_json["stages"].as_array().unwrap() {
        assert_eq!(stage["key"].as_str().unwrap().len(), 64);
        // Each stage's outcome was recorded as it finished; run.json is assembled from them.
        let name = stage["name"].as_str().unwrap();
        let outcome: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run_dir.join(format!("stages/{name}.json"))).unwrap()).unwrap();
        assert_eq!(&outcome, stage);
    }
    // The split stage's human-facing summary is placed in the run folder, as a hard link to the
    // cache entry's file: a rerun's folder costs no disk.
    let summary = std::fs::read_to_string(run_dir.join("split/split.csv")).unwrap();
    assert!(summary.lines().count() > 1, "{summary}");
    let split = run_json["stages"].as_array().unwrap().iter().find(|s| s["name"] == "split").unwrap();
    let key = split["key"].as_str().unwrap();
    let cached = p.entry(key).join("report/split.csv");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&cached).unwrap().ino(), std::fs::metadata(run_dir.join("split/split.csv")).unwrap().ino());
    // The plain table goes to stdout without --json.
    let table = p.vox(&["run", "p.toml"]).stdout;
    assert!(table.starts_with("stage   kind    status  seconds  key           why\ndata    synth   cached"), "{table}");
}

#[test]
fn named_stages_run_with_what_they_need_and_the_newest_run_is_latest() {
    let p = Project::new();
    p.file("p.toml", SMALL);
    // A first run refused at plan time leaves no folder of the pipeline at all.
    let refused = p.vox(&["run", "p.toml", "--set", "split.val_fraction=2"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(!p.path().join("runs/small").exists());
    // `padded` and its inputs only; `split` is no part of the run, not even in its record.
    let partial = p.run_json("p.toml", &["padded"]);
    assert_eq!(partial, expect(&[("data", "ran"), ("audio", "ran"), ("padded", "ran")]));
    let latest = p.path().join("runs/small/latest");
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(latest.join("run.json")).unwrap()).unwrap();
    assert_eq!(record["stages"].as_array().unwrap().len(), 3);
    let first = std::fs::read_link(&latest).unwrap();
    let all = p.run_json("p.toml", &[]);
    assert_eq!(all, expect(&[("data", "cached"), ("audio", "cached"), ("padded", "cached"), ("split", "ran")]));
    let second = std::fs::read_link(&latest).unwrap();
    assert_ne!(first, second, "`latest` follows the newest run");
    assert!(p.path().join("runs/small").join(&second).join("run.json").is_file());

    let typo = p.vox(&["run", "p.toml", "paded"]);
    assert_eq!(typo.code, 2);
    assert!(typo.stderr.contains("`paded` is not a stage of pipeline `small` (did you mean `padded`?)"), "{}", typo.stderr);
    let zero = p.vox(&["run", "p.toml", "--jobs", "0"]);
    assert_eq!(zero.code, 2);
    assert!(zero.stderr.contains("must be at least 1"), "{}", zero.stderr);
    // A plan refused after the run folder was made (a bad param value) leaves no folder, and
    // `latest` where it was: refused runs are not runs.
    let refused = p.vox(&["run", "p.toml", "--set", "split.val_fraction=2"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    let mut folders: Vec<String> =
        std::fs::read_dir(p.path().join("runs/small")).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    folders.sort();
    let mut expected = vec![first.display().to_string(), second.display().to_string(), "latest".to_string()];
    expected.sort();
    assert_eq!(folders, expected);
    assert_eq!(std::fs::read_link(&latest).unwrap(), second);
}

#[test]
fn planning_creates_no_cache_folder() {
    let p = Project::new();
    p.file("p.toml", SMALL);
    let plan = p.vox(&["plan", "p.toml"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stdout.contains("split"), "{}", plan.stdout);
    assert!(!p.cache().exists(), "`vox plan` only reads the cache");
}

#[test]
fn exclusive_stages_wait_unpicked_while_others_take_the_workers() {
    let p = Project::new();
    let tiny = |name: &str, seed: u32| {
        format!(
            "\n[stages.{name}]\nkind = \"fine-tune\"\ninputs = [\"split\"]\nhidden_size = 16\nlayers = 1\nheads = 2\n\
             intermediate_size = 32\nconv_dim = [16, 16]\nconv_kernel = [10, 3]\nconv_stride = [5, 2]\nepochs = 1\nseed = {seed}\n"
        )
    };
    let text = format!("{SMALL}{}{}\n[stages.mfcc]\nkind = \"featurize\"\ninputs = [\"split\"]\nset = \"mfcc\"\n", tiny("w2v_a", 1), tiny("w2v_b", 2));
    p.file("p.toml", &text);
    let run = p.vox(&["run", "p.toml", "--jobs", "3"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let at = |line: &str| run.stderr.find(line).unwrap_or_else(|| panic!("no `{line}` in {}", run.stderr));
    // Whichever fine-tune starts first finishes before the other starts; the features need
    // not wait for either.
    let (first, second) = if at("running `w2v_a`") < at("running `w2v_b`") { ("w2v_a", "w2v_b") } else { ("w2v_b", "w2v_a") };
    assert!(at(&format!("finished `{first}`")) < at(&format!("running `{second}`")), "{}", run.stderr);
    assert!(at("running `mfcc`") < at(&format!("running `{second}`")), "{}", run.stderr);
}

#[test]
fn stages_share_one_pool_of_jobs_threads() {
    let p = Project::new();
    let features = |name: &str, extra: &str| format!("\n[stages.{name}]\nkind = \"featurize\"\ninputs = [\"split\"]\n{extra}\n");
    let text = crate::support::on_corpus_240("threads", "")
        + &features("egemaps", "set = \"egemaps-v02\"")
        + &features("mfcc", "set = \"mfcc\"")
        + &features("mfcc20", "set = \"mfcc\"\nn_mfcc = 20")
        + &features("logmel", "set = \"logmel\"");
    p.file("p.toml", &text);
    p.vox(&["run", "p.toml", "split"]);
    // Four feature stages at once on --jobs 4: one pool of 4 threads computes for all of them
    // (each with a pool of its own made 16). Sample the process's threads while it runs.
    let mut child = p.spawn(&["run", "p.toml", "--jobs", "4"]);
    let status = format!("/proc/{}/status", child.id());
    let mut most = 0;
    while child.try_wait().unwrap().is_none() {
        if let Ok(text) = std::fs::read_to_string(&status)
            && let Some(n) = text.lines().find_map(|l| l.strip_prefix("Threads:")).and_then(|n| n.trim().parse::<usize>().ok())
        {
            most = most.max(n);
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(child.wait().unwrap().success());
    // main, signals, progress ticker, 4 workers, the shared pool (4), rayon's global pool for
    // hashing (4), lock heartbeats (4) and an audio writer or two: under 24.
    assert!((8..24).contains(&most), "{most} threads at once with --jobs 4");
    // Every entry's lock was removed when released: `locks/` keeps nothing.
    let locks: Vec<_> = std::fs::read_dir(p.cache().join("locks")).unwrap().collect();
    assert!(locks.is_empty(), "{locks:?}");
}

/// Every text file under `dir` that mentions `token`, with the first line that does.
fn mentions(dir: &std::path::Path, token: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path)
                && let Some(line) = text.lines().find(|l| l.contains(token))
            {
                found.push(format!("{}: {line}", path.display()));
            }
        }
    }
    found
}

#[test]
fn a_rename_reruns_only_the_stages_whose_outputs_show_names_and_no_old_name_remains() {
    let p = Project::new();
    let tiny = "hidden_size = 16\nlayers = 1\nheads = 2\nintermediate_size = 32\nconv_dim = [16, 16]\nconv_kernel = [10, 3]\nconv_stride = [5, 2]\nepochs = 1";
    let pipeline = |n: &str| {
        format!(
            "[pipeline]\nname = \"names\"\nseed = 3\n\n\
             [stages.{n}data]\nkind = \"synth\"\nactors = 3\nstatements = 1\nrepetitions = 1\nduration = 1.0\nsample_rate = 16000\n\n\
             [stages.{n}audio]\nkind = \"decode\"\ninputs = [\"{n}data\"]\n\n\
             [stages.{n}all]\nkind = \"merge\"\ninputs = [\"{n}audio\"]\n\n\
             [stages.{n}padded]\nkind = \"pad\"\ninputs = [\"{n}all\"]\nlength = 16000\n\n\
             [stages.{n}split]\nkind = \"split\"\ninputs = [\"{n}padded\"]\nval_fraction = 0.25\ntest_fraction = 0.25\n\n\
             [stages.{n}mfcc]\nkind = \"featurize\"\ninputs = [\"{n}split\"]\nset = \"mfcc\"\n\n\
             [stages.{n}rf]\nkind = \"baseline\"\ninputs = [\"{n}mfcc\"]\nn_trees = 10\n\n\
             [stages.{n}w2v]\nkind = \"fine-tune\"\ninputs = [\"{n}split\"]\n{tiny}\n\n\
             [stages.{n}vote]\nkind = \"ensemble-vote\"\ninputs = [\"{n}rf\", \"{n}w2v\"]\nweights = \"val-macro-f1\"\n\n\
             [stages.{n}report]\nkind = \"evaluate\"\ninputs = [\"{n}rf\", \"{n}w2v\", \"{n}vote\", \"{n}padded\"]\nsplit = \"test\"\nbootstrap = 50\n"
        )
    };
    p.file("p.toml", &pipeline("qqx"));
    let first = p.vox(&["run", "p.toml", "-q"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    p.file("p.toml", &pipeline("wwz"));
    let renamed = p.vox(&["run", "p.toml", "--json"]);
    assert_eq!(renamed.code, 0, "{}", renamed.stderr);
    let doc: serde_json::Value = serde_json::from_str(&renamed.stdout).unwrap();
    let statuses: Vec<(String, String)> = doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string()))
        .collect();
    for (name, status) in &statuses {
        let shows_names = name == "wwzvote" || name == "wwzreport";
        assert_eq!(status, if shows_names { "ran" } else { "cached" }, "{name}: {statuses:?}");
    }
    // Nothing the new run shows or uses carries an old name: its run folder, and every cache
    // entry it used.
    let run_dir = p.path().join(doc["run_dir"].as_str().unwrap());
    assert_eq!(mentions(&run_dir, "qqx"), Vec::<String>::new());
    for stage in doc["stages"].as_array().unwrap() {
        let key = stage["key"].as_str().unwrap();
        let entry = p.entry(key);
        assert_eq!(mentions(&entry, "qqx"), Vec::<String>::new(), "{}", stage["name"]);
    }
    let summary = std::fs::read_to_string(run_dir.join("wwzreport/summary.csv")).unwrap();
    assert!(summary.contains("\nwwzrf,test,") && summary.contains("\nwwzvote,test,"), "{summary}");
    let plan = p.vox(&["plan", "p.toml"]);
    assert!(plan.stdout.lines().all(|l| !l.contains(" run ")), "{}", plan.stdout);
}
