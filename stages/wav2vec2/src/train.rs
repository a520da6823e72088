//! Fine-tuning pieces matching the HF `Trainer` defaults of the reference experiment: AdamW with
//! explicit epsilon and weight decay (none on biases and layer norms, as `Trainer` groups them),
//! a linear warmup + linear decay schedule (`get_linear_schedule_with_warmup`), clipping by the
//! GLOBAL gradient norm (`clip_grad_norm_`; burn's own `GradientClipping::Norm` clips each tensor
//! separately), freezing the feature encoder (`freeze_feature_encoder`), and freezing all but
//! the top of the body for gradual layer-wise unfreezing.

use std::path::Path;

use burn::module::{AutodiffModule, Module, ModuleVisitor, Param, ParamId};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer};
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};

use crate::adamw::{FusedAdamW, GradScale};
use crate::error::Wav2Vec2Error;
use crate::kernels::{self, Kernels};
use crate::model::{Augmentation, FrameMask, Wav2Vec2ForSequenceClassification};

/// AdamW hyperparameters; the defaults are PyTorch's / HF `TrainingArguments`' (note that
/// burn's own defaults differ: epsilon 1e-5, weight decay 1e-4).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWSettings {
    /// Exponential decay of the first moment (`adam_beta1`, 0.9).
    pub beta_1: f32,
    /// Exponential decay of the second moment (`adam_beta2`, 0.999).
    pub beta_2: f32,
    /// Added to the root of the second moment (`adam_epsilon`, 1e-8).
    pub epsilon: f32,
    /// Decoupled weight decay on weights other than biases and layer norms (`weight_decay`, 0).
    pub weight_decay: f32,
}

impl Default for AdamWSettings {
    fn default() -> Self {
        Self {
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// HF's `get_linear_schedule_with_warmup`: the rate rises linearly from 0 to `peak` over
/// `warmup_steps`, then falls linearly to 0 at `total_steps`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearWarmupDecay {
    /// The rate at the end of warmup.
    pub peak: f64,
    /// Steps of warmup.
    pub warmup_steps: usize,
    /// Steps of the whole run.
    pub total_steps: usize,
}

impl LinearWarmupDecay {
    /// The learning rate of optimizer step `step` (0-based).
    pub fn at(&self, step: usize) -> f64 {
        let factor = if step < self.warmup_steps {
            step as f64 / self.warmup_steps.max(1) as f64
        } else {
            let left = self.total_steps.saturating_sub(step) as f64;
            left / self.total_steps.saturating_sub(self.warmup_steps).max(1) as f64
        };
        self.peak * factor
    }
}

/// Stops gradients in the conv feature encoder (HF `freeze_feature_encoder`).
pub fn freeze_feature_encoder<B: Backend>(
    mut model: Wav2Vec2ForSequenceClassification<B>,
) -> Wav2Vec2ForSequenceClassification<B> {
    model.wav2vec2.feature_extractor = model.wav2vec2.feature_extractor.no_grad();
    model
}

/// Freezes the wav2vec2 body except its `units` top units, for gradual (ULMFiT-style) layer-wise
/// unfreezing. Units count down from the top of the stack: each transformer layer is one unit,
/// the last layer first (with the encoder's final layer norm when the encoder is pre-LN, which
/// applies it after the last layer); after all layers comes the stem as one unit: the
/// positional conv embedding, the encoder layer norm of a post-LN encoder (applied before the
/// first layer), the feature projection and the SpecAugment mask embedding. The conv feature
/// encoder always stays frozen (as HF's `freeze_feature_encoder`), so `units` at or above the
/// layer count + 1 leaves the body as [`freeze_feature_encoder`] does. The head is untouched.
pub fn freeze_below_top<B: Backend>(
    mut model: Wav2Vec2ForSequenceClassification<B>,
    units: usize,
) -> Wav2Vec2ForSequenceClassification<B> {
    let body = &mut model.wav2vec2;
    let layers = body.encoder.layers.len();
    let frozen_layers = layers.saturating_sub(units);
    body.encoder.layers = std::mem::take(&mut body.encoder.layers)
        .into_iter()
        .enumerate()
        .map(|(i, layer)| {
            if i < frozen_layers {
                layer.no_grad()
            } else {
                layer
            }
        })
        .collect();
    let top_layer_frozen = frozen_layers == layers;
    let stem_frozen = units <= layers;
    let norm_frozen = if body.encoder.pre_norm {
        top_layer_frozen
    } else {
        stem_frozen
    };
    if norm_frozen {
        body.encoder.layer_norm = body.encoder.layer_norm.clone().no_grad();
    }
    if stem_frozen {
        body.encoder.pos_conv_embed = body.encoder.pos_conv_embed.clone().no_grad();
        body.feature_projection = body.feature_projection.clone().no_grad();
        body.masked_spec_embed = body.masked_spec_embed.clone().no_grad();
    }
    freeze_feature_encoder(model)
}

/// Visits the parameters, remembering for each whether it takes weight decay.
#[derive(Default)]
struct DecayGroups {
    /// `(field name, container type)` of the modules entered so far.
    path: Vec<(String, String)>,
    /// Parameters exempt from weight decay: biases (`bias`, norm `beta`) and layer norms.
    no_decay: Vec<ParamId>,
}

impl<B: Backend> ModuleVisitor<B> for DecayGroups {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        self.path
            .push((name.to_string(), container_type.to_string()));
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some((name, container)) = self.path.last()
            && (name == "bias" || name == "beta" || container == "Struct:LayerNorm")
        {
            self.no_decay.push(param.id);
        }
    }
}

/// Collects the gradients of the parameters it visits, flattened, in the order it visits them.
struct Gradients<'a, B: AutodiffBackend> {
    grads: &'a GradientsParams,
    found: Vec<Tensor<B::InnerBackend, 1>>,
}

