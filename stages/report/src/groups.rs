//! Scores by group (`evaluate`'s `by`): each model's scored clips split by a manifest column of
//! the audio input (`sex`, `speaker`, `corpus`, a table's own), for the per-group results
//! papers report: gender-wise accuracy, which speakers a model fails, each corpus of a merged
//! test set. Each group is scored as a whole set is (the same confusion-matrix metrics, over
//! the classes present in the group).
//!
//! Files: `report/<model>/by_<column>.csv` (`<column>,clips,accuracy,macro_f1,weighted_f1,uar`,
//! a row per value, in natural order (see [`Natural`]); clips with no value are `(none)`) and `report/by_<column>.csv`
//! (the same with an `input` column first, every model's rows); with figures, `report/by_<column>.png`
//! (and `.svg`): each model's UAR in each group (see [`crate::plot::groups`]).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use vox_api::Input;
use vox_api::audio::{AudioSet, CLEAN, CONDITION};
use vox_api::labels::LabelSet;

use crate::error::ReportError;
use crate::files::write_csv;
use crate::plot::groups::{GroupSeries, GroupsFigure, MAX_GROUPS};
use crate::plot::{self, ImageFormat};
use crate::metrics::{Confusion, Scores};

/// What a clip with no value in the column is grouped as.
const NONE: &str = "(none)";

/// Each `by` column's value of every clip of the audio input.
#[derive(Debug, Default)]
pub struct Groups {
    /// The audio input's name, for errors.
    input: String,
    /// Per column (in `by` order): clip id -> value.
    columns: Vec<(String, HashMap<String, String>)>,
}

/// One group's scores.
#[derive(Clone, Debug, PartialEq)]
pub struct GroupScore {
    /// The column.
    pub column: String,
    /// Its value (`(none)` for clips without one).
    pub value: String,
    /// Clips scored.
    pub clips: u64,
    /// Accuracy, macro-F1, weighted-F1, UAR.
    pub metrics: [f64; 4],
}

impl Groups {
    /// The values of `by`'s columns in the manifest of `audio` (one set, or the folds of a
    /// cross-validated one: the union of their clips, the first fold's value where several
    /// have a clip); a column no clip has is an error naming the ones they have.
    pub fn read(audio: &[&Input], by: &[String]) -> Result<Self, ReportError> {
        let mut clips = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for input in audio {
            let manifest = AudioSet::read_manifest(&input.dir)?;
            clips.extend(manifest.clips.into_iter().filter(|c| seen.insert(c.file_id.clone())));
        }
        let name = audio.first().map_or_else(String::new, |a| a.fold.as_ref().map_or(a.name.clone(), |f| f.of.clone()));
        let mut columns = Vec::with_capacity(by.len());
        for column in by {
            let values: HashMap<String, String> = clips.iter().map(|c| (c.file_id.clone(), c.column(column))).collect();
            if !clips.is_empty() && values.values().all(String::is_empty) {
                let have = vox_api::audio::columns_with_values(&clips)
                    .into_iter()
                    .filter(|c| !matches!(c.as_str(), "file_id" | "label" | "split"))
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(ReportError::NoGroupColumn { column: column.clone(), input: name, have });
            }
            columns.push((column.clone(), values));
        }
        Ok(Self { input: name, columns })
    }

    /// Whether no column was asked for.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The scores of model `model`'s scored clips (`(file_id, truth, predicted)`, indices into
    /// `labels`) by every column, each column's groups in natural order; in the `condition`
    /// column `clean` comes first, as the baseline each condition is read against.
    pub fn score(&self, model: &str, labels: &LabelSet, clips: &[(&str, usize, usize)]) -> Result<Vec<GroupScore>, ReportError> {
        let mut scores = Vec::new();
        for (column, values) in &self.columns {
            let mut pairs: BTreeMap<Natural, Vec<(usize, usize)>> = BTreeMap::new();
            for &(file_id, truth, predicted) in clips {
                pairs.entry(Natural(self.lookup(values, model, file_id)?)).or_default().push((truth, predicted));
            }
            let clean_first = column == CONDITION;
            let (clean, rest): (Vec<_>, Vec<_>) = pairs.into_iter().partition(|(Natural(value), _)| clean_first && *value == CLEAN);
            for (Natural(value), pairs) in clean.into_iter().chain(rest) {
                let s = Scores::new(&Confusion::from_pairs(labels, &pairs));
                scores.push(GroupScore {
                    column: column.clone(),
                    value: value.to_string(),
                    clips: s.clips,
                    metrics: [s.accuracy, s.macro_f1, s.weighted_f1, s.uar],
                });
            }
        }
        Ok(scores)
    }

