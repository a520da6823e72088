//! `vox predict`: a finished run's models on new recordings give exactly what the run's own
//! stages gave the same recordings, from files, folders and tables, fold models averaged, and
//! bad requests or audio are named.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::support::Project;

/// Actors 01-04 labelled (train/val/test), actor 05 decoded unlabeled: every model scores its
/// clips in the run, so predict's numbers on actor 05's files can be checked against the run's.
const EVERY_MODEL: &str = r#"
[pipeline]
name = "predict"
seed = 11

[stages.data]
kind = "synth"
actors = 5
statements = 1
repetitions = 1
duration = 1.0
sample_rate = 16000

[stages.audio]
kind = "decode"
inputs = ["data"]
exclude = ["Actor_05/*"]

[stages.new_audio]
kind = "decode"
inputs = ["data"]
corpus = "unlabeled"
include = ["Actor_05/*"]

[stages.all]
kind = "merge"
inputs = ["audio", "new_audio"]

[stages.padded]
kind = "pad"
inputs = ["all"]
length = 12000

[stages.split]
kind = "split"
inputs = ["padded"]
val_fraction = 0.25
test_fraction = 0.2

[stages.mfcc]
kind = "featurize"
inputs = ["split"]
set = "mfcc"

[stages.rf]
kind = "baseline"
inputs = ["mfcc"]
n_trees = 25

[stages.lr]
kind = "baseline"
inputs = ["mfcc"]
model = "logistic"

[stages.svm]
kind = "baseline"
inputs = ["mfcc"]
model = "linear-svm"

[stages.w2v]
kind = "fine-tune"
inputs = ["split"]
hidden_size = 16
layers = 1
heads = 2
intermediate_size = 32
conv_dim = [16, 16]
conv_kernel = [10, 3]
conv_stride = [5, 2]
epochs = 2
batch_size = 8

[stages.vote]
kind = "ensemble-vote"
inputs = ["rf", "lr", "svm", "w2v"]
weights = "val-macro-f1"

[stages.report]
kind = "evaluate"
inputs = ["rf", "lr", "svm", "w2v", "vote"]
split = "test"
plots = false
"#;

/// Runs `p.toml`; the run folder and each stage's cache folder.
fn run(p: &Project) -> (PathBuf, BTreeMap<String, PathBuf>) {
    let doc = p.run_doc("p.toml", &[]);
    let entries = doc["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (s["name"].as_str().unwrap().to_string(), p.entry(s["key"].as_str().unwrap()))
        })
        .collect();
    (p.path().join(doc["run_dir"].as_str().unwrap()), entries)
}

/// `predictions.csv` as clip -> (predicted, probabilities by column).
fn predictions(dir: &Path) -> BTreeMap<String, (String, BTreeMap<String, f64>)> {
    let mut reader = csv::Reader::from_path(dir.join("predictions.csv")).unwrap();
    let header = reader.headers().unwrap().clone();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let probabilities = header.iter().zip(r.iter()).skip(4).map(|(h, v)| (h.to_string(), v.parse().unwrap())).collect();
            (r[0].to_string(), (r[3].to_string(), probabilities))
        })
        .collect()
}

