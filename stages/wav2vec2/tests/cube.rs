//! vox's cubecl kernels (`src/kernels/cube.rs`, what cuda runs) against the CPU backends' and
//! transformers', on burn's wgpu backend, which runs them on this CPU through Mesa's lavapipe
//! (a Vulkan driver; installed with apt when missing, as the Slurm tests install Slurm, and the
//! tests fail if it cannot be), or, built with `--features cuda`, on a GPU
//! (`benches/gpu-check.sh` section 1 runs this binary there).

#![cfg(any(feature = "wgpu", feature = "cuda"))]

use std::path::Path;
use std::process::Command;
use std::sync::Once;

// The model tests' helpers (fixtures, `parity_errors`), of which this binary uses some.
#[allow(dead_code)]
#[path = "common.rs"]
mod common;

use burn::backend::{Autodiff, Flex};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor, TensorData, TensorPrimitive};
use vox_wav2vec2::{Precision, Wav2Vec2ForSequenceClassification};
use vox_wav2vec2::kernels::{
    AdamWStep, AttentionInputs, AutodiffKernels, Kernels, attention_by_ops, key_mask, multi_head_attention, squared_sums,
    training_attention,
};
use vox_wav2vec2::train::{AdamWSettings, FineTuneOptimizer, freeze_feature_encoder};

/// The cubecl backend under test: cuda where built with it, else wgpu on lavapipe.
#[cfg(feature = "cuda")]
type Gpu = burn::backend::Cuda;
#[cfg(not(feature = "cuda"))]
type Gpu = burn::backend::Wgpu;

/// The tolerance of whole models against transformers' f32 outputs: lavapipe multiplies in
/// f32, so the CPU parity tests' 1e-4; cuda in TF32 on tensor cores, so the cuda parity
/// tests' 1e-2 for O(1) hidden states (`tests/parity.rs`).
const MODEL_TOLERANCE: f32 = if cfg!(feature = "cuda") { 1e-2 } else { 1e-4 };

/// Held by the tests that seed the cubecl backend's generator and draw from it (weights,
/// dropout masks), so that two tests' draws do not interleave.
static GPU_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Mesa's lavapipe, the Vulkan driver wgpu finds on a machine without a GPU.
const LAVAPIPE_ICD: &str = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";

/// Makes sure the backend under test has a device: lavapipe for wgpu (a GPU is cuda's).
fn lavapipe() {
    if cfg!(feature = "cuda") {
        return;
    }
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        if Path::new(LAVAPIPE_ICD).exists() {
            return;
        }
        let status = Command::new("sh")
            .args([
                "-c",
                "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                 --no-install-recommends mesa-vulkan-drivers libvulkan1 >/dev/null",
            ])
            .status()
            .expect("running apt-get to install Mesa's Vulkan drivers");
        assert!(status.success(), "apt-get could not install mesa-vulkan-drivers: {status}");
        assert!(Path::new(LAVAPIPE_ICD).exists(), "mesa-vulkan-drivers installed no {LAVAPIPE_ICD}");
    });
}

fn values<B: Backend, const D: usize>(x: Tensor<B, D>) -> Vec<f32> {
    x.into_data().convert::<f32>().into_vec().expect("f32 values")
}

fn on<B: Backend>(values: &[f32], shape: [usize; 2]) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(values.to_vec(), shape), &Default::default())
}

fn prim<B: Backend, const D: usize>(x: Tensor<B, D>) -> burn::tensor::ops::FloatTensor<B> {
    x.into_primitive().tensor()
}

fn tensor<B: Backend>(x: burn::tensor::ops::FloatTensor<B>) -> Tensor<B, 2> {
    Tensor::from_primitive(TensorPrimitive::Float(x))
}

