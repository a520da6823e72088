//! One-vs-rest linear SVM with the squared hinge loss and an L2 penalty, as scikit-learn's
//! `LinearSVC`: for each class `k`, minimize
//! `f(w, b) = (|w|^2 + b^2) / 2 + sum_i C_i * max(0, 1 - y_i (w . x_i + b))^2`
//! with `y_i = +1` for class `k` and `-1` otherwise, and `C_i = c * weight(class of i)`. The bias
//! is a weight on a constant feature 1 and is penalized, as in LIBLINEAR (`intercept_scaling=1`).
//!
//! The solver is the primal generalized Newton method that scikit-learn picks for
//! `n_samples > n_features` (LIBLINEAR's `L2R_L2LOSS_SVC`, `dual="auto"`): `f` is convex and
//! piecewise quadratic, its generalized Hessian is `I + 2 sum_{i active} C_i x_i x_i^T` over
//! the rows with margin below 1, so each step solves that `(d+1) x (d+1)` system by Cholesky
//! and backtracks until `f` decreases enough. It stops when the gradient norm has fallen by
//! the factor `tol * max(min(n_pos, n_neg), 1) / n` (LIBLINEAR's rule for this solver, with
//! `n_pos`, `n_neg` the rows on each side; usually within 10 steps) or after `max_iter` steps.
//! It draws nothing at random. Why not `linfa-svm`: it is binary only and solves the kernel
//! dual by SMO over an `n x n` kernel matrix, the slow way to fit a linear model; an earlier
//! dual coordinate descent here took 10x scikit-learn's time on 1152 x 88 rows. Probabilities
//! are the softmax of the margins (see [`crate::linear`]).

use rayon::prelude::*;

use crate::linear::{LinearModel, dot};
use crate::scaling::Standardizer;

/// Fits one binary SVM per class on standardized `rows`; `sample_c[i]` is row `i`'s penalty
/// `C_i`; stopping tolerance `tol` and at most `max_iter` Newton steps per class.
pub fn fit(
    rows: &[&[f64]],
    labels: &[usize],
    n_classes: usize,
    standardizer: Standardizer,
    sample_c: &[f64],
    tol: f64,
    max_iter: usize,
) -> LinearModel {
    // Standardized rows with the constant bias feature appended.
    let x: Vec<Vec<f64>> = rows
        .iter()
        .map(|row| {
            let mut z = standardizer.apply(row);
            z.push(1.0);
            z
        })
        .collect();
    let (weights, intercepts) = (0..n_classes)
        .into_par_iter()
        .map(|k| {
            let y: Vec<f64> = labels
                .iter()
                .map(|&l| if l == k { 1.0 } else { -1.0 })
                .collect();
            let positives = y.iter().filter(|&&v| v > 0.0).count();
            let smaller_side = positives.min(y.len() - positives).max(1);
            let relative_tol = tol * smaller_side as f64 / y.len() as f64;
            let mut w = fit_binary(&x, &y, sample_c, relative_tol, max_iter);
            let b = w.pop().unwrap_or_default();
            (w, b)
        })
        .unzip();
    LinearModel {
        standardizer,
        weights,
        intercepts,
    }
}

/// `f` at `w` for rows `x` (bias feature included), labels `y` in {-1, +1} and penalties `c`.
fn objective(x: &[Vec<f64>], y: &[f64], c: &[f64], w: &[f64]) -> f64 {
    let loss: f64 = x
        .iter()
        .zip(y)
        .zip(c)
        .map(|((xi, yi), ci)| {
            let slack = (1.0 - yi * dot(xi, w)).max(0.0);
            ci * slack * slack
        })
        .sum();
    0.5 * dot(w, w) + loss
}

