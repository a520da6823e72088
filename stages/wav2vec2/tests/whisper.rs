//! Whisper's encoder as a feature model against transformers (`scripts/make_whisper_fixtures.py`):
//! the log-mel input of `WhisperFeatureExtractor`, every hidden state, and their pooling over
//! each clip's own frames, on both CPU backends.

use burn::tensor::{Tensor, TensorData};
use vox_wav2vec2::kernels::Kernels;
use vox_wav2vec2::whisper::{WhisperInput, load_encoder};

use crate::common::{Expected, TestBackend, fixture};

const VARIANT: &str = "whisper";

/// The fixture's two clips.
fn clips(expected: &mut Expected) -> Vec<Vec<f32>> {
    ["samples0", "samples1"].iter().map(|name| expected.data(name).convert::<f32>().to_vec().unwrap()).collect()
}

/// `values` `[n_mels][frames]` at frames `range` of mel bin `m`.
fn rows(values: &[f32], n_mels: usize, frames: usize, range: std::ops::Range<usize>) -> Vec<f32> {
    (0..n_mels).flat_map(|m| values[m * frames + range.start..m * frames + range.end].to_vec()).collect()
}

fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn the_log_mel_input_matches_whisper_feature_extractor() {
    let mut expected = Expected::open(VARIANT);
    let input = WhisperInput::read(&fixture(VARIANT)).unwrap();
    assert_eq!((input.n_mels, input.frames(), input.n_samples), (80, 3000, 480_000));
    let head: Vec<f32> = expected.data("mel_head").convert::<f32>().to_vec().unwrap();
    let tail: Vec<f32> = expected.data("mel_tail").convert::<f32>().to_vec().unwrap();
    for (i, clip) in clips(&mut expected).iter().enumerate() {
        let mel = input.log_mel(clip, false);
        assert_eq!(mel.len(), 80 * 3000);
        let want_head = &head[i * 80 * 128..(i + 1) * 80 * 128];
        let want_tail = &tail[i * 80 * 8..(i + 1) * 80 * 8];
        let head_error = largest_difference(&rows(&mel, 80, 3000, 0..128), want_head);
        let tail_error = largest_difference(&rows(&mel, 80, 3000, 2992..3000), want_tail);
        assert!(head_error < 1e-4, "clip {i}: the first frames differ by {head_error}");
        assert!(tail_error < 1e-4, "clip {i}: the padding's frames differ by {tail_error}");
        // The padding is silence floored 80 dB below the clip's peak: one value, below speech.
        let peak = mel.iter().copied().fold(f32::MIN, f32::max);
        assert!(want_tail.iter().all(|&x| (x - (peak - 2.0)).abs() < 1e-4), "clip {i}: the floor is the peak less 8/4");
    }
}

/// large-v3's 128 bins: the filterbank follows `feature_size`.
#[test]
fn a_128_bin_input_matches_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("preprocessor_config.json"), r#"{"feature_extractor_type": "WhisperFeatureExtractor", "feature_size": 128}"#).unwrap();
    let input = WhisperInput::read(dir.path()).unwrap();
    let mut expected = Expected::open(VARIANT);
    let head: Vec<f32> = expected.data("mel128_head").convert::<f32>().to_vec().unwrap();
    for (i, clip) in clips(&mut expected).iter().enumerate() {
        let mel = input.log_mel(clip, false);
        let error = largest_difference(&rows(&mel, 128, 3000, 0..128), &head[i * 128 * 128..(i + 1) * 128 * 128]);
        assert!(error < 1e-4, "clip {i}: {error}");
    }
}

/// The encoder's hidden states and their pooling over valid frames, from the clips' audio
/// through vox's own input: the whole path against transformers'.
fn states_match<B: Kernels>() {
    let device = Default::default();
    let dir = fixture(VARIANT);
    let (config, encoder) = load_encoder::<B>(&dir, &device).unwrap();
    assert_eq!((config.d_model, config.encoder_layers, config.max_source_positions), (32, 2, 1500));
    let input = WhisperInput::read(&dir).unwrap();
    let mut expected = Expected::open(VARIANT);
    let clips = clips(&mut expected);
    let mel: Vec<f32> = clips.iter().flat_map(|clip| input.log_mel(clip, false)).collect();
    let mel = Tensor::<B, 3>::from_data(TensorData::new(mel, [2, 80, 3000]), &device);
    let states = encoder.hidden_states(mel);
    assert_eq!(states.len(), 3);
    let head: Vec<f32> = expected.data("states_head").convert::<f32>().to_vec().unwrap();
    let tail: Vec<f32> = expected.data("states_tail").convert::<f32>().to_vec().unwrap();
    let mean: Vec<f32> = expected.data("pooled_mean").convert::<f32>().to_vec().unwrap();
    let std: Vec<f32> = expected.data("pooled_std").convert::<f32>().to_vec().unwrap();
    let frames: Vec<usize> = expected.lengths().iter().map(|&n| (input.valid_frames(n) - 1) / 2 + 1).collect();
    assert_eq!(frames, vec![51, 28]);
    for (l, state) in states.into_iter().enumerate() {
        assert_eq!(state.dims(), [2, 1500, 32]);
        let values: Vec<f32> = state.into_data().convert::<f32>().to_vec().unwrap();
        for b in 0..2 {
            let at = |t: usize| &values[(b * 1500 + t) * 32..(b * 1500 + t + 1) * 32];
            let got_head: Vec<f32> = (0..64).flat_map(|t| at(t).to_vec()).collect();
            let got_tail: Vec<f32> = (1490..1500).flat_map(|t| at(t).to_vec()).collect();
            let want_head = &head[((l * 2 + b) * 64) * 32..((l * 2 + b + 1) * 64) * 32];
            let want_tail = &tail[((l * 2 + b) * 10) * 32..((l * 2 + b + 1) * 10) * 32];
            let (h, t) = (largest_difference(&got_head, want_head), largest_difference(&got_tail, want_tail));
            assert!(h < 1e-4 && t < 1e-4, "state {l}, clip {b}: {h} (first frames), {t} (last)");
            // Mean and population std over the clip's own frames.
            let n = frames[b];
            for d in 0..32 {
                let m = (0..n).map(|t| f64::from(at(t)[d])).sum::<f64>() / n as f64;
                let v = (0..n).map(|t| (f64::from(at(t)[d]) - m).powi(2)).sum::<f64>() / n as f64;
                let k = (l * 2 + b) * 32 + d;
                assert!((m as f32 - mean[k]).abs() < 1e-4, "state {l}, clip {b}, dim {d}: mean {m} vs {}", mean[k]);
                assert!((v.sqrt() as f32 - std[k]).abs() < 1e-4, "state {l}, clip {b}, dim {d}: std");
            }
        }
    }
}