/// Seeded values from the CPU backend, the same on every run.
fn random(shape: [usize; 2], seed: u64, distribution: Distribution) -> Vec<f32> {
    let device = Default::default();
    Flex::seed(&device, seed);
    values(Tensor::<Flex, 2>::random(shape, distribution, &device))
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn adamw_kernel_matches_the_cpu_update() {
    lavapipe();
    // 1000 x 1100 values: more than the kernel's 4096 cubes of 256 units, so units stride.
    let shape = [1000, 1100];
    let normal = Distribution::Normal(0.0, 1.0);
    let param = random(shape, 1, normal);
    let grad = random(shape, 2, normal);
    let m = random(shape, 3, Distribution::Normal(0.0, 0.1));
    let v = random(shape, 4, Distribution::Uniform(0.0, 0.01));
    for (moments, grad_scale, weight_decay) in [(false, None, 0.01), (true, Some(0.25), 0.01), (true, None, 0.0)] {
        let step = AdamWStep {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            weight_decay,
            lr: 3e-3,
            time: if moments { 7 } else { 1 },
            grad_scale,
        };
        let run = |on_gpu: bool| -> [Vec<f32>; 3] {
            fn go<B: Kernels>(p: &[f32], g: &[f32], mv: Option<[&[f32]; 2]>, s: [usize; 2], step: AdamWStep) -> [Vec<f32>; 3] {
                let moments = mv.map(|[m, v]| [prim(on::<B>(m, s)), prim(on::<B>(v, s))]);
                B::adamw_step(prim(on::<B>(p, s)), prim(on::<B>(g, s)), moments, step).map(|x| values(tensor::<B>(x)))
            }
            let mv = moments.then_some([&m[..], &v[..]]);
            match on_gpu {
                true => go::<Gpu>(&param, &grad, mv, shape, step),
                false => go::<Flex>(&param, &grad, mv, shape, step),
            }
        };
        let [gpu, cpu] = [run(true), run(false)];
        for (name, (a, b)) in ["param", "moment 1", "moment 2"].iter().zip(gpu.iter().zip(&cpu)) {
            let diff = max_abs_diff(a, b);
            // f32 rounding of a handful of operations on values of order 1 (the update moves a
            // value by at most about lr = 3e-3); a wrong operation is off by far more.
            assert!(diff <= 2e-6, "{name} (moments {moments}, scale {grad_scale:?}): max |gpu - cpu| {diff}");
        }
        // The step did move the values: by about lr where the moments are the gradient's
        // (the first step), up to m / sqrt(v) times lr with the test's moments.
        let moved = max_abs_diff(&gpu[0], &param);
        assert!(moved > 1e-3 && moved < 0.3, "the step moved values by at most {moved}");
        eprintln!("adamw (moments {moments}): max |gpu - cpu| {:?}, moved {moved}", gpu.iter().zip(&cpu).map(|(a, b)| max_abs_diff(a, b)).collect::<Vec<_>>());
    }
}

#[test]
fn squared_sums_kernel_matches_f64_sums() {
    lavapipe();
    let normal = Distribution::Normal(0.0, 1.0);
    // One value, a partial cube, just over one cube, and more than 4096 cubes' units.
    let shapes = [[1, 1], [1, 255], [1, 257], [1025, 1030]];
    let host: Vec<Vec<f32>> = shapes.iter().enumerate().map(|(i, &s)| random(s, 10 + i as u64, normal)).collect();
    let device = Default::default();
    let mut tensors: Vec<Tensor<Gpu, 2>> =
        host.iter().zip(shapes).map(|(v, s)| on::<Gpu>(v, s)).collect();
    // And a transposed view, which the kernel reads after making it contiguous.
    let square = random([300, 200], 20, normal);
    tensors.push(on::<Gpu>(&square, [300, 200]).transpose());
    let sums = squared_sums(tensors);
    let expected: Vec<f64> = host
        .iter()
        .chain([&square])
        .map(|v| v.iter().map(|&x| f64::from(x) * f64::from(x)).sum())
        .collect();
    assert_eq!(sums.len(), expected.len());
    eprintln!("squared sums {sums:?} against {expected:?}");
    for (i, (got, want)) in sums.iter().zip(&expected).enumerate() {
        // f32 sums of up to 280 values per unit, then f64: relative 1e-5 is f32's rounding
        // over that many additions, with margin.
        assert!((got - want).abs() <= 1e-5 * want.max(1e-30), "tensor {i}: {got} against {want}");
    }
    let _ = Tensor::<Gpu, 1>::zeros([1], &device);
}

#[test]
fn layer_norm_kernels_match_the_cpu() {
    lavapipe();
    // A transformer's width (3 cubes' worth of units per row), and narrow rows, more of them
    // than the kernel's 4096 cubes (so cubes stride over rows and the parameters' gradients
    // add many blocks of rows).
    for (shape, seed) in [([150, 768], 30), ([5000, 33], 40)] {
        let width = shape[1];
        // Rows with an offset and a scale, as activations have.
        let x: Vec<f32> = random(shape, seed, Distribution::Normal(0.0, 1.0)).iter().enumerate()
            .map(|(i, v)| v * (1.0 + (i / width % 7) as f32) + (i / width % 5) as f32)
            .collect();
        let gamma = random([1, width], seed + 1, Distribution::Normal(1.0, 0.2));
        let beta = random([1, width], seed + 2, Distribution::Normal(0.0, 0.2));
        let grad = random(shape, seed + 3, Distribution::Normal(0.0, 1.0));
        fn go<B: Kernels>(x: &[f32], gamma: &[f32], beta: &[f32], grad: &[f32], shape: [usize; 2]) -> [Vec<f32>; 4] {
            let width = [shape[1]];
            let vector = |v: &[f32]| -> burn::tensor::ops::FloatTensor<B> {
                Tensor::<B, 1>::from_data(TensorData::new(v.to_vec(), width), &Default::default()).into_primitive().tensor()
            };
            let vec_values = |t: burn::tensor::ops::FloatTensor<B>| values(Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(t)));
            let out = B::layer_norm_last(prim(on::<B>(x, shape)), vector(gamma), vector(beta), 1e-5);
            let [dx, dgamma, dbeta] = B::layer_norm_last_backward(prim(on::<B>(x, shape)), vector(gamma), prim(on::<B>(grad, shape)), 1e-5);
            [values(tensor::<B>(out)), values(tensor::<B>(dx)), vec_values(dgamma), vec_values(dbeta)]
        }
        let gpu = go::<Gpu>(&x, &gamma, &beta, &grad, shape);
        let cpu = go::<Flex>(&x, &gamma, &beta, &grad, shape);
        let rows = shape[0] as f32;
        // Output and dx: f32 rounding of sums over a row (values of order 1-10); the
        // parameters' gradients sum over all rows, so their rounding grows with the rows.
        for (i, (name, tolerance)) in [("output", 2e-5), ("dx", 2e-5), ("dgamma", 2e-6 * rows), ("dbeta", 2e-6 * rows)].into_iter().enumerate() {
            let diff = max_abs_diff(&gpu[i], &cpu[i]);
            eprintln!("layer norm {shape:?} {name}: max |gpu - cpu| {diff}");
            assert!(diff <= tolerance, "layer norm {shape:?} {name}: max |gpu - cpu| {diff} > {tolerance}");
        }
        let scale = cpu[2].iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(scale > 1.0, "dgamma is a real sum over rows ({scale})");
    }
}

