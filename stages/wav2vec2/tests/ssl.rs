//! Self-supervised embeddings: every hidden state and its pooling over valid frames against
//! transformers (`scripts/make_ssl_fixtures.py`), and pooling that no padding reaches.

use burn::tensor::{Tensor, TensorData};
use vox_api::audio::{AudioSet, Clip, Split};
use vox_wav2vec2::kernels::Kernels;
use vox_wav2vec2::ssl::states::{load_body, pool_batch};

use crate::common::{Expected, TestBackend, fixture, hidden_states_within, max_abs_diff, reference};

/// f32 on both sides, as the parity tests.
const TOLERANCE: f32 = 1e-4;

/// Every hidden state (valid frames and padding alike) of the fixture batch, with its mask.
fn hidden_states_match<B: Kernels>(variant: &str) {
    hidden_states_within::<B>(variant, TOLERANCE);
}

#[test]
fn every_hidden_state_of_the_base_layout_matches_transformers() {
    hidden_states_match::<TestBackend>("base");
}

#[test]
fn every_hidden_state_of_the_large_layout_on_flex_matches_transformers() {
    hidden_states_match::<burn::backend::Flex>("large");
}

#[test]
fn every_hidden_state_of_hubert_and_wavlm_matches_transformers() {
    hidden_states_match::<TestBackend>("hubert-base");
    hidden_states_match::<TestBackend>("hubert-large");
    hidden_states_match::<TestBackend>("wavlm-base");
    hidden_states_match::<burn::backend::Flex>("wavlm-large");
}

/// Needs a GPU (`benches/gpu-check.sh` runs the ignored `cuda` tests): TF32 products, so the
/// parity tests' TF32 tolerance for O(1) hidden states.
#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA device"]
fn every_hidden_state_on_cuda_matches_transformers_within_tf32_rounding() {
    hidden_states_within::<burn::backend::Cuda>("base", 1e-2);
    hidden_states_within::<burn::backend::Cuda>("large", 1e-2);
    hidden_states_within::<burn::backend::Cuda>("wavlm-large", 1e-2);
}

/// An audio set of the fixture batch's clips, at their valid lengths.
fn fixture_set(variant: &str) -> AudioSet {
    let mut expected = Expected::open(variant);
    let lengths = expected.lengths();
    let values: Vec<f32> = expected.data("input_values").convert::<f32>().to_vec().unwrap();
    let padded = values.len() / lengths.len();
    let mut set = AudioSet::default();
    for (i, &n) in lengths.iter().enumerate() {
        let clip = Clip {
            file_id: format!("clip{i}"),
            label: Some("01".into()),
            split: Split::Train,
            sample_rate: 16000,
            length: n as u64,
            original_length: n as u64,
            ..Clip::default()
        };
        set.push(clip, &values[i * padded..i * padded + n]);
    }
    set
}

/// The pooled statistics of each clip batched with the other (the second clip is padded in
/// the batch) equal transformers' pooled over valid frames only; with `alone_too`, also each
/// clip's pooled alone (true of layer-norm models only: a group-norm feature encoder's
/// statistics span the padded length, in transformers as here).
fn pooling_matches<B: Kernels>(variant: &str, alone_too: bool) {
    let device = Default::default();
    let model = load_body::<B>(&fixture(variant), &device).unwrap();
    let set = fixture_set(variant);
    let lengths: Vec<usize> = set.clips.iter().map(|c| c.length as usize).collect();
    let mean = reference::<3>(variant, "pooled_mean");
    let std = reference::<3>(variant, "pooled_std");
    let [states, clips, hidden] = mean.dims();
    // The fixture's input is already normalized as the model expects: no second normalization.
    let together = pool_batch(&model.body, &model.config, &set, &[0, 1], false, &device).unwrap();
    let alone: Vec<Vec<f32>> =
        (0..clips).map(|i| pool_batch(&model.body, &model.config, &set, &[i], false, &device).unwrap().remove(0)).collect();
    for clip in 0..clips {
        let ways = [(&together, "batched"), (&alone, "alone")];
        for (rows, how) in ways.into_iter().take(if alone_too { 2 } else { 1 }) {
            let row = &rows[clip];
            assert_eq!(row.len(), states * 2 * hidden);
            for layer in 0..states {
                for (stat, want) in [(0, &mean), (1, &std)] {
                    let got = &row[(layer * 2 + stat) * hidden..(layer * 2 + stat + 1) * hidden];
                    let got = Tensor::<TestBackend, 1>::from_data(TensorData::new(got.to_vec(), [hidden]), &Default::default());
                    let want = want.clone().narrow(0, layer, 1).narrow(1, clip, 1).reshape([hidden]);
                    let error = max_abs_diff(got, want);
                    assert!(error <= TOLERANCE, "{variant} clip {clip} ({how}) layer {layer} stat {stat}: off by {error}");
                }
            }
        }
    }
    // Padding really was there: the second clip is shorter than the batch.
    assert!(lengths[1] < lengths[0]);
}

#[test]
fn pooled_states_match_transformers_whatever_the_batch() {
    pooling_matches::<TestBackend>("base", false);
    pooling_matches::<burn::backend::Flex>("large", true);
    pooling_matches::<TestBackend>("large", true);
    // WavLM's bias depends on key - query only, and padded keys are masked: alone = batched.
    pooling_matches::<TestBackend>("wavlm-large", true);
    pooling_matches::<TestBackend>("hubert-base", false);
}

/// A wav2vec2 checkpoint saved in f16 loads widened to f32 (burn-store keeps a file's dtype,
/// and an f16 body failed in the first conv): its pooled states are the f32 checkpoint's within
/// the weights' f16 rounding.
#[test]
fn a_half_precision_wav2vec2_checkpoint_loads_in_f32() {
    let device = Default::default();
    let half = crate::common::half_precision_copy("large");
    let full = load_body::<TestBackend>(&fixture("large"), &device).unwrap();
    let widened = load_body::<TestBackend>(half.path(), &device).unwrap();
    let set = fixture_set("large");
    let want = pool_batch(&full.body, &full.config, &set, &[0, 1], true, &device).unwrap();
    let got = pool_batch(&widened.body, &widened.config, &set, &[0, 1], true, &device).unwrap();
    let error = want.iter().flatten().zip(got.iter().flatten()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(error > 0.0 && error < 5e-2, "f16 weights move the pooled states by {error}");
}
