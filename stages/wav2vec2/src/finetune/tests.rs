//! End-to-end tests of the fine-tune stage on a tiny synthetic audio set: four classes of tones
//! at clearly different pitches, a tiny model, a few epochs.

use std::path::Path;

use indicatif::{MultiProgress, ProgressDrawTarget};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tempfile::TempDir;
use vox_api::audio::{AudioSet, Clip, Split};
use vox_api::labels::{Class, LabelSet};
use vox_api::predictions::{Predictions, read_history};
use vox_api::{ArtifactKind, Input, StageContext, StageDef};

use super::*;

/// Clip length in samples.
const SAMPLES: usize = 4000;
/// The classes (RAVDESS codes and names) and their tone frequencies in Hz.
const TONES: [(&str, &str, f32); 4] =
    [("01", "neutral", 150.0), ("03", "happy", 600.0), ("04", "sad", 1500.0), ("05", "angry", 3500.0)];

/// RAVDESS's label set: codes described by emotion names.
fn ravdess() -> LabelSet {
    let names = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"];
    let classes =
        names.iter().enumerate().map(|(k, n)| Class { name: format!("{:02}", k + 1), description: n.to_string() });
    LabelSet::new(classes.collect()).unwrap()
}

/// 12 clips per class (8 train, 2 val, 2 test) plus 2 unlabeled test clips; every fourth clip is
/// padded (3000 valid samples, then zeros).
fn audio_set() -> AudioSet {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let mut set = AudioSet { labels: ravdess(), ..AudioSet::default() };
    let mut push =
        |set: &mut AudioSet, id: String, label: Option<&str>, freq: f32, split, n: usize| {
            let valid = if n % 4 == 3 { 3000 } else { SAMPLES };
            let phase: f32 = rng.random_range(0.0..std::f32::consts::TAU);
            let amplitude: f32 = rng.random_range(0.1..0.8);
            let samples: Vec<f32> = (0..SAMPLES)
                .map(|i| {
                    if i >= valid {
                        return 0.0;
                    }
                    let t = i as f32 / 16000.0;
                    amplitude * (std::f32::consts::TAU * freq * t + phase).sin()
                        + rng.random_range(-0.05..0.05)
                })
                .collect();
            let clip = Clip {
                file_id: id,
                corpus: "synthetic".into(),
                speaker: String::new(),
                sex: String::new(),
                label: label.map(Into::into),
                intensity: String::new(),
                statement: String::new(),
                repetition: String::new(),
                split,
                source: String::new(),
                sample_rate: 16000,
                offset: 0,
                length: 0,
                original_length: valid as u64,
                extra: Default::default(),
            };
            set.push(clip, &samples);
        };
    for n in 0..12 {
        for (code, name, freq) in TONES {
            let split = match n {
                0..8 => Split::Train,
                8..10 => Split::Val,
                _ => Split::Test,
            };
            push(
                &mut set,
                format!("{name}_{n:02}"),
                Some(code),
                freq,
                split,
                n,
            );
        }
    }
    for (n, freq) in [(0, 600.0), (1, 3500.0)] {
        push(
            &mut set,
            format!("unlabeled_{n}"),
            None,
            freq,
            Split::Test,
            n,
        );
    }
    set
}

/// A tiny model that trains in a few seconds.
fn params(epochs: u32) -> FineTune {
    let mut params: FineTune = toml::from_str(&format!(
        r#"hidden_size = 32
        layers = 1
        heads = 2
        intermediate_size = 64
        conv_dim = [16, 16, 16, 16]
        epochs = {epochs}
        batch_size = 8
        lr = 1e-2
        freeze = "none"
        seed = 5"#
    ))
    .unwrap();
    params.seed = Some(5);
    params
}

/// [`params`] with zero epochs loading the model folder `dir` (its sizes are the folder's).
fn reload(dir: &std::path::Path) -> FineTune {
    let mut params = params(0);
    (params.hidden_size, params.layers, params.heads, params.intermediate_size, params.conv_dim) = (None, None, None, None, None);
    params.model_path = Some(dir.to_path_buf());
    params
}

/// Temp folders for one stage run over the synthetic set.
struct Harness {
    input: TempDir,
    progress: MultiProgress,
}

