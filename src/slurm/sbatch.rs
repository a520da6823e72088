//! The Slurm commands vox runs: `sbatch` (one job per stage, its script written into the run
//! folder), `scancel` by job id, and the job states from `squeue`/`scontrol`.
//!
//! Only these client commands are used, never the accounting database (`sacct`), which many
//! clusters (and the test cluster) do not run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::SlurmError;
use crate::spec::{ExecutorSpec, Resources};

/// How a job re-creates the submitter's plan: `vox exec-stage` with the same pipeline, overrides
/// and sweep, on the same cache, from the same folder.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The `vox` binary (on a path the nodes see).
    pub exe: PathBuf,
    /// The folder the submitter ran in (relative paths in the pipeline resolve from it).
    pub cwd: PathBuf,
    /// The pipeline file, absolute.
    pub pipeline: PathBuf,
    /// `--set` overrides.
    pub sets: Vec<String>,
    /// `Some(grid axes)` for a sweep.
    pub sweep: Option<Vec<String>>,
    /// `Some(round)` for a round of `vox search`'s trials.
    pub search: Option<SearchRound>,
    /// The cache folder, absolute.
    pub cache_dir: PathBuf,
    /// [`crate::source::SourceMap::fingerprint`] of the submitter's pipeline files.
    pub fingerprint: String,
}

/// A round of a search's trials, as `vox exec-stage` re-plans it (see
/// [`crate::search::Search::round`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchRound {
    /// The trials drawn (after `vox search --trials`).
    pub trials: usize,
    /// The round's trials.
    pub alive: Vec<usize>,
    /// The halving rung (`None` in a random search).
    pub rung: Option<usize>,
}

/// One job to submit.
pub struct JobRequest<'a> {
    /// The pipeline's name.
    pub pipeline: &'a str,
    /// The stage's name in the plan.
    pub stage: &'a str,
    /// Its resources (already merged with its kind's defaults).
    pub resources: Resources,
    /// Job ids whose success it needs (its inputs').
    pub after: Vec<String>,
    /// Job ids it starts after whatever their end (the one making work it shares).
    pub queued_after: Vec<String>,
    /// Its batch script.
    pub script: PathBuf,
    /// Its log.
    pub log: PathBuf,
}

/// Single-quotes `text` for `sh`.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The batch script of stage `stage`: `vox exec-stage` with the submitter's plan.
pub fn script(invocation: &Invocation, stage: &str, run_dir: &Path, log: &Path, force: bool, threads: Option<u32>) -> String {
    let path = |p: &Path| quote(&p.to_string_lossy());
    let mut args = vec![
        path(&invocation.exe),
        "--cache-dir".into(),
        path(&invocation.cache_dir),
        "exec-stage".into(),
        path(&invocation.pipeline),
        quote(stage),
        "--run-dir".into(),
        path(run_dir),
        "--log".into(),
        path(log),
        "--expect-sources".into(),
        invocation.fingerprint.clone(),
    ];
    for set in &invocation.sets {
        args.push("--set".into());
        args.push(quote(set));
    }
    if let Some(grid) = &invocation.sweep {
        args.push("--sweep".into());
        for axis in grid {
            args.push("--grid".into());
            args.push(quote(axis));
        }
    }
    if let Some(round) = &invocation.search {
        args.push("--search-trials".into());
        args.push(round.trials.to_string());
        args.push("--search-round".into());
        args.push(round.alive.iter().map(usize::to_string).collect::<Vec<_>>().join(","));
        if let Some(rung) = round.rung {
            args.push("--search-rung".into());
            args.push(rung.to_string());
        }
    }
    if force {
        args.push("--force".into());
    }
    if let Some(n) = threads {
        args.push("--jobs".into());
        args.push(n.to_string());
    }
    format!(
        "#!/bin/sh\n# vox: stage `{stage}` of this run, as a Slurm job (written by `vox run --executor slurm`;\n\
         # `sbatch` this file again to retry the stage by hand).\ncd {} || exit 1\nexec {}\n",
        path(&invocation.cwd),
        args.join(" ")
    )
}

