//! Waveform perturbations shared by `augment` (random copies of train clips) and `degrade`
//! (test clips under fixed conditions): speed (band-limited resampling of the content),
//! reverberation (a room of a given RT60, [`crate::reverb`]), additive noise at an SNR against
//! the content's power (generated white or pink, or a stretch of a noise recording, looped), a
//! band-pass (a telephone channel's 300-3400 Hz), a telephone codec (G.711 at 8 kHz,
//! [`crate::g711`]), gain, clipping. They apply from a clip's first to its last nonzero sample, so a
//! padded clip's zeros stay zeros.

use std::collections::BTreeMap;

use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::{AudioSet, Clip, Manifest};
use vox_api::{ParamError, PlannedInput, StageContext};

use realfft::RealFftPlanner;
use realfft::num_complex::Complex;

use crate::error::AudioError;
use crate::g711::Law;
use crate::parallel::for_each_in_order;
use crate::resample::Resampler;
use crate::reverb::{from_direct_sound, impulse_response, reverberate};
use crate::stats::{normals, power};
use crate::sample_file::{SampleFile, bytes_from_samples, samples_from_bytes};
use crate::set_writer::SampleWriter;

/// Clips per parallel batch (at least): a few per thread for load balance.
const BATCH: usize = 64;

/// Generated noise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NoiseColour {
    /// Equal power per Hz.
    White,
    /// Power falling 3 dB per octave, as much of the world's background noise.
    Pink,
}

/// What a stage's second input holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SecondInput {
    /// Recordings of noise (MUSAN, DEMAND, a room's hum), added at `noise_snr`.
    #[default]
    Noise,
    /// Measured room impulse responses (a decoded RIRS_NOISES, BUT ReverbDB, ACE): clips are
    /// heard in them.
    Rooms,
}

impl SecondInput {
    fn name(self) -> &'static str {
        match self {
            Self::Noise => "noise",
            Self::Rooms => "rooms",
        }
    }
}

/// Where a copy's noise comes from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum NoiseSource {
    /// Generated from this seed.
    Generated(u64),
    /// The noise input's clip `clip`, from its sample `start` on (looped).
    Clip { clip: usize, start: u64 },
}

/// A stage's second input, opened: recordings of noise to add or of rooms to hear clips in.
pub(crate) struct Recordings {
    /// What they are.
    pub(crate) role: SecondInput,
    /// Their samples.
    pub(crate) file: SampleFile,
    /// Their clips that hold samples.
    pub(crate) clips: Vec<Clip>,
}

impl Recordings {
    /// The second input of `ctx`, if there is one, checked: noise needs a level to add it at
    /// (`has_snr`); samples, and clips within the file.
    pub(crate) fn open(ctx: &StageContext, role: SecondInput, has_snr: bool) -> Result<Option<Self>, AudioError> {
        let Some(input) = ctx.inputs.get(1) else { return Ok(None) };
        if role == SecondInput::Noise && !has_snr {
            return Err(AudioError::NoiseWithoutSnr { input: input.name.clone() });
        }
        let Manifest { mut clips, .. } = AudioSet::read_manifest(&input.dir)?;
        clips.retain(|c| c.length > 0);
        if clips.is_empty() {
            return Err(AudioError::NoRecordings { input: input.name.clone(), role: role.name() });
        }
        let file = SampleFile::open(&input.dir)?;
        for clip in &clips {
            file.check(clip)?;
        }
        Ok(Some(Self { role, file, clips }))
    }

    /// Its noise clips: none when it holds rooms.
    pub(crate) fn noise(this: Option<&Self>) -> &[Clip] {
        this.filter(|r| r.role == SecondInput::Noise).map_or(&[], |r| r.clips.as_slice())
    }

    /// Its rooms: none when it holds noise.
    pub(crate) fn rooms(this: Option<&Self>) -> &[Clip] {
        this.filter(|r| r.role == SecondInput::Rooms).map_or(&[], |r| r.clips.as_slice())
    }
}

