//! The `pad` stage: every clip padded with zeros or cropped to one length.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::AudioSet;
use vox_api::{ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

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

impl Pad {
    /// `samples` padded or cropped to `self.length`.
    fn fit(&self, samples: &[f32]) -> Vec<f32> {
        let length = self.length as usize;
        if samples.len() >= length {
            let excess = samples.len() - length;
            let start = match self.crop {
                Crop::Start => 0,
                Crop::End => excess,
                Crop::Center => excess / 2,
            };
            return samples[start..start + length].to_vec();
        }
        let missing = length - samples.len();
        let before = match self.pad {
            PadSide::End => 0,
            PadSide::Start => missing,
            PadSide::Both => missing / 2,
        };
        let mut out = vec![0.0; length];
        out[before..before + samples.len()].copy_from_slice(samples);
        out
    }
}

impl StageDef for Pad {
    const KIND: &'static str = "pad";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Audio]);
    const OUTPUT: ArtifactKind = ArtifactKind::Audio;

    fn validate(&self) -> Result<(), ParamError> {
        if self.length == 0 {
            return Err(ParamError::new("length", "`length` must be at least 1 sample"));
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let input = AudioSet::read(&ctx.input().dir)?;
        let mut output = AudioSet::default();
        let (mut padded, mut cropped) = (0usize, 0usize);
        for clip in &input.clips {
            let samples = input.samples_of(clip);
            match (samples.len() as u64).cmp(&self.length) {
                std::cmp::Ordering::Less => padded += 1,
                std::cmp::Ordering::Greater => cropped += 1,
                std::cmp::Ordering::Equal => {}
            }
            output.push(clip.clone(), &self.fit(samples));
        }
        output.write(ctx.out_dir)?;
        tracing::info!(
            "{}: {} clips to {} samples ({padded} padded, {cropped} cropped)",
            ctx.stage,
            output.clips.len(),
            self.length
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{TestStage, clip};
    use vox_api::audio::Clip;
    use vox_api::emotion::Emotion;

    fn pad(length: u64, pad: PadSide, crop: Crop) -> Pad {
        Pad { length, pad, crop }
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
        let mut input = AudioSet::default();
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