impl Harness {
    fn new() -> Self {
        let input = tempfile::tempdir().unwrap();
        audio_set().write(input.path()).unwrap();
        Self {
            input,
            progress: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
        }
    }

    /// Runs `params` into `out` with scratch folder `scratch` on `backend`, one run at a time
    /// in the process: burn's backend RNG is global.
    fn run(
        &self,
        params: &FineTune,
        out: &Path,
        scratch: &Path,
        backend: Option<&str>,
        stop_after: Option<u32>,
    ) -> Result<(), StageError> {
        self.run_on(params, None, out, scratch, backend, stop_after)
    }

    /// [`Harness::run`] with a model folder input named `xlsr` after the audio when given.
    fn run_on(
        &self,
        params: &FineTune,
        model_folder: Option<&Path>,
        out: &Path,
        scratch: &Path,
        backend: Option<&str>,
        stop_after: Option<u32>,
    ) -> Result<(), StageError> {
        let audio = Input::new("audio", ArtifactKind::Audio, self.input.path().to_path_buf());
        let folder = model_folder.map(|dir| Input::new("xlsr", ArtifactKind::Files, dir.to_path_buf()));
        let inputs: Vec<Input> = std::iter::once(audio).chain(folder).collect();
        let ctx = StageContext {
            stage: "fine-tune",
            inputs: &inputs,
            out_dir: out,
            scratch_dir: scratch,
            seed: 5,
            backend,
            threads: 2,
            progress: &self.progress,
            memo: None,
        };
        let _one_at_a_time = crate::burn_rng_lock();
        params.run_until(&ctx, stop_after)
    }

    /// Runs to completion in fresh folders and returns the output folder.
    fn train(&self, params: &FineTune, backend: Option<&str>) -> TempDir {
        let out = tempfile::tempdir().unwrap();
        let scratch = tempfile::tempdir().unwrap();
        self.run(params, out.path(), scratch.path(), backend, None)
            .unwrap();
        out
    }
}

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap()
}

/// Asserts that two output folders hold byte-identical outputs; `what` names the second.
fn assert_same_outputs(expected: &Path, actual: &Path, what: &str) {
    for file in ["predictions.csv", "history.csv", "model.safetensors", "report/training.txt"] {
        assert!(read(expected, file) == read(actual, file), "{what} {file} differs");
    }
}

/// Validation accuracy of a predictions folder.
fn val_accuracy(dir: &Path) -> f64 {
    let predictions = Predictions::read(dir).unwrap();
    let val: Vec<_> = predictions.split(Split::Val).collect();
    let correct = val
        .iter()
        .filter(|r| Some(predictions.predicted(r)) == r.label.as_deref())
        .count();
    correct as f64 / val.len() as f64
}

