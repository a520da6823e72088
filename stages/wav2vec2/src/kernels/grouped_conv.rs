//! A stride-1 grouped conv over time on channels-last f32 data, and its backward pass: the
//! positional conv embedding of wav2vec2 (kernel 128, 16 groups, "same" padding) on flex.
//!
//! burn-flex runs that conv as im2col + gemm per group and its input gradient as a transposed
//! 3-D conv on one thread: a sizeable part of a training step of the small config (64
//! channels, 4 per group), a step that PyTorch runs several times faster (measured:
//! BENCHMARKS-wav2vec2.md, section "Measurements behind the code's choices"). Here each
//! `(batch item, group)` is one task on rayon's pool that copies its channels into zero-padded
//! rows (channels first) and correlates them with the taps, [`BLOCK`] output steps at a time
//! in registers. The input gradient is the same correlation of the padded output gradient
//! with the flipped, transposed taps; the weight gradient correlates the output gradient with
//! the input, one task per output channel. Every sum runs in one order whatever the thread
//! count.
//!
//! Groups at least 32 channels wide (wav2vec2-base's 48, large's 64) run the conv and its
//! input gradient as one product per group instead, on CPUs with AVX-512: the group's
//! zero-padded channels-last rows read as overlapping windows times its taps as a matrix
//! (vox's sgemm). The correlation reached only a fraction of sgemm's rate there; as products,
//! the correlation's share of a profiled base step went to sgemm at a smaller cost, and
//! inference and the training step both got a little faster (measured: BENCHMARKS-wav2vec2.md,
//! section "Measurements behind the code's choices").

use rayon::prelude::*;

/// Output steps (or taps, for the weight gradient) summed together: 64 f32, four AVX-512
/// registers.
const BLOCK: usize = 64;

/// The narrowest groups (channels per group) that run as products
/// ([`GroupedConv1d::forward_by_products`]): sgemm's tiles are 32 columns wide, so thinner
/// groups would multiply mostly padding (the small config's 4).
#[cfg(target_arch = "x86_64")]
const PRODUCT_WIDTH: usize = 32;

/// The shape of a stride-1 grouped conv over time with zero padding, channels last: input
/// `[batch, time, channels]`, weight `[channels, channels / groups, kernel]`, output `[batch,
/// frames, channels]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupedConv1d {
    /// Batch items.
    pub batch: usize,
    /// Input time steps.
    pub time: usize,
    /// Channels in and out.
    pub channels: usize,
    /// Conv groups, dividing `channels`.
    pub groups: usize,
    /// Kernel taps.
    pub kernel: usize,
    /// Zeros before and after the input, each less than `kernel`.
    pub padding: [usize; 2],
}

impl GroupedConv1d {
    /// Whether this kernel computes the conv: at least one output step, each padding shorter
    /// than the kernel, groups dividing the channels.
    pub fn supported(&self) -> bool {
        self.groups > 0
            && self.channels.is_multiple_of(self.groups)
            && self.padding.iter().all(|&p| p < self.kernel)
            && self.padded() >= self.kernel
    }

    /// Channels per group.
    fn width(&self) -> usize {
        self.channels / self.groups
    }

    /// Time steps with the padding.
    fn padded(&self) -> usize {
        self.time + self.padding[0] + self.padding[1]
    }

    /// Output time steps.
    pub fn frames(&self) -> usize {
        self.padded() + 1 - self.kernel
    }

