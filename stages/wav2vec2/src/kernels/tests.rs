//! The kernels against f64 references and against burn's composed operations, on ndarray and flex,
//! forward and through autodiff.

use burn::backend::{Autodiff, NdArray};
use burn::tensor::ops::FloatTensorOps;
use burn::tensor::{Tensor, TensorData, Tolerance};

use super::composed::*;
use super::*;

/// -12..12 densely, plus the clamp points and zero.
fn grid() -> Vec<f32> {
    let mut xs: Vec<f32> = (-120_000..=120_000).map(|i| i as f32 * 1e-4).collect();
    xs.extend([-87.5, -40.0, -5.657, 5.657, 0.0, -0.0, 1e-30, 40.0]);
    xs
}

#[test]
fn erf_and_exp_are_within_f32_rounding_of_f64() {
    for x in grid() {
        let erf = cpu::erf(x) as f64;
        let expected = libm::erf(x as f64);
        assert!((erf - expected).abs() < 5e-7, "erf({x}) = {erf}, expected {expected}");
        let y = -x.abs();
        let exp = cpu::exp(y) as f64;
        let expected = (y as f64).max(-87.0).exp();
        assert!(
            (exp - expected).abs() <= 3e-7 * expected,
            "exp({y}) = {exp}, expected {expected}"
        );
    }
}

/// gelu and its derivative in f64.
fn exact(x: f32) -> (f64, f64) {
    let x = x as f64;
    let cdf = 0.5 * (1.0 + libm::erf(x / std::f64::consts::SQRT_2));
    let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
    (x * cdf, cdf + x * pdf)
}

/// The forward and backward of [`gelu`] on `B` against f64, within f32 rounding.
fn check_against_f64<B: Kernels>() {
    let device = Default::default();
    let xs = grid();
    let n = xs.len();
    let grad: Vec<f32> = (0..n).map(|i| 1.0 + (i % 7) as f32 * 0.25).collect();
    let x = Tensor::<B, 1>::from_data(TensorData::new(xs.clone(), [n]), &device);
    let g = Tensor::<B, 1>::from_data(TensorData::new(grad.clone(), [n]), &device);
    let forward = gelu(x.clone()).into_data().to_vec::<f32>().unwrap();
    let backward =
        B::exact_gelu_backward(x.into_primitive().tensor(), g.into_primitive().tensor());
    let backward = Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(backward))
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    for i in 0..n {
        let (value, derivative) = exact(xs[i]);
        let close = |found: f32, expected: f64| {
            (found as f64 - expected).abs() <= 2e-6 + 1e-6 * expected.abs()
        };
        assert!(
            close(forward[i], value),
            "{}: gelu({}) = {}, expected {value}",
            B::name(&device),
            xs[i],
            forward[i]
        );
        assert!(
            close(backward[i], grad[i] as f64 * derivative),
            "{}: gelu'({}) * {} = {}, expected {}",
            B::name(&device),
            xs[i],
            grad[i],
            backward[i],
            grad[i] as f64 * derivative
        );
    }
}

#[test]
fn gelu_and_its_gradient_are_exact_on_every_cpu_backend() {
    check_against_f64::<NdArray>();
    #[cfg(feature = "flex")]
    check_against_f64::<burn::backend::Flex>();
}

/// On flex, tensors of other dtypes than f32 go through burn's operations, with the same
/// results within f16 rounding.
#[cfg(feature = "flex")]
#[test]
fn flex_kernels_take_other_dtypes_through_burns_operations() {
    use burn::backend::Flex;
    use burn::tensor::{DType, FloatDType};
    let device = Default::default();
    let ramp = |n: usize| -> Vec<f32> { (0..n).map(|i| (i % 7) as f32 * 0.5 - 1.5).collect() };
    let x = Tensor::<Flex, 3>::from_data(TensorData::new(ramp(30), [2, 5, 3]), &device);
    let gamma = Tensor::<Flex, 1>::from_data(TensorData::new(ramp(3), [3]), &device);
    let beta = gamma.clone() * 0.5;
    let half = |t: Tensor<Flex, 3>| t.cast(FloatDType::F16);
    let (x16, gamma16, beta16) = (
        half(x.clone()),
        gamma.clone().cast(FloatDType::F16),
        beta.clone().cast(FloatDType::F16),
    );
    assert_eq!(x16.dtype(), DType::F16);
    let pairs = [
        (gelu(x.clone()), gelu(x16.clone())),
        (
            group_norm_over_time(x.clone(), gamma.clone(), beta.clone(), 1e-5),
            group_norm_over_time(x16, gamma16, beta16, 1e-5),
        ),
    ];
    for (full, reduced) in pairs {
        assert_eq!(reduced.dtype(), DType::F16);
        reduced
            .cast(FloatDType::F32)
            .into_data()
            .assert_approx_eq::<f32>(&full.into_data(), Tolerance::absolute(2e-2));
    }
}

