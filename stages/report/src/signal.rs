//! Spectral summaries of clips for the signal-analysis figures: per-frame RMS energy and a
//! log-mel spectrogram, frame-wise means over clips, and helpers that thin data for plotting.
//!
//! These are visualisations, not model features (the features stage owns those): the settings
//! are fixed choices for legible pictures. Frames are [`WINDOW_SECONDS`] long every
//! [`HOP_SECONDS`]; the spectrum is a Hann-windowed real FFT of the next power of two; the mel
//! filterbank has [`MEL_BANDS`] triangular HTK-mel filters (`2595 log10(1 + f / 700)`) from 0 Hz
//! to [`MAX_FREQUENCY_HZ`] or Nyquist, whichever is lower, without area normalisation; log-mel
//! values are `10 log10(max(power, 1e-10))` dB. RMS is `sqrt(mean(x²))` over a frame's
//! unwindowed samples. A clip shorter than one window is one zero-padded frame.

use std::sync::Arc;

use realfft::{FftError, RealFftPlanner, RealToComplex};

/// Frame length, seconds.
pub const WINDOW_SECONDS: f64 = 0.025;
/// Frame step, seconds.
pub const HOP_SECONDS: f64 = 0.010;
/// Mel bands of the log-mel spectrogram.
pub const MEL_BANDS: usize = 40;
/// Upper edge of the mel filterbank, Hz (capped at Nyquist).
pub const MAX_FREQUENCY_HZ: f64 = 8000.0;
/// Power below which log-mel values are clipped (-100 dB).
const POWER_FLOOR: f64 = 1e-10;

/// The per-frame summaries of one clip.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// RMS amplitude per frame.
    pub rms: Vec<f64>,
    /// Log-mel power per frame, [`MEL_BANDS`] values in dB each.
    pub log_mel: Vec<Vec<f64>>,
}

/// Frames, windows and transforms clips of one sample rate.
pub struct Analyzer {
    sample_rate: u32,
    window: usize,
    hop: usize,
    hann: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    /// Per mel band, its first FFT bin and the weights of the bins from there (the nonzero
    /// stretch of the triangle, so that a frame costs a few hundred multiplications).
    filters: Vec<(usize, Vec<f64>)>,
    /// Lower edge, centre and upper edge of each band, Hz.
    edges: Vec<f64>,
}

/// Hz to HTK mel.
fn mel(hz: f64) -> f64 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

/// HTK mel to Hz.
fn hz(mel: f64) -> f64 {
    700.0 * (10f64.powf(mel / 2595.0) - 1.0)
}

impl Analyzer {
    /// An analyzer for clips sampled at `sample_rate` Hz.
    pub fn new(sample_rate: u32) -> Self {
        let rate = f64::from(sample_rate.max(1));
        let window = ((WINDOW_SECONDS * rate).round() as usize).max(1);
        let hop = ((HOP_SECONDS * rate).round() as usize).max(1);
        let n_fft = window.next_power_of_two().max(2);
        let hann = (0..window)
            .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / window as f64).cos()) as f32)
            .collect();
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        let top = mel(MAX_FREQUENCY_HZ.min(rate / 2.0));
        let edges: Vec<f64> =
            (0..MEL_BANDS + 2).map(|i| hz(top * i as f64 / (MEL_BANDS + 1) as f64)).collect();
        let bin_hz = rate / n_fft as f64;
        let filters = (0..MEL_BANDS)
            .map(|band| {
                let (low, centre, high) = (edges[band], edges[band + 1], edges[band + 2]);
                let weight = |bin: usize| {
                    let f = bin as f64 * bin_hz;
                    ((f - low) / (centre - low)).min((high - f) / (high - centre)).max(0.0)
                };
                let bins = 0..=n_fft / 2;
                let first = bins.clone().find(|&b| weight(b) > 0.0).unwrap_or(0);
                let weights: Vec<f64> = bins.skip(first).map(weight).take_while(|&w| w > 0.0).collect();
                (first, weights)
            })
            .collect();
        Self { sample_rate, window, hop, hann, fft, filters, edges }
    }

    /// The sample rate, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Seconds between frames.
    pub fn hop_seconds(&self) -> f64 {
        self.hop as f64 / f64::from(self.sample_rate.max(1))
    }

    /// Frames of a clip of `len` samples.
    pub fn frames(&self, len: usize) -> usize {
        if len <= self.window { 1 } else { 1 + (len - self.window) / self.hop }
    }

    /// Centre frequency of mel band `band`, Hz.
    pub fn band_centre_hz(&self, band: usize) -> f64 {
        self.edges[(band + 1).min(self.edges.len() - 1)]
    }

    /// RMS and log-mel spectrogram of `samples`.
    pub fn analyze(&self, samples: &[f32]) -> Result<Analysis, FftError> {
        let frames = self.frames(samples.len());
        let mut input = self.fft.make_input_vec();
        let mut spectrum = self.fft.make_output_vec();
        let mut scratch = self.fft.make_scratch_vec();
        let mut rms = Vec::with_capacity(frames);
        let mut log_mel = Vec::with_capacity(frames);
        for frame in 0..frames {
            let start = (frame * self.hop).min(samples.len());
            let chunk = &samples[start..(start + self.window).min(samples.len())];
            let energy: f64 = chunk.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            rms.push((energy / self.window as f64).sqrt());
            input.fill(0.0);
            for ((slot, &x), &w) in input.iter_mut().zip(chunk).zip(&self.hann) {
                *slot = x * w;
            }
            self.fft.process_with_scratch(&mut input, &mut spectrum, &mut scratch)?;
            let power: Vec<f64> = spectrum.iter().map(|c| f64::from(c.norm_sqr())).collect();
            log_mel.push(
                self.filters
                    .iter()
                    .map(|(first, weights)| {
                        let p: f64 = weights.iter().zip(&power[*first..]).map(|(w, p)| w * p).sum();
                        10.0 * p.max(POWER_FLOOR).log10()
                    })
                    .collect(),
            );
        }
        Ok(Analysis { rms, log_mel })
    }
}

