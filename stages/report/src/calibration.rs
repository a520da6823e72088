//! Calibration of a model's probabilities: whether a clip predicted at 0.8 is right four times in
//! five. A model can rank classes well (high UAR) and still be over- or under-confident, which
//! matters wherever its probabilities are used as such: a soft vote, a rejection threshold, a
//! deployed model's confidence.
//!
//! - The **reliability table** bins the clips by the probability of their predicted class (the
//!   top label) into `bins` equal bins, `(k/bins, (k+1)/bins]`, and gives each bin's clips, mean
//!   confidence and accuracy: scikit-learn's `calibration_curve(strategy="uniform")` of the
//!   top-label problem (is the predicted class the true one?), checked against it.
//! - **ECE** (expected calibration error, Guo et al. 2017) is the clip-weighted mean of the bins'
//!   |accuracy - confidence|, **MCE** its largest; 15 bins is theirs and torchmetrics' default.
//! - The **Brier score** is the mean over clips of `sum_k (p_k - [k = truth])^2` (scikit-learn's
//!   multiclass `brier_score_loss`, 0 to 2) and the **log loss** the mean of `-ln p_truth` with
//!   `p` clipped to `[eps, 1 - eps]` (scikit-learn's `log_loss`): proper scores of the whole
//!   distribution, not only its top class.
//!
//! A clip whose true class the model does not know has probability 0 for it: it counts as wrong,
//! with the truth's term in the Brier score 1 and its log loss `-ln eps`.

use std::path::Path;

use serde::Serialize;

use crate::error::ReportError;
use crate::files::write_csv;

/// Bins of the reliability table by default: Guo et al.'s and torchmetrics' 15.
pub const DEFAULT_BINS: u32 = 15;

/// One clip as calibration sees it: its probabilities and the position of its true class among
/// them (`None` when the model does not know the class).
pub struct Scored<'a> {
    /// Probabilities over the model's classes.
    pub probabilities: &'a [f64],
    /// The true class's position in `probabilities`.
    pub truth: Option<usize>,
}

/// A bin of the reliability table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Bin {
    /// Lower edge (excluded, except 0 for the first bin).
    pub low: f64,
    /// Upper edge (included).
    pub high: f64,
    /// Clips whose confidence falls in the bin.
    pub clips: u64,
    /// Their mean confidence; `None` when the bin is empty.
    pub confidence: Option<f64>,
    /// The share of them predicted right; `None` when the bin is empty.
    pub accuracy: Option<f64>,
}

/// The calibration scores of one model on one split's labelled clips.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// Bins of the reliability table.
    pub bins: u32,
    /// Expected calibration error.
    pub ece: f64,
    /// Maximum calibration error (over the non-empty bins).
    pub mce: f64,
    /// Multiclass Brier score.
    pub brier: f64,
    /// Mean negative log-likelihood of the true class.
    pub log_loss: f64,
    /// The reliability table, `bins` rows.
    #[serde(skip)]
    pub table: Vec<Bin>,
}

/// The calibration of `clips` over `bins` bins, or `None` without clips.
pub fn calibration(clips: &[Scored], bins: u32) -> Option<Calibration> {
    if clips.is_empty() || bins == 0 {
        return None;
    }
    let n = bins as usize;
    let (mut count, mut confidence, mut correct) = (vec![0u64; n], vec![0.0; n], vec![0u64; n]);
    let (mut brier, mut log_loss) = (0.0, 0.0);
    for clip in clips {
        let predicted = vox_api::predictions::argmax(clip.probabilities);
        let top = clip.probabilities.get(predicted).copied().unwrap_or(0.0);
        let b = bin_of(top, bins);
        count[b] += 1;
        confidence[b] += top;
        correct[b] += u64::from(clip.truth == Some(predicted));
        let truth = clip.truth.and_then(|t| clip.probabilities.get(t).copied()).unwrap_or(0.0);
        let squares: f64 = clip
            .probabilities
            .iter()
            .enumerate()
            .map(|(k, p)| if Some(k) == clip.truth { (p - 1.0).powi(2) } else { p * p })
            .sum();
        brier += squares + if clip.truth.is_none() { 1.0 } else { 0.0 };
        log_loss -= truth.clamp(f64::EPSILON, 1.0 - f64::EPSILON).ln();
    }
    let total = clips.len() as f64;
    let table: Vec<Bin> = (0..n)
        .map(|b| {
            let clips = count[b];
            let mean = |sum: f64| (clips > 0).then(|| sum / clips as f64);
            Bin {
                low: b as f64 / bins as f64,
                high: (b + 1) as f64 / bins as f64,
                clips,
                confidence: mean(confidence[b]),
                accuracy: mean(correct[b] as f64),
            }
        })
        .collect();
    let gaps: Vec<(u64, f64)> = table
        .iter()
        .filter_map(|bin| Some((bin.clips, (bin.accuracy? - bin.confidence?).abs())))
        .collect();
    Some(Calibration {
        bins,
        ece: gaps.iter().map(|&(clips, gap)| clips as f64 / total * gap).sum(),
        mce: gaps.iter().map(|&(_, gap)| gap).fold(0.0, f64::max),
        brier: brier / total,
        log_loss: log_loss / total,
        table,
    })
}

