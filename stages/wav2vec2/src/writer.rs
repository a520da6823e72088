//! Writing a module's parameters as a safetensors file in PyTorch's layout, reading the CPU
//! backends' values where they lie.
//!
//! The names, shapes, order and metadata are burn-store's: its collector (with
//! [`PyTorchLayout`]'s renames and transposed shapes) and its [`KeyRemapper`] name the
//! tensors, and the `safetensors` crate sorts and frames them, so the file is the one
//! `SafetensorsStore::save_into` wrote, byte for byte (tested). Only the values take another
//! road.
//!
//! Why: burn-store reads every tensor through `to_data` and then copies its bytes once more
//! for the writer. On ndarray `to_data` of a parameter, which the module still holds, collects
//! the values through an element-wise iterator: writing wav2vec2-base (95 M values) took
//! several times as long as `torch.save` there, and on flex about as long as its slowest runs
//! (measured: BENCHMARKS-wav2vec2.md, section "Measurements behind the code's choices"). Here
//! a tensor that the backend keeps contiguous on the host ([`Kernels::host_bytes`]) is written
//! from its own memory; a Linear weight is transposed from it once (in parallel tiles); any
//! other tensor (cuda, other layouts) goes through its snapshot as before.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Tensor};
use burn_store::{KeyRemapper, ModuleSnapshot, TensorSnapshot};
use safetensors::{Dtype, View};

use crate::error::Wav2Vec2Error;
use crate::kernels::Kernels;
use crate::layout::{Direction, PyTorchLayout, is_linear_weight, transpose_bytes};

/// Writes `module`'s parameters to `path` (replacing it) with PyTorch's layout, burn paths
/// renamed by `renames` (`(regex, replacement)`, applied in order) and `metadata`.
pub fn write_safetensors<B: Kernels, M: Module<B> + ModuleSnapshot<B>>(
    module: &M,
    renames: &[(&str, &str)],
    metadata: HashMap<String, String>,
    path: &Path,
) -> Result<(), Wav2Vec2Error> {
    write_with(module, renames, metadata, path, B::host_bytes)
}

/// [`write_safetensors`], reading host values with `host_bytes`.
fn write_with<B: Kernels, M: Module<B> + ModuleSnapshot<B>>(
    module: &M,
    renames: &[(&str, &str)],
    metadata: HashMap<String, String>,
    path: &Path,
    host_bytes: fn(&FloatTensor<B>) -> Option<&[u8]>,
) -> Result<(), Wav2Vec2Error> {
    let mut values = HostValues::<B>(HashMap::new());
    module.visit(&mut values);
    let adapter = Box::new(PyTorchLayout(Direction::ToPyTorch));
    let snapshots = module.collect(None, Some(adapter), false);
    let remapper = KeyRemapper::from_patterns(renames.to_vec())
        .unwrap_or_else(|e| panic!("the save renames are valid regexes: {e}"));
    let (snapshots, _) = remapper.remap(snapshots);
    let tensors = snapshots
        .into_iter()
        .map(|snapshot| {
            let name = snapshot.full_path();
            let dtype = safetensors_dtype(snapshot.dtype)
                .ok_or_else(|| Wav2Vec2Error::UnsavableDtype { name: name.clone(), dtype: snapshot.dtype })?;
            let host = snapshot.tensor_id.and_then(|id| values.0.get(&id)).and_then(host_bytes);
            let source = match host {
                Some(bytes) if is_linear_weight(&snapshot) => {
                    // The adapted shape is PyTorch's `[out, in]`; burn holds `[in, out]`.
                    let [cols, rows] = [snapshot.shape[0], snapshot.shape[1]];
                    Source::Transposed { bytes, rows, cols }
                }
                Some(bytes) => Source::Host(bytes),
                None => Source::Snapshot,
            };
            Ok((name, Entry { snapshot, dtype, source }))
        })
        .collect::<Result<Vec<_>, Wav2Vec2Error>>()?;
    safetensors::serialize_to_file(tensors, Some(metadata), path)
        .map_err(|source| Wav2Vec2Error::SafetensorsWrite { path: path.to_path_buf(), source })
}

/// Every float parameter's primitive by id (cheap handles on the module's own buffers).
struct HostValues<B: Kernels>(HashMap<ParamId, FloatTensor<B>>);

impl<B: Kernels> ModuleVisitor<B> for HostValues<B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.0.insert(param.id, param.val().into_primitive().tensor());
    }
}

/// Where a tensor's bytes come from.
enum Source<'a> {
    /// The backend's own host memory, in order.
    Host(&'a [u8]),
    /// The backend's own host memory, `rows x cols` f32 values to transpose.
    Transposed { bytes: &'a [u8], rows: usize, cols: usize },
    /// The snapshot's data (burn-store's road).
    Snapshot,
}

/// One tensor of the file.
struct Entry<'a> {
    snapshot: TensorSnapshot,
    dtype: Dtype,
    source: Source<'a>,
}

