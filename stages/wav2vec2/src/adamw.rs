//! AdamW with each parameter's update as one backend operation ([`Kernels::adamw_step`]): a
//! parallel pass on the CPU backends instead of burn-optim's ten element-wise tensor operations,
//! which burn-flex runs on one thread (see the kernels' module doc for what that cost). The
//! same arithmetic in the same order and the same state (burn-optim's [`AdamWState`], so
//! checkpoints read and write as before): the same bits as burn-optim's `AdamW`. The gradient
//! clipping's factor is applied in the same pass ([`GradScale`]) instead of scaling every
//! gradient first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use burn::optim::{AdamWState, AdaptiveMomentumState, LearningRate, SimpleOptimizer};
use burn::tensor::{Tensor, TensorPrimitive};

use crate::kernels::{AdamWStep, Kernels};

/// The factor of the current step's gradients, shared between whoever clips them (which sets
/// it) and the optimizers (which multiply each gradient by it as they read it).
#[derive(Clone, Debug)]
pub struct GradScale(Arc<AtomicU32>);

/// The stored bits of "no factor" (a NaN no factor can be).
const NO_SCALE: u32 = u32::MAX;

impl Default for GradScale {
    fn default() -> Self {
        Self(Arc::new(AtomicU32::new(NO_SCALE)))
    }
}

impl GradScale {
    /// The factor of the next steps' gradients; `None` leaves them as they are.
    pub fn set(&self, factor: Option<f32>) {
        self.0.store(factor.map_or(NO_SCALE, f32::to_bits), Ordering::Relaxed);
    }

    /// The factor last set.
    pub fn get(&self) -> Option<f32> {
        let bits = self.0.load(Ordering::Relaxed);
        (bits != NO_SCALE).then(|| f32::from_bits(bits))
    }
}

/// burn-optim's `AdamW` without AMSGrad or cautious decay (as `AdamWConfig`'s defaults), its
/// gradients multiplied by `grad_scale` first.
#[derive(Clone, Debug)]
pub struct FusedAdamW {
    /// Decay of the first moment.
    pub beta_1: f32,
    /// Decay of the second moment.
    pub beta_2: f32,
    /// Added to the root of the corrected second moment.
    pub epsilon: f32,
    /// Decoupled weight decay.
    pub weight_decay: f32,
    /// The factor of the gradients.
    pub grad_scale: GradScale,
}

impl<B: Kernels> SimpleOptimizer<B> for FusedAdamW {
    type State<const D: usize> = AdamWState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let time = state.as_ref().map_or(1, |s| s.momentum.time + 1);
        let step = AdamWStep {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            weight_decay: self.weight_decay,
            lr,
            time,
            grad_scale: self.grad_scale.get(),
        };
        let primitive = |t: Tensor<B, D>| t.into_primitive().tensor();
        let moments = state.map(|s| [primitive(s.momentum.moment_1), primitive(s.momentum.moment_2)]);
        let [param, moment_1, moment_2] = B::adamw_step(primitive(tensor), primitive(grad), moments, step);
        let tensor = |t| Tensor::<B, D>::from_primitive(TensorPrimitive::Float(t));
        let momentum = AdaptiveMomentumState { time, moment_1: tensor(moment_1), moment_2: tensor(moment_2), max_moment_2: None };
        (tensor(param), Some(AdamWState { momentum }))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, NdArray};
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::{AdamWConfig, GradientsParams, Optimizer};
    use burn::tensor::backend::AutodiffBackend;
    use burn::tensor::{Distribution, Tensor};

    use super::*;

    /// Four steps of a linear layer's training (decay on and off): the fused optimizer leaves
    /// the same bits in the weights as burn-optim's `AdamW` with the same settings.
    fn same_bits_as_burns_adamw<B: AutodiffBackend<InnerBackend: Kernels>>() {
        for weight_decay in [0.0, 0.01] {
            let device = Default::default();
            let _lock = crate::burn_rng_lock();
            B::seed(&device, 7);
            let model: Linear<B> = LinearConfig::new(300, 200).init(&device);
            // burn draws a parameter when it is first read: read both before the copies.
            let initial = model.weight.val().into_data().to_vec::<f32>().unwrap();
            let _ = model.bias.as_ref().map(|b| b.val());
            let inputs: Vec<Tensor<B, 2>> =
                (0..4).map(|_| Tensor::random([16, 300], Distribution::Normal(0.0, 1.0), &device)).collect();
            let config = AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(weight_decay);
            let mut burns = config.init::<B, Linear<B>>();
            let fused = FusedAdamW { beta_1: 0.9, beta_2: 0.999, epsilon: 1e-8, weight_decay, grad_scale: GradScale::default() };
            let mut ours = burn::optim::adaptor::OptimizerAdaptor::<_, Linear<B>, B>::from(fused);
            let (mut a, mut b) = (model.clone(), model);
            for (step, x) in inputs.iter().enumerate() {
                let lr = 1e-3 * (step + 1) as f64;
                let loss_a = a.forward(x.clone()).powf_scalar(2.0).mean();
                a = burns.step(lr, a.clone(), GradientsParams::from_grads(loss_a.backward(), &a));
                let loss_b = b.forward(x.clone()).powf_scalar(2.0).mean();
                b = ours.step(lr, b.clone(), GradientsParams::from_grads(loss_b.backward(), &b));
            }
            let bits = |m: &Linear<B>| -> Vec<u32> {
                let w = m.weight.val().into_data().to_vec::<f32>().unwrap();
                w.iter().map(|v| v.to_bits()).collect()
            };
            let moved = bits(&a).iter().zip(&initial).filter(|(x, y)| **x != y.to_bits()).count();
            assert!(moved > 50_000, "the steps moved {moved} weights");
            let (wa, wb) = (bits(&a), bits(&b));
            let differ = wa.iter().zip(&wb).filter(|(x, y)| x != y).count();
            assert!(differ == 0, "weight decay {weight_decay}: {differ} of {} weights differ", wa.len());
            let bias = |m: &Linear<B>| m.bias.as_ref().unwrap().val().into_data().to_vec::<f32>().unwrap();
            assert_eq!(bias(&a), bias(&b));
        }
    }

    #[test]
    fn fused_adamw_matches_burns_bit_for_bit_on_ndarray() {
        same_bits_as_burns_adamw::<Autodiff<NdArray>>();
    }

    #[cfg(feature = "flex")]
    #[test]
    fn fused_adamw_matches_burns_bit_for_bit_on_flex() {
        same_bits_as_burns_adamw::<Autodiff<burn::backend::Flex>>();
    }
}

