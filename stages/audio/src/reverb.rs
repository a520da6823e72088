//! Reverberation: a clip as heard in a room of a given reverberation time, by convolution with
//! a synthetic room impulse response.
//!
//! The response is Polack's statistical model of a diffuse field (Polack 1993, "Playing
//! billiards in the concert hall"; the late-reverberation model of Habets' and Lehmann's room
//! simulators): the direct sound, then Gaussian noise under an exponential envelope that falls
//! 60 dB in RT60 seconds. Its direct-to-reverberant ratio (DRR) is set, not derived from a room's
//! geometry: 0 dB is a talker at about the room's critical distance (a metre or two in a living
//! room), negative values farther away. A synthetic response needs no corpus of measured ones
//! and sweeps RT60 exactly, which is what a condition table needs; its noise is drawn from a
//! seed, so a clip hears the same room shape at every RT60.
//!
//! The output keeps the input's length (the tail past the end is cut, as a fixed-length clip
//! would be) and its mean power, so that a condition changes the room, not the level.

use rand_chacha::ChaCha8Rng;
use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

use crate::stats::{normals, power};

/// The impulse response of a room with reverberation time `rt60` seconds and a
/// direct-to-reverberant ratio of `drr_db`, at `rate` Hz: 1 (the direct sound), then the
/// decaying tail to -60 dB, its noise from `rng`.
pub(crate) fn impulse_response(rng: &mut ChaCha8Rng, rt60: f64, drr_db: f64, rate: u32) -> Vec<f64> {
    let length = (rt60 * f64::from(rate)).ceil().max(1.0) as usize;
    // Amplitude falls 60 dB (a factor 1000) over RT60: 10^(-3 n / (RT60 * rate)).
    let decay = 10f64.powf(-3.0 / (rt60 * f64::from(rate)));
    let mut tail = normals(rng, length);
    let mut envelope = 1.0;
    for t in &mut tail {
        envelope *= decay;
        *t *= envelope;
    }
    let energy: f64 = tail.iter().map(|t| t * t).sum();
    let scale = if energy > 0.0 { (10f64.powf(-drr_db / 10.0) / energy).sqrt() } else { 0.0 };
    std::iter::once(1.0).chain(tail.into_iter().map(|t| t * scale)).collect()
}

/// `signal` convolved with `response` (by FFT), cut to its own length and scaled back to its
/// mean power.
pub(crate) fn reverberate(planner: &mut RealFftPlanner<f64>, signal: &mut [f64], response: &[f64]) {
    let n = signal.len();
    if n == 0 {
        return;
    }
    let before = power(signal);
    // A power of two at least as long as the whole convolution: no wrap-around, fast plans.
    let size = (n + response.len() - 1).next_power_of_two();
    let forward = planner.plan_fft_forward(size);
    let inverse = planner.plan_fft_inverse(size);
    let spectrum_of = |x: &[f64]| -> Vec<Complex<f64>> {
        let mut padded = vec![0.0; size];
        padded[..x.len()].copy_from_slice(x);
        let mut spectrum = forward.make_output_vec();
        // The lengths come from the plan: the transform cannot fail.
        forward.process(&mut padded, &mut spectrum).expect("buffers sized by the forward plan");
        spectrum
    };
    let mut product = spectrum_of(signal);
    for (p, r) in product.iter_mut().zip(spectrum_of(response)) {
        *p *= r;
    }
    let mut wet = vec![0.0; size];
    inverse.process(&mut product, &mut wet).expect("buffers sized by the inverse plan");
    let after = power(&wet[..n]);
    let scale = if after > 0.0 { (before / after).sqrt() } else { 0.0 };
    for (s, w) in signal.iter_mut().zip(&wet) {
        *s = w * scale;
    }
}

