//! [`Kernels`] on burn's cubecl backends (cuda; wgpu, which runs the same kernels on a CPU
//! through Mesa's lavapipe, for the tests): vox's own cubecl kernels where the operations
//! composed from burn's launch many kernels or take a slow road.
//!
//! burn 0.21's cubecl backends run every tensor operation as its own kernel launch (no fusion
//! in vox's build). Counted with cubecl's profiler on an XLSR-large training step
//! (`benches/gpu-kernels.sh`, on wgpu), the optimizer made most of the launches: its AdamW
//! update composed from burn's operations is 15 element-wise kernels per parameter and the
//! clipping's squared sum 4 more (the squaring, the sum, the concatenation of the sums). Here
//! the step launches a fraction of that (counts: BENCHMARKS-gpu.md, section 6):
//!
//! - the update is one kernel per parameter, and each squared sum one kernel writing per-cube
//!   partial sums, all read back in one transfer and added on the host in f64;
//! - layer norm is one kernel forward (a cube per row) and three backward; GELU, softmax and
//!   their gradients one each;
//! - the feature encoder's convs are an im2col kernel and a product each (the CPU backends'
//!   road), and the positional conv grouped windows and batched products: burn-cubecl without
//!   autotune runs convs with a direct kernel on CUDA cores (and the grouped conv's weight
//!   gradient as one conv per group), not on the tensor cores its products use.
//! - attention is one launch forward and two backward ([`super::cube_attention`], which
//!   says how), where composing it made ten and seventeen more a layer.
//!
//! Results are not bit-identical to the composed operations: sums run in other orders, and a
//! GPU compiler may contract a multiply and an add into one rounding. Byte-identity holds on
//! the CPU backends, which run [`super::host`]'s kernels.
//!
//! `VOX_CUBE_KERNELS=0` in the environment turns them off (the trait's composed defaults and
//! burn's convs instead), so that one binary measures both in the same call on a lent GPU
//! (`benches/gpu-kernels.sh`, `benches/gpu-epoch.sh`): GPU time is too scarce for a second
//! build's call.

use burn::tensor::{DType, Shape};
use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime};
use cubecl::prelude::*;

use super::attention_ops::{composed_attention, keep_mask};
use super::cube_attention;
use super::cube_support::{CUBE_UNITS, empty_like, empty_of, enabled};
use super::{
    AdamWStep, AttentionGradients, AttentionInputs, SavedAttention, FRAC_1_SQRT_2PI, Kernels, adamw_step_by_ops, conv_windows_backward_by_ops, conv_windows_by_ops,
    grouped_conv1d_backward_by_ops, grouped_conv1d_by_ops, exact_gelu_backward_by_ops, layer_norm_last_backward_by_ops,
    softmax_last_backward_by_ops, softmax_last_by_ops, squared_sums_by_ops,
};

/// Whether vox's kernels take these tensors: f32 ones (bf16 products' casts go the composed
/// way), unless turned off.
fn takes<R: CubeRuntime>(tensors: &[&CubeTensor<R>]) -> bool {
    enabled() && tensors.iter().all(|t| t.dtype == DType::F32)
}

/// At most this many cubes per launch: larger tensors are walked by each unit in strides of
/// the whole grid (one dimension of cubes stays under every runtime's limit of 65535).
const MAX_CUBES: usize = 4096;

impl<R: CubeRuntime, BT: BoolElement> Kernels for CubeBackend<R, f32, i32, BT> {
    fn adamw_step(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moments: Option<[FloatTensor<Self>; 2]>,
        step: AdamWStep,
    ) -> [FloatTensor<Self>; 3] {
        let mut tensors = vec![&param, &grad];
        tensors.extend(moments.iter().flatten());
        match takes(&tensors) {
            true => adamw_step(param, grad, moments, step),
            false => adamw_step_by_ops::<Self>(param, grad, moments, step),
        }
    }

