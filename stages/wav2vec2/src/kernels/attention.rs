//! Multi-head attention's forward pass as one kernel on the CPU backends, for inference
//! (predictions, scoring, SSL extraction): `softmax(q k^T scale + gate * bias, keys masked) v`
//! per batch item and head, from the projections `[batch, frames, hidden]` straight to the
//! context `[batch, frames, hidden]` with the heads merged.
//!
//! Why: composed from burn's operations, each layer split the heads into strided copies,
//! multiplied them per head through the gemm crate into a fresh `[batch, heads, frames,
//! frames]` tensor, filled the padded keys' scores, took the softmax into another and merged
//! the heads again: in a perf profile of a wav2vec2-base SSL extraction on flex (2 threads,
//! 2026-12-05) the gemm crate's kernels took 6.4%, the softmax 4.2%, and the copies, fills and
//! fresh buffers more, where the products are 4% of the arithmetic. Here each task packs one
//! head's keys (transposed) and values once, and for each block of [`ROWS`] queries computes
//! the scores in registers, adds the bias, masks, takes the softmax in place while the row is
//! in L1, and multiplies by the values into the output; nothing of size `frames x frames`
//! leaves the task.
//!
//! Training keeps the composed operations (their autodiff graph keeps the probabilities for
//! the backward pass, and dropout sits between the softmax and the second product).
//!
//! Each output value's sums run in a fixed order (over the head's width, then over the keys)
//! whatever the split into tasks, so the result does not depend on the thread count.

use rayon::prelude::*;

/// Queries per microkernel step (rows of the score and context tiles).
pub(super) const ROWS: usize = 4;
/// Columns per microkernel tile: four zmm registers a row with AVX-512.
pub(super) const WIDTH: usize = 64;

/// The sizes of one attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Dims {
    /// Batch items.
    pub batch: usize,
    /// Frames (queries and keys).
    pub frames: usize,
    /// Heads.
    pub heads: usize,
    /// Values per head.
    pub head_dim: usize,
}

/// One attention's operands, f32, row-major.
#[derive(Clone, Copy, Debug)]
pub(super) struct Operands<'a> {
    /// Queries, keys and values `[batch, frames, heads * head_dim]`, before scaling.
    pub q: &'a [f32],
    /// Keys.
    pub k: &'a [f32],
    /// Values.
    pub v: &'a [f32],
    /// Multiplies each query value before the product (`head_dim^-0.5`).
    pub scale: f32,
    /// `[batch, frames]`: below 0.5 at padded frames, which are never attended to as keys.
    pub valid: Option<&'a [f32]>,
    /// WavLM's gate `[batch, heads, frames]` and ungated position bias `[heads, frames, frames]`:
    /// `gate * bias` is added to the scores.
    pub gated: Option<(&'a [f32], &'a [f32])>,
}

/// The context `[batch, frames, heads * head_dim]` of `x`, computed on rayon's threads.
pub(super) fn forward(dims: Dims, x: Operands) -> Vec<f32> {
    let Dims { batch, frames, heads, head_dim } = dims;
    let hidden = heads * head_dim;
    let len = batch * frames * hidden;
    assert!(x.q.len() == len && x.k.len() == len && x.v.len() == len, "q, k, v of {dims:?}");
    assert!(x.valid.is_none_or(|v| v.len() == batch * frames), "a mask of {dims:?}");
    assert!(
        x.gated.is_none_or(|(g, b)| g.len() == batch * heads * frames && b.len() == heads * frames * frames),
        "a gated bias of {dims:?}"
    );
    let mut out: Vec<f32> = Vec::with_capacity(len);
    if len == 0 {
        return out;
    }
    // Query blocks per (item, head): enough tasks for every thread when the batch is small.
    let pairs = batch * heads;
    let threads = rayon::current_num_threads().max(1);
    let row_steps = frames.div_ceil(ROWS);
    let blocks = (4 * threads).div_ceil(pairs).clamp(1, row_steps);
    let block_rows = row_steps.div_ceil(blocks) * ROWS;
    let blocks = frames.div_ceil(block_rows);
    let target = Out(out.spare_capacity_mut().as_mut_ptr().cast());
    (0..pairs * blocks).into_par_iter().for_each(|task| {
        let (pair, block) = (task / blocks, task % blocks);
        let queries = block * block_rows..((block + 1) * block_rows).min(frames);
        head_block(dims, x, pair, queries, &target);
    });
    // SAFETY: the tasks' (item, head, query block) triples cover every output value once.
    unsafe { out.set_len(len) };
    out
}

