//! Times forward + backward steps of wav2vec2 sequence classification (random weights, all
//! dropouts 0, no optimizer step) for the throughput benchmark in `benches/wav2vec2.sh`, whose
//! Python twin (`benches/wav2vec2.py torch`) times transformers on the same config.
//!
//! `cargo run -p vox-wav2vec2 --example train_step -- CONFIG BACKEND LAYERS BATCH SAMPLES STEPS`
//! with CONFIG `small`, `base` or `large` (XLSR-53's layout and sizes), BACKEND `flex`,
//! `ndarray` or, built with `--features cuda`, `cuda`; CPU threads come from
//! `RAYON_NUM_THREADS`. Prints one JSON line: mean seconds per step, split into forward
//! (through the loss) and backward, and the feature encoder's share of an inference forward.

use std::time::Instant;

use burn::backend::{Autodiff, Flex, NdArray};
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Distribution, Int, Tensor};
use vox_wav2vec2::kernels::AutodiffKernels;
use vox_wav2vec2::{Wav2Vec2Config, Wav2Vec2ForSequenceClassification};

/// The benchmark's configs, dropouts and SpecAugment off so both frameworks do the same work.
fn config(name: &str, layers: usize) -> Wav2Vec2Config {
    let mut json = serde_json::json!({
        "num_hidden_layers": layers, "num_labels": 8, "hidden_dropout": 0.0,
        "attention_dropout": 0.0, "activation_dropout": 0.0, "feat_proj_dropout": 0.0,
        "final_dropout": 0.0, "layerdrop": 0.0, "mask_time_prob": 0.0,
        "apply_spec_augment": false
    });
    if name == "large" {
        let large = serde_json::json!({
            "hidden_size": 1024, "num_attention_heads": 16, "intermediate_size": 4096,
            "feat_extract_norm": "layer", "do_stable_layer_norm": true, "conv_bias": true
        });
        json.as_object_mut().unwrap().extend(large.as_object().unwrap().clone());
    }
    if name == "small" {
        let small = serde_json::json!({
            "hidden_size": 64, "num_attention_heads": 4, "intermediate_size": 128,
            "conv_dim": [32, 32, 32, 32], "conv_kernel": [10, 3, 3, 3],
            "conv_stride": [5, 4, 4, 4]
        });
        json.as_object_mut().unwrap().extend(small.as_object().unwrap().clone());
    }
    serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"))
}

fn seconds(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

fn bench<B: AutodiffKernels>(config: &Wav2Vec2Config, batch: usize, samples: usize, steps: usize) {
    let device = Default::default();
    let model = Wav2Vec2ForSequenceClassification::<B>::new(config, &device);
    let input = Tensor::<B, 2>::random([batch, samples], Distribution::Normal(0.0, 1.0), &device);
    let labels = Tensor::<B, 1, Int>::from_ints(
        &(0..batch as i32).map(|i| i % 8).collect::<Vec<_>>()[..],
        &device,
    );
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let step = || {
        let start = Instant::now();
        let logits = model.forward(input.clone(), None).logits;
        let loss = loss_fn.forward(logits, labels.clone());
        let _ = loss.clone().into_data();
        let forward = seconds(start);
        let start = Instant::now();
        let grads = loss.backward();
        let weight = model.classifier.out_proj.weight.val();
        let _ = weight.grad(&grads).map(|g| g.into_data());
        (forward, seconds(start))
    };
    step(); // warm-up: weight initialization, allocator
    let (mut forward, mut backward) = (0.0, 0.0);
    for _ in 0..steps {
        let (f, b) = step();
        forward += f;
        backward += b;
    }
    // The feature encoder's share of an inference forward (no autodiff graph).
    let inner = model.valid();
    let inner_input = input.inner();
    let start = Instant::now();
    let _ = inner.forward(inner_input.clone(), None).logits.into_data();
    let infer = seconds(start);
    let start = Instant::now();
    let _ = inner.wav2vec2.feature_extractor.forward(inner_input).into_data();
    let conv = seconds(start);
    let n = steps as f64;
    println!(
        "{{\"step_s\": {:.5}, \"forward_s\": {:.5}, \"backward_s\": {:.5}, \"infer_s\": {infer:.5}, \"feature_encoder_s\": {conv:.5}}}",
        (forward + backward) / n,
        forward / n,
        backward / n
    );
}

fn main() {
    vox_api::allocator::keep_freed_memory(); // as the vox binary does
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: train_step CONFIG(small|base|large) BACKEND(flex|ndarray|cuda) LAYERS BATCH SAMPLES STEPS";
    assert_eq!(args.len(), 6, "{usage}");
    let number = |i: usize| -> usize { args[i].parse().unwrap_or_else(|e| panic!("{usage}: {e}")) };
    let config = config(&args[0], number(2));
    let (batch, samples, steps) = (number(3), number(4), number(5));
    // Inside a rayon pool, as the fine-tune stage runs (`RAYON_NUM_THREADS` threads): the
    // kernels' parallel loops then start on a worker of that pool.
    let pool = rayon::ThreadPoolBuilder::new().build().expect("a rayon pool");
    pool.install(|| match args[1].as_str() {
        "flex" => bench::<Autodiff<Flex>>(&config, batch, samples, steps),
        "ndarray" => bench::<Autodiff<NdArray>>(&config, batch, samples, steps),
        #[cfg(feature = "cuda")]
        "cuda" => bench::<Autodiff<burn::backend::Cuda>>(&config, batch, samples, steps),
        other => panic!("unknown backend {other}; {usage}"),
    })
}
