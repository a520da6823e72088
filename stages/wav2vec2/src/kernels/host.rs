//! vox's kernels on the float tensors of the CPU backends (flex and ndarray): contiguous f32
//! values in, a fresh contiguous f32 tensor out. Functions that return an `Option` give
//! `None` (and [`all_f32`] `false`) for what they do not compute, other dtypes first, which
//! the callers hand to burn's operations.

use rayon::prelude::*;

use super::AttentionInputs;
use super::attention_ops::kept_scale;
use super::attention::{Dims, Dropout, Operands};
use super::grouped_conv::GroupedConv1d;
use super::zeros::zeros;

/// A CPU backend's float tensor, as vox's kernels read and write it.
pub(super) trait HostTensor: Sized {
    /// Whether it holds f32 values.
    fn is_f32(&self) -> bool;
    /// Its shape.
    fn dims(&self) -> Vec<usize>;
    /// The same f32 values laid out contiguously in row-major order (itself, shared, when
    /// they already are).
    fn contiguous(&self) -> Self;
    /// The values of a tensor from [`HostTensor::contiguous`].
    fn values(&self) -> &[f32];
    /// Its values in row-major order where it holds them so, as f32 (any offset into its
    /// buffer, shared or not); `None` for other dtypes and other layouts.
    fn laid_out(&self) -> Option<&[f32]>;
    /// A 2-D f32 tensor with non-negative strides as a matrix view.
    #[cfg(target_arch = "x86_64")]
    fn matrix(&self) -> Option<super::sgemm::MatRef<'_>>;
    /// Its values to write in place: `Some` when it holds f32 values contiguously in row-major
    /// order from its buffer's start and shares that buffer with no other tensor.
    fn values_mut(&mut self) -> Option<&mut [f32]>;
    /// A fresh f32 tensor of `shape` from its row-major values.
    fn from_values(values: Vec<f32>, shape: &[usize]) -> Self;
    /// Whether vox's sgemm computes a product `depth` deep and `width` wide, rather than the
    /// backend's own.
    fn sgemm_for(depth: usize, width: usize) -> bool;
}

#[cfg(feature = "flex")]
impl HostTensor for burn_flex::FlexTensor {
    fn is_f32(&self) -> bool {
        self.dtype() == burn::tensor::DType::F32
    }

    fn dims(&self) -> Vec<usize> {
        self.layout().shape().to_vec()
    }

    /// A large strided f32 view is copied in parallel ([`strided_copy`]); burn-flex's
    /// `to_contiguous` walks it element by element on one thread.
    fn contiguous(&self) -> Self {
        let layout = self.layout();
        if layout.is_contiguous() || !self.is_f32() || layout.num_elements() < CHUNK {
            return self.to_contiguous();
        }
        let shape = layout.shape().to_vec();
        let values = strided_copy(self.storage::<f32>(), layout.start_offset(), &shape, layout.strides());
        Self::from_values(values, &shape)
    }

    fn values(&self) -> &[f32] {
        self.storage::<f32>()
    }

    fn laid_out(&self) -> Option<&[f32]> {
        let layout = self.layout();
        let start = layout.start_offset();
        match self.is_f32() && layout.is_contiguous() {
            true => self.storage::<f32>().get(start..start + layout.num_elements()),
            false => None,
        }
    }

    #[cfg(target_arch = "x86_64")]
    fn matrix(&self) -> Option<super::sgemm::MatRef<'_>> {
        let layout = self.layout();
        let (shape, strides) = (layout.shape(), layout.strides());
        if !self.is_f32() || shape.num_dims() != 2 || strides.iter().any(|&s| s < 0) {
            return None;
        }
        let data = &self.storage::<f32>()[layout.start_offset()..];
        Some(super::sgemm::MatRef::new(data, shape[0], shape[1], strides[0] as usize, strides[1] as usize))
    }

    fn values_mut(&mut self) -> Option<&mut [f32]> {
        let layout = self.layout();
        let whole = layout.is_contiguous()
            && layout.start_offset() == 0
            && self.bytes().len() == layout.num_elements() * size_of::<f32>();
        match whole && self.is_f32() {
            true => self.try_storage_mut::<f32>(),
            false => None,
        }
    }

    fn from_values(values: Vec<f32>, shape: &[usize]) -> Self {
        let layout = burn_flex::Layout::contiguous(burn::tensor::Shape::from(shape.to_vec()));
        Self::new(burn::tensor::Bytes::from_elems(values), layout, burn::tensor::DType::F32)
    }

    /// At least [`MIN_DEPTH`](super::sgemm::MIN_DEPTH) deep and
    /// [`MIN_WIDTH`](super::sgemm::MIN_WIDTH) wide: below, gemm's unpacked kernels win.
    fn sgemm_for(depth: usize, width: usize) -> bool {
        #[cfg(target_arch = "x86_64")]
        return depth >= super::sgemm::MIN_DEPTH && width >= super::sgemm::MIN_WIDTH;
        #[cfg(not(target_arch = "x86_64"))]
        false
    }
}

impl HostTensor for burn_ndarray::NdArrayTensor {
    fn is_f32(&self) -> bool {
        matches!(self, Self::F32(_))
    }

    fn dims(&self) -> Vec<usize> {
        burn::tensor::TensorMetadata::shape(self).to_vec()
    }

    fn contiguous(&self) -> Self {
        let Self::F32(storage) = self else { panic!("callers check `all_f32`") };
        let view = storage.view();
        match view.is_standard_layout() {
            true => self.clone(),
            false => Self::from(view.as_standard_layout().into_owned().into_shared()),
        }
    }

    fn values(&self) -> &[f32] {
        let Self::F32(storage) = self else { panic!("callers check `all_f32`") };
        storage.view().to_slice().expect("a tensor from `contiguous`")
    }

    fn laid_out(&self) -> Option<&[f32]> {
        let Self::F32(storage) = self else { return None };
        // Borrowed storage is laid out in row-major order by construction.
        storage.view().to_slice()
    }