    fn squared_sums(xs: Vec<FloatTensor<Self>>) -> Vec<f64> {
        match takes(&xs.iter().collect::<Vec<_>>()) {
            true => squared_sums(xs),
            false => squared_sums_by_ops::<Self>(xs),
        }
    }

    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match takes(&[&x]) {
            true => elementwise(x, None, Elementwise::Gelu),
            false => <Self as burn::tensor::ops::ActivationOps<Self>>::gelu(x),
        }
    }

    fn exact_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        match takes(&[&x, &grad]) {
            true => elementwise(x, Some(grad), Elementwise::GeluBackward),
            false => exact_gelu_backward_by_ops::<Self>(x, grad),
        }
    }

    fn grouped_conv1d(x: FloatTensor<Self>, weight: FloatTensor<Self>, groups: usize, padding: [usize; 2]) -> FloatTensor<Self> {
        match takes(&[&x, &weight]) {
            true => grouped_conv1d::<R, BT>(x, weight, groups, padding),
            false => grouped_conv1d_by_ops::<Self>(x, weight, groups, padding),
        }
    }

    fn grouped_conv1d_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        groups: usize,
        padding: [usize; 2],
    ) -> [FloatTensor<Self>; 2] {
        match takes(&[&x, &weight, &grad]) {
            true => grouped_conv1d_backward::<R, BT>(x, weight, grad, groups, padding),
            false => grouped_conv1d_backward_by_ops::<Self>(x, weight, grad, groups, padding),
        }
    }

    fn conv_windows(x: FloatTensor<Self>, kernel: usize, stride: usize) -> FloatTensor<Self> {
        match takes(&[&x]) {
            true => conv_windows(x, kernel, stride),
            false => conv_windows_by_ops::<Self>(x, kernel, stride),
        }
    }

    fn conv_windows_backward(
        grad: FloatTensor<Self>,
        dims: [usize; 3],
        kernel: usize,
        stride: usize,
    ) -> FloatTensor<Self> {
        match takes(&[&grad]) {
            true => conv_windows_backward(grad, dims, kernel, stride),
            false => conv_windows_backward_by_ops::<Self>(grad, dims, kernel, stride),
        }
    }

    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match takes(&[&x]) {
            true => softmax(x, None),
            false => softmax_last_by_ops::<Self>(x),
        }
    }

    fn softmax_last_backward(y: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        match takes(&[&y, &grad]) {
            true => softmax(y, Some(grad)),
            false => softmax_last_backward_by_ops::<Self>(y, grad),
        }
    }

    fn multi_head_attention(x: AttentionInputs<FloatTensor<Self>>) -> FloatTensor<Self> {
        match cube_attention::dims(&x) {
            Some(dims) => cube_attention::forward(dims, x),
            None => composed_attention::<Self>(x, 0.0),
        }
    }

    fn attention_saving(x: AttentionInputs<FloatTensor<Self>>, dropout: f64) -> Option<SavedAttention<FloatTensor<Self>>> {
        let dims = cube_attention::dims(&x)?;
        let keep = keep_mask::<Self>(dims, dropout, &x.q.device);
        Some(cube_attention::forward_saving(dims, x, keep, dropout))
    }

    fn attention_backward(
        x: AttentionInputs<FloatTensor<Self>>,
        saved: SavedAttention<FloatTensor<Self>>,
        dropout: f64,
        grad: FloatTensor<Self>,
    ) -> AttentionGradients<FloatTensor<Self>> {
        // `attention_saving` took these operands, so the kernels take them again (`dims`
        // depends on nothing else), and `saved` holds their row statistics.
        let dims = cube_attention::dims(&x).expect("the operands attention_saving took");
        cube_attention::backward(dims, x, saved, dropout, grad, |[gate, bias], scores_grad| {
            Self::add_gated_bias_backward(gate, bias, scores_grad)
        })
    }

    fn layer_norm_last(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        match takes(&[&x, &gamma, &beta]) {
            true => layer_norm(x, gamma, beta, epsilon as f32),
            false => <Self as burn::tensor::ops::ModuleOps<Self>>::layer_norm(x, gamma, Some(beta), epsilon),
        }
    }

    fn layer_norm_last_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        epsilon: f64,
    ) -> [FloatTensor<Self>; 3] {
        match takes(&[&x, &gamma, &grad]) {
            true => layer_norm_backward(x, gamma, grad, epsilon as f32),
            false => layer_norm_last_backward_by_ops::<Self>(x, gamma, grad, epsilon),
        }
    }
}

/// The scalars of one AdamW step, as the kernel takes them.
#[derive(CubeLaunch, CubeType)]
struct AdamWArgs {
    beta_1: f32,
    beta_2: f32,
    factor_1: f32,
    factor_2: f32,
    correction_1: f32,
    correction_2: f32,
    epsilon: f32,
    keep: f32,
    lr: f32,
    grad_scale: f32,
}

/// One AdamW update of every element (the operations of [`super::AdamWScalars::update`] in
/// the same order): `first` when there are no moments yet (`m` and `v` are then not read),
/// `scaled` when the gradient is multiplied by `grad_scale`, `decayed` when the value by `keep`.
// The `#[cube]` expansion of `x *= y` reads as `x = x * y` to clippy.
#[allow(clippy::assign_op_pattern)]
#[cube(launch_unchecked)]
fn adamw_kernel(
    param: &Array<f32>,
    grad: &Array<f32>,
    m: &Array<f32>,
    v: &Array<f32>,
    out_param: &mut Array<f32>,
    out_m: &mut Array<f32>,
    out_v: &mut Array<f32>,
    args: AdamWArgs,
    #[comptime] first: bool,
    #[comptime] scaled: bool,
    #[comptime] decayed: bool,
) {
    let len = param.len();
    let stride = CUBE_COUNT * CUBE_DIM as usize;
    let mut i = ABSOLUTE_POS;
    while i < len {
        let mut g = grad[i];
        if comptime![scaled] {
            g *= args.grad_scale;
        }
        let square = g * g;
        let mut m_new = g * args.factor_1;
        let mut v_new = square * args.factor_2;
        if comptime![!first] {
            m_new = m[i] * args.beta_1 + m_new;
            v_new = v[i] * args.beta_2 + v_new;
        }
        let delta = (m_new / args.correction_1) / (f32::sqrt(v_new / args.correction_2) + args.epsilon);
        let mut value = param[i];
        if comptime![decayed] {
            value *= args.keep;
        }
        out_param[i] = value - delta * args.lr;
        out_m[i] = m_new;
        out_v[i] = v_new;
        i += stride;
    }
}

