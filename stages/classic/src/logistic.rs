//! Multinomial logistic regression with an L2 penalty, fitted by `linfa-logistic` (L-BFGS with a
//! More-Thuente line search).
//!
//! linfa minimizes `-sum_i log p(y_i | x_i) + alpha / 2 * |W|^2` (intercepts unpenalized), which
//! is scikit-learn's `LogisticRegression(C)` objective `C * sum_i loss_i + |W|^2 / 2` divided by
//! `C`: `alpha = 1 / C` gives the same optimum. Class weights are not supported by linfa.

use linfa::Dataset;
use linfa::traits::Fit;
use linfa_logistic::MultiLogisticRegression;
use ndarray::{Array1, Array2};

use crate::error::ClassicError;
use crate::linear::LinearModel;
use crate::scaling::Standardizer;

/// Fits on standardized `rows` with class indices `labels` (every index in `0..n_classes`
/// present), inverse regularization strength `c` and at most `max_iter` L-BFGS iterations.
pub fn fit(
    rows: &[&[f64]],
    labels: &[usize],
    standardizer: Standardizer,
    c: f64,
    max_iter: usize,
) -> Result<LinearModel, ClassicError> {
    let n_features = standardizer.mean.len();
    let mut x = Array2::zeros((rows.len(), n_features));
    for (mut out, row) in x.rows_mut().into_iter().zip(rows) {
        out.assign(&Array1::from(standardizer.apply(row)));
    }
    let dataset = Dataset::new(x, Array1::from(labels.to_vec()));
    let fitted = MultiLogisticRegression::default()
        .alpha(1.0 / c)
        .max_iterations(max_iter as u64)
        .fit(&dataset)?;
    // `params()` is features x classes, with classes in sorted order: 0, 1, ...
    let weights = fitted
        .params()
        .columns()
        .into_iter()
        .map(|w| w.to_vec())
        .collect();
    let intercepts = fitted.intercept().to_vec();
    Ok(LinearModel {
        standardizer,
        weights,
        intercepts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_two_clusters_with_calibrated_probabilities() {
        let rows: Vec<&[f64]> = vec![&[0.0, 1.0], &[1.0, 0.0], &[10.0, 1.0], &[11.0, 0.0]];
        let labels = [0, 0, 1, 1];
        let model = fit(&rows, &labels, Standardizer::fit(&rows), 1.0, 100).unwrap();
        let p = model.predict_proba(&[&[0.5, 0.5], &[10.5, 0.5], &[5.5, 0.5]]);
        assert!(p[0][0] > 0.8 && p[1][1] > 0.8, "{p:?}");
        // The data is symmetric about (5.5, 0.5) with the classes swapped, so is the optimum.
        assert!((p[2][0] - 0.5).abs() < 1e-3, "{p:?}");
    }
}
