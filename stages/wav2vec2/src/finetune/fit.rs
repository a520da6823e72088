//! The training loop, generic over the autodiff backend, and the stage's outputs.
//!
//! Randomness: the backend RNG is seeded with `seed` right before the model is built (and every
//! parameter is initialized at once, burn initializing lazily otherwise); each epoch then
//! reseeds the backend RNG (dropout) and its own ChaCha8 generator (shuffling, noise,
//! SpecAugment/LayerDrop draws) from `seed` and the epoch number, so that the epochs after a
//! resumed checkpoint draw the same numbers as an uninterrupted run. One model trains per
//! process at a time: the backend RNG is global.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use burn::module::{AutodiffModule, Module, ModuleMapper, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::tensor::activation::softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::Tensor;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vox_api::labels::LabelSet;
use vox_api::{ApplyContext, ArtifactKind, StageContext, StageError};
use vox_api::audio::{AudioSet, Split};
use vox_api::estimates::Estimates;
use vox_api::predictions::{Epoch, Predictions};

use super::checkpoint::{Checkpoints, Progress};
use super::data::{Dataset, valid_length};
use super::history::{DimensionEpoch, History};
use super::labels::{self, Classes};
use super::metrics::score;
use super::{FineTune, FineTuneError, Freeze, SCRATCH, Task, head_name, regression};
use crate::config::{ClassifierHead, Wav2Vec2Config};
use crate::error::Wav2Vec2Error;
use crate::inspect::inspect;
use crate::kernels::{AutodiffKernels, Kernels};
use crate::loader::{LoadReport, load_classifier, save_classifier};
use crate::model::{Augmentation, Wav2Vec2ForSequenceClassification};
use crate::preprocess::Preprocessor;
use crate::train::{
    AdamWSettings, FineTuneOptimizer, LinearWarmupDecay, freeze_below_top, freeze_feature_encoder,
};

type Model<B> = Wav2Vec2ForSequenceClassification<B>;

