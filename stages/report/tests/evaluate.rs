//! End-to-end runs of the `evaluate` stage on hand-made inputs (see `common`), checking the
//! files it writes and what they hold.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vox_api::{ArtifactKind, Input};

/// Reads a text file the stage wrote.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir`, by relative path, with its bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// Width, height and RGB pixels of a PNG.
fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    pixels.truncate(info.buffer_size());
    (info.width, info.height, pixels)
}

/// Pixels of exactly `rgb`.
fn count_colour(pixels: &[u8], rgb: [u8; 3]) -> usize {
    pixels.chunks_exact(3).filter(|p| *p == rgb).count()
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!((actual - expected).abs() < 1e-12, "{what}: {actual} != {expected}");
}

// Hand-computed scores of `w2v` on val (see `common::W2V_VAL`): classes neutral, calm, sad,
// angry; neutral P 1 R 2/3 F1 0.8 (support 3), calm P 1/2 R 1 F1 2/3 (1), sad never true and
// predicted once: 0 0 0 (0), angry P 1 R 1/2 F1 2/3 (2).
const W2V_ACCURACY: f64 = 4.0 / 6.0;
const W2V_MACRO_F1: f64 = (0.8 + 2.0 / 3.0 + 0.0 + 2.0 / 3.0) / 4.0;
const W2V_WEIGHTED_F1: f64 = (3.0 * 0.8 + 2.0 / 3.0 + 2.0 * 2.0 / 3.0) / 6.0;
const W2V_UAR: f64 = (2.0 / 3.0 + 1.0 + 0.0 + 0.5) / 4.0;
// `rf` on val: happy right, sad predicted angry: classes happy, sad, angry.
const RF_MACRO_F1: f64 = 1.0 / 3.0;
const RF_WEIGHTED_F1: f64 = 0.5;
const RF_UAR: f64 = 1.0 / 3.0;

