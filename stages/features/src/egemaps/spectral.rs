//! Per-frame descriptors of the 20 ms Hamming-window magnitude spectrum (512-point FFT):
//! loudness (`cMelspec` 26 bands + `cPlp` auditory spectrum + mean), alpha ratio, Hammarberg
//! index and spectral slopes of the log power spectrum (`cSpectral`), spectral flux and
//! MFCC 1-4 (`cMelspec` HTK-scaled + `cMfcc`).

use crate::dsp::{Dct, Filterbank, opensmile_mel};

/// Power floor of openSMILE's log spectrum (`specFloor`^2) and its dB value.
const SPEC_FLOOR: f64 = 1e-14;
const LOG_SPEC_FLOOR: f64 = -140.0;
/// `cPlp`'s floor for the auditory spectrum.
const MEL_FLOOR: f64 = 0.00000000093;
/// `cPlp`'s intensity-loudness compression.
const COMPRESSION: f64 = 0.33;
/// The upper edge of the spectral-flux range (`freqRange = 0-5000`).
const FLUX_MAX_HZ: f64 = 5000.0;

/// The descriptors of one 20 ms frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpectralFrame {
    /// Loudness (sone-like, mean of the compressed auditory spectrum).
    pub loudness: f64,
    /// Alpha ratio, dB.
    pub alpha_ratio: f64,
    /// Hammarberg index, dB.
    pub hammarberg: f64,
    /// Log-power spectral slope 0-500 Hz, dB/Hz.
    pub slope_0_500: f64,
    /// Log-power spectral slope 500-1500 Hz, dB/Hz.
    pub slope_500_1500: f64,
    /// Spectral flux against the previous frame.
    pub flux: f64,
    /// MFCC 1-4.
    pub mfcc: [f64; 4],
}

/// The frequency/weight layout of one regression band of `cSpectral`'s slope.
struct SlopeBand {
    lo_bin: usize,
    lo_weight: f64,
    hi_bin: usize,
    hi_weight: f64,
    n_ind: f64,
}

impl SlopeBand {
    fn new(lo_hz: f64, hi_hz: f64, frq: &[f64]) -> Self {
        let n = frq.len();
        let ii = frq.iter().position(|&f| f > lo_hz).unwrap_or(n);
        let lo_weight = if ii < n && ii > 0 { (frq[ii] - lo_hz) / (frq[ii] - frq[ii - 1]) } else { 1.0 };
        let lo_idx = (ii as f64 - 1.0).max(0.0);
        let ii = frq.iter().position(|&f| f >= hi_hz).unwrap_or(n);
        let hi_weight = if ii < n && ii > 0 { (hi_hz - frq[ii - 1]) / (frq[ii] - frq[ii - 1]) } else { 1.0 };
        let hi_idx = if ii < n && frq[ii] == hi_hz { ii as f64 } else { ii as f64 - 1.0 };
        let hi_idx = hi_idx.min(n as f64 - 1.0);
        Self {
            lo_bin: lo_idx as usize,
            lo_weight: if lo_weight == 0.0 { 1.0 } else { lo_weight },
            hi_bin: hi_idx as usize,
            hi_weight: if hi_weight == 0.0 { 1.0 } else { hi_weight },
            n_ind: hi_idx - lo_idx,
        }
    }

    /// Least-squares slope of `log_power` over frequency (openSMILE's weighted edge bins).
    fn slope(&self, frq: &[f64], log_power: &[f64]) -> f64 {
        let (il, ir) = (self.lo_bin, self.hi_bin);
        let (wl, wr) = (self.lo_weight, self.hi_weight);
        let mut sf = frq[il] * wl;
        let mut s2f = sf * sf;
        let mut sum_a = frq[il] * wl * log_power[il];
        let mut sum_b = wl * log_power[il];
        for k in il + 1..ir {
            s2f += frq[k] * frq[k];
            sf += frq[k];
            sum_a += frq[k] * log_power[k];
            sum_b += log_power[k];
        }
        s2f += frq[ir] * wr * frq[ir] * wr;
        sf += frq[ir] * wr;
        sum_a += frq[ir] * wr * log_power[ir];
        sum_b += wr * log_power[ir];
        let deno = self.n_ind * s2f - sf * sf;
        if deno != 0.0 { (self.n_ind * sum_a - sf * sum_b) / deno } else { 0.0 }
    }
}

/// Computes [`SpectralFrame`]s from consecutive magnitude spectra; keeps the previous spectrum
/// for the flux.
pub struct SpectralAnalyzer {
    frq: Vec<f64>,
    mel: Filterbank,
    equal_loudness: Vec<f64>,
    dct: Dct,
    slopes: [SlopeBand; 2],
    alpha_split: usize,
    hammarberg_split: usize,
    top_bin: usize,
    flux_bins: usize,
    power: Vec<f64>,
    log_power: Vec<f64>,
    bands: Vec<f64>,
    prev_mag: Vec<f64>,
    have_prev: bool,
}

