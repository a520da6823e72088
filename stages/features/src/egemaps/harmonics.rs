//! Harmonic descriptors of the 60 ms Gaussian-window magnitude spectrum, as openSMILE's
//! `cHarmonics` computes them for eGeMAPS: HNR from the spectrum's autocorrelation at the F0
//! lag (`HNRdBACF`), and, from up to 100 harmonic peaks, `H1-H2` and `H1-A3` (openSMILE's `H1`
//! and `H2` index its harmonic array from 0 = F0, so they are the 2nd and 3rd harmonics) and
//! the amplitudes of the strongest harmonic near F1-F3 relative to F0's (`-201` when unvoiced,
//! as openSMILE outputs).

use crate::dsp::{InverseSpectrum, parabola_vertex};

const N_HARMONICS: usize = 100;
const FLOOR_UNVOICED: f64 = -201.0;

/// One frame's harmonic descriptors.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HarmonicFrame {
    /// Harmonics-to-noise ratio from the autocorrelation, dB.
    pub hnr_db: f64,
    /// `H1-H2`, dB.
    pub h1_h2: f64,
    /// `H1-A3`, dB.
    pub h1_a3: f64,
    /// Amplitudes of F1..F3 relative to F0's, dB.
    pub formant_amplitude: [f64; 3],
}

#[derive(Clone, Copy, Debug, Default)]
struct Harmonic {
    bin: i64,
    magnitude: f64,
    magnitude_interpolated: f64,
    freq_interpolated: f64,
    log_rel: f64,
}

/// Per-frame harmonic analysis with its FFT plan and buffers.
pub struct HarmonicAnalyzer {
    frq: Vec<f64>,
    ifft: InverseSpectrum,
    power: Vec<f64>,
    acf: Vec<f64>,
    harmonics: Vec<Harmonic>,
}

impl HarmonicAnalyzer {
    /// For magnitude spectra of `n_bins` bins spaced `bin_hz` apart.
    pub fn new(n_bins: usize, bin_hz: f64) -> Self {
        Self {
            frq: (0..n_bins).map(|k| k as f64 * bin_hz).collect(),
            ifft: InverseSpectrum::new((n_bins - 1) * 2),
            power: vec![0.0; n_bins],
            acf: vec![0.0; n_bins],
            harmonics: vec![Harmonic::default(); N_HARMONICS],
        }
    }

    /// Analyzes one frame's magnitude spectrum given its F0 (Hz, 0 when unvoiced) and the
    /// formant centre frequencies F1.. of the frame.
    pub fn analyze(&mut self, mag: &[f64], f0: f64, formants: &[f64]) -> HarmonicFrame {
        let mut out = HarmonicFrame { hnr_db: self.hnr_db(mag, f0), ..Default::default() };
        if f0 <= 0.0 {
            out.formant_amplitude = [FLOOR_UNVOICED; 3];
            return out;
        }
        self.find_peaks(f0, mag);
        self.log_relative_magnitudes();
        let h = &self.harmonics;
        out.h1_h2 = (h[1].log_rel - h[2].log_rel).clamp(-201.0, 201.0);
        let amplitude_index = |f: f64| {
            let (left, right) = (0.8 * f, 1.2 * f);
            let mut best: Option<usize> = None;
            let mut max_mag = 0.0;
            for (i, hm) in h.iter().enumerate() {
                if hm.freq_interpolated >= left && hm.freq_interpolated <= right && hm.magnitude > max_mag {
                    best = Some(i);
                    max_mag = hm.magnitude;
                }
            }
            best
        };
        let idx: [Option<usize>; 3] = std::array::from_fn(|k| formants.get(k).and_then(|&f| amplitude_index(f)));
        out.h1_a3 = match idx[2] {
            Some(i) => h[1].log_rel - h[i].log_rel,
            None => h[1].log_rel - 201.0,
        }
        .clamp(-201.0, 201.0);
        for (a, i) in out.formant_amplitude.iter_mut().zip(&idx) {
            *a = i.map_or(0.0, |i| h[i].log_rel);
        }
        out
    }

