//! Histogram-based gradient-boosted trees, as scikit-learn 1.9's
//! `HistGradientBoostingClassifier` (itself modelled on LightGBM).
//!
//! The algorithm, as scikit-learn runs it with `early_stopping=False`:
//! - features are binned once into at most `max_bins` bins on the training rows
//!   ([`binning`]; the class weights weigh the quantiles, as scikit-learn 1.9 does);
//! - raw scores start at the link of the (weighted) class priors; each iteration computes every
//!   row's gradients and hessians of the log loss ([`loss`]: softmax over one score per class,
//!   or for two classes the binomial loss on one score), then grows one tree per score on them
//!   ([`grow`](mod@grow): leaf-wise, histogram splits with [`split`]'s gain) and adds its shrunk leaf
//!   values to the scores; `max_iter` iterations;
//! - `class_weight = "balanced"` enters as sample weights multiplying gradients and hessians;
//!   `min_samples_leaf` counts rows, not weight;
//! - probability = softmax of the summed scores (the logistic sigmoid for two classes).
//!
//! Choices: no early stopping. scikit-learn's default `early_stopping="auto"` turns it on only
//! above 10 000 rows, and then holds out 10 % of the training rows at random; SER tables
//! (RAVDESS: about 1 150 training clips) are far below that, and a fixed iteration count keeps
//! the fit free of randomness, so the seed is not in the key. No row or feature subsampling
//! either. No missing-value handling: the stage rejects non-finite features before fitting.
//!
//! Determinism: histograms fill each feature over the node's rows in order and the best split
//! is reduced over features in order ([`split`]), so a model is byte-identical at any thread
//! count. Parallelism: the trees of one iteration (one per class, independent given the
//! iteration's gradients) grow in parallel, and within a tree the features of a histogram and
//! of a split search.
//!
//! Why not a crate (crates.io, checked for this module): `forust-ml` and `perpetual` follow
//! XGBoost's and their own conventions (depth-wise or self-tuning growth, no scikit-learn
//! binning), `hessboost` reimplements XGBoost, and the smaller `ferricml`, `scry-learn` or
//! `nanogbm` are young single-author crates (nanogbm binary only); none keeps scikit-learn's
//! binning, split gain and multiclass scheme, which the parity tests pin, and the core is a
//! few hundred lines.
//!
//! In `model.json` the trees test raw feature values (`x <= threshold` goes left, thresholds
//! being the bin edges of [`binning`]), so any language can apply the model without the bins.

pub mod binning;
pub mod grow;
pub mod histogram;
pub mod loss;
pub mod split;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use self::binning::BinnedMatrix;
use self::grow::{BoostedTree, HistogramPool, TreeParams, grow};
use self::split::SplitRules;

/// How the boosting runs.
#[derive(Clone, Copy, Debug)]
pub struct BoostingParams {
    /// Boosting iterations (>= 1).
    pub max_iter: usize,
    /// Shrinkage of every tree's leaf values (> 0).
    pub learning_rate: f64,
    /// Maximum leaves per tree (>= 2).
    pub max_leaf_nodes: usize,
    /// Maximum leaf depth; `None` for no limit.
    pub max_depth: Option<usize>,
    /// Minimum rows per leaf (>= 1).
    pub min_samples_leaf: usize,
    /// L2 penalty on leaf values (>= 0).
    pub l2_regularization: f64,
    /// Maximum bins per feature (2..=255).
    pub max_bins: usize,
}

/// A fitted boosted-trees classifier.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GradientBoosting {
    /// Number of classes.
    pub n_classes: usize,
    /// Initial raw scores: one for two classes (class 1's logit), else one per class.
    pub baseline: Vec<f64>,
    /// Per iteration, one tree per raw score.
    pub iterations: Vec<Vec<BoostedTree>>,
}