/// The plan-time checks of a stage's second input (of `inputs`, if any) holding `role`: rooms
/// need the input; noise needs a level (`has_snr`), and generated noise (`colour_set`) beside
/// it is one noise too many.
pub(crate) fn check_second_input(inputs: &[PlannedInput], role: SecondInput, has_snr: bool, colour_set: bool) -> Result<(), ParamError> {
    let Some(second) = inputs.get(1) else {
        if role == SecondInput::Rooms {
            let message = "`second_input = \"rooms\"` needs a second input: the impulse responses (`inputs = [\"split\", \"rooms\"]`)";
            return Err(ParamError::new("second_input", message));
        }
        return Ok(());
    };
    if role == SecondInput::Rooms {
        return Ok(());
    }
    if !has_snr {
        return Err(ParamError::new("", AudioError::NoiseWithoutSnr { input: second.name.to_string() }.to_string()));
    }
    if colour_set {
        let message = format!("`noise` generates noise, but input `{}` is the noise to add: leave one out", second.name);
        return Err(ParamError::new("noise", message));
    }
    Ok(())
}

/// The check of a `band_hz` list: at least one band, each `[low, high]` with `0 <= low < high`.
pub(crate) fn check_bands(bands: &[[f64; 2]]) -> Result<(), ParamError> {
    if bands.is_empty() {
        return Err(ParamError::new("band_hz", "needs at least one band (leave it out for none)"));
    }
    if let Some([low, high]) = bands.iter().find(|[low, high]| !(low.is_finite() && high.is_finite() && 0.0 <= *low && low < high)) {
        return Err(ParamError::new("band_hz", format!("each band is `[low, high]` in Hz with 0 <= low < high, got [{low}, {high}]")));
    }
    Ok(())
}

/// The band `[low, high]` Hz fits `clip`: its high edge is at most half the clip's rate.
pub(crate) fn check_band_fits(low: f64, high: f64, clip: &Clip) -> Result<(), AudioError> {
    if high > f64::from(clip.sample_rate) / 2.0 {
        return Err(AudioError::BandAboveNyquist { low, high, file_id: clip.file_id.clone(), rate: clip.sample_rate });
    }
    Ok(())
}

/// Where a copy's noise comes from, drawn from `rng`: generated from a drawn seed without
/// noise clips, else a drawn clip of them from a drawn sample on.
pub(crate) fn draw_source(rng: &mut ChaCha8Rng, noise_clips: &[Clip]) -> NoiseSource {
    if noise_clips.is_empty() {
        NoiseSource::Generated(rng.random())
    } else {
        let clip = rng.random_range(0..noise_clips.len());
        NoiseSource::Clip { clip, start: rng.random_range(0..noise_clips[clip].length.max(1)) }
    }
}

/// `perturbation` can be applied to `clip`: the recording its noise or room comes from (of
/// `recordings`) must be at the clip's sample rate.
pub(crate) fn check_rates(perturbation: &Perturbation, recordings: &[Clip], clip: &Clip) -> Result<(), AudioError> {
    let noise = match perturbation.noise {
        Some((_, NoiseSource::Clip { clip: k, .. })) => Some((k, "noise")),
        _ => None,
    };
    let room = match perturbation.room {
        Some(Room::Recorded { clip: k }) => Some((k, "room")),
        _ => None,
    };
    for (k, what) in noise.into_iter().chain(room) {
        if recordings[k].sample_rate != clip.sample_rate {
            return Err(AudioError::RecordingRate {
                recording: recordings[k].file_id.clone(),
                what,
                found: recordings[k].sample_rate,
                clip: clip.file_id.clone(),
                expected: clip.sample_rate,
            });
        }
    }
    Ok(())
}

/// One clip of a stage's output: input clip `clip` as it is, or a copy of it with
/// `perturbation`, its samples placed at `offset` of the output.
pub(crate) struct Job {
    pub(crate) clip: usize,
    pub(crate) perturbation: Option<Perturbation>,
    pub(crate) offset: u64,
}