#[test]
fn every_hidden_state_of_a_whisper_encoder_matches_transformers() {
    states_match::<TestBackend>();
}

#[test]
fn every_hidden_state_of_a_whisper_encoder_on_flex_matches_transformers() {
    states_match::<burn::backend::Flex>();
}

/// An f16 checkpoint (large-v3's dtype on the hub) loads widened to f32: its states are the f32
/// model's within the weights' f16 rounding, and no layer computes in f16.
#[test]
fn a_half_precision_checkpoint_loads_in_f32() {
    let device = Default::default();
    let half = crate::common::half_precision_copy(VARIANT);
    let (_, full) = load_encoder::<TestBackend>(&fixture(VARIANT), &device).unwrap();
    let (_, widened) = load_encoder::<TestBackend>(half.path(), &device).unwrap();
    assert_eq!(widened.conv1.weight.val().dtype(), burn::tensor::DType::F32);
    let input = WhisperInput::read(&fixture(VARIANT)).unwrap();
    let mut expected = Expected::open(VARIANT);
    let mel = input.log_mel(&clips(&mut expected)[0], false);
    let mel = Tensor::<TestBackend, 3>::from_data(TensorData::new(mel, [1, 80, 3000]), &device);
    let want: Vec<f32> = full.hidden_states(mel.clone()).pop().unwrap().into_data().to_vec().unwrap();
    let got: Vec<f32> = widened.hidden_states(mel).pop().unwrap().into_data().to_vec().unwrap();
    let error = largest_difference(&got, &want);
    assert!(error > 0.0 && error < 5e-2, "f16 weights move the last state by {error}");
}

/// A half-precision `pytorch_model.bin` cannot be widened on loading (burn-store's PyTorch
/// reader takes no adapter): refused by name before any tensor reaches the model.
#[test]
fn a_half_precision_pickle_is_refused_with_the_fix() {
    let error = load_encoder::<TestBackend>(&fixture("whisper-f16-bin"), &Default::default()).unwrap_err().to_string();
    assert!(error.contains("holds F16 tensors: vox reads half-precision weights from `model.safetensors` only"), "{error}");
}

/// The last hidden state of the fixture's first clip through the encoder in `dir`.
fn last_state(dir: &std::path::Path) -> Vec<f32> {
    let device = Default::default();
    let (_, encoder) = load_encoder::<TestBackend>(dir, &device).unwrap();
    let input = WhisperInput::read(&fixture(VARIANT)).unwrap();
    let mel = input.log_mel(&clips(&mut Expected::open(VARIANT))[0], false);
    let mel = Tensor::<TestBackend, 3>::from_data(TensorData::new(mel, [1, 80, 3000]), &device);
    encoder.hidden_states(mel).pop().unwrap().into_data().to_vec().unwrap()
}

/// A fine-tuned `WhisperForAudioClassification` (the SER checkpoints on the hub) keeps its
/// encoder under `encoder.*` beside a head: the same encoder loads from it, the head unused;
/// an encoder tensor missing from the file is an error that names it.
#[test]
fn an_audio_classification_checkpoint_loads_its_encoder_and_a_missing_tensor_is_named() {
    use safetensors::Dtype;
    let classifier = crate::common::rewritten_copy(VARIANT, |name, dtype, shape, data| {
        let Some(rest) = name.strip_prefix("model.encoder.") else { return vec![] };
        let mut tensors = vec![(format!("encoder.{rest}"), dtype, shape.to_vec(), data.to_vec())];
        if rest == "conv1.bias" {
            // A head: `projector` (width 32 -> 4) and `classifier` (4 -> 2 classes).
            tensors.push(("projector.weight".into(), Dtype::F32, vec![4, 32], vec![0; 4 * 32 * 4]));
            tensors.push(("classifier.weight".into(), Dtype::F32, vec![2, 4], vec![0; 2 * 4 * 4]));
        }
        tensors
    });
    assert_eq!(last_state(classifier.path()), last_state(&fixture(VARIANT)));

    let incomplete = crate::common::rewritten_copy(VARIANT, |name, dtype, shape, data| match name {
        "model.encoder.layers.1.fc2.bias" => vec![],
        _ => vec![(name.to_string(), dtype, shape.to_vec(), data.to_vec())],
    });
    let error = load_encoder::<TestBackend>(incomplete.path(), &Default::default()).unwrap_err().to_string();
    assert!(error.contains("lack 1 model tensors: layers.1.feed_forward.output_dense.bias"), "{error}");
}
