//! The `synth` stage: a deterministic, speech-like corpus in the exact RAVDESS layout, or in
//! SAVEE's, TESS', CREMA-D's or EmoDB's (the `naming` param, see [`crate::naming`]), so that
//! every pipeline runs offline and in seconds.
//!
//! With the default naming, files are `Actor_AA/03-01-EE-II-SS-RR-AA.wav`, 16-bit mono: every
//! actor speaks every emotion at normal (`01`) and strong (`02`) intensity, except neutral,
//! which RAVDESS has at normal intensity only, so each actor has 7 x 2 x 2 x 2 + 2 x 2 = 60
//! clips (24 actors: 1440). The other namings speak their corpus' emotions with their corpus'
//! speakers and name the clips as the corpus does.
//! Each clip is rendered by [`crate::speech`]: Rosenberg glottal pulses through five formant
//! resonators, the vowels of the RAVDESS statement, syllable envelopes and pauses, aspiration,
//! leading and trailing silence.
//!
//! How each emotion is spoken, at normal intensity (F0 relative to the speaker's own):
//!
//! | code | emotion   | F0 x | accents (st) | final (st) | level (dB) | rate (syl/s) | jitter | shimmer | effort | breath |
//! |------|-----------|------|--------------|------------|------------|--------------|--------|---------|--------|--------|
//! | 01   | neutral   | 1.00 | 2.0          | -1.0       | 0          | 4.2          | 0.6 %  | 3 %     | 0.50   | 0.04   |
//! | 02   | calm      | 0.96 | 1.7          | -1.5       | -2         | 3.8          | 0.6 %  | 3 %     | 0.40   | 0.07   |
//! | 03   | happy     | 1.18 | 4.5          | +0.5       | +3         | 4.6          | 0.8 %  | 4 %     | 0.65   | 0.04   |
//! | 04   | sad       | 0.92 | 1.2          | -2.5       | -5         | 3.2          | 1.2 %  | 6 %     | 0.25   | 0.09   |
//! | 05   | angry     | 1.25 | 4.0          | -2.0       | +7         | 4.8          | 1.2 %  | 5 %     | 0.90   | 0.03   |
//! | 06   | fearful   | 1.32 | 3.0          | +1.0       | +1         | 5.4          | 2.0 %  | 7 %     | 0.45   | 0.08   |
//! | 07   | disgust   | 0.94 | 2.8          | -3.0       | +1         | 3.5          | 1.0 %  | 5 %     | 0.60   | 0.05   |
//! | 08   | surprised | 1.22 | 6.0          | +4.0       | +3         | 4.4          | 0.8 %  | 4 %     | 0.60   | 0.04   |
//!
//! *accents*: size of the pitch accents on stressed syllables; *final*: pitch movement over the
//! last syllable (positive rises); *effort*: 0 lax (slow glottal closure, steep spectral tilt)
//! to 1 pressed (fast closure, flat spectrum); *breath*: aspiration noise. Strong intensity
//! moves every value 1.6 times as far from neutral (F0 on a log scale) and adds 2 dB.
//!
//! Speakers: odd actors are male (F0 115 Hz, formant scale 1.00), even actors female (210 Hz,
//! 1.16); each speaker draws F0 x e^(0.10 z), formant scale x e^(0.04 z), rate x e^(0.10 z),
//! level + 2.5 z dB, accents x e^(0.15 z), effort + 0.08 z and breath x e^(0.2 z) (z standard
//! normal). Each clip then draws F0 x e^(0.05 z), rate x e^(0.06 z), level + 1.5 z dB, accents
//! x e^(0.15 z), effort + 0.05 z, jitter and shimmer x e^(0.2 z), and its own syllable lengths,
//! accents and pauses. Neutral and calm, happy and surprised, sad and disgust overlap: the
//! classes are learnable but not separable by one threshold.
//!
//! Every clip has its own random stream, keyed by its speaker, emotion, intensity, statement
//! and repetition (and the naming, except for `ravdess`), so a clip's audio does not depend on
//! how many actors are generated or in which order threads finish.

