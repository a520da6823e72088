//! F0 by sub-harmonic summation, as openSMILE's `cSpecScale` (octave scale, spline
//! interpolation, peak enhancement, smoothing, auditory weighting) + `cPitchShs` (15 harmonics,
//! compression 0.85, 6 greedy candidates, 55..1000 Hz) + `cPitchSmootherViterbi` (eGeMAPS
//! weights, including openSMILE's quirks: `wTvvd` takes `wTvv`'s value, the transition cost
//! remembers the last evaluated log-ratio across states and frames, and unvoiced->unvoiced
//! costs 1).

use crate::dsp::parabola_vertex;

/// Number of pitch candidates per frame.
pub const N_CANDIDATES: usize = 6;
const N_HARMONICS: usize = 15;
const COMPRESSION: f64 = 0.85;
const MIN_PITCH: f64 = 55.0;
const MAX_PITCH: f64 = 1000.0;
const VOICING_CUTOFF: f64 = 0.7;

/// The pitch candidates of one frame, best first.
#[derive(Clone, Copy, Debug, Default)]
pub struct Candidates {
    /// Frequencies in Hz (0 for empty slots).
    pub f0: [f64; N_CANDIDATES],
    /// Voicing pseudo-probabilities.
    pub voicing: [f64; N_CANDIDATES],
}

/// Octave-scale spectrum + SHS candidate search over linear magnitude spectra.
pub struct ShsPitch {
    n: usize,
    interp_k: Vec<usize>,
    interp_coeffs: Vec<[f64; 3]>,
    sigma: Vec<f64>,
    inv_diff1: Vec<f64>,
    inv_diff2: Vec<f64>,
    /// The spline recursion's `p` and initial second derivatives depend only on the abscissae.
    spline_p: Vec<f64>,
    spline_y2: Vec<f64>,
    aud_weight: Vec<f64>,
    fmin_t: f64,
    fstep_t: f64,
    shifts: Vec<(usize, f64)>,
    y: Vec<f64>,
    y2: Vec<f64>,
    u: Vec<f64>,
    oct: Vec<f64>,
    ss: Vec<f64>,
    peaks: Vec<usize>,
}

impl ShsPitch {
    /// For magnitude spectra of `n` bins spaced `bin_hz` apart (minF 25 Hz, maxF = top bin).
    pub fn new(n: usize, bin_hz: f64) -> Self {
        let min_f: f64 = 25.0;
        let max_f = bin_hz * (n - 1) as f64;
        let fmin_t = min_f.log2();
        let fmax_t = max_f.log2();
        let fstep_t = (fmax_t - fmin_t) / (n - 1) as f64;
        let mut f_src = vec![0.0; n];
        for (i, f) in f_src.iter_mut().enumerate().skip(1) {
            *f = (i as f64 * bin_hz).log2();
        }
        f_src[0] = 2.0 * f_src[1] - f_src[2];
        // spline caches (smileMath_cspline_init / csplint_init)
        let mut sigma = vec![0.0; n];
        let mut diff1 = vec![0.0; n];
        let mut diff2 = vec![0.0; n];
        for i in 1..n - 1 {
            sigma[i] = (f_src[i] - f_src[i - 1]) / (f_src[i + 1] - f_src[i - 1]);
            diff1[i] = (f_src[i + 1] - f_src[i]) * (f_src[i + 1] - f_src[i - 1]);
            diff2[i] = (f_src[i] - f_src[i - 1]) * (f_src[i + 1] - f_src[i - 1]);
        }
        let mut spline_p = vec![0.0; n];
        let mut spline_y2 = vec![0.0; n];
        for i in 1..n - 1 {
            spline_p[i] = 1.0 / (sigma[i] * spline_y2[i - 1] + 2.0);
            spline_y2[i] = (sigma[i] - 1.0) * spline_p[i];
        }
        let inv_diff1 = diff1.iter().map(|d| if *d != 0.0 { 1.0 / d } else { 0.0 }).collect();
        let inv_diff2 = diff2.iter().map(|d| if *d != 0.0 { 1.0 / d } else { 0.0 }).collect();
        let mut interp_k = Vec::with_capacity(n);
        let mut interp_coeffs = Vec::with_capacity(n);
        let mut kupper = 1;
        for j in 0..n {
            let x = fmin_t + j as f64 * fstep_t;
            while kupper < n - 1 && f_src[kupper] < x {
                kupper += 1;
            }
            let klower = kupper - 1;
            let range = f_src[kupper] - f_src[klower];
            let a = (f_src[kupper] - x) / range;
            let b = 1.0 - a;
            let r2 = range * range / 6.0;
            interp_k.push(klower);
            interp_coeffs.push([a, (a * a * a - a) * r2, (b * b * b - b) * r2]);
        }
        let n_octaves = (max_f / min_f).log2();
        let points_per_octave = n as f64 / n_octaves;
        let atan_s = points_per_octave * (65.0f64 / 50.0).log2() - 1.0;
        let aud_weight = (0..n)
            .map(|i| 0.5 + (3.0 * (i as f64 + 1.0 - atan_s) / points_per_octave).atan() / std::f64::consts::PI)
            .collect();
        let mut shifts = Vec::with_capacity(N_HARMONICS - 1);
        let mut scale = COMPRESSION;
        for h in 2..=N_HARMONICS {
            shifts.push(((points_per_octave * (h as f64).log2()).floor() as usize, scale));
            scale *= COMPRESSION;
        }
        Self {
            n,
            interp_k,
            interp_coeffs,
            sigma,
            inv_diff1,
            inv_diff2,
            spline_p,
            spline_y2,
            aud_weight,
            fmin_t,
            fstep_t,
            shifts,
            y: vec![0.0; n],
            y2: vec![0.0; n],
            u: vec![0.0; n],
            oct: vec![0.0; n],
            ss: vec![0.0; n],
            peaks: Vec::with_capacity(n),
        }
    }