    /// The group of clip `file_id` (scored by `model`) in the `c`-th column.
    pub fn value(&self, c: usize, model: &str, file_id: &str) -> Result<&str, ReportError> {
        self.lookup(&self.columns[c].1, model, file_id)
    }

    /// The group of `file_id` in one column's `values`: its value, `(none)` when empty.
    fn lookup<'a>(&self, values: &'a HashMap<String, String>, model: &str, file_id: &str) -> Result<&'a str, ReportError> {
        let value = values.get(file_id).ok_or_else(|| ReportError::ClipNotInAudio {
            model: model.to_string(),
            file_id: file_id.to_string(),
            input: self.input.clone(),
        })?;
        Ok(group_of(value))
    }

    /// The columns, in `by` order.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|(c, _)| c.as_str())
    }
}

/// The group a clip with `value` in a column is in: the value, `(none)` when empty (the maps of
/// `feature_maps` colour by the same groups).
pub(crate) fn group_of(value: &str) -> &str {
    if value.is_empty() { NONE } else { value }
}

/// A group's value ordered as people read numbers in it: `speaker 2` before `speaker 10`,
/// `noise -5 dB` before `noise 0 dB` before `noise 10 dB`, `speed 0.85` before `speed 0.9`.
/// Values split into runs of text and numbers (digits with an optional fraction, negative
/// where a `-` starts the value or follows a space or `(`: the `-` inside `03-01` is text);
/// numbers compare by value and come before text; values equal so far (`02` and `2`) by
/// their bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Natural<'a>(pub(crate) &'a str);

/// One run of a [`Natural`] value.
#[derive(Debug, PartialEq)]
enum Run<'a> {
    Number(f64),
    Text(&'a str),
}

impl<'a> Natural<'a> {
    fn runs(self) -> Vec<Run<'a>> {
        let s = self.0;
        let bytes = s.as_bytes();
        let mut runs = Vec::new();
        let (mut i, mut text_start) = (0, 0);
        while i < bytes.len() {
            let signed = bytes[i] == b'-'
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)
                && (i == 0 || matches!(bytes[i - 1], b' ' | b'('));
            if !(bytes[i].is_ascii_digit() || signed) {
                i += 1;
                continue;
            }
            if text_start < i {
                runs.push(Run::Text(&s[text_start..i]));
            }
            let start = i;
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            // Digits with at most one `.` between digits always parse.
            runs.push(Run::Number(s[start..i].parse().unwrap_or(f64::INFINITY)));
            text_start = i;
        }
        if text_start < bytes.len() {
            runs.push(Run::Text(&s[text_start..]));
        }
        runs
    }
}

impl Ord for Natural<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.runs(), other.runs());
        for (x, y) in a.iter().zip(&b) {
            let order = match (x, y) {
                (Run::Number(x), Run::Number(y)) => x.total_cmp(y),
                (Run::Number(_), Run::Text(_)) => Ordering::Less,
                (Run::Text(_), Run::Number(_)) => Ordering::Greater,
                (Run::Text(x), Run::Text(y)) => x.cmp(y),
            };
            if order != Ordering::Equal {
                return order;
            }
        }
        a.len().cmp(&b.len()).then_with(|| self.0.cmp(other.0))
    }
}

