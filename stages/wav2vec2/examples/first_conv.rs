//! Times wav2vec2's first conv (1 -> 512 channels, kernel 10, stride 5) on 60000-sample clips:
//! burn's `Conv1d` against the patches-times-kernel formulation, on ndarray and flex.
//!
//! `cargo run -p vox-wav2vec2 --example first_conv` (the dev profile optimizes burn fully).
//!
//! Measured on the shared 2-core dev machine (burn 0.21, best of 5): batch 1, ndarray 111 ms
//! vs 167 ms as patches x kernel; flex 9.8 ms vs 49 ms. The backends' own conv wins, so the
//! model keeps `Conv1d`.

use std::time::Instant;

use burn::backend::{Flex, NdArray};
use burn::nn::conv::{Conv1d, Conv1dConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, ElementConversion, Tensor};

const REPEATS: usize = 5;

/// The first conv as a matrix product, for one input channel and a kernel that is a multiple
/// of the stride (wav2vec2's 10 / 5): the input is cut into `stride`-sample rows, `kernel /
/// stride` consecutive rows form one patch, and the patches `[batch, frames, kernel]` are
/// multiplied by the kernel `[kernel, out]`.
///
/// `[batch, samples]` -> `[batch, out, (samples - kernel) / stride + 1]`, equal to
/// `conv.forward(samples.unsqueeze_dim(1))`.
fn single_channel_conv_as_matmul<B: Backend>(
    conv: &Conv1d<B>,
    samples: Tensor<B, 2>,
) -> Tensor<B, 3> {
    let [out, channels_in, kernel] = conv.weight.dims();
    let stride = conv.stride;
    let [batch, len] = samples.dims();
    assert!(channels_in == 1 && conv.groups == 1 && conv.dilation == 1);
    assert!(kernel.is_multiple_of(stride) && len >= kernel);
    let frames = (len - kernel) / stride + 1;
    let rows = frames - 1 + kernel / stride;
    let grid = samples
        .narrow(1, 0, rows * stride)
        .reshape([batch, rows, stride]);
    let patches = Tensor::cat(
        (0..kernel / stride)
            .map(|shift| grid.clone().narrow(1, shift, frames))
            .collect(),
        2,
    );
    let weight = conv
        .weight
        .val()
        .reshape([out, kernel])
        .transpose()
        .unsqueeze_dim::<3>(0);
    let x = patches.matmul(weight);
    let x = match &conv.bias {
        Some(bias) => x + bias.val().unsqueeze_dims::<3>(&[0, 1]),
        None => x,
    };
    x.swap_dims(1, 2)
}

fn time<B: Backend>(name: &str, batch: usize) {
    let device = Default::default();
    let conv = Conv1dConfig::new(1, 512, 10)
        .with_stride(5)
        .with_bias(true)
        .init::<B>(&device);
    let samples = Tensor::<B, 2>::random([batch, 60000], Distribution::Normal(0.0, 1.0), &device);
    let best = |f: &dyn Fn() -> Tensor<B, 3>| {
        let _ = f().into_data(); // warm-up
        (0..REPEATS)
            .map(|_| {
                let start = Instant::now();
                let _ = f().into_data();
                start.elapsed().as_secs_f64() * 1e3
            })
            .fold(f64::INFINITY, f64::min)
    };
    let direct = best(&|| conv.forward(samples.clone().unsqueeze_dim(1)));
    let matmul = best(&|| single_channel_conv_as_matmul(&conv, samples.clone()));
    let diff: f32 = (conv.forward(samples.clone().unsqueeze_dim(1))
        - single_channel_conv_as_matmul(&conv, samples))
    .abs()
    .max()
    .into_scalar()
    .elem();
    assert!(diff < 1e-4, "the two formulations differ by {diff}");
    println!(
        "{name:8} batch {batch}: Conv1d {direct:8.2} ms, patches x kernel {matmul:8.2} ms, max diff {diff:.2e}"
    );
}

fn main() {
    for batch in [1, 8] {
        time::<NdArray>("ndarray", batch);
        time::<Flex>("flex", batch);
    }
}