    /// The candidates of one frame's linear magnitude spectrum.
    pub fn candidates(&mut self, mag: &[f64]) -> Candidates {
        self.octave_spectrum(mag);
        self.subharmonic_sum();
        self.pick_candidates()
    }

    fn octave_spectrum(&mut self, mag: &[f64]) {
        let n = self.n;
        self.y.copy_from_slice(&mag[..n]);
        enhance_peaks(&mut self.y, &mut self.peaks);
        // smileDsp_specSmoothSHS
        let mut prev = 0.0;
        for i in 0..n - 1 {
            let ai = self.y[i];
            self.y[i] = (prev + 2.0 * ai + self.y[i + 1]) / 4.0;
            prev = ai;
        }
        // natural cubic spline second derivatives (smileMath_cspline)
        let (y, y2, u) = (&self.y, &mut self.y2, &mut self.u);
        y2.copy_from_slice(&self.spline_y2);
        u[0] = 0.0;
        for i in 1..n - 1 {
            let ut = (y[i + 1] - y[i]) * self.inv_diff1[i] - (y[i] - y[i - 1]) * self.inv_diff2[i];
            u[i] = self.spline_p[i] * (6.0 * ut - self.sigma[i] * u[i - 1]);
        }
        y2[n - 1] = 0.0;
        for j in (0..n - 1).rev() {
            y2[j] = y2[j] * y2[j + 1] + u[j];
        }
        for (j, out) in self.oct.iter_mut().enumerate() {
            let k = self.interp_k[j];
            let [a, c, d] = self.interp_coeffs[j];
            let v = a * y[k] + (1.0 - a) * y[k + 1] + c * y2[k] + d * y2[k + 1];
            *out = if v > 0.0 { v * self.aud_weight[j] } else { 0.0 };
        }
    }

    fn subharmonic_sum(&mut self) {
        let n = self.n;
        self.ss.copy_from_slice(&self.oct);
        for &(shift, scale) in &self.shifts {
            if shift < n {
                for (d, &o) in self.ss[..n - shift].iter_mut().zip(&self.oct[shift..]) {
                    *d += o * scale;
                }
            }
        }
        for v in &mut self.ss {
            *v /= N_HARMONICS as f64;
            if *v < 0.0 {
                *v = 0.0;
            }
        }
    }

