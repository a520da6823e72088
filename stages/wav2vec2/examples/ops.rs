//! Times single operations at the shapes of a wav2vec2-base step (batch 2 x 2 s) on flex, for
//! `benches/wav2vec2.py ops`, whose PyTorch twin times the same: matrix products (conv 2 of the
//! feature encoder as a product, its weight gradient, the feed-forward pair, 1024^3) and GELU
//! on the first conv's output, each burn's (gemm, libm) and vox's (`vox_wav2vec2::kernels`).
//!
//! `cargo run -p vox-wav2vec2 --example ops -- REPEATS`; CPU threads come from
//! `RAYON_NUM_THREADS`. Prints one JSON line per operation: its name and mean milliseconds.

use std::time::Instant;

use burn::backend::Flex;
use burn::tensor::activation::gelu;
use burn::tensor::ops::ActivationOps;
use burn::tensor::{Distribution, Tensor};
use vox_wav2vec2::kernels::{self, Kernels};

/// The matrix products, `(name, m, k, n)`.
const PRODUCTS: [(&str, usize, usize, usize); 5] = [
    ("matmul conv2 6398x1536x512", 6398, 1536, 512),
    ("matmul conv2 weight grad 1536x6398x512", 1536, 6398, 512),
    ("matmul ff up 198x768x3072", 198, 768, 3072),
    ("matmul ff down 198x3072x768", 198, 3072, 768),
    ("matmul 1024x1024x1024", 1024, 1024, 1024),
];

/// Mean milliseconds of `op` over `repeats` calls, after one warm-up call.
fn time_ms(repeats: usize, mut op: impl FnMut()) -> f64 {
    op();
    let start = Instant::now();
    for _ in 0..repeats {
        op();
    }
    start.elapsed().as_secs_f64() * 1e3 / repeats as f64
}

fn report(name: &str, ms: f64) {
    println!("{}", serde_json::json!({ "op": name, "ms": ms }));
}

fn main() {
    let repeats: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let device = Default::default();
    let normal = Distribution::Normal(0.0, 1.0);
    for (name, m, k, n) in PRODUCTS {
        let a = Tensor::<Flex, 2>::random([m, k], normal, &device);
        let b = Tensor::<Flex, 2>::random([k, n], normal, &device);
        report(
            &format!("{name} burn"),
            time_ms(repeats, || drop(a.clone().matmul(b.clone()).into_data())),
        );
        report(
            &format!("{name} vox"),
            time_ms(repeats, || drop(kernels::matmul(a.clone(), b.clone()).into_data())),
        );
    }
    let x = Tensor::<Flex, 3>::random([2, 6399, 512], normal, &device);
    let primitive = || x.clone().into_primitive().tensor();
    report(
        "gelu 2x6399x512 burn",
        time_ms(repeats, || drop(gelu(x.clone()).into_data())),
    );
    report(
        "gelu 2x6399x512 vox",
        time_ms(repeats, || drop(kernels::gelu(x.clone()).into_data())),
    );
    report(
        "gelu backward 2x6399x512 burn",
        time_ms(repeats, || drop(Flex::gelu_backward(primitive(), primitive()))),
    );
    report(
        "gelu backward 2x6399x512 vox",
        time_ms(repeats, || drop(Flex::exact_gelu_backward(primitive(), primitive()))),
    );
}
