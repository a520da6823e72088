//! Growing one regression tree on gradients and hessians, leaf-wise (best first), as
//! scikit-learn's `TreeGrower` (and LightGBM's leaf-wise growth).
//!
//! The root holds every training row. A node is split when it is the splittable node of largest
//! gain (ties: the node created first); a node becomes a leaf when it has fewer than
//! `2 * min_samples_leaf` rows, no cut of positive gain ([`super::split`]), sits at `max_depth`,
//! or when the tree reaches `max_leaf_nodes` leaves (then every waiting node becomes a leaf).
//! A leaf's value is `learning_rate * -G / (H + l2)` of its rows; a tree that never splits
//! predicts 0, as scikit-learn's does.
//!
//! Rows are kept as one index array partitioned in place (stable, so a node's rows stay in
//! ascending order and histograms sum in the same order on every run). Histograms: the root's
//! is filled from every row; after a split the smaller child's is filled and the larger's is
//! the parent's minus it ([`super::histogram`]); buffers are recycled within the tree.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::binning::BinnedMatrix;
use super::histogram::Histograms;
use rayon::prelude::*;

use super::histogram;
use super::split::{MIN_HESSIAN_TO_SPLIT, NodeSums, SplitInfo, SplitRules, best_cut, best_split, node_value};
use crate::forest::Split;

/// How one tree grows.
#[derive(Clone, Copy, Debug)]
pub struct TreeParams {
    /// Maximum number of leaves (>= 2).
    pub max_leaf_nodes: usize,
    /// Maximum depth of a leaf (the root is depth 0); `None` for no limit.
    pub max_depth: Option<usize>,
    /// Split constraints.
    pub rules: SplitRules,
    /// Shrinkage applied to leaf values.
    pub learning_rate: f64,
}

/// A regression tree on raw features whose leaves hold raw-score increments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoostedTree {
    /// Internal nodes in depth-first order (left first), the root first; a child `c >= 0` is
    /// `splits[c]`, `c < 0` is `leaves[-1 - c]`; empty when the tree is the single leaf 0.
    pub splits: Vec<Split>,
    /// Leaf values (already multiplied by the learning rate).
    pub leaves: Vec<f64>,
}

impl BoostedTree {
    /// The value of the leaf `row` falls into (`x[feature] <= threshold` goes left).
    pub fn value(&self, row: &[f64]) -> f64 {
        let mut node = if self.splits.is_empty() { -1 } else { 0 };
        while node >= 0 {
            let split = &self.splits[node as usize];
            node = if row[split.feature as usize] <= split.threshold { split.left } else { split.right };
        }
        self.leaves[(-1 - node) as usize]
    }
}

/// A grown tree and where each training row ended.
pub struct Grown {
    /// The tree.
    pub tree: BoostedTree,
    /// Training row indices grouped by leaf.
    pub rows: Vec<u32>,
    /// For each leaf (aligned with `tree.leaves`), its range in `rows`.
    pub leaf_rows: Vec<(usize, usize)>,
}

struct Node {
    start: usize,
    end: usize,
    depth: usize,
    sums: NodeSums,
    value: f64,
    split: Option<SplitInfo>,
    histograms: Option<Histograms>,
    children: Option<(usize, usize)>,
}

/// A splittable node in the heap: the largest gain first, then the node created first.
struct Candidate {
    gain: f64,
    node: usize,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.gain.total_cmp(&other.gain).then(other.node.cmp(&self.node))
    }
}

/// The grower's state for one tree.
struct Grower<'a> {
    binned: &'a BinnedMatrix,
    params: &'a TreeParams,
    nodes: Vec<Node>,
    heap: BinaryHeap<Candidate>,
    pool: &'a HistogramPool,
    leaves: usize,
}

/// Histogram buffers recycled across nodes and trees (the trees of one iteration grow in
/// parallel and share it). A buffer's content never matters: [`Histograms::fill`] zeroes what
/// it fills and subtraction overwrites the parent's, so reuse cannot change a tree.
#[derive(Default)]
pub struct HistogramPool(Mutex<Vec<Histograms>>);

