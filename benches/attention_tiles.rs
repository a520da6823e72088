//! Tile shapes for attention's block product at Whisper's 1500 frames: a standalone copy of
//! `block_product_loop` (stages/wav2vec2/src/kernels/attention.rs), generic over its rows and
//! columns, timed over one head's scores (depth 64, 1536 columns) and context (depth 1500, 64
//! columns) for every block of queries, on one thread, AVX-512. Not a test, and not built by
//! cargo (no dependencies):
//!
//!     rustc --edition 2021 -C opt-level=3 benches/attention_tiles.rs -o /tmp/attention_tiles && /tmp/attention_tiles
//!
//! Each shape's sums run in the same order, so the checksums agree. The first pass warms up.
use std::time::Instant;

#[inline(always)]
fn product<const ROWS: usize, const WIDTH: usize>(a: &[f32], depth: usize, b: &[f32], out: &mut [f32]) {
    let a_cols = a.len() / ROWS;
    let cols = out.len() / ROWS;
    for first in (0..cols).step_by(WIDTH) {
        let mut acc = [[0f32; WIDTH]; ROWS];
        for j in 0..depth {
            let b: &[f32; WIDTH] = b[j * cols + first..][..WIDTH].try_into().unwrap();
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = a[r * a_cols + j];
                for x in 0..WIDTH {
                    acc[x] = a.mul_add(b[x], acc[x]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            out[r * cols + first..][..WIDTH].copy_from_slice(acc);
        }
    }
}

#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn p4x64(a: &[f32], d: usize, b: &[f32], o: &mut [f32]) { product::<4, 64>(a, d, b, o) }
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn p8x32(a: &[f32], d: usize, b: &[f32], o: &mut [f32]) { product::<8, 32>(a, d, b, o) }
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn p6x64(a: &[f32], d: usize, b: &[f32], o: &mut [f32]) { product::<6, 64>(a, d, b, o) }
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
unsafe fn p12x32(a: &[f32], d: usize, b: &[f32], o: &mut [f32]) { product::<12, 32>(a, d, b, o) }

fn bench(name: &str, rows: usize, f: unsafe fn(&[f32], usize, &[f32], &mut [f32]), frames: usize, head: usize) {
    // One head's attention for all queries: scores (depth head, cols frames) then context (depth frames, cols head).
    let key_cols = frames.next_multiple_of(192);
    let q = vec![0.01f32; rows * head];
    let keys = vec![0.02f32; head * key_cols];
    let mut scores = vec![0f32; rows * key_cols];
    let values = vec![0.03f32; key_cols * head];
    let mut ctx = vec![0f32; rows * head];
    let reps = 3;
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        for _ in (0..frames).step_by(rows) {
            unsafe { f(&q, head, &keys, &mut scores) };
            unsafe { f(&scores, frames, &values, &mut ctx) };
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    let flops = 2.0 * 2.0 * (frames as f64) * (frames as f64) * head as f64;
    println!("{name}: {:.2} ms per head, {:.1} GFLOP/s (checksum {})", best * 1e3, flops / best / 1e9, ctx[0] + scores[1]);
}

fn main() {
    for _ in 0..2 {
        bench("4x64", 4, p4x64 as unsafe fn(&[f32], usize, &[f32], &mut [f32]), 1500, 64);
        bench("8x32", 8, p8x32 as unsafe fn(&[f32], usize, &[f32], &mut [f32]), 1500, 64);
        bench("6x64", 6, p6x64 as unsafe fn(&[f32], usize, &[f32], &mut [f32]), 1500, 64);
        bench("12x32", 12, p12x32 as unsafe fn(&[f32], usize, &[f32], &mut [f32]), 1500, 64);
    }
}