/// A measured impulse response from its direct sound on: the samples before its largest
/// magnitude (the measurement's lead-in and the sound's time of flight) dropped, so that a clip
/// heard in it starts when it did, as Kaldi's reverberation aligns responses. `None` when it
/// holds only zeros.
pub(crate) fn from_direct_sound(mut response: Vec<f64>) -> Option<Vec<f64>> {
    let peak = response.iter().enumerate().max_by(|a, b| a.1.abs().total_cmp(&b.1.abs())).map(|(i, _)| i)?;
    if response[peak] == 0.0 {
        return None;
    }
    response.drain(..peak);
    Some(response)
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_measured_response_starts_at_its_direct_sound() {
        assert_eq!(from_direct_sound(vec![0.0, 0.01, -0.02, 0.9, 0.3, -0.5]), Some(vec![0.9, 0.3, -0.5]));
        assert_eq!(from_direct_sound(vec![0.0, -1.0, 0.5]), Some(vec![-1.0, 0.5]), "a negative peak is the direct sound too");
        assert_eq!(from_direct_sound(vec![0.0; 4]), None);
        assert_eq!(from_direct_sound(vec![]), None);
    }
    use rand::SeedableRng;

    use super::*;

    /// RT60 read from `response` as acousticians measure it: Schroeder's backward-integrated
    /// energy decay, its slope fitted (least squares) between -5 and -25 dB (T20), times 3.
    fn measured_rt60(response: &[f64], rate: u32) -> f64 {
        let mut remaining: Vec<f64> = response.iter().rev().scan(0.0, |sum, h| {
            *sum += h * h;
            Some(*sum)
        }).collect();
        remaining.reverse();
        let db: Vec<f64> = remaining.iter().map(|e| 10.0 * (e / remaining[0]).log10()).collect();
        let points: Vec<(f64, f64)> =
            db.iter().enumerate().filter(|(_, d)| (-25.0..=-5.0).contains(*d)).map(|(i, &d)| (i as f64 / f64::from(rate), d)).collect();
        let n = points.len() as f64;
        let (mt, md) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
        let slope = points.iter().map(|(t, d)| (t - mt) * (d - md)).sum::<f64>() / points.iter().map(|(t, _)| (t - mt).powi(2)).sum::<f64>();
        -60.0 / slope
    }

    #[test]
    fn the_response_decays_in_its_rt60_with_its_direct_to_reverberant_ratio() {
        for (rt60, drr) in [(0.3, 0.0), (0.8, -6.0), (1.5, 6.0)] {
            let response = impulse_response(&mut ChaCha8Rng::seed_from_u64(5), rt60, drr, 16000);
            assert_eq!(response.len(), 1 + (rt60 * 16000.0).ceil() as usize);
            assert_eq!(response[0], 1.0, "the direct sound");
            let measured = measured_rt60(&response, 16000);
            assert!((measured / rt60 - 1.0).abs() < 0.05, "RT60 {rt60} s measured {measured:.3} s");
            let reverberant: f64 = response[1..].iter().map(|h| h * h).sum();
            assert!((10.0 * (1.0 / reverberant).log10() - drr).abs() < 1e-9, "DRR {drr} dB");
        }
        // The same draw at every RT60: the tails differ by their envelope only.
        let short = impulse_response(&mut ChaCha8Rng::seed_from_u64(5), 0.3, 0.0, 16000);
        let long = impulse_response(&mut ChaCha8Rng::seed_from_u64(5), 0.6, 0.0, 16000);
        assert_eq!(short[1].signum(), long[1].signum());
        let ratio = |k: usize| short[k] / long[k];
        assert!((ratio(1) / ratio(2) - ratio(2) / ratio(3)).abs() < 1e-9, "a constant factor per sample between the envelopes");
    }

    #[test]
    fn reverberating_is_convolving_cut_to_length_at_the_same_power() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let signal: Vec<f64> = normals(&mut rng, 300);
        let response = impulse_response(&mut rng, 0.01, 0.0, 16000);
        let direct: Vec<f64> =
            (0..signal.len()).map(|i| (0..=i.min(response.len() - 1)).map(|k| response[k] * signal[i - k]).sum()).collect();
        let mut wet = signal.clone();
        reverberate(&mut RealFftPlanner::new(), &mut wet, &response);
        let scale = (power(&signal) / power(&direct)).sqrt();
        let off = wet.iter().zip(&direct).map(|(w, d)| (w - d * scale).abs()).fold(0.0, f64::max);
        assert!(off < 1e-12, "{off}");
        assert!((power(&wet) / power(&signal) - 1.0).abs() < 1e-12);
        assert_ne!(wet, signal);
    }
}