/// Trains on backend `B` (device `device`) and writes the outputs; stops with
/// [`FineTuneError::Interrupted`] after epoch `stop_after` when given.
pub fn run<B: AutodiffKernels>(
    params: &FineTune,
    ctx: &StageContext,
    device: B::Device,
    stop_after: Option<u32>,
) -> Result<(), StageError> {
    let input = ctx.input();
    let task = params.task();
    let mut set = AudioSet::read(&input.dir)?;
    let seed = params.seed();
    B::seed(&device, seed);
    let source = model_source(params, ctx)?;
    let folder = source.as_ref().map(|(dir, _)| dir.as_path());
    let preprocessor = Preprocessor::for_set(folder, &set, params.normalize)?;
    let (config, model, load_report, classes) = build_model::<B>(params, folder, &set, &input.name, &device)?;
    let backend = ctx.backend.unwrap_or(super::DEFAULT_BACKEND);
    let model = model.with_precision(params.precision_on::<B>(backend, &device)?);
    set.labels = classes.labels;
    let mut data = Dataset::new(set, classes.names, preprocessor.do_normalize);
    if let Task::Dimensions(_) = task {
        data = data.rated()?;
    }
    data.check_lengths(&config)?;
    model.visit(&mut Materialize);
    let train = data.indices(Split::Train);
    let val = data.indices(Split::Val);
    if let Task::Dimensions(_) = task {
        check_ratings(params, &data, &input.name, train.len())?;
    }
    let plan = Plan::new(params, train.len());

    let settings = AdamWSettings {
        epsilon: params.adam_eps as f32,
        weight_decay: params.weight_decay as f32,
        ..AdamWSettings::default()
    };
    let max_grad_norm = (params.max_grad_norm > 0.0).then_some(params.max_grad_norm);
    let checkpoints = Checkpoints {
        dir: ctx.scratch_dir,
        params: serde_json::to_value(params)?,
        task,
    };
    let resume = checkpoints.latest()?;
    // The optimizer groups parameters by id, and a checkpoint restores its ids: load the model
    // first, then build the optimizer.
    let (mut model, mut best) = match &resume {
        Some(resume) => (
            resume.model(model.clone(), &device)?,
            resume.best_model(model, &device)?,
        ),
        None => (model.clone(), model),
    };
    let mut optimizer = FineTuneOptimizer::new(&model, settings, max_grad_norm);
    if let Some(resume) = &resume {
        optimizer = resume.optimizer(optimizer, &device)?;
    }
    let mut progress = resume.map_or(
        Progress {
            epoch: 0,
            step: 0,
            history: History::new(task),
            best_epoch: 0,
        },
        |resume| resume.progress,
    );
    let counts = count_parameters(&trainable(model.clone(), params, 1));
    let weights = data.class_weights(params.class_weights, &train);

    while progress.epoch < params.epochs && !patience_ran_out(params, &progress) {
        let epoch = progress.epoch + 1;
        model = trainable(model, params, epoch);
        let started = std::time::Instant::now();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::from(epoch));
        B::seed(&device, rng.random());
        let mut order = train.clone();
        order.shuffle(&mut rng);
        let bar = ctx.progress_bar(
            plan.batches as u64,
            &format!("epoch {epoch}/{}", params.epochs),
        );
        let mut accumulator = GradientsAccumulator::<Model<B>>::new();
        let mut pending = 0usize;
        let mut tally = Tally::default();
        for (b, chunk) in order.chunks(params.batch_size).enumerate() {
            let group =
                (plan.batches - b / params.grad_accum * params.grad_accum).min(params.grad_accum);
            let noise = params.noise_snr_db.map(|range| (&mut rng, range));
            let batch = data.batch::<B>(&config, chunk, noise, &device)?;
            let frames = batch.mask.valid.dims()[1];
            let augmentation = (config.layerdrop > 0.0 || config.mask_time_prob > 0.0).then(|| {
                Augmentation::draw(&config, &batch.mask.lengths, frames, &mut rng, &device)
            });
            let logits = model
                .forward_augmented(batch.samples, Some(&batch.mask), augmentation.as_ref())
                .logits;
            let loss = match task {
                Task::Classes => {
                    let labels = data.labels::<B>(chunk, &device);
                    let loss = CrossEntropyLossConfig::new()
                        .with_weights(weights.clone())
                        .init(&device)
                        .forward(logits.clone(), labels.clone());
                    tally.add_hits(logits, labels);
                    loss
                }
                Task::Dimensions(kind) => regression::batch_loss(logits, data.rating_values::<B>(chunk, &device), kind),
            };
            tally.add(&loss, chunk.len());
            let grads = GradientsParams::from_grads((loss / group as f64).backward(), &model);
            accumulator.accumulate(&model, grads);
            pending += 1;
            if pending == group {
                let lr = plan.schedule.at(progress.step);
                model = optimizer.step_grads(lr, model, accumulator.grads()).0;
                progress.step += 1;
                pending = 0;
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let (loss_sum, correct) = tally.read();
        let seconds = started.elapsed().as_secs_f64();
        let train_loss = loss_sum / train.len() as f64;
        let val_outputs = predict(&model.valid(), &config, &data, &val, params, &device, &mut |_| {})?;
        let scored = match &mut progress.history {
            History::Classes(rows) => {
                let targets: Vec<Option<usize>> = val.iter().map(|&i| data.targets[i]).collect();
                let scores = score(&val_outputs, &targets, data.classes.len());
                rows.push(Epoch {
                    epoch,
                    train_loss,
                    train_accuracy: correct as f64 / train.len() as f64,
                    val_loss: scores.loss,
                    val_accuracy: scores.accuracy,
                    val_macro_f1: scores.macro_f1,
                });
                format!("val macro-F1 {:.4}", scores.macro_f1)
            }
            History::Dimensions(rows) => {
                let kind = params.loss.unwrap_or_default();
                let ratings: Vec<&[Option<f64>]> = val.iter().map(|&i| data.ratings[i].as_slice()).collect();
                let scores = regression::score(&val_outputs, &ratings, kind);
                rows.push(DimensionEpoch { epoch, train_loss, val_loss: scores.loss, val_ccc: scores.mean_ccc });
                let each = data.classes.iter().zip(&scores.ccc).map(|(d, c)| format!("{d} {c:.4}")).collect::<Vec<_>>();
                format!("val CCC {:.4} ({})", scores.mean_ccc, each.join(", "))
            }
        };
        let improved = progress.best_epoch == 0
            || val.is_empty()
            || progress.history.criterion(epoch) > progress.history.criterion(progress.best_epoch);
        if improved {
            best = model.clone();
            progress.best_epoch = epoch;
        }
        progress.epoch = epoch;
        checkpoints.save(&progress, &model, &optimizer, improved)?;
        tracing::info!(
            "{}: epoch {epoch}/{}: train loss {:.4}, {scored}, {:.1} clips/s",
            ctx.stage,
            params.epochs,
            train_loss,
            train.len() as f64 / seconds
        );
        if stop_after == Some(epoch) {
            return Err(FineTuneError::Interrupted(epoch).into());
        }
    }

    let best = best.valid();
    save_classifier(&best, &config, ctx.out_dir)?;
    preprocessor.write(ctx.out_dir)?;
    progress.history.write(ctx.out_dir)?;
    let all: Vec<usize> = (0..data.set.clips.len()).collect();
    let bar = ctx.progress_bar(all.len() as u64, "predict");
    let outputs = predict(
        &best,
        &config,
        &data,
        &all,
        params,
        &device,
        &mut |clips| bar.inc(clips as u64),
    )?;
    bar.finish_and_clear();
    write_outputs(task, &data.set, data.classes.clone(), outputs, ctx.out_dir)?;
    let report = Report {
        params,
        source: source.map_or_else(|| "scratch".to_string(), |(_, described)| described),
        preprocessor,
        config: &config,
        data: &data,
        load_report: load_report.as_ref(),
        counts,
        progress: &progress,
    };
    std::fs::write(ctx.report_dir()?.join("training.txt"), report.text())?;
    tracing::info!(
        "{}: fine-tuned on {} clips, {} {}, best epoch {} of {}",
        ctx.stage,
        train.len(),
        data.classes.len(),
        if task == Task::Classes { "classes" } else { "dimensions" },
        progress.best_epoch,
        progress.history.len()
    );
    Ok(())
}

/// The scores of every clip of `set` in the task's artifact: `predictions.csv` (probabilities
/// of the classes `names`, the set's label set beside them) or `estimates.csv` (values of the
/// dimensions `names`, the manifest's ratings beside them).
fn write_outputs(task: Task, set: &AudioSet, names: Vec<String>, outputs: Vec<Vec<f64>>, dir: &Path) -> Result<(), StageError> {
    match task {
        Task::Classes => Predictions::from_clips(set.labels.clone(), names, &set.clips, outputs).write(dir)?,
        Task::Dimensions(_) => Estimates::from_clips(names, &set.clips, outputs)?.write(dir)?,
    }
    Ok(())
}

/// Checks that a fine-tune that estimates dimensions has clips to learn from, and says which
/// train clips it leaves out (those not rated in every target): never a silent drop.
fn check_ratings(params: &FineTune, data: &Dataset, input: &str, rated: usize) -> Result<(), FineTuneError> {
    // Scoring (`epochs = 0`) learns nothing: unrated clips are only estimated.
    if params.epochs == 0 {
        return Ok(());
    }
    if let Some(d) = (0..data.classes.len()).find(|&d| data.ratings.iter().all(|r| r[d].is_none())) {
        let columns = vox_api::audio::columns_with_values(&data.set.clips);
        return Err(FineTuneError::UnratedTarget { target: data.classes[d].clone(), input: input.to_string(), columns: columns.join(", ") });
    }
    if rated == 0 {
        return Err(FineTuneError::NoRatedTrainClips { input: input.to_string(), targets: params.targets.join(", ") });
    }
    let in_train = data.set.clips.iter().filter(|c| c.split == Split::Train).count();
    if rated < in_train {
        tracing::warn!(
            "{} of the {in_train} train clips are not rated in every target ({}): trained on the other {rated}",
            in_train - rated,
            params.targets.join(", ")
        );
    }
    Ok(())
}

/// Scores the clips of the new audio set of `ctx` with the run's fine-tuned model (the
/// model folder `ctx.trained`, its head's classes by `id2label`) on backend `B`.
pub fn apply<B: Kernels>(params: &FineTune, ctx: &ApplyContext, device: B::Device) -> Result<(), StageError> {
    let mut set = AudioSet::read(&ctx.run.input().dir)?;
    let task = params.task();
    if task == Task::Classes {
        set.labels = LabelSet::read(ctx.trained)?;
    }
    let info = inspect(ctx.trained)?;
    // The file the training wrote (`normalize` decided it then); a model trained before vox
    // wrote it was normalized, at 16 kHz (the defaults).
    let preprocessor = Preprocessor::for_set(Some(ctx.trained), &set, None)?;
    let loaded = load_classifier::<B>(
        ctx.trained,
        |config| {
            config.set_labels(info.labels.iter().cloned());
            if let Some(layout) = info.head {
                config.classifier_head = layout;
            }
        },
        &device,
    )?;
    let backend = ctx.run.backend.unwrap_or(super::DEFAULT_BACKEND);
    let model = loaded.model.with_precision(params.precision_on::<B>(backend, &device)?);
    let data = Dataset::new(set, info.labels.clone(), preprocessor.do_normalize);
    data.check_lengths(&loaded.config)?;
    let all: Vec<usize> = (0..data.set.clips.len()).collect();
    let bar = ctx.run.progress_bar(all.len() as u64, "predict");
    let outputs = predict(
        &model,
        &loaded.config,
        &data,
        &all,
        params,
        &device,
        &mut |clips| bar.inc(clips as u64),
    )?;
    bar.finish_and_clear();
    write_outputs(task, &data.set, info.labels, outputs, ctx.run.out_dir)
}

/// An epoch's training loss and correct predictions (a classifier's), kept on the device batch
/// by batch and read once at the end of the epoch: on cuda, reading them per batch would make
/// the host wait for each forward pass before queueing its backward.
struct Tally<B: AutodiffBackend> {
    /// Each batch's mean loss, `[1]`, without its autodiff graph.
    losses: Vec<Tensor<B::InnerBackend, 1>>,
    /// Each batch's clip count.
    clips: Vec<usize>,
    /// Each batch's correct predictions, `[1]`.
    hits: Vec<Tensor<B::InnerBackend, 1, burn::tensor::Int>>,
}

impl<B: AutodiffBackend> Default for Tally<B> {
    fn default() -> Self {
        Self { losses: Vec::new(), clips: Vec::new(), hits: Vec::new() }
    }
}

impl<B: AutodiffBackend> Tally<B> {
    /// Records a batch of `clips` clips and its mean `loss`.
    fn add(&mut self, loss: &Tensor<B, 1>, clips: usize) {
        self.losses.push(loss.clone().inner());
        self.clips.push(clips);
    }

    /// Records a classifier's batch's correct predictions: its `logits` against its `labels`.
    fn add_hits(&mut self, logits: Tensor<B, 2>, labels: Tensor<B, 1, burn::tensor::Int>) {
        let predicted = logits.inner().argmax(1).squeeze_dim::<1>(1);
        self.hits.push(predicted.equal(labels.inner()).int().sum());
    }

    /// The summed loss (each batch's mean times its clips, in f64 in batch order) and the correct
    /// predictions, in one read each.
    fn read(self) -> (f64, usize) {
        if self.losses.is_empty() {
            return (0.0, 0);
        }
        let losses = Tensor::cat(self.losses, 0).into_data().convert::<f64>();
        let losses: Vec<f64> = losses.into_vec().expect("f64 values after `convert`");
        let loss_sum = losses.iter().zip(&self.clips).fold(0.0, |sum, (loss, &n)| sum + loss * n as f64);
        if self.hits.is_empty() {
            return (loss_sum, 0);
        }
        let hits = Tensor::cat(self.hits, 0).into_data().convert::<i64>();
        let correct = hits.into_vec::<i64>().expect("i64 values after `convert`").iter().sum::<i64>();
        (loss_sum, correct as usize)
    }
}

/// Batches and steps per epoch and the learning-rate schedule.
struct Plan {
    /// Batches per epoch.
    batches: usize,
    /// The schedule over all optimizer steps.
    schedule: LinearWarmupDecay,
}

impl Plan {
    fn new(params: &FineTune, train: usize) -> Self {
        let batches = train.div_ceil(params.batch_size);
        let total_steps = batches.div_ceil(params.grad_accum) * params.epochs as usize;
        let warmup_steps = (params.warmup_ratio * total_steps as f64).ceil() as usize;
        Self {
            batches,
            schedule: LinearWarmupDecay {
                peak: params.lr,
                warmup_steps,
                total_steps,
            },
        }
    }
}

/// Whether early stopping ends training: `early_stopping_patience` epochs without a better
/// validation macro-F1.
fn patience_ran_out(params: &FineTune, progress: &Progress) -> bool {
    params.early_stopping_patience.is_some_and(|patience| {
        progress.best_epoch > 0 && progress.epoch - progress.best_epoch >= patience
    })
}

/// The folder of the initial weights and how to name it in the report: `model_path`, or the
/// model folder input (the hub download that `model` implies, or one the pipeline wired in);
/// `None` for a scratch model.
fn model_source(
    params: &FineTune,
    ctx: &StageContext,
) -> Result<Option<(PathBuf, String)>, FineTuneError> {
    let folder = ctx.inputs.iter().skip(1).find(|input| input.kind == ArtifactKind::Files);
    match (&params.model_path, folder) {
        (Some(_), Some(input)) => {
            Err(FineTuneError::TwoModelSources { input: input.name.clone() })
        }
        (Some(dir), None) => Ok(Some((dir.clone(), "loaded from `model_path`".into()))),
        (None, Some(input)) => {
            // No stage name in the outputs (names are not in the key): `training.txt` says
            // where the weights came from without naming the input.
            Ok(Some((input.dir.clone(), "loaded from the model folder input".into())))
        }
        (None, None) if params.model != SCRATCH => {
            Err(FineTuneError::HubModelWithoutInput { model: params.model.clone() })
        }
        (None, None) => Ok(None),
    }
}

/// The model and the classes it scores: scratch (`folder` is `None`), or loaded from `folder`
/// with the checkpoint's head (its outputs reordered to the label set's order, see
/// [`labels`]) or a new one.
#[allow(clippy::type_complexity)]
fn build_model<B: Kernels>(
    params: &FineTune,
    folder: Option<&Path>,
    set: &AudioSet,
    input: &str,
    device: &B::Device,
) -> Result<(Wav2Vec2Config, Model<B>, Option<LoadReport>, Classes), StageError> {
    let Some(dir) = folder else {
        let checkpoint_only = params
            .new_head
            .then_some("new_head")
            .or((!params.checkpoint_labels.is_empty()).then_some("checkpoint_labels"));
        if let Some(param) = checkpoint_only {
            return Err(FineTuneError::NoCheckpoint { param }.into());
        }
        let classes = plan_outputs(params, set, input, None)?;
        let mut config = params.scratch_config();
        name_outputs(&mut config, &classes.names, params.task());
        config.classifier_head = params.new_head_layout();
        config.validate()?;
        let model = Model::new(&config, device);
        return Ok((config, model, None, classes));
    };
    let info = inspect(dir)?;
    if let (Some(head), Some(layout), false) = (params.head, info.head, params.new_head)
        && head.layout() != layout
    {
        return Err(FineTuneError::HeadMismatch { param: head.name(), checkpoint: head_name(layout) }.into());
    }
    let classes = plan_outputs(params, set, input, Some(&info))?;
    let loaded = load_classifier::<B>(
        dir,
        |config| match info.head {
            // The checkpoint's head loads as it is (its class count from its weights); it is
            // reordered or replaced below.
            Some(layout) => {
                config.set_labels(info.labels.iter().cloned());
                config.classifier_head = layout;
            }
            None => {
                config.set_labels(classes.names.iter().cloned());
                config.classifier_head = params.new_head_layout();
            }
        },
        device,
    )?;
    let (mut config, mut model, mut report) = (loaded.config, loaded.model, loaded.report);
    match (&classes.rows, info.head) {
        (Some(rows), _) => model.classifier = model.classifier.select_outputs(rows, device),
        (None, Some(old)) => {
            // The checkpoint's head was loaded and is discarded: its tensors count as unused,
            // the new head's as new.
            let (old, new) = (head_tensors(old), head_tensors(params.new_head_layout()));
            report.applied -= old.len();
            report.unused.extend(old.iter().map(|t| t.to_string()));
            report.unused.sort();
            report.fresh.extend(new.iter().map(|t| t.to_string()));
            report.fresh.sort();
            config.set_labels(classes.names.iter().cloned());
            config.classifier_head = params.new_head_layout();
            model = model.with_new_head(&config, device);
        }
        (None, None) => {}
    }
    name_outputs(&mut config, &classes.names, params.task());
    Ok((config, model, Some(report), classes))
}

/// The head's outputs for the task: classes ([`labels::plan`]) or dimensions
/// ([`labels::dimensions`]).
fn plan_outputs(params: &FineTune, set: &AudioSet, input: &str, info: Option<&crate::inspect::ModelInfo>) -> Result<Classes, FineTuneError> {
    match params.task() {
        Task::Classes => labels::plan(params, set, input, info),
        Task::Dimensions(_) => labels::dimensions(params, set, info),
    }
}

/// Names the head's outputs in `config` (`id2label`), and for dimensions says that they are
/// values on a scale (`problem_type = "regression"`, as transformers writes a regression
/// head's config), so that the saved model is read as the estimator it is.
fn name_outputs(config: &mut Wav2Vec2Config, names: &[String], task: Task) {
    config.set_labels(names.iter().cloned());
    if let Task::Dimensions(_) = task {
        config.problem_type = Some("regression".into());
    }
}

/// The model paths of a head's tensors.
fn head_tensors(head: ClassifierHead) -> &'static [&'static str] {
    match head {
        ClassifierHead::Projector => {
            &["classifier.out_proj.bias", "classifier.out_proj.weight", "projector.bias", "projector.weight"]
        }
        ClassifierHead::DenseTanh => {
            &["classifier.dense.bias", "classifier.dense.weight", "classifier.out_proj.bias", "classifier.out_proj.weight"]
        }
    }
}