use std::collections::BTreeMap;
use std::path::Path;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use crate::emotion::Emotion;
use vox_api::{ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

use crate::corpus::RavdessName;
use crate::error::AudioError;
use crate::naming::{Naming, Take};
use crate::parallel::map_with_progress;
use crate::speech::{Prosody, STATEMENTS, gauss, render};
use crate::wav::write_pcm16;

/// Writes a synthetic speech-emotion corpus, 16-bit mono, deterministic for a seed: in the
/// RAVDESS layout (`Actor_AA/03-01-EE-II-SS-RR-AA.wav`) or, with `naming`, in SAVEE's, TESS',
/// CREMA-D's, EmoDB's or IEMOCAP's, with that corpus' speakers and emotions only.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Synth {
    /// The corpus whose naming, folder layout, speakers and emotions the files follow:
    /// `ravdess` (default: 8 emotions, neutral at normal intensity only, odd actors male),
    /// `savee` (DC, JE, JK, KL, male, 7 emotions), `tess` (OAF, YAF, female, 7 emotions),
    /// `crema-d` (1001.., 6 emotions), `emodb` (03, 08, .. with EmoDB's sexes, 6 emotions
    /// and boredom, named `L` and spoken calm-like: its decode needs a `labels` policy) or
    /// `iemocap` (Ses01F, Ses01M, Ses02F, ..: its released layout with `EmoEvaluation` files;
    /// neutral, happy, excited, angry, sad, frustrated; statement 1 improvised dialogs, 2
    /// scripted, one dialog per repetition). Each speaker has 2 x `statements` x
    /// `repetitions` clips per emotion (RAVDESS neutral half).
    #[serde(default = "default_naming")]
    pub naming: Naming,
    /// Number of speakers: the corpus' first `actors`, capped at its count (RAVDESS 24, SAVEE
    /// 4, TESS 2, CREMA-D 91, EmoDB 10, IEMOCAP 10); 1..=24 (1..=91 for `crema-d`).
    #[serde(default = "default_actors")]
    pub actors: u8,
    /// Statements per emotion and intensity, 1..=2.
    #[serde(default = "default_two")]
    pub statements: u8,
    /// Repetitions of each statement at each intensity: 1..=2 for `ravdess` (its repetition
    /// field); for the others, further takes named as the corpus names more sentences, words
    /// or versions, 1..=8 (1..=6 for `crema-d`).
    #[serde(default = "default_two")]
    pub repetitions: u8,
    /// Clip length in seconds, 1..=30 (RAVDESS clips last about 3.5 s).
    #[serde(default = "default_duration")]
    pub duration: f64,
    /// Sample rate in Hz, 8000..=192000 (RAVDESS: 48000).
    #[serde(default = "default_sample_rate")]
    pub sample_rate: u32,
    /// Seed of the corpus; the pipeline's seed when absent.
    #[serde(default)]
    pub seed: Option<u64>,
}

fn default_naming() -> Naming {
    Naming::Ravdess
}

fn default_actors() -> u8 {
    RavdessName::ACTORS
}

fn default_two() -> u8 {
    2
}

fn default_duration() -> f64 {
    3.5
}

fn default_sample_rate() -> u32 {
    48000
}

/// How one emotion is spoken, relative to the speaker (one row of the module's table).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Style {
    f0: f64,
    range_st: f64,
    final_st: f64,
    level_db: f64,
    rate: f64,
    jitter: f64,
    shimmer: f64,
    effort: f64,
    breath: f64,
}

/// The module table's rows, in emotion-code order.
#[rustfmt::skip]
const STYLES: [Style; 8] = [
    Style { f0: 1.00, range_st: 2.0, final_st: -1.0, level_db: 0.0, rate: 4.2, jitter: 0.006, shimmer: 0.03, effort: 0.50, breath: 0.04 },
    Style { f0: 0.96, range_st: 1.7, final_st: -1.5, level_db: -2.0, rate: 3.8, jitter: 0.006, shimmer: 0.03, effort: 0.40, breath: 0.07 },
    Style { f0: 1.18, range_st: 4.5, final_st: 0.5, level_db: 3.0, rate: 4.6, jitter: 0.008, shimmer: 0.04, effort: 0.65, breath: 0.04 },
    Style { f0: 0.92, range_st: 1.2, final_st: -2.5, level_db: -5.0, rate: 3.2, jitter: 0.012, shimmer: 0.06, effort: 0.25, breath: 0.09 },
    Style { f0: 1.25, range_st: 4.0, final_st: -2.0, level_db: 7.0, rate: 4.8, jitter: 0.012, shimmer: 0.05, effort: 0.90, breath: 0.03 },
    Style { f0: 1.32, range_st: 3.0, final_st: 1.0, level_db: 1.0, rate: 5.4, jitter: 0.020, shimmer: 0.07, effort: 0.45, breath: 0.08 },
    Style { f0: 0.94, range_st: 2.8, final_st: -3.0, level_db: 1.0, rate: 3.5, jitter: 0.010, shimmer: 0.05, effort: 0.60, breath: 0.05 },
    Style { f0: 1.22, range_st: 6.0, final_st: 4.0, level_db: 3.0, rate: 4.4, jitter: 0.008, shimmer: 0.04, effort: 0.60, breath: 0.04 },
];

