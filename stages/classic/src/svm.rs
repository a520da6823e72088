//! One-vs-rest linear SVM with the squared hinge loss and an L2 penalty, as scikit-learn's
//! `LinearSVC` (LIBLINEAR's `L2R_L2LOSS_SVC_DUAL`): for each class `k`, minimize
//! `|w|^2 / 2 + sum_i C_i * max(0, 1 - y_i (w . x_i + b))^2` with `y_i = +1` for class `k` and
//! `-1` otherwise, and `C_i = c * weight(class of i)`.
//!
//! The solver is LIBLINEAR's dual coordinate descent (Hsieh et al., ICML 2008) without
//! shrinking: the bias is a weight on a constant feature 1 (so it is penalized, as in LIBLINEAR),
//! samples are visited in a fresh random order each epoch, and it stops when the projected
//! gradient's spread falls below [`TOLERANCE`] or after `max_iter` epochs. Why not `linfa-svm`:
//! it is binary only and solves the kernel problem by SMO over an `n x n` kernel matrix, which
//! is the slow way to fit a linear model. Probabilities are the softmax of the margins (see
//! [`crate::linear`]).

use rand::Rng;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::linear::LinearModel;
use crate::scaling::Standardizer;

/// Stopping tolerance on the projected gradient (scikit-learn's `LinearSVC(tol=1e-4)`).
pub const TOLERANCE: f64 = 1e-4;

/// Fits one binary SVM per class on standardized `rows`; `sample_c[i]` is row `i`'s penalty
/// `C_i`. Class `k` shuffles with the ChaCha8 stream `k` of `seed`.
pub fn fit(
    rows: &[&[f64]],
    labels: &[usize],
    n_classes: usize,
    standardizer: Standardizer,
    sample_c: &[f64],
    max_iter: usize,
    seed: u64,
) -> LinearModel {
    let x: Vec<Vec<f64>> = rows.iter().map(|row| standardizer.apply(row)).collect();
    let (weights, intercepts) = (0..n_classes)
        .into_par_iter()
        .map(|k| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(k as u64);
            let y: Vec<f64> = labels
                .iter()
                .map(|&l| if l == k { 1.0 } else { -1.0 })
                .collect();
            fit_binary(&x, &y, sample_c, max_iter, &mut rng)
        })
        .unzip();
    LinearModel {
        standardizer,
        weights,
        intercepts,
    }
}

/// Dual coordinate descent for one binary problem with labels `y` in {-1, +1}; returns the
/// weights and the bias.
fn fit_binary(
    x: &[Vec<f64>],
    y: &[f64],
    c: &[f64],
    max_iter: usize,
    rng: &mut impl Rng,
) -> (Vec<f64>, f64) {
    let n_features = x.first().map_or(0, Vec::len);
    let mut w = vec![0.0; n_features];
    let mut b = 0.0;
    let mut alpha = vec![0.0; x.len()];
    // The squared hinge adds 1 / (2 C_i) to the dual's diagonal; `+ 1.0` is the bias feature.
    let diag: Vec<f64> = c.iter().map(|c| 0.5 / c).collect();
    let q: Vec<f64> = x
        .iter()
        .zip(&diag)
        .map(|(xi, d)| xi.iter().map(|v| v * v).sum::<f64>() + 1.0 + d)
        .collect();
    let mut order: Vec<usize> = (0..x.len()).collect();
    for _ in 0..max_iter {
        order.shuffle(rng);
        let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
        for &i in &order {
            let xi = &x[i];
            let margin = xi.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() + b;
            let g = y[i] * margin - 1.0 + diag[i] * alpha[i];
            let pg = if alpha[i] == 0.0 { g.min(0.0) } else { g };
            pg_max = pg_max.max(pg);
            pg_min = pg_min.min(pg);
            if pg != 0.0 {
                let old = alpha[i];
                alpha[i] = (old - g / q[i]).max(0.0);
                let step = (alpha[i] - old) * y[i];
                w.iter_mut().zip(xi).for_each(|(w, v)| *w += step * v);
                b += step;
            }
        }
        if pg_max - pg_min <= TOLERANCE {
            break;
        }
    }
    (w, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_maximum_margin_line_of_separable_points() {
        // Classes at x = -2, -1 and x = 1, 2; with a large C the squared-hinge solution is
        // close to the hard-margin one, w = 1, b = 0 (the bias penalty is negligible there).
        let rows: Vec<&[f64]> = vec![&[-2.0], &[-1.0], &[1.0], &[2.0]];
        let labels = [0, 0, 1, 1];
        let identity = Standardizer {
            source: crate::scaling::ScalingSource::TrainRows,
            mean: vec![0.0],
            scale: vec![1.0],
        };
        let model = fit(&rows, &labels, 2, identity, &[1e4; 4], 10_000, 0);
        assert!(
            (model.weights[1][0] - 1.0).abs() < 1e-3,
            "{:?}",
            model.weights
        );
        assert!(model.intercepts[1].abs() < 1e-3, "{:?}", model.intercepts);
        // One-vs-rest with two classes: class 0's problem is the mirror image.
        assert!(
            (model.weights[0][0] + 1.0).abs() < 1e-3,
            "{:?}",
            model.weights
        );
    }
}
