//! The `degrade` stage: copies of the held-out clips under fixed recording conditions (noise at
//! listed SNRs, rooms of listed reverberation times, speed factors, pass bands, telephone
//! codecs, gains, clipping), beside the clean originals, so that one trained model is
//! scored under each condition: how far its UAR falls at 10 dB of noise is what a lab asks
//! before it trusts a model outside the studio (SER robustness studies report exactly this
//! table: accuracy per SNR, per noise type).
//!
//! Only `test` clips (or `val`, with `splits`) are copied, and by default only labelled ones (a
//! copy of an unlabeled clip is scored by nothing and would add rows to `output.txt`; `clips =
//! "all"` copies those too, e.g. clips rated on emotion dimensions only). The `train` clips are
//! never touched, so models learn what they learnt without the stage; copies made before a split
//! could land on both of its sides, so a `split` of them is refused.
//!
//! Each condition is one factor at a time, in the order listed (`noise_snr`, `reverb_rt60`,
//! `speed`, `band_hz`, `codec`, `gain_db`, then `clipping_percent`): copy `<id>_noise10dB`,
//! `<id>_reverb0.6s`, `<id>_speed0.9`, `<id>_band300-3400Hz`, `<id>_mulaw`, `<id>_gain-6dB` or
//! `<id>_clip5pct` of each chosen clip, with the original's label, speaker and columns, plus
//! `condition` (the group it is scored in: `noise 10 dB (white)`, `reverb RT60 0.6 s`,
//! `speed 0.9`, `band 300-3400 Hz` (a telephone line's band), `codec mu-law` (its coding),
//! `gain -6 dB`, `clipping 5%`; every original clip is `clean`),
//! `degraded_from` (the original's id) and `degradation` (exactly what was done, with the noise
//! recording and offset used). Copies follow their original in the manifest. `evaluate` with
//! `by = ["condition"]` then scores each condition apart (`report/by_condition.csv`).
//!
//! A clip gets the same noise at every SNR (one draw per clip from its own ChaCha8 stream,
//! keyed by the seed and the clip's id): its conditions differ in level only, so a curve over
//! SNR is not also a curve over noise samples. Likewise its rooms share one draw of the impulse
//! response's noise and differ in decay only. The transforms are `augment`'s
//! ([`crate::perturb`]).

use std::collections::{BTreeSet, HashSet};
use std::fmt::Write as _;

use rand::Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::{AudioSet, CLEAN, CONDITION, Clip, Manifest, Split};
use vox_api::{Applied, Applies, ApplyContext, ArtifactKind, Facts, InputSpec, ParamError, PlannedInput, StageContext, StageDef, StageError};

use crate::error::AudioError;
use crate::g711::Law;
use crate::perturb::{
    Job, NoiseColour, NoiseSource, Perturbation, Recordings, Room, SecondInput, check_band_fits, check_bands, check_rates, check_second_input,
    draw_source, stream, write_copies,
};
use crate::sample_file::SampleFile;
use crate::set_writer;

/// The manifest column naming a degraded copy's original.
pub(crate) const DEGRADED_FROM: &str = "degraded_from";
/// The manifest column saying exactly what was done to a copy.
const DEGRADATION: &str = "degradation";
/// Conditions at most: each multiplies the held-out clips.
const MAX_CONDITIONS: usize = 100;

/// Adds copies of the labelled `test` clips under each listed condition (noise at an SNR, a
/// room's reverberation time, a speed factor, a pass band, a telephone codec, a gain, a share
/// of samples clipped), each
/// `<id>_<condition>` with a `condition` column (`clean` for every original): score a model
/// per condition with `evaluate`'s `by = ["condition"]`. An optional second input (an audio
/// set) is the noise recordings, or with `second_input = "rooms"` measured rooms: one more
/// condition, each clip in one of them.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, into = "Keyed")]
pub struct Degrade {
    /// Signal-to-noise ratios in dB, each a condition (e.g. `[20.0, 10.0, 5.0, 0.0]`): additive
    /// noise against the content's power, from the noise input when there is one, else `noise`.
    /// Within ±100 dB.
    #[serde(default)]
    pub noise_snr: Option<Vec<f64>>,
    /// Generated noise without a noise input: `white` or `pink` (needs `noise_snr`).
    #[serde(default)]
    #[schemars(extend("default" = "white"))]
    pub noise: Option<NoiseColour>,
    /// Reverberation times in seconds, each a condition (e.g. `[0.3, 0.6, 1.0]`: an office, a
    /// living room, a hall): the clip in a room whose sound falls 60 dB in that time (a
    /// synthetic impulse response), at its own mean power. Within 0.05..=5.0 s.
    #[serde(default)]
    pub reverb_rt60: Option<Vec<f64>>,
    /// Direct-to-reverberant ratio of those rooms, dB: 0 is a talker at about the room's
    /// critical distance, lower is farther. Within ±30 dB (needs `reverb_rt60`).
    #[serde(default)]
    #[schemars(extend("default" = 0.0))]
    pub reverb_drr_db: Option<f64>,
    /// Speed factors, each a condition (e.g. `[0.9, 1.1]`); within 0.5..=2.0, used to 0.001,
    /// not 1. Tempo and pitch change together.
    #[serde(default)]
    pub speed: Option<Vec<f64>>,
    /// Pass bands in Hz, each a condition: `[[300.0, 3400.0]]` is a telephone line (ITU-T
    /// G.712). An ideal band-pass: what lies outside is removed. `low < high`, `high` at most
    /// half the clips' sample rate.
    #[serde(default)]
    pub band_hz: Option<Vec<[f64; 2]>>,
    /// Telephone codecs, each a condition: `mu-law`, `a-law` (ITU-T G.711: the clip resampled
    /// to 8 kHz, coded on 8 bits, decoded and resampled back).
    #[serde(default)]
    pub codec: Option<Vec<Law>>,
    /// Gains in dB, each a condition (e.g. `[-20.0, 6.0]`); within ±60 dB, not 0.
    #[serde(default)]
    pub gain_db: Option<Vec<f64>>,
    /// Shares of each clip's samples clipped, in percent, each a condition (e.g. `[1.0, 10.0]`:
    /// an overdriven microphone): the loudest that many samples cut flat at the level of the
    /// next. Within 0 (excluded) and 50.
    #[serde(default)]
    pub clipping_percent: Option<Vec<f64>>,
    /// The splits whose clips are copied: `test`, `val` or both (never `train`, whose copies
    /// `augment` makes).
    #[serde(default = "default_splits")]
    pub splits: Vec<HeldOut>,
    /// Which of those clips: `labelled` (those with a class) or `all` (also clips with no
    /// class, such as clips rated on emotion dimensions only).
    #[serde(default)]
    pub clips: Which,
    /// What the optional second input holds: `noise` (recordings added at `noise_snr`) or
    /// `rooms` (measured impulse responses: one condition, `reverb (recorded rooms)`, each clip
    /// in a room drawn from them; noise is then generated).
    #[serde(default)]
    #[schemars(extend("default" = "noise"))]
    pub second_input: Option<SecondInput>,
    /// Seed of the noise and room draws; the pipeline's seed when unset.
    #[serde(default)]
    pub seed: Option<u64>,
}