/// How much further from neutral strong intensity moves every value.
const STRONG: f64 = 1.6;
/// Extra level of strong intensity, dB.
const STRONG_LEVEL_DB: f64 = 2.0;

impl Style {
    /// The style of `emotion` at RAVDESS intensity `intensity` (1 normal, 2 strong).
    fn of(emotion: Emotion, intensity: u8) -> Self {
        let style = STYLES[emotion.index()];
        if intensity == 1 {
            return style;
        }
        let n = STYLES[Emotion::Neutral.index()];
        let away = |value: f64, neutral: f64| neutral + (value - neutral) * STRONG;
        Self {
            f0: n.f0 * (style.f0 / n.f0).powf(STRONG),
            range_st: away(style.range_st, n.range_st).max(0.0),
            final_st: away(style.final_st, n.final_st),
            level_db: away(style.level_db, n.level_db) + STRONG_LEVEL_DB,
            rate: away(style.rate, n.rate).max(1.5),
            jitter: away(style.jitter, n.jitter).max(0.0),
            shimmer: away(style.shimmer, n.shimmer).max(0.0),
            effort: away(style.effort, n.effort).clamp(0.0, 1.0),
            breath: away(style.breath, n.breath).max(0.0),
        }
    }
}

/// One actor's voice.
#[derive(Clone, Debug, PartialEq)]
struct Speaker {
    f0_hz: f64,
    formant_scale: f64,
    rate: f64,
    level_db: f64,
    range: f64,
    effort: f64,
    breath: f64,
}

impl Speaker {
    /// Draws a male or female voice.
    fn draw(male: bool, rng: &mut ChaCha8Rng) -> Self {
        let (f0_hz, formant_scale) = if male { (115.0, 1.0) } else { (210.0, 1.16) };
        Self {
            f0_hz: f0_hz * (0.10 * gauss(rng)).exp(),
            formant_scale: formant_scale * (0.04 * gauss(rng)).exp(),
            rate: (0.10 * gauss(rng)).exp(),
            level_db: 2.5 * gauss(rng),
            range: (0.15 * gauss(rng)).exp(),
            effort: 0.08 * gauss(rng),
            breath: (0.2 * gauss(rng)).exp(),
        }
    }

    /// The prosody of one clip in `style`, with the clip's own variation.
    fn prosody(&self, style: &Style, rng: &mut ChaCha8Rng) -> Prosody {
        Prosody {
            f0_hz: self.f0_hz * style.f0 * (0.05 * gauss(rng)).exp(),
            range_st: style.range_st * self.range * (0.15 * gauss(rng)).exp(),
            final_st: style.final_st,
            level_db: style.level_db + self.level_db + 1.5 * gauss(rng),
            rate: style.rate * self.rate * (0.06 * gauss(rng)).exp(),
            jitter: style.jitter * (0.2 * gauss(rng)).exp(),
            shimmer: style.shimmer * (0.2 * gauss(rng)).exp(),
            tilt: (style.effort + self.effort + 0.05 * gauss(rng)).clamp(0.0, 1.0),
            breath: style.breath * self.breath,
            formant_scale: self.formant_scale,
        }
    }
}

