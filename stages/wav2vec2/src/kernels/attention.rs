//! Multi-head attention as one kernel on the CPU backends. For inference
//! (predictions, scoring, SSL extraction): `softmax(q k^T scale + gate * bias, keys masked) v`
//! per batch item and head, from the projections `[batch, frames, hidden]` straight to the
//! context `[batch, frames, hidden]` with the heads merged.
//!
//! Why: composed from burn's operations, each layer split the heads into strided copies,
//! multiplied them per head through the gemm crate into a fresh `[batch, heads, frames,
//! frames]` tensor, filled the padded keys' scores, took the softmax into another and merged
//! the heads again: in a perf profile of a wav2vec2-base SSL extraction on flex the per-head
//! products took a larger share of the samples than their small share of the arithmetic, and
//! the softmax, copies, fills and fresh buffers around them more again (measured:
//! BENCHMARKS-wav2vec2.md, section "Measurements behind the code's choices"). Here each task
//! packs one head's keys (transposed) and values once, and for each block of [`ROWS`] queries
//! computes the scores in registers, adds the bias, masks, takes the softmax in place while
//! the row is in L1, and multiplies by the values into the output; nothing of size `frames x
//! frames` leaves the task.
//!
//! Training ([`forward_saving`], [`backward`]) keeps the probabilities `[batch, heads, frames,
//! frames]` for the backward pass and applies dropout's keep mask to them before the second
//! product; its backward step computes the gradients of the queries, keys and values (and the
//! scores' for WavLM's gate and bias) per (item, head) in one task, where the composed
//! operations' autodiff graph took a dozen steps, each a pass over `[batch, heads, frames,
//! frames]`. That made a wav2vec2-base training step faster, more so on longer clips, where
//! attention is a larger share (measured: BENCHMARKS-wav2vec2.md, section "Where scaling
//! stops", the paragraph on the 15:33 sweep).
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

/// Dropout on the probabilities, as burn's `Dropout` applies it: `(p * keep) * factor`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Dropout<'a> {
    /// `[batch, heads, frames, frames]`: 1.0 where a probability is kept, 0.0 where dropped.
    pub keep: &'a [f32],
    /// `1 / (1 - dropout probability)`.
    pub factor: f32,
}

/// The context `[batch, frames, heads * head_dim]` of `x`, computed on rayon's threads.
pub(super) fn forward(dims: Dims, x: Operands) -> Vec<f32> {
    run(dims, x, None, false).0
}

/// Training's forward pass: the context with `dropout` applied to the probabilities, and the
/// probabilities before dropout, `[batch, heads, frames, frames]`, for [`backward`].
pub(super) fn forward_saving(dims: Dims, x: Operands, dropout: Option<Dropout>) -> (Vec<f32>, Vec<f32>) {
    let (context, probs) = run(dims, x, dropout, true);
    (context, probs.expect("asked for"))
}

fn run(dims: Dims, x: Operands, dropout: Option<Dropout>, save: bool) -> (Vec<f32>, Option<Vec<f32>>) {
    let Dims { batch, frames, heads, head_dim } = dims;
    let hidden = heads * head_dim;
    let len = batch * frames * hidden;
    let scores_len = batch * heads * frames * frames;
    assert!(x.q.len() == len && x.k.len() == len && x.v.len() == len, "q, k, v of {dims:?}");
    assert!(x.valid.is_none_or(|v| v.len() == batch * frames), "a mask of {dims:?}");
    assert!(
        x.gated.is_none_or(|(g, b)| g.len() == batch * heads * frames && b.len() == heads * frames * frames),
        "a gated bias of {dims:?}"
    );
    assert!(dropout.is_none_or(|d| d.keep.len() == scores_len), "a dropout mask of {dims:?}");
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let mut probs: Option<Vec<f32>> = save.then(|| Vec::with_capacity(scores_len));
    if len == 0 {
        return (out, probs);
    }
    // Query blocks per (item, head): enough tasks for every thread when the batch is small.
    let pairs = batch * heads;
    let threads = rayon::current_num_threads().max(1);
    let row_steps = frames.div_ceil(ROWS);
    let blocks = (4 * threads).div_ceil(pairs).clamp(1, row_steps);
    let block_rows = row_steps.div_ceil(blocks) * ROWS;
    let blocks = frames.div_ceil(block_rows);
    let targets = Targets {
        context: Out(out.spare_capacity_mut().as_mut_ptr().cast()),
        probs: probs.as_mut().map(|p| Out(p.spare_capacity_mut().as_mut_ptr().cast())),
    };
    (0..pairs * blocks).into_par_iter().for_each(|task| {
        let (pair, block) = (task / blocks, task % blocks);
        let queries = block * block_rows..((block + 1) * block_rows).min(frames);
        head_block(dims, x, dropout, pair, queries, &targets);
    });
    // SAFETY: the tasks' (item, head, query block) triples cover every output value once, and
    // every probability row.
    unsafe {
        out.set_len(len);
        if let Some(probs) = probs.as_mut() {
            probs.set_len(scores_len);
        }
    }
    (out, probs)
}

