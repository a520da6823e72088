//! The `normalize` stage kind: each group of clips (a speaker's, a corpus's, a session's)
//! z-scored by its own feature statistics. Speaker normalization is how speaker-independent SER
//! protocols (leave-one-speaker-out, leave-one-session-out) usually remove who is speaking from
//! the features before a classifier sees them: a speaker's pitch, loudness and timbre move every
//! feature of every clip of theirs, while an emotion moves them around the speaker's own
//! baseline. Normalizing by corpus does the same for corpora recorded apart (cross-corpus work).
//!
//! A group's statistics come from all of its clips, whatever their split: a held-out speaker is
//! normalized by their own recordings, which is what the method means, and reads no label (the
//! stage never reads labels). Per feature: `(x - mean) / std` over the group (the population
//! std, as scikit-learn's `StandardScaler`), or `x - mean` with `scale = false`; a feature
//! constant within a group is only centred (scikit-learn's test for a constant, so that a
//! rounding-error std never blows a constant up into noise).
//!
//! Clips with no value in the column (the unlabeled clips of a corpus without speaker ids)
//! are normalized together as one group, said in a warning. `vox predict` groups new clips the
//! same way, by their own values (a table's `speaker` column), never by the run's statistics (a
//! new recording's speaker is not one of the run's); new clips with no value are grouped by
//! their recording where `--window` cut them, else all together. A group of one clip is an
//! error: its own statistics would set every feature to 0.
//!
//! Outputs: `features.csv` + `manifest.csv` + `classes.csv` (the input's clips in its order,
//! the normalized values), `standardization.csv` over the normalized train clips (what models
//! downstream scale by, as after `featurize`), and `report/normalize.txt` listing the groups.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::{Clip, Split, columns_with_values};
use vox_api::features::FeatureTable;
use vox_api::{Applied, Applies, ApplyContext, ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

use crate::error::FeaturesError;
use crate::standardization;

/// The summary's file name under `report/`.
const SUMMARY: &str = "normalize.txt";

/// Normalizes the features of each group of clips (each speaker's, by default) by the group's
/// own mean and standard deviation, over all of the group's clips whatever their split
/// (speaker normalization). Also writes `standardization.csv` over the normalized train clips.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, into = "Keyed")]
pub struct Normalize {
    /// The manifest column whose values are the groups: `speaker` (speaker normalization),
    /// `corpus` (each corpus apart, for cross-corpus work), `session`, or a table's own column;
    /// or several, whose combinations are the groups (`["speaker", "condition"]`: each
    /// speaker's clips of each recording condition apart, after `degrade`).
    #[serde(default = "default_by")]
    pub by: GroupBy,
    /// Divide by each group's standard deviation (z-scores); `false` only subtracts each
    /// group's mean.
    #[serde(default = "default_scale")]
    pub scale: bool,
}

/// One manifest column, or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum GroupBy {
    /// One column.
    One(String),
    /// Several columns: a group per combination of their values.
    Many(Vec<String>),
}

impl GroupBy {
    /// The columns, in order.
    fn columns(&self) -> Vec<&str> {
        match self {
            Self::One(c) => vec![c.as_str()],
            Self::Many(cs) => cs.iter().map(String::as_str).collect(),
        }
    }
}

impl fmt::Display for GroupBy {
    /// `` `speaker` ``, `` `speaker` and `condition` ``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<String> = self.columns().iter().map(|c| format!("`{c}`")).collect();
        match quoted.split_last() {
            Some((last, rest)) if !rest.is_empty() => write!(f, "{} and {last}", rest.join(", ")),
            _ => f.write_str(&quoted.concat()),
        }
    }
}

/// The params as the cache key and the run's record see them: a list of one column keys as
/// that column, so that `by = ["speaker"]` and `by = "speaker"` are one key.
#[derive(Debug, Clone, Serialize, JsonSchema)]
struct Keyed {
    by: GroupBy,
    scale: bool,
}

impl From<Normalize> for Keyed {
    fn from(n: Normalize) -> Self {
        let by = match n.by {
            GroupBy::Many(mut cs) if cs.len() == 1 => GroupBy::One(cs.remove(0)),
            by => by,
        };
        Self { by, scale: n.scale }
    }
}

