//! A kernel SVM with an RBF kernel on standardized features, as scikit-learn's
//! `SVC(kernel="rbf", probability=True)` behind a `StandardScaler` (libsvm inside).
//!
//! - Features are standardized like the linear models' (the featurize stage's
//!   `standardization.csv` when there is one, else the training rows' statistics).
//! - Kernel `K(x, z) = exp(-gamma |x - z|^2)`; `gamma = "scale"` is `1 / (n_features * var)`
//!   with `var` the variance of every value of the standardized training matrix (1 when that is
//!   0), `"auto"` is `1 / n_features`, or a given number.
//! - One binary C-SVC per pair of classes `i < j` (one-vs-one, as libsvm), `y = +1` for class
//!   `i`, solved by [`smo`]; `class_weight` scales `C` per class (`C * w_i` for class `i`'s rows,
//!   libsvm's `weighted_C`).
//! - Prediction by votes ([`RbfSvm::predict_votes`], as `SVC.predict`): pair `(i, j)` votes `i`
//!   when its decision value is `> 0`, and the class with most votes wins (the lower class on
//!   ties).
//! - Probabilities (what vox writes and what its accuracy reads, the argmax; as
//!   `SVC.predict_proba`, which may disagree with the votes): for each pair, Platt's sigmoid
//!   ([`platt`]) fitted on decision values from an internal 5-fold cross-validation of the pair's
//!   rows (libsvm's `svm_binary_svc_probability`: a seeded shuffle, 5 contiguous folds, each
//!   fold's values from a C-SVC trained on the other four), clipped to `[1e-7, 1 - 1e-7]`, then
//!   coupled into class probabilities ([`coupling`]). The shuffle draws from the ChaCha8 stream
//!   of the pair's index of the seed, so the seed is in the key; scikit-learn's draws (its own
//!   libsvm RNG) cannot be reproduced, so its probabilities agree in distribution only.
//!   (scikit-learn 1.9 deprecates `probability=True` in favour of `CalibratedClassifierCV`;
//!   the computation is unchanged.)
//!   With `class_weight = "balanced"` the pairs' decision values (and votes) favour small
//!   classes, but each sigmoid is fitted on the pair's actual labels, so the probabilities fall
//!   back towards the priors: on an imbalanced set their argmax can recall the minority less
//!   than the unweighted model's (scikit-learn's `predict_proba` does the same; see
//!   `tests/classic/weighting.rs`).
//!
//! Kernel cache: each pair computes the dense kernel matrix of its own rows once (`l^2` `f64`,
//! about 0.7 MB for a pair of two RAVDESS classes of ~300 rows) and reuses it for the five
//! cross-validation fits and the final one; libsvm instead caches kernel rows in a bounded LRU
//! (`cache_size`, 200 MB in scikit-learn), which matters only for far larger tables.
//! Pairs, and the six fits of a pair, run in parallel; each fit is sequential, so the model is
//! byte-identical at any thread count.

pub mod coupling;
pub mod platt;
pub mod smo;
pub mod svr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::scaling::Standardizer;

/// Folds of the internal cross-validation behind the probabilities (libsvm's `nr_fold`).
const FOLDS: usize = 5;
/// libsvm's clip of pairwise probabilities.
const MIN_PROBABILITY: f64 = 1e-7;

/// The RBF kernel width.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Gamma {
    /// A rule on the training data.
    Rule(GammaRule),
    /// A positive number.
    Value(f64),
}

/// A rule giving gamma from the standardized training matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GammaRule {
    /// `1 / (n_features * variance of all values)`.
    Scale,
    /// `1 / n_features`.
    Auto,
}

impl Default for Gamma {
    fn default() -> Self {
        Self::Rule(GammaRule::Scale)
    }
}

impl<'de> Deserialize<'de> for Gamma {
    /// `"scale"`, `"auto"` or a number, with a message listing the choices otherwise.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        const CHOICES: &str = "\"scale\", \"auto\" or a positive number";
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Number(f64),
        }
        match Raw::deserialize(deserializer).map_err(|_| D::Error::custom(format!("expected {CHOICES}")))? {
            Raw::Number(value) => Ok(Self::Value(value)),
            Raw::Name(name) => match name.as_str() {
                "scale" => Ok(Self::Rule(GammaRule::Scale)),
                "auto" => Ok(Self::Rule(GammaRule::Auto)),
                other => Err(D::Error::custom(format!("`{other}` is not {CHOICES}"))),
            },
        }
    }
}