impl<B: AutodiffBackend<InnerBackend: Kernels>> ModuleVisitor<B> for Gradients<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.get::<B::InnerBackend, D>(param.id) {
            self.found.push(grad.flatten(0, D - 1));
        }
    }
}

/// Multiplies the gradients of the parameters it visits by `factor`.
struct Scale<'a, B: AutodiffBackend> {
    grads: &'a mut GradientsParams,
    factor: f64,
    _backend: std::marker::PhantomData<B>,
}

impl<B: AutodiffBackend> ModuleVisitor<B> for Scale<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if let Some(grad) = self.grads.remove::<B::InnerBackend, D>(param.id) {
            self.grads.register(param.id, grad * self.factor);
        }
    }
}

/// The global L2 norm of the gradients of `module`'s parameters (each gradient's squares
/// summed by [`kernels::squared_sums`], all read at once; the sums added in f64 in the
/// parameters' order).
pub fn global_norm<B: AutodiffBackend<InnerBackend: Kernels>, M: AutodiffModule<B>>(
    module: &M,
    grads: &GradientsParams,
) -> f64 {
    let mut visitor = Gradients::<B> { grads, found: Vec::new() };
    module.visit(&mut visitor);
    kernels::squared_sums(visitor.found).into_iter().sum::<f64>().sqrt()
}

/// The factor by which PyTorch's `clip_grad_norm_` scales gradients of global norm `norm` to
/// at most `max_norm`: `max_norm / (norm + 1e-6)`, or `None` where that is not below 1.
pub fn clipping_factor(norm: f64, max_norm: f64) -> Option<f64> {
    let factor = max_norm / (norm + 1e-6);
    (factor < 1.0).then_some(factor)
}

/// Scales all gradients together so that their global L2 norm is at most `max_norm`, as
/// PyTorch's `clip_grad_norm_` does ([`clipping_factor`]). Returns the norm before clipping.
/// (The fine-tune's optimizer applies the factor as it reads each gradient instead.)
pub fn clip_global_norm<B: AutodiffBackend<InnerBackend: Kernels>, M: AutodiffModule<B>>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> f64 {
    let norm = global_norm(module, grads);
    if let Some(factor) = clipping_factor(norm, max_norm) {
        module.visit(&mut Scale::<B> { grads, factor, _backend: std::marker::PhantomData });
    }
    norm
}

type Adaptor<B> = OptimizerAdaptor<FusedAdamW, Wav2Vec2ForSequenceClassification<B>, B>;

/// AdamW over the classifier in two groups (with and without weight decay), with optional
/// global-norm gradient clipping.
pub struct FineTuneOptimizer<B: AutodiffBackend<InnerBackend: Kernels>> {
    decay: Adaptor<B>,
    no_decay: Adaptor<B>,
    no_decay_ids: Vec<ParamId>,
    max_grad_norm: Option<f64>,
    /// The clipping's factor, read by both groups' AdamW.
    grad_scale: GradScale,
}

