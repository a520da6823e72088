//! End-to-end runs of `ensemble-vote` on hand-made predictions written to temp dirs; every
//! expected number is worked out by hand in the comments.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use vox_api::audio::Split::{self, Test, Train, Val};
use crate::test_labels::codes::*;
use crate::test_labels::ravdess;

/// A class, by its code.
type Emotion = &'static str;
use vox_api::predictions::{Prediction, Predictions};
use vox_api::{ArtifactKind, Input, StageContext, StageKind};

/// One row of a hand-made member: id, split, label, probabilities.
type Row<'a> = (&'a str, Split, Option<Emotion>, &'a [f64]);

/// Hand-made members and runs in one temp dir.
struct Bench {
    root: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        Self { root: tempfile::tempdir().unwrap() }
    }

    /// Writes a member named `name` and returns it as an input.
    fn member(&self, name: &str, classes: &[Emotion], rows: &[Row]) -> Input {
        let dir = self.root.path().join("inputs").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let rows = rows
            .iter()
            .map(|&(id, split, label, p)| Prediction {
                file_id: id.into(),
                split,
                label: label.map(Into::into),
                probabilities: p.to_vec(),
            })
            .collect();
        let classes = classes.iter().map(|c| c.to_string()).collect();
        Predictions { labels: ravdess(), classes, rows }.write(&dir).unwrap();
        Input::new(name, ArtifactKind::Predictions, dir)
    }

    /// Runs `ensemble-vote` named `vote` with the TOML `params` into a fresh `out_<tag>/`.
    fn run(&self, tag: &str, params: &str, inputs: &[Input]) -> Result<PathBuf, String> {
        let stage = kind().configure(toml::from_str(params).unwrap()).map_err(|e| e.to_string())?;
        run_stage(&*stage, &self.root.path().join(format!("out_{tag}")), inputs, "vote")
    }
}

/// The `ensemble-vote` kind, as the engine registers it.
fn kind() -> Box<dyn StageKind> {
    crate::kinds().into_iter().find(|k| k.name() == "ensemble-vote").unwrap()
}

