//! Long recordings scored window by window (`vox predict --window`) or segment by segment
//! (`--segment`, cut at their pauses): where a recording's windows fall, what each window clip
//! is called, the manifest columns that tie it to its recording, and the recording's scores as
//! the mean of its windows'.
//!
//! A model sees a fixed-length input (the run's `pad` length): a 10-minute recording given
//! whole is cropped to its first seconds. Cut into windows, every stretch of it is scored, and
//! the windows' rows are a timeline of the recording's emotion. Cut at its pauses, each
//! stretch of speech is a clip of its own (where the pauses fall needs the samples: the entry
//! stage that reads them finds them; this module only carries the request).

use std::collections::HashMap;
use std::path::Path;

use crate::audio::Clip;
use crate::csv_file::CsvFileError;
use crate::estimates::{Estimate, Estimates};
use crate::predictions::{Prediction, Predictions};

/// The manifest column of a window clip that names its recording.
pub const RECORDING: &str = "window_of";
/// The manifest column of a window clip with its start in the recording, seconds.
pub const START: &str = "window_start";
/// The manifest column of a window clip with its end in the recording, seconds.
pub const END: &str = "window_end";
/// The file listing every window: `file_id,recording,start,end`.
pub const WINDOWS_CSV: &str = "windows.csv";

/// Windows `length` seconds long, one every `hop` seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Windows {
    /// Window length, seconds.
    pub length: f64,
    /// Seconds from one window's start to the next one's.
    pub hop: f64,
}

/// How `vox predict` cuts each recording into clips.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cutting {
    /// Fixed windows.
    Windows(Windows),
    /// At its pauses.
    Pauses(Pauses),
}

/// A recording cut at its pauses: each stretch whose frames are within `top_db` of the
/// recording's loudest frame is a clip (`librosa.effects.split`, frames of 128 ms every 32 ms:
/// 2048 and 512 samples at 16 kHz, whatever the file's rate), stretches less than `min_pause`
/// apart joined into one (the dips between syllables and words are not pauses between
/// utterances); the silence between clips is not scored.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pauses {
    /// Frames quieter than the loudest by more than this many dB are silent.
    pub top_db: f64,
    /// Silences shorter than this many seconds do not cut.
    pub min_pause: f64,
}

impl Pauses {
    /// Pauses `top_db` below the loudest frame and at least `min_pause` seconds long (default
    /// 0.3 s).
    pub fn new(top_db: f64, min_pause: Option<f64>) -> Result<Self, WindowsError> {
        if !(top_db.is_finite() && top_db > 0.0) {
            return Err(WindowsError::TopDb(top_db));
        }
        let min_pause = min_pause.unwrap_or(0.3);
        if !(min_pause.is_finite() && min_pause >= 0.0) {
            return Err(WindowsError::MinPause(min_pause));
        }
        Ok(Self { top_db, min_pause })
    }

    /// The stretches `intervals` (seconds, in order) with those less than `min_pause` apart
    /// joined.
    pub fn joined(&self, intervals: impl IntoIterator<Item = (f64, f64)>) -> Vec<(f64, f64)> {
        let mut joined: Vec<(f64, f64)> = Vec::new();
        for (start, end) in intervals {
            match joined.last_mut() {
                Some(last) if start - last.1 < self.min_pause => last.1 = end,
                _ => joined.push((start, end)),
            }
        }
        joined
    }
}

impl Cutting {
    /// What its clips are called in messages: `windows` or `segments`.
    pub fn clips(&self) -> &'static str {
        match self {
            Self::Windows(_) => "windows",
            Self::Pauses(_) => "segments",
        }
    }
}

/// Windows that cannot be cut.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WindowsError {
    /// The length is not a positive number of seconds.
    #[error("the window must be a positive number of seconds, not {0}")]
    Length(f64),
    /// The hop is not a positive number of seconds.
    #[error("the hop must be a positive number of seconds, not {0}")]
    Hop(f64),
    /// The shortest pause is not a number of seconds.
    #[error("the shortest pause must be a number of seconds >= 0, not {0}")]
    MinPause(f64),
    /// The pause level is not a positive number of dB.
    #[error("the pause level must be a positive number of dB below the loudest frame, not {0}")]
    TopDb(f64),
    /// The hop is longer than the window: stretches between windows would go unscored.
    #[error("a hop of {hop} s is longer than the {length} s window: the audio between windows would never be scored")]
    Gaps {
        /// Window length, seconds.
        length: f64,
        /// Hop, seconds.
        hop: f64,
    },
}

