//! The `trim` stage: leading and trailing silence cut from every clip, as
//! `librosa.effects.trim` does (the step most SER preprocessing takes before padding: RAVDESS's
//! clips hold about a second of silence around 2 s of speech, and a fixed-length crop should
//! keep speech, not silence).
//!
//! librosa's algorithm, kept exactly so that its intervals are vox's (tests compare with
//! fixtures made by librosa 0.11): see [`crate::silence`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::{AudioSet, Manifest};
use vox_api::{Applies, ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

use crate::error::AudioError;
use crate::parallel::for_each_in_order;
use crate::sample_file::{SampleFile, samples_from_bytes};
use crate::silence;
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
        silence::trim_interval(y, self.top_db, self.frame_length, self.hop_length)
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
    use vox_api::audio::{Clip, Split};

    use super::*;
    use crate::emotion::Emotion;
    use crate::test_support::{TestStage, clip, fixture_samples, ravdess_set};

    fn trim(top_db: f64, frame_length: usize, hop_length: usize) -> Trim {
        Trim { top_db, frame_length, hop_length }
    }

    #[test]
    fn the_stage_keeps_each_clips_interval_and_says_where_it_was() {
        let mut set = ravdess_set();
        let speech = fixture_samples("trim/speech.wav");
        let ramp = fixture_samples("trim/ramp.wav");
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
