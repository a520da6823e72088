//! A random forest of Gini classification trees, following scikit-learn's
//! `RandomForestClassifier` (Breiman's algorithm as scikit-learn implements it).
//!
//! Why not a crate: smartcore 0.7's forest predicts by majority vote only (no probabilities; its
//! trees' `predict_proba` is one-hot), has no class or sample weights (its bootstrap is a
//! per-class resample), grows trees one after another, and scans every training row at every
//! node. linfa-ensemble 0.8's `RandomForest` is a bagging wrapper over linfa-trees with the same
//! gaps (majority vote, no class weights) and collects trees from a parallel iterator in
//! nondeterministic order. vox needs leaf-distribution probabilities (ensembles and metrics
//! read them), `class_weight = "balanced"` and byte-identical output for a seed.
//!
//! The algorithm, point by point as scikit-learn does it:
//! - Class weights (scikit-learn's `"balanced"`, computed on the whole training set) enter as
//!   scikit-learn 1.9 applies sample weights: with bootstrap, each tree draws `n` rows with
//!   replacement with probabilities proportional to their class weight, and a row drawn `k`
//!   times weighs `k`; without bootstrap every row is used once and weighs its class weight.
//!   (Earlier scikit-learn releases drew uniformly and weighed rows by `k * class_weight`.)
//! - A node is a leaf when it is pure, at `max_depth`, or has fewer than
//!   `max(2, 2 * min_samples_leaf)` distinct rows; else features are drawn without replacement until
//!   `max_features` have been inspected and at least one of them is not constant in the node,
//!   and the split with the lowest weighted Gini impurity of the children is taken (first one
//!   on ties), both children keeping at least `min_samples_leaf` distinct rows.
//! - A threshold is the midpoint of two consecutive distinct values in the node; rows with
//!   `x <= threshold` go left.
//! - A leaf stores the normalized weighted class distribution of its rows; the forest's
//!   probability is the mean of the trees' leaf distributions.
//! - Feature importance is the weighted Gini decrease of the feature's splits, normalized per
//!   tree, averaged over the trees that split at all, and normalized again.
//!
//! Speed: every feature is ranked once per forest (dense ranks as `u32`), so that a node sorts
//! `(rank << 32 | row)` integer keys of its own rows for each inspected feature rather than
//! floats, and the Gini scan updates the children's sums of squared class weights in O(1) per
//! row. Trees are grown in parallel with rayon and collected in order. Randomness: tree `t` uses
//! the ChaCha8 stream `t` of the seed for its bootstrap and its feature draws, so a forest does
//! not depend on the number of threads.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Hyperparameters of [`Forest::fit`].
#[derive(Clone, Debug)]
pub struct ForestParams {
    /// Number of trees.
    pub n_trees: usize,
    /// Maximum depth (the root is at depth 0); `None` grows until the leaves are pure.
    pub max_depth: Option<usize>,
    /// Minimum number of distinct training rows in a leaf.
    pub min_samples_leaf: usize,
    /// Features inspected per split, `1..=n_features`.
    pub max_features: usize,
    /// Whether each tree trains on a bootstrap sample (else on every row once).
    pub bootstrap: bool,
    /// Seed of every tree's random stream.
    pub seed: u64,
}

/// A fitted random forest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Forest {
    /// Number of classes; leaf distributions have this length.
    pub n_classes: usize,
    /// Mean-decrease-in-impurity importance of each feature; sums to 1 unless no tree split.
    pub importances: Vec<f64>,
    /// The trees.
    pub trees: Vec<Tree>,
}

/// One classification tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    /// The internal nodes in depth-first order, the root first; empty when the tree is a single
    /// leaf (leaf 0).
    pub splits: Vec<Split>,
    /// The normalized class distribution of each leaf.
    pub leaves: Vec<Vec<f64>>,
}

/// An internal node. A child `c >= 0` is `splits[c]`; `c < 0` is `leaves[-1 - c]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// The feature column tested.
    pub feature: u32,
    /// Rows with `x[feature] <= threshold` go to `left`.
    pub threshold: f64,
    /// The child for `x[feature] <= threshold`.
    pub left: i32,
    /// The child for `x[feature] > threshold`.
    pub right: i32,
}