#[test]
fn learns_pitch_classes_and_scores_every_clip() {
    let harness = Harness::new();
    let out = harness.train(&params(8), None);
    let predictions = Predictions::read(out.path()).unwrap();
    assert_eq!(predictions.classes, ["01", "03", "04", "05"]);
    assert_eq!(predictions.labels, ravdess());
    assert_eq!(predictions.rows.len(), 50);
    assert_eq!(predictions.split(Split::Train).count(), 32);
    let unlabeled: Vec<_> = predictions
        .rows
        .iter()
        .filter(|r| r.label.is_none())
        .collect();
    assert_eq!(unlabeled.len(), 2);
    for row in &predictions.rows {
        let sum: f64 = row.probabilities.iter().sum();
        assert!(
            (sum - 1.0).abs() < 1e-5,
            "{}: probabilities sum to {sum}",
            row.file_id
        );
    }
    let accuracy = val_accuracy(out.path());
    // Chance is 0.25; measured 0.75 on flex (6 of 8 val clips; train accuracy reaches 1.0).
    assert!(accuracy >= 0.75, "val accuracy {accuracy}");
    let history = read_history(out.path()).unwrap().unwrap();
    assert_eq!(
        history.iter().map(|e| e.epoch).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    assert!(
        history[7].train_loss < history[0].train_loss * 0.5,
        "{history:?}"
    );
    assert!(history[7].train_accuracy >= 0.9, "{history:?}");
    let report = std::fs::read_to_string(out.path().join("report/training.txt")).unwrap();
    assert!(report.contains("0 frozen"), "{report}");
    assert!(report.contains("best: epoch"), "{report}");
}

#[test]
fn same_seed_gives_identical_outputs_and_resume_matches_an_uninterrupted_run() {
    let harness = Harness::new();
    let params = params(3);
    let first = harness.train(&params, None);
    let second = harness.train(&params, None);
    assert_same_outputs(first.path(), second.path(), "a second run's");

    let out = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let err = harness
        .run(&params, out.path(), scratch.path(), None, Some(1))
        .unwrap_err();
    assert_eq!(err.to_string(), "interrupted after epoch 1");
    assert!(scratch.path().join("checkpoint.json").is_file());
    assert!(
        scratch
            .path()
            .join("checkpoint-0001/optimizer-decay.bin")
            .is_file()
    );
    let resumed = tempfile::tempdir().unwrap();
    harness
        .run(&params, resumed.path(), scratch.path(), None, None)
        .unwrap();
    for file in ["predictions.csv", "history.csv", "model.safetensors"] {
        assert!(
            read(first.path(), file) == read(resumed.path(), file),
            "resumed {file} differs"
        );
    }
}

#[test]
fn output_folder_is_a_model_path_with_identical_predictions() {
    let harness = Harness::new();
    let trained = harness.train(&params(2), None);
    let reload = reload(trained.path());
    reload.validate().unwrap();
    let out = harness.train(&reload, None);
    let before = Predictions::read(trained.path()).unwrap();
    let after = Predictions::read(out.path()).unwrap();
    assert_eq!(after, before);
    assert_eq!(read_history(out.path()).unwrap(), Some(vec![]));
    let report = std::fs::read_to_string(out.path().join("report/training.txt")).unwrap();
    assert!(report.contains("new: []; unused: []"), "{report}");
    let folder = trained
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        report.contains(&format!("\"model_path\": \"{folder}\"")),
        "{report}"
    );
    assert!(
        !report.contains(&trained.path().to_string_lossy().into_owned()),
        "{report}"
    );
}

