//! The record of a run: the run folder with each stage's human-facing outputs, `run.json`, the
//! final table and the `--json` document.
//!
//! Each stage's outcome is written into the run folder as it finishes (`stages/<stage>.json`, by
//! whichever process ran it: this one, or a cluster job running `vox exec-stage`), with its
//! report files beside it (`<stage>/`); `run.json` is assembled from those files, so a run
//! followed from afar and a local run leave the same record.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::outcome::{Failure, Recorded, Skip, StageOutcome, Status};
use crate::plan::Plan;

/// `run.json` and the `--json` document.
#[derive(Debug, Serialize, Deserialize)]
pub struct RunReport {
    /// The pipeline name.
    pub pipeline: String,
    /// The run folder.
    pub run_dir: PathBuf,
    /// The run id (UTC start time).
    pub run_id: String,
    /// The pipeline seed.
    pub seed: u64,
    /// Every stage in plan order.
    pub stages: Vec<StageReport>,
}

/// One stage in [`RunReport`], and the content of its outcome file.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StageReport {
    /// The stage name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// `ran`, `cached`, `failed` or `skipped`.
    pub status: String,
    /// Wall time in this run.
    pub seconds: f64,
    /// Its cache key.
    pub key: Option<String>,
    /// Its resolved params (a path param as its content's hash: what the key saw).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
    /// Its path params where the plan found them (absolute), so that `vox predict` can
    /// configure the kind again: `params` holds only their content's hash.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub paths: BTreeMap<String, PathBuf>,
    /// Its inputs' stage names, in order (what `vox predict` follows from a model to the data).
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Its backend, for kinds that have backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// Why it ran, failed or was skipped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Its cache output folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<PathBuf>,
    /// Its human-facing files in the run folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<PathBuf>,
    /// Where the log of the process that ran it is (a cluster job's), when not this run's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
    /// The cluster job that ran it (or was to), when it ran as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
}

/// Where a stage ran, when not in this process: a cluster job and its log.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    /// The job id.
    pub job: Option<String>,
    /// The job's log.
    pub log: Option<PathBuf>,
}

impl StageReport {
    /// The outcome this record describes (reasons as text; a failure's names its job and log).
    pub fn outcome(&self) -> StageOutcome {
        let why = || Recorded { reasons: self.reasons.clone(), job: self.job.clone(), log: self.log.clone() };
        let status = match self.status.as_str() {
            "ran" => Status::Ran,
            "cached" => Status::Cached,
            "skipped" => Status::Skipped(Skip::Recorded(why())),
            _ => Status::Failed(Failure::Recorded(why())),
        };
        StageOutcome {
            name: self.name.clone(),
            kind: self.kind.clone(),
            status,
            seconds: self.seconds,
            key: self.key.clone(),
            output_hash: None,
            out_dir: self.outputs.clone(),
            reasons: Vec::new(),
            params: self.params.clone(),
        }
    }
}

/// A new run id: the UTC start time, the host and the process, so runs started at once on two
/// nodes of a cluster sharing the runs folder get two folders ([`Recorder::create`] also refuses
/// an existing one).
pub fn run_id() -> String {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string().replace(':', "");
    format!("{stamp}-{}-{}", crate::host::name(), std::process::id())
}

/// A suffix for temp files unique across the hosts sharing the folder.
fn unique_suffix() -> String {
    crate::host::unique_suffix()
}

/// Stage `name` as one file name (`/` and `%` escaped).
pub fn file_name(name: &str) -> String {
    name.replace('%', "%25").replace('/', "%2F")
}

/// The folder of one run, where stages record their outcomes as they finish.
#[derive(Clone, Debug)]
pub struct Recorder {
    run_dir: PathBuf,
    run_id: String,
    /// What `latest` linked to before this run took it (a new run only).
    previous_latest: Option<PathBuf>,
}

/// The outcome files' folder inside a run folder.
const STAGES: &str = "stages";

