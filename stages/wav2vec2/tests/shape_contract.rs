//! Shape contracts on CPU with randomly initialized tiny models, and the padding semantics.

use burn::tensor::{Distribution, Tensor};
use vox_wav2vec2::{ClassifierHead, FrameMask, Wav2Vec2ForSequenceClassification};

use crate::common::{TestBackend, max_abs_diff, tiny_config};

#[test]
fn forward_shapes_for_both_layouts_and_heads() {
    let device = Default::default();
    for large in [false, true] {
        for head in [ClassifierHead::Projector, ClassifierHead::DenseTanh] {
            let config = vox_wav2vec2::Wav2Vec2Config {
                classifier_head: head,
                ..tiny_config(large)
            };
            let model = Wav2Vec2ForSequenceClassification::<TestBackend>::new(&config, &device);
            let samples = Tensor::random([3, 1234], Distribution::Normal(0.0, 1.0), &device);
            let out = model.forward(samples, None);
            // 1234 samples -> 245 -> 122 -> 60 frames.
            assert_eq!(config.frame_count(1234), Some(60));
            assert_eq!(
                out.last_hidden_state.dims(),
                [3, 60, 32],
                "large={large} {head:?}"
            );
            assert_eq!(out.logits.dims(), [3, 8], "large={large} {head:?}");
        }
    }
}

#[test]
fn feature_encoder_output_matches_frame_count() {
    let device = Default::default();
    let config = tiny_config(true);
    let model = Wav2Vec2ForSequenceClassification::<TestBackend>::new(&config, &device);
    for samples in [40, 41, 59, 60, 999, 2000] {
        let input = Tensor::zeros([1, samples], &device);
        let frames = model.wav2vec2.feature_extractor.forward(input).dims()[1];
        assert_eq!(
            Some(frames),
            config.frame_count(samples),
            "{samples} samples"
        );
    }
}

/// With the XLSR layout (no normalization over time), a clip padded with zeros and masked
/// yields the same logits as the clip alone: the mask removes padding from attention and from
/// pooling, and the convs' valid frames never see the padding.
#[test]
fn masked_padding_does_not_change_the_xlsr_logits() {
    let device = Default::default();
    let config = tiny_config(true);
    let model = Wav2Vec2ForSequenceClassification::<TestBackend>::new(&config, &device);
    let clip: Tensor<TestBackend, 2> =
        Tensor::random([1, 1300], Distribution::Normal(0.0, 1.0), &device);
    let alone = model.forward(clip.clone(), None).logits;

    let padded = Tensor::cat(vec![clip, Tensor::zeros([1, 700], &device)], 1);
    let mask = FrameMask::new(&config, &[1300], 2000, &device).unwrap();
    let masked = model.forward(padded.clone(), Some(&mask)).logits;
    assert!(max_abs_diff(alone.clone(), masked) < 1e-5);

    // Without the mask the padding changes the result: the test above is not vacuous.
    let unmasked = model.forward(padded, None).logits;
    assert!(max_abs_diff(alone, unmasked) > 1e-3);
}
