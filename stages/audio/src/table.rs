//! A corpus described by a table (`corpus = "csv"`): one row per clip, read into [`Source`]s.
//!
//! The table is a CSV or TSV file inside the input folder (the `table` param; tab-separated
//! when its name ends in `.tsv` or `.tab`, or when its header has tabs and no commas;
//! semicolon-separated when its header has semicolons and neither, as Excel writes CSV where
//! the decimal mark is a comma, which such a table's `start` and `end` may then use). Each
//! field of a clip comes from a column; the `columns` param names them, and a field it leaves
//! unset comes from the first of its default columns that the table has:
//!
//! | field | default columns | |
//! |---|---|---|
//! | `path` | `file`, `path` | required: the audio file, relative to the table's folder |
//! | `label` | `label`, `emotion` | the corpus's label word; empty only for test rows |
//! | `speaker` | `speaker` | |
//! | `split` | `split`, `set` | `train`/`training`, `val`/`valid`/`validation`/`dev`/`devel`/`development`, `test`, or empty |
//! | `sex` | `sex`, `gender` | `m`/`male`, `f`/`female` (any case), or empty |
//! | `corpus` | `corpus` | else the table file's name without extension |
//! | `id` | `id`, `file_id` | the clip id; else the file name without extension, then `_ch<N>` for a channel and `_<start>-<end>` for a segment |
//! | `start`, `end` | `start`, `end` | seconds, `HH:MM:SS.fff`, or audformat's `0 days 00:00:01.500000`; empty or `NaT`: the file's start or end |
//! | `channel` | `channel` | the file's channel that is the clip, 1-based (a call's two speakers on two channels); empty: the stage's `channel`, else the channels' mean. Kept in the manifest |
//!
//! Every other column is kept in the manifest (`Clip::extra`), e.g. `session` for
//! cross-validation by session. A column that `columns` names but the table lacks, or a table
//! without a path column, fails the stage listing the table's columns. A row with a problem
//! (a missing file, an empty label, an unreadable time, a segment that ends before it starts)
//! is reported with its row number, under the stage's `on_error` policy; clip ids must be
//! unique, and the split column must be filled on every row or none.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::Split;
use vox_api::windows::seconds;

use crate::error::{AudioError, FileError};
use crate::audio_file::Segment;
use crate::sources::{Place, Source, Sources};

/// Which table column holds each field of a clip (`corpus = "csv"` only); unset fields come
/// from their default columns, when the table has them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Columns {
    /// The audio file's path, relative to the table's folder (default `file`, else `path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The label (default `label`, else `emotion`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// The speaker id (default `speaker`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speaker: Option<String>,
    /// The split: train, val (dev) or test (default `split`, else `set`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// The speaker's sex (default `sex`, else `gender`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<String>,
    /// The corpus name (default `corpus`; without one, the table file's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corpus: Option<String>,
    /// The clip id (default `id`, else `file_id`; without one, from the file name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A segment's start in the file (default `start`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// A segment's end in the file (default `end`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// The file's channel that is the clip, 1-based (default `channel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// The fields a column can hold, with their default column names, in `Columns` order.
const FIELDS: [(&str, &[&str]); 10] = [
    ("path", &["file", "path"]),
    ("label", &["label", "emotion"]),
    ("speaker", &["speaker"]),
    ("split", &["split", "set"]),
    ("sex", &["sex", "gender"]),
    ("corpus", &["corpus"]),
    ("id", &["id", "file_id"]),
    ("start", &["start"]),
    ("end", &["end"]),
    ("channel", &["channel"]),
];

impl Columns {
    /// The column named for `field`, if the param names one.
    fn named(&self, field: &str) -> Option<&str> {
        let named = match field {
            "path" => &self.path,
            "label" => &self.label,
            "speaker" => &self.speaker,
            "split" => &self.split,
            "sex" => &self.sex,
            "corpus" => &self.corpus,
            "id" => &self.id,
            "start" => &self.start,
            "end" => &self.end,
            _ => &self.channel,
        };
        named.as_deref()
    }
}

