//! The Slurm executor against a real single-node Slurm cluster (`tests/slurm/start.sh`: Debian's
//! slurmctld, slurmd and munge, installed with apt when missing, started here and stopped by PID
//! at the end). If the cluster cannot start, the test fails; it never passes by skipping.
//!
//! One test, so the scenarios share one cluster and run one after another.

#[allow(dead_code)]
#[path = "support.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Project, SMALL};

/// The cluster this test started (or found answering), stopped when dropped.
struct Cluster {
    state: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Self {
        let state = tempfile::tempdir().expect("temp dir");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/start.sh");
        let out = Command::new("bash").arg(&script).arg(state.path()).output().expect("run tests/slurm/start.sh");
        assert!(
            out.status.success(),
            "the Slurm cluster did not start, so the Slurm executor cannot be tested:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Self { state }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slurm/stop.sh");
        let _ = Command::new("bash").arg(script).arg(self.state.path()).status();
    }
}

/// [`SMALL`] renamed, with MFCCs, a forest, a logistic regression and a report.
fn pipeline(name: &str, extra: &str) -> String {
    let head = SMALL.replace("name = \"small\"", &format!("name = \"{name}\""));
    format!(
        "{head}\n[stages.mfcc]\nkind = \"featurize\"\ninputs = [\"split\"]\nset = \"mfcc\"\n\n\
         [stages.rf]\nkind = \"baseline\"\ninputs = [\"mfcc\"]\nn_trees = 20\n\n\
         [stages.lr]\nkind = \"baseline\"\ninputs = [\"mfcc\"]\nmodel = \"logistic\"\n\n\
         [stages.report]\nkind = \"evaluate\"\ninputs = [\"rf\", \"lr\"]\nsplit = \"val\"\nplots = false\n{extra}"
    )
}

/// `vox run --json` output: stage -> (status, key).
fn stages(stdout: &str) -> BTreeMap<String, (String, String)> {
    let doc: serde_json::Value = serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"));
    doc["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| {
            let name = s["name"].as_str().expect("name").to_string();
            (name, (s["status"].as_str().expect("status").to_string(), s["key"].as_str().unwrap_or("").to_string()))
        })
        .collect()
}

/// Every file under `dir`, relative path -> bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(dir).expect("prefix").to_path_buf(), std::fs::read(&path).expect("read"));
            }
        }
    }
    out
}

fn entry_out(cache: &Path, key: &str) -> PathBuf {
    cache.join("entries").join(&key[..2]).join(key).join("out")
}

/// The latest run folder of pipeline `name`.
fn latest(p: &Project, name: &str) -> PathBuf {
    std::fs::canonicalize(p.path().join("runs").join(name).join("latest")).expect("latest run")
}

/// The jobs of `run_dir`'s `slurm.json`: stage -> (job id, log).
fn jobs(run_dir: &Path) -> BTreeMap<String, (String, PathBuf)> {
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("slurm.json")).expect("slurm.json")).expect("json");
    doc["jobs"]
        .as_array()
        .expect("jobs")
        .iter()
        .map(|j| {
            let stage = j["stage"].as_str().expect("stage").to_string();
            (stage, (j["id"].as_str().expect("id").to_string(), PathBuf::from(j["log"].as_str().expect("log"))))
        })
        .collect()
}

