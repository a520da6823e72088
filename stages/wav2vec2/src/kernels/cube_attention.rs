//! Multi-head attention as cubecl kernels (cuda; wgpu in the tests), flash attention's way:
//! the scores, bias, mask, softmax, dropout and both products of a block of queries in one
//! kernel, from the projections `[batch, frames, hidden]` straight to the context with the
//! heads merged, keeping no `frames x frames` tensor of probabilities.
//!
//! Why: composed from burn's operations ([`super::attention_by_ops`]), a layer's attention is
//! the query scaling, three head splits, two batched products, the mask fill, the softmax, the
//! dropout's product and scaling and the heads' merge forward, and about twice that backward,
//! each its own launch and each a pass over `[batch, heads, frames, frames]` values in device
//! memory (the launch counts: BENCHMARKS-gpu.md, section 6). Here:
//!
//! - **forward**: one launch. A cube takes [`ROWS`] queries of one (item, head), walks the
//!   keys [`KEYS`] at a time and keeps each query's running largest score and sum of
//!   exponentials (the online softmax), rescaling its context accumulator when the largest
//!   score grows. Training saves those two numbers per query (`[batch, heads, frames, 2]`),
//!   not the probabilities;
//! - **backward**: two launches. The first, by blocks of queries, recomputes the
//!   probabilities from the saved numbers and gives the queries' gradient and each query's
//!   `Σ dO·O` (the softmax gradient's row term); the second, by blocks of keys, gives the keys'
//!   and values' gradients. No atomics: each gradient value has one writer and its sums run in
//!   a fixed order, so a run repeats its bits on the same device.
//!
//! Dropout reads the keep mask that [`super::Kernels::attention_saving`] draws as burn's
//! `Dropout` does (so a seed drops the same probabilities as the composed operations), and
//! WavLM's gated position bias is added to the scores in the kernels; its gradients go through
//! [`super::Kernels::add_gated_bias_backward`] from the scores' gradient, which the backward's
//! first kernel then writes out (`[batch, heads, frames, frames]`, WavLM only).
//!
//! The products run on CUDA cores, not tensor cores: at wav2vec2's sizes (187 frames for a
//! 60000-sample clip, heads of 64 values) attention is a few percent of a layer's arithmetic,
//! and its launches and memory passes are what the composed road spends. Heads wider than
//! [`MAX_DIM`] (no wav2vec2, HuBERT or WavLM has one) take the composed road.
//!
//! `VOX_CUBE_ATTENTION=0` keeps vox's other cube kernels and composes attention, so that one
//! binary measures this kernel's effect alone on a lent GPU (`benches/gpu-kernels.sh`).

use burn::tensor::{DType, Shape};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::CubeRuntime;
use cubecl::prelude::*;

use super::attention::Dims;
use super::attention_ops::{AttentionGradients, AttentionInputs, SavedAttention, kept_scale};
use super::cube_support::{CUBE_UNITS, empty_like, empty_of, enabled};

/// Queries per cube.
const ROWS: usize = 16;
/// Keys per step of a cube's walk (and, backward, keys per cube of the second kernel).
const KEYS: usize = 16;
/// The widest head the kernels take (shared memory is sized for it at compile time).
const MAX_DIM: usize = 64;
/// A key or value row's stride in shared memory: one more than the widest head, so that the
/// [`KEYS`] units reading one value of each of [`KEYS`] rows hit different banks.
const PITCH: usize = MAX_DIM + 1;
/// The most cubes in one dimension of a launch on every runtime.
const MAX_GRID: usize = 65535;

/// The score that masks a key: the composed operations' fill (finite: WGSL has no infinite
/// literals), which also makes a row whose keys are all masked uniform, as theirs is.
const MASKED: f32 = f32::MIN;

/// Whether the attention kernels run: vox's cube kernels on and not `VOX_CUBE_ATTENTION=0`.
fn attention_enabled() -> bool {
    static ENABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    enabled() && *ENABLED.get_or_init(|| std::env::var_os("VOX_CUBE_ATTENTION").is_none_or(|v| v != "0"))
}

/// Shared memory each kernel asks for, in f32 values (the largest is the keys' gradient
/// kernel's).
const SHARED_VALUES: usize = 2 * ROWS * MAX_DIM + 2 * KEYS * PITCH + 2 * KEYS * MAX_DIM + 2 * ROWS * KEYS + 3 * ROWS;