    /// The conv of `x` `[batch, time, channels]` with `weight`: `[batch, frames, channels]`.
    pub fn forward(&self, x: &[f32], weight: &[f32]) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        if self.by_products() {
            return self.forward_by_products(x, weight);
        }
        let (width, kernel, frames) = (self.width(), self.kernel, self.frames());
        let per_task: Vec<Vec<f32>> = (0..self.batch * self.groups)
            .into_par_iter()
            .map(|task| {
                let (item, group) = (task / self.groups, task % self.groups);
                let rows = self.rows(x, self.time, item, group, self.padding[0], self.padded());
                let taps = &weight[group * width * width * kernel..][..width * width * kernel];
                correlate(&rows, taps, width, kernel, frames)
            })
            .collect();
        self.interleave(&per_task, frames)
    }

    /// The gradients of `x` and `weight` given the output's `grad` `[batch, frames, channels]`:
    /// `(dx [batch, time, channels], dweight [channels, channels / groups, kernel])`.
    pub fn backward(&self, x: &[f32], weight: &[f32], grad: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (width, kernel, frames) = (self.width(), self.kernel, self.frames());
        // dx[i][s] = Σ_o Σ_k w[o][i][k] grad[o][s + left - k]: the gradient padded with
        // `kernel - 1 - padding` zeros, correlated with the taps flipped in time, in and out
        // channels swapped.
        let mut flipped = vec![0f32; weight.len()];
        let per_group = width * width * kernel;
        flipped.par_chunks_mut(per_group).enumerate().for_each(|(group, taps)| {
            for (input, taps) in taps.chunks_exact_mut(width * kernel).enumerate() {
                for (output, taps) in taps.chunks_exact_mut(kernel).enumerate() {
                    let at = ((group * width + output) * width + input) * kernel;
                    taps.copy_from_slice(&weight[at..][..kernel]);
                    taps.reverse();
                }
            }
        });
        // Each (item, group)'s gradient rows, padded for the input gradient; the weight
        // gradient reads their unpadded middle.
        let (lead, grad_len) = (kernel - 1 - self.padding[0], self.time + kernel - 1);
        let grad_rows = self.rows_per_task(grad, frames, lead, grad_len);
        let dx = self.input_gradient(grad, &flipped, &grad_rows);
        // dw[o][i][k] = Σ_b Σ_t grad[b][o][t] x_padded[b][i][t + k], a task per output channel.
        let inputs = self.rows_per_task(x, self.time, self.padding[0], self.padded());
        let (input_stride, grad_stride) = (self.padded() + BLOCK, grad_len + BLOCK);
        let mut dweight = vec![0f32; weight.len()];
        dweight.par_chunks_mut(width * kernel).enumerate().for_each(|(channel, dw)| {
            let (group, output) = (channel / width, channel % width);
            for item in 0..self.batch {
                let task = item * self.groups + group;
                let gradient = &grad_rows[task][output * grad_stride + lead..][..frames];
                let rows = &inputs[task];
                for (input, dw) in dw.chunks_exact_mut(kernel).enumerate() {
                    let row = &rows[input * input_stride..][..input_stride];
                    accumulate_lags(gradient, row, dw);
                }
            }
        });
        (dx, dweight)
    }

    /// Whether the conv runs as one product per group ([`Self::forward_by_products`]): with
    /// vox's sgemm, for groups at least [`PRODUCT_WIDTH`] channels wide.
    #[cfg(target_arch = "x86_64")]
    fn by_products(&self) -> bool {
        self.width() >= PRODUCT_WIDTH && super::sgemm::available()
    }

    /// [`Self::forward`] as one matrix product per group: the group's channels, zero-padded
    /// and channels last, read as overlapping windows of `kernel` steps (`kernel * width`
    /// values, one step apart, a block of rows per batch item) times its taps as a `[kernel *
    /// width, width]` matrix. wav2vec2-base's positional conv is then vox's sgemm at 1592 x
    /// 6144 x 48 per group for a batch of 8 clips of 4 s, where [`correlate`] ran at about a
    /// quarter of sgemm's rate.
    #[cfg(target_arch = "x86_64")]
    fn forward_by_products(&self, x: &[f32], weight: &[f32]) -> Vec<f32> {
        use super::sgemm::{MatRef, sgemm};
        let (width, kernel, frames, padded) = (self.width(), self.kernel, self.frames(), self.padded());
        let rows = self.group_rows(x, self.time, self.padding[0], padded);
        let taps = self.tap_matrices(weight);
        let depth = kernel * width;
        let per_group: Vec<Vec<f32>> = (0..self.groups)
            .map(|group| {
                let rows = &rows[group * self.batch * padded * width..][..self.batch * padded * width];
                let windows = MatRef::new(rows, self.batch * frames, depth, width, 1)
                    .in_blocks(frames, padded * width);
                let taps = MatRef::new(&taps[group * depth * width..][..depth * width], depth, width, width, 1);
                sgemm(windows, taps)
            })
            .collect();
        let mut out = super::zeros::zeros(self.batch * frames * self.channels);
        out.par_chunks_mut(self.channels).enumerate().for_each(|(row, out)| {
            for (group, out) in out.chunks_exact_mut(width).enumerate() {
                out.copy_from_slice(&per_group[group][row * width..][..width]);
            }
        });
        out
    }

    /// Channels-last `data` `[batch, steps, channels]` by group: `[groups][batch][len][width]`,
    /// each item's `steps` rows after `lead` rows of zeros, zeros after them.
    #[cfg(target_arch = "x86_64")]
    fn group_rows(&self, data: &[f32], steps: usize, lead: usize, len: usize) -> Vec<f32> {
        let width = self.width();
        let mut out = super::zeros::zeros(self.groups * self.batch * len * width);
        out.par_chunks_mut(len * width).enumerate().for_each(|(task, rows)| {
            let (group, item) = (task / self.batch, task % self.batch);
            for (s, row) in rows[lead * width..][..steps * width].chunks_exact_mut(width).enumerate() {
                row.copy_from_slice(&data[(item * steps + s) * self.channels + group * width..][..width]);
            }
        });
        out
    }

    /// Each group's taps `weight[group * width + o][i][k]` as the matrix `[kernel * width,
    /// width]` with `(k * width + i, o)` holding that tap: `[groups][kernel * width][width]`.
    #[cfg(target_arch = "x86_64")]
    fn tap_matrices(&self, weight: &[f32]) -> Vec<f32> {
        let (width, kernel) = (self.width(), self.kernel);
        let mut out = vec![0f32; weight.len()];
        out.par_chunks_mut(width * width).enumerate().for_each(|(task, block)| {
            let (group, k) = (task / kernel, task % kernel);
            for (i, row) in block.chunks_exact_mut(width).enumerate() {
                for (o, value) in row.iter_mut().enumerate() {
                    *value = weight[((group * width + o) * width + i) * kernel + k];
                }
            }
        });
        out
    }

    /// The input's gradient: `grad` `[batch, frames, channels]` (`grad_rows`: its [`Self::rows`]
    /// per task, padded by `kernel - 1 - padding` zeros) correlated with the `flipped` taps. As
    /// products, that is the forward of the conv with those taps over the gradient, padded so.
    fn input_gradient(&self, grad: &[f32], flipped: &[f32], grad_rows: &[Vec<f32>]) -> Vec<f32> {
        #[cfg(target_arch = "x86_64")]
        if self.by_products() {
            let padding = self.padding.map(|p| self.kernel - 1 - p);
            let transposed = GroupedConv1d { time: self.frames(), padding, ..*self };
            return transposed.forward_by_products(grad, flipped);
        }
        let _ = grad;
        let (width, kernel) = (self.width(), self.kernel);
        let per_group = width * width * kernel;
        let dx_tasks: Vec<Vec<f32>> = (0..self.batch * self.groups)
            .into_par_iter()
            .map(|task| {
                let taps = &flipped[task % self.groups * per_group..][..per_group];
                correlate(&grad_rows[task], taps, width, kernel, self.time)
            })
            .collect();
        self.interleave(&dx_tasks, self.time)
    }

    /// [`Self::rows`] of every `(item, group)` task, by batch item then group, in parallel.
    fn rows_per_task(&self, data: &[f32], steps: usize, lead: usize, len: usize) -> Vec<Vec<f32>> {
        (0..self.batch * self.groups)
            .into_par_iter()
            .map(|task| self.rows(data, steps, task / self.groups, task % self.groups, lead, len))
            .collect()
    }

    /// Channels `group * width..` of batch item `item` of channels-last `data` `[batch, steps,
    /// channels]` as `width` rows of `len + BLOCK` (the slack that lets [`correlate`] and
    /// [`simd::accumulate_lags_loop`] read whole blocks): each `lead` zeros, the channel's
    /// `steps` values, then zeros.
    fn rows(
        &self,
        data: &[f32],
        steps: usize,
        item: usize,
        group: usize,
        lead: usize,
        len: usize,
    ) -> Vec<f32> {
        let (width, stride) = (self.width(), len + BLOCK);
        let mut rows = vec![0f32; width * stride];
        for s in 0..steps {
            let values = &data[(item * steps + s) * self.channels + group * width..][..width];
            for (c, &v) in values.iter().enumerate() {
                rows[c * stride + lead + s] = v;
            }
        }
        rows
    }

    /// Each task's `[width][stride]` channel rows (tasks by batch item, then group), `steps` of
    /// them each, back to channels last: `[batch, steps, channels]`.
    fn interleave(&self, per_task: &[Vec<f32>], steps: usize) -> Vec<f32> {
        let (width, stride) = (self.width(), steps.next_multiple_of(BLOCK));
        let mut out = super::zeros::zeros(self.batch * steps * self.channels);
        out.par_chunks_mut(self.channels).enumerate().for_each(|(row, out)| {
            let (item, step) = (row / steps, row % steps);
            for (group, out) in out.chunks_exact_mut(width).enumerate() {
                let task = &per_task[item * self.groups + group];
                for (c, o) in out.iter_mut().enumerate() {
                    *o = task[c * stride + step];
                }
            }
        });
        out
    }
}

