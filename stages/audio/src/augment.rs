//! The `augment` stage: augmented copies of the training clips (speed perturbation,
//! reverberation, additive noise at a drawn SNR, gain), beside the originals, for models that
//! learn from more variation than the corpus recorded. SER corpora are small (RAVDESS: 1440
//! clips), and these are the waveform augmentations SER papers and toolkits use (Kaldi's and
//! torchaudio's speed perturbation, simulated and measured rooms, noise from MUSAN-like
//! recordings at 5-30 dB, level changes).
//!
//! Only `train` clips are copied: a copy of a validation or test clip would score the model
//! on what it trained on, and copies made before a split could land on both of its sides, so
//! the input must be split (a `split` of augmented clips is refused). Each copy is clip
//! `<id>_aug<k>` with the original's label, speaker and columns, plus `augmented_from` (the
//! original's id) and `augmentation` (what was drawn, in words). Copies follow their original
//! in the manifest.
//!
//! A copy keeps its clip's length. The transforms apply to the clip's content: from its first
//! to its last nonzero sample, so that a padded clip's zeros stay zeros (noise added there
//! would be heard by a model that sees the padding). In order:
//! 1. speed: the content resampled by a factor drawn from `speed` (played faster or slower:
//!    tempo and pitch change together, as Kaldi's speed perturbation), placed where it began and
//!    cut at the clip's end;
//! 2. reverberation: a room of an RT60 drawn from `reverb_rt60` (and a direct-to-reverberant
//!    ratio from `reverb_drr_db`), [`crate::reverb`]'s synthetic impulse response, or a
//!    measured one drawn from the second input (`second_input = "rooms"`);
//! 3. noise: white or pink noise (Kellet's filter), or a stretch of a clip of the noise input
//!    (an audio set, e.g. a decoded MUSAN; looped when shorter), scaled to the SNR drawn from
//!    `noise_snr` against the content's power;
//! 4. a telephone line: a pass band drawn from `band_hz` and a codec drawn from `codec`
//!    (G.711 at 8 kHz), as `degrade`'s conditions;
//! 5. gain: the whole content scaled by a level drawn from `gain_db`;
//! 6. clipping: a share of the loudest samples, drawn from `clipping_percent`, cut flat.
//!
//! Every listed factor applies to every copy, or with `probability` to each copy with that
//! probability, drawn per factor (as audiomentations' `p`), so that one stage mixes clean,
//! reverberant, noisy and telephone copies; a copy left with no factor gets one of them, drawn,
//! so that no copy duplicates its original.
//!
//! Every copy draws from its own ChaCha8 stream, keyed by the seed, the clip's id and the copy
//! number, so results do not depend on thread count or clip order.

use std::collections::HashSet;
use std::fmt::Write as _;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::{AudioSet, Clip, Manifest, Split};
use vox_api::{Applied, Applies, ApplyContext, ArtifactKind, Facts, InputSpec, ParamError, PlannedInput, StageContext, StageDef, StageError};

use crate::error::{AFTER_SPLIT, AudioError};
use crate::g711::Law;
use crate::perturb::{
    Job, NoiseColour, Perturbation, Recordings, Room, SecondInput, check_band_fits, check_bands, check_rates, check_second_input, draw_source,
    stream, write_copies,
};
use crate::sample_file::SampleFile;
use crate::set_writer;

/// The manifest column naming a copy's original.
pub(crate) const AUGMENTED_FROM: &str = "augmented_from";
/// The manifest column saying what a copy drew.
const AUGMENTATION: &str = "augmentation";