#[test]
fn gelu_and_softmax_kernels_match_the_cpu() {
    lavapipe();
    // More values than 4096 cubes of 256 units (units stride), spread over GELU's curve.
    let shape = [1100, 1000];
    let x = random(shape, 50, Distribution::Normal(0.0, 3.0));
    let grad = random(shape, 51, Distribution::Normal(0.0, 1.0));
    fn gelu<B: Kernels>(x: &[f32], grad: &[f32], shape: [usize; 2]) -> [Vec<f32>; 2] {
        let out = B::exact_gelu(prim(on::<B>(x, shape)));
        let dx = B::exact_gelu_backward(prim(on::<B>(x, shape)), prim(on::<B>(grad, shape)));
        [values(tensor::<B>(out)), values(tensor::<B>(dx))]
    }
    let (gpu, cpu) = (gelu::<Gpu>(&x, &grad, shape), gelu::<Flex>(&x, &grad, shape));
    for (i, name) in ["gelu", "gelu backward"].into_iter().enumerate() {
        let diff = max_abs_diff(&gpu[i], &cpu[i]);
        eprintln!("{name}: max |gpu - cpu| {diff}");
        // flex's erf is a rational approximation within 4.2e-7, on values up to about 12.
        assert!(diff <= 1e-5, "{name}: max |gpu - cpu| {diff}");
    }
    // Attention's rows (frames wide, a masked tail of -inf-like scores), and rows wider than
    // a cube, more of them than 4096 cubes.
    for (shape, seed) in [([4 * 16 * 90, 90], 60), ([5000, 300], 70)] {
        let mut scores = random(shape, seed, Distribution::Normal(0.0, 4.0));
        for row in scores.chunks_mut(shape[1]) {
            let masked = row.len() - row.len() / 5;
            row[masked..].iter_mut().for_each(|v| *v = -3.4e38);
        }
        let grad = random(shape, seed + 1, Distribution::Normal(0.0, 1.0));
        fn softmax<B: Kernels>(x: &[f32], grad: &[f32], shape: [usize; 2]) -> [Vec<f32>; 2] {
            let y = B::softmax_last(prim(on::<B>(x, shape)));
            let y_values = values(tensor::<B>(y));
            let dx = B::softmax_last_backward(prim(on::<B>(&y_values, shape)), prim(on::<B>(grad, shape)));
            [y_values, values(tensor::<B>(dx))]
        }
        let (gpu, cpu) = (softmax::<Gpu>(&scores, &grad, shape), softmax::<Flex>(&scores, &grad, shape));
        for (i, name) in ["softmax", "softmax backward"].into_iter().enumerate() {
            let diff = max_abs_diff(&gpu[i], &cpu[i]);
            eprintln!("{name} {shape:?}: max |gpu - cpu| {diff}");
            assert!(diff <= 2e-6, "{name} {shape:?}: max |gpu - cpu| {diff}");
        }
        let row_sum: f32 = gpu[0][..shape[1]].iter().sum();
        assert!((row_sum - 1.0).abs() < 1e-5, "a row of probabilities sums to {row_sum}");
        assert!(gpu[0][shape[1] - 1] == 0.0, "a masked score has probability 0");
    }
}