/// The sizes of `x` when the kernels take it (f32 operands of matching shapes, heads no wider
/// than [`MAX_DIM`], a grid within every runtime's limits, the device's shared memory enough);
/// `None` otherwise.
pub(super) fn dims<R: CubeRuntime>(x: &AttentionInputs<CubeTensor<R>>) -> Option<Dims> {
    if !attention_enabled() {
        return None;
    }
    let dims = x.fitting_dims(|t| t.meta.shape().as_slice().to_vec(), |t| t.dtype == DType::F32)?;
    let fits = dims.head_dim <= MAX_DIM
        && dims.batch > 0
        && dims.frames > 0
        && dims.batch * dims.heads <= MAX_GRID
        && dims.frames.div_ceil(ROWS.min(KEYS)) <= MAX_GRID
        && x.q.client.properties().hardware.max_shared_memory_size >= SHARED_VALUES * size_of::<f32>();
    fits.then_some(dims)
}

/// What every kernel reads: the operands (contiguous, `[batch, frames, hidden]`; the mask
/// `[batch, frames]`, the gate `[batch, heads, frames]`, the bias `[heads, frames, frames]`,
/// the dropout's keep mask `[batch, heads, frames, frames]`; the queries stand in for those
/// absent, which the kernels then do not read), the sizes, and which of the optional ones
/// there are.
#[derive(CubeLaunch, CubeType)]
struct Inputs {
    q: Array<f32>,
    k: Array<f32>,
    v: Array<f32>,
    valid: Array<f32>,
    gate: Array<f32>,
    bias: Array<f32>,
    keep: Array<f32>,
    frames: usize,
    heads: usize,
    head_dim: usize,
    /// Multiplies the queries.
    scale: f32,
    /// Multiplies the kept probabilities under dropout (`1 / (1 - p)`).
    factor: f32,
    #[cube(comptime)]
    masked: bool,
    #[cube(comptime)]
    gated: bool,
    #[cube(comptime)]
    dropped: bool,
}

/// [`Inputs`] on the host.
struct Operands<R: CubeRuntime> {
    dims: Dims,
    q: CubeTensor<R>,
    k: CubeTensor<R>,
    v: CubeTensor<R>,
    valid: Option<CubeTensor<R>>,
    gated: Option<[CubeTensor<R>; 2]>,
    keep: Option<CubeTensor<R>>,
    scale: f32,
    factor: f32,
}

impl<R: CubeRuntime> Operands<R> {
    fn of(dims: Dims, x: AttentionInputs<CubeTensor<R>>, keep: Option<CubeTensor<R>>, dropout: f64) -> Self {
        let [q, k, v] = [x.q, x.k, x.v].map(into_contiguous);
        Self {
            dims,
            q,
            k,
            v,
            valid: x.valid.map(into_contiguous),
            gated: x.gated.map(|g| g.map(into_contiguous)),
            factor: if keep.is_some() { kept_scale(dropout) } else { 1.0 },
            keep: keep.map(into_contiguous),
            scale: x.scale,
        }
    }

    /// The kernels' argument.
    fn arg(&self) -> InputsLaunch<R> {
        let or_q = |t: Option<&CubeTensor<R>>| t.unwrap_or(&self.q).clone().into_array_arg();
        let [gate, bias] = [0, 1].map(|i| or_q(self.gated.as_ref().map(|g| &g[i])));
        let Dims { frames, heads, head_dim, .. } = self.dims;
        InputsLaunch::new(
            self.q.clone().into_array_arg(),
            self.k.clone().into_array_arg(),
            self.v.clone().into_array_arg(),
            or_q(self.valid.as_ref()),
            gate,
            bias,
            or_q(self.keep.as_ref()),
            frames,
            heads,
            head_dim,
            self.scale,
            self.factor,
            self.valid.is_some(),
            self.gated.is_some(),
            self.keep.is_some(),
        )
    }

    /// A new f32 tensor of `shape` on the operands' device.
    fn empty(&self, shape: Vec<usize>) -> CubeTensor<R> {
        empty_of(&self.q, Shape::from(shape))
    }

    /// The launch grid: blocks of `block` frames by (item, head) pairs.
    fn grid(&self, block: usize) -> CubeCount {
        CubeCount::new_2d(self.dims.frames.div_ceil(block) as u32, (self.dims.batch * self.dims.heads) as u32)
    }
}