impl Tree {
    /// The class distribution of the leaf `row` falls into.
    pub fn leaf(&self, row: &[f64]) -> &[f64] {
        let mut node = if self.splits.is_empty() { -1 } else { 0 };
        while node >= 0 {
            let split = &self.splits[node as usize];
            node = if row[split.feature as usize] <= split.threshold {
                split.left
            } else {
                split.right
            };
        }
        &self.leaves[(-1 - node) as usize]
    }
}

impl Forest {
    /// Grows `params.n_trees` trees on `rows` with class indices `labels` (< `n_classes`) and
    /// per-class weights `class_weights`; calls `on_tree` after each tree (for progress).
    pub fn fit(
        rows: &[&[f64]],
        labels: &[usize],
        n_classes: usize,
        class_weights: &[f64],
        params: &ForestParams,
        on_tree: &(dyn Fn() + Sync),
    ) -> Self {
        let columns = RankedColumns::new(rows);
        let row_weights: Vec<f64> = labels.iter().map(|&y| class_weights[y]).collect();
        let sampler = BootstrapSampler::new(&row_weights);
        let grown: Vec<(Tree, Vec<f64>)> = (0..params.n_trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
                rng.set_stream(t as u64);
                let weights = if params.bootstrap {
                    sampler.draw(&mut rng)
                } else {
                    row_weights.clone()
                };
                let grown =
                    TreeBuilder::new(&columns, labels, n_classes, params, rng, weights).grow();
                on_tree();
                grown
            })
            .collect();
        let n_features = columns.n_features;
        let mut importances = vec![0.0; n_features];
        for (_, tree_importances) in &grown {
            normalized_add(&mut importances, tree_importances);
        }
        let total: f64 = importances.iter().sum();
        if total > 0.0 {
            importances.iter_mut().for_each(|v| *v /= total);
        }
        Self {
            n_classes,
            importances,
            trees: grown.into_iter().map(|(tree, _)| tree).collect(),
        }
    }

    /// The mean leaf distribution over the trees, for each row.
    pub fn predict_proba(&self, rows: &[&[f64]]) -> Vec<Vec<f64>> {
        let n_trees = self.trees.len() as f64;
        rows.par_iter()
            .map(|row| {
                let mut sum = vec![0.0; self.n_classes];
                for tree in &self.trees {
                    sum.iter_mut()
                        .zip(tree.leaf(row))
                        .for_each(|(s, p)| *s += p);
                }
                sum.iter().map(|s| s / n_trees).collect()
            })
            .collect()
    }
}

/// Adds `values / sum(values)` to `acc` when the sum is positive.
fn normalized_add(acc: &mut [f64], values: &[f64]) {
    let total: f64 = values.iter().sum();
    if total > 0.0 {
        acc.iter_mut()
            .zip(values)
            .for_each(|(a, v)| *a += v / total);
    }
}

/// The training features ranked once for all trees.
struct RankedColumns {
    n_rows: usize,
    n_features: usize,
    /// `ranks[f * n_rows + i]`: dense rank of row `i`'s value among feature `f`'s distinct values.
    ranks: Vec<u32>,
    /// Each feature's distinct values, ascending (indexed by rank).
    values: Vec<Vec<f64>>,
}

impl RankedColumns {
    fn new(rows: &[&[f64]]) -> Self {
        let n_rows = rows.len();
        let n_features = rows.first().map_or(0, |r| r.len());
        let per_feature: Vec<(Vec<u32>, Vec<f64>)> = (0..n_features)
            .into_par_iter()
            .map(|f| {
                let mut order: Vec<u32> = (0..n_rows as u32).collect();
                order.sort_by(|&a, &b| rows[a as usize][f].total_cmp(&rows[b as usize][f]));
                let mut ranks = vec![0; n_rows];
                let mut values: Vec<f64> = Vec::new();
                for &i in &order {
                    let x = rows[i as usize][f];
                    if values.last() != Some(&x) {
                        values.push(x);
                    }
                    ranks[i as usize] = values.len() as u32 - 1;
                }
                (ranks, values)
            })
            .collect();
        let (ranks, values): (Vec<Vec<u32>>, Vec<Vec<f64>>) = per_feature.into_iter().unzip();
        Self {
            n_rows,
            n_features,
            ranks: ranks.concat(),
            values,
        }
    }

    fn ranks(&self, feature: usize) -> &[u32] {
        &self.ranks[feature * self.n_rows..(feature + 1) * self.n_rows]
    }
}