#[test]
fn conv_windows_and_their_gradient_match_the_cpu() {
    lavapipe();
    // The feature encoder's kernels and strides (10/5, 3/2, 2/2) on channels-last inputs whose
    // lengths leave a remainder past the last window.
    for (dims, kernel, stride) in [([2, 103, 4], 10, 5), ([3, 50, 16], 3, 2), ([2, 41, 8], 2, 2)] {
        let [batch, time, channels] = dims;
        let frames = (time - kernel) / stride + 1;
        let x = random([batch * time, channels], 80, Distribution::Normal(0.0, 1.0));
        let grad = random([batch * frames, kernel * channels], 81, Distribution::Normal(0.0, 1.0));
        fn go<B: Kernels>(x: &[f32], grad: &[f32], dims: [usize; 3], kernel: usize, stride: usize, frames: usize) -> [Vec<f32>; 2] {
            let device = Default::default();
            let x = Tensor::<B, 3>::from_data(TensorData::new(x.to_vec(), dims), &device);
            let windows = B::conv_windows(x.into_primitive().tensor(), kernel, stride);
            let grad = on::<B>(grad, [dims[0] * frames, kernel * dims[2]]);
            let dx = B::conv_windows_backward(prim(grad), dims, kernel, stride);
            let dx = Tensor::<B, 3>::from_primitive(TensorPrimitive::Float(dx));
            [values(tensor::<B>(windows)), values(dx)]
        }
        let gpu = go::<Gpu>(&x, &grad, dims, kernel, stride, frames);
        let cpu = go::<Flex>(&x, &grad, dims, kernel, stride, frames);
        // The windows are copies: equal. The gradient adds at most kernel / stride values per
        // step, in frame order on both.
        assert_eq!(gpu[0], cpu[0], "windows of {dims:?}, kernel {kernel}, stride {stride}");
        let diff = max_abs_diff(&gpu[1], &cpu[1]);
        assert!(diff <= 1e-6, "windows' gradient of {dims:?}, kernel {kernel}, stride {stride}: max |gpu - cpu| {diff}");
        // The last time steps past the last window get no gradient; the first gets one.
        let last = &gpu[1][(time - 1) * channels..time * channels];
        match (frames - 1) * stride + kernel < time {
            true => assert!(last.iter().all(|&v| v == 0.0), "a step no window reads has gradient {last:?}"),
            false => assert!(last.iter().any(|&v| v != 0.0)),
        }
    }
}

