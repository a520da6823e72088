//! Local jitter and shimmer (dB) from the waveform, as openSMILE's `cPitchJitter` computes
//! them frame by frame (10 ms F0 frames of 60 ms): period boundaries are found by maximizing
//! the normalized cross-correlation of consecutive period candidates within +-10 % of the F0
//! period, periods with correlation <= 0.5 are ignored, and the reader keeps its position
//! between frames (`lastIdx`/`lastMis`) exactly as the streaming component does.

use crate::dsp::parabola_vertex;

const SEARCH_RANGE_REL: f64 = 0.1;
const MIN_NUM_PERIODS: i64 = 2;
const MIN_CC: f64 = 0.5;

/// Jitter and shimmer of one F0 frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct VoiceFrame {
    /// Local jitter (mean absolute period difference / mean period), <= 1.
    pub jitter_local: f64,
    /// Local shimmer in dB.
    pub shimmer_db: f64,
}

/// The streaming state of `cPitchJitter`.
pub struct JitterTracker {
    sample_rate: f64,
    frame_len: i64,
    hop: i64,
    last_idx: i64,
    last_mis: i64,
    last_t0: f64,
    last_jitter: f64,
    last_shimmer: f64,
    cc: Vec<f64>,
}

impl JitterTracker {
    /// For F0 frames of `frame_len` samples every `hop` samples at `sample_rate`.
    pub fn new(sample_rate: f64, frame_len: usize, hop: usize) -> Self {
        Self {
            sample_rate,
            frame_len: frame_len as i64,
            hop: hop as i64,
            last_idx: 0,
            last_mis: 0,
            last_t0: 0.0,
            last_jitter: 0.0,
            last_shimmer: 0.0,
            cc: Vec::new(),
        }
    }

    /// Resets the stream (call at the start of a clip).
    pub fn reset(&mut self) {
        self.last_idx = 0;
        self.last_mis = 0;
        self.last_t0 = 0.0;
        self.last_jitter = 0.0;
        self.last_shimmer = 0.0;
    }