impl PartialOrd for Natural<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The cells of one group's row after its value: clips, then the four metrics.
fn cells(score: &GroupScore) -> impl Iterator<Item = String> {
    std::iter::once(score.clips.to_string()).chain(score.metrics.iter().map(f64::to_string))
}

/// The metric columns after the group's value.
const METRICS: [&str; 5] = ["clips", "accuracy", "macro_f1", "weighted_f1", "uar"];

/// Writes one model's `by_<column>.csv` files into `dir`.
pub fn write_model(dir: &Path, columns: impl Iterator<Item = impl AsRef<str>>, scores: &[GroupScore]) -> Result<(), ReportError> {
    for column in columns {
        let column = column.as_ref();
        let header: Vec<&str> = std::iter::once(column).chain(METRICS).collect();
        let rows = scores.iter().filter(|s| s.column == column).map(|s| std::iter::once(s.value.clone()).chain(cells(s)).collect::<Vec<_>>());
        write_csv(&dir.join(vox_api::summary::by_file(column)), &header, rows)?;
    }
    Ok(())
}

/// Writes `report_dir/by_<column>.csv`: every model's groups, model by model.
pub fn write_all<'a>(
    report_dir: &Path,
    columns: impl Iterator<Item = &'a str>,
    models: &[(&str, &[GroupScore])],
) -> Result<(), ReportError> {
    for column in columns {
        let header: Vec<&str> = ["input", column].into_iter().chain(METRICS).collect();
        let rows = models.iter().flat_map(|(model, scores)| {
            scores
                .iter()
                .filter(|s| s.column == column)
                .map(|s| [model.to_string(), s.value.clone()].into_iter().chain(cells(s)).collect::<Vec<_>>())
        });
        write_csv(&report_dir.join(vox_api::summary::by_file(column)), &header, rows)?;
    }
    Ok(())
}