/// The calibration of the labelled clips of `split` in `predictions`: each clip's probabilities
/// over the model's classes and where its true class is among them.
pub fn of_split(predictions: &vox_api::predictions::Predictions, split: vox_api::audio::Split, bins: u32) -> Option<Calibration> {
    let clips: Vec<Scored> = predictions
        .split(split)
        .filter_map(|row| {
            let label = row.label.as_deref()?;
            predictions.labels.index_of(label)?;
            Some(Scored { probabilities: &row.probabilities, truth: predictions.classes.iter().position(|c| c == label) })
        })
        .collect();
    calibration(&clips, bins)
}

/// The bin of confidence `p`: `(k/bins, (k+1)/bins]` holds it, and 0 is in the first (the
/// number of inner edges below `p`, as numpy's `searchsorted` in scikit-learn).
fn bin_of(p: f64, bins: u32) -> usize {
    (1..bins).take_while(|&k| (k as f64 / bins as f64) < p).count()
}

/// Writes the reliability table (`calibration.csv`: `bin,low,high,clips,confidence,accuracy`,
/// an empty bin's last two cells empty).
pub fn write_table(path: &Path, calibration: &Calibration) -> Result<(), ReportError> {
    let cell = |v: Option<f64>| v.map_or_else(String::new, |v| v.to_string());
    write_csv(
        path,
        &["bin", "low", "high", "clips", "confidence", "accuracy"],
        calibration.table.iter().enumerate().map(|(k, b)| {
            vec![
                (k + 1).to_string(),
                b.low.to_string(),
                b.high.to_string(),
                b.clips.to_string(),
                cell(b.confidence),
                cell(b.accuracy),
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Fixture {
        bins: u32,
        cases: Vec<Case>,
    }

    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        y_true: Vec<usize>,
        probabilities: Vec<Vec<f64>>,
        bins: Vec<FixtureBin>,
        ece: f64,
        mce: f64,
        brier: f64,
        log_loss: f64,
    }

    #[derive(serde::Deserialize)]
    struct FixtureBin {
        bin: usize,
        clips: u64,
        confidence: f64,
        accuracy: f64,
    }

    fn close(a: f64, b: f64, what: &str) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{what}: {a} vs scikit-learn's {b}");
    }

    #[test]
    fn matches_scikit_learn() {
        let fixture: Fixture = serde_json::from_str(include_str!("../tests/fixtures/calibration.json")).unwrap();
        assert_eq!(fixture.bins, DEFAULT_BINS);
        assert_eq!(fixture.cases.len(), 3);
        for case in &fixture.cases {
            let name = &case.name;
            let clips: Vec<Scored> = case
                .probabilities
                .iter()
                .zip(&case.y_true)
                .map(|(p, &t)| Scored { probabilities: p, truth: Some(t) })
                .collect();
            let c = calibration(&clips, fixture.bins).unwrap();
            let nonempty: Vec<(usize, &Bin)> = c.table.iter().enumerate().filter(|(_, b)| b.clips > 0).collect();
            assert_eq!(nonempty.len(), case.bins.len(), "{name}: non-empty bins");
            for ((k, bin), expected) in nonempty.iter().zip(&case.bins) {
                assert_eq!((*k, bin.clips), (expected.bin, expected.clips), "{name}: bin {k}");
                close(bin.confidence.unwrap(), expected.confidence, &format!("{name}: bin {k} confidence"));
                close(bin.accuracy.unwrap(), expected.accuracy, &format!("{name}: bin {k} accuracy"));
            }
            close(c.ece, case.ece, &format!("{name}: ECE"));
            close(c.mce, case.mce, &format!("{name}: MCE"));
            close(c.brier, case.brier, &format!("{name}: Brier"));
            close(c.log_loss, case.log_loss, &format!("{name}: log loss"));
        }
    }

    #[test]
    fn edges_belong_to_the_bin_below_and_a_class_the_model_lacks_is_wrong() {
        assert_eq!(bin_of(0.4, 15), 5, "0.4 = 6/15 closes the sixth bin");
        assert_eq!(bin_of(0.4000001, 15), 6);
        assert_eq!((bin_of(0.0, 15), bin_of(1.0, 15)), (0, 14));
        // Two clips, the second of a class the model was not trained on.
        let clips = [
            Scored { probabilities: &[0.9, 0.1], truth: Some(0) },
            Scored { probabilities: &[0.25, 0.75], truth: None },
        ];
        let c = calibration(&clips, 10).unwrap();
        assert_eq!(c.table[8].clips, 1);
        assert_eq!(c.table[8].accuracy, Some(1.0));
        assert_eq!((c.table[7].clips, c.table[7].accuracy), (1, Some(0.0)));
        assert_eq!(c.table[0].confidence, None);
        close(c.ece, (0.1 + 0.75) / 2.0, "ECE");
        close(c.mce, 0.75, "MCE");
        close(c.brier, (0.01 + 0.01 + 0.0625 + 0.5625 + 1.0) / 2.0, "Brier");
        close(c.log_loss, (-(0.9f64.ln()) - f64::EPSILON.ln()) / 2.0, "log loss");
        assert!(calibration(&[], 15).is_none());
    }
}