/// `scontrol show job ID` in one line.
fn show_job(id: &str) -> String {
    let out = Command::new("scontrol").args(["--oneliner", "show", "job", id]).output().expect("scontrol");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Jobs whose name starts with `prefix` that are not over (pending, running, completing).
fn live_jobs(prefix: &str) -> Vec<String> {
    let out = Command::new("squeue").args(["--noheader", "--states=all", "--format=%i|%j|%T"]).output().expect("squeue");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            let fields: Vec<&str> = l.trim().split('|').collect();
            fields.len() == 3 && fields[1].starts_with(prefix) && matches!(fields[2], "PENDING" | "RUNNING" | "COMPLETING" | "CONFIGURING")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn the_slurm_executor_on_a_real_cluster() {
    let _cluster = Cluster::start();
    same_keys_and_bytes_as_a_local_run_and_a_rerun_submits_nothing();
    a_failed_job_cancels_its_dependents_and_exits_1();
    a_sweep_is_one_dag_on_the_cluster();
    the_fold_jobs_of_a_cross_validation_share_their_features();
    a_search_runs_each_round_as_jobs();
    a_pipeline_edited_after_submission_is_refused_by_its_jobs();
    ctrl_c_cancels_every_submitted_job();
}

fn same_keys_and_bytes_as_a_local_run_and_a_rerun_submits_nothing() {
    let local = Project::new();
    local.file("p.toml", &pipeline("same", ""));
    let run = local.vox(&["run", "--json", "p.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let local_stages = stages(&run.stdout);

    let cluster = Project::new();
    let settings = "\n[executor]\ntime = \"00:10:00\"\n\n[executor.resources.featurize]\ncpus = 1\n";
    cluster.file("p.toml", &pipeline("same", settings).replace("n_trees = 20\n", "n_trees = 20\nresources = { mem = \"300M\" }\n"));
    let run = cluster.vox(&["run", "--json", "--executor", "slurm", "p.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let cluster_stages = stages(&run.stdout);
    assert_eq!(cluster_stages.len(), 8);
    for (name, (status, key)) in &cluster_stages {
        assert_eq!(status, "ran", "{name}");
        assert_eq!(key, &local_stages[name].1, "`{name}` has the same key on the cluster as locally");
        let (here, there) = (files(&entry_out(&local.cache(), key)), files(&entry_out(&cluster.cache(), key)));
        assert!(!here.is_empty());
        assert_eq!(here.keys().collect::<Vec<_>>(), there.keys().collect::<Vec<_>>(), "`{name}`'s files");
        for (file, bytes) in &here {
            assert!(bytes == &there[file], "`{name}`: {} differs between the local and the Slurm run", file.display());
        }
    }
    // Each stage was a job named after pipeline and stage, with its settings and resources.
    let run_dir = latest(&cluster, "same");
    let submitted = jobs(&run_dir);
    assert_eq!(submitted.len(), 8);
    let rf = show_job(&submitted["rf"].0);
    assert!(rf.contains("JobName=vox:same:rf"), "{rf}");
    assert!(rf.contains("TimeLimit=00:10:00"), "{rf}");
    assert!(rf.contains("MinMemoryNode=300M"), "{rf}");
    let mfcc = show_job(&submitted["mfcc"].0);
    assert!(mfcc.contains("NumCPUs=1"), "{mfcc}");
    // The report's job waited for both models' jobs.
    let report = show_job(&submitted["report"].0);
    assert!(report.contains("JobState=COMPLETED"), "{report}");
    let log = std::fs::read_to_string(&submitted["rf"].1).expect("rf's job log");
    assert!(log.contains("rf: ran"), "{log}");
    let recorded: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).expect("run.json")).expect("json");
    let rf_record = recorded["stages"].as_array().expect("stages").iter().find(|s| s["name"] == "rf").expect("rf").clone();
    assert_eq!(rf_record["job"].as_str(), Some(submitted["rf"].0.as_str()), "{rf_record}");
    // The report files in the run folder are the local run's.
    let summary = |dir: PathBuf| std::fs::read(dir.join("report/summary.csv")).expect("summary.csv");
    assert_eq!(summary(run_dir.clone()), summary(latest(&local, "same")));

    // A rerun submits nothing.
    let rerun = cluster.vox(&["run", "--json", "--executor", "slurm", "p.toml"]);
    assert_eq!(rerun.code, 0, "{}", rerun.stderr);
    assert!(stages(&rerun.stdout).values().all(|(status, _)| status == "cached"), "{}", rerun.stdout);
    assert!(jobs(&latest(&cluster, "same")).is_empty());

    // Detached: submits the two stages a change reruns and returns; `vox status` follows them.
    let detached = cluster.vox(&["run", "--executor", "slurm", "--detach", "p.toml", "--set", "rf.n_trees=21"]);
    assert_eq!(detached.code, 0, "{}", detached.stderr);
    assert!(detached.stdout.contains("submitted 2 job(s) to Slurm (6 stage(s) cached)"), "{}", detached.stdout);
    let run_dir = latest(&cluster, "same");
    assert!(!run_dir.join("run.json").exists(), "run.json is written once every job has ended");
    let now = cluster.vox(&["status", run_dir.to_str().expect("utf-8")]);
    assert!(now.code == 3 || now.code == 0, "{}\n{}", now.stdout, now.stderr);
    let done = cluster.vox(&["status", "--wait", run_dir.to_str().expect("utf-8")]);
    assert_eq!(done.code, 0, "{}\n{}", done.stdout, done.stderr);
    assert!(done.stdout.contains("2 jobs: 2 finished, 0 failed or skipped, 0 pending or running"), "{}", done.stdout);
    let recorded: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).expect("run.json")).expect("json");
    let statuses: Vec<(String, String)> = recorded["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["status"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(statuses.iter().filter(|(_, s)| s == "ran").map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["rf", "report"]);
    // The cluster's key for the changed forest is the one the local plan predicts.
    let planned = local.vox(&["plan", "--json", "p.toml", "--set", "rf.n_trees=21"]);
    let planned: serde_json::Value = serde_json::from_str(&planned.stdout).expect("plan json");
    let rf_plan = planned["stages"].as_array().unwrap().iter().find(|s| s["name"] == "rf").unwrap()["key"].clone();
    let rf_ran = recorded["stages"].as_array().unwrap().iter().find(|s| s["name"] == "rf").unwrap()["key"].clone();
    assert_eq!(rf_plan, rf_ran);
}

fn a_failed_job_cancels_its_dependents_and_exits_1() {
    let p = Project::new();
    p.file("broken/Actor_01/03-01-05-01-01-01-01.wav", "RIFF....not a wav file");
    std::fs::write(p.path().join("broken/Actor_01/03-01-04-01-01-01-01.wav"), support::wav_16bit(16000, &[0, 1000, -1000, 0])).unwrap();
    let extra = "\n[stages.bad_data]\nkind = \"download\"\npath = \"broken\"\n\n[stages.bad_audio]\nkind = \"decode\"\ninputs = [\"bad_data\"]\n\n\
                 [stages.bad_padded]\nkind = \"pad\"\ninputs = [\"bad_audio\"]\n\n[stages.bad_split]\nkind = \"split\"\ninputs = [\"bad_padded\"]\n";
    p.file("p.toml", &pipeline("failing", extra));
    let started = Instant::now();
    let run = p.vox(&["run", "--json", "--executor", "slurm", "p.toml"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let statuses = stages(&run.stdout);
    assert_eq!(statuses["bad_audio"].0, "failed");
    assert_eq!(statuses["bad_padded"].0, "skipped");
    assert_eq!(statuses["bad_split"].0, "skipped");
    assert_eq!(statuses["report"].0, "ran", "the unrelated branch finishes");
    let run_dir = latest(&p, "failing");
    let submitted = jobs(&run_dir);
    let (bad_id, bad_log) = &submitted["bad_audio"];
    assert!(run.stderr.contains(&format!("job {bad_id}")), "the failure names its job:\n{}", run.stderr);
    assert!(run.stderr.contains(&bad_log.display().to_string()), "and its log:\n{}", run.stderr);
    let log = std::fs::read_to_string(bad_log).expect("the failed job's log");
    assert!(log.contains("03-01-05-01-01-01-01.wav"), "the log says which file broke:\n{log}");
    // The dependents were cancelled, never run.
    for stage in ["bad_padded", "bad_split"] {
        let (id, log) = &submitted[stage];
        let shown = show_job(id);
        assert!(shown.contains("JobState=CANCELLED"), "{stage}: {shown}");
        assert!(!log.exists(), "{stage} never started");
    }
    assert!(started.elapsed() < Duration::from_secs(120), "dependents are cancelled at once, not left pending");
}

/// `vox COMMAND p.toml` on pipeline `text` in one project here and in another with `--executor
/// slurm`, both succeeding: (local, cluster).
fn here_and_on_the_cluster(text: &str, command: &str) -> (Project, Project) {
    let local = Project::new();
    local.file("p.toml", text);
    let here = local.vox(&[command, "p.toml"]);
    assert_eq!(here.code, 0, "{}", here.stderr);
    let p = Project::new();
    p.file("p.toml", text);
    let run = p.vox(&[command, "--executor", "slurm", "p.toml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    (local, p)
}

fn a_sweep_is_one_dag_on_the_cluster() {
    let text = pipeline("swept", "\n[sweep.grid]\n\"rf.n_trees\" = [5, 6]\n");
    let (local, p) = here_and_on_the_cluster(&text, "sweep");
    // The stages both variants share ran once: one job each.
    let submitted = jobs(&latest(&p, "swept"));
    let mut names: Vec<&str> = submitted.keys().map(String::as_str).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "audio", "data", "lr", "mfcc", "padded", "report[rf.n_trees=5]", "report[rf.n_trees=6]", "rf[rf.n_trees=5]",
            "rf[rf.n_trees=6]", "split"
        ]
    );
    // The same comparison table as the local sweep's.
    let table = |p: &Project| std::fs::read_to_string(latest(p, "swept").join("sweep.csv")).expect("sweep.csv");
    assert_eq!(table(&p), table(&local));
}

/// A cross-validation's fold jobs share their clips' features through the cluster's cache:
/// the first job computes them (the others wait on the entry's lock or find it made), every
/// fold reads the same rows, and they are a local run's.
fn the_fold_jobs_of_a_cross_validation_share_their_features() {
    let text = pipeline("folds", "\n[executor.resources.featurize]\ncpus = 1\n")
        .replace("val_fraction = 0.2", "strategy = \"kfold\"\nfolds = 3\nval_fraction = 0.2")
        .replace("split = \"val\"\nplots", "plots");
    let local = Project::new();
    local.file("p.toml", &text);
    let here = local.vox(&["run", "p.toml"]);
    assert_eq!(here.code, 0, "{}", here.stderr);
    let p = Project::new();
    // Held in the queue, so that what each job waits for can be read before any runs.
    p.file("p.toml", &text.replace("[executor.resources.featurize]", "[executor]\nsbatch_args = [\"--hold\"]\n\n[executor.resources.featurize]"));
    let detached = p.vox(&["run", "--executor", "slurm", "--detach", "p.toml"]);
    assert_eq!(detached.code, 0, "{}", detached.stderr);
    let run_dir = latest(&p, "folds");
    let submitted = jobs(&run_dir);
    // Folds 2 and 3 are queued after fold 1's job (whatever its end) instead of each holding a
    // node while fold 1 extracts what they share.
    let dependency = |stage: &str| {
        let line = show_job(&submitted[stage].0);
        line.split_whitespace().find_map(|f| f.strip_prefix("Dependency=")).unwrap_or_else(|| panic!("{line}")).to_string()
    };
    let first = &submitted["mfcc[fold=1]"].0;
    assert!(!dependency("mfcc[fold=1]").contains("afterany"), "{}", dependency("mfcc[fold=1]"));
    for fold in [2, 3] {
        let stage = format!("mfcc[fold={fold}]");
        let split = &submitted[&format!("split[fold={fold}]")].0;
        let said = dependency(&stage);
        assert!(said.starts_with(&format!("afterok:{split}(")) && said.contains(&format!(",afterany:{first}(")), "{stage}: {said}");
    }
    let ids: Vec<&str> = submitted.values().map(|(id, _)| id.as_str()).collect();
    let released = Command::new("scontrol").arg("release").args(&ids).status().expect("scontrol release");
    assert!(released.success());
    let done = p.vox(&["status", "--wait", run_dir.to_str().expect("utf-8")]);
    assert_eq!(done.code, 0, "{}\n{}", done.stdout, done.stderr);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).expect("run.json")).expect("json");
    let shared = p.shared_entries("features");
    assert_eq!(shared.len(), 1, "one extraction for the three fold jobs: {shared:?}");
    assert_eq!(local.shared_entries("features"), shared, "the local run's key");
    let mut read = 0;
    for fold in 1..=3 {
        let stage = format!("mfcc[fold={fold}]");
        assert_eq!(p.shared_by(&doc, &stage), shared, "{stage}");
        let features = std::fs::read(p.stage_entry(&doc, &stage).join("features.csv")).expect("features.csv");
        assert_eq!(features, std::fs::read(local.stage_entry(&doc, &stage).join("features.csv")).expect("local features.csv"), "{stage}");
        let log = std::fs::read_to_string(&submitted[&stage].1).expect("job log");
        read += usize::from(log.contains("features of the same clips were computed before"));
        assert!(!log.contains("waiting for"), "{stage} waited on a lock:\n{log}");
    }
    assert_eq!(read, 2, "two of the three fold jobs read what the first computed");
    let listed: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("slurm.json")).expect("slurm.json")).expect("json");
    let fold2 = listed["jobs"].as_array().expect("jobs").iter().find(|j| j["stage"] == "mfcc[fold=2]").expect("fold 2's job");
    assert_eq!(fold2["queued_after"], serde_json::json!(["mfcc[fold=1]"]), "{listed:#}");
}

/// Successive halving on the cluster: each rung's trials are jobs that re-plan that rung (the
/// budget grows under the same stage names), and the trials' table is the local search's.
fn a_search_runs_each_round_as_jobs() {
    let search = "\n[search]\nmethod = \"halving\"\nmodel = \"rf\"\nbudget = \"rf.n_trees\"\ntrials = 3\n\
                  min_budget = 4\nmax_budget = 12\n\n[search.space]\n\"rf.max_depth\" = { int = [1, 8] }\n";
    let text = pipeline("searched", search);
    let (local, p) = here_and_on_the_cluster(&text, "search");
    let detached = p.vox(&["search", "--executor", "slurm", "--detach", "p.toml"]);
    assert_eq!(detached.code, 2, "{}", detached.stderr);
    assert!(detached.stderr.contains("cannot `--detach`"), "{}", detached.stderr);
    let table = |p: &Project| std::fs::read_to_string(latest(p, "searched").join("search.csv")).expect("search.csv");
    let csv = table(&p);
    assert_eq!(csv, table(&local));
    // Three trials at 4 trees, the best one again at 12.
    assert_eq!(csv.lines().count(), 5, "{csv}");
    let best: serde_json::Value =
        serde_json::from_slice(&std::fs::read(latest(&p, "searched").join("best.json")).expect("best.json")).expect("json");
    assert_eq!(best["budget"], 12, "{best}");
    // The last rung's job re-planned rung 1 (12 trees) under the rung-0 trial's name.
    let submitted = jobs(&latest(&p, "searched"));
    let (winner, (_, log)) = submitted.iter().find(|(name, _)| name.starts_with("rf[trial")).expect("a trial's forest job");
    let script = std::fs::read_to_string(latest(&p, "searched").join("jobs").join(format!("{winner}.sh"))).expect("job script");
    assert!(script.contains("--search-trials 3 --search-round") && script.contains("--search-rung 1"), "{script}");
    assert!(log.is_file(), "{}", log.display());
}

fn a_pipeline_edited_after_submission_is_refused_by_its_jobs() {
    let p = Project::new();
    p.file("p.toml", &pipeline("edited", ""));
    let detached = p.vox(&["run", "--executor", "slurm", "--detach", "p.toml"]);
    assert_eq!(detached.code, 0, "{}", detached.stderr);
    // The researcher changes a param while the jobs wait in the queue.
    p.file("p.toml", &pipeline("edited", "").replace("n_trees = 20", "n_trees = 30"));
    let run_dir = latest(&p, "edited");
    let done = p.vox(&["status", "--wait", run_dir.to_str().expect("utf-8")]);
    assert_eq!(done.code, 1, "{}\n{}", done.stdout, done.stderr);
    let recorded: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).expect("run.json")).expect("json");
    let refused: Vec<&serde_json::Value> = recorded["stages"]
        .as_array()
        .expect("stages")
        .iter()
        .filter(|s| s["reasons"].to_string().contains("changed after this job was submitted"))
        .collect();
    assert!(!refused.is_empty(), "{recorded:#}");
    assert!(refused.iter().all(|s| s["status"] == "failed" && s["kind"] != ""), "{recorded:#}");
    // Nothing ran with the new forest: its key is not in the cache.
    assert!(!recorded["stages"].as_array().unwrap().iter().any(|s| s["name"] == "rf" && s["status"] == "ran"), "{recorded:#}");
}

fn ctrl_c_cancels_every_submitted_job() {
    let p = Project::new();
    p.file("p.toml", &pipeline("interrupted", ""));
    let child = p.spawn(&["run", "--executor", "slurm", "p.toml"]);
    let pid = child.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    while live_jobs("vox:interrupted:").len() < 2 {
        assert!(Instant::now() < deadline, "the jobs never showed in squeue");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Once every job is submitted (slurm.json written), interrupt the submitter.
    let run_dir = p.path().join("runs/interrupted/latest");
    while !run_dir.join("slurm.json").exists() {
        assert!(Instant::now() < deadline, "slurm.json never appeared");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(Command::new("kill").args(["-INT", &pid]).status().expect("kill").success());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("cancelled the 8 Slurm job(s) this run submitted"), "{stderr}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let live = live_jobs("vox:interrupted:");
        if live.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "jobs left behind after Ctrl-C: {live:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