/// A ChaCha8 stream of `seed`: every speaker and clip has its own.
fn stream(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

/// The random stream of a clip, keyed by its speaker, style, intensity, statement and
/// repetition and offset by the naming (speakers use streams offset + 1..=91).
fn clip_stream(offset: u64, take: &Take) -> u64 {
    offset
        | 1 << 40
        | (u64::from(take.speaker) + 1) << 32
        | (take.style.index() as u64 + 1) << 24
        | u64::from(take.intensity) << 16
        | u64::from(take.statement) << 8
        | u64::from(take.repetition)
}

impl Synth {
    /// The number of speakers: `actors`, capped at the corpus' count.
    fn speakers(&self) -> u8 {
        self.actors.min(self.naming.speakers())
    }

    /// Every take, speaker by speaker, in label, intensity, statement, repetition order.
    fn takes(&self) -> Vec<Take> {
        let mut takes = Vec::new();
        for speaker in 0..self.speakers() {
            for (label, style) in self.naming.labels() {
                for intensity in self.naming.intensities(label) {
                    for statement in 1..=self.statements {
                        for repetition in 1..=self.repetitions {
                            takes.push(Take {
                                speaker,
                                label,
                                style,
                                intensity,
                                statement,
                                repetition,
                            });
                        }
                    }
                }
            }
        }
        takes
    }

    /// Renders and writes one take.
    fn write_clip(
        &self,
        root: &Path,
        take: &Take,
        speaker: &Speaker,
        seed: u64,
    ) -> Result<(), AudioError> {
        let relative =
            self.naming.path(take, self.statements, self.repetitions).map_err(|source| {
                AudioError::SynthName { naming: self.naming.corpus().name(), source }
            })?;
        let mut rng = stream(seed, clip_stream(self.naming.stream_offset(), take));
        let prosody = speaker.prosody(&Style::of(take.style, take.intensity), &mut rng);
        let vowels = &STATEMENTS[usize::from(take.statement - 1)];
        let samples = render(vowels, &prosody, self.duration, self.sample_rate, &mut rng);
        let path = root.join(relative);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|source| AudioError::Io { path: dir.to_path_buf(), source })?;
        }
        write_pcm16(&path, &samples, self.sample_rate)
    }
}

impl Synth {
    /// IEMOCAP naming: each dialog's `SessionN/dialog/EmoEvaluation/DIALOG.txt`, a line per
    /// utterance in turn order (a clip's duration apart), with valence/arousal/dominance
    /// from the spoken style's table row.
    fn write_evaluations(&self, root: &Path, takes: &[Take]) -> Result<(), AudioError> {
        // (session, dialog) -> (utterance, category code, [V, A, D]) per turn.
        type Turn = (String, &'static str, [f64; 3]);
        let mut dialogs: BTreeMap<(u8, String), Vec<Turn>> = BTreeMap::new();
        for take in takes {
            let (session, code, utterance) = self.naming.iemocap_utterance(take).map_err(|source| {
                AudioError::SynthName { naming: self.naming.corpus().name(), source }
            })?;
            let dialog = utterance.rsplit_once('_').map_or(String::new(), |(d, _)| d.to_string());
            let style = &STYLES[take.style.index()];
            // IEMOCAP's scales run 1..5: arousal from the style's level, valence from its F0,
            // dominance from its vocal effort.
            let arousal = (3.0 + style.level_db / 4.0).clamp(1.0, 5.0);
            let valence = (3.0 + (style.f0 - 1.0) * 4.0 - if code == "ang" || code == "fru" || code == "sad" { 1.0 } else { 0.0 }).clamp(1.0, 5.0);
            let dominance = (1.0 + 4.0 * style.effort).clamp(1.0, 5.0);
            dialogs.entry((session, dialog)).or_default().push((utterance, code, [valence, arousal, dominance]));
        }
        for ((session, dialog), mut lines) in dialogs {
            lines.sort_by(|a, b| a.0.cmp(&b.0));
            let mut text = String::from("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n");
            for (i, (utterance, code, vad)) in lines.iter().enumerate() {
                let start = i as f64 * (self.duration + 0.5);
                text += &crate::corpus::iemocap::evaluation_line(start, start + self.duration, utterance, code, *vad);
                text += "\n\n";
            }
            let dir = root.join(format!("Session{session}/dialog/EmoEvaluation"));
            std::fs::create_dir_all(&dir).map_err(|source| AudioError::Io { path: dir.clone(), source })?;
            let path = dir.join(format!("{dialog}.txt"));
            std::fs::write(&path, text).map_err(|source| AudioError::Io { path, source })?;
        }
        Ok(())
    }
}

/// An error for `param` unless `value` lies in `range`.
fn check_range<T: PartialOrd + std::fmt::Display>(
    param: &str,
    value: T,
    range: std::ops::RangeInclusive<T>,
    unit: &str,
) -> Result<(), ParamError> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(ParamError::new(
            param,
            format!("`{param}` must be {}..={}{unit}, not {value}", range.start(), range.end()),
        ))
    }
}

impl StageDef for Synth {
    const KIND: &'static str = "synth";
    // 2: IEMOCAP naming's dominance follows the style's vocal effort (it was arousal's copy).
    const VERSION: u32 = 2;
    const INPUTS: InputSpec = InputSpec::NONE;
    const OUTPUT: ArtifactKind = ArtifactKind::Files;

