//! Fresh zeroed buffers for vox's CPU kernels, zeroed in parallel. Its own module: the host
//! kernels, sgemm and the grouped conv all take their outputs and scratch from here, and
//! none of them from another.

use rayon::prelude::*;

/// `len` zeros, written in parallel for a large `len`: `vec![0.0; len]` zeroes a reused
/// allocation with a `memset` on the calling thread (and a fresh one page by page at first
/// touch), which on many threads is serial time in every operation.
pub(super) fn zeros(len: usize) -> Vec<f32> {
    if len < CHUNK * 4 {
        return vec![0f32; len];
    }
    let mut values: Vec<f32> = Vec::with_capacity(len);
    values.spare_capacity_mut().par_chunks_mut(CHUNK).for_each(|chunk| {
        chunk.fill(std::mem::MaybeUninit::new(0.0));
    });
    // SAFETY: the loop above initialized all `len` values.
    unsafe { values.set_len(len) };
    values
}

/// Values zeroed per rayon task (as the host kernels' tasks: 128 KiB).
const CHUNK: usize = 1 << 15;