/// `sbatch`'s arguments for `job` under the pipeline's `[executor]` settings.
pub fn arguments(settings: &ExecutorSpec, job: &JobRequest, cwd: &Path) -> Vec<String> {
    // `%` starts a file-name pattern in `--output` (`%j`: job id); a stage name's is literal.
    let log = job.log.to_string_lossy().replace('%', "%%");
    let mut args = vec![
        "--parsable".to_string(),
        format!("--job-name=vox:{}:{}", job.pipeline, job.stage),
        format!("--output={log}"),
        format!("--chdir={}", cwd.display()),
    ];
    let partition = job.resources.partition.as_ref().or(settings.partition.as_ref());
    let flags = [("partition", partition), ("account", settings.account.as_ref()), ("qos", settings.qos.as_ref())];
    for (flag, value) in flags {
        if let Some(value) = value {
            args.push(format!("--{flag}={value}"));
        }
    }
    if let Some(time) = job.resources.time.as_ref().or(settings.time.as_ref()) {
        args.push(format!("--time={time}"));
    }
    if let Some(cpus) = job.resources.cpus {
        args.push(format!("--cpus-per-task={cpus}"));
    }
    if let Some(mem) = &job.resources.mem {
        args.push(format!("--mem={mem}"));
    }
    if let Some(gpus) = job.resources.gpus.filter(|&n| n > 0) {
        args.push(format!("--gres=gpu:{gpus}"));
    }
    let mut dependencies = Vec::new();
    if !job.after.is_empty() {
        dependencies.push(format!("afterok:{}", job.after.join(":")));
    }
    if !job.queued_after.is_empty() {
        dependencies.push(format!("afterany:{}", job.queued_after.join(":")));
    }
    if !dependencies.is_empty() {
        // `,`: all of them.
        args.push(format!("--dependency={}", dependencies.join(",")));
    }
    if !job.after.is_empty() {
        // A failed input cancels the job instead of leaving it pending forever.
        args.push("--kill-on-invalid-dep=yes".into());
    }
    args.extend(settings.sbatch_args.iter().cloned());
    args.push(job.script.to_string_lossy().into_owned());
    args
}