impl Gamma {
    /// Why a given width cannot be used (it must be a positive number), for every stage whose
    /// params name one (`baseline`'s rbf-svm, `regress`'s rbf-svr).
    pub fn check(self) -> Result<(), String> {
        match self {
            Self::Value(gamma) if !(gamma.is_finite() && gamma > 0.0) => {
                Err(format!("must be a positive number, got {gamma}; or use \"scale\" or \"auto\""))
            }
            _ => Ok(()),
        }
    }

    /// The kernel width for standardized training rows `z`.
    pub fn resolve(self, z: &[Vec<f64>]) -> f64 {
        let n_features = z.first().map_or(1, Vec::len).max(1) as f64;
        match self {
            Self::Value(gamma) => gamma,
            Self::Rule(GammaRule::Auto) => 1.0 / n_features,
            Self::Rule(GammaRule::Scale) => {
                let count = z.len() as f64 * n_features;
                let mean = z.iter().flatten().sum::<f64>() / count;
                let var = z.iter().flatten().map(|v| (v - mean) * (v - mean)).sum::<f64>() / count;
                if var > 0.0 { 1.0 / (n_features * var) } else { 1.0 }
            }
        }
    }
}

/// How the SVM is fitted.
#[derive(Clone, Copy, Debug)]
pub struct SvmParams {
    /// Penalty `C` (> 0), scaled per class by the class weights.
    pub c: f64,
    /// Kernel width rule or value.
    pub gamma: Gamma,
    /// SMO stopping tolerance (> 0).
    pub tol: f64,
    /// Seed of the cross-validation shuffles.
    pub seed: u64,
}

/// A fitted RBF SVM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RbfSvm {
    /// The feature scaling applied to training and query rows.
    pub standardizer: Standardizer,
    /// The kernel width.
    pub gamma: f64,
    /// Number of classes.
    pub n_classes: usize,
    /// The standardized training rows that are a support vector of some pair, in row order.
    pub support_vectors: Vec<Vec<f64>>,
    /// One binary classifier per pair of classes `(i, j)`, `i < j`, in libsvm's order
    /// `(0, 1), (0, 2), ..., (1, 2), ...`.
    pub pairs: Vec<PairModel>,
}

/// The binary classifier of classes `i` (positive) and `j`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairModel {
    /// The two classes `[i, j]`.
    pub classes: [usize; 2],
    /// Indices into [`RbfSvm::support_vectors`].
    pub support: Vec<u32>,
    /// `a_t * y_t` of each support vector.
    pub coefficients: Vec<f64>,
    /// The decision value is `sum coefficients * K(sv, x) - rho`.
    pub rho: f64,
    /// Platt's `A`: `P(class i) = 1 / (1 + exp(A f + B))`.
    pub prob_a: f64,
    /// Platt's `B`.
    pub prob_b: f64,
}

/// `exp(-gamma |a - b|^2)`.
pub(crate) fn rbf(a: &[f64], b: &[f64], gamma: f64) -> f64 {
    (-gamma * a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>()).exp()
}

/// One pair's fit before support vectors are shared: its rows, their dual solution, Platt.
struct PairFit {
    classes: [usize; 2],
    rows: Vec<usize>,
    coefficients: Vec<f64>,
    rho: f64,
    prob_a: f64,
    prob_b: f64,
}

