//! Classification scores from a confusion matrix, in one place for every stage that scores:
//! `evaluate`'s reports and a classic model's permutation importance use these formulas.
//!
//! The classes are those of the matrix (`evaluate`: every class that occurs as truth or as
//! prediction); a class never predicted has precision 0, one absent from the truth recall 0, as
//! scikit-learn's `zero_division=0`.

/// `num / den`, 0 when `den` is 0.
pub fn ratio(num: f64, den: f64) -> f64 {
    if den == 0.0 { 0.0 } else { num / den }
}

/// Precision, recall, F1 and support of one class.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClassCounts {
    /// True positives over predicted positives.
    pub precision: f64,
    /// True positives over actual positives.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Clips of the class in the truth.
    pub support: u64,
}

/// Each class's scores of `counts[t][p]` (clips of true class `t` predicted as `p`).
pub fn class_scores(counts: &[Vec<u64>]) -> Vec<ClassCounts> {
    (0..counts.len())
        .map(|i| {
            let tp = counts[i][i] as f64;
            let support: u64 = counts[i].iter().sum();
            let predicted = counts.iter().map(|row| row[i]).sum::<u64>() as f64;
            ClassCounts {
                precision: ratio(tp, predicted),
                recall: ratio(tp, support as f64),
                f1: ratio(2.0 * tp, support as f64 + predicted),
                support,
            }
        })
        .collect()
}

/// The headline numbers of a confusion matrix.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Headline {
    /// Clips scored.
    pub clips: u64,
    /// Fraction predicted correctly.
    pub accuracy: f64,
    /// Unweighted mean of the per-class F1.
    pub macro_f1: f64,
    /// Support-weighted mean of the per-class F1.
    pub weighted_f1: f64,
    /// Unweighted average recall.
    pub uar: f64,
}

impl Headline {
    /// Scores `counts[t][p]`.
    pub fn new(counts: &[Vec<u64>]) -> Self {
        let classes = class_scores(counts);
        let clips: u64 = counts.iter().flatten().sum();
        let correct: u64 = (0..counts.len()).map(|i| counts[i][i]).sum();
        let n = classes.len() as f64;
        let support = classes.iter().map(|c| c.support as f64).sum::<f64>();
        Self {
            clips,
            accuracy: ratio(correct as f64, clips as f64),
            macro_f1: ratio(classes.iter().map(|c| c.f1).sum(), n),
            weighted_f1: ratio(classes.iter().map(|c| c.support as f64 * c.f1).sum(), support),
            uar: ratio(classes.iter().map(|c| c.recall).sum(), n),
        }
    }

    /// The confusion matrix of `(truth, predicted)` class-index pairs over the classes that occur
    /// in them (as `evaluate` scores), and its headline.
    pub fn of_pairs(pairs: &[(usize, usize)]) -> Self {
        let mut present: Vec<usize> = pairs.iter().flat_map(|&(t, p)| [t, p]).collect();
        present.sort_unstable();
        present.dedup();
        let at = |class: usize| present.binary_search(&class).unwrap_or_default();
        let mut counts = vec![vec![0; present.len()]; present.len()];
        for &(t, p) in pairs {
            counts[at(t)][at(p)] += 1;
        }
        Self::new(&counts)
    }

    /// The named metric (`accuracy`, `macro_f1`, `weighted_f1`, `uar`; see
    /// [`crate::summary::METRICS`]).
    pub fn get(&self, metric: &str) -> Option<f64> {
        match metric {
            "accuracy" => Some(self.accuracy),
            "macro_f1" => Some(self.macro_f1),
            "weighted_f1" => Some(self.weighted_f1),
            "uar" => Some(self.uar),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_scikit_learn_on_a_small_case() {
        // sklearn: y_true = [0,0,0,1,1,2], y_pred = [0,0,1,1,2,2]
        // accuracy 4/6; per-class F1 = [0.8, 0.5, 0.6667]; macro 0.65556; weighted 0.68889; UAR 0.72222
        let pairs = [(0, 0), (0, 0), (0, 1), (1, 1), (1, 2), (2, 2)];
        let h = Headline::of_pairs(&pairs);
        assert_eq!(h.clips, 6);
        assert!((h.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert!((h.macro_f1 - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert!((h.weighted_f1 - (3.0 * 0.8 + 2.0 * 0.5 + 2.0 / 3.0) / 6.0).abs() < 1e-12);
        assert!((h.uar - (2.0 / 3.0 + 0.5 + 1.0) / 3.0).abs() < 1e-12);
        // A class only predicted counts with recall 0, as evaluate scores it.
        let h = Headline::of_pairs(&[(0, 0), (0, 5)]);
        assert!((h.uar - 0.25).abs() < 1e-12);
        assert_eq!(h.get("uar"), Some(h.uar));
        assert_eq!(h.get("auc"), None);
    }
}