impl<B: AutodiffBackend<InnerBackend: Kernels>> FineTuneOptimizer<B> {
    /// An optimizer for `model`'s parameters; `max_grad_norm` as HF's `max_grad_norm`.
    pub fn new(
        model: &Wav2Vec2ForSequenceClassification<B>,
        settings: AdamWSettings,
        max_grad_norm: Option<f64>,
    ) -> Self {
        let grad_scale = GradScale::default();
        let adamw = |weight_decay| {
            OptimizerAdaptor::from(FusedAdamW {
                beta_1: settings.beta_1,
                beta_2: settings.beta_2,
                epsilon: settings.epsilon,
                weight_decay,
                grad_scale: grad_scale.clone(),
            })
        };
        let mut groups = DecayGroups::default();
        Module::<B>::visit(model, &mut groups);
        Self {
            decay: adamw(settings.weight_decay),
            no_decay: adamw(0.0),
            no_decay_ids: groups.no_decay,
            max_grad_norm,
            grad_scale,
        }
    }

    /// One update from `loss` at learning rate `lr`; returns the updated model and the global
    /// gradient norm before clipping.
    pub fn step(
        &mut self,
        lr: f64,
        model: Wav2Vec2ForSequenceClassification<B>,
        loss: Tensor<B, 1>,
    ) -> (Wav2Vec2ForSequenceClassification<B>, f64) {
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.step_grads(lr, model, grads)
    }

    /// One update from gradients already computed (accumulated over several batches, say);
    /// returns the updated model and the global gradient norm before clipping.
    pub fn step_grads(
        &mut self,
        lr: f64,
        model: Wav2Vec2ForSequenceClassification<B>,
        mut grads: GradientsParams,
    ) -> (Wav2Vec2ForSequenceClassification<B>, f64) {
        let norm = match self.max_grad_norm {
            Some(max_norm) => {
                let norm = global_norm(&model, &grads);
                self.grad_scale.set(clipping_factor(norm, max_norm).map(|f| f as f32));
                norm
            }
            None => f64::NAN,
        };
        let mut exempt = GradientsParams::new();
        for id in &self.no_decay_ids {
            move_grad::<B>(&mut grads, &mut exempt, *id);
        }
        let model = self.decay.step(lr, model, grads);
        let model = self.no_decay.step(lr, model, exempt);
        (model, norm)
    }
}

impl<B: AutodiffBackend<InnerBackend: Kernels>> FineTuneOptimizer<B> {
    /// Writes the AdamW moments of both groups into `dir` (`optimizer-decay.bin`,
    /// `optimizer-no-decay.bin`), keyed by parameter id: a model restored from a burn record
    /// keeps its ids, so [`Self::load`] pairs them up again.
    pub fn save(&self, dir: &Path) -> Result<(), Wav2Vec2Error> {
        let recorder = BinFileRecorder::<FullPrecisionSettings>::new();
        for (name, group) in [(DECAY_FILE, &self.decay), (NO_DECAY_FILE, &self.no_decay)] {
            let path = dir.join(name);
            Recorder::<B>::record(&recorder, group.to_record(), path.clone())
                .map_err(|source| Wav2Vec2Error::Record { path, source })?;
        }
        Ok(())
    }

    /// Restores the moments written by [`Self::save`].
    pub fn load(mut self, dir: &Path, device: &B::Device) -> Result<Self, Wav2Vec2Error> {
        let recorder = BinFileRecorder::<FullPrecisionSettings>::new();
        let load = |name: &str| {
            let path = dir.join(name);
            Recorder::<B>::load(&recorder, path.clone(), device)
                .map_err(|source| Wav2Vec2Error::Record { path, source })
        };
        self.decay = self.decay.load_record(load(DECAY_FILE)?);
        self.no_decay = self.no_decay.load_record(load(NO_DECAY_FILE)?);
        Ok(self)
    }
}

/// The optimizer state files of [`FineTuneOptimizer::save`] (the recorder adds `.bin`).
const DECAY_FILE: &str = "optimizer-decay";
/// See [`DECAY_FILE`].
const NO_DECAY_FILE: &str = "optimizer-no-decay";

/// Moves the gradient of `id` (of any rank up to 3, the ranks of this model) between groups.
fn move_grad<B: AutodiffBackend>(
    from: &mut GradientsParams,
    to: &mut GradientsParams,
    id: ParamId,
) {
    if let Some(grad) = from.remove::<B::InnerBackend, 1>(id) {
        to.register(id, grad);
    } else if let Some(grad) = from.remove::<B::InnerBackend, 2>(id) {
        to.register(id, grad);
    } else if let Some(grad) = from.remove::<B::InnerBackend, 3>(id) {
        to.register(id, grad);
    }
}