/// An output, written by the tasks through a pointer: each writes its head's columns of its
/// queries' rows, which no slice per task expresses.
struct Out(*mut f32);

// SAFETY: the tasks write disjoint values (see `run` and `backward`), and the outputs outlive
// them.
unsafe impl Sync for Out {}

impl Out {
    /// Writes `values` at `offset`.
    ///
    /// # Safety
    /// No other task writes these values, which lie inside the output.
    unsafe fn write(&self, offset: usize, values: &[f32]) {
        // SAFETY: as the caller promises.
        unsafe { std::ptr::copy_nonoverlapping(values.as_ptr(), self.0.add(offset), values.len()) }
    }
}

/// Where [`run`]'s tasks write: the context and, in training, the probabilities.
struct Targets {
    context: Out,
    probs: Option<Out>,
}

/// One task: queries `queries` of head `pair % heads` of item `pair / heads`.
fn head_block(dims: Dims, x: Operands, dropout: Option<Dropout>, pair: usize, queries: std::ops::Range<usize>, out: &Targets) {
    let Dims { frames, heads, head_dim, .. } = dims;
    let hidden = heads * head_dim;
    let (item, head) = (pair / heads, pair % heads);
    let at = |frame: usize| (item * frames + frame) * hidden + head * head_dim;
    // The head's keys transposed, `[head_dim][keys]`, and its values `[keys][head_dim]`, each
    // row padded to whole tiles with zeros.
    let key_cols = frames.next_multiple_of(WIDTH);
    let keys = transposed(x.k, at, frames, head_dim, key_cols);
    let (values, value_cols) = padded_rows(x.v, at, frames, head_dim);
    let valid = x.valid.map(|valid| &valid[item * frames..][..frames]);
    let mut q = vec![0f32; ROWS * head_dim];
    let mut scores = vec![0f32; ROWS * key_cols];
    let mut context = vec![0f32; ROWS * value_cols];
    for first in queries.step_by(ROWS) {
        let rows = ROWS.min(frames - first);
        pack_rows(x.q, at, first, rows, head_dim, x.scale, &mut q);
        block_product(&q, head_dim, &keys, &mut scores);
        for (r, row) in scores.chunks_exact_mut(key_cols).take(rows).enumerate() {
            let frame = first + r;
            let gated = x.gated.map(|(gate, bias)| {
                (gate[pair * frames + frame], &bias[(head * frames + frame) * frames..][..frames])
            });
            let row = &mut row[..frames];
            super::cpu::attention_probabilities(row, gated, valid);
            let probs_at = (pair * frames + frame) * frames;
            if let Some(probs) = &out.probs {
                // SAFETY: this task alone writes its queries' rows of probabilities.
                unsafe { probs.write(probs_at, row) };
            }
            if let Some(Dropout { keep, factor }) = dropout {
                for (p, &keep) in row.iter_mut().zip(&keep[probs_at..][..frames]) {
                    *p = *p * keep * factor;
                }
            }
        }
        block_product(&scores, frames, &values, &mut context);
        for (r, context) in context.chunks_exact(value_cols).take(rows).enumerate() {
            // SAFETY: this task alone writes the head's `head_dim` columns of its queries' rows,
            // inside the output's `batch * frames * hidden` values.
            unsafe { out.context.write(at(first + r), &context[..head_dim]) };
        }
    }
}

/// One head's `width` columns of `x`'s `frames` rows (row `t` at `at(t)`), transposed into
/// `[width][cols]`, zeros past `frames`.
fn transposed(x: &[f32], at: impl Fn(usize) -> usize, frames: usize, width: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0f32; width * cols];
    for frame in 0..frames {
        for (c, &v) in x[at(frame)..][..width].iter().enumerate() {
            out[c * cols + frame] = v;
        }
    }
    out
}

