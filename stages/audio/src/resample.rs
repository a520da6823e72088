//! Band-limited sample-rate conversion with rubato's FFT resampler, delay-compensated so that
//! the output is aligned with the input and exactly `round(len * to / from)` samples long.
//! Why not a cheaper FIR decimator for integer ratios (48 -> 16 kHz is 3:1): at the same
//! filter quality it costs about 3x more per output sample; `examples/resampler_choice.rs`
//! measures both.

use rubato::audioadapter_buffers::SizeError;
use rubato::audioadapter_buffers::direct::SequentialSliceOfSlices;
use rubato::{Fft, FixedSync, Resampler as _, WindowFunction};

/// Input frames per FFT block. One sub-chunk per block keeps the FFT long, which puts the
/// anti-aliasing cutoff close to the lower Nyquist frequency (about 0.95 of it). 1536 rather
/// than 1024: rubato rounds 1024 at 48 -> 16 kHz to an FFT of 1026 = 2*3^3*19, whose radix-19
/// butterflies took a quarter of decoding; 1536 factors into 2s and 3s (measured 1.6x faster).
const CHUNK: usize = 1536;

/// Why rubato refused to resample.
#[derive(Debug, thiserror::Error)]
pub enum ResampleFailure {
    /// The resampler could not be built for these rates.
    #[error(transparent)]
    Construction(#[from] rubato::ResamplerConstructionError),
    /// Resampling failed.
    #[error(transparent)]
    Process(#[from] rubato::ResampleError),
    /// The input buffer could not be wrapped.
    #[error(transparent)]
    Buffer(#[from] SizeError),
}

/// The output length for `len` input samples: `round(len * to / from)`.
pub(crate) fn resampled_len(len: usize, from: u32, to: u32) -> usize {
    let (len, from, to) = (len as u128, u128::from(from), u128::from(to));
    ((len * to + from / 2) / from) as usize
}

/// A resampler for one thread's files: rubato's FFT resampler for the last pair of rates,
/// built once and reset between files (building it per file, with its FFT plans and
/// filter, cost 7-20% of decoding).
#[derive(Default)]
pub struct Resampler {
    /// The rates it was built for (from, to) and the resampler.
    fft: Option<((u32, u32), Fft<f32>)>,
}

impl Resampler {
    /// Resamples a mono signal from `from` Hz to `to` Hz into `output`, replacing its
    /// contents (a copy when the rates are equal); reusing `output` from call to call saves
    /// an allocation per signal.
    pub fn resample_into(
        &mut self,
        samples: &[f32],
        from: u32,
        to: u32,
        output: &mut Vec<f32>,
    ) -> Result<(), ResampleFailure> {
        output.clear();
        if from == to {
            output.extend_from_slice(samples);
            return Ok(());
        }
        let fft = match &mut self.fft {
            Some((rates, fft)) if *rates == (from, to) => fft,
            slot => {
                let fft = Fft::<f32>::new_custom(
                    from as usize,
                    to as usize,
                    CHUNK,
                    1,
                    1,
                    WindowFunction::BlackmanHarris2,
                    FixedSync::Input,
                )?;
                &mut slot.insert(((from, to), fft)).1
            }
        };
        // Slices of slices: their adapters copy blocks with `copy_from_slice`, where
        // `InterleavedSlice` and `InterleavedOwned` (what `process_all` uses) copied sample by
        // sample through the adapter trait (11% of decoding).
        let channels = [samples];
        let input = SequentialSliceOfSlices::new(&channels, 1, samples.len())?;
        output.resize(fft.process_all_needed_output_len(samples.len()), 0.0);
        let frames = output.len();
        let mut output_channels = [output.as_mut_slice()];
        let mut buffer = SequentialSliceOfSlices::new_mut(&mut output_channels, 1, frames)?;
        // From a clean state, as if new; this trims the resampler's delay and returns
        // ceil(len * ratio) frames.
        fft.reset();
        let (_, produced) =
            fft.process_all_into_buffer(&input, &mut buffer, samples.len(), None)?;
        output.truncate(produced.min(resampled_len(samples.len(), from, to)));
        Ok(())
    }
}

/// Resamples a mono signal from `from` Hz to `to` Hz with a fresh [`Resampler`].
#[cfg(test)]
fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, ResampleFailure> {
    let mut output = Vec::new();
    Resampler::default().resample_into(samples, from, to, &mut output)?;
    Ok(output)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frequency (Hz) and amplitude of the strongest sinusoid in `x`, by a Hann-windowed DFT
    /// scanned in 5 Hz steps, then in 0.01 Hz steps around the coarse peak.
    fn tone(x: &[f32], rate: f64) -> (f64, f64) {
        let n = x.len();
        let window: Vec<f64> = (0..n)
            .map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos())
            .collect();
        let gain: f64 = window.iter().sum();
        let magnitude = |f: f64| {
            let w = 2.0 * std::f64::consts::PI * f / rate;
            let (re, im) =
                x.iter().zip(&window).enumerate().fold((0.0, 0.0), |(re, im), (i, (&s, &h))| {
                    let v = f64::from(s) * h;
                    (re + v * (w * i as f64).cos(), im - v * (w * i as f64).sin())
                });
            2.0 * (re * re + im * im).sqrt() / gain
        };
        let coarse = (20..1580)
            .map(|k| k as f64 * 5.0)
            .max_by(|a, b| magnitude(*a).total_cmp(&magnitude(*b)));
        let coarse = coarse.unwrap();
        let fine = (-500..=500).map(|k| coarse + k as f64 * 0.01);
        let best = fine.max_by(|a, b| magnitude(*a).total_cmp(&magnitude(*b))).unwrap();
        (best, magnitude(best))
    }

    fn rms(x: &[f32]) -> f64 {
        (x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
    }

    fn sine(freq: f64, rate: f64, amplitude: f64, len: usize) -> Vec<f32> {
        (0..len)
            .map(|i| {
                (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / rate).sin()) as f32
            })
            .collect()
    }

    #[test]
    fn a_1khz_sine_keeps_frequency_and_level_from_48k_to_16k() {
        let input = sine(1000.0, 48000.0, 0.5, 48000);
        let output = resample(&input, 48000, 16000).unwrap();
        assert_eq!(output.len(), 16000);
        let middle = &output[2000..14000];
        let (freq, _) = tone(middle, 16000.0);
        assert!((freq - 1000.0).abs() < 1.0, "{freq} Hz");
        let db = 20.0 * (rms(middle) / rms(&input[6000..42000])).log10();
        assert!(db.abs() < 0.1, "level changed by {db} dB");
        // Aligned: the output at t equals the input sine at t.
        let expected = sine(1000.0, 16000.0, 0.5, 16000);
        let worst = middle
            .iter()
            .zip(&expected[2000..14000])
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst < 0.01, "largest deviation from the ideal sine: {worst}");
    }

    #[test]
    fn an_impulse_stays_in_place_and_lengths_round() {
        let mut input = vec![0.0f32; 44100];
        input[22050] = 1.0;
        let output = resample(&input, 44100, 16000).unwrap();
        assert_eq!(output.len(), 16000);
        let peak = output.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        assert_eq!(peak, 8000);
        assert_eq!(resampled_len(1001, 48000, 16000), 334);
        assert_eq!(resampled_len(1000, 48000, 16000), 333);
        assert_eq!(resample(&[0.1; 1001], 48000, 16000).unwrap().len(), 334);
        assert_eq!(resample(&[0.1; 7], 8000, 16000).unwrap().len(), 14);
        assert_eq!(resample(&[0.25, 0.5], 16000, 16000).unwrap(), vec![0.25, 0.5]);
    }

    /// The output level (dB) of a 1 s, 0.5-amplitude sine at `freq`, resampled from `from` to
    /// `to` Hz, measured away from the edges (an aliased tone's level above the new Nyquist).
    fn gain_db(freq: f64, from: u32, to: u32) -> f64 {
        let input = sine(freq, f64::from(from), 0.5, from as usize);
        let output = resample(&input, from, to).unwrap();
        let edge = to as usize / 8;
        let level = rms(&output[edge..to as usize - edge]) / (0.5 / 2.0f64.sqrt());
        20.0 * level.log10()
    }

    #[test]
    fn frequencies_above_the_new_nyquist_are_removed() {
        // 3:1 and a non-integer ratio: anything that would alias is at least 100 dB down (the
        // FFT resampler measures -145 dB and lower), 9 kHz at 48 kHz well past the 60 dB asked.
        for (from, freqs) in [
            (48000, [8500.0, 9000.0, 12000.0, 20000.0]),
            (44100, [8500.0, 9000.0, 12000.0, 20000.0]),
        ] {
            for freq in freqs {
                let db = gain_db(freq, from, 16000);
                assert!(db < -100.0, "{freq} Hz at {from} Hz leaks at {db:.1} dB");
            }
        }
        assert!(gain_db(9000.0, 48000, 16000) < -60.0);
    }

    #[test]
    fn the_passband_is_flat_within_a_tenth_of_a_db_to_7_khz() {
        for from in [48000, 44100, 22050] {
            for freq in [100.0, 440.0, 1000.0, 2500.0, 4000.0, 5500.0, 6500.0, 7000.0] {
                let db = gain_db(freq, from, 16000);
                assert!(db.abs() < 0.1, "{freq} Hz at {from} Hz changed by {db:.3} dB");
            }
        }
    }

    #[test]
    fn a_reused_resampler_gives_the_same_bytes_as_a_fresh_one() {
        let a = sine(440.0, 48000.0, 0.5, 10_000);
        let b = sine(3000.0, 44100.0, 0.3, 7_000);
        let mut reused = Resampler::default();
        let mut got = vec![1.0; 3];
        // Rates change between files, and the same rates come back after a reset.
        for (x, from) in [(&a, 48000), (&a, 48000), (&b, 44100), (&a, 48000)] {
            let expected = resample(x, from, 16000).unwrap();
            // The output buffer is reused too, with the previous signal still in it.
            reused.resample_into(x, from, 16000, &mut got).unwrap();
            let bits = |v: &[f32]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&expected), "{from} Hz");
        }
    }
}