#[test]
fn writes_metrics_tables_and_text() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = common::write_inputs(&tmp.path().join("inputs"));
    let out = common::run(tmp.path(), "", &inputs).unwrap();
    let report = out.join("report");

    // summary.csv, in out_dir and in the report, one row per input in input order.
    let summary = read(&out.join("summary.csv"));
    assert_eq!(summary, read(&report.join("summary.csv")));
    let rows: Vec<Vec<String>> = csv::Reader::from_reader(summary.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert!(
        summary.starts_with(
            "input,split,clips,accuracy,macro_f1,weighted_f1,uar,accuracy_low,accuracy_high,macro_f1_low,\
             macro_f1_high,weighted_f1_low,weighted_f1_high,uar_low,uar_high\n"
        ),
        "{summary}"
    );
    // Each metric lies in its bootstrap interval, which lies in [0, 1].
    for row in &rows {
        for k in 0..4 {
            let (value, low, high): (f64, f64, f64) =
                (row[3 + k].parse().unwrap(), row[7 + 2 * k].parse().unwrap(), row[8 + 2 * k].parse().unwrap());
            assert!((0.0..=value).contains(&low) && (value..=1.0).contains(&high), "{row:?}");
        }
    }
    assert_eq!(rows.len(), 2);
    for (row, name, clips, numbers) in [
        (&rows[0], "w2v", "6", [W2V_ACCURACY, W2V_MACRO_F1, W2V_WEIGHTED_F1, W2V_UAR]),
        (&rows[1], "rf", "2", [0.5, RF_MACRO_F1, RF_WEIGHTED_F1, RF_UAR]),
    ] {
        assert_eq!((row[0].as_str(), row[1].as_str(), row[2].as_str()), (name, "val", clips));
        for (k, want) in numbers.iter().enumerate() {
            assert_close(row[3 + k].parse().unwrap(), *want, &format!("{name} column {}", 3 + k));
        }
    }

    // metrics.json, with its machine-readable copy.
    let json = read(&report.join("w2v/metrics.json"));
    assert_eq!(json, read(&out.join("metrics/w2v.json")));
    let metrics: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(metrics["input"], "w2v");
    assert_eq!(metrics["split"], "val");
    assert_eq!(metrics["clips"], 6);
    assert_close(metrics["accuracy"].as_f64().unwrap(), W2V_ACCURACY, "accuracy");
    assert_close(metrics["macro_f1"].as_f64().unwrap(), W2V_MACRO_F1, "macro_f1");
    assert_close(metrics["weighted_avg"]["f1"].as_f64().unwrap(), W2V_WEIGHTED_F1, "weighted F1");
    assert_close(metrics["macro_avg"]["recall"].as_f64().unwrap(), W2V_UAR, "macro recall");
    assert_eq!(metrics["classes"][3]["code"], "05");
    assert_eq!(metrics["classes"][3]["emotion"], "angry");
    assert_eq!(metrics["confusion"]["classes"], serde_json::json!(["01", "02", "04", "05"]));
    assert_eq!(metrics["intervals"]["resamples"], 1000);
    assert_eq!(metrics["intervals"]["level"], 0.95);
    // 4 right of 6: a resample of 6 clips is 0..6 right; the 2.5th and 97.5th percentiles of
    // Binomial(6, 2/3) are 2/6 and 6/6.
    assert_eq!(metrics["intervals"]["accuracy"], serde_json::json!([2.0 / 6.0, 1.0]));
    // Calibration: every clip at confidence 0.65 (bin 10 of 15, (0.6, 0.667]), 4 of 6 right;
    // Brier: a right clip (0.65 - 1)^2 + 7 * 0.05^2 = 0.14, a wrong one 0.65^2 + 0.95^2 +
    // 6 * 0.05^2 = 1.34; log loss: -ln 0.65 four times, -ln 0.05 twice.
    let calibration = &metrics["calibration"];
    assert_eq!(calibration["bins"], 15);
    assert_close(calibration["ece"].as_f64().unwrap(), 4.0 / 6.0 - 0.65, "ECE");
    assert_close(calibration["mce"].as_f64().unwrap(), 4.0 / 6.0 - 0.65, "MCE");
    assert_close(calibration["brier"].as_f64().unwrap(), (4.0 * 0.14 + 2.0 * 1.34) / 6.0, "Brier");
    let log_loss = -(4.0 * 0.65f64.ln() + 2.0 * 0.05f64.ln()) / 6.0;
    assert_close(calibration["log_loss"].as_f64().unwrap(), log_loss, "log loss");
    let reliability = read(&report.join("w2v/calibration.csv"));
    let lines: Vec<&str> = reliability.lines().collect();
    assert_eq!(lines.len(), 16, "{reliability}");
    assert_eq!(lines[0], "bin,low,high,clips,confidence,accuracy");
    assert_eq!(lines[1], "1,0,0.06666666666666667,0,,");
    assert!(lines[10].starts_with("10,0.6,0.6666666666666666,6,0.65"), "{reliability}");
    assert!(lines[10].ends_with(",0.6666666666666666"), "{reliability}");
    // One row per scored model; rf: 0.65 on both clips, one right.
    let all = read(&report.join("calibration.csv"));
    assert!(all.starts_with("input,split,clips,bins,ece,mce,brier,log_loss\nw2v,val,6,15,0.01666"), "{all}");
    assert!(all.lines().nth(2).unwrap().starts_with("rf,val,2,15,0.15000000000000002,"), "{all}");
    assert_eq!(
        read(&report.join("w2v/clips.csv")),
        "file_id,label,predicted\nval_0,01,01\nval_1,01,01\nval_2,01,02\nval_3,02,02\nval_4,05,05\nval_5,05,04\n"
    );
    assert_eq!(
        metrics["confusion"]["counts"],
        serde_json::json!([[2, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 1, 1]])
    );

    assert_eq!(
        read(&report.join("w2v/per_class.csv")),
        "code,emotion,precision,recall,f1,support\n\
         01,neutral,1,0.6666666666666666,0.8,3\n\
         02,calm,0.5,1,0.6666666666666666,1\n\
         04,sad,0,0,0,0\n\
         05,angry,1,0.5,0.6666666666666666,2\n"
    );
    assert_eq!(
        read(&report.join("w2v/confusion_counts.csv")),
        "true \\ predicted,01 neutral,02 calm,04 sad,05 angry\n\
         01 neutral,2,1,0,0\n\
         02 calm,0,1,0,0\n\
         04 sad,0,0,0,0\n\
         05 angry,0,0,1,1\n"
    );
    assert_eq!(
        read(&report.join("w2v/confusion_normalized.csv")).lines().nth(1),
        Some("01 neutral,0.6666666666666666,0.3333333333333333,0,0")
    );
    let table = read(&report.join("w2v/classification_report.txt"));
    assert!(table.starts_with("              precision    recall  f1-score   support\n\n"), "{table}");
    assert!(table.contains("\n    05 angry     1.0000    0.5000    0.6667         2\n"), "{table}");
    assert!(table.contains("\n    accuracy                         0.6667         6\n"), "{table}");
    assert!(table.contains("\n95% bootstrap intervals (1000 resamples of the 6 clips): accuracy [0.3333, 1.0000], macro-F1 ["), "{table}");
    assert!(table.ends_with("\ncalibration (15 bins): ECE 0.0167, MCE 0.0167, Brier score 0.5400, log loss 1.2858\n"), "{table}");

    // output.txt: the unlabeled test rows of w2v; the unsplit unlabeled rows of rf, whose
    // missing classes are written as 0.
    assert_eq!(
        read(&report.join("w2v/output.txt")),
        "file_id | 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 |\n\
         test_0 | 0.0500 | 0.0500 | 0.6500 | 0.0500 | 0.0500 | 0.0500 | 0.0500 | 0.0500 |\n\
         test_1 | 0.0500 | 0.0500 | 0.6500 | 0.0500 | 0.0500 | 0.0500 | 0.0500 | 0.0500 |\n\
         test_2 | 0.0500 | 0.0500 | 0.0500 | 0.0500 | 0.0500 | 0.0500 | 0.0500 | 0.6500 |\n"
    );
    assert_eq!(
        read(&report.join("rf/output.txt")),
        "file_id | 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 |\n\
         u_0 | 0.1000 | 0.0000 | 0.2000 | 0.3000 | 0.4000 | 0.0000 | 0.0000 | 0.0000 |\n\
         u_1 | 0.5000 | 0.0000 | 0.2500 | 0.1250 | 0.1250 | 0.0000 | 0.0000 | 0.0000 |\n"
    );
}

