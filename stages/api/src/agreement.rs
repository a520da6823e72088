//! How well estimated values of an emotion dimension agree with the raters' values, in one place
//! for every stage that scores them (`regress`'s own report, `evaluate`).
//!
//! The headline is Lin's concordance correlation coefficient, the metric of dimensional SER
//! (AVEC, the Odyssey 2024 challenge, MSP-Podcast papers): `2 cov(t, p) / (var t + var p +
//! (mean t - mean p)^2)` with population (biased) moments, as `audmetric.concordance_cc`
//! computes it. Unlike Pearson's r it drops when predictions are shifted or scaled off the
//! raters' scale, so a model that only ranks clips well does not score well.

/// Agreement scores of (true, predicted) pairs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Agreement {
    /// Pairs scored.
    pub clips: u64,
    /// Lin's concordance correlation coefficient; 0 when both sides are constant and apart.
    pub ccc: f64,
    /// Pearson's correlation; 0 when either side is constant.
    pub pcc: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
}

/// The names of [`Agreement`]'s scores, as in tables.
pub const SCORES: [&str; 4] = ["ccc", "pcc", "mae", "rmse"];

impl Agreement {
    /// The scores of `pairs` (true, predicted); `None` when there are none.
    pub fn of(pairs: &[(f64, f64)]) -> Option<Self> {
        if pairs.is_empty() {
            return None;
        }
        let n = pairs.len() as f64;
        let mean_t = pairs.iter().map(|p| p.0).sum::<f64>() / n;
        let mean_p = pairs.iter().map(|p| p.1).sum::<f64>() / n;
        let (mut var_t, mut var_p, mut cov, mut abs, mut sq) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &(t, p) in pairs {
            let (dt, dp) = (t - mean_t, p - mean_p);
            var_t += dt * dt;
            var_p += dp * dp;
            cov += dt * dp;
            abs += (t - p).abs();
            sq += (t - p) * (t - p);
        }
        let (var_t, var_p, cov) = (var_t / n, var_p / n, cov / n);
        let ccc_den = var_t + var_p + (mean_t - mean_p).powi(2);
        let pcc_den = (var_t * var_p).sqrt();
        Some(Self {
            clips: pairs.len() as u64,
            ccc: if ccc_den > 0.0 { 2.0 * cov / ccc_den } else { 1.0 },
            pcc: if pcc_den > 0.0 { cov / pcc_den } else { 0.0 },
            mae: abs / n,
            rmse: (sq / n).sqrt(),
        })
    }

    /// The score named `name` (one of [`SCORES`]).
    pub fn get(&self, name: &str) -> Option<f64> {
        match name {
            "ccc" => Some(self.ccc),
            "pcc" => Some(self.pcc),
            "mae" => Some(self.mae),
            "rmse" => Some(self.rmse),
            _ => None,
        }
    }

    /// The scores in [`SCORES`]'s order.
    pub fn values(&self) -> [f64; 4] {
        [self.ccc, self.pcc, self.mae, self.rmse]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// numpy on these arrays (`2 r std_t std_p / (var_t + var_p + (mean_t - mean_p)^2)`, as
    /// audmetric; `np.corrcoef`) gives ccc 0.7547169811320753 and r 0.9449111825230679.
    #[test]
    fn matches_the_reference_formulas() {
        let truth = [1.0, 2.0, 3.0, 4.0, 5.0];
        let predicted = [1.5, 2.5, 2.5, 3.5, 3.5];
        let pairs: Vec<(f64, f64)> = truth.into_iter().zip(predicted).collect();
        let a = Agreement::of(&pairs).unwrap();
        // mean t 3, mean p 2.7; var t 2, var p 0.56, cov 1 -> 2 / (2 + 0.56 + 0.09).
        assert!((a.ccc - 0.7547169811320753).abs() < 1e-12, "{a:?}");
        assert!((a.pcc - 0.9449111825230679).abs() < 1e-12, "{a:?}");
        assert!((a.mae - 0.7).abs() < 1e-12);
        assert!((a.rmse - (3.25f64 / 5.0).sqrt()).abs() < 1e-12);
        assert_eq!(a.clips, 5);
        assert_eq!(a.get("ccc"), Some(a.ccc));
        assert_eq!(a.get("uar"), None);
    }

    /// CCC punishes a shift that Pearson ignores; identical values agree fully.
    #[test]
    fn a_shift_lowers_ccc_not_pcc() {
        let shifted: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), f64::from(i) + 3.0)).collect();
        let a = Agreement::of(&shifted).unwrap();
        assert!((a.pcc - 1.0).abs() < 1e-12);
        // var 8.25 each, cov 8.25, shift 9: 16.5 / 25.5.
        assert!((a.ccc - 16.5 / 25.5).abs() < 1e-12, "{a:?}");
        let same: Vec<(f64, f64)> = (0..4).map(|i| (f64::from(i), f64::from(i))).collect();
        assert_eq!(Agreement::of(&same).unwrap().ccc, 1.0);
        assert_eq!(Agreement::of(&[(2.0, 3.0), (2.0, 3.0)]).unwrap().ccc, 0.0);
        assert!(Agreement::of(&[]).is_none());
    }
}
