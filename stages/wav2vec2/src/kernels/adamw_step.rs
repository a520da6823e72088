//! One AdamW step's settings ([`AdamWStep`], the argument of [`super::Kernels::adamw_step`])
//! and the update of one element with them ([`AdamWScalars::update`]), which the CPU loops
//! (`host.rs`) and the cubecl kernel (`cube.rs`) compute in burn-optim's order of operations.

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWStep {
    /// Decay of the first moment.
    pub beta_1: f32,
    /// Decay of the second moment.
    pub beta_2: f32,
    /// Added to the root of the corrected second moment.
    pub epsilon: f32,
    /// Decoupled weight decay.
    pub weight_decay: f32,
    /// The learning rate.
    pub lr: f64,
    /// The step's number, from 1.
    pub time: usize,
    /// The factor of the gradient (the global-norm clipping's), `None` for 1.
    pub grad_scale: Option<f32>,
}

/// The f32 scalars of an [`AdamWStep`], rounded as burn-optim rounds them (its scalars reach
/// f32 tensors through `f64` and back), so that the fused kernel and the operations agree to
/// the bit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct AdamWScalars {
    pub(super) beta_1: f32,
    pub(super) beta_2: f32,
    /// `1 - beta_1`, `1 - beta_2`.
    pub(super) factor_1: f32,
    pub(super) factor_2: f32,
    /// The bias corrections `1 - beta^t`.
    pub(super) correction_1: f32,
    pub(super) correction_2: f32,
    pub(super) epsilon: f32,
    /// `1 - lr * weight_decay`, or `None` without decay (burn then leaves the value as is).
    pub(super) decay: Option<f32>,
    pub(super) lr: f32,
    pub(super) grad_scale: Option<f32>,
}

impl AdamWStep {
    pub(crate) fn scalars(&self) -> AdamWScalars {
        let time = self.time as i32;
        let decay_rate = self.lr * f64::from(self.weight_decay);
        AdamWScalars {
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            factor_1: 1.0 - self.beta_1,
            factor_2: 1.0 - self.beta_2,
            correction_1: 1f32 - self.beta_1.powi(time),
            correction_2: 1f32 - self.beta_2.powi(time),
            epsilon: self.epsilon,
            decay: (decay_rate != 0.0).then_some((1.0 - decay_rate) as f32),
            lr: self.lr as f32,
            grad_scale: self.grad_scale,
        }
    }
}

impl AdamWScalars {
    /// One element's update: `(param, moment_1, moment_2)` after the step, each operation as
    /// burn-optim's tensor operation on this element (no fused multiply-adds).
    #[inline(always)]
    pub(crate) fn update(&self, param: f32, grad: f32, moments: Option<(f32, f32)>) -> (f32, f32, f32) {
        let grad = match self.grad_scale {
            Some(scale) => grad * scale,
            None => grad,
        };
        let square = grad * grad;
        let (m, v) = match moments {
            Some((m, v)) => (m * self.beta_1 + grad * self.factor_1, v * self.beta_2 + square * self.factor_2),
            None => (grad * self.factor_1, square * self.factor_2),
        };
        let delta = (m / self.correction_1) / ((v / self.correction_2).sqrt() + self.epsilon);
        let decayed = match self.decay {
            Some(keep) => param * keep,
            None => param,
        };
        (decayed - delta * self.lr, m, v)
    }
}