impl HistogramPool {
    fn take(&self, n_features: usize, stride: usize) -> Histograms {
        let recycled = self.0.lock().map(|mut pool| pool.pop()).unwrap_or_default();
        recycled.unwrap_or_else(|| Histograms::zeros(n_features, stride))
    }

    fn give(&self, histograms: Histograms) {
        if let Ok(mut pool) = self.0.lock() {
            pool.push(histograms);
        }
    }
}

/// Grows one tree on the rows of `binned` with packed gradients and hessians `gh` (one per
/// row); feature `j` has `n_bins[j]` bins; histogram buffers come from and return to `pool`.
pub fn grow(
    binned: &BinnedMatrix,
    n_bins: &[usize],
    gh: &[[f32; 2]],
    params: &TreeParams,
    pool: &HistogramPool,
) -> Grown {
    let n = binned.n_rows;
    let mut g = Grower {
        binned,
        params,
        nodes: Vec::new(),
        heap: BinaryHeap::new(),
        pool,
        leaves: 0,
    };
    let mut rows: Vec<u32> = (0..n as u32).collect();
    let mut root_histograms = g.histograms();
    root_histograms.fill(binned, None, gh);
    // scikit-learn sums the root from feature 0's histogram.
    let (gradient, hessian) = if n_bins.is_empty() {
        gh.iter().fold((0.0, 0.0), |(a, b), p| (a + f64::from(p[0]), b + f64::from(p[1])))
    } else {
        root_histograms.feature(0).iter().fold((0.0, 0.0), |(a, b), bin| (a + bin.gradient, b + bin.hessian))
    };
    g.nodes.push(Node {
        start: 0,
        end: n,
        depth: 0,
        sums: NodeSums { gradient, hessian, count: n },
        value: 0.0,
        split: None,
        histograms: None,
        children: None,
    });
    if n < 2 * params.rules.min_samples_leaf || hessian < MIN_HESSIAN_TO_SPLIT {
        g.leaves += 1;
    } else {
        let split = best_split(&root_histograms, n_bins, g.nodes[0].sums, 0.0, params.rules);
        g.queue(0, root_histograms, split);
    }
    let mut scratch = vec![0u32; n];
    let mut ordered: Vec<[f32; 2]> = Vec::with_capacity(n);
    while let Some(Candidate { node: id, .. }) = g.heap.pop() {
        let (left, right) = g.split(id, &mut rows, &mut scratch);
        let mut parent_histograms = g.nodes[id].histograms.take().expect("a splittable node keeps its histograms");
        if g.leaves + g.heap.len() + 2 == params.max_leaf_nodes {
            // The tree is full: the children and every waiting node are leaves.
            g.leaves += 2 + g.heap.len();
            for Candidate { node, .. } in std::mem::take(&mut g.heap) {
                if let Some(h) = g.nodes[node].histograms.take() {
                    g.pool.give(h);
                }
            }
            break;
        }
        let at_max_depth = params.max_depth == Some(g.nodes[left].depth);
        let splittable = |node: &Node| !at_max_depth && node.sums.count >= 2 * params.rules.min_samples_leaf;
        let (split_left, split_right) = (splittable(&g.nodes[left]), splittable(&g.nodes[right]));
        g.leaves += usize::from(!split_left) + usize::from(!split_right);
        if !(split_left || split_right) {
            g.pool.give(parent_histograms);
            continue;
        }
        let small_is_left = g.nodes[left].sums.count < g.nodes[right].sums.count;
        let (small, large) = if small_is_left { (left, right) } else { (right, left) };
        let (want_small, want_large) = if small_is_left { (split_left, split_right) } else { (split_right, split_left) };
        let (start, end) = (g.nodes[small].start, g.nodes[small].end);
        ordered.clear();
        ordered.extend(rows[start..end].iter().map(|&i| gh[i as usize]));
        let mut small_histograms = g.histograms();
        let target = |id: usize, wanted: bool| wanted.then(|| (g.nodes[id].sums, g.nodes[id].value));
        let (small_split, large_split) = fill_subtract_and_split(
            binned,
            n_bins,
            &rows[start..end],
            &ordered,
            &mut small_histograms,
            &mut parent_histograms,
            [target(small, want_small), target(large, want_large)],
            params.rules,
        );
        for (child, histograms, wanted, split) in [
            (small, small_histograms, want_small, small_split),
            (large, parent_histograms, want_large, large_split),
        ] {
            if wanted {
                g.queue(child, histograms, split);
            } else {
                g.pool.give(histograms);
            }
        }
    }
    let mut tree = BoostedTree { splits: Vec::new(), leaves: Vec::new() };
    let mut leaf_rows = Vec::new();
    g.emit(0, &mut tree, &mut leaf_rows);
    Grown { tree, rows, leaf_rows }
}