/// Adds `copies` augmented copies of every `train` clip (speed perturbation, reverberation,
/// additive noise at a drawn SNR, gain), each `<id>_aug<k>`; `val` and `test` clips pass
/// unchanged. An optional second input (an audio set) is the noise recordings, or with
/// `second_input = "rooms"` measured rooms, one drawn per copy.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, into = "Keyed")]
pub struct Augment {
    /// Augmented copies of each train clip, 1..=100.
    #[serde(default = "default_copies")]
    pub copies: usize,
    /// Speed factors, one drawn per copy (e.g. `[0.9, 1.0, 1.1]`, Kaldi's); each within
    /// 0.5..=2.0, used to 0.001. Tempo and pitch change together.
    #[serde(default)]
    pub speed: Option<Vec<f64>>,
    /// Reverberation time range in seconds, `[low, high]`, one drawn per copy (uniform, to the
    /// millisecond): the clip in a simulated room whose sound falls 60 dB in that time, at its
    /// own mean power. Within 0.05..=5.0 s.
    #[serde(default)]
    pub reverb_rt60: Option<[f64; 2]>,
    /// Direct-to-reverberant ratio range in dB, `[low, high]`, one drawn per copy (uniform, to
    /// 0.1 dB; needs `reverb_rt60`): 0 is a talker at about the room's critical distance,
    /// lower is farther. Within ±30 dB; 0 dB when unset.
    #[serde(default)]
    pub reverb_drr_db: Option<[f64; 2]>,
    /// Signal-to-noise ratio range in dB, `[low, high]`, one drawn per copy (uniform): additive
    /// noise, from the noise input when there is one, else `noise`.
    #[serde(default)]
    pub noise_snr: Option<[f64; 2]>,
    /// Generated noise without a noise input: `white` or `pink` (needs `noise_snr`).
    #[serde(default)]
    #[schemars(extend("default" = "white"))]
    pub noise: Option<NoiseColour>,
    /// Pass bands in Hz, one drawn per copy (e.g. `[[300.0, 3400.0]]`, a telephone line);
    /// `0 <= low < high`, `high` at most half the clips' sample rate.
    #[serde(default)]
    pub band_hz: Option<Vec<[f64; 2]>>,
    /// Telephone codecs, one drawn per copy: `mu-law`, `a-law` (G.711 at 8 kHz).
    #[serde(default)]
    pub codec: Option<Vec<Law>>,
    /// Gain range in dB, `[low, high]`, one drawn per copy (uniform).
    #[serde(default)]
    pub gain_db: Option<[f64; 2]>,
    /// Range of the share of samples clipped, percent, `[low, high]`, one drawn per copy
    /// (uniform, to 0.1%); within 0 (excluded) and 50.
    #[serde(default)]
    pub clipping_percent: Option<[f64; 2]>,
    /// The probability that each listed factor applies to a copy, drawn per factor and copy;
    /// 1 (the default) applies every factor to every copy. Within 0 (excluded) and 1.
    #[serde(default)]
    #[schemars(extend("default" = 1.0))]
    pub probability: Option<f64>,
    /// What the optional second input holds: `noise` (recordings added at `noise_snr`) or
    /// `rooms` (measured impulse responses: each copy in one drawn from them, instead of
    /// `reverb_rt60`'s synthetic rooms; noise is then generated).
    #[serde(default)]
    #[schemars(extend("default" = "noise"))]
    pub second_input: Option<SecondInput>,
    /// Seed of the draws; the pipeline's seed when unset.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// The params as the cache key and the run's record see them: `noise = "white"`, the default,
/// is not written, so that writing it or leaving it out keys the same bytes alike (and a
/// record never names generated noise beside a noise input).
#[derive(Debug, Clone, Serialize, JsonSchema)]
struct Keyed {
    copies: usize,
    speed: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reverb_rt60: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reverb_drr_db: Option<[f64; 2]>,
    noise_snr: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    noise: Option<NoiseColour>,
    #[serde(skip_serializing_if = "Option::is_none")]
    band_hz: Option<Vec<[f64; 2]>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    codec: Option<Vec<Law>>,
    gain_db: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clipping_percent: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probability: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    second_input: Option<SecondInput>,
    seed: Option<u64>,
}

impl From<Augment> for Keyed {
    fn from(a: Augment) -> Self {
        let noise = a.noise.filter(|&c| c != NoiseColour::White);
        Self {
            copies: a.copies,
            speed: a.speed,
            reverb_rt60: a.reverb_rt60,
            reverb_drr_db: a.reverb_drr_db,
            noise_snr: a.noise_snr,
            noise,
            band_hz: a.band_hz,
            codec: a.codec,
            gain_db: a.gain_db,
            clipping_percent: a.clipping_percent,
            probability: a.probability.filter(|&p| p != 1.0),
            second_input: a.second_input.filter(|&i| i != SecondInput::Noise),
            seed: a.seed,
        }
    }
}

fn default_copies() -> usize {
    1
}

impl StageDef for Augment {
    const KIND: &'static str = "augment";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Audio]).then_optional(&[ArtifactKind::Audio]);
    const OUTPUT: ArtifactKind = ArtifactKind::Audio;
    // New clips belong to no split: nothing to copy.
    const APPLIES: Applies = Applies::Yes;

    fn validate(&self) -> Result<(), ParamError> {
        if !(1..=100).contains(&self.copies) {
            return Err(ParamError::new("copies", format!("must be within 1..=100, got {}", self.copies)));
        }
        let rooms = self.role() == SecondInput::Rooms;
        if self.factors() == 0 {
            return Err(ParamError::new(
                "copies",
                "nothing to augment with: set `speed`, `reverb_rt60`, `noise_snr`, `band_hz`, `codec`, `gain_db` or `clipping_percent`, or give measured rooms (`second_input = \"rooms\"`)",
            ));
        }
        if let Some(bands) = &self.band_hz {
            check_bands(bands)?;
        }
        if self.codec.as_ref().is_some_and(Vec::is_empty) {
            return Err(ParamError::new("codec", "needs at least one codec (leave it out for none)"));
        }
        if let Some([low, high]) = self.clipping_percent
            && !(low > 0.0 && low <= high && high <= 50.0)
        {
            return Err(ParamError::new("clipping_percent", format!("must be `[low, high]` with 0 < low <= high <= 50 (%), got [{low}, {high}]")));
        }
        if let Some(p) = self.probability
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(ParamError::new("probability", format!("must be above 0 and at most 1, got {p}")));
        }
        if rooms && self.reverb_rt60.is_some() {
            let message = "`reverb_rt60` draws synthetic rooms and `second_input = \"rooms\"` measured ones: a copy is in one room, leave one out";
            return Err(ParamError::new("reverb_rt60", message));
        }
        if let Some(speed) = &self.speed {
            if speed.is_empty() {
                return Err(ParamError::new("speed", "needs at least one factor"));
            }
            if let Some(bad) = speed.iter().find(|s| !(0.5..=2.0).contains(*s)) {
                return Err(ParamError::new("speed", format!("factors must be within 0.5..=2.0, got {bad}")));
            }
        }
        for (name, range, limit) in [("noise_snr", self.noise_snr, 100.0), ("gain_db", self.gain_db, 60.0)] {
            if let Some([low, high]) = range
                && !(low.is_finite() && high.is_finite() && low <= high && low.abs() <= limit && high.abs() <= limit)
            {
                return Err(ParamError::new(name, format!("must be `[low, high]` with low <= high, within ±{limit} dB, got [{low}, {high}]")));
            }
        }
        if self.noise.is_some() && self.noise_snr.is_none() {
            return Err(ParamError::new("noise", "`noise` needs `noise_snr` (the level to add it at)"));
        }
        if let Some([low, high]) = self.reverb_rt60
            && !(low <= high && (0.05..=5.0).contains(&low) && (0.05..=5.0).contains(&high))
        {
            return Err(ParamError::new("reverb_rt60", format!("must be `[low, high]` with low <= high, within 0.05..=5.0 s, got [{low}, {high}]")));
        }
        if let Some([low, high]) = self.reverb_drr_db {
            if !(low.is_finite() && high.is_finite() && low <= high && low.abs() <= 30.0 && high.abs() <= 30.0) {
                return Err(ParamError::new("reverb_drr_db", format!("must be `[low, high]` with low <= high, within ±30 dB, got [{low}, {high}]")));
            }
            if self.reverb_rt60.is_none() {
                return Err(ParamError::new("reverb_drr_db", "`reverb_drr_db` needs `reverb_rt60` (the rooms it describes)"));
            }
        }
        Ok(())
    }