/// `model` with the parameters that train in `epoch` (1-based) requiring gradients. A function
/// of the epoch alone, so that a resumed run freezes as an uninterrupted one. The optimizer
/// needs no change when a parameter starts training: AdamW keeps moments per parameter id and
/// steps (weight decay included) only parameters with a gradient, so a newly trainable one
/// starts from zero moments, as in PyTorch.
fn trainable<B: AutodiffBackend>(model: Model<B>, params: &FineTune, epoch: u32) -> Model<B> {
    let mut model = model.map(&mut RequireGrad);
    if let Some(per_epoch) = params.unfreeze_layers_per_epoch {
        let delay = params.unfreeze_after.unwrap_or(0);
        let units = epoch.saturating_sub(delay).saturating_mul(per_epoch);
        return freeze_below_top(model, units as usize);
    }
    let frozen = params.unfreeze_after.is_none_or(|after| epoch <= after);
    if frozen {
        match params.freeze {
            Freeze::None => {}
            Freeze::FeatureEncoder => model = freeze_feature_encoder(model),
            Freeze::AllButHead => model.wav2vec2 = model.wav2vec2.no_grad(),
        }
    }
    model
}

/// Marks every parameter as trainable.
struct RequireGrad;

impl<B: Backend> ModuleMapper<B> for RequireGrad {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        let (id, tensor, mapper) = param.consume();
        Param::from_mapped_value(id, tensor.set_require_grad(true), mapper)
    }
}

