//! Parity with transformers: tiny random models of both layouts, outputs compared with the ones
//! `scripts/make_fixtures.py` recorded from `Wav2Vec2ForSequenceClassification` in eval mode.

use vox_wav2vec2::kernels::Kernels;
use vox_wav2vec2::{ClassifierHead, FrameMask, Wav2Vec2Error, load_classifier};

use crate::common::{Expected, TestBackend, fixture, max_abs_diff};

/// The tolerance of the parity tests (f32 on both sides; observed errors are ~1e-6).
const TOLERANCE: f32 = 1e-4;

/// Loads `variant`, runs the fixture batch with and without the padding mask, and compares the
/// last hidden state and the logits with transformers'.
fn assert_parity(variant: &str) {
    assert_parity_on::<TestBackend>(variant, TOLERANCE);
}

/// [`assert_parity`] on backend `B`, within `tolerance`.
fn assert_parity_on<B: Kernels>(variant: &str, tolerance: f32) {
    for (output, error) in parity_errors::<B>(variant) {
        assert!(error <= tolerance, "{variant}: {output} differs by {error}");
    }
}

/// The largest absolute difference from transformers of each output of `variant` on backend
/// `B`: the last hidden state and the logits, with and without the padding mask.
fn parity_errors<B: Kernels>(variant: &str) -> Vec<(String, f32)> {
    let device = Default::default();
    let loaded = load_classifier::<B>(&fixture(variant), |_| {}, &device).unwrap();
    assert!(loaded.report.fresh.is_empty(), "{:?}", loaded.report);
    assert!(loaded.report.unused.is_empty(), "{:?}", loaded.report);

    let mut expected = Expected::open(variant);
    let input = expected.tensor::<B, 2>("input_values");
    let lengths = expected.lengths();
    let mask = FrameMask::new(&loaded.config, &lengths, input.dims()[1], &device).unwrap();
    assert_eq!(mask.lengths, vec![99, 64], "frames of 2000 and 1300 samples");

    let mut errors = Vec::new();
    for (suffix, mask) in [("", Some(&mask)), ("_unmasked", None)] {
        let out = loaded.model.forward(input.clone(), mask);
        let hidden = expected.tensor::<TestBackend, 3>(&format!("last_hidden_state{suffix}"));
        let logits = expected.tensor::<TestBackend, 2>(&format!("logits{suffix}"));
        assert_eq!(out.last_hidden_state.dims(), [2, 99, 32]);
        assert_eq!(out.logits.dims(), [2, 8]);
        errors.push((format!("hidden state{suffix}"), max_abs_diff(out.last_hidden_state, hidden)));
        errors.push((format!("logits{suffix}"), max_abs_diff(out.logits, logits)));
    }
    errors
}

#[test]
fn base_layout_matches_transformers() {
    assert_parity("base");
}

#[test]
fn base_layout_from_pytorch_bin_matches_transformers() {
    assert_parity("base-bin");
}

#[test]
fn large_layout_matches_transformers() {
    assert_parity("large");
}

#[test]
fn large_layout_on_flex_matches_transformers() {
    assert_parity_on::<burn::backend::Flex>("large", TOLERANCE);
}

/// Needs a GPU: `cargo test -p vox-wav2vec2 --features cuda -- --ignored cuda` on a CUDA machine
/// (CI compiles it without one). cubecl multiplies f32 matrices on tensor cores in TF32 (10
/// mantissa bits, as PyTorch with `allow_tf32`), so the tolerance is TF32's, not f32's: on an
/// H200 (2026-11-26, `benches/gpu-check.sh`) the hidden states (O(1) values) differed by at
/// most 5.8e-3 and the logits by 2.7e-4; a wrong op is off by O(1).
#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA device"]
fn both_layouts_on_cuda_match_transformers_within_tf32_rounding() {
    const TF32_TOLERANCE: f32 = 1e-2;
    let mut worst = Vec::new();
    for variant in ["base", "large", "large-dense-tanh"] {
        for (output, error) in parity_errors::<burn::backend::Cuda>(variant) {
            eprintln!("cuda {variant} {output}: max abs diff {error:.2e}");
            worst.push((variant, output, error));
        }
    }
    for (variant, output, error) in worst {
        assert!(error <= TF32_TOLERANCE, "{variant}: {output} differs by {error} on cuda");
    }
}