    /// The first input's facts (the noise input's clips are not the output's); an input known
    /// to hold no train clip is an error before anything runs.
    fn facts(&self, inputs: &[PlannedInput]) -> Result<Facts, ParamError> {
        check_second_input(inputs, self.role(), self.noise_snr.is_some(), self.noise.is_some())?;
        let facts = Facts::combined(inputs.get(..1).unwrap_or_default());
        if let Some(splits) = &facts.labelled_splits
            && !splits.contains(&Split::Train)
        {
            return Err(ParamError::new("", format!("no clip of the input is in a `train` split: {AFTER_SPLIT}")));
        }
        Ok(facts)
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        Ok(self.augment(ctx)?)
    }

    fn apply(&self, _ctx: &ApplyContext) -> Result<Applied, StageError> {
        Ok(Applied::PassedThrough)
    }
}

impl Augment {
    fn colour(&self) -> NoiseColour {
        self.noise.unwrap_or(NoiseColour::White)
    }

    fn role(&self) -> SecondInput {
        self.second_input.unwrap_or_default()
    }

    /// How many factors are listed (measured rooms count as one).
    fn factors(&self) -> usize {
        let rooms = self.reverb_rt60.is_some() || self.role() == SecondInput::Rooms;
        [self.speed.is_some(), rooms, self.noise_snr.is_some(), self.band_hz.is_some(), self.codec.is_some(), self.gain_db.is_some(), self.clipping_percent.is_some()]
            .into_iter()
            .filter(|&listed| listed)
            .count()
    }

    /// What copy `copy` of `clip` draws, noise from `noise_clips` and rooms from `rooms` (the
    /// second input's, or none).
    fn draw(&self, seed: u64, clip: &Clip, copy: usize, noise_clips: &[Clip], rooms: &[Clip]) -> Perturbation {
        let mut rng = stream(seed, &clip.file_id, copy);
        let speed = self.speed.as_ref().map(|s| (s[rng.random_range(0..s.len())] * 1000.0).round() as u32);
        let noise = self.noise_snr.map(|[low, high]| {
            let snr = low + (high - low) * rng.random::<f64>();
            (snr, draw_source(&mut rng, noise_clips))
        });
        let gain = self.gain_db.map(|[low, high]| low + (high - low) * rng.random::<f64>());
        // Drawn last, so that copies without a room draw what they drew before rooms existed.
        let synthetic = self.reverb_rt60.map(|[low, high]| {
            let rt60 = ((low + (high - low) * rng.random::<f64>()) * 1000.0).round() / 1000.0;
            let drr_db = self.reverb_drr_db.map_or(0.0, |[low, high]| ((low + (high - low) * rng.random::<f64>()) * 10.0).round() / 10.0);
            Room::Synthetic { rt60, drr_db, seed: rng.random() }
        });
        let room = synthetic.or_else(|| (!rooms.is_empty()).then(|| Room::Recorded { clip: rng.random_range(0..rooms.len()) }));
        let band = self.band_hz.as_ref().map(|b| {
            let [low, high] = b[rng.random_range(0..b.len())];
            (low, high)
        });
        let codec = self.codec.as_ref().map(|c| c[rng.random_range(0..c.len())]);
        let clipping = self.clipping_percent.map(|[low, high]| ((low + (high - low) * rng.random::<f64>()) * 10.0).round() / 10.0);
        let mut drawn = Perturbation { speed, room, noise, band, codec, gain, clipping };
        if let Some(p) = self.probability.filter(|&p| p < 1.0) {
            keep_some(&mut drawn, p, &mut rng);
        }
        drawn
    }

    fn augment(&self, ctx: &StageContext) -> Result<(), AudioError> {
        let input_dir = &ctx.inputs[0].dir;
        let Manifest { labels, clips } = AudioSet::read_manifest(input_dir)?;
        let input = SampleFile::open(input_dir)?;
        let train = clips.iter().filter(|c| c.split == Split::Train).count();
        if train == 0 {
            return Err(AudioError::NothingToAugment { clips: clips.len() });
        }
        let recordings = Recordings::open(ctx, self.role(), self.noise_snr.is_some())?;
        let recorded: &[Clip] = recordings.as_ref().map_or(&[], |r| r.clips.as_slice());
        let (noise_clips, rooms) = (Recordings::noise(recordings.as_ref()), Recordings::rooms(recordings.as_ref()));
        let seed = self.seed.unwrap_or(ctx.seed);
        let ids: HashSet<&str> = clips.iter().map(|c| c.file_id.as_str()).collect();
        let (mut rows, output) = set_writer::create(ctx.out_dir, labels)?;
        let mut jobs = Vec::with_capacity(clips.len() + train * self.copies);
        for (i, clip) in clips.iter().enumerate() {
            input.check(clip)?;
            jobs.push(Job { clip: i, perturbation: None, offset: rows.place(clip.clone(), clip.length) });
            if clip.split != Split::Train {
                continue;
            }
            // Every listed band, drawn or not, fits the clip: an error does not hang on a draw.
            for &[low, high] in self.band_hz.iter().flatten() {
                check_band_fits(low, high, clip)?;
            }
            for copy in 1..=self.copies {
                let draw = self.draw(seed, clip, copy, noise_clips, rooms);
                check_rates(&draw, recorded, clip)?;
                let mut row = clip.clone();
                row.file_id = format!("{}_aug{copy}", clip.file_id);
                if ids.contains(row.file_id.as_str()) {
                    return Err(AudioError::CopyIdTaken { file_id: row.file_id, original: clip.file_id.clone(), copy });
                }
                if let Some(speed) = draw.speed {
                    row.original_length = (clip.original_length * 1000 + u64::from(speed) / 2) / u64::from(speed);
                }
                row.extra.insert(AUGMENTED_FROM.into(), clip.file_id.clone());
                row.extra.insert(AUGMENTATION.into(), draw.describe(self.colour(), recorded));
                let offset = rows.place(row, clip.length);
                jobs.push(Job { clip: i, perturbation: Some(draw), offset });
            }
        }
        write_copies(ctx, "augment", &clips, &jobs, &input, &output, recordings.as_ref(), self.colour())?;
        let (out, _) = rows.finish(output)?;
        self.write_summary(ctx, &clips, out.len(), (!noise_clips.is_empty()).then_some(noise_clips.len()), rooms.len())?;
        tracing::info!("{}: {} train clips x {} copies added ({} clips)", ctx.stage, train, self.copies, out.len());
        Ok(())
    }