    #[cfg(target_arch = "x86_64")]
    fn matrix(&self) -> Option<super::sgemm::MatRef<'_>> {
        let Self::F32(storage) = self else { return None };
        let view = storage.view();
        let strides = view.strides();
        if view.ndim() != 2 || strides.iter().any(|&s| s < 0) || view.is_empty() {
            return None;
        }
        let (rows, cols) = (view.shape()[0], view.shape()[1]);
        let (row_stride, col_stride) = (strides[0] as usize, strides[1] as usize);
        let len = (rows - 1) * row_stride + (cols - 1) * col_stride + 1;
        // SAFETY: every element of the view lies in `len` values from its first one (strides
        // non-negative), all inside the array's allocation, which `self` keeps alive.
        let data = unsafe { std::slice::from_raw_parts(view.as_ptr(), len) };
        Some(super::sgemm::MatRef::new(data, rows, cols, row_stride, col_stride))
    }

    fn values_mut(&mut self) -> Option<&mut [f32]> {
        match self {
            // Unique storage is owned (borrowed storage never is), so this copies nothing.
            Self::F32(storage) if storage.is_unique() => {
                let array = storage.ensure_owned();
                match array.is_standard_layout() {
                    true => array.as_slice_mut(),
                    false => None,
                }
            }
            _ => None,
        }
    }

    fn from_values(values: Vec<f32>, shape: &[usize]) -> Self {
        let array = ndarray::ArcArray::from_shape_vec(ndarray::IxDyn(shape), values)
            .expect("as many values as the shape holds");
        Self::from(array)
    }

    /// Every product: ndarray's matrixmultiply packs both operands as vox's sgemm does, and
    /// is slower on the thin ones too.
    fn sgemm_for(_: usize, _: usize) -> bool {
        true
    }
}

/// The values of the view of `data` from `start` with `shape` and `strides` (in elements, any
/// sign) in row-major order: runs of whole rows of the last dimension in parallel, each row's
/// start found from its index.
fn strided_copy(data: &[f32], start: usize, shape: &[usize], strides: &[isize]) -> Vec<f32> {
    let len: usize = shape.iter().product();
    let (Some(&row), Some(&step)) = (shape.last(), strides.last()) else {
        return data[start..start + len].to_vec();
    };
    if len == 0 {
        return Vec::new();
    }
    let outer = &shape[..shape.len() - 1];
    let rows_per_task = rows_per_task(len / row, row);
    let mut out = zeros(len);
    out.par_chunks_mut(row * rows_per_task).enumerate().for_each(|(task, rows)| {
        for (i, out) in rows.chunks_mut(row).enumerate() {
            // The row's index in each outer dimension, last first.
            let (mut index, mut at) = (task * rows_per_task + i, start as isize);
            for (&size, &stride) in outer.iter().zip(strides).rev() {
                at += (index % size) as isize * stride;
                index /= size;
            }
            match step {
                1 => out.copy_from_slice(&data[at as usize..][..row]),
                _ => {
                    for (j, o) in out.iter_mut().enumerate() {
                        *o = data[(at + j as isize * step) as usize];
                    }
                }
            }
        }
    });
    out
}

/// Elements per rayon task: large enough to amortize scheduling, small enough to balance
/// two to sixteen threads on a conv layer's activations.
const CHUNK: usize = 1 << 15;

/// Rows of `row_len` values per task of an element-wise pass over `rows` rows: about
/// [`CHUNK`] values, but at least [`TASKS_PER_THREAD`] tasks per thread where there are rows
/// enough. 32 K values alone made 19 tasks of an encoder activation (792 x 768) for 16
/// threads, so three threads took two and the pass ran 59% busy. Element-wise results do not
/// depend on the split.
fn rows_per_task(rows: usize, row_len: usize) -> usize {
    let by_size = CHUNK / row_len.max(1);
    let by_threads = rows.div_ceil(TASKS_PER_THREAD * rayon::current_num_threads().max(1));
    by_size.min(by_threads).max(1)
}

/// See [`rows_per_task`].
const TASKS_PER_THREAD: usize = 4;

/// `kernel(x, other, out)` element-wise over `x` (and `other`, of the same shape) in parallel
/// chunks; `None` for dtypes other than f32 or mismatched shapes, which the caller hands to
/// burn.
pub(super) fn map<T: HostTensor>(
    x: &T,
    other: Option<&T>,
    kernel: fn(&[f32], Option<&[f32]>, &mut [f32]),
) -> Option<T> {
    rows_map(x, other, |x, other, out, _| kernel(x, other, out))
}

/// `kernel(rows of x, rows of other, out, row length)` over runs of whole rows of the last
/// dimension of `x` (and `other`, of the same shape) in parallel; `None` for dtypes other than
/// f32 or mismatched shapes, which the caller hands to burn.
pub(super) fn rows_map<T: HostTensor>(
    x: &T,
    other: Option<&T>,
    kernel: impl Fn(&[f32], Option<&[f32]>, &mut [f32], usize) + Sync,
) -> Option<T> {
    if !all_f32(&[x]) || other.is_some_and(|o| !all_f32(&[o])) {
        return None;
    }
    let shape = x.dims();
    let row = *shape.last()?;
    if other.is_some_and(|o| o.dims() != shape) || row == 0 {
        return None;
    }
    let x = x.contiguous();
    let other = other.map(T::contiguous);
    let (input, second) = (x.values(), other.as_ref().map(T::values));
    let rows_per_task = rows_per_task(input.len() / row, row);
    let mut out = zeros(input.len());
    out.par_chunks_mut(row * rows_per_task).enumerate().for_each(|(i, out)| {
        let range = i * row * rows_per_task..i * row * rows_per_task + out.len();
        kernel(&input[range.clone()], second.map(|s| &s[range]), out, row);
    });
    Some(T::from_values(out, &shape))
}

/// `a * b` with vox's [`crate::kernels::sgemm`] for 2-D f32 operands with non-negative
/// strides on a CPU with AVX-512, of the sizes the backend leaves to it
/// ([`HostTensor::sgemm_for`]); `None` otherwise, for burn's product.
pub(super) fn sgemm<T: HostTensor>(a: &T, b: &T) -> Option<T> {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::kernels::sgemm;
        if !sgemm::available() || !all_f32(&[a, b]) {
            return None;
        }
        let (a, b) = (a.matrix()?, b.matrix()?);
        if a.cols != b.rows || !T::sgemm_for(a.cols, b.cols) {
            return None;
        }
        let shape = [a.rows, b.cols];
        Some(T::from_values(sgemm::sgemm(a, b), &shape))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (a, b);
        None
    }
}