#[test]
fn draws_figures_in_both_formats() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = common::write_inputs(&tmp.path().join("inputs"));
    let report = common::run(tmp.path(), "", &inputs).unwrap().join("report");
    let figures = [
        ("w2v/confusion_counts", (900, 800)),
        ("w2v/confusion_normalized", (900, 800)),
        ("w2v/training_curves", (1200, 500)),
        ("w2v/reliability", (800, 900)),
        ("w2v/predicted_counts", (900, 600)),
        ("rf/confusion_counts", (900, 800)),
        ("rf/predicted_counts", (900, 600)),
        ("audio/signal_logmel", (1700, 850)),
        ("audio/signal_energy", (1600, 800)),
        ("audio/signal_examples", (1700, 1000)),
    ];
    for (stem, (width, height)) in figures {
        let (w, h, pixels) = decode_png(&report.join(format!("{stem}.png")));
        assert_eq!((w, h), (width, height), "{stem}.png");
        assert_eq!(&pixels[..3], [255, 255, 255], "{stem}.png: white background");
        let svg = read(&report.join(format!("{stem}.svg")));
        assert!(svg.starts_with(&format!("<svg width=\"{width}\" height=\"{height}\"")), "{stem}.svg");
    }
    assert!(!report.join("rf/training_curves.png").exists(), "rf has no history.csv");

    // The counts matrix of w2v: its largest cell (2, neutral as neutral) has the darkest blue,
    // the annotations are there, and so are the axis names and emotion names.
    let (_, _, pixels) = decode_png(&report.join("w2v/confusion_counts.png"));
    assert!(count_colour(&pixels, [8, 48, 107]) > 10_000, "the darkest cell is drawn");
    let svg = read(&report.join("w2v/confusion_counts.svg"));
    for text in [
        "w2v: confusion matrix (val split, 6 clips)",
        ">\npredicted\n<",
        ">\ntrue\n<",
        ">\nangry\n<",
        ">\nclips\n<",
    ] {
        assert!(svg.contains(text), "confusion_counts.svg lacks {text:?}");
    }
    let curves = read(&report.join("w2v/training_curves.svg"));
    for text in ["train loss", "val loss", "train accuracy", "val accuracy", "val macro-F1", "epoch"] {
        assert!(curves.contains(text), "training_curves.svg lacks {text:?}");
    }
    let reliability = read(&report.join("w2v/reliability.svg"));
    for text in ["w2v: reliability (val split, 6 clips), ECE 0.017, Brier 0.540", "perfectly calibrated", "mean confidence", "accuracy"] {
        assert!(reliability.contains(text), "reliability.svg lacks {text:?}");
    }
    let signal = read(&report.join("audio/signal_logmel.svg"));
    for text in ["neutral (n=2)", "surprised (n=2)", "power (dB)", "16 labelled clips"] {
        assert!(signal.contains(text), "signal_logmel.svg lacks {text:?}");
    }
    assert!(read(&report.join("audio/signal_examples.svg")).contains("angry: angry_0"));
}