#[test]
fn dense_tanh_head_matches_reference() {
    assert_parity("large-dense-tanh");
}

#[test]
fn checkpoint_without_the_chosen_head_reports_a_fresh_head() {
    let loaded = load_classifier::<TestBackend>(
        &fixture("large"),
        |config| config.classifier_head = ClassifierHead::DenseTanh,
        &Default::default(),
    )
    .unwrap();
    let report = loaded.report;
    assert_eq!(
        report.fresh,
        [
            "classifier.dense.bias",
            "classifier.dense.weight",
            "classifier.out_proj.bias",
            "classifier.out_proj.weight"
        ]
    );
    assert_eq!(
        report.unused,
        [
            "classifier.bias",
            "classifier.weight",
            "projector.bias",
            "projector.weight"
        ]
    );
}

#[test]
fn missing_body_weights_are_an_error() {
    let error = load_classifier::<TestBackend>(
        &fixture("large"),
        |config| config.num_hidden_layers = 3,
        &Default::default(),
    )
    .unwrap_err();
    let Wav2Vec2Error::MissingWeights { missing, .. } = error else {
        panic!("{error}")
    };
    assert!(
        missing
            .iter()
            .all(|name| name.starts_with("wav2vec2.encoder.layers.2.")),
        "{missing:?}"
    );
    assert_eq!(missing.len(), 16, "{missing:?}");
}

#[test]
fn mismatched_head_shape_is_an_error() {
    // `id2label` wins over `num_labels`, so drop it to change the label count.
    let error = load_classifier::<TestBackend>(
        &fixture("large"),
        |config| {
            config.id2label = None;
            config.num_labels = Some(5);
        },
        &Default::default(),
    )
    .unwrap_err();
    let Wav2Vec2Error::Mismatch { errors, .. } = error else {
        panic!("{error}")
    };
    assert!(
        errors
            .iter()
            .any(|e| e.contains("classifier.out_proj.weight")),
        "{errors:?}"
    );
}

/// Saving writes HF's key names: the base checkpoint's keys come back exactly, and the saved
/// model reloads to the same outputs.
#[test]
fn saved_checkpoint_round_trips_with_hf_key_names() {
    use burn_store::{ModuleStore, SafetensorsStore};

    let device = Default::default();
    let loaded = load_classifier::<TestBackend>(&fixture("base"), |_| {}, &device).unwrap();
    let dir = tempfile::tempdir().unwrap();
    vox_wav2vec2::save_classifier(&loaded.model, &loaded.config, dir.path()).unwrap();

    let keys = |path: std::path::PathBuf| {
        let mut keys = SafetensorsStore::from_file(path).keys().unwrap();
        keys.sort();
        keys
    };
    let saved = keys(dir.path().join("model.safetensors"));
    assert_eq!(saved, keys(fixture("base").join("model.safetensors")));

    let reloaded = load_classifier::<TestBackend>(dir.path(), |_| {}, &device).unwrap();
    assert_eq!(reloaded.config, loaded.config);
    let mut expected = Expected::open("base");
    let input = expected.tensor::<TestBackend, 2>("input_values");
    let before = loaded.model.forward(input.clone(), None).logits;
    let after = reloaded.model.forward(input, None).logits;
    assert_eq!(max_abs_diff(before, after), 0.0);
}

#[test]
fn switching_on_spec_augment_initializes_masked_spec_embed() {
    let loaded = load_classifier::<TestBackend>(
        &fixture("large"),
        |config| config.mask_time_prob = 0.05,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(loaded.report.fresh, ["wav2vec2.masked_spec_embed"]);
    let embed = loaded.model.wav2vec2.masked_spec_embed.unwrap().val();
    assert_eq!(embed.dims(), [32]);
}