/// A held-out split (`train` clips are never degraded: copies of them are `augment`'s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HeldOut {
    /// Validation clips.
    Val,
    /// Test clips.
    Test,
}

impl HeldOut {
    fn split(self) -> Split {
        match self {
            Self::Val => Split::Val,
            Self::Test => Split::Test,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Val => "val",
            Self::Test => "test",
        }
    }
}

/// Which clips of the chosen splits are copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Which {
    /// Clips with a class label.
    #[default]
    Labelled,
    /// Every clip.
    All,
}

fn default_splits() -> Vec<HeldOut> {
    vec![HeldOut::Test]
}

/// The params as the cache key and the run's record see them: `noise = "white"` and
/// `reverb_drr_db = 0`, the defaults, are not written (as in `augment`), nor the seed where
/// nothing is drawn, nor a condition kind that is not listed.
#[derive(Debug, Clone, Serialize, JsonSchema)]
struct Keyed {
    noise_snr: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    noise: Option<NoiseColour>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reverb_rt60: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reverb_drr_db: Option<f64>,
    speed: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    band_hz: Option<Vec<[f64; 2]>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    codec: Option<Vec<Law>>,
    gain_db: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    clipping_percent: Option<Vec<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    second_input: Option<SecondInput>,
    splits: Vec<HeldOut>,
    clips: Which,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
}

impl From<Degrade> for Keyed {
    fn from(d: Degrade) -> Self {
        let noise = d.noise.filter(|&c| c != NoiseColour::White);
        let reverb_drr_db = d.reverb_drr_db.filter(|&drr| drr != 0.0);
        let second_input = d.second_input.filter(|&i| i != SecondInput::Noise);
        let seed = d.seed.filter(|_| d.draws());
        Self {
            noise_snr: d.noise_snr,
            noise,
            reverb_rt60: d.reverb_rt60,
            reverb_drr_db,
            speed: d.speed,
            band_hz: d.band_hz,
            codec: d.codec,
            gain_db: d.gain_db,
            clipping_percent: d.clipping_percent,
            second_input,
            splits: d.splits,
            clips: d.clips,
            seed,
        }
    }
}

/// One condition: a single factor.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Condition {
    /// Noise at this SNR, dB.
    Noise(f64),
    /// A room of this RT60, seconds.
    Reverb(f64),
    /// A room of the second input's.
    Recorded,
    /// Speed in thousandths.
    Speed(u32),
    /// Pass band, Hz.
    Band(f64, f64),
    /// A telephone codec.
    Codec(Law),
    /// Gain, dB.
    Gain(f64),
    /// This share of samples clipped, percent.
    Clipping(f64),
}

impl Condition {
    /// The `condition` column: `noise 10 dB (white)`, `reverb RT60 0.6 s`, `speed 0.9`,
    /// `codec mu-law`, `gain -6 dB`. Recorded
    /// noise is not named by recording: each clip draws its own stretch of the input.
    fn name(self, generated: Option<NoiseColour>) -> String {
        match self {
            Self::Noise(snr) => match generated {
                Some(colour) => format!("noise {snr} dB ({})", colour.name()),
                None => format!("noise {snr} dB"),
            },
            Self::Reverb(rt60) => format!("reverb RT60 {rt60} s"),
            Self::Recorded => "reverb (recorded rooms)".to_string(),
            Self::Speed(speed) => format!("speed {}", f64::from(speed) / 1000.0),
            Self::Band(low, high) => format!("band {low}-{high} Hz"),
            Self::Codec(law) => format!("codec {}", law.name()),
            Self::Gain(db) => format!("gain {db} dB"),
            Self::Clipping(percent) => format!("clipping {percent}%"),
        }
    }

    /// The copy's id suffix: `noise10dB`, `reverb0.6s`, `room`, `speed0.9`, `band300-3400Hz`,
    /// `mulaw`, `gain-6dB`, `clip5pct`.
    fn suffix(self) -> String {
        match self {
            Self::Noise(snr) => format!("noise{snr}dB"),
            Self::Reverb(rt60) => format!("reverb{rt60}s"),
            Self::Recorded => "room".to_string(),
            Self::Speed(speed) => format!("speed{}", f64::from(speed) / 1000.0),
            Self::Band(low, high) => format!("band{low}-{high}Hz"),
            Self::Codec(law) => law.name().replace('-', ""),
            Self::Gain(db) => format!("gain{db}dB"),
            Self::Clipping(percent) => format!("clip{percent}pct"),
        }
    }

    /// The param it is listed in, for errors.
    fn param(self) -> &'static str {
        match self {
            Self::Noise(_) => "noise_snr",
            Self::Reverb(_) => "reverb_rt60",
            Self::Recorded => "second_input",
            Self::Speed(_) => "speed",
            Self::Band(..) => "band_hz",
            Self::Codec(_) => "codec",
            Self::Gain(_) => "gain_db",
            Self::Clipping(_) => "clipping_percent",
        }
    }
}

impl StageDef for Degrade {
    const KIND: &'static str = "degrade";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Audio]).then_optional(&[ArtifactKind::Audio]);
    const OUTPUT: ArtifactKind = ArtifactKind::Audio;
    // New clips are what they are: nothing to degrade.
    const APPLIES: Applies = Applies::Yes;

