//! Mixed precision: the dtype the network's large matrix products run in.
//!
//! With [`Precision::Bf16`] each product of the feature encoder's convs and of the
//! transformer's linears (q, k, v, out, the feed-forward pair, the feature projection) casts
//! its two operands to bf16, multiplies (a GPU accumulates in f32 on its tensor cores, burn-flex
//! in f32 too) and casts the product back to f32. Everything else stays f32, as PyTorch's
//! `torch.autocast(dtype=torch.bfloat16)` keeps it: the parameters (the master weights the
//! optimizer updates), AdamW's moments, the layer and group norms with their statistics, the
//! softmax and attention's own products (`2 * frames^2 * hidden` of the `12 * frames *
//! hidden^2` products per layer: 3% at XLSR's 187 frames), the pooling, the head and the loss.
//!
//! The gradients follow the casts (burn's autodiff casts a cast's gradient back): a product's
//! backward multiplies bf16 operands, and its parameter's gradient arrives in f32. The
//! autodiff graph keeps each product's bf16 operands, half the memory of f32 ones.
//!
//! Unlike autocast, each product's bf16 result is cast back to f32 at once: the element-wise
//! work after it (bias, GELU, residual sums) then runs in f32 without casts of its own. A bf16
//! product's inputs and result have 8 significant bits (relative rounding at most 2^-9), so an
//! output is off by about 2^-8 of the typical term's size times the square root of the depth,
//! plus its own rounding, as are PyTorch's bf16 products.
//!
//! No f16: its 5-bit exponent needs loss scaling to keep small gradients, and bf16 has f32's
//! range, so it trains without one.

use burn::tensor::backend::Backend;
use burn::tensor::{DType, FloatDType, Tensor};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kernels::{self, Kernels};

/// The dtype of the large matrix products (see the module doc).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// Every product in f32 (the default; on the CPU backends, the same bits for a seed on
    /// any thread count).
    #[default]
    F32,
    /// The products in bf16 with f32 parameters, optimizer state, norms and loss.
    Bf16,
}

impl Precision {
    /// The param's value, as a pipeline writes it.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }

    /// Whether this is the default, f32 (a fine-tune's key then has no `precision`).
    pub fn is_f32(&self) -> bool {
        *self == Precision::F32
    }

    /// The products' operand dtype.
    fn dtype(self) -> FloatDType {
        match self {
            Precision::F32 => FloatDType::F32,
            Precision::Bf16 => FloatDType::BF16,
        }
    }

    /// Whether backend `B` computes in this precision on `device` (ndarray has no bf16).
    pub fn supported<B: Backend>(self, device: &B::Device) -> bool {
        B::supports_dtype(device, DType::from(self.dtype()))
    }

    /// `x` in the products' operand dtype.
    pub fn narrow<B: Backend, const D: usize>(self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Precision::F32 => x,
            Precision::Bf16 => x.cast(self.dtype()),
        }
    }

    /// A product's result back in f32.
    pub fn widen<B: Backend, const D: usize>(self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self {
            Precision::F32 => x,
            Precision::Bf16 => x.cast(FloatDType::F32),
        }
    }

    /// `a` `[m, k]` times `b` `[k, n]` ([`kernels::matmul`]) with both operands in this
    /// precision, the product in f32.
    pub fn matmul<B: Kernels>(self, a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 2> {
        self.widen(kernels::matmul(self.narrow(a), self.narrow(b)))
    }
}

#[cfg(all(test, feature = "flex"))]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::TensorData;

    use super::*;

    /// The bf16 product is the product of the operands rounded to bf16 (exactly representable
    /// in f32, so only the sums' order differs), itself rounded to bf16: within one bf16 step
    /// (2^-7 relative) of that. It is not the f32 product of the unrounded operands, and its
    /// gradients arrive in f32, within bf16 rounding of f32's.
    #[test]
    fn a_bf16_product_rounds_its_operands_and_its_gradients_come_back_in_f32() {
        type B = Autodiff<Flex>;
        let device = Default::default();
        let a = Tensor::<B, 2>::from_data(spread(37, 96, 1), &device).require_grad();
        let b = Tensor::<B, 2>::from_data(spread(96, 21, 2), &device).require_grad();
        let product = Precision::Bf16.matmul(a.clone(), b.clone());
        assert_eq!(product.dtype(), DType::F32);

        let round = |x: &Tensor<B, 2>| x.clone().inner().cast(FloatDType::BF16).cast(FloatDType::F32);
        let rounded = round(&a).matmul(round(&b));
        let found = product.clone().inner().into_data().to_vec::<f32>().unwrap();
        for (i, (p, r)) in found.iter().zip(rounded.into_data().to_vec::<f32>().unwrap()).enumerate() {
            assert!((p - r).abs() <= r.abs() / 128.0 + 1e-3, "entry {i}: {p} against {r}");
        }

        // Off by a few bf16 steps of the largest values, never by f32's rounding only.
        let within_bf16 = |found: Tensor<Flex, 2>, exact: Tensor<Flex, 2>, what: &str| {
            let scale = exact.clone().abs().max().into_scalar();
            let error = (found - exact).abs().max().into_scalar();
            assert!(error > scale * 1e-5 && error < scale / 32.0, "{what} off by {error} (values up to {scale})");
        };
        within_bf16(product.clone().inner(), a.clone().inner().matmul(b.clone().inner()), "product");

        let upstream = Tensor::<B, 2>::from_data(spread(37, 21, 3), &device);
        let grads = (product * upstream.clone()).sum().backward();
        let grad_a = a.grad(&grads).unwrap();
        assert_eq!(grad_a.dtype(), DType::F32);
        within_bf16(grad_a, upstream.inner().matmul(b.inner().transpose()), "gradient");
    }

    /// `rows x cols` values spread over [-1, 1) without a random generator (burn's is global
    /// to the process; other tests draw from it).
    fn spread(rows: usize, cols: usize, seed: u64) -> TensorData {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let values = (0..rows * cols)
            .map(|_| {
                state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            })
            .collect();
        TensorData::new(values, [rows, cols])
    }

    /// f32 is the identity: the same product and no casts.
    #[test]
    fn an_f32_product_is_the_plain_product() {
        type B = Flex;
        let device = Default::default();
        let a = Tensor::<B, 2>::from_data(spread(5, 7, 4), &device);
        let b = Tensor::<B, 2>::from_data(spread(7, 3, 5), &device);
        let plain = kernels::matmul(a.clone(), b.clone()).into_data();
        assert_eq!(Precision::F32.matmul(a, b).into_data(), plain);
    }

    #[test]
    fn ndarray_has_no_bf16_and_flex_has() {
        assert!(!Precision::Bf16.supported::<burn::backend::NdArray>(&Default::default()));
        assert!(Precision::Bf16.supported::<Flex>(&Default::default()));
        assert!(Precision::F32.supported::<burn::backend::NdArray>(&Default::default()));
    }
}
