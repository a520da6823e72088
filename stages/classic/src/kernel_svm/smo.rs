//! libsvm's SMO solver for one binary C-SVC dual problem (`Solver::Solve` of libsvm 3.x, which
//! scikit-learn's `SVC` runs):
//!
//! ```text
//! min_a  1/2 a' Q a - e' a   subject to  0 <= a_t <= C_t,  y' a = 0,   Q_ts = y_t y_s K(x_t, x_s)
//! ```
//!
//! Each step takes the pair of libsvm's second-order working-set selection (WSS3, Fan, Chen &
//! Lin 2005): `i` the most violating index by gradient, `j` the one whose two-variable step
//! decreases the objective most; it solves the two-variable problem in closed form with libsvm's
//! clipping to the box, and updates the gradient with rows `i` and `j` of `Q`. It stops when the
//! maximal violation `m(a) - M(a)` falls below `eps` (scikit-learn's `tol`) or after libsvm's
//! iteration cap `max(10^7, 100 l)`. `rho` is libsvm's: the mean of `y_t G_t` over free
//! variables, else the midpoint of their bounds.
//!
//! No shrinking: libsvm's shrinking only skips bounded variables to save time on large
//! problems; SER pairs hold a few hundred rows, and without it every step sees every variable
//! (the optimum is the same within `eps`). `Q` is a dense precomputed matrix (libsvm caches
//! kernel rows as `f32`; here they are `f64`).

/// libsvm's `TAU`: the smallest curvature a step divides by.
const TAU: f64 = 1e-12;

/// The solution of a binary problem.
#[derive(Clone, Debug, PartialEq)]
pub struct Solution {
    /// The dual variables `a_t` (not multiplied by `y_t`).
    pub alpha: Vec<f64>,
    /// The offset: the decision value is `sum_t a_t y_t K(x_t, x) - rho`.
    pub rho: f64,
}

/// Solves the problem with kernel matrix `kernel` (`l x l`, row-major), labels `y` (+1 / -1),
/// box bounds `c_pos` for `y = +1` and `c_neg` for `y = -1`, and tolerance `eps`.
pub fn solve(kernel: &[f64], y: &[f64], c_pos: f64, c_neg: f64, eps: f64) -> Solution {
    solve_with(kernel, y.len(), y, &vec![-1.0; y.len()], c_pos, c_neg, eps)
}

/// libsvm's general problem `min 1/2 a' Q a + p' a` with the linear term `p` (`-e` for C-SVC),
/// over `y.len()` variables (`n` or `2n`) whose kernel rows repeat the `n x n` matrix
/// `kernel`: variable `t` is row `t % n`. epsilon-SVR is the case of `2n` variables, each
/// training row twice (`y = +1` then `-1`), so that its kernel matrix need not be stored twice
/// over.
pub fn solve_with(kernel: &[f64], n: usize, y: &[f64], p: &[f64], c_pos: f64, c_neg: f64, eps: f64) -> Solution {
    let l = y.len();
    assert!(l == n || l == 2 * n, "{l} variables over a kernel of {n} rows: one or two per row");
    let k = |i: usize, j: usize| kernel[(i % n) * n + j % n];
    let q = |i: usize, j: usize| y[i] * y[j] * k(i, j);
    let c = |i: usize| if y[i] > 0.0 { c_pos } else { c_neg };
    let mut alpha = vec![0.0; l];
    let mut gradient = p.to_vec();
    // libsvm's `QD`: the diagonal, read in every selection.
    let diagonal: Vec<f64> = (0..l).map(|t| k(t, t)).collect();
    let max_iter = 10_000_000usize.max(100 * l);
    let upper = |a: f64, c: f64| a >= c;
    let lower = |a: f64| a <= 0.0;
    for _ in 0..max_iter {
        // WSS3: i maximizes -y_t G_t over I_up, j minimizes the second-order objective decrease.
        let (mut g_max, mut i) = (f64::NEG_INFINITY, None);
        for t in 0..l {
            let (a, ct) = (alpha[t], c(t));
            if y[t] > 0.0 {
                if !upper(a, ct) && -gradient[t] >= g_max {
                    (g_max, i) = (-gradient[t], Some(t));
                }
            } else if !lower(a) && gradient[t] >= g_max {
                (g_max, i) = (gradient[t], Some(t));
            }
        }
        let Some(i) = i else { break };
        let (mut g_max2, mut j, mut obj_min) = (f64::NEG_INFINITY, None, f64::INFINITY);
        let qd_i = diagonal[i];
        // Row `i` of the kernel, repeated over each block of `n` variables.
        let row_i = &kernel[(i % n) * n..(i % n + 1) * n];
        for (t, &k_it) in (0..l).zip(row_i.iter().chain(row_i).take(l)) {
            let (a, ct) = (alpha[t], c(t));
            let grad_diff = if y[t] > 0.0 {
                if lower(a) {
                    continue;
                }
                g_max2 = g_max2.max(gradient[t]);
                g_max + gradient[t]
            } else {
                if upper(a, ct) {
                    continue;
                }
                g_max2 = g_max2.max(-gradient[t]);
                g_max - gradient[t]
            };
            if grad_diff > 0.0 {
                let quad = qd_i + diagonal[t] - 2.0 * y[i] * y[t] * (y[i] * y[t] * k_it);
                let obj = -(grad_diff * grad_diff) / if quad > 0.0 { quad } else { TAU };
                if obj <= obj_min {
                    (j, obj_min) = (Some(t), obj);
                }
            }
        }
        let Some(j) = j.filter(|_| g_max + g_max2 >= eps) else { break };
        step(&mut alpha, &mut gradient, i, j, y, c(i), c(j), &q, kernel, n);
    }
    let rho = rho(&alpha, &gradient, y, c_pos, c_neg);
    Solution { alpha, rho }
}

