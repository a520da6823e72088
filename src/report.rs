//! The record of a run: the run folder with each stage's human-facing outputs, `run.json`, the
//! final table and the `--json` document.
//!
//! Each stage's outcome is written into the run folder as it finishes (`stages/<stage>.json`, by
//! whichever process ran it: this one, or a cluster job running `vox exec-stage`), with its
//! report files beside it (`<stage>/`); `run.json` is assembled from those files, so a run
//! followed from afar and a local run leave the same record.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::execute::{StageOutcome, Status};
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
    /// Its resolved params.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
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
}

/// A new run id: the UTC start time, unique within this machine.
pub fn run_id() -> String {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string().replace(':', "");
    format!("{stamp}-{:05}", std::process::id() % 100_000)
}

/// The folder of one run, where stages record their outcomes as they finish.
#[derive(Clone, Debug)]
pub struct Recorder {
    run_dir: PathBuf,
    run_id: String,
}

/// The outcome files' folder inside a run folder.
const STAGES: &str = "stages";

impl Recorder {
    /// Creates `<runs_dir>/<pipeline>/<run_id>/` for a new run.
    pub fn create(runs_dir: &Path, pipeline: &str, run_id: &str) -> io::Result<Self> {
        let run_dir = runs_dir.join(pipeline).join(run_id);
        fs::create_dir_all(run_dir.join(STAGES))?;
        Ok(Self { run_dir, run_id: run_id.to_string() })
    }

    /// The recorder of an existing run folder (a worker recording into its submitter's run).
    pub fn open(run_dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(run_dir.join(STAGES))?;
        let run_id = run_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Self { run_dir: run_dir.to_path_buf(), run_id })
    }

    /// The run folder.
    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// The outcome file of stage `name` (`/` and `%` escaped, so any name is one file).
    fn stage_file(&self, name: &str) -> PathBuf {
        let file = name.replace('%', "%25").replace('/', "%2F");
        self.run_dir.join(STAGES).join(format!("{file}.json"))
    }

    /// The recorded outcome of stage `name`, if it has finished.
    pub fn read(&self, name: &str) -> Option<StageReport> {
        serde_json::from_slice(&fs::read(self.stage_file(name)).ok()?).ok()
    }

    /// Records a finished stage: its report files under `<stage>/` (hard links, see
    /// [`copy_tree`]) and its outcome file, written whole (a temp file renamed into place) so a
    /// reader never sees half of it. A stage that ran to count folds and was then found cached
    /// keeps its `ran` record.
    pub fn record(&self, plan: &Plan, o: &StageOutcome, log: Option<PathBuf>) -> io::Result<StageReport> {
        if o.status == Status::Cached
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
            Status::Failed(why) | Status::Skipped(why) => vec![why.clone()],
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
            inputs: planned.map(|p| p.inputs.iter().map(|&i| plan.stages[i].name.clone()).collect()).unwrap_or_default(),
            backend: planned.and_then(|p| p.backend.clone()),
            reasons,
            outputs: o.out_dir.clone(),
            reports,
            log,
        };
        let path = self.stage_file(&o.name);
        let temp = path.with_extension(format!("json.{}", std::process::id()));
        fs::write(&temp, serde_json::to_vec_pretty(&report).map_err(io::Error::other)?)?;
        fs::rename(&temp, &path)?;
        Ok(report)
    }

    /// Assembles `run.json` from the outcome files of `plan`'s stages, in plan order (stages
    /// without one took no part), and points `latest` at the run.
    pub fn finish(&self, plan: &Plan) -> io::Result<RunReport> {
        let stages = plan.stages.iter().filter_map(|s| self.read(&s.name)).collect();
        let pipeline = plan.name.clone();
        let report = RunReport { pipeline: pipeline.clone(), run_dir: self.run_dir.clone(), run_id: self.run_id.clone(), seed: plan.seed, stages };
        fs::write(self.run_dir.join("run.json"), serde_json::to_vec_pretty(&report).map_err(io::Error::other)?)?;
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
    let rows: Vec<[String; 6]> = report
        .stages
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
    fn tables_align() {
        let rows = [["decode".to_string(), "ran".to_string()], ["a".to_string(), "cached".to_string()]];
        assert_eq!(render_table(&["stage", "status"], &rows), "stage   status\ndecode  ran\na       cached\n");
    }
}