/// Channels per task of the over-time reductions: 64 f32 (four cache lines) of each row.
const CHANNEL_BLOCK: usize = 64;

/// Per `(batch, channel)` statistics over time: the mean, the reciprocal standard
/// deviation, and (for the backward) `Σ_t grad` and `Σ_t grad x̂`.
#[derive(Clone, Copy, Default)]
struct ChannelStats {
    mean: f64,
    rstd: f64,
    grad_sum: f64,
    grad_normalized_sum: f64,
}

/// `[batch, time, channels]` of a tensor.
fn dims3<T: HostTensor>(x: &T) -> [usize; 3] {
    let shape = x.dims();
    assert_eq!(shape.len(), 3, "expected [batch, time, channels], got {shape:?}");
    [shape[0], shape[1], shape[2]]
}

/// The statistics of every `(batch, channel)` of `x` (and of `grad`, when given), in
/// parallel over batch items and blocks of channels; `[batch * channels]`.
fn channel_stats(
    x: &[f32],
    grad: Option<&[f32]>,
    [batch, time, channels]: [usize; 3],
    epsilon: f64,
) -> Vec<ChannelStats> {
    let blocks = channels.div_ceil(CHANNEL_BLOCK);
    let per_task: Vec<Vec<ChannelStats>> = (0..batch * blocks)
        .into_par_iter()
        .map(|task| {
            let first = task % blocks * CHANNEL_BLOCK;
            let block = Block { item: task / blocks, time, channels, first };
            block.stats(x, grad, CHANNEL_BLOCK.min(channels - first), epsilon)
        })
        .collect();
    per_task.concat()
}

/// Channels `first..` of batch item `item` of a `[batch, time, channels]` tensor.
struct Block {
    item: usize,
    time: usize,
    channels: usize,
    first: usize,
}

impl Block {
    /// The block's `width` channels of each time step of `data`.
    fn rows<'a>(&self, data: &'a [f32], width: usize) -> impl Iterator<Item = &'a [f32]> {
        let (item, time, channels, first) = (self.item, self.time, self.channels, self.first);
        (0..time).map(move |t| &data[(item * time + t) * channels + first..][..width])
    }

    /// [`ChannelStats`] of the block's `width` channels, in one pass: f64 sums of `d = x -
    /// shift` (the first time step, so that the variance `E[d²] - E[d]²` does not cancel
    /// away), `d²`, `grad` and `grad d` (`Σ grad x̂ = rstd (Σ grad d - E[d] Σ grad)`).
    fn stats(
        &self,
        x: &[f32],
        grad: Option<&[f32]>,
        width: usize,
        epsilon: f64,
    ) -> Vec<ChannelStats> {
        let mut shift = [0f64; CHANNEL_BLOCK];
        if let Some(first) = self.rows(x, width).next() {
            for (s, &v) in shift.iter_mut().zip(first) {
                *s = v as f64;
            }
        }
        let shift = &shift[..width];
        let [mut sum, mut squares, mut grad_sum, mut grad_sum_d] = [[0f64; CHANNEL_BLOCK]; 4];
        let (sum, squares) = (&mut sum[..width], &mut squares[..width]);
        let (grad_sum, grad_sum_d) = (&mut grad_sum[..width], &mut grad_sum_d[..width]);
        match grad {
            None => {
                for row in self.rows(x, width) {
                    let sums = sum.iter_mut().zip(squares.iter_mut());
                    for ((s, q), (&v, &c)) in sums.zip(row.iter().zip(shift)) {
                        let d = v as f64 - c;
                        *s += d;
                        *q += d * d;
                    }
                }
            }
            Some(grad) => {
                for (row, grad_row) in self.rows(x, width).zip(self.rows(grad, width)) {
                    let sums = sum.iter_mut().zip(squares.iter_mut());
                    let grad_sums = grad_sum.iter_mut().zip(grad_sum_d.iter_mut());
                    let values = row.iter().zip(grad_row).zip(shift);
                    let all = sums.zip(grad_sums).zip(values);
                    for (((s, q), (gs, gd)), ((&v, &g), &c)) in all {
                        let (d, g) = (v as f64 - c, g as f64);
                        *s += d;
                        *q += d * d;
                        *gs += g;
                        *gd += g * d;
                    }
                }
            }
        }
        let time = self.time as f64;
        (0..width)
            .map(|c| {
                let mean_d = sum[c] / time;
                let variance = (squares[c] / time - mean_d * mean_d).max(0.0);
                let rstd = 1.0 / (variance + epsilon).sqrt();
                ChannelStats {
                    mean: shift[c] + mean_d,
                    rstd,
                    grad_sum: grad_sum[c],
                    grad_normalized_sum: rstd * (grad_sum_d[c] - mean_d * grad_sum[c]),
                }
            })
            .collect()
    }
}

/// Whether every tensor holds f32, the one dtype of vox's kernels (others go through burn's
/// operations).
pub(super) fn all_f32<T: HostTensor>(tensors: &[&T]) -> bool {
    tensors.iter().all(|t| t.is_f32())
}

/// A fresh `shape` tensor whose rows of `row_len` elements `fill(row index, row)` fills,
/// in parallel over runs of rows ([`rows_per_task`]).
fn by_rows<T: HostTensor>(
    shape: &[usize],
    row_len: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync,
) -> T {
    let len: usize = shape.iter().product();
    let mut out = zeros(len);
    let rows_per_task = rows_per_task(len / row_len.max(1), row_len);
    out.par_chunks_mut(row_len * rows_per_task).enumerate().for_each(|(task, rows)| {
        for (i, row) in rows.chunks_mut(row_len).enumerate() {
            fill(task * rows_per_task + i, row);
        }
    });
    T::from_values(out, shape)
}