/// Frame-wise mean and standard deviation of per-frame vectors over clips of different lengths:
/// frame `t` averages the clips that reach it, and only frames that most clips reach are
/// reported (so that a few long clips do not make a noisy tail).
#[derive(Clone, Debug)]
pub struct FrameStats {
    sum: Vec<Vec<f64>>,
    sum_sq: Vec<Vec<f64>>,
    count: Vec<u64>,
    clips: u64,
}

impl FrameStats {
    /// Statistics over the first `frames` frames of vectors of `width` values.
    pub fn new(frames: usize, width: usize) -> Self {
        Self {
            sum: vec![vec![0.0; width]; frames],
            sum_sq: vec![vec![0.0; width]; frames],
            count: vec![0; frames],
            clips: 0,
        }
    }

    /// Adds one clip's frames; frames past the horizon are ignored.
    pub fn add<R: AsRef<[f64]>>(&mut self, frames: impl IntoIterator<Item = R>) {
        for (t, frame) in frames.into_iter().take(self.count.len()).enumerate() {
            for (k, &v) in frame.as_ref().iter().enumerate().take(self.sum[t].len()) {
                self.sum[t][k] += v;
                self.sum_sq[t][k] += v * v;
            }
            self.count[t] += 1;
        }
        self.clips += 1;
    }

    /// Frames that more than half of the clips reach (a prefix, since clips start at frame 0).
    fn covered(&self) -> usize {
        self.count.iter().take_while(|&&c| 2 * c > self.clips).count()
    }

    /// The mean vector of each covered frame.
    pub fn mean(&self) -> Vec<Vec<f64>> {
        (0..self.covered()).map(|t| self.sum[t].iter().map(|s| s / self.count[t] as f64).collect()).collect()
    }

    /// The population standard deviation of each covered frame.
    pub fn std(&self) -> Vec<Vec<f64>> {
        (0..self.covered())
            .map(|t| {
                let n = self.count[t] as f64;
                self.sum[t]
                    .iter()
                    .zip(&self.sum_sq[t])
                    .map(|(s, q)| (q / n - (s / n).powi(2)).max(0.0).sqrt())
                    .collect()
            })
            .collect()
    }
}

/// Averages runs of consecutive frames so that at most `max` remain (each output frame averages
/// `ceil(len / max)` input frames, the last one fewer).
pub fn pool(frames: &[Vec<f64>], max: usize) -> Vec<Vec<f64>> {
    let size = frames.len().div_ceil(max.max(1)).max(1);
    frames
        .chunks(size)
        .map(|run| {
            let width = run[0].len();
            (0..width).map(|k| run.iter().map(|f| f[k]).sum::<f64>() / run.len() as f64).collect()
        })
        .collect()
}