/// Writes every job's samples into `output` (allocated first), in parallel and in order: the
/// input clip's as they are, or transformed by its perturbation (generated noise of `colour`,
/// or the second input's `recordings`). `what` names the work on the progress bar.
#[allow(clippy::too_many_arguments)]
pub(crate) fn write_copies(
    ctx: &StageContext,
    what: &str,
    clips: &[Clip],
    jobs: &[Job],
    input: &SampleFile,
    output: &SampleWriter,
    recordings: Option<&Recordings>,
    colour: NoiseColour,
) -> Result<(), AudioError> {
    output.allocate(jobs.iter().map(|j| clips[j.clip].length).sum())?;
    for_each_in_order(
        ctx,
        jobs,
        what,
        BATCH,
        Worker::default,
        |worker, job, bytes: &mut Vec<u8>| -> Result<(), AudioError> {
            let clip = &clips[job.clip];
            bytes.resize(clip.length as usize * 4, 0);
            input.read_at(clip.offset, bytes)?;
            let Some(perturbation) = &job.perturbation else { return Ok(()) };
            samples_from_bytes(bytes, &mut worker.samples);
            let out = transform(worker, perturbation, colour, clip, recordings)?;
            bytes_from_samples(&out, bytes);
            Ok(())
        },
        |job, made, _| made.map(|()| job.offset),
        |offset, bytes| output.write_bytes_at(offset, bytes),
    )
}

/// What is done to one copy: its speed, room, noise, band, codec, gain and clipping, each
/// optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Perturbation {
    /// Speed factor in thousandths.
    pub(crate) speed: Option<u32>,
    /// The room it is heard in.
    pub(crate) room: Option<Room>,
    /// SNR in dB and where the noise comes from.
    pub(crate) noise: Option<(f64, NoiseSource)>,
    /// Pass band in Hz, `(low, high)`.
    pub(crate) band: Option<(f64, f64)>,
    /// The telephone codec it is carried by.
    pub(crate) codec: Option<Law>,
    /// Gain in dB.
    pub(crate) gain: Option<f64>,
    /// The share of the content's samples clipped, percent.
    pub(crate) clipping: Option<f64>,
}

/// A reverberant room.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Room {
    /// A synthetic one ([`crate::reverb::impulse_response`]): its reverberation time in seconds,
    /// direct-to-reverberant ratio in dB, and the seed of its impulse response's noise.
    Synthetic { rt60: f64, drr_db: f64, seed: u64 },
    /// A measured one: clip `clip` of the second input, an impulse response.
    Recorded { clip: usize },
}

/// G.711's sample rate.
const TELEPHONE_RATE: u32 = 8000;

impl Perturbation {
    /// Which factors it has, in the order they apply: speed, room, noise, band, codec, gain,
    /// clipping.
    pub(crate) fn factors(&self) -> [bool; 7] {
        [
            self.speed.is_some(),
            self.room.is_some(),
            self.noise.is_some(),
            self.band.is_some(),
            self.codec.is_some(),
            self.gain.is_some(),
            self.clipping.is_some(),
        ]
    }

    /// Leaves out factor `k` (in [`Self::factors`]' order).
    pub(crate) fn leave_out(&mut self, k: usize) {
        match k {
            0 => self.speed = None,
            1 => self.room = None,
            2 => self.noise = None,
            3 => self.band = None,
            4 => self.codec = None,
            5 => self.gain = None,
            _ => self.clipping = None,
        }
    }