    fn pick_candidates(&mut self) -> Candidates {
        let ss = &self.ss;
        let n = self.n;
        let mut bins = [0usize; N_CANDIDATES];
        let mut scores = [0.0f64; N_CANDIDATES];
        let mut n_cand = 0;
        for i in 1..n - 1 {
            if ss[i - 1] < ss[i] && ss[i] > ss[i + 1] {
                for j in 0..N_CANDIDATES {
                    if scores[j] == 0.0 || scores[j] < ss[i] {
                        for jj in (j + 1..N_CANDIDATES).rev() {
                            scores[jj] = scores[jj - 1];
                            bins[jj] = bins[jj - 1];
                        }
                        bins[j] = i;
                        scores[j] = ss[i];
                        if n_cand < N_CANDIDATES {
                            n_cand += 1;
                        }
                        break;
                    }
                }
            }
        }
        let mean = ss.iter().sum::<f64>() / n as f64;
        let mut c = Candidates::default();
        let mut score = [0.0f64; N_CANDIDATES];
        for i in 0..n_cand {
            let j = bins[i];
            let x = |b: f64| b * self.fstep_t + self.fmin_t;
            let (fx, sc, _) =
                parabola_vertex(x(j as f64 - 1.0), ss[j - 1], x(j as f64), ss[j], x(j as f64 + 1.0), ss[j + 1]);
            c.f0[i] = fx.exp2();
            score[i] = sc;
            c.voicing[i] = if sc > 0.0 && sc > mean { 1.0 - mean / sc } else { 0.0 };
        }
        // cPitchBase: drop candidates outside [minPitch, maxPitch], keep order
        let mut i = 0i64;
        while (i as usize) < N_CANDIDATES && n_cand > 0 {
            let iu = i as usize;
            if c.f0[iu] > MAX_PITCH || c.f0[iu] < MIN_PITCH {
                let orig = c.f0[iu];
                for j in iu + 1..N_CANDIDATES {
                    c.f0[j - 1] = c.f0[j];
                    c.voicing[j - 1] = c.voicing[j];
                    score[j - 1] = score[j];
                }
                c.f0[N_CANDIDATES - 1] = 0.0;
                c.voicing[N_CANDIDATES - 1] = 0.0;
                score[N_CANDIDATES - 1] = 0.0;
                if orig > 0.0 {
                    n_cand -= 1;
                    i -= 1;
                }
            }
            i += 1;
        }
        // best score first
        let mut max_i = 0;
        for i in 1..N_CANDIDATES {
            if score[i] > score[max_i] {
                max_i = i;
            }
        }
        c.f0.swap(0, max_i);
        c.voicing.swap(0, max_i);
        c
    }
}

/// openSMILE's `smileDsp_specEnhanceSHS`: zero everything further than 2 bins from a local
/// maximum (between consecutive maxima).
fn enhance_peaks(a: &mut [f64], posmax: &mut Vec<usize>) {
    let n = a.len();
    posmax.clear();
    if a[0] > a[1] {
        posmax.push(0);
    }
    for i in 1..n - 1 {
        if a[i] > a[i - 1] && a[i] >= a[i + 1] {
            posmax.push(i);
        }
    }
    if a[n - 1] > a[n - 2] {
        posmax.push(n - 1);
    }
    if posmax.len() == 1 {
        // openSMILE reads posmax[1] here, which is 0 (calloc): everything from bin 3 is zeroed
        for v in a.iter_mut().skip(3) {
            *v = 0.0;
        }
    } else {
        for w in posmax.windows(2) {
            let (from, to) = (w[0] + 3, w[1] as i64 - 3);
            let mut j = from as i64;
            while j <= to {
                a[j as usize] = 0.0;
                j += 1;
            }
        }
    }
}

/// The Viterbi smoother's weights as eGeMAPS sets them.
const W_LOCAL: f64 = 2.0;
const W_TVV: f64 = 10.0;
const W_TVVD: f64 = 10.0; // openSMILE's setWeights copies wTvv into wTvvd
const W_TVUV: f64 = 10.0;
const W_THR: f64 = 4.0;
const W_RANGE: f64 = 1.0;
const BUFFER_LENGTH: usize = 40;
const N_STATES: usize = N_CANDIDATES + 1;

fn range_weight(f: f64) -> f64 {
    if f > 0.0 && f < 100.0 {
        -(1.0 / 100.0) * f + 1.0
    } else if (100.0..350.0).contains(&f) {
        0.0
    } else if (350.0..600.0).contains(&f) {
        (f - 350.0) / 250.0
    } else if f >= 600.0 {
        1.2
    } else {
        2.0
    }
}

fn local_cost(state: usize, c: &Candidates) -> f64 {
    if state < N_CANDIDATES {
        let pv = c.voicing[state].clamp(0.01, 1.0);
        let thr = if pv < VOICING_CUTOFF { W_THR } else { 0.0 };
        (-pv.ln() + thr) * W_LOCAL + range_weight(c.f0[state]) * W_RANGE
    } else {
        let voiced = c.voicing.iter().any(|&v| v >= VOICING_CUTOFF);
        W_LOCAL * if voiced { W_THR } else { 0.0 }
    }
}