/// [`matmul`] and its gradients against burn's product on ndarray, with a transposed view
/// as the right operand, as the encoder's linears and convs use it.
#[test]
fn matmul_and_its_gradients_equal_burns_product() {
    fn run<B: AutodiffKernels>(ours: bool) -> [Vec<f32>; 3] {
        let device = Default::default();
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n).map(|i| ((i * 7919 + seed) % 1000) as f32 / 500.0 - 1.0).collect()
        };
        let (m, k, n) = (40, 150, 130); // deep and wide enough for flex to use vox's sgemm
        let a = Tensor::<B, 2>::from_data(TensorData::new(values(m * k, 1), [m, k]), &device)
            .require_grad();
        let bt = Tensor::<B, 2>::from_data(TensorData::new(values(n * k, 2), [n, k]), &device)
            .require_grad();
        let weights =
            Tensor::<B, 2>::from_data(TensorData::new(values(m * n, 3), [m, n]), &device);
        let b = bt.clone().transpose();
        let c = if ours { matmul(a.clone(), b) } else { a.clone().matmul(b) };
        let grads = (c.clone() * weights).sum().backward();
        let flat = |t: Tensor<B::InnerBackend, 2>| t.into_data().to_vec::<f32>().unwrap();
        [flat(c.inner()), flat(a.grad(&grads).unwrap()), flat(bt.grad(&grads).unwrap())]
    }
    let expected = run::<Autodiff<NdArray>>(false);
    let mut found = vec![("ndarray", run::<Autodiff<NdArray>>(true))];
    #[cfg(feature = "flex")]
    found.push(("flex", run::<Autodiff<burn::backend::Flex>>(true)));
    for (backend, found) in found {
        for (what, (found, expected)) in
            ["c", "da", "db"].iter().zip(found.iter().zip(&expected))
        {
            let diff =
                found.iter().zip(expected).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(diff < 1e-4, "{backend} {what}: differs by {diff}");
        }
    }
}

/// The grouped conv and its gradients through autodiff, on a transposed input as the
/// encoder hands it over, with wav2vec2's even kernel padded one less on the right: vox's
/// kernel (ndarray, flex) against burn's own `conv1d` and its autodiff.
#[test]
fn grouped_conv_and_its_gradients_agree_with_burns_conv() {
    fn run<B: AutodiffKernels>(ours: bool) -> [Vec<f32>; 3] {
        let device = Default::default();
        let values = |n: usize, seed: usize| -> Vec<f32> {
            (0..n).map(|i| ((i * 7919 + seed) % 1000) as f32 / 500.0 - 1.0).collect()
        };
        let (batch, time, channels, groups, kernel) = (2, 37, 12, 3, 16);
        let x = Tensor::<B, 3>::from_data(
            TensorData::new(values(batch * channels * time, 1), [batch, channels, time]),
            &device,
        )
        .require_grad();
        let weight = Tensor::<B, 3>::from_data(
            TensorData::new(values(channels * 4 * kernel, 2), [channels, 4, kernel]),
            &device,
        )
        .require_grad();
        let y = match ours {
            true => grouped_conv1d(x.clone().swap_dims(1, 2), weight.clone(), groups, [8, 7]),
            false => {
                use burn::tensor::ops::PaddedConvOptions;
                let options = PaddedConvOptions::asymmetric([1], [8], [7], [1], groups);
                burn::tensor::module::conv1d(x.clone(), weight.clone(), None, options)
                    .swap_dims(1, 2)
            }
        };
        assert_eq!(y.dims(), [batch, time, channels]);
        let weights = Tensor::<B, 3>::from_data(
            TensorData::new(values(batch * time * channels, 3), [batch, time, channels]),
            &device,
        );
        let grads = (y.clone() * weights).sum().backward();
        let flat = |t: Tensor<B::InnerBackend, 3>| t.into_data().to_vec::<f32>().unwrap();
        [flat(y.inner()), flat(x.grad(&grads).unwrap()), flat(weight.grad(&grads).unwrap())]
    }
    let expected = run::<Autodiff<NdArray>>(false);
    assert!(expected.iter().all(|v| v.iter().any(|&x| x != 0.0)));
    let mut found = vec![("ndarray", run::<Autodiff<NdArray>>(true))];
    #[cfg(feature = "flex")]
    found.push(("flex", run::<Autodiff<burn::backend::Flex>>(true)));
    for (backend, found) in found {
        let names = ["y", "dx", "dweight"];
        for (what, (found, expected)) in names.iter().zip(found.iter().zip(&expected)) {
            assert_eq!(found.len(), expected.len());
            let diff =
                found.iter().zip(expected).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(diff < 1e-4, "{backend} {what}: differs by {diff}");
        }
    }
}