    /// The `augmentation` column: `speed 0.9, noise 12.3 dB (pink), gain -2.1 dB`. `recordings`:
    /// the second input's clips, which the noise or the room may name.
    pub(crate) fn describe(&self, colour: NoiseColour, recordings: &[Clip]) -> String {
        let mut parts = Vec::new();
        if let Some(speed) = self.speed {
            parts.push(format!("speed {}", f64::from(speed) / 1000.0));
        }
        match self.room {
            Some(Room::Synthetic { rt60, drr_db, .. }) => parts.push(format!("reverb RT60 {rt60} s, DRR {drr_db} dB")),
            Some(Room::Recorded { clip }) => parts.push(format!("reverb (room {})", recordings[clip].file_id)),
            None => {}
        }
        if let Some((snr, source)) = &self.noise {
            let what = match *source {
                NoiseSource::Clip { clip, start } => format!("{} from sample {start}", recordings[clip].file_id),
                NoiseSource::Generated(_) => colour.name().to_string(),
            };
            parts.push(format!("noise {snr:.1} dB ({what})"));
        }
        if let Some((low, high)) = self.band {
            parts.push(format!("band {low}-{high} Hz"));
        }
        if let Some(law) = self.codec {
            parts.push(format!("codec {} at 8 kHz", law.name()));
        }
        if let Some(gain) = self.gain {
            parts.push(format!("gain {gain:.1} dB"));
        }
        if let Some(percent) = self.clipping {
            parts.push(format!("clipping {percent}%"));
        }
        parts.join(", ")
    }
}

impl NoiseColour {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::White => "white",
            Self::Pink => "pink",
        }
    }
}

/// 64-bit FNV-1a of `bytes`: a clip id's stream number.
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The random stream of copy `copy` of clip `file_id`.
pub(crate) fn stream(seed: u64, file_id: &str, copy: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(fnv1a(file_id.bytes().chain([0]).chain((copy as u64).to_le_bytes())));
    rng
}

/// `n` samples of generated noise of `colour`.
pub(crate) fn generated_noise(rng: &mut ChaCha8Rng, colour: NoiseColour, n: usize) -> Vec<f64> {
    let white = normals(rng, n);
    match colour {
        NoiseColour::White => white,
        NoiseColour::Pink => {
            // Paul Kellet's economy filter: three poles over white noise, within 0.5 dB of
            // -3 dB per octave above 1/100 of the sample rate.
            let (mut b0, mut b1, mut b2) = (0.0, 0.0, 0.0);
            white
                .into_iter()
                .map(|w| {
                    b0 = 0.99765 * b0 + w * 0.0990460;
                    b1 = 0.96300 * b1 + w * 0.2965164;
                    b2 = 0.57000 * b2 + w * 1.0526913;
                    b0 + b1 + b2 + w * 0.1848
                })
                .collect()
        }
    }
}

/// The first and one past the last nonzero sample of `x`; `None` when all are zero.
pub(crate) fn content(x: &[f32]) -> Option<(usize, usize)> {
    let first = x.iter().position(|&v| v != 0.0)?;
    let last = x.iter().rposition(|&v| v != 0.0)?;
    Some((first, last + 1))
}

/// `n` samples of recording `recording` (of the second input) from its sample `from`, looped: a
/// stretch of a noise recording, or a whole room's impulse response.
/// Only the samples used are read: a noise recording may be minutes long, and each copy takes
/// a clip's length of it.
pub(crate) fn recording_stretch(file: &SampleFile, recording: &Clip, from: u64, n: usize, worker: &mut Worker) -> Result<Vec<f64>, AudioError> {
    let length = recording.length as usize;
    let mut stretch = Vec::with_capacity(n);
    let mut at = from as usize % length;
    while stretch.len() < n {
        let take = (length - at).min(n - stretch.len());
        worker.bytes.resize(take * 4, 0);
        file.read_at(recording.offset + at as u64, &mut worker.bytes)?;
        samples_from_bytes(&worker.bytes, &mut worker.noise);
        stretch.extend(worker.noise.iter().map(|&v| f64::from(v)));
        at = 0;
    }
    Ok(stretch)
}