/// The context `[batch, frames, hidden]` (inference: no dropout, nothing saved).
pub(super) fn forward<R: CubeRuntime>(dims: Dims, x: AttentionInputs<CubeTensor<R>>) -> CubeTensor<R> {
    run_forward(Operands::of(dims, x, None, 0.0), false).0
}

/// Training's forward pass: the context with dropout applied through `keep` (burn's mask,
/// drawn by the caller) of probability `dropout`, and what the backward pass needs.
pub(super) fn forward_saving<R: CubeRuntime>(
    dims: Dims,
    x: AttentionInputs<CubeTensor<R>>,
    keep: Option<CubeTensor<R>>,
    dropout: f64,
) -> SavedAttention<CubeTensor<R>> {
    let x = Operands::of(dims, x, keep, dropout);
    let keep = x.keep.clone();
    let (context, softmax) = run_forward(x, true);
    SavedAttention { context, softmax, keep }
}

fn run_forward<R: CubeRuntime>(x: Operands<R>, save: bool) -> (CubeTensor<R>, CubeTensor<R>) {
    let Dims { batch, frames, heads, .. } = x.dims;
    let out = empty_like(&x.q);
    // Not `out` again when nothing is saved: a writable buffer bound twice is refused by wgpu.
    let stats = x.empty(if save { vec![batch, heads, frames, 2] } else { vec![1] });
    // SAFETY: `dims` checked every operand's shape ([`dims`]), all are contiguous f32; the
    // kernel reads queries, keys and the bias below `frames` and writes each query's row of
    // `out` (and `stats`) once.
    unsafe {
        attention_forward_kernel::launch_unchecked::<R>(
            &x.q.client,
            x.grid(ROWS),
            CubeDim::new_1d(CUBE_UNITS),
            x.arg(),
            out.clone().into_array_arg(),
            stats.clone().into_array_arg(),
            save,
        )
    };
    (out, stats)
}

/// The gradients of the queries, keys, values (and WavLM's gate and bias, through `gated`)
/// from the context's `grad`, for what [`forward_saving`] saved.
pub(super) fn backward<R: CubeRuntime>(
    dims: Dims,
    x: AttentionInputs<CubeTensor<R>>,
    saved: SavedAttention<CubeTensor<R>>,
    dropout: f64,
    grad: CubeTensor<R>,
    gated: impl FnOnce([CubeTensor<R>; 2], CubeTensor<R>) -> [CubeTensor<R>; 2],
) -> AttentionGradients<CubeTensor<R>> {
    let Dims { batch, frames, heads, .. } = dims;
    let x = Operands::of(dims, x, saved.keep, dropout);
    let [grad, context, stats] = [grad, saved.context, saved.softmax].map(into_contiguous);
    let [dq, dk, dv] = [&x.q, &x.q, &x.q].map(empty_like);
    let deltas = x.empty(vec![batch * heads, frames]);
    let scores_grad = x.empty(if x.gated.is_some() { vec![batch, heads, frames, frames] } else { vec![1] });
    let client = &x.q.client;
    // SAFETY: as in `run_forward`; `grad` and `context` are `[batch, frames, hidden]` like
    // `q`, `stats` `[batch, heads, frames, 2]` (`forward_saving`'s), `deltas` one value per
    // query and head; the first kernel writes each query's rows of `dq`, `deltas` (and
    // `scores_grad`) once, the second, launched after it on the same stream, reads `deltas`
    // and writes each key's rows of `dk` and `dv` once.
    unsafe {
        attention_queries_grad_kernel::launch_unchecked::<R>(
            client,
            x.grid(ROWS),
            CubeDim::new_1d(CUBE_UNITS),
            x.arg(),
            grad.clone().into_array_arg(),
            context.into_array_arg(),
            stats.clone().into_array_arg(),
            dq.clone().into_array_arg(),
            deltas.clone().into_array_arg(),
            scores_grad.clone().into_array_arg(),
        );
        attention_keys_grad_kernel::launch_unchecked::<R>(
            client,
            x.grid(KEYS),
            CubeDim::new_1d(CUBE_UNITS),
            x.arg(),
            grad.into_array_arg(),
            stats.into_array_arg(),
            deltas.into_array_arg(),
            dk.clone().into_array_arg(),
            dv.clone().into_array_arg(),
        );
    }
    let gated = x.gated.map(|inputs| gated(inputs, scores_grad));
    AttentionGradients { q: dq, k: dk, v: dv, gated }
}

