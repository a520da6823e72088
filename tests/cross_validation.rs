//! Cross-validation as a split strategy: the folds fan out in one DAG, nothing of a held-out
//! group reaches its fold's training, and `evaluate` reports every fold and the pooled clips.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::support::{Project, csv_rows as rows};

/// 5 speakers x 15 clips of 1 s, leave one speaker out, eGeMAPS-free (MFCC) models and a vote.
const LOSO: &str = r#"
[pipeline]
name = "loso"
seed = 5

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

[stages.split]
kind = "split"
inputs = ["audio"]
strategy = "group-kfold"
val_fraction = 0.25

[stages.mfcc]
kind = "featurize"
inputs = ["split"]
set = "mfcc"

[stages.lr]
kind = "baseline"
inputs = ["mfcc"]
model = "logistic"
class_weight = "balanced"

[stages.rf]
kind = "baseline"
inputs = ["mfcc"]
n_trees = 20

[stages.vote]
kind = "ensemble-vote"
inputs = ["lr", "rf"]
weights = "val-macro-f1"

[stages.report]
kind = "evaluate"
inputs = ["lr", "rf", "vote"]
split = "test"
plots = false
"#;

#[test]
fn leave_one_speaker_out_fans_out_per_speaker_and_never_trains_on_the_held_out_one() {
    let p = Project::new();
    p.file("p.toml", LOSO);
    let doc = p.run_doc("p.toml", &[]);
    let names: Vec<&str> = doc["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    // Decoding runs once; each of the 5 folds (one per speaker) has its own stages; one report.
    assert_eq!(names[..2], ["data", "audio"]);
    for fold in 1..=5 {
        for stage in ["split", "mfcc", "lr", "rf", "vote"] {
            assert!(names.contains(&format!("{stage}[fold={fold}]").as_str()), "{stage}[fold={fold}] in {names:?}");
        }
    }
    assert_eq!(names.last(), Some(&"report"));
    assert_eq!(names.len(), 2 + 5 * 5 + 1);
    assert!(doc["stages"].as_array().unwrap().iter().all(|s| s["status"] == "ran"), "{doc}");

    let mut held_out_everywhere: BTreeSet<String> = BTreeSet::new();
    for fold in 1..=5 {
        let manifest = rows(&p.stage_entry(&doc, &format!("split[fold={fold}]")).join("manifest.csv"));
        let speakers = |split: &str| -> BTreeSet<String> {
            manifest.iter().filter(|r| r["split"] == split).map(|r| r["speaker"].clone()).collect()
        };
        let (train, val, test) = (speakers("train"), speakers("val"), speakers("test"));
        assert_eq!(test.len(), 1, "fold {fold} holds out one speaker: {test:?}");
        assert_eq!(test.iter().next().unwrap(), &format!("{fold:02}"), "folds follow the speakers' order");
        assert!(train.is_disjoint(&test) && val.is_disjoint(&test) && train.is_disjoint(&val), "fold {fold}");
        assert_eq!(val.len(), 1, "a quarter of the 4 other speakers: {val:?}");
        for row in manifest.iter().filter(|r| r["split"] == "test") {
            assert!(held_out_everywhere.insert(row["file_id"].clone()), "{} held out twice", row["file_id"]);
        }
        // The features' standardization comes from this fold's train clips only.
        let features = p.stage_entry(&doc, &format!("mfcc[fold={fold}]"));
        let table = rows(&features.join("features.csv"));
        let standardization = rows(&features.join("standardization.csv"));
        let column = &standardization[0]["feature"];
        let train_ids: BTreeSet<&str> = manifest.iter().filter(|r| r["split"] == "train").map(|r| r["file_id"].as_str()).collect();
        let values: Vec<f64> =
            table.iter().filter(|r| train_ids.contains(r["file_id"].as_str())).map(|r| r[column].parse().unwrap()).collect();
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let stored: f64 = standardization[0]["mean"].parse().unwrap();
        assert!((mean - stored).abs() < 1e-9 * mean.abs().max(1.0), "fold {fold}: {mean} vs {stored}");
        // The forest trained on exactly those clips; the vote weighed its members on val.
        let model = std::fs::read_to_string(p.stage_entry(&doc, &format!("rf[fold={fold}]")).join("report/model.txt")).unwrap();
        assert!(model.contains(&format!("train clips: {}\n", train_ids.len())), "{model}");
        let weights: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p.stage_entry(&doc, &format!("vote[fold={fold}]")).join("weights.json")).unwrap()).unwrap();
        let val_count = manifest.iter().filter(|r| r["split"] == "val").count();
        assert_eq!(weights["members"][0]["val_clips"], val_count);
    }
    assert_eq!(held_out_everywhere.len(), 75, "every clip held out exactly once");

    // The report: each fold, mean ± std over folds, and the pooled held-out clips.
    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    let cv = rows(&run_dir.join("report/cv.csv"));
    let lr: Vec<&BTreeMap<String, String>> = cv.iter().filter(|r| r["model"] == "lr").collect();
    assert_eq!(lr.iter().map(|r| r["fold"].as_str()).collect::<Vec<_>>(), ["1", "2", "3", "4", "5", "mean", "std", "pooled"]);
    let uar: Vec<f64> = lr[..5].iter().map(|r| r["uar"].parse().unwrap()).collect();
    let mean = uar.iter().sum::<f64>() / 5.0;
    let std = (uar.iter().map(|u| (u - mean).powi(2)).sum::<f64>() / 4.0).sqrt();
    assert!((lr[5]["uar"].parse::<f64>().unwrap() - mean).abs() < 1e-12);
    assert!((lr[6]["uar"].parse::<f64>().unwrap() - std).abs() < 1e-12);
    assert_eq!(lr[7]["clips"], "75");
    // The pooled row is the summary's, scored from the 75 held-out predictions of clips.csv.
    // Each model's pooled `test` row, then the mean of its folds' `val` parts (what `vox search`
    // optimizes).
    let summary = rows(&run_dir.join("report/summary.csv"));
    let rows_of = summary.iter().map(|r| format!("{} {}", r["input"], r["split"])).collect::<Vec<_>>();
    assert_eq!(rows_of, ["lr test", "lr val", "rf test", "rf val", "vote test", "vote val"]);
    assert_eq!(summary[0]["uar"], lr[7]["uar"]);
    let clips = rows(&run_dir.join("report/lr/clips.csv"));
    assert_eq!(clips.len(), 75);
    let classes: BTreeSet<&str> = clips.iter().map(|c| c["label"].as_str()).collect();
    let recall = |class: &str| {
        let of: Vec<_> = clips.iter().filter(|c| c["label"] == class).collect();
        of.iter().filter(|c| c["predicted"] == class).count() as f64 / of.len() as f64
    };
    let pooled_uar = classes.iter().map(|c| recall(c)).sum::<f64>() / classes.len() as f64;
    assert!((pooled_uar - summary[0]["uar"].parse::<f64>().unwrap()).abs() < 1e-12);
    let confusion = std::fs::read_to_string(run_dir.join("report/lr/confusion_counts.csv")).unwrap();
    let total: u64 = confusion.lines().skip(1).flat_map(|l| l.split(',').skip(1).map(|c| c.parse::<u64>().unwrap())).sum();
    assert_eq!(total, 75, "the pooled confusion matrix holds every held-out clip");

    // The folds computed their clips' features once: one piece of shared work, which every
    // fold's featurize stage read, and the same feature values in every fold (their
    // standardization, above, is each fold's own).
    let shared = p.shared_entries("features");
    assert_eq!(shared.len(), 1, "one extraction for the five folds: {shared:?}");
    let features = |doc: &serde_json::Value, fold: usize| std::fs::read(p.stage_entry(doc, &format!("mfcc[fold={fold}]")).join("features.csv")).unwrap();
    for fold in 1..=5 {
        assert_eq!(p.shared_by(&doc, &format!("mfcc[fold={fold}]")), shared, "fold {fold}");
        assert_eq!(features(&doc, fold), features(&doc, 1), "fold {fold}");
    }
    // What one fold computes alone, in a cache of its own, is what the folds shared.
    let alone = Project::new();
    alone.file("p.toml", LOSO);
    let one = alone.run_doc("p.toml", &["--set", "split.fold=4", "mfcc"]);
    assert_eq!(std::fs::read(alone.stage_entry(&one, "mfcc").join("features.csv")).unwrap(), features(&doc, 4));
    // `vox gc` keeps shared work with the entries that read it.
    let gc = p.vox(&["gc", "p.toml"]);
    assert_eq!(gc.code, 0, "{}", gc.stderr);
    assert!(gc.stdout.starts_with("removed 0 entries"), "{}", gc.stdout);
    assert_eq!(p.shared_entries("features"), shared);
    // `vox explain` names it.
    let explain = p.vox(&["explain", "p.toml", "mfcc[fold=3]"]);
    assert_eq!(explain.code, 0, "{}", explain.stderr);
    assert!(explain.stdout.contains(&format!("\nshared work: features = {} (", shared[0])), "{}", explain.stdout);

    // A rerun is all cached, and `vox plan` shows the folds once the counting stages are cached.
    let again = p.run_doc("p.toml", &[]);
    assert!(again["stages"].as_array().unwrap().iter().all(|s| s["status"] == "cached"));
    let plan = p.vox(&["plan", "p.toml"]);
    assert!(plan.stdout.contains("lr[fold=5]"), "{}", plan.stdout);
}