/// `out[o][t] = Σ_i Σ_k taps[o][i][k] rows[i][t + k]` for `t < steps`, with `taps`
/// `[n][n][kernel]` and `rows` `n` rows of equal length, at least `steps` rounded up to
/// [`BLOCK`] plus `kernel - 1`: `[n][steps rounded up to BLOCK]`.
fn correlate(rows: &[f32], taps: &[f32], n: usize, kernel: usize, steps: usize) -> Vec<f32> {
    let stride = steps.next_multiple_of(BLOCK);
    let mut out = vec![0f32; n * stride];
    correlate_into(rows, taps, n, kernel, &mut out);
    out
}

/// [`correlate`]'s loop into `out`, compiled for the widest SIMD the CPU has.
fn correlate_into(rows: &[f32], taps: &[f32], n: usize, kernel: usize, out: &mut [f32]) {
    use simd::correlate_loop;
    super::cpu::widest!(correlate_loop(rows: &[f32], taps: &[f32], n: usize, kernel: usize, out: &mut [f32]))
}

/// The lagged products of `output` and `input`, added to `lags`.
fn accumulate_lags(output: &[f32], input: &[f32], lags: &mut [f32]) {
    use simd::accumulate_lags_loop;
    super::cpu::widest!(accumulate_lags_loop(output: &[f32], input: &[f32], lags: &mut [f32]))
}