fn default_by() -> GroupBy {
    GroupBy::One("speaker".into())
}

fn default_scale() -> bool {
    true
}

/// Why a column cannot be a group, if it cannot.
fn refused(by: &str) -> Option<String> {
    Some(match by {
        "" => "must name a manifest column (`speaker`, `corpus`, `session`, ...)".into(),
        _ if by.contains(',') => format!(
            "`{by}` is one name with a comma: several columns are a list, `by = [{}]` (on the command line, `--set 'STAGE.by=[{}]'`)",
            by.split(',').map(|c| format!("\"{}\"", c.trim())).collect::<Vec<_>>().join(", "),
            by.split(',').map(|c| format!("\"{}\"", c.trim())).collect::<Vec<_>>().join(",")
        ),
        "label" => "`label`: normalizing each class by its own statistics would hand models their answer".into(),
        "file_id" => "`file_id`: each clip would be a group of its own, every feature 0".into(),
        "split" => "`split`: each split is not a group of recordings (models already standardize by the train clips' statistics)".into(),
        "sample_rate" | "offset" | "length" | "original_length" | "start" | "end" | "trim_start" | "trim_end"
        | vox_api::windows::START | vox_api::windows::END => format!("`{by}` is a position in the audio, not a group"),
        _ => return None,
    })
}

/// Which group a clip is normalized with.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    /// Its values in the columns (some may be empty, not all).
    Value(Vec<String>),
    /// New clips with no value, cut from one recording by `vox predict --window`.
    Recording(String),
    /// The clips with no value (and no recording).
    Unknown,
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(v) => {
                let parts: Vec<&str> = v.iter().map(|p| if p.is_empty() { "(none)" } else { p.as_str() }).collect();
                f.write_str(&parts.join(" / "))
            }
            Self::Recording(r) => write!(f, "recording {r}"),
            Self::Unknown => f.write_str("(none)"),
        }
    }
}

/// The group of each clip by the columns `by`: its values where it has any, else its
/// recording (windows), else [`Group::Unknown`].
fn groups(clips: &[Clip], by: &[&str]) -> Vec<Group> {
    clips
        .iter()
        .map(|clip| {
            let values: Vec<String> = by.iter().map(|c| clip.column(c)).collect();
            if values.iter().any(|v| !v.is_empty()) {
                return Group::Value(values);
            }
            match clip.extra.get(vox_api::windows::RECORDING) {
                Some(recording) => Group::Recording(recording.clone()),
                None => Group::Unknown,
            }
        })
        .collect()
}

/// Whether a feature with variance `var` and mean `mean` over `n` values is constant up to
/// rounding: scikit-learn's `_is_constant_feature`, whose bound is the error of computing the
/// variance of `n` equal values.
fn is_constant(var: f64, mean: f64, n: f64) -> bool {
    let eps = f64::EPSILON;
    var <= n * eps * var + (n * mean * eps).powi(2)
}

/// Normalizes `rows` (one group's) in place: per feature, minus the mean and, with `scale`,
/// divided by the population std unless the feature is constant.
fn normalize_group(rows: &mut [&mut Vec<f64>], scale: bool) {
    let n = rows.len() as f64;
    let width = rows.first().map_or(0, |r| r.len());
    for j in 0..width {
        let mean = rows.iter().map(|r| r[j]).sum::<f64>() / n;
        let var = rows.iter().map(|r| (r[j] - mean) * (r[j] - mean)).sum::<f64>() / n;
        let divisor = if scale && !is_constant(var, mean, n) { var.sqrt() } else { 1.0 };
        for row in rows.iter_mut() {
            row[j] = (row[j] - mean) / divisor;
        }
    }
}

/// The group sizes of a normalized table, for the summary and the warnings.
struct Normalized {
    table: FeatureTable,
    /// Each group with its clips' splits, in group order.
    groups: BTreeMap<Group, Vec<Split>>,
}

impl StageDef for Normalize {
    const KIND: &'static str = "normalize";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Features]);
    const OUTPUT: ArtifactKind = ArtifactKind::Features;
    const APPLIES: Applies = Applies::Yes;

