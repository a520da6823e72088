//! Histogram-based gradient-boosted trees, as scikit-learn 1.9's
//! `HistGradientBoostingClassifier` (itself modelled on LightGBM) and, with the squared error
//! as the loss, `HistGradientBoostingRegressor` ([`BoostedRegressor`], for `regress`).
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
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use self::binning::BinnedMatrix;
use self::grow::{BoostedTree, HistogramPool, TreeParams, grow};
use self::split::SplitRules;

/// How the boosting runs (as `regress` keys it, too).
#[derive(Clone, Copy, Debug, Serialize, JsonSchema)]
pub struct BoostingParams {
    /// Boosting iterations (>= 1).
    pub max_iter: usize,
    /// Shrinkage of every tree's leaf values (> 0).
    pub learning_rate: f64,
    /// Maximum leaves per tree (>= 2).
    pub max_leaf_nodes: usize,
    /// Maximum leaf depth; `None` for no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<usize>,
    /// Minimum rows per leaf (>= 1).
    pub min_samples_leaf: usize,
    /// L2 penalty on leaf values (>= 0).
    pub l2_regularization: f64,
    /// Maximum bins per feature (2..=255).
    pub max_bins: usize,
}

impl BoostingParams {
    /// The param out of range, if any, and why, for both stages that boost (`baseline`,
    /// `regress`).
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if self.max_iter == 0 {
            return Err(("max_iter", "must be at least 1".into()));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(("learning_rate", format!("must be a positive number, got {}", self.learning_rate)));
        }
        if self.max_leaf_nodes < 2 {
            return Err(("max_leaf_nodes", "must be at least 2".into()));
        }
        if self.max_depth == Some(0) {
            return Err(("max_depth", "must be at least 1 (leave it unset for no limit)".into()));
        }
        if self.min_samples_leaf == 0 {
            return Err(("min_samples_leaf", "must be at least 1".into()));
        }
        if !(self.l2_regularization.is_finite() && self.l2_regularization >= 0.0) {
            return Err(("l2_regularization", format!("must be a number >= 0, got {}", self.l2_regularization)));
        }
        if !(2..=255).contains(&self.max_bins) {
            return Err(("max_bins", format!("must be from 2 to 255, got {}", self.max_bins)));
        }
        Ok(())
    }
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
        let baseline = loss::baseline(labels, sample_weights, n_classes);
        let gradients = |raw: &[f64], gh: &mut [Vec<[f32; 2]>]| loss::gradients(raw, labels, sample_weights, gh);
        let iterations = boost(rows, sample_weights, &baseline, params, gradients, on_iteration);
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

/// A fitted boosted-trees regressor, as scikit-learn's `HistGradientBoostingRegressor` with
/// its default squared-error loss: the estimate is the mean training value plus every tree's
/// shrunk leaf value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BoostedRegressor {
    /// The mean training value, where every estimate starts.
    pub baseline: f64,
    /// One tree per iteration.
    pub trees: Vec<BoostedTree>,
}

impl BoostedRegressor {
    /// Fits on `rows` with values `targets` (every row weighing 1).
    pub fn fit(rows: &[&[f64]], targets: &[f64], params: &BoostingParams) -> Self {
        let baseline = loss::squared_baseline(targets);
        let weights = vec![1.0; rows.len()];
        let gradients = |raw: &[f64], gh: &mut [Vec<[f32; 2]>]| loss::squared_gradients(raw, targets, &mut gh[0]);
        let iterations = boost(rows, &weights, &[baseline], params, gradients, &|| {});
        Self { baseline, trees: iterations.into_iter().flatten().collect() }
    }

    /// The estimate of each raw feature row.
    pub fn predict(&self, rows: &[&[f64]]) -> Vec<f64> {
        rows.par_iter().map(|row| self.trees.iter().fold(self.baseline, |sum, tree| sum + tree.value(row))).collect()
    }
}

/// The boosting loop of either model: bins `rows` once (quantiles weighed by `weights`), starts
/// every row's raw scores at `baseline` (one per score), and each of `params.max_iter`
/// iterations has `gradients` fill every score's gradients and hessians from the raw scores,
/// grows one tree per score on them (in parallel) and adds its leaf values to the scores.
/// Returns each iteration's trees.
fn boost(
    rows: &[&[f64]],
    weights: &[f64],
    baseline: &[f64],
    params: &BoostingParams,
    gradients: impl Fn(&[f64], &mut [Vec<[f32; 2]>]),
    on_iteration: &(dyn Fn() + Sync),
) -> Vec<Vec<BoostedTree>> {
    let n = rows.len();
    let binned = BinnedMatrix::fit(rows, weights, params.max_bins);
    let n_bins: Vec<usize> = binned.thresholds.iter().map(|t| t.len() + 1).collect();
    let n_scores = baseline.len();
    let mut raw: Vec<f64> = (0..n).flat_map(|_| baseline.iter().copied()).collect();
    let mut gh = vec![vec![[0.0f32; 2]; n]; n_scores];
    let tree_params = TreeParams {
        max_leaf_nodes: params.max_leaf_nodes,
        max_depth: params.max_depth,
        rules: SplitRules { min_samples_leaf: params.min_samples_leaf, l2_regularization: params.l2_regularization },
        learning_rate: params.learning_rate,
    };
    let pool = HistogramPool::default();
    let mut iterations = Vec::with_capacity(params.max_iter);
    for _ in 0..params.max_iter {
        gradients(&raw, &mut gh);
        let grown: Vec<grow::Grown> = gh.par_iter().map(|gh| grow(&binned, &n_bins, gh, &tree_params, &pool)).collect();
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
    iterations
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regressor_learns_a_step_and_starts_at_the_mean() {
        // y = 10 where x > 5, else 0; a noise feature.
        let x: Vec<[f64; 2]> = (0..40).map(|i| [(i % 10) as f64, ((i * 7) % 13) as f64]).collect();
        let rows: Vec<&[f64]> = x.iter().map(|r| &r[..]).collect();
        let y: Vec<f64> = x.iter().map(|r| if r[0] > 5.0 { 10.0 } else { 0.0 }).collect();
        let params = BoostingParams {
            max_iter: 30,
            learning_rate: 0.3,
            max_leaf_nodes: 4,
            max_depth: None,
            min_samples_leaf: 2,
            l2_regularization: 0.0,
            max_bins: 255,
        };
        let model = BoostedRegressor::fit(&rows, &y, &params);
        assert_eq!((model.baseline, model.trees.len()), (4.0, 30));
        assert_eq!((model.trees[0].splits[0].feature, model.trees[0].splits[0].threshold), (0, 5.5));
        let estimates = model.predict(&rows);
        assert!(estimates.iter().zip(&y).all(|(e, y)| (e - y).abs() < 0.01), "{estimates:?}");
    }

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