/// Softmax over the last dimension and its gradient through autodiff, with a masked
/// (`f32::MIN`) key as attention has: vox's (ndarray, flex) against burn's `softmax`.
#[test]
fn softmax_and_its_gradient_agree_with_burns() {
    fn run<B: AutodiffKernels>(ours: bool) -> [Vec<f32>; 2] {
        let device = Default::default();
        let dims = [2, 3, 5, 37];
        let n = dims.iter().product::<usize>();
        let scores: Vec<f32> = (0..n)
            .map(|i| match i % 37 {
                36 => f32::MIN,
                k => ((i * 7919) % 1000) as f32 / 100.0 - 5.0 + k as f32 * 0.1,
            })
            .collect();
        let x =
            Tensor::<B, 4>::from_data(TensorData::new(scores, dims), &device).require_grad();
        let y = match ours {
            true => softmax_last(x.clone()),
            false => burn::tensor::activation::softmax(x.clone(), 3),
        };
        let weights: Vec<f32> = (0..n).map(|i| (i % 11) as f32 - 5.0).collect();
        let weights = Tensor::<B, 4>::from_data(TensorData::new(weights, dims), &device);
        let grads = (y.clone() * weights).sum().backward();
        let flat = |t: Tensor<B::InnerBackend, 4>| t.into_data().to_vec::<f32>().unwrap();
        [flat(y.inner()), flat(x.grad(&grads).unwrap())]
    }
    let expected = run::<Autodiff<NdArray>>(false);
    let mut found = vec![("ndarray", run::<Autodiff<NdArray>>(true))];
    #[cfg(feature = "flex")]
    found.push(("flex", run::<Autodiff<burn::backend::Flex>>(true)));
    for (backend, found) in found {
        for (what, (found, expected)) in ["y", "dx"].iter().zip(found.iter().zip(&expected)) {
            let diff =
                found.iter().zip(expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(diff < 1e-5, "{backend} {what}: differs by {diff}");
        }
        assert!(found[0].iter().skip(36).step_by(37).all(|&p| p < 1e-30), "{backend}");
    }
}

/// The trait's defaults, composed from burn's operations (what cuda runs), against the
/// CPU kernels, each operation forward and backward on ndarray.
#[test]
fn the_defaults_from_burns_operations_equal_the_cpu_kernels() {
    type B = NdArray;
    fn input(dims: &[usize], seed: usize) -> FloatTensor<B> {
        let n = dims.iter().product::<usize>();
        let values: Vec<f32> =
            (0..n).map(|i| ((i * 7919 + seed) % 1000) as f32 / 250.0 - 2.0).collect();
        B::float_from_data(TensorData::new(values, dims.to_vec()), &Default::default())
    }
    fn values(x: FloatTensor<B>) -> Vec<f32> {
        let n = burn::tensor::TensorMetadata::shape(&x).num_elements();
        tensor::<B, 1>(B::float_reshape(x, [n].into())).into_data().to_vec().unwrap()
    }
    fn check(what: &str, found: FloatTensor<B>, expected: FloatTensor<B>) {
        let (found, expected) = (values(found), values(expected));
        assert_eq!(found.len(), expected.len(), "{what}");
        let diff = found
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs() / (1.0 + b.abs()))
            .fold(0f32, f32::max);
        assert!(diff < 1e-4, "{what}: differs by {diff} (relative)");
    }
    let x = input(&[2, 33, 6], 1);
    let grad = input(&[2, 33, 6], 2);
    // Item 0 valid for its first 20 frames, item 1 for all 33.
    let valid: Vec<f32> = (0..66).map(|i| if (20..33).contains(&i) { 0.0 } else { 1.0 }).collect();
    let valid = B::float_from_data(TensorData::new(valid, [2, 33]), &Default::default());
    check(
        "masked mean and std",
        B::masked_mean_std(x.clone(), valid.clone()),
        masked_mean_std_by_ops::<B>(x.clone(), valid),
    );
    check(
        "gelu backward",
        B::exact_gelu_backward(x.clone(), grad.clone()),
        exact_gelu_backward_by_ops::<B>(x.clone(), grad.clone()),
    );
    let (gamma, beta) = (input(&[6], 3), input(&[6], 4));
    check(
        "group norm",
        B::group_norm_over_time(x.clone(), gamma.clone(), beta.clone(), 1e-5),
        group_norm_over_time_by_ops::<B>(x.clone(), gamma.clone(), beta, 1e-5),
    );
    let found = B::group_norm_over_time_backward(x.clone(), gamma.clone(), grad.clone(), 1e-5);
    let expected =
        group_norm_over_time_backward_by_ops::<B>(x.clone(), gamma.clone(), grad.clone(), 1e-5);
    let pairs = found.into_iter().zip(expected);
    for (what, (found, expected)) in ["dx", "dgamma", "dbeta"].iter().zip(pairs) {
        check(&format!("group norm {what}"), found, expected);
    }
    // The layer norm's rows are the last dimension: 6 wide here.
    let found = B::layer_norm_last_backward(x.clone(), gamma.clone(), grad.clone(), 1e-5);
    let expected = layer_norm_last_backward_by_ops::<B>(x.clone(), gamma, grad.clone(), 1e-5);
    let pairs = found.into_iter().zip(expected);
    for (what, (found, expected)) in ["dx", "dgamma", "dbeta"].iter().zip(pairs) {
        check(&format!("layer norm {what}"), found, expected);
    }
    let weight = input(&[6, 2, 8], 5);
    let conv_grad = input(&[2, 33, 6], 6);
    check(
        "grouped conv",
        B::grouped_conv1d(x.clone(), weight.clone(), 3, [4, 3]),
        grouped_conv1d_by_ops::<B>(x.clone(), weight.clone(), 3, [4, 3]),
    );
    let found =
        B::grouped_conv1d_backward(x.clone(), weight.clone(), conv_grad.clone(), 3, [4, 3]);
    let expected = grouped_conv1d_backward_by_ops::<B>(x.clone(), weight, conv_grad, 3, [4, 3]);
    let pairs = found.into_iter().zip(expected);
    for (what, (found, expected)) in ["dx", "dweight"].iter().zip(pairs) {
        check(&format!("grouped conv {what}"), found, expected);
    }
    let y = B::softmax_last(x.clone());
    check("softmax", y.clone(), softmax_last_by_ops::<B>(x.clone()));
    check(
        "softmax backward",
        B::softmax_last_backward(y.clone(), grad.clone()),
        softmax_last_backward_by_ops::<B>(y, grad.clone()),
    );
    for (kernel, stride) in [(10, 5), (3, 2), (3, 4)] {
        let frames = (33 - kernel) / stride + 1;
        check(
            "conv windows",
            B::conv_windows(x.clone(), kernel, stride),
            conv_windows_by_ops::<B>(x.clone(), kernel, stride),
        );
        let windows_grad = input(&[2 * frames, kernel * 6], 7);
        check(
            "conv windows backward",
            B::conv_windows_backward(windows_grad.clone(), [2, 33, 6], kernel, stride),
            conv_windows_backward_by_ops::<B>(windows_grad, [2, 33, 6], kernel, stride),
        );
    }
}