/// Smooths per-frame candidates into one F0 track (Hz, 0 = unvoiced), replicating openSMILE's
/// incremental Viterbi with its 40-frame path buffer, forced decisions and final flush.
///
/// Returns how many frames had been decided before the end of the input (the rest come from
/// the final flush); openSMILE's functionals only see those (see [`super`]).
pub fn viterbi_smooth(frames: &[Candidates], f0_out: &mut Vec<f64>) -> usize {
    f0_out.clear();
    if frames.is_empty() {
        return 0;
    }
    let buflen = BUFFER_LENGTH;
    let mut paths = vec![0usize; N_STATES * buflen];
    let mut next = vec![0usize; N_STATES * buflen];
    let mut costs = [0.0f64; N_STATES];
    let mut best = vec![0usize; frames.len()];
    let mut conv: i64 = -1;
    let mut last_change = 1.0f64;
    for (t, cur) in frames.iter().enumerate() {
        if t == 0 {
            for (i, cost) in costs.iter_mut().enumerate() {
                *cost = local_cost(i, cur);
                paths[i * buflen] = i;
            }
        } else {
            let prev = &frames[t - 1];
            let mut new_costs = [0.0f64; N_STATES];
            for i in 0..N_STATES {
                let mut min_state = 0;
                let mut min_cost = f64::INFINITY;
                for (j, &cost) in costs.iter().enumerate() {
                    let c = transition_cost(i, j, prev, cur, &mut last_change) + cost;
                    if j == 0 || c < min_cost {
                        min_state = j;
                        min_cost = c;
                    }
                }
                new_costs[i] = min_cost + local_cost(i, cur);
                next[i * buflen..(i + 1) * buflen]
                    .copy_from_slice(&paths[min_state * buflen..(min_state + 1) * buflen]);
                next[i * buflen + t % buflen] = i;
            }
            costs = new_costs;
            std::mem::swap(&mut paths, &mut next);
        }
        let path_idx = t as i64 + 1;
        let p = &paths;
        if path_idx - conv > buflen as i64 {
            let min_state = argmin(&costs);
            conv += 1;
            best[conv as usize] = p[min_state * buflen + conv as usize % buflen];
        } else {
            let mut n = conv + 1;
            while n < path_idx {
                let x = p[n as usize % buflen];
                if (1..N_STATES).any(|i| p[i * buflen + n as usize % buflen] != x) {
                    break;
                }
                conv += 1;
                best[conv as usize] = x;
                n += 1;
            }
        }
    }
    let decided = (conv + 1) as usize;
    let min_state = argmin(&costs);
    let p = &paths;
    while ((conv + 1) as usize) < frames.len() {
        conv += 1;
        best[conv as usize] = p[min_state * buflen + conv as usize % buflen];
    }
    f0_out.extend(best.iter().zip(frames).map(|(&s, c)| if s < N_CANDIDATES { c.f0[s] } else { 0.0 }));
    decided
}

fn argmin(costs: &[f64; N_STATES]) -> usize {
    let mut m = 0;
    for i in 1..N_STATES {
        if costs[i] < costs[m] {
            m = i;
        }
    }
    m
}

/// openSMILE's transition cost from state `j` (previous frame) to state `i` (current frame).
fn transition_cost(i: usize, j: usize, prev: &Candidates, cur: &Candidates, last_change: &mut f64) -> f64 {
    let u = N_STATES - 1;
    if i < u && j < u {
        let (f0, f1) = (prev.f0[j], cur.f0[i]);
        if f0 == 0.0 || f1 == 0.0 {
            return 999.0;
        }
        let r = (f1 / f0).ln();
        let x = W_TVV * r.abs() + W_TVVD * (r - *last_change).abs();
        *last_change = r;
        x
    } else if i < u || j < u {
        *last_change = 0.0;
        W_TVUV
    } else {
        1.0
    }
}

/// openSMILE's `F0finalLog`: semitones above 27.5 Hz, 1 for 0 < f0 <= 29.136 Hz, 0 unvoiced.
pub fn semitones(f0: f64) -> f64 {
    if f0 > 29.136 {
        12.0 * (f0 / 27.5).log2()
    } else if f0 > 0.0 {
        1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semitone_scale_anchors() {
        assert_eq!(semitones(0.0), 0.0);
        assert_eq!(semitones(28.0), 1.0);
        assert!((semitones(55.0) - 12.0).abs() < 1e-12);
        assert!((semitones(220.0) - 36.0).abs() < 1e-12);
    }

    #[test]
    fn viterbi_prefers_a_continuous_track() {
        let frame = |f: [f64; 2], v: [f64; 2]| {
            let mut c = Candidates::default();
            c.f0[..2].copy_from_slice(&f);
            c.voicing[..2].copy_from_slice(&v);
            c
        };
        // an octave jump in the best candidate of the middle frame is smoothed away
        let frames = vec![
            frame([200.0, 100.0], [0.9, 0.8]),
            frame([200.0, 100.0], [0.9, 0.8]),
            frame([400.0, 200.0], [0.85, 0.84]),
            frame([200.0, 100.0], [0.9, 0.8]),
        ];
        let mut f0 = Vec::new();
        viterbi_smooth(&frames, &mut f0);
        assert_eq!(f0, vec![200.0, 200.0, 200.0, 200.0]);
    }
}
