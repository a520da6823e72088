//! Helpers shared by the integration tests: fixture paths, tensor reading, comparisons.

use std::path::PathBuf;

use burn::backend::NdArray;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use burn_store::{ModuleStore, SafetensorsStore};
use vox_wav2vec2::kernels::Kernels;
use vox_wav2vec2::ssl::states::load_body;
use vox_wav2vec2::{FrameMask, Precision, load_classifier};

/// The CPU backend of the tests.
pub type TestBackend = NdArray<f32>;

/// The folder of one fixture variant made by `scripts/make_fixtures.py`.
pub fn fixture(variant: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(variant)
}

/// The expected tensors of a fixture variant.
pub struct Expected(SafetensorsStore);

impl Expected {
    /// Opens `<variant>/expected.safetensors`.
    pub fn open(variant: &str) -> Self {
        Self(SafetensorsStore::from_file(
            fixture(variant).join("expected.safetensors"),
        ))
    }

    /// The raw data of tensor `name`.
    pub fn data(&mut self, name: &str) -> TensorData {
        let snapshot = self
            .0
            .get_snapshot(name)
            .unwrap()
            .unwrap_or_else(|| panic!("no `{name}`"));
        snapshot.to_data().unwrap()
    }

    /// Tensor `name` as a float tensor on backend `B`'s default device.
    pub fn tensor<B: Backend, const D: usize>(&mut self, name: &str) -> Tensor<B, D> {
        Tensor::from_data(self.data(name).convert::<f32>(), &Default::default())
    }

    /// The valid sample counts of the batch.
    pub fn lengths(&mut self) -> Vec<usize> {
        let lengths: Vec<i64> = self.data("lengths").to_vec().unwrap();
        lengths.into_iter().map(|n| n as usize).collect()
    }
}

/// The largest absolute difference between two tensors of the same shape, on any backends.
pub fn max_abs_diff<A: Backend, B: Backend, const D: usize>(
    a: Tensor<A, D>,
    b: Tensor<B, D>,
) -> f32 {
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let device = Default::default();
    let a = Tensor::<TestBackend, D>::from_data(a.into_data().convert::<f32>(), &device);
    let b = Tensor::<TestBackend, D>::from_data(b.into_data().convert::<f32>(), &device);
    (a - b).abs().max().into_scalar()
}

/// The tiny configurations of the fixtures: `large` selects the XLSR layout (layer norm in
/// every conv, pre-LN encoder, conv bias), otherwise the base layout.
pub fn tiny_config(large: bool) -> vox_wav2vec2::Wav2Vec2Config {
    let json = serde_json::json!({
        "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": if large { 2 } else { 4 },
        "intermediate_size": 64, "conv_dim": [16, 16, 16], "conv_kernel": [10, 3, 3],
        "conv_stride": [5, 2, 2], "conv_bias": large,
        "feat_extract_norm": if large { "layer" } else { "group" },
        "do_stable_layer_norm": large, "num_conv_pos_embeddings": 16,
        "num_conv_pos_embedding_groups": 4, "classifier_proj_size": 16, "num_labels": 8
    });
    let config: vox_wav2vec2::Wav2Vec2Config = serde_json::from_value(json).unwrap();
    config.validate().unwrap();
    config
}

/// The largest absolute difference from transformers (f32) of each output of `variant` on
/// backend `B` with its products in `precision`: the last hidden state and the logits, with
/// and without the padding mask.
pub fn parity_errors<B: Kernels>(variant: &str, precision: Precision) -> Vec<(String, f32)> {
    let device = Default::default();
    let mut loaded = load_classifier::<B>(&fixture(variant), |_| {}, &device).unwrap();
    assert!(loaded.report.fresh.is_empty(), "{:?}", loaded.report);
    assert!(loaded.report.unused.is_empty(), "{:?}", loaded.report);
    loaded.model = loaded.model.with_precision(precision);

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

/// Tensor `name` of `<variant>/hidden_states.safetensors`.
pub fn reference<const D: usize>(variant: &str, name: &str) -> Tensor<TestBackend, D> {
    let mut store = SafetensorsStore::from_file(fixture(variant).join("hidden_states.safetensors"));
    let data = store.get_snapshot(name).unwrap().unwrap_or_else(|| panic!("no `{name}`")).to_data().unwrap();
    Tensor::from_data(data.convert::<f32>(), &Default::default())
}

/// Every hidden state (valid frames and padding alike) of `variant`'s fixture batch on backend
/// `B`, with its mask, against transformers' within `tolerance`.
pub fn hidden_states_within<B: Kernels>(variant: &str, tolerance: f32) {
    let device = Default::default();
    let model = load_body::<B>(&fixture(variant), &device).unwrap();
    let mut expected = Expected::open(variant);
    let input = expected.tensor::<B, 2>("input_values");
    let lengths = expected.lengths();
    let mask = FrameMask::new(&model.config, &lengths, input.dims()[1], &device).unwrap();
    let states = model.body.hidden_states(input, Some(&mask));
    assert_eq!(states.len(), 3, "embedded input + 2 layers");
    let want = reference::<4>(variant, "hidden_states");
    for (i, state) in states.into_iter().enumerate() {
        let want = want.clone().narrow(0, i, 1).squeeze_dim::<3>(0);
        // Padded frames of the valid-frame-only statistics below aside, HF's states at padding
        // are defined too (attention never looks at them, but each frame is computed).
        let error = max_abs_diff(state, want);
        assert!(error <= tolerance, "{variant}: hidden state {i} differs by {error}");
    }
}

/// A copy of fixture `variant`'s folder whose `model.safetensors` holds every f32 tensor in
/// f16, as many hub checkpoints are saved (`openai/whisper-large-v3`).
pub fn half_precision_copy(variant: &str) -> tempfile::TempDir {
    use safetensors::Dtype;
    rewritten_copy(variant, |name, dtype, shape, data| match dtype {
        Dtype::F32 => {
            let halves = data
                .chunks_exact(4)
                .flat_map(|b| burn::tensor::f16::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]])).to_le_bytes())
                .collect();
            vec![(name.to_string(), Dtype::F16, shape.to_vec(), halves)]
        }
        other => vec![(name.to_string(), other, shape.to_vec(), data.to_vec())],
    })
}

/// A tensor of a rewritten `model.safetensors`: name, dtype, shape, little-endian bytes.
pub type Written = (String, safetensors::Dtype, Vec<usize>, Vec<u8>);

/// A copy of fixture `variant`'s folder whose `model.safetensors` holds what `rewrite` makes
/// of each tensor (none, itself, or others), given its name, dtype, shape and bytes.
pub fn rewritten_copy(
    variant: &str,
    mut rewrite: impl FnMut(&str, safetensors::Dtype, &[usize], &[u8]) -> Vec<Written>,
) -> tempfile::TempDir {
    use safetensors::{SafeTensors, tensor::TensorView};
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixture(variant)).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.file_name().unwrap() != "model.safetensors" {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let bytes = std::fs::read(fixture(variant).join("model.safetensors")).unwrap();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let written: Vec<Written> =
        file.tensors().into_iter().flat_map(|(name, view)| rewrite(&name, view.dtype(), view.shape(), view.data())).collect();
    let views: Vec<(String, TensorView)> = written
        .iter()
        .map(|(name, dtype, shape, data)| (name.clone(), TensorView::new(*dtype, shape.clone(), data).unwrap()))
        .collect();
    let metadata = [("format".to_string(), "pt".to_string())].into();
    std::fs::write(dir.path().join("model.safetensors"), safetensors::serialize(views, Some(metadata)).unwrap()).unwrap();
    dir
}