/// The minimum and maximum sample of each of `columns` equal slices of `samples` (fewer when
/// the clip is shorter), for drawing a waveform at a fixed width.
pub fn envelope(samples: &[f32], columns: usize) -> Vec<(f32, f32)> {
    let size = samples.len().div_ceil(columns.max(1)).max(1);
    samples
        .chunks(size)
        .map(|run| run.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(hz: f64, amplitude: f64, seconds: f64, rate: u32) -> Vec<f32> {
        let n = (seconds * f64::from(rate)) as usize;
        (0..n)
            .map(|i| {
                (amplitude * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin()) as f32
            })
            .collect()
    }

    #[test]
    fn frames_and_mel_geometry_at_16_khz() {
        let a = Analyzer::new(16_000);
        assert_eq!((a.window, a.hop, a.fft.len()), (400, 160, 512));
        assert_eq!(a.hop_seconds(), 0.01);
        assert_eq!(a.frames(0), 1);
        assert_eq!(a.frames(400), 1);
        assert_eq!(a.frames(16_000), 98, "1 + (16000 - 400) / 160");
        assert!((a.edges[MEL_BANDS + 1] - 8000.0).abs() < 1e-6);
        assert!((mel(1000.0) - 1000.0).abs() < 0.1, "HTK mel puts 1 kHz near 1000 mel");
        assert!((hz(mel(440.0)) - 440.0).abs() < 1e-9);
        assert!(a.filters.iter().all(|(_, w)| !w.is_empty()), "every band covers a bin");
        // Band 20's triangle spans edges 20..22: its bins are exactly those strictly inside.
        let (first, weights) = &a.filters[20];
        let bin_hz = 16_000.0 / 512.0;
        assert!((*first as f64 - 1.0) * bin_hz <= a.edges[20] && a.edges[20] < *first as f64 * bin_hz);
        let last = first + weights.len() - 1;
        assert!((last as f64) * bin_hz < a.edges[22] && a.edges[22] <= (last as f64 + 1.0) * bin_hz);
    }

    #[test]
    fn rms_of_a_sine_is_its_amplitude_over_root_two() {
        let a = Analyzer::new(16_000);
        let analysis = a.analyze(&tone(440.0, 0.5, 1.0, 16_000)).unwrap();
        assert_eq!(analysis.rms.len(), 98);
        for r in &analysis.rms {
            assert!((r - 0.5 / 2f64.sqrt()).abs() < 0.01, "{r}");
        }
        let silence = a.analyze(&[0.0; 800]).unwrap();
        assert_eq!(silence.rms, [0.0, 0.0, 0.0]);
        assert!(silence.log_mel.iter().flatten().all(|&v| v == -100.0));
    }

    #[test]
    fn a_tone_peaks_in_the_band_around_its_frequency() {
        let a = Analyzer::new(16_000);
        for hz in [300.0, 1000.0, 3000.0] {
            let analysis = a.analyze(&tone(hz, 0.5, 0.5, 16_000)).unwrap();
            let frame = &analysis.log_mel[10];
            let peak = (0..MEL_BANDS).max_by(|&i, &j| frame[i].total_cmp(&frame[j])).unwrap();
            let (low, high) = (a.edges[peak], a.edges[peak + 2]);
            assert!(low < hz && hz < high, "{hz} Hz peaked in band {peak} ({low:.0}..{high:.0} Hz)");
            assert!((a.band_centre_hz(peak) - hz).abs() < (high - low) / 2.0);
        }
    }

    #[test]
    fn frame_stats_average_the_clips_that_reach_each_frame() {
        let mut stats = FrameStats::new(3, 2);
        stats.add([vec![1.0, 10.0], vec![2.0, 20.0], vec![3.0, 30.0], vec![9.0, 9.0]]);
        stats.add([vec![3.0, 30.0], vec![2.0, 20.0]]);
        stats.add([vec![5.0, 50.0], vec![5.0, 50.0]]);
        assert_eq!(
            stats.mean(),
            [vec![3.0, 30.0], vec![3.0, 30.0]],
            "frame 2 (one clip of three) is dropped"
        );
        let std = (8.0f64 / 3.0).sqrt();
        assert!((stats.std()[0][0] - std).abs() < 1e-12, "population std of 1, 3, 5");
        assert!((stats.std()[1][1] - 10.0 * 2f64.sqrt()).abs() < 1e-9, "population std of 20, 20, 50");
        let mut short = FrameStats::new(4, 1);
        short.add([[1.0], [2.0]]);
        assert_eq!(short.mean(), [vec![1.0], vec![2.0]], "frames no clip reaches are dropped");
    }

    #[test]
    fn pooling_and_envelopes() {
        let frames: Vec<Vec<f64>> = (0..5).map(|i| vec![i as f64]).collect();
        assert_eq!(pool(&frames, 2), [vec![1.0], vec![3.5]]);
        assert_eq!(pool(&frames, 10), frames);
        assert_eq!(envelope(&[0.0, -1.0, 0.5, 0.25, 2.0], 2), [(-1.0, 0.5), (0.25, 2.0)]);
        assert_eq!(envelope(&[0.5], 400), [(0.5, 0.5)]);
    }
}