/// The output, written by the tasks through a pointer: each writes its head's columns of its
/// queries' rows, which no slice per task expresses.
struct Out(*mut f32);

// SAFETY: the tasks write disjoint values (see `forward`), and the output outlives them.
unsafe impl Sync for Out {}

/// One task: queries `queries` of head `pair % heads` of item `pair / heads`.
fn head_block(dims: Dims, x: Operands, pair: usize, queries: std::ops::Range<usize>, out: &Out) {
    let Dims { frames, heads, head_dim, .. } = dims;
    let hidden = heads * head_dim;
    let (item, head) = (pair / heads, pair % heads);
    let at = |frame: usize| (item * frames + frame) * hidden + head * head_dim;
    // The head's keys transposed, `[head_dim][keys]`, and its values `[keys][head_dim]`, each
    // row padded to whole tiles with zeros.
    let (key_cols, value_cols) = (frames.next_multiple_of(WIDTH), head_dim.next_multiple_of(WIDTH));
    let mut keys = vec![0f32; head_dim * key_cols];
    let mut values = vec![0f32; frames * value_cols];
    for frame in 0..frames {
        let (k, v) = (&x.k[at(frame)..][..head_dim], &x.v[at(frame)..][..head_dim]);
        for (c, &k) in k.iter().enumerate() {
            keys[c * key_cols + frame] = k;
        }
        values[frame * value_cols..][..head_dim].copy_from_slice(v);
    }
    let valid = x.valid.map(|valid| &valid[item * frames..][..frames]);
    let mut q = vec![0f32; ROWS * head_dim];
    let mut scores = vec![0f32; ROWS * key_cols];
    let mut context = vec![0f32; ROWS * value_cols];
    for first in queries.step_by(ROWS) {
        let rows = ROWS.min(frames - first);
        for (r, q) in q.chunks_exact_mut(head_dim).enumerate() {
            match r < rows {
                true => {
                    let from = &x.q[at(first + r)..][..head_dim];
                    q.iter_mut().zip(from).for_each(|(q, &v)| *q = v * x.scale);
                }
                false => q.fill(0.0),
            }
        }
        super::cpu::attention_scores(&q, &keys, &mut scores);
        for (r, row) in scores.chunks_exact_mut(key_cols).take(rows).enumerate() {
            let frame = first + r;
            let gated = x.gated.map(|(gate, bias)| {
                (gate[pair * frames + frame], &bias[(head * frames + frame) * frames..][..frames])
            });
            super::cpu::attention_probabilities(&mut row[..frames], gated, valid);
        }
        super::cpu::attention_context(&scores, frames, &values, &mut context);
        for (r, context) in context.chunks_exact(value_cols).take(rows).enumerate() {
            // SAFETY: this task alone writes the head's `head_dim` columns of its queries' rows,
            // inside the output's `batch * frames * hidden` values.
            unsafe {
                let to = out.0.add(at(first + r));
                std::ptr::copy_nonoverlapping(context.as_ptr(), to, head_dim);
            }
        }
    }
}

pub(super) mod simd {
    use super::{ROWS, WIDTH};