/// The best split found in a node.
#[derive(Clone, Copy)]
struct Candidate {
    feature: usize,
    /// Rows with rank `<= rank` go left.
    rank: u32,
    /// The next distinct rank present in the node.
    next_rank: u32,
    /// `sum_k left_k^2 / w_left + sum_k right_k^2 / w_right`: the larger, the purer.
    proxy: f64,
}

/// A node waiting to be grown: rows `start..end` of the sample list, and where to link it.
struct Pending {
    start: usize,
    end: usize,
    depth: usize,
    /// The parent split and whether this is its left child; `None` for the root.
    parent: Option<(usize, bool)>,
}

/// Grows one tree.
struct TreeBuilder<'a> {
    columns: &'a RankedColumns,
    labels: &'a [usize],
    n_classes: usize,
    params: &'a ForestParams,
    rng: ChaCha8Rng,
    /// Feature indices, partially reshuffled at each node.
    features: Vec<usize>,
    /// Scratch: `(rank << 32) | row` of the node's rows for one feature.
    keys: Vec<u64>,
    /// Scratch: left-child class weights during a scan.
    left: Vec<f64>,
    /// Each training row's weight in this tree (0 when out of bag).
    weights: Vec<f64>,
}

impl<'a> TreeBuilder<'a> {
    fn new(
        columns: &'a RankedColumns,
        labels: &'a [usize],
        n_classes: usize,
        params: &'a ForestParams,
        rng: ChaCha8Rng,
        weights: Vec<f64>,
    ) -> Self {
        Self {
            columns,
            labels,
            n_classes,
            params,
            rng,
            features: (0..columns.n_features).collect(),
            keys: Vec::with_capacity(columns.n_rows),
            left: vec![0.0; n_classes],
            weights,
        }
    }

    /// The tree grown on the rows of positive weight, and its (unnormalized) impurity decrease
    /// per feature.
    fn grow(mut self) -> (Tree, Vec<f64>) {
        let mut samples: Vec<u32> = (0..self.columns.n_rows as u32)
            .filter(|&i| self.weights[i as usize] > 0.0)
            .collect();

        let mut tree = Tree {
            splits: Vec::new(),
            leaves: Vec::new(),
        };
        let mut importances = vec![0.0; self.columns.n_features];
        let mut stack = vec![Pending {
            start: 0,
            end: samples.len(),
            depth: 0,
            parent: None,
        }];
        while let Some(node) = stack.pop() {
            let rows = &mut samples[node.start..node.end];
            let mut totals = vec![0.0; self.n_classes];
            for &i in rows.iter() {
                totals[self.labels[i as usize]] += self.weights[i as usize];
            }
            let weight: f64 = totals.iter().sum();
            let squares: f64 = totals.iter().map(|t| t * t).sum();
            let impurity = 1.0 - squares / (weight * weight);
            let m = rows.len();
            let is_leaf = impurity <= f64::EPSILON
                || self.params.max_depth.is_some_and(|d| node.depth >= d)
                || m < 2
                || m < 2 * self.params.min_samples_leaf;
            let split = if is_leaf {
                None
            } else {
                self.best_split(rows, &totals, weight, squares)
            };
            let child = match split {
                None => {
                    tree.leaves
                        .push(totals.iter().map(|t| t / weight).collect());
                    -(tree.leaves.len() as i32)
                }
                Some(best) => {
                    let ranks = self.columns.ranks(best.feature);
                    let mid = partition(rows, |i| ranks[i as usize] <= best.rank);
                    // weight * impurity - (children's weighted impurities) = proxy - squares / weight.
                    importances[best.feature] += best.proxy - squares / weight;
                    let values = &self.columns.values[best.feature];
                    let index = tree.splits.len();
                    tree.splits.push(Split {
                        feature: best.feature as u32,
                        threshold: midpoint(
                            values[best.rank as usize],
                            values[best.next_rank as usize],
                        ),
                        left: 0,
                        right: 0,
                    });
                    let depth = node.depth + 1;
                    let (start, end) = (node.start, node.end);
                    stack.push(Pending {
                        start: start + mid,
                        end,
                        depth,
                        parent: Some((index, false)),
                    });
                    stack.push(Pending {
                        start,
                        end: start + mid,
                        depth,
                        parent: Some((index, true)),
                    });
                    index as i32
                }
            };
            match node.parent {
                Some((parent, true)) => tree.splits[parent].left = child,
                Some((parent, false)) => tree.splits[parent].right = child,
                None => {}
            }
        }
        (tree, importances)
    }

