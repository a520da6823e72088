//! A small source-filter speech synthesizer: Rosenberg glottal pulses with jitter and shimmer,
//! a spectral-tilt low-pass, aspiration noise, a cascade of five formant resonators gliding
//! between vowel targets, syllable envelopes with consonant noise bursts and pauses, and
//! leading and trailing silence over a faint noise floor.

use std::f64::consts::PI;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A vowel's first three formants, Hz, for an adult male vocal tract (Peterson & Barney 1952).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Vowel(pub [f64; 3]);

const I_SHORT: Vowel = Vowel([390.0, 1990.0, 2550.0]);
const A_BACK: Vowel = Vowel([730.0, 1090.0, 2440.0]);
const O_OPEN: Vowel = Vowel([570.0, 840.0, 2410.0]);
const A_DIPH: Vowel = Vowel([750.0, 1350.0, 2500.0]);
const SCHWA: Vowel = Vowel([500.0, 1500.0, 2500.0]);

/// The vowels of RAVDESS' two statements, one per syllable:
/// "Kids are talking by the door" and "Dogs are sitting by the door".
pub(crate) const STATEMENTS: [[Vowel; 7]; 2] = [
    [I_SHORT, A_BACK, O_OPEN, I_SHORT, A_DIPH, SCHWA, O_OPEN],
    [O_OPEN, A_BACK, I_SHORT, I_SHORT, A_DIPH, SCHWA, O_OPEN],
];

/// Stressed syllables of both statements (KIDS are TALK-ing BY the DOOR).
const STRESSED: [bool; 7] = [true, false, true, false, true, false, true];
/// The syllable after which a phrase pause may fall (after "talking" / "sitting").
const PHRASE_BREAK: usize = 3;
/// Fixed upper formants F4 and F5 (male), Hz.
const UPPER_FORMANTS: [f64; 2] = [3500.0, 4500.0];
/// Formant bandwidths F1..F5, Hz.
const BANDWIDTHS: [f64; 5] = [80.0, 90.0, 120.0, 200.0, 250.0];
/// Centre and bandwidth of the consonant noise resonance (male), Hz.
const FRICATION: (f64, f64) = (3000.0, 1500.0);
/// Speech RMS at 0 dB `level_db`, full scale = 1.
const REFERENCE_RMS: f64 = 0.03;
/// Consonant noise RMS relative to the vowel RMS.
const FRICATION_RATIO: f64 = 0.12;
/// Amplitude of the uniform noise floor under the whole clip.
const NOISE_FLOOR: f64 = 1e-4;
/// Pitch fall over the utterance (declination), semitones.
const DECLINATION_ST: f64 = 2.0;
/// Mean of `accent * sin(pi u)` over a statement, subtracted so the contour centres on F0.
const ACCENT_MEAN: f64 = 0.37;

/// How an utterance is spoken.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Prosody {
    /// Central pitch, Hz.
    pub f0_hz: f64,
    /// Pitch accent size, semitones.
    pub range_st: f64,
    /// Pitch movement over the last syllable, semitones (positive rises).
    pub final_st: f64,
    /// Speech level relative to the reference, dB.
    pub level_db: f64,
    /// Speaking rate, syllables per second.
    pub rate: f64,
    /// Period-to-period F0 perturbation, relative standard deviation.
    pub jitter: f64,
    /// Period-to-period amplitude perturbation, relative standard deviation.
    pub shimmer: f64,
    /// Glottal effort, 0 (lax, steep spectral tilt) to 1 (pressed, flat spectrum).
    pub tilt: f64,
    /// Aspiration noise level relative to the pulses.
    pub breath: f64,
    /// Formant frequency factor (vocal tract length; about 1.16 for women).
    pub formant_scale: f64,
}

/// A standard normal draw (Box-Muller).
pub(crate) fn gauss(rng: &mut ChaCha8Rng) -> f64 {
    let u: f64 = rng.random_range(f64::EPSILON..1.0);
    let v: f64 = rng.random();
    (-2.0 * u.ln()).sqrt() * (2.0 * PI * v).cos()
}

/// A two-pole resonator (Klatt 1980) with unity gain at 0 Hz.
#[derive(Clone, Copy, Debug, Default)]
struct Resonator {
    a: f64,
    b: f64,
    c: f64,
    y1: f64,
    y2: f64,
}