/// The histograms of a split's two children and their best splits, in one pass per feature
/// while its histograms are in cache (on wide tables the separate passes were bound by memory):
/// fills the smaller child's histogram from its rows (`rows`, gradients gathered in `ordered`),
/// turns the parent's into the larger child's by subtraction, and scans each child that is
/// to be split (`targets[0]` small, `targets[1]` large: its sums and value). Features run in
/// parallel and are reduced in order, as [`best_split`].
#[allow(clippy::too_many_arguments)]
fn fill_subtract_and_split(
    binned: &BinnedMatrix,
    n_bins: &[usize],
    rows: &[u32],
    ordered: &[[f32; 2]],
    small: &mut Histograms,
    parent: &mut Histograms,
    targets: [Option<(NodeSums, f64)>; 2],
    rules: SplitRules,
) -> (Option<SplitInfo>, Option<SplitInfo>) {
    let stride = small.stride;
    let min_len = (histogram::MIN_TASK_ROWS / rows.len().max(1)).max(1);
    let per_feature: Vec<[Option<SplitInfo>; 2]> = small
        .bins
        .par_chunks_mut(stride)
        .zip(parent.bins.par_chunks_mut(stride))
        .with_min_len(min_len)
        .enumerate()
        .map(|(j, (small, large))| {
            histogram::fill_feature(small, binned.column(j), Some(rows), ordered);
            for (a, b) in large.iter_mut().zip(small.iter()) {
                a.gradient -= b.gradient;
                a.hessian -= b.hessian;
                a.count -= b.count;
            }
            let scan = |bins: &[histogram::Bin], target: Option<(NodeSums, f64)>| {
                target.and_then(|(sums, value)| best_cut(bins, n_bins[j], j, sums, value, rules))
            };
            [scan(small, targets[0]), scan(large, targets[1])]
        })
        .collect();
    let first_best = |k: usize| {
        per_feature.iter().filter_map(|s| s[k]).fold(None, |best: Option<SplitInfo>, s| match best {
            Some(b) if b.gain >= s.gain => Some(b),
            _ => Some(s),
        })
    };
    (first_best(0), first_best(1))
}