#[test]
fn output_is_byte_identical_across_runs() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let a = common::run(first.path(), "", &common::write_inputs(&first.path().join("inputs"))).unwrap();
    let b = common::run(second.path(), "", &common::write_inputs(&second.path().join("inputs"))).unwrap();
    let (a, b) = (tree(&a), tree(&b));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert_eq!(a.len(), 45, "files written");
    for (path, bytes) in &a {
        assert!(bytes == &b[path], "{} differs between runs", path.display());
    }
}

#[test]
fn without_plots_writes_only_tables() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = common::write_inputs(&tmp.path().join("inputs"));
    let out = common::run(tmp.path(), "plots = false", &inputs).unwrap();
    let files = tree(&out);
    let images: Vec<_> = files
        .keys()
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("png" | "svg")))
        .collect();
    assert!(images.is_empty(), "{images:?}");
    assert!(files.contains_key(Path::new("report/w2v/metrics.json")));
    assert!(files.contains_key(Path::new("report/rf/output.txt")));
    assert!(!out.join("report/audio").exists(), "the audio input is unused without plots");
}

#[test]
fn scores_the_chosen_split_and_only_labelled_clips() {
    let tmp = tempfile::tempdir().unwrap();
    let inputs = common::write_inputs(&tmp.path().join("inputs"));
    let out = common::run(tmp.path(), "split = \"train\"\nformats = [\"svg\"]", &inputs).unwrap();
    // w2v's train rows: sad predicted happy, fearful right; rf has no train rows.
    assert!(
        read(&out.join("summary.csv")).lines().nth(1).unwrap().starts_with("w2v,train,2,0.5,0.3333333333333333,0.5,0.3333333333333333,"),
        "{}",
        read(&out.join("summary.csv"))
    );
    assert_eq!(read(&out.join("summary.csv")).lines().count(), 2);
    assert!(out.join("report/w2v/confusion_counts.svg").exists());
    assert!(!out.join("report/w2v/confusion_counts.png").exists());
    assert!(!out.join("metrics/rf.json").exists());
    assert!(out.join("report/rf/output.txt").exists(), "unlabeled clips are written whatever the split");

    let tmp = tempfile::tempdir().unwrap();
    let inputs = common::write_inputs(&tmp.path().join("inputs"));
    let out = common::run(tmp.path(), "split = \"test\"\nplots = false", &inputs).unwrap();
    assert_eq!(read(&out.join("summary.csv")).lines().count(), 1, "the header only");
    assert!(!out.join("metrics").exists(), "the test clips have no labels");
}

#[test]
fn rejects_bad_params_and_inputs() {
    let kind = common::evaluate_kind();
    assert_eq!(kind.inputs().accepts, [ArtifactKind::Predictions, ArtifactKind::Estimates, ArtifactKind::Audio, ArtifactKind::Features]);
    assert_eq!(kind.output(), ArtifactKind::Report);
    let configure = |params: &str| kind.configure(toml::from_str(params).unwrap()).err().unwrap();
    let err = configure("formats = [\"png\", \"svg\", \"png\"]");
    assert_eq!((err.path.as_str(), err.message.as_str()), ("formats.2", "`png` is listed twice"));
    assert_eq!(configure("formats = []").path, "formats");
    assert_eq!(configure("calibration_bins = 0").path, "calibration_bins");
    assert_eq!(configure("split = \"dev\"").path, "split");
    assert!(configure("colour = 1").message.contains("unknown field `colour`"));
    let defaults = kind.configure(toml::Table::new()).unwrap().params();
    assert_eq!(
        defaults,
        serde_json::json!({"plots": true, "formats": ["png", "svg"], "bootstrap": 1000, "seed": null, "calibration_bins": 15})
    );
    // `split` unset: decided by the inputs (`test` for a cross-validation, else `val`), so not
    // in the params; set, it is.
    assert_eq!(kind.configure(toml::from_str("split = \"val\"").unwrap()).unwrap().params()["split"], "val");

    let tmp = tempfile::tempdir().unwrap();
    let mut inputs = common::write_inputs(&tmp.path().join("inputs"));
    inputs.push(Input { name: "more_audio".into(), ..inputs[2].clone() });
    let err = common::run(tmp.path(), "", &inputs).unwrap_err().to_string();
    assert_eq!(
        err,
        "inputs `audio` and `more_audio` are both audio sets; `evaluate` draws signal plots for at most one"
    );
    inputs.truncate(1);
    inputs[0].name = "../escape".into();
    let err = common::run(tmp.path(), "", &inputs).unwrap_err().to_string();
    assert!(err.starts_with("input `../escape` cannot name a report folder"), "{err}");
}

