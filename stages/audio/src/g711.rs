//! ITU-T G.711, the telephone network's 8 kHz, 8-bit coding: mu-law (North America, Japan) and
//! A-law (Europe and most of the world). `degrade`'s `codec` condition codes a clip with it and
//! decodes it again, so a model is scored on what a call would carry.
//!
//! The code is that of the reference implementation published with the standard (Sun
//! Microsystems' `g711.c`, also libsndfile's and SoX's): 16-bit samples in, one byte out, with
//! mu-law on 14 bits and A-law on 13. Written here rather than taken from a crate: it is forty
//! lines, and symphonia (which vox decodes such WAV files with) only decodes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A G.711 companding law.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum Law {
    /// mu-law (mu = 255): North American and Japanese telephony.
    #[serde(rename = "mu-law")]
    Mu,
    /// A-law (A = 87.6): European and most other telephony.
    #[serde(rename = "a-law")]
    A,
}

/// Segment ends of mu-law's 14-bit input (with the bias added).
const MU_ENDS: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
/// Segment ends of A-law's 13-bit input.
const A_ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
/// mu-law's bias, on the 16-bit scale.
const MU_BIAS: i32 = 0x84;
/// mu-law's largest magnitude on 14 bits, before the bias.
const MU_CLIP: i32 = 8159;

/// The segment of `value`: the first end it does not pass, 8 above them all.
fn segment(value: i32, ends: &[i32; 8]) -> i32 {
    ends.iter().position(|&end| value <= end).unwrap_or(8) as i32
}