/// The cubes of a launch over `len` elements, one unit per element up to [`MAX_CUBES`].
fn cubes_for(len: usize) -> u32 {
    len.div_ceil(CUBE_UNITS as usize).clamp(1, MAX_CUBES) as u32
}

/// [`Kernels::adamw_step`] in one launch.
fn adamw_step<R: CubeRuntime>(
    param: CubeTensor<R>,
    grad: CubeTensor<R>,
    moments: Option<[CubeTensor<R>; 2]>,
    step: AdamWStep,
) -> [CubeTensor<R>; 3] {
    let s = step.scalars();
    let [param, grad] = [param, grad].map(into_contiguous);
    let first = moments.is_none();
    let [m, v] = moments.map(|m| m.map(into_contiguous)).unwrap_or_else(|| [param.clone(), param.clone()]);
    let [out_param, out_m, out_v] = [&param, &param, &param].map(empty_like);
    let len = param.meta.shape().num_elements();
    let args = AdamWArgsLaunch::new(
        s.beta_1,
        s.beta_2,
        s.factor_1,
        s.factor_2,
        s.correction_1,
        s.correction_2,
        s.epsilon,
        s.decay.unwrap_or(1.0),
        s.lr,
        s.grad_scale.unwrap_or(1.0),
    );
    let client = param.client.clone();
    // SAFETY: every array is `len` contiguous f32 values (`into_contiguous`, `empty_like`),
    // and the kernel reads and writes only indices below `param.len()`.
    unsafe {
        adamw_kernel::launch_unchecked::<R>(
            &client,
            CubeCount::new_1d(cubes_for(len)),
            CubeDim::new_1d(CUBE_UNITS),
            param.clone().into_array_arg(),
            grad.into_array_arg(),
            m.into_array_arg(),
            v.into_array_arg(),
            out_param.clone().into_array_arg(),
            out_m.clone().into_array_arg(),
            out_v.clone().into_array_arg(),
            args,
            first,
            s.grad_scale.is_some(),
            s.decay.is_some(),
        )
    };
    [out_param, out_m, out_v]
}

/// Each cube's sum of the squares of the values its units visit (unit `u` of a grid of `n`
/// units takes `u`, `u + n`, ...), written to `partials[offset + CUBE_POS]`.
#[cube(launch_unchecked)]
fn squared_sum_kernel(x: &Array<f32>, partials: &mut Array<f32>, offset: u32) {
    let len = x.len();
    let stride = CUBE_COUNT * CUBE_DIM as usize;
    let mut sum = 0f32;
    let mut i = ABSOLUTE_POS;
    while i < len {
        let value = x[i];
        sum += value * value;
        i += stride;
    }
    let mut shared = SharedMemory::<f32>::new(CUBE_UNITS as usize);
    let total = cube_reduce(&mut shared, sum, Reduction::Sum);
    if UNIT_POS == 0 {
        partials[(offset + CUBE_POS as u32) as usize] = total;
    }
}

/// [`Kernels::squared_sums`]: one launch per tensor into one buffer of per-cube partial sums,
/// one read of that buffer, each tensor's partials added in f64 in cube order.
fn squared_sums<R: CubeRuntime>(xs: Vec<CubeTensor<R>>) -> Vec<f64> {
    let Some(first) = xs.first() else { return Vec::new() };
    let client = first.client.clone();
    let cubes: Vec<u32> = xs.iter().map(|x| cubes_for(x.meta.shape().num_elements())).collect();
    let total: u32 = cubes.iter().sum();
    let partials = client.empty(total as usize * size_of::<f32>());
    let mut offset = 0;
    for (x, &count) in xs.into_iter().zip(&cubes) {
        let x = into_contiguous(x);
        // SAFETY: `x` is contiguous f32 values; the kernel writes `partials[offset..offset +
        // count]`, inside its `total` values.
        unsafe {
            squared_sum_kernel::launch_unchecked::<R>(
                &client,
                CubeCount::new_1d(count),
                CubeDim::new_1d(CUBE_UNITS),
                x.into_array_arg(),
                ArrayArg::from_raw_parts(partials.clone(), total as usize),
                offset,
            )
        };
        offset += count;
    }
    let bytes = client.read_one_unchecked(partials);
    let values: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let mut start = 0;
    cubes
        .iter()
        .map(|&count| {
            let sum = values[start..start + count as usize].iter().map(|&v| f64::from(v)).sum();
            start += count as usize;
            sum
        })
        .collect()
}

/// How [`cube_reduce`] combines the units' values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Reduction {
    Sum,
    Max,
}

/// The sum (or the largest) of `value` over the cube's units, on every unit, by halving
/// steps in a fixed order. `shared` holds [`CUBE_UNITS`] values; the cube's units must all
/// call it (it syncs them).
#[cube]
fn cube_reduce(shared: &mut SharedMemory<f32>, value: f32, #[comptime] reduction: Reduction) -> f32 {
    shared[UNIT_POS as usize] = value;
    sync_cube();
    let mut active = CUBE_DIM / 2;
    while active > 0 {
        if UNIT_POS < active {
            let other = shared[(UNIT_POS + active) as usize];
            match comptime![reduction] {
                Reduction::Sum => {
                    shared[UNIT_POS as usize] += other;
                }
                Reduction::Max => {
                    shared[UNIT_POS as usize] = f32::max(shared[UNIT_POS as usize], other);
                }
            }
        }
        sync_cube();
        active /= 2;
    }
    let total = shared[0];
    // Every unit reads the total before the next reduction overwrites it.
    sync_cube();
    total
}