#[test]
fn a_stage_that_fails_before_the_folds_are_counted_stops_the_run_and_says_which() {
    let p = Project::new();
    // Port 9 (discard) refuses connections here: the download fails, so the folds (one per
    // speaker) cannot be counted and no fold is planned.
    let text = LOSO.replace(
        "kind = \"synth\"\nactors = 5\nstatements = 1\nrepetitions = 1\nduration = 1.0\nsample_rate = 16000",
        "kind = \"download\"\nurl = \"http://127.0.0.1:9/ravdess.zip\"\nmd5 = \"0123456789abcdef0123456789abcdef\"\nretries = 0",
    );
    assert_ne!(text, LOSO);
    p.file("p.toml", &text);
    let run = p.vox(&["run", "p.toml"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("error: stage `data` (download) failed: "), "{}", run.stderr);
    assert!(
        run.stderr.contains("error: stage `data` failed before the folds could be counted; finished stages are cached, rerun to resume"),
        "{}",
        run.stderr
    );
}

#[test]
fn stratified_kfold_is_planned_with_its_folds_before_anything_runs() {
    let p = Project::new();
    let text = LOSO.replace("strategy = \"group-kfold\"\nval_fraction = 0.25", "strategy = \"kfold\"\nfolds = 3\nval_fraction = 0.2");
    p.file("p.toml", &text);
    let plan = p.vox(&["plan", "p.toml", "--json"]);
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    let doc: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let names: Vec<&str> = doc["stages"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names.len(), 2 + 3 * 5 + 1, "{names:?}");
    assert!(names.contains(&"vote[fold=3]"));
    let doc = p.run_doc("p.toml", &[]);
    for fold in 1..=3 {
        let manifest = rows(&p.stage_entry(&doc, &format!("split[fold={fold}]")).join("manifest.csv"));
        // 75 clips, 8 classes: each fold holds out a third of every class (to one clip).
        let test: Vec<_> = manifest.iter().filter(|r| r["split"] == "test").collect();
        assert_eq!(test.len(), 25, "fold {fold}");
        assert!(manifest.iter().all(|r| r["fold"].parse::<usize>().unwrap() >= 1));
    }
    // `--force` by pipeline name forces every fold's copy.
    let forced = p.run_doc("p.toml", &["--force", "rf"]);
    let ran: Vec<&str> = forced["stages"].as_array().unwrap().iter().filter(|s| s["status"] == "ran").map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(ran[..3], ["rf[fold=1]", "rf[fold=2]", "rf[fold=3]"]);
    // A cross-validation is scored on its held-out folds only: a plan-time error at `split`.
    let err = p.vox(&["run", "p.toml", "--set", "report.split=val"]);
    assert_eq!(err.code, 2, "{}", err.stderr);
    assert!(
        err.stderr.contains("inputs `lr`, `rf`, `vote` come from a cross-validation: score `test`"),
        "{}",
        err.stderr
    );
    // An audio set from the split down is one per fold: it serves `by` only (its folds' clips
    // together), signal plots of it are refused before anything runs, and the error says what to
    // give instead; one from before the split plans.
    let err = p.vox(&["plan", "p.toml", "--set", "report.inputs=lr,split"]);
    assert_eq!(err.code, 2, "{}", err.stderr);
    assert!(err.stderr.contains("`split` is an audio set per fold of the cross-validation: it serves `by` only (scores by its columns); signal plots take an audio set from before the split"), "{}", err.stderr);
    assert_eq!(p.vox(&["plan", "p.toml", "--set", "report.inputs=lr,audio"]).code, 0);
    let by_fold = p.run_doc("p.toml", &["--set", "report.inputs=lr,split", "--set", "report.by=fold"]);
    let folds = rows(&p.stage_entry(&by_fold, "report").join("report/lr/by_fold.csv"));
    let held_out: Vec<(&str, &str)> = folds.iter().map(|r| (r["fold"].as_str(), r["clips"].as_str())).collect();
    assert_eq!(held_out.len(), 3, "each fold's held-out clips a group: {folds:?}");
    assert_eq!(held_out.iter().map(|(_, c)| c.parse::<usize>().unwrap()).sum::<usize>(), 75, "{folds:?}");
    // Without `split`, evaluate scores a cross-validation's held-out folds: only the report
    // runs again (its params changed), and it scores `test` as with `split = "test"`.
    let summary = |doc: &serde_json::Value| rows(&p.stage_entry(doc, "report").join("summary.csv"));
    let explicit = summary(&doc);
    let unset_text = text.replace("split = \"test\"\nplots", "plots");
    assert_ne!(unset_text, text);
    p.file("p.toml", &unset_text);
    let unset = p.run_doc("p.toml", &[]);
    let ran: Vec<&str> = unset["stages"].as_array().unwrap().iter().filter(|s| s["status"] == "ran").map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(ran, ["report"]);
    assert_eq!(summary(&unset), explicit);
    assert!(explicit.iter().any(|r| r["split"] == "test" && r["input"] == "vote"), "{explicit:?}");
}

#[test]
fn the_iemocap_demo_holds_out_each_session_on_the_four_class_protocol() {
    let p = Project::new();
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/demo-iemocap.toml");
    let run = p.vox(&["run", demo.to_str().unwrap(), "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();

    // Four classes in the paper's order; excited relabelled happy, frustrated dropped and listed.
    let audio = p.stage_entry(&doc, "audio");
    let classes: Vec<String> = rows(&audio.join("classes.csv")).into_iter().map(|r| r["class"].clone()).collect();
    assert_eq!(classes, ["neutral", "happy", "angry", "sad"]);
    let dropped = rows(&audio.join("report/dropped.csv"));
    assert_eq!(dropped.len(), 40);
    assert!(dropped.iter().all(|r| r["label"] == "frustrated"), "{dropped:?}");
    assert!(run.stderr.contains("excited -> happy (40 files)"), "{}", run.stderr);

    let mut held_out: BTreeSet<String> = BTreeSet::new();
    for fold in 1..=5 {
        let manifest = rows(&p.stage_entry(&doc, &format!("split[fold={fold}]")).join("manifest.csv"));
        assert_eq!(manifest.len(), 200);
        let of = |split: &str, column: &str| -> BTreeSet<String> {
            manifest.iter().filter(|r| r["split"] == split).map(|r| r[column].clone()).collect()
        };
        let session = format!("Ses{fold:02}");
        assert_eq!(of("test", "session"), BTreeSet::from([session.clone()]), "fold {fold}");
        // Both of the session's speakers, each speaking in the other's dialogs too.
        assert_eq!(of("test", "speaker"), BTreeSet::from([format!("{session}F"), format!("{session}M")]));
        assert!(!of("train", "session").contains(&session) && !of("val", "session").contains(&session));
        assert_eq!(of("val", "session").len(), 1, "a quarter of the other four sessions");
        for row in manifest.iter().filter(|r| r["split"] == "test") {
            let speaker = &row["file_id"][row["file_id"].len() - 4..][..1];
            assert_eq!(row["speaker"], format!("{session}{speaker}"), "{row:?}");
            assert!(held_out.insert(row["file_id"].clone()), "{} held out twice", row["file_id"]);
        }
    }
    assert_eq!(held_out.len(), 200);

    let run_dir = PathBuf::from(doc["run_dir"].as_str().unwrap());
    let cv = rows(&run_dir.join("report/cv.csv"));
    for model in ["w2v", "rf", "rf_spk", "vote"] {
        let pooled = cv.iter().find(|r| r["model"] == model && r["fold"] == "pooled").unwrap();
        assert_eq!(pooled["clips"], "200", "{model}");
        let folds = cv.iter().filter(|r| r["model"] == model && r["fold"].parse::<u32>().is_ok()).count();
        assert_eq!(folds, 5, "{model}");
    }
    // The tones of the synthetic classes are easy for eGeMAPS: far above chance (0.25).
    let uar = |model: &str| -> f64 { cv.iter().find(|r| r["model"] == model && r["fold"] == "pooled").unwrap()["uar"].parse().unwrap() };
    assert!(uar("rf") > 0.8, "rf pooled UAR {}", uar("rf"));
    // Each synthetic speaker has a voice of their own (pitch, level) that moves every feature:
    // normalized by speaker, the held-out speakers' clips score higher.
    assert!(uar("rf_spk") > uar("rf") + 0.03, "rf_spk {} vs rf {}", uar("rf_spk"), uar("rf"));

    // Speaker normalization: each speaker's clips, held out or not, at mean 0 and std 1 per
    // feature (the same in every fold: a speaker's statistics read no split).
    let fold = p.stage_entry(&doc, "egemaps_spk[fold=1]");
    let (manifest, features) = (rows(&fold.join("manifest.csv")), rows(&fold.join("features.csv")));
    for speaker in ["Ses01F", "Ses03M"] {
        let values: Vec<f64> = features
            .iter()
            .zip(&manifest)
            .filter(|(_, m)| m["speaker"] == speaker)
            .map(|(f, _)| f["F0semitoneFrom27.5Hz_sma3nz_amean"].parse().unwrap())
            .collect();
        assert_eq!(values.len(), 20);
        let mean = values.iter().sum::<f64>() / 20.0;
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / 20.0;
        assert!(mean.abs() < 1e-9 && (var - 1.0).abs() < 1e-9, "{speaker}: {mean} {var}");
    }
    assert_eq!(rows(&p.stage_entry(&doc, "egemaps_spk[fold=2]").join("features.csv")), features);

    // Per held-out speaker: 20 utterances each, and their accuracies, weighted by clips, make
    // the pooled accuracy.
    let by_speaker = rows(&run_dir.join("report/by_speaker.csv"));
    for model in ["w2v", "rf", "rf_spk", "vote"] {
        let speakers: Vec<&BTreeMap<String, String>> = by_speaker.iter().filter(|r| r["input"] == model).collect();
        assert_eq!(speakers.len(), 10, "{model}");
        assert!(speakers.iter().all(|r| r["clips"] == "20"), "{speakers:?}");
        let correct: f64 = speakers.iter().map(|r| r["accuracy"].parse::<f64>().unwrap() * 20.0).sum();
        let pooled: f64 = cv.iter().find(|r| r["model"] == model && r["fold"] == "pooled").unwrap()["accuracy"].parse().unwrap();
        assert!((correct / 200.0 - pooled).abs() < 1e-12, "{model}: {} vs {pooled}", correct / 200.0);
        assert_eq!(rows(&run_dir.join(format!("report/{model}/by_speaker.csv"))).len(), 10);
    }
    assert_eq!(by_speaker[0]["speaker"], "Ses01F");

    // Dimensional SER: the raters' values are the decoded EmoEvaluation's [V, A, D], and the
    // CCC is pooled over the 200 held-out utterances (each from the fold that held it out).
    let estimates = rows(&p.stage_entry(&doc, "dims[fold=2]").join("estimates.csv"));
    let manifest = rows(&p.stage_entry(&doc, "split[fold=2]").join("manifest.csv"));
    assert_eq!(estimates.len(), 200);
    for (e, m) in estimates.iter().zip(&manifest) {
        assert_eq!((&e["file_id"], &e["split"]), (&m["file_id"], &m["split"]));
        for d in ["arousal", "valence", "dominance"] {
            assert_eq!(e[d].parse::<f64>().unwrap(), m[d].parse::<f64>().unwrap(), "{d} of {}", e["file_id"]);
        }
    }
    let mut held_out_pairs: Vec<(f64, f64)> = Vec::new();
    for fold in 1..=5 {
        let estimates = rows(&p.stage_entry(&doc, &format!("dims[fold={fold}]")).join("estimates.csv"));
        let test = estimates.iter().filter(|r| r["split"] == "test");
        held_out_pairs.extend(test.map(|r| (r["arousal"].parse::<f64>().unwrap(), r["predicted_arousal"].parse::<f64>().unwrap())));
    }
    assert_eq!(held_out_pairs.len(), 200);
    let n = 200.0;
    let (mt, mp) = (held_out_pairs.iter().map(|p| p.0).sum::<f64>() / n, held_out_pairs.iter().map(|p| p.1).sum::<f64>() / n);
    let moment = |f: &dyn Fn(&(f64, f64)) -> f64| held_out_pairs.iter().map(f).sum::<f64>() / n;
    let ccc = 2.0 * moment(&|p| (p.0 - mt) * (p.1 - mp))
        / (moment(&|p| (p.0 - mt).powi(2)) + moment(&|p| (p.1 - mp).powi(2)) + (mt - mp).powi(2));
    let (dims, val): (Vec<_>, Vec<_>) = rows(&run_dir.join("report/dimensions.csv")).into_iter().partition(|r| r["split"] == "test");
    let names: Vec<&str> = dims.iter().map(|r| r["dimension"].as_str()).collect();
    assert_eq!(names, ["arousal", "valence", "dominance"]);
    // And the folds' mean `val` per dimension (each fold's val session), for a search.
    assert_eq!(val.iter().map(|r| (r["dimension"].as_str(), r["clips"].as_str())).collect::<Vec<_>>(), [("arousal", "200"), ("valence", "200"), ("dominance", "200")]);
    for row in &dims {
        assert_eq!((row["input"].as_str(), row["split"].as_str(), row["clips"].as_str()), ("dims", "test", "200"));
        let [value, low, high] = ["ccc", "ccc_low", "ccc_high"].map(|c| row[c].parse::<f64>().unwrap());
        // The synthetic styles set each rating; eGeMAPS hears them well.
        assert!(value > 0.9 && low < value && value < high, "{row:?}");
    }
    assert!((dims[0]["ccc"].parse::<f64>().unwrap() - ccc).abs() < 1e-12, "{} vs {ccc}", dims[0]["ccc"]);
    let folds = rows(&run_dir.join("report/dims/folds.csv"));
    assert_eq!(folds.len(), 5 * 3 + 2 * 3);
    assert!(folds.iter().filter(|r| r["fold"].parse::<u32>().is_ok()).all(|r| r["clips"] == "40"), "{folds:?}");
    assert_eq!(rows(&run_dir.join("report/dims/by_speaker.csv")).len(), 10 * 3);
    let all = rows(&run_dir.join("report/dimensions_by_speaker.csv"));
    assert!(all.len() == 10 * 3 && all.iter().all(|r| r["input"] == "dims" && r["clips"] == "20"), "{all:?}");

    // `vox predict` with the regressor on one speaker's utterances, given with their `speaker`
    // in a table so that they are normalized as in the run: each the mean of the folds'
    // estimates of it, with no true value.
    let data = p.stage_entry(&doc, "data");
    let speaker: Vec<BTreeMap<String, String>> = rows(&audio.join("manifest.csv")).into_iter().filter(|r| r["speaker"] == "Ses01F").collect();
    assert_eq!(speaker.len(), 20);
    let table: String = speaker.iter().map(|r| format!("{},{},Ses01F\n", data.join(&r["source"]).display(), r["file_id"])).collect();
    p.file("ses01f.csv", &format!("file,id,speaker\n{table}"));
    let out = p.path().join("new");
    let (run_arg, table_arg) = (run_dir.to_str().unwrap(), p.path().join("ses01f.csv"));
    let predict = p.vox(&["predict", run_arg, table_arg.to_str().unwrap(), "--model", "dims", "--out", out.to_str().unwrap()]);
    assert_eq!(predict.code, 0, "{}", predict.stderr);
    assert!(predict.stdout.contains("dims (mean of 5 folds): 20 clips (mean arousal "), "{}", predict.stdout);
    let new = rows(&out.join("dims/estimates.csv"));
    assert_eq!(new.len(), 20);
    let folds: Vec<Vec<BTreeMap<String, String>>> =
        (1..=5).map(|k| rows(&p.stage_entry(&doc, &format!("dims[fold={k}]")).join("estimates.csv"))).collect();
    for row in &new {
        for d in ["arousal", "valence", "dominance"] {
            assert!(row[d].is_empty(), "{row:?}");
            let column = format!("predicted_{d}");
            let ran: f64 = folds
                .iter()
                .map(|fold| fold.iter().find(|r| r["file_id"] == row["file_id"]).unwrap()[&column].parse::<f64>().unwrap())
                .sum::<f64>()
                / 5.0;
            let value: f64 = row[&column].parse().unwrap();
            assert!((value - ran).abs() < 1e-9, "{} {d}: {value} vs {ran}", row["file_id"]);
        }
    }
}
