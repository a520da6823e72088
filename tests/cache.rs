//! Cache safety: killed runs, corruption, concurrent runs, verify and gc.

use std::time::{Duration, Instant};

use crate::support::{Project, SMALL, expect, statuses};

fn entry_count(p: &Project) -> usize {
    let Ok(shards) = std::fs::read_dir(p.cache().join("entries")) else { return 0 };
    shards.map(|s| std::fs::read_dir(s.unwrap().path()).unwrap().count()).sum()
}

#[test]
fn a_run_killed_mid_write_leaves_no_entry_and_the_rerun_resumes() {
    let p = Project::new();
    p.file("p.toml", &SMALL.replace("actors = 2", "actors = 8").replace("duration = 1.0", "duration = 3.0"));
    let mut child = p.spawn(&["run", "p.toml", "-q"]);
    // Wait until the synth stage has started writing into its temp folder, then kill -9.
    let tmp = p.cache().join("tmp");
    let deadline = Instant::now() + Duration::from_secs(60);
    let writing = loop {
        let started = std::fs::read_dir(&tmp)
            .map(|d| d.flatten().any(|e| e.path().join("out").read_dir().is_ok_and(|mut o| o.next().is_some())))
            .unwrap_or(false);
        if started || Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break started;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(writing, "the synth stage never started writing");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(entry_count(&p), 0, "a killed stage must not leave an entry");

    let resumed = p.run_json("p.toml", &[]);
    assert_eq!(resumed, expect(&[("data", "ran"), ("audio", "ran"), ("padded", "ran"), ("split", "ran")]));
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "leftovers of the killed attempt are cleaned");
}

#[test]
fn ctrl_c_says_what_was_interrupted_and_the_rerun_resumes() {
    let p = Project::new();
    p.file("p.toml", &SMALL.replace("actors = 2", "actors = 8").replace("duration = 1.0", "duration = 3.0"));
    let child = p.spawn(&["run", "p.toml", "-q"]);
    let tmp = p.cache().join("tmp");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_dir(&tmp).is_ok_and(|mut d| d.next().is_some()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let sent = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("vox: interrupted while `data` ran. Finished stages are cached; run the same command again to resume"), "{stderr}");
    assert_eq!(entry_count(&p), 0, "the interrupted stage left no entry");
    // `vox status` of the interrupted run says it did not finish (exit 3), then 0 once a rerun has.
    let status = p.vox(&["status", "runs/small/latest"]);
    assert_eq!(status.code, 3, "{}{}", status.stdout, status.stderr);
    assert!(status.stdout.contains("the run has not finished (no run.json)"), "{}", status.stdout);
    let resumed = p.run_json("p.toml", &[]);
    assert_eq!(resumed, expect(&[("data", "ran"), ("audio", "ran"), ("padded", "ran"), ("split", "ran")]));
    let status = p.vox(&["status", "runs/small/latest"]);
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    assert!(!status.stdout.contains("has not finished"), "{}", status.stdout);
}

