//! The `trim` stage: leading and trailing silence cut from every clip, as
//! `librosa.effects.trim` does (the step most SER preprocessing takes before padding: RAVDESS's
//! clips hold about a second of silence around 2 s of speech, and a fixed-length crop should
//! keep speech, not silence).
//!
//! librosa's algorithm, kept exactly so that its intervals are vox's (tests compare with
//! fixtures made by librosa 0.11): the RMS of frames of `frame_length` samples every
//! `hop_length` over the clip padded with `frame_length / 2` zeros on each side (librosa's
//! `rms` with `center=True`); a frame is speech when its level is within `top_db` of the
//! loudest frame's (`amplitude_to_db` with `ref=np.max`, its 1e-5 amplitude floor); the clip
//! keeps samples `first * hop .. min(len, (last + 1) * hop)` of the first and last speech
//! frames. The threshold is relative to each clip's own loudest frame, so a quiet recording is
//! trimmed as a loud one; a clip of zeros is kept whole (no frame is quieter than another).
//!
//! Frame energies come from a running sum of squares (one pass, whatever the frame length),
//! in f64 where librosa sums f32 frame by frame: a frame within rounding of the threshold could
//! fall the other way; none of the fixtures' does.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::{AudioSet, Manifest};
use vox_api::{Applies, ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

use crate::error::AudioError;
use crate::parallel::for_each_in_order;
use crate::sample_file::{SampleFile, samples_from_bytes};
use crate::set_writer;

/// The manifest columns with the kept interval, in samples of the input clip.
pub(crate) const TRIM_START: &str = "trim_start";
/// See [`TRIM_START`].
pub(crate) const TRIM_END: &str = "trim_end";

/// Clips per parallel batch (at least).
const BATCH: usize = 64;

/// Cuts leading and trailing silence from every clip as `librosa.effects.trim` does: what lies
/// before the first and after the last frame within `top_db` of the clip's loudest frame.
/// The kept interval goes in the manifest (`trim_start`, `trim_end`, in input samples).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trim {
    /// Frames quieter than the loudest by more than this many dB are silence (librosa's
    /// default 60; 20-30 trims closer to the speech).
    #[serde(default = "default_top_db")]
    pub top_db: f64,
    /// Frame length in samples (librosa's default 2048: 128 ms at 16 kHz).
    #[serde(default = "default_frame_length")]
    pub frame_length: usize,
    /// Hop between frames in samples, at most `frame_length` (librosa's default 512); the cut
    /// falls on a multiple of it.
    #[serde(default = "default_hop_length")]
    pub hop_length: usize,
}

fn default_top_db() -> f64 {
    60.0
}

fn default_frame_length() -> usize {
    2048
}

fn default_hop_length() -> usize {
    512
}

impl Trim {
    /// The interval `[start, end)` of `y` that librosa's `trim` keeps.
    pub fn interval(&self, y: &[f32]) -> (usize, usize) {
        let (frame, hop) = (self.frame_length, self.hop_length);
        let half = frame / 2;
        let padded = y.len() + 2 * half;
        if y.is_empty() || padded < frame {
            return (0, y.len());
        }
        let frames = 1 + (padded - frame) / hop;
        // prefix[i]: the sum of squares of y[..i].
        let mut prefix = Vec::with_capacity(y.len() + 1);
        prefix.push(0.0f64);
        let mut sum = 0.0;
        for &v in y {
            sum += f64::from(v) * f64::from(v);
            prefix.push(sum);
        }
        // Frame i covers y[i * hop - half .. i * hop - half + frame], zeros outside y.
        let power: Vec<f64> = (0..frames)
            .map(|i| {
                let start = (i * hop).saturating_sub(half).min(y.len());
                let end = (i * hop + frame).saturating_sub(half).min(y.len());
                (prefix[end] - prefix[start]).max(0.0) / frame as f64
            })
            .collect();
        // amplitude_to_db(rms, ref=max): 20 log10(max(1e-5, rms)) - 20 log10(max(1e-5, max rms)),
        // here on powers: 10 log10(max(1e-10, power)) - 10 log10(max(1e-10, max power)).
        let db = |p: f64| 10.0 * p.max(1e-10).log10();
        let loudest = db(power.iter().copied().fold(0.0, f64::max));
        let speech = |p: &f64| db(*p) - loudest > -self.top_db;
        let (Some(first), Some(last)) = (power.iter().position(speech), power.iter().rposition(speech)) else {
            return (0, 0);
        };
        (first * hop, ((last + 1) * hop).min(y.len()))
    }
}

impl StageDef for Trim {
    const KIND: &'static str = "trim";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Audio]);
    const OUTPUT: ArtifactKind = ArtifactKind::Audio;
    // New clips are trimmed as the run's were (nothing is fitted).
    const APPLIES: Applies = Applies::Yes;

