//! Formants as openSMILE computes them for eGeMAPS: the 20 ms Hamming frame's complex
//! spectrum (zero-padded symmetrically to 512 points) is resampled to 11 kHz by a truncated
//! inverse DFT (`cSpecResample`: 220 output samples covering the first 320 padded positions),
//! an order-11 autocorrelation LPC is computed (`cLpc`, Levinson-Durbin), and the roots of
//! the polynomial `cFormantLpc` builds from it give formant frequencies and bandwidths
//! (50..5450 Hz, at most 5, ascending).

use realfft::num_complex::Complex;

use crate::dsp::InverseSpectrum;

const LPC_ORDER: usize = 11;
const TARGET_FS: f64 = 11000.0;
const MIN_F: f64 = 50.0;
const MAX_F: f64 = 5450.0;
/// Formants kept per frame.
pub const N_FORMANTS: usize = 5;

/// Formant frequencies and bandwidths (Hz) of one frame; 0 where absent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Formants {
    /// Centre frequencies, ascending.
    pub freq: [f64; N_FORMANTS],
    /// Bandwidths.
    pub bandwidth: [f64; N_FORMANTS],
}

/// Per-frame formant tracker with its planned resampling FFT.
pub struct FormantAnalyzer {
    /// Bins kept by the resampler's anti-aliasing (`kMax / 2`).
    half: usize,
    ifft: InverseSpectrum,
    spectrum: Vec<Complex<f64>>,
    n_out: usize,
    norm: f64,
    resampled: Vec<f64>,
}

impl FormantAnalyzer {
    /// For spectra of an `n_fft`-point FFT of `frame_len`-sample frames at `sample_rate`.
    ///
    /// `cSpecResample` evaluates `(X_0 + sum_{m=1}^{kMax/2-1} Re(X_m e^{2 pi i m t / nd})) /
    /// (n_fft / 2)` at `t = 0..n_out`, where `nd = n_fft * 11000 / sample_rate` (352 at
    /// 16 kHz); that is an inverse real FFT of size `nd` of the half-weighted bins.
    pub fn new(n_fft: usize, frame_len: usize, sample_rate: f64) -> Self {
        let ratio = TARGET_FS / sample_rate;
        let frame_fraction = frame_len as f64 / n_fft as f64;
        let n_out = (n_fft as f64 * ratio * frame_fraction).round() as usize;
        let ratio = n_out as f64 / (n_fft as f64 * frame_fraction);
        let nd = (n_fft as f64 * ratio).round() as usize;
        let mut k_max = n_fft.min(n_out);
        if k_max % 2 == 1 {
            k_max -= 1;
        }
        let ifft = InverseSpectrum::new(nd);
        Self {
            half: k_max / 2,
            ifft,
            spectrum: vec![Complex::new(0.0, 0.0); k_max / 2],
            n_out,
            norm: (n_fft / 2) as f64,
            resampled: vec![0.0; n_out],
        }
    }

    /// Formants of one frame from its complex spectrum (standard `e^{-i...}` convention).
    pub fn analyze(&mut self, spectrum: &[Complex<f64>]) -> Formants {
        self.spectrum[0] = Complex::new(spectrum[0].re, 0.0);
        for (dst, src) in self.spectrum[1..self.half].iter_mut().zip(&spectrum[1..]) {
            *dst = src * 0.5;
        }
        let x = self.ifft.inverse(&self.spectrum);
        for (out, v) in self.resampled.iter_mut().zip(&x[..self.n_out]) {
            *out = v / self.norm;
        }
        let mut acf = [0.0f64; LPC_ORDER + 1];
        autocorrelation(&self.resampled, &mut acf);
        let mut lpc = [0.0f64; LPC_ORDER];
        levinson(&acf, &mut lpc);
        formants_from_lpc(&lpc)
    }
}

/// `acf[lag] = sum_i x[i] x[i - lag]`.
fn autocorrelation(x: &[f64], acf: &mut [f64]) {
    for (lag, a) in acf.iter_mut().enumerate() {
        *a = x[lag..].iter().zip(x).map(|(p, q)| p * q).sum();
    }
}

/// openSMILE's `smileDsp_calcLpcAcf` (Durbin recursion); `a` holds `a_1..a_p` of
/// `A(z) = 1 + sum a_i z^-i`; all zero for a zero signal.
fn levinson(r: &[f64], a: &mut [f64]) {
    let p = a.len();
    a.fill(0.0);
    if r[0] == 0.0 {
        return;
    }
    let mut e = r[0];
    for m in 1..=p {
        let mut sum = r[m];
        for i in 1..m {
            sum += a[i - 1] * r[m - i];
        }
        let k = -sum / e;
        a[m - 1] = k;
        for i in 1..=m / 2 {
            let x = a[i - 1];
            a[i - 1] += k * a[m - i - 1];
            if i < m / 2 || m % 2 == 1 {
                a[m - i - 1] += k * x;
            }
        }
        e *= 1.0 - k * k;
        if e == 0.0 {
            for v in &mut a[m..] {
                *v = 0.0;
            }
            break;
        }
    }
}