/// A finished run's record in its folder (written when the run ends).
pub const RUN_JSON: &str = "run.json";

impl Recorder {
    /// Creates `<runs_dir>/<pipeline>/<run_id>/` for a new run.
    /// `create_dir` (not `_all`) on the run folder itself: if the id is taken, the next free
    /// `<run_id>.<n>` is used, never another run's folder.
    pub fn create(runs_dir: &Path, pipeline: &str, run_id: &str) -> io::Result<Self> {
        let parent = runs_dir.join(pipeline);
        fs::create_dir_all(&parent)?;
        let mut id = run_id.to_string();
        for n in 1.. {
            match fs::create_dir(parent.join(&id)) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => id = format!("{run_id}.{n}"),
                Err(e) => return Err(e),
            }
        }
        let run_dir = parent.join(&id);
        fs::create_dir_all(run_dir.join(STAGES))?;
        // The newest run is `latest` from its start (a detached run is followed through it).
        let previous_latest = fs::read_link(parent.join("latest")).ok();
        link_latest(&parent, &id);
        Ok(Self { run_dir, run_id: id, previous_latest })
    }

    /// The recorder of an existing run folder (a worker recording into its submitter's run).
    pub fn open(run_dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(run_dir.join(STAGES))?;
        let run_id = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Self { run_dir: run_dir.to_path_buf(), run_id, previous_latest: None })
    }

    /// Whether the run has ended: its `run.json` is written (a run still going, interrupted
    /// or killed has only its outcome files).
    pub fn has_finished(&self) -> bool {
        self.run_dir.join(RUN_JSON).is_file()
    }

    /// Removes a new run's folder if nothing was recorded in it (it holds only its empty
    /// `stages/`: the command stopped before any stage ran, e.g. at a refused plan), and gives
    /// `latest` back to the run it linked to before. A folder with anything in it is kept.
    pub fn discard_if_unused(&self) {
        let unused = fs::read_dir(&self.run_dir).is_ok_and(|entries| {
            entries.flatten().all(|e| e.file_name() == STAGES && fs::read_dir(e.path()).is_ok_and(|mut s| s.next().is_none()))
        });
        if !unused || fs::remove_dir_all(&self.run_dir).is_err() {
            return;
        }
        let Some(pipeline_dir) = self.run_dir.parent() else { return };
        let latest = pipeline_dir.join("latest");
        if fs::read_link(&latest).is_ok_and(|target| target == Path::new(&self.run_id)) {
            match &self.previous_latest {
                Some(previous) => link_latest(pipeline_dir, &previous.to_string_lossy()),
                None => {
                    let _ = fs::remove_file(&latest);
                }
            }
        }
        // The pipeline's folder too when this was its first run (it fails when not empty).
        let _ = fs::remove_dir(pipeline_dir);
    }

    /// The recorder of a run folder that must exist already (`vox status`).
    pub fn open_existing(run_dir: &Path) -> io::Result<Self> {
        if !run_dir.join(STAGES).is_dir() && !run_dir.join(RUN_JSON).is_file() {
            return Err(io::Error::new(io::ErrorKind::NotFound, "it has no `stages/` folder and no `run.json`"));
        }
        // `latest` names the run it links to.
        let resolved = fs::canonicalize(run_dir).unwrap_or_else(|_| run_dir.to_path_buf());
        let run_id = resolved.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Self { run_dir: run_dir.to_path_buf(), run_id, previous_latest: None })
    }

    /// Every recorded outcome: in `run.json`'s order when the run has finished, else in the
    /// order the stages finished.
    pub fn read_all(&self) -> Vec<StageReport> {
        let finished: Option<RunReport> = fs::read(self.run_dir.join(RUN_JSON)).ok().and_then(|b| serde_json::from_slice(&b).ok());
        if let Some(run) = finished {
            return run.stages;
        }
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(self.run_dir.join(STAGES))
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| (e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH), e.path()))
            .collect();
        files.sort();
        files.iter().filter_map(|(_, path)| serde_json::from_slice(&fs::read(path).ok()?).ok()).collect()
    }

    /// The run folder.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The outcome file of stage `name`.
    fn stage_file(&self, name: &str) -> PathBuf {
        self.run_dir.join(STAGES).join(format!("{}.json", file_name(name)))
    }

    /// Removes the recorded outcome of stage `name` (a stage that runs again in the same run
    /// folder: a search's next rung); nothing recorded is no error.
    pub fn forget(&self, name: &str) -> io::Result<()> {
        match fs::remove_file(self.stage_file(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// The recorded outcome of stage `name`, if it has finished.
    pub fn read(&self, name: &str) -> Option<StageReport> {
        serde_json::from_slice(&fs::read(self.stage_file(name)).ok()?).ok()
    }

    /// Records a finished stage: its report files under `<stage>/` (hard links, see
    /// [`copy_tree`]) and its outcome file, written whole (a temp file renamed into place) so a
    /// reader never sees half of it. A stage that ran to count folds and was then found cached
    /// keeps its `ran` record.
    pub fn record(&self, plan: &Plan, o: &StageOutcome, origin: Origin) -> io::Result<StageReport> {
        if matches!(o.status, Status::Cached)
            && let Some(before) = self.read(&o.name).filter(|r| r.status == "ran" && r.key == o.key)
        {
            return Ok(before);
        }
        let mut reports = Vec::new();
        if let Some(out) = &o.out_dir {
            let source = out.join("report");
            let target = self.run_dir.join(&o.name);
            if source.is_dir() {
                // A retried stage's earlier files go first: writing over a hard link would write
                // into the cache entry it shares its file with.
                if target.exists() {
                    fs::remove_dir_all(&target)?;
                }
                copy_tree(&source, &target, &mut reports)?;
            }
        }
        let reasons = match &o.status {
            Status::Failed(why) => vec![why.to_string()],
            Status::Skipped(why) => vec![why.to_string()],
            _ => o.reasons.iter().map(ToString::to_string).collect(),
        };
        let planned = plan.index_of(&o.name).map(|i| &plan.stages[i]);
        let report = StageReport {
            name: o.name.clone(),
            kind: o.kind.clone(),
            status: o.status.name().to_string(),
            seconds: (o.seconds * 1000.0).round() / 1000.0,
            key: o.key.clone(),
            params: o.params.clone(),
            paths: planned.map(|p| p.external.clone()).unwrap_or_default(),
            inputs: planned.map(|p| p.inputs.iter().map(|&i| plan.stages[i].name.clone()).collect()).unwrap_or_default(),
            backend: planned.and_then(|p| p.backend.clone()),
            reasons,
            outputs: o.out_dir.clone(),
            reports,
            log: origin.log,
            job: origin.job,
        };
        self.write(&report)?;
        Ok(report)
    }

    /// Writes a stage's outcome file whole (a temp file renamed into place).
    pub fn write(&self, report: &StageReport) -> io::Result<()> {
        let path = self.stage_file(&report.name);
        let temp = path.with_extension(format!("json.{}", unique_suffix()));
        fs::write(&temp, serde_json::to_vec_pretty(report).map_err(io::Error::other)?)?;
        fs::rename(&temp, &path)
    }

    /// Assembles `run.json` from the outcome files of `plan`'s stages, in plan order (stages
    /// without one took no part), and points `latest` at the run.
    pub fn finish(&self, plan: &Plan) -> io::Result<RunReport> {
        self.finish_stages(&plan.name, plan.seed, plan.stages.iter().map(|s| s.name.as_str()))
    }

    /// [`Recorder::finish`] from the pipeline's name, seed and stage names in plan order (what
    /// `vox status` knows of a run submitted to a cluster).
    pub fn finish_stages<'a>(&self, pipeline: &str, seed: u64, names: impl Iterator<Item = &'a str>) -> io::Result<RunReport> {
        let stages = names.filter_map(|name| self.read(name)).collect();
        let report =
            RunReport { pipeline: pipeline.to_string(), run_dir: self.run_dir.clone(), run_id: self.run_id.clone(), seed, stages };
        fs::write(self.run_dir.join(RUN_JSON), serde_json::to_vec_pretty(&report).map_err(io::Error::other)?)?;
        if let Some(pipeline_dir) = self.run_dir.parent() {
            link_latest(pipeline_dir, &self.run_id);
        }
        Ok(report)
    }
}

/// Points `<runs>/<pipeline>/latest` at the run folder `run_id` (a relative symlink, replaced
/// atomically by a rename), so that the newest run has a fixed path. A file system without
/// symlinks keeps no link; nothing fails for it.
fn link_latest(pipeline_dir: &Path, run_id: &str) {
    #[cfg(unix)]
    {
        let temp = pipeline_dir.join(format!(".latest-{run_id}"));
        let _ = fs::remove_file(&temp);
        let linked = std::os::unix::fs::symlink(run_id, &temp).and_then(|()| fs::rename(&temp, pipeline_dir.join("latest")));
        if let Err(e) = linked {
            let _ = fs::remove_file(&temp);
            tracing::debug!("cannot link `latest` to run {run_id}: {e}");
        }
    }
    #[cfg(not(unix))]
    let _ = (pipeline_dir, run_id);
}

/// Places the files of `from` under `to`: hard links to the cache entry's files (a no-op rerun
/// then costs no disk; an edit of a run-folder file shows as a damaged entry, which the next
/// lookup rehashes, reports and recomputes), copies where links are impossible (another file
/// system).
fn copy_tree(from: &Path, to: &Path, copied: &mut Vec<PathBuf>) -> io::Result<()> {
    fs::create_dir_all(to)?;
    let mut entries: Vec<_> = fs::read_dir(from)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let dest = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &dest, copied)?;
        } else {
            if fs::hard_link(entry.path(), &dest).is_err() {
                fs::copy(entry.path(), &dest)?;
            }
            copied.push(dest);
        }
    }
    Ok(())
}

