//! Times training steps of wav2vec2 sequence classification (random weights, all dropouts 0:
//! forward, backward, the fine-tune stage's AdamW step) and inference forwards (no autodiff
//! graph, as predictions after training) for the benchmarks in `benches/wav2vec2.sh` and
//! `benches/wav2vec2-threads.sh`, whose Python twin (`benches/wav2vec2.py torch`) times
//! transformers + PyTorch on the same config.
//!
//! `cargo run -p vox-wav2vec2 --example train_step -- CONFIG BACKEND LAYERS BATCH SAMPLES STEPS
//! [FREEZE [PRECISION]]` with CONFIG `small`, `base` or `large` (XLSR-53's layout and sizes),
//! BACKEND `flex`, `ndarray` or, built with `--features cuda`, `cuda` (`--features wgpu`: `wgpu`), FREEZE `none` (the
//! default) or `feature-encoder`, PRECISION `f32` (the default) or `bf16` (the fine-tune's
//! `precision`); CPU threads come from `RAYON_NUM_THREADS`. Prints one JSON line: mean
//! seconds per training step (`step_s` = forward through the loss + backward + optimizer),
//! per inference forward, the feature encoder's time in one inference forward and the time to
//! write the model (as the stage does after training), with
//! hashes of the inference logits and of the head's weight after the steps (weights and input
//! are seeded: equal hashes at two thread counts mean byte-identical results). `steps_window`
//! and `infer_window` are when the timed steps and inference forwards ran, in seconds of
//! `CLOCK_MONOTONIC` (as `perf record -k CLOCK_MONOTONIC` stamps its samples), for
//! `benches/wav2vec2-occupancy.sh`; `steps_busy_threads` and `infer_busy_threads` are the
//! process's CPU time over those windows' lengths, the mean number of threads at work.

use std::time::Instant;

use burn::backend::{Autodiff, Flex, NdArray};
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Distribution, Int, Tensor};
use vox_wav2vec2::kernels::AutodiffKernels;
use vox_wav2vec2::train::{AdamWSettings, FineTuneOptimizer, freeze_feature_encoder};
use vox_wav2vec2::{Precision, Wav2Vec2Config, Wav2Vec2ForSequenceClassification, save_classifier};

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

/// Steps run before the timed ones: the first allocates the optimizer's state (two moments
/// per weight), and the forward after it finds the memory its activations had used taken by
/// them, so it faults fresh pages in once: that forward took much longer than the ones after
/// it and than an inference forward (measured: BENCHMARKS-wav2vec2.md, section "Where scaling
/// stops", the paragraph "That gap was the benchmark's"). With one warm-up step that one-time
/// cost was half of every 2-step mean's forward.
/// `benches/wav2vec2.py` warms PyTorch up as many steps.
const WARM_UP: usize = 2;

fn seconds(start: Instant) -> f64 {
    start.elapsed().as_secs_f64()
}

/// CPU seconds (user and system) of every thread of the process so far: over a window, its
/// growth over the window's length is the mean number of busy threads (rayon's workers spin
/// only briefly before they sleep, so waiting costs little of it).
fn cpu_seconds() -> f64 {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid rusage to write; RUSAGE_SELF exists on every Linux.
    let status = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    assert_eq!(status, 0, "getrusage(RUSAGE_SELF)");
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Seconds on `CLOCK_MONOTONIC`, the clock of `perf record -k CLOCK_MONOTONIC`'s samples.
fn monotonic() -> f64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `now` is a valid timespec to write; CLOCK_MONOTONIC exists on every Linux.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    assert_eq!(status, 0, "clock_gettime(CLOCK_MONOTONIC)");
    now.tv_sec as f64 + now.tv_nsec as f64 * 1e-9
}

/// How much of the model trains: everything, or all but the conv feature encoder (the
/// fine-tune stage's default, HF `freeze_feature_encoder`).
#[derive(Clone, Copy)]
enum Freeze {
    None,
    FeatureEncoder,
}

