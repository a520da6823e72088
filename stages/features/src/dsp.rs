//! Shared DSP for both feature paths (openSMILE eGeMAPS and librosa MFCC/log-mel): framing,
//! analysis windows, planned real FFTs, mel filterbanks, DCT-II matrices and small numeric
//! helpers.
//!
//! Everything here is allocation-free per frame: plans, scratch and tables are built once and
//! reused, so extractors can be kept per worker thread.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Number of frames of `len` samples every `hop` samples that fit entirely in `n` samples
/// (openSMILE's `cFramer` with `frameCenterSpecial = left`: no padding, frame `i` starts at
/// `i * hop`).
pub fn full_frame_count(n: usize, len: usize, hop: usize) -> usize {
    if n < len { 0 } else { (n - len) / hop + 1 }
}

/// Number of frames of a centred STFT (librosa `center=True`): `1 + n / hop`, frame `t`
/// centred on sample `t * hop` of the signal padded by half a frame on both sides.
pub fn centered_frame_count(n: usize, hop: usize) -> usize {
    1 + n / hop
}

/// openSMILE's Hamming window: `0.54 - 0.46 cos(2 pi i / (N - 1))`.
pub fn hamming(n: usize) -> Vec<f64> {
    let d = (n.max(2) - 1) as f64;
    (0..n).map(|i| 0.54 - 0.46 * (2.0 * std::f64::consts::PI * i as f64 / d).cos()).collect()
}

/// openSMILE's Gaussian window with width `sigma` (relative to the half length).
pub fn gauss(n: usize, sigma: f64) -> Vec<f64> {
    let sigma = sigma.clamp(0.01, 0.5);
    let d = (n.max(2) - 1) as f64;
    (0..n)
        .map(|i| {
            let t = (i as f64 - d / 2.0) / (sigma * d / 2.0);
            (-0.5 * t * t).exp()
        })
        .collect()
}

/// The periodic Hann window of length `n` (scipy `get_window("hann", n, fftbins=True)`, the
/// librosa default).
pub fn hann_periodic(n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
        .collect()
}

/// A planned forward real FFT of fixed size with its own buffers.
pub struct Spectrum {
    fft: Arc<dyn RealToComplex<f64>>,
    input: Vec<f64>,
    output: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
}

impl Spectrum {
    /// Plans an FFT of `n_fft` points.
    pub fn new(n_fft: usize) -> Self {
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
        let input = fft.make_input_vec();
        let output = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        Self { fft, input, output, scratch }
    }

    /// FFT size.
    pub fn n_fft(&self) -> usize {
        self.input.len()
    }

    /// Number of bins, `n_fft / 2 + 1`.
    pub fn n_bins(&self) -> usize {
        self.output.len()
    }

    /// Transforms `frame * window`, placed at `offset` inside an otherwise zero buffer of
    /// `n_fft` samples; returns the `n_fft / 2 + 1` complex bins (e^{-i...} convention).
    pub fn forward(&mut self, frame: &[f64], window: &[f64], offset: usize) -> &[Complex<f64>] {
        self.input.fill(0.0);
        for ((dst, x), w) in self.input[offset..].iter_mut().zip(frame).zip(window) {
            *dst = x * w;
        }
        if self
            .fft
            .process_with_scratch(&mut self.input, &mut self.output, &mut self.scratch)
            .is_err()
        {
            // Only reachable with mismatched buffer sizes, which `new` rules out.
            self.output.fill(Complex::new(0.0, 0.0));
        }
        &self.output
    }

    /// Powers `|X_k|^2` of the last transform into `out`.
    pub fn powers(&self, out: &mut [f64]) {
        for (o, c) in out.iter_mut().zip(&self.output) {
            *o = c.re * c.re + c.im * c.im;
        }
    }

    /// Magnitudes `|X_k|` of the last transform into `out`.
    pub fn magnitudes(&self, out: &mut [f64]) {
        for (o, c) in out.iter_mut().zip(&self.output) {
            // plain sqrt: `Complex::norm` calls the much slower overflow-safe `hypot`
            *o = (c.re * c.re + c.im * c.im).sqrt();
        }
    }
}

/// A planned inverse real FFT (complex half spectrum to real signal, unnormalized).
pub struct InverseSpectrum {
    fft: Arc<dyn ComplexToReal<f64>>,
    input: Vec<Complex<f64>>,
    output: Vec<f64>,
    scratch: Vec<Complex<f64>>,
}

impl InverseSpectrum {
    /// Plans an inverse FFT of `n_fft` points.
    pub fn new(n_fft: usize) -> Self {
        let fft = RealFftPlanner::<f64>::new().plan_fft_inverse(n_fft);
        let input = fft.make_input_vec();
        let output = fft.make_output_vec();
        let scratch = fft.make_scratch_vec();
        Self { fft, input, output, scratch }
    }