/// The mean and the standard deviation `sqrt(var + epsilon)` of row `row` of `x` (`width`
/// values from `row * width`), as burn's layer norm computes them: the mean, then the mean of
/// the squared deviations from it.
#[cube]
fn row_moments(x: &Array<f32>, shared: &mut SharedMemory<f32>, row: usize, width: usize, epsilon: f32) -> (f32, f32) {
    let start = row * width;
    let mut sum = 0f32;
    let mut c = UNIT_POS as usize;
    while c < width {
        sum += x[start + c];
        c += CUBE_DIM as usize;
    }
    let mean = cube_reduce(shared, sum, Reduction::Sum) / f32::cast_from(width);
    let mut squares = 0f32;
    let mut c = UNIT_POS as usize;
    while c < width {
        let d = x[start + c] - mean;
        squares += d * d;
        c += CUBE_DIM as usize;
    }
    let variance = cube_reduce(shared, squares, Reduction::Sum) / f32::cast_from(width);
    (mean, f32::sqrt(variance + epsilon))
}

/// Layer norm over rows of `width` values, one cube per row (cubes stride over the rows).
#[cube(launch_unchecked)]
fn layer_norm_kernel(
    x: &Array<f32>,
    gamma: &Array<f32>,
    beta: &Array<f32>,
    out: &mut Array<f32>,
    width: usize,
    epsilon: f32,
) {
    let rows = x.len() / width;
    let mut shared = SharedMemory::<f32>::new(CUBE_UNITS as usize);
    let mut row = CUBE_POS;
    while row < rows {
        let (mean, std) = row_moments(x, &mut shared, row, width, epsilon);
        let start = row * width;
        let mut c = UNIT_POS as usize;
        while c < width {
            out[start + c] = (x[start + c] - mean) / std * gamma[c] + beta[c];
            c += CUBE_DIM as usize;
        }
        row += CUBE_COUNT;
    }
}

/// The input's gradient of the layer norm, row by row (`dx = (g - mean g - x̂ mean(g x̂)) / σ`
/// with `g = grad * gamma`), and each row's mean and σ into `stats` (`[rows, 2]`) for the
/// parameters' gradients.
#[cube(launch_unchecked)]
fn layer_norm_backward_kernel(
    x: &Array<f32>,
    gamma: &Array<f32>,
    grad: &Array<f32>,
    dx: &mut Array<f32>,
    stats: &mut Array<f32>,
    width: usize,
    epsilon: f32,
) {
    let rows = x.len() / width;
    let mut shared = SharedMemory::<f32>::new(CUBE_UNITS as usize);
    let mut row = CUBE_POS;
    while row < rows {
        let (mean, std) = row_moments(x, &mut shared, row, width, epsilon);
        let start = row * width;
        let mut sum_g = 0f32;
        let mut sum_gx = 0f32;
        let mut c = UNIT_POS as usize;
        while c < width {
            let g = grad[start + c] * gamma[c];
            sum_g += g;
            sum_gx += g * ((x[start + c] - mean) / std);
            c += CUBE_DIM as usize;
        }
        let mean_g = cube_reduce(&mut shared, sum_g, Reduction::Sum) / f32::cast_from(width);
        let mean_gx = cube_reduce(&mut shared, sum_gx, Reduction::Sum) / f32::cast_from(width);
        let mut c = UNIT_POS as usize;
        while c < width {
            let normalized = (x[start + c] - mean) / std;
            dx[start + c] = (grad[start + c] * gamma[c] - mean_g - normalized * mean_gx) / std;
            c += CUBE_DIM as usize;
        }
        if UNIT_POS == 0 {
            stats[2 * row] = mean;
            stats[2 * row + 1] = std;
        }
        row += CUBE_COUNT;
    }
}

/// Partial sums of `grad * x̂` and `grad` down the columns: cube `(i, j)` sums rows `j *
/// chunk ..` of columns `i * CUBE_DIM ..` into `partials[j][0][column]` and
/// `partials[j][1][column]`.
#[cube(launch_unchecked)]
fn layer_norm_param_partials_kernel(
    x: &Array<f32>,
    grad: &Array<f32>,
    stats: &Array<f32>,
    partials: &mut Array<f32>,
    width: usize,
    chunk: usize,
) {
    let column = (CUBE_POS_X * CUBE_DIM_X + UNIT_POS_X) as usize;
    let rows = x.len() / width;
    if column < width {
        let first = CUBE_POS_Y as usize * chunk;
        let mut end = first + chunk;
        if end > rows {
            end = rows;
        }
        let mut sum_gx = 0f32;
        let mut sum_g = 0f32;
        let mut row = first;
        while row < end {
            let g = grad[row * width + column];
            sum_gx += g * ((x[row * width + column] - stats[2 * row]) / stats[2 * row + 1]);
            sum_g += g;
            row += 1;
        }
        let at = CUBE_POS_Y as usize * 2 * width + column;
        partials[at] = sum_gx;
        partials[at + width] = sum_g;
    }
}