/// The loops, in [`BLOCK`]s the compiler keeps in vector registers.
mod simd {
    use super::BLOCK;

    /// [`super::correlate`]'s loop into `out` `[n][stride]`.
    #[inline(always)]
    pub(in crate::kernels) fn correlate_loop(
        rows: &[f32],
        taps: &[f32],
        n: usize,
        kernel: usize,
        out: &mut [f32],
    ) {
        let (row_len, stride) = (rows.len() / n, out.len() / n);
        for (o, out) in out.chunks_exact_mut(stride).enumerate() {
            let taps = &taps[o * n * kernel..][..n * kernel];
            for (block, out) in out.chunks_exact_mut(BLOCK).enumerate() {
                let start = block * BLOCK;
                let mut acc = [0f32; BLOCK];
                for (i, taps) in taps.chunks_exact(kernel).enumerate() {
                    let row = &rows[i * row_len + start..][..kernel - 1 + BLOCK];
                    for (k, &w) in taps.iter().enumerate() {
                        let window: &[f32; BLOCK] = row[k..k + BLOCK].try_into().unwrap();
                        for j in 0..BLOCK {
                            acc[j] = w.mul_add(window[j], acc[j]);
                        }
                    }
                }
                out.copy_from_slice(&acc);
            }
        }
    }