    /// `scores[r][j] = Σ_c q[r][c] keys[c][j]` for the [`ROWS`] rows of `q` (`[ROWS][depth]`)
    /// and `keys` `[depth][cols]`, `cols` a multiple of [`WIDTH`].
    #[inline(always)]
    pub(in crate::kernels) fn scores_loop(q: &[f32], keys: &[f32], scores: &mut [f32]) {
        let depth = q.len() / ROWS;
        let cols = scores.len() / ROWS;
        for first in (0..cols).step_by(WIDTH) {
            let mut acc = [[0f32; WIDTH]; ROWS];
            for c in 0..depth {
                let keys: &[f32; WIDTH] = keys[c * cols + first..][..WIDTH].try_into().unwrap();
                for (r, acc) in acc.iter_mut().enumerate() {
                    let q = q[r * depth + c];
                    for j in 0..WIDTH {
                        acc[j] = q.mul_add(keys[j], acc[j]);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                scores[r * cols + first..][..WIDTH].copy_from_slice(acc);
            }
        }
    }

    /// `context[r][x] = Σ_{j < keys} p[r][j] values[j][x]` for the [`ROWS`] rows of `p`
    /// (`[ROWS][p.len() / ROWS]`) and `values` `[keys][cols]`, `cols` a multiple of [`WIDTH`].
    #[inline(always)]
    pub(in crate::kernels) fn context_loop(p: &[f32], keys: usize, values: &[f32], context: &mut [f32]) {
        let p_cols = p.len() / ROWS;
        let cols = context.len() / ROWS;
        for first in (0..cols).step_by(WIDTH) {
            let mut acc = [[0f32; WIDTH]; ROWS];
            for j in 0..keys {
                let values: &[f32; WIDTH] = values[j * cols + first..][..WIDTH].try_into().unwrap();
                for (r, acc) in acc.iter_mut().enumerate() {
                    let p = p[r * p_cols + j];
                    for x in 0..WIDTH {
                        acc[x] = p.mul_add(values[x], acc[x]);
                    }
                }
            }
            for (r, acc) in acc.iter().enumerate() {
                context[r * cols + first..][..WIDTH].copy_from_slice(acc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attention from its definition, in f64.
    fn reference(dims: Dims, x: Operands) -> Vec<f64> {
        let Dims { batch, frames, heads, head_dim } = dims;
        let hidden = heads * head_dim;
        let mut out = vec![0f64; batch * frames * hidden];
        for b in 0..batch {
            for h in 0..heads {
                for i in 0..frames {
                    let at = |t: usize| (b * frames + t) * hidden + h * head_dim;
                    let mut scores: Vec<f64> = (0..frames)
                        .map(|j| {
                            let dot: f64 = (0..head_dim)
                                .map(|c| (x.q[at(i) + c] * x.scale) as f64 * x.k[at(j) + c] as f64)
                                .sum();
                            let bias = x.gated.map_or(0.0, |(g, bias)| {
                                g[(b * heads + h) * frames + i] as f64 * bias[(h * frames + i) * frames + j] as f64
                            });
                            dot + bias
                        })
                        .collect();
                    let masked = |j: usize| x.valid.is_some_and(|v| v[b * frames + j] < 0.5);
                    let max = (0..frames).filter(|&j| !masked(j)).map(|j| scores[j]).fold(f64::MIN, f64::max);
                    for (j, s) in scores.iter_mut().enumerate() {
                        *s = if masked(j) { 0.0 } else { (*s - max).exp() };
                    }
                    let sum: f64 = scores.iter().sum();
                    for c in 0..head_dim {
                        out[at(i) + c] = (0..frames).map(|j| scores[j] / sum * x.v[at(j) + c] as f64).sum();
                    }
                }
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n as u32).map(|i| ((i.wrapping_mul(2_654_435_761) ^ seed) % 2001) as f32 / 1000.0 - 1.0).collect()
    }

    /// Against the definition in f64, with and without a mask and a gated bias, for sizes that
    /// fill no tile exactly; the same bits on 1, 2 and 7 threads.
    #[test]
    fn attention_matches_its_definition() {
        for (batch, frames, heads, head_dim) in [(2, 13, 3, 8), (1, 70, 2, 64), (3, 5, 1, 80), (2, 1, 2, 4)] {
            let dims = Dims { batch, frames, heads, head_dim };
            let len = batch * frames * heads * head_dim;
            let (q, k, v) = (values(len, 1), values(len, 2), values(len, 3));
            // Item b keeps its first `frames - b` frames (at least one).
            let valid: Vec<f32> = (0..batch * frames)
                .map(|i| if i % frames < frames.saturating_sub(i / frames).max(1) { 1.0 } else { 0.0 })
                .collect();
            let (gate, bias) = (values(batch * heads * frames, 4), values(heads * frames * frames, 5));
            for (masked, gated) in [(false, false), (true, false), (true, true)] {
                let x = Operands {
                    q: &q,
                    k: &k,
                    v: &v,
                    scale: (head_dim as f32).powf(-0.5),
                    valid: masked.then_some(&valid[..]),
                    gated: gated.then_some((&gate[..], &bias[..])),
                };
                let expected = reference(dims, x);
                let found = forward(dims, x);
                let worst = found.iter().zip(&expected).map(|(&f, &e)| (f as f64 - e).abs()).fold(0.0, f64::max);
                assert!(worst < 2e-6, "{dims:?} masked {masked} gated {gated}: {worst}");
                for threads in [1, 2, 7] {
                    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                    let again = pool.install(|| forward(dims, x));
                    assert!(again.iter().zip(&found).all(|(a, b)| a.to_bits() == b.to_bits()), "{threads} threads");
                }
            }
        }
    }
}