#[test]
fn grouped_conv_and_its_gradients_match_the_cpu() {
    lavapipe();
    // wav2vec2's positional conv in small: an even kernel with half of it padded on each
    // side (one frame more than the input), and an uneven padding.
    for (dims, groups, kernel, padding) in [([2, 37, 16], 4, 8, [4, 4]), ([3, 20, 12], 3, 5, [3, 1])] {
        let [batch, time, channels] = dims;
        let frames = time + padding[0] + padding[1] + 1 - kernel;
        let group = channels / groups;
        let x = random([batch * time, channels], 90, Distribution::Normal(0.0, 1.0));
        let weight = random([channels, group * kernel], 91, Distribution::Normal(0.0, 0.3));
        let grad = random([batch * frames, channels], 92, Distribution::Normal(0.0, 1.0));
        let run = |gpu: bool| -> [Vec<f32>; 3] {
            fn go<B: Kernels>(
                x: &[f32], weight: &[f32], grad: &[f32], dims: [usize; 3], groups: usize, kernel: usize,
                padding: [usize; 2],
            ) -> [Vec<f32>; 3] {
                let device = Default::default();
                let t3 = |v: &[f32], shape: [usize; 3]| -> burn::tensor::ops::FloatTensor<B> {
                    Tensor::<B, 3>::from_data(TensorData::new(v.to_vec(), shape), &device).into_primitive().tensor()
                };
                let v3 = |t: burn::tensor::ops::FloatTensor<B>| values(Tensor::<B, 3>::from_primitive(TensorPrimitive::Float(t)));
                let [batch, time, channels] = dims;
                let frames = time + padding[0] + padding[1] + 1 - kernel;
                let wshape = [channels, channels / groups, kernel];
                let y = B::grouped_conv1d(t3(x, dims), t3(weight, wshape), groups, padding);
                let [dx, dw] = B::grouped_conv1d_backward(t3(x, dims), t3(weight, wshape), t3(grad, [batch, frames, channels]), groups, padding);
                [v3(y), v3(dx), v3(dw)]
            }
            match gpu {
                true => go::<Gpu>(&x, &weight, &grad, dims, groups, kernel, padding),
                false => go::<Flex>(&x, &weight, &grad, dims, groups, kernel, padding),
            }
        };
        let (gpu, cpu) = (run(true), run(false));
        assert_eq!(gpu[0].len(), batch * frames * channels, "output of {dims:?}");
        for (i, name) in ["output", "dx", "dweight"].into_iter().enumerate() {
            let diff = max_abs_diff(&gpu[i], &cpu[i]);
            eprintln!("grouped conv {dims:?} {name}: max |gpu - cpu| {diff}");
            // Sums of kernel * group products (dweight: of batch * frames), in other orders;
            // TF32 on cuda.
            let tolerance = match (cfg!(feature = "cuda"), name) {
                (true, _) => 5e-2,
                (false, "dweight") => 1e-4,
                (false, _) => 2e-5,
            };
            assert!(diff <= tolerance, "grouped conv {dims:?} {name}: max |gpu - cpu| {diff}");
        }
    }
}

/// Every fixture layout (wav2vec2 base and large, the dense-tanh head, HuBERT, WavLM's gated
/// relative bias) on the cubecl backend against transformers' outputs, with and without the
/// padding mask: the cube kernels inside whole models (layer norms, GELU, masked softmax),
/// within [`MODEL_TOLERANCE`].
#[test]
fn every_layout_on_the_cubecl_backend_matches_transformers() {
    lavapipe();
    // Building each model draws its initial weights from the backend's generator (then
    // overwritten by the fixture's): not between another test's seed and its draws.
    let _rng = GPU_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let mut worst = 0f32;
    for variant in ["base", "large", "large-dense-tanh", "hubert-base", "wavlm-base", "wavlm-large"] {
        for (output, error) in common::parity_errors::<Gpu>(variant, Precision::F32) {
            assert!(error <= MODEL_TOLERANCE, "{variant}: {output} differs from transformers' by {error}");
            worst = worst.max(error);
        }
    }
    eprintln!("parity: largest difference from transformers {worst:.2e}");
    // Every layer's hidden state, as SSL features pool them (issue 16's parity on a cubecl
    // backend), at f32's tolerance.
    for variant in ["base", "large", "hubert-base", "wavlm-large"] {
        common::hidden_states_within::<Gpu>(variant, MODEL_TOLERANCE);
    }
}