/// The shape of [`super::Kernels::grouped_conv1d`] of `x` with `weight` when vox's kernel
/// computes it (f32 operands of matching shapes, see [`GroupedConv1d::supported`]).
pub(super) fn grouped_conv<T: HostTensor>(
    x: &T,
    weight: &T,
    groups: usize,
    padding: [usize; 2],
) -> Option<GroupedConv1d> {
    let (shape, taps) = (x.dims(), weight.dims());
    if !all_f32(&[x, weight]) || shape.len() != 3 || taps.len() != 3 {
        return None;
    }
    let [batch, time, channels] = [shape[0], shape[1], shape[2]];
    let conv = GroupedConv1d { batch, time, channels, groups, kernel: taps[2], padding };
    let matches = taps[0] == channels && groups > 0 && taps[1] * groups == channels;
    (matches && conv.supported()).then_some(conv)
}

/// The forward of [`super::Kernels::grouped_conv1d`].
pub(super) fn grouped_conv1d<T: HostTensor>(conv: &GroupedConv1d, x: &T, weight: &T) -> T {
    let (x, weight) = (x.contiguous(), weight.contiguous());
    let out = conv.forward(x.values(), weight.values());
    T::from_values(out, &[conv.batch, conv.frames(), conv.channels])
}

/// The backward of [`super::Kernels::grouped_conv1d`]: `[dx, dweight]`.
pub(super) fn grouped_conv1d_backward<T: HostTensor>(
    conv: &GroupedConv1d,
    x: &T,
    weight: &T,
    grad: &T,
) -> [T; 2] {
    let (x, weight, grad) = (x.contiguous(), weight.contiguous(), grad.contiguous());
    let (dx, dweight) = conv.backward(x.values(), weight.values(), grad.values());
    [T::from_values(dx, &x.dims()), T::from_values(dweight, &weight.dims())]
}

/// The forward of [`super::Kernels::conv_windows`]: each window is one contiguous run of
/// the channels-last input.
pub(super) fn conv_windows<T: HostTensor>(x: &T, kernel: usize, stride: usize) -> T {
    let [batch, time, channels] = dims3(x);
    let frames = super::composed::window_count(time, kernel, stride);
    let x = x.contiguous();
    let input = x.values();
    let width = kernel * channels;
    by_rows(&[batch * frames, width], width, |row, out| {
        let (item, frame) = (row / frames, row % frames);
        out.copy_from_slice(&input[(item * time + frame * stride) * channels..][..width]);
    })
}

/// [`super::Kernels::conv_as_matmul`] with vox's sgemm reading the windows from `x` in place:
/// row `b * frames + f` of the windows starts at time step `f * stride` of item `b`, so they
/// are a view in blocks of `frames` rows, `stride * in` apart within a block and `time * in`
/// from block to block. `None` where [`sgemm`] would leave the product to burn.
pub(super) fn conv_as_matmul<T: HostTensor>(x: &T, weight: &T, kernel: usize, stride: usize) -> Option<T> {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::kernels::sgemm;
        if !sgemm::available() || !all_f32(&[x, weight]) || x.dims().len() != 3 {
            return None;
        }
        let [batch, time, channels] = dims3(x);
        let b = weight.matrix()?;
        // Thin windows too (the first conv's, `kernel` values deep): burn-flex's product ran
        // them on one thread, a large part of what one of two threads did alone in a base
        // step; with sgemm's the feature encoder's inference forward is a little faster on 1
        // and 2 threads, with the same bits (each value sums its `kernel` products in order
        // either way). Measured: BENCHMARKS-wav2vec2.md, section "Measurements behind the
        // code's choices".
        let wide = b.cols >= sgemm::MIN_WIDTH;
        if time < kernel || stride == 0 || b.rows != kernel * channels || !(T::sgemm_for(b.rows, b.cols) || wide) {
            return None;
        }
        let frames = super::composed::window_count(time, kernel, stride);
        let x = x.contiguous();
        let a = sgemm::MatRef::new(x.values(), batch * frames, b.rows, stride * channels, 1)
            .in_blocks(frames, time * channels);
        Some(T::from_values(sgemm::sgemm(a, b), &[batch * frames, b.cols]))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (x, weight, kernel, stride);
        None
    }
}

/// The backward of [`super::Kernels::conv_windows`]: time step `t` of item `b` sums the
/// gradients of the windows that read it, in order of their frames.
pub(super) fn conv_windows_backward<T: HostTensor>(
    grad: &T,
    [batch, time, channels]: [usize; 3],
    kernel: usize,
    stride: usize,
) -> T {
    let frames = super::composed::window_count(time, kernel, stride);
    let grad = grad.contiguous();
    let windows = grad.values();
    let width = kernel * channels;
    by_rows(&[batch, time, channels], channels, |row, out| {
        let (item, step) = (row / time, row % time);
        let first = (step + 1).saturating_sub(kernel).div_ceil(stride);
        for frame in first..frames.min(step / stride + 1) {
            let tap = step - frame * stride;
            let window = &windows[(item * frames + frame) * width + tap * channels..];
            for (o, &g) in out.iter_mut().zip(&window[..channels]) {
                *o += g;
            }
        }
    })
}

/// Per `(batch item, channel)` coefficients `[a, b, c]` (each `[batch * channels]`) of
/// `coefficient(stats, channel)`.
fn coefficients<const N: usize>(
    stats: &[ChannelStats],
    channels: usize,
    coefficient: impl Fn(&ChannelStats, usize) -> [f64; N],
) -> [Vec<f32>; N] {
    let mut out = std::array::from_fn(|_| Vec::with_capacity(stats.len()));
    for (i, s) in stats.iter().enumerate() {
        for (values, v) in out.iter_mut().zip(coefficient(s, i % channels)) {
            values.push(v as f32);
        }
    }
    out
}