impl RbfSvm {
    /// Fits on `rows` with class indices `labels` (< `n_classes`, every class present) and
    /// per-class weights `class_weights`.
    pub fn fit(
        rows: &[&[f64]],
        labels: &[usize],
        n_classes: usize,
        standardizer: Standardizer,
        class_weights: &[f64],
        params: &SvmParams,
    ) -> Self {
        let z: Vec<Vec<f64>> = rows.iter().map(|r| standardizer.apply(r)).collect();
        let gamma = params.gamma.resolve(&z);
        let pairs: Vec<[usize; 2]> =
            (0..n_classes).flat_map(|i| (i + 1..n_classes).map(move |j| [i, j])).collect();
        let fits: Vec<PairFit> = pairs
            .par_iter()
            .enumerate()
            .map(|(p, &[i, j])| {
                let pair_rows: Vec<usize> = (0..labels.len()).filter(|&t| labels[t] == i || labels[t] == j).collect();
                let y: Vec<f64> = pair_rows.iter().map(|&t| if labels[t] == i { 1.0 } else { -1.0 }).collect();
                let l = pair_rows.len();
                let kernel: Vec<f64> = (0..l * l)
                    .into_par_iter()
                    .with_min_len(4096)
                    .map(|k| rbf(&z[pair_rows[k / l]], &z[pair_rows[k % l]], gamma))
                    .collect();
                let (c_pos, c_neg) = (params.c * class_weights[i], params.c * class_weights[j]);
                let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
                rng.set_stream(p as u64);
                let (solution, (prob_a, prob_b)) = rayon::join(
                    || smo::solve(&kernel, &y, c_pos, c_neg, params.tol),
                    || platt_parameters(&kernel, &y, c_pos, c_neg, params.tol, &mut rng),
                );
                let (rows, coefficients) = pair_rows
                    .iter()
                    .zip(&solution.alpha)
                    .zip(&y)
                    .filter(|((_, a), _)| **a > 0.0)
                    .map(|((&t, a), y)| (t, a * y))
                    .unzip();
                PairFit { classes: [i, j], rows, coefficients, rho: solution.rho, prob_a, prob_b }
            })
            .collect();
        let mut support: Vec<usize> = fits.iter().flat_map(|f| f.rows.iter().copied()).collect();
        support.sort_unstable();
        support.dedup();
        let pairs = fits
            .into_iter()
            .map(|f| PairModel {
                classes: f.classes,
                // Every row of a pair is in `support` (which is sorted).
                support: f.rows.iter().map(|t| support.binary_search(t).unwrap_or_default() as u32).collect(),
                coefficients: f.coefficients,
                rho: f.rho,
                prob_a: f.prob_a,
                prob_b: f.prob_b,
            })
            .collect();
        let support_vectors = support.iter().map(|&t| z[t].clone()).collect();
        Self { standardizer, gamma, n_classes, support_vectors, pairs }
    }

    /// Each pair's decision value for a raw feature row (positive: the pair's first class).
    pub fn decision_values(&self, row: &[f64]) -> Vec<f64> {
        let z = self.standardizer.apply(row);
        let k: Vec<f64> = self.support_vectors.iter().map(|sv| rbf(sv, &z, self.gamma)).collect();
        self.pairs
            .iter()
            .map(|p| p.support.iter().zip(&p.coefficients).map(|(&s, c)| c * k[s as usize]).sum::<f64>() - p.rho)
            .collect()
    }

    /// The class each raw feature row gets by one-vs-one votes (`SVC.predict`).
    pub fn predict_votes(&self, rows: &[&[f64]]) -> Vec<usize> {
        rows.par_iter()
            .map(|row| {
                let mut votes = vec![0usize; self.n_classes];
                for (p, f) in self.pairs.iter().zip(self.decision_values(row)) {
                    votes[if f > 0.0 { p.classes[0] } else { p.classes[1] }] += 1;
                }
                (0..self.n_classes).fold(0, |best, k| if votes[k] > votes[best] { k } else { best })
            })
            .collect()
    }

    /// Class probabilities of raw feature rows (Platt per pair, then pairwise coupling).
    pub fn predict_proba(&self, rows: &[&[f64]]) -> Vec<Vec<f64>> {
        rows.par_iter()
            .map(|row| {
                let mut r = vec![vec![0.0; self.n_classes]; self.n_classes];
                for (p, f) in self.pairs.iter().zip(self.decision_values(row)) {
                    let [i, j] = p.classes;
                    let pij = platt::sigmoid_predict(f, p.prob_a, p.prob_b).clamp(MIN_PROBABILITY, 1.0 - MIN_PROBABILITY);
                    r[i][j] = pij;
                    r[j][i] = 1.0 - pij;
                }
                if self.n_classes == 2 { vec![r[0][1], r[1][0]] } else { coupling::multiclass_probability(&r) }
            })
            .collect()
    }
}

