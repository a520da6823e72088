//! What vox's cubecl kernels (`cube.rs`, `cube_attention.rs`) share: the units per cube, the
//! switch that turns them off, and fresh output tensors.

use burn::tensor::{DType, Shape};
use burn_cubecl::CubeRuntime;
use burn_cubecl::tensor::CubeTensor;

/// Units per cube of vox's kernels: a power of two (the tree reduction halves it), within
/// every runtime's limit.
pub(super) const CUBE_UNITS: u32 = 256;

/// Whether vox's kernels run (not `VOX_CUBE_KERNELS=0`), read once.
pub(super) fn enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ENABLED.get_or_init(|| std::env::var_os("VOX_CUBE_KERNELS").is_none_or(|v| v != "0"))
}

/// A new contiguous f32 tensor of `like`'s shape on its device.
pub(super) fn empty_like<R: CubeRuntime>(like: &CubeTensor<R>) -> CubeTensor<R> {
    empty_of(like, like.meta.shape().clone())
}

/// A new contiguous f32 tensor of `shape` on `like`'s device.
pub(super) fn empty_of<R: CubeRuntime>(like: &CubeTensor<R>, shape: Shape) -> CubeTensor<R> {
    let handle = like.client.empty(shape.num_elements() * size_of::<f32>());
    CubeTensor::new_contiguous(like.client.clone(), like.device.clone(), shape, handle, DType::F32)
}