/// Where a cube of the kernels works: its (item, head) pair, the offsets of the pair's head in
/// a `[batch, frames, hidden]` operand, and the sizes.
#[derive(CubeType, Clone)]
struct Place {
    /// `item * heads + head`.
    pair: usize,
    item: usize,
    head: usize,
    /// Where row 0 of the pair's head starts.
    base: usize,
    /// `heads * head_dim`.
    hidden: usize,
    frames: usize,
    head_dim: usize,
}

#[cube]
fn place_of(x: &Inputs) -> Place {
    let pair = CUBE_POS_Y as usize;
    let item = pair / x.heads;
    let head = pair % x.heads;
    let hidden = x.heads * x.head_dim;
    Place { pair, item, head, base: item * x.frames * hidden + head * x.head_dim, hidden, frames: x.frames, head_dim: x.head_dim }
}

/// Copies rows `first ..` of the pair's head of `x` (`[batch, frames, hidden]`) into `shared`
/// (`count` rows at `pitch` values apart), times `scale`; rows past the frames as zeros.
#[cube]
fn load_rows(
    x: &Array<f32>,
    shared: &mut SharedMemory<f32>,
    place: &Place,
    first: usize,
    #[comptime] count: usize,
    #[comptime] pitch: usize,
    scale: f32,
) {
    let dim = place.head_dim;
    let mut i = UNIT_POS as usize;
    while i < count * dim {
        let row = i / dim;
        let column = i % dim;
        let frame = first + row;
        let mut value = 0f32;
        if frame < place.frames {
            value = x[place.base + frame * place.hidden + column] * scale;
        }
        shared[row * pitch + column] = value;
        i += CUBE_DIM as usize;
    }
}

/// Row `a_row` of `a` (rows `a_pitch` apart) dotted with row `b_row` of `b` (`b_pitch`), over
/// `dim` values in order.
#[cube]
fn dot(
    a: &SharedMemory<f32>,
    a_row: usize,
    #[comptime] a_pitch: usize,
    b: &SharedMemory<f32>,
    b_row: usize,
    #[comptime] b_pitch: usize,
    dim: usize,
) -> f32 {
    let mut sum = 0f32;
    for x in 0..dim {
        sum += a[a_row * a_pitch + x] * b[b_row * b_pitch + x];
    }
    sum
}

/// The score of `query` and `key` from the scaled queries' row `row` of `qs` and keys' row
/// `column` of `ks`, with the gated bias added and masked keys at [`MASKED`], as the composed
/// operations compute it (`(q scale) · k`, `+ gate * bias`, the fill). Both frames in range.
#[cube]
#[allow(clippy::too_many_arguments)]
fn score(
    x: &Inputs,
    place: &Place,
    qs: &SharedMemory<f32>,
    ks: &SharedMemory<f32>,
    row: usize,
    column: usize,
    query: usize,
    key: usize,
) -> f32 {
    let frames = place.frames;
    let mut s = dot(qs, row, MAX_DIM, ks, column, PITCH, place.head_dim);
    if comptime![x.gated] {
        s += x.gate[place.pair * frames + query] * x.bias[(place.head * frames + query) * frames + key];
    }
    if key_masked(x, place, key) {
        s = MASKED;
    }
    s
}

/// Whether `key` is a padded frame of the pair's item (never without a mask).
#[cube]
fn key_masked(x: &Inputs, place: &Place, key: usize) -> bool {
    let mut padded = false;
    if comptime![x.masked] {
        padded = x.valid[place.item * place.frames + key] < 0.5;
    }
    padded
}

/// The dropout's factor on the probability of `query` and `key`: `keep * factor`, or 1.
#[cube]
fn kept(x: &Inputs, place: &Place, query: usize, key: usize) -> f32 {
    let mut k = 1f32;
    if comptime![x.dropped] {
        k = x.keep[(place.pair * place.frames + query) * place.frames + key] * x.factor;
    }
    k
}