/// Platt's `(A, B)` for one pair from 5-fold cross-validated decision values (libsvm's
/// `svm_binary_svc_probability`); `kernel` is the pair's kernel matrix.
fn platt_parameters(kernel: &[f64], y: &[f64], c_pos: f64, c_neg: f64, tol: f64, rng: &mut ChaCha8Rng) -> (f64, f64) {
    let l = y.len();
    let mut perm: Vec<usize> = (0..l).collect();
    for i in 0..l {
        let j = i + rng.random_range(0..l - i);
        perm.swap(i, j);
    }
    let folds: Vec<Vec<(usize, f64)>> = (0..FOLDS)
        .into_par_iter()
        .map(|fold| {
            let (begin, end) = (fold * l / FOLDS, (fold + 1) * l / FOLDS);
            let train: Vec<usize> = perm[..begin].iter().chain(&perm[end..]).copied().collect();
            let sub_y: Vec<f64> = train.iter().map(|&t| y[t]).collect();
            let held_out = &perm[begin..end];
            let positives = sub_y.iter().filter(|&&v| v > 0.0).count();
            let constant = match (positives, sub_y.len() - positives) {
                (0, 0) => Some(0.0),
                (_, 0) => Some(1.0),
                (0, _) => Some(-1.0),
                _ => None,
            };
            if let Some(value) = constant {
                return held_out.iter().map(|&t| (t, value)).collect();
            }
            let m = train.len();
            let sub_kernel: Vec<f64> = train.iter().flat_map(|&a| train.iter().map(move |&b| kernel[a * l + b])).collect();
            let s = smo::solve(&sub_kernel, &sub_y, c_pos, c_neg, tol);
            held_out
                .iter()
                .map(|&t| {
                    let f = (0..m)
                        .filter(|&u| s.alpha[u] > 0.0)
                        .map(|u| s.alpha[u] * sub_y[u] * kernel[train[u] * l + t])
                        .sum::<f64>()
                        - s.rho;
                    (t, f)
                })
                .collect()
        })
        .collect();
    let mut decision = vec![0.0; l];
    for (t, f) in folds.into_iter().flatten() {
        decision[t] = f;
    }
    let positive: Vec<bool> = y.iter().map(|&v| v > 0.0).collect();
    platt::sigmoid_train(&decision, &positive)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_rules() {
        let z = vec![vec![1.0, -1.0], vec![-1.0, 1.0]];
        // Values 1, -1, -1, 1: variance 1; 2 features.
        assert_eq!(Gamma::default().resolve(&z), 0.5);
        assert_eq!(Gamma::Rule(GammaRule::Auto).resolve(&z), 0.5);
        assert_eq!(Gamma::Value(3.0).resolve(&z), 3.0);
        let z = vec![vec![2.0, 2.0], vec![0.0, 0.0]];
        // Mean 1, variance 1 again; all-constant data gives 1.
        assert_eq!(Gamma::default().resolve(&z), 0.5);
        assert_eq!(Gamma::default().resolve(&[vec![4.0, 4.0]]), 1.0);
    }

    #[test]
    fn separates_three_clusters_by_votes_and_probabilities() {
        let centers = [[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]];
        let x: Vec<[f64; 2]> = (0..60)
            .map(|i| {
                let c = centers[i % 3];
                [c[0] + ((i * 7) % 11) as f64 / 10.0, c[1] + ((i * 5) % 13) as f64 / 10.0]
            })
            .collect();
        let rows: Vec<&[f64]> = x.iter().map(|r| &r[..]).collect();
        let labels: Vec<usize> = (0..60).map(|i| i % 3).collect();
        let params = SvmParams { c: 1.0, gamma: Gamma::default(), tol: 1e-3, seed: 0 };
        let model = RbfSvm::fit(&rows, &labels, 3, Standardizer::fit(&rows), &[1.0; 3], &params);
        assert_eq!(model.pairs.iter().map(|p| p.classes).collect::<Vec<_>>(), vec![[0, 1], [0, 2], [1, 2]]);
        assert_eq!(model.predict_votes(&rows), labels);
        let p = model.predict_proba(&rows);
        assert!(p.iter().zip(&labels).all(|(p, &y)| p[y] > 0.5 && (p.iter().sum::<f64>() - 1.0).abs() < 1e-9), "{p:?}");
    }
}
