//! Pairwise coupling: class probabilities from the pairwise ones, as libsvm's
//! `multiclass_probability` (method 2 of Wu, Lin & Weng 2004): the `p` on the simplex that
//! minimizes `sum_i sum_{j != i} (r_ji p_i - r_ij p_j)^2`, by libsvm's fixed-point iteration
//! (at most `max(100, k)` sweeps, stopping when every `|(Qp)_t - p'Qp| < 0.005 / k`).

/// Class probabilities from `r[i][j]` = P(class i | class i or j), `r[j][i] = 1 - r[i][j]`.
pub fn multiclass_probability(r: &[Vec<f64>]) -> Vec<f64> {
    let k = r.len();
    let mut p = vec![1.0 / k as f64; k];
    let mut q = vec![vec![0.0; k]; k];
    for t in 0..k {
        for j in 0..t {
            q[t][t] += r[j][t] * r[j][t];
            q[t][j] = q[j][t];
        }
        for j in t + 1..k {
            q[t][t] += r[j][t] * r[j][t];
            q[t][j] = -r[j][t] * r[t][j];
        }
    }
    let eps = 0.005 / k as f64;
    let mut qp = vec![0.0; k];
    for _ in 0..100.max(k) {
        let mut pqp = 0.0;
        for t in 0..k {
            qp[t] = (0..k).map(|j| q[t][j] * p[j]).sum();
            pqp += p[t] * qp[t];
        }
        let max_error = qp.iter().map(|v| (v - pqp).abs()).fold(0.0, f64::max);
        if max_error < eps {
            break;
        }
        for t in 0..k {
            let diff = (-qp[t] + pqp) / q[t][t];
            p[t] += diff;
            pqp = (pqp + diff * (diff * q[t][t] + 2.0 * qp[t])) / (1.0 + diff) / (1.0 + diff);
            for j in 0..k {
                qp[j] = (qp[j] + diff * q[t][j]) / (1.0 + diff);
                p[j] /= 1.0 + diff;
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_consistent_pairwise_probabilities() {
        // Pairwise probabilities of p = (0.5, 0.3, 0.2): r_ij = p_i / (p_i + p_j).
        let truth = [0.5, 0.3, 0.2];
        let r: Vec<Vec<f64>> =
            (0..3).map(|i| (0..3).map(|j| if i == j { 0.0 } else { truth[i] / (truth[i] + truth[j]) }).collect()).collect();
        let p = multiclass_probability(&r);
        assert!(p.iter().zip(truth).all(|(a, b)| (a - b).abs() < 1e-3), "{p:?}");
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