    /// `report/augment.txt`: what was added, for people.
    /// Also says what `band_hz`, `codec`, `clipping_percent` and `probability` draw.
    /// `noise`: the noise input's clip count, when there is one; `rooms`: the measured rooms'
    /// (never the input's name: no cached output holds a stage name).
    fn write_summary(&self, ctx: &StageContext, clips: &[Clip], total: usize, noise: Option<usize>, rooms: usize) -> Result<(), AudioError> {
        let dir = ctx.report_dir().map_err(|source| AudioError::Io { path: ctx.out_dir.join("report"), source })?;
        let train = clips.iter().filter(|c| c.split == Split::Train).count();
        let mut text = format!(
            "{train} train clips x {} cop{} added: {total} clips ({} in, val and test unchanged)\n",
            self.copies,
            if self.copies == 1 { "y" } else { "ies" },
            clips.len()
        );
        if let Some(speed) = &self.speed {
            let _ = writeln!(text, "speed: one of {speed:?}");
        }
        if let Some([low, high]) = self.reverb_rt60 {
            let [drr_low, drr_high] = self.reverb_drr_db.unwrap_or([0.0, 0.0]);
            let _ = writeln!(text, "reverb: RT60 {low}..{high} s, DRR {drr_low}..{drr_high} dB");
        }
        if rooms > 0 {
            let _ = writeln!(text, "reverb: the second input's {rooms} measured rooms, one drawn per copy");
        }
        if let Some([low, high]) = self.noise_snr {
            let what = noise.map_or_else(|| format!("{} noise", self.colour().name()), |n| format!("the noise input's {n} clips"));
            let _ = writeln!(text, "noise: {what} at {low}..{high} dB SNR");
        }
        if let Some(bands) = &self.band_hz {
            let bands: Vec<String> = bands.iter().map(|[low, high]| format!("{low}-{high} Hz")).collect();
            let _ = writeln!(text, "band: one of {}", bands.join(", "));
        }
        if let Some(codecs) = &self.codec {
            let codecs: Vec<&str> = codecs.iter().map(|c| c.name()).collect();
            let _ = writeln!(text, "codec: one of {} (G.711 at 8 kHz)", codecs.join(", "));
        }
        if let Some([low, high]) = self.gain_db {
            let _ = writeln!(text, "gain: {low}..{high} dB");
        }
        if let Some([low, high]) = self.clipping_percent {
            let _ = writeln!(text, "clipping: {low}..{high}% of samples");
        }
        if let Some(p) = self.probability.filter(|&p| p < 1.0) {
            let _ = writeln!(text, "each factor applies to a copy with probability {p} (at least one per copy)");
        }
        text += "each copy's draw: the manifest's `augmentation` column\n";
        let path = dir.join("augment.txt");
        std::fs::write(&path, text).map_err(|source| AudioError::Io { path, source })
    }
}

/// Keeps each factor of `drawn` with probability `p` (a draw per factor, in the order they
/// apply); when none is left, one of them, drawn, so that the copy differs from its original.
fn keep_some(drawn: &mut Perturbation, p: f64, rng: &mut ChaCha8Rng) {
    let listed = drawn.factors();
    let mut keep: Vec<bool> = listed.iter().map(|&l| l && rng.random::<f64>() < p).collect();
    if !keep.contains(&true) {
        let present: Vec<usize> = (0..listed.len()).filter(|&i| listed[i]).collect();
        keep[present[rng.random_range(0..present.len())]] = true;
    }
    for (factor, _) in keep.iter().enumerate().filter(|(_, kept)| !**kept) {
        drawn.leave_out(factor);
    }
}

#[cfg(test)]
mod tests {
    use vox_api::audio::AudioSet;
    use vox_api::labels::LabelSet;

    use super::*;
    use crate::emotion::Emotion;
    use crate::perturb::{NoiseSource, content};
    use crate::stats::power;
    use crate::test_support::{TestStage, clip, median_f0, ravdess_set};

    fn params(toml: toml::Table) -> Augment {
        vox_api::kind::<Augment>().configure(toml.clone()).map_err(|e| e.to_string()).unwrap();
        toml::Value::Table(toml).try_into().unwrap()
    }

    /// A 200 Hz tone of `seconds` at 16 kHz between 0.1 s of zeros on each side (a padded clip).
    fn padded_tone(seconds: f64) -> Vec<f32> {
        let n = (seconds * 16000.0) as usize;
        let mut x = vec![0.0f32; 1600];
        x.extend((0..n).map(|i| 0.5 * (std::f64::consts::TAU * 200.0 * i as f64 / 16000.0 + 0.3).sin() as f32));
        x.extend(vec![0.0f32; 1600]);
        x
    }