/// The conv windows and their gradient through autodiff against loops over the definition,
/// on every backend's path: overlapping windows, disjoint ones, a kernel shorter than the
/// stride (with steps no window reads), one tap.
#[test]
fn conv_windows_and_their_gradient_follow_the_definition() {
    fn run<B: AutodiffKernels>(dims: [usize; 3], kernel: usize, stride: usize) -> [Vec<f32>; 2]
    {
        let device = Default::default();
        let n = dims.iter().product::<usize>();
        let x = Tensor::<B, 3>::from_data(
            TensorData::new((0..n).map(|i| i as f32).collect::<Vec<_>>(), dims),
            &device,
        )
        .require_grad();
        let windows = conv_windows(x.clone(), kernel, stride);
        let [rows, width] = windows.dims();
        let weights: Vec<f32> = (0..rows * width).map(|i| (i % 7) as f32 - 3.0).collect();
        let weights =
            Tensor::<B, 2>::from_data(TensorData::new(weights, [rows, width]), &device);
        let grads = (windows.clone() * weights).sum().backward();
        [
            windows.inner().into_data().to_vec::<f32>().unwrap(),
            x.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap(),
        ]
    }
    let cases = [(10, 5, 53), (3, 2, 20), (2, 2, 9), (3, 4, 31), (3, 4, 32), (1, 1, 4)];
    for (kernel, stride, time) in cases {
        let (batch, channels) = (2, 3);
        let frames = (time - kernel) / stride + 1;
        let mut windows = vec![];
        let mut dx = vec![0f32; batch * time * channels];
        let mut column = 0;
        for b in 0..batch {
            for f in 0..frames {
                for k in 0..kernel {
                    for c in 0..channels {
                        let at = (b * time + f * stride + k) * channels + c;
                        windows.push(at as f32);
                        dx[at] += (column % 7) as f32 - 3.0;
                        column += 1;
                    }
                }
            }
        }
        let dims = [batch, time, channels];
        let mut found = vec![("ndarray", run::<Autodiff<NdArray>>(dims, kernel, stride))];
        #[cfg(feature = "flex")]
        found.push(("flex", run::<Autodiff<burn::backend::Flex>>(dims, kernel, stride)));
        for (backend, [found_windows, found_dx]) in found {
            assert_eq!(found_windows, windows, "{backend}, kernel {kernel}, stride {stride}");
            assert_eq!(found_dx, dx, "{backend}, kernel {kernel}, stride {stride}");
        }
    }
}

/// The conv as one product reading its windows in place: the same bits as the windows
/// copied out and multiplied (forward, and both gradients through autodiff), on 1 and 3
/// threads, where vox's sgemm runs on both backends (at least `sgemm::MIN_DEPTH` deep and wide, overlapping
/// and disjoint windows, a batch whose items' windows do not line up) and where flex leaves
/// thin products to burn.
#[test]
fn conv_as_matmul_is_the_windows_times_the_weight_to_the_bit() {
    fn run<B: AutodiffKernels>(dims: [usize; 3], out: usize, kernel: usize, stride: usize, composed: bool) -> [Vec<u32>; 3] {
        let device = Default::default();
        let values = |len: usize, seed: usize| {
            (0..len).map(|i| ((i * 7919 + seed * 104_729) % 2000) as f32 / 1000.0 - 1.0).collect::<Vec<_>>()
        };
        let x = Tensor::<B, 3>::from_data(TensorData::new(values(dims.iter().product(), 1), dims), &device)
            .require_grad();
        let depth = kernel * dims[2];
        let weight = Tensor::<B, 2>::from_data(TensorData::new(values(depth * out, 2), [depth, out]), &device)
            .require_grad();
        let y = match composed {
            true => matmul(conv_windows(x.clone(), kernel, stride), weight.clone()),
            false => conv_as_matmul(x.clone(), weight.clone(), kernel, stride),
        };
        let frames = (dims[1] - kernel) / stride + 1;
        assert_eq!(y.dims(), [dims[0] * frames, out]);
        let scale = Tensor::<B, 2>::from_data(TensorData::new(values(dims[0] * frames * out, 3), [dims[0] * frames, out]), &device);
        let grads = (y.clone() * scale).sum().backward();
        let bits = |t: Tensor<B::InnerBackend, 2>| t.into_data().to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect();
        let dx = x.grad(&grads).unwrap().reshape([dims[0] * dims[1], dims[2]]);
        [bits(y.inner()), bits(dx), bits(weight.grad(&grads).unwrap())]
    }
    fn check<B: AutodiffKernels>(backend: &str) {
        // (batch, time, channels, out, kernel, stride)
        let cases = [(3, 57, 64, 130, 3, 2), (2, 41, 64, 128, 2, 2), (2, 50, 130, 140, 1, 3), (2, 33, 6, 5, 3, 2)];
        for (batch, time, channels, out, kernel, stride) in cases {
            let dims = [batch, time, channels];
            let expected = run::<B>(dims, out, kernel, stride, true);
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let found = pool.install(|| run::<B>(dims, out, kernel, stride, false));
                for (what, (found, expected)) in ["y", "dx", "dweight"].iter().zip(found.iter().zip(&expected)) {
                    assert!(found == expected, "{backend} {dims:?} x {out}, kernel {kernel}, stride {stride}, {threads} threads: {what} differs");
                }
            }
        }
    }
    check::<Autodiff<NdArray>>("ndarray");
    #[cfg(feature = "flex")]
    check::<Autodiff<burn::backend::Flex>>("flex");
}

/// Gradients through the autodiff wrapper equal the analytic derivative, on a strided
/// (transposed) input as the model produces them.
#[test]
fn autodiff_gradient_is_the_derivative() {
    fn check<B: AutodiffKernels>() {
        let device = Default::default();
        let values: Vec<f32> = (0..60).map(|i| (i as f32 - 30.0) * 0.2).collect();
        let x = Tensor::<B, 2>::from_data(TensorData::new(values.clone(), [6, 10]), &device)
            .require_grad();
        let y = gelu(x.clone().swap_dims(0, 1));
        let grads = (y * 3.0).sum().backward();
        let found = x.grad(&grads).expect("x has a gradient").into_data();
        let expected: Vec<f32> = values.iter().map(|&v| 3.0 * exact(v).1 as f32).collect();
        found.assert_approx_eq::<f32>(
            &TensorData::new(expected, [6, 10]),
            Tolerance::absolute(1e-6),
        );
    }
    check::<Autodiff<NdArray>>();
    #[cfg(feature = "flex")]
    check::<Autodiff<burn::backend::Flex>>();
}