#[test]
fn a_corrupted_entry_is_detected_and_recomputed() {
    let p = Project::new();
    p.file("p.toml", SMALL);
    let run = p.vox(&["run", "p.toml", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let key = doc["stages"][1]["key"].as_str().unwrap().to_string();
    let samples = p.entry(&key).join("audio.f32");
    let mut bytes = std::fs::read(&samples).unwrap();
    bytes[100] ^= 0x55;
    std::thread::sleep(Duration::from_millis(10));
    std::fs::write(&samples, &bytes).unwrap();

    let run = p.vox(&["run", "p.toml", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        statuses(&run.stdout),
        expect(&[("data", "cached"), ("audio", "ran"), ("padded", "cached"), ("split", "cached")])
    );
    assert!(run.stderr.contains("stage `audio`: cache entry"), "{}", run.stderr);
    assert!(run.stderr.contains("is corrupt (`audio.f32` changed: blake3"), "{}", run.stderr);
    assert_ne!(std::fs::read(&samples).unwrap(), bytes, "the entry was rebuilt");
}

#[test]
fn verify_finds_silent_corruption_and_gc_keeps_what_pipelines_use() {
    let p = Project::new();
    p.file("p.toml", SMALL);
    p.run_json("p.toml", &[]);
    p.run_json("p.toml", &["--set", "padded.length=8000"]);
    assert_eq!(entry_count(&p), 6);
    let run = p.vox(&["cache", "verify"]);
    assert_eq!((run.code, run.stdout.as_str()), (0, "6 entries checked, 0 corrupt\n"));

    // Same size, same mtime, different bytes: only a full rehash notices.
    let manifest = p.cache().join("records/small/split.json");
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(manifest).unwrap()).unwrap();
    let key = record["key"].as_str().unwrap();
    let file = p.entry(key).join("manifest.csv");
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    let mut text = std::fs::read(&file).unwrap();
    let last = text.len() - 2;
    text[last] = if text[last] == b'1' { b'2' } else { b'1' };
    std::fs::write(&file, &text).unwrap();
    std::fs::File::options().write(true).open(&file).unwrap().set_modified(mtime).unwrap();
    let run = p.vox(&["cache", "verify"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains(&format!("corrupt  {}  `manifest.csv` changed", &key[..12])), "{}", run.stdout);
    assert!(run.stdout.ends_with("6 entries checked, 1 corrupt\n"), "{}", run.stdout);
    assert_eq!(entry_count(&p), 5, "the corrupt entry is removed");

    // gc keeps only what the pipeline (with its current params) uses: the length-8000 pad goes.
    let run = p.vox(&["gc", "p.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("removed 1 entries"), "{}", run.stdout);
    assert!(run.stdout.ends_with("kept 4\n"), "{}", run.stdout);
    assert_eq!(entry_count(&p), 4);
    assert_eq!(p.run_json("p.toml", &[]), expect(&[("data", "cached"), ("audio", "cached"), ("padded", "cached"), ("split", "cached")]));
    assert_eq!(
        p.run_json("p.toml", &["--set", "padded.length=8000"]),
        expect(&[("data", "cached"), ("audio", "cached"), ("padded", "ran"), ("split", "ran")])
    );
}

#[test]
fn gc_keeps_every_variant_of_the_pipelines_sweep() {
    let p = Project::new();
    p.file("p.toml", &format!("{SMALL}\n[sweep.grid]\n\"padded.length\" = [8000, 12000]\n"));
    let sweep = p.vox(&["sweep", "p.toml", "--json"]);
    assert_eq!(sweep.code, 0, "{}", sweep.stderr);
    // data and audio once, padded and split per variant.
    assert_eq!(entry_count(&p), 6);
    p.run_json("p.toml", &["--set", "padded.length=4000"]);
    assert_eq!(entry_count(&p), 8);
    // The sweep's variants are the pipeline's; the one-off length is not.
    let gc = p.vox(&["gc", "p.toml"]);
    assert_eq!(gc.code, 0, "{}", gc.stderr);
    assert!(gc.stdout.starts_with("removed 2 entries"), "{}", gc.stdout);
    assert!(gc.stdout.ends_with("kept 6\n"), "{}", gc.stdout);
    let again = p.vox(&["sweep", "p.toml", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert!(doc["stages"].as_array().unwrap().iter().all(|s| s["status"] == "cached"), "{}", again.stdout);
}

#[test]
fn concurrent_runs_share_one_computation_per_stage() {
    let p = Project::new();
    p.file("p.toml", SMALL);
    let a = p.spawn(&["run", "p.toml", "--json"]);
    let b = p.spawn(&["run", "p.toml", "--json"]);
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    let (a, b) = (statuses(&String::from_utf8_lossy(&a.stdout)), statuses(&String::from_utf8_lossy(&b.stdout)));
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.0, y.0);
        let ran = [&x.1, &y.1].iter().filter(|s| s.as_str() == "ran").count();
        assert_eq!(ran, 1, "stage `{}` computed {ran} times: {} / {}", x.0, x.1, y.1);
    }
    assert_eq!(entry_count(&p), 4);
}