/// Runs a configured stage into `out`.
fn run_stage(
    stage: &dyn vox_api::Stage,
    out: &Path,
    inputs: &[Input],
    name: &str,
) -> Result<PathBuf, String> {
    let scratch = out.with_extension("scratch");
    std::fs::create_dir_all(out).unwrap();
    std::fs::create_dir_all(&scratch).unwrap();
    let progress = indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
    let ctx = StageContext {
        stage: name,
        inputs,
        out_dir: out,
        scratch_dir: &scratch,
        seed: 42,
        backend: None,
        threads: 2,
        progress: &progress,
        memo: None,
    };
    stage.run(&ctx).map_err(|e| e.to_string())?;
    Ok(out.to_path_buf())
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn weights_json(out: &Path) -> Value {
    serde_json::from_str(&read(&out.join("weights.json"))).unwrap()
}

fn assert_close(actual: f64, expected: f64, what: &str) {
    assert!((actual - expected).abs() < 1e-12, "{what}: {actual} != {expected}");
}

fn assert_row(row: &Prediction, expected: &[f64]) {
    assert_eq!(row.probabilities.len(), expected.len(), "{}", row.file_id);
    for (i, (&p, &e)) in row.probabilities.iter().zip(expected).enumerate() {
        assert_close(p, e, &format!("clip `{}`, column {i}", row.file_id));
    }
}

/// The normalized weights in `weights.json`, in input order.
fn weights_of(out: &Path) -> Vec<f64> {
    weights_json(out)["members"].as_array().unwrap().iter().map(|m| m["weight"].as_f64().unwrap()).collect()
}

const ABC: [Emotion; 3] = [Neutral, Happy, Angry];

/// Two members over neutral, happy, angry with two labelled val clips and one unlabeled test clip.
fn soft_members(bench: &Bench) -> Vec<Input> {
    vec![
        bench.member(
            "a",
            &ABC,
            &[
                ("v1", Val, Some(Angry), &[0.6, 0.3, 0.1]),
                ("v2", Val, Some(Neutral), &[0.7, 0.2, 0.1]),
                ("t1", Test, None, &[0.1, 0.8, 0.1]),
            ],
        ),
        bench.member(
            "b",
            &ABC,
            &[
                ("v1", Val, Some(Angry), &[0.2, 0.2, 0.6]),
                ("v2", Val, Some(Neutral), &[0.3, 0.4, 0.3]),
                ("t1", Test, None, &[0.5, 0.25, 0.25]),
            ],
        ),
    ]
}

#[test]
fn soft_average_with_given_weights() {
    let bench = Bench::new();
    let inputs = soft_members(&bench);
    // Weights 1 and 3 normalize to 0.25 and 0.75.
    let out = bench.run("soft", "weights = [1, 3]", &inputs).unwrap();
    let ensemble = Predictions::read(&out).unwrap();
    assert_eq!(ensemble.classes, ABC);
    // v1: 0.25 [.6 .3 .1] + 0.75 [.2 .2 .6] = [.3 .225 .475] -> angry (a alone says neutral).
    assert_row(&ensemble.rows[0], &[0.3, 0.225, 0.475]);
    // v2: 0.25 [.7 .2 .1] + 0.75 [.3 .4 .3] = [.4 .35 .25] -> neutral (b alone says happy).
    assert_row(&ensemble.rows[1], &[0.4, 0.35, 0.25]);
    // t1: 0.25 [.1 .8 .1] + 0.75 [.5 .25 .25] = [.4 .3875 .2125] -> neutral.
    assert_row(&ensemble.rows[2], &[0.4, 0.3875, 0.2125]);
    let predicted: Vec<&str> = ensemble.rows.iter().map(|r| ensemble.predicted(r)).collect();
    assert_eq!(predicted, [Angry, Neutral, Neutral]);
    assert_eq!(ensemble.rows[2].label, None);
    assert_eq!(ensemble.rows[2].split, Test);

    assert_eq!(
        weights_json(&out),
        json!({
            "rule": "given",
            "how": "given in the pipeline, normalized to sum to 1",
            "method": "soft",
            "missing_classes": "renormalize",
            "members": [
                {"input": "a", "weight": 0.25, "raw": 1.0},
                {"input": "b", "weight": 0.75, "raw": 3.0},
            ],
        })
    );
    // On val: a predicts (angry -> neutral, neutral -> neutral): neutral P 1/2 R 1 F1 2/3, angry
    // F1 0; accuracy 1/2, macro-F1 1/3, weighted-F1 1/3, UAR 1/2.
    // b predicts (angry -> angry, neutral -> happy): neutral 0, happy 0 (never true), angry 1;
    // accuracy 1/2, macro-F1 1/3, weighted-F1 1/2, UAR 1/3. The ensemble gets both right.
    let csv = read(&out.join("report/ensemble.csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "model,role,weight,clips,accuracy,macro_f1,weighted_f1,uar");
    assert_eq!(lines[3], "vote,ensemble,,2,1,1,1,1");
    let numbers = |line: &str| -> Vec<f64> { line.split(',').skip(2).map(|c| c.parse().unwrap()).collect() };
    assert!(lines[1].starts_with("a,member,") && lines[2].starts_with("b,member,"));
    for (line, expected) in [
        (lines[1], [0.25, 2.0, 0.5, 1.0 / 3.0, 1.0 / 3.0, 0.5]),
        (lines[2], [0.75, 2.0, 0.5, 1.0 / 3.0, 0.5, 1.0 / 3.0]),
    ] {
        for (got, want) in numbers(line).into_iter().zip(expected) {
            assert_close(got, want, line);
        }
    }
    assert_eq!(lines.len(), 4);
    let markdown = read(&out.join("report/ensemble.md"));
    assert!(markdown.starts_with("# Ensemble `vote`\n"), "{markdown}");
    assert!(markdown.contains("Scores on the 2 labelled `val` clips scored by every input"), "{markdown}");
    assert!(
        markdown.contains("| a | member | 0.2500 | 2 | 0.5000 | 0.3333 | 0.3333 | 0.5000 |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| vote | ensemble |  | 2 | 1.0000 | 1.0000 | 1.0000 | 1.0000 |"),
        "{markdown}"
    );
}

#[test]
fn hard_vote_breaks_ties_by_soft_probability_then_lowest_code() {
    let bench = Bench::new();
    let inputs = vec![
        bench.member(
            "a",
            &ABC,
            &[
                ("tie", Val, Some(Angry), &[0.1, 0.5, 0.4]),
                ("double_tie", Val, Some(Happy), &[0.1, 0.6, 0.3]),
                ("agree", Val, Some(Neutral), &[0.8, 0.1, 0.1]),
            ],
        ),
        bench.member(
            "b",
            &ABC,
            &[
                ("tie", Val, Some(Angry), &[0.2, 0.1, 0.7]),
                ("double_tie", Val, Some(Happy), &[0.1, 0.3, 0.6]),
                ("agree", Val, Some(Neutral), &[0.5, 0.3, 0.2]),
            ],
        ),
    ];
    let out = bench.run("hard", "method = \"hard\"", &inputs).unwrap();
    let ensemble = Predictions::read(&out).unwrap();
    // tie: a votes happy, b angry, 1/2 each; soft: happy (.5+.1)/2 = .3 < angry (.4+.7)/2 = .55, so
    // angry wins although happy has the lower code; its share is raised by one ulp.
    assert_eq!(ensemble.rows[0].probabilities, [0.0, 0.5, 0.5f64.next_up()]);
    // double_tie: votes 1/2 each and soft .45 each: the lowest code, happy, keeps it.
    assert_eq!(ensemble.rows[1].probabilities, [0.0, 0.5, 0.5]);
    // agree: both vote neutral.
    assert_eq!(ensemble.rows[2].probabilities, [1.0, 0.0, 0.0]);
    let predicted: Vec<&str> = ensemble.rows.iter().map(|r| ensemble.predicted(r)).collect();
    assert_eq!(predicted, [Angry, Happy, Neutral]);
    let text = read(&out.join("predictions.csv"));
    assert_eq!(
        text,
        "file_id,split,label,predicted,p01,p03,p05\n\
         tie,val,05,05,0,0.5,0.5000000000000001\n\
         double_tie,val,03,03,0,0.5,0.5\n\
         agree,val,01,01,1,0,0\n"
    );
    // Weighted votes without a tie: 0.7 for a's happy beats 0.3 for b's angry.
    let out = bench.run("hard_weighted", "method = \"hard\"\nweights = [0.7, 0.3]", &inputs).unwrap();
    let ensemble = Predictions::read(&out).unwrap();
    assert_row(&ensemble.rows[0], &[0.0, 0.7, 0.3]);
    assert_eq!(ensemble.predicted(&ensemble.rows[0]), Happy);
}

/// Two members over neutral and angry whose own val clips score differently, with labelled
/// test and train clips on which the ranking is reversed.
fn scored_members(bench: &Bench) -> Vec<Input> {
    const NA: [Emotion; 2] = [Neutral, Angry];
    let (n, a) = (Some(Neutral), Some(Angry));
    let (says_n, says_a): (&[f64], &[f64]) = (&[0.8, 0.2], &[0.3, 0.7]);
    vec![
        bench.member(
            "a",
            &NA,
            &[
                ("v1", Val, n, says_n),
                ("v2", Val, a, says_n),
                ("v3", Val, a, says_a),
                ("v_unlabeled", Val, None, says_a),
                ("t1", Test, n, says_a),
                ("t2", Test, a, says_n),
                ("t3", Test, n, says_a),
                ("r1", Train, n, says_a),
            ],
        ),
        bench.member(
            "b",
            &NA,
            &[
                ("v1", Val, n, says_a),
                ("v2", Val, a, says_a),
                ("v3", Val, a, says_n),
                ("v_unlabeled", Val, None, says_n),
                ("t1", Test, n, says_n),
                ("t2", Test, a, says_a),
                ("t3", Test, n, says_n),
                ("r1", Train, n, says_n),
            ],
        ),
    ]
}

#[test]
fn weights_from_val_scores_ignore_test_and_train() {
    let bench = Bench::new();
    let inputs = scored_members(&bench);
    // a on its 3 labelled val clips: truth (n, a, a), predicted (n, n, a): neutral P 1/2 R 1 F1 2/3,
    // angry P 1 R 1/2 F1 2/3: macro-F1 2/3, accuracy 2/3.
    // b: predicted (a, a, n): neutral 0, angry P 1/2 R 1/2 F1 1/2: macro-F1 1/4, accuracy 1/3.
    // On test and train b is perfect and a always wrong: any use of them would favour b.
    let out = bench.run("f1", "weights = \"val-macro-f1\"", &inputs).unwrap();
    let doc = weights_json(&out);
    assert_eq!(doc["rule"], "val-macro-f1");
    let members = doc["members"].as_array().unwrap();
    assert_close(members[0]["raw"].as_f64().unwrap(), 2.0 / 3.0, "a's val macro-F1");
    assert_close(members[1]["raw"].as_f64().unwrap(), 0.25, "b's val macro-F1");
    assert_eq!((&members[0]["val_clips"], &members[1]["val_clips"]), (&json!(3), &json!(3)));
    // 2/3 : 1/4 = 8 : 3.
    let weights = weights_of(&out);
    assert_close(weights[0], 8.0 / 11.0, "a's weight");
    assert_close(weights[1], 3.0 / 11.0, "b's weight");

    let out = bench.run("accuracy", "weights = \"val-accuracy\"", &inputs).unwrap();
    assert_eq!(weights_json(&out)["rule"], "val-accuracy");
    // 2/3 : 1/3.
    let weights = weights_of(&out);
    assert_close(weights[0], 2.0 / 3.0, "a's weight");
    assert_close(weights[1], 1.0 / 3.0, "b's weight");

    // A member without labelled val clips cannot be scored.
    let unscored = bench.member("c", &[Neutral, Angry], &[("v1", Val, None, &[0.5, 0.5])]);
    let only_v1 = bench.member("d", &[Neutral, Angry], &[("v1", Val, None, &[0.5, 0.5])]);
    let err = bench.run("unscored", "weights = \"val-accuracy\"", &[unscored, only_v1]).unwrap_err();
    assert_eq!(
        err,
        "input `c` has no labelled clips in split `val`; `weights = \"val-accuracy\"` needs them"
    );
}

#[test]
fn optimize_searches_val_only_and_is_never_worse_than_equal() {
    let bench = Bench::new();
    let (n, a) = (Some(Neutral), Some(Angry));
    // p(neutral) of each member; p(angry) = 1 - p(neutral). With a's weight w, the ensemble says
    // neutral on v1 when 0.9 w > 0.1 w + (1 - w), that is w > 5/9: right for w = 3/4 and 1,
    // wrong for equal weights. v2 and v3 are right for every w.
    // t1..t3 (labelled test) are right only for w < 1/2: were test used, a small w would win.
    let rows = |ps: [f64; 6]| -> Vec<(String, Split, Option<Emotion>, [f64; 2])> {
        let meta = [
            ("v1", Val, n),
            ("v2", Val, a),
            ("v3", Val, n),
            ("t1", Test, a),
            ("t2", Test, a),
            ("t3", Test, a),
        ];
        meta.iter().zip(ps).map(|(&(id, s, l), p)| (id.to_string(), s, l, [p, 1.0 - p])).collect()
    };
    let member = |name: &str, ps: [f64; 6]| {
        let rows = rows(ps);
        let rows: Vec<Row> = rows.iter().map(|(id, s, l, p)| (id.as_str(), *s, *l, &p[..])).collect();
        bench.member(name, &[Neutral, Angry], &rows)
    };
    let inputs =
        vec![member("a", [0.9, 0.4, 0.6, 0.95, 0.95, 0.95]), member("b", [0.0, 0.3, 0.6, 0.0, 0.0, 0.0])];
    let out = bench.run("optimize", "weights = \"optimize\"\ngrid_steps = 4", &inputs).unwrap();
    let doc = weights_json(&out);
    // Candidates: equal, then (0, 1), (1/4, 3/4), (1/2, 1/2), (3/4, 1/4), (1, 0). (3/4, 1/4) and
    // (1, 0) both reach val macro-F1 1 and accuracy 1; (3/4, 1/4) is closer to equal weights.
    assert_eq!(doc["rule"], "optimize");
    assert_eq!(weights_of(&out), [0.75, 0.25]);
    assert_eq!(doc["members"][0]["raw"], 3.0);
    // Equal weights: truth (n, a, n), predicted (a, a, n): neutral P 1 R 1/2 F1 2/3, angry P 1/2
    // R 1 F1 2/3.
    assert_eq!(
        doc["search"],
        json!({
            "grid_steps": 4,
            "candidates": 6,
            "val_clips": 3,
            "val_macro_f1": 1.0,
            "val_accuracy": 1.0,
            "equal_val_macro_f1": 2.0 / 3.0,
        })
    );
    let equal = bench.run("equal", "", &inputs).unwrap();
    let val_f1 = |out: &Path| -> f64 {
        let csv = read(&out.join("report/ensemble.csv"));
        csv.lines().last().unwrap().split(',').nth(5).unwrap().parse().unwrap()
    };
    assert_close(val_f1(&equal), 2.0 / 3.0, "equal weights' val macro-F1");
    assert_close(val_f1(&out), 1.0, "optimized val macro-F1");
    // The chosen weights get every test clip wrong: test played no part.
    let ensemble = Predictions::read(&out).unwrap();
    let test_predictions: Vec<&str> = ensemble.split(Test).map(|r| ensemble.predicted(r)).collect();
    assert_eq!(test_predictions, [Neutral; 3]);

    let err = bench.run(
        "big",
        "weights = \"optimize\"\ngrid_steps = 100",
        &[&inputs[..], &inputs[..], &inputs[..]].concat(),
    );
    assert_eq!(
        err.unwrap_err(),
        "`weights = \"optimize\"` with 6 inputs and `grid_steps = 100` would try more than 200000 weight vectors; lower `grid_steps`"
    );
}

#[test]
fn missing_classes_in_each_policy() {
    let bench = Bench::new();
    // a knows neutral, happy, angry; b only neutral and angry.
    let inputs = vec![
        bench.member("a", &ABC, &[("x", Val, Some(Happy), &[0.2, 0.5, 0.3])]),
        bench.member("b", &[Neutral, Angry], &[("x", Val, Some(Happy), &[0.6, 0.4])]),
    ];
    // renormalize: neutral (.1 + .3) / 1 = .4, happy .25 / .5 = .5, angry (.15 + .2) / 1 = .35;
    // divided by their sum 1.25: [.32, .4, .28] -> happy.
    let out = bench.run("renormalize", "", &inputs).unwrap();
    let ensemble = Predictions::read(&out).unwrap();
    assert_eq!(ensemble.classes, ABC);
    assert_row(&ensemble.rows[0], &[0.32, 0.4, 0.28]);
    assert_eq!(ensemble.predicted(&ensemble.rows[0]), Happy);
    // zero: b gives happy 0: [.4, .25, .35] -> neutral.
    let out = bench.run("zero", "missing_classes = \"zero\"", &inputs).unwrap();
    let ensemble = Predictions::read(&out).unwrap();
    assert_row(&ensemble.rows[0], &[0.4, 0.25, 0.35]);
    assert_eq!(ensemble.predicted(&ensemble.rows[0]), Neutral);
    // Hard votes: a says happy, b neutral. renormalize: neutral .5 / 1, happy .5 / .5 = 1:
    // [1/3, 2/3, 0]. zero: [.5, .5, 0], a tie that soft (zero) gives to neutral (.4 > .25).
    let out = bench.run("hard_renormalize", "method = \"hard\"", &inputs).unwrap();
    assert_row(&Predictions::read(&out).unwrap().rows[0], &[1.0 / 3.0, 2.0 / 3.0, 0.0]);
    let out = bench.run("hard_zero", "method = \"hard\"\nmissing_classes = \"zero\"", &inputs).unwrap();
    assert_eq!(Predictions::read(&out).unwrap().rows[0].probabilities, [0.5, 0.5, 0.0]);
    // error: refused, naming both class lists.
    let err = bench.run("error", "missing_classes = \"error\"", &inputs).unwrap_err();
    assert_eq!(
        err,
        "input `b` knows classes 01,05 but input `a` knows 01,03,05; set `missing_classes` to `\"renormalize\"` or `\"zero\"` to combine them"
    );
}

#[test]
fn clip_mismatches_are_errors_unless_intersecting() {
    let bench = Bench::new();
    let p: &[f64] = &[0.5, 0.2, 0.3];
    let a = bench.member("a", &ABC, &[("x", Val, Some(Happy), p), ("y", Val, None, p), ("z", Test, None, p)]);
    let b =
        bench.member("b", &ABC, &[("z", Test, None, p), ("x", Val, Some(Happy), p), ("w", Test, None, p)]);
    let inputs = [a.clone(), b];
    let err = bench.run("missing", "", &inputs).unwrap_err();
    assert_eq!(
        err,
        "input `a` has no row for clip `w`; 2 of 4 clips are not scored by every input (set `on_missing_clips = \"intersect\"` to keep the 2 shared ones)"
    );
    let out = bench.run("intersect", "on_missing_clips = \"intersect\"", &inputs).unwrap();
    let ids: Vec<String> = Predictions::read(&out).unwrap().rows.into_iter().map(|r| r.file_id).collect();
    assert_eq!(ids, ["x", "z"], "the shared clips, in the first input's order");

    let relabelled =
        bench.member("c", &ABC, &[("x", Val, Some(Sad), p), ("y", Val, None, p), ("z", Test, None, p)]);
    let err = bench.run("label", "", &[a.clone(), relabelled]).unwrap_err();
    assert_eq!(err, "clip `x` has label `03` in input `a` but `04` in input `c`");
    let resplit =
        bench.member("d", &ABC, &[("x", Val, Some(Happy), p), ("y", Train, None, p), ("z", Test, None, p)]);
    let err = bench.run("split", "", &[a.clone(), resplit]).unwrap_err();
    assert_eq!(err, "clip `y` has split `val` in input `a` but `train` in input `d`");
    let twice = bench.member("e", &ABC, &[("x", Val, Some(Happy), p), ("x", Val, Some(Happy), p)]);
    let err = bench.run("twice", "", &[a.clone(), twice]).unwrap_err();
    assert_eq!(err, "input `e`: clip `x` has more than one row");
    let disjoint = bench.member("f", &ABC, &[("q", Val, None, p)]);
    let err = bench.run("disjoint", "on_missing_clips = \"intersect\"", &[a, disjoint]).unwrap_err();
    assert_eq!(err, "no clip is scored by every input (4 clips in all)");
}

#[test]
fn params_are_checked() {
    let bench = Bench::new();
    let inputs = soft_members(&bench);
    let err = bench.run("count", "weights = [1, 2, 3]", &inputs).unwrap_err();
    assert_eq!(err, "`weights` lists 3 weights for 2 inputs; give one weight per input, in input order");

    let kind = kind();
    let configure = |params: &str| kind.configure(toml::from_str(params).unwrap()).err().unwrap();
    let err = configure("weights = [1.0, -0.5]");
    assert_eq!(
        (err.path.as_str(), err.message.as_str()),
        ("weights.1", "`-0.5` is not a non-negative number")
    );
    let err = configure("weights = [0, 0.0]");
    assert_eq!(
        (err.path.as_str(), err.message.as_str()),
        ("weights", "every weight is 0; at least one must be positive")
    );
    assert_eq!(configure("weights = []").message, "needs one weight per input, got none");
    let err = configure("weights = \"median\"");
    assert_eq!(err.path, "weights");
    assert_eq!(
        err.message,
        "an array of non-negative numbers (one per input) or one of `equal`, `val-macro-f1`, `val-accuracy`, `optimize`"
    );
    assert_eq!(configure("weights = \"optimize\"\ngrid_steps = 0").path, "grid_steps");
    // Another weight rule reads no grid: the param is refused, not keyed.
    assert_eq!(configure("weights = \"val-macro-f1\"\ngrid_steps = 20").message, "`grid_steps` is read only with `weights = \"optimize\"`");
    assert_eq!(configure("method = \"median\"").path, "method");
    assert!(configure("weight = 1").message.contains("unknown field `weight`"));
    let defaults = kind.configure(toml::Table::new()).unwrap().params();
    assert_eq!(
        defaults,
        json!({
            "method": "soft",
            "weights": "equal",
            "missing_classes": "renormalize",
            "on_missing_clips": "error",
            "grid_steps": 10,
        })
    );
    let given = kind.configure(toml::from_str("weights = [1, 2.5]").unwrap()).unwrap().params();
    assert_eq!(given["weights"], json!([1.0, 2.5]));
    assert_eq!(kind.inputs().accepts, [ArtifactKind::Predictions]);
    assert_eq!(kind.output(), ArtifactKind::Predictions);
}

#[test]
fn schema_documents_both_forms_of_weights_and_every_default() {
    let schema = serde_json::to_value(kind().schema()).unwrap();
    assert!(
        schema["description"].as_str().unwrap().starts_with("Combines the predictions of several models")
    );
    for (param, default) in [
        ("method", json!("soft")),
        ("weights", json!("equal")),
        ("missing_classes", json!("renormalize")),
        ("on_missing_clips", json!("error")),
        ("grid_steps", json!(10)),
    ] {
        let property = &schema["properties"][param];
        assert!(property["description"].as_str().is_some_and(|d| d.len() > 60), "{param}: {property}");
        assert_eq!(property["default"], default, "{param}");
    }
    let forms = schema["$defs"]["Weights"]["anyOf"].as_array().unwrap();
    assert_eq!(forms.len(), 2);
    assert_eq!((&forms[0]["type"], &forms[0]["items"]["type"]), (&json!("array"), &json!("number")));
    assert!(forms[0]["description"].as_str().unwrap().starts_with("One non-negative weight per input"));
    assert_eq!(forms[1]["$ref"], "#/$defs/WeightRule");
    let rules = schema["$defs"]["WeightRule"]["oneOf"].as_array().unwrap();
    let documented: Vec<(&str, bool)> = rules
        .iter()
        .map(|r| (r["const"].as_str().unwrap(), r["description"].as_str().is_some_and(|d| d.len() > 20)))
        .collect();
    assert_eq!(
        documented,
        [("equal", true), ("val-macro-f1", true), ("val-accuracy", true), ("optimize", true)]
    );
}

#[test]
fn output_round_trips_with_the_union_of_classes_and_feeds_evaluate() {
    let bench = Bench::new();
    let inputs = vec![
        bench.member(
            "a",
            &[Neutral, Happy],
            &[("v", Val, Some(Happy), &[0.25, 0.75]), ("t", Test, None, &[0.5, 0.5])],
        ),
        bench.member(
            "b",
            &[Sad, Angry],
            &[("v", Val, Some(Happy), &[0.5, 0.5]), ("t", Test, None, &[0.125, 0.875])],
        ),
    ];
    let out = bench.run("union", "", &inputs).unwrap();
    let ensemble = Predictions::read(&out).unwrap();
    assert_eq!(ensemble.classes, [Neutral, Happy, Sad, Angry]);
    // renormalize with disjoint classes: each class is its only member's probability, then the
    // row is halved: v = [.125, .375, .25, .25].
    assert_row(&ensemble.rows[0], &[0.125, 0.375, 0.25, 0.25]);
    // Writing what was read gives the same bytes.
    let copy = bench.root.path().join("copy");
    std::fs::create_dir_all(&copy).unwrap();
    ensemble.write(&copy).unwrap();
    assert_eq!(read(&copy.join("predictions.csv")), read(&out.join("predictions.csv")));
    assert!(
        read(&out.join("predictions.csv")).starts_with("file_id,split,label,predicted,p01,p03,p04,p05\n")
    );
    // A rerun is byte-identical.
    let again = bench.run("union_again", "", &inputs).unwrap();
    for file in ["predictions.csv", "weights.json", "report/ensemble.md", "report/ensemble.csv"] {
        assert_eq!(read(&again.join(file)), read(&out.join(file)), "{file}");
    }
    // `evaluate` scores it like any model: v is right (happy).
    let evaluate = crate::kinds().into_iter().find(|k| k.name() == "evaluate").unwrap();
    let stage = evaluate.configure(toml::from_str("plots = false").unwrap()).unwrap();
    let ensemble_input = Input::new("vote", ArtifactKind::Predictions, out);
    let report =
        run_stage(&*stage, &bench.root.path().join("evaluate"), &[ensemble_input], "report").unwrap();
    assert_eq!(
        read(&report.join("summary.csv")),
        "input,split,clips,accuracy,macro_f1,weighted_f1,uar,accuracy_low,accuracy_high,macro_f1_low,macro_f1_high,weighted_f1_low,weighted_f1_high,uar_low,uar_high\nvote,val,1,1,1,1,1,1,1,1,1,1,1,1,1\n"
    );
    assert!(report.join("report/vote/output.txt").exists());
}