/// One head's `width` columns of `x`'s `frames` rows as `[frames][cols]`, `cols` the width
/// rounded up to whole tiles (zeros past it), and `cols`.
fn padded_rows(x: &[f32], at: impl Fn(usize) -> usize, frames: usize, width: usize) -> (Vec<f32>, usize) {
    let cols = width.next_multiple_of(WIDTH);
    let mut out = vec![0f32; frames * cols];
    for frame in 0..frames {
        out[frame * cols..][..width].copy_from_slice(&x[at(frame)..][..width]);
    }
    (out, cols)
}

/// Rows `first..first + rows` of one head of `x` (row `t` at `at(t)`), times `scale`, into
/// `out` `[ROWS][width]`, zeros in the rows past `rows`.
fn pack_rows(x: &[f32], at: impl Fn(usize) -> usize, first: usize, rows: usize, width: usize, scale: f32, out: &mut [f32]) {
    for (r, out) in out.chunks_exact_mut(width).enumerate() {
        match r < rows {
            true => out.iter_mut().zip(&x[at(first + r)..][..width]).for_each(|(o, &v)| *o = v * scale),
            false => out.fill(0.0),
        }
    }
}

/// The gradients of attention's forward pass ([`forward_saving`]) with respect to its inputs.
pub(super) struct Gradients {
    /// Of the queries, keys and values, `[batch, frames, heads * head_dim]`.
    pub q: Vec<f32>,
    /// Of the keys.
    pub k: Vec<f32>,
    /// Of the values.
    pub v: Vec<f32>,
    /// Of the scores after the gated bias, `[batch, heads, frames, frames]`, when `x` was gated:
    /// the gate's and the bias's gradients come from it.
    pub scores: Option<Vec<f32>>,
}

/// The gradients through attention of `x` given the context's gradient `grad` `[batch,
/// frames, hidden]`, the probabilities `probs` [`forward_saving`] returned and the same
/// `dropout`. One task per (item, head); each value's sums run in a fixed order.
pub(super) fn backward(dims: Dims, x: Operands, probs: &[f32], dropout: Option<Dropout>, grad: &[f32]) -> Gradients {
    let Dims { batch, frames, heads, head_dim } = dims;
    let len = batch * frames * heads * head_dim;
    let scores_len = batch * heads * frames * frames;
    assert!(probs.len() == scores_len && grad.len() == len, "probabilities and a gradient of {dims:?}");
    let mut grads = Gradients {
        q: Vec::with_capacity(len),
        k: Vec::with_capacity(len),
        v: Vec::with_capacity(len),
        scores: x.gated.map(|_| Vec::with_capacity(scores_len)),
    };
    let pointer = |v: &mut Vec<f32>| Out(v.spare_capacity_mut().as_mut_ptr().cast());
    let targets = [pointer(&mut grads.q), pointer(&mut grads.k), pointer(&mut grads.v)];
    let scores_target = grads.scores.as_mut().map(pointer);
    (0..batch * heads).into_par_iter().for_each(|pair| {
        head_backward(dims, x, probs, dropout, grad, pair, &targets, scores_target.as_ref());
    });
    // SAFETY: the (item, head) tasks cover every value of the gradients once.
    unsafe {
        for v in [&mut grads.q, &mut grads.k, &mut grads.v] {
            v.set_len(len);
        }
        if let Some(scores) = grads.scores.as_mut() {
            scores.set_len(scores_len);
        }
    }
    grads
}