#[test]
fn a_hub_model_id_implies_its_download_and_scratch_implies_nothing() {
    let kind = vox_api::kind::<FineTune>();
    let table: toml::Table =
        toml::from_str(r#"model = "jonatasgrosman/wav2vec2-large-xlsr-53-english""#).unwrap();
    let implied = kind.configure(table).unwrap().implied_stages();
    let mut params = toml::Table::new();
    params.insert("hub".into(), "jonatasgrosman/wav2vec2-large-xlsr-53-english".into());
    assert_eq!(
        implied,
        [vox_api::ImpliedStage { suffix: "model", kind: "download", params, because_of: "model", takes_inputs: false }]
    );
    assert!(kind.configure(toml::Table::new()).unwrap().implied_stages().is_empty());
    let local: toml::Table = toml::from_str(r#"model_path = "models/x""#).unwrap();
    assert!(kind.configure(local).unwrap().implied_stages().is_empty());
    // A local copy replaces the hub model, so `--set w2v.model_path=DIR` works on a pipeline
    // that names a hub id.
    let both: toml::Table = toml::from_str("model = \"a/b\"\nmodel_path = \"models/x\"").unwrap();
    assert!(kind.configure(both).unwrap().implied_stages().is_empty());
}

#[test]
fn a_model_folder_input_is_loaded_like_model_path() {
    let harness = Harness::new();
    let trained = harness.train(&params(1), None);
    let expected = Predictions::read(trained.path()).unwrap();
    // Reloaded with zero epochs through a `files` input, the folder scores every clip alike.
    let out = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let folder = Some(trained.path());
    harness.run_on(&params(0), folder, out.path(), scratch.path(), None, None).unwrap();
    assert_eq!(Predictions::read(out.path()).unwrap(), expected);
    let report = std::fs::read_to_string(out.path().join("report/training.txt")).unwrap();
    assert!(report.contains("model: loaded from the model folder input;"), "{report}");
    // A model_path beside a model input is an error that names the input.
    let mut both = params(0);
    both.model_path = Some(trained.path().to_path_buf());
    let fresh = tempfile::tempdir().unwrap();
    let err = harness.run_on(&both, folder, fresh.path(), scratch.path(), None, None).unwrap_err();
    assert!(err.to_string().contains("both `model_path` and a model folder input `xlsr`"), "{err}");
}

/// Scoring goes in order of length (the padded clips first) and any batch size: each clip's
/// probabilities must land on its own row, and, padding being masked in a layer-norm model,
/// equal the clip's own scores alone (batch size 1) whatever its neighbours.
#[test]
fn scores_land_on_their_clips_whatever_the_scoring_batch() {
    let harness = Harness::new();
    let mut layer = params(2);
    layer.norm = Some(Norm::Layer);
    let trained = harness.train(&layer, None);
    let trained_rows = Predictions::read(trained.path()).unwrap();
    let score = |eval_batch_size| {
        let mut reload = reload(trained.path());
        reload.eval_batch_size = Some(eval_batch_size);
        reload.validate().unwrap();
        Predictions::read(harness.train(&reload, None).path()).unwrap()
    };
    let alone = score(1);
    // The manifest's order and labels, padded clips included (every fourth).
    let ids: Vec<&str> = trained_rows.rows.iter().map(|r| r.file_id.as_str()).collect();
    assert_eq!(ids, alone.rows.iter().map(|r| r.file_id.as_str()).collect::<Vec<_>>());
    assert_eq!(ids[..4], ["neutral_00", "happy_00", "sad_00", "angry_00"]);
    for scored in [&trained_rows, &score(3), &score(50)] {
        for (row, single) in scored.rows.iter().zip(&alone.rows) {
            for (p, q) in row.probabilities.iter().zip(&single.probabilities) {
                assert!((p - q).abs() < 1e-5, "{}: {p} in a batch, {q} alone", row.file_id);
            }
        }
    }
    // The model is no constant: the clips' top classes differ.
    let tops: std::collections::BTreeSet<_> = alone.rows.iter().map(|r| alone.predicted(r)).collect();
    assert!(tops.len() >= 2, "{tops:?}");
}

#[test]
fn bad_params_are_rejected_with_their_path() {
    let kind = vox_api::kind::<FineTune>();
    let cases = [
        ("hidden_size = 30\nheads = 4", "hidden_size"),
        ("conv_dim = [32, 32]", "conv_kernel"),
        ("conv_stride = [5, 0, 4, 4]", "conv_stride.1"),
        ("batch_size = 0", "batch_size"),
        ("eval_batch_size = 0", "eval_batch_size"),
        ("lr = 0.0", "lr"),
        ("warmup_ratio = 1.5", "warmup_ratio"),
        ("freeze = \"none\"\nunfreeze_after = 2", "unfreeze_after"),
        (
            "freeze = \"all-but-head\"\nunfreeze_layers_per_epoch = 0",
            "unfreeze_layers_per_epoch",
        ),
        ("unfreeze_layers_per_epoch = 2", "unfreeze_layers_per_epoch"),
        ("noise_snr_db = [20.0, 5.0]", "noise_snr_db"),
        ("early_stopping_patience = 0", "early_stopping_patience"),
        ("head = \"mlp\"", "head"),
        ("epoch = 3", "epoch"),
        // A loaded model has its config's sizes: a scratch size written for it is no silent no-op.
        ("model = \"a/b\"\nlayers = 12", "layers"),
        ("model_path = \"models/x\"\nnorm = \"layer\"", "norm"),
    ];
    for (text, path) in cases {
        let table: toml::Table = toml::from_str(text).unwrap();
        let err = kind
            .configure(table)
            .err()
            .unwrap_or_else(|| panic!("`{text}` was accepted"));
        assert_eq!(err.path, path, "`{text}`: {}", err.message);
    }
    let defaults = kind.configure(toml::Table::new()).unwrap().params();
    assert_eq!(defaults["model"], "scratch");
    assert_eq!(defaults["conv_stride"], serde_json::json!([5, 4, 4, 4]));
    assert_eq!(defaults["freeze"], "feature-encoder");
    // A loaded model's key holds the scratch defaults as it always has, so its entries stay
    // valid; a default written out is the same key as the default left unset.
    let hub = kind.configure(toml::from_str("model = \"a/b\"").unwrap()).unwrap().params();
    for (name, value) in [("hidden_size", serde_json::json!(64)), ("layers", 2.into()), ("conv_dim", serde_json::json!([32, 32, 32, 32])), ("norm", "group".into())] {
        assert_eq!(hub[name], value, "{name}");
    }
    let written = kind.configure(toml::from_str("layers = 2
norm = \"group\"").unwrap()).unwrap().params();
    assert_eq!(written, defaults);
    // A model folder input is a loaded model too: the plan refuses a scratch size for it.
    let sized = kind.configure(toml::from_str("hidden_size = 128").unwrap()).unwrap();
    let facts = vox_api::Facts::default();
    let audio = vox_api::PlannedInput { name: "split", kind: vox_api::ArtifactKind::Audio, facts: &facts };
    let folder = vox_api::PlannedInput { name: "xlsr", kind: vox_api::ArtifactKind::Files, facts: &facts };
    assert!(sized.facts(&[audio]).is_ok());
    assert_eq!(sized.facts(&[audio, folder]).unwrap_err().path, "hidden_size");
    // The default conv stack turns 60000 samples into wav2vec2's 187 frames.
    let params: FineTune = toml::from_str("").unwrap();
    assert_eq!(params.scratch_config().frame_count(60000), Some(187));
}

#[test]
fn ndarray_backend_learns_too() {
    let harness = Harness::new();
    let out = harness.train(&params(8), Some("ndarray"));
    let accuracy = val_accuracy(out.path());
    // Measured 0.75, as on flex.
    assert!(accuracy >= 0.75, "val accuracy {accuracy}");
}

/// `precision = "bf16"` on flex: the products are narrowed (other predictions than f32's), the
/// model still learns the pitch classes as well as f32 does, and the default leaves the key's
/// params as they were. ndarray has no bf16: a precise error, before any training.
#[test]
fn bf16_products_learn_like_f32_and_ndarray_refuses_them() {
    let harness = Harness::new();
    let f32_run = harness.train(&params(8), None);
    let mut bf16 = params(8);
    bf16.precision = Precision::Bf16;
    let bf16_run = harness.train(&bf16, None);
    assert!(read(f32_run.path(), "predictions.csv") != read(bf16_run.path(), "predictions.csv"));
    let (f32_accuracy, bf16_accuracy) = (val_accuracy(f32_run.path()), val_accuracy(bf16_run.path()));
    // Measured 0.75 for both (6 of 8 val clips).
    assert!(bf16_accuracy >= 0.75 && bf16_accuracy >= f32_accuracy - 0.125, "{bf16_accuracy} against {f32_accuracy}");
    let history = read_history(bf16_run.path()).unwrap().unwrap();
    assert!(history[7].train_accuracy >= 0.9, "{history:?}");

    assert!(serde_json::to_value(params(8)).unwrap().get("precision").is_none());
    assert_eq!(serde_json::to_value(&bf16).unwrap()["precision"], "bf16");

    // The plan refuses it at the param (`check_backend`); a stage run without a plan too.
    let refused = bf16.check_backend(Some("ndarray")).unwrap_err();
    assert_eq!(refused.path, "precision");
    assert!(bf16.check_backend(None).is_ok() && bf16.check_backend(Some("flex")).is_ok());
    assert!(params(8).check_backend(Some("ndarray")).is_ok());
    let out = tempfile::tempdir().unwrap();
    let err = harness.run(&bf16, out.path(), out.path(), Some("ndarray"), None).unwrap_err();
    assert_eq!(err.to_string(), refused.message);
    assert_eq!(
        err.to_string(),
        "`precision = \"bf16\"` needs a backend with bf16 arithmetic, and `ndarray` has none: choose \
         `flex` or `cuda`, or `precision = \"f32\"`"
    );
    assert!(!out.path().join("history.csv").exists());
}

#[test]
fn unknown_backends_are_errors() {
    let harness = Harness::new();
    let out = tempfile::tempdir().unwrap();
    let err = harness
        .run(&params(1), out.path(), out.path(), Some("tpu"), None)
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("backend `tpu` is not available"),
        "{err}"
    );
}

/// Training speed on both CPU backends (prints clips/s; run with `--ignored --nocapture`).
#[test]
#[ignore]
fn speed_of_cpu_backends() {
    let harness = Harness::new();
    let params = params(3);
    for backend in ["flex", "ndarray"] {
        let started = std::time::Instant::now();
        let out = harness.train(&params, Some(backend));
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{backend}: {:.1} train clips/s over 3 epochs (incl. eval), val accuracy {}",
            32.0 * 3.0 / seconds,
            val_accuracy(out.path())
        );
    }
}