/// The forward of [`super::Kernels::group_norm_over_time`]: `x scale + offset` per
/// `(batch item, channel)`, `scale = rstd gamma`, `offset = beta - mean scale`.
pub(super) fn group_norm_over_time<T: HostTensor>(
    x: &T,
    gamma: &T,
    beta: &T,
    epsilon: f64,
) -> T {
    let dims @ [_, time, channels] = dims3(x);
    let (x, gamma, beta) = (x.contiguous(), gamma.contiguous(), beta.contiguous());
    let (input, gamma, beta) = (x.values(), gamma.values(), beta.values());
    let stats = channel_stats(input, None, dims, epsilon);
    let [scale, offset] = coefficients(&stats, channels, |s, c| {
        let scale = s.rstd * gamma[c] as f64;
        [scale, beta[c] as f64 - s.mean * scale]
    });
    by_rows(&dims, channels, |row, out| {
        let at = row / time * channels;
        let coefficients = scale[at..][..channels].iter().zip(&offset[at..][..channels]);
        let input = &input[row * channels..][..channels];
        for ((o, &x), (&scale, &offset)) in out.iter_mut().zip(input).zip(coefficients) {
            *o = x * scale + offset;
        }
    })
}

/// The backward of [`super::Kernels::group_norm_over_time`]: `[dx, dgamma, dbeta]`, with
/// `dx = rstd gamma (grad - mean grad - x̂ mean(grad x̂))` as `a grad + b x + c` per `(batch
/// item, channel)`.
pub(super) fn group_norm_over_time_backward<T: HostTensor>(
    x: &T,
    gamma: &T,
    grad: &T,
    epsilon: f64,
) -> [T; 3] {
    let dims @ [batch, time, channels] = dims3(x);
    let (x, gamma, grad) = (x.contiguous(), gamma.contiguous(), grad.contiguous());
    let (input, gamma_values, grad_values) = (x.values(), gamma.values(), grad.values());
    let stats = channel_stats(input, Some(grad_values), dims, epsilon);
    let steps = time as f64;
    let [a, b, c] = coefficients(&stats, channels, |s, channel| {
        let a = s.rstd * gamma_values[channel] as f64;
        let b = -a * s.rstd * s.grad_normalized_sum / steps;
        [a, b, -a * s.grad_sum / steps - b * s.mean]
    });
    let dx = by_rows(&dims, channels, |row, out| {
        let at = row / time * channels;
        let (a, b, c) = (&a[at..][..channels], &b[at..][..channels], &c[at..][..channels]);
        let input = &input[row * channels..][..channels];
        let grad = &grad_values[row * channels..][..channels];
        let values = input.iter().zip(grad);
        let coefficients = a.iter().zip(b).zip(c);
        for ((o, (&x, &g)), ((&a, &b), &c)) in out.iter_mut().zip(values).zip(coefficients) {
            *o = a * g + b * x + c;
        }
    });
    let over_batch = |field: fn(&ChannelStats) -> f64| {
        let sums = (0..channels)
            .map(|c| (0..batch).map(|b| field(&stats[b * channels + c])).sum::<f64>() as f32)
            .collect();
        T::from_values(sums, &gamma.dims())
    };
    [dx, over_batch(|s| s.grad_normalized_sum), over_batch(|s| s.grad_sum)]
}

/// Whether vox's kernel computes [`super::Kernels::add_gated_bias`] (or its backward) for
/// `scores` (or its gradient) `[batch, heads, frames, keys]`, `gate` `[batch, heads, frames]` and
/// `bias` `[heads, frames, keys]`, all f32.
pub(super) fn gated_bias_shapes<T: HostTensor>(scores: &T, gate: &T, bias: &T) -> bool {
    let (s, g, b) = (scores.dims(), gate.dims(), bias.dims());
    all_f32(&[scores, gate, bias]) && s.len() == 4 && g.len() == 3 && b.len() == 3
        && g == s[..3] && b == s[1..]
}

/// The sizes of attention of `x` when [`super::attention`]'s kernel computes it (f32 operands
/// of matching shapes); `None` otherwise.
pub(super) fn attention_dims<T: HostTensor>(x: &AttentionInputs<T>) -> Option<Dims> {
    x.fitting_dims(T::dims, T::is_f32)
}

/// `f` of `x`'s values as the kernel reads them, for `dims` from [`attention_dims`].
fn with_operands<T: HostTensor, R>(x: &AttentionInputs<T>, f: impl FnOnce(Operands) -> R) -> R {
    let [q, k, v] = [&x.q, &x.k, &x.v].map(T::contiguous);
    let valid = x.valid.as_ref().map(T::contiguous);
    let gated = x.gated.as_ref().map(|[gate, bias]| [gate.contiguous(), bias.contiguous()]);
    f(Operands {
        q: q.values(),
        k: k.values(),
        v: v.values(),
        scale: x.scale,
        valid: valid.as_ref().map(T::values),
        gated: gated.as_ref().map(|[gate, bias]| (gate.values(), bias.values())),
    })
}

/// [`super::Kernels::multi_head_attention`] by [`super::attention`]'s kernel, for f32 operands
/// of matching shapes; `None` otherwise.
pub(super) fn attention<T: HostTensor>(x: &AttentionInputs<T>) -> Option<T> {
    let dims = attention_dims(x)?;
    let context = with_operands(x, |operands| super::attention::forward(dims, operands));
    Some(T::from_values(context, &x.q.dims()))
}

/// [`super::Kernels::attention_saving`]'s context and probabilities for `dims` from
/// [`attention_dims`], `keep` the dropout's mask drawn by the caller and `dropout` its
/// probability.
pub(super) fn attention_saving<T: HostTensor>(dims: Dims, x: &AttentionInputs<T>, keep: Option<&T>, dropout: f64) -> [T; 2] {
    let keep = keep.map(T::contiguous);
    let dropout = keep.as_ref().map(|keep| Dropout { keep: keep.values(), factor: kept_scale(dropout) });
    let (context, probs) = with_operands(x, |operands| super::attention::forward_saving(dims, operands, dropout));
    let Dims { batch, frames, heads, .. } = dims;
    [T::from_values(context, &x.q.dims()), T::from_values(probs, &[batch, heads, frames, frames])]
}

