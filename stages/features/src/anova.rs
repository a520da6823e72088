//! One-way ANOVA F-test of each feature against the class labels: scikit-learn's `f_classif`,
//! the score of `SelectKBest`'s most common use in SER (keeping the eGeMAPS or SSL dimensions
//! that separate the emotions best).
//!
//! F = (between-class sum of squares / (classes - 1)) / (within-class sum of squares /
//! (clips - classes)), from class means (two passes: scikit-learn sums squares and squared sums
//! in one pass, which cancels badly for large offsets; the two agree to about 1e-12 on the
//! fixture). The p-value is the F distribution's upper tail, `I_x(d2 / 2, d1 / 2)` at `x = d2 /
//! (d2 + d1 F)` (scipy's `fdtrc`), from the regularized incomplete beta function by Lentz's
//! continued fraction. A feature constant over the clips has no F (scikit-learn's NaN); one
//! constant within every class but not across them has an infinite F and p 0.

/// F and p-value of one feature.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Anova {
    /// The F statistic; `None` for a feature constant over every clip.
    pub f: Option<f64>,
    /// Its p-value (`None` with `f`).
    pub p: Option<f64>,
}

/// The ANOVA of each column of `rows` (clips x features) against `classes` (each clip's class
/// index, `classes` distinct values in all); at least two classes and more clips than classes.
pub fn f_classif(rows: &[&[f64]], classes: &[usize], n_classes: usize) -> Vec<Anova> {
    let n = rows.len();
    let width = rows.first().map_or(0, |r| r.len());
    let mut counts = vec![0usize; n_classes];
    for &c in classes {
        counts[c] += 1;
    }
    let groups = counts.iter().filter(|&&c| c > 0).count();
    let (df_between, df_within) = ((groups.saturating_sub(1)) as f64, n.saturating_sub(groups) as f64);
    (0..width)
        .map(|j| {
            let first = rows[0][j];
            if rows.iter().all(|r| r[j] == first) {
                return Anova { f: None, p: None };
            }
            let mut sums = vec![0.0f64; n_classes];
            for (row, &c) in rows.iter().zip(classes) {
                sums[c] += row[j];
            }
            let mean = sums.iter().sum::<f64>() / n as f64;
            let means: Vec<f64> = sums.iter().zip(&counts).map(|(s, &k)| if k > 0 { s / k as f64 } else { 0.0 }).collect();
            let between: f64 = means.iter().zip(&counts).map(|(m, &k)| k as f64 * (m - mean) * (m - mean)).sum();
            let within: f64 = rows.iter().zip(classes).map(|(row, &c)| (row[j] - means[c]) * (row[j] - means[c])).sum();
            let f = (between / df_between) / (within / df_within);
            let p = if f.is_infinite() { 0.0 } else { f_upper_tail(df_between, df_within, f) };
            Anova { f: Some(f), p: Some(p) }
        })
        .collect()
}

/// P(F > f) for an F distribution with `d1`, `d2` degrees of freedom (scipy's `fdtrc`).
pub fn f_upper_tail(d1: f64, d2: f64, f: f64) -> f64 {
    if f <= 0.0 {
        return 1.0;
    }
    regularized_beta(d2 / 2.0, d1 / 2.0, d2 / (d2 + d1 * f))
}

/// The regularized incomplete beta function `I_x(a, b)` (Numerical Recipes' `betai`: the
/// continued fraction where it converges fast, the symmetry `1 - I_{1-x}(b, a)` elsewhere).
pub fn regularized_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let front = (ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln()).exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_fraction(a, b, x) / a
    } else {
        1.0 - front * beta_fraction(b, a, 1.0 - x) / b
    }
}

/// The continued fraction of the incomplete beta function, by the modified Lentz method.
fn beta_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=10_000 {
        let m = f64::from(m);
        let m2 = 2.0 * m;
        for aa in [m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))] {
            d = 1.0 + aa * d;
            if d.abs() < TINY {
                d = TINY;
            }
            c = 1.0 + aa / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            h *= d * c;
        }
        // The last factor of the pair is 1 within rounding when the fraction has converged.
        if (d * c - 1.0).abs() < 1e-16 {
            break;
        }
    }
    h
}

/// ln Γ(x) for x > 0 (Lanczos' approximation, g = 7, nine terms: about 1e-15 relative).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEFFICIENTS: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 - x) = π / sin(πx).
        return std::f64::consts::PI.ln() - (std::f64::consts::PI * x).sin().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + G + 0.5;
    let series = COEFFICIENTS[1..].iter().enumerate().fold(COEFFICIENTS[0], |s, (i, c)| s + c / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + series.ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gamma_and_beta_match_known_values() {
        // Γ(5) = 24, Γ(0.5) = √π, ln Γ(10.3) by scipy.special.gammaln.
        assert!((ln_gamma(5.0) - 24f64.ln()).abs() < 1e-13);
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-13);
        assert!((ln_gamma(10.3) - 13.482_036_786_138_359).abs() < 1e-12);
        // I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b; I_0.5(a, a) = 0.5.
        assert!((regularized_beta(3.0, 1.0, 0.4) - 0.064).abs() < 1e-14);
        assert!((regularized_beta(1.0, 4.0, 0.3) - (1.0 - 0.7f64.powi(4))).abs() < 1e-14);
        assert!((regularized_beta(7.5, 7.5, 0.5) - 0.5).abs() < 1e-14);
        // scipy.special.fdtrc, relative to the value (a far tail included).
        for (d1, d2, f, expected) in
            [(2.0, 87.0, 3.1, 0.050_060_513_661_821_12), (5.0, 10.0, 0.7, 0.635_977_527_026_862_3), (3.0, 200.0, 40.0, 2.707_920_131_701_381_5e-20)]
        {
            let p = f_upper_tail(d1, d2, f);
            assert!(((p - expected) / expected).abs() < 1e-10, "fdtrc({d1}, {d2}, {f}) = {p}, scipy {expected}");
        }
    }
}