#[test]
fn schema_documents_every_param_with_its_default() {
    let schema = serde_json::to_value(common::evaluate_kind().schema()).unwrap();
    assert!(
        schema["description"].as_str().unwrap().starts_with("Scores model predictions and draws a report.")
    );
    // `split`'s default depends on the inputs: its description says which.
    let split = schema["properties"]["split"]["description"].as_str().unwrap();
    assert!(split.contains("Default: `test` when the inputs come from a cross-validation"), "{split}");
    for (param, default) in [
        ("plots", serde_json::json!(true)),
        ("formats", serde_json::json!(["png", "svg"])),
    ] {
        let property = &schema["properties"][param];
        assert!(property["description"].as_str().is_some_and(|d| d.len() > 40), "{param}: {property}");
        assert_eq!(property["default"], default, "{param}");
    }
}

/// A features input is mapped: every labelled clip with finite features (one with a NaN is left
/// out, and the rest still mapped), unlabeled clips never; its coordinates are centred.
#[test]
fn maps_the_labelled_finite_clips_of_a_features_input() {
    use vox_api::audio::{Clip, Split};
    use vox_api::features::FeatureTable;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("feats");
    std::fs::create_dir_all(&dir).unwrap();
    let clip = |i: usize, label: Option<&str>| Clip {
        file_id: format!("c{i}"),
        split: Split::Train,
        label: label.map(String::from),
        sex: if i.is_multiple_of(2) { "f".into() } else { "m".into() },
        ..Clip::default()
    };
    let mut clips = Vec::new();
    let mut rows = Vec::new();
    for i in 0..13 {
        // Three classes apart on the first feature, the second noise-like; clip 12 unlabeled.
        let class = i % 3;
        clips.push(clip(i, (i < 12).then(|| ["01", "02", "03"][class])));
        rows.push(vec![class as f64 * 10.0 + (i as f64 * 0.37).sin(), (i as f64 * 1.3).cos()]);
    }
    rows[4][1] = f64::NAN;
    FeatureTable { names: vec!["a".into(), "b".into()], labels: common::ravdess(), clips, rows }.write(&dir).unwrap();
    let inputs = [vox_api::Input::new("feats", ArtifactKind::Features, &dir)];
    let out = common::run(tmp.path(), "formats = [\"svg\"]", &inputs).unwrap();
    let table = read(&out.join("report/feats/map.csv"));
    let ids: Vec<&str> = table.lines().skip(1).map(|l| l.split(',').next().unwrap()).collect();
    assert_eq!(ids, ["c0", "c1", "c2", "c3", "c5", "c6", "c7", "c8", "c9", "c10", "c11"], "{table}");
    let map: serde_json::Value = serde_json::from_str(&read(&out.join("report/feats/map.json"))).unwrap();
    assert_eq!((map["clips"].as_u64(), map["labelled_clips"].as_u64()), (Some(11), Some(11)), "{map}");
    // Eleven clips: perplexity a third of the others, (11 - 1) / 3.
    assert_eq!(map["tsne_perplexity"].as_f64(), Some(10.0 / 3.0));
    let pc1: f64 = table.lines().skip(1).map(|l| l.split(',').nth(3).unwrap().parse::<f64>().unwrap()).sum();
    assert!(pc1.abs() < 1e-9, "{pc1}");
    assert!(read(&out.join("report/feats/map.svg")).contains("feats: 2 features of 11 labelled clips"));
}