    fn validate(&self) -> Result<(), ParamError> {
        if !(self.top_db.is_finite() && self.top_db > 0.0) {
            return Err(ParamError::new("top_db", format!("must be a positive number of dB, got {}", self.top_db)));
        }
        if self.frame_length == 0 {
            return Err(ParamError::new("frame_length", "must be at least 1 sample"));
        }
        if self.hop_length == 0 || self.hop_length > self.frame_length {
            let message = format!("must be within 1..=frame_length ({}), got {}", self.frame_length, self.hop_length);
            return Err(ParamError::new("hop_length", message));
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        Ok(self.trim(ctx)?)
    }
}

impl Trim {
    fn trim(&self, ctx: &StageContext) -> Result<(), AudioError> {
        let input_dir = &ctx.input().dir;
        let Manifest { labels, clips } = AudioSet::read_manifest(input_dir)?;
        let input = SampleFile::open(input_dir)?;
        for clip in &clips {
            input.check(clip)?;
        }
        let (mut rows, output) = set_writer::create(ctx.out_dir, labels)?;
        let (mut kept, mut total) = (0u64, 0u64);
        for_each_in_order(
            ctx,
            &clips,
            "trim",
            BATCH,
            Vec::<f32>::new,
            |samples, clip, bytes: &mut Vec<u8>| -> Result<(usize, usize), AudioError> {
                bytes.resize(clip.length as usize * 4, 0);
                input.read_at(clip.offset, bytes)?;
                samples_from_bytes(bytes, samples);
                let (start, end) = self.interval(samples);
                bytes.copy_within(start * 4..end * 4, 0);
                bytes.truncate((end - start) * 4);
                Ok((start, end))
            },
            |clip, interval, _| -> Result<u64, AudioError> {
                let (start, end) = interval?;
                let mut row = clip.clone();
                row.extra.insert(TRIM_START.into(), start.to_string());
                row.extra.insert(TRIM_END.into(), end.to_string());
                kept += (end - start) as u64;
                total += clip.length;
                Ok(rows.place(row, (end - start) as u64))
            },
            |offset, bytes| output.write_bytes_at(offset, bytes),
        )?;
        rows.finish(output)?;
        let share = if total > 0 { 100.0 * (total - kept) as f64 / total as f64 } else { 0.0 };
        tracing::info!("{}: {} clips trimmed: {share:.1}% of their samples were silence", ctx.stage, clips.len());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use vox_api::audio::{Clip, Split};

    use super::*;
    use crate::emotion::Emotion;
    use crate::test_support::{TestStage, clip, ravdess_set};

    fn fixtures() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/trim")
    }

    fn read(name: &str) -> Vec<f32> {
        let mut reader = hound::WavReader::open(fixtures().join(name)).unwrap();
        reader.samples::<i16>().map(|s| f32::from(s.unwrap()) / 32768.0).collect()
    }

    fn trim(top_db: f64, frame_length: usize, hop_length: usize) -> Trim {
        Trim { top_db, frame_length, hop_length }
    }

    #[test]
    fn intervals_are_librosas() {
        let mut table = csv::Reader::from_path(fixtures().join("trim.csv")).unwrap();
        let mut checked = 0;
        for row in table.records() {
            let row = row.unwrap();
            let y = read(&row[0]);
            let trim = trim(row[1].parse().unwrap(), row[2].parse().unwrap(), row[3].parse().unwrap());
            let expected: (usize, usize) = (row[4].parse().unwrap(), row[5].parse().unwrap());
            assert_eq!(trim.interval(&y), expected, "{:?}", row);
            checked += 1;
        }
        assert_eq!(checked, 16);
    }

    #[test]
    fn the_stage_keeps_each_clips_interval_and_says_where_it_was() {
        let mut set = ravdess_set();
        let speech = read("speech.wav");
        let ramp = read("ramp.wav");
        set.push(Clip { split: Split::Train, ..clip("a", Some(Emotion::Sad), "01") }, &speech);
        set.push(clip("b", None, ""), &ramp);
        let stage = TestStage::with_audio_input(&set);
        let trimmer = trim(30.0, 2048, 512);
        trimmer.run(&stage.ctx(1)).unwrap();
        let out = AudioSet::read(stage.out_dir()).unwrap();
        assert_eq!(out.samples_of(&out.clips[0]), &speech[4608..14336]);
        assert_eq!(out.samples_of(&out.clips[1]), &ramp[4608..11776]);
        assert_eq!((out.clips[0].extra[TRIM_START].as_str(), out.clips[0].extra[TRIM_END].as_str()), ("4608", "14336"));
        assert_eq!((out.clips[0].split, out.clips[0].original_length), (Split::Train, set.clips[0].original_length));
    }

    #[test]
    fn bad_params_are_named() {
        let problem = |toml: toml::Table| vox_api::kind::<Trim>().configure(toml).err().unwrap().to_string();
        assert!(problem(toml::toml! { top_db = 0.0 }).contains("must be a positive number of dB, got 0"));
        assert!(problem(toml::toml! { hop_length = 4096 }).contains("must be within 1..=frame_length (2048), got 4096"));
    }
}