    fn validate(&self) -> Result<(), ParamError> {
        let columns = self.by.columns();
        if columns.is_empty() {
            return Err(ParamError::new("by", "must name a manifest column (`speaker`, `corpus`, `session`, ...) or several"));
        }
        if let Some(why) = columns.iter().find_map(|c| refused(c)) {
            return Err(ParamError::new("by", why));
        }
        if let Some((i, twice)) = columns.iter().enumerate().find(|(i, c)| columns[..*i].contains(c)) {
            return Err(ParamError::new("by", format!("`{twice}` is listed twice (column {})", i + 1)));
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let table = FeatureTable::read(&ctx.input().dir).map_err(FeaturesError::from)?;
        let normalized = self.normalize(table, false)?;
        if let Some(unknown) = normalized.groups.get(&Group::Unknown) {
            tracing::warn!(
                "{}: {} clip(s) have no {}: normalized together as one group",
                ctx.stage,
                unknown.len(),
                self.by
            );
        }
        normalized.table.write(ctx.out_dir).map_err(FeaturesError::from)?;
        standardization::write(&standardization::compute(&normalized.table), ctx.out_dir)?;
        self.write_summary(ctx, &normalized)?;
        tracing::info!(
            stage = ctx.stage,
            clips = normalized.table.clips.len(),
            groups = normalized.groups.len(),
            by = %self.by,
            "normalized"
        );
        Ok(())
    }

    /// New clips normalized by their own groups' statistics (see the module doc); the run's
    /// `standardization.csv` travels with them, as after `featurize`.
    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError> {
        let table = FeatureTable::read(&ctx.run.input().dir).map_err(FeaturesError::from)?;
        let normalized = self.normalize(table, true)?;
        if let Some(unknown) = normalized.groups.get(&Group::Unknown) {
            let (together, table) = match &self.by {
                GroupBy::One(column) => (format!("one {column}'s"), format!("a `{column}` column")),
                GroupBy::Many(_) => ("one group".to_string(), "those columns".to_string()),
            };
            tracing::warn!(
                "{}: {} new clip(s) have no {}: normalized together as {together} (a table with {table} groups them)",
                ctx.run.stage,
                unknown.len(),
                self.by
            );
        }
        let recordings = normalized.groups.keys().filter(|g| matches!(g, Group::Recording(_))).count();
        if recordings > 0 {
            tracing::info!("{}: windows with no {} normalized by their recording's ({recordings} recording(s))", ctx.run.stage, self.by);
        }
        normalized.table.write(ctx.run.out_dir).map_err(FeaturesError::from)?;
        standardization::copy_trained(ctx.trained, ctx.run.out_dir)?;
        Ok(Applied::Wrote)
    }
}

impl Normalize {
    /// `table` with each group's rows normalized; `new`: the clips are `vox predict`'s.
    fn normalize(&self, mut table: FeatureTable, new: bool) -> Result<Normalized, FeaturesError> {
        let by = self.by.columns();
        if !table.clips.is_empty()
            && !new
            && let Some(missing) = by.iter().find(|c| table.clips.iter().all(|clip| clip.column(c).is_empty()))
        {
            return Err(FeaturesError::NoGroupColumn { column: missing.to_string(), columns: group_columns(&table.clips) });
        }
        let of = groups(&table.clips, &by);
        let mut members: BTreeMap<Group, Vec<usize>> = BTreeMap::new();
        for (i, group) in of.into_iter().enumerate() {
            members.entry(group).or_default().push(i);
        }
        let lone: Vec<(&Group, usize)> =
            members.iter().filter(|(_, clips)| clips.len() == 1).map(|(group, clips)| (group, clips[0])).collect();
        if let Some(&(group, only)) = lone.first() {
            let file_id = table.clips[only].file_id.clone();
            let column = self.by.to_string();
            // `` `speaker` = `07` ``, `` `speaker` = `07` and `condition` = `clean` ``.
            let equal = |values: &[String]| {
                let parts: Vec<String> = by.iter().zip(values).map(|(c, v)| format!("`{c}` = `{v}`")).collect();
                parts.join(" and ")
            };
            return Err(match (new, group) {
                (false, group) => {
                    let group = match group {
                        Group::Value(values) => format!("with {}", equal(values)),
                        _ => format!("with no {column}"),
                    };
                    let others: Vec<String> = lone[1..].iter().map(|&(_, i)| format!("`{}`", table.clips[i].file_id)).collect();
                    let more = match others.len() {
                        0 => String::new(),
                        n => format!(" ({n} more clip(s) are alone in their groups: {})", others.join(", ")),
                    };
                    FeaturesError::LoneClip { file_id, group, more }
                }
                (true, Group::Value(values)) => FeaturesError::LoneNewClip { file_id, group: equal(values), column },
                (true, _) => FeaturesError::LoneUngroupedClip { file_id, column },
            });
        }
        let mut rows: Vec<Option<&mut Vec<f64>>> = table.rows.iter_mut().map(Some).collect();
        let mut groups = BTreeMap::new();
        for (group, clips) in members {
            let mut group_rows: Vec<&mut Vec<f64>> = clips.iter().filter_map(|&i| rows[i].take()).collect();
            normalize_group(&mut group_rows, self.scale);
            groups.insert(group, clips.iter().map(|&i| table.clips[i].split).collect());
        }
        Ok(Normalized { table, groups })
    }

