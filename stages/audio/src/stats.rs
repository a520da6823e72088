//! The statistics the waveform perturbations share ([`crate::perturb`] and [`crate::reverb`]):
//! standard normal draws (generated noise, a room's tail) and a signal's mean power (SNRs, a
//! reverberant copy's level).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// `n` standard normal samples: Marsaglia's polar method, two per accepted pair, one
/// logarithm and one square root per pair and no trigonometry (noise generation was most of
/// the stage's time with Box-Muller's one sample per logarithm and cosine).
pub(crate) fn normals(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n + 1);
    while out.len() < n {
        let (u, v) = (2.0 * rng.random::<f64>() - 1.0, 2.0 * rng.random::<f64>() - 1.0);
        let s = u * u + v * v;
        if s >= 1.0 || s == 0.0 {
            continue;
        }
        let factor = (-2.0 * s.ln() / s).sqrt();
        out.extend([u * factor, v * factor]);
    }
    out.truncate(n);
    out
}

/// Mean power of `x`.
pub(crate) fn power(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64
}