/// The closed-form two-variable step on `(i, j)` (libsvm's update and clipping), then the
/// gradient update; `kernel` is `n x n`, variable `t` its row `t % n`.
#[allow(clippy::too_many_arguments)]
fn step(
    alpha: &mut [f64],
    gradient: &mut [f64],
    i: usize,
    j: usize,
    y: &[f64],
    c_i: f64,
    c_j: f64,
    q: &impl Fn(usize, usize) -> f64,
    kernel: &[f64],
    n: usize,
) {
    let (old_i, old_j) = (alpha[i], alpha[j]);
    let (ri, rj) = (i % n, j % n);
    let (qd_i, qd_j, q_ij) = (kernel[ri * n + ri], kernel[rj * n + rj], q(i, j));
    if y[i] != y[j] {
        let quad = qd_i + qd_j + 2.0 * q_ij;
        let quad = if quad > 0.0 { quad } else { TAU };
        let delta = (-gradient[i] - gradient[j]) / quad;
        let diff = alpha[i] - alpha[j];
        alpha[i] += delta;
        alpha[j] += delta;
        if diff > 0.0 {
            if alpha[j] < 0.0 {
                alpha[j] = 0.0;
                alpha[i] = diff;
            }
        } else if alpha[i] < 0.0 {
            alpha[i] = 0.0;
            alpha[j] = -diff;
        }
        if diff > c_i - c_j {
            if alpha[i] > c_i {
                alpha[i] = c_i;
                alpha[j] = c_i - diff;
            }
        } else if alpha[j] > c_j {
            alpha[j] = c_j;
            alpha[i] = c_j + diff;
        }
    } else {
        let quad = qd_i + qd_j - 2.0 * q_ij;
        let quad = if quad > 0.0 { quad } else { TAU };
        let delta = (gradient[i] - gradient[j]) / quad;
        let sum = alpha[i] + alpha[j];
        alpha[i] -= delta;
        alpha[j] += delta;
        if sum > c_i {
            if alpha[i] > c_i {
                alpha[i] = c_i;
                alpha[j] = sum - c_i;
            }
        } else if alpha[j] < 0.0 {
            alpha[j] = 0.0;
            alpha[i] = sum;
        }
        if sum > c_j {
            if alpha[j] > c_j {
                alpha[j] = c_j;
                alpha[i] = sum - c_j;
            }
        } else if alpha[i] < 0.0 {
            alpha[i] = 0.0;
            alpha[j] = sum;
        }
    }
    let (delta_i, delta_j) = (alpha[i] - old_i, alpha[j] - old_j);
    let (row_i, row_j) = (&kernel[ri * n..(ri + 1) * n], &kernel[rj * n..(rj + 1) * n]);
    let (yi_di, yj_dj) = (y[i] * delta_i, y[j] * delta_j);
    // Variables in blocks of `n`, each block over the same kernel rows: plain slices the
    // compiler vectorizes.
    for (g, y) in gradient.chunks_mut(n).zip(y.chunks(n)) {
        for ((g, y_t), (k_i, k_j)) in g.iter_mut().zip(y).zip(row_i.iter().zip(row_j)) {
            *g += y_t * (k_i * yi_di + k_j * yj_dj);
        }
    }
}

