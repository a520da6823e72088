//! k-nearest neighbours on standardized features, as scikit-learn's `KNeighborsClassifier` and
//! `KNeighborsRegressor` (Euclidean distance, `weights = "uniform" | "distance"`) behind a
//! `StandardScaler`.
//!
//! Brute force: every query row against every training row, rows in parallel. SER tables are
//! small (RAVDESS: about 1000 training clips) and wide (88 to tens of thousands of columns), where
//! trees and ball trees lose to a plain scan; a crate would add a dependency for the one loop.
//! Neighbours are ordered by (distance, training row), so ties break the same on every run and
//! thread count.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::scaling::Standardizer;

/// How neighbours' votes weigh.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Weights {
    /// Every neighbour counts 1.
    #[default]
    Uniform,
    /// A neighbour counts 1 / distance; neighbours at distance 0, where there are any, count
    /// alone (scikit-learn's rule).
    Distance,
}

/// A fitted k-NN classifier: the standardized training rows themselves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Knn {
    /// The feature scaling applied to training and query rows.
    pub standardizer: Standardizer,
    /// Neighbours per query (at most the training rows).
    pub n_neighbors: usize,
    /// Vote weighting.
    pub weights: Weights,
    /// Number of classes.
    pub n_classes: usize,
    /// Standardized training rows.
    pub rows: Vec<Vec<f64>>,
    /// Each training row's class index.
    pub labels: Vec<usize>,
}

impl Knn {
    /// Keeps the standardized training rows.
    pub fn fit(
        rows: &[&[f64]],
        labels: &[usize],
        n_classes: usize,
        standardizer: Standardizer,
        n_neighbors: usize,
        weights: Weights,
    ) -> Self {
        let rows = rows.iter().map(|r| standardizer.apply(r)).collect();
        Self { standardizer, n_neighbors: n_neighbors.min(labels.len()), weights, n_classes, rows, labels: labels.to_vec() }
    }

    /// Class probabilities of raw feature rows: the (weighted) share of each class among the
    /// nearest training rows.
    pub fn predict_proba(&self, rows: &[&[f64]]) -> Vec<Vec<f64>> {
        rows.par_iter().map(|row| self.proba(&self.standardizer.apply(row))).collect()
    }

    fn proba(&self, query: &[f64]) -> Vec<f64> {
        let mut votes = vec![0.0; self.n_classes];
        for (i, weight) in neighbour_weights(&self.rows, query, self.n_neighbors, self.weights) {
            votes[self.labels[i]] += weight;
        }
        let total: f64 = votes.iter().sum();
        votes.iter().map(|v| v / total).collect()
    }
}

/// A fitted k-NN regressor of one target, as scikit-learn's `KNeighborsRegressor`: the
/// (weighted) mean of the nearest training rows' values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnRegressor {
    /// The feature scaling applied to training and query rows.
    pub standardizer: Standardizer,
    /// Neighbours per query (at most the training rows).
    pub n_neighbors: usize,
    /// How neighbours' values weigh.
    pub weights: Weights,
    /// Standardized training rows.
    pub rows: Vec<Vec<f64>>,
    /// Each training row's value.
    pub targets: Vec<f64>,
}

impl KnnRegressor {
    /// Keeps the standardized training rows and their values.
    pub fn fit(rows: &[&[f64]], targets: &[f64], standardizer: Standardizer, n_neighbors: usize, weights: Weights) -> Self {
        let rows = rows.iter().map(|r| standardizer.apply(r)).collect();
        Self { standardizer, n_neighbors: n_neighbors.min(targets.len()), weights, rows, targets: targets.to_vec() }
    }

    /// The estimate of each raw feature row.
    pub fn predict(&self, rows: &[&[f64]]) -> Vec<f64> {
        rows.par_iter()
            .map(|row| {
                let neighbours = neighbour_weights(&self.rows, &self.standardizer.apply(row), self.n_neighbors, self.weights);
                let total: f64 = neighbours.iter().map(|(_, w)| w).sum();
                neighbours.iter().map(|&(i, w)| self.targets[i] * w).sum::<f64>() / total
            })
            .collect()
    }
}