/// The forward pass of [`ROWS`] queries (cube `x`) of one (item, head) pair (cube `y`): unit
/// `(row, column)` = `(UNIT_POS / KEYS, UNIT_POS % KEYS)` scores one query against one key of
/// each step and updates columns `column, column + KEYS, ...` of its query's context.
#[cube(launch_unchecked)]
fn attention_forward_kernel(x: &Inputs, out: &mut Array<f32>, stats: &mut Array<f32>, #[comptime] save: bool) {
    let place = place_of(x);
    let frames = x.frames;
    let dim = x.head_dim;
    let unit = UNIT_POS as usize;
    let row = unit / KEYS;
    let column = unit % KEYS;
    let first_query = CUBE_POS_X as usize * ROWS;
    let query = first_query + row;

    let mut qs = SharedMemory::<f32>::new(ROWS * MAX_DIM);
    let mut ks = SharedMemory::<f32>::new(KEYS * PITCH);
    let mut vs = SharedMemory::<f32>::new(KEYS * MAX_DIM);
    let mut context = SharedMemory::<f32>::new(ROWS * MAX_DIM);
    let mut probs = SharedMemory::<f32>::new(ROWS * KEYS);
    let mut dropped_probs = SharedMemory::<f32>::new(ROWS * KEYS);
    let mut row_max = SharedMemory::<f32>::new(ROWS);
    let mut row_sum = SharedMemory::<f32>::new(ROWS);
    let mut rescale = SharedMemory::<f32>::new(ROWS);

    load_rows(&x.q, &mut qs, &place, first_query, ROWS, MAX_DIM, x.scale);
    let mut i = column;
    while i < dim {
        context[row * MAX_DIM + i] = 0f32;
        i += KEYS;
    }
    if unit < ROWS {
        row_max[unit] = MASKED;
        row_sum[unit] = 0f32;
    }
    sync_cube();

    let mut first_key = 0usize;
    while first_key < frames {
        load_rows(&x.k, &mut ks, &place, first_key, KEYS, PITCH, 1f32);
        load_rows(&x.v, &mut vs, &place, first_key, KEYS, MAX_DIM, 1f32);
        sync_cube();
        let key = first_key + column;
        let live = query < frames && key < frames;
        let mut s = 0f32;
        if live {
            s = score(x, &place, &qs, &ks, row, column, query, key);
        }
        probs[unit] = s;
        sync_cube();
        // Each row's running largest score, and how much its sums shrink by.
        if column == 0 {
            let old = row_max[row];
            let mut max = old;
            for j in 0..KEYS {
                if first_key + j < frames {
                    max = f32::max(max, probs[row * KEYS + j]);
                }
            }
            row_max[row] = max;
            rescale[row] = f32::exp(old - max);
        }
        sync_cube();
        // Past the frames nothing is read: not even the keep mask, whose rows end there (a
        // read past its end may be anything on a GPU, and 0 times NaN would poison the row).
        let mut p = 0f32;
        let mut dropped = 0f32;
        if live {
            p = f32::exp(s - row_max[row]);
            dropped = p * kept(x, &place, query, key);
        }
        probs[unit] = p;
        dropped_probs[unit] = dropped;
        sync_cube();
        if column == 0 {
            let mut sum = 0f32;
            for j in 0..KEYS {
                sum += probs[row * KEYS + j];
            }
            row_sum[row] = row_sum[row] * rescale[row] + sum;
        }
        let factor = rescale[row];
        let mut i = column;
        while i < dim {
            let mut acc = context[row * MAX_DIM + i] * factor;
            for j in 0..KEYS {
                acc += dropped_probs[row * KEYS + j] * vs[j * MAX_DIM + i];
            }
            context[row * MAX_DIM + i] = acc;
            i += KEYS;
        }
        sync_cube();
        first_key += KEYS;
    }

    if query < frames {
        let sum = row_sum[row];
        let mut i = column;
        while i < dim {
            out[place.base + query * place.hidden + i] = context[row * MAX_DIM + i] / sum;
            i += KEYS;
        }
        if comptime![save] {
            // Not one `if`: the first is decided when the kernel is compiled.
            #[allow(clippy::collapsible_if)]
            if column == 0 {
                let at = (place.pair * frames + query) * 2;
                stats[at] = row_max[row];
                stats[at + 1] = sum;
            }
        }
    }
}

/// The probability of a live (query, key) from its score and the query's saved largest score
/// and sum.
#[cube]
fn probability(s: f32, stats: &Array<f32>, place: &Place, query: usize) -> f32 {
    let at = (place.pair * place.frames + query) * 2;
    f32::exp(s - stats[at]) / stats[at + 1]
}

