//! Self-supervised embeddings as features: `featurize` with `set = "ssl"` on a hub model (the
//! committed tiny wav2vec2-base, served by a local hub) and on a fine-tune stage's output.

use std::path::{Path, PathBuf};

use crate::deep::{fixture_model, hub_folder, preprocessor_config};
use crate::support::{FileServer, Project, SMALL, statuses};

/// [`SMALL`], the hub's `tiny/w2v-base` pooled at hidden states 0 and 2 (mean and std), and a
/// logistic regression on them.
fn pipeline() -> String {
    format!(
        "{SMALL}{}",
        r#"
[stages.emb]
kind = "featurize"
set = "ssl"
inputs = ["split"]
model = "tiny/w2v-base"
backend = "flex"
layers = [0, 2]
stats = ["mean", "std"]
batch_size = 4

[stages.lr]
kind = "baseline"
inputs = ["emb"]
model = "logistic"
"#
    )
}

/// `features.csv` of a folder: the header's feature names and each clip's values.
fn features(dir: &Path) -> (Vec<String>, Vec<Vec<f64>>) {
    let mut reader = csv::Reader::from_path(dir.join("features.csv")).unwrap();
    let names = reader.headers().unwrap().iter().skip(1).map(str::to_string).collect();
    let rows = reader.records().map(|r| r.unwrap().iter().skip(1).map(|v| v.parse().unwrap()).collect()).collect();
    (names, rows)
}

/// The values of the columns named `prefix<d>` for d = 0..32 of every row.
fn columns(names: &[String], rows: &[Vec<f64>], prefix: &str) -> Vec<Vec<f64>> {
    let at: Vec<usize> = (0..32).map(|d| names.iter().position(|n| *n == format!("{prefix}{d}")).unwrap()).collect();
    rows.iter().map(|row| at.iter().map(|&i| row[i]).collect()).collect()
}