/// libsvm's `calculate_rho`.
fn rho(alpha: &[f64], gradient: &[f64], y: &[f64], c_pos: f64, c_neg: f64) -> f64 {
    let (mut ub, mut lb, mut sum_free, mut n_free) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
    for t in 0..y.len() {
        let y_g = y[t] * gradient[t];
        let c = if y[t] > 0.0 { c_pos } else { c_neg };
        if alpha[t] >= c {
            if y[t] < 0.0 { ub = ub.min(y_g) } else { lb = lb.max(y_g) }
        } else if alpha[t] <= 0.0 {
            if y[t] > 0.0 { ub = ub.min(y_g) } else { lb = lb.max(y_g) }
        } else {
            n_free += 1;
            sum_free += y_g;
        }
    }
    if n_free > 0 { sum_free / n_free as f64 } else { (ub + lb) / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_points_meet_in_the_middle() {
        // Linear kernel on x = -1 (y = -1) and x = +1 (y = +1): the margin is maximal with
        // w = 1, b = 0, so a = 1/2 each (w = sum a_t y_t x_t) and rho = 0.
        let x = [-1.0, 1.0];
        let kernel: Vec<f64> = x.iter().flat_map(|a| x.iter().map(move |b| a * b)).collect();
        let s = solve(&kernel, &[-1.0, 1.0], 10.0, 10.0, 1e-9);
        assert_eq!(s.alpha, vec![0.5, 0.5]);
        assert_eq!(s.rho, 0.0);
        // With C = 0.25 both are at the bound; rho is the midpoint of their bounds, still 0.
        let s = solve(&kernel, &[-1.0, 1.0], 0.25, 0.25, 1e-9);
        assert_eq!((s.alpha.clone(), s.rho), (vec![0.25, 0.25], 0.0));
    }

    #[test]
    fn satisfies_the_kkt_conditions_within_eps() {
        // 1-d points with an RBF kernel, overlapping classes.
        let x: [f64; 8] = [0.0, 0.3, 0.9, 1.4, 1.1, 2.0, 2.4, 0.2];
        let y = [-1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0];
        let kernel: Vec<f64> = x.iter().flat_map(|a| x.iter().map(move |b| (-(a - b) * (a - b)).exp())).collect();
        let (c, eps) = (2.0, 1e-6);
        let s = solve(&kernel, &y, c, c, eps);
        let sum: f64 = s.alpha.iter().zip(&y).map(|(a, y)| a * y).sum();
        assert!(sum.abs() < 1e-12, "y'a = {sum}");
        // Decision value f(x_t) = sum a y K - rho: margin >= 1 at a = 0, <= 1 at a = C, = 1 between.
        for t in 0..x.len() {
            let f: f64 = (0..x.len()).map(|s2| s.alpha[s2] * y[s2] * kernel[s2 * x.len() + t]).sum::<f64>() - s.rho;
            let margin = y[t] * f;
            let a = s.alpha[t];
            assert!(a >= 0.0 && a <= c);
            if a == 0.0 {
                assert!(margin >= 1.0 - 1e-5, "{t}: {margin}");
            } else if a == c {
                assert!(margin <= 1.0 + 1e-5, "{t}: {margin}");
            } else {
                assert!((margin - 1.0).abs() < 1e-5, "{t}: {margin}");
            }
        }
    }
}
