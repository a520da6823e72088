//! Whether two models differ on the same clips: McNemar's exact test on per-clip correctness.
//!
//! Of the clips both models scored, `b` are right for the first model only and `c` for the
//! second only; under the hypothesis that the models are equally accurate each such clip is a
//! fair coin, so the two-sided p-value is `min(1, 2 P[Binomial(b + c, 1/2) <= min(b, c)])`
//! (the exact form, which scikit-learn users know as statsmodels' `mcnemar(exact=True)`). It
//! needs only which clips each model got right ([`vox_api::scored`]), so it applies to any
//! metric's comparison, and it reads clips by id: models scored on different clips are not
//! compared. Discordant counts of several seeds' pairs are summed (a stratified test).

use std::collections::BTreeMap;

use vox_api::scored::ScoredClip;

/// The level below which a difference is called significant.
pub const ALPHA: f64 = 0.05;

/// The discordant clips of two models: right for the first only, and for the second only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discordant {
    /// Right for the first model only.
    pub first_only: u64,
    /// Right for the second model only.
    pub second_only: u64,
}

impl Discordant {
    /// The counts of `a` and `b` on the same clips, or `None` when their clip sets differ.
    pub fn of(a: &[ScoredClip], b: &[ScoredClip]) -> Option<Self> {
        let b_by_id: BTreeMap<&str, &ScoredClip> = b.iter().map(|c| (c.file_id.as_str(), c)).collect();
        if a.len() != b.len() {
            return None;
        }
        let mut counts = Self::default();
        for clip in a {
            let other = b_by_id.get(clip.file_id.as_str())?;
            if other.label != clip.label {
                return None;
            }
            match (clip.correct(), other.correct()) {
                (true, false) => counts.first_only += 1,
                (false, true) => counts.second_only += 1,
                _ => {}
            }
        }
        Some(counts)
    }

    /// McNemar's exact two-sided p-value.
    pub fn p_value(self) -> f64 {
        let n = self.first_only + self.second_only;
        let k = self.first_only.min(self.second_only);
        if n == 0 {
            return 1.0;
        }
        // P[X = i] for X ~ Binomial(n, 1/2), summed for i <= k in log space (2^-n underflows).
        let mut log_choose = 0.0;
        let mut tail = 0.0;
        let log_half_n = n as f64 * std::f64::consts::LN_2;
        for i in 0..=k {
            if i > 0 {
                log_choose += ((n - i + 1) as f64).ln() - (i as f64).ln();
            }
            tail += (log_choose - log_half_n).exp();
        }
        (2.0 * tail).min(1.0)
    }
}

impl std::ops::Add for Discordant {
    type Output = Self;

    /// Both pairs' counts together.
    fn add(self, other: Self) -> Self {
        Self { first_only: self.first_only + other.first_only, second_only: self.second_only + other.second_only }
    }
}

/// `p = 0.031` or `p = 0.64, not significant`: a p-value for tables.
pub fn describe(p: f64) -> String {
    let value = if p < 1e-4 { "p < 0.0001".to_string() } else { format!("p = {}", round(p)) };
    if p < ALPHA { value } else { format!("{value}, not significant") }
}

/// Two significant digits, at most four decimals.
fn round(p: f64) -> String {
    let digits = (2 - p.log10().ceil() as i32).clamp(1, 4) as usize;
    format!("{p:.digits$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clips(spec: &[(&str, &str, &str)]) -> Vec<ScoredClip> {
        spec.iter().map(|&(id, l, p)| ScoredClip { file_id: id.into(), label: l.into(), predicted: p.into(), groups: vec![] }).collect()
    }

    #[test]
    fn exact_p_values_match_the_binomial_tail() {
        // statsmodels.stats.contingency_tables.mcnemar([[0, b], [c, 0]], exact=True).pvalue
        let p = |b, c| Discordant { first_only: b, second_only: c }.p_value();
        assert_eq!(p(0, 0), 1.0);
        assert!((p(10, 2) - 0.0385742).abs() < 1e-6, "{}", p(10, 2));
        assert!((p(5, 5) - 1.0).abs() < 1e-12);
        assert!((p(0, 6) - 0.03125).abs() < 1e-12);
        assert!((p(12, 3) - 0.0351563).abs() < 1e-6, "{}", p(12, 3));
        // Large counts stay finite: 2000 discordant clips, 1100 vs 900.
        let large = p(1100, 900);
        assert!(large > 0.0 && large < 1e-5, "{large}");
        assert!((p(520, 480) - 0.2174).abs() < 1e-3, "{}", p(520, 480));
    }

    #[test]
    fn discordant_clips_are_counted_by_id_on_identical_clip_sets() {
        let a = clips(&[("x", "01", "01"), ("y", "02", "01"), ("z", "03", "03")]);
        let b = clips(&[("z", "03", "01"), ("x", "01", "01"), ("y", "02", "02")]);
        assert_eq!(Discordant::of(&a, &b), Some(Discordant { first_only: 1, second_only: 1 }));
        assert_eq!(Discordant::of(&a, &b[..2]), None);
        let relabelled = clips(&[("x", "02", "01"), ("y", "02", "02"), ("z", "03", "01")]);
        assert_eq!(Discordant::of(&a, &relabelled), None);
        assert_eq!(describe(0.031), "p = 0.031");
        assert_eq!(describe(0.6412), "p = 0.64, not significant");
        assert_eq!(describe(0.00001), "p < 0.0001");
        assert_eq!(describe(1.0), "p = 1.00, not significant");
    }
}
