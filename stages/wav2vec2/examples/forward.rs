//! Times one forward pass of the XLSR-large architecture (`jonatasgrosman/wav2vec2-large-xlsr-53-english`:
//! 24 layers, width 1024, layer norm in every conv, pre-LN) with the `projector` head on one
//! 60000-sample clip, on ndarray and flex, with random weights.
//!
//! `cargo run -p vox-wav2vec2 --example forward` (the dev profile optimizes burn fully).
//!
//! Measured on the shared 2-core dev machine (burn 0.21): flex 2.6 s, ndarray 15.4 s.

use std::time::Instant;

use burn::backend::{Flex, NdArray};
use burn::tensor::{Distribution, Tensor};
use vox_wav2vec2::kernels::Kernels;
use vox_wav2vec2::{Wav2Vec2Config, Wav2Vec2ForSequenceClassification};

fn xlsr_large() -> Wav2Vec2Config {
    let json = serde_json::json!({
        "conv_bias": true, "feat_extract_norm": "layer", "do_stable_layer_norm": true,
        "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
        "intermediate_size": 4096, "num_labels": 8
    });
    serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"))
}

fn time<B: Kernels>(name: &str) {
    let device = Default::default();
    let config = xlsr_large();
    let model = Wav2Vec2ForSequenceClassification::<B>::new(&config, &device);
    let samples = Tensor::<B, 2>::random([1, 60000], Distribution::Normal(0.0, 1.0), &device);
    let _ = model.forward(samples.clone(), None).logits.into_data(); // initializes the weights
    let start = Instant::now();
    let _ = model.forward(samples, None).logits.into_data();
    println!(
        "{name:8} XLSR-large forward, 1 x 60000 samples: {:.2} s",
        start.elapsed().as_secs_f64()
    );
}

fn main() {
    time::<Flex>("flex");
    time::<NdArray>("ndarray");
}
