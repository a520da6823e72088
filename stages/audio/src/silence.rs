//! Silent and non-silent stretches of a signal as librosa finds them (`effects.trim` and
//! `effects.split`): what `trim` cuts and where `vox predict --segment` cuts a recording.
//!
//! The RMS of frames of `frame_length` samples every `hop_length` over the signal padded with
//! `frame_length / 2` zeros on each side (librosa's `rms` with `center=True`); a frame is
//! non-silent when its level is within `top_db` of the loudest frame's (`amplitude_to_db` with
//! `ref=np.max`, its 1e-5 amplitude floor). Frame `i` stands for samples `i * hop ..
//! (i + 1) * hop`, cut at the signal's end. The threshold is relative to the signal's own
//! loudest frame, so a quiet recording is cut as a loud one; a signal of zeros is all
//! non-silent (no frame is quieter than another). Tests compare with fixtures made by librosa
//! 0.11.
//!
//! Frame energies come from a running sum of squares (one pass, whatever the frame length),
//! in f64 where librosa sums f32 frame by frame: a frame within rounding of the threshold could
//! fall the other way; none of the fixtures' does.

/// Whether each frame of `y` is non-silent (see the module doc); no frames for an empty `y`.
pub(crate) fn nonsilent(y: &[f32], top_db: f64, frame: usize, hop: usize) -> Vec<bool> {
    let half = frame / 2;
    let padded = y.len() + 2 * half;
    if y.is_empty() || padded < frame {
        return Vec::new();
    }
    let frames = 1 + (padded - frame) / hop;
    // prefix[i]: the sum of squares of y[..i].
    let mut prefix = Vec::with_capacity(y.len() + 1);
    prefix.push(0.0f64);
    let mut sum = 0.0;
    for &v in y {
        sum += f64::from(v) * f64::from(v);
        prefix.push(sum);
    }
    // Frame i covers y[i * hop - half .. i * hop - half + frame], zeros outside y.
    let power: Vec<f64> = (0..frames)
        .map(|i| {
            let start = (i * hop).saturating_sub(half).min(y.len());
            let end = (i * hop + frame).saturating_sub(half).min(y.len());
            (prefix[end] - prefix[start]).max(0.0) / frame as f64
        })
        .collect();
    // amplitude_to_db(rms, ref=max): 20 log10(max(1e-5, rms)) - 20 log10(max(1e-5, max rms)),
    // here on powers: 10 log10(max(1e-10, power)) - 10 log10(max(1e-10, max power)).
    let db = |p: f64| 10.0 * p.max(1e-10).log10();
    let loudest = db(power.iter().copied().fold(0.0, f64::max));
    power.iter().map(|&p| db(p) - loudest > -top_db).collect()
}

/// The interval `[start, end)` of `y` that `librosa.effects.trim` keeps: from the first to the
/// end of the last non-silent frame; all of an empty `y`.
pub(crate) fn trim_interval(y: &[f32], top_db: f64, frame: usize, hop: usize) -> (usize, usize) {
    let frames = nonsilent(y, top_db, frame, hop);
    if frames.is_empty() {
        return (0, y.len());
    }
    match (frames.iter().position(|&f| f), frames.iter().rposition(|&f| f)) {
        (Some(first), Some(last)) => (first * hop, ((last + 1) * hop).min(y.len())),
        _ => (0, 0),
    }
}

/// The non-silent intervals `[start, end)` of `y`, in order: `librosa.effects.split`.
pub(crate) fn split_intervals(y: &[f32], top_db: f64, frame: usize, hop: usize) -> Vec<(usize, usize)> {
    let frames = nonsilent(y, top_db, frame, hop);
    let mut intervals = Vec::new();
    let mut start = None;
    for (i, &loud) in frames.iter().chain([&false]).enumerate() {
        match (loud, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                intervals.push(((s * hop).min(y.len()), (i * hop).min(y.len())));
                start = None;
            }
            _ => {}
        }
    }
    intervals
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::test_support::fixture_samples;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trim")
    }

    fn read(name: &str) -> Vec<f32> {
        fixture_samples(&format!("trim/{name}"))
    }

    #[test]
    fn trim_intervals_are_librosas() {
        let mut table = csv::Reader::from_path(fixtures().join("trim.csv")).unwrap();
        let mut checked = 0;
        for row in table.records() {
            let row = row.unwrap();
            let y = read(&row[0]);
            let (db, frame, hop) = (row[1].parse().unwrap(), row[2].parse().unwrap(), row[3].parse().unwrap());
            let expected: (usize, usize) = (row[4].parse().unwrap(), row[5].parse().unwrap());
            assert_eq!(trim_interval(&y, db, frame, hop), expected, "{:?}", row);
            checked += 1;
        }
        assert_eq!(checked, 16);
    }

    #[test]
    fn split_intervals_are_librosas() {
        let mut table = csv::Reader::from_path(fixtures().join("split.csv")).unwrap();
        let mut checked = 0;
        for row in table.records() {
            let row = row.unwrap();
            let y = read(&row[0]);
            let (db, frame, hop) = (row[1].parse().unwrap(), row[2].parse().unwrap(), row[3].parse().unwrap());
            let expected: Vec<(usize, usize)> = row[4]
                .split(' ')
                .map(|pair| {
                    let (s, e) = pair.split_once('-').unwrap();
                    (s.parse().unwrap(), e.parse().unwrap())
                })
                .collect();
            assert_eq!(split_intervals(&y, db, frame, hop), expected, "{:?}", row);
            checked += 1;
        }
        assert_eq!(checked, 12);
    }
}