/// The attention kernels (`cube_attention.rs`: inference's forward, training's forward and
/// its two backward kernels) give the values and gradients of attention composed from burn's
/// operations on the same backend, from strided operands: masked, WavLM-gated, and with
/// dropout (the same keep mask for the same seed). Frames that are not a multiple of the
/// kernels' 16-row blocks (one frame; 131, nine blocks), heads of 8, 16, 40 and 64 values (the
/// models', the widest the kernels take), and a row whose keys are all masked (uniform, as the
/// operations make it); a second run repeats the first's bits. Wider heads are composed.
#[test]
fn attention_kernels_match_the_operations() {
    lavapipe();
    type Ad = Autodiff<Gpu>;
    let device = Default::default();
    let values_of = |n: usize, seed: usize, step: f32| -> Vec<f32> {
        (0..n).map(|i| ((i * 31 + seed) % 17) as f32 * step - 8.0 * step).collect()
    };
    for (batch, frames, heads, width) in [(3, 37, 3, 16), (2, 21, 2, 64), (1, 1, 2, 8), (1, 131, 1, 40)] {
        let hidden = heads * width;
        // The second item's last 9 frames are padding; in the first shape, a third item has
        // no valid frame at all.
        let valid: Vec<f32> = (0..batch * frames)
            .map(|i| match i / frames {
                2 => 0.0,
                item if i % frames < frames - 9 * item => 1.0,
                _ => 0.0,
            })
            .collect();
        let scale = (width as f32).powf(-0.5);
        for (masked, gated, dropout) in [(false, false, 0.0), (true, false, 0.0), (true, true, 0.0), (true, true, 0.3), (false, false, 0.1)] {
            let case = format!("{batch}x{frames}, {heads} heads of {width}: masked {masked}, gated {gated}, dropout {dropout}");
            let run = |ours: bool| {
                let _rng = GPU_RNG.lock().unwrap_or_else(|e| e.into_inner());
                Ad::seed(&device, 11);
                // [batch, hidden, frames] transposed: strided as the projections' views are.
                let input = |seed| {
                    Tensor::<Ad, 3>::from_data(TensorData::new(values_of(batch * frames * hidden, seed, 0.0625), [batch, hidden, frames]), &device)
                        .require_grad()
                };
                let (q, k, v) = (input(1), input(2), input(3));
                let gate = Tensor::<Ad, 3>::from_data(TensorData::new(values_of(batch * heads * frames, 4, 0.0625), [batch, heads, frames]), &device)
                    .require_grad();
                let stored = Tensor::<Ad, 3>::from_data(TensorData::new(values_of(frames * frames * heads, 5, 0.0625), [frames, frames, heads]), &device)
                    .require_grad();
                let (qv, kv, vv) = (q.clone().swap_dims(1, 2), k.clone().swap_dims(1, 2), v.clone().swap_dims(1, 2));
                let valid = masked.then(|| Tensor::<Ad, 2>::from_data(TensorData::new(valid.clone(), [batch, frames]), &device));
                let gating = gated.then(|| (gate.clone(), stored.clone().permute([2, 0, 1])));
                let (y, inference) = match ours {
                    true => {
                        let inner = AttentionInputs {
                            q: qv.clone().inner().into_primitive().tensor(),
                            k: kv.clone().inner().into_primitive().tensor(),
                            v: vv.clone().inner().into_primitive().tensor(),
                            heads,
                            scale,
                            valid: None,
                            gated: None,
                        };
                        assert!(<Gpu as Kernels>::attention_saving(inner, 0.0).is_some(), "{case}: the kernels' road");
                        let inference = multi_head_attention(
                            qv.clone().inner(),
                            kv.clone().inner(),
                            vv.clone().inner(),
                            heads,
                            scale,
                            valid.clone().map(|v| v.inner()),
                            gating.clone().map(|(g, b)| (g.inner(), b.inner())),
                        );
                        (training_attention(qv, kv, vv, heads, scale, valid, gating, dropout), Some(values(inference)))
                    }
                    false => {
                        let mask = valid.map(|valid| key_mask(valid, heads));
                        let dropout = burn::nn::DropoutConfig::new(dropout).init();
                        (attention_by_ops(qv, kv, vv, heads, scale, mask.as_ref(), gating, |p| dropout.forward(p)), None)
                    }
                };
                let weights = Tensor::<Ad, 3>::from_data(TensorData::new(values_of(batch * frames * hidden, 6, 0.125), [batch, frames, hidden]), &device);
                let grads = (y.clone() * weights).sum().backward();
                let g = |t: &Tensor<Ad, 3>| t.grad(&grads).map(values);
                (values(y), inference, [g(&q), g(&k), g(&v), g(&gate), g(&stored)])
            };
            let (ours, theirs) = (run(true), run(false));
            // No atomics, sums in a fixed order: the same bits again.
            let again = run(true);
            assert!(again.0 == ours.0 && again.2 == ours.2, "{case}: a second run gave other bits");
            let diff = max_abs_diff(&ours.0, &theirs.0);
            assert!(diff <= 2e-6, "{case}: context, max |kernels - operations| {diff}");
            if dropout == 0.0 {
                let diff = max_abs_diff(ours.1.as_ref().expect("ours"), &theirs.0);
                assert!(diff <= 2e-6, "{case}: inference's context, max |kernels - operations| {diff}");
            }
            let mut diffs = Vec::new();
            for (i, (a, b)) in ours.2.iter().zip(&theirs.2).enumerate() {
                match (a, b) {
                    (Some(a), Some(b)) => {
                        let diff = max_abs_diff(a, b);
                        assert!(diff <= 2e-5, "{case}: gradient {i}, max |kernels - operations| {diff}");
                        diffs.push(diff);
                    }
                    (None, None) => assert!(!gated && i >= 3, "{case}: gradient {i} missing"),
                    _ => panic!("{case}: gradient {i} on one side only"),
                }
            }
            for (i, name) in ["queries", "keys", "values"].iter().enumerate() {
                let grad = ours.2[i].as_ref().expect("a gradient");
                // Over one frame the softmax is 1 whatever the scores: only the values learn
                // (the others' gradients are 0 but for rounding under dropout's factor).
                match frames == 1 && i < 2 {
                    true => assert!(grad.iter().all(|v| v.abs() < 1e-5), "{case}: the {name}' gradient is 0"),
                    false => assert!(grad.iter().any(|v| v.abs() > 1e-3), "{case}: a real gradient of the {name}"),
                }
            }
            eprintln!("attention {case}: context {:e}, gradients {diffs:?}", max_abs_diff(&ours.0, &theirs.0));
        }
    }
    // Heads wider than the kernels' shared memory is sized for take the composed road, with
    // the same result.
    let wide = |seed| Tensor::<Gpu, 3>::from_data(TensorData::new(values_of(2 * 9 * 160, seed, 0.0625), [2, 9, 160]), &device);
    let inner = AttentionInputs { q: prim(wide(1)), k: prim(wide(2)), v: prim(wide(3)), heads: 2, scale: 0.1, valid: None, gated: None };
    assert!(<Gpu as Kernels>::attention_saving(inner, 0.0).is_none(), "heads of 80 are composed");
    let ours = multi_head_attention(wide(1), wide(2), wide(3), 2, 0.1, None, None);
    let theirs = attention_by_ops(wide(1), wide(2), wide(3), 2, 0.1, None, None, |p| p);
    assert!(max_abs_diff(&values(ours), &values(theirs)) <= 2e-6);
}