/// Why one row of a table gives no clip.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// The path cell is empty.
    #[error("the path is empty")]
    EmptyPath,
    /// The path leaves the input folder or is absolute.
    #[error("`{0}` is not a path inside the input folder")]
    Outside(String),
    /// The audio file does not exist.
    #[error("`{0}` does not exist")]
    Missing(String),
    /// A labelled table's row without a label that is not a test row.
    #[error("the label is empty (only test rows may be unlabeled)")]
    EmptyLabel,
    /// The label cannot be a class name.
    #[error("label `{label}` {problem}")]
    BadLabel {
        /// The label.
        label: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A split other than train, val or test.
    #[error("split `{0}` is not train, val (dev) or test")]
    BadSplit(String),
    /// A sex other than m or f.
    #[error("sex `{0}` is not m (male) or f (female)")]
    BadSex(String),
    /// A start or end that is not a time.
    #[error("{column} `{value}` is not a time (seconds, HH:MM:SS.fff or `0 days 00:00:01.5`)")]
    BadTime {
        /// `start` or `end`.
        column: &'static str,
        /// The cell.
        value: String,
    },
    /// A channel that is not a channel number.
    #[error("channel `{0}` is not a channel number (1, 2, ...: the file's first channel is 1)")]
    BadChannel(String),
    /// A segment that is empty or reversed.
    #[error("the segment ends ({end} s) before it starts ({start} s)")]
    Reversed {
        /// Start, seconds.
        start: f64,
        /// End, seconds.
        end: f64,
    },
}

/// Where a table's audio paths may point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Paths {
    /// Inside the input folder only (a corpus: the cache keys on that folder's content).
    Inside,
    /// Anywhere, absolute or relative to the table (new recordings for `vox predict`).
    Anywhere,
}

/// Reads the table at `table` (relative to `root`, the input folder) into sources, in row
/// order.
pub(crate) fn read(root: &Path, table: &str, columns: &Columns, paths: Paths) -> Result<Sources, AudioError> {
    let relative = Path::new(table);
    if !inside(relative) {
        return Err(AudioError::TableOutside(table.to_string()));
    }
    let path = root.join(relative);
    let text = std::fs::read_to_string(&path).map_err(|source| AudioError::Io { path: path.clone(), source })?;
    let delimiter = delimiter(table, &text);
    let csv_err = |source| AudioError::Csv { path: path.clone(), source };
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_reader(text.as_bytes());
    let header = reader.headers().map_err(csv_err)?.clone();
    let names: Vec<&str> = header.iter().collect();
    let mut at: BTreeMap<&str, usize> = BTreeMap::new();
    for (field, defaults) in FIELDS {
        let found = match columns.named(field) {
            Some(column) => match names.iter().position(|n| *n == column) {
                Some(i) => Some(i),
                None => {
                    return Err(AudioError::UnknownColumn {
                        table: table.to_string(),
                        field,
                        column: column.to_string(),
                        columns: names.join(", "),
                    });
                }
            },
            None => defaults.iter().find_map(|d| names.iter().position(|n| n == d)),
        };
        if let Some(i) = found {
            at.insert(field, i);
        }
    }
    let Some(&path_at) = at.get("path") else {
        return Err(AudioError::NoPathColumn { table: table.to_string(), columns: names.join(", ") });
    };
    let folder = relative.parent().unwrap_or(Path::new(""));
    let corpus = relative.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let used: Vec<usize> = at.values().copied().collect();
    let mut rows = Sources::new();
    let mut ids: BTreeMap<String, usize> = BTreeMap::new();
    let mut split_rows = (Vec::new(), Vec::new());
    // Where cells are separated by semicolons, a comma in a time is its decimal mark.
    let decimal_comma: Vec<usize> = if delimiter == b';' { ["start", "end"].iter().filter_map(|f| at.get(f).copied()).collect() } else { Vec::new() };
    for (i, record) in reader.records().enumerate() {
        let mut record = record.map_err(csv_err)?;
        if !decimal_comma.is_empty() {
            record = record.iter().enumerate().map(|(k, c)| if decimal_comma.contains(&k) { c.replace(',', ".") } else { c.to_string() }).collect();
        }
        let row = i + 1;
        let cell = |field: &str| at.get(field).and_then(|&i| record.get(i)).map(str::trim).unwrap_or("");
        let file_cell = cell("path");
        let file = if file_cell.is_empty() { String::new() } else { normalized(&folder.join(file_cell)) };
        let place = Place { row: Some(row), file: file.clone() };
        let source = source(root, &record, &at, path_at, &used, &header, &file, &corpus, row, paths);
        if let Ok(source) = &source {
            if let Some(first) = ids.insert(source.file_id.clone(), row) {
                return Err(AudioError::DuplicateRowId { table: table.to_string(), file_id: source.file_id.clone(), first, row });
            }
            if source.split == Split::None { &mut split_rows.1 } else { &mut split_rows.0 }.push(row);
        }
        rows.push((place, source.map_err(FileError::Row)));
    }
    if let (Some(&split), Some(&unsplit)) = (split_rows.0.first(), split_rows.1.first()) {
        return Err(AudioError::PartlySplit { table: table.to_string(), split, unsplit, unsplit_rows: split_rows.1.len() });
    }
    Ok(rows)
}