    /// Processes F0 frame `t` (F0 in Hz, 0 when unvoiced) of `wave`.
    pub fn next(&mut self, wave: &[f64], t: usize, f0: f64) -> VoiceFrame {
        let start_v = t as i64 * self.hop;
        let to_read0 = self.hop + self.last_mis;
        let mut to_read = to_read0;
        let (mut t0f, mut t0_min, mut t0_max) = (0i64, 0i64, 0i64);
        if f0 > 0.0 {
            let tf = self.sample_rate / f0;
            t0f = tf.round() as i64;
            t0_min = ((1.0 - SEARCH_RANGE_REL) * tf).floor() as i64;
            t0_max = ((1.0 + SEARCH_RANGE_REL) * tf).ceil() as i64;
            to_read = to_read.max(MIN_NUM_PERIODS * t0_max + MIN_NUM_PERIODS);
        }
        // never more than the unread rest of the previous frame plus this frame
        to_read = to_read.min(self.last_mis + self.frame_len);
        if start_v - self.last_mis != self.last_idx {
            // openSMILE's "discontinuity": restart at this frame
            self.last_idx = start_v;
            to_read = to_read.min(self.frame_len);
        }
        let from = (self.last_idx.max(0) as usize).min(wave.len());
        let to = ((self.last_idx + to_read).max(0) as usize).min(wave.len());
        let x = &wave[from..to];
        let n_t = x.len() as i64;

        let mut n_periods = 0usize;
        let mut n_local = 0usize;
        let mut avg_period = 0.0;
        let mut jitter_sum = 0.0;
        let mut avg_amp = 0.0;
        let mut avg_amp_diff = 0.0;
        let last_period;
        if f0 > 0.0 && t0_min > 0 {
            let period_s = 1.0 / self.sample_rate;
            let n_lags = (t0_max - t0_min + 1) as usize;
            self.cc.resize(n_lags, 0.0);
            let mut start = 0i64;
            let mut lp = 0i64;
            while start < n_t - 2 * t0_max - 1 {
                for (k, c) in self.cc.iter_mut().enumerate() {
                    let lag = t0_min as usize + k;
                    let s = start as usize;
                    *c = cross_correlation(&x[s..s + lag], &x[s + lag..s + 2 * lag]);
                }
                let cc = &self.cc;
                let mut max = cc[(t0f - t0_min) as usize];
                let mut max_i: i64 = -1;
                for i in 1..(t0_max - t0_min - 1).max(1) as usize {
                    if cc[i - 1] < cc[i] && cc[i] > cc[i + 1] && (max_i == -1 || cc[i] > max) {
                        max_i = i as i64;
                        max = cc[i];
                    }
                }
                let pp = if max_i == -1 { t0f } else { t0_min + max_i };
                let os = start;
                if max_i >= 0 {
                    start += pp;
                    let (a0, a1) = (
                        peak_to_peak(&x[os as usize..(os + pp) as usize]),
                        peak_to_peak(&x[start as usize..(start + pp) as usize]),
                    );
                    let mi = max_i as usize;
                    let (xv, cci, _) =
                        parabola_vertex(mi as f64 - 1.0, cc[mi - 1], mi as f64, cc[mi], mi as f64 + 1.0, cc[mi + 1]);
                    if cci > MIN_CC {
                        let period = (t0_min as f64 + xv).abs() * period_s;
                        avg_period += period;
                        n_periods += 1;
                        if self.last_t0 > 0.0 {
                            jitter_sum += (self.last_t0 - period).abs();
                            n_local += 1;
                        }
                        self.last_t0 = period;
                        avg_amp += (a0 + a1) / 2.0;
                        avg_amp_diff += (a0 - a1).abs();
                    }
                } else {
                    start += t0f;
                }
                if start < to_read0 - 1 {
                    lp = start;
                }
            }
            last_period = lp;
            self.last_mis = to_read0 - last_period;
        } else {
            last_period = to_read0;
            self.last_mis = 0;
            self.last_t0 = 0.0;
            self.last_jitter = 0.0;
            self.last_shimmer = 0.0;
        }
        self.last_idx += last_period;

        let voiced = f0 > 0.0;
        if n_periods > 0 && n_local > 0 && voiced {
            self.last_jitter = (jitter_sum / n_local as f64) / (avg_period / n_periods as f64);
        }
        let mut out = VoiceFrame::default();
        if voiced && ((n_periods > 0 && n_local > 0) || n_periods == 0) {
            self.last_jitter = self.last_jitter.min(1.0);
            out.jitter_local = self.last_jitter;
        }
        if n_periods > 0 && voiced {
            self.last_shimmer = if avg_amp > 0.0 { avg_amp_diff / avg_amp } else { 0.0 };
        }
        if voiced {
            self.last_shimmer = self.last_shimmer.min(1.0);
            let a = self.last_shimmer + 1.0;
            out.shimmer_db = if a > 10e-50 { 20.0 * a.log10() } else { -1000.0 };
        }
        out
    }
}

/// Mean-removed normalized cross-correlation of two equally long sequences.
fn cross_correlation(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len().min(y.len()) as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut cc, mut nx, mut ny) = (0.0, 0.0, 0.0);
    for (a, b) in x.iter().zip(y) {
        let (da, db) = (a - mx, b - my);
        cc += da * db;
        nx += da * da;
        ny += db * db;
    }
    cc / (nx.sqrt() * ny.sqrt())
}

/// `cPitchJitter::amplitudeDiff`'s amplitude: max - min over samples `1..len-1`.
fn peak_to_peak(x: &[f64]) -> f64 {
    if x.len() < 3 {
        return 0.0;
    }
    let inner = &x[1..x.len() - 1];
    let max = inner.iter().fold(x[1], |m, &v| m.max(v));
    let min = inner.iter().fold(x[1], |m, &v| m.min(v));
    max - min
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfectly_periodic_signal_has_no_jitter_or_shimmer() {
        let sr = 16000.0;
        // 125 Hz = 128-sample period, sawtooth-like pulses
        let wave: Vec<f64> = (0..16000).map(|n| ((n % 128) as f64 / 128.0) - 0.5).collect();
        let mut tr = JitterTracker::new(sr, 960, 160);
        let mut frames = Vec::new();
        for t in 0..94 {
            frames.push(tr.next(&wave, t, 125.0));
        }
        let late = &frames[10..80];
        assert!(late.iter().all(|f| f.jitter_local < 1e-3 && f.shimmer_db.abs() < 1e-6), "{late:?}");
    }

    #[test]
    fn unvoiced_frames_output_zero() {
        let wave = vec![0.1; 4000];
        let mut tr = JitterTracker::new(16000.0, 960, 160);
        assert_eq!(tr.next(&wave, 0, 0.0), VoiceFrame::default());
    }
}