#[test]
fn every_model_scores_new_files_as_the_run_scored_them() {
    let p = Project::new();
    p.file("p.toml", EVERY_MODEL);
    let (run_dir, entries) = run(&p);
    let actor = entries["data"].join("Actor_05");
    let out = p.path().join("new");
    let predict = p.vox(&["predict", run_dir.to_str().unwrap(), actor.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    for model in ["rf", "lr", "svm", "w2v", "vote"] {
        assert!(predict.stdout.contains(&format!("{model}: 15 clips (")), "{}", predict.stdout);
        let new = predictions(&out.join(model));
        let ran = predictions(&entries[model]);
        assert_eq!(new.len(), 15, "{model}");
        for (clip, (predicted, probabilities)) in &new {
            let (ran_predicted, ran_probabilities) = &ran[clip];
            assert_eq!(probabilities.keys().collect::<Vec<_>>(), ran_probabilities.keys().collect::<Vec<_>>(), "{model}");
            // The classic models and the vote (on the members' exact rows for the classic
            // ones) are bit-identical; wav2vec2 batches other clips together, which may round
            // differently.
            let tolerance = if model == "w2v" || model == "vote" { 1e-6 } else { 0.0 };
            for (column, p) in probabilities {
                assert!((p - ran_probabilities[column]).abs() <= tolerance, "{model} {clip} {column}: {p} vs {}", ran_probabilities[column]);
            }
            assert_eq!(predicted, ran_predicted, "{model} {clip}");
        }
        // output.txt is evaluate's for the same clips, in the same format.
        let mut ours: Vec<String> = std::fs::read_to_string(out.join(model).join("output.txt")).unwrap().lines().map(String::from).collect();
        let mut theirs: Vec<String> =
            std::fs::read_to_string(run_dir.join("report").join(model).join("output.txt")).unwrap().lines().map(String::from).collect();
        assert_eq!(ours[0], "file_id | 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 |");
        ours.sort();
        theirs.sort();
        if model != "w2v" && model != "vote" {
            assert_eq!(ours, theirs, "{model}");
        }
    }
    let classes = std::fs::read_to_string(out.join("rf/classes.csv")).unwrap();
    assert!(classes.starts_with("class,description\n01,neutral\n"), "{classes}");
    assert!(!out.join(".work").exists(), "the work folder is removed");

    // A table: ids of its own, a segment, a file given twice under two ids; and a lone file.
    let first = actor.join("03-01-01-01-01-01-05.wav");
    std::fs::write(
        p.path().join("clips.tsv"),
        format!("file\tid\tstart\tend\n{}\twhole\t\t\n{}\thead\t0.0\t0.5\n", first.display(), first.display()),
    )
    .unwrap();
    let out = p.path().join("table");
    let second = actor.join("03-01-05-02-01-01-05.wav");
    let predict = p.vox(&[
        "predict",
        run_dir.to_str().unwrap(),
        "--model",
        "lr",
        "--out",
        out.to_str().unwrap(),
        p.path().join("clips.tsv").to_str().unwrap(),
        second.to_str().unwrap(),
    ]);
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1, "only the model asked for");
    let table = predictions(&out.join("lr"));
    let ran = predictions(&entries["lr"]);
    assert_eq!(table.keys().collect::<Vec<_>>(), ["03-01-05-02-01-01-05", "head", "whole"]);
    assert_eq!(table["whole"], ran["03-01-01-01-01-01-05"]);
    assert_eq!(table["03-01-05-02-01-01-05"], ran["03-01-05-02-01-01-05"]);
    assert_ne!(table["head"].1, table["whole"].1, "half a second, padded, is another clip");
    let sum: f64 = table["head"].1.values().sum();
    assert!((sum - 1.0).abs() < 1e-9);

    // A long recording: three of actor 05's clips, each cut to the model's 0.75 s input, one
    // after another. Cut into 0.75 s windows, each window is that clip as the run scored it,
    // and the recording scores their mean.
    let parts = ["03-01-01-01-01-01-05", "03-01-05-02-01-01-05", "03-01-03-02-01-01-05"];
    let mut samples: Vec<i16> = Vec::new();
    for id in parts {
        samples.extend_from_slice(&pcm16(&actor.join(format!("{id}.wav")))[..12000]);
    }
    let session = p.path().join("session.wav");
    std::fs::write(&session, crate::support::wav_16bit(16000, &samples)).unwrap();
    let (run, session) = (run_dir.to_str().unwrap(), session.to_str().unwrap());
    let out = p.path().join("windows");
    let windowed = p.vox(&["predict", run, "--model", "lr", "--window", "0.75", "--out", out.to_str().unwrap(), session]);
    assert_eq!(windowed.code, 0, "{}", windowed.stderr);
    assert!(windowed.stdout.contains("lr: 3 windows ("), "{}", windowed.stdout);
    assert!(windowed.stdout.contains("; 1 recording ("), "{}", windowed.stdout);
    assert!(!windowed.stderr.contains("WARN"), "no window is cropped: {}", windowed.stderr);
    let windows = predictions(&out.join("lr"));
    let ids = ["session_0-0.75", "session_0.75-1.5", "session_1.5-2.25"];
    assert_eq!(windows.len(), 3);
    for (window, id) in ids.iter().zip(parts) {
        assert_eq!(windows[*window], ran[id], "window {window} is clip {id}");
    }
    assert_eq!(
        std::fs::read_to_string(out.join("windows.csv")).unwrap(),
        "file_id,recording,start,end\nsession_0-0.75,session,0,0.75\nsession_0.75-1.5,session,0.75,1.5\nsession_1.5-2.25,session,1.5,2.25\n"
    );
    let recordings = predictions(&out.join("lr/recordings"));
    assert_eq!(recordings.keys().collect::<Vec<_>>(), ["session"]);
    let (predicted, mean) = &recordings["session"];
    for (column, p) in mean {
        let expected = parts.iter().map(|id| ran[*id].1[column]).sum::<f64>() / 3.0;
        assert!((p - expected).abs() < 1e-12, "{column}: {p} vs {expected}");
    }
    let best = mean.iter().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    assert_eq!(format!("p{predicted}"), *best);
    let text = std::fs::read_to_string(out.join("lr/recordings/output.txt")).unwrap();
    assert_eq!(text.lines().count(), 2);
    assert!(text.lines().nth(1).unwrap().starts_with("session | "), "{text}");

    // Given whole, the recording is cropped to its first 0.75 s (the first clip), and that is
    // said with the option that scores all of it.
    let out = p.path().join("whole");
    let whole = p.vox(&["predict", run, "--model", "lr", "--out", out.to_str().unwrap(), session]);
    assert_eq!(whole.code, 0, "{}", whole.stderr);
    assert!(
        whole.stderr.contains(
            "padded: new clip `session` (2.25 s) is more than twice the model's 0.75 s input: only its start is scored \
             (`crop = \"start\"`); `vox predict --window 0.75` scores it window by window"
        ),
        "{}",
        whole.stderr
    );
    assert_eq!(predictions(&out.join("lr"))["session"], ran[parts[0]]);
    // The three clips with a second of silence between them, cut at the pauses: a segment
    // per clip, each within its clip's stretch of the recording.
    let mut paused: Vec<i16> = Vec::new();
    for (k, id) in parts.iter().enumerate() {
        if k > 0 {
            paused.extend(std::iter::repeat_n(0, 16000));
        }
        paused.extend_from_slice(&pcm16(&actor.join(format!("{id}.wav")))[..12000]);
    }
    let talk = p.path().join("talk.wav");
    std::fs::write(&talk, crate::support::wav_16bit(16000, &paused)).unwrap();
    let out = p.path().join("segments");
    let segmented = p.vox(&["predict", run, "--model", "lr", "--segment", "30", "--out", out.to_str().unwrap(), talk.to_str().unwrap()]);
    assert_eq!(segmented.code, 0, "{}", segmented.stderr);
    assert!(segmented.stdout.contains("lr: 3 segments ("), "{}", segmented.stdout);
    let listed = crate::support::csv_rows(&out.join("windows.csv"));
    assert_eq!(listed.len(), 3, "{listed:?}");
    for (k, row) in listed.iter().enumerate() {
        let (start, end): (f64, f64) = (row["start"].parse().unwrap(), row["end"].parse().unwrap());
        let clip = (k as f64 * 1.75, k as f64 * 1.75 + 0.75);
        // A frame reaches half its 2048 samples past the sound, and stands for its hop after
        // that: up to 96 ms past the clip on either side.
        assert!(start >= clip.0 - 0.1 && end <= clip.1 + 0.1 && end > start + 0.3, "segment {k}: {start}-{end} vs {clip:?}");
        assert_eq!(row["recording"], "talk");
    }
    assert_eq!(predictions(&out.join("lr/recordings")).len(), 1);
    let both = p.vox(&["predict", run, "--window", "1", "--segment", "30", session]);
    assert_eq!(both.code, 2, "{}", both.stderr);
    let quiet = p.vox(&["predict", run, "--segment", "0", session]);
    assert_eq!(quiet.code, 2);
    assert!(quiet.stderr.contains("--segment/--min-pause: the pause level must be a positive number of dB below the loudest frame, not 0"), "{}", quiet.stderr);

    let gaps = p.vox(&["predict", run, "--model", "lr", "--window", "0.5", "--hop", "1", session]);
    assert_eq!(gaps.code, 2);
    assert!(
        gaps.stderr.contains("--window/--hop: a hop of 1 s is longer than the 0.5 s window: the audio between windows would never be scored"),
        "{}",
        gaps.stderr
    );
}

/// The samples of a mono 16-bit PCM WAV file (its `data` chunk).
fn pcm16(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap();
    let at = bytes.windows(4).position(|w| w == b"data").unwrap();
    let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap()) as usize;
    bytes[at + 8..at + 8 + len].chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect()
}