    /// The best split of the node holding `rows`, with class weights `totals` summing to
    /// `weight` and whose squares sum to `squares`.
    fn best_split(
        &mut self,
        rows: &[u32],
        totals: &[f64],
        weight: f64,
        squares: f64,
    ) -> Option<Candidate> {
        let n_features = self.features.len();
        let min_leaf = self.params.min_samples_leaf;
        let m = rows.len();
        let mut best: Option<Candidate> = None;
        let (mut visited, mut found_varying) = (0, false);
        while visited < n_features && (visited < self.params.max_features || !found_varying) {
            let pick = self.rng.random_range(visited..n_features);
            self.features.swap(visited, pick);
            let feature = self.features[visited];
            visited += 1;

            let ranks = self.columns.ranks(feature);
            self.keys.clear();
            self.keys.extend(
                rows.iter()
                    .map(|&i| (u64::from(ranks[i as usize]) << 32) | u64::from(i)),
            );
            let (lo, hi) = self.keys.iter().fold((u64::MAX, 0), |(lo, hi), &k| {
                (lo.min(k >> 32), hi.max(k >> 32))
            });
            if lo == hi {
                continue;
            }
            found_varying = true;
            self.keys.sort_unstable();

            self.left.fill(0.0);
            let (mut left_weight, mut left_squares, mut right_squares) = (0.0, 0.0, squares);
            for p in 0..m - 1 {
                let row = (self.keys[p] & u64::from(u32::MAX)) as usize;
                let (class, w) = (self.labels[row], self.weights[row]);
                let left = self.left[class];
                let right = totals[class] - left;
                left_squares += w * (2.0 * left + w);
                right_squares += w * (w - 2.0 * right);
                self.left[class] = left + w;
                left_weight += w;

                let n_left = p + 1;
                if n_left < min_leaf {
                    continue;
                }
                if m - n_left < min_leaf {
                    break;
                }
                let (rank, next_rank) =
                    ((self.keys[p] >> 32) as u32, (self.keys[p + 1] >> 32) as u32);
                if rank == next_rank {
                    continue;
                }
                let proxy = left_squares / left_weight + right_squares / (weight - left_weight);
                if best.is_none_or(|b| proxy > b.proxy) {
                    best = Some(Candidate {
                        feature,
                        rank,
                        next_rank,
                        proxy,
                    });
                }
            }
        }
        best
    }
}

/// Draws bootstrap samples with probabilities proportional to row weights.
struct BootstrapSampler {
    /// Running sums of the row weights.
    cumulative: Vec<f64>,
}

impl BootstrapSampler {
    fn new(row_weights: &[f64]) -> Self {
        let cumulative = row_weights
            .iter()
            .scan(0.0, |sum, w| {
                *sum += w;
                Some(*sum)
            })
            .collect();
        Self { cumulative }
    }

    /// How many times each of `n` draws with replacement picked each row, as weights.
    fn draw(&self, rng: &mut impl Rng) -> Vec<f64> {
        let n = self.cumulative.len();
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let mut counts = vec![0.0; n];
        for _ in 0..n {
            let u = rng.random::<f64>() * total;
            counts[self.cumulative.partition_point(|&c| c <= u).min(n - 1)] += 1.0;
        }
        counts
    }
}

/// Moves the rows for which `goes_left` holds to the front; returns how many there are.
fn partition(rows: &mut [u32], goes_left: impl Fn(u32) -> bool) -> usize {
    let mut mid = 0;
    for j in 0..rows.len() {
        if goes_left(rows[j]) {
            rows.swap(mid, j);
            mid += 1;
        }
    }
    mid
}