#[test]
fn frozen_body_noise_weights_and_accumulation_train_only_the_head() {
    let harness = Harness::new();
    let mut params = params(2);
    params.freeze = Freeze::AllButHead;
    params.noise_snr_db = Some([5.0, 20.0]);
    params.class_weights = ClassWeights::Balanced;
    params.grad_accum = 2;
    params.validate().unwrap();
    let first = harness.train(&params, None);
    let second = harness.train(&params, None);
    assert!(read(first.path(), "predictions.csv") == read(second.path(), "predictions.csv"));
    let report = std::fs::read_to_string(first.path().join("report/training.txt")).unwrap();
    // Projector 32 x 32 + 32 and classifier 32 x 4 + 4 train; the body does not.
    assert!(report.contains("parameters: 1188 trainable"), "{report}");
    assert_eq!(read_history(first.path()).unwrap().unwrap().len(), 2);
}

#[test]
fn unfreeze_after_trains_the_body_from_the_next_epoch() {
    let harness = Harness::new();
    let mut frozen = params(2);
    frozen.freeze = Freeze::AllButHead;
    let mut unfrozen = frozen.clone();
    unfrozen.unfreeze_after = Some(1);
    let (a, b) = (harness.train(&frozen, None), harness.train(&unfrozen, None));
    let (ha, hb) = (
        read_history(a.path()).unwrap().unwrap(),
        read_history(b.path()).unwrap().unwrap(),
    );
    assert_eq!(ha[0], hb[0], "epoch 1 trains the same parameters");
    assert_ne!(ha[1], hb[1], "epoch 2 trains the body too");
    assert!(read(a.path(), "model.safetensors") != read(b.path(), "model.safetensors"));
}