#[test]
fn hub_model_embeddings_feed_a_classic_model_and_other_layers_reuse_the_forward_pass() {
    let p = Project::new();
    p.file("p.toml", &pipeline());
    let hub = hub_folder();
    let server = FileServer::start(hub.path());
    let run = |extra: &[&str]| {
        let args = [&["run", "p.toml", "--json"], extra].concat();
        crate::support::Run::from(p.command(&args).env("HF_ENDPOINT", server.url()).output().unwrap())
    };
    let first = run(&[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let ran = |stage: &str| (stage.to_string(), "ran".to_string());
    assert_eq!(statuses(&first.stdout), ["data", "audio", "padded", "split", "emb.model", "emb.states", "emb", "lr"].map(ran));
    let doc: serde_json::Value = serde_json::from_str(&first.stdout).unwrap();

    // Columns say layer and statistic: 2 layers x 2 stats x 32 dims of the tiny model.
    let (names, rows) = features(&p.stage_entry(&doc, "emb"));
    assert_eq!(names.len(), 128);
    assert_eq!((names[0].as_str(), names[31].as_str(), names[32].as_str(), names[127].as_str()),
        ("layer0_mean_0", "layer0_mean_31", "layer0_std_0", "layer2_std_31"));
    assert_eq!(rows.len(), 30, "every clip");
    let std2 = columns(&names, &rows, "layer2_std_");
    assert!(std2.iter().flatten().all(|&v| v > 0.0 && v.is_finite()), "deviations over ~49 frames");
    let mean0 = columns(&names, &rows, "layer0_mean_");
    assert!(mean0[0] != mean0[1], "clips differ");

    // Other layers and statistics: the forward pass is cached, only the choice runs again.
    let second = run(&["--set", "emb.layers=\"all\"", "--set", "emb.stats=[\"mean\"]"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let status: Vec<(String, String)> = statuses(&second.stdout).split_off(4);
    let cached = |stage: &str| (stage.to_string(), "cached".to_string());
    assert_eq!(status, [cached("emb.model"), cached("emb.states"), ran("emb"), ran("lr")]);
    assert_eq!(server.paths().len(), 3, "fetched once");
    let doc2: serde_json::Value = serde_json::from_str(&second.stdout).unwrap();
    let (all_names, all_rows) = features(&p.stage_entry(&doc2, "emb"));
    assert_eq!(all_names.len(), 3 * 32);
    // The same numbers through either choice: layer 2's mean, and "last" is layer 2.
    assert_eq!(columns(&all_names, &all_rows, "layer2_mean_"), columns(&names, &rows, "layer2_mean_"));
    let third = run(&["--set", "emb.layers=\"last\"", "--set", "emb.stats=[\"mean\"]"]);
    let doc3: serde_json::Value = serde_json::from_str(&third.stdout).unwrap();
    let (last_names, last_rows) = features(&p.stage_entry(&doc3, "emb"));
    assert_eq!(last_names.len(), 32);
    assert_eq!(columns(&last_names, &last_rows, "layer2_mean_"), columns(&names, &rows, "layer2_mean_"));
    // "average": the element-wise mean of the three states' means.
    let fourth = run(&["--set", "emb.layers=\"average\"", "--set", "emb.stats=[\"mean\"]"]);
    let doc4: serde_json::Value = serde_json::from_str(&fourth.stdout).unwrap();
    let (avg_names, avg_rows) = features(&p.stage_entry(&doc4, "emb"));
    let average = columns(&avg_names, &avg_rows, "layers_avg_mean_");
    let per_layer: Vec<Vec<Vec<f64>>> = (0..3).map(|l| columns(&all_names, &all_rows, &format!("layer{l}_mean_"))).collect();
    for (clip, row) in average.iter().enumerate() {
        for (d, v) in row.iter().enumerate() {
            let expected = (0..3).map(|l| per_layer[l][clip][d]).sum::<f64>() / 3.0;
            assert!((v - expected).abs() < 1e-6, "clip {clip} dim {d}: {v} vs {expected}");
        }
    }
    // A layer the model lacks is an error that says which exist.
    let bad = run(&["--set", "emb.layers=[3]"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("`layers` names hidden state 3, but the model has 3 (0 = the embedded input .. 2 = the last layer's output)"), "{}", bad.stderr);
}

#[test]
fn a_local_model_folder_and_a_missing_model_are_planned_before_anything_runs() {
    let p = Project::new();
    let local = pipeline().replace("model = \"tiny/w2v-base\"", &format!("model_path = {:?}", fixture_model().display().to_string()));
    p.file("p.toml", &local);
    let plan = p.vox(&["plan", "p.toml"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(plan.stdout.contains("emb.states  ssl-states"), "{}", plan.stdout);
    assert!(!plan.stdout.contains("emb.model"), "a local folder needs no download: {}", plan.stdout);
    let run = p.vox(&["run", "p.toml", "-q"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // `vox stages` says what to write in `inputs`: the audio, then optionally a model folder.
    let stages = p.vox(&["stages"]);
    assert!(
        stages.stdout.contains("featurize with set = \"ssl\"  (1 input: audio, then optionally 1: files | predictions -> features;"),
        "{}",
        stages.stdout
    );

    p.file("q.toml", &pipeline().replace("model = \"tiny/w2v-base\"\n", ""));
    let plan = p.vox(&["plan", "q.toml"]);
    assert_eq!(plan.code, 2);
    assert!(plan.stderr.contains("no model: set `model` (a hub repository), `model_path` (a local model folder), or add a model folder input"), "{}", plan.stderr);
}

/// [`SMALL`], the committed tiny wav2vec2-base with a feature extractor that does not normalize
/// (as `microsoft/wavlm-base-plus`'s), its first hidden state pooled, and a fine-tune that only
/// scores with it (a new head, no epoch).
fn unnormalized(p: &Project) -> String {
    let dir = p.path().join("models/plain");
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(fixture_model().join(file), dir.join(file)).unwrap();
    }
    std::fs::write(dir.join("preprocessor_config.json"), preprocessor_config(false)).unwrap();
    format!(
        "{SMALL}{}",
        r#"
[stages.emb]
kind = "featurize"
set = "ssl"
inputs = ["split"]
model_path = "models/plain"
backend = "flex"
layers = [0]
batch_size = 30

[stages.w2v]
kind = "fine-tune"
inputs = ["split"]
model_path = "models/plain"
backend = "flex"
new_head = true
epochs = 0
batch_size = 30
"#
    )
}

/// Largest difference between two tables of the same shape.
fn largest_difference(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().flatten().zip(b.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

#[test]
fn a_checkpoints_feature_extractor_decides_normalization_and_its_rate_is_checked() {
    let p = Project::new();
    p.file("p.toml", &unnormalized(&p));
    let run = |extra: &[&str]| p.run_doc("p.toml", extra);
    let as_file = run(&[]);
    let plain = run(&["--set", "emb.normalize=false", "--set", "w2v.normalize=false"]);
    let normalized = run(&["--set", "emb.normalize=true", "--set", "w2v.normalize=true"]);
    let embeddings = |doc: &serde_json::Value| features(&p.stage_entry(doc, "emb")).1;
    let scores = |doc: &serde_json::Value| probabilities(&p.stage_entry(doc, "w2v")).into_values().collect::<Vec<_>>();

    // Unset, the file's `do_normalize = false` holds: the same numbers as saying so, not those
    // of normalized clips (the synth clips' level is far from unit variance).
    assert_eq!(embeddings(&as_file), embeddings(&plain));
    assert!(largest_difference(&embeddings(&as_file), &embeddings(&normalized)) > 1e-2);
    assert_eq!(scores(&as_file), scores(&plain));
    assert!(largest_difference(&scores(&as_file), &scores(&normalized)) > 1e-4);
    let run_dir = PathBuf::from(as_file["run_dir"].as_str().unwrap());
    let states = std::fs::read_to_string(run_dir.join("emb.states/states.txt")).unwrap();
    assert!(states.contains("inputs 16000 Hz, not normalized per clip (the model's `preprocessor_config.json`)"), "{states}");
    let training = std::fs::read_to_string(run_dir.join("w2v/training.txt")).unwrap();
    assert!(training.contains("input: 16000 Hz, not normalized per clip (the model's `preprocessor_config.json`)"), "{training}");

    // The trained model says how it takes its input, in transformers' own file, and `vox
    // predict` reads it: the run's own clips score as the run scored them.
    let model = p.stage_entry(&as_file, "w2v");
    assert_eq!(std::fs::read_to_string(model.join("preprocessor_config.json")).unwrap(), preprocessor_config(false));
    let normalized_model = p.stage_entry(&normalized, "w2v");
    assert_eq!(std::fs::read_to_string(normalized_model.join("preprocessor_config.json")).unwrap(), preprocessor_config(true));
    let data = p.stage_entry(&as_file, "data");
    let out = p.path().join("new");
    let (first, second) = (data.join("Actor_01"), data.join("Actor_02"));
    let args = [run_dir.to_str().unwrap(), first.to_str().unwrap(), second.to_str().unwrap(), "--model", "w2v", "--out", out.to_str().unwrap()];
    let predict = p.vox(&[&["predict"][..], &args].concat());
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    let new = probabilities(&out.join("w2v"));
    let ran = probabilities(&p.stage_entry(&as_file, "w2v"));
    assert_eq!(new.len(), 30);
    for (clip, probs) in &new {
        let run = &ran[clip.as_str()];
        assert!(largest_difference(std::slice::from_ref(probs), std::slice::from_ref(run)) < 1e-6, "{clip}: {probs:?} vs {run:?}");
    }

    // Audio at another rate than the model's is refused, naming a clip and the fix.
    let other_rate = p.vox(&["run", "p.toml", "--set", "audio.sample_rate=8000"]);
    assert_eq!(other_rate.code, 1, "{}", other_rate.stderr);
    assert!(
        other_rate.stderr.contains(
            "is sampled at 8000 Hz but the model takes 16000 Hz (its `preprocessor_config.json`): resample it with \
             the decode stage's `sample_rate = 16000`"
        ),
        "{}",
        other_rate.stderr
    );
}

/// Through vox's table corpus, the committed WavLM that takes raw samples
/// (`stages/wav2vec2/tests/fixtures/wavlm-raw`, `scripts/make_feature_extractor_fixture.py`)
/// embeds and scores its wav files as transformers' feature extractor and model do.
#[test]
fn a_raw_sample_checkpoint_embeds_and_scores_its_clips_as_transformers_does() {
    let fixture = fixture_model().with_file_name("wavlm-raw");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.join("expected.json")).unwrap()).unwrap();
    let p = Project::new();
    let pipeline = r#"
[pipeline]
name = "raw"

[stages.data]
kind = "download"
path = "FIXTURE"

[stages.audio]
kind = "decode"
inputs = ["data"]
corpus = "csv"
table = "meta.csv"
sample_rate = 16000

[stages.emb]
kind = "featurize"
set = "ssl"
inputs = ["audio"]
model_path = "FIXTURE"
backend = "flex"
layers = "all"
batch_size = 1

[stages.w2v]
kind = "fine-tune"
inputs = ["audio"]
model_path = "FIXTURE"
backend = "flex"
epochs = 0
batch_size = 1
"#;
    p.file("p.toml", &pipeline.replace("FIXTURE", &fixture.display().to_string()));
    let run = |extra: &[&str]| p.run_doc("p.toml", extra);
    // (largest difference of the hidden-state means, of the probabilities) from transformers'.
    let differences = |doc: &serde_json::Value| {
        let states = largest_mean_difference(&p.stage_entry(doc, "emb"), &expected);
        let scores = probabilities(&p.stage_entry(doc, "w2v"));
        let mut header = csv::Reader::from_path(p.stage_entry(doc, "w2v").join("predictions.csv")).unwrap();
        let columns: Vec<String> = header.headers().unwrap().iter().skip(4).map(str::to_string).collect();
        let mut probs = 0f64;
        for (clip, want) in expected.as_object().unwrap() {
            for (column, got) in columns.iter().zip(&scores[clip.as_str()]) {
                let want = want["probabilities"][column.strip_prefix('p').unwrap()].as_f64().unwrap();
                probs = probs.max((got - want).abs());
            }
        }
        (states, probs)
    };
    let (states, probs) = differences(&run(&[]));
    assert!(states < 1e-4 && probs < 1e-5, "hidden-state means off by {states}, probabilities by {probs}");
    // The test can tell: normalizing the clips, as vox did before it read the file, is off.
    let (states, probs) = differences(&run(&["--set", "emb.normalize=true", "--set", "w2v.normalize=true"]));
    assert!(states > 1e-2 && probs > 1e-3, "normalized: off by only {states} and {probs}");
}

/// The largest difference between a `featurize set = "ssl"` output's hidden-state means
/// (`layer<L>_mean_<d>`) and a fixture's `expected.json` (`{clip: {"hidden_state_means": [[...]
/// per state]}}`), over every clip, state and dimension the fixture names.
fn largest_mean_difference(emb: &Path, expected: &serde_json::Value) -> f64 {
    let (names, rows) = features(emb);
    let mut reader = csv::Reader::from_path(emb.join("features.csv")).unwrap();
    let ids: Vec<String> = reader.records().map(|r| r.unwrap()[0].to_string()).collect();
    let mut largest = 0f64;
    for (clip, want) in expected.as_object().unwrap() {
        let row = &rows[ids.iter().position(|id| id == clip).unwrap()];
        for (layer, means) in want["hidden_state_means"].as_array().unwrap().iter().enumerate() {
            for (d, v) in means.as_array().unwrap().iter().enumerate() {
                let at = names.iter().position(|n| *n == format!("layer{layer}_mean_{d}")).unwrap();
                largest = largest.max((row[at] - v.as_f64().unwrap()).abs());
            }
        }
    }
    largest
}

/// `predictions.csv` as clip -> probabilities, in column order.
fn probabilities(dir: &Path) -> std::collections::BTreeMap<String, Vec<f64>> {
    let mut reader = csv::Reader::from_path(dir.join("predictions.csv")).unwrap();
    reader.records().map(|r| {
        let r = r.unwrap();
        (r[0].to_string(), r.iter().skip(4).map(|v| v.parse().unwrap()).collect())
    }).collect()
}

#[test]
fn a_fine_tuned_models_embeddings_score_new_files_as_the_run_scored_them() {
    let p = Project::new();
    let pipeline = format!(
        "{SMALL}{}",
        r#"
[stages.w2v]
kind = "fine-tune"
inputs = ["split"]
backend = "flex"
epochs = 1
batch_size = 30

[stages.emb]
kind = "featurize"
set = "ssl"
inputs = ["split", "w2v"]
backend = "flex"
layers = "all"
batch_size = 30

[stages.lr]
kind = "baseline"
inputs = ["emb"]
model = "logistic"
"#
    );
    p.file("p.toml", &pipeline);
    let run = p.vox(&["run", "p.toml", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let names: Vec<String> = statuses(&run.stdout).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["data", "audio", "padded", "split", "w2v", "emb.states", "emb", "lr"]);
    // 2 layers of the demo-sized scratch model (hidden 64): 3 states x 64 means.
    assert_eq!(features(&p.stage_entry(&doc, "emb")).0.len(), 3 * 64);

    // The run's own files through `vox predict`: the fine-tune's folder is the model as the run
    // left it (not applied to the new clips), and the scores are the run's.
    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    let data = p.stage_entry(&doc, "data");
    let out = p.path().join("new");
    let (first, second) = (data.join("Actor_01"), data.join("Actor_02"));
    let args = [run_dir.to_str().unwrap(), first.to_str().unwrap(), second.to_str().unwrap(), "--model", "lr", "--out", out.to_str().unwrap()];
    let predict = p.vox(&[&["predict"][..], &args].concat());
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    assert!(!predict.stderr.contains("applying `w2v`"), "the model input is not applied: {}", predict.stderr);
    let new = probabilities(&out.join("lr"));
    let ran = probabilities(&p.stage_entry(&doc, "lr"));
    assert_eq!(new.len(), 30);
    for (clip, probs) in &new {
        // One batch of all 30 clips in both (batch_size 30, equal lengths): the same numbers up
        // to the rounding of another process's thread split.
        for (a, b) in probs.iter().zip(&ran[clip.as_str()]) {
            assert!((a - b).abs() < 1e-6, "{clip}: {probs:?} vs {:?}", ran[clip.as_str()]);
        }
    }
}

/// A committed tiny checkpoint of `stages/wav2vec2/tests/fixtures/`.
fn checkpoint(variant: &str) -> String {
    fixture_model().with_file_name(variant).display().to_string()
}

/// The header of a `model.safetensors` (tensor name -> dtype, shape, offsets) and its bytes.
fn safetensors(path: &Path) -> (serde_json::Map<String, serde_json::Value>, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let size = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes[8..8 + size]).unwrap();
    header.remove("__metadata__");
    (header, bytes[8 + size..].to_vec())
}

/// The keys of a `model.safetensors`.
fn safetensors_keys(path: &Path) -> Vec<String> {
    safetensors(path).0.into_iter().map(|(k, _)| k).collect()
}

/// The values of an f32 tensor of a `model.safetensors`.
fn safetensors_f32(path: &Path, name: &str) -> Vec<f32> {
    let (header, data) = safetensors(path);
    let entry = &header[name];
    assert_eq!(entry["dtype"], "F32");
    let [start, end] = [0, 1].map(|i| entry["data_offsets"][i].as_u64().unwrap() as usize);
    data[start..end].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
}

#[test]
fn hubert_and_wavlm_checkpoints_feed_featurize_and_fine_tune_and_stay_their_family() {
    let p = Project::new();
    let text = format!(
        "{SMALL}
[stages.emb]
kind = \"featurize\"
set = \"ssl\"
inputs = [\"split\"]
model_path = {wavlm:?}
backend = \"ndarray\"
layers = \"all\"
stats = [\"mean\"]

[stages.lr]
kind = \"baseline\"
inputs = [\"emb\"]
model = \"logistic\"

[stages.ft]
kind = \"fine-tune\"
inputs = [\"split\"]
model_path = {hubert:?}
backend = \"flex\"
epochs = 1
new_head = true

[stages.ft2]
kind = \"fine-tune\"
inputs = [\"split\"]
model_path = {wavlm_base:?}
backend = \"flex\"
epochs = 1
lr = 1e-3
new_head = true
",
        wavlm = checkpoint("wavlm-large"),
        hubert = checkpoint("hubert-base"),
        wavlm_base = checkpoint("wavlm-base"),
    );
    p.file("p.toml", &text);
    let run = p.vox(&["run", "p.toml", "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();

    // WavLM's three hidden states (embedded input + 2 layers) x 32 dims.
    let (names, rows) = features(&p.stage_entry(&doc, "emb"));
    assert_eq!(names.len(), 96);
    assert_eq!((names[0].as_str(), names[95].as_str()), ("layer0_mean_0", "layer2_mean_31"));
    assert!(rows.iter().flatten().all(|v| v.is_finite()));
    assert!(columns(&names, &rows, "layer2_mean_")[0] != columns(&names, &rows, "layer2_mean_")[1]);

    // The fine-tuned HuBERT is written as a HuBERT: transformers' AutoModel reads `model_type`
    // and the `hubert.` keys.
    let model = p.stage_entry(&doc, "ft");
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(model.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model_type"], "hubert");
    assert_eq!(config["feat_proj_layer_norm"], false);
    let keys = safetensors_keys(&model.join("model.safetensors"));
    assert!(keys.iter().any(|k| k == "hubert.encoder.layers.1.attention.q_proj.weight"), "{keys:?}");
    assert!(keys.iter().all(|k| !k.starts_with("wav2vec2.")), "{keys:?}");
    assert!(!keys.iter().any(|k| k.contains("feature_projection.layer_norm")), "{keys:?}");

    // A fine-tuned WavLM: its relative position bias trained (the gradient reaches the bucket
    // embedding through every layer's gate) and is written under `wavlm.`.
    let model = p.stage_entry(&doc, "ft2");
    let config: serde_json::Value = serde_json::from_slice(&std::fs::read(model.join("config.json")).unwrap()).unwrap();
    assert_eq!((config["model_type"].as_str(), config["num_buckets"].as_u64()), (Some("wavlm"), Some(320)));
    let embed = "wavlm.encoder.layers.0.attention.rel_attn_embed.weight";
    let before = safetensors_f32(&Path::new(&checkpoint("wavlm-base")).join("model.safetensors"), embed);
    let after = safetensors_f32(&model.join("model.safetensors"), embed);
    assert_eq!(after.len(), 320 * 4);
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    assert!(moved > 100, "{moved} of 1280 bucket weights changed");
    assert!(safetensors_keys(&model.join("model.safetensors")).iter().all(|k| !k.contains("layers.1.attention.rel_attn_embed")));
}

/// A three-fold cross-validation over embeddings of the committed tiny wav2vec2: the forward
/// pass is work the folds share, so it runs once, and each fold's states are what a single fold
/// computes alone.
#[test]
fn the_folds_of_a_cross_validation_share_one_forward_pass() {
    let pipeline = format!(
        "{}{}",
        SMALL.replace("val_fraction = 0.2", "strategy = \"kfold\"\nfolds = 3\nval_fraction = 0.2"),
        r#"
[stages.emb]
kind = "featurize"
set = "ssl"
inputs = ["split"]
model_path = "MODEL"
backend = "flex"
layers = [0, 2]
batch_size = 4
"#
        .replace("MODEL", &fixture_model().display().to_string())
    );
    let p = Project::new();
    p.file("p.toml", &pipeline);
    let doc = p.run_doc("p.toml", &[]);
    let shared = p.shared_entries("states");
    assert_eq!(shared.len(), 1, "one forward pass for the three folds: {shared:?}");
    let file = |p: &Project, doc: &serde_json::Value, stage: &str, file: &str| std::fs::read(p.stage_entry(doc, stage).join(file)).unwrap();
    for fold in 1..=3 {
        let stage = format!("emb.states[fold={fold}]");
        assert_eq!(p.shared_by(&doc, &stage), shared, "{stage}");
        assert_eq!(file(&p, &doc, &stage, "states.f32"), file(&p, &doc, "emb.states[fold=1]", "states.f32"), "{stage}");
        // The stage's own output still says how its fold splits the clips.
        let split = file(&p, &doc, &format!("split[fold={fold}]"), "manifest.csv");
        assert_eq!(file(&p, &doc, &stage, "manifest.csv"), split, "{stage}");
    }
    assert_ne!(file(&p, &doc, "emb.states[fold=1]", "manifest.csv"), file(&p, &doc, "emb.states[fold=2]", "manifest.csv"));
    let alone = Project::new();
    alone.file("p.toml", &pipeline);
    let one = alone.run_doc("p.toml", &["--set", "split.fold=2", "emb"]);
    assert_eq!(file(&alone, &one, "emb.states", "states.f32"), file(&p, &doc, "emb.states[fold=2]", "states.f32"));
    assert_eq!(file(&alone, &one, "emb", "features.csv"), file(&p, &doc, "emb[fold=2]", "features.csv"));
    // Forcing a fold makes its shared work again, to the same bits.
    let forced = p.run_doc("p.toml", &["--force", "emb.states[fold=3]"]);
    assert_eq!(file(&p, &forced, "emb.states[fold=3]", "states.f32"), file(&alone, &one, "emb.states", "states.f32"));
    assert_eq!(p.shared_entries("states"), shared);
}

/// Whisper's encoder as a feature model: the committed tiny Whisper
/// (`stages/wav2vec2/tests/fixtures/whisper`, `scripts/make_whisper_fixtures.py`) over its
/// two wav files through vox's table corpus gives transformers' hidden-state means, pooled
/// over each clip's own frames of the 30 s input; a clip over 30 s is refused by name, and a
/// fine-tune of Whisper at plan time.
#[test]
fn whisper_encoder_embeddings_match_transformers_and_long_clips_are_refused() {
    let fixture = fixture_model().with_file_name("whisper");
    let expected: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture.join("expected.json")).unwrap()).unwrap();
    let p = Project::new();
    let corpus = p.path().join("corpus");
    std::fs::create_dir_all(corpus.join("clips")).unwrap();
    for file in ["meta.csv", "clips/clip0.wav", "clips/clip1.wav"] {
        std::fs::copy(fixture.join(file), corpus.join(file)).unwrap();
    }
    let pipeline = r#"
[pipeline]
name = "whisper"

[stages.data]
kind = "download"
path = "corpus"

[stages.audio]
kind = "decode"
inputs = ["data"]
corpus = "csv"
table = "meta.csv"
sample_rate = 16000

[stages.emb]
kind = "featurize"
set = "ssl"
inputs = ["audio"]
model_path = "FIXTURE"
backend = "flex"
layers = "all"
stats = ["mean", "std"]
batch_size = 2
"#
    .replace("FIXTURE", &fixture.display().to_string());
    p.file("p.toml", &pipeline);
    let doc = p.run_doc("p.toml", &[]);
    let (names, rows) = features(&p.stage_entry(&doc, "emb"));
    assert_eq!(names.len(), 3 * 2 * 32, "3 hidden states x mean and std x width 32");
    let largest = largest_mean_difference(&p.stage_entry(&doc, "emb"), &expected);
    assert!(largest < 1e-4, "hidden-state means off transformers' by {largest}");
    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    let states = std::fs::read_to_string(run_dir.join("emb.states/states.txt")).unwrap();
    assert!(
        states.contains("model: Whisper encoder, 2 layers, width 32; inputs 16000 Hz, log-mel 80 bins over 30 s (1500 frames), not normalized per clip (Whisper's default)"),
        "{states}"
    );

    // Normalizing the clips is a choice the numbers show.
    let normalized = p.run_doc("p.toml", &["--set", "emb.normalize=true"]);
    let (_, normalized_rows) = features(&p.stage_entry(&normalized, "emb"));
    assert!(largest_difference(&rows, &normalized_rows) > 1e-3);

    // A clip longer than Whisper's 30 s input is refused by name, never cut silently.
    let long: Vec<i16> = (0..31 * 16000).map(|i| ((i as f64 * 0.05).sin() * 8000.0) as i16).collect();
    std::fs::write(corpus.join("clips/long.wav"), crate::support::wav_16bit(16000, &long)).unwrap();
    std::fs::write(corpus.join("meta.csv"), "file,label\nclips/clip0.wav,happy\nclips/long.wav,sad\n").unwrap();
    let refused = p.vox(&["run", "p.toml"]);
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(refused.stderr.contains("clip `long` is 31.00 s long; a Whisper encoder takes clips of up to 30 s"), "{}", refused.stderr);

    // Fine-tuning Whisper is not offered: the plan says what the model is for.
    p.file("q.toml", &format!(
        "{pipeline}\n[stages.w2v]\nkind = \"fine-tune\"\ninputs = [\"audio\"]\nmodel_path = \"{}\"\nbackend = \"flex\"\n",
        fixture.display()
    ));
    let plan = p.vox(&["plan", "q.toml"]);
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    assert!(plan.stderr.contains("vox uses Whisper's encoder for features (`featurize set = \"ssl\"`)"), "{}", plan.stderr);
}