/// One worker's reused state.
#[derive(Default)]
pub(crate) struct Worker {
    /// A resampler per speed (in thousandths): copies alternate between speeds, and one
    /// resampler rebuilds its FFT plans and filter whenever its rates change.
    pub(crate) resamplers: BTreeMap<u32, Resampler>,
    pub(crate) samples: Vec<f32>,
    pub(crate) bytes: Vec<u8>,
    pub(crate) noise: Vec<f32>,
    pub(crate) resampled: Vec<f32>,
    /// FFT plans by length, for band-passes and reverberation.
    planner: RealFftPlanner<f64>,
    /// Down to the telephone's rate and back up: one resampler each, so neither is rebuilt.
    line: [Resampler; 2],
    /// A clip on the telephone line, at 8 kHz.
    narrow: Vec<f32>,
}

/// `worker.samples` (a clip's) transformed as `perturbation` says, generated noise of
/// `colour`, recorded noise or rooms from `recordings`; the clip's length.
pub(crate) fn transform(
    worker: &mut Worker,
    perturbation: &Perturbation,
    colour: NoiseColour,
    clip: &Clip,
    recordings: Option<&Recordings>,
) -> Result<Vec<f32>, AudioError> {
    let length = worker.samples.len();
    let mut out = vec![0.0f32; length];
    let Some((start, end)) = content(&worker.samples) else { return Ok(out) };
    // 1. Speed: `speed` thousandths as fast, from 1000 * speed Hz to 1000 Hz.
    let mut signal: Vec<f64> = match perturbation.speed {
        Some(speed) if speed != 1000 => {
            worker
                .resamplers
                .entry(speed)
                .or_default()
                .resample_into(&worker.samples[start..end], speed, 1000, &mut worker.resampled)
                .map_err(|source| AudioError::Speed { file_id: clip.file_id.clone(), speed: f64::from(speed) / 1000.0, source })?;
            worker.resampled.iter().take(length - start).map(|&v| f64::from(v)).collect()
        }
        _ => worker.samples[start..end].iter().map(|&v| f64::from(v)).collect(),
    };
    // 2. The room, before the noise: a talker's voice reverberates, a noise recording already
    // holds its own room.
    if let Some(room) = perturbation.room {
        let response = match (room, recordings) {
            (Room::Synthetic { rt60, drr_db, seed }, _) => impulse_response(&mut ChaCha8Rng::seed_from_u64(seed), rt60, drr_db, clip.sample_rate),
            (Room::Recorded { clip: k }, Some(r)) => {
                let room = &r.clips[k];
                let recorded = recording_stretch(&r.file, room, 0, room.length as usize, worker)?;
                from_direct_sound(recorded).ok_or_else(|| AudioError::SilentRoom { room: room.file_id.clone() })?
            }
            (Room::Recorded { .. }, None) => unreachable!("a recorded room was drawn from a second input"),
        };
        reverberate(&mut worker.planner, &mut signal, &response);
    }
    // 3. Noise at the drawn SNR against the content's power.
    if let Some((snr, source)) = perturbation.noise {
        let noise = match (source, recordings) {
            (NoiseSource::Clip { clip: k, start }, Some(r)) => recording_stretch(&r.file, &r.clips[k], start, signal.len(), worker)?,
            (NoiseSource::Generated(seed), _) => {
                generated_noise(&mut ChaCha8Rng::seed_from_u64(seed), colour, signal.len())
            }
            (NoiseSource::Clip { .. }, None) => unreachable!("a noise clip was drawn from a noise input"),
        };
        let (signal_power, noise_power) = (power(&signal), power(&noise));
        if noise_power > 0.0 {
            let scale = (signal_power / noise_power / 10f64.powf(snr / 10.0)).sqrt();
            for (s, n) in signal.iter_mut().zip(&noise) {
                *s += scale * n;
            }
        }
    }
    // 4. The channel's band, after the room's noise (as a telephone line carries both).
    if let Some((low, high)) = perturbation.band {
        band_pass(&mut worker.planner, &mut signal, clip.sample_rate, low, high);
    }
    // 5. The channel's codec.
    if let Some(law) = perturbation.codec {
        telephone(worker, law, &mut signal, clip)?;
    }
    // 6. Gain.
    let gain = perturbation.gain.map_or(1.0, |db| 10f64.powf(db / 20.0));
    // 7. Clipping, after the gain: a converter clips what reaches it.
    let limit = perturbation.clipping.map_or(f64::INFINITY, |percent| clipping_level(&signal, gain, percent));
    for (o, s) in out[start..].iter_mut().zip(&signal) {
        *o = (s * gain).clamp(-limit, limit) as f32;
    }
    Ok(out)
}