/// The `k` training rows nearest to `query` (ordered by distance, then row) with the weight of
/// each one's vote or value.
fn neighbour_weights(rows: &[Vec<f64>], query: &[f64], k: usize, weights: Weights) -> Vec<(usize, f64)> {
    let mut distances: Vec<(f64, usize)> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.iter().zip(query).map(|(a, b)| (a - b) * (a - b)).sum::<f64>(), i))
        .collect();
    let k = k.max(1).min(distances.len());
    let order = |a: &(f64, usize), b: &(f64, usize)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
    if k < distances.len() {
        distances.select_nth_unstable_by(k - 1, order);
        distances.truncate(k);
    }
    distances.sort_by(order);
    let exact = distances.iter().any(|(d, _)| *d == 0.0);
    distances
        .into_iter()
        .map(|(squared, i)| {
            let weight = match weights {
                Weights::Uniform => 1.0,
                Weights::Distance if exact => f64::from(u8::from(squared == 0.0)),
                Weights::Distance => 1.0 / squared.sqrt(),
            };
            (i, weight)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(n: usize) -> Standardizer {
        Standardizer::fit(&[&vec![0.0; n][..], &vec![2.0; n][..]])
    }

    #[test]
    fn votes_of_the_nearest_rows_with_ties_broken_by_row() {
        let rows: Vec<&[f64]> = vec![&[0.0], &[1.0], &[2.0], &[10.0]];
        let knn = Knn::fit(&rows, &[0, 1, 1, 0], 2, identity(1), 3, Weights::Uniform);
        // Nearest three to 1.2: rows 1, 2, 0.
        assert_eq!(knn.predict_proba(&[&[1.2]]), vec![vec![1.0 / 3.0, 2.0 / 3.0]]);
        // 1.0 is 1.0 from both 0.0 and 2.0: with k = 2 the tie goes to the earlier row (0).
        let two = Knn::fit(&rows, &[0, 1, 1, 0], 2, identity(1), 2, Weights::Uniform);
        assert_eq!(two.predict_proba(&[&[1.0]]), vec![vec![0.5, 0.5]]);
        assert_eq!(two.predict_proba(&[&[1.5]]), vec![vec![0.0, 1.0]]);
    }

    #[test]
    fn distance_weights_and_exact_matches() {
        let rows: Vec<&[f64]> = vec![&[0.0], &[1.0], &[3.0]];
        let knn = Knn::fit(&rows, &[0, 1, 0], 2, identity(1), 3, Weights::Distance);
        // Standardized by mean 1, scale 1: the same distances. From 0.5: 0.5, 0.5, 2.5.
        let p = knn.predict_proba(&[&[0.5]]);
        let w = [2.0 + 0.4, 2.0];
        assert!((p[0][0] - w[0] / (w[0] + w[1])).abs() < 1e-12, "{p:?}");
        // On a training row: it alone decides.
        assert_eq!(knn.predict_proba(&[&[1.0]]), vec![vec![0.0, 1.0]]);
    }

    #[test]
    fn a_regressor_averages_its_neighbours_values() {
        let rows: Vec<&[f64]> = vec![&[0.0], &[1.0], &[3.0]];
        let uniform = KnnRegressor::fit(&rows, &[1.0, 2.0, 6.0], identity(1), 2, Weights::Uniform);
        assert_eq!(uniform.predict(&[&[0.4], &[2.5]]), [1.5, 4.0]);
        let distance = KnnRegressor::fit(&rows, &[1.0, 2.0, 6.0], identity(1), 3, Weights::Distance);
        // From 0.5: distances 0.5, 0.5, 2.5 -> weights 2, 2, 0.4.
        let expected = (2.0 * 1.0 + 2.0 * 2.0 + 0.4 * 6.0) / 4.4;
        assert!((distance.predict(&[&[0.5]])[0] - expected).abs() < 1e-12);
        assert_eq!(distance.predict(&[&[3.0]]), [6.0]);
    }
}