impl GradientBoosting {
    /// Fits on `rows` with class indices `labels` (< `n_classes`) and per-row sample weights;
    /// `on_iteration` is called after each iteration (progress).
    pub fn fit(
        rows: &[&[f64]],
        labels: &[usize],
        n_classes: usize,
        sample_weights: &[f64],
        params: &BoostingParams,
        on_iteration: &(dyn Fn() + Sync),
    ) -> Self {
        let n = rows.len();
        let binned = BinnedMatrix::fit(rows, sample_weights, params.max_bins);
        let n_bins: Vec<usize> = binned.thresholds.iter().map(|t| t.len() + 1).collect();
        let n_scores = loss::n_scores(n_classes);
        let baseline = loss::baseline(labels, sample_weights, n_classes);
        let mut raw: Vec<f64> = (0..n).flat_map(|_| baseline.iter().copied()).collect();
        let mut gh = vec![vec![[0.0f32; 2]; n]; n_scores];
        let tree_params = TreeParams {
            max_leaf_nodes: params.max_leaf_nodes,
            max_depth: params.max_depth,
            rules: SplitRules {
                min_samples_leaf: params.min_samples_leaf,
                l2_regularization: params.l2_regularization,
            },
            learning_rate: params.learning_rate,
        };
        let pool = HistogramPool::default();
        let mut iterations = Vec::with_capacity(params.max_iter);
        for _ in 0..params.max_iter {
            loss::gradients(&raw, labels, sample_weights, &mut gh);
            let grown: Vec<grow::Grown> =
                gh.par_iter().map(|gh| grow(&binned, &n_bins, gh, &tree_params, &pool)).collect();
            for (k, g) in grown.iter().enumerate() {
                for (&value, &(start, end)) in g.tree.leaves.iter().zip(&g.leaf_rows) {
                    for &i in &g.rows[start..end] {
                        raw[i as usize * n_scores + k] += value;
                    }
                }
            }
            iterations.push(grown.into_iter().map(|g| g.tree).collect());
            on_iteration();
        }
        Self { n_classes, baseline, iterations }
    }

    /// The raw scores of one row: the baseline plus every tree's value, in iteration order.
    pub fn scores(&self, row: &[f64]) -> Vec<f64> {
        let mut scores = self.baseline.clone();
        for trees in &self.iterations {
            for (s, tree) in scores.iter_mut().zip(trees) {
                *s += tree.value(row);
            }
        }
        scores
    }

    /// Class probabilities of raw feature rows.
    pub fn predict_proba(&self, rows: &[&[f64]]) -> Vec<Vec<f64>> {
        rows.par_iter().map(|row| loss::probabilities(&self.scores(row))).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_threshold_and_predicts_training_rows_as_the_fit_saw_them() {
        // Class 1 where x > 5, two classes; a noise feature.
        let x: Vec<[f64; 2]> = (0..40).map(|i| [(i % 10) as f64, ((i * 7) % 13) as f64]).collect();
        let rows: Vec<&[f64]> = x.iter().map(|r| &r[..]).collect();
        let labels: Vec<usize> = x.iter().map(|r| usize::from(r[0] > 5.0)).collect();
        let params = BoostingParams {
            max_iter: 20,
            learning_rate: 0.3,
            max_leaf_nodes: 4,
            max_depth: None,
            min_samples_leaf: 2,
            l2_regularization: 0.0,
            max_bins: 255,
        };
        let model = GradientBoosting::fit(&rows, &labels, 2, &[1.0; 40], &params, &|| {});
        assert_eq!((model.baseline.len(), model.iterations.len(), model.iterations[0].len()), (1, 20, 1));
        // The first tree splits the signal feature between 5 and 6.
        let first = &model.iterations[0][0];
        assert_eq!((first.splits[0].feature, first.splits[0].threshold), (0, 5.5));
        let p = model.predict_proba(&rows);
        assert!(p.iter().zip(&labels).all(|(p, &y)| p[y] > 0.9), "{p:?}");
    }
}