    /// `report/normalize.txt`: how the clips were grouped, for people.
    fn write_summary(&self, ctx: &StageContext, normalized: &Normalized) -> Result<(), FeaturesError> {
        let dir = ctx.report_dir().map_err(|source| FeaturesError::Io { path: ctx.out_dir.join("report"), source })?;
        let Normalized { table, groups } = normalized;
        let how = if self.scale { "mean and std" } else { "mean" };
        let mut text = format!(
            "{} clips x {} features in {} groups by {}: each normalized by its own clips' {how}, whatever their split\n",
            table.clips.len(),
            table.names.len(),
            groups.len(),
            self.by
        );
        let train = table.clips.iter().filter(|c| c.split == Split::Train).count();
        let reference = if train > 0 { format!("the {train} normalized train clips") } else { "all normalized clips (no split)".into() };
        text += &format!("standardization.csv: mean and std over {reference}\n\n");
        let width = groups.keys().map(|g| g.to_string().len()).max().unwrap_or(0).max(5);
        text += &format!("{:<width$}  clips  train  val  test\n", "group");
        for (group, splits) in groups {
            let count = |s: Split| splits.iter().filter(|&&c| c == s).count();
            text += &format!(
                "{:<width$}  {:>5}  {:>5}  {:>3}  {:>4}\n",
                group.to_string(),
                splits.len(),
                count(Split::Train),
                count(Split::Val),
                count(Split::Test)
            );
        }
        let path = dir.join(SUMMARY);
        std::fs::write(&path, text).map_err(|source| FeaturesError::Io { path, source })
    }
}

/// The manifest columns some clip has a value in, for the error naming a column none has.
fn group_columns(clips: &[Clip]) -> String {
    let names = columns_with_values(clips).into_iter().filter(|c| refused(c).is_none());
    names.map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use vox_api::labels::LabelSet;
    use vox_api::{Input, kind};

    use super::*;

    fn clip(id: &str, speaker: &str, split: Split) -> Clip {
        Clip {
            file_id: id.into(),
            corpus: "lab".into(),
            speaker: speaker.into(),
            sex: String::new(),
            label: (split != Split::None).then(|| "calm".into()),
            intensity: String::new(),
            statement: String::new(),
            repetition: String::new(),
            split,
            source: format!("{id}.wav"),
            sample_rate: 16000,
            offset: 0,
            length: 0,
            original_length: 0,
            extra: Default::default(),
        }
    }

    /// Speaker `a` (three clips), `b` (two) and two clips with no speaker; feature `f0` varies,
    /// `c` is 0.1 within each group (a mean that rounds: a naive std of ~1e-17).
    fn table() -> FeatureTable {
        let clips = vec![
            clip("a1", "a", Split::Train),
            clip("b1", "b", Split::Val),
            clip("a2", "a", Split::Train),
            clip("u1", "", Split::None),
            clip("a3", "a", Split::Test),
            clip("b2", "b", Split::Val),
            clip("u2", "", Split::None),
        ];
        let f0 = [100.0, 10.0, 110.0, -1.0, 120.0, 14.0, 3.0];
        let c = [0.1, 0.7, 0.1, 0.3, 0.1, 0.7, 0.3];
        FeatureTable {
            names: vec!["f0".into(), "c".into()],
            labels: LabelSet::from_names(["calm", "sad"]).unwrap(),
            clips,
            rows: f0.iter().zip(c).map(|(&f, c)| vec![f, c]).collect(),
        }
    }

    fn stage(params: toml::Table) -> Box<dyn vox_api::Stage> {
        kind::<Normalize>().configure(params).unwrap()
    }

    fn context<'a>(inputs: &'a [Input], out: &'a Path, scratch: &'a Path, progress: &'a indicatif::MultiProgress) -> StageContext<'a> {
        StageContext {
            stage: "spk",
            inputs,
            out_dir: out,
            scratch_dir: scratch,
            seed: 42,
            backend: None,
            threads: 1,
            progress,
            memo: None,
        }
    }

    /// Runs a `normalize` stage with `params` on `table`; its output folder, or its error.
    fn run(params: toml::Table, table: &FeatureTable) -> Result<tempfile::TempDir, String> {
        let (input, out, scratch) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        table.write(input.path()).unwrap();
        let progress = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
        let inputs = [Input::new("features", ArtifactKind::Features, input.path())];
        stage(params).run(&context(&inputs, out.path(), scratch.path(), &progress)).map_err(|e| e.to_string())?;
        Ok(out)
    }

    fn column(table: &FeatureTable, j: usize) -> Vec<f64> {
        table.rows.iter().map(|r| r[j]).collect()
    }

    #[test]
    fn each_speaker_is_z_scored_by_its_own_clips_whatever_their_split() {
        let out = run(toml::Table::new(), &table()).unwrap();
        let normalized = FeatureTable::read(out.path()).unwrap();
        let input = table();
        assert_eq!(normalized.clips, input.clips);
        assert_eq!(normalized.names, input.names);
        // a: 100, 110, 120 (mean 110, population std sqrt(200/3)); b: 10, 14 (12, 2);
        // no speaker: -1, 3 (1, 2).
        let s = (200.0f64 / 3.0).sqrt();
        let expected = [-10.0 / s, -1.0, 0.0, -1.0, 10.0 / s, 1.0, 1.0];
        for (got, want) in column(&normalized, 0).iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{:?} vs {expected:?}", column(&normalized, 0));
        }
        // Constant within each group: centred, never divided by its rounding-error std.
        assert!(column(&normalized, 1).iter().all(|v| v.abs() < 1e-15), "{:?}", column(&normalized, 1));

        // Standardization over the normalized train clips (a1, a2): -10/s and 0.
        let mut stats = csv::Reader::from_path(out.path().join(standardization::STANDARDIZATION)).unwrap();
        let row = stats.records().next().unwrap().unwrap();
        assert_eq!(&row[0], "f0");
        let (mean, std): (f64, f64) = (row[1].parse().unwrap(), row[2].parse().unwrap());
        assert!((mean + 5.0 / s).abs() < 1e-12 && (std - 5.0 / s).abs() < 1e-12, "{mean} {std}");

        let summary = std::fs::read_to_string(out.path().join("report").join(SUMMARY)).unwrap();
        assert_eq!(
            summary,
            "7 clips x 2 features in 3 groups by `speaker`: each normalized by its own clips' mean and std, whatever their split\n\
             standardization.csv: mean and std over the 2 normalized train clips\n\n\
             group   clips  train  val  test\n\
             a           3      2    0     1\n\
             b           2      0    2     0\n\
             (none)      2      0    0     0\n"
        );
    }

