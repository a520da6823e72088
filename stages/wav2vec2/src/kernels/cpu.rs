//! The element-wise math, vectorized by the compiler for the widest SIMD the CPU has.

/// Calls the `#[inline(always)]` loop `$f` compiled for AVX-512 or AVX2 + FMA when the CPU
/// has them, else as built. No floating-point contraction either way, so every path gives
/// the same bits.
macro_rules! widest {
    ($f:ident($($arg:ident: $ty:ty),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
            fn avx512($($arg: $ty),*) {
                $f($($arg),*)
            }
            #[target_feature(enable = "avx2,fma")]
            fn avx2($($arg: $ty),*) {
                $f($($arg),*)
            }
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512vl")
            {
                // SAFETY: the CPU has the features `avx512` is compiled for.
                return unsafe { avx512($($arg),*) };
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: the CPU has the features `avx2` is compiled for.
                return unsafe { avx2($($arg),*) };
            }
        }
        $f($($arg),*)
    }};
}
pub(super) use widest;

/// `out = gelu(x)`.
pub(super) fn gelu(x: &[f32], _: Option<&[f32]>, out: &mut [f32]) {
    widest!(gelu_loop(x: &[f32], out: &mut [f32]))
}

/// `out = grad * gelu'(x)`.
pub(super) fn gelu_backward(x: &[f32], grad: Option<&[f32]>, out: &mut [f32]) {
    let grad = grad.expect("gelu_backward takes the incoming gradient");
    widest!(gelu_backward_loop(x: &[f32], grad: &[f32], out: &mut [f32]))
}

/// Softmax of each row of `x` (rows of `n`) into `out`.
pub(super) fn softmax_rows(x: &[f32], _: Option<&[f32]>, out: &mut [f32], n: usize) {
    widest!(softmax_loop(x: &[f32], out: &mut [f32], n: usize))
}

/// `y (grad - Σ grad y)` for each row (of `n`) of the softmax output `y`, into `out`.
pub(super) fn softmax_backward_rows(
    y: &[f32],
    grad: Option<&[f32]>,
    out: &mut [f32],
    n: usize,
) {
    let grad = grad.expect("softmax_backward takes the incoming gradient");
    widest!(softmax_backward_loop(y: &[f32], grad: &[f32], out: &mut [f32], n: usize))
}

/// One query's scores `row` into its attention probabilities, in place: `gate * bias` added
/// (`(gate, bias row)`), keys with `valid` below 0.5 filled with `f32::MIN` (as the
/// composed path's mask fill), then the softmax.
pub(super) fn attention_probabilities(row: &mut [f32], gated: Option<(f32, &[f32])>, valid: Option<&[f32]>) {
    widest!(probabilities_loop(row: &mut [f32], gated: Option<(f32, &[f32])>, valid: Option<&[f32]>))
}

#[inline(always)]
fn probabilities_loop(row: &mut [f32], gated: Option<(f32, &[f32])>, valid: Option<&[f32]>) {
    if let Some((gate, bias)) = gated {
        for (s, &b) in row.iter_mut().zip(bias) {
            *s += gate * b;
        }
    }
    if let Some(valid) = valid {
        for (s, &v) in row.iter_mut().zip(valid) {
            *s = if v < 0.5 { f32::MIN } else { *s };
        }
    }
    softmax_row(row);
}

#[inline(always)]
fn softmax_loop(x: &[f32], out: &mut [f32], n: usize) {
    for (x, out) in x.chunks_exact(n).zip(out.chunks_exact_mut(n)) {
        out.copy_from_slice(x);
        softmax_row(out);
    }
}

/// Lanes of the softmax's max and sum: independent partial results that vectorize,
/// combined in a fixed order, so every path and thread count gives the same bits.
const LANES: usize = 16;

/// The softmax of `row`, in place. The exponentials run in their own loop (a running sum
/// beside them kept the loop scalar), the sum over [`LANES`] partial sums.
#[inline(always)]
fn softmax_row(row: &mut [f32]) {
    let mut lanes = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    for (lane, &v) in lanes.iter_mut().zip(chunks.remainder()) {
        *lane = v;
    }
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = lane.max(v);
        }
    }
    let max = lanes.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for v in row.iter_mut() {
        *v = exp(*v - max);
    }
    let scale = 1.0 / lane_sum(row);
    for v in row.iter_mut() {
        *v *= scale;
    }
}

#[inline(always)]
fn softmax_backward_loop(y: &[f32], grad: &[f32], out: &mut [f32], n: usize) {
    let rows = y.chunks_exact(n).zip(grad.chunks_exact(n)).zip(out.chunks_exact_mut(n));
    for ((y, grad), out) in rows {
        out.copy_from_slice(grad);
        softmax_backward_row(y, out);
    }
}

/// The softmax's gradient for one row, in place: `grad` becomes `y (grad - Σ grad y)`.
#[inline(always)]
fn softmax_backward_row(y: &[f32], grad: &mut [f32]) {
    let dot = lane_dot(y, grad);
    for (g, &y) in grad.iter_mut().zip(y) {
        *g = y * (*g - dot);
    }
}