/// One row's source.
#[allow(clippy::too_many_arguments)]
fn source(
    root: &Path,
    record: &csv::StringRecord,
    at: &BTreeMap<&str, usize>,
    path_at: usize,
    used: &[usize],
    header: &csv::StringRecord,
    file: &str,
    corpus: &str,
    row: usize,
    paths: Paths,
) -> Result<Source, RowError> {
    let cell = |field: &str| at.get(field).and_then(|&i| record.get(i)).map(str::trim).unwrap_or("");
    let raw_path = record.get(path_at).map(str::trim).unwrap_or("");
    if raw_path.is_empty() {
        return Err(RowError::EmptyPath);
    }
    if paths == Paths::Inside && !inside(Path::new(file)) {
        return Err(RowError::Outside(raw_path.to_string()));
    }
    if !root.join(file).is_file() {
        return Err(RowError::Missing(file.to_string()));
    }
    let split = match cell("split").to_ascii_lowercase().as_str() {
        "" => Split::None,
        "train" | "training" => Split::Train,
        "val" | "valid" | "validation" | "dev" | "devel" | "development" => Split::Val,
        "test" => Split::Test,
        _ => return Err(RowError::BadSplit(cell("split").to_string())),
    };
    let label = match (at.contains_key("label"), cell("label")) {
        (false, _) => None,
        (true, "") if split == Split::Test => None,
        (true, "") => return Err(RowError::EmptyLabel),
        (true, label) => match vox_api::labels::name_problem(label) {
            None => Some(label.to_string()),
            Some(problem) => return Err(RowError::BadLabel { label: label.to_string(), problem }),
        },
    };
    let sex = match cell("sex").to_ascii_lowercase().as_str() {
        "" => "",
        "m" | "male" => "m",
        "f" | "female" => "f",
        _ => return Err(RowError::BadSex(cell("sex").to_string())),
    };
    let start = time(cell("start"), "start")?;
    let end = time(cell("end"), "end")?;
    let segment = match (start, end) {
        (None, None) => None,
        (start, end) => {
            let start = start.unwrap_or(0.0);
            if let Some(end) = end.filter(|&end| end <= start) {
                return Err(RowError::Reversed { start, end });
            }
            Some(Segment { start, end })
        }
    };
    let channel = match cell("channel") {
        "" => None,
        text => Some(channel_number(text).ok_or_else(|| RowError::BadChannel(text.to_string()))?),
    };
    let file_id = match cell("id") {
        "" => {
            let mut id = Path::new(file).file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
            if let Some(channel) = channel {
                id.push_str(&format!("_ch{channel}"));
            }
            if let Some(segment) = segment {
                let end = segment.end.map_or_else(|| "end".to_string(), seconds);
                id.push_str(&format!("_{}-{end}", seconds(segment.start)));
            }
            id
        }
        id => id.to_string(),
    };
    let mut extra: BTreeMap<String, String> = (0..header.len())
        .filter(|i| *i != path_at && !used.contains(i))
        .filter_map(|i| {
            let value = record.get(i).map(str::trim).unwrap_or("");
            (!value.is_empty()).then(|| (header[i].to_string(), value.to_string()))
        })
        .collect();
    if let Some(channel) = channel {
        extra.insert("channel".into(), channel.to_string());
    }
    Ok(Source {
        file: file.to_string(),
        row: Some(row),
        segment,
        channel,
        file_id,
        corpus: match cell("corpus") {
            "" => corpus.to_string(),
            named => named.to_string(),
        },
        label,
        speaker: cell("speaker").to_string(),
        sex: sex.to_string(),
        intensity: String::new(),
        statement: String::new(),
        repetition: String::new(),
        split,
        extra,
    })
}

/// The channel `text` names: a whole number from 1, also as a float (`2.0`: pandas writes an
/// integer column with an empty cell so).
fn channel_number(text: &str) -> Option<u16> {
    let value: f64 = text.parse().ok()?;
    (value.fract() == 0.0 && (1.0..=f64::from(u16::MAX)).contains(&value)).then_some(value as u16)
}