    #[test]
    fn without_scale_only_the_mean_is_removed_and_any_column_groups() {
        let params = toml::toml! { scale = false };
        let out = run(params, &table()).unwrap();
        let values = column(&FeatureTable::read(out.path()).unwrap(), 0);
        assert_eq!(values, [-10.0, -2.0, 0.0, -2.0, 10.0, 2.0, 2.0]);

        // By corpus: one corpus, so the whole table's statistics.
        let mut input = table();
        input.clips[3].corpus = "other".into();
        input.clips[6].corpus = "other".into();
        let out = run(toml::toml! { by = "corpus"  scale = false }, &input).unwrap();
        let mean_lab = (100.0 + 10.0 + 110.0 + 120.0 + 14.0) / 5.0;
        let values = column(&FeatureTable::read(out.path()).unwrap(), 0);
        assert_eq!(values, [100.0 - mean_lab, 10.0 - mean_lab, 110.0 - mean_lab, -2.0, 120.0 - mean_lab, 14.0 - mean_lab, 2.0]);
    }

    #[test]
    fn a_lone_clip_a_missing_column_and_columns_that_are_no_groups_are_refused() {
        let mut input = table();
        input.clips[5].speaker = "c".into();
        assert_eq!(
            run(toml::Table::new(), &input).unwrap_err(),
            "clip `b1` is the only one with `speaker` = `b`: normalized by its own statistics every feature would be 0 \
             (give its group more clips, leave it out upstream, or normalize `by` another column) \
             (1 more clip(s) are alone in their groups: `b2`)"
        );
        input.clips[5].speaker = "b".into();
        input.clips[6].speaker = "b".into();
        assert!(run(toml::Table::new(), &input).unwrap_err().starts_with("clip `u1` is the only one with no `speaker`: "));

        let mut input = table();
        input.clips[0].extra.insert("session".into(), "S1".into());
        for clip in &mut input.clips {
            clip.speaker.clear();
        }
        assert_eq!(
            run(toml::toml! { by = "sesion" }, &input).unwrap_err(),
            "no clip has a `sesion` to normalize by (the clips have `corpus`, `source`, `session`)"
        );

        let problem = |by: &str| kind::<Normalize>().configure(toml::toml! { by = by }).err().unwrap();
        let error = problem("label");
        assert_eq!((error.path.as_str(), error.message.as_str()), ("by", "`label`: normalizing each class by its own statistics would hand models their answer"));
        assert_eq!(problem("length").message, "`length` is a position in the audio, not a group");
        assert_eq!(problem("start").message, "`start` is a position in the audio, not a group");
        assert_eq!(problem("").message, "must name a manifest column (`speaker`, `corpus`, `session`, ...)");
    }

