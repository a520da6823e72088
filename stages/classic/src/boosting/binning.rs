//! Feature binning as scikit-learn 1.9's `_BinMapper`: each feature's training values are cut
//! into at most `max_bins` bins, and the boosting only ever sees the bin indices (`u8`).
//!
//! Thresholds of one feature (`_find_binning_thresholds`), from its training values and their
//! sample weights (the class weights; 1 each when unweighted):
//! - one distinct value: no threshold (one bin; the feature cannot split);
//! - at most `max_bins` distinct values: the midpoints `(a + b) / 2` of consecutive distinct
//!   values, so every distinct value has its own bin;
//! - more: the weighted percentiles at `i * 100 / max_bins` for `i = 1 .. max_bins - 1`, with
//!   scikit-learn's "averaged inverted CDF" rule (`_weighted_percentile(average=True)`; with unit
//!   weights it is `np.percentile(method="averaged_inverted_cdf")`, which scikit-learn uses
//!   there): the first value whose cumulative weight reaches `p / 100 * total`, or the mean of
//!   it and the next value when the cumulative weight lands on the rank exactly; duplicate
//!   thresholds are dropped.
//!
//! A value `x` goes to the bin of the first threshold `>= x` (the last bin when there is none),
//! so `bin <= b` exactly when `x <= thresholds[b]`: a split after bin `b` is the raw test
//! `x <= thresholds[b]` that `model.json` stores. scikit-learn bins at most 200 000 rows drawn
//! at random; vox bins every training row (SER tables are far smaller), so no seed is needed.
//! Values are finite (the stage checks them), so there is no missing-value bin.

/// The training rows as bin indices, one contiguous column per feature (column-major: the
/// histogram of one feature reads one column), with each feature's thresholds.
#[derive(Clone, Debug)]
pub struct BinnedMatrix {
    /// Number of rows.
    pub n_rows: usize,
    /// `n_features * n_rows` bin indices, feature after feature.
    pub bins: Vec<u8>,
    /// Each feature's increasing thresholds; the feature has `thresholds.len() + 1` bins.
    pub thresholds: Vec<Vec<f64>>,
}

impl BinnedMatrix {
    /// Bins `rows` (row-major) with thresholds from `rows` and the rows' `weights`.
    /// `max_bins` is in `2..=255`.
    pub fn fit(rows: &[&[f64]], weights: &[f64], max_bins: usize) -> Self {
        let n_rows = rows.len();
        let n_features = rows.first().map_or(0, |r| r.len());
        let mut bins = vec![0u8; n_features * n_rows];
        let mut thresholds = Vec::with_capacity(n_features);
        let mut column = vec![0.0; n_rows];
        for (j, out) in bins.chunks_mut(n_rows.max(1)).enumerate().take(n_features) {
            column.iter_mut().zip(rows).for_each(|(c, row)| *c = row[j]);
            let cuts = feature_thresholds(&column, weights, max_bins);
            for (b, &x) in out.iter_mut().zip(&column) {
                *b = bin_of(&cuts, x);
            }
            thresholds.push(cuts);
        }
        Self { n_rows, bins, thresholds }
    }

    /// The bin indices of feature `j`, one per row.
    pub fn column(&self, j: usize) -> &[u8] {
        &self.bins[j * self.n_rows..(j + 1) * self.n_rows]
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.thresholds.len()
    }

    /// The largest bin count of any feature (the histograms' stride).
    pub fn max_bins(&self) -> usize {
        self.thresholds.iter().map(|t| t.len() + 1).max().unwrap_or(1)
    }
}

/// The bin of `x`: the index of the first threshold `>= x`, or `thresholds.len()`.
pub fn bin_of(thresholds: &[f64], x: f64) -> u8 {
    // At most 254 thresholds, so the index fits.
    thresholds.partition_point(|&t| t < x) as u8
}

/// The increasing bin thresholds of one feature's values, weighted by `weights` (see the
/// module doc).
pub fn feature_thresholds(values: &[f64], weights: &[f64], max_bins: usize) -> Vec<f64> {
    let mut sorted: Vec<(f64, f64)> = values.iter().copied().zip(weights.iter().copied()).collect();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut distinct: Vec<f64> = sorted.iter().map(|p| p.0).collect();
    distinct.dedup();
    if distinct.len() <= 1 {
        return Vec::new();
    }
    if distinct.len() <= max_bins {
        return distinct.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
    }
    let mut cdf = Vec::with_capacity(sorted.len());
    let mut total = 0.0;
    for &(_, w) in &sorted {
        total += w;
        cdf.push(total);
    }
    let last = sorted.len() - 1;
    // numpy's linspace(0, 100, max_bins + 1)[1:-1]: i * step.
    let step = 100.0 / max_bins as f64;
    let mut cuts: Vec<f64> = (1..max_bins)
        .map(|i| {
            let mut rank = i as f64 * step / 100.0 * total;
            if rank == 0.0 {
                rank = f64::from_bits(rank.to_bits() + 1);
            }
            let at = cdf.partition_point(|&c| c < rank).min(last);
            if cdf[at] - rank > f64::EPSILON {
                sorted[at].0
            } else {
                (sorted[at].0 + sorted[(at + 1).min(last)].0) / 2.0
            }
        })
        .collect();
    cuts.dedup();
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_midpoints() {
        let values = [3.0, 1.0, 2.0, 1.0, 3.0];
        let t = feature_thresholds(&values, &[1.0; 5], 255);
        assert_eq!(t, vec![1.5, 2.5]);
        assert_eq!([1.0, 1.5, 1.6, 2.5, 9.0].map(|x| bin_of(&t, x)), [0, 0, 1, 1, 2]);
        assert!(feature_thresholds(&[4.0; 3], &[1.0; 3], 255).is_empty());
    }

    #[test]
    fn many_distinct_values_get_averaged_inverted_cdf_percentiles() {
        // 8 values, 4 bins: ranks 2, 4, 6 of 8 land exactly on values 2, 4, 6 (1-based), so each
        // threshold is the mean of that value and the next, as np.percentile(..., [25, 50, 75],
        // method="averaged_inverted_cdf") gives for 10..80: [25, 45, 65].
        let values = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0];
        assert_eq!(feature_thresholds(&values, &[1.0; 8], 4), vec![25.0, 45.0, 65.0]);
        // 7 values, 3 bins: ranks 7/3 and 14/3 fall inside values 3 and 5, which are taken.
        assert_eq!(feature_thresholds(&values[..7], &[1.0; 7], 3), vec![30.0, 50.0]);
        // Weighted: 10 weighs 5 of a total 12, so the first third (rank 4) falls inside it.
        let weights = [5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
        assert_eq!(feature_thresholds(&values, &weights, 3), vec![10.0, 45.0]);
    }

    #[test]
    fn binned_matrix_is_column_major() {
        let rows: Vec<&[f64]> = vec![&[0.0, 5.0], &[1.0, 5.0], &[2.0, 5.0]];
        let m = BinnedMatrix::fit(&rows, &[1.0; 3], 255);
        assert_eq!(m.column(0), &[0, 1, 2]);
        assert_eq!(m.column(1), &[0, 0, 0]);
        assert_eq!(m.thresholds, vec![vec![0.5, 1.5], vec![]]);
        assert_eq!(m.max_bins(), 3);
    }
}