    fn validate(&self) -> Result<(), ParamError> {
        // Up to RAVDESS' 24 for every naming (the default means "all" for smaller corpora),
        // up to 91 for CREMA-D.
        let most = self.naming.speakers().max(RavdessName::ACTORS);
        check_range("actors", self.actors, 1..=most, "")?;
        check_range("statements", self.statements, 1..=2, "")?;
        check_range("repetitions", self.repetitions, 1..=self.naming.max_repetitions(), "")?;
        check_range("duration", self.duration, 1.0..=30.0, " s")?;
        check_range("sample_rate", self.sample_rate, 8000..=192_000, " Hz")
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let seed = self.seed.unwrap_or(ctx.seed);
        let offset = self.naming.stream_offset();
        let speakers: Vec<Speaker> = (0..self.speakers())
            .map(|i| {
                let mut rng = stream(seed, offset | (u64::from(i) + 1));
                Speaker::draw(self.naming.male(i), &mut rng)
            })
            .collect();
        let takes = self.takes();
        let written = map_with_progress(ctx, &takes, "synth", |take| {
            self.write_clip(ctx.out_dir, take, &speakers[usize::from(take.speaker)], seed)
        })?;
        written.into_iter().collect::<Result<Vec<()>, _>>()?;
        if self.naming == Naming::Iemocap {
            self.write_evaluations(ctx.out_dir, &takes)?;
        }
        tracing::info!(
            "{}: wrote {} clips of {} speakers in {} naming ({} s at {} Hz, seed {seed})",
            ctx.stage,
            takes.len(),
            self.speakers(),
            self.naming.corpus().name(),
            self.duration,
            self.sample_rate
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{Decode, OnError};
    use crate::test_support::{TestStage, median_f0};
    use std::collections::BTreeMap;
    use vox_api::audio::AudioSet;

    fn synth(
        actors: u8,
        statements: u8,
        repetitions: u8,
        duration: f64,
        sample_rate: u32,
    ) -> Synth {
        Synth {
            naming: Naming::Ravdess,
            actors,
            statements,
            repetitions,
            duration,
            sample_rate,
            seed: None,
        }
    }

    /// Every file under `root`, relative, sorted, with its bytes.
    fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for actor in std::fs::read_dir(root).unwrap() {
            let actor = actor.unwrap();
            for file in std::fs::read_dir(actor.path()).unwrap() {
                let file = file.unwrap();
                let name = format!(
                    "{}/{}",
                    actor.file_name().to_string_lossy(),
                    file.file_name().to_string_lossy()
                );
                out.insert(name, std::fs::read(file.path()).unwrap());
            }
        }
        out
    }

    fn read(path: &Path) -> (hound::WavSpec, Vec<f32>) {
        let reader = hound::WavReader::open(path).unwrap();
        let spec = reader.spec();
        let samples =
            reader.into_samples::<i16>().map(|s| f32::from(s.unwrap()) / 32768.0).collect();
        (spec, samples)
    }

    #[test]
    fn writes_the_ravdess_layout() {
        let stage = TestStage::new();
        synth(3, 2, 2, 1.0, 8000).run(&stage.ctx(1)).unwrap();
        let files = files(stage.out_dir());
        assert_eq!(files.len(), 180);
        let mut per_actor = BTreeMap::new();
        let mut per_class = BTreeMap::new();
        for path in files.keys() {
            let (dir, file) = path.split_once('/').unwrap();
            let name = RavdessName::parse(file.strip_suffix(".wav").unwrap()).unwrap();
            assert_eq!(dir, name.actor_dir());
            assert_eq!(name.channel, 1);
            *per_actor.entry(name.actor).or_insert(0) += 1;
            *per_class.entry((name.emotion, name.intensity)).or_insert(0) += 1;
        }
        assert_eq!(per_actor, BTreeMap::from([(1, 60), (2, 60), (3, 60)]));
        assert_eq!(per_class[&(Emotion::Neutral, 1)], 12);
        assert!(!per_class.contains_key(&(Emotion::Neutral, 2)));
        for emotion in &Emotion::ALL[1..] {
            assert_eq!((per_class[&(*emotion, 1)], per_class[&(*emotion, 2)]), (12, 12));
        }
        for name in [
            "Actor_01/03-01-01-01-01-01-01.wav",
            "Actor_02/03-01-08-02-02-02-02.wav",
            "Actor_03/03-01-05-01-02-01-03.wav",
        ] {
            assert!(files.contains_key(name), "{name}");
        }
        let (spec, samples) = read(&stage.out_dir().join("Actor_02/03-01-05-02-01-02-02.wav"));
        assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (1, 8000, 16));
        assert_eq!(samples.len(), 8000);
        assert!(samples.iter().any(|s| s.abs() > 0.05), "no speech");
    }