/// A tail shorter than this past the last whole window gets no window of its own: one would
/// have the same id as the last (ids keep milliseconds), for a few samples.
const TAIL: f64 = 1e-3;

impl Windows {
    /// Windows of `length` seconds every `hop` seconds (default: `length`, windows that touch
    /// without overlapping).
    pub fn new(length: f64, hop: Option<f64>) -> Result<Self, WindowsError> {
        if !(length.is_finite() && length > 0.0) {
            return Err(WindowsError::Length(length));
        }
        let hop = hop.unwrap_or(length);
        if !(hop.is_finite() && hop > 0.0) {
            return Err(WindowsError::Hop(hop));
        }
        if hop > length {
            return Err(WindowsError::Gaps { length, hop });
        }
        Ok(Self { length, hop })
    }

    /// The windows of a recording `duration` seconds long, as `(start, end)` seconds in it:
    /// one every `hop` from 0 while a whole window fits, then one that ends where the
    /// recording does if the last did not, so every window is whole and every sample is
    /// scored (the last window overlaps the one before it). A recording no longer than one
    /// window is one window of all of it.
    pub fn spans(&self, duration: f64) -> Vec<(f64, f64)> {
        if duration <= self.length + TAIL {
            return vec![(0.0, duration)];
        }
        // Starts as multiples of the hop (no running sum), so they keep their decimals.
        let whole = ((duration - self.length) / self.hop + 1e-9).floor() as usize;
        let mut spans: Vec<(f64, f64)> = (0..=whole).map(|k| k as f64 * self.hop).map(|s| (s, s + self.length)).collect();
        let last_end = spans.last().map_or(0.0, |&(_, end)| end);
        if duration - last_end >= TAIL {
            spans.push((duration - self.length, duration));
        }
        spans
    }
}

/// The id of the window `start`..`end` seconds of recording `recording`:
/// `<recording>_<start>-<end>`, as a table's segments are named.
pub fn window_id(recording: &str, start: f64, end: f64) -> String {
    format!("{recording}_{}-{}", seconds(start), seconds(end))
}

/// `12.5` for 12.5 s: seconds with at most three decimals and no trailing zeros.
pub fn seconds(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One window clip: its id, its recording and where in the recording it lies.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// The window clip's id.
    pub file_id: String,
    /// The recording's id.
    pub recording: String,
    /// Start in the recording, seconds.
    pub start: f64,
    /// End in the recording, seconds.
    pub end: f64,
}

impl Window {
    /// The window a manifest clip is, from its window columns; `None` for a clip that is not
    /// a window.
    pub fn of(clip: &Clip) -> Option<Self> {
        let number = |column: &str| clip.extra.get(column)?.parse::<f64>().ok();
        Some(Self {
            file_id: clip.file_id.clone(),
            recording: clip.extra.get(RECORDING)?.clone(),
            start: number(START)?,
            end: number(END)?,
        })
    }

    /// Writes `windows` to `path` as `file_id,recording,start,end`.
    pub fn write_all(windows: &[Window], path: &Path) -> Result<(), CsvFileError> {
        let csv_err = |source| CsvFileError::Csv { path: path.to_path_buf(), source };
        let mut writer = csv::Writer::from_path(path).map_err(csv_err)?;
        writer.write_record(["file_id", "recording", "start", "end"]).map_err(csv_err)?;
        for w in windows {
            writer.write_record([w.file_id.as_str(), &w.recording, &seconds(w.start), &seconds(w.end)]).map_err(csv_err)?;
        }
        writer.flush().map_err(|e| csv_err(e.into()))
    }
}