/// `path` `/`-separated with `.` and `..` resolved lexically (`meta/../a.wav` is `a.wav`); a
/// path that leaves its base keeps its leading `..`.
fn normalized(path: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            // An absolute path (allowed with `Paths::Anywhere`) joins as `/...`.
            Component::RootDir => parts.push(String::new()),
            Component::ParentDir if parts.last().is_some_and(|p| p != "..") => {
                parts.pop();
            }
            other => parts.push(other.as_os_str().to_string_lossy().into_owned()),
        }
    }
    parts.join("/")
}

/// Whether `path` is relative and stays inside its base folder.
fn inside(path: &Path) -> bool {
    let mut depth = 0i32;
    for component in path.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    depth > 0
}

/// The table's delimiter: a tab for `.tsv`/`.tab` files and for headers with tabs but no
/// commas, a semicolon for headers with semicolons but neither (Excel's CSV in locales whose
/// decimal mark is a comma: German, French, ...), else a comma.
fn delimiter(table: &str, text: &str) -> u8 {
    let lower = table.to_ascii_lowercase();
    let header = text.lines().next().unwrap_or("");
    if lower.ends_with(".tsv") || lower.ends_with(".tab") || (header.contains('\t') && !header.contains(',')) {
        b'\t'
    } else if header.contains(';') && !header.contains(',') {
        b';'
    } else {
        b','
    }
}

/// A time cell in seconds: `None` for an empty cell or `NaT`.
fn time(text: &str, column: &'static str) -> Result<Option<f64>, RowError> {
    let bad = || RowError::BadTime { column, value: text.to_string() };
    if text.is_empty() || text.eq_ignore_ascii_case("nat") {
        return Ok(None);
    }
    // audformat (pandas timedelta): `0 days 00:00:01.500000`.
    let (days, clock) = match text.split_once(" days ").or_else(|| text.split_once(" day ")) {
        Some((days, clock)) => (days.trim().parse::<f64>().map_err(|_| bad())?, clock.trim()),
        None => (0.0, text),
    };
    let mut seconds = 0.0;
    for part in clock.split(':') {
        let value: f64 = part.parse().map_err(|_| bad())?;
        seconds = seconds * 60.0 + value;
    }
    let total = days * 86_400.0 + seconds;
    if total.is_finite() && total >= 0.0 && clock.split(':').count() <= 3 { Ok(Some(total)) } else { Err(bad()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_seconds_clock_and_audformat_form() {
        assert_eq!(time("1.5", "start").unwrap(), Some(1.5));
        assert_eq!(time("01:02.25", "start").unwrap(), Some(62.25));
        assert_eq!(time("1:00:00", "start").unwrap(), Some(3600.0));
        assert_eq!(time("0 days 00:00:01.500000", "start").unwrap(), Some(1.5));
        assert_eq!(time("1 days 00:00:00", "start").unwrap(), Some(86400.0));
        assert_eq!(time("NaT", "end").unwrap(), None);
        assert_eq!(time("", "end").unwrap(), None);
        for bad in ["x", "-1", "1:2:3:4", "inf"] {
            assert_eq!(
                time(bad, "end").unwrap_err().to_string(),
                format!("end `{bad}` is not a time (seconds, HH:MM:SS.fff or `0 days 00:00:01.5`)")
            );
        }
    }

    #[test]
    fn channels_are_whole_numbers_from_1_also_written_as_floats() {
        for (text, channel) in [("1", Some(1)), ("2.0", Some(2)), ("12", Some(12)), ("0", None), ("1.5", None), ("-1", None), ("left", None), ("70000", None), ("NaN", None)] {
            assert_eq!(channel_number(text), channel, "{text}");
        }
    }

    #[test]
    fn paths_must_stay_inside_the_input() {
        assert!(inside(Path::new("a/b.wav")));
        assert!(inside(Path::new("a/../b.wav")));
        assert!(!inside(Path::new("../b.wav")));
        assert!(!inside(Path::new("/etc/passwd")));
        assert!(!inside(Path::new("a/..")));
        assert_eq!(normalized(Path::new("meta/../audio/./a.wav")), "audio/a.wav");
        assert_eq!(normalized(Path::new("meta/../../etc/passwd")), "../etc/passwd");
        assert_eq!(delimiter("x.tsv", "a,b"), b'\t');
        assert_eq!(delimiter("x.txt", "a\tb"), b'\t');
        assert_eq!(delimiter("x.csv", "a\tb,c"), b',');
        assert_eq!(delimiter("x.csv", "file;emotion;speaker\nclips/a.wav;neu;1,5"), b';', "Excel's CSV with a decimal comma");
        assert_eq!(delimiter("x.csv", "file,notes\na.wav,x;y"), b',');
        assert_eq!(delimiter("x.tsv", "a;b"), b'\t');
    }
}
