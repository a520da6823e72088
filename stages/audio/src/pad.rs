//! The `pad` stage: every clip padded with zeros or cropped to one length.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::{AudioSet, Clip, Manifest};
use vox_api::{Applied, Applies, ApplyContext, ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

use crate::error::AudioError;
use crate::parallel::for_each_in_order;
use crate::sample_file::SampleFile;
use crate::set_writer;

/// Pads every clip with zeros, or crops it, to exactly `length` samples. The manifest keeps each
/// clip's `original_length`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Pad {
    /// Target length in samples (60000 = 3.75 s at 16 kHz); at least 1.
    #[serde(default = "default_length")]
    pub length: u64,
    /// Where the zeros go when a clip is shorter: `end`, `start`, or `both` (half before, half
    /// after; the odd zero goes after).
    #[serde(default = "default_pad")]
    pub pad: PadSide,
    /// Which part of a longer clip is kept: `start` (the beginning), `end` (the ending) or
    /// `center` (the middle; when the excess is odd, one sample more is dropped at the end).
    #[serde(default = "default_crop")]
    pub crop: Crop,
}

/// Where zeros go when a clip is too short.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PadSide {
    /// After the clip.
    End,
    /// Before the clip.
    Start,
    /// Half before, half after (the odd zero after).
    Both,
}

/// Which part of a too-long clip is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Crop {
    /// The first `length` samples.
    Start,
    /// The last `length` samples.
    End,
    /// The middle `length` samples.
    Center,
}

fn default_length() -> u64 {
    60000
}

fn default_pad() -> PadSide {
    PadSide::End
}

fn default_crop() -> Crop {
    Crop::Start
}

/// Clips per parallel batch (at least; 8 per thread on more than 8 threads): a few per
/// thread for load balance.
const BATCH: usize = 64;

/// Where a clip's samples go in its padded or cropped copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Placement {
    /// Samples skipped at the clip's start (cropping).
    skip: usize,
    /// Zeros before the kept samples (padding).
    before: usize,
    /// Samples kept.
    kept: usize,
}

impl Pad {
    /// Where a clip of `len` samples goes in a copy of `self.length` samples.
    fn placement(&self, len: usize) -> Placement {
        let length = self.length as usize;
        if len >= length {
            let excess = len - length;
            let skip = match self.crop {
                Crop::Start => 0,
                Crop::End => excess,
                Crop::Center => excess / 2,
            };
            return Placement { skip, before: 0, kept: length };
        }
        let missing = length - len;
        let before = match self.pad {
            PadSide::End => 0,
            PadSide::Start => missing,
            PadSide::Both => missing / 2,
        };
        Placement { skip: 0, before, kept: len }
    }

    /// `samples` padded or cropped to `self.length` into `out` (its contents replaced): what
    /// the stage does to each clip, there on bytes.
    pub fn fit_into(&self, samples: &[f32], out: &mut Vec<f32>) {
        let Placement { skip, before, kept } = self.placement(samples.len());
        out.clear();
        out.resize(self.length as usize, 0.0);
        out[before..before + kept].copy_from_slice(&samples[skip..skip + kept]);
    }

    /// `clip`'s samples in `input`, padded or cropped to `self.length`, as little-endian
    /// bytes into `bytes` (its contents replaced).
    fn read_fitted(
        &self,
        input: &SampleFile,
        clip: &Clip,
        bytes: &mut Vec<u8>,
    ) -> Result<(), AudioError> {
        let Placement { skip, before, kept } = self.placement(clip.length as usize);
        bytes.resize(self.length as usize * 4, 0);
        let (start, end) = (before * 4, (before + kept) * 4);
        bytes[..start].fill(0);
        bytes[end..].fill(0);
        input.read_at(clip.offset + skip as u64, &mut bytes[start..end])
    }

    /// `samples` padded or cropped to `self.length`.
    #[cfg(test)]
    fn fit(&self, samples: &[f32]) -> Vec<f32> {
        let mut out = Vec::new();
        self.fit_into(samples, &mut out);
        out
    }
}

impl StageDef for Pad {
    const KIND: &'static str = "pad";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Audio]);
    const OUTPUT: ArtifactKind = ArtifactKind::Audio;
    // New clips are padded or cropped as the run's were.
    const APPLIES: Applies = Applies::Yes;

