//! Epsilon-support vector regression with an RBF kernel, as scikit-learn's `SVR` (libsvm's
//! `solve_epsilon_svr`): the dual over two variables per training row, `a_t` and `a*_t`,
//!
//! ```text
//! min 1/2 (a - a*)' K (a - a*) + eps e'(a + a*) - y'(a - a*)   s.t.  0 <= a, a* <= C,  e'(a - a*) = 0
//! ```
//!
//! solved by the classifier's SMO ([`super::smo::solve_with`]) as one problem of `2l` variables
//! (labels `+1` then `-1`, linear term `eps - y` then `eps + y`); the estimate is
//! `sum_t (a_t - a*_t) K(x_t, x) - rho`. Rows whose value lies within `eps` of the fit cost
//! nothing, so the fit is sparse in its support vectors and robust to raters' noise, which is why
//! it is the classic baseline of dimensional SER (AVEC). Features are standardized first, as a
//! scikit-learn `StandardScaler` + `SVR` pipeline does.

use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Gamma, rbf, smo};
use crate::scaling::Standardizer;

/// How the regressor is fitted (as `regress` keys it, too).
#[derive(Clone, Copy, Debug, Serialize, JsonSchema)]
pub struct SvrParams {
    /// Penalty `C` on estimates off by more than `epsilon` (> 0).
    pub c: f64,
    /// Half-width of the tube in which errors cost nothing (>= 0).
    pub epsilon: f64,
    /// Kernel width rule or value.
    pub gamma: Gamma,
    /// The solver's stopping tolerance (> 0).
    pub tol: f64,
}

impl SvrParams {
    /// The param out of range, if any, and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for (param, value) in [("c", self.c), ("tol", self.tol)] {
            if !(value.is_finite() && value > 0.0) {
                return Err((param, format!("must be a positive number, got {value}")));
            }
        }
        if !(self.epsilon.is_finite() && self.epsilon >= 0.0) {
            return Err(("epsilon", format!("must be a number >= 0, got {}", self.epsilon)));
        }
        self.gamma.check().map_err(|message| ("gamma", message))
    }
}

/// A fitted RBF support vector regressor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RbfSvr {
    /// The standardization the rows go through first.
    pub standardizer: Standardizer,
    /// The kernel width in use.
    pub gamma: f64,
    /// The standardized training rows with a nonzero coefficient.
    pub support_vectors: Vec<Vec<f64>>,
    /// Their coefficients `a_t - a*_t`.
    pub coefficients: Vec<f64>,
    /// The offset subtracted from every estimate.
    pub rho: f64,
}

impl RbfSvr {
    /// Fits on raw feature `rows` with values `targets`.
    pub fn fit(rows: &[&[f64]], targets: &[f64], standardizer: Standardizer, params: &SvrParams) -> Self {
        let z: Vec<Vec<f64>> = rows.iter().map(|r| standardizer.apply(r)).collect();
        let gamma = params.gamma.resolve(&z);
        let l = z.len();
        let kernel: Vec<f64> =
            (0..l * l).into_par_iter().with_min_len(4096).map(|k| rbf(&z[k / l], &z[k % l], gamma)).collect();
        let y: Vec<f64> = (0..2 * l).map(|t| if t < l { 1.0 } else { -1.0 }).collect();
        let p: Vec<f64> = (0..2 * l).map(|t| if t < l { params.epsilon - targets[t] } else { params.epsilon + targets[t - l] }).collect();
        let solution = smo::solve_with(&kernel, l, &y, &p, params.c, params.c, params.tol);
        let (support_vectors, coefficients) = (0..l)
            .map(|t| (t, solution.alpha[t] - solution.alpha[t + l]))
            .filter(|(_, coefficient)| *coefficient != 0.0)
            .map(|(t, coefficient)| (z[t].clone(), coefficient))
            .unzip();
        Self { standardizer, gamma, support_vectors, coefficients, rho: solution.rho }
    }

    /// The estimate of each raw feature row.
    pub fn predict(&self, rows: &[&[f64]]) -> Vec<f64> {
        rows.par_iter()
            .map(|row| {
                let z = self.standardizer.apply(row);
                let sum: f64 = self.support_vectors.iter().zip(&self.coefficients).map(|(sv, c)| c * rbf(sv, &z, self.gamma)).sum();
                sum - self.rho
            })
            .collect()
    }
}