/// [`super::Kernels::attention_backward`] for `dims` from [`attention_dims`]: the gradients
/// of the queries, keys and values, and of the gate and bias through
/// [`add_gated_bias_backward`] from the scores' gradient.
pub(super) fn attention_backward<T: HostTensor>(
    dims: Dims,
    x: &AttentionInputs<T>,
    probs: &T,
    keep: Option<&T>,
    dropout: f64,
    grad: &T,
) -> ([T; 3], Option<[T; 2]>) {
    let (probs, grad, keep) = (probs.contiguous(), grad.contiguous(), keep.map(T::contiguous));
    let dropout = keep.as_ref().map(|keep| Dropout { keep: keep.values(), factor: kept_scale(dropout) });
    let grads = with_operands(x, |operands| super::attention::backward(dims, operands, probs.values(), dropout, grad.values()));
    let shape = x.q.dims();
    let Dims { batch, frames, heads, .. } = dims;
    let gated = match (grads.scores, &x.gated) {
        (Some(scores), Some([gate, bias])) => {
            let scores = T::from_values(scores, &[batch, heads, frames, frames]);
            Some(add_gated_bias_backward(gate, bias, &scores))
        }
        _ => None,
    };
    let [q, k, v] = [grads.q, grads.k, grads.v].map(|g| T::from_values(g, &shape));
    ([q, k, v], gated)
}

/// [`super::Kernels::add_gated_bias`]: `scores + gate * bias`, one row of keys per task step,
/// the same two f32 operations per value as burn's product and sum.
pub(super) fn add_gated_bias<T: HostTensor>(scores: &T, gate: &T, bias: &T) -> T {
    let shape = scores.dims();
    let [heads, frames, keys] = [shape[1], shape[2], shape[3]];
    let (scores, gate, bias) = (scores.contiguous(), gate.contiguous(), bias.contiguous());
    let (s, g, b) = (scores.values(), gate.values(), bias.values());
    by_rows(&shape, keys, |row, out| {
        // row = (item * heads + head) * frames + frame
        let head = row / frames % heads;
        let bias = &b[(head * frames + row % frames) * keys..][..keys];
        let gate = g[row];
        for ((o, &s), &b) in out.iter_mut().zip(&s[row * keys..][..keys]).zip(bias) {
            *o = s + gate * b;
        }
    })
}

/// [`super::Kernels::add_gated_bias_backward`]: `[dgate, dbias]`, each value's sum in a fixed
/// order (over keys, over batch items).
pub(super) fn add_gated_bias_backward<T: HostTensor>(gate: &T, bias: &T, grad: &T) -> [T; 2] {
    let shape = grad.dims();
    let [batch, heads, frames, keys] = [shape[0], shape[1], shape[2], shape[3]];
    let (gate, bias, grad) = (gate.contiguous(), bias.contiguous(), grad.contiguous());
    let (g, b, d) = (gate.values(), bias.values(), grad.values());
    let dgate = by_rows(&[batch, heads, frames], frames, |bh, out| {
        let head = bh % heads;
        for (frame, o) in out.iter_mut().enumerate() {
            let bias = &b[(head * frames + frame) * keys..][..keys];
            let grad = &d[(bh * frames + frame) * keys..][..keys];
            *o = grad.iter().zip(bias).map(|(&x, &y)| x * y).sum();
        }
    });
    let dbias = by_rows(&[heads, frames, keys], keys, |row, out| {
        let (head, frame) = (row / frames, row % frames);
        for item in 0..batch {
            let at = (item * heads + head) * frames + frame;
            let gate = g[at];
            for (o, &x) in out.iter_mut().zip(&d[at * keys..][..keys]) {
                *o += x * gate;
            }
        }
    });
    [dgate, dbias]
}

/// [`super::Kernels::add_bias`]: `bias` added to each row of `x`, in parallel.
pub(super) fn add_bias<T: HostTensor>(x: &T, bias: &T) -> T {
    let shape = x.dims();
    let (x, bias) = (x.contiguous(), bias.contiguous());
    let (input, bias) = (x.values(), bias.values());
    let n = bias.len();
    by_rows(&shape, n, |row, out| {
        for ((o, &x), &b) in out.iter_mut().zip(&input[row * n..][..n]).zip(bias) {
            *o = x + b;
        }
    })
}

/// [`super::Kernels::masked_mean_std`]: a task per batch item sums its weighted frames in f64,
/// in order, for the means and then for the deviations. `None` for other dtypes or shapes.
pub(super) fn masked_mean_std<T: HostTensor>(state: &T, valid: &T) -> Option<T> {
    if !all_f32(&[state, valid]) || state.dims().len() != 3 {
        return None;
    }
    let [batch, frames, hidden] = dims3(state);
    if valid.dims() != [batch, frames] {
        return None;
    }
    let (state, valid) = (state.contiguous(), valid.contiguous());
    let (values, weights) = (state.values(), valid.values());
    let mut out = zeros(batch * 2 * hidden);
    out.par_chunks_mut(2 * hidden).enumerate().for_each(|(item, out)| {
        let weights = &weights[item * frames..][..frames];
        let rows = &values[item * frames * hidden..][..frames * hidden];
        let count: f64 = weights.iter().map(|&w| w as f64).sum();
        let mut sums = vec![0f64; hidden];
        for (row, &w) in rows.chunks_exact(hidden).zip(weights) {
            for (s, &x) in sums.iter_mut().zip(row) {
                *s += w as f64 * x as f64;
            }
        }
        let means: Vec<f64> = sums.iter().map(|s| s / count).collect();
        sums.fill(0.0);
        for (row, &w) in rows.chunks_exact(hidden).zip(weights) {
            for ((s, &x), m) in sums.iter_mut().zip(row).zip(&means) {
                let centered = (x as f64 - m) * w as f64;
                *s += centered * centered;
            }
        }
        let (mean_out, std_out) = out.split_at_mut(hidden);
        for ((o, d), (m, s)) in mean_out.iter_mut().zip(std_out).zip(means.iter().zip(&sums)) {
            *o = *m as f32;
            *d = (s / count).sqrt() as f32;
        }
    });
    Some(T::from_values(out, &[batch, 2 * hidden]))
}

/// Rows per task of [`column_sums`]: fixed, so that the sum does not depend on the thread
/// count.
const SUM_ROWS: usize = 64;