    fn validate(&self) -> Result<(), ParamError> {
        if self.length == 0 {
            return Err(ParamError::new("length", "`length` must be at least 1 sample"));
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        // Moved as bytes: padding and cropping move samples without changing them, so nothing
        // is converted and neither set is held in memory whole. Every clip becomes `length`
        // samples, so each one's place in the output is known up front: workers read clips
        // into reused buffers in parallel, and one writer puts each at its place.
        let input_dir = &ctx.input().dir;
        let Manifest { labels, clips } = AudioSet::read_manifest(input_dir)?;
        let input = SampleFile::open(input_dir)?;
        let (mut rows, output) = set_writer::create(ctx.out_dir, labels)?;
        let (mut padded, mut cropped) = (0usize, 0usize);
        let mut jobs = Vec::with_capacity(clips.len());
        for clip in clips {
            input.check(&clip)?;
            match clip.length.cmp(&self.length) {
                std::cmp::Ordering::Less => padded += 1,
                std::cmp::Ordering::Greater => cropped += 1,
                std::cmp::Ordering::Equal => {}
            }
            let offset = rows.place(clip.clone(), self.length);
            jobs.push((clip, offset));
        }
        output.allocate(jobs.len() as u64 * self.length)?;
        for_each_in_order(
            ctx,
            &jobs,
            "pad",
            BATCH,
            || (),
            |(), (clip, _), bytes| self.read_fitted(&input, clip, bytes),
            |&(_, offset), read, _| read.map(|()| offset),
            |offset, bytes| output.write_bytes_at(offset, bytes),
        )?;
        let (clips, _) = rows.finish(output)?;
        tracing::info!(
            "{}: {} clips to {} samples ({padded} padded, {cropped} cropped)",
            ctx.stage,
            clips.len(),
            self.length
        );
        Ok(())
    }

    /// As `run`; new recordings much longer than the run's clips are mostly cropped away, which
    /// a run's own clips (of one corpus, of similar lengths) are not, so that is said.
    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError> {
        self.run(&ctx.run)?;
        let Manifest { clips, .. } = AudioSet::read_manifest(&ctx.run.input().dir)?;
        if let Some(warning) = self.long_clips_warning(ctx.run.stage, &clips) {
            tracing::warn!("{warning}");
        }
        Ok(Applied::Wrote)
    }
}

impl Pad {
    /// What to say of `clips` more than twice as long as `length` (most of each cropped away),
    /// or of windows (`vox predict --window`) longer than it, if any are.
    fn long_clips_warning(&self, stage: &str, clips: &[Clip]) -> Option<String> {
        let is_window = |c: &&Clip| c.extra.contains_key(vox_api::windows::RECORDING);
        let window = clips.iter().filter(is_window).filter(|c| c.length > self.length).max_by_key(|c| c.length);
        if let Some(window) = window {
            let rate = f64::from(window.sample_rate.max(1));
            let (input, seconds) = (self.length as f64 / rate, window.length as f64 / rate);
            return Some(format!(
                "{stage}: windows of {} s are longer than the model's {} s input: {} s of each is cropped away; choose `--window {}` or shorter",
                vox_api::windows::seconds(seconds),
                vox_api::windows::seconds(input),
                vox_api::windows::seconds(seconds - input),
                vox_api::windows::seconds(input)
            ));
        }
        let long: Vec<&Clip> = clips.iter().filter(|c| c.length > 2 * self.length).collect();
        let longest = long.iter().max_by_key(|c| c.length)?;
        let rate = f64::from(longest.sample_rate.max(1));
        let input = vox_api::windows::seconds(self.length as f64 / rate);
        let (kept, crop) = match self.crop {
            Crop::Start => ("start", "start"),
            Crop::End => ("end", "end"),
            Crop::Center => ("middle", "center"),
        };
        let seconds = vox_api::windows::seconds(longest.length as f64 / rate);
        let (which, its, them) = match long.len() {
            1 => (format!("new clip `{}` ({seconds} s) is more than twice the model's {input} s input", longest.file_id), "its", "it"),
            n => (
                format!(
                    "{n} of the {} new clips are more than twice the model's {input} s input (the longest: `{}`, {seconds} s)",
                    clips.len(),
                    longest.file_id
                ),
                "their",
                "them",
            ),
        };
        Some(format!(
            "{stage}: {which}: only {its} {kept} is scored (`crop = \"{crop}\"`); `vox predict --window {input}` scores {them} window by window"
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use vox_api::audio::SAMPLES;

    use super::*;
    use crate::test_support::{TestStage, clip};
    use crate::emotion::Emotion;
    use crate::test_support::ravdess_set;

    fn pad(length: u64, pad: PadSide, crop: Crop) -> Pad {
        Pad { length, pad, crop }
    }

    #[test]
    fn new_clips_mostly_cropped_away_are_named_with_the_window_that_scores_them() {
        let long = |id: &str, length: u64| Clip { length, ..clip(id, None, "") };
        let stage = pad(60_000, PadSide::End, Crop::Start);
        // Up to twice the input: a run's own clips are cropped so, and nothing is said.
        assert_eq!(stage.long_clips_warning("padded", &[long("a", 120_000), long("b", 1000)]), None);
        assert_eq!(
            stage.long_clips_warning("padded", &[long("a", 120_001), long("b", 1000)]).unwrap(),
            "padded: new clip `a` (7.5 s) is more than twice the model's 3.75 s input: only its start is scored \
             (`crop = \"start\"`); `vox predict --window 3.75` scores it window by window"
        );
        let center = pad(40_000, PadSide::End, Crop::Center);
        let clips = [long("a", 480_000), long("b", 1000), long("c", 160_000)];
        assert_eq!(
            center.long_clips_warning("p", &clips).unwrap(),
            "p: 2 of the 3 new clips are more than twice the model's 2.5 s input (the longest: `a`, 30 s): only their \
             middle is scored (`crop = \"center\"`); `vox predict --window 2.5` scores them window by window"
        );
        // Windows a little longer than the input lose their ends.
        let mut window = long("r_0-4", 64_000);
        window.extra.insert(vox_api::windows::RECORDING.into(), "r".into());
        assert_eq!(
            stage.long_clips_warning("padded", &[window, long("b", 1000)]).unwrap(),
            "padded: windows of 4 s are longer than the model's 3.75 s input: 0.25 s of each is cropped away; choose `--window 3.75` or shorter"
        );
    }

    #[test]
    fn short_clips_get_zeros_where_asked() {
        let x = [1.0, 2.0, 3.0];
        assert_eq!(pad(6, PadSide::End, Crop::Start).fit(&x), [1.0, 2.0, 3.0, 0.0, 0.0, 0.0]);
        assert_eq!(pad(6, PadSide::Start, Crop::Start).fit(&x), [0.0, 0.0, 0.0, 1.0, 2.0, 3.0]);
        assert_eq!(pad(6, PadSide::Both, Crop::Start).fit(&x), [0.0, 1.0, 2.0, 3.0, 0.0, 0.0]);
        assert_eq!(pad(7, PadSide::Both, Crop::Start).fit(&x), [0.0, 0.0, 1.0, 2.0, 3.0, 0.0, 0.0]);
        assert_eq!(pad(3, PadSide::Start, Crop::End).fit(&x), [1.0, 2.0, 3.0]);
    }

    #[test]
    fn long_clips_keep_the_part_asked_for() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(pad(3, PadSide::End, Crop::Start).fit(&x), [1.0, 2.0, 3.0]);
        assert_eq!(pad(3, PadSide::End, Crop::End).fit(&x), [4.0, 5.0, 6.0]);
        assert_eq!(pad(3, PadSide::End, Crop::Center).fit(&x), [2.0, 3.0, 4.0]);
        assert_eq!(pad(4, PadSide::End, Crop::Center).fit(&x), [2.0, 3.0, 4.0, 5.0]);
    }

    #[test]
    fn the_stage_rewrites_samples_and_keeps_original_lengths() {
        let mut input = ravdess_set();
        let a = Clip { original_length: 2, ..clip("a", Some(Emotion::Sad), "01") };
        let b = Clip { original_length: 5, ..clip("b", None, "") };
        input.push(a, &[0.5, -0.5]);
        input.push(b, &[0.1, 0.2, 0.3, 0.4, 0.5]);
        let stage = TestStage::with_audio_input(&input);
        pad(4, PadSide::Start, Crop::End).run(&stage.ctx(0)).unwrap();
        let output = AudioSet::read(stage.out_dir()).unwrap();
        assert_eq!(output.samples, vec![0.0, 0.0, 0.5, -0.5, 0.2, 0.3, 0.4, 0.5]);
        assert_eq!(output.clips.iter().map(|c| c.length).collect::<Vec<_>>(), [4, 4]);
        assert_eq!(output.clips.iter().map(|c| c.original_length).collect::<Vec<_>>(), [2, 5]);
        assert_eq!(output.clips[1].file_id, "b");
    }

    #[test]
    fn clips_are_read_at_their_offsets_in_any_order() {
        // A manifest whose rows are not in file order: `b`'s samples come first in audio.f32.
        let mut set = ravdess_set();
        set.push(clip("b", None, ""), &[0.1, 0.2, 0.3, 0.4, 0.5]);
        set.push(clip("a", None, ""), &[0.5, -0.5]);
        set.clips.reverse();
        let stage = TestStage::with_audio_input(&set);
        pad(3, PadSide::Both, Crop::Center).run(&stage.ctx(0)).unwrap();
        let output = AudioSet::read(stage.out_dir()).unwrap();
        let ids: Vec<&str> = output.clips.iter().map(|c| c.file_id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(output.samples, vec![0.5, -0.5, 0.0, 0.2, 0.3, 0.4]);
        assert_eq!(output.clips.iter().map(|c| c.offset).collect::<Vec<_>>(), [0, 3]);
    }

    #[test]
    fn any_thread_count_writes_what_audio_set_write_does() {
        // 2 * BATCH + 7 clips, shorter and longer than 50 samples, padded on both sides and
        // cropped in the middle on 1 and 4 threads: the files of the sequential AudioSet::write.
        let pad = pad(50, PadSide::Both, Crop::Center);
        let mut input = ravdess_set();
        let mut expected = ravdess_set();
        for i in 0..2 * BATCH + 7 {
            let samples: Vec<f32> = (0..(i * 13) % 97).map(|n| (i * 100 + n) as f32).collect();
            let row = Clip {
                original_length: samples.len() as u64,
                ..clip(&format!("c{i:03}"), None, "")
            };
            input.push(row.clone(), &samples);
            expected.push(row, &pad.fit(&samples));
        }
        let reference = tempfile::tempdir().unwrap();
        expected.write(reference.path()).unwrap();
        let stage = TestStage::with_audio_input(&input);
        for threads in [1, 4] {
            pad.run(&StageContext { threads, ..stage.ctx(0) }).unwrap();
            for name in [vox_api::audio::MANIFEST, SAMPLES] {
                let read = |dir: &Path| std::fs::read(dir.join(name)).unwrap();
                assert!(
                    read(stage.out_dir()) == read(reference.path()),
                    "{threads} threads: {name}"
                );
            }
        }
    }

    #[test]
    fn a_clip_beyond_the_sample_file_is_an_error() {
        let mut set = ravdess_set();
        set.push(clip("a", None, ""), &[0.5, -0.5, 0.25]);
        let stage = TestStage::with_audio_input(&set);
        std::fs::write(stage.input_dir().join(SAMPLES), [0u8; 8]).unwrap();
        let err = pad(4, PadSide::End, Crop::Start).run(&stage.ctx(0)).unwrap_err().to_string();
        assert!(
            err.ends_with("audio.f32: clip `a` spans samples 0..3 but the file holds 2"),
            "{err}"
        );
    }

    #[test]
    fn params_default_and_validate() {
        let kind = vox_api::kind::<Pad>();
        let stage = kind.configure(toml::Table::new()).unwrap();
        assert_eq!(
            stage.params(),
            serde_json::json!({"length": 60000, "pad": "end", "crop": "start"})
        );
        let err = kind.configure(toml::toml! { length = 0 }).err().unwrap();
        assert_eq!(err.path, "length");
        let err = kind.configure(toml::toml! { pad = "middle" }).err().unwrap();
        assert_eq!(err.path, "pad");
    }
}
