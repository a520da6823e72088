//! The best split of a node from its histograms, as scikit-learn's `Splitter` (splitting.pyx)
//! without missing values, categorical features, monotonic or interaction constraints.
//!
//! For each feature the bins are scanned left to right, accumulating the left child's sums
//! `G_L, H_L, n_L` (the right child's are the node's minus them). A cut after bin `b` is a
//! candidate when both children keep at least `min_samples_leaf` rows and a hessian sum of at
//! least `1e-3` (scikit-learn's `min_hessian_to_split`); its gain is
//!
//! ```text
//! value(G, H) = -G / (H + l2 + 1e-15)
//! gain = G_L^2 / (H_L + l2) + G_R^2 / (H_R + l2) + G * value_node      (ignoring the 1e-15)
//! ```
//!
//! i.e. scikit-learn's `loss(node) - loss(left) - loss(right)` with `loss = G * value`, where
//! `value_node` is the node's own value as its parent's split computed it (0 at the root, as in
//! scikit-learn). The best cut of a feature is its first one of largest gain (cuts are ranked
//! by the gain's variable part compared as fractions, so without dividing; the winner's gain is
//! then computed as scikit-learn does and must be above 0); the best split of the node is the
//! first feature's of largest gain, so ties go to the lower feature and bin whatever the thread
//! count. Features are scanned in parallel and reduced in order.

use rayon::prelude::*;

use super::histogram::{Bin, Histograms};

/// scikit-learn's `min_hessian_to_split`: a child needs at least this hessian sum.
pub const MIN_HESSIAN_TO_SPLIT: f64 = 1e-3;

/// The constraints a split must satisfy.
#[derive(Clone, Copy, Debug)]
pub struct SplitRules {
    /// Minimum rows in each child.
    pub min_samples_leaf: usize,
    /// L2 penalty on leaf values (added to hessian sums).
    pub l2_regularization: f64,
}

/// The sums of a node (or of a would-be child).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NodeSums {
    /// Sum of gradients.
    pub gradient: f64,
    /// Sum of hessians.
    pub hessian: f64,
    /// Number of rows.
    pub count: usize,
}

/// The chosen split of a node.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SplitInfo {
    /// Loss reduction.
    pub gain: f64,
    /// The feature split on.
    pub feature: usize,
    /// Rows with `bin <= bin` go left.
    pub bin: usize,
    /// The left child's sums.
    pub left: NodeSums,
    /// The right child's sums.
    pub right: NodeSums,
}

/// The optimal (unshrunk) value of a leaf with sums `gradient`, `hessian`.
pub fn node_value(gradient: f64, hessian: f64, l2_regularization: f64) -> f64 {
    -gradient / (hessian + l2_regularization + 1e-15)
}

/// scikit-learn's `_split_gain`: `loss_node - loss_left - loss_right` with `loss = G * value`.
pub fn split_gain(left: (f64, f64), right: (f64, f64), loss_node: f64, l2_regularization: f64) -> f64 {
    let value_left = node_value(left.0, left.1, l2_regularization);
    let value_right = node_value(right.0, right.1, l2_regularization);
    loss_node - left.0 * value_left - right.0 * value_right
}

/// The best split of a node with sums `node` and value `value` over all features, where
/// feature `j` has `n_bins[j]` bins; `None` when no cut satisfies the rules with a positive gain.
pub fn best_split(
    histograms: &Histograms,
    n_bins: &[usize],
    node: NodeSums,
    value: f64,
    rules: SplitRules,
) -> Option<SplitInfo> {
    let per_feature: Vec<Option<SplitInfo>> = (0..n_bins.len())
        .into_par_iter()
        .with_min_len(8)
        .map(|j| best_cut(histograms.feature(j), n_bins[j], j, node, value, rules))
        .collect();
    per_feature.into_iter().flatten().fold(None, |best: Option<SplitInfo>, s| match best {
        Some(b) if b.gain >= s.gain => Some(b),
        _ => Some(s),
    })
}