    /// `vox predict`'s clips: `speaker` where a table gives one, else their recording (windows),
    /// else one group; the run's standardization travels with them.
    #[test]
    fn new_clips_are_grouped_by_speaker_then_recording_then_together() {
        let window = |id: &str, recording: &str, f0: f64| {
            let mut c = clip(id, "", Split::None);
            c.extra.insert(vox_api::windows::RECORDING.into(), recording.into());
            (c, f0)
        };
        let rows = [
            (clip("s1", "x", Split::None), 1.0),
            window("r_0-1", "r", 10.0),
            (clip("s2", "x", Split::None), 3.0),
            window("r_1-2", "r", 20.0),
            (clip("n1", "", Split::None), 5.0),
            (clip("n2", "", Split::None), 9.0),
        ];
        let new = FeatureTable {
            names: vec!["f0".into()],
            labels: LabelSet::from_names(["calm"]).unwrap(),
            clips: rows.iter().map(|(c, _)| c.clone()).collect(),
            rows: rows.iter().map(|(_, f)| vec![*f]).collect(),
        };
        let apply = |table: &FeatureTable| -> Result<Vec<f64>, String> {
            let (input, out, scratch, trained) =
                (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
            table.write(input.path()).unwrap();
            std::fs::write(trained.path().join(standardization::STANDARDIZATION), "feature,mean,std\nf0,0.5,2\n").unwrap();
            let progress = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
            let inputs = [Input::new("features", ArtifactKind::Features, input.path())];
            let ctx = ApplyContext {
                run: context(&inputs, out.path(), scratch.path(), &progress),
                trained: trained.path(),
                new_audio: &[],
                windows: None,
            };
            stage(toml::Table::new()).apply(&ctx).map_err(|e| e.to_string())?;
            let copied = std::fs::read_to_string(out.path().join(standardization::STANDARDIZATION)).unwrap();
            assert_eq!(copied, "feature,mean,std\nf0,0.5,2\n");
            Ok(column(&FeatureTable::read(out.path()).unwrap(), 0))
        };
        assert_eq!(apply(&new).unwrap(), [-1.0, -1.0, 1.0, 1.0, -1.0, 1.0]);

        let mut alone = new.clone();
        alone.clips[2].speaker = "y".into();
        assert!(apply(&alone).unwrap_err().starts_with("new clip `s1` is the only one with `speaker` = `x`: "));
        let one_window = FeatureTable {
            clips: new.clips[..2].to_vec(),
            rows: new.rows[..2].to_vec(),
            ..new.clone()
        };
        let message = apply(&one_window).unwrap_err();
        assert!(message.starts_with("new clip `s1`"), "{message}");
        let one_window = FeatureTable { clips: vec![new.clips[1].clone()], rows: vec![new.rows[1].clone()], ..new.clone() };
        assert_eq!(
            apply(&one_window).unwrap_err(),
            "new clip `r_0-1` has no `speaker` and no other clip to be normalized with: by its own statistics every \
             feature would be 0 (give `vox predict` several clips in a table with a `speaker` column, or cut a long \
             recording into windows with `--window`)"
        );
    }

    #[test]
    fn the_key_holds_the_column_and_the_scale() {
        assert_eq!(stage(toml::Table::new()).params(), serde_json::json!({ "by": "speaker", "scale": true }));
        assert_eq!(stage(toml::toml! { by = ["speaker"] }).params(), stage(toml::Table::new()).params(), "a list of one is that column");
        assert_eq!(
            stage(toml::toml! { by = ["speaker", "condition"] }).params(),
            serde_json::json!({ "by": ["speaker", "condition"], "scale": true })
        );
    }

    /// Several columns: a group per combination (each speaker's clips of each condition apart),
    /// named by both in the summary and the errors.
    #[test]
    fn several_columns_group_by_their_combinations() {
        let mut input = table();
        for (clip, condition) in input.clips.iter_mut().zip(["clean", "clean", "noisy", "clean", "noisy", "clean", "clean"]) {
            clip.extra.insert("condition".into(), condition.into());
        }
        input.clips[3].speaker = "b".into();
        input.clips[6].speaker = "b".into();
        let lone = run(toml::toml! { by = ["speaker", "condition"] }, &input).unwrap_err();
        assert!(
            lone.starts_with("clip `a1` is the only one with `speaker` = `a` and `condition` = `clean`: "),
            "{lone}"
        );
        input.clips[0].extra.insert("condition".into(), "noisy".into());
        let out = run(toml::toml! { by = ["speaker", "condition"]  scale = false }, &input).unwrap();
        // a/noisy: a1, a2, a3 (100, 110, 120); b/clean: b1, u1, b2, u2 (10, -1, 14, 3).
        let values = column(&FeatureTable::read(out.path()).unwrap(), 0);
        assert_eq!(values, [-10.0, 3.5, 0.0, -7.5, 10.0, 7.5, -3.5]);
        let summary = std::fs::read_to_string(out.path().join("report/normalize.txt")).unwrap();
        assert!(summary.starts_with("7 clips x 2 features in 2 groups by `speaker` and `condition`: "), "{summary}");
        assert!(summary.contains("\na / noisy      3      2    0     1\nb / clean      4      0    2     0\n"), "{summary}");

        let problem = |by: toml::Table| kind::<Normalize>().configure(by).err().unwrap().message;
        assert_eq!(problem(toml::toml! { by = ["speaker", "speaker"] }), "`speaker` is listed twice (column 2)");
        assert_eq!(problem(toml::toml! { by = ["speaker", "label"] }), "`label`: normalizing each class by its own statistics would hand models their answer");
        assert!(problem(toml::toml! { by = [] }).starts_with("must name a manifest column"));
        assert_eq!(
            problem(toml::toml! { by = "speaker,condition" }),
            "`speaker,condition` is one name with a comma: several columns are a list, `by = [\"speaker\", \"condition\"]` \
             (on the command line, `--set 'STAGE.by=[\"speaker\",\"condition\"]'`)"
        );
        assert_eq!(
            run(toml::toml! { by = ["speaker", "conditon"] }, &input).unwrap_err(),
            "no clip has a `conditon` to normalize by (the clips have `corpus`, `speaker`, `source`, `condition`)"
        );
    }
}