/// The scores' gradient of a live (query, key): `p (dp - Σ dO·O)` with `dp` the context's
/// gradient row `row` of `gs` dotted with the values' row `column` of `vs` (through the
/// dropout's factor); 0 at a masked key, as the composed operations' fill makes it. Also the
/// probability after dropout, for the values' gradient.
#[cube]
#[allow(clippy::too_many_arguments)]
fn scores_gradient(
    x: &Inputs,
    place: &Place,
    qs: &SharedMemory<f32>,
    ks: &SharedMemory<f32>,
    gs: &SharedMemory<f32>,
    vs: &SharedMemory<f32>,
    stats: &Array<f32>,
    row: usize,
    column: usize,
    query: usize,
    key: usize,
    delta: f32,
) -> (f32, f32) {
    let s = score(x, place, qs, ks, row, column, query, key);
    let p = probability(s, stats, place, query);
    let keep = kept(x, place, query, key);
    let dp = dot(gs, row, MAX_DIM, vs, column, PITCH, place.head_dim) * keep;
    let mut ds = p * (dp - delta);
    if key_masked(x, place, key) {
        ds = 0f32;
    }
    (ds, p * keep)
}

/// The backward pass's first kernel, by [`ROWS`] queries as the forward: each query's `Σ dO·O`
/// into `deltas`, then, walking the keys, the scores' gradient (written to `scores_grad` when
/// gated) and the queries' gradient `ds k scale`.
#[cube(launch_unchecked)]
fn attention_queries_grad_kernel(
    x: &Inputs,
    grad: &Array<f32>,
    context: &Array<f32>,
    stats: &Array<f32>,
    dq: &mut Array<f32>,
    deltas: &mut Array<f32>,
    scores_grad: &mut Array<f32>,
) {
    let place = place_of(x);
    let frames = x.frames;
    let dim = x.head_dim;
    let unit = UNIT_POS as usize;
    let row = unit / KEYS;
    let column = unit % KEYS;
    let first_query = CUBE_POS_X as usize * ROWS;
    let query = first_query + row;

    let mut qs = SharedMemory::<f32>::new(ROWS * MAX_DIM);
    let mut gs = SharedMemory::<f32>::new(ROWS * MAX_DIM);
    let mut dqs = SharedMemory::<f32>::new(ROWS * MAX_DIM);
    let mut ks = SharedMemory::<f32>::new(KEYS * PITCH);
    let mut vs = SharedMemory::<f32>::new(KEYS * PITCH);
    let mut ds_tile = SharedMemory::<f32>::new(ROWS * KEYS);
    let mut row_delta = SharedMemory::<f32>::new(ROWS);

    load_rows(&x.q, &mut qs, &place, first_query, ROWS, MAX_DIM, x.scale);
    load_rows(grad, &mut gs, &place, first_query, ROWS, MAX_DIM, 1f32);
    sync_cube();
    // Each query's Σ dO·O: unit (row, column) sums columns `column, column + KEYS, ...`,
    // then the row's first unit adds the KEYS partial sums in order.
    let mut partial = 0f32;
    let mut i = column;
    while i < dim {
        dqs[row * MAX_DIM + i] = 0f32;
        if query < frames {
            partial += gs[row * MAX_DIM + i] * context[place.base + query * place.hidden + i];
        }
        i += KEYS;
    }
    ds_tile[unit] = partial;
    sync_cube();
    if column == 0 {
        let mut delta = 0f32;
        for j in 0..KEYS {
            delta += ds_tile[row * KEYS + j];
        }
        row_delta[row] = delta;
        if query < frames {
            deltas[place.pair * frames + query] = delta;
        }
    }
    sync_cube();
    let delta = row_delta[row];

    let mut first_key = 0usize;
    while first_key < frames {
        load_rows(&x.k, &mut ks, &place, first_key, KEYS, PITCH, 1f32);
        load_rows(&x.v, &mut vs, &place, first_key, KEYS, PITCH, 1f32);
        sync_cube();
        let key = first_key + column;
        let mut ds = 0f32;
        if query < frames && key < frames {
            let (d, _) = scores_gradient(x, &place, &qs, &ks, &gs, &vs, stats, row, column, query, key, delta);
            ds = d;
            if comptime![x.gated] {
                scores_grad[(place.pair * frames + query) * frames + key] = ds;
            }
        }
        ds_tile[unit] = ds;
        sync_cube();
        let mut i = column;
        while i < dim {
            let mut acc = dqs[row * MAX_DIM + i];
            for j in 0..KEYS {
                acc += ds_tile[row * KEYS + j] * ks[j * PITCH + i];
            }
            dqs[row * MAX_DIM + i] = acc;
            i += KEYS;
        }
        sync_cube();
        first_key += KEYS;
    }

    if query < frames {
        let mut i = column;
        while i < dim {
            dq[place.base + query * place.hidden + i] = dqs[row * MAX_DIM + i] * x.scale;
            i += KEYS;
        }
    }
}