/// Two training steps of a small wav2vec2 (layers, attention, the head, the fine-tune's AdamW
/// with clipping) on the cubecl backend against flex from the same weights and input: the losses and the
/// head's weights after the steps agree within f32 rounding of different summation orders.
#[test]
fn training_steps_on_the_cubecl_backend_follow_flex() {
    lavapipe();
    fn steps<B: AutodiffKernels>(weights: Option<Vec<Vec<f32>>>) -> (Vec<f32>, Vec<f32>, Vec<Vec<f32>>) {
        let device = Default::default();
        let config: vox_wav2vec2::Wav2Vec2Config = serde_json::from_str(
            r#"{"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
                "conv_dim": [16, 16], "conv_kernel": [10, 3], "conv_stride": [5, 2],
                "num_conv_pos_embeddings": 8, "num_conv_pos_embedding_groups": 4, "num_labels": 3,
                "hidden_dropout": 0.0, "attention_dropout": 0.0, "activation_dropout": 0.0,
                "feat_proj_dropout": 0.0, "final_dropout": 0.0, "layerdrop": 0.0,
                "apply_spec_augment": false, "mask_time_prob": 0.0}"#,
        )
        .expect("a valid config");
        let _rng = GPU_RNG.lock().unwrap_or_else(|e| e.into_inner());
        B::seed(&device, 3);
        let mut model = freeze_feature_encoder(Wav2Vec2ForSequenceClassification::<B>::new(&config, &device));
        // The same starting weights on both backends: flex's, copied.
        let record_values = |model: &Wav2Vec2ForSequenceClassification<B>| -> Vec<Vec<f32>> {
            let mut out = Vec::new();
            model.visit(&mut Collect(&mut out));
            out
        };
        if let Some(weights) = weights {
            model = model.map(&mut Assign(weights.into_iter()));
        }
        let start = record_values(&model);
        let input = Tensor::<B, 2>::from_data(
            TensorData::new(random([2, 800], 7, Distribution::Normal(0.0, 1.0)), [2, 800]),
            &device,
        );
        let labels = Tensor::<B, 1, Int>::from_ints([0, 2], &device);
        let loss_fn = CrossEntropyLossConfig::new().init(&device);
        let mut optimizer = FineTuneOptimizer::new(&model, AdamWSettings::default(), Some(1.0));
        let mut losses = Vec::new();
        for _ in 0..2 {
            let loss = loss_fn.forward(model.forward(input.clone(), None).logits, labels.clone());
            losses.push(values(loss.clone().reshape([1, 1]))[0]);
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step_grads(1e-3, model, grads).0;
        }
        (losses, values(model.classifier.out_proj.weight.val()), start)
    }
    let (cpu_losses, cpu_head, start) = steps::<Autodiff<Flex>>(None);
    let (gpu_losses, gpu_head, gpu_start) = steps::<Autodiff<Gpu>>(Some(start.clone()));
    assert_eq!(gpu_start.len(), start.len());
    assert!(max_abs_diff(&gpu_start.concat(), &start.concat()) == 0.0, "the same starting weights");
    for (gpu, cpu) in gpu_losses.iter().zip(&cpu_losses) {
        assert!((gpu - cpu).abs() <= MODEL_TOLERANCE * cpu.abs(), "loss {gpu} on the cubecl backend, {cpu} on flex");
    }
    assert!(cpu_losses[1] != cpu_losses[0], "the first step changed the model");
    let diff = max_abs_diff(&gpu_head, &cpu_head);
    eprintln!("losses gpu {gpu_losses:?} flex {cpu_losses:?}; head max diff {diff}");
    // AdamW moves a weight by about lr = 1e-3 a step whatever the gradient's size, so TF32's
    // gradients may move one differently by up to that; f32's agree far closer.
    let head_tolerance = if cfg!(feature = "cuda") { 2e-3 } else { 1e-5 };
    assert!(diff <= head_tolerance, "head weights after two steps: max |gpu - flex| {diff}");
    let moved = max_abs_diff(&cpu_head, &start_head(&start, cpu_head.len()));
    assert!(moved > 1e-4, "the steps moved the head's weights ({moved})");
}