    fn validate(&self) -> Result<(), ParamError> {
        let lists = [("noise_snr", &self.noise_snr, 100.0), ("gain_db", &self.gain_db, 60.0)];
        if let Some(rt60) = &self.reverb_rt60 {
            if rt60.is_empty() {
                return Err(ParamError::new("reverb_rt60", "needs at least one time (leave it out for none)"));
            }
            if let Some(bad) = rt60.iter().find(|t| !(0.05..=5.0).contains(*t)) {
                return Err(ParamError::new("reverb_rt60", format!("times must be within 0.05..=5.0 s, got {bad}")));
            }
        }
        if let Some(drr) = self.reverb_drr_db {
            if !(drr.is_finite() && drr.abs() <= 30.0) {
                return Err(ParamError::new("reverb_drr_db", format!("must be within ±30 dB, got {drr}")));
            }
            if self.reverb_rt60.is_none() {
                return Err(ParamError::new("reverb_drr_db", "`reverb_drr_db` needs `reverb_rt60` (the rooms it describes)"));
            }
        }
        if let Some(percents) = &self.clipping_percent {
            if percents.is_empty() {
                return Err(ParamError::new("clipping_percent", "needs at least one share (leave it out for none)"));
            }
            if let Some(bad) = percents.iter().find(|p| !(**p > 0.0 && **p <= 50.0)) {
                return Err(ParamError::new("clipping_percent", format!("shares must be above 0 and at most 50 (%), got {bad}")));
            }
        }
        if self.codec.as_ref().is_some_and(Vec::is_empty) {
            return Err(ParamError::new("codec", "needs at least one codec (leave it out for none)"));
        }
        for (name, list, limit) in lists {
            let Some(list) = list else { continue };
            if list.is_empty() {
                return Err(ParamError::new(name, "needs at least one value (leave it out for none)"));
            }
            if let Some(bad) = list.iter().find(|v| !(v.is_finite() && v.abs() <= limit)) {
                return Err(ParamError::new(name, format!("values must be within ±{limit} dB, got {bad}")));
            }
        }
        if let Some(speed) = &self.speed {
            if speed.is_empty() {
                return Err(ParamError::new("speed", "needs at least one factor (leave it out for none)"));
            }
            if let Some(bad) = speed.iter().find(|s| !(0.5..=2.0).contains(*s)) {
                return Err(ParamError::new("speed", format!("factors must be within 0.5..=2.0, got {bad}")));
            }
        }
        if self.speed.iter().flatten().any(|&s| thousandths(s) == 1000) {
            return Err(ParamError::new("speed", "speed 1 is the clean clip, which is kept: leave it out"));
        }
        if let Some(bands) = &self.band_hz {
            check_bands(bands)?;
        }
        if self.gain_db.iter().flatten().any(|&g| g == 0.0) {
            return Err(ParamError::new("gain_db", "a gain of 0 dB is the clean clip, which is kept: leave it out"));
        }
        let conditions = self.conditions();
        if conditions.is_empty() {
            return Err(ParamError::new(
                "",
                "no condition: set `noise_snr`, `reverb_rt60`, `speed`, `band_hz`, `codec`, `gain_db` or `clipping_percent` (each value is one condition), or give measured rooms (`second_input = \"rooms\"`)",
            ));
        }
        if conditions.len() > MAX_CONDITIONS {
            return Err(ParamError::new("", format!("{} conditions, at most {MAX_CONDITIONS}", conditions.len())));
        }
        let mut seen = HashSet::new();
        if let Some(twice) = conditions.iter().find(|c| !seen.insert(c.suffix())) {
            return Err(ParamError::new(twice.param(), format!("`{}` is listed twice", twice.suffix())));
        }
        if self.noise.is_some() && self.noise_snr.is_none() {
            return Err(ParamError::new("noise", "`noise` needs `noise_snr` (the levels to add it at)"));
        }
        if self.splits.is_empty() {
            return Err(ParamError::new("splits", "needs `test`, `val` or both"));
        }
        Ok(())
    }

    /// The seed draws only noise and rooms.
    fn unread(&self) -> &'static [&'static str] {
        if self.draws() { &[] } else { &["seed"] }
    }

    /// The first input's facts (the noise input's clips are not the output's); an input known
    /// to hold no labelled clip in the chosen splits is an error before anything runs.
    fn facts(&self, inputs: &[PlannedInput]) -> Result<Facts, ParamError> {
        check_second_input(inputs, self.role(), self.noise_snr.is_some(), self.noise.is_some())?;
        let facts = Facts::combined(inputs.get(..1).unwrap_or_default());
        if self.clips == Which::Labelled
            && let Some(splits) = &facts.labelled_splits
            && !self.splits.iter().any(|s| splits.contains(&s.split()))
        {
            let error = AudioError::NothingToDegrade { clips: None, splits: self.split_names() };
            return Err(ParamError::new("splits", error.to_string()));
        }
        Ok(facts)
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        Ok(self.degrade(ctx)?)
    }

    fn apply(&self, _ctx: &ApplyContext) -> Result<Applied, StageError> {
        Ok(Applied::PassedThrough)
    }
}

/// A speed factor in thousandths, as the conditions use it.
fn thousandths(speed: f64) -> u32 {
    (speed * 1000.0).round() as u32
}

impl Degrade {
    fn colour(&self) -> NoiseColour {
        self.noise.unwrap_or(NoiseColour::White)
    }

    fn role(&self) -> SecondInput {
        self.second_input.unwrap_or_default()
    }

    /// Whether anything is drawn (noise or rooms): whether the seed is read.
    fn draws(&self) -> bool {
        self.noise_snr.is_some() || self.reverb_rt60.is_some() || self.role() == SecondInput::Rooms
    }

    /// Every condition, in the order listed: noise levels, rooms, speeds, bands, codecs, gains,
    /// clippings.
    fn conditions(&self) -> Vec<Condition> {
        let noise = self.noise_snr.iter().flatten().map(|&s| Condition::Noise(s));
        let recorded = (self.role() == SecondInput::Rooms).then_some(Condition::Recorded);
        let reverb = self.reverb_rt60.iter().flatten().map(|&t| Condition::Reverb(t)).chain(recorded);
        let speed = self.speed.iter().flatten().map(|&s| Condition::Speed(thousandths(s)));
        let band = self.band_hz.iter().flatten().map(|&[low, high]| Condition::Band(low, high));
        let codec = self.codec.iter().flatten().map(|&law| Condition::Codec(law));
        let gain = self.gain_db.iter().flatten().map(|&g| Condition::Gain(g));
        let clipping = self.clipping_percent.iter().flatten().map(|&p| Condition::Clipping(p));
        noise.chain(reverb).chain(speed).chain(band).chain(codec).chain(gain).chain(clipping).collect()
    }

    /// `` `test` ``, `` `val` or `test` ``, for messages.
    fn split_names(&self) -> String {
        let splits: BTreeSet<HeldOut> = self.splits.iter().copied().collect();
        splits.into_iter().map(|s| format!("`{}`", s.name())).collect::<Vec<_>>().join(" or ")
    }

    /// Whether `clip` is copied.
    fn chosen(&self, clip: &Clip) -> bool {
        self.splits.iter().any(|s| s.split() == clip.split) && (self.clips == Which::All || clip.label.is_some())
    }

    /// Where clip `clip`'s noise comes from: one draw, the same at every SNR.
    fn noise_source(&self, seed: u64, clip: &Clip, noise_clips: &[Clip]) -> NoiseSource {
        draw_source(&mut stream(seed, &clip.file_id, 0), noise_clips)
    }

    /// Clip `clip`'s room of reverberation time `rt60`: one seed of its impulse response's
    /// noise, the same at every RT60 (a stream of its own, so that adding rooms leaves the
    /// noise draws as they were).
    fn room(&self, seed: u64, clip: &Clip, rt60: f64) -> Room {
        Room::Synthetic { rt60, drr_db: self.reverb_drr_db.unwrap_or(0.0), seed: stream(seed, &clip.file_id, 1).random() }
    }

    /// Clip `clip`'s measured room: one of `rooms`, drawn from a stream of its own.
    fn recorded_room(&self, seed: u64, clip: &Clip, rooms: &[Clip]) -> Room {
        Room::Recorded { clip: stream(seed, &clip.file_id, 2).random_range(0..rooms.len()) }
    }