/// Initializes every parameter now: burn initializes lazily, on first use, which would make the
/// weights depend on when the RNG is first touched.
struct Materialize;

impl<B: Backend> ModuleVisitor<B> for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let _ = param.val();
    }
}

/// Trainable and frozen parameter counts.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    trainable: usize,
    frozen: usize,
}

impl<B: Backend> ModuleVisitor<B> for Counts {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let tensor = param.val();
        let n = tensor.shape().num_elements();
        if tensor.is_require_grad() {
            self.trainable += n;
        } else {
            self.frozen += n;
        }
    }
}

fn count_parameters<B: AutodiffBackend>(model: &Model<B>) -> Counts {
    let mut counts = Counts::default();
    model.visit(&mut counts);
    counts
}

/// The head's outputs for clips `indices` (in that order): softmax probabilities of a
/// classifier, a regression head's values as they are; without augmentation or autodiff
/// graph, in batches of up to `eval_batch_size` clips of similar length: the clips go in order
/// of valid length (ties by position), so a batch pads its clips to the longest among neighbours,
/// not to the longest of a random draw. Padding is masked out of every layer but a group-norm
/// model's first conv (normalized over the padded length, in transformers as here), so for
/// layer-norm models the order only saves work, and for group-norm models it also keeps each
/// clip's statistics closer to its own. `on_batch` hears each batch's clip count.
fn predict<B: Kernels>(
    model: &Model<B>,
    config: &Wav2Vec2Config,
    data: &Dataset,
    indices: &[usize],
    params: &FineTune,
    device: &B::Device,
    on_batch: &mut dyn FnMut(usize),
) -> Result<Vec<Vec<f64>>, Wav2Vec2Error> {
    let (batch_size, task) = (params.eval_batch_size(), params.task());
    let classes = data.classes.len();
    let mut order: Vec<usize> = (0..indices.len()).collect();
    order.sort_by_key(|&k| (valid_length(&data.set.clips[indices[k]]), k));
    let mut out = vec![Vec::new(); indices.len()];
    for chunk in order.chunks(batch_size) {
        let clips: Vec<usize> = chunk.iter().map(|&k| indices[k]).collect();
        let batch = data.batch::<B>(config, &clips, None, device)?;
        let logits = model.forward(batch.samples, Some(&batch.mask)).logits;
        let outputs = match task {
            Task::Classes => softmax(logits, 1),
            Task::Dimensions(_) => logits,
        };
        let values: Vec<f32> = outputs
            .into_data()
            .convert::<f32>()
            .into_vec()
            .map_err(Wav2Vec2Error::TensorData)?;
        for (&k, row) in chunk.iter().zip(values.chunks(classes)) {
            out[k] = row.iter().map(|&p| f64::from(p)).collect();
        }
        on_batch(chunk.len());
    }
    Ok(out)
}

