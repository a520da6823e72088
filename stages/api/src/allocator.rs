//! Process-wide memory allocator settings for vox's numeric work.

/// Keeps freed memory in the process for reuse instead of handing it back to the kernel at
/// once; call it at the start of `main`.
///
/// glibc serves each allocation above its mmap threshold (128 KiB at first, adapting up to 32
/// MiB) with a fresh mapping that `free` unmaps, and trims the heap whenever more than 128 KiB
/// is free at its top. A training step allocates and frees the same tensors every step, so
/// each step faulted their pages back in, zeroed by the kernel: a third of the small
/// wav2vec2 config's step on flex (`train_step small flex 2 2 32000 30`, 2 threads, 2026-11-26:
/// 16-17 ms per step as glibc ships, 10.3-10.6 ms with these settings). This serves
/// allocations up to 1 GiB from the heap and trims it only beyond 1 GiB free, as
/// `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=1073741824`
/// would; the process then keeps the memory of its peak until it exits. Malloc tunables the
/// user set in `GLIBC_TUNABLES` are left alone, and so are allocators other than glibc's.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let user_tuned =
            std::env::var("GLIBC_TUNABLES").is_ok_and(|tunables| tunables.contains("glibc.malloc."));
        if !user_tuned {
            const ONE_GIB: libc::c_int = 1 << 30;
            // SAFETY: `mallopt` only sets allocator parameters; it takes the arena lock itself.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, ONE_GIB);
                libc::mallopt(libc::M_TRIM_THRESHOLD, ONE_GIB);
            }
        }
    }
}
