//! Ridge regression on standardized features, as scikit-learn's `Ridge(alpha)` with
//! `fit_intercept=True` behind a `StandardScaler`: `w = argmin |y - b - Zw|^2 + alpha |w|^2`
//! over the centred training rows `Z`, `b = mean(y) - mean(Z) . w`.
//!
//! Solved in closed form by a Cholesky factorization of the smaller Gram matrix: the primal
//! `(Z'Z + alpha I) w = Z'y` when there are fewer features than rows (eGeMAPS' 88 columns), the
//! dual `w = Z'(ZZ' + alpha I)^-1 y` otherwise (SSL embeddings, ComParE's 6373 columns over a
//! few hundred clips); both give the same `w`. A few dozen lines of f64 linear algebra do not
//! justify a LAPACK dependency; the systems are small and positive definite for `alpha > 0`.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::scaling::Standardizer;

/// A fitted ridge regression of one target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ridge {
    /// Applied to raw features before the product.
    pub standardizer: Standardizer,
    /// One weight per feature column.
    pub weights: Vec<f64>,
    /// The intercept.
    pub intercept: f64,
}

impl Ridge {
    /// Fits `targets` (one per row of `rows`) with penalty `alpha > 0`.
    pub fn fit(rows: &[&[f64]], targets: &[f64], standardizer: Standardizer, alpha: f64) -> Self {
        let z: Vec<Vec<f64>> = rows.iter().map(|r| standardizer.apply(r)).collect();
        let n = z.len();
        let p = z.first().map_or(0, Vec::len);
        let mean_z: Vec<f64> = (0..p).map(|j| z.iter().map(|r| r[j]).sum::<f64>() / n as f64).collect();
        let mean_y = targets.iter().sum::<f64>() / n as f64;
        let zc: Vec<Vec<f64>> = z.iter().map(|r| r.iter().zip(&mean_z).map(|(x, m)| x - m).collect()).collect();
        let yc: Vec<f64> = targets.iter().map(|y| y - mean_y).collect();
        let weights = if p <= n { primal(&zc, &yc, alpha) } else { dual(&zc, &yc, alpha) };
        let intercept = mean_y - dot(&mean_z, &weights);
        Self { standardizer, weights, intercept }
    }

    /// The estimate of each raw feature row.
    pub fn predict(&self, rows: &[&[f64]]) -> Vec<f64> {
        rows.par_iter().map(|row| dot(&self.weights, &self.standardizer.apply(row)) + self.intercept).collect()
    }
}

/// `(Z'Z + alpha I) w = Z'y` over centred rows `zc`: a features-by-features system.
fn primal(zc: &[Vec<f64>], yc: &[f64], alpha: f64) -> Vec<f64> {
    let p = zc.first().map_or(0, Vec::len);
    let mut gram: Vec<Vec<f64>> =
        (0..p).into_par_iter().map(|a| (0..p).map(|b| zc.iter().map(|r| r[a] * r[b]).sum::<f64>()).collect()).collect();
    (0..p).for_each(|j| gram[j][j] += alpha);
    let rhs: Vec<f64> = (0..p).map(|j| zc.iter().zip(yc).map(|(r, y)| r[j] * y).sum()).collect();
    solve_spd(gram, rhs)
}

/// `w = Z'(ZZ' + alpha I)^-1 y` over centred rows `zc`: a rows-by-rows system.
fn dual(zc: &[Vec<f64>], yc: &[f64], alpha: f64) -> Vec<f64> {
    let n = zc.len();
    let p = zc.first().map_or(0, Vec::len);
    let mut gram: Vec<Vec<f64>> = zc.par_iter().map(|a| zc.iter().map(|b| dot(a, b)).collect()).collect();
    (0..n).for_each(|i| gram[i][i] += alpha);
    let coefficients = solve_spd(gram, yc.to_vec());
    (0..p).map(|j| zc.iter().zip(&coefficients).map(|(r, c)| r[j] * c).sum()).collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Solves `a x = b` for a symmetric positive definite `a` by Cholesky (`a = L L'`), then two
/// triangular solves.
fn solve_spd(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for j in 0..n {
        let diagonal = (a[j][j] - (0..j).map(|k| a[j][k] * a[j][k]).sum::<f64>()).sqrt();
        a[j][j] = diagonal;
        let (done, rest) = a.split_at_mut(j + 1);
        let row_j = &done[j];
        rest.par_iter_mut().for_each(|row_i| {
            let s: f64 = (0..j).map(|k| row_i[k] * row_j[k]).sum();
            row_i[j] = (row_i[j] - s) / diagonal;
        });
    }
    for i in 0..n {
        b[i] = (b[i] - (0..i).map(|k| a[i][k] * b[k]).sum::<f64>()) / a[i][i];
    }
    for i in (0..n).rev() {
        b[i] = (b[i] - (i + 1..n).map(|k| a[k][i] * b[k]).sum::<f64>()) / a[i][i];
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(p: usize) -> Standardizer {
        Standardizer { source: crate::scaling::ScalingSource::TrainRows, mean: vec![0.0; p], scale: vec![1.0; p] }
    }

    /// One feature: `w = sum(xc yc) / (sum(xc^2) + alpha)`.
    #[test]
    fn one_feature_by_hand() {
        let rows: Vec<&[f64]> = vec![&[0.0], &[1.0], &[2.0], &[3.0]];
        let y = [1.0, 3.0, 5.0, 7.0];
        let ridge = Ridge::fit(&rows, &y, identity(1), 1.0);
        // xc = -1.5, -.5, .5, 1.5 (sum of squares 5), yc = -3, -1, 1, 3: w = 10 / 6.
        assert!((ridge.weights[0] - 10.0 / 6.0).abs() < 1e-12, "{ridge:?}");
        assert!((ridge.intercept - (4.0 - 1.5 * 10.0 / 6.0)).abs() < 1e-12);
        assert!((ridge.predict(&[&[1.5]])[0] - 4.0).abs() < 1e-12);
    }

    /// The primal and the dual solve the same problem, whichever side is larger.
    #[test]
    fn primal_and_dual_give_the_same_weights() {
        for (n, p) in [(9, 4), (5, 12)] {
            let zc: Vec<Vec<f64>> = (0..n)
                .map(|i| (0..p).map(|j| f64::from(((i * 7 + j * 3) % 5) as u32) + (i * j) as f64 * 0.1).collect())
                .collect();
            let y: Vec<f64> = (0..n).map(|i| (i as f64 * 0.7).sin()).collect();
            let (a, b) = (primal(&zc, &y, 0.3), dual(&zc, &y, 0.3));
            for (x, z) in a.iter().zip(&b) {
                assert!((x - z).abs() < 1e-9, "{n}x{p}: {a:?} {b:?}");
            }
        }
    }
}