/// The best cut of one feature's histogram (see the module doc).
pub fn best_cut(
    bins: &[Bin],
    n_bins: usize,
    feature: usize,
    node: NodeSums,
    value: f64,
    rules: SplitRules,
) -> Option<SplitInfo> {
    let loss_node = node.gradient * value;
    let n = node.count as f64;
    let min_leaf = rules.min_samples_leaf as f64;
    let (mut g_left, mut h_left, mut n_left) = (0.0, 0.0, 0.0);
    // Within a feature the node's loss is a constant, so cuts are ranked by
    // `G_L^2 / (H_L + c) + G_R^2 / (H_R + c)` (c = l2 + 1e-15), compared as fractions
    // `num / den` without dividing (two divisions per bin were half the fit); the winner's gain
    // is then computed with scikit-learn's formula.
    let c = rules.l2_regularization + 1e-15;
    let mut best: Option<(f64, f64, usize, f64, f64, f64)> = None;
    for (b, bin) in bins.iter().enumerate().take(n_bins.saturating_sub(1)) {
        // An empty bin gives the same children as the bin before it, so never a strictly better
        // cut; it is not skipped, though: a data-dependent branch there costs more in
        // mispredictions than the arithmetic it saves.
        g_left += bin.gradient;
        h_left += bin.hessian;
        n_left += bin.count;
        let (g_right, h_right) = (node.gradient - g_left, node.hessian - h_left);
        if n_left < min_leaf {
            continue;
        }
        if n - n_left < min_leaf {
            break;
        }
        if h_left < MIN_HESSIAN_TO_SPLIT {
            continue;
        }
        if h_right < MIN_HESSIAN_TO_SPLIT {
            break;
        }
        let (den_left, den_right) = (h_left + c, h_right + c);
        let den = den_left * den_right;
        let num = g_left * g_left * den_right + g_right * g_right * den_left;
        if best.is_none_or(|(best_num, best_den, ..)| num * best_den > best_num * den) {
            best = Some((num, den, b, g_left, h_left, n_left));
        }
    }
    let (_, _, bin, g, h, count) = best?;
    let gain = split_gain((g, h), (node.gradient - g, node.hessian - h), loss_node, rules.l2_regularization);
    (gain > 0.0).then_some(SplitInfo {
        gain,
        feature,
        bin,
        left: NodeSums { gradient: g, hessian: h, count: count as usize },
        right: NodeSums {
            gradient: node.gradient - g,
            hessian: node.hessian - h,
            count: node.count - count as usize,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bin(gradient: f64, hessian: f64, count: f64) -> Bin {
        Bin { gradient, hessian, count }
    }

    #[test]
    fn gain_by_hand() {
        // Left G=-4, H=2; right G=6, H=3; node G=2, H=5 and value -2/5 (l2 = 0).
        // 16/2 + 36/3 - 4/5 = 8 + 12 - 0.8.
        let gain = split_gain((-4.0, 2.0), (6.0, 3.0), 2.0 * node_value(2.0, 5.0, 0.0), 0.0);
        assert!((gain - 19.2).abs() < 1e-12, "{gain}");
        // l2 = 1: 16/3 + 36/4 - 4/6.
        let gain = split_gain((-4.0, 2.0), (6.0, 3.0), 2.0 * node_value(2.0, 5.0, 1.0), 1.0);
        assert!((gain - (16.0 / 3.0 + 9.0 - 4.0 / 6.0)).abs() < 1e-12, "{gain}");
    }

    #[test]
    fn best_cut_respects_min_samples_leaf_and_takes_the_first_best() {
        // Bins: gradients -2, -2, +2, +2 (one row each, hessian 1): the cut after bin 1 separates
        // the signs: gain 16/2 + 16/2 = 16 at the root (value 0).
        let bins = [bin(-2.0, 1.0, 1.0), bin(-2.0, 1.0, 1.0), bin(2.0, 1.0, 1.0), bin(2.0, 1.0, 1.0)];
        let node = NodeSums { gradient: 0.0, hessian: 4.0, count: 4 };
        let rules = SplitRules { min_samples_leaf: 1, l2_regularization: 0.0 };
        let s = best_cut(&bins, 4, 3, node, 0.0, rules).unwrap();
        assert_eq!((s.feature, s.bin, s.left.count, s.right.count), (3, 1, 2, 2));
        assert!((s.gain - 16.0).abs() < 1e-12);
        // min_samples_leaf = 3 leaves no cut with 4 rows.
        assert_eq!(best_cut(&bins, 4, 3, node, 0.0, SplitRules { min_samples_leaf: 3, ..rules }), None);
        // Two features with the same best gain: the first wins.
        let mut h = Histograms::zeros(2, 4);
        h.bins[..4].copy_from_slice(&bins);
        h.bins[4..].copy_from_slice(&bins);
        assert_eq!(best_split(&h, &[4, 4], node, 0.0, rules).unwrap().feature, 0);
        // Children need a hessian sum of 1e-3: with tiny hessians there is no cut.
        let tiny = bins.map(|b| Bin { hessian: 1e-4, ..b });
        assert_eq!(best_cut(&tiny, 4, 0, NodeSums { hessian: 4e-4, ..node }, 0.0, rules), None);
    }
}