    fn hnr_db(&mut self, mag: &[f64], f0: f64) -> f64 {
        let n = self.frq.len();
        for (p, m) in self.power.iter_mut().zip(mag) {
            *p = m * m;
        }
        // Ooura's inverse rdft is half of the full inverse DFT; cHarmonics divides by nBins
        let x = self.ifft.inverse_real(&self.power);
        for (a, v) in self.acf.iter_mut().zip(x) {
            *a = (v / 2.0).abs() / n as f64;
        }
        if f0 <= 0.0 {
            return 0.0;
        }
        let sr = self.frq[n - 1] * 2.0;
        let lag = (sr / f0).floor() as i64;
        if lag <= 0 {
            return 0.0;
        }
        let lag = closest_peak(&self.acf, lag);
        if lag <= 0 {
            return 0.0;
        }
        let a = &self.acf;
        let noise = a[0] - a[lag as usize];
        let hnr = if noise == 0.0 { 10e10 } else { a[lag as usize] / noise };
        if hnr > 10e10 {
            10.0 * 10e10f64.log10()
        } else if hnr < 10e-10 {
            10.0 * 10e-10f64.log10()
        } else {
            10.0 * hnr.log10()
        }
    }

    /// `cHarmonics::freqToBin`: the bin closest to `freq`, searching upwards from `start`.
    fn freq_to_bin(&self, freq: f64, start: i64) -> i64 {
        let n = self.frq.len() as i64;
        let mut b = start.max(1);
        while b < n {
            let fb = self.frq[b as usize];
            if fb > freq {
                return if fb - freq > freq - self.frq[b as usize - 1] { b - 1 } else { b };
            }
            b += 1;
        }
        0
    }

    fn find_peaks(&mut self, f0: f64, mag: &[f64]) {
        let n_bins = mag.len() as i64;
        let mut last_bin = self.freq_to_bin(0.5 * f0, 1);
        let first_bin = self.freq_to_bin(0.5 * f0, last_bin);
        let top = self.frq[self.frq.len() - 1];
        for i in 0..N_HARMONICS {
            if (i + 1) as f64 * f0 >= top {
                // beyond the spectrum openSMILE's search finds nothing (bin 0, zero magnitude)
                for h in &mut self.harmonics[i..] {
                    *h = Harmonic { bin: 0, log_rel: FLOOR_UNVOICED, ..Default::default() };
                }
                break;
            }
            let cand = self.freq_to_bin((i + 1) as f64 * f0, last_bin);
            let mut peak = -1;
            if is_peak(mag, cand) {
                peak = cand;
            } else {
                let (mut l, mut r) = (cand - 1, cand + 1);
                let lower = self.freq_to_bin((i as f64 + 0.5) * f0, last_bin);
                let upper = self.freq_to_bin((i as f64 + 1.5) * f0, cand);
                while (l >= lower || r <= upper) && peak == -1 {
                    if r <= upper {
                        if is_peak(mag, r) {
                            peak = r;
                            break;
                        }
                        r += 1;
                    }
                    if l >= lower {
                        if is_peak(mag, l) {
                            peak = l;
                            break;
                        }
                        l -= 1;
                    }
                }
            }
            let h = &mut self.harmonics[i];
            h.log_rel = FLOOR_UNVOICED;
            if peak >= first_bin && peak < n_bins - 1 {
                let p = peak as usize;
                h.bin = peak;
                h.magnitude = mag[p];
                let (fx, my, _) =
                    parabola_vertex(self.frq[p - 1], mag[p - 1], self.frq[p], mag[p], self.frq[p + 1], mag[p + 1]);
                h.freq_interpolated = fx;
                h.magnitude_interpolated = my;
            } else {
                h.bin = cand;
                h.magnitude = 0.0;
                h.magnitude_interpolated = 0.0;
                h.freq_interpolated = 0.0;
            }
            last_bin = cand;
        }
    }