/// The level above which `percent` % of `signal`'s samples (scaled by `gain`) lie: clipped
/// there, that share of the content is cut flat, as an overdriven microphone or converter
/// does (audiomentations' ClippingDistortion sets its threshold alike, by percentile).
fn clipping_level(signal: &[f64], gain: f64, percent: f64) -> f64 {
    let mut magnitudes: Vec<f64> = signal.iter().map(|s| (s * gain).abs()).collect();
    let clipped = ((magnitudes.len() as f64 * percent / 100.0).ceil() as usize).min(magnitudes.len());
    if clipped == 0 {
        return f64::INFINITY;
    }
    // The largest magnitude left unclipped: the `clipped`-th largest is the first cut.
    let at = magnitudes.len() - clipped;
    let (_, level, _) = magnitudes.select_nth_unstable_by(at.saturating_sub(1), f64::total_cmp);
    *level
}

/// `signal` (a clip's content) as carried by a G.711 line: resampled to 8 kHz (band-limited,
/// so what lies above 4 kHz is gone, as on the line), coded with `law` and decoded, resampled
/// back to the clip's rate, at its length.
fn telephone(worker: &mut Worker, law: Law, signal: &mut [f64], clip: &Clip) -> Result<(), AudioError> {
    let failed = |source| AudioError::Codec { file_id: clip.file_id.clone(), codec: law.name(), source };
    let [down, up] = &mut worker.line;
    let content: Vec<f32> = signal.iter().map(|&v| v as f32).collect();
    down.resample_into(&content, clip.sample_rate, TELEPHONE_RATE, &mut worker.narrow).map_err(failed)?;
    law.round_trip(&mut worker.narrow);
    up.resample_into(&worker.narrow, TELEPHONE_RATE, clip.sample_rate, &mut worker.resampled).map_err(failed)?;
    // Rounding to 8 kHz and back may leave a sample more or less than the content.
    for (i, s) in signal.iter_mut().enumerate() {
        *s = worker.resampled.get(i).map_or(0.0, |&v| f64::from(v));
    }
    Ok(())
}

/// `signal` (at `rate` Hz) through an ideal band-pass of `[low, high]` Hz: its spectrum's bins
/// outside the band zeroed. A brick wall rather than a filter's slope, so that a condition says
/// exactly which frequencies a model still hears (300-3400 Hz: a telephone line, ITU-T G.712).
pub(crate) fn band_pass(planner: &mut RealFftPlanner<f64>, signal: &mut [f64], rate: u32, low: f64, high: f64) {
    let n = signal.len();
    if n < 2 {
        return;
    }
    let forward = planner.plan_fft_forward(n);
    let inverse = planner.plan_fft_inverse(n);
    let mut spectrum = forward.make_output_vec();
    // The lengths come from the plans: the transforms cannot fail.
    forward.process(signal, &mut spectrum).expect("buffers sized by the forward plan");
    let hz_per_bin = f64::from(rate) / n as f64;
    for (k, bin) in spectrum.iter_mut().enumerate() {
        let f = k as f64 * hz_per_bin;
        if f < low || f > high {
            *bin = Complex::new(0.0, 0.0);
        }
    }
    // A real signal's DC and Nyquist bins are real: zero imaginary parts, as the inverse needs.
    spectrum[0].im = 0.0;
    if n.is_multiple_of(2) {
        spectrum[n / 2].im = 0.0;
    }
    inverse.process(&mut spectrum, signal).expect("buffers sized by the inverse plan");
    let scale = 1.0 / n as f64;
    for s in signal.iter_mut() {
        *s *= scale;
    }
}