/// The backward pass's second kernel, by [`KEYS`] keys (cube `x`) of one pair: walking the
/// queries [`ROWS`] at a time, unit `(row, column)` recomputes one (query, key)'s dropped
/// probability and scores' gradient, then unit `(key, lane)` = `(UNIT_POS / ROWS, UNIT_POS %
/// ROWS)` adds `Σ p̃ dO` into its key's values' gradient and `Σ ds q scale` into its keys'.
#[cube(launch_unchecked)]
fn attention_keys_grad_kernel(
    x: &Inputs,
    grad: &Array<f32>,
    stats: &Array<f32>,
    deltas: &Array<f32>,
    dk: &mut Array<f32>,
    dv: &mut Array<f32>,
) {
    let place = place_of(x);
    let frames = x.frames;
    let dim = x.head_dim;
    let unit = UNIT_POS as usize;
    let row = unit / KEYS;
    let column = unit % KEYS;
    let first_key = CUBE_POS_X as usize * KEYS;
    let key = first_key + column;
    // The accumulating unit's key and lane.
    let own_key = unit / ROWS;
    let lane = unit % ROWS;

    let mut qs = SharedMemory::<f32>::new(ROWS * MAX_DIM);
    let mut gs = SharedMemory::<f32>::new(ROWS * MAX_DIM);
    let mut ks = SharedMemory::<f32>::new(KEYS * PITCH);
    let mut vs = SharedMemory::<f32>::new(KEYS * PITCH);
    let mut dks = SharedMemory::<f32>::new(KEYS * MAX_DIM);
    let mut dvs = SharedMemory::<f32>::new(KEYS * MAX_DIM);
    let mut ds_tile = SharedMemory::<f32>::new(ROWS * KEYS);
    let mut p_tile = SharedMemory::<f32>::new(ROWS * KEYS);

    load_rows(&x.k, &mut ks, &place, first_key, KEYS, PITCH, 1f32);
    load_rows(&x.v, &mut vs, &place, first_key, KEYS, PITCH, 1f32);
    let mut i = lane;
    while i < dim {
        dks[own_key * MAX_DIM + i] = 0f32;
        dvs[own_key * MAX_DIM + i] = 0f32;
        i += ROWS;
    }

    let mut first_query = 0usize;
    while first_query < frames {
        load_rows(&x.q, &mut qs, &place, first_query, ROWS, MAX_DIM, x.scale);
        load_rows(grad, &mut gs, &place, first_query, ROWS, MAX_DIM, 1f32);
        sync_cube();
        let query = first_query + row;
        let mut ds = 0f32;
        let mut dropped_p = 0f32;
        if query < frames && key < frames {
            let delta = deltas[place.pair * frames + query];
            let (d, p) = scores_gradient(x, &place, &qs, &ks, &gs, &vs, stats, row, column, query, key, delta);
            ds = d;
            dropped_p = p;
        }
        ds_tile[unit] = ds;
        p_tile[unit] = dropped_p;
        sync_cube();
        let mut i = lane;
        while i < dim {
            let mut dk_acc = dks[own_key * MAX_DIM + i];
            let mut dv_acc = dvs[own_key * MAX_DIM + i];
            for r in 0..ROWS {
                dk_acc += ds_tile[r * KEYS + own_key] * qs[r * MAX_DIM + i];
                dv_acc += p_tile[r * KEYS + own_key] * gs[r * MAX_DIM + i];
            }
            dks[own_key * MAX_DIM + i] = dk_acc;
            dvs[own_key * MAX_DIM + i] = dv_acc;
            i += ROWS;
        }
        sync_cube();
        first_query += ROWS;
    }

    let own = first_key + own_key;
    if own < frames {
        let mut i = lane;
        while i < dim {
            dk[place.base + own * place.hidden + i] = dks[own_key * MAX_DIM + i];
            dv[place.base + own * place.hidden + i] = dvs[own_key * MAX_DIM + i];
            i += ROWS;
        }
    }
}