/// The parameters' gradients from the partial sums, in chunk order: `dgamma`, then `dbeta`.
#[cube(launch_unchecked)]
fn layer_norm_param_sums_kernel(partials: &Array<f32>, dgamma: &mut Array<f32>, dbeta: &mut Array<f32>, chunks: usize) {
    let width = dgamma.len();
    let column = ABSOLUTE_POS;
    if column < width {
        let mut sum_gx = 0f32;
        let mut sum_g = 0f32;
        for j in 0..chunks {
            sum_gx += partials[j * 2 * width + column];
            sum_g += partials[j * 2 * width + width + column];
        }
        dgamma[column] = sum_gx;
        dbeta[column] = sum_g;
    }
}

/// Rows of the parameters' gradients each cube of the partial sums takes: enough chunks that
/// the columns' cubes times the chunks fill a large GPU (about 256 cubes), each at least 8 rows.
fn param_chunk(rows: usize, width: usize) -> usize {
    let column_cubes = width.div_ceil(CUBE_UNITS as usize);
    let chunks = 256usize.div_ceil(column_cubes).clamp(1, rows.div_ceil(8).max(1));
    rows.div_ceil(chunks).max(1)
}

/// [`Kernels::layer_norm_last`] in one launch.
fn layer_norm<R: CubeRuntime>(x: CubeTensor<R>, gamma: CubeTensor<R>, beta: CubeTensor<R>, epsilon: f32) -> CubeTensor<R> {
    let [x, gamma, beta] = [x, gamma, beta].map(into_contiguous);
    let width = *x.meta.shape().last().expect("a layer norm's input has a last dimension");
    let rows = x.meta.shape().num_elements() / width.max(1);
    let out = empty_like(&x);
    let client = x.client.clone();
    // SAFETY: `x` and `out` hold `rows * width` contiguous f32 values, `gamma` and `beta`
    // `width`; the kernel indexes rows below `x.len() / width` and columns below `width`.
    unsafe {
        layer_norm_kernel::launch_unchecked::<R>(
            &client,
            CubeCount::new_1d(rows.clamp(1, MAX_CUBES) as u32),
            CubeDim::new_1d(CUBE_UNITS),
            x.into_array_arg(),
            gamma.into_array_arg(),
            beta.into_array_arg(),
            out.clone().into_array_arg(),
            width,
            epsilon,
        )
    };
    out
}

/// [`Kernels::layer_norm_last_backward`] in three launches: the input's gradient by rows, the
/// parameters' partial sums by blocks of rows, their sums.
fn layer_norm_backward<R: CubeRuntime>(
    x: CubeTensor<R>,
    gamma: CubeTensor<R>,
    grad: CubeTensor<R>,
    epsilon: f32,
) -> [CubeTensor<R>; 3] {
    let [x, gamma, grad] = [x, gamma, grad].map(into_contiguous);
    let width = *x.meta.shape().last().expect("a layer norm's input has a last dimension");
    let rows = x.meta.shape().num_elements() / width.max(1);
    let client = x.client.clone();
    let dx = empty_like(&x);
    let stats = client.empty(2 * rows * size_of::<f32>());
    let chunk = param_chunk(rows, width);
    let chunks = rows.div_ceil(chunk).max(1);
    let partials = client.empty(chunks * 2 * width * size_of::<f32>());
    let [dgamma, dbeta] = [&gamma, &gamma].map(empty_like);
    // SAFETY: as in `layer_norm`; `stats` holds `2 * rows` values and `partials` `chunks * 2 *
    // width`, which the kernels index below.
    unsafe {
        layer_norm_backward_kernel::launch_unchecked::<R>(
            &client,
            CubeCount::new_1d(rows.clamp(1, MAX_CUBES) as u32),
            CubeDim::new_1d(CUBE_UNITS),
            x.clone().into_array_arg(),
            gamma.into_array_arg(),
            grad.clone().into_array_arg(),
            dx.clone().into_array_arg(),
            ArrayArg::from_raw_parts(stats.clone(), 2 * rows),
            width,
            epsilon,
        );
        layer_norm_param_partials_kernel::launch_unchecked::<R>(
            &client,
            CubeCount::new_2d(width.div_ceil(CUBE_UNITS as usize) as u32, chunks as u32),
            CubeDim::new_1d(CUBE_UNITS),
            x.into_array_arg(),
            grad.into_array_arg(),
            ArrayArg::from_raw_parts(stats, 2 * rows),
            ArrayArg::from_raw_parts(partials.clone(), chunks * 2 * width),
            width,
            chunk,
        );
        layer_norm_param_sums_kernel::launch_unchecked::<R>(
            &client,
            CubeCount::new_1d(width.div_ceil(CUBE_UNITS as usize) as u32),
            CubeDim::new_1d(CUBE_UNITS),
            ArrayArg::from_raw_parts(partials, chunks * 2 * width),
            dgamma.clone().into_array_arg(),
            dbeta.clone().into_array_arg(),
            chunks,
        );
    }
    [dx, dgamma, dbeta]
}

/// The element-wise operations of [`elementwise_kernel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Elementwise {
    /// Exact GELU, `x Φ(x)`.
    Gelu,
    /// Its gradient, `grad (Φ(x) + x φ(x))`.
    GeluBackward,
}