fn bench<B: AutodiffKernels>(
    config: &Wav2Vec2Config,
    [batch, samples, steps]: [usize; 3],
    freeze: Freeze,
    precision: Precision,
) {
    let device = Default::default();
    // Seeded, so that runs at different thread counts start from the same weights and input:
    // their hashes below must agree.
    B::seed(&device, 5);
    let mut model = Wav2Vec2ForSequenceClassification::<B>::new(config, &device).with_precision(precision);
    if let Freeze::FeatureEncoder = freeze {
        model = freeze_feature_encoder(model);
    }
    let input = Tensor::<B, 2>::random([batch, samples], Distribution::Normal(0.0, 1.0), &device);
    let labels = Tensor::<B, 1, Int>::from_ints(
        &(0..batch as i32).map(|i| i % 8).collect::<Vec<_>>()[..],
        &device,
    );
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    // The stage's optimizer: AdamW in two groups, global-norm clipping at its default of 1.
    let mut optimizer = FineTuneOptimizer::new(&model, AdamWSettings::default(), Some(1.0));
    // Reading one value waits for the backend (cuda queues its work); the backend's sync also
    // ends a step's table of kernel times where cubecl profiles them
    // (`CUBECL_DEBUG_OPTION=profile`, benches/gpu-kernels.sh).
    let sync = |model: &Wav2Vec2ForSequenceClassification<B>| {
        let _ = model.classifier.out_proj.weight.val().slice([0..1, 0..1]).into_data();
        B::sync(&device).expect("the backend finishes its queued work");
    };
    let (mut forward, mut backward, mut update) = (0.0, 0.0, 0.0);
    let (mut steps_window, mut steps_cpu) = ([0.0; 2], 0.0);
    for step in 0..steps + WARM_UP {
        if step == WARM_UP {
            steps_window[0] = monotonic();
            steps_cpu = cpu_seconds();
        }
        let start = Instant::now();
        let logits = model.forward(input.clone(), None).logits;
        let loss = loss_fn.forward(logits, labels.clone());
        let _ = loss.clone().into_data();
        B::sync(&device).expect("the backend finishes its queued work");
        let f = seconds(start);
        let start = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        // Without it a GPU's backward, only queued, would be timed in the optimizer's step.
        B::sync(&device).expect("the backend finishes its queued work");
        let b = seconds(start);
        let start = Instant::now();
        model = optimizer.step_grads(1e-5, model, grads).0;
        sync(&model);
        let u = seconds(start);
        if step >= WARM_UP {
            (forward, backward, update) = (forward + f, backward + b, update + u);
        }
    }
    steps_window[1] = monotonic();
    let steps_busy = (cpu_seconds() - steps_cpu) / (steps_window[1] - steps_window[0]);
    // Inference as predictions run after training: no autodiff graph.
    let inner = model.valid();
    let inner_input = input.inner();
    let _ = inner.forward(inner_input.clone(), None).logits.into_data();
    let (infer_start, infer_cpu) = (monotonic(), cpu_seconds());
    let start = Instant::now();
    for _ in 0..steps {
        let _ = inner.forward(inner_input.clone(), None).logits.into_data();
    }
    let n = steps as f64;
    let infer = seconds(start) / n;
    let infer_window = [infer_start, monotonic()];
    let infer_busy = (cpu_seconds() - infer_cpu) / (infer_window[1] - infer_window[0]);
    let logits = inner.forward(inner_input.clone(), None).logits;
    let trained = inner.classifier.out_proj.weight.val();
    // Writing the model as the stage does after training (HF layout, safetensors).
    let folder = std::env::temp_dir().join(format!("train-step-save-{}", std::process::id()));
    let start = Instant::now();
    save_classifier(&inner, config, &folder).expect("the model saves");
    let save = seconds(start);
    std::fs::remove_dir_all(&folder).expect("the saved model is removed");
    // The feature encoder's share of an inference forward.
    let start = Instant::now();
    let _ = inner.wav2vec2.feature_extractor.forward(inner_input).into_data();
    let conv = seconds(start);
    println!(
        "{}",
        serde_json::json!({
            "step_s": (forward + backward + update) / n,
            "forward_s": forward / n,
            "backward_s": backward / n,
            "optimizer_s": update / n,
            "infer_s": infer,
            "feature_encoder_s": conv,
            "save_s": save,
            "logits_hash": fnv(logits.into_data()),
            "head_hash": fnv(trained.into_data()),
            "steps_window": steps_window,
            "steps_busy_threads": steps_busy,
            "infer_busy_threads": infer_busy,
            "infer_window": infer_window,
        })
    );
}

/// FNV-1a over the bits of `data`'s values: equal for byte-identical results.
fn fnv(data: burn::tensor::TensorData) -> String {
    let values = data.convert::<f32>().into_vec::<f32>().expect("f32 values");
    let hash = values.iter().flat_map(|v| v.to_bits().to_le_bytes()).fold(
        0xcbf2_9ce4_8422_2325u64,
        |h, byte| (h ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3),
    );
    format!("{hash:016x}")
}

fn main() {
    vox_api::allocator::keep_freed_memory(); // as the vox binary does
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: train_step CONFIG(small|base|large) BACKEND(flex|ndarray|cuda) LAYERS BATCH \
                 SAMPLES STEPS [FREEZE(none|feature-encoder) [PRECISION(f32|bf16)]]";
    assert!(matches!(args.len(), 6..=8), "{usage}");
    let number = |i: usize| -> usize { args[i].parse().unwrap_or_else(|e| panic!("{usage}: {e}")) };
    let config = config(&args[0], number(2));
    let (batch, samples, steps) = (number(3), number(4), number(5));
    let freeze = match args.get(6).map(String::as_str) {
        None | Some("none") => Freeze::None,
        Some("feature-encoder") => Freeze::FeatureEncoder,
        Some(other) => panic!("unknown FREEZE {other}; {usage}"),
    };
    let precision = match args.get(7).map(String::as_str) {
        None | Some("f32") => Precision::F32,
        Some("bf16") => Precision::Bf16,
        Some(other) => panic!("unknown PRECISION {other}; {usage}"),
    };
    let sizes = [batch, samples, steps];
    // Inside a rayon pool, as the fine-tune stage runs (`RAYON_NUM_THREADS` threads): the
    // kernels' parallel loops then start on a worker of that pool.
    let pool = rayon::ThreadPoolBuilder::new().build().expect("a rayon pool");
    pool.install(|| match args[1].as_str() {
        "flex" => bench::<Autodiff<Flex>>(&config, sizes, freeze, precision),
        "ndarray" => bench::<Autodiff<NdArray>>(&config, sizes, freeze, precision),
        #[cfg(feature = "cuda")]
        "cuda" => bench::<Autodiff<burn::backend::Cuda>>(&config, sizes, freeze, precision),
        #[cfg(feature = "wgpu")]
        "wgpu" => bench::<Autodiff<burn::backend::Wgpu>>(&config, sizes, freeze, precision),
        other => panic!("unknown backend {other}; {usage}"),
    })
}