impl View for Entry<'_> {
    fn dtype(&self) -> Dtype {
        self.dtype
    }

    fn shape(&self) -> &[usize] {
        &self.snapshot.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        match self.source {
            Source::Host(bytes) => Cow::Borrowed(bytes),
            Source::Transposed { bytes, rows, cols } => {
                Cow::Owned(transpose_bytes(bytes, self.snapshot.dtype.size(), rows, cols))
            }
            Source::Snapshot => {
                let data = self.snapshot.to_data().unwrap_or_else(|e| {
                    panic!("a parameter of the module reads back ({}): {e:?}", self.snapshot.full_path())
                });
                Cow::Owned(data.bytes.to_vec())
            }
        }
    }

    fn data_len(&self) -> usize {
        self.snapshot.shape.iter().product::<usize>() * self.snapshot.dtype.size()
    }
}

/// The safetensors element type of a float parameter's `dtype`.
fn safetensors_dtype(dtype: DType) -> Option<Dtype> {
    match dtype {
        DType::F64 => Some(Dtype::F64),
        DType::F32 => Some(Dtype::F32),
        DType::F16 => Some(Dtype::F16),
        DType::BF16 => Some(Dtype::BF16),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use burn_store::SafetensorsStore;

    use super::*;
    use crate::config::Wav2Vec2Config;
    use crate::loader::save_renames;
    use crate::model::Wav2Vec2ForSequenceClassification;

    /// What `SafetensorsStore::save_into` writes for `model` with the same renames, adapter and
    /// metadata: the road this writer replaces.
    fn burn_store_bytes<B: Kernels>(model: &Wav2Vec2ForSequenceClassification<B>, config: &Wav2Vec2Config) -> Vec<u8> {
        let mut store = save_renames(config).iter().fold(
            SafetensorsStore::from_bytes(None)
                .with_to_adapter(PyTorchLayout(Direction::ToPyTorch))
                .clear_metadata()
                .metadata("format", "pt"),
            |store, (from, to)| store.with_key_remapping(from, *to),
        );
        model.save_into(&mut store).unwrap();
        store.get_bytes().unwrap()
    }

    fn configs() -> Vec<Wav2Vec2Config> {
        let tiny = serde_json::json!({
            "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
            "intermediate_size": 64, "conv_dim": [16, 16, 16], "conv_kernel": [10, 3, 3],
            "conv_stride": [5, 2, 2], "num_conv_pos_embeddings": 16,
            "num_conv_pos_embedding_groups": 4, "classifier_proj_size": 16, "num_labels": 3
        });
        let variants = [
            serde_json::json!({}),
            serde_json::json!({"model_type": "hubert", "classifier_head": "projector"}),
            serde_json::json!({"model_type": "wavlm", "feat_extract_norm": "layer",
                "do_stable_layer_norm": true, "conv_bias": true, "num_buckets": 16,
                "max_bucket_distance": 40}),
        ];
        variants
            .into_iter()
            .map(|variant| {
                let mut json = tiny.clone();
                json.as_object_mut().unwrap().extend(variant.as_object().unwrap().clone());
                let config: Wav2Vec2Config = serde_json::from_value(json).unwrap();
                config.validate().unwrap();
                config
            })
            .collect()
    }

    /// The file is burn-store's, byte for byte, for each family and head, on both CPU backends
    /// (values written from the backend's memory, Linear weights transposed) and through a
    /// backend without host bytes (the snapshot road).
    #[test]
    fn writes_the_file_burn_store_writes() {
        fn check<B: Kernels>(config: &Wav2Vec2Config, host: bool) {
            let device = Default::default();
            let model = {
                let _lock = crate::burn_rng_lock();
                Wav2Vec2ForSequenceClassification::<B>::new(config, &device)
            };
            let weight = model.classifier.out_proj.weight.val().into_primitive().tensor();
            assert_eq!(B::host_bytes(&weight).is_some(), host, "host bytes on this backend");
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("model.safetensors");
            let expected = burn_store_bytes(&model, config);
            let metadata = || [("format".to_string(), "pt".to_string())].into();
            write_safetensors(&model, &save_renames(config), metadata(), &path).unwrap();
            let written = std::fs::read(&path).unwrap();
            assert!(written.len() > 10_000, "a whole model: {} bytes", written.len());
            assert!(written == expected, "{:?}: {} bytes against {}", config.model_type, written.len(), expected.len());
            // Without host bytes (cuda's road): every tensor through its snapshot.
            write_with(&model, &save_renames(config), metadata(), &path, no_host_bytes::<B>).unwrap();
            assert!(std::fs::read(&path).unwrap() == expected, "{:?}, snapshots", config.model_type);
        }
        fn no_host_bytes<B: Kernels>(_: &FloatTensor<B>) -> Option<&[u8]> {
            None
        }
        for config in configs() {
            check::<NdArray>(&config, true);
            #[cfg(feature = "flex")]
            check::<burn::backend::Flex>(&config, true);
            check::<burn::backend::Autodiff<NdArray>>(&config, true);
        }
    }
}