/// Draws `report_dir/by_<column>.<format>`: every model's UAR in each group of each column,
/// the groups in natural order; a column of more than [`MAX_GROUPS`] groups is left to its table.
pub fn draw_all<'a>(
    report_dir: &Path,
    columns: impl Iterator<Item = &'a str>,
    models: &[(&str, &[GroupScore])],
    split: &str,
    formats: &[ImageFormat],
) -> Result<(), ReportError> {
    if formats.is_empty() {
        return Ok(());
    }
    for column in columns {
        let mut values: Vec<&str> =
            models.iter().flat_map(|(_, scores)| scores.iter().filter(|s| s.column == column).map(|s| s.value.as_str())).collect();
        values.sort_by(|a, b| Natural(a).cmp(&Natural(b)));
        values.dedup();
        if values.is_empty() {
            continue;
        }
        if values.len() > MAX_GROUPS {
            tracing::info!("`{column}` has {} groups, more than a figure shows ({MAX_GROUPS}): see by_{column}.csv", values.len());
            continue;
        }
        let series = models
            .iter()
            .map(|(model, scores)| GroupSeries {
                model: model.to_string(),
                values: values
                    .iter()
                    .map(|v| scores.iter().find(|s| s.column == column && s.value == *v).map(|s| s.metrics[3]))
                    .collect(),
            })
            .collect();
        let figure = GroupsFigure {
            title: format!("UAR on `{split}` by {column}"),
            metric: "UAR".into(),
            groups: values.iter().map(|v| v.to_string()).collect(),
            series,
        };
        plot::save(&figure, report_dir, &format!("by_{column}"), formats)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use vox_api::ArtifactKind;
    use vox_api::audio::{Clip, Split};

    use super::*;

    fn clip(id: &str, sex: &str, speaker: &str) -> Clip {
        Clip {
            file_id: id.into(),
            corpus: "lab".into(),
            speaker: speaker.into(),
            sex: sex.into(),
            label: None,
            intensity: String::new(),
            statement: String::new(),
            repetition: String::new(),
            split: Split::None,
            source: format!("{id}.wav"),
            sample_rate: 16000,
            offset: 0,
            length: 0,
            original_length: 0,
            extra: Default::default(),
        }
    }

    fn groups(by: &[&str]) -> Result<Groups, String> {
        let dir = tempfile::tempdir().unwrap();
        let labels = LabelSet::from_names(["a", "b"]).unwrap();
        let clips = [clip("1", "f", "s1"), clip("2", "f", "s1"), clip("3", "m", "s2"), clip("4", "", "s2"), clip("5", "m", "s3")];
        AudioSet::write_manifest(&labels, &clips, dir.path()).unwrap();
        let input = Input::new("padded", ArtifactKind::Audio, dir.path());
        Groups::read(&[&input], &by.iter().map(|c| c.to_string()).collect::<Vec<_>>()).map_err(|e| e.to_string())
    }

    #[test]
    fn each_value_is_scored_as_a_set_of_its_own() {
        let groups = groups(&["sex", "speaker"]).unwrap();
        let labels = LabelSet::from_names(["a", "b"]).unwrap();
        // Truth, prediction: 1 a->a, 2 b->a, 3 b->b, 4 a->b, 5 a->a.
        let scored = [("1", 0, 0), ("2", 1, 0), ("3", 1, 1), ("4", 0, 1), ("5", 0, 0)];
        let scores = groups.score("rf", &labels, &scored).unwrap();
        let rows: Vec<(&str, &str, u64, f64)> =
            scores.iter().map(|s| (s.column.as_str(), s.value.as_str(), s.clips, s.metrics[0])).collect();
        assert_eq!(
            rows,
            [("sex", "(none)", 1, 0.0), ("sex", "f", 2, 0.5), ("sex", "m", 2, 1.0), ("speaker", "s1", 2, 0.5), ("speaker", "s2", 2, 0.5), ("speaker", "s3", 1, 1.0)]
        );
        // f: a->a, b->a: recall a 1, b 0 (UAR 0.5); F1 a 2/3, b 0 (macro 1/3).
        let f = &scores[1];
        assert!((f.metrics[1] - 1.0 / 3.0).abs() < 1e-12 && (f.metrics[3] - 0.5).abs() < 1e-12, "{f:?}");

        let error = groups.score("rf", &labels, &[("9", 0, 0)]).unwrap_err().to_string();
        assert_eq!(error, "`by`: clip `9` scored by `rf` is not in audio input `padded` (give `evaluate` the audio set the models' clips come from)");
    }

    #[test]
    fn the_clean_condition_comes_first_and_only_in_the_condition_column() {
        let labels = LabelSet::from_names(["a", "b"]).unwrap();
        let values = [("1", "noise 0 dB"), ("2", "clean"), ("3", "band 300-3400 Hz"), ("4", "gain -6 dB")];
        let map: HashMap<String, String> = values.iter().map(|&(id, v)| (id.to_string(), v.to_string())).collect();
        let groups = Groups { input: "degraded".into(), columns: vec![(CONDITION.into(), map.clone()), ("room".into(), map)] };
        let scored = [("1", 0, 0), ("2", 1, 0), ("3", 1, 1), ("4", 0, 1)];
        let order: Vec<(String, String)> = groups.score("rf", &labels, &scored).unwrap().into_iter().map(|s| (s.column, s.value)).collect();
        let expected = |column: &str, values: [&str; 4]| values.map(|v| (column.to_string(), v.to_string()));
        let mut all = expected(CONDITION, ["clean", "band 300-3400 Hz", "gain -6 dB", "noise 0 dB"]).to_vec();
        all.extend(expected("room", ["band 300-3400 Hz", "clean", "gain -6 dB", "noise 0 dB"]));
        assert_eq!(order, all);
    }

    /// The figure has a row per group in natural order, a dot per model and group scored, and
    /// a legend; a column of more groups than a figure shows is left to its table.
    #[test]
    fn figures_draw_each_models_uar_per_group() {
        let dir = tempfile::tempdir().unwrap();
        let score = |value: &str, uar| GroupScore { column: "condition".into(), value: value.into(), clips: 4, metrics: [0.5, 0.5, 0.5, uar] };
        let rf = [score("noise 10 dB", 0.5), score("clean", 0.9), score("noise -5 dB", 0.2)];
        let lr = [score("clean", 0.8), score("noise 10 dB", 0.4)];
        draw_all(dir.path(), ["condition"].into_iter(), &[("rf", &rf), ("lr", &lr)], "test", &[ImageFormat::Svg]).unwrap();
        let svg = std::fs::read_to_string(dir.path().join("by_condition.svg")).unwrap();
        assert!(svg.contains("UAR on `test` by condition"), "title");
        // The height at which `text` is written (smaller is higher up).
        let at = |text: &str| {
            let end = svg.find(&format!("\n{text}\n</text>")).unwrap_or_else(|| panic!("{text} not drawn"));
            let tag = &svg[svg[..end].rfind("<text").unwrap()..end];
            let y = &tag[tag.find(" y=\"").unwrap() + 4..];
            y[..y.find('"').unwrap()].parse::<f64>().unwrap()
        };
        assert!(at("clean") < at("noise -5 dB") && at("noise -5 dB") < at("noise 10 dB"), "rows in natural order, top down");
        assert!(at("noise 10 dB") < at("rf") && at("rf") < at("lr"), "the legend below, in model order");
        // Five dots: rf in three groups, lr in two, and two legend dots.
        assert_eq!(svg.matches("<circle").count(), 7, "{svg}");

        let many: Vec<GroupScore> = (0..=MAX_GROUPS).map(|i| GroupScore { value: format!("s{i}"), ..score("", 0.5) }).collect();
        let other = tempfile::tempdir().unwrap();
        draw_all(other.path(), ["condition"].into_iter(), &[("rf", &many)], "test", &[ImageFormat::Svg]).unwrap();
        assert!(!other.path().join("by_condition.svg").exists());
    }

    #[test]
    fn groups_are_in_natural_order() {
        let mut values = vec![
            "speed 0.9", "noise 10 dB (pink)", "clean", "noise -5 dB (pink)", "noise 0 dB (pink)", "speed 0.85",
            "noise 5 dB (pink)", "-10", "2", "10", "02", "03-01-10", "03-01-9", "(none)", "gain -6 dB", "gain 6 dB",
        ];
        values.sort_by(|a, b| Natural(a).cmp(&Natural(b)));
        assert_eq!(
            values,
            [
                "-10", "02", "2", "03-01-9", "03-01-10", "10", "(none)", "clean", "gain -6 dB", "gain 6 dB",
                "noise -5 dB (pink)", "noise 0 dB (pink)", "noise 5 dB (pink)", "noise 10 dB (pink)", "speed 0.85", "speed 0.9",
            ]
        );
    }

    #[test]
    fn a_column_no_clip_has_names_those_they_have() {
        assert_eq!(
            groups(&["gender"]).unwrap_err(),
            "`by`: no clip of audio input `padded` has a `gender` (its clips have `corpus`, `speaker`, `sex`, `source`)"
        );
    }

    #[test]
    fn files_hold_a_row_per_group() {
        let dir = tempfile::tempdir().unwrap();
        let score = |value: &str, clips| GroupScore { column: "sex".into(), value: value.into(), clips, metrics: [0.5, 0.25, 0.75, 1.0] };
        let scores = [score("f", 2), score("m", 3)];
        write_model(dir.path(), ["sex"].iter(), &scores).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("by_sex.csv")).unwrap(),
            "sex,clips,accuracy,macro_f1,weighted_f1,uar\nf,2,0.5,0.25,0.75,1\nm,3,0.5,0.25,0.75,1\n"
        );
        write_all(dir.path(), ["sex"].into_iter(), &[("rf", &scores[..1]), ("lr", &scores[1..])]).unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("by_sex.csv")).unwrap(),
            "input,sex,clips,accuracy,macro_f1,weighted_f1,uar\nrf,f,2,0.5,0.25,0.75,1\nlr,m,3,0.5,0.25,0.75,1\n"
        );
    }
}
