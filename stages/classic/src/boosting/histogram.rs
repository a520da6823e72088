//! Gradient histograms: for one tree node and each feature, the sums of the node's gradients,
//! hessians and row counts per bin — all that split finding needs, in `O(features x bins)`
//! instead of `O(features x rows)`.
//!
//! Layout for speed: bins are `u8` in a column-major matrix ([`super::binning`]), so a feature's
//! histogram reads one contiguous byte column; a row's gradient and hessian are packed side by
//! side as `[f32; 2]` (scikit-learn also keeps them in `float32`) and, below the root, gathered
//! into node order first, so the inner loop reads both with one sequential load. Sums are `f64`,
//! as scikit-learn's. Features are filled in parallel, each by one thread over the node's rows in
//! order, so a histogram does not depend on the number of threads.
//!
//! Subtraction: a split builds the histogram of the child with fewer rows only; the sibling's is
//! the parent's minus it, in place in the parent's buffer (the grower does it feature by
//! feature together with the fill and the split scans, [`fill_feature`]; [`Histograms::subtract`]
//! is the whole-buffer form).

use rayon::prelude::*;

use super::binning::BinnedMatrix;

/// The sums of one bin. The count is an `f64` so that a whole histogram subtracts as plain
/// floats (counts stay exact integers far beyond any table).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bin {
    /// Sum of the gradients of the bin's rows.
    pub gradient: f64,
    /// Sum of their hessians.
    pub hessian: f64,
    /// Number of rows.
    pub count: f64,
}

/// One histogram per feature, `stride` bins each (the largest bin count of any feature).
#[derive(Clone, Debug)]
pub struct Histograms {
    /// Bins per feature in `bins`.
    pub stride: usize,
    /// `n_features * stride` bins, feature after feature.
    pub bins: Vec<Bin>,
}

/// Rows of work per parallel task, so that tiny nodes are not cut into tiny tasks.
pub(crate) const MIN_TASK_ROWS: usize = 1 << 14;

impl Histograms {
    /// Empty histograms for `n_features` features of at most `stride` bins.
    pub fn zeros(n_features: usize, stride: usize) -> Self {
        Self { stride, bins: vec![Bin::default(); n_features * stride] }
    }

    /// The bins of feature `j`.
    pub fn feature(&self, j: usize) -> &[Bin] {
        &self.bins[j * self.stride..(j + 1) * self.stride]
    }

    /// Fills the histograms of the rows `rows` (indices into `binned`'s rows) whose packed
    /// gradients and hessians are `gh`, in the same order as `rows`; `rows = None` means every
    /// row, in order (the root), with `gh` indexed by row.
    pub fn fill(&mut self, binned: &BinnedMatrix, rows: Option<&[u32]>, gh: &[[f32; 2]]) {
        let n = rows.map_or(binned.n_rows, <[u32]>::len);
        let min_len = (MIN_TASK_ROWS / n.max(1)).max(1);
        self.bins
            .par_chunks_mut(self.stride)
            .with_min_len(min_len)
            .enumerate()
            .for_each(|(j, hist)| fill_feature(hist, binned.column(j), rows, gh));
    }

    /// `self -= other`, bin by bin: the parent's histograms become the larger child's.
    pub fn subtract(&mut self, other: &Self) {
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            a.gradient -= b.gradient;
            a.hessian -= b.hessian;
            a.count -= b.count;
        }
    }
}

/// Fills one feature's histogram `hist` from its bin column (see [`Histograms::fill`]).
#[inline]
pub fn fill_feature(hist: &mut [Bin], column: &[u8], rows: Option<&[u32]>, gh: &[[f32; 2]]) {
    hist.fill(Bin::default());
    match rows {
        None => {
            for (&b, pair) in column.iter().zip(gh) {
                add(&mut hist[b as usize], pair);
            }
        }
        Some(rows) => {
            for (&i, pair) in rows.iter().zip(gh) {
                add(&mut hist[column[i as usize] as usize], pair);
            }
        }
    }
}

#[inline(always)]
fn add(bin: &mut Bin, pair: &[f32; 2]) {
    bin.gradient += f64::from(pair[0]);
    bin.hessian += f64::from(pair[1]);
    bin.count += 1.0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_per_bin_sums_and_subtracts_to_the_sibling() {
        let rows: Vec<&[f64]> = vec![&[0.0], &[1.0], &[1.0], &[2.0]];
        let binned = BinnedMatrix::fit(&rows, &[1.0; 4], 255);
        let gh = [[1.0, 0.5], [2.0, 0.25], [4.0, 0.25], [8.0, 1.0]];
        let mut all = Histograms::zeros(1, binned.max_bins());
        all.fill(&binned, None, &gh);
        let bin = |g, h, count| Bin { gradient: g, hessian: h, count };
        assert_eq!(all.feature(0), &[bin(1.0, 0.5, 1.0), bin(6.0, 0.5, 2.0), bin(8.0, 1.0, 1.0)]);
        // Rows 1 and 3, their gradients gathered in that order.
        let mut part = Histograms::zeros(1, binned.max_bins());
        part.fill(&binned, Some(&[1, 3]), &[gh[1], gh[3]]);
        assert_eq!(part.feature(0), &[bin(0.0, 0.0, 0.0), bin(2.0, 0.25, 1.0), bin(8.0, 1.0, 1.0)]);
        all.subtract(&part);
        assert_eq!(all.feature(0), &[bin(1.0, 0.5, 1.0), bin(4.0, 0.25, 1.0), bin(0.0, 0.0, 0.0)]);
    }
}