    fn degrade(&self, ctx: &StageContext) -> Result<(), AudioError> {
        let input_dir = &ctx.inputs[0].dir;
        let Manifest { labels, clips } = AudioSet::read_manifest(input_dir)?;
        let input = SampleFile::open(input_dir)?;
        if let Some(clip) = clips.iter().find(|c| c.extra.get(CONDITION).is_some_and(|v| !v.is_empty())) {
            return Err(AudioError::ConditionTaken { file_id: clip.file_id.clone(), value: clip.extra[CONDITION].clone() });
        }
        let chosen = clips.iter().filter(|c| self.chosen(c)).count();
        if chosen == 0 {
            return Err(AudioError::NothingToDegrade { clips: Some(clips.len()), splits: self.split_names() });
        }
        let recordings = Recordings::open(ctx, self.role(), self.noise_snr.is_some())?;
        let recorded: &[Clip] = recordings.as_ref().map_or(&[], |r| r.clips.as_slice());
        let (noise_clips, rooms) = (Recordings::noise(recordings.as_ref()), Recordings::rooms(recordings.as_ref()));
        let generated = noise_clips.is_empty().then(|| self.colour());
        let conditions: Vec<(Condition, String)> =
            self.conditions().into_iter().map(|c| (c, c.name(generated))).collect();
        let seed = self.seed.unwrap_or(ctx.seed);
        let ids: HashSet<&str> = clips.iter().map(|c| c.file_id.as_str()).collect();
        let (mut rows, output) = set_writer::create(ctx.out_dir, labels)?;
        let mut jobs = Vec::with_capacity(clips.len() + chosen * conditions.len());
        for (i, clip) in clips.iter().enumerate() {
            input.check(clip)?;
            let mut row = clip.clone();
            row.extra.insert(CONDITION.into(), CLEAN.into());
            jobs.push(Job { clip: i, perturbation: None, offset: rows.place(row, clip.length) });
            if !self.chosen(clip) {
                continue;
            }
            let source = self.noise_source(seed, clip, noise_clips);
            for (condition, name) in &conditions {
                let perturbation = match *condition {
                    Condition::Noise(snr) => Perturbation { noise: Some((snr, source)), ..Perturbation::default() },
                    Condition::Reverb(rt60) => Perturbation { room: Some(self.room(seed, clip, rt60)), ..Perturbation::default() },
                    Condition::Recorded => Perturbation { room: Some(self.recorded_room(seed, clip, rooms)), ..Perturbation::default() },
                    Condition::Speed(speed) => Perturbation { speed: Some(speed), ..Perturbation::default() },
                    Condition::Band(low, high) => {
                        check_band_fits(low, high, clip)?;
                        Perturbation { band: Some((low, high)), ..Perturbation::default() }
                    }
                    Condition::Codec(law) => Perturbation { codec: Some(law), ..Perturbation::default() },
                    Condition::Gain(db) => Perturbation { gain: Some(db), ..Perturbation::default() },
                    Condition::Clipping(percent) => Perturbation { clipping: Some(percent), ..Perturbation::default() },
                };
                let mut row = clip.clone();
                row.file_id = format!("{}_{}", clip.file_id, condition.suffix());
                if ids.contains(row.file_id.as_str()) {
                    return Err(AudioError::DegradedIdTaken { file_id: row.file_id, original: clip.file_id.clone(), condition: name.clone() });
                }
                if let Some(speed) = perturbation.speed {
                    row.original_length = (clip.original_length * 1000 + u64::from(speed) / 2) / u64::from(speed);
                }
                row.extra.insert(CONDITION.into(), name.clone());
                row.extra.insert(DEGRADED_FROM.into(), clip.file_id.clone());
                check_rates(&perturbation, recorded, clip)?;
                row.extra.insert(DEGRADATION.into(), perturbation.describe(self.colour(), recorded));
                let offset = rows.place(row, clip.length);
                jobs.push(Job { clip: i, perturbation: Some(perturbation), offset });
            }
        }
        write_copies(ctx, "degrade", &clips, &jobs, &input, &output, recordings.as_ref(), self.colour())?;
        let (out, _) = rows.finish(output)?;
        let names: Vec<&str> = conditions.iter().map(|(_, n)| n.as_str()).collect();
        self.write_summary(ctx, chosen, clips.len(), out.len(), &names, recordings.as_ref().map(|r| (r.role, r.clips.len())))?;
        tracing::info!(
            "{}: {chosen} held-out clips x {} conditions added ({} clips); score them with evaluate's `by = [\"{CONDITION}\"]`",
            ctx.stage,
            conditions.len(),
            out.len()
        );
        Ok(())
    }

    /// `report/degrade.txt`: what was added, for people. `second`: what the second input holds
    /// and its clip count, when there is one (never its name: no cached output holds a stage
    /// name).
    fn write_summary(
        &self,
        ctx: &StageContext,
        chosen: usize,
        clips: usize,
        total: usize,
        conditions: &[&str],
        second: Option<(SecondInput, usize)>,
    ) -> Result<(), AudioError> {
        let dir = ctx.report_dir().map_err(|source| AudioError::Io { path: ctx.out_dir.join("report"), source })?;
        let which = if self.clips == Which::All { "" } else { "labelled " };
        let mut text = format!(
            "{chosen} {which}{} clips x {} conditions added: {total} clips ({clips} in, train clips unchanged)\n",
            self.split_names().replace('`', ""),
            conditions.len()
        );
        let _ = writeln!(text, "conditions: {CLEAN}, {}", conditions.join(", "));
        match second {
            Some((SecondInput::Noise, n)) => {
                let _ = writeln!(text, "noise: the noise input's {n} clips, one stretch per clip at every SNR");
            }
            Some((SecondInput::Rooms, n)) => {
                let _ = writeln!(text, "rooms: the second input's {n} impulse responses, one drawn per clip");
            }
            None => {}
        }
        text += "each clip's condition: the manifest's `condition` column (score with evaluate's `by = [\"condition\"]`)\n";
        let path = dir.join("degrade.txt");
        std::fs::write(&path, text).map_err(|source| AudioError::Io { path, source })
    }
}

#[cfg(test)]
mod tests {
    use vox_api::labels::LabelSet;

    use super::*;
    use crate::emotion::Emotion;
    use crate::stats::power;
    use crate::test_support::{TestStage, clip, ravdess_set};

    fn params(toml: toml::Table) -> Degrade {
        vox_api::kind::<Degrade>().configure(toml.clone()).map_err(|e| e.to_string()).unwrap();
        toml::Value::Table(toml).try_into().unwrap()
    }

    /// The error `configure` gives for `toml`.
    fn problem(toml: toml::Table) -> String {
        vox_api::kind::<Degrade>().configure(toml).err().unwrap().to_string()
    }

    /// A 200 Hz tone of 0.5 s at 16 kHz between 0.1 s of zeros on each side (a padded clip).
    fn padded_tone() -> Vec<f32> {
        let mut x = vec![0.0f32; 1600];
        x.extend((0..8000).map(|i| 0.5 * (std::f64::consts::TAU * 200.0 * f64::from(i) / 16000.0 + 0.3).sin() as f32));
        x.extend(vec![0.0f32; 1600]);
        x
    }

    /// Clips `a` (train), `b` (val), `d` (test), `e` (test, no label), each a padded tone.
    fn set() -> AudioSet {
        let mut set = ravdess_set();
        for (id, split, emotion) in
            [("a", Split::Train, Some(Emotion::Sad)), ("b", Split::Val, Some(Emotion::Sad)), ("d", Split::Test, Some(Emotion::Angry)), ("e", Split::Test, None)]
        {
            set.push(Clip { split, ..clip(id, emotion, "01") }, &padded_tone());
        }
        set
    }