    #[test]
    fn ravdess_naming_is_unchanged() {
        // blake3 over the names and bytes of the 120 files that the stage wrote for these
        // params before the `naming` param existed (checked file by file against that build).
        let stage = TestStage::new();
        synth(2, 2, 2, 1.0, 8000).run(&stage.ctx(42)).unwrap();
        let files = files(stage.out_dir());
        assert_eq!(files.len(), 120);
        let mut hasher = blake3::Hasher::new();
        for (name, bytes) in &files {
            hasher.update(name.as_bytes());
            hasher.update(bytes);
        }
        assert_eq!(
            hasher.finalize().to_hex().as_str(),
            "fb3addf916507c19ce6c340d8395b96b03d6db4f84246aab325267ce065d461e"
        );
    }

    /// Synthesizes `naming` (1 statement, 2 repetitions, 1 s at 8 kHz, seed 9) and decodes it
    /// with the matching corpus and `labels` policy.
    fn synth_and_decode(
        naming: Naming,
        actors: u8,
        labels: &[(&str, &str)],
    ) -> Result<AudioSet, String> {
        let stage = TestStage::new();
        Synth { naming, actors, ..synth(1, 1, 2, 1.0, 8000) }.run(&stage.ctx(9)).unwrap();
        let decode = TestStage::after(&stage, ArtifactKind::Files);
        let labels = labels.iter().map(|&(k, v)| (k.to_string(), v.to_string())).collect();
        Decode { corpus: naming.corpus(), classes: None, labels, table: None, columns: None, include: Vec::new(), exclude: Vec::new(), sample_rate: 8000, channel: None, on_error: OnError::Fail }
            .run(&decode.ctx(9))
            .map_err(|e| e.to_string())?;
        Ok(AudioSet::read(decode.out_dir()).unwrap())
    }