/// The head's output weight among the collected starting parameters (the last one of its size).
fn start_head(start: &[Vec<f32>], len: usize) -> Vec<f32> {
    start.iter().rev().find(|p| p.len() == len).expect("the head's weight").clone()
}

/// Collects every float parameter's values, in the module's visiting order.
struct Collect<'a>(&'a mut Vec<Vec<f32>>);

impl<B: Backend> burn::module::ModuleVisitor<B> for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<B, D>>) {
        self.0.push(values(param.val()));
    }
}

/// Sets every float parameter, in the module's visiting order, from collected values.
struct Assign<I: Iterator<Item = Vec<f32>>>(I);

impl<B: Backend, I: Iterator<Item = Vec<f32>>> burn::module::ModuleMapper<B> for Assign<I> {
    fn map_float<const D: usize>(&mut self, param: burn::module::Param<Tensor<B, D>>) -> burn::module::Param<Tensor<B, D>> {
        let values = self.0.next().expect("as many values as parameters");
        let (id, tensor, mapper) = param.consume();
        let shape = tensor.shape();
        let device = tensor.device();
        let require_grad = tensor.is_require_grad();
        let mut new = Tensor::<B, D>::from_data(TensorData::new(values, shape), &device);
        if require_grad {
            new = new.require_grad();
        }
        burn::module::Param::from_mapped_value(id, new, mapper)
    }
}