    /// Runs `degrade` on `inputs`; the output set and `report/degrade.txt`.
    fn run(degrade: &Degrade, inputs: &[(&str, &AudioSet)]) -> Result<(AudioSet, String), String> {
        let stage = TestStage::with_audio_inputs(inputs);
        degrade.run(&stage.ctx(7)).map_err(|e| e.to_string())?;
        let summary = std::fs::read_to_string(stage.out_dir().join("report/degrade.txt")).unwrap();
        Ok((AudioSet::read(stage.out_dir()).unwrap(), summary))
    }

    fn samples<'a>(set: &'a AudioSet, id: &str) -> &'a [f32] {
        set.samples_of(set.clips.iter().find(|c| c.file_id == id).unwrap())
    }

    fn row<'a>(set: &'a AudioSet, id: &str) -> &'a Clip {
        set.clips.iter().find(|c| c.file_id == id).unwrap()
    }

    /// The content part (between the padding) of `x`, widened.
    fn content_of(x: &[f32]) -> Vec<f64> {
        x[1600..x.len() - 1600].iter().map(|&v| f64::from(v)).collect()
    }

    #[test]
    fn each_labelled_test_clip_gets_a_copy_per_condition_in_the_order_listed() {
        let degrade = params(toml::toml! { noise_snr = [20.0, 0.0]  speed = [0.9]  gain_db = [-6.0] });
        let input = set();
        let (out, summary) = run(&degrade, &[("split", &input)]).unwrap();
        let ids: Vec<&str> = out.clips.iter().map(|c| c.file_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "d", "d_noise20dB", "d_noise0dB", "d_speed0.9", "d_gain-6dB", "e"]);
        let conditions: Vec<&str> = out.clips.iter().map(|c| c.extra[CONDITION].as_str()).collect();
        assert_eq!(
            conditions,
            ["clean", "clean", "clean", "noise 20 dB (white)", "noise 0 dB (white)", "speed 0.9", "gain -6 dB", "clean"]
        );
        assert_eq!(
            summary,
            "1 labelled test clips x 4 conditions added: 8 clips (4 in, train clips unchanged)\n\
             conditions: clean, noise 20 dB (white), noise 0 dB (white), speed 0.9, gain -6 dB\n\
             each clip's condition: the manifest's `condition` column (score with evaluate's `by = [\"condition\"]`)\n"
        );
        for original in &input.clips {
            assert_eq!(samples(&out, &original.file_id), input.samples_of(original), "{}", original.file_id);
            assert!(!row(&out, &original.file_id).extra.contains_key(DEGRADED_FROM));
        }
        let copy = row(&out, "d_gain-6dB");
        assert_eq!((copy.split, copy.label.as_deref(), copy.speaker.as_str()), (Split::Test, Some("05"), "01"));
        assert_eq!((copy.extra[DEGRADED_FROM].as_str(), copy.extra[DEGRADATION].as_str()), ("d", "gain -6.0 dB"));
        let factor = 10f64.powf(-6.0 / 20.0);
        for (o, c) in input.samples_of(&input.clips[2]).iter().zip(samples(&out, "d_gain-6dB")) {
            assert_eq!(*c, (f64::from(*o) * factor) as f32);
        }
        let slow = row(&out, "d_speed0.9");
        assert_eq!(slow.original_length, (input.clips[2].original_length as f64 / 0.9).round() as u64);
        assert_eq!(samples(&out, "d_speed0.9").len(), input.clips[2].length as usize);

        // `clips = "all"` copies the unlabeled test clip too; `splits` picks val.
        let all = params(toml::toml! { gain_db = [6.0]  clips = "all"  splits = ["val", "test"] });
        let (out, summary) = run(&all, &[("split", &input)]).unwrap();
        let ids: Vec<&str> = out.clips.iter().map(|c| c.file_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "b_gain6dB", "d", "d_gain6dB", "e", "e_gain6dB"]);
        assert!(summary.starts_with("3 val or test clips x 1 conditions added: 7 clips (4 in"), "{summary}");
    }

    #[test]
    fn a_clip_gets_the_same_noise_at_every_snr_at_exactly_that_level() {
        for colour in ["white", "pink"] {
            let degrade = params(toml::toml! { noise_snr = [20.0, 5.0, -5.0]  noise = colour });
            let input = set();
            let (out, _) = run(&degrade, &[("split", &input)]).unwrap();
            let signal = content_of(input.samples_of(&input.clips[2]));
            let mut noises = Vec::new();
            for snr in [20.0, 5.0, -5.0] {
                let copy = samples(&out, &format!("d_noise{snr}dB"));
                assert_eq!(&copy[..1600], &[0.0; 1600][..], "{colour}: the padding stays silent");
                let noise: Vec<f64> = content_of(copy).iter().zip(&signal).map(|(c, s)| c - s).collect();
                let measured = 10.0 * (power(&signal) / power(&noise)).log10();
                assert!((measured - snr).abs() < 1e-3, "{colour}: {measured} dB against {snr} dB");
                assert_eq!(row(&out, &format!("d_noise{snr}dB")).extra[CONDITION], format!("noise {snr} dB ({colour})"));
                noises.push(noise);
            }
            // 15 dB apart: the same samples, 10^(15/20) times louder (to f32 rounding).
            let ratio = 10f64.powf(15.0 / 20.0);
            let off = noises[0].iter().zip(&noises[1]).map(|(a, b)| (a * ratio - b).abs()).fold(0.0, f64::max);
            assert!(off < 1e-5, "{colour}: {off}");
        }
    }

    #[test]
    fn a_noise_input_gives_each_clip_one_stretch_for_every_level() {
        let degrade = params(toml::toml! { noise_snr = [10.0, 0.0] });
        let input = set();
        let mut noise = AudioSet { labels: LabelSet::from_names(["x"]).unwrap(), ..AudioSet::default() };
        let hum: Vec<f32> = (0..333).map(|i| ((i * 7919) % 331) as f32 / 331.0 - 0.5).collect();
        noise.push(clip("hum", None, ""), &hum);
        let (out, summary) = run(&degrade, &[("split", &input), ("noise", &noise)]).unwrap();
        assert!(summary.contains("\nnoise: the noise input's 1 clips, one stretch per clip at every SNR\n"), "{summary}");
        let NoiseSource::Clip { clip: 0, start } = degrade.noise_source(7, &input.clips[2], &noise.clips) else { panic!() };
        for snr in [10, 0] {
            let copy = row(&out, &format!("d_noise{snr}dB"));
            assert_eq!(copy.extra[CONDITION], format!("noise {snr} dB"), "recorded noise is not named by recording");
            assert_eq!(copy.extra[DEGRADATION], format!("noise {snr}.0 dB (hum from sample {start})"));
            let added: Vec<f64> =
                samples(&out, &copy.file_id).iter().zip(input.samples_of(&input.clips[2])).map(|(&c, &o)| f64::from(c) - f64::from(o)).collect();
            let scale = added[1600] / f64::from(hum[start as usize]);
            for i in 0..8000 {
                let expected = scale * f64::from(hum[(start as usize + i) % 333]);
                assert!((added[1600 + i] - expected).abs() < 1e-6, "{snr} dB, sample {i}: {} vs {expected}", added[1600 + i]);
            }
        }
    }

    #[test]
    fn a_band_keeps_what_lies_within_it_and_nothing_else() {
        // 200 Hz and 1000 Hz for 0.5 s: whole periods, each on one FFT bin.
        let mut set = ravdess_set();
        let tone = |f: f64, i: usize| (std::f64::consts::TAU * f * i as f64 / 16000.0 + 0.3).sin();
        let mixed: Vec<f32> = (0..8000).map(|i| (0.5 * tone(200.0, i) + 0.3 * tone(1000.0, i)) as f32).collect();
        set.push(Clip { split: Split::Test, ..clip("t", Some(Emotion::Angry), "01") }, &mixed);
        let degrade = params(toml::toml! { band_hz = [[300.0, 3400.0]] });
        let (out, _) = run(&degrade, &[("split", &set)]).unwrap();
        let copy = row(&out, "t_band300-3400Hz");
        assert_eq!((copy.extra[CONDITION].as_str(), copy.extra[DEGRADATION].as_str()), ("band 300-3400 Hz", "band 300-3400 Hz"));
        let off = samples(&out, "t_band300-3400Hz").iter().enumerate().map(|(i, &v)| (f64::from(v) - 0.3 * tone(1000.0, i)).abs()).fold(0.0, f64::max);
        assert!(off < 1e-5, "the 200 Hz tone is gone, the 1000 Hz one kept: {off}");

        let above = params(toml::toml! { band_hz = [[300.0, 9000.0]] });
        assert_eq!(
            run(&above, &[("split", &set)]).unwrap_err(),
            "band 300-9000 Hz reaches above what clip `t` holds: sampled at 16000 Hz, its frequencies stop at 8000 Hz"
        );
        assert!(problem(toml::toml! { band_hz = [[3400.0, 300.0]] }).contains("each band is `[low, high]` in Hz with 0 <= low < high, got [3400, 300]"));
    }

    /// A clip of 0.5 s at 16 kHz: white noise for 0.25 s (every frequency excites the room
    /// alike, as an acoustician's burst), then a faint hum to the end (nonzero, so that it is
    /// content a room's tail can ring into).
    fn burst() -> Vec<f32> {
        let noise = crate::stats::normals(&mut rand::SeedableRng::seed_from_u64(11), 4000);
        let hum = (4000..8000).map(|i| 1e-4 * (std::f64::consts::TAU * 500.0 * f64::from(i) / 16000.0).sin());
        noise.into_iter().map(|v| 0.2 * v).chain(hum).map(|v| v as f32).collect()
    }

    /// Level in dB of `x[from..to]` (seconds at 16 kHz).
    fn level(x: &[f32], from: f64, to: f64) -> f64 {
        let part: Vec<f64> = x[(from * 16000.0) as usize..(to * 16000.0) as usize].iter().map(|&v| f64::from(v)).collect();
        10.0 * power(&part).log10()
    }

    #[test]
    fn a_room_rings_on_after_the_sound_for_its_reverberation_time() {
        let mut set = ravdess_set();
        set.push(Clip { split: Split::Test, ..clip("t", Some(Emotion::Angry), "01") }, &burst());
        let degrade = params(toml::toml! { reverb_rt60 = [0.3, 0.6] });
        let (out, summary) = run(&degrade, &[("split", &set)]).unwrap();
        assert!(summary.contains("conditions: clean, reverb RT60 0.3 s, reverb RT60 0.6 s\n"), "{summary}");
        let dry = burst();
        // The hum alone, dry: about -83 dB.
        assert!(level(&dry, 0.3, 0.35) < -80.0);
        for rt60 in [0.3, 0.6] {
            let id = format!("t_reverb{rt60}s");
            let copy = row(&out, &id);
            assert_eq!(copy.extra[CONDITION], format!("reverb RT60 {rt60} s"));
            assert_eq!(copy.extra[DEGRADATION], format!("reverb RT60 {rt60} s, DRR 0 dB"));
            let wet = samples(&out, &id);
            assert_eq!(wet.len(), dry.len());
            let (p_dry, p_wet) = (power(&content_of_all(&dry)), power(&content_of_all(wet)));
            assert!((p_wet / p_dry - 1.0).abs() < 1e-5, "the clip's power is kept: {p_wet} vs {p_dry}");
            // After the tone stops, the room's tail falls 60 dB per RT60: 50 ms apart, 10 dB
            // at 0.3 s and 5 dB at 0.6 s.
            let fall = level(wet, 0.27, 0.32) - level(wet, 0.32, 0.37);
            let expected = 60.0 * 0.05 / rt60;
            assert!((fall - expected).abs() < 1.5, "RT60 {rt60}: fell {fall:.2} dB in 50 ms, expected {expected} dB");
            assert!(level(wet, 0.27, 0.32) > -40.0, "the tail rings where the dry clip is silent");
        }
        let drr = params(toml::toml! { reverb_rt60 = [0.3]  reverb_drr_db = -10.0 });
        let (far, _) = run(&drr, &[("split", &set)]).unwrap();
        assert_eq!(row(&far, "t_reverb0.3s").extra[DEGRADATION], "reverb RT60 0.3 s, DRR -10 dB");
        let (near, far) = (samples(&out, "t_reverb0.3s"), samples(&far, "t_reverb0.3s"));
        // A farther talker: more of the room, less of the voice. At the same power, the tail
        // holds 10/11 of the energy instead of 1/2: 2.6 dB louder.
        let louder = level(far, 0.27, 0.32) - level(near, 0.27, 0.32);
        assert!((louder - 2.6).abs() < 0.5, "{louder:.2} dB");
    }

    /// `x` widened.
    fn content_of_all(x: &[f32]) -> Vec<f64> {
        x.iter().map(|&v| f64::from(v)).collect()
    }

    #[test]
    fn a_codec_carries_what_a_telephone_line_carries() {
        // 1000 Hz, which the 8 kHz line carries, and 6000 Hz, which it cannot.
        let mut set = ravdess_set();
        let tone = |f: f64, i: usize| (std::f64::consts::TAU * f * i as f64 / 16000.0).sin();
        let mixed: Vec<f32> = (0..8000).map(|i| (0.4 * tone(1000.0, i) + 0.2 * tone(6000.0, i)) as f32).collect();
        set.push(Clip { split: Split::Test, ..clip("t", Some(Emotion::Angry), "01") }, &mixed);
        let degrade = params(toml::toml! { codec = ["mu-law", "a-law"] });
        let (out, _) = run(&degrade, &[("split", &set)]).unwrap();
        let ids: Vec<&str> = out.clips.iter().map(|c| c.file_id.as_str()).collect();
        assert_eq!(ids, ["t", "t_mulaw", "t_alaw"]);
        let mut copies = Vec::new();
        for (id, name) in [("t_mulaw", "mu-law"), ("t_alaw", "a-law")] {
            let copy = row(&out, id);
            assert_eq!(copy.extra[CONDITION], format!("codec {name}"));
            assert_eq!(copy.extra[DEGRADATION], format!("codec {name} at 8 kHz"));
            let coded = samples(&out, id);
            assert_eq!(coded.len(), 8000);
            // Away from the ends (the resampler's filters), what is left is the 1000 Hz tone
            // and the coding's noise, some 30 dB below it.
            let low: Vec<f64> = (800..7200).map(|i| 0.4 * tone(1000.0, i)).collect();
            let rest: Vec<f64> = (800..7200).map(|i| f64::from(coded[i]) - 0.4 * tone(1000.0, i)).collect();
            let snr = 10.0 * (power(&low) / power(&rest)).log10();
            assert!((25.0..50.0).contains(&snr), "{name}: {snr:.1} dB");
            copies.push(coded.to_vec());
        }
        assert_ne!(copies[0], copies[1], "two laws, two codings");
    }

    #[test]
    fn measured_rooms_are_one_condition_each_clip_in_a_drawn_room() {
        // Two impulse responses, each with a lead-in before its direct sound.
        let mut rooms = AudioSet { labels: LabelSet::from_names(["x"]).unwrap(), ..AudioSet::default() };
        let hall: Vec<f32> = [0.0f32, 0.02, 1.0].into_iter().chain((1..400).map(|i| 0.5 * (-f64::from(i) / 80.0).exp() as f32 * if i % 3 == 0 { -1.0 } else { 1.0 })).collect();
        rooms.push(clip("hall", None, ""), &hall);
        rooms.push(clip("booth", None, ""), &[0.0, -0.8, 0.3, -0.1]);
        let degrade = params(toml::toml! { second_input = "rooms"  noise_snr = [10.0] });
        let input = set();
        let (out, summary) = run(&degrade, &[("split", &input), ("rirs", &rooms)]).unwrap();
        assert!(summary.contains("conditions: clean, noise 10 dB (white), reverb (recorded rooms)\n"), "{summary}");
        assert!(summary.contains("\nrooms: the second input's 2 impulse responses, one drawn per clip\n"), "{summary}");
        let ids: Vec<&str> = out.clips.iter().map(|c| c.file_id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "d", "d_noise10dB", "d_room", "e"], "noise is generated: the second input is rooms");
        let Room::Recorded { clip: k } = degrade.recorded_room(7, &input.clips[2], &rooms.clips) else { panic!() };
        let copy = row(&out, "d_room");
        assert_eq!(copy.extra[CONDITION], "reverb (recorded rooms)");
        assert_eq!(copy.extra[DEGRADATION], format!("reverb (room {})", rooms.clips[k].file_id));
        // The content convolved with the response from its direct sound on, at the content's power.
        let response: Vec<f64> = rooms.samples_of(&rooms.clips[k]).iter().map(|&v| f64::from(v)).collect();
        let response = crate::reverb::from_direct_sound(response).unwrap();
        let dry = content_of(input.samples_of(&input.clips[2]));
        let wet: Vec<f64> = (0..dry.len()).map(|i| (0..=i.min(response.len() - 1)).map(|j| response[j] * dry[i - j]).sum()).collect();
        let scale = (power(&dry) / power(&wet)).sqrt();
        let got = samples(&out, "d_room");
        assert_eq!(&got[..1600], &[0.0; 1600][..], "the padding stays silent");
        let off = content_of(got).iter().zip(&wet).map(|(g, w)| (g - w * scale).abs()).fold(0.0, f64::max);
        assert!(off < 1e-6, "{off}");

        // A room at another rate, a silent one, and rooms without the input are refused.
        let mut fast = rooms.clone();
        for c in &mut fast.clips {
            c.sample_rate = 48000;
        }
        assert_eq!(
            run(&degrade, &[("split", &input), ("rirs", &fast)]).unwrap_err(),
            format!("room clip `{}` is sampled at 48000 Hz but clip `d` at 16000 Hz: decode the room at the corpus's rate (`sample_rate = 16000`)", rooms.clips[k].file_id)
        );
        let mut silent = AudioSet { labels: LabelSet::from_names(["x"]).unwrap(), ..AudioSet::default() };
        silent.push(clip("off", None, ""), &[0.0; 8]);
        assert_eq!(
            run(&degrade, &[("split", &input), ("rirs", &silent)]).unwrap_err(),
            "room clip `off` holds only zeros: it is no impulse response (leave it out of the rooms' decode)"
        );
        let without = crate::perturb::check_second_input(&[], SecondInput::Rooms, true, false).unwrap_err().to_string();
        assert!(without.contains("`second_input = \"rooms\"` needs a second input: the impulse responses"), "{without}");
    }

    #[test]
    fn clipping_cuts_the_loudest_share_of_samples_flat() {
        let degrade = params(toml::toml! { clipping_percent = [10.0, 1.0] });
        let mut input = ravdess_set();
        input.push(Clip { split: Split::Test, ..clip("d", Some(Emotion::Angry), "01") }, &burst());
        let (out, _) = run(&degrade, &[("split", &input)]).unwrap();
        let original = input.samples_of(&input.clips[0]);
        for (percent, id) in [(10.0, "d_clip10pct"), (1.0, "d_clip1pct")] {
            let copy = row(&out, id);
            assert_eq!((copy.extra[CONDITION].as_str(), copy.extra[DEGRADATION].as_str()), (&*format!("clipping {percent}%"), &*format!("clipping {percent}%")));
            let clipped = samples(&out, id);
            let level = clipped.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let mut changed = 0;
            for (o, c) in original.iter().zip(clipped) {
                if o.abs() <= level {
                    assert_eq!(o, c);
                } else {
                    assert_eq!(*c, level.copysign(*o));
                    changed += 1;
                }
            }
            // That share of the 8000 content samples (noise: no two tied at the level).
            assert_eq!(changed, (8000.0 * percent / 100.0) as usize, "{percent}%");
        }
    }

    #[test]
    fn every_condition_copes_with_clips_of_a_few_samples() {
        let mut set = ravdess_set();
        for n in [1usize, 2, 3, 7] {
            let x: Vec<f32> = (0..n).map(|i| 0.3 - 0.1 * i as f32).collect();
            set.push(Clip { split: Split::Test, ..clip(&format!("t{n}"), Some(Emotion::Angry), "01") }, &x);
        }
        let degrade = params(toml::toml! {
            noise_snr = [0.0]  reverb_rt60 = [0.5]  speed = [0.9, 1.1]  band_hz = [[300.0, 3400.0]]  codec = ["mu-law", "a-law"]  gain_db = [-6.0]
            clipping_percent = [20.0]
        });
        let (out, _) = run(&degrade, &[("split", &set)]).unwrap();
        assert_eq!(out.clips.len(), 4 * 10);
        for c in &out.clips {
            let original = &set.clips[set.clips.iter().position(|o| c.file_id.starts_with(&o.file_id)).unwrap()];
            assert_eq!(c.length, original.length, "{}", c.file_id);
            assert!(out.samples_of(c).iter().all(|v| v.is_finite()), "{}", c.file_id);
        }
    }

    #[test]
    fn bad_params_and_inputs_are_refused_with_their_reason() {
        assert!(problem(toml::Table::new()).contains("no condition: set `noise_snr`, `reverb_rt60`, `speed`, `band_hz`, `codec`, `gain_db` or `clipping_percent`"));
        assert!(problem(toml::toml! { clipping_percent = [0.0] }).contains("shares must be above 0 and at most 50 (%), got 0"));
        assert!(problem(toml::toml! { clipping_percent = [5.0, 5.0] }).contains("`clip5pct` is listed twice"));
        assert!(problem(toml::toml! { speed = [1.0] }).contains("speed 1 is the clean clip"));
        assert!(problem(toml::toml! { gain_db = [0.0] }).contains("a gain of 0 dB is the clean clip"));
        assert!(problem(toml::toml! { noise_snr = [10.0, 10.0] }).contains("`noise10dB` is listed twice"));
        assert!(problem(toml::toml! { noise_snr = [] }).contains("needs at least one value"));
        assert!(problem(toml::toml! { noise_snr = [200.0] }).contains("within ±100 dB, got 200"));
        assert!(problem(toml::toml! { speed = [3.0] }).contains("within 0.5..=2.0, got 3"));
        assert!(problem(toml::toml! { gain_db = [6.0]  noise = "pink" }).contains("`noise` needs `noise_snr`"));
        assert!(problem(toml::toml! { gain_db = [6.0]  splits = [] }).contains("needs `test`, `val` or both"));
        assert!(problem(toml::toml! { gain_db = [6.0]  splits = ["train"] }).contains("unknown variant `train`"));
        assert!(problem(toml::toml! { reverb_rt60 = [] }).contains("needs at least one time"));
        assert!(problem(toml::toml! { reverb_rt60 = [10.0] }).contains("within 0.05..=5.0 s, got 10"));
        assert!(problem(toml::toml! { gain_db = [6.0]  reverb_drr_db = 3.0 }).contains("`reverb_drr_db` needs `reverb_rt60`"));
        assert!(problem(toml::toml! { reverb_rt60 = [0.5]  reverb_drr_db = 50.0 }).contains("within ±30 dB, got 50"));
        assert!(problem(toml::toml! { reverb_rt60 = [0.5, 0.5] }).contains("`reverb0.5s` is listed twice"));
        assert!(problem(toml::toml! { codec = [] }).contains("needs at least one codec"));
        assert!(problem(toml::toml! { codec = ["a-law", "a-law"] }).contains("`alaw` is listed twice"));
        assert!(problem(toml::toml! { codec = ["gsm"] }).contains("unknown variant `gsm`, expected `mu-law` or `a-law`"));

        let gain = params(toml::toml! { gain_db = [6.0] });
        let mut train_only = set();
        train_only.clips.retain(|c| c.split == Split::Train);
        assert_eq!(
            run(&gain, &[("split", &train_only)]).unwrap_err(),
            "of the input's 1 clips, no labelled clip of the input is in `test`: put `degrade` after a `split` that holds clips out (or `clips = \"all\"` for unlabeled ones)"
        );
        let (once, _) = run(&gain, &[("split", &set())]).unwrap();
        assert_eq!(
            run(&gain, &[("degraded", &once)]).unwrap_err(),
            "clip `a` already has a `condition` (`clean`): degrade once, with every condition in one stage (or rename the table's column with `columns`)"
        );
        let mut taken = set();
        taken.clips[3].file_id = "d_gain6dB".into();
        assert_eq!(
            run(&gain, &[("split", &taken)]).unwrap_err(),
            "the `gain 6 dB` copy of clip `d` would be `d_gain6dB`, the id of a clip of the input: rename one of them upstream"
        );
        let mut noise = AudioSet { labels: LabelSet::from_names(["x"]).unwrap(), ..AudioSet::default() };
        noise.push(Clip { sample_rate: 48000, ..clip("hum", None, "") }, &[0.1, -0.2, 0.3]);
        assert_eq!(
            run(&params(toml::toml! { noise_snr = [5.0] }), &[("split", &set()), ("noise", &noise)]).unwrap_err(),
            "noise clip `hum` is sampled at 48000 Hz but clip `d` at 16000 Hz: decode the noise at the corpus's rate (`sample_rate = 16000`)"
        );

        // A split of degraded copies is refused: a copy and its original could land apart.
        let mut unsplit = once.clone();
        for c in &mut unsplit.clips {
            c.extra.remove(CONDITION);
        }
        let split: crate::split::Split = toml::Value::Table(toml::Table::new()).try_into().unwrap();
        let stage = TestStage::with_audio_input(&unsplit);
        let error = split.run(&stage.ctx(1)).unwrap_err().to_string();
        assert!(error.starts_with("clip `d_gain6dB` is a degraded copy of `d`: split before `degrade`"), "{error}");
    }

    #[test]
    fn the_seed_and_white_noise_key_only_where_they_change_the_bytes() {
        let key = |toml: toml::Table| vox_api::kind::<Degrade>().configure(toml).unwrap().params();
        let gain = key(toml::toml! { gain_db = [6.0] });
        assert_eq!(gain, key(toml::toml! { gain_db = [6.0]  seed = 3 }), "no noise: the seed draws nothing");
        let noise = key(toml::toml! { noise_snr = [5.0] });
        assert_eq!(noise, key(toml::toml! { noise_snr = [5.0]  noise = "white" }));
        assert_ne!(noise, key(toml::toml! { noise_snr = [5.0]  noise = "pink" }));
        assert_ne!(noise, key(toml::toml! { noise_snr = [5.0]  seed = 3 }));
        let room = key(toml::toml! { reverb_rt60 = [0.5] });
        assert_eq!(room, key(toml::toml! { reverb_rt60 = [0.5]  reverb_drr_db = 0.0 }), "0 dB is the default");
        assert_ne!(room, key(toml::toml! { reverb_rt60 = [0.5]  reverb_drr_db = -6.0 }));
        assert_ne!(room, key(toml::toml! { reverb_rt60 = [0.5]  seed = 3 }), "the seed draws the room");
        for new in ["reverb_rt60", "reverb_drr_db", "codec"] {
            assert!(gain.get(new).is_none() && noise.get(new).is_none(), "stages without `{new}` keep their keys");
        }
        assert_eq!(key(toml::toml! { codec = ["mu-law"] })["codec"], serde_json::json!(["mu-law"]));
        assert_eq!(noise, key(toml::toml! { noise_snr = [5.0]  second_input = "noise" }), "noise is the default second input");
        assert_eq!(key(toml::toml! { second_input = "rooms" })["second_input"], "rooms");
        assert_ne!(key(toml::toml! { second_input = "rooms" }), key(toml::toml! { second_input = "rooms"  seed = 3 }), "the seed draws the rooms");
        assert_eq!(noise["splits"], serde_json::json!(["test"]));
    }
}