    /// `x[j] = sum_k X_k e^{+2 pi i jk/N}` for a real, even spectrum given by its `n_fft/2+1`
    /// real values `re` (imaginary parts zero).
    pub fn inverse_real(&mut self, re: &[f64]) -> &[f64] {
        for (dst, &r) in self.input.iter_mut().zip(re) {
            *dst = Complex::new(r, 0.0);
        }
        self.process()
    }

    /// The inverse of the half spectrum `spec` (missing bins are zero; the imaginary parts of
    /// the DC and Nyquist bins are ignored).
    pub fn inverse(&mut self, spec: &[Complex<f64>]) -> &[f64] {
        self.input.fill(Complex::new(0.0, 0.0));
        for (dst, s) in self.input.iter_mut().zip(spec) {
            *dst = *s;
        }
        self.input[0].im = 0.0;
        if let Some(last) = self.input.last_mut() {
            last.im = 0.0;
        }
        self.process()
    }

    fn process(&mut self) -> &[f64] {
        if self
            .fft
            .process_with_scratch(&mut self.input, &mut self.output, &mut self.scratch)
            .is_err()
        {
            // Only reachable with mismatched buffer sizes, which `new` rules out.
            self.output.fill(0.0);
        }
        &self.output
    }
}

pub use vox_api::mel::Filterbank;

/// The HTK mel scale used by openSMILE: `1127 ln(1 + f / 700)` (0 for `f <= 0`).
pub fn mel_htk(f: f64) -> f64 {
    if f > 0.0 { 1127.0 * (1.0 + f / 700.0).ln() } else { 0.0 }
}

/// Inverse of [`mel_htk`].
pub fn mel_htk_inv(m: f64) -> f64 {
    700.0 * ((m / 1127.0).exp() - 1.0)
}

/// openSMILE's `cMelspec` filterbank (`bwMethod = lr`, mel scale): `n_bands` triangles between
/// `lo` and `hi` Hz over the `n_bins` bins of a spectrum with bin spacing `bin_hz`. Also
/// returns the band centre frequencies in Hz (used by the PLP equal-loudness curve).
pub fn opensmile_mel(n_bins: usize, bin_hz: f64, n_bands: usize, lo: f64, hi: f64) -> (Filterbank, Vec<f64>) {
    let lo_mel = mel_htk(lo);
    let hi_mel = mel_htk(hi);
    let bin_lo = (lo / bin_hz).round() as usize;
    let bin_hi = ((hi / bin_hz).round() as usize).min(n_bins);
    let half_bw = (hi_mel - lo_mel) / (n_bands as f64 + 1.0);
    let cfs: Vec<f64> = (0..n_bands + 2).map(|m| lo_mel + m as f64 * half_bw).collect();
    let bin_mel = |n: usize| mel_htk(n as f64 * bin_hz);
    // channel of each bin (openSMILE's chanMap), -3 outside (bin_lo, bin_hi)
    let mut chan = vec![-3i64; n_bins];
    let mut m = 0usize;
    for (n, c) in chan.iter_mut().enumerate() {
        if n > bin_lo && n < bin_hi {
            while cfs[m] < bin_mel(n) {
                if m > n_bands {
                    break;
                }
                m += 1;
            }
            *c = m as i64 - 2;
        }
    }
    let mut rows = vec![vec![0.0; n_bins]; n_bands];
    let mut m = 0usize;
    for n in bin_lo..bin_hi {
        let nm = bin_mel(n);
        while m <= n_bands && nm > cfs[m + 1] {
            m += 1;
        }
        let coeff = (cfs[m + 1] - nm) / (cfs[m + 1] - cfs[m]);
        let ch = chan[n];
        if ch > -2 {
            if ch > -1 {
                rows[ch as usize][n] += coeff;
            }
            if ch < n_bands as i64 - 1 {
                rows[(ch + 1) as usize][n] += 1.0 - coeff;
            }
        }
    }
    let centres = (1..=n_bands).map(|m| mel_htk_inv(cfs[m])).collect();
    (Filterbank::from_dense(rows), centres)
}

/// librosa's `filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm="slaney")`
/// ([`vox_api::mel`], which Whisper's input shares).
pub fn slaney_mel(sample_rate: f64, n_fft: usize, n_mels: usize, fmin: f64, fmax: f64) -> Filterbank {
    Filterbank::from_dense(vox_api::mel::slaney_filterbank(sample_rate, n_fft, n_mels, fmin, fmax))
}

/// A DCT-II as a dense matrix (`n_out` x `n_in`).
#[derive(Clone, Debug)]
pub struct Dct {
    n_in: usize,
    matrix: Vec<f64>,
}

impl Dct {
    /// The orthonormal DCT-II (scipy `dct(type=2, norm="ortho")`), first `n_out` coefficients.
    pub fn ortho(n_in: usize, n_out: usize) -> Self {
        let n = n_in as f64;
        let matrix = (0..n_out)
            .flat_map(|k| {
                let scale = if k == 0 { (1.0 / n).sqrt() } else { (2.0 / n).sqrt() };
                (0..n_in).map(move |m| {
                    scale * (std::f64::consts::PI * k as f64 * (2.0 * m as f64 + 1.0) / (2.0 * n)).cos()
                })
            })
            .collect();
        Self { n_in, matrix }
    }

