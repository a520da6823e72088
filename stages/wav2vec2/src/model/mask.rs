//! The frame-level padding mask of a batch of clips padded to one length.
//!
//! Reference: `Wav2Vec2PreTrainedModel._get_feature_vector_attention_mask` in transformers: a
//! clip with `n` valid samples has `frame_count(n)` valid frames, the first ones.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};

use crate::config::Wav2Vec2Config;
use crate::error::Wav2Vec2Error;

/// Which frames of a padded batch are real.
#[derive(Clone, Debug)]
pub struct FrameMask<B: Backend> {
    /// `[batch, frames]`, 1.0 at valid frames and 0.0 at padding.
    pub valid: Tensor<B, 2>,
    /// Valid frames per clip.
    pub lengths: Vec<usize>,
}

impl<B: Backend> FrameMask<B> {
    /// The mask for clips with `sample_lengths` valid samples, padded to `padded_samples`.
    pub fn new(
        config: &Wav2Vec2Config,
        sample_lengths: &[usize],
        padded_samples: usize,
        device: &B::Device,
    ) -> Result<Self, Wav2Vec2Error> {
        let min = receptive_field(config);
        let frames = config
            .frame_count(padded_samples)
            .ok_or(Wav2Vec2Error::ClipTooShort {
                index: 0,
                samples: padded_samples,
                min,
            })?;
        let lengths = sample_lengths
            .iter()
            .enumerate()
            .map(|(index, &samples)| {
                if samples > padded_samples {
                    return Err(Wav2Vec2Error::ClipTooLong {
                        index,
                        samples,
                        padded: padded_samples,
                    });
                }
                config
                    .frame_count(samples)
                    .ok_or(Wav2Vec2Error::ClipTooShort {
                        index,
                        samples,
                        min,
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let values: Vec<f32> = lengths
            .iter()
            .flat_map(|&length| {
                (0..frames).map(move |frame| if frame < length { 1.0 } else { 0.0 })
            })
            .collect();
        let valid = Tensor::from_data(TensorData::new(values, [lengths.len(), frames]), device);
        Ok(Self { valid, lengths })
    }
}

/// The fewest samples that make one frame.
fn receptive_field(config: &Wav2Vec2Config) -> usize {
    config
        .conv_kernel
        .iter()
        .zip(&config.conv_stride)
        .rev()
        .fold(1, |field, (&k, &s)| (field - 1) * s + k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;

    #[test]
    fn receptive_field_of_base_is_400_samples() {
        assert_eq!(receptive_field(&Wav2Vec2Config::default()), 400);
    }

    #[test]
    fn mask_marks_the_first_frames_of_each_clip() {
        let config = Wav2Vec2Config::default();
        let mask = FrameMask::<NdArray>::new(&config, &[60000, 16000], 60000, &Default::default())
            .unwrap();
        assert_eq!(mask.lengths, vec![187, 49]);
        assert_eq!(mask.valid.dims(), [2, 187]);
        let sums: Vec<f32> = mask.valid.sum_dim(1).into_data().to_vec().unwrap();
        assert_eq!(sums, vec![187.0, 49.0]);
    }

    #[test]
    fn short_and_long_clips_are_errors() {
        let config = Wav2Vec2Config::default();
        let device = Default::default();
        let short = FrameMask::<NdArray>::new(&config, &[16000, 399], 16000, &device).unwrap_err();
        assert!(matches!(
            short,
            Wav2Vec2Error::ClipTooShort {
                index: 1,
                samples: 399,
                min: 400
            }
        ));
        let long = FrameMask::<NdArray>::new(&config, &[16001], 16000, &device).unwrap_err();
        assert!(matches!(long, Wav2Vec2Error::ClipTooLong { index: 0, .. }));
    }
}
