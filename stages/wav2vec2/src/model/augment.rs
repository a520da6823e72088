//! Training-time regularizers of HF's wav2vec2 that need random draws: SpecAugment time masking
//! (`mask_time_prob`, `mask_time_length`, `mask_time_min_masks`; masked frames are replaced by
//! the learned `masked_spec_embed`) and LayerDrop (`layerdrop`: each transformer layer is
//! skipped with that probability). The draws come from a caller's seeded generator, so a run
//! is reproducible; HF's own draws (NumPy, torch) cannot be matched number for number, only in
//! distribution. Feature-channel masking (`mask_feature_prob`) is not implemented.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;

use crate::config::Wav2Vec2Config;

/// One training step's random regularization.
#[derive(Clone, Debug)]
pub struct Augmentation<B: Backend> {
    /// `[batch, frames]`, 1.0 at frames replaced by `masked_spec_embed`; `None` when nothing
    /// is masked.
    pub time_mask: Option<Tensor<B, 2>>,
    /// Per transformer layer, whether it is skipped.
    pub skip_layers: Vec<bool>,
}

impl<B: Backend> Augmentation<B> {
    /// Draws the masks for a batch whose clips have `frame_lengths` valid frames out of
    /// `frames`.
    pub fn draw(
        config: &Wav2Vec2Config,
        frame_lengths: &[usize],
        frames: usize,
        rng: &mut impl Rng,
        device: &B::Device,
    ) -> Self {
        let time_mask = (config.apply_spec_augment && config.mask_time_prob > 0.0).then(|| {
            let rows = time_mask_rows(config, frame_lengths, frames, rng);
            let values: Vec<f32> = rows
                .iter()
                .flatten()
                .map(|&m| if m { 1.0 } else { 0.0 })
                .collect();
            Tensor::from_data(
                TensorData::new(values, [frame_lengths.len(), frames]),
                device,
            )
        });
        let skip_layers = (0..config.num_hidden_layers)
            .map(|_| config.layerdrop > 0.0 && rng.random::<f64>() < config.layerdrop)
            .collect();
        Self {
            time_mask,
            skip_layers,
        }
    }
}

/// HF `_compute_mask_indices` for the time axis: per clip, `max(min_masks, floor(prob * len /
/// span + eps))` span starts (eps uniform in [0, 1), one per batch) drawn without replacement
/// among the valid starts, each masking `span` frames (clipped to the sequence end).
fn time_mask_rows(
    config: &Wav2Vec2Config,
    frame_lengths: &[usize],
    frames: usize,
    rng: &mut impl Rng,
) -> Vec<Vec<bool>> {
    let span = config.mask_time_length.max(1);
    let epsilon: f64 = rng.random();
    frame_lengths
        .iter()
        .map(|&length| {
            let mut spans =
                (config.mask_time_prob * length as f64 / span as f64 + epsilon) as usize;
            spans = spans.max(config.mask_time_min_masks);
            if spans * span > frames {
                spans = frames / span;
            }
            let starts = (length + 1).saturating_sub(span);
            spans = spans.min(starts);
            let mut row = vec![false; frames];
            if spans > 0 {
                for start in rand::seq::index::sample(rng, starts, spans) {
                    row[start..(start + span).min(frames)].fill(true);
                }
            }
            row
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::NdArray;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn config(prob: f64, layerdrop: f64) -> Wav2Vec2Config {
        Wav2Vec2Config {
            mask_time_prob: prob,
            layerdrop,
            ..Wav2Vec2Config::default()
        }
    }

    #[test]
    fn masks_spans_of_ten_frames_within_each_clip() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        // 0.05 * 187 / 10 + eps < 2, so the minimum of 2 spans applies: 11..=20 frames.
        let rows = time_mask_rows(&config(0.05, 0.0), &[187, 100], 187, &mut rng);
        for (row, length) in rows.iter().zip([187, 100]) {
            let masked = row.iter().filter(|&&m| m).count();
            assert!((11..=20).contains(&masked), "{masked} frames masked");
            assert!(row[length..].iter().all(|&m| !m), "padding masked");
        }
        // With a high probability, about prob * length frames are masked (spans overlap).
        let rows = time_mask_rows(&config(0.5, 0.0), &[187], 187, &mut rng);
        let masked = rows[0].iter().filter(|&&m| m).count();
        assert!((60..=100).contains(&masked), "{masked} frames masked");
    }

    #[test]
    fn draws_are_reproducible_and_layerdrop_follows_its_probability() {
        let device = Default::default();
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            Augmentation::<NdArray>::draw(&config(0.05, 0.5), &[187, 100], 187, &mut rng, &device)
        };
        let (a, b) = (draw(7), draw(7));
        assert_eq!(a.skip_layers, b.skip_layers);
        assert_eq!(
            a.time_mask.unwrap().into_data(),
            b.time_mask.unwrap().into_data()
        );
        let skipped: usize = (0..50)
            .map(|seed| draw(seed).skip_layers.iter().filter(|&&s| s).count())
            .sum();
        // 50 draws of 12 layers at 0.5: 300 expected.
        assert!((240..=360).contains(&skipped), "{skipped} layers skipped");
        let none = Augmentation::<NdArray>::draw(
            &config(0.0, 0.0),
            &[187],
            187,
            &mut ChaCha8Rng::seed_from_u64(0),
            &device,
        );
        assert!(none.time_mask.is_none() && none.skip_layers.iter().all(|&s| !s));
    }
}