/// The final table: stage, kind, status, seconds, key prefix, and why.
pub fn table(report: &RunReport) -> String {
    table_of(&report.stages)
}

/// [`table`] of some stages.
pub fn table_of(stages: &[StageReport]) -> String {
    let rows: Vec<[String; 6]> = stages
        .iter()
        .map(|s| {
            [
                s.name.clone(),
                s.kind.clone(),
                s.status.to_string(),
                format!("{:.2}", s.seconds),
                s.key.as_deref().map_or("-".into(), |k| k[..12].to_string()),
                s.reasons.join("; "),
            ]
        })
        .collect();
    render_table(&["stage", "kind", "status", "seconds", "key", "why"], &rows)
}

/// Left-aligned columns separated by two spaces (the last column unpadded).
pub fn render_table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_names_its_host_and_a_taken_one_is_never_shared() {
        let id = run_id();
        assert!(id.contains(&format!("-{}-{}", crate::host::name(), std::process::id())), "{id}");
        let runs = tempfile::tempdir().unwrap();
        let first = Recorder::create(runs.path(), "p", "same").unwrap();
        let second = Recorder::create(runs.path(), "p", "same").unwrap();
        assert_ne!(first.run_dir(), second.run_dir());
        assert!(second.run_dir().ends_with("p/same.1"), "{}", second.run_dir().display());
        // `latest` follows the newest run from its start.
        assert_eq!(fs::read_link(runs.path().join("p/latest")).unwrap(), Path::new("same.1"));
    }

    #[test]
    fn tables_align() {
        let rows = [["decode".to_string(), "ran".to_string()], ["a".to_string(), "cached".to_string()]];
        assert_eq!(render_table(&["stage", "status"], &rows), "stage   status\ndecode  ran\na       cached\n");
    }
}