    /// openSMILE's `cMfcc` basis: coefficients `first..=last`, `sqrt(2/N) cos(pi i (m + 0.5) / N)`
    /// times the HTK sinusoidal lifter `1 + L/2 sin(pi i / L)` (`lifter > 0`).
    pub fn htk(n_in: usize, first: usize, last: usize, lifter: f64) -> Self {
        let n = n_in as f64;
        let matrix = (first..=last)
            .flat_map(|i| {
                let lift = if lifter > 0.0 {
                    1.0 + lifter / 2.0 * (std::f64::consts::PI * i as f64 / lifter).sin()
                } else {
                    1.0
                };
                let scale = (2.0 / n).sqrt() * lift;
                (0..n_in).map(move |m| {
                    scale * (std::f64::consts::PI * i as f64 / n * (m as f64 + 0.5)).cos()
                })
            })
            .collect();
        Self { n_in, matrix }
    }

    /// `out = M x`.
    pub fn apply(&self, x: &[f64], out: &mut [f64]) {
        for (o, row) in out.iter_mut().zip(self.matrix.chunks_exact(self.n_in)) {
            *o = row.iter().zip(x).map(|(a, b)| a * b).sum();
        }
    }
}

/// openSMILE's `smileMath_quadFrom3pts`: the vertex `(x, y)` of the parabola through three
/// points and its curvature `a`; falls back to the largest point when no parabola exists.
pub fn parabola_vertex(x1: f64, y1: f64, x2: f64, y2: f64, x3: f64, y3: f64) -> (f64, f64, f64) {
    let den = x1 * x1 * x2 + x2 * x2 * x3 + x3 * x3 * x1 - x3 * x3 * x2 - x2 * x2 * x1 - x1 * x1 * x3;
    if den != 0.0 {
        let a = (y1 * x2 + y2 * x3 + y3 * x1 - y3 * x2 - y2 * x1 - y1 * x3) / den;
        let b = (x1 * x1 * y2 + x2 * x2 * y3 + x3 * x3 * y1 - x3 * x3 * y2 - x2 * x2 * y1 - x1 * x1 * y3) / den;
        let c = (x1 * x1 * x2 * y3 + x2 * x2 * x3 * y1 + x3 * x3 * x1 * y2
            - x3 * x3 * x2 * y1
            - x2 * x2 * x1 * y3
            - x1 * x1 * x3 * y2)
            / den;
        if a != 0.0 {
            let x = -b / (2.0 * a);
            return (x, c - a * x * x, a);
        }
    }
    if y1 > y2 && y1 > y3 {
        (x1, y1, 0.0)
    } else if y2 > y1 && y2 > y3 {
        (x2, y2, 0.0)
    } else if y3 > y1 && y3 > y2 {
        (x3, y3, 0.0)
    } else {
        (x1, y1, 0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_fit_without_padding() {
        assert_eq!(full_frame_count(24000, 960, 160), 145);
        assert_eq!(full_frame_count(24000, 320, 160), 149);
        assert_eq!(full_frame_count(100, 320, 160), 0);
    }

    #[test]
    fn spectrum_finds_a_bin_centred_tone() {
        let mut s = Spectrum::new(512);
        let x: Vec<f64> = (0..512).map(|n| (2.0 * std::f64::consts::PI * 32.0 * n as f64 / 512.0).cos()).collect();
        let ones = vec![1.0; 512];
        s.forward(&x, &ones, 0);
        let mut mag = vec![0.0; s.n_bins()];
        s.magnitudes(&mut mag);
        assert!((mag[32] - 256.0).abs() < 1e-9, "{}", mag[32]);
        assert!(mag[31] < 1e-9 && mag[33] < 1e-9);
    }

    #[test]
    fn ortho_dct_is_orthonormal() {
        let d = Dct::ortho(8, 8);
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let mut y = [0.0; 8];
        d.apply(&x, &mut y);
        let energy_x: f64 = x.iter().map(|v| v * v).sum();
        let energy_y: f64 = y.iter().map(|v| v * v).sum();
        assert!((energy_x - energy_y).abs() < 1e-9);
        assert!((y[0] - 36.0 / 8f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn the_htk_mel_scale_round_trips() {
        for f in [0.0, 440.0, 1000.0, 3500.0, 8000.0] {
            assert!((mel_htk_inv(mel_htk(f)) - f).abs() < 1e-9);
        }
    }

    #[test]
    fn parabola_vertex_of_a_known_parabola() {
        // y = -(x - 1.5)^2 + 2
        let f = |x: f64| -(x - 1.5) * (x - 1.5) + 2.0;
        let (x, y, a) = parabola_vertex(0.0, f(0.0), 1.0, f(1.0), 2.0, f(2.0));
        assert!((x - 1.5).abs() < 1e-12 && (y - 2.0).abs() < 1e-12 && (a + 1.0).abs() < 1e-12);
    }
}