#[test]
fn early_stopping_ends_training_when_val_macro_f1_stalls() {
    let harness = Harness::new();
    let mut params = params(6);
    // A rate too small to change any prediction: macro-F1 never improves after epoch 1.
    params.lr = 1e-12;
    params.early_stopping_patience = Some(2);
    let out = harness.train(&params, None);
    let history = read_history(out.path()).unwrap().unwrap();
    assert_eq!(history.len(), 3, "{history:?}");
    let report = std::fs::read_to_string(out.path().join("report/training.txt")).unwrap();
    assert!(report.contains("best: epoch 1 "), "{report}");
}

/// The float values of every parameter of `module`, in visiting order.
struct Values(Vec<Vec<f32>>);

impl<B: burn::tensor::backend::Backend> burn::module::ModuleVisitor<B> for Values {
    fn visit_float<const D: usize>(
        &mut self,
        param: &burn::module::Param<burn::tensor::Tensor<B, D>>,
    ) {
        self.0
            .push(param.val().into_data().convert::<f32>().to_vec().unwrap());
    }
}

type TestBackend = burn::backend::Autodiff<burn::backend::NdArray>;
type TestModel = crate::model::Wav2Vec2ForSequenceClassification<TestBackend>;

/// The parameter values of a model's parts, bottom to top: `feature encoder`, `stem`,
/// `layer 0`.., `head`.
fn parts(model: &TestModel) -> Vec<(String, Vec<Vec<f32>>)> {
    use burn::module::Module;
    fn values<M: Module<TestBackend>>(modules: &[&M]) -> Vec<Vec<f32>> {
        let mut values = Values(Vec::new());
        for module in modules {
            module.visit(&mut values);
        }
        values.0
    }
    let body = &model.wav2vec2;
    let mut stem = values(&[&body.feature_projection]);
    stem.extend(values(&[&body.encoder.pos_conv_embed]));
    stem.extend(values(&[&body.encoder.layer_norm]));
    let mut head = values(&[&model.projector]);
    head.extend(values(&[&model.classifier]));
    let mut parts = vec![
        (
            "feature encoder".to_string(),
            values(&[&body.feature_extractor]),
        ),
        ("stem".to_string(), stem),
    ];
    for (i, layer) in body.encoder.layers.iter().enumerate() {
        parts.push((format!("layer {i}"), values(&[layer])));
    }
    parts.push(("head".to_string(), head));
    parts
}

