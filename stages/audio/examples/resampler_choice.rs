//! Why `decode` resamples with rubato's FFT resampler (`CHUNK = 1536`) rather than a direct
//! FIR decimator for integer ratios: the frequency response and the cost per output sample of
//! both, for 48 kHz -> 16 kHz (3:1), on one thread.
//!
//! ```sh
//! cargo run --example resampler_choice -p vox-audio
//! ```
//!
//! Prints, per test frequency, the output level (dB relative to the input, an aliased tone's
//! level for frequencies above 8 kHz) of rubato's resampler at several chunk sizes and of
//! Kaiser-windowed sinc FIR decimators (one dot product of the taps per output sample over
//! contiguous input, 8 lanes, which LLVM vectorizes), then each one's nanoseconds per output
//! sample (the machine may be under load, so compare within one run). An FIR as steep as
//! rubato's filter at chunk 1536 costs several times more per output sample; an FIR about as
//! cheap as rubato is a far worse filter, and a cheaper one lets the band just above 8 kHz
//! alias (measured: BENCHMARKS.md, "What changed in `stages/audio` since 09:45", item 5). So
//! the FFT resampler stays: per output sample it is the cheaper of the two at equal quality,
//! because its cost grows with log(filter length).

use std::error::Error;
use std::f64::consts::PI;
use std::hint::black_box;
use std::time::Instant;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler, WindowFunction};

/// A Kaiser-windowed sinc FIR low-pass followed by keeping every `factor`-th sample.
struct Decimator {
    /// Keep one sample in this many.
    factor: usize,
    /// The symmetric taps (an odd count), zero-padded to a multiple of 8.
    taps: Vec<f32>,
    /// Taps on each side of the centre one.
    half: usize,
}

/// The modified Bessel function of the first kind, order 0 (its power series).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term) = (1.0, 1.0);
    for k in 1..50 {
        term *= (x / 2.0 / k as f64).powi(2);
        sum += term;
    }
    sum
}

impl Decimator {
    /// Passband edge `pass` and stopband edge `stop` as fractions of the output Nyquist
    /// frequency, `atten` dB of stopband attenuation (Kaiser's formulas for length and beta).
    fn new(factor: usize, pass: f64, stop: f64, atten: f64) -> Self {
        let nyquist = 0.5 / factor as f64; // the output Nyquist frequency, cycles per input sample
        let (fp, fs) = (pass * nyquist, stop * nyquist);
        let fc = (fp + fs) / 2.0;
        let mut n = ((atten - 7.95) / (2.285 * 2.0 * PI * (fs - fp))).ceil() as usize + 1;
        n += 1 - n % 2;
        let beta = 0.1102 * (atten - 8.7);
        let half = n / 2;
        let h: Vec<f64> = (0..n)
            .map(|k| {
                let t = k as f64 - half as f64;
                let sinc = if t == 0.0 { 2.0 * fc } else { (2.0 * PI * fc * t).sin() / (PI * t) };
                let r = t / half as f64;
                sinc * bessel_i0(beta * (1.0 - r * r).sqrt()) / bessel_i0(beta)
            })
            .collect();
        let sum: f64 = h.iter().sum();
        let mut taps: Vec<f32> = h.iter().map(|&v| (v / sum) as f32).collect();
        taps.resize(n.div_ceil(8) * 8, 0.0);
        Self { factor, taps, half }
    }

    /// `out_len` output samples of `x`, aligned (output n is input n * factor); `padded` is a
    /// reused buffer for `x` with zeros around it.
    fn process(&self, x: &[f32], out_len: usize, padded: &mut Vec<f32>) -> Vec<f32> {
        let (m, t) = (self.factor, self.taps.len());
        padded.clear();
        padded.resize(self.half, 0.0);
        padded.extend_from_slice(x);
        padded.resize(out_len.saturating_sub(1) * m + t, 0.0);
        let taps = self.taps.as_chunks::<8>().0;
        (0..out_len)
            .map(|n| {
                let mut acc = [0f32; 8];
                for (h, w) in taps.iter().zip(padded[n * m..n * m + t].as_chunks::<8>().0) {
                    for i in 0..8 {
                        acc[i] += h[i] * w[i];
                    }
                }
                acc.iter().sum::<f32>()
            })
            .collect()
    }
}

/// What each candidate does: a 48 kHz clip in, its 16 kHz version out.
type Resample = Box<dyn FnMut(&[f32]) -> Result<Vec<f32>, Box<dyn Error>>>;

fn sine(freq: f64, len: usize) -> Vec<f32> {
    (0..len).map(|i| (0.5 * (2.0 * PI * freq * i as f64 / 48000.0).sin()) as f32).collect()
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

/// Output level (dB) of a 1 s tone at `freq`, middle 0.75 s of input and output.
fn level(freq: f64, resample: &mut Resample) -> Result<f64, Box<dyn Error>> {
    let x = sine(freq, 48000);
    Ok(20.0 * (rms(&resample(&x)?[2000..14000]) / rms(&x[6000..42000])).log10())
}

/// Nanoseconds per output sample, over 100 resamplings of a 3.5 s clip.
fn cost(resample: &mut Resample) -> Result<f64, Box<dyn Error>> {
    let x = sine(1000.0, 168_000);
    let start = Instant::now();
    for _ in 0..100 {
        black_box(resample(black_box(&x))?);
    }
    Ok(start.elapsed().as_secs_f64() / 100.0 / 56_000.0 * 1e9)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut candidates: Vec<(String, Resample)> = Vec::new();
    for chunk in [768, 1536, 3072] {
        let window = WindowFunction::BlackmanHarris2;
        let mut fft = Fft::<f32>::new_custom(48000, 16000, chunk, 1, 1, window, FixedSync::Input)?;
        let resample = move |x: &[f32]| -> Result<Vec<f32>, Box<dyn Error>> {
            let input = InterleavedSlice::new(x, 1, x.len())?;
            Ok(fft.process_all(&input, x.len(), None)?.take_data())
        };
        candidates.push((format!("rubato fft, chunk {chunk}"), Box::new(resample)));
    }
    for (pass, stop, atten) in
        [(0.82, 1.0, 70.0), (0.82, 1.125, 70.0), (0.9, 1.0, 80.0), (0.94, 1.02, 140.0)]
    {
        let fir = Decimator::new(3, pass, stop, atten);
        let name = format!(
            "fir {} taps (pass {pass}, stop {stop} of 8 kHz, {atten} dB)",
            2 * fir.half + 1
        );
        let mut padded = Vec::new();
        let resample = move |x: &[f32]| Ok(fir.process(x, x.len() / 3, &mut padded));
        candidates.push((name, Box::new(resample)));
    }
    let freqs = [100.0, 1000.0, 6500.0, 7000.0, 7500.0, 7800.0, 8200.0, 8500.0, 9000.0, 12000.0];
    for (name, resample) in &mut candidates {
        let mut levels = Vec::new();
        for f in freqs {
            levels.push(format!("{f} Hz {:.2}", level(f, resample)?));
        }
        println!("{name}: {:.1} ns/output sample\n  dB: {}", cost(resample)?, levels.join(", "));
    }
    Ok(())
}