/// A fine-tune in `precision = "bf16"` predicts in bf16 too: `vox predict` gives the run's own
/// probabilities within 1e-6 (an `apply` that dropped the precision was off by 6.7e-6 on this
/// tiny model's first clip).
#[test]
fn a_bf16_fine_tune_predicts_in_bf16() {
    let p = Project::new();
    let data = &EVERY_MODEL[..EVERY_MODEL.find("[stages.mfcc]").unwrap()];
    let w2v = &EVERY_MODEL[EVERY_MODEL.find("[stages.w2v]").unwrap()..EVERY_MODEL.find("[stages.vote]").unwrap()];
    p.file("p.toml", &format!("{data}{}\nprecision = \"bf16\"\nbackend = \"flex\"\n", w2v.trim_end()));
    let (run_dir, entries) = run(&p);
    let actor = entries["data"].join("Actor_05");
    let out = p.path().join("new");
    let predict = p.vox(&["predict", run_dir.to_str().unwrap(), actor.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    let (new, ran) = (predictions(&out.join("w2v")), predictions(&entries["w2v"]));
    assert_eq!(new.len(), 15);
    for (clip, (predicted, probabilities)) in &new {
        let (ran_predicted, ran_probabilities) = &ran[clip];
        for (column, p) in probabilities {
            assert!((p - ran_probabilities[column]).abs() <= 1e-6, "{clip} {column}: {p} vs {}", ran_probabilities[column]);
        }
        assert_eq!(predicted, ran_predicted, "{clip}");
    }
    // ndarray has no bf16: refused before any clip is read.
    let out = p.path().join("on-ndarray");
    let predict = p.vox(&["predict", run_dir.to_str().unwrap(), actor.to_str().unwrap(), "--out", out.to_str().unwrap(), "--backend", "ndarray"]);
    assert_ne!(predict.code, 0);
    assert!(
        predict.stderr.contains(
            "stage `w2v` cannot run on backend `ndarray`: `precision = \"bf16\"` needs a backend with bf16 arithmetic"
        ),
        "{}",
        predict.stderr
    );
}

#[test]
fn bad_requests_unreadable_audio_and_untrained_models_are_named() {
    let p = Project::new();
    // `w2v` trains on clips of 5 samples, shorter than its first conv: it fails in the run.
    let pipeline = EVERY_MODEL
        .replace(
            "[stages.w2v]\nkind = \"fine-tune\"\ninputs = [\"split\"]",
            "[stages.tiny]\nkind = \"pad\"\ninputs = [\"split\"]\nlength = 5\n\n[stages.w2v]\nkind = \"fine-tune\"\ninputs = [\"tiny\"]",
        )
        .replace("\"svm\", \"w2v\"", "\"svm\"");
    p.file("p.toml", &pipeline);
    let ran = p.vox(&["run", "p.toml", "--json"]);
    assert_eq!(ran.code, 1, "{}", ran.stderr);
    let doc: serde_json::Value = serde_json::from_str(&ran.stdout).unwrap();
    let run_dir = p.path().join(doc["run_dir"].as_str().unwrap());
    let run = run_dir.to_str().unwrap();
    let key = |name: &str| doc["stages"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap()["key"].as_str().unwrap().to_string();
    let data = key("data");
    let clip = p.cache().join("entries").join(&data[..2]).join(&data).join("out/Actor_05/03-01-01-01-01-01-05.wav");
    let clip = clip.to_str().unwrap();

    let untrained = p.vox(&["predict", run, clip, "--model", "w2v"]);
    assert_eq!(untrained.code, 1);
    assert!(untrained.stderr.contains("stage `w2v` failed in this run, so it has no trained output"), "{}", untrained.stderr);
    let unknown = p.vox(&["predict", run, clip, "--model", "report"]);
    assert_eq!(unknown.code, 2);
    assert!(unknown.stderr.contains("the run has no model `report`; its models are `rf`, `lr`, `svm`, `w2v`, `vote`"), "{}", unknown.stderr);
    let typo = p.vox(&["predict", run, clip, "--model", "svn"]);
    assert_eq!(typo.code, 2);
    assert!(typo.stderr.contains("the run has no model `svn` (did you mean `svm`?); its models are"), "{}", typo.stderr);
    let not_a_run = p.vox(&["predict", p.path().to_str().unwrap(), clip]);
    assert_eq!(not_a_run.code, 2);
    assert!(not_a_run.stderr.contains("run.json"), "{}", not_a_run.stderr);

    std::fs::write(p.path().join("broken.wav"), "not audio").unwrap();
    let broken = p.vox(&["predict", run, "--model", "rf", clip, p.path().join("broken.wav").to_str().unwrap()]);
    assert_eq!(broken.code, 1);
    assert!(broken.stderr.contains("broken.wav`: corrupt WAV"), "{}", broken.stderr);
    assert!(!broken.stderr.contains("on_error"), "predict has no such param: {}", broken.stderr);
    let missing = p.vox(&["predict", run, "--model", "rf", p.path().join("gone").to_str().unwrap()]);
    assert_eq!(missing.code, 1);
    assert!(missing.stderr.contains("gone: No such file"), "{}", missing.stderr);

    // A model whose cache entry was removed has nothing to apply: named, with what to do.
    let rf = key("rf");
    std::fs::remove_dir_all(p.cache().join("entries").join(&rf[..2]).join(&rf)).unwrap();
    let gone = p.vox(&["predict", run, "--model", "rf", clip]);
    assert_eq!(gone.code, 1);
    assert!(gone.stderr.contains("the output of stage `rf` is not in the cache"), "{}", gone.stderr);
    let works = p.vox(&["predict", run, "--model", "lr", clip]);
    assert_eq!(works.code, 0, "{}", works.stderr);
}

#[test]
fn a_cross_validated_model_averages_its_folds_as_evaluate_does() {
    let p = Project::new();
    let pipeline = EVERY_MODEL
        .replace("val_fraction = 0.25\ntest_fraction = 0.2", "strategy = \"group-kfold\"\nval_fraction = 0.34")
        .replace("[stages.w2v]", "[stages.w2v_off]")
        .replace("inputs = [\"rf\", \"lr\", \"svm\", \"w2v\"]", "inputs = [\"rf\", \"lr\"]")
        .replace("inputs = [\"rf\", \"lr\", \"svm\", \"w2v\", \"vote\"]", "inputs = [\"rf\", \"vote\"]");
    p.file("p.toml", &pipeline);
    let (run_dir, entries) = run(&p);
    let actor = entries["data"].join("Actor_05");
    let out = p.path().join("new");
    let predict = p.vox(&[
        "predict",
        run_dir.to_str().unwrap(),
        actor.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--model",
        "rf",
        "--model",
        "vote",
        "--model",
        "lr[fold=2]",
    ]);
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    assert!(predict.stdout.contains("rf (mean of 4 folds): 15 clips"), "{}", predict.stdout);
    // The folds' feature stages apply to the same new clips: the first computes their
    // features, the other three read them (and the predictions below are still the run's).
    let reused = (1..=4).filter(|k| predict.stderr.contains(&format!("`mfcc[fold={k}]`: features of the same clips were computed before"))).count();
    assert_eq!(reused, 3, "{}", predict.stderr);
    for model in ["rf", "vote"] {
        let ours = std::fs::read_to_string(out.join(model).join("output.txt")).unwrap();
        let theirs = std::fs::read_to_string(run_dir.join("report").join(model).join("output.txt")).unwrap();
        let sorted = |text: &str| {
            let mut lines: Vec<String> = text.lines().map(String::from).collect();
            lines.sort();
            lines
        };
        assert_eq!(sorted(&ours), sorted(&theirs), "{model}");
    }
    // One fold's model alone is that fold's stage applied.
    let fold = predictions(&out.join("lr[fold=2]"));
    let ran = predictions(&entries["lr[fold=2]"]);
    for (clip, row) in &fold {
        assert_eq!(row, &ran[clip]);
    }
    assert_eq!(fold.len(), 15);
}

/// A path param (a fine-tune's `model_path`) is keyed by its content; `run.json` also records
/// where it is, so that predict can configure the stage again, and refuses once the folder
/// changed.
#[test]
fn a_model_path_is_found_again_and_a_changed_one_refused() {
    let p = Project::new();
    let model = p.path().join("models/tiny");
    std::fs::create_dir_all(&model).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(crate::deep::fixture_model().join(file), model.join(file)).unwrap();
    }
    let pipeline = format!(
        "{}{}",
        crate::support::SMALL,
        "\n[stages.w2v]\nkind = \"fine-tune\"\ninputs = [\"split\"]\nmodel_path = \"models/tiny\"\nbackend = \"flex\"\nnew_head = true\nepochs = 0\n"
    );
    p.file("p.toml", &pipeline);
    let (run_dir, entries) = run(&p);
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    let w2v = record["stages"].as_array().unwrap().iter().find(|s| s["name"] == "w2v").unwrap();
    assert_eq!(w2v["paths"]["model_path"].as_str().unwrap(), model.display().to_string());
    assert!(w2v["params"]["model_path"]["content"].is_string(), "the key's view stays the content: {w2v}");

    let actor = entries["data"].join("Actor_01");
    let predict = |out: &str| p.vox(&["predict", run_dir.to_str().unwrap(), actor.to_str().unwrap(), "--out", out]);
    let ok = predict("new");
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    let (new, ran) = (predictions(&p.path().join("new/w2v")), predictions(&entries["w2v"]));
    assert_eq!(new.len(), 15);
    for (clip, (_, probabilities)) in &new {
        for (column, v) in probabilities {
            assert!((v - ran[clip].1[column]).abs() <= 1e-6, "{clip} {column}");
        }
    }

    std::fs::write(model.join("README.md"), "edited after the run").unwrap();
    let changed = predict("changed");
    assert_eq!(changed.code, 1, "{}", changed.stderr);
    let expected = format!(
        "`model_path` of stage `w2v` is `{}`, which has changed since the run: the predictions would not be the run's. \
         Put back what the run read, or run the pipeline again",
        model.display()
    );
    assert!(changed.stderr.contains(&expected), "{}", changed.stderr);
    std::fs::remove_dir_all(&model).unwrap();
    let gone = predict("gone");
    assert!(gone.stderr.contains("which is gone since the run"), "{}", gone.stderr);

    // A run.json from before paths were recorded: the content alone cannot be configured.
    let mut old = record.clone();
    for stage in old["stages"].as_array_mut().unwrap() {
        stage.as_object_mut().unwrap().remove("paths");
    }
    std::fs::write(run_dir.join("run.json"), serde_json::to_vec(&old).unwrap()).unwrap();
    let unrecorded = predict("old");
    assert!(
        unrecorded.stderr.contains("the run recorded `model_path` of stage `w2v` by its content only (a run of an older vox)"),
        "{}",
        unrecorded.stderr
    );
}

/// A run recorded by an older vox, which keyed and recorded every param of a kind (eGeMAPS's
/// spectrogram params, a forest's `c`), still predicts: those params, at their defaults, no
/// longer apply and are left out. One recorded away from its default is refused, by name.
#[test]
fn a_run_recorded_with_params_that_no_longer_apply_still_predicts() {
    let p = Project::new();
    let pipeline = format!(
        "{}{}",
        crate::support::SMALL,
        "\n[stages.egemaps]\nkind = \"featurize\"\ninputs = [\"split\"]\n\n\
         [stages.rf]\nkind = \"baseline\"\ninputs = [\"egemaps\"]\nn_trees = 10\n"
    );
    p.file("p.toml", &pipeline);
    let (run_dir, entries) = run(&p);
    let actor = entries["data"].join("Actor_01");
    let predict = |out: &str| p.vox(&["predict", run_dir.to_str().unwrap(), actor.to_str().unwrap(), "--out", out]);
    let now = predict("now");
    assert_eq!(now.code, 0, "{}", now.stderr);

    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    let with = |extra: serde_json::Value| {
        let mut old = record.clone();
        for stage in old["stages"].as_array_mut().unwrap() {
            let name = stage["name"].as_str().unwrap().to_string();
            if let Some(params) = extra.get(&name) {
                for (k, v) in params.as_object().unwrap() {
                    stage["params"][k] = v.clone();
                }
            }
        }
        std::fs::write(run_dir.join("run.json"), serde_json::to_vec(&old).unwrap()).unwrap();
    };
    with(serde_json::json!({
        "egemaps": {"n_mfcc": 13, "n_mels": null, "n_fft": 512, "hop_length": 160, "win_length": null, "fmin": 0.0,
                    "fmax": null, "deltas": false, "pad_mode": "constant"},
        "rf": {"c": 1.0}
    }));
    let old = predict("old");
    assert_eq!(old.code, 0, "{}", old.stderr);
    assert_eq!(predictions(&p.path().join("old/rf")), predictions(&p.path().join("now/rf")));
    assert_eq!(predictions(&p.path().join("old/rf")).len(), 15);

    with(serde_json::json!({"egemaps": {"n_fft": 1024}}));
    let refused = predict("refused");
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("the recorded params of stage `egemaps` are not valid for this vox: `n_fft` applies to `mfcc` and `logmel` only"),
        "{}",
        refused.stderr
    );
}

/// A model on speaker-normalized features, of which the 12 best by ANOVA F: new clips are
/// normalized by their own groups (all together without speakers, as the run did its
/// speakerless actor; by a table's `speaker` column; by recording when cut into windows), a
/// clip alone in its group is refused, and the run's features are kept.
#[test]
fn speaker_normalized_features_are_normalized_by_the_new_clips_own_groups() {
    let p = Project::new();
    let data = &EVERY_MODEL[..EVERY_MODEL.find("[stages.rf]").unwrap()];
    p.file(
        "p.toml",
        &format!(
            "{data}[stages.spk]\nkind = \"normalize\"\ninputs = [\"mfcc\"]\n\n[stages.top]\nkind = \"select\"\ninputs = [\"spk\"]\nk = 12\n\n\
             [stages.lr]\nkind = \"baseline\"\ninputs = [\"top\"]\nmodel = \"logistic\"\n"
        ),
    );
    let ran = p.vox(&["run", "p.toml"]);
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    assert!(ran.stderr.contains("spk: 15 clip(s) have no `speaker`: normalized together as one group"), "{}", ran.stderr);
    let (run_dir, entries) = run(&p);

    // Each speaker's features (actors 01-04, and actor 05's 15 speakerless clips) have mean 0
    // and std 1 over its own clips.
    let manifest = crate::support::csv_rows(&entries["spk"].join("manifest.csv"));
    let features = crate::support::csv_rows(&entries["spk"].join("features.csv"));
    for speaker in ["01", "02", "03", "04", ""] {
        let rows: Vec<&BTreeMap<String, String>> =
            features.iter().zip(&manifest).filter(|(_, m)| m["speaker"] == speaker).map(|(f, _)| f).collect();
        assert_eq!(rows.len(), 15, "speaker `{speaker}`");
        for column in ["mfcc1_mean", "mfcc3_p90"] {
            let values: Vec<f64> = rows.iter().map(|r| r[column].parse().unwrap()).collect();
            let mean = values.iter().sum::<f64>() / 15.0;
            let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 15.0;
            assert!(mean.abs() < 1e-12 && (var - 1.0).abs() < 1e-9, "speaker `{speaker}` {column}: {mean} {var}");
        }
    }

    // The 12 features with the largest ANOVA F over the train clips reach the model, and
    // `vox predict` keeps the same ones.
    let kept = crate::support::csv_rows(&entries["top"].join("report/selection.csv"));
    assert_eq!(kept.iter().filter(|r| r["kept"] == "1").count(), 12);
    let header = std::fs::read_to_string(entries["top"].join("features.csv")).unwrap();
    assert_eq!(header.lines().next().unwrap().split(',').count(), 13);

    // Actor 05's files, without speakers, are one group as in the run: the same probabilities.
    let actor = entries["data"].join("Actor_05");
    let out = p.path().join("new");
    let predict = p.vox(&["predict", run_dir.to_str().unwrap(), actor.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    assert!(
        predict.stderr.contains("15 new clip(s) have no `speaker`: normalized together as one speaker's (a table with a `speaker` column groups them)"),
        "{}",
        predict.stderr
    );
    let (new, ran) = (predictions(&out.join("lr")), predictions(&entries["lr"]));
    assert_eq!(new.len(), 15);
    for (clip, (predicted, probabilities)) in &new {
        let (ran_predicted, ran_probabilities) = &ran[clip];
        for (column, p) in probabilities {
            assert!((p - ran_probabilities[column]).abs() < 1e-9, "{clip} {column}: {p} vs {}", ran_probabilities[column]);
        }
        assert_eq!(predicted, ran_predicted, "{clip}");
    }

    // A table's speakers group its rows; a speaker with one clip is refused, as is a lone file.
    let files: Vec<PathBuf> = ["03-01-01-01-01-01-05", "03-01-05-02-01-01-05", "03-01-03-02-01-01-05"]
        .iter()
        .map(|id| actor.join(format!("{id}.wav")))
        .collect();
    let table = |speakers: [&str; 3]| {
        let rows: String = files.iter().zip(speakers).map(|(f, s)| format!("{},{s}\n", f.display())).collect();
        p.file("clips.csv", &format!("file,speaker\n{rows}"));
        p.vox(&["predict", run_dir.to_str().unwrap(), p.path().join("clips.csv").to_str().unwrap(), "--out", "t"])
    };
    let two = table(["x", "x", "y"]);
    assert_eq!(two.code, 1, "{}", two.stderr);
    assert!(
        two.stderr.contains(
            "new clip `03-01-03-02-01-01-05` is the only one with `speaker` = `y`: normalized by its own statistics \
             every feature would be 0 (give `vox predict` several clips of each `speaker`)"
        ),
        "{}",
        two.stderr
    );
    let one = table(["x", "x", "x"]);
    assert_eq!(one.code, 0, "{}", one.stderr);
    let grouped = predictions(&p.path().join("t/lr"));
    assert_eq!(grouped.len(), 3);
    assert_ne!(grouped["03-01-01-01-01-01-05"].1, new["03-01-01-01-01-01-05"].1, "three clips' statistics, not fifteen");
    let lone = p.vox(&["predict", run_dir.to_str().unwrap(), files[0].to_str().unwrap(), "--out", "lone"]);
    assert_eq!(lone.code, 1, "{}", lone.stderr);
    assert!(lone.stderr.contains("new clip `03-01-01-01-01-01-05` has no `speaker` and no other clip to be normalized with"), "{}", lone.stderr);

    // Cut into windows, a lone file's windows are its recording's group.
    let windows = p.vox(&["predict", run_dir.to_str().unwrap(), files[0].to_str().unwrap(), "--out", "w", "--window", "0.25"]);
    assert_eq!(windows.code, 0, "{}", windows.stderr);
    let windowed = predictions(&p.path().join("w/lr"));
    assert!(windowed.len() >= 3, "{windowed:?}");
    assert!(!windows.stderr.contains("normalized together"), "{}", windows.stderr);
}

/// Augmented training copies (a noise input among them) reach the models, and `vox predict`
/// passes new clips through `augment` untouched and trims them as the run did: the run's own
/// scores of its unlabeled actor. An `augment` above the split is refused at its line before
/// anything runs.
#[test]
fn augmented_training_leaves_new_clips_as_they_are() {
    let p = Project::new();
    let data = EVERY_MODEL[..EVERY_MODEL.find("[stages.mfcc]").unwrap()].replace(
        "[stages.padded]\nkind = \"pad\"\ninputs = [\"all\"]",
        "[stages.trimmed]\nkind = \"trim\"\ninputs = [\"all\"]\ntop_db = 30.0\n\n[stages.padded]\nkind = \"pad\"\ninputs = [\"trimmed\"]",
    );
    assert!(data.contains("trimmed"));
    let pipeline = format!(
        "{data}[stages.noise]\nkind = \"decode\"\ninputs = [\"data\"]\ncorpus = \"unlabeled\"\ninclude = [\"Actor_05/03-01-01-*\"]\n\n\
         [stages.aug]\nkind = \"augment\"\ninputs = [\"split\", \"noise\"]\ncopies = 2\nspeed = [0.9, 1.1]\nnoise_snr = [10.0, 20.0]\n\n\
         [stages.mfcc]\nkind = \"featurize\"\ninputs = [\"aug\"]\nset = \"mfcc\"\n\n\
         [stages.lr]\nkind = \"baseline\"\ninputs = [\"mfcc\"]\nmodel = \"logistic\"\n"
    );
    p.file("p.toml", &pipeline);
    let (run_dir, entries) = run(&p);
    let split = crate::support::csv_rows(&entries["split"].join("manifest.csv"));
    let augmented = crate::support::csv_rows(&entries["aug"].join("manifest.csv"));
    let train = split.iter().filter(|r| r["split"] == "train").count();
    assert_eq!(augmented.len(), split.len() + 2 * train);
    let copies: Vec<_> = augmented.iter().filter(|r| !r["augmented_from"].is_empty()).collect();
    assert_eq!(copies.len(), 2 * train);
    assert!(copies.iter().all(|r| r["split"] == "train" && r["file_id"].starts_with(r["augmented_from"].as_str())));
    assert!(copies.iter().all(|r| r["augmentation"].starts_with("speed 0.9, noise ") || r["augmentation"].starts_with("speed 1.1, noise ")));
    // The model saw them: standardization over the train clips, copies included.
    let features = crate::support::csv_rows(&entries["mfcc"].join("features.csv"));
    assert_eq!(features.len(), augmented.len());
    // Trimmed before padding: every clip lost some silence, and says which part it kept.
    let trimmed = crate::support::csv_rows(&entries["trimmed"].join("manifest.csv"));
    assert!(trimmed.iter().all(|r| r["trim_start"].parse::<u64>().unwrap() > 0), "{:?}", trimmed[0]);
    assert!(trimmed.iter().all(|r| r["trim_end"].parse::<u64>().unwrap() < r["original_length"].parse::<u64>().unwrap()));

    let actor = entries["data"].join("Actor_05");
    let out = p.path().join("new");
    let predict = p.vox(&["predict", run_dir.to_str().unwrap(), actor.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    let (new, ran) = (predictions(&out.join("lr")), predictions(&entries["lr"]));
    assert_eq!(new.len(), 15);
    for (clip, scores) in &new {
        assert_eq!(scores, &ran[clip], "{clip}");
    }

    p.file("above.toml", &pipeline.replace("inputs = [\"split\", \"noise\"]", "inputs = [\"padded\", \"noise\"]"));
    let plan = p.vox(&["plan", "above.toml"]);
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    assert!(plan.stderr.contains("no clip of the input is in a `train` split: put `augment` after a `split`"), "{}", plan.stderr);
    p.file("both.toml", &pipeline.replace("noise_snr = [10.0, 20.0]", "noise_snr = [10.0, 20.0]\nnoise = \"pink\""));
    let plan = p.vox(&["plan", "both.toml"]);
    assert_eq!(plan.code, 2, "{}", plan.stderr);
    assert!(plan.stderr.contains("`noise` generates noise, but input `noise` is the noise to add: leave one out"), "{}", plan.stderr);
}

/// A `fine-tune` with `targets` on IEMOCAP-layout ratings: the planner takes it for an estimator
/// (`evaluate` scores its CCC, an `ensemble-vote` of it is refused at its line), and `vox
/// predict` estimates a session's files exactly as the run estimated the same clips.
#[test]
fn a_fine_tune_of_dimensions_estimates_new_files_as_the_run_did() {
    let p = Project::new();
    let pipeline = r#"
[pipeline]
name = "dims"
seed = 7

[stages.data]
kind = "synth"
naming = "iemocap"
actors = 4
statements = 1
repetitions = 1
duration = 1.0
sample_rate = 16000

[stages.audio]
kind = "decode"
inputs = ["data"]
corpus = "iemocap"
classes = ["neutral", "happy", "excited", "angry", "sad", "frustrated"]

[stages.padded]
kind = "pad"
inputs = ["audio"]
length = 8000

[stages.split]
kind = "split"
inputs = ["padded"]
val_fraction = 0.2
test_fraction = 0.2

[stages.w2v]
kind = "fine-tune"
inputs = ["split"]
targets = ["arousal", "valence", "dominance"]
hidden_size = 16
layers = 1
heads = 2
intermediate_size = 32
conv_dim = [16, 16]
conv_kernel = [10, 3]
conv_stride = [5, 2]
epochs = 2
batch_size = 8

[stages.report]
kind = "evaluate"
inputs = ["w2v"]
split = "test"
plots = false
"#;
    p.file("p.toml", pipeline);
    let (run_dir, entries) = run(&p);
    let ran = std::fs::read_to_string(entries["w2v"].join("estimates.csv")).unwrap();
    assert!(ran.starts_with("file_id,split,arousal,valence,dominance,predicted_arousal,predicted_valence,predicted_dominance\n"), "{ran}");
    let config = std::fs::read_to_string(entries["w2v"].join("config.json")).unwrap();
    assert!(config.contains("\"problem_type\": \"regression\""), "{config}");
    let dimensions = std::fs::read_to_string(run_dir.join("report/dimensions.csv")).unwrap();
    let scored: Vec<&str> = dimensions.lines().filter(|l| l.starts_with("w2v,test,")).collect();
    assert_eq!(scored.len(), 3, "{dimensions}");

    let session = entries["data"].join("Session2/sentences/wav");
    let out = p.path().join("new");
    let predict = p.vox(&["predict", run_dir.to_str().unwrap(), session.to_str().unwrap(), "--model", "w2v", "--out", out.to_str().unwrap()]);
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    assert!(predict.stdout.contains("w2v: "), "{}", predict.stdout);
    let values = |text: &str| -> BTreeMap<String, Vec<String>> {
        text.lines().skip(1).map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            (cells[0].to_string(), cells[5..].iter().map(|c| c.to_string()).collect())
        }).collect()
    };
    let (new, ran) = (values(&std::fs::read_to_string(out.join("w2v/estimates.csv")).unwrap()), values(&ran));
    assert!(new.len() >= 10, "{new:?}");
    for (clip, estimate) in &new {
        // New files are named by their path under the folder given; the run's clips by stem.
        let stem = clip.rsplit('/').next().unwrap();
        assert_eq!(Some(estimate), ran.get(stem), "{clip}");
    }

    let vote = pipeline.replace("[stages.report]", "[stages.vote]\nkind = \"ensemble-vote\"\ninputs = [\"w2v\"]\n\n[stages.report]");
    p.file("p.toml", &vote);
    let refused = p.vox(&["run", "p.toml"]);
    assert_ne!(refused.code, 0);
    assert!(refused.stderr.contains("stage `vote`") && refused.stderr.contains("estimates"), "{}", refused.stderr);
}

/// `calibrate` rescales a forest's probabilities by the temperature it fits on `val`: the
/// predicted classes stay, the val log loss falls, and new recordings get the run's temperature.
#[test]
fn a_calibrated_model_keeps_its_predictions_and_rescales_new_clips_as_the_run_did() {
    let p = Project::new();
    let data = &EVERY_MODEL[..EVERY_MODEL.find("[stages.lr]").unwrap()];
    p.file(
        "p.toml",
        &format!(
            "{data}\n[stages.rf_cal]\nkind = \"calibrate\"\ninputs = [\"rf\"]\n\n[stages.report]\nkind = \"evaluate\"\ninputs = [\"rf\", \"rf_cal\"]\nplots = false\n"
        ),
    );
    let (run_dir, entries) = run(&p);
    let fitted: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(entries["rf_cal"].join("temperature.json")).unwrap()).unwrap();
    let t = fitted["temperature"].as_f64().unwrap();
    assert!((0.05..=20.0).contains(&t) && t != 1.0, "{fitted}");
    let [before, after] = [0, 1].map(|i| fitted["val_log_loss"][i].as_f64().unwrap());
    assert!(after < before, "the fitted temperature lowers the val log loss: {fitted}");
    assert_eq!(fitted["clips"], 15, "{fitted}");

    // Every clip: p^(1/T), normalized; the same predicted class.
    let (forest, calibrated) = (predictions(&entries["rf"]), predictions(&entries["rf_cal"]));
    assert_eq!(forest.len(), calibrated.len());
    for (clip, (predicted, probabilities)) in &forest {
        let powered: Vec<f64> = probabilities.values().map(|p| p.max(f64::EPSILON).powf(1.0 / t)).collect();
        let total: f64 = powered.iter().sum();
        let (cal_predicted, cal_probabilities) = &calibrated[clip];
        assert_eq!(cal_predicted, predicted, "{clip}");
        for (want, got) in powered.iter().zip(cal_probabilities.values()) {
            assert!((want / total - got).abs() < 1e-12, "{clip}: {got} vs {}", want / total);
        }
    }
    // evaluate: the same accuracy, a lower val log loss.
    let summary = std::fs::read_to_string(run_dir.join("report/summary.csv")).unwrap();
    let accuracy: Vec<&str> = summary.lines().skip(1).map(|l| l.split(',').nth(3).unwrap()).collect();
    assert_eq!(accuracy.len(), 2, "{summary}");
    assert_eq!(accuracy[0], accuracy[1], "{summary}");
    let table = std::fs::read_to_string(run_dir.join("report/calibration.csv")).unwrap();
    let log_loss = |model: &str| -> f64 {
        let row = table.lines().find(|l| l.starts_with(&format!("{model},val,"))).unwrap_or_else(|| panic!("{table}"));
        row.rsplit(',').next().unwrap().parse().unwrap()
    };
    assert!((log_loss("rf") - before).abs() < 1e-12 && (log_loss("rf_cal") - after).abs() < 1e-12, "{table}\n{fitted}");

    // New recordings: the run's temperature on the forest's new probabilities.
    let actor = entries["data"].join("Actor_05");
    let out = p.path().join("new");
    let predict = p.vox(&["predict", run_dir.to_str().unwrap(), actor.to_str().unwrap(), "--model", "rf_cal", "--out", out.to_str().unwrap()]);
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    let new = predictions(&out.join("rf_cal"));
    assert_eq!(new.len(), 15);
    for (clip, row) in &new {
        assert_eq!(row, &calibrated[clip], "{clip}");
    }
}
