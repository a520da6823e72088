//! A fitted linear classifier on standardized features: one score per class,
//! `w_k . standardize(x) + b_k`, turned into probabilities by a softmax.
//!
//! For multinomial logistic regression the softmax of the scores is the model's own probability.
//! For the one-vs-rest linear SVM it is a calibration chosen for simplicity: the softmax of the
//! margins ranks classes exactly as the SVM's decision function does, but its values are not
//! fitted probabilities (no Platt scaling).

use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use vox_api::predictions::softmax;

use crate::scaling::Standardizer;

/// Weights and intercepts of a linear classifier, with the standardization it was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    /// Applied to raw features before the scores.
    pub standardizer: Standardizer,
    /// One weight vector per class, each aligned with the feature columns.
    pub weights: Vec<Vec<f64>>,
    /// One intercept per class.
    pub intercepts: Vec<f64>,
}

impl LinearModel {
    /// The per-class scores of a raw feature row.
    pub fn scores(&self, row: &[f64]) -> Vec<f64> {
        let z = self.standardizer.apply(row);
        self.weights
            .iter()
            .zip(&self.intercepts)
            .map(|(w, b)| dot(w, &z) + b)
            .collect()
    }

    /// The softmax of the scores of each row.
    pub fn predict_proba(&self, rows: &[&[f64]]) -> Vec<Vec<f64>> {
        rows.par_iter()
            .map(|row| softmax(&self.scores(row)))
            .collect()
    }
}

/// The dot product of two equally long vectors.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_standardize_first() {
        let model = LinearModel {
            standardizer: Standardizer::fit(&[&[0.0], &[4.0]]),
            weights: vec![vec![1.0], vec![-1.0]],
            intercepts: vec![0.5, 0.0],
        };
        // mean 2, std 2: x = 6 -> z = 2.
        assert_eq!(model.scores(&[6.0]), vec![2.5, -2.0]);
    }
}
