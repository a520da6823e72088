//! Permutation importance through the `baseline` stage: an informative feature ranks first with
//! a large drop, noise features drop by about nothing, the files are the same at any thread
//! count, and the per-class distributions are the training clips' own.

use vox_api::audio::Split;
use vox_api::features::FeatureTable;
use vox_api::importance::{Importance, summarize};

use crate::fixture::{clip, codes};
use crate::stage::run;

/// Three classes told apart by `pitch` alone (centers 0, 5, 10, wobble below 1.2); `noise_a`
/// and `noise_b` carry nothing. 30 training and 10 validation clips per class.
fn table() -> FeatureTable {
    let mut table = FeatureTable {
        names: vec!["noise_a".into(), "pitch".into(), "noise_b".into()],
        labels: codes(),
        ..Default::default()
    };
    for (k, class) in ["01", "04", "05"].iter().enumerate() {
        for i in 0..40 {
            let n = (40 * k + i) as f64;
            let split = if i < 30 { Split::Train } else { Split::Val };
            table.clips.push(clip(&format!("{class}-{i}"), Some(class), split));
            table.rows.push(vec![(n * 1.7).sin() * 3.0, 5.0 * k as f64 + 1.2 * (n * 0.37).sin(), (n * 2.3).cos()]);
        }
    }
    table
}

#[test]
fn the_informative_feature_ranks_first_for_every_model() {
    let input = tempfile::tempdir().unwrap();
    let table = table();
    table.write(input.path()).unwrap();
    let models = [
        "model = \"random-forest\"\nn_trees = 30",
        "model = \"logistic\"",
        "model = \"linear-svm\"",
        "model = \"knn\"",
        "model = \"hist-gradient-boosting\"\nmin_samples_leaf = 5\nmax_iter = 30",
        "model = \"rbf-svm\"",
        "model = \"mlp\"\nmax_iter = 100",
    ];
    for model in models {
        let out = tempfile::tempdir().unwrap();
        run(&format!("{model}\nimportance_repeats = 5"), input.path(), out.path(), 2).unwrap();
        let importance = Importance::read(out.path()).unwrap().expect("importance files");
        let s = &importance.settings;
        assert_eq!((s.metric.as_str(), s.split.as_str(), s.repeats, s.seed, s.clips), ("macro_f1", "val", 5, 42, 30), "{model}");
        assert!(s.score > 0.9, "{model}: val macro-F1 {}", s.score);
        let ranked: Vec<&str> = importance.features.iter().map(|f| f.feature.as_str()).collect();
        assert_eq!(ranked[0], "pitch", "{model}: {:?}", importance.features);
        assert_eq!(importance.features.iter().map(|f| f.rank).collect::<Vec<_>>(), [1, 2, 3]);
        // Shuffling pitch leaves about chance (1/3) of a 0.9+ macro-F1: a drop over 0.4.
        assert!(importance.features[0].mean > 0.4, "{model}: {:?}", importance.features[0]);
        for noise in &importance.features[1..] {
            assert!(noise.mean.abs() < 0.1, "{model}: {noise:?}");
        }
        // Each class's pitch on its 30 training clips.
        let pitch: Vec<_> = importance.distributions.iter().filter(|d| d.feature == "pitch").collect();
        assert_eq!(pitch.iter().map(|d| d.class.as_str()).collect::<Vec<_>>(), ["01", "04", "05"]);
        for (k, d) in pitch.iter().enumerate() {
            let mut values: Vec<f64> = table
                .clips
                .iter()
                .zip(&table.rows)
                .filter(|(c, _)| c.split == Split::Train && c.label.as_deref() == Some(d.class.as_str()))
                .map(|(_, r)| r[1])
                .collect();
            assert_eq!((d.count, d.rank, d.split.as_str()), (30, 1, "train"));
            assert_eq!([d.min, d.q1, d.median, d.q3, d.max, d.mean], summarize(&mut values));
            assert!((d.median - 5.0 * k as f64).abs() < 1.2);
        }
    }
}

#[test]
fn importance_is_the_same_at_any_thread_count_and_asks_for_val_clips() {
    let input = tempfile::tempdir().unwrap();
    let table = table();
    table.write(input.path()).unwrap();
    let files = |threads| {
        let out = tempfile::tempdir().unwrap();
        run("n_trees = 20\nimportance_repeats = 3\nimportance_metric = \"uar\"", input.path(), out.path(), threads).unwrap();
        ["importance.csv", "importance.json", "distributions.csv"].map(|f| std::fs::read(out.path().join(f)).unwrap())
    };
    let one = files(1);
    assert_eq!(one, files(2));
    assert!(String::from_utf8_lossy(&one[1]).contains("\"metric\": \"uar\""));

    // No val clips: a precise error.
    let mut train_only = table.clone();
    for c in &mut train_only.clips {
        c.split = Split::Train;
    }
    let input = tempfile::tempdir().unwrap();
    train_only.write(input.path()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = run("model = \"logistic\"\nimportance_repeats = 2", input.path(), out.path(), 1).unwrap_err();
    assert!(err.contains("`importance_repeats` measures importance on the labelled `val` clips, and the input has none"), "{err}");
}