/// The host AdamW with a clipping factor leaves the same bits as burn's operations after
/// scaling the gradient, whether it updates its tensors in place (nothing else holds them)
/// or copies them (the caller keeps a clone), at the first step and after it.
#[test]
fn host_adamw_with_a_gradient_scale_matches_the_operations() {
    fn bits<B: Kernels>(x: FloatTensor<B>) -> Vec<u32> {
        let t = Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(x));
        t.into_data().to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
    }
    fn check<B: Kernels<FloatTensorPrimitive: host::HostTensor>>() {
        let device = Default::default();
        let n = 3 * 40_000; // several chunks
        let values = |seed: u32| -> Tensor<B, 2> {
            let v = (0..n).map(|i| ((i as u32).wrapping_mul(2_654_435_761) ^ seed) as f32 / u32::MAX as f32 - 0.5);
            Tensor::from_data(TensorData::new(v.collect::<Vec<_>>(), [3, n / 3]), &device)
        };
        let prim = |t: Tensor<B, 2>| t.into_primitive().tensor();
        let step = |time| AdamWStep {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.01,
            lr: 3e-4,
            time,
            grad_scale: Some(0.37),
        };
        let (param, grad, m, v) = (values(1), values(2), values(3).abs(), values(4).abs());
        // The first step (no moments), then a later one, each in place and on shared inputs.
        for moments in [None, Some([m.clone(), v.clone()])] {
            let time = if moments.is_some() { 5 } else { 1 };
            let prims = |m: &Option<[Tensor<B, 2>; 2]>| m.clone().map(|[a, b]| [prim(a), prim(b)]);
            let expected = adamw_step_by_ops::<B>(prim(param.clone()), prim(grad.clone()), prims(&moments), step(time));
            let expected = expected.map(bits::<B>);
            // Shared: `param` and the moments stay held here.
            let shared = B::adamw_step(prim(param.clone()), prim(grad.clone()), prims(&moments), step(time));
            assert_eq!(shared.map(bits::<B>), expected, "shared inputs, step {time}");
            // Unique: fresh copies that nothing else holds.
            let copy = |t: &Tensor<B, 2>| Tensor::<B, 2>::from_data(t.to_data(), &device);
            let unique_moments = moments.as_ref().map(|[a, b]| [prim(copy(a)), prim(copy(b))]);
            let unique = B::adamw_step(prim(copy(&param)), prim(grad.clone()), unique_moments, step(time));
            assert_eq!(unique.map(bits::<B>), expected, "in place, step {time}");
        }
        // And the inputs held here were not written by the shared call.
        assert_eq!(bits::<B>(prim(param.clone())), bits::<B>(prim(values(1))));
        // The unique case is the in-place one, the shared case is not.
        use host::HostTensor;
        let mut fresh = prim(values(1));
        assert!(fresh.values_mut().is_some(), "a fresh tensor is written in place");
        let kept = fresh.clone();
        assert!(fresh.values_mut().is_none(), "a shared tensor is not");
        drop(kept);
        let mut transposed = prim(values(1).swap_dims(0, 1));
        assert!(transposed.values_mut().is_none(), "a transposed view is not");
    }
    check::<NdArray>();
    #[cfg(feature = "flex")]
    check::<burn::backend::Flex>();
}

/// The squared sum is the f64 sum of squares (to f64 rounding) on every backend path.
#[test]
fn squared_sum_is_the_sum_of_squares() {
    fn check<B: Kernels>() {
        let device = Default::default();
        let values: Vec<f32> = (0..100_003).map(|i| ((i % 1000) as f32 - 500.0) * 1e-3).collect();
        let expected: f64 = values.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let x = Tensor::<B, 2>::from_data(TensorData::new(values, [1, 100_003]), &device);
        // A transposed view reads the same values; a tensor of twos sums to 4 per value.
        let twos = Tensor::<B, 2>::full([3, 5], 2.0, &device);
        let found = squared_sums(vec![x.clone(), x.swap_dims(0, 1).reshape([1, 100_003]), twos]);
        assert_eq!(found.len(), 3);
        for found in &found[..2] {
            assert!((found - expected).abs() <= 1e-9 * expected, "{found} vs {expected}");
        }
        assert_eq!(found[2], 60.0);
        assert!(squared_sums::<B, 2>(Vec::new()).is_empty());
    }
    /// The default's sums (in f32 here, every value and sum exact in f32 below 2^24).
    fn check_by_ops<B: Kernels>() {
        let device = Default::default();
        let ramp = Tensor::<B, 1>::from_data(TensorData::new((0..100).map(|i| i as f32).collect::<Vec<_>>(), [100]), &device);
        let xs = vec![ramp.clone().into_primitive().tensor(), ramp.neg().into_primitive().tensor()];
        assert_eq!(squared_sums_by_ops::<B>(xs), vec![328_350.0; 2]);
        assert!(squared_sums_by_ops::<B>(Vec::new()).is_empty());
    }
    check::<NdArray>();
    check_by_ops::<NdArray>();
    #[cfg(feature = "flex")]
    check::<burn::backend::Flex>();
}