/// Each recording's scores: the mean of its windows' probabilities (a row per recording, in
/// the order its first window comes in `predictions`). A row that is no window of `windows` is
/// a recording of its own.
pub fn recordings(predictions: &Predictions, windows: &[Window]) -> Predictions {
    let rows = by_recording(predictions.rows.iter().map(|r| (r.file_id.as_str(), r.probabilities.as_slice())), windows)
        .into_iter()
        .map(|(recording, first, probabilities)| Prediction { file_id: recording, probabilities, ..predictions.rows[first].clone() })
        .collect();
    Predictions { labels: predictions.labels.clone(), classes: predictions.classes.clone(), rows }
}

/// Each recording's estimates: the mean of its windows' values in every dimension, as
/// [`recordings`] does for probabilities; a recording has no true value.
pub fn recording_estimates(estimates: &Estimates, windows: &[Window]) -> Estimates {
    let rows = by_recording(estimates.rows.iter().map(|r| (r.file_id.as_str(), r.predicted.as_slice())), windows)
        .into_iter()
        .map(|(recording, first, predicted)| Estimate {
            file_id: recording,
            split: estimates.rows[first].split,
            truth: vec![None; predicted.len()],
            predicted,
        })
        .collect();
    Estimates { dimensions: estimates.dimensions.clone(), rows }
}