/// Checks that the Slurm client commands are here (`sbatch --version`), before anything is
/// planned to be submitted.
pub fn check_available() -> Result<String, SlurmError> {
    let output = Command::new("sbatch").arg("--version").output().map_err(|e| SlurmError::Spawn { command: "sbatch", source: e })?;
    if !output.status.success() {
        return Err(SlurmError::Refused {
            command: "sbatch --version".into(),
            said: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Runs `sbatch`; the new job's id.
pub fn submit(settings: &ExecutorSpec, job: &JobRequest, cwd: &Path) -> Result<String, SlurmError> {
    let args = arguments(settings, job, cwd);
    let output = Command::new("sbatch").args(&args).output().map_err(|e| SlurmError::Spawn { command: "sbatch", source: e })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // `--parsable`: `<id>` or `<id>;<cluster>`.
    let id = stdout.trim().split(';').next().unwrap_or("").to_string();
    if !output.status.success() || id.is_empty() || !id.chars().all(|c| c.is_ascii_digit() || c == '_') {
        return Err(SlurmError::Rejected {
            stage: job.stage.to_string(),
            command: format!("sbatch {}", args.join(" ")),
            said: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(id)
}

/// `scancel` of these jobs (finished ones are ignored by Slurm).
pub fn cancel(ids: &[String]) -> Result<(), SlurmError> {
    if ids.is_empty() {
        return Ok(());
    }
    let output = Command::new("scancel").args(ids).output().map_err(|e| SlurmError::Spawn { command: "scancel", source: e })?;
    // scancel exits non-zero when some ids are already gone; that is not a failure here.
    let said = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && !said.contains("Invalid job id") {
        return Err(SlurmError::Refused { command: format!("scancel {}", ids.join(" ")), said: said.trim().to_string() });
    }
    Ok(())
}

/// A job's state as the controller reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct JobState {
    /// `PENDING`, `RUNNING`, `COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`, ...
    pub state: String,
    /// Why it is pending or how it ended (`Dependency`, `DependencyNeverSatisfied`, ...).
    pub reason: String,
}

impl JobState {
    /// Whether the job has ended (it will not run, or run further).
    pub fn ended(&self) -> bool {
        !matches!(
            self.state.as_str(),
            "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING" | "SUSPENDED" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED"
                | "RESIZING" | "SIGNALING" | "STAGE_OUT" | "STOPPED" | "RESV_DEL_HOLD"
        )
    }
}

/// The states of `ids` from one `squeue` call (every state, so jobs that ended recently are
/// listed too); an id missing from the map has left the controller's memory.
pub fn states(ids: &[String]) -> Result<BTreeMap<String, JobState>, SlurmError> {
    let mut states = BTreeMap::new();
    if ids.is_empty() {
        return Ok(states);
    }
    let output = Command::new("squeue")
        .args(["--noheader", "--states=all", "--format=%i|%T|%r", "--jobs"])
        .arg(ids.join(","))
        .output()
        .map_err(|e| SlurmError::Spawn { command: "squeue", source: e })?;
    let said = String::from_utf8_lossy(&output.stderr);
    // Every id unknown: squeue says so and fails; that is an empty answer, not an error.
    if !output.status.success() && !said.contains("Invalid job id") {
        return Err(SlurmError::Refused { command: "squeue".into(), said: said.trim().to_string() });
    }
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let mut fields = line.trim().splitn(3, '|');
        if let (Some(id), Some(state), reason) = (fields.next(), fields.next(), fields.next()) {
            // `CANCELLED by 0` and the like: the first word is the state.
            let state = state.split_whitespace().next().unwrap_or(state).to_string();
            states.insert(id.to_string(), JobState { state, reason: reason.unwrap_or("").to_string() });
        }
    }
    Ok(states)
}

/// How a job ended, in `scontrol`'s words (`ExitCode=1:0`, its reason), for a failure message.
pub fn describe_end(id: &str) -> Option<String> {
    let output = Command::new("scontrol").args(["--oneliner", "show", "job", id]).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| {
        text.split_whitespace().find_map(|w| w.strip_prefix(name).and_then(|v| v.strip_prefix('='))).map(str::to_string)
    };
    let state = field("JobState")?;
    let mut out = state;
    if let Some(code) = field("ExitCode") {
        out.push_str(&format!(", exit code {code}"));
    }
    if let Some(reason) = field("Reason").filter(|r| r != "None") {
        out.push_str(&format!(", {reason}"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_carry_settings_resources_and_dependencies() {
        let settings = ExecutorSpec {
            partition: Some("gpu".into()),
            account: Some("lab".into()),
            time: Some("01:00:00".into()),
            sbatch_args: vec!["--constraint=a100".into()],
            ..ExecutorSpec::default()
        };
        let job = JobRequest {
            pipeline: "demo",
            stage: "w2v[fold=1]",
            resources: Resources {
                partition: Some("a100".into()),
                cpus: Some(8),
                mem: Some("32G".into()),
                time: Some("04:00:00".into()),
                gpus: Some(1),
            },
            after: vec!["11".into(), "12".into()],
            queued_after: vec!["13".into()],
            script: "/r/jobs/w2v.sh".into(),
            log: "/r/logs/50%.log".into(),
        };
        let args = arguments(&settings, &job, Path::new("/work"));
        assert_eq!(
            args,
            [
                "--parsable",
                "--job-name=vox:demo:w2v[fold=1]",
                "--output=/r/logs/50%%.log",
                "--chdir=/work",
                "--partition=a100",
                "--account=lab",
                "--time=04:00:00",
                "--cpus-per-task=8",
                "--mem=32G",
                "--gres=gpu:1",
                "--dependency=afterok:11:12,afterany:13",
                "--kill-on-invalid-dep=yes",
                "--constraint=a100",
                "/r/jobs/w2v.sh",
            ]
        );
    }

    #[test]
    fn scripts_quote_every_argument() {
        let invocation = Invocation {
            exe: "/opt/vox".into(),
            cwd: "/home/a b".into(),
            pipeline: "/p/it's.toml".into(),
            sets: vec!["rf.trees=5".into()],
            sweep: Some(vec!["rf.trees=1,2".into()]),
            search: None,
            cache_dir: "/c".into(),
            fingerprint: "f00d".into(),
        };
        let text = script(&invocation, "rf", Path::new("/r"), Path::new("/r/logs/rf.log"), true, Some(4));
        assert!(text.contains("cd '/home/a b' || exit 1"));
        assert!(text.contains(
            "exec '/opt/vox' --cache-dir '/c' exec-stage '/p/it'\\''s.toml' 'rf' --run-dir '/r' --log '/r/logs/rf.log' \
             --expect-sources f00d --set 'rf.trees=5' --sweep --grid 'rf.trees=1,2' --force --jobs 4"
        ));
        let round = SearchRound { trials: 9, alive: vec![2, 7], rung: Some(1) };
        let searching = Invocation { sweep: None, search: Some(round), ..invocation };
        let text = script(&searching, "rf[trial2]", Path::new("/r"), Path::new("/r/l.log"), false, None);
        assert!(text.contains("--expect-sources f00d --set 'rf.trees=5' --search-trials 9 --search-round 2,7 --search-rung 1\n"), "{text}");
    }

    #[test]
    fn ended_states() {
        let state = |s: &str| JobState { state: s.into(), reason: String::new() };
        assert!(!state("PENDING").ended());
        assert!(!state("COMPLETING").ended());
        assert!(state("COMPLETED").ended());
        assert!(state("CANCELLED").ended());
        assert!(state("OUT_OF_MEMORY").ended());
    }
}
