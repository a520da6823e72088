//! The losses that the boosting descends: for a classifier the log loss, as scikit-learn's
//! `HalfMultinomialLoss` (three or more classes: one raw score per class, probability =
//! softmax) and `HalfBinomialLoss` (two classes: one raw score, the second class's logit,
//! probability = logistic sigmoid); for a regressor the squared error (`HalfSquaredError`: one
//! raw score, the estimate, starting at the mean; gradient `raw - y`, hessian 1).
//!
//! Per row with sample weight `w` (the class weight), for each score `k`: gradient
//! `w * (p_k - [y = k])` and hessian `w * p_k * (1 - p_k)`. The scores start at the link of the
//! weighted class priors: `ln p_k - mean_j ln p_j` (scikit-learn's symmetric multinomial logit;
//! the softmax ignores the shift) or `ln(p_1 / (1 - p_1))`, priors clipped away from 0 and 1.

use rayon::prelude::*;

use vox_api::predictions::softmax;

/// Scores per row: 1 for two classes, else one per class.
pub fn n_scores(n_classes: usize) -> usize {
    if n_classes == 2 { 1 } else { n_classes }
}

/// The initial raw scores (see the module doc).
pub fn baseline(labels: &[usize], weights: &[f64], n_classes: usize) -> Vec<f64> {
    let mut priors = vec![0.0; n_classes];
    for (&y, &w) in labels.iter().zip(weights) {
        priors[y] += w;
    }
    let total: f64 = priors.iter().sum();
    let eps = f64::EPSILON;
    let priors: Vec<f64> = priors.iter().map(|p| (p / total).clamp(eps, 1.0 - eps)).collect();
    if n_classes == 2 {
        return vec![(priors[1] / (1.0 - priors[1])).ln()];
    }
    let logs: Vec<f64> = priors.iter().map(|p| p.ln()).collect();
    let mean = logs.iter().sum::<f64>() / n_classes as f64;
    logs.iter().map(|l| l - mean).collect()
}

/// Class probabilities from one row's raw scores.
pub fn probabilities(scores: &[f64]) -> Vec<f64> {
    match scores {
        [logit] => {
            let p = 1.0 / (1.0 + (-logit).exp());
            vec![1.0 - p, p]
        }
        _ => softmax(scores),
    }
}

/// Writes each row's packed gradient and hessian for score `k` into `gh[k]`, from the raw
/// scores `raw` (row-major, `n_scores` per row). Stored as `f32`, as scikit-learn does.
pub fn gradients(raw: &[f64], labels: &[usize], weights: &[f64], gh: &mut [Vec<[f32; 2]>]) {
    let n_scores = gh.len();
    let per_row: Vec<Vec<[f32; 2]>> = raw
        .par_chunks(n_scores)
        .zip(labels.par_iter().zip(weights))
        .map(|(scores, (&y, &w))| {
            let p = probabilities(scores);
            (0..n_scores)
                .map(|k| {
                    // Two classes: the one score is class 1's.
                    let (p, is_y) = if n_scores == 1 { (p[1], y == 1) } else { (p[k], y == k) };
                    let target = if is_y { 1.0 } else { 0.0 };
                    [(w * (p - target)) as f32, (w * p * (1.0 - p)) as f32]
                })
                .collect()
        })
        .collect();
    for (i, row) in per_row.iter().enumerate() {
        for (k, pair) in row.iter().enumerate() {
            gh[k][i] = *pair;
        }
    }
}

/// The squared error's start, as scikit-learn's `HalfSquaredError`: the mean value.
pub fn squared_baseline(targets: &[f64]) -> f64 {
    targets.iter().sum::<f64>() / targets.len() as f64
}

/// The squared error's (`(raw - y)^2 / 2`) gradient `raw - y` and hessian 1 of every row, into
/// `gh`, stored as `f32` as scikit-learn does.
pub fn squared_gradients(raw: &[f64], targets: &[f64], gh: &mut [[f32; 2]]) {
    gh.par_iter_mut().zip(raw.par_iter().zip(targets)).for_each(|(gh, (&raw, &y))| *gh = [(raw - y) as f32, 1.0]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_is_the_link_of_weighted_priors() {
        // Two classes, weighted 1:3 of 4 rows: p_1 = 3/4, logit ln 3.
        let b = baseline(&[0, 1, 1, 1], &[1.0; 4], 2);
        assert!((b[0] - 3f64.ln()).abs() < 1e-12);
        // Three classes with balanced weights: equal priors, every score 0.
        let b = baseline(&[0, 1, 1, 2], &[4.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 4.0 / 3.0], 3);
        assert!(b.iter().all(|s| s.abs() < 1e-12), "{b:?}");
    }

    #[test]
    fn gradients_are_weighted_residuals() {
        // Scores 0, 0, ln 2: p = 1/4, 1/4, 1/2; label 2, weight 2.
        let raw = [0.0, 0.0, 2f64.ln()];
        let mut gh = vec![vec![[0.0; 2]]; 3];
        gradients(&raw, &[2], &[2.0], &mut gh);
        assert_eq!(gh, vec![vec![[0.5, 0.375]], vec![[0.5, 0.375]], vec![[-1.0, 0.5]]]);
    }
}