/// For each part of `model`, its name and how many of its tensors differ from `initial`'s, out
/// of how many.
fn changed_parts(initial: &TestModel, model: &TestModel) -> Vec<(String, usize, usize)> {
    parts(initial)
        .into_iter()
        .zip(parts(model))
        .map(|((name, before), (_, after))| {
            let changed = before.iter().zip(&after).filter(|(b, a)| b != a).count();
            (name, changed, before.len())
        })
        .collect()
}

#[test]
fn gradual_unfreezing_trains_the_top_layers_first_and_resumes_identically() {
    let harness = Harness::new();
    let mut params = params(3);
    params.layers = Some(3);
    params.freeze = Freeze::AllButHead;
    params.unfreeze_after = Some(1);
    params.unfreeze_layers_per_epoch = Some(2);
    params.validate().unwrap();
    let mut untrained = params.clone();
    untrained.epochs = 0;
    let initial_dir = harness.train(&untrained, None);
    let device = Default::default();
    // Loading initializes a model first: hold the lock of burn's random generator.
    let initial = {
        let _rng = crate::burn_rng_lock();
        crate::loader::load_classifier::<TestBackend>(initial_dir.path(), |_| {}, &device)
    }
    .unwrap()
    .model;
    // Epoch 1: the head alone; epoch 2: layers 1-2 too; epoch 3: all layers and the stem. The
    // feature encoder never trains. Each interrupted run resumes the previous one's checkpoint.
    // Per part: tensors changed since the initial model, of all its tensors.
    let out = tempfile::tempdir().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let expected = [
        [(0, 6), (0, 9), (0, 16), (0, 16), (0, 16), (4, 4)],
        [(0, 6), (0, 9), (0, 16), (16, 16), (16, 16), (4, 4)],
        [(0, 6), (9, 9), (16, 16), (16, 16), (16, 16), (4, 4)],
    ];
    let names = [
        "feature encoder",
        "stem",
        "layer 0",
        "layer 1",
        "layer 2",
        "head",
    ];
    for (epoch, expected) in (1..=3).zip(expected) {
        let err = harness
            .run(&params, out.path(), scratch.path(), None, Some(epoch))
            .unwrap_err();
        assert_eq!(err.to_string(), format!("interrupted after epoch {epoch}"));
        let checkpoints = checkpoint::Checkpoints {
            dir: scratch.path(),
            params: serde_json::to_value(&params).unwrap(),
            task: params.task(),
        };
        let resume = checkpoints.latest().unwrap().unwrap();
        assert_eq!(resume.progress.epoch, epoch);
        let model = resume.model(initial.clone(), &device).unwrap();
        let expected: Vec<(String, usize, usize)> = names
            .iter()
            .zip(expected)
            .map(|(name, (changed, total))| (name.to_string(), changed, total))
            .collect();
        assert_eq!(
            changed_parts(&initial, &model),
            expected,
            "after epoch {epoch}"
        );
    }
    let resumed = tempfile::tempdir().unwrap();
    harness
        .run(&params, resumed.path(), scratch.path(), None, None)
        .unwrap();
    let uninterrupted = harness.train(&params, None);
    assert_same_outputs(uninterrupted.path(), resumed.path(), "the resumed run's");
    let report = std::fs::read_to_string(uninterrupted.path().join("report/training.txt")).unwrap();
    assert!(
        report.contains(
            "gradual unfreezing: 2 layer(s) per epoch from epoch 2, all 3 layers from epoch 3, \
             the stem from epoch 3; the feature encoder stays frozen"
        ),
        "{report}"
    );
}

#[test]
fn cuda_start_up_failures_name_the_missing_library() {
    let cudarc = |lib: &str| {
        format!(
            "Unable to dynamically load the \"{lib}\" shared library - searched for library \
             names: [\"lib{lib}.so\"]. Ensure that `LD_LIBRARY_PATH` has the correct path"
        )
    };
    let driver = super::explain_cuda_failure(&cudarc("cuda"));
    assert!(driver.starts_with("the NVIDIA driver library (libcuda.so.1) is not installed"), "{driver}");
    let nvrtc = super::explain_cuda_failure(&cudarc("nvrtc"));
    assert!(nvrtc.ends_with("was not found: add its folder to LD_LIBRARY_PATH"), "{nvrtc}");
    assert_eq!(super::explain_cuda_failure("out of memory\nat line 3"), "out of memory");
    assert_eq!(super::explain_cuda_failure(""), "the CUDA runtime failed to start");
}