/// One (item, head) of [`backward`]: with `S` the scores, `P` the probabilities, `D` them
/// after dropout and `G` the context's gradient, `dV = D^T G`, `dD = G V^T`, `dP = dD *
/// factor * keep`, `dS = P (dP - Σ dP P)` (zero at masked keys), `dQ = scale dS K`,
/// `dK = dS^T (scale Q)`.
#[allow(clippy::too_many_arguments)]
fn head_backward(
    dims: Dims,
    x: Operands,
    probs: &[f32],
    dropout: Option<Dropout>,
    grad: &[f32],
    pair: usize,
    targets: &[Out; 3],
    scores_target: Option<&Out>,
) {
    let Dims { frames, heads, head_dim, .. } = dims;
    let hidden = heads * head_dim;
    let (item, head) = (pair / heads, pair % heads);
    let at = |frame: usize| (item * frames + frame) * hidden + head * head_dim;
    let valid = x.valid.map(|valid| &valid[item * frames..][..frames]);
    let (rows_padded, cols) = (frames.next_multiple_of(ROWS), frames.next_multiple_of(WIDTH));
    let values_t = transposed(x.v, at, frames, head_dim, cols);
    let probs = &probs[pair * frames * frames..][..frames * frames];
    let keep = dropout.map(|d| (&d.keep[pair * frames * frames..][..frames * frames], d.factor));
    // dS `[rows_padded][cols]`, and its transpose and D's transpose for the keys' side.
    let mut ds = vec![0f32; rows_padded * cols];
    let mut ds_t = vec![0f32; rows_padded * cols];
    let mut d_t = vec![0f32; rows_padded * cols];
    let mut g = vec![0f32; ROWS * head_dim];
    for first in (0..frames).step_by(ROWS) {
        let rows = ROWS.min(frames - first);
        pack_rows(grad, at, first, rows, head_dim, 1.0, &mut g);
        let block = &mut ds[first * cols..][..ROWS * cols];
        block_product(&g, head_dim, &values_t, block);
        for (r, row) in block.chunks_exact_mut(cols).take(rows).enumerate() {
            let i = first + r;
            let p = &probs[i * frames..][..frames];
            let keep = keep.map(|(keep, factor)| (&keep[i * frames..][..frames], factor));
            super::cpu::attention_scores_gradient(&mut row[..frames], p, keep, valid);
            for (j, &p) in p.iter().enumerate() {
                d_t[j * cols + i] = match keep {
                    Some((keep, factor)) => p * keep[j] * factor,
                    None => p,
                };
            }
            for (j, &s) in row[..frames].iter().enumerate() {
                ds_t[j * cols + i] = s;
            }
            if let Some(target) = scores_target {
                // SAFETY: this task alone writes its (item, head)'s rows.
                unsafe { target.write((pair * frames + i) * frames, &row[..frames]) };
            }
        }
    }
    let (keys, value_cols) = padded_rows(x.k, at, frames, head_dim);
    let (mut queries, _) = padded_rows(x.q, at, frames, head_dim);
    queries.iter_mut().for_each(|q| *q *= x.scale);
    let (grads, _) = padded_rows(grad, at, frames, head_dim);
    let mut block = vec![0f32; ROWS * value_cols];
    // dQ from dS and K, dK from dS^T and scale Q, dV from D^T and G: rows of `frames`.
    let products: [(&[f32], &[f32], f32); 3] = [(&ds, &keys, x.scale), (&ds_t, &queries, 1.0), (&d_t, &grads, 1.0)];
    for ((left, right, scale), target) in products.into_iter().zip(targets) {
        for first in (0..frames).step_by(ROWS) {
            let rows = ROWS.min(frames - first);
            block_product(&left[first * cols..][..ROWS * cols], frames, right, &mut block);
            for (r, row) in block.chunks_exact_mut(value_cols).take(rows).enumerate() {
                let row = &mut row[..head_dim];
                if scale != 1.0 {
                    row.iter_mut().for_each(|v| *v *= scale);
                }
                // SAFETY: this task alone writes the head's columns of every row.
                unsafe { target.write(at(first + r), row) };
            }
        }
    }
}

/// The product of a block of rows with a matrix (scores, context and
/// the backward's products; see `block_product_loop`).
fn block_product(a: &[f32], depth: usize, b: &[f32], out: &mut [f32]) {
    use simd::block_product_loop;
    super::cpu::widest!(block_product_loop(a: &[f32], depth: usize, b: &[f32], out: &mut [f32]))
}

mod simd {
    use super::{ROWS, WIDTH};

    /// `out[r][x] = Σ_{j < depth} a[r][j] b[j][x]` for the [`ROWS`] rows of `a` (`[ROWS][a.len()
    /// / ROWS]`, its first `depth` columns read) and `b` `[depth][cols]`, `cols` a multiple of
    /// [`WIDTH`]: a block of queries' scores (`a` the queries, `b` the keys transposed), their
    /// context (`a` the probabilities, `b` the values) and the backward's products.
    #[inline(always)]
    pub(in crate::kernels) fn block_product_loop(a: &[f32], depth: usize, b: &[f32], out: &mut [f32]) {
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
