//! Helpers shared by the integration tests: fixture paths, tensor reading, comparisons.

use std::path::PathBuf;

use burn::backend::NdArray;
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use burn_store::{ModuleStore, SafetensorsStore};

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