/// `report/training.txt`.
struct Report<'a> {
    params: &'a FineTune,
    /// Where the initial weights came from.
    source: String,
    /// How the clips were prepared.
    preprocessor: Preprocessor,
    config: &'a Wav2Vec2Config,
    data: &'a Dataset,
    load_report: Option<&'a LoadReport>,
    counts: Counts,
    progress: &'a Progress,
}

impl Report<'_> {
    /// ` *` after the best epoch's row.
    fn best_mark(&self, epoch: u32) -> &'static str {
        if epoch == self.progress.best_epoch { " *" } else { "" }
    }

    fn text(&self) -> String {
        let mut t = String::new();
        // The engine resolves `model_path` to an absolute path; outputs name only its folder.
        let mut shown = self.params.clone();
        shown.model_path = shown
            .model_path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(Into::into);
        let mut params = serde_json::to_value(&shown).unwrap_or_default();
        // A loaded model's sizes are the checkpoint's: the scratch size params do not apply.
        if self.load_report.is_some()
            && let Some(table) = params.as_object_mut()
        {
            for scratch in super::SCRATCH_PARAMS {
                table.remove(*scratch);
            }
        }
        let params = serde_json::to_string_pretty(&params).unwrap_or_default();
        let _ = writeln!(t, "fine-tune\n\nparams:\n{params}\n");
        let _ = writeln!(
            t,
            "model: {}; hidden {}, {} layers, {} heads, feed-forward {}, conv {:?} kernels {:?} strides {:?}, \
             norm {:?}, head {:?}",
            self.source,
            self.config.hidden_size,
            self.config.num_hidden_layers,
            self.config.num_attention_heads,
            self.config.intermediate_size,
            self.config.conv_dim,
            self.config.conv_kernel,
            self.config.conv_stride,
            self.config.feat_extract_norm,
            self.config.classifier_head
        );
        if let Some(report) = self.load_report {
            let _ = writeln!(
                t,
                "loaded {} tensors from {}; new: {:?}; unused: {:?}",
                report.applied, report.file, report.fresh, report.unused
            );
        }
        let _ = writeln!(t, "input: {}", self.preprocessor.describe());
        let _ = writeln!(
            t,
            "parameters: {} trainable, {} frozen (epoch 1)",
            self.counts.trainable, self.counts.frozen
        );
        if let Some(per_epoch) = self.params.unfreeze_layers_per_epoch {
            let (per_epoch, delay) = (per_epoch as usize, self.params.unfreeze_after.unwrap_or(0));
            let layers = self.config.num_hidden_layers;
            let from = |units: usize| delay as usize + units.div_ceil(per_epoch);
            let _ = writeln!(
                t,
                "gradual unfreezing: {per_epoch} layer(s) per epoch from epoch {}, all {layers} \
                 layers from epoch {}, the stem from epoch {}; the feature encoder stays frozen",
                delay + 1,
                from(layers),
                from(layers + 1)
            );
        }
        let count = |split| {
            self.data
                .set
                .clips
                .iter()
                .filter(|c| c.split == split)
                .count()
        };
        let (train, val, test) = (count(Split::Train), count(Split::Val), count(Split::Test));
        match &self.progress.history {
            History::Classes(rows) => {
                let classes = self.data.classes.iter().map(|c| {
                    let labels = &self.data.set.labels;
                    labels.index_of(c).map_or_else(|| c.clone(), |i| labels.display(i))
                });
                let _ = writeln!(
                    t,
                    "clips: {train} train, {val} val, {test} test; classes: {}\n",
                    classes.collect::<Vec<_>>().join(", ")
                );
                let _ = writeln!(t, "epoch  train_loss  train_acc  val_loss  val_acc  val_macro_f1");
                for e in rows {
                    let _ = writeln!(
                        t,
                        "{:>5}  {:>10.4}  {:>9.4}  {:>8.4}  {:>7.4}  {:>12.4}{}",
                        e.epoch,
                        e.train_loss,
                        e.train_accuracy,
                        e.val_loss,
                        e.val_accuracy,
                        e.val_macro_f1,
                        self.best_mark(e.epoch)
                    );
                }
            }
            History::Dimensions(rows) => {
                let rated = |split| self.data.indices(split).len();
                let _ = writeln!(
                    t,
                    "clips: {train} train ({} rated in every target), {val} val ({} rated), {test} test; \
                     dimensions: {} (loss {})\n",
                    rated(Split::Train),
                    rated(Split::Val),
                    self.data.classes.join(", "),
                    self.params.loss.unwrap_or_default().name()
                );
                let _ = writeln!(t, "epoch  train_loss  val_loss  val_ccc");
                for e in rows {
                    let _ = writeln!(
                        t,
                        "{:>5}  {:>10.4}  {:>8.4}  {:>7.4}{}",
                        e.epoch,
                        e.train_loss,
                        e.val_loss,
                        e.val_ccc,
                        self.best_mark(e.epoch)
                    );
                }
            }
        }
        let best = match self.progress.best_epoch {
            0 => "the initial model (no epoch trained)".to_string(),
            n => format!("epoch {n}"),
        };
        let _ = writeln!(t, "\nbest: {best} (its weights are the output model)");
        t
    }
}