/// Rows `(clip id, values)` gathered by recording: each recording's id, the index of its first
/// row, and the mean of its rows' values, in the order of first rows.
fn by_recording<'a>(rows: impl Iterator<Item = (&'a str, &'a [f64])>, windows: &[Window]) -> Vec<(String, usize, Vec<f64>)> {
    let recording_of: HashMap<&str, &str> = windows.iter().map(|w| (w.file_id.as_str(), w.recording.as_str())).collect();
    let mut sums: Vec<(String, usize, Vec<f64>)> = Vec::new();
    let mut counts: Vec<usize> = Vec::new();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (row, (file_id, values)) in rows.enumerate() {
        let recording = recording_of.get(file_id).copied().unwrap_or(file_id);
        let i = *position.entry(recording).or_insert_with(|| {
            sums.push((recording.to_string(), row, vec![0.0; values.len()]));
            counts.push(0);
            sums.len() - 1
        });
        sums[i].2.iter_mut().zip(values).for_each(|(sum, v)| *sum += v);
        counts[i] += 1;
    }
    for ((_, _, values), &n) in sums.iter_mut().zip(&counts) {
        values.iter_mut().for_each(|v| *v /= n as f64);
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Split;
    use crate::labels::LabelSet;

    #[test]
    fn windows_cover_the_recording_whole_and_the_last_ends_with_it() {
        let w = Windows::new(3.75, None).unwrap();
        assert_eq!(w.spans(30.0), (0..8).map(|k| (k as f64 * 3.75, k as f64 * 3.75 + 3.75)).collect::<Vec<_>>());
        // 10 s: 0-3.75, 3.75-7.5, then one ending at 10 (overlapping the second).
        assert_eq!(w.spans(10.0), vec![(0.0, 3.75), (3.75, 7.5), (6.25, 10.0)]);
        assert_eq!(w.spans(2.0), vec![(0.0, 2.0)]);
        assert_eq!(w.spans(3.75), vec![(0.0, 3.75)]);
        let overlapping = Windows::new(2.0, Some(0.5)).unwrap();
        let ids: Vec<String> = overlapping.spans(3.2).into_iter().map(|(s, e)| window_id("r", s, e)).collect();
        assert_eq!(ids, ["r_0-2", "r_0.5-2.5", "r_1-3", "r_1.2-3.2"]);
        // A hop of 0.1 over 100 windows: multiples, not a running sum.
        let fine = Windows::new(1.0, Some(0.1)).unwrap();
        let spans = fine.spans(11.0);
        assert_eq!(spans.len(), 101);
        assert_eq!(window_id("r", spans[73].0, spans[73].1), "r_7.3-8.3");
        assert_eq!(window_id("r", spans[100].0, spans[100].1), "r_10-11");
        // Under a millisecond past the last whole window: no window of its own.
        assert_eq!(w.spans(7.5004).len(), 2);
        assert_eq!(seconds(12.5), "12.5");
        assert_eq!(seconds(3.0), "3");
        assert_eq!(seconds(0.1234), "0.123");
    }

    #[test]
    fn windows_that_leave_audio_unscored_are_refused() {
        assert_eq!(Windows::new(0.0, None), Err(WindowsError::Length(0.0)));
        assert_eq!(Windows::new(2.0, Some(-1.0)), Err(WindowsError::Hop(-1.0)));
        assert_eq!(Windows::new(2.0, Some(3.0)), Err(WindowsError::Gaps { length: 2.0, hop: 3.0 }));
        assert!(Windows::new(f64::NAN, None).is_err());
        assert_eq!(Pauses::new(-3.0, None), Err(WindowsError::TopDb(-3.0)));
        assert_eq!(Pauses::new(30.0, Some(-0.1)), Err(WindowsError::MinPause(-0.1)));
        assert_eq!(Pauses::new(30.0, None).map(Cutting::Pauses).unwrap().clips(), "segments");
        // Stretches 0.2 s apart join; 0.4 s apart stay two.
        let pauses = Pauses::new(30.0, None).unwrap();
        assert_eq!(pauses.joined([(0.0, 1.0), (1.2, 2.0), (2.4, 3.0)]), [(0.0, 2.0), (2.4, 3.0)]);
        assert_eq!(Pauses::new(30.0, Some(0.0)).unwrap().joined([(0.0, 1.0), (1.0, 2.0)]), [(0.0, 1.0), (1.0, 2.0)]);
        assert_eq!(
            Windows::new(2.0, Some(3.0)).unwrap_err().to_string(),
            "a hop of 3 s is longer than the 2 s window: the audio between windows would never be scored"
        );
    }

    #[test]
    fn a_recording_scores_the_mean_of_its_windows() {
        let labels = LabelSet::from_names(["a", "b"]).unwrap();
        let row = |id: &str, p: f64| Prediction {
            file_id: id.into(),
            split: Split::None,
            label: None,
            probabilities: vec![p, 1.0 - p],
        };
        let predictions = Predictions {
            labels,
            classes: vec!["a".into(), "b".into()],
            rows: vec![row("x_0-2", 0.9), row("y", 0.2), row("x_2-4", 0.5), row("x_4-6", 0.1)],
        };
        let window = |id: &str, start: f64| Window { file_id: id.into(), recording: "x".into(), start, end: start + 2.0 };
        let windows = [window("x_0-2", 0.0), window("x_2-4", 2.0), window("x_4-6", 4.0)];
        let per_recording = recordings(&predictions, &windows);
        let ids: Vec<&str> = per_recording.rows.iter().map(|r| r.file_id.as_str()).collect();
        assert_eq!(ids, ["x", "y"]);
        assert!((per_recording.rows[0].probabilities[0] - 0.5).abs() < 1e-12);
        assert!((per_recording.rows[0].probabilities[1] - 0.5).abs() < 1e-12);
        assert_eq!(per_recording.rows[1].probabilities, vec![0.2, 0.8]);

        // Estimates average the same way, dimension by dimension, with no true value.
        let estimate = |id: &str, arousal: f64| crate::estimates::Estimate {
            file_id: id.into(),
            split: Split::None,
            truth: vec![Some(1.0), None],
            predicted: vec![arousal, 5.0 - arousal],
        };
        let estimates = Estimates {
            dimensions: vec!["arousal".into(), "valence".into()],
            rows: vec![estimate("x_0-2", 1.0), estimate("y", 4.0), estimate("x_2-4", 2.0), estimate("x_4-6", 4.5)],
        };
        let per_recording = recording_estimates(&estimates, &windows);
        let ids: Vec<&str> = per_recording.rows.iter().map(|r| r.file_id.as_str()).collect();
        assert_eq!(ids, ["x", "y"]);
        assert_eq!((per_recording.rows[0].predicted.as_slice(), per_recording.rows[1].predicted.as_slice()), ([2.5, 2.5].as_slice(), [4.0, 1.0].as_slice()));
        assert!(per_recording.rows.iter().all(|r| r.truth == [None, None]));
    }
}