/// [`super::Kernels::column_sums`]: the sums over the rows of `x` `[rows, n]`, each task's
/// partial sums (in f32, row after row) added in order.
pub(super) fn column_sums<T: HostTensor>(x: &T) -> T {
    let shape = x.dims();
    let n = shape[1];
    let x = x.contiguous();
    let partials: Vec<Vec<f32>> = x
        .values()
        .par_chunks(SUM_ROWS * n.max(1))
        .map(|rows| {
            let mut sums = vec![0f32; n];
            for row in rows.chunks(n) {
                for (s, &v) in sums.iter_mut().zip(row) {
                    *s += v;
                }
            }
            sums
        })
        .collect();
    let mut total = vec![0f32; n];
    for part in &partials {
        for (t, p) in total.iter_mut().zip(part) {
            *t += p;
        }
    }
    T::from_values(total, &[n])
}

/// [`super::Kernels::weight_norm`]: `g / ||v||` per index of the last dimension from f64
/// sums ([`tap_sums`]), rounded once, times each value of `v`, in parallel over rows. `None`
/// for other dtypes or a `g` without one value per index.
pub(super) fn weight_norm<T: HostTensor>(v: &T, g: &T) -> Option<T> {
    let (shape, k) = weight_norm_shape(v, g)?;
    let (v, g) = (v.contiguous(), g.contiguous());
    let values = v.values();
    let [squares, _] = tap_sums(values, None, k);
    let scales: Vec<f32> =
        squares.iter().zip(g.values()).map(|(&s, &g)| (f64::from(g) / s.sqrt()) as f32).collect();
    Some(by_rows(&shape, k, |row, out| {
        for ((o, &x), &s) in out.iter_mut().zip(&values[row * k..][..k]).zip(&scales) {
            *o = x * s;
        }
    }))
}

/// [`super::Kernels::weight_norm_backward`]: the norms and `d = sum(grad * v)` in one pass of
/// f64 sums ([`tap_sums`]), then `dv = a * grad - b * v` with `a = g / n` and `b = g d / n^3`
/// per index, in parallel over rows; `dg = d / n`. `None` where [`weight_norm`] is.
pub(super) fn weight_norm_backward<T: HostTensor>(v: &T, g: &T, grad: &T) -> Option<[T; 2]> {
    let (shape, k) = weight_norm_shape(v, g)?;
    if !all_f32(&[grad]) || grad.dims() != shape {
        return None;
    }
    let (v, g, grad) = (v.contiguous(), g.contiguous(), grad.contiguous());
    let (values, grads) = (v.values(), grad.values());
    let [squares, dots] = tap_sums(values, Some(grads), k);
    let mut scales = Vec::with_capacity(k);
    let mut corrections = Vec::with_capacity(k);
    let mut dg = Vec::with_capacity(k);
    for ((&square, &dot), &magnitude) in squares.iter().zip(&dots).zip(g.values()) {
        let (norm, magnitude) = (square.sqrt(), f64::from(magnitude));
        scales.push((magnitude / norm) as f32);
        corrections.push((magnitude * dot / (square * norm)) as f32);
        dg.push((dot / norm) as f32);
    }
    let dv = by_rows(&shape, k, |row, out| {
        let at = row * k;
        for (j, o) in out.iter_mut().enumerate() {
            *o = scales[j] * grads[at + j] - corrections[j] * values[at + j];
        }
    });
    Some([dv, T::from_values(dg, &g.dims())])
}

/// `v`'s shape and last dimension `k` when [`weight_norm`] computes it: f32 operands, `g`
/// holding `k` values.
fn weight_norm_shape<T: HostTensor>(v: &T, g: &T) -> Option<(Vec<usize>, usize)> {
    let shape = v.dims();
    let k = *shape.last()?;
    let fits = all_f32(&[v, g]) && k > 0 && g.dims().iter().product::<usize>() == k;
    fits.then_some((shape, k))
}

/// For each index of the last dimension (`k` values per row) of `values`: the sum of squares
/// and, with `other`, the sum of products with it, in f64, over blocks of [`TAP_ROWS`] rows
/// added in order (the same sums at any thread count).
fn tap_sums(values: &[f32], other: Option<&[f32]>, k: usize) -> [Vec<f64>; 2] {
    let block = TAP_ROWS * k;
    let partials: Vec<[Vec<f64>; 2]> = values
        .par_chunks(block)
        .enumerate()
        .map(|(task, rows)| {
            let mut sums = [vec![0f64; k], vec![0f64; k]];
            let other = other.map(|o| &o[task * block..][..rows.len()]);
            for (r, row) in rows.chunks_exact(k).enumerate() {
                for (s, &x) in sums[0].iter_mut().zip(row) {
                    *s += f64::from(x) * f64::from(x);
                }
                if let Some(other) = other {
                    for ((s, &x), &y) in sums[1].iter_mut().zip(row).zip(&other[r * k..][..k]) {
                        *s += f64::from(x) * f64::from(y);
                    }
                }
            }
            sums
        })
        .collect();
    let mut total = [vec![0f64; k], vec![0f64; k]];
    for part in &partials {
        for (t, p) in total.iter_mut().zip(part) {
            for (t, p) in t.iter_mut().zip(p) {
                *t += p;
            }
        }
    }
    total
}

/// Rows per task of [`tap_sums`]: fixed, so that the sums do not depend on the thread count.
const TAP_ROWS: usize = 256;

/// [`super::Kernels::split_heads`]: `[batch, frames, heads * width]` to contiguous `[batch,
/// heads, frames, width]`, one run of `width` values per (item, head, frame), in parallel.
pub(super) fn split_heads<T: HostTensor>(x: &T, heads: usize) -> T {
    let [batch, frames, hidden] = dims3(x);
    let width = hidden / heads;
    let x = x.contiguous();
    let input = x.values();
    by_rows(&[batch, heads, frames, width], width, |row, out| {
        let (item, head, frame) = (row / (heads * frames), row / frames % heads, row % frames);
        out.copy_from_slice(&input[(item * frames + frame) * hidden + head * width..][..width]);
    })
}

/// [`super::Kernels::merge_heads`]: `[batch, heads, frames, width]` to contiguous `[batch,
/// frames, heads * width]`, in parallel.
pub(super) fn merge_heads<T: HostTensor>(x: &T) -> T {
    let shape = x.dims();
    let [batch, heads, frames, width] = [shape[0], shape[1], shape[2], shape[3]];
    let x = x.contiguous();
    let input = x.values();
    by_rows(&[batch, frames, heads * width], width, |row, out| {
        let (item, frame, head) = (row / (frames * heads), row / heads % frames, row % heads);
        out.copy_from_slice(&input[((item * heads + head) * frames + frame) * width..][..width]);
    })
}