/// Element-wise passes cut their rows into tasks by the thread count: GELU, its gradient
/// and the softmax give the same bits at any count (rows 777 wide, so that tasks end
/// inside the vector loops' blocks).
#[test]
fn element_wise_passes_give_the_same_bits_at_any_thread_count() {
    fn check<B: Kernels>() {
        let device = Default::default();
        let (rows, width) = (301, 777);
        let values: Vec<f32> = (0..rows * width).map(|i| ((i * 7919 % 2003) as f32 - 1001.0) * 4e-3).collect();
        let x = || Tensor::<B, 2>::from_data(TensorData::new(values.clone(), [rows, width]), &device);
        let run = || {
            let bits = |t: FloatTensor<B>| tensor::<B, 2>(t).into_data().to_vec::<f32>().unwrap().iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            let p = |t: Tensor<B, 2>| t.into_primitive().tensor();
            [
                bits(B::exact_gelu(p(x()))),
                bits(B::exact_gelu_backward(p(x()), p(x().neg()))),
                bits(B::softmax_last(p(x()))),
            ]
        };
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(run);
        for threads in [2, 3, 16] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            assert!(pool.install(run) == one, "{threads} threads");
        }
    }
    check::<NdArray>();
    #[cfg(feature = "flex")]
    check::<burn::backend::Flex>();
}

/// [`contiguous`] lays out permuted, flipped and narrowed views (with offsets and negative
/// strides, larger than one task) as burn's reshape does, and passes the gradient through.
#[test]
fn contiguous_copies_strided_views_as_burn_does() {
    fn check<B: AutodiffKernels>() {
        let device = Default::default();
        let dims = [30, 64, 37]; // 71 040 values: more than one parallel task's
        let n = dims.iter().product::<usize>();
        let values: Vec<f32> = (0..n).map(|i| i as f32).collect();
        let x = Tensor::<B, 3>::from_data(TensorData::new(values, dims), &device);
        let views = [
            x.clone().permute([2, 1, 0]),
            x.clone().swap_dims(0, 1).flip([2]),
            x.clone().narrow(1, 5, 50).permute([1, 0, 2]),
            x.clone(),
        ];
        for (i, view) in views.into_iter().enumerate() {
            let expected = view.clone().reshape([-1]).into_data();
            let found = contiguous(view.clone());
            assert_eq!(found.dims(), view.dims(), "view {i}");
            assert_eq!(found.reshape([-1]).into_data(), expected, "view {i}");
        }
        let x = x.require_grad();
        let weights = Tensor::<B, 3>::from_data(
            TensorData::new((0..n).map(|i| (i % 7) as f32).collect::<Vec<_>>(), [37, 64, 30]),
            &device,
        );
        let grads = (contiguous(x.clone().permute([2, 1, 0])) * weights.clone()).sum().backward();
        let expected = weights.inner().permute([2, 1, 0]).into_data();
        assert_eq!(x.grad(&grads).unwrap().into_data(), expected);
    }
    check::<Autodiff<NdArray>>();
    #[cfg(feature = "flex")]
    check::<Autodiff<burn::backend::Flex>>();
}

/// The weight norm and its gradients (for `v` and `g`) against f64: vox's kernel on every
/// CPU backend to f32 rounding, at any thread count to the bit; the composition cuda runs
/// (the trait's defaults) and burn's autodiff through the composed operations within f32
/// sums' rounding.
#[test]
fn weight_norm_and_its_gradients_match_f64() {
    fn check<B: AutodiffKernels>() {
        let device = Default::default();
        let (dims, k) = ([40, 12, 7], 7); // 480 rows of taps: two blocks of the kernel's sums
        let n = dims.iter().product::<usize>();
        let v_values: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.02).collect();
        let g_values: Vec<f32> = (0..k).map(|i| 0.5 + i as f32 * 0.3).collect();
        let weights: Vec<f32> = (0..n).map(|i| ((i * 13 % 29) as f32 - 14.0) * 0.1).collect();
        // f64: w = g v / |v|, dv = g / |v| c - g d / |v|^3 v, dg = d / |v|, d = sum(c v).
        let (mut squares, mut dots) = (vec![0f64; k], vec![0f64; k]);
        for i in 0..n {
            let (v, c) = (f64::from(v_values[i]), f64::from(weights[i]));
            squares[i % k] += v * v;
            dots[i % k] += c * v;
        }
        let norm = |j: usize| squares[j].sqrt();
        let g = |j: usize| f64::from(g_values[j]);
        let w: Vec<f64> = (0..n).map(|i| g(i % k) * f64::from(v_values[i]) / norm(i % k)).collect();
        let dv: Vec<f64> = (0..n)
            .map(|i| {
                let j = i % k;
                g(j) / norm(j) * f64::from(weights[i]) - g(j) * dots[j] / norm(j).powi(3) * f64::from(v_values[i])
            })
            .collect();
        let dg: Vec<f64> = (0..k).map(|j| dots[j] / norm(j)).collect();
        let expected = [w, dv, dg];
        let worst = |found: &[Vec<f32>; 3]| -> f64 {
            found.iter().zip(&expected).flat_map(|(f, e)| {
                assert_eq!(f.len(), e.len());
                f.iter().zip(e).map(|(&f, &e)| (f64::from(f) - e).abs() / (1.0 + e.abs()))
            }).fold(0.0, f64::max)
        };
        let inputs = || {
            let v = Tensor::<B, 3>::from_data(TensorData::new(v_values.clone(), dims), &device).require_grad();
            let g = Tensor::<B, 3>::from_data(TensorData::new(g_values.clone(), [1, 1, k]), &device).require_grad();
            (v, g)
        };
        let c = Tensor::<B, 3>::from_data(TensorData::new(weights.clone(), dims), &device);
        let run = |ours: bool| {
            let (v, g) = inputs();
            let w = match ours {
                true => weight_norm(v.clone(), g.clone()),
                false => v.clone() * (g.clone() / v.clone().powi_scalar(2).sum_dims(&[0, 1]).sqrt()),
            };
            let grads = (w.clone() * c.clone()).sum().backward();
            let vec = |d: TensorData| d.to_vec::<f32>().unwrap();
            [vec(w.into_data()), vec(v.grad(&grads).unwrap().into_data()), vec(g.grad(&grads).unwrap().into_data())]
        };
        let ours = run(true);
        assert!(worst(&ours) < 1e-6, "{}: vox's kernel off f64 by {}", B::name(&device), worst(&ours));
        assert!(worst(&run(false)) < 1e-4, "burn's composition off f64 by {}", worst(&run(false)));
        // The defaults, which cuda runs.
        let inner = |values: &[f32], shape: [usize; 3]| {
            Tensor::<B::InnerBackend, 3>::from_data(TensorData::new(values.to_vec(), shape), &device)
                .into_primitive()
                .tensor()
        };
        let bits = |x| tensor::<B::InnerBackend, 3>(x).into_data().to_vec::<f32>().unwrap();
        let composed = weight_norm_by_ops::<B::InnerBackend>(inner(&v_values, dims), inner(&g_values, [1, 1, k]));
        let [dv, dg] = weight_norm_backward_by_ops::<B::InnerBackend>(
            inner(&v_values, dims),
            inner(&g_values, [1, 1, k]),
            inner(&weights, dims),
        );
        let by_ops = [bits(composed), bits(dv), bits(dg)];
        assert!(worst(&by_ops) < 1e-4, "the default composition off f64 by {}", worst(&by_ops));
        // Not vacuous: the gradients are far from zero.
        assert!(expected[1].iter().fold(0f64, |m, x| m.max(x.abs())) > 0.1);
        assert!(expected[2].iter().fold(0f64, |m, x| m.max(x.abs())) > 0.1);
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            assert!(pool.install(|| run(true)) == ours, "{threads} threads");
        }
    }
    check::<Autodiff<NdArray>>();
    #[cfg(feature = "flex")]
    check::<Autodiff<burn::backend::Flex>>();
}