/// Generalized Newton with backtracking for one binary problem, until the gradient norm falls
/// by the factor `relative_tol`; returns the weights with the bias last.
fn fit_binary(
    x: &[Vec<f64>],
    y: &[f64],
    c: &[f64],
    relative_tol: f64,
    max_iter: usize,
) -> Vec<f64> {
    let d = x.first().map_or(0, Vec::len);
    let mut w = vec![0.0; d];
    let mut f = objective(x, y, c, &w);
    let mut first_norm = None;
    for _ in 0..max_iter {
        // Gradient w + 2 sum_active C_i (y_i w.x_i - 1) y_i x_i; Hessian I + 2 sum_active C_i x_i x_i^T.
        let mut grad = w.clone();
        let mut hessian = vec![0.0; d * d];
        for i in 0..d {
            hessian[i * d + i] = 1.0;
        }
        for ((xi, yi), ci) in x.iter().zip(y).zip(c) {
            let margin = yi * dot(xi, &w);
            if margin < 1.0 {
                let g = 2.0 * ci * (margin - 1.0) * yi;
                grad.iter_mut().zip(xi).for_each(|(gj, xj)| *gj += g * xj);
                for (a, xa) in xi.iter().enumerate() {
                    let row = &mut hessian[a * d..a * d + a + 1];
                    row.iter_mut()
                        .zip(xi)
                        .for_each(|(h, xb)| *h += 2.0 * ci * xa * xb);
                }
            }
        }
        let norm = dot(&grad, &grad).sqrt();
        let first = *first_norm.get_or_insert(norm);
        if norm <= relative_tol * first || norm == 0.0 {
            break;
        }
        let step = cholesky_solve(&mut hessian, d, &grad);
        // Armijo backtracking along the Newton direction -step.
        let slope = -dot(&grad, &step);
        let mut t = 1.0;
        loop {
            let candidate: Vec<f64> = w.iter().zip(&step).map(|(wj, sj)| wj - t * sj).collect();
            let fc = objective(x, y, c, &candidate);
            if fc <= f + 0.01 * t * slope || t < 1e-10 {
                w = candidate;
                f = fc;
                break;
            }
            t *= 0.5;
        }
    }
    w
}

/// Solves `A s = g` for a symmetric positive-definite `A` given by its lower triangle
/// (row-major `d x d`, overwritten by its Cholesky factor).
fn cholesky_solve(a: &mut [f64], d: usize, g: &[f64]) -> Vec<f64> {
    for j in 0..d {
        let diagonal =
            (a[j * d + j] - (0..j).map(|k| a[j * d + k] * a[j * d + k]).sum::<f64>()).sqrt();
        a[j * d + j] = diagonal;
        for i in j + 1..d {
            let sum: f64 = (0..j).map(|k| a[i * d + k] * a[j * d + k]).sum();
            a[i * d + j] = (a[i * d + j] - sum) / diagonal;
        }
    }
    // L u = g, then L^T s = u.
    let mut u = vec![0.0; d];
    for i in 0..d {
        u[i] = (g[i] - (0..i).map(|k| a[i * d + k] * u[k]).sum::<f64>()) / a[i * d + i];
    }
    let mut s = vec![0.0; d];
    for i in (0..d).rev() {
        s[i] = (u[i] - (i + 1..d).map(|k| a[k * d + i] * s[k]).sum::<f64>()) / a[i * d + i];
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scaling::ScalingSource;

    #[test]
    fn finds_the_maximum_margin_line_of_separable_points() {
        // Classes at x = -2, -1 and x = 1, 2; with a large C the squared-hinge solution is
        // close to the hard-margin one, w = 1, b = 0 (the bias penalty is negligible there).
        let rows: Vec<&[f64]> = vec![&[-2.0], &[-1.0], &[1.0], &[2.0]];
        let labels = [0, 0, 1, 1];
        let identity = Standardizer {
            source: ScalingSource::TrainRows,
            mean: vec![0.0],
            scale: vec![1.0],
        };
        let model = fit(&rows, &labels, 2, identity, &[1e4; 4], 1e-10, 100);
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

    #[test]
    fn newton_solves_the_regularized_problem_exactly() {
        // One row x = 1 (plus bias 1), y = +1, C = 1: the optimum of
        // (w^2 + b^2) / 2 + (1 - w - b)^2 is w = b = 2/5 (gradient w - 2 (1 - w - b) = 0).
        let w = fit_binary(&[vec![1.0, 1.0]], &[1.0], &[1.0], 1e-12, 100);
        assert!(
            (w[0] - 0.4).abs() < 1e-12 && (w[1] - 0.4).abs() < 1e-12,
            "{w:?}"
        );
    }

    #[test]
    fn cholesky_solves_a_symmetric_system() {
        // [[4, 2], [2, 3]] s = [2, 1] -> s = [0.5, 0].
        let mut a = vec![4.0, 0.0, 2.0, 3.0];
        let s = cholesky_solve(&mut a, 2, &[2.0, 1.0]);
        assert!((s[0] - 0.5).abs() < 1e-15 && s[1].abs() < 1e-15, "{s:?}");
    }
}