impl Law {
    /// Its name in params and manifests: `mu-law`, `a-law`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Mu => "mu-law",
            Self::A => "a-law",
        }
    }

    /// The code of the 16-bit sample `pcm`.
    pub(crate) fn encode(self, pcm: i16) -> u8 {
        match self {
            Self::Mu => {
                let value = i32::from(pcm) >> 2;
                let (magnitude, mask) = if value < 0 { (-value, 0x7F) } else { (value, 0xFF) };
                let biased = magnitude.min(MU_CLIP) + (MU_BIAS >> 2);
                let seg = segment(biased, &MU_ENDS);
                let code = if seg >= 8 { 0x7F } else { (seg << 4) | ((biased >> (seg + 1)) & 0xF) };
                (code ^ mask) as u8
            }
            Self::A => {
                let value = i32::from(pcm) >> 3;
                let (magnitude, mask) = if value >= 0 { (value, 0xD5) } else { (-value - 1, 0x55) };
                let seg = segment(magnitude, &A_ENDS);
                let code = if seg >= 8 {
                    0x7F
                } else {
                    let shift = if seg < 2 { 1 } else { seg };
                    (seg << 4) | ((magnitude >> shift) & 0xF)
                };
                (code ^ mask) as u8
            }
        }
    }

    /// The 16-bit sample code `code` stands for.
    pub(crate) fn decode(self, code: u8) -> i16 {
        match self {
            Self::Mu => {
                let u = i32::from(!code);
                let t = (((u & 0xF) << 3) + MU_BIAS) << ((u & 0x70) >> 4);
                (if u & 0x80 != 0 { MU_BIAS - t } else { t - MU_BIAS }) as i16
            }
            Self::A => {
                let a = i32::from(code ^ 0x55);
                let seg = (a & 0x70) >> 4;
                let mut t = (a & 0xF) << 4;
                t = match seg {
                    0 => t + 8,
                    1 => t + 0x108,
                    _ => (t + 0x108) << (seg - 1),
                };
                (if a & 0x80 != 0 { t } else { -t }) as i16
            }
        }
    }

    /// `samples` (within ±1) coded and decoded in place: what the far end of the line hears.
    /// Values beyond ±1 clip, as a converter's would.
    pub(crate) fn round_trip(self, samples: &mut [f32]) {
        for s in samples {
            let pcm = (f64::from(*s) * 32768.0).round().clamp(-32768.0, 32767.0) as i16;
            *s = f32::from(self.decode(self.encode(pcm))) / 32768.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::audio_file::AudioBuffers;
    use crate::wav::Downmix;

    /// The samples of the first channel of a 2-channel 8-bit WAV's data chunk, as codes.
    fn codes_of_first_channel(path: &Path) -> Vec<u8> {
        let bytes = std::fs::read(path).unwrap();
        let at = bytes.windows(4).position(|w| w == b"data").unwrap();
        let size = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
        bytes[at + 8..at + 8 + size].iter().step_by(2).copied().collect()
    }

    #[test]
    fn decoding_matches_symphonia_and_libsndfile_on_real_files() {
        // The fixtures were written by libsndfile (`scripts/make_codec_fixtures.py`);
        // symphonia decodes them as libsndfile does (audio_file's test).
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/codecs");
        for (name, law) in [("stereo8k_ulaw.wav", Law::Mu), ("stereo8k_alaw.wav", Law::A)] {
            let path = fixtures.join(name);
            let codes = codes_of_first_channel(&path);
            let mut buffers = AudioBuffers::default();
            let (theirs, rate) = buffers.read_mono(&path, Downmix::Channel(0)).unwrap();
            assert_eq!((theirs.len(), rate), (codes.len(), 8000), "{name}");
            let distinct: std::collections::HashSet<u8> = codes.iter().copied().collect();
            assert!(distinct.len() > 100, "{name}: the file exercises {} codes", distinct.len());
            for (&code, &sample) in codes.iter().zip(theirs) {
                assert_eq!(f32::from(law.decode(code)) / 32768.0, sample, "{name}: code {code:#04x}");
            }
        }
    }

    #[test]
    fn every_code_survives_encoding_its_value_and_the_steps_are_the_standards() {
        for law in [Law::Mu, Law::A] {
            for code in 0..=255u8 {
                let value = law.decode(code);
                let again = law.encode(value);
                // mu-law has two zeros (0x7F and 0xFF); 0 codes as 0xFF.
                let expected = if law == Law::Mu && code == 0x7F { 0xFF } else { code };
                assert_eq!(again, expected, "{law:?}: code {code:#04x} decodes to {value}");
            }
        }
        // The loudest codes and the smallest steps (G.711 tables 1a and 1b, on 16 bits).
        assert_eq!((Law::Mu.decode(0x80), Law::Mu.decode(0x00), Law::Mu.decode(0xFE)), (32124, -32124, 8));
        assert_eq!((Law::A.decode(0xAA), Law::A.decode(0x2A), Law::A.decode(0xD5)), (32256, -32256, 8));
        assert_eq!((Law::Mu.encode(i16::MAX), Law::Mu.encode(i16::MIN)), (0x80, 0x00));
        assert_eq!((Law::A.encode(i16::MAX), Law::A.encode(i16::MIN)), (0xAA, 0x2A));
    }

    #[test]
    fn every_sample_codes_to_a_level_beside_it() {
        // Each 16-bit value lands on one of the two decoded levels around it (the standard's
        // decision intervals lie between them), and beyond the loudest level on that level.
        for law in [Law::Mu, Law::A] {
            let mut levels: Vec<i32> = (0..=255u8).map(|c| i32::from(law.decode(c))).collect();
            levels.sort_unstable();
            levels.dedup();
            for v in i32::from(i16::MIN)..=i32::from(i16::MAX) {
                let got = i32::from(law.decode(law.encode(v as i16)));
                let above = levels.partition_point(|&l| l < v);
                let beside = [above.checked_sub(1).map(|k| levels[k]), levels.get(above).copied()];
                assert!(beside.contains(&Some(got)), "{law:?}: {v} coded as {got}, levels {beside:?}");
            }
        }
    }

    #[test]
    fn a_round_trip_keeps_a_loud_signal_to_the_codings_precision() {
        // 8 bits of companding: about 38 dB of SNR on a full-scale sine, at every level within
        // the law's range; a linear 8-bit coder would lose 6 dB per halving of the level.
        for law in [Law::Mu, Law::A] {
            for amplitude in [0.9f64, 0.1, 0.01] {
                let clean: Vec<f32> = (0..8000).map(|i| (amplitude * (f64::from(i) * 0.0371).sin()) as f32).collect();
                let mut coded = clean.clone();
                law.round_trip(&mut coded);
                let error: f64 = clean.iter().zip(&coded).map(|(a, b)| f64::from(a - b).powi(2)).sum();
                let signal: f64 = clean.iter().map(|a| f64::from(*a).powi(2)).sum();
                let snr = 10.0 * (signal / error).log10();
                assert!((30.0..45.0).contains(&snr), "{law:?} at {amplitude}: {snr:.1} dB");
            }
        }
    }
}