impl SpectralAnalyzer {
    /// For magnitude spectra of `n_bins` bins spaced `bin_hz` apart.
    pub fn new(n_bins: usize, bin_hz: f64) -> Self {
        let frq: Vec<f64> = (0..n_bins).map(|k| k as f64 * bin_hz).collect();
        let (mel, centres) = opensmile_mel(n_bins, bin_hz, 26, 20.0, 8000.0);
        let equal_loudness = centres.iter().map(|&f| equal_loudness(f)).collect();
        let slopes = [SlopeBand::new(0.0, 500.0, &frq), SlopeBand::new(500.0, 1500.0, &frq)];
        let count_below = |hz: f64| frq.iter().take_while(|&&f| f < hz).count();
        let alpha_split = count_below(1000.0);
        let hammarberg_split = count_below(2000.0);
        let top_bin = frq.iter().take_while(|&&f| f <= 5000.0).count();
        let flux_bins = frq.iter().take_while(|&&f| f < FLUX_MAX_HZ).count();
        Self {
            mel,
            equal_loudness,
            dct: Dct::htk(26, 1, 4, 22.0),
            slopes,
            alpha_split,
            hammarberg_split,
            top_bin,
            flux_bins,
            power: vec![0.0; n_bins],
            log_power: vec![0.0; n_bins],
            bands: vec![0.0; 26],
            prev_mag: vec![0.0; n_bins],
            have_prev: false,
            frq,
        }
    }

    /// Forgets the previous frame (call at the start of a clip).
    pub fn reset(&mut self) {
        self.have_prev = false;
    }

    /// The descriptors of the next frame's magnitude spectrum.
    pub fn analyze(&mut self, mag: &[f64]) -> SpectralFrame {
        for ((p, l), &m) in self.power.iter_mut().zip(&mut self.log_power).zip(mag) {
            *p = m * m;
            *l = if *p <= SPEC_FLOOR { LOG_SPEC_FLOOR } else { 10.0 * p.log10() };
        }
        let mut out = SpectralFrame::default();
        // loudness: mel power bands -> equal loudness -> power law -> mean
        self.mel.apply(&self.power, &mut self.bands);
        out.loudness = self
            .bands
            .iter()
            .zip(&self.equal_loudness)
            .map(|(&b, &w)| (b.max(MEL_FLOOR) * w).powf(COMPRESSION))
            .sum::<f64>()
            / self.bands.len() as f64;
        // MFCC: HTK-scaled mel power, log floored at 1, DCT with lifter
        let mut log_bands = [0.0f64; 26];
        for (l, &b) in log_bands.iter_mut().zip(&self.bands) {
            *l = (b * 32767.0 * 32767.0).max(1.0).ln();
        }
        self.dct.apply(&log_bands, &mut out.mfcc);
        out.slope_0_500 = self.slopes[0].slope(&self.frq, &self.log_power);
        out.slope_500_1500 = self.slopes[1].slope(&self.frq, &self.log_power);
        let low: f64 = self.power[..self.alpha_split].iter().sum();
        let high: f64 = self.power[self.alpha_split..self.top_bin].iter().sum();
        out.alpha_ratio = log_ratio_db(high, low);
        let max_low = self.power[..self.hammarberg_split].iter().fold(0.0f64, |a, &b| a.max(b));
        let max_high = self.power[self.hammarberg_split..self.top_bin].iter().fold(0.0f64, |a, &b| a.max(b));
        out.hammarberg = log_ratio_db(max_low, max_high);
        out.flux = if self.have_prev {
            let sum: f64 = mag[..self.flux_bins]
                .iter()
                .zip(&self.prev_mag)
                .map(|(a, b)| (a - b) * (a - b))
                .sum();
            let mean = sum / self.flux_bins as f64;
            if mean > 0.0 { mean.sqrt() } else { 0.0 }
        } else {
            0.0
        };
        self.prev_mag[..self.flux_bins].copy_from_slice(&mag[..self.flux_bins]);
        self.have_prev = true;
        out
    }
}

/// `10 log10(num / den)` with `cSpectral`'s floors: 0 when `den` is 0, the floor when `num` is.
fn log_ratio_db(num: f64, den: f64) -> f64 {
    if den > 0.0 {
        if num > SPEC_FLOOR {
            10.0 * (num / den).log10()
        } else {
            10.0 * (SPEC_FLOOR.ln() - den.ln()) / std::f64::consts::LN_10
        }
    } else {
        0.0
    }
}

/// openSMILE's `smileDsp_equalLoudnessWeight` (PLP equal-loudness curve, including its
/// `w^7` term).
fn equal_loudness(frequency: f64) -> f64 {
    let w = 2.0 * std::f64::consts::PI * frequency;
    let w2 = w * w;
    let c = w2 + 6_300_000.0;
    1e32 * ((w2 + 56.8e6) * w2 * w2) / (c * c * (w2 + 0.38e9) * (w2 * w2 * w2 * w + 1.7e31))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_log_spectrum_has_zero_slope_and_known_alpha_ratio() {
        let mut a = SpectralAnalyzer::new(257, 31.25);
        let mag = vec![1.0; 257];
        let f = a.analyze(&mag);
        assert!(f.slope_0_500.abs() < 1e-12 && f.slope_500_1500.abs() < 1e-12);
        // 32 bins below 1 kHz, 129 bins from 1 to 5 kHz inclusive
        assert!((f.alpha_ratio - 10.0 * (129.0f64 / 32.0).log10()).abs() < 1e-9);
        assert!(f.hammarberg.abs() < 1e-12);
        assert_eq!(f.flux, 0.0);
        let g = a.analyze(&vec![2.0; 257]);
        assert!((g.flux - 1.0).abs() < 1e-12);
    }

    #[test]
    fn slope_of_a_linear_log_spectrum() {
        let a = SpectralAnalyzer::new(257, 31.25);
        // 0.01 dB per Hz
        let log_power: Vec<f64> = a.frq.iter().map(|f| 0.01 * f).collect();
        let s = a.slopes[1].slope(&a.frq, &log_power);
        assert!((s - 0.01).abs() < 1e-3, "{s}");
    }
}