/// Mean cross-entropy of the classifier on a batch (HF's loss for single-label classification),
/// with this step's SpecAugment / LayerDrop draws if any.
pub fn classification_loss<B: Kernels>(
    model: &Wav2Vec2ForSequenceClassification<B>,
    samples: Tensor<B, 2>,
    mask: Option<&FrameMask<B>>,
    augmentation: Option<&Augmentation<B>>,
    labels: Tensor<B, 1, Int>,
) -> Tensor<B, 1> {
    let logits = model.forward_augmented(samples, mask, augmentation).logits;
    CrossEntropyLossConfig::new()
        .init(&logits.device())
        .forward(logits, labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_linearly() {
        let schedule = LinearWarmupDecay {
            peak: 1e-4,
            warmup_steps: 10,
            total_steps: 110,
        };
        let close = |a: f64, b: f64| (a - b).abs() < 1e-15;
        assert!(close(schedule.at(0), 0.0));
        assert!(close(schedule.at(5), 5e-5));
        assert!(close(schedule.at(10), 1e-4));
        assert!(close(schedule.at(60), 5e-5));
        assert!(close(schedule.at(110), 0.0));
        assert!(close(schedule.at(200), 0.0));
    }

    /// Whether each tensor of a module requires gradients.
    struct RequiresGrad(Vec<bool>);

    impl<B: Backend> ModuleVisitor<B> for RequiresGrad {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
            self.0.push(param.val().is_require_grad());
        }
    }

    /// Whether all tensors of `module` train (`Some(true)`), none (`Some(false)`), or some.
    fn trains<B: Backend, M: Module<B>>(module: &M) -> Option<bool> {
        let mut visitor = RequiresGrad(Vec::new());
        module.visit(&mut visitor);
        let all = visitor.0.iter().all(|&r| r);
        (all || visitor.0.iter().all(|&r| !r)).then_some(all)
    }

    #[test]
    fn freezing_below_the_top_goes_down_the_layers_then_the_stem_never_the_feature_encoder() {
        let _rng = crate::burn_rng_lock();
        type B = burn::backend::Autodiff<burn::backend::NdArray>;
        for pre_norm in [false, true] {
            let mut config = crate::Wav2Vec2Config {
                hidden_size: 8,
                num_hidden_layers: 3,
                num_attention_heads: 2,
                intermediate_size: 16,
                conv_dim: vec![4, 4],
                conv_kernel: vec![10, 3],
                conv_stride: vec![5, 2],
                do_stable_layer_norm: pre_norm,
                num_conv_pos_embeddings: 4,
                num_conv_pos_embedding_groups: 2,
                classifier_proj_size: 4,
                mask_time_prob: 0.05,
                ..Default::default()
            };
            config.set_labels(["a", "b"]);
            let model = Wav2Vec2ForSequenceClassification::<B>::new(&config, &Default::default());
            // Per unit count: layers 0, 1, 2, encoder layer norm, the rest of the stem.
            let expected = |units: usize| {
                let layer = |i: usize| i + units >= 3;
                let stem = units >= 4;
                let norm = if pre_norm { units >= 1 } else { stem };
                [layer(0), layer(1), layer(2), norm, stem]
            };
            for units in [0, 1, 2, 3, 4, 9] {
                let frozen = freeze_below_top(model.clone(), units);
                let body = &frozen.wav2vec2;
                let layers = &body.encoder.layers;
                let stem = [
                    trains(&body.encoder.pos_conv_embed),
                    trains(&body.feature_projection),
                    trains(&body.masked_spec_embed),
                ];
                assert!(
                    stem.iter().all(|&s| s == stem[0]),
                    "units {units}: {stem:?}"
                );
                let found = [
                    trains(&layers[0]),
                    trains(&layers[1]),
                    trains(&layers[2]),
                    trains(&body.encoder.layer_norm),
                    stem[0],
                ];
                let expected = expected(units).map(Some);
                assert_eq!(found, expected, "pre-LN {pre_norm}, units {units}");
                assert_eq!(trains(&body.feature_extractor), Some(false));
                assert_eq!(trains(&frozen.classifier), Some(true));
                assert_eq!(trains(&frozen.projector), Some(true));
            }
        }
    }
}