/// Gradients through vox's layer norm equal those through burn's composed one (x, gamma
/// and beta, on a strided input as the model's transposes make them), and the forward is
/// the same.
#[test]
fn layer_norm_gradients_match_burns() {
    fn check<B: AutodiffKernels>() {
        use burn::nn::LayerNormConfig;
        let device = Default::default();
        let (rows, width) = (70, 48); // more rows than one task's
        let values: Vec<f32> = (0..rows * width).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.05).collect();
        let weights: Vec<f32> = (0..rows * width).map(|i| ((i * 13 % 29) as f32 - 14.0) * 0.1).collect();
        let mut norm = LayerNormConfig::new(width).with_epsilon(1e-5).init::<B>(&device);
        let gamma: Vec<f32> = (0..width).map(|i| 0.5 + i as f32 * 0.03).collect();
        let beta: Vec<f32> = (0..width).map(|i| i as f32 * -0.01).collect();
        norm.gamma = burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(gamma, [width]), &device));
        norm.beta = Some(burn::module::Param::from_tensor(Tensor::from_data(TensorData::new(beta, [width]), &device)));
        let run = |ours: bool| {
            let x = Tensor::<B, 3>::from_data(TensorData::new(values.clone(), [2, width, rows / 2]), &device)
                .require_grad();
            let w = Tensor::<B, 3>::from_data(TensorData::new(weights.clone(), [2, rows / 2, width]), &device);
            let input = x.clone().swap_dims(1, 2);
            let y = if ours { layer_norm(&norm, 1e-5, input) } else { norm.forward(input) };
            let grads = (y.clone() * w).sum().backward();
            let data = |t: Option<Tensor<B::InnerBackend, 1>>| t.unwrap().into_data();
            let x_grad = x.grad(&grads).unwrap().into_data();
            let gamma_grad = data(norm.gamma.grad(&grads));
            let beta_grad = data(norm.beta.as_ref().unwrap().grad(&grads));
            (y.into_data(), x_grad, gamma_grad, beta_grad)
        };
        let (ours, theirs) = (run(true), run(false));
        // The forward is the backend's own; burn's composed backward runs in f32 and is off
        // by up to 2.5e-5 on this input (PyTorch in f64 agrees with ours to 1e-7).
        ours.0.assert_approx_eq::<f32>(&theirs.0, Tolerance::absolute(1e-5));
        ours.1.assert_approx_eq::<f32>(&theirs.1, Tolerance::absolute(1e-4));
        ours.2.assert_approx_eq::<f32>(&theirs.2, Tolerance::absolute(1e-4));
        ours.3.assert_approx_eq::<f32>(&theirs.3, Tolerance::absolute(1e-4));
        // dx against the formula in f64, row by row (x is [2, width, rows / 2] and each
        // row of the norm is one (item, time) column of it).
        let dx = ours.1.to_vec::<f32>().unwrap();
        let (gamma, half) = (norm.gamma.val().into_data().to_vec::<f32>().unwrap(), rows / 2);
        let mut largest = 0f64;
        for item in 0..2 {
            for t in 0..half {
                let at = |j: usize| item * width * half + j * half + t;
                let x: Vec<f64> = (0..width).map(|j| f64::from(values[at(j)])).collect();
                let g: Vec<f64> = (0..width)
                    .map(|j| f64::from(weights[(item * half + t) * width + j]) * f64::from(gamma[j]))
                    .collect();
                let n = width as f64;
                let mean = x.iter().sum::<f64>() / n;
                let rstd = 1.0 / (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n + 1e-5).sqrt();
                let normalized: Vec<f64> = x.iter().map(|v| (v - mean) * rstd).collect();
                let mean_g = g.iter().sum::<f64>() / n;
                let mean_gn = g.iter().zip(&normalized).map(|(a, b)| a * b).sum::<f64>() / n;
                for j in 0..width {
                    let expected = (g[j] - mean_g - normalized[j] * mean_gn) * rstd;
                    let found = f64::from(dx[at(j)]);
                    assert!((found - expected).abs() < 2e-6, "dx at {:?}: {found} vs {expected}", (item, j, t));
                    largest = largest.max(found.abs());
                }
            }
        }
        // Not vacuous: the gradients are far from zero.
        assert!(largest > 0.1, "largest dx {largest}");
    }
    check::<Autodiff<NdArray>>();
    #[cfg(feature = "flex")]
    check::<Autodiff<burn::backend::Flex>>();
}