    /// Clips `a` (train), `b` (val), `c` (train), `d` (test), each a padded tone.
    fn set() -> AudioSet {
        let mut set = ravdess_set();
        for (id, split) in [("a", Split::Train), ("b", Split::Val), ("c", Split::Train), ("d", Split::Test)] {
            set.push(Clip { split, ..clip(id, Some(Emotion::Sad), "01") }, &padded_tone(0.5));
        }
        set
    }

    /// Runs `augment` on `inputs` (the set, then an optional noise set); the output set.
    fn run(augment: &Augment, inputs: &[(&str, &AudioSet)]) -> Result<AudioSet, String> {
        run_with_summary(augment, inputs).map(|(set, _)| set)
    }

    /// As [`run`], with `report/augment.txt`.
    fn run_with_summary(augment: &Augment, inputs: &[(&str, &AudioSet)]) -> Result<(AudioSet, String), String> {
        let stage = TestStage::with_audio_inputs(inputs);
        augment.run(&stage.ctx(7)).map_err(|e| e.to_string())?;
        let summary = std::fs::read_to_string(stage.out_dir().join("report/augment.txt")).unwrap();
        Ok((AudioSet::read(stage.out_dir()).unwrap(), summary))
    }

    fn samples<'a>(set: &'a AudioSet, id: &str) -> &'a [f32] {
        set.samples_of(set.clips.iter().find(|c| c.file_id == id).unwrap())
    }

    #[test]
    fn only_train_clips_are_copied_beside_their_originals() {
        let augment = params(toml::toml! { copies = 2  gain_db = [-6.0, 6.0] });
        let input = set();
        let (out, summary) = run_with_summary(&augment, &[("split", &input)]).unwrap();
        assert_eq!(
            summary,
            "2 train clips x 2 copies added: 8 clips (4 in, val and test unchanged)\ngain: -6..6 dB\n\
             each copy's draw: the manifest's `augmentation` column\n"
        );
        let ids: Vec<&str> = out.clips.iter().map(|c| c.file_id.as_str()).collect();
        assert_eq!(ids, ["a", "a_aug1", "a_aug2", "b", "c", "c_aug1", "c_aug2", "d"]);
        for original in &input.clips {
            assert_eq!(samples(&out, &original.file_id), input.samples_of(original), "{}", original.file_id);
        }
        let copy = &out.clips[1];
        assert_eq!((copy.split, copy.label.as_deref(), copy.speaker.as_str()), (Split::Train, Some("04"), "01"));
        assert_eq!(copy.extra[AUGMENTED_FROM], "a");
        // Gain only: the copy is the original times the drawn level, zeros kept.
        let gain = augment.draw(7, &input.clips[0], 1, &[], &[]).gain.unwrap();
        assert!((-6.0..=6.0).contains(&gain));
        assert_eq!(copy.extra[AUGMENTATION], format!("gain {gain:.1} dB"));
        let factor = 10f64.powf(gain / 20.0);
        for (o, c) in input.samples_of(&input.clips[0]).iter().zip(samples(&out, "a_aug1")) {
            assert_eq!(*c, (f64::from(*o) * factor) as f32);
        }
        assert_ne!(samples(&out, "a_aug1"), samples(&out, "a_aug2"), "each copy draws its own");

        // A copy depends on its clip, the seed and its number only: the same without the others.
        let mut only_c = ravdess_set();
        only_c.push(input.clips[2].clone(), input.samples_of(&input.clips[2]));
        let out_c = run(&augment, &[("split", &only_c)]).unwrap();
        assert_eq!(samples(&out_c, "c_aug2"), samples(&out, "c_aug2"));
    }

    #[test]
    fn noise_is_added_at_the_drawn_snr_over_the_content_only() {
        for colour in ["white", "pink"] {
            let augment = params(toml::toml! { noise_snr = [5.0, 20.0]  noise = colour });
            let input = set();
            let out = run(&augment, &[("split", &input)]).unwrap();
            let Some((snr, NoiseSource::Generated(_))) = augment.draw(7, &input.clips[0], 1, &[], &[]).noise else { panic!() };
            let (original, copy) = (input.samples_of(&input.clips[0]), samples(&out, "a_aug1"));
            assert_eq!(&copy[..1600], &[0.0; 1600][..], "{colour}: the padding stays silent");
            assert_eq!(&copy[copy.len() - 1600..], &[0.0; 1600][..]);
            let signal: Vec<f64> = original[1600..original.len() - 1600].iter().map(|&v| f64::from(v)).collect();
            let noise: Vec<f64> =
                copy[1600..copy.len() - 1600].iter().zip(&signal).map(|(&c, s)| f64::from(c) - s).collect();
            let measured = 10.0 * (power(&signal) / power(&noise)).log10();
            assert!((measured - snr).abs() < 1e-3, "{colour}: {measured} dB against {snr} dB drawn");
            // Pink noise has most of its power low: its neighbouring samples correlate.
            let lag1 = noise.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / noise.iter().map(|v| v * v).sum::<f64>();
            if colour == "pink" {
                assert!(lag1 > 0.5, "{lag1}");
            } else {
                assert!(lag1.abs() < 0.05, "{lag1}");
            }
        }
    }

    #[test]
    fn a_noise_input_is_looped_from_its_drawn_start() {
        let augment = params(toml::toml! { noise_snr = [10.0, 10.0] });
        let input = set();
        let mut noise = AudioSet { labels: LabelSet::from_names(["x"]).unwrap(), ..AudioSet::default() };
        let hum: Vec<f32> = (0..333).map(|i| ((i * 7919) % 331) as f32 / 331.0 - 0.5).collect();
        noise.push(clip("hum", None, ""), &hum);
        let (out, summary) = run_with_summary(&augment, &[("split", &input), ("noise", &noise)]).unwrap();
        assert!(summary.contains("\nnoise: the noise input's 1 clips at 10..10 dB SNR\n"), "{summary}");
        let Some((_, NoiseSource::Clip { clip: 0, start })) = augment.draw(7, &input.clips[0], 1, &noise.clips, &[]).noise else { panic!() };
        assert_eq!(out.clips[1].extra[AUGMENTATION], format!("noise 10.0 dB (hum from sample {start})"));
        let (original, copy) = (input.samples_of(&input.clips[0]), samples(&out, "a_aug1"));
        let added: Vec<f64> = copy.iter().zip(original).map(|(&c, &o)| f64::from(c) - f64::from(o)).collect();
        let scale = added[1600] / f64::from(hum[start as usize]);
        for i in 0..8000 {
            let expected = scale * f64::from(hum[(start as usize + i) % 333]);
            assert!((added[1600 + i] - expected).abs() < 1e-6, "sample {i}: {} vs {expected}", added[1600 + i]);
        }

        let mut fast = AudioSet { labels: noise.labels.clone(), ..AudioSet::default() };
        fast.push(Clip { sample_rate: 48000, ..clip("hum", None, "") }, &hum);
        assert_eq!(
            run(&augment, &[("split", &input), ("noise", &fast)]).unwrap_err(),
            "noise clip `hum` is sampled at 48000 Hz but clip `a` at 16000 Hz: decode the noise at the corpus's rate (`sample_rate = 16000`)"
        );
        let gain = params(toml::toml! { gain_db = [1.0, 2.0] });
        assert_eq!(run(&gain, &[("split", &input), ("noise", &noise)]).unwrap_err(), "input `noise` is noise to add, but no `noise_snr` says at what level");
    }

    #[test]
    fn speed_changes_tempo_and_pitch_and_keeps_the_length() {
        let augment = params(toml::toml! { speed = [1.25] });
        let input = set();
        let out = run(&augment, &[("split", &input)]).unwrap();
        let copy = samples(&out, "a_aug1");
        assert_eq!(copy.len(), input.samples_of(&input.clips[0]).len());
        assert_eq!(out.clips[1].extra[AUGMENTATION], "speed 1.25");
        // 8000 samples of content become 6400, from where the content began.
        let (start, end) = content(copy).unwrap();
        assert_eq!(start, 1600);
        assert!((end as i64 - 8000).abs() <= 2, "content ends at {end}");
        let f0 = median_f0(&copy[start..end], 16000);
        assert!((f0 - 250.0).abs() < 1.0, "{f0} Hz");
        assert_eq!(out.clips[1].original_length, (input.clips[0].original_length as f64 / 1.25).round() as u64);

        // A few samples of content, and none, are sped up without fail.
        let mut tiny = ravdess_set();
        tiny.push(Clip { split: Split::Train, ..clip("t", Some(Emotion::Sad), "01") }, &[0.0, 0.5, -0.25, 0.0]);
        tiny.push(Clip { split: Split::Train, ..clip("z", Some(Emotion::Sad), "01") }, &[0.0; 3]);
        let out = run(&params(toml::toml! { speed = [0.9]  noise_snr = [10.0, 10.0] }), &[("split", &tiny)]).unwrap();
        assert_eq!(samples(&out, "t_aug1").len(), 4);
        assert_eq!(samples(&out, "z_aug1"), &[0.0; 3], "silence stays silence");
    }

    #[test]
    fn each_copy_is_heard_in_a_drawn_room() {
        let augment = params(toml::toml! { copies = 6  reverb_rt60 = [0.2, 0.8]  reverb_drr_db = [-6.0, 6.0] });
        let (out, summary) = run_with_summary(&augment, &[("split", &set())]).unwrap();
        assert!(summary.contains("\nreverb: RT60 0.2..0.8 s, DRR -6..6 dB\n"), "{summary}");
        let original = samples(&out, "a");
        let mut rooms = std::collections::BTreeSet::new();
        for copy in 1..=6 {
            let id = format!("a_aug{copy}");
            let row = out.clips.iter().find(|c| c.file_id == id).unwrap();
            let text = &row.extra[AUGMENTATION];
            // `reverb RT60 0.437 s, DRR -2.3 dB`: in range, to the millisecond and 0.1 dB.
            let numbers: Vec<f64> = text.split([' ', ',']).filter_map(|w| w.parse().ok()).collect();
            let [rt60, drr] = numbers[..] else { panic!("{text}") };
            assert!((0.2..=0.8).contains(&rt60) && (-6.0..=6.0).contains(&drr), "{text}");
            assert_eq!(((rt60 * 1000.0).round() / 1000.0, (drr * 10.0).round() / 10.0), (rt60, drr));
            rooms.insert(text.clone());
            let wet = samples(&out, &id);
            assert_eq!(&wet[..1600], &original[..1600], "the padding stays silent");
            let widen = |x: &[f32]| x[1600..9600].iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
            assert!((power(&widen(wet)) / power(&widen(original)) - 1.0).abs() < 1e-5, "{text}: the power is kept");
            assert_ne!(wet, original);
        }
        assert_eq!(rooms.len(), 6, "each copy draws its own room: {rooms:?}");
        // Copies without rooms draw as before rooms existed: the same gains as a run without them.
        let gain = run(&params(toml::toml! { gain_db = [-6.0, 6.0] }), &[("split", &set())]).unwrap();
        let both = run(&params(toml::toml! { gain_db = [-6.0, 6.0]  reverb_rt60 = [0.3, 0.3] }), &[("split", &set())]).unwrap();
        let drawn = |set: &AudioSet| set.clips.iter().find(|c| c.file_id == "a_aug1").unwrap().extra[AUGMENTATION].clone();
        assert!(drawn(&gain).starts_with("gain "), "{}", drawn(&gain));
        assert_eq!(drawn(&both), format!("reverb RT60 0.3 s, DRR 0 dB, {}", drawn(&gain)));
    }

    #[test]
    fn each_copy_can_be_heard_in_a_measured_room() {
        let mut rooms = AudioSet { labels: LabelSet::from_names(["x"]).unwrap(), ..AudioSet::default() };
        rooms.push(clip("hall", None, ""), &[0.0, 1.0, 0.6, -0.4, 0.2]);
        rooms.push(clip("booth", None, ""), &[0.0, 0.0, -0.9, 0.1]);
        let augment = params(toml::toml! { copies = 8  second_input = "rooms"  gain_db = [-1.0, 1.0] });
        let (out, summary) = run_with_summary(&augment, &[("split", &set()), ("rirs", &rooms)]).unwrap();
        assert!(summary.contains("\nreverb: the second input's 2 measured rooms, one drawn per copy\n"), "{summary}");
        let drawn: std::collections::BTreeSet<String> = (1..=8)
            .map(|k| {
                let row = out.clips.iter().find(|c| c.file_id == format!("a_aug{k}")).unwrap();
                let text = &row.extra[AUGMENTATION];
                assert!(text.starts_with("reverb (room ") && text.contains("), gain "), "{text}");
                text.split(')').next().unwrap().to_string()
            })
            .collect();
        assert_eq!(drawn.len(), 2, "both rooms are drawn over 8 copies: {drawn:?}");
        let problem = |toml: toml::Table| vox_api::kind::<Augment>().configure(toml).err().unwrap().to_string();
        assert!(problem(toml::toml! { second_input = "rooms"  reverb_rt60 = [0.2, 0.4] }).contains("a copy is in one room, leave one out"));
        let key = |toml: toml::Table| vox_api::kind::<Augment>().configure(toml).unwrap().params();
        assert_eq!(key(toml::toml! { gain_db = [1.0, 2.0] }), key(toml::toml! { gain_db = [1.0, 2.0]  second_input = "noise" }));
        assert_eq!(key(toml::toml! { second_input = "rooms" })["second_input"], "rooms");
    }

    #[test]
    fn telephone_copies_keep_the_line_and_lose_what_lies_above_it() {
        // 1000 Hz, which the line carries, and 6000 Hz, which it cannot.
        let mut set = ravdess_set();
        let tone = |f: f64, i: usize| (std::f64::consts::TAU * f * i as f64 / 16000.0).sin();
        let mixed: Vec<f32> = (0..8000).map(|i| (0.4 * tone(1000.0, i) + 0.2 * tone(6000.0, i)) as f32).collect();
        set.push(Clip { split: Split::Train, ..clip("t", Some(Emotion::Sad), "01") }, &mixed);
        let augment = params(toml::toml! { copies = 8  band_hz = [[300.0, 3400.0]]  codec = ["mu-law", "a-law"] });
        let (out, summary) = run_with_summary(&augment, &[("split", &set)]).unwrap();
        assert!(summary.contains("\nband: one of 300-3400 Hz\ncodec: one of mu-law, a-law (G.711 at 8 kHz)\n"), "{summary}");
        let mut codecs = std::collections::BTreeSet::new();
        for k in 1..=8 {
            let id = format!("t_aug{k}");
            let text = &out.clips.iter().find(|c| c.file_id == id).unwrap().extra[AUGMENTATION];
            let codec = text.strip_prefix("band 300-3400 Hz, codec ").and_then(|t| t.strip_suffix(" at 8 kHz")).unwrap_or_else(|| panic!("{text}"));
            codecs.insert(codec.to_string());
            let copy = samples(&out, &id);
            let rest: Vec<f64> = (800..7200).map(|i| f64::from(copy[i]) - 0.4 * tone(1000.0, i)).collect();
            let kept: Vec<f64> = (800..7200).map(|i| 0.4 * tone(1000.0, i)).collect();
            let snr = 10.0 * (power(&kept) / power(&rest)).log10();
            assert!(snr > 25.0, "{text}: the 6000 Hz tone is gone, the 1000 Hz one kept ({snr:.1} dB)");
        }
        assert_eq!(codecs.len(), 2, "{codecs:?}");
        let above = params(toml::toml! { band_hz = [[300.0, 3400.0], [100.0, 9000.0]] });
        assert_eq!(
            run(&above, &[("split", &set)]).unwrap_err(),
            "band 100-9000 Hz reaches above what clip `t` holds: sampled at 16000 Hz, its frequencies stop at 8000 Hz"
        );
    }

    #[test]
    fn with_a_probability_each_factor_applies_to_some_copies_and_every_copy_gets_one() {
        let augment = params(toml::toml! { copies = 80  speed = [0.9, 1.1]  gain_db = [-6.0, 6.0]  clipping_percent = [1.0, 5.0]  probability = 0.5 });
        let (out, summary) = run_with_summary(&augment, &[("split", &set())]).unwrap();
        assert!(summary.contains("clipping: 1..5% of samples\neach factor applies to a copy with probability 0.5 (at least one per copy)\n"), "{summary}");
        let texts: Vec<&str> = (1..=80).map(|k| out.clips.iter().find(|c| c.file_id == format!("a_aug{k}")).unwrap().extra[AUGMENTATION].as_str()).collect();
        for factor in ["speed ", "gain ", "clipping "] {
            let share = texts.iter().filter(|t| t.contains(factor)).count() as f64 / 80.0;
            // Each applies with 0.5, and more for copies that drew none (1/8 of them, one in three).
            assert!((0.35..0.75).contains(&share), "{factor}: {share}");
        }
        assert!(texts.iter().all(|t| !t.is_empty()), "every copy gets a factor");
        assert!(texts.iter().any(|t| t.contains("speed ") && t.contains("gain ") && t.contains("clipping ")));
        assert!(texts.iter().any(|t| !t.contains(", ")), "some copies get one factor");
        for t in &texts {
            if let Some(p) = t.split("clipping ").nth(1) {
                let p: f64 = p.trim_end_matches('%').parse().unwrap();
                assert!((1.0..=5.0).contains(&p) && (p * 10.0).round() / 10.0 == p, "{t}");
            }
        }
        // The default (probability 1) applies every factor to every copy.
        let all = run(&params(toml::toml! { copies = 5  speed = [0.9, 1.1]  gain_db = [-6.0, 6.0] }), &[("split", &set())]).unwrap();
        assert!(all.clips.iter().filter(|c| c.extra.contains_key(AUGMENTATION)).all(|c| c.extra[AUGMENTATION].starts_with("speed ") && c.extra[AUGMENTATION].contains(", gain ")));
        let problem = |toml: toml::Table| vox_api::kind::<Augment>().configure(toml).err().unwrap().to_string();
        assert!(problem(toml::toml! { gain_db = [1.0, 2.0]  probability = 0.0 }).contains("must be above 0 and at most 1, got 0"));
        assert!(problem(toml::toml! { clipping_percent = [5.0, 60.0] }).contains("0 < low <= high <= 50 (%), got [5, 60]"));
        assert!(problem(toml::toml! { codec = [] }).contains("needs at least one codec"));
        assert!(problem(toml::toml! { band_hz = [[3400.0, 300.0]] }).contains("with 0 <= low < high, got [3400, 300]"));
        let key = |toml: toml::Table| vox_api::kind::<Augment>().configure(toml).unwrap().params();
        assert_eq!(key(toml::toml! { gain_db = [1.0, 2.0] }), key(toml::toml! { gain_db = [1.0, 2.0]  probability = 1.0 }), "1 is the default");
    }

    #[test]
    fn white_noise_written_or_left_out_keys_alike() {
        let key = |toml: toml::Table| vox_api::kind::<Augment>().configure(toml).unwrap().params();
        let unset = key(toml::toml! { noise_snr = [5.0, 20.0] });
        assert_eq!(unset, key(toml::toml! { noise_snr = [5.0, 20.0]  noise = "white" }));
        assert_ne!(unset, key(toml::toml! { noise_snr = [5.0, 20.0]  noise = "pink" }));
        assert_eq!(unset["noise_snr"], serde_json::json!([5.0, 20.0]));
        assert!(unset.get("noise").is_none(), "{unset}");
        assert!(unset.get("reverb_rt60").is_none() && unset.get("reverb_drr_db").is_none(), "stages without rooms keep their keys: {unset}");
    }

    #[test]
    fn bad_params_and_inputs_without_train_clips_are_refused() {
        let problem = |toml: toml::Table| vox_api::kind::<Augment>().configure(toml).err().unwrap().to_string();
        assert!(problem(toml::toml! { copies = 2 }).contains("nothing to augment with: set `speed`, `reverb_rt60`, `noise_snr`, `band_hz`, `codec`, `gain_db` or `clipping_percent`"));
        assert!(problem(toml::toml! { reverb_rt60 = [0.8, 0.2] }).contains("must be `[low, high]` with low <= high, within 0.05..=5.0 s, got [0.8, 0.2]"));
        assert!(problem(toml::toml! { reverb_rt60 = [0.2, 9.0] }).contains("within 0.05..=5.0 s"));
        assert!(problem(toml::toml! { gain_db = [1.0, 2.0]  reverb_drr_db = [0.0, 3.0] }).contains("`reverb_drr_db` needs `reverb_rt60`"));
        assert!(problem(toml::toml! { reverb_rt60 = [0.2, 0.4]  reverb_drr_db = [-40.0, 0.0] }).contains("within ±30 dB, got [-40, 0]"));
        assert!(problem(toml::toml! { speed = [0.3] }).contains("factors must be within 0.5..=2.0, got 0.3"));
        assert!(problem(toml::toml! { noise_snr = [20.0, 10.0] }).contains("must be `[low, high]` with low <= high"));
        assert!(problem(toml::toml! { gain_db = [1.0, 2.0]  noise = "pink" }).contains("`noise` needs `noise_snr`"));
        assert!(problem(toml::toml! { gain_db = [1.0, 2.0]  copies = 0 }).contains("must be within 1..=100, got 0"));

        let mut unsplit = set();
        for c in &mut unsplit.clips {
            c.split = Split::None;
        }
        let augment = params(toml::toml! { gain_db = [1.0, 2.0] });
        assert_eq!(
            run(&augment, &[("audio", &unsplit)]).unwrap_err(),
            format!("none of the input's 4 clips is in a `train` split: {AFTER_SPLIT}")
        );

        // A copy's id taken by a clip of the input is refused: ids name one clip each.
        let mut taken = set();
        taken.clips[3].file_id = "a_aug1".into();
        assert_eq!(
            run(&augment, &[("split", &taken)]).unwrap_err(),
            "copy 1 of clip `a` would be `a_aug1`, the id of a clip of the input: rename one of them upstream"
        );

        // A split of copies is refused: a copy and its original could land apart.
        let out = run(&augment, &[("split", &set())]).unwrap();
        let split: crate::split::Split = toml::Value::Table(toml::Table::new()).try_into().unwrap();
        let stage = TestStage::with_audio_input(&out);
        let error = split.run(&stage.ctx(1)).unwrap_err().to_string();
        assert!(error.starts_with("clip `a_aug1` is an augmented copy of `a`: split before `augment`"), "{error}");
    }
}