/// Roots of the polynomial `cFormantLpc` builds from the LPC coefficients, mapped into the
/// unit circle, turned into formants.
fn formants_from_lpc(lpc: &[f64; LPC_ORDER]) -> Formants {
    // coefficients lowest degree first: c[i] = -a_{p-i}, c[p] = 1
    let mut coeffs = [0.0f64; LPC_ORDER + 1];
    for (i, c) in coeffs.iter_mut().take(LPC_ORDER).enumerate() {
        *c = -lpc[LPC_ORDER - 1 - i];
    }
    coeffs[LPC_ORDER] = 1.0;
    let roots = polynomial_roots(&coeffs);
    let mut f = Formants::default();
    let mut n = 0;
    let t = 1.0 / TARGET_FS;
    for mut r in roots {
        if r.norm() > 1.0 {
            r = Complex::new(1.0, 0.0) / r.conj();
        }
        if r.im < 0.0 {
            continue;
        }
        let freq = r.im.atan2(r.re).abs() / (2.0 * std::f64::consts::PI * t);
        if (MIN_F..=MAX_F).contains(&freq) {
            f.freq[n] = freq;
            f.bandwidth[n] = -r.norm().ln() / (std::f64::consts::PI * t);
            n += 1;
            if n == N_FORMANTS {
                break;
            }
        }
    }
    // ascending frequency (openSMILE's exchange sort over the non-zero prefix)
    for i in 0..n {
        for j in i + 1..n {
            if f.freq[j] < f.freq[i] {
                f.freq.swap(i, j);
                f.bandwidth.swap(i, j);
            }
        }
    }
    f
}

/// Iteration cap of the root finder (it converges cubically; a cap guards degenerate input).
const ROOT_ITERATIONS: usize = 100;
/// Relative step size at which a root counts as converged.
const ROOT_TOLERANCE: f64 = 1e-12;

/// All complex roots of `sum c_i z^i` (`c` lowest degree first, leading coefficient 1) by the
/// Aberth-Ehrlich iteration.
fn polynomial_roots(c: &[f64; LPC_ORDER + 1]) -> [Complex<f64>; LPC_ORDER] {
    let n = LPC_ORDER;
    let eval = |z: Complex<f64>| {
        let mut p = Complex::new(c[n], 0.0);
        let mut dp = Complex::new(0.0, 0.0);
        for k in (0..n).rev() {
            dp = dp * z + p;
            p = p * z + c[k];
        }
        (p, dp)
    };
    // initial guesses on a circle bounding the roots (Cauchy bound), off the real axis
    let bound = 1.0 + c[..n].iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let radius = bound.min(2.0);
    let mut z: [Complex<f64>; LPC_ORDER] = std::array::from_fn(|k| {
        Complex::from_polar(radius, 2.0 * std::f64::consts::PI * k as f64 / n as f64 + 0.4)
    });
    let mut done = [false; LPC_ORDER];
    for _ in 0..ROOT_ITERATIONS {
        let mut max_step = 0.0f64;
        for k in 0..n {
            if done[k] {
                continue;
            }
            let (p, dp) = eval(z[k]);
            if p.norm_sqr() == 0.0 {
                done[k] = true;
                continue;
            }
            let ratio = p / dp;
            let mut repulsion = Complex::new(0.0, 0.0);
            for j in (0..n).filter(|&j| j != k) {
                let d = z[k] - z[j];
                repulsion += d.conj() / d.norm_sqr();
            }
            let step = ratio / (Complex::new(1.0, 0.0) - ratio * repulsion);
            if step.is_finite() {
                z[k] -= step;
                let step2 = step.norm_sqr();
                max_step = max_step.max(step2);
                done[k] = step2 <= ROOT_TOLERANCE * ROOT_TOLERANCE * z[k].norm_sqr().max(1e-6);
            }
        }
        if max_step <= ROOT_TOLERANCE * ROOT_TOLERANCE {
            break;
        }
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_of_a_known_polynomial() {
        // (z - 0.5)(z + 0.25)(z^2 + 1) * z^7  -> roots 0.5, -0.25, +-i, and 0 (x7)
        let mut c = [0.0; LPC_ORDER + 1];
        // expand (z - 0.5)(z + 0.25) = z^2 - 0.25 z - 0.125 ; times (z^2 + 1)
        // = z^4 - 0.25 z^3 + 0.875 z^2 - 0.25 z - 0.125 ; times z^7
        c[7] = -0.125;
        c[8] = -0.25;
        c[9] = 0.875;
        c[10] = -0.25;
        c[11] = 1.0;
        let roots = polynomial_roots(&c);
        for want in [Complex::new(0.5, 0.0), Complex::new(-0.25, 0.0), Complex::new(0.0, 1.0), Complex::new(0.0, -1.0)] {
            assert!(roots.iter().any(|r| (r - want).norm() < 1e-6), "{want} not in {roots:?}");
        }
    }

    #[test]
    fn levinson_recovers_an_ar1_process() {
        // r[k] = 0.9^k  ->  A(z) = 1 - 0.9 z^-1
        let r: Vec<f64> = (0..=LPC_ORDER).map(|k| 0.9f64.powi(k as i32)).collect();
        let mut a = [0.0; LPC_ORDER];
        levinson(&r, &mut a);
        assert!((a[0] + 0.9).abs() < 1e-12);
        assert!(a[1..].iter().all(|v| v.abs() < 1e-12));
    }
}
