//! Bootstrap confidence intervals of the headline metrics: the scored clips are resampled with
//! replacement `resamples` times from a seeded ChaCha8 stream, stratified by true class (each
//! class's clips resampled among themselves, as many as it has), and the interval is the 2.5th
//! and 97.5th percentiles of the resampled values (linear interpolation, numpy's default).
//! Stratifying keeps every class of the sample in every resample: the per-class metrics that
//! macro-F1 and UAR average are defined in each, instead of a resample that misses a rare class
//! scoring it 0 (which put a perfect classifier's macro-F1 interval on 10 clips at [0.75, 1]).
//! Every input of a report is resampled with the same stream, so inputs scored on the same
//! clips (the same true classes) draw the same resamples (a paired bootstrap).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use vox_api::labels::LabelSet;

use crate::metrics::{Confusion, Scores};

/// The confidence level of the intervals.
pub const LEVEL: f64 = 0.95;

/// 95% intervals of the headline metrics, `[low, high]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Intervals {
    /// The confidence level.
    pub level: f64,
    /// How many resamples they come from.
    pub resamples: u32,
    /// Accuracy.
    pub accuracy: [f64; 2],
    /// Macro-averaged F1.
    pub macro_f1: [f64; 2],
    /// Support-weighted F1.
    pub weighted_f1: [f64; 2],
    /// Unweighted average recall.
    pub uar: [f64; 2],
}

/// The intervals of the `(true, predicted)` class-index `pairs` (into `labels`), or `None`
/// without pairs or resamples.
pub fn intervals(labels: &LabelSet, pairs: &[(usize, usize)], resamples: u32, seed: u64) -> Option<Intervals> {
    if pairs.is_empty() || resamples == 0 {
        return None;
    }
    let classes = Confusion::present(labels, pairs);
    let mut strata: std::collections::BTreeMap<usize, Vec<(usize, usize)>> = Default::default();
    for &pair in pairs {
        strata.entry(pair.0).or_default().push(pair);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values: [Vec<f64>; 4] = Default::default();
    let mut sample = Vec::with_capacity(pairs.len());
    for _ in 0..resamples {
        sample.clear();
        for stratum in strata.values() {
            sample.extend((0..stratum.len()).map(|_| stratum[rng.random_range(0..stratum.len())]));
        }
        let scores = Scores::new(&Confusion::over(labels, &classes, &sample));
        for (all, value) in values.iter_mut().zip([scores.accuracy, scores.macro_f1, scores.weighted_f1, scores.uar]) {
            all.push(value);
        }
    }
    let [accuracy, macro_f1, weighted_f1, uar] = values.map(|mut v| {
        v.sort_by(f64::total_cmp);
        [percentile(&v, (1.0 - LEVEL) / 2.0), percentile(&v, (1.0 + LEVEL) / 2.0)]
    });
    Some(Intervals { level: LEVEL, resamples, accuracy, macro_f1, weighted_f1, uar })
}

/// The `q` quantile of sorted `values`, interpolating linearly between neighbours.
pub(crate) fn percentile(values: &[f64], q: f64) -> f64 {
    let at = q * (values.len() - 1) as f64;
    let (low, high) = (at.floor() as usize, at.ceil() as usize);
    values[low] + (values[high] - values[low]) * (at - low as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_labels::ravdess;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let v: Vec<f64> = (0..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.025), 0.25);
        assert_eq!(percentile(&v, 0.975), 9.75);
        assert_eq!(percentile(&[3.0], 0.5), 3.0);
    }

    #[test]
    fn intervals_hold_the_estimate_shrink_with_more_clips_and_repeat_for_a_seed() {
        // 80% right over classes 0 and 1, n clips.
        let pairs = |n: usize| -> Vec<(usize, usize)> {
            (0..n).map(|i| (i % 2, if i % 10 < 8 { i % 2 } else { 1 - i % 2 })).collect()
        };
        let small = intervals(&ravdess(), &pairs(50), 2000, 1).unwrap();
        let large = intervals(&ravdess(), &pairs(2000), 2000, 1).unwrap();
        for ci in [&small, &large] {
            assert!(ci.accuracy[0] < 0.8 && 0.8 < ci.accuracy[1], "{ci:?}");
        }
        // The normal approximation's half width, 1.96 sqrt(p (1 - p) / n): 0.111 and 0.0175.
        let half = |ci: &Intervals| (ci.accuracy[1] - ci.accuracy[0]) / 2.0;
        assert!((half(&small) - 0.111).abs() < 0.02, "{small:?}");
        assert!((half(&large) - 0.0175).abs() < 0.003, "{large:?}");
        assert_eq!(intervals(&ravdess(), &pairs(50), 2000, 1), Some(small.clone()));
        assert_ne!(intervals(&ravdess(), &pairs(50), 2000, 2), Some(small));
        assert_eq!(intervals(&ravdess(), &[], 100, 1), None);
        assert_eq!(intervals(&ravdess(), &pairs(4), 0, 1), None);
    }

    #[test]
    fn a_perfect_classifier_is_certain_even_with_a_rare_class() {
        // 10 clips, one of them the only clip of class 3: every resample keeps it.
        let pairs: Vec<(usize, usize)> = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3].iter().map(|&c| (c, c)).collect();
        let ci = intervals(&ravdess(), &pairs, 1000, 7).unwrap();
        assert_eq!((ci.accuracy, ci.macro_f1, ci.weighted_f1, ci.uar), ([1.0; 2], [1.0; 2], [1.0; 2], [1.0; 2]));
        // The rare clip wrong, and one of class 0: UAR (2/3 + 1 + 1 + 0) / 4 on the sample; the
        // rare class's recall is 0 in every resample, class 0's varies.
        let mut wrong = pairs.clone();
        wrong[9] = (3, 0);
        wrong[0] = (0, 1);
        let ci = intervals(&ravdess(), &wrong, 1000, 7).unwrap();
        assert!(ci.uar[0] < 2.0 / 3.0 && 2.0 / 3.0 < ci.uar[1], "{ci:?}");
        assert!(ci.uar[1] <= 0.75 + 1e-12, "never above the other classes' perfect recall: {ci:?}");
    }
}
