//! Platt scaling of binary decision values into probabilities, as libsvm's `sigmoid_train` and
//! `sigmoid_predict` (Platt 2000, with the improvements of Lin, Lin & Weng 2007):
//! `P(y = +1 | f) = 1 / (1 + exp(A f + B))`, `A` and `B` fitted by Newton's method with a
//! backtracking line search on the cross-entropy against regularized targets
//! `(n_+ + 1) / (n_+ + 2)` and `1 / (n_- + 2)`.

/// Fits `(A, B)` to decision values `decision` with labels `positive` (`true` for `y = +1`).
pub fn sigmoid_train(decision: &[f64], positive: &[bool]) -> (f64, f64) {
    let prior1 = positive.iter().filter(|&&p| p).count() as f64;
    let prior0 = positive.len() as f64 - prior1;
    let (max_iter, min_step, sigma, eps) = (100, 1e-10, 1e-12, 1e-5);
    let hi_target = (prior1 + 1.0) / (prior1 + 2.0);
    let lo_target = 1.0 / (prior0 + 2.0);
    let targets: Vec<f64> = positive.iter().map(|&p| if p { hi_target } else { lo_target }).collect();
    let objective = |a: f64, b: f64| -> f64 {
        decision
            .iter()
            .zip(&targets)
            .map(|(&f, &t)| {
                let fab = f * a + b;
                if fab >= 0.0 { t * fab + (-fab).exp().ln_1p() } else { (t - 1.0) * fab + fab.exp().ln_1p() }
            })
            .sum()
    };
    let (mut a, mut b) = (0.0, ((prior0 + 1.0) / (prior1 + 1.0)).ln());
    let mut fval = objective(a, b);
    for _ in 0..max_iter {
        let (mut h11, mut h22, mut h21, mut g1, mut g2) = (sigma, sigma, 0.0, 0.0, 0.0);
        for (&f, &t) in decision.iter().zip(&targets) {
            let fab = f * a + b;
            let (p, q) = if fab >= 0.0 {
                let e = (-fab).exp();
                (e / (1.0 + e), 1.0 / (1.0 + e))
            } else {
                let e = fab.exp();
                (1.0 / (1.0 + e), e / (1.0 + e))
            };
            let d2 = p * q;
            h11 += f * f * d2;
            h22 += d2;
            h21 += f * d2;
            let d1 = t - p;
            g1 += f * d1;
            g2 += d1;
        }
        if g1.abs() < eps && g2.abs() < eps {
            break;
        }
        let det = h11 * h22 - h21 * h21;
        let da = -(h22 * g1 - h21 * g2) / det;
        let db = -(-h21 * g1 + h11 * g2) / det;
        let gd = g1 * da + g2 * db;
        let mut step = 1.0;
        while step >= min_step {
            let (new_a, new_b) = (a + step * da, b + step * db);
            let new_f = objective(new_a, new_b);
            if new_f < fval + 0.0001 * step * gd {
                (a, b, fval) = (new_a, new_b, new_f);
                break;
            }
            step /= 2.0;
        }
        if step < min_step {
            // libsvm: "line search fails"; keep the last (A, B).
            break;
        }
    }
    (a, b)
}

/// `P(y = +1)` of decision value `f` (libsvm's numerically stable form).
pub fn sigmoid_predict(f: f64, a: f64, b: f64) -> f64 {
    let fab = f * a + b;
    if fab >= 0.0 { (-fab).exp() / (1.0 + (-fab).exp()) } else { 1.0 / (1.0 + fab.exp()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fits_a_decreasing_sigmoid_that_orders_the_classes() {
        let decision = [-2.0, -1.5, -0.5, 0.2, -0.1, 0.6, 1.2, 2.0];
        let positive = [false, false, false, false, true, true, true, true];
        let (a, b) = sigmoid_train(&decision, &positive);
        assert!(a < 0.0, "A = {a}");
        // The optimum: the gradient of the cross-entropy vanishes (libsvm stops at 1e-5).
        let targets = positive.map(|p| if p { 5.0 / 6.0 } else { 1.0 / 6.0 });
        let (g1, g2) = decision.iter().zip(&targets).fold((0.0, 0.0), |(g1, g2), (&f, &t)| {
            let d = t - sigmoid_predict(f, a, b);
            (g1 + f * d, g2 + d)
        });
        assert!(g1.abs() < 1e-5 && g2.abs() < 1e-5, "{g1} {g2}");
        assert!(sigmoid_predict(2.0, a, b) > 0.7 && sigmoid_predict(-2.0, a, b) < 0.3);
        assert_eq!(sigmoid_predict(0.0, 0.0, 0.0), 0.5);
    }
}