/// Rows per task of [`layer_norm_last_backward`]: fixed, so that the partial sums of `dgamma`
/// and `dbeta` (one per task, added in order) do not depend on the thread count.
const NORM_ROWS: usize = 32;

/// The backward of [`super::Kernels::layer_norm_last`] over rows of the last dimension:
/// `[dx, dgamma, dbeta]`. Each row's statistics and sums in f64.
pub(super) fn layer_norm_last_backward<T: HostTensor>(
    x: &T,
    gamma: &T,
    grad: &T,
    epsilon: f64,
) -> [T; 3] {
    let shape = x.dims();
    let width = *shape.last().expect("a layer norm's input has a last dimension");
    let (x, gamma, grad) = (x.contiguous(), gamma.contiguous(), grad.contiguous());
    let (input, gamma_values, grad_values) = (x.values(), gamma.values(), grad.values());
    let mut dx = zeros(input.len());
    let partials: Vec<[Vec<f64>; 2]> = dx
        .par_chunks_mut(NORM_ROWS * width.max(1))
        .enumerate()
        .map(|(task, out)| {
            let mut sums = [vec![0f64; width], vec![0f64; width]];
            let start = task * NORM_ROWS * width;
            for (row, out) in out.chunks_mut(width).enumerate() {
                let at = start + row * width;
                let (x, g) = (&input[at..][..width], &grad_values[at..][..width]);
                let n = width as f64;
                let mean = x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
                let var = x.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
                let rstd = 1.0 / (var + epsilon).sqrt();
                let (mut scaled_sum, mut scaled_normalized_sum) = (0f64, 0f64);
                for ((&x, &g), &gamma) in x.iter().zip(g).zip(gamma_values) {
                    let normalized = (f64::from(x) - mean) * rstd;
                    let scaled = f64::from(g) * f64::from(gamma);
                    scaled_sum += scaled;
                    scaled_normalized_sum += scaled * normalized;
                }
                let (mean_scaled, mean_scaled_normalized) = (scaled_sum / n, scaled_normalized_sum / n);
                let [dgamma, dbeta] = &mut sums;
                for (j, o) in out.iter_mut().enumerate() {
                    let normalized = (f64::from(x[j]) - mean) * rstd;
                    let g = f64::from(g[j]);
                    let scaled = g * f64::from(gamma_values[j]);
                    *o = ((scaled - mean_scaled - normalized * mean_scaled_normalized) * rstd) as f32;
                    dgamma[j] += g * normalized;
                    dbeta[j] += g;
                }
            }
            sums
        })
        .collect();
    let total = |which: usize| -> Vec<f32> {
        let mut sum = vec![0f64; width];
        for part in &partials {
            for (s, p) in sum.iter_mut().zip(&part[which]) {
                *s += p;
            }
        }
        sum.into_iter().map(|v| v as f32).collect()
    };
    [T::from_values(dx, &shape), T::from_values(total(0), &[width]), T::from_values(total(1), &[width])]
}

/// One AdamW update over a parameter's contiguous f32 values (see
/// [`super::Kernels::adamw_step`]), in parallel chunks: `[param, moment_1, moment_2]`. The
/// parameter and the moments are updated in place where nothing else holds them (the
/// optimizer's case): three fresh buffers per parameter and step, 1.1 GB for wav2vec2-base,
/// cost their page faults on every step.
pub(super) fn adamw_step<T: HostTensor>(
    param: T,
    grad: &T,
    moments: Option<[T; 2]>,
    scalars: super::AdamWScalars,
) -> [T; 3] {
    let shape = param.dims();
    let grad = grad.contiguous();
    let grads = grad.values();
    let first = moments.is_none();
    let mut param = writable(param);
    let [mut m, mut v] = match moments {
        Some([m, v]) => [writable(m), writable(v)],
        None => std::array::from_fn(|_| T::from_values(zeros(grads.len()), &shape)),
    };
    let (values, m_values, v_values) = (
        param.values_mut().expect("writable"),
        m.values_mut().expect("writable"),
        v.values_mut().expect("writable"),
    );
    values
        .par_chunks_mut(CHUNK)
        .zip(m_values.par_chunks_mut(CHUNK))
        .zip(v_values.par_chunks_mut(CHUNK))
        .enumerate()
        .for_each(|(task, ((values, m), v))| {
            let grads = &grads[task * CHUNK..][..values.len()];
            for i in 0..values.len() {
                let before = (!first).then(|| (m[i], v[i]));
                (values[i], m[i], v[i]) = scalars.update(values[i], grads[i], before);
            }
        });
    [param, m, v]
}

/// `x` itself when its values can be written in place ([`HostTensor::values_mut`]), else a
/// contiguous copy of them.
fn writable<T: HostTensor>(mut x: T) -> T {
    if x.values_mut().is_some() {
        return x;
    }
    let shape = x.dims();
    T::from_values(x.contiguous().values().to_vec(), &shape)
}

/// The sum of the squares of `x`'s f32 values, accumulated in f64 over fixed chunks and the
/// chunks' sums added in order, so that it does not depend on the thread count.
pub(super) fn squared_sum<T: HostTensor>(x: &T) -> f64 {
    let x = x.contiguous();
    let partial: Vec<f64> = x.values().par_chunks(CHUNK).map(squares).collect();
    partial.iter().sum()
}

/// The sum of the squares of `chunk` in f64, over 16 lanes (so that the loop vectorizes) added
/// in order at the end.
fn squares(chunk: &[f32]) -> f64 {
    let mut lanes = [0f64; 16];
    let mut groups = chunk.chunks_exact(16);
    for group in &mut groups {
        for (lane, &v) in lanes.iter_mut().zip(group) {
            *lane += f64::from(v) * f64::from(v);
        }
    }
    let tail: f64 = groups.remainder().iter().map(|&v| f64::from(v) * f64::from(v)).sum();
    lanes.iter().sum::<f64>() + tail
}
