//! Times wav2vec2's first conv (1 -> 512 channels, kernel 10, stride 5) on 60000-sample clips:
//! burn's `Conv1d` against the patches-times-kernel formulation, on ndarray and flex.
//!
//! `cargo run --release -p vox-wav2vec2 --example first_conv`

use std::time::Instant;

use burn::backend::{Flex, NdArray};
use burn::nn::conv::Conv1dConfig;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, ElementConversion, Tensor};
use vox_wav2vec2::model::single_channel_conv_as_matmul;

const REPEATS: usize = 5;

fn time<B: Backend>(name: &str, batch: usize) {
    let device = Default::default();
    let conv = Conv1dConfig::new(1, 512, 10)
        .with_stride(5)
        .with_bias(false)
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
    let matmul = best(&|| {
        single_channel_conv_as_matmul(&conv, samples.clone()).unwrap_or_else(|| unreachable!())
    });
    let diff: f32 = (conv.forward(samples.clone().unsqueeze_dim(1))
        - single_channel_conv_as_matmul(&conv, samples).unwrap_or_else(|| unreachable!()))
    .abs()
    .max()
    .into_scalar()
    .elem();
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