/// `out = op(x)`, or `op(x, y)` for the binary operations, element by element.
#[cube(launch_unchecked)]
fn elementwise_kernel(x: &Array<f32>, y: &Array<f32>, out: &mut Array<f32>, #[comptime] op: Elementwise) {
    let len = x.len();
    let stride = CUBE_COUNT * CUBE_DIM as usize;
    let mut i = ABSOLUTE_POS;
    while i < len {
        let v = x[i];
        let cdf = 0.5 * (1.0 + Erf::erf(v * std::f32::consts::FRAC_1_SQRT_2));
        match comptime![op] {
            Elementwise::Gelu => {
                out[i] = v * cdf;
            }
            Elementwise::GeluBackward => {
                let pdf = f32::exp(-0.5 * v * v) * FRAC_1_SQRT_2PI;
                out[i] = y[i] * (cdf + v * pdf);
            }
        }
        i += stride;
    }
}

/// [`elementwise_kernel`] over `x` (and `y`, of its shape) in one launch.
fn elementwise<R: CubeRuntime>(x: CubeTensor<R>, y: Option<CubeTensor<R>>, op: Elementwise) -> CubeTensor<R> {
    let x = into_contiguous(x);
    let y = y.map(into_contiguous).unwrap_or_else(|| x.clone());
    let out = empty_like(&x);
    let len = x.meta.shape().num_elements();
    let client = x.client.clone();
    // SAFETY: `x`, `y` and `out` hold `len` contiguous f32 values; the kernel indexes below
    // `x.len()`.
    unsafe {
        elementwise_kernel::launch_unchecked::<R>(
            &client,
            CubeCount::new_1d(cubes_for(len)),
            CubeDim::new_1d(CUBE_UNITS),
            x.into_array_arg(),
            y.into_array_arg(),
            out.clone().into_array_arg(),
            op,
        )
    };
    out
}

/// Softmax over rows of `width` values (`backward`: false, `x` the scores), or its gradient
/// (`backward`: true, `x` the probabilities `y` and `grad` the output's gradient: `y (grad -
/// Σ grad y)`), one cube per row.
#[cube(launch_unchecked)]
fn softmax_kernel(x: &Array<f32>, grad: &Array<f32>, out: &mut Array<f32>, width: usize, #[comptime] backward: bool) {
    let rows = x.len() / width;
    let mut shared = SharedMemory::<f32>::new(CUBE_UNITS as usize);
    let mut row = CUBE_POS;
    while row < rows {
        let start = row * width;
        if comptime![backward] {
            let mut dot = 0f32;
            let mut c = UNIT_POS as usize;
            while c < width {
                dot += grad[start + c] * x[start + c];
                c += CUBE_DIM as usize;
            }
            let dot = cube_reduce(&mut shared, dot, Reduction::Sum);
            let mut c = UNIT_POS as usize;
            while c < width {
                out[start + c] = x[start + c] * (grad[start + c] - dot);
                c += CUBE_DIM as usize;
            }
        } else {
            // Not -inf: WGSL has no infinite literals.
            let mut max = x[start];
            let mut c = UNIT_POS as usize;
            while c < width {
                max = f32::max(max, x[start + c]);
                c += CUBE_DIM as usize;
            }
            let max = cube_reduce(&mut shared, max, Reduction::Max);
            let mut sum = 0f32;
            let mut c = UNIT_POS as usize;
            while c < width {
                let e = f32::exp(x[start + c] - max);
                out[start + c] = e;
                sum += e;
                c += CUBE_DIM as usize;
            }
            let sum = cube_reduce(&mut shared, sum, Reduction::Sum);
            let mut c = UNIT_POS as usize;
            while c < width {
                out[start + c] = out[start + c] / sum;
                c += CUBE_DIM as usize;
            }
        }
        row += CUBE_COUNT;
    }
}

/// [`Kernels::softmax_last`] (`grad` `None`) or [`Kernels::softmax_last_backward`] of the
/// probabilities `x` in one launch.
fn softmax<R: CubeRuntime>(x: CubeTensor<R>, grad: Option<CubeTensor<R>>) -> CubeTensor<R> {
    let x = into_contiguous(x);
    let backward = grad.is_some();
    let grad = grad.map(into_contiguous).unwrap_or_else(|| x.clone());
    let width = *x.meta.shape().last().expect("softmax's input has a last dimension");
    let rows = x.meta.shape().num_elements() / width.max(1);
    let out = empty_like(&x);
    let client = x.client.clone();
    // SAFETY: `x`, `grad` and `out` hold `rows * width` contiguous f32 values; the kernel
    // indexes rows below `x.len() / width`.
    unsafe {
        softmax_kernel::launch_unchecked::<R>(
            &client,
            CubeCount::new_1d(rows.clamp(1, MAX_CUBES) as u32),
            CubeDim::new_1d(CUBE_UNITS),
            x.into_array_arg(),
            grad.into_array_arg(),
            out.clone().into_array_arg(),
            width,
            backward,
        )
    };
    out
}