/// [`super::attention`]'s backward step from one query's gradient of the probabilities
/// after dropout (`row`, in place) to that of its scores: back through the dropout
/// (`(keep, factor)`), the softmax of `probs`, and the key mask (zero at keys with `valid`
/// below 0.5), as the composed operations' backward steps do.
pub(super) fn attention_scores_gradient(
    row: &mut [f32],
    probs: &[f32],
    keep: Option<(&[f32], f32)>,
    valid: Option<&[f32]>,
) {
    widest!(scores_gradient_loop(row: &mut [f32], probs: &[f32], keep: Option<(&[f32], f32)>, valid: Option<&[f32]>))
}

#[inline(always)]
fn scores_gradient_loop(row: &mut [f32], probs: &[f32], keep: Option<(&[f32], f32)>, valid: Option<&[f32]>) {
    if let Some((keep, factor)) = keep {
        for (g, &keep) in row.iter_mut().zip(keep) {
            *g = *g * factor * keep;
        }
    }
    softmax_backward_row(probs, row);
    if let Some(valid) = valid {
        for (g, &v) in row.iter_mut().zip(valid) {
            *g = if v < 0.5 { 0.0 } else { *g };
        }
    }
}

/// `Σ x`, over [`LANES`] partial sums combined in order.
#[inline(always)]
fn lane_sum(x: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    for (lane, &v) in lanes.iter_mut().zip(chunks.remainder()) {
        *lane = v;
    }
    for chunk in chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += v;
        }
    }
    lanes.iter().sum()
}

/// `Σ a b`, over [`LANES`] partial sums combined in order.
#[inline(always)]
fn lane_dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for ((lane, &a), &b) in lanes.iter_mut().zip(a_chunks.remainder()).zip(b_chunks.remainder()) {
        *lane = a * b;
    }
    for (a, b) in a_chunks.zip(b_chunks) {
        for ((lane, &a), &b) in lanes.iter_mut().zip(a).zip(b) {
            *lane += a * b;
        }
    }
    lanes.iter().sum()
}

#[inline(always)]
fn gelu_loop(x: &[f32], out: &mut [f32]) {
    for (o, &x) in out.iter_mut().zip(x) {
        *o = x * normal_cdf(x);
    }
}

#[inline(always)]
fn gelu_backward_loop(x: &[f32], grad: &[f32], out: &mut [f32]) {
    for ((o, &x), &g) in out.iter_mut().zip(x).zip(grad) {
        *o = g * gelu_derivative(x);
    }
}

/// `d/dx gelu(x) = Φ(x) + x φ(x)`.
#[inline(always)]
fn gelu_derivative(x: f32) -> f32 {
    normal_cdf(x) + x * super::FRAC_1_SQRT_2PI * exp(-0.5 * x * x)
}

/// The standard normal CDF `Φ(x) = (1 + erf(x / sqrt 2)) / 2`; `gelu(x) = x Φ(x)`.
#[inline(always)]
fn normal_cdf(x: f32) -> f32 {
    0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf for f32, branch-free: `x P(x^2) / Q(x^2)` with the coefficients of TensorFlow/XLA's
/// `ErfImpl32` (max abs error 4.2e-7), and exactly ±1 from |x| = 3.86 on, where erf
/// rounds to ±1 in f32 (so that gelu of a large negative input is 0, not a rounding
/// residue times the input).
#[inline(always)]
pub(super) fn erf(x: f32) -> f32 {
    let saturated = x.abs() >= 3.86;
    let x = x.clamp(-3.86, 3.86);
    let x2 = x * x;
    let p = [
        -2.726_142_3e-10,
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_6e-3,
        -1.609_603_3e-2,
    ]
    .into_iter()
    .fold(0.0f32, |acc, c| acc * x2 + c);
    let q = [-1.456_607_2e-5, -2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2]
        .into_iter()
        .fold(0.0f32, |acc, c| acc * x2 + c);
    if saturated { 1f32.copysign(x) } else { x * p / q }
}

/// `e^x` for `x <= 0`, branch-free (Cephes `expf`: `x = n ln 2 + r`, a degree-6
/// polynomial in `r`, `2^n` from the exponent bits); inputs below -87 give `e^-87`. `n` is
/// rounded by adding 1.5 * 2^23, which leaves it in the low bits of the sum, so no
/// float-to-int conversion (with its NaN branch) keeps the loop from vectorizing.
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const SHIFT: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 0.0);
    let shifted = x * std::f32::consts::LOG2_E + SHIFT;
    let n = shifted - SHIFT;
    let two_to_n = f32::from_bits(shifted.to_bits().wrapping_sub(SHIFT.to_bits() - 127) << 23);
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = [1.987_569_1e-4, 1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5]
        .into_iter()
        .fold(0.0f32, |acc, c| acc * r + c);
    let e = p * r * r + r + 1.0;
    e * two_to_n
}