impl Grower<'_> {
    /// A recycled (or new) histogram buffer.
    fn histograms(&self) -> Histograms {
        self.pool.take(self.binned.n_features(), self.binned.max_bins())
    }

    /// Queues the node with its best split and histograms, or makes it a leaf if it has none.
    fn queue(&mut self, id: usize, histograms: Histograms, split: Option<SplitInfo>) {
        match split {
            Some(split) => {
                self.heap.push(Candidate { gain: split.gain, node: id });
                let node = &mut self.nodes[id];
                node.split = Some(split);
                node.histograms = Some(histograms);
            }
            None => {
                self.leaves += 1;
                self.pool.give(histograms);
            }
        }
    }

    /// Partitions the node's rows by its split (stably) and creates its two children.
    fn split(&mut self, id: usize, rows: &mut [u32], scratch: &mut [u32]) -> (usize, usize) {
        let node = &self.nodes[id];
        let split = node.split.expect("a queued node has a split");
        let column = self.binned.column(split.feature);
        let (mut l, mut r) = (node.start, 0);
        for k in node.start..node.end {
            let i = rows[k];
            if usize::from(column[i as usize]) <= split.bin {
                rows[l] = i;
                l += 1;
            } else {
                scratch[r] = i;
                r += 1;
            }
        }
        rows[l..node.end].copy_from_slice(&scratch[..r]);
        let (start, end, depth) = (node.start, node.end, node.depth + 1);
        let l2 = self.params.rules.l2_regularization;
        let child = |start, end, sums: NodeSums| Node {
            start,
            end,
            depth,
            sums,
            value: node_value(sums.gradient, sums.hessian, l2),
            split: None,
            histograms: None,
            children: None,
        };
        let (left, right) = (child(start, l, split.left), child(l, end, split.right));
        let ids = (self.nodes.len(), self.nodes.len() + 1);
        self.nodes.push(left);
        self.nodes.push(right);
        self.nodes[id].children = Some(ids);
        ids
    }

    /// Appends node `id`'s subtree to `tree` depth-first and returns its child code.
    fn emit(&self, id: usize, tree: &mut BoostedTree, leaf_rows: &mut Vec<(usize, usize)>) -> i32 {
        let node = &self.nodes[id];
        match (node.children, node.split) {
            (Some((left, right)), Some(split)) => {
                let at = tree.splits.len();
                tree.splits.push(Split {
                    feature: split.feature as u32,
                    threshold: self.binned.thresholds[split.feature][split.bin],
                    left: 0,
                    right: 0,
                });
                let left = self.emit(left, tree, leaf_rows);
                let right = self.emit(right, tree, leaf_rows);
                (tree.splits[at].left, tree.splits[at].right) = (left, right);
                at as i32
            }
            _ => {
                tree.leaves.push(self.params.learning_rate * node.value);
                leaf_rows.push((node.start, node.end));
                -(tree.leaves.len() as i32)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(max_leaf_nodes: usize, min_samples_leaf: usize) -> TreeParams {
        TreeParams {
            max_leaf_nodes,
            max_depth: None,
            rules: SplitRules { min_samples_leaf, l2_regularization: 0.0 },
            learning_rate: 0.5,
        }
    }

    fn close(a: &[f64], b: &[f64]) {
        assert!(a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-12), "{a:?} vs {b:?}");
    }

    #[test]
    fn splits_where_the_gradients_change_sign_best_first() {
        // One feature 0..8; gradients -1 on 0..4, +1 on 4..6, +3 on 6..8; hessian 1.
        let x: Vec<[f64; 1]> = (0..8).map(|i| [i as f64]).collect();
        let rows: Vec<&[f64]> = x.iter().map(|r| &r[..]).collect();
        let binned = BinnedMatrix::fit(&rows, &[1.0; 8], 255);
        let g = [-1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 3.0, 3.0];
        let gh: Vec<[f32; 2]> = g.iter().map(|&g| [g, 1.0]).collect();
        let grown = grow(&binned, &[8], &gh, &params(3, 1), &HistogramPool::default());
        // Root (value 0): cut after 3 gains 16/4 + 64/4 = 20, after 5 gains 4/6 + 36/2 = 18.67.
        // Then the right node (G=8, H=4, value -2) splits after 5: 4/2 + 36/2 - 16 = 4.
        let s = &grown.tree.splits;
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].feature, s[0].threshold, s[0].left), (0, 3.5, -1));
        assert_eq!((s[1].threshold, s[1].left, s[1].right), (5.5, -2, -3));
        // Leaves: -0.5 * (-4/4), -0.5 * (2/2), -0.5 * (6/2) (up to the 1e-15 in the divisor).
        close(&grown.tree.leaves, &[0.5, -0.5, -1.5]);
        assert_eq!(grown.leaf_rows, vec![(0, 4), (4, 6), (6, 8)]);
        assert_eq!(grown.tree.value(&[4.9]), grown.tree.leaves[1]);
        // Two leaves at most: only the root's split.
        close(&grow(&binned, &[8], &gh, &params(2, 1), &HistogramPool::default()).tree.leaves, &[0.5, -0.5 * 8.0 / 4.0]);
        // min_samples_leaf = 5 > 8 / 2: the root is the only leaf and predicts 0.
        let single = grow(&binned, &[8], &gh, &params(3, 5), &HistogramPool::default());
        assert_eq!((single.tree.splits.len(), single.tree.leaves.clone()), (0, vec![0.0]));
    }
}