/// The threshold between two consecutive distinct values (scikit-learn's rule: the midpoint,
/// or the lower value when the midpoint rounds up to the upper one).
fn midpoint(lower: f64, upper: f64) -> f64 {
    let mid = lower / 2.0 + upper / 2.0;
    if mid == upper || !mid.is_finite() {
        lower
    } else {
        mid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(n_trees: usize, bootstrap: bool, max_features: usize) -> ForestParams {
        ForestParams {
            n_trees,
            max_depth: None,
            min_samples_leaf: 1,
            max_features,
            bootstrap,
            seed: 7,
        }
    }

    fn fit(rows: &[&[f64]], labels: &[usize], params: &ForestParams) -> Forest {
        Forest::fit(rows, labels, 2, &[1.0, 1.0], params, &|| {})
    }

    /// Feature 0 is constant, feature 1 separates the classes between 3 and 10.
    const ROWS: [&[f64]; 6] = [
        &[5.0, 1.0],
        &[5.0, 2.0],
        &[5.0, 3.0],
        &[5.0, 10.0],
        &[5.0, 11.0],
        &[5.0, 12.0],
    ];
    const LABELS: [usize; 6] = [0, 0, 0, 1, 1, 1];

    #[test]
    fn splits_at_the_midpoint_of_the_separating_gap() {
        // One feature drawn per node: the constant one does not count, so the search goes on.
        let forest = fit(&ROWS, &LABELS, &params(1, false, 1));
        let tree = &forest.trees[0];
        assert_eq!(
            tree.splits,
            vec![Split {
                feature: 1,
                threshold: 6.5,
                left: -1,
                right: -2
            }]
        );
        assert_eq!(tree.leaves, vec![vec![1.0, 0.0], vec![0.0, 1.0]]);
        assert_eq!(forest.importances, vec![0.0, 1.0]);
        assert_eq!(
            forest.predict_proba(&[&[0.0, 6.5], &[0.0, 6.6]]),
            vec![vec![1.0, 0.0], vec![0.0, 1.0]]
        );
    }

    #[test]
    fn min_samples_leaf_and_max_depth_stop_growth() {
        let mut p = params(1, false, 2);
        p.min_samples_leaf = 4;
        let tree = &fit(&ROWS, &LABELS, &p).trees[0];
        assert!(tree.splits.is_empty());
        assert_eq!(tree.leaves, vec![vec![0.5, 0.5]]);

        // Labels 0 0 1 0 1 1: depth 1 allows one split, whose children are impure.
        let labels = [0, 0, 1, 0, 1, 1];
        let mut p = params(1, false, 2);
        p.max_depth = Some(1);
        let tree = &fit(&ROWS, &labels, &p).trees[0];
        assert_eq!(tree.splits.len(), 1);
        assert_eq!(tree.leaves.len(), 2);
        // Fully grown, every leaf is pure.
        let tree = &fit(&ROWS, &labels, &params(1, false, 2)).trees[0];
        assert!(
            tree.leaves.iter().all(|l| l.contains(&1.0)),
            "{:?}",
            tree.leaves
        );
    }

    #[test]
    fn class_weights_shape_leaf_distributions() {
        // Two rows that cannot be separated: the leaf holds their weighted distribution.
        let rows: [&[f64]; 3] = [&[1.0], &[1.0], &[1.0]];
        let forest = Forest::fit(
            &rows,
            &[0, 0, 1],
            2,
            &[0.75, 1.5],
            &params(1, false, 1),
            &|| {},
        );
        assert_eq!(forest.trees[0].leaves, vec![vec![0.5, 0.5]]);
    }

    #[test]
    fn bootstrap_streams_depend_on_the_seed_only() {
        let a = fit(&ROWS, &LABELS, &params(8, true, 1));
        let b = rayon::ThreadPoolBuilder::new()
            .num_threads(1)
            .build()
            .unwrap()
            .install(|| fit(&ROWS, &LABELS, &params(8, true, 1)));
        assert_eq!(a, b);
        let mut other = params(8, true, 1);
        other.seed = 8;
        assert_ne!(a, fit(&ROWS, &LABELS, &other));
    }

    #[test]
    fn bootstrap_draws_rows_in_proportion_to_their_weight() {
        // 1000 rows of weight 3 and 3000 of weight 1 (one of them 0): half the draws each.
        let mut weights = vec![3.0; 1000];
        weights.extend(vec![1.0; 3000]);
        weights[1500] = 0.0;
        let counts = BootstrapSampler::new(&weights).draw(&mut ChaCha8Rng::seed_from_u64(1));
        assert_eq!(counts.iter().sum::<f64>(), 4000.0);
        assert_eq!(counts[1500], 0.0);
        let heavy = counts[..1000].iter().sum::<f64>() / 4000.0;
        assert!((heavy - 0.5).abs() < 0.03, "{heavy}");
    }

    #[test]
    fn thresholds_follow_scikit_learn_rounding() {
        assert_eq!(midpoint(1.0, 2.0), 1.5);
        let next = f64::from_bits(1.0f64.to_bits() + 1);
        assert_eq!(midpoint(1.0, next), 1.0);
    }
}