/// Splitting and merging heads gives burn's reshape-and-transpose values, and gradients
/// through both are the same as through burn's views.
#[test]
fn heads_split_and_merge_as_burns_views() {
    fn check<B: AutodiffKernels>() {
        let device = Default::default();
        let (batch, frames, heads, width) = (2, 5, 3, 4);
        let values: Vec<f32> = (0..batch * frames * heads * width).map(|i| i as f32 * 0.5 - 7.0).collect();
        let weights: Vec<f32> = (0..batch * frames * heads * width).map(|i| (i % 11) as f32 - 5.0).collect();
        let run = |ours: bool| {
            let x = Tensor::<B, 3>::from_data(TensorData::new(values.clone(), [batch, frames, heads * width]), &device)
                .require_grad();
            let w = Tensor::<B, 4>::from_data(TensorData::new(weights.clone(), [batch, heads, frames, width]), &device);
            let split = match ours {
                true => split_heads(x.clone(), heads),
                false => x.clone().reshape([batch, frames, heads, width]).swap_dims(1, 2),
            };
            let scaled = split.clone() * w;
            let merged = match ours {
                true => merge_heads(scaled),
                false => scaled.swap_dims(1, 2).reshape([batch, frames, heads * width]),
            };
            let grads = (merged.clone() * merged.clone()).sum().backward();
            (split.into_data(), merged.into_data(), x.grad(&grads).unwrap().into_data())
        };
        let (ours, theirs) = (run(true), run(false));
        assert_eq!(ours.0, theirs.0);
        assert_eq!(ours.1, theirs.1);
        assert_eq!(ours.2, theirs.2);
    }
    check::<Autodiff<NdArray>>();
    #[cfg(feature = "flex")]
    check::<Autodiff<burn::backend::Flex>>();
}

/// The bias added on every row, and its gradient the columns' sums (over more rows than
/// one task's), as burn's broadcast addition gives them.
#[test]
fn bias_and_its_gradient_as_burns() {
    fn check<B: AutodiffKernels>() {
        let device = Default::default();
        let (rows, n) = (150, 7);
        let values: Vec<f32> = (0..rows * n).map(|i| (i % 13) as f32 * 0.25 - 1.0).collect();
        let run = |ours: bool| {
            let x = Tensor::<B, 2>::from_data(TensorData::new(values.clone(), [rows, n]), &device).require_grad();
            let b = Tensor::<B, 1>::from_data(TensorData::new((0..n).map(|i| i as f32).collect::<Vec<_>>(), [n]), &device)
                .require_grad();
            let y = match ours {
                true => add_bias(x.clone(), b.clone()),
                false => x.clone() + b.clone().unsqueeze_dim::<2>(0),
            };
            let grads = (y.clone() * y.clone()).sum().backward();
            (y.into_data(), x.grad(&grads).unwrap().into_data(), b.grad(&grads).unwrap().into_data())
        };
        let (ours, theirs) = (run(true), run(false));
        assert_eq!(ours.0, theirs.0);
        assert_eq!(ours.1, theirs.1);
        ours.2.assert_approx_eq::<f32>(&theirs.2, Tolerance::absolute(1e-3));
        let largest = ours.2.to_vec::<f32>().unwrap().iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(largest > 100.0, "bias gradient {largest}");
    }
    check::<Autodiff<NdArray>>();
    #[cfg(feature = "flex")]
    check::<Autodiff<burn::backend::Flex>>();
}

/// The gated bias and its gradients as burn's broadcast product and sum give them.
#[test]
fn gated_bias_and_its_gradients_as_burns() {
    fn check<B: AutodiffKernels>() {
        let device = Default::default();
        let (batch, heads, frames) = (2, 3, 37);
        let values = |n: usize, seed: usize| -> Vec<f32> { (0..n).map(|i| ((i * 31 + seed) % 17) as f32 * 0.125 - 1.0).collect() };
        let run = |ours: bool| {
            let scores = Tensor::<B, 4>::from_data(TensorData::new(values(batch * heads * frames * frames, 1), [batch, heads, frames, frames]), &device).require_grad();
            let gate = Tensor::<B, 3>::from_data(TensorData::new(values(batch * heads * frames, 2), [batch, heads, frames]), &device).require_grad();
            // The bias as the model makes it: a permuted view.
            let stored = Tensor::<B, 3>::from_data(TensorData::new(values(frames * frames * heads, 3), [frames, frames, heads]), &device).require_grad();
            let bias = stored.clone().permute([2, 0, 1]);
            let y = match ours {
                true => add_gated_bias(scores.clone(), gate.clone(), bias),
                false => scores.clone() + gate.clone().unsqueeze_dim::<4>(3) * bias.unsqueeze_dim::<4>(0),
            };
            let grads = (y.clone() * y.clone()).sum().backward();
            let g = |t: Option<Tensor<B::InnerBackend, 3>>| t.unwrap().into_data();
            (y.into_data(), scores.grad(&grads).unwrap().into_data(), g(gate.grad(&grads)), g(stored.grad(&grads)))
        };
        let (ours, theirs) = (run(true), run(false));
        assert_eq!(ours.0, theirs.0);
        assert_eq!(ours.1, theirs.1);
        ours.2.assert_approx_eq::<f32>(&theirs.2, Tolerance::absolute(1e-3));
        ours.3.assert_approx_eq::<f32>(&theirs.3, Tolerance::absolute(1e-3));
        let largest = ours.2.to_vec::<f32>().unwrap().iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(largest > 1.0, "gate gradient {largest}");
    }
    check::<Autodiff<NdArray>>();
    #[cfg(feature = "flex")]
    check::<Autodiff<burn::backend::Flex>>();
}