    #[test]
    fn every_naming_decodes_with_its_corpus() {
        // (naming, actors, labels policy, speakers and sexes, clips per emotion code 01..08,
        // one file the corpus layout must have).
        type Case<'a> =
            (Naming, u8, &'a [(&'a str, &'a str)], &'a [(&'a str, &'a str)], [usize; 8], &'a str);
        let cases: [Case; 5] = [
            (
                Naming::Ravdess,
                3,
                &[],
                &[("01", "m"), ("02", "f"), ("03", "m")],
                [6, 12, 12, 12, 12, 12, 12, 12],
                "Actor_03/03-01-08-02-01-02-03.wav",
            ),
            (
                Naming::Savee,
                24,
                &[],
                &[("DC", "m"), ("JE", "m"), ("JK", "m"), ("KL", "m")],
                [16, 0, 16, 16, 16, 16, 16, 16],
                "AudioData/KL/su04.wav",
            ),
            (
                Naming::Tess,
                5,
                &[],
                &[("OAF", "f"), ("YAF", "f")],
                [8, 0, 8, 8, 8, 8, 8, 8],
                "YAF_ps/YAF_base_ps.wav",
            ),
            (
                Naming::CremaD,
                3,
                &[],
                &[("1001", ""), ("1002", ""), ("1003", "")],
                [12, 0, 12, 12, 12, 12, 12, 0],
                "AudioWAV/1003_TIE_NEU_HI.wav",
            ),
            (
                Naming::Emodb,
                3,
                &[("boredom", "02")],
                &[("03", "m"), ("08", "f"), ("09", "f")],
                [12, 12, 12, 12, 12, 12, 12, 0],
                "wav/09a02Lb.wav",
            ),
        ];
        for (naming, actors, labels, speakers, per_code, file) in cases {
            let set = synth_and_decode(naming, actors, labels).unwrap();
            let mut found: Vec<(&str, &str)> =
                set.clips.iter().map(|c| (c.speaker.as_str(), c.sex.as_str())).collect();
            found.dedup();
            assert_eq!(found, speakers, "{naming:?}");
            let counts =
                Emotion::ALL.map(|e| set.clips.iter().filter(|c| c.label.as_deref() == Some(e.code())).count());
            assert_eq!(counts, per_code, "{naming:?}");
            assert_eq!(set.clips.len(), per_code.iter().sum::<usize>());
            assert!(set.clips.iter().any(|c| c.source == file), "{naming:?}: no {file}");
            assert!(set.clips.iter().all(|c| c.corpus == naming.corpus().name()));
            assert!(set.clips.iter().all(|c| c.original_length == 8000));
        }
        // Boredom needs a policy, as for the real EmoDB.
        let err = synth_and_decode(Naming::Emodb, 1, &[]).unwrap_err();
        assert!(err.contains("label `boredom` (4 files) is none of the classes"), "{err}");
        // A SAVEE speaker does not say a RAVDESS actor's takes, though both are male and
        // neutral take 1 uses the same statement, repetition, seed and speaker position.
        let ravdess = synth_and_decode(Naming::Ravdess, 1, &[]).unwrap();
        let savee = synth_and_decode(Naming::Savee, 1, &[]).unwrap();
        let clip = |set: &AudioSet, id: &str| -> Vec<f32> {
            let clip = set.clips.iter().find(|c| c.file_id == id).unwrap();
            set.samples_of(clip).to_vec()
        };
        let (a, b) = (clip(&ravdess, "03-01-01-01-01-01-01"), clip(&savee, "DC_n01"));
        assert_eq!(a.len(), b.len());
        assert_ne!(a, b);
    }

    #[test]
    fn output_is_bit_identical_for_a_seed() {
        let one = TestStage::new();
        let two = TestStage::new();
        let other = TestStage::new();
        let config = synth(1, 1, 1, 1.0, 8000);
        config.run(&one.ctx(42)).unwrap();
        config.run(&two.ctx(42)).unwrap();
        config.run(&other.ctx(43)).unwrap();
        let (a, b, c) = (files(one.out_dir()), files(two.out_dir()), files(other.out_dir()));
        assert_eq!(a.len(), 15);
        assert_eq!(a, b);
        assert_eq!(a.keys().collect::<Vec<_>>(), c.keys().collect::<Vec<_>>());
        assert!(a.iter().all(|(name, bytes)| c[name] != *bytes));
        // The `seed` param overrides the pipeline seed; more actors leave actor 1 unchanged.
        let seeded = TestStage::new();
        Synth { seed: Some(42), actors: 2, ..config }.run(&seeded.ctx(7)).unwrap();
        let d = files(seeded.out_dir());
        assert!(a.iter().all(|(name, bytes)| d[name] == *bytes));
    }

    #[test]
    fn pitch_tracks_emotion_intensity_and_sex() {
        let stage = TestStage::new();
        synth(2, 1, 2, 3.0, 16000).run(&stage.ctx(3)).unwrap();
        let f0 = |actor: u8, emotion: Emotion, intensity: u8| {
            let measured: Vec<f64> = (1..=2)
                .map(|repetition| {
                    let name = RavdessName {
                        channel: 1,
                        emotion,
                        intensity,
                        statement: 1,
                        repetition,
                        actor,
                    };
                    let path = stage.out_dir().join(name.actor_dir()).join(name.file_name());
                    median_f0(&read(&path).1, 16000)
                })
                .collect();
            measured.iter().sum::<f64>() / measured.len() as f64
        };
        let (male, female) = (f0(1, Emotion::Neutral, 1), f0(2, Emotion::Neutral, 1));
        assert!((80.0..160.0).contains(&male), "male neutral {male} Hz");
        assert!((150.0..300.0).contains(&female), "female neutral {female} Hz");
        assert!(male < 0.75 * female, "male {male} Hz, female {female} Hz");
        for actor in [1, 2] {
            let (angry, sad) = (f0(actor, Emotion::Angry, 2), f0(actor, Emotion::Sad, 1));
            // The table gives 1.25^1.6 / 0.92 = 1.56.
            assert!(angry > 1.3 * sad, "actor {actor}: angry strong {angry} Hz, sad {sad} Hz");
            let (strong, normal) = (f0(actor, Emotion::Fearful, 2), f0(actor, Emotion::Fearful, 1));
            assert!(
                strong > 1.08 * normal,
                "actor {actor}: fearful strong {strong} Hz, normal {normal} Hz"
            );
        }
    }

    #[test]
    fn strong_intensity_exaggerates_the_table() {
        let strong = Style::of(Emotion::Angry, 2);
        assert!((strong.f0 - 1.25f64.powf(1.6)).abs() < 1e-12);
        assert!((strong.level_db - (7.0 * 1.6 + 2.0)).abs() < 1e-12);
        assert!((strong.rate - (4.2 + 0.6 * 1.6)).abs() < 1e-12);
        assert_eq!(Style::of(Emotion::Sad, 1), STYLES[3]);
    }

    #[test]
    fn params_default_and_validate() {
        let kind = vox_api::kind::<Synth>();
        let stage = kind.configure(toml::Table::new()).unwrap();
        assert_eq!(
            stage.params(),
            serde_json::json!({"naming": "ravdess", "actors": 24, "statements": 2, "repetitions": 2, "duration": 3.5, "sample_rate": 48000, "seed": null})
        );
        let err = kind.configure(toml::toml! { actors = 25 }).err().unwrap();
        assert_eq!(
            (err.path.as_str(), err.message.as_str()),
            ("actors", "`actors` must be 1..=24, not 25")
        );
        let err = kind.configure(toml::toml! { repetitions = 3 }).err().unwrap();
        assert_eq!(err.message, "`repetitions` must be 1..=2, not 3");
        assert!(
            kind.configure(toml::toml! { naming = "tess"
            repetitions = 8 })
                .is_ok()
        );
        let err = kind
            .configure(toml::toml! { naming = "crema-d"
            repetitions = 7 })
            .err()
            .unwrap();
        assert_eq!(err.message, "`repetitions` must be 1..=6, not 7");
        let err = kind
            .configure(toml::toml! { naming = "crema-d"
            actors = 92 })
            .err()
            .unwrap();
        assert_eq!(err.message, "`actors` must be 1..=91, not 92");
        assert!(
            kind.configure(toml::toml! { naming = "savee"
            actors = 24 })
                .is_ok()
        );
        let err = kind.configure(toml::toml! { duration = 0.5 }).err().unwrap();
        assert_eq!(err.message, "`duration` must be 1..=30 s, not 0.5");
        assert!(kind.configure(toml::toml! { voices = 3 }).is_err());
    }

    #[test]
    fn iemocap_naming_decodes_into_the_four_class_protocol() {
        let stage = TestStage::new();
        Synth { naming: Naming::Iemocap, actors: 4, ..synth(1, 2, 1, 1.0, 8000) }.run(&stage.ctx(9)).unwrap();
        let evaluation = std::fs::read_to_string(stage.out_dir().join("Session2/dialog/EmoEvaluation/Ses02F_script01_1.txt")).unwrap();
        assert!(evaluation.starts_with("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n[0.0000 - 1.0000]\tSes02F_script01_1_F000\tneu\t["), "{evaluation}");
        assert_eq!(evaluation.matches("\tfru\t").count(), 4, "{evaluation}");
        let decode = TestStage::after(&stage, ArtifactKind::Files);
        let labels = [("excited", "happy"), ("*", "drop")].iter().map(|&(k, v)| (k.to_string(), v.to_string())).collect();
        let classes = Some(["neutral", "happy", "angry", "sad"].map(String::from).to_vec());
        Decode { corpus: crate::Corpus::Iemocap, classes, labels, table: None, columns: None, include: Vec::new(), exclude: Vec::new(), sample_rate: 8000, channel: None, on_error: OnError::Fail }
            .run(&decode.ctx(9))
            .unwrap();
        let set = AudioSet::read(decode.out_dir()).unwrap();
        // 4 speakers x 6 categories x 2 intensities x 2 dialogs, frustrated dropped.
        assert_eq!(set.clips.len(), 80);
        let count = |class: &str| set.clips.iter().filter(|c| c.label.as_deref() == Some(class)).count();
        assert_eq!([count("neutral"), count("happy"), count("angry"), count("sad")], [16, 32, 16, 16]);
        let mut speakers: Vec<(&str, &str, &str)> =
            set.clips.iter().map(|c| (c.speaker.as_str(), c.sex.as_str(), c.extra["session"].as_str())).collect();
        speakers.sort();
        speakers.dedup();
        assert_eq!(speakers, [("Ses01F", "f", "Ses01"), ("Ses01M", "m", "Ses01"), ("Ses02F", "f", "Ses02"), ("Ses02M", "m", "Ses02")]);
        let improvised = set.clips.iter().filter(|c| c.extra["type"] == "improvised").count();
        assert_eq!(improvised, 40);
        let sad = set.clips.iter().find(|c| c.file_id == "Ses02F_script01_1_M009").unwrap();
        assert_eq!((sad.label.as_deref(), sad.source.as_str()), (Some("sad"), "Session2/sentences/wav/Ses02F_script01_1/Ses02F_script01_1_M009.wav"));
        let dropped = std::fs::read_to_string(decode.out_dir().join("report/dropped.csv")).unwrap();
        assert_eq!(dropped.lines().count(), 17);
    }
}