    /// `cHarmonics::postProcessHarmonics`: magnitudes in dB relative to F0's, duplicates of the
    /// previous harmonic's bin removed.
    fn log_relative_magnitudes(&mut self) {
        let h = &mut self.harmonics;
        let f0_mag = h[0].magnitude;
        let log_f0 = if f0_mag == 0.0 { None } else { Some(f0_mag.log10()) };
        h[0].log_rel = 0.0;
        for i in 1..N_HARMONICS {
            h[i].log_rel = match log_f0 {
                Some(l) if h[i].magnitude_interpolated > 0.0 => {
                    (20.0 * (h[i].magnitude_interpolated.log10() - l)).max(-200.0)
                }
                Some(_) => -200.0,
                None => FLOOR_UNVOICED,
            };
            if h[i].bin == h[i - 1].bin {
                h[i] = Harmonic { bin: 0, log_rel: FLOOR_UNVOICED, ..Default::default() };
            }
        }
    }
}

/// `cHarmonics::isPeak`.
fn is_peak(x: &[f64], n: i64) -> bool {
    let len = x.len() as i64;
    if n < 0 || n >= len {
        return false;
    }
    let n = n as usize;
    if (n as i64) + 1 < len {
        if n > 0 { x[n] > x[n - 1] && x[n] > x[n + 1] } else { x[0] > x[1] }
    } else {
        n > 0 && x[n] > x[n - 1]
    }
}

/// `cHarmonics::getClosestPeak`: the peak of `x` nearest to `idx`, alternating left and right.
fn closest_peak(x: &[f64], idx: i64) -> i64 {
    let n = x.len() as i64;
    if is_peak(x, idx) {
        return idx;
    }
    let mut o = 1;
    while idx - o > 0 || idx + o < n - 1 {
        if idx - o > 0 && is_peak(x, idx - o) {
            return idx - o;
        }
        if idx + o < n - 1 && is_peak(x, idx + o) {
            return idx + o;
        }
        o += 1;
    }
    let (first, last, at) = (x[0], x[n as usize - 1], x[(idx.clamp(0, n - 1)) as usize]);
    if first > at && last <= at {
        0
    } else if first <= at && last > at {
        n - 1
    } else if first > at && last > at {
        if idx < n / 2 { 0 } else { n - 1 }
    } else {
        idx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_and_closest_peak() {
        let x = [0.0, 1.0, 0.5, 0.2, 0.9, 0.1];
        assert!(is_peak(&x, 1) && is_peak(&x, 4) && !is_peak(&x, 2));
        assert_eq!(closest_peak(&x, 3), 4);
        assert_eq!(closest_peak(&x, 2), 1);
    }

    #[test]
    fn harmonic_comb_has_high_hnr_and_flat_h1_h2() {
        // a comb at multiples of 200 Hz with equal amplitudes, 15.625 Hz bins
        let mut a = HarmonicAnalyzer::new(513, 15.625);
        let mut mag = vec![1e-3; 513];
        for h in 1..40 {
            let b = (h as f64 * 200.0 / 15.625).round() as usize;
            if b < 512 {
                mag[b] = 1.0;
            }
        }
        let f = a.analyze(&mag, 200.0, &[600.0, 1200.0, 2400.0]);
        assert!(f.hnr_db > 10.0, "{f:?}");
        assert!(f.h1_h2.abs() < 1e-9, "{f:?}");
        assert!(f.formant_amplitude.iter().all(|v| v.abs() < 1e-9), "{f:?}");
        let u = a.analyze(&mag, 0.0, &[600.0, 1200.0, 2400.0]);
        assert_eq!(u.formant_amplitude, [-201.0; 3]);
        assert_eq!(u.hnr_db, 0.0);
    }
}