/// Where the windows of a conv over time read a channels-last input `[batch, time,
/// channels]`: `groups` groups of `group` channels, `kernel` taps, `stride` steps from frame
/// to frame, `pad` zeros before the input, `frames` windows per item. The windows are `[groups,
/// batch * frames, kernel * group]`: row `b * frames + f` of group `g` holds input time steps
/// `f * stride + j - pad` (`j < kernel`, 0 outside the input) of the group's channels. The
/// feature encoder's convs are one group without padding (a window is then a contiguous run
/// of the input); the positional conv is 16 groups, stride 1, half its kernel padded.
#[derive(Clone, Copy, Debug)]
struct Windows {
    batch: usize,
    time: usize,
    channels: usize,
    groups: usize,
    group: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    frames: usize,
}

impl Windows {
    /// Rows of the windows of one group: every frame of every item.
    fn rows(&self) -> usize {
        self.batch * self.frames
    }

    /// The unpadded single-group windows of [`Kernels::conv_windows`] over an input of `dims`.
    fn unpadded([batch, time, channels]: [usize; 3], kernel: usize, stride: usize) -> Self {
        let frames = super::composed::window_count(time, kernel, stride);
        Self { batch, time, channels, groups: 1, group: channels, kernel, stride, pad: 0, frames }
    }
}

/// The windows ([`Windows`]) of `input` into `out` (`backward` false), or the input's gradient
/// from the windows' gradient `input` into `out` (`backward` true): each input value gathers
/// the window values read from it, in frame order.
#[cube(launch_unchecked)]
fn windows_kernel(
    input: &Array<f32>,
    out: &mut Array<f32>,
    time: usize,
    channels: usize,
    group: usize,
    kernel: usize,
    stride: usize,
    pad: usize,
    frames: usize,
    rows: usize,
    #[comptime] backward: bool,
) {
    let len = out.len();
    let width = kernel * group;
    let grid = CUBE_COUNT * CUBE_DIM as usize;
    let mut i = ABSOLUTE_POS;
    while i < len {
        if comptime![backward] {
            let channel = i % channels;
            let step = (i / channels) % time + pad;
            let item = i / (channels * time);
            let (g, c) = (channel / group, channel % group);
            // Frames from the first whose window reaches `step` to the last that starts by it.
            let mut first = 0;
            if step + 1 > kernel {
                first = (step + 1 - kernel).div_ceil(stride);
            }
            let mut last = step / stride;
            if last > frames - 1 {
                last = frames - 1;
            }
            let mut sum = 0f32;
            let mut frame = first;
            while frame <= last {
                sum += input[(g * rows + item * frames + frame) * width + (step - frame * stride) * group + c];
                frame += 1;
            }
            out[i] = sum;
        } else {
            let g = i / (rows * width);
            let row = (i / width) % rows;
            let column = i % width;
            let step = (row % frames) * stride + column / group;
            let mut value = 0f32;
            if step >= pad && step < pad + time {
                value = input[((row / frames) * time + step - pad) * channels + g * group + column % group];
            }
            out[i] = value;
        }
        i += grid;
    }
}

/// [`windows_kernel`] in one launch, into a tensor of shape `out`: the windows of `x` (`[groups,
/// rows, kernel * group]`, or as many values in another shape), or, with `backward`, the
/// input's gradient (`[batch, time, channels]`) from the windows' gradient `x`.
fn windows<R: CubeRuntime>(x: CubeTensor<R>, sizes: Windows, out: Shape, backward: bool) -> CubeTensor<R> {
    let x = into_contiguous(x);
    let Windows { time, channels, group, kernel, stride, pad, frames, .. } = sizes;
    let out = empty_of(&x, out);
    let len = out.meta.shape().num_elements();
    let client = x.client.clone();
    // SAFETY: forward, `x` holds `batch * time * channels` contiguous values, read at time
    // steps inside `0..time` and channels below `groups * group = channels`; backward, `x`
    // holds `groups * batch * frames * kernel * group` values, read at frames below `frames`
    // and taps below `kernel`; the kernel writes `out`'s `len` values.
    unsafe {
        windows_kernel::launch_unchecked::<R>(
            &client,
            CubeCount::new_1d(cubes_for(len)),
            CubeDim::new_1d(CUBE_UNITS),
            x.into_array_arg(),
            out.clone().into_array_arg(),
            time,
            channels,
            group,
            kernel,
            stride,
            pad,
            frames,
            sizes.rows(),
            backward,
        )
    };
    out
}

/// [`Kernels::conv_windows`] in one launch: `[batch * frames, kernel * channels]`.
fn conv_windows<R: CubeRuntime>(x: CubeTensor<R>, kernel: usize, stride: usize) -> CubeTensor<R> {
    let sizes = Windows::unpadded(dims3(&x), kernel, stride);
    windows(x, sizes, [sizes.rows(), kernel * sizes.channels].into(), false)
}

/// [`Kernels::conv_windows_backward`] in one launch.
fn conv_windows_backward<R: CubeRuntime>(grad: CubeTensor<R>, dims: [usize; 3], kernel: usize, stride: usize) -> CubeTensor<R> {
    windows(grad, Windows::unpadded(dims, kernel, stride), dims.into(), true)
}

/// The three dimensions of a rank-3 tensor.
fn dims3<R: CubeRuntime>(x: &CubeTensor<R>) -> [usize; 3] {
    let shape = x.meta.shape();
    assert_eq!(shape.num_dims(), 3, "a [batch, time, channels] tensor");
    [shape[0], shape[1], shape[2]]
}