impl Resonator {
    fn tune(&mut self, freq: f64, bandwidth: f64, sample_rate: f64) {
        let r = (-PI * bandwidth / sample_rate).exp();
        self.c = -r * r;
        self.b = 2.0 * r * (2.0 * PI * freq / sample_rate).cos();
        self.a = 1.0 - self.b - self.c;
    }

    fn step(&mut self, x: f64) -> f64 {
        let y = self.a * x + self.b * self.y1 + self.c * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// Rosenberg (1971) glottal flow at `phase` in [0, 1): a raised-cosine opening over `open`,
/// a quarter-cosine closing over `close`, then closed.
fn rosenberg(phase: f64, open: f64, close: f64) -> f64 {
    if phase < open {
        0.5 * (1.0 - (PI * phase / open).cos())
    } else if phase < open + close {
        (0.5 * PI * (phase - open) / close).cos()
    } else {
        0.0
    }
}

/// A cosine ramp from 0 at `from` to 1 at `to`.
fn ramp(x: f64, from: f64, to: f64) -> f64 {
    let t = ((x - from) / (to - from)).clamp(0.0, 1.0);
    0.5 - 0.5 * (PI * t).cos()
}

/// One syllable's timing and accent.
struct Syllable {
    /// First sample.
    start: usize,
    /// Length, samples.
    len: usize,
    /// Silence after the syllable, samples.
    gap: usize,
    /// Pitch-accent and loudness weight, 0..1 (stressed syllables 0.7..1).
    accent: f64,
    /// Strength of the consonant noise burst at the onset, 0..1.
    consonant: f64,
}

/// Lays the syllables out in time: durations from the rate, phrase-final lengthening, a
/// phrase pause, compressed if needed to fit `duration` with 0.1 s margins.
fn layout(
    n: usize,
    prosody: &Prosody,
    duration: f64,
    sample_rate: f64,
    rng: &mut ChaCha8Rng,
) -> Vec<Syllable> {
    let mut lens: Vec<f64> = (0..n)
        .map(|i| rng.random_range(0.8..1.2) / prosody.rate * if i + 1 == n { 1.3 } else { 1.0 })
        .collect();
    let mut gaps: Vec<f64> = (0..n)
        .map(|i| match i {
            _ if i + 1 == n => 0.0,
            PHRASE_BREAK => rng.random_range(0.06..0.18) * 4.0 / prosody.rate,
            _ => rng.random_range(0.0..0.03),
        })
        .collect();
    let speech: f64 = lens.iter().chain(&gaps).sum();
    let fit = ((duration - 0.2) / speech).min(1.0);
    lens.iter_mut().chain(gaps.iter_mut()).for_each(|d| *d *= fit);
    let speech = speech * fit;
    let lead = rng.random_range(0.2..0.6f64).min(duration - speech - 0.1).max(0.1);
    let mut start = (lead * sample_rate) as usize;
    (0..n)
        .map(|i| {
            let syllable = Syllable {
                start,
                len: ((lens[i] * sample_rate) as usize).max(1),
                gap: (gaps[i] * sample_rate) as usize,
                accent: if STRESSED[i % STRESSED.len()] {
                    rng.random_range(0.7..1.0)
                } else {
                    rng.random_range(0.1..0.35)
                },
                consonant: rng.random_range(0.3..1.0),
            };
            start += syllable.len + syllable.gap;
            syllable
        })
        .collect()
}

/// Root mean square of `x` over the samples where `mask` is positive.
fn masked_rms(x: &[f64], mask: &[f64]) -> f64 {
    let (sum, count) = x
        .iter()
        .zip(mask)
        .filter(|(_, m)| **m > 0.0)
        .fold((0.0, 0usize), |(s, c), (v, _)| (s + v * v, c + 1));
    if count == 0 { 0.0 } else { (sum / count as f64).sqrt() }
}

/// The glottal source: Rosenberg pulses whose F0 (jitter) and amplitude (shimmer) are drawn
/// afresh at the start of every period, differentiated for lip radiation.
struct Glottis {
    phase: f64,
    increment: f64,
    amplitude: f64,
    period_f0: f64,
    previous_flow: f64,
    /// Closing phase as a share of the period: shorter when pressed.
    close: f64,
}

/// Opening phase of the Rosenberg pulse as a share of the period.
const OPEN_PHASE: f64 = 0.4;

impl Glottis {
    fn new(tilt: f64) -> Self {
        Self {
            phase: 0.0,
            increment: 0.0,
            amplitude: 1.0,
            period_f0: 100.0,
            previous_flow: 0.0,
            close: 0.10 + 0.20 * (1.0 - tilt),
        }
    }

    /// Advances one sample and returns the excitation (flow derivative, about unit peak) and
    /// the flow; `f0` gives the pitch when a new period starts.
    fn step(
        &mut self,
        f0: impl FnOnce() -> f64,
        prosody: &Prosody,
        sample_rate: f64,
        rng: &mut ChaCha8Rng,
    ) -> (f64, f64) {
        self.phase += self.increment;
        if self.phase >= 1.0 || self.increment == 0.0 {
            self.phase = self.phase.fract();
            self.period_f0 = (f0() * (1.0 + prosody.jitter * gauss(rng))).max(20.0);
            self.increment = self.period_f0 / sample_rate;
            self.amplitude = (1.0 + prosody.shimmer * gauss(rng)).max(0.0);
        }
        let flow = self.amplitude * rosenberg(self.phase, OPEN_PHASE, self.close);
        let excitation = (flow - self.previous_flow) * sample_rate / self.period_f0;
        self.previous_flow = flow;
        (excitation, flow)
    }
}

/// Five cascaded formant resonators.
struct VocalTract {
    resonators: [Resonator; 5],
    /// Formant frequency factor.
    scale: f64,
    sample_rate: f64,
}

impl VocalTract {
    /// Sets F1..F3 to `vowel` (male values, scaled) and F4, F5 to their fixed values, all kept
    /// below 0.45 of the sample rate.
    fn tune(&mut self, vowel: [f64; 3]) {
        let formants = vowel.into_iter().chain(UPPER_FORMANTS);
        for ((resonator, freq), bandwidth) in
            self.resonators.iter_mut().zip(formants).zip(BANDWIDTHS)
        {
            let freq = (freq * self.scale).min(0.45 * self.sample_rate);
            resonator.tune(freq, bandwidth, self.sample_rate);
        }
    }

    fn step(&mut self, x: f64) -> f64 {
        self.resonators.iter_mut().fold(x, |x, r| r.step(x))
    }
}

/// The pitch of `syllable` at position `u` (0..1 within the syllable, beyond 1 in
/// the pause after it) and `progress` (0..1 through the utterance), semitones from F0: the
/// accent, the declination and, on the last syllable, the final rise or fall.
fn semitones(prosody: &Prosody, syllable: &Syllable, last: bool, u: f64, progress: f64) -> f64 {
    let u = u.min(1.0);
    let accent = prosody.range_st * (syllable.accent * (PI * u).sin() - ACCENT_MEAN);
    let declination = DECLINATION_ST * (0.5 - progress);
    let final_movement = if last { prosody.final_st * u * u } else { 0.0 };
    accent + declination + final_movement
}

/// The voiced envelope of a syllable at position `u`: rises over 15..35%, falls over 75..100%,
/// louder when accented; silent in the pause after it.
fn voiced_envelope(syllable: &Syllable, u: f64) -> f64 {
    if u >= 1.0 {
        return 0.0;
    }
    (0.7 + 0.3 * syllable.accent) * ramp(u, 0.15, 0.35) * (1.0 - ramp(u, 0.75, 1.0))
}

/// The consonant noise envelope of a syllable: a half-sine over its first quarter.
fn consonant_envelope(syllable: &Syllable, u: f64) -> f64 {
    if u < 0.25 { syllable.consonant * (PI * u / 0.25).sin() } else { 0.0 }
}

/// Speaks `vowels` (one syllable each) with `prosody`, as `duration` seconds at `sample_rate`.
pub(crate) fn render(
    vowels: &[Vowel],
    prosody: &Prosody,
    duration: f64,
    sample_rate: u32,
    rng: &mut ChaCha8Rng,
) -> Vec<f32> {
    let sr = f64::from(sample_rate);
    let total = (duration * sr).round() as usize;
    let syllables = layout(vowels.len(), prosody, duration, sr, rng);
    let speech_start = syllables.first().map_or(0, |s| s.start);
    let speech_end = syllables.last().map_or(0, |s| s.start + s.len).min(total);
    let speech_len = (speech_end - speech_start).max(1) as f64;

    let mut glottis = Glottis::new(prosody.tilt);
    let mut tract = VocalTract {
        resonators: [Resonator::default(); 5],
        scale: prosody.formant_scale,
        sample_rate: sr,
    };
    let mut fricative = Resonator::default();
    let (fric_freq, fric_bw) = FRICATION;
    fricative.tune((fric_freq * prosody.formant_scale).min(0.4 * sr), fric_bw, sr);
    // A one-pole low-pass from 500 Hz (lax) to 8 kHz (pressed) sets the spectral tilt.
    let tilt_pole = (-2.0 * PI * 500.0 * 2f64.powf(4.0 * prosody.tilt) / sr).exp();
    let mut tilted = 0.0;

    let mut voiced = vec![0.0f64; total];
    let mut noise = vec![0.0f64; total];
    let mut voiced_env = vec![0.0f64; total];
    let mut noise_env = vec![0.0f64; total];
    for (i, syllable) in syllables.iter().enumerate() {
        let (target, previous) = (vowels[i].0, vowels[i.saturating_sub(1)].0);
        let last = i + 1 == syllables.len();
        let end = (syllable.start + syllable.len + syllable.gap).min(total);
        for k in syllable.start..end {
            let u = (k - syllable.start) as f64 / syllable.len as f64;
            // Formants glide from the previous vowel over the first 40% of the syllable.
            if (k - syllable.start) % 16 == 0 {
                let glide = ramp(u, 0.0, 0.4);
                tract
                    .tune(std::array::from_fn(|j| previous[j] + (target[j] - previous[j]) * glide));
            }
            let progress = (k - speech_start) as f64 / speech_len;
            let f0 = || {
                prosody.f0_hz * 2f64.powf(semitones(prosody, syllable, last, u, progress) / 12.0)
            };
            let (excitation, flow) = glottis.step(f0, prosody, sr, rng);
            let aspiration = prosody.breath * 4.0 * rng.random_range(-1.0..1.0) * (0.3 + flow);
            tilted = (1.0 - tilt_pole) * (excitation + aspiration) + tilt_pole * tilted;
            voiced_env[k] = voiced_envelope(syllable, u);
            voiced[k] = tract.step(tilted * voiced_env[k]);
            noise_env[k] = consonant_envelope(syllable, u);
            noise[k] = fricative.step(noise_env[k] * rng.random_range(-1.0..1.0));
        }
    }

    let target = REFERENCE_RMS * 10f64.powf(prosody.level_db / 20.0);
    let voiced_gain = target / masked_rms(&voiced, &voiced_env).max(1e-12);
    let noise_gain = FRICATION_RATIO * target / masked_rms(&noise, &noise_env).max(1e-12);
    voiced
        .iter()
        .zip(&noise)
        .map(|(v, n)| {
            let floor = NOISE_FLOOR * rng.random_range(-1.0..1.0);
            (v * voiced_gain + n * noise_gain + floor) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::median_f0;
    use rand::SeedableRng;

    fn prosody(f0_hz: f64) -> Prosody {
        Prosody {
            f0_hz,
            range_st: 0.0,
            final_st: 0.0,
            level_db: 0.0,
            rate: 4.0,
            jitter: 0.0,
            shimmer: 0.0,
            tilt: 0.5,
            breath: 0.02,
            formant_scale: 1.0,
        }
    }

    #[test]
    fn a_monotone_voice_has_its_f0_and_level() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut flat = prosody(150.0);
        flat.range_st = 0.0;
        let x = render(&STATEMENTS[0], &flat, 3.0, 16000, &mut rng);
        assert_eq!(x.len(), 48000);
        let f0 = median_f0(&x, 16000);
        // Declination spans +-1 semitone around the centre.
        assert!((f0 - 150.0).abs() < 150.0 * 0.03, "{f0} Hz");
        // Leading and trailing silence hold only the noise floor.
        assert!(x[..1600].iter().all(|s| s.abs() <= 1e-4));
        assert!(x[x.len() - 1600..].iter().all(|s| s.abs() <= 1e-4));
        let loud = render(
            &STATEMENTS[0],
            &Prosody { level_db: 6.0, ..flat.clone() },
            3.0,
            16000,
            &mut rng,
        );
        let energy = |x: &[f32]| x.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>();
        let gain_db = 10.0 * (energy(&loud) / energy(&x)).log10();
        assert!((gain_db - 6.0).abs() < 1.0, "{gain_db} dB");
    }

    #[test]
    fn pitch_follows_the_prosody() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for f0 in [100.0, 220.0, 300.0] {
            let x = render(
                &STATEMENTS[1],
                &Prosody { jitter: 0.01, ..prosody(f0) },
                3.0,
                16000,
                &mut rng,
            );
            let measured = median_f0(&x, 16000);
            assert!((measured - f0).abs() < f0 * 0.04, "{measured} Hz for {f0} Hz");
        }
    }
}
