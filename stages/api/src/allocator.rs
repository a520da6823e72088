//! Process-wide memory allocator settings for vox's numeric work.

/// The largest allocation that [`keep_freed_memory`]'s settings serve from the heap, where a
/// freed block is reused without faulting its pages in again: code that can cut its work into
/// pieces (a batch into items) keeps its buffers below it.
pub const REUSED_UP_TO: usize = 32 << 20;

/// Keeps freed memory in the process for reuse instead of handing it back to the kernel at
/// once; call it at the start of `main`.
///
/// glibc serves each allocation above its mmap threshold (128 KiB at first, adapting up to 32
/// MiB) with a fresh mapping that `free` unmaps, and trims the heap whenever more than 128 KiB
/// is free at its top. A training step allocates and frees the same tensors every step, so
/// each step faulted their pages back in, zeroed by the kernel: a large part of the small
/// wav2vec2 config's step on flex (measured: BENCHMARKS-wav2vec2.md, section "Measurements
/// behind the code's choices").
///
/// The settings: allocations up to 32 MiB (glibc's own ceiling for its adaptive threshold)
/// come from the heap, which is trimmed only beyond 1 GiB free and grows 64 MiB at a time;
/// larger ones (a conv layer's activations) get their own mapping, returned when freed. A
/// 1 GiB mmap threshold, the first version of this, put those large tensors in the heap
/// too, where they fragmented it: wav2vec2-base's step was slower and its peak RSS higher
/// than with these, and the small config's step a little slower (measured:
/// BENCHMARKS-wav2vec2.md, section "Single operations at a base step's shapes", the memory
/// bullet, and section "Measurements behind the code's choices"). The same as
/// `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:
/// glibc.malloc.trim_threshold=1073741824:glibc.malloc.top_pad=67108864`; the process keeps the
/// memory of its peak until it exits. Malloc tunables the user set in `GLIBC_TUNABLES` are left
/// alone, and so are allocators other than glibc's.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let user_tuned =
            std::env::var("GLIBC_TUNABLES").is_ok_and(|tunables| tunables.contains("glibc.malloc."));
        if !user_tuned {
            const MIB: libc::c_int = 1 << 20;
            // SAFETY: `mallopt` only sets allocator parameters; it takes the arena lock itself.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, REUSED_UP_TO as libc::c_int);
                libc::mallopt(libc::M_TRIM_THRESHOLD, 1024 * MIB);
                libc::mallopt(libc::M_TOP_PAD, 64 * MIB);
            }
        }
    }
}