/// The windows of a stride-1 grouped conv over time ([`Kernels::grouped_conv1d`]) of `x` with
/// `weight` `[groups * group_out, group_in, kernel]`, and `group_out`.
fn grouped_windows_of<R: CubeRuntime>(
    x: &CubeTensor<R>,
    weight: &CubeTensor<R>,
    groups: usize,
    padding: [usize; 2],
) -> (Windows, usize) {
    let [batch, time, channels] = dims3(x);
    let [out, group, kernel] = dims3(weight);
    let frames = time + padding[0] + padding[1] + 1 - kernel;
    let sizes = Windows { batch, time, channels, groups, group, kernel, stride: 1, pad: padding[0], frames };
    (sizes, out / groups)
}

/// Each group's windows of `x`, `[groups, batch * frames, kernel * group]`.
fn grouped_windows<R: CubeRuntime>(x: CubeTensor<R>, sizes: Windows) -> CubeTensor<R> {
    windows(x, sizes, [sizes.groups, sizes.rows(), sizes.kernel * sizes.group].into(), false)
}

/// The weight `[groups * group_out, group_in, kernel]` as each group's matrix `[groups, kernel
/// * group_in, group_out]` (row `j * group_in + c`, as the windows' columns).
fn group_matrices<R: CubeRuntime, BT: BoolElement>(weight: CubeTensor<R>, sizes: Windows, group_out: usize) -> CubeTensor<R> {
    type B<R, BT> = CubeBackend<R, f32, i32, BT>;
    let Windows { groups, group: group_in, kernel, .. } = sizes;
    let w = B::<R, BT>::float_reshape(weight, [groups, group_out, group_in, kernel].into());
    let w = into_contiguous(B::<R, BT>::float_permute(w, &[0, 3, 2, 1]));
    B::<R, BT>::float_reshape(w, [groups, kernel * group_in, group_out].into())
}

/// [`Kernels::grouped_conv1d`] as the windows of each group times its weight matrix, on the
/// backend's (tensor-core) product: burn-cubecl 0.21 without autotune runs a grouped conv
/// with a direct kernel, its backward with a transposed direct conv and one weight-gradient
/// conv per group.
fn grouped_conv1d<R: CubeRuntime, BT: BoolElement>(
    x: CubeTensor<R>,
    weight: CubeTensor<R>,
    groups: usize,
    padding: [usize; 2],
) -> CubeTensor<R> {
    type B<R, BT> = CubeBackend<R, f32, i32, BT>;
    let (sizes, group_out) = grouped_windows_of(&x, &weight, groups, padding);
    let windows = grouped_windows(x, sizes);
    let y = B::<R, BT>::float_matmul(windows, group_matrices::<R, BT>(weight, sizes, group_out));
    // [groups, batch * frames, group_out] -> [batch, frames, groups * group_out]
    let y = B::<R, BT>::float_reshape(y, [groups, sizes.batch, sizes.frames, group_out].into());
    let y = into_contiguous(B::<R, BT>::float_permute(y, &[1, 2, 0, 3]));
    B::<R, BT>::float_reshape(y, [sizes.batch, sizes.frames, groups * group_out].into())
}

/// [`Kernels::grouped_conv1d_backward`]: the windows' gradient (the output's gradient times
/// each group's weight matrix, transposed) gathered back onto the input, and each group's
/// weight gradient as its windows (transposed) times the output's gradient.
fn grouped_conv1d_backward<R: CubeRuntime, BT: BoolElement>(
    x: CubeTensor<R>,
    weight: CubeTensor<R>,
    grad: CubeTensor<R>,
    groups: usize,
    padding: [usize; 2],
) -> [CubeTensor<R>; 2] {
    type B<R, BT> = CubeBackend<R, f32, i32, BT>;
    let (sizes, group_out) = grouped_windows_of(&x, &weight, groups, padding);
    let Windows { batch, frames, group: group_in, kernel, .. } = sizes;
    // [batch, frames, groups * group_out] -> [groups, batch * frames, group_out]
    let grad = B::<R, BT>::float_reshape(grad, [batch, frames, groups, group_out].into());
    let grad = into_contiguous(B::<R, BT>::float_permute(grad, &[2, 0, 1, 3]));
    let grad = B::<R, BT>::float_reshape(grad, [groups, sizes.rows(), group_out].into());
    let matrices = group_matrices::<R, BT>(weight, sizes, group_out);
    let windows_grad = B::<R, BT>::float_matmul(grad.clone(), B::<R, BT>::float_swap_dims(matrices, 1, 2));
    let dx = windows(windows_grad, sizes, [batch, sizes.time, sizes.channels].into(), true);
    let windows = grouped_windows(x, sizes);
    // [groups, kernel * group_in, group_out] -> the weight's [groups * group_out, group_in, kernel]
    let dw = B::<R, BT>::float_matmul(B::<R, BT>::float_swap_dims(windows, 1, 2), grad);
    let dw = B::<R, BT>::float_reshape(dw, [groups, kernel, group_in, group_out].into());
    let dw = into_contiguous(B::<R, BT>::float_permute(dw, &[0, 3, 2, 1]));
    [dx, B::<R, BT>::float_reshape(dw, [groups * group_out, group_in, kernel].into())]
}