    /// `lags[k] += Σ_t output[t] input[t + k]` for every `k < lags.len()`; `input` holds at
    /// least `output.len() - 1` plus `lags.len()` rounded up to [`BLOCK`] values.
    #[inline(always)]
    pub(in crate::kernels) fn accumulate_lags_loop(
        output: &[f32],
        input: &[f32],
        lags: &mut [f32],
    ) {
        for (block, lags) in lags.chunks_mut(BLOCK).enumerate() {
            let start = block * BLOCK;
            let mut acc = [0f32; BLOCK];
            for (t, &g) in output.iter().enumerate() {
                let window: &[f32; BLOCK] = input[start + t..][..BLOCK].try_into().unwrap();
                for j in 0..BLOCK {
                    acc[j] = g.mul_add(window[j], acc[j]);
                }
            }
            for (l, a) in lags.iter_mut().zip(acc) {
                *l += a;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The conv, straight from its definition, in f64: `[batch, frames, channels]`.
    fn reference(conv: &GroupedConv1d, x: &[f32], weight: &[f32]) -> Vec<f64> {
        let (width, frames) = (conv.width(), conv.frames());
        let mut out = vec![0f64; conv.batch * frames * conv.channels];
        for b in 0..conv.batch {
            for t in 0..frames {
                for o in 0..conv.channels {
                    let group = o / width;
                    let mut sum = 0f64;
                    for i in 0..width {
                        for k in 0..conv.kernel {
                            let Some(s) = (t + k).checked_sub(conv.padding[0]) else { continue };
                            if s >= conv.time {
                                continue;
                            }
                            let value = x[(b * conv.time + s) * conv.channels + group * width + i];
                            sum += weight[(o * width + i) * conv.kernel + k] as f64 * value as f64;
                        }
                    }
                    out[(b * frames + t) * conv.channels + o] = sum;
                }
            }
        }
        out
    }

    /// Deterministic values in [-1, 1).
    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n).map(|i| ((i * 7919 + seed * 104_729) % 2001) as f32 / 1000.0 - 1.0).collect()
    }

    fn max_diff(found: &[f32], expected: &[f64]) -> f64 {
        assert_eq!(found.len(), expected.len());
        found.iter().zip(expected).map(|(&f, &e)| (f as f64 - e).abs()).fold(0.0, f64::max)
    }

    /// Shapes around the edges: wav2vec2's even kernel (one less padding on the right), odd
    /// kernels, one group, frames and kernels on both sides of a block, no padding; the last
    /// two with groups wide enough to run as products (sgemm's path on CPUs with AVX-512),
    /// one of them shorter than its kernel.
    const SHAPES: [GroupedConv1d; 7] = [
        GroupedConv1d {
            batch: 2,
            time: 99,
            channels: 16,
            groups: 4,
            kernel: 128,
            padding: [64, 63],
        },
        GroupedConv1d { batch: 1, time: 70, channels: 6, groups: 3, kernel: 5, padding: [2, 2] },
        GroupedConv1d {
            batch: 3,
            time: 130,
            channels: 4,
            groups: 1,
            kernel: 65,
            padding: [32, 32],
        },
        GroupedConv1d { batch: 2, time: 20, channels: 8, groups: 8, kernel: 3, padding: [0, 0] },
        GroupedConv1d { batch: 1, time: 5, channels: 6, groups: 2, kernel: 8, padding: [4, 3] },
        GroupedConv1d {
            batch: 2,
            time: 99,
            channels: 64,
            groups: 2,
            kernel: 128,
            padding: [64, 63],
        },
        GroupedConv1d { batch: 3, time: 7, channels: 144, groups: 3, kernel: 9, padding: [4, 4] },
    ];

    #[test]
    fn forward_equals_the_definition() {
        for conv in SHAPES {
            assert!(conv.supported());
            let x = values(conv.batch * conv.time * conv.channels, 1);
            let weight = values(conv.channels * conv.width() * conv.kernel, 2);
            let diff = max_diff(&conv.forward(&x, &weight), &reference(&conv, &x, &weight));
            assert!(diff < 1e-4, "{conv:?}: differs by {diff}");
        }
    }

    /// The gradients of `Σ grad * conv(x, w)` from the definition by the chain rule, in f64:
    /// `(dx, dw)`.
    fn reference_backward(
        conv: &GroupedConv1d,
        x: &[f32],
        weight: &[f32],
        grad: &[f32],
    ) -> (Vec<f64>, Vec<f64>) {
        let (width, frames) = (conv.width(), conv.frames());
        let (mut dx, mut dw) = (vec![0f64; x.len()], vec![0f64; weight.len()]);
        for b in 0..conv.batch {
            for t in 0..frames {
                for o in 0..conv.channels {
                    let g = grad[(b * frames + t) * conv.channels + o] as f64;
                    for i in 0..width {
                        for k in 0..conv.kernel {
                            let Some(s) = (t + k).checked_sub(conv.padding[0]) else { continue };
                            if s >= conv.time {
                                continue;
                            }
                            let at = (b * conv.time + s) * conv.channels + o / width * width + i;
                            let tap = (o * width + i) * conv.kernel + k;
                            dx[at] += g * weight[tap] as f64;
                            dw[tap] += g * x[at] as f64;
                        }
                    }
                }
            }
        }
        (dx, dw)
    }

    #[test]
    fn backward_equals_the_chain_rule_on_the_definition() {
        for conv in SHAPES {
            let x = values(conv.batch * conv.time * conv.channels, 3);
            let weight = values(conv.channels * conv.width() * conv.kernel, 4);
            let grad = values(conv.batch * conv.frames() * conv.channels, 5);
            let (dx, dweight) = conv.backward(&x, &weight, &grad);
            let (expected_dx, expected_dw) = reference_backward(&conv, &x, &weight, &grad);
            let (diff_x, diff_w) = (max_diff(&dx, &expected_dx), max_diff(&dweight, &expected_dw));
            assert!(diff_x < 1e-4 && diff_w < 1e-4, "{conv:?}: dx off by {diff_x}, dw by {diff_w}");
        }
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        for conv in [SHAPES[0], SHAPES[5]] {
            let x = values(conv.batch * conv.time * conv.channels, 6);
            let weight = values(conv.channels * conv.width() * conv.kernel, 7);
            let grad = values(conv.batch * conv.frames() * conv.channels, 8);
            let run = |threads| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| (conv.forward(&x, &weight), conv.backward(&x, &weight, &grad)))
            };
            assert!(run(1) == run(3), "{conv:?}");
        }
    }

    #[test]
    fn unsupported_shapes_are_refused() {
        let conv = SHAPES[1];
        assert!(!GroupedConv1d { padding: [5, 0], ..conv }.supported());
        assert!(!GroupedConv1d { groups: 4, ..conv }.supported());
        assert!(!GroupedConv1d { time: 1, padding: [0, 0], ..conv }.supported());
    }
}
