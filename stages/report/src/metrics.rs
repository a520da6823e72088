//! Classification metrics: the confusion matrix, per-class precision, recall, F1 and support,
//! accuracy, macro and weighted averages, unweighted average recall, and a text table laid out
//! like scikit-learn's `classification_report`.
//!
//! The conventions are scikit-learn's with `zero_division=0`:
//!
//! | quantity | definition |
//! |---|---|
//! | classes | the union of true and predicted labels, in the label set's order |
//! | precision | `tp / predicted`, 0 when the class is never predicted |
//! | recall | `tp / support`, 0 when the class never occurs in the truth |
//! | F1 | `2 tp / (support + predicted)`, 0 when both are 0 |
//! | accuracy | correct / clips |
//! | macro average | plain mean over the classes (absent and never-predicted ones included) |
//! | weighted average | mean weighted by support |
//! | UAR | the macro-averaged recall, as `recall_score(average="macro")`; a class that is only ever predicted counts as recall 0, so UAR is below `balanced_accuracy_score` in that case |
//!
//! `scripts/sklearn_fixture.py` generated `tests/fixtures/sklearn_report.json`, against which the
//! tests check every number and the text table byte for byte.

use serde::Serialize;
use vox_api::labels::LabelSet;

/// How a class is named in tables: its name and its description, `05 angry`; the name alone
/// when the description is the name.
pub fn class_label(name: &str, description: &str) -> String {
    if description.is_empty() || description == name { name.to_string() } else { format!("{name} {description}") }
}

/// Counts of (true, predicted) pairs over the classes that occur in either.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Confusion {
    /// The union of true and predicted classes (their names), in the label set's order.
    pub classes: Vec<String>,
    /// Each class's description (its name when it has none), for people.
    #[serde(skip)]
    pub descriptions: Vec<String>,
    /// `counts[t][p]`: clips of true class `classes[t]` predicted as `classes[p]`.
    pub counts: Vec<Vec<u64>>,
}

impl Confusion {
    /// Tallies `(true, predicted)` pairs of class indices into `labels`.
    pub fn from_pairs(labels: &LabelSet, pairs: &[(usize, usize)]) -> Self {
        Self::over(labels, &Self::present(labels, pairs), pairs)
    }

    /// The classes of `labels` that occur in `pairs`, as truth or prediction, in order.
    pub fn present(labels: &LabelSet, pairs: &[(usize, usize)]) -> Vec<usize> {
        let mut present = vec![false; labels.len()];
        for &(truth, predicted) in pairs {
            present[truth] = true;
            present[predicted] = true;
        }
        (0..labels.len()).filter(|&i| present[i]).collect()
    }

    /// Tallies `pairs` over the fixed classes `kept` (indices into `labels`, in order, every
    /// class of `pairs` among them), so that a resample of the pairs is averaged over the same
    /// classes as the whole.
    pub fn over(labels: &LabelSet, kept: &[usize], pairs: &[(usize, usize)]) -> Self {
        let position = |class: usize| kept.binary_search(&class).unwrap_or_default();
        let mut counts = vec![vec![0; kept.len()]; kept.len()];
        for &(truth, predicted) in pairs {
            counts[position(truth)][position(predicted)] += 1;
        }
        Self {
            classes: kept.iter().map(|&i| labels.classes()[i].name.clone()).collect(),
            descriptions: kept.iter().map(|&i| labels.description(i).to_string()).collect(),
            counts,
        }
    }

    /// How class `i` is named in tables and figures (see [`class_label`]).
    pub fn label(&self, i: usize) -> String {
        class_label(&self.classes[i], &self.descriptions[i])
    }

    /// The number of clips.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Each row divided by its sum (the fraction of a true class given each prediction); a row
    /// of a class absent from the truth stays 0.
    pub fn row_normalized(&self) -> Vec<Vec<f64>> {
        self.counts
            .iter()
            .map(|row| {
                let sum: u64 = row.iter().sum();
                row.iter().map(|&c| ratio(c as f64, sum as f64)).collect()
            })
            .collect()
    }


}

/// `num / den`, or 0 when `den` is 0 (scikit-learn's `zero_division=0`).
pub(crate) use vox_api::metrics::ratio;

/// The scores of one class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassScores {
    /// The class's name (RAVDESS: its code).
    pub code: String,
    /// Its description (RAVDESS: the emotion's name), or its name when it has none.
    pub emotion: String,
    /// True positives over predicted positives.
    pub precision: f64,
    /// True positives over actual positives.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Clips of this class in the truth.
    pub support: u64,
}

/// Precision, recall and F1 averaged over classes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Averages {
    /// Averaged precision.
    pub precision: f64,
    /// Averaged recall.
    pub recall: f64,
    /// Averaged F1.
    pub f1: f64,
}

/// Every metric of one confusion matrix.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scores {
    /// Clips scored.
    pub clips: u64,
    /// Fraction of clips predicted correctly.
    pub accuracy: f64,
    /// Unweighted mean of the per-class F1.
    pub macro_f1: f64,
    /// Support-weighted mean of the per-class F1.
    pub weighted_f1: f64,
    /// Unweighted average recall (the macro-averaged recall).
    pub uar: f64,
    /// Unweighted means over classes.
    pub macro_avg: Averages,
    /// Support-weighted means over classes.
    pub weighted_avg: Averages,
    /// Per-class scores, in the label set's order.
    pub classes: Vec<ClassScores>,
}

impl Scores {
    /// Scores a confusion matrix.
    pub fn new(confusion: &Confusion) -> Self {
        // The formulas are vox-api's, shared with every stage that scores.
        let classes: Vec<ClassScores> = vox_api::metrics::class_scores(&confusion.counts)
            .into_iter()
            .zip(confusion.classes.iter().zip(&confusion.descriptions))
            .map(|(scores, (code, emotion))| ClassScores {
                code: code.clone(),
                emotion: emotion.clone(),
                precision: scores.precision,
                recall: scores.recall,
                f1: scores.f1,
                support: scores.support,
            })
            .collect();
        let clips = confusion.total();
        let average = |weight: &dyn Fn(&ClassScores) -> f64| {
            let total: f64 = classes.iter().map(weight).sum();
            let mean = |value: fn(&ClassScores) -> f64| {
                ratio(classes.iter().map(|c| weight(c) * value(c)).sum(), total)
            };
            Averages { precision: mean(|c| c.precision), recall: mean(|c| c.recall), f1: mean(|c| c.f1) }
        };
        let macro_avg = average(&|_| 1.0);
        let weighted_avg = average(&|c| c.support as f64);
        let headline = vox_api::metrics::Headline::new(&confusion.counts);
        debug_assert_eq!((headline.clips, headline.macro_f1), (clips, macro_avg.f1));
        Self {
            clips,
            accuracy: headline.accuracy,
            macro_f1: headline.macro_f1,
            weighted_f1: headline.weighted_f1,
            uar: headline.uar,
            macro_avg,
            weighted_avg,
            classes,
        }
    }

    /// The text table of scikit-learn's `classification_report` with `digits` decimals: one row
    /// per class (named as [`class_label`]), then accuracy, macro and weighted averages.
    pub fn classification_report(&self, digits: usize) -> String {
        const HEADERS: [&str; 4] = ["precision", "recall", "f1-score", "support"];
        const LONGEST_HEADING: &str = "weighted avg";
        let names: Vec<String> = self.classes.iter().map(|c| class_label(&c.code, &c.emotion)).collect();
        let width = names.iter().map(String::len).chain([LONGEST_HEADING.len(), digits]).max().unwrap_or(0);
        let row = |name: &str, p: f64, r: f64, f: f64, support: u64| {
            format!("{name:>width$}  {p:>9.digits$} {r:>9.digits$} {f:>9.digits$} {support:>9}\n")
        };
        let mut text = format!("{:>width$} ", "");
        for header in HEADERS {
            text += &format!(" {header:>9}");
        }
        text += "\n\n";
        for (name, c) in names.iter().zip(&self.classes) {
            text += &row(name, c.precision, c.recall, c.f1, c.support);
        }
        text += "\n";
        text += &format!(
            "{:>width$}  {:>9} {:>9} {:>9.digits$} {:>9}\n",
            "accuracy", "", "", self.accuracy, self.clips
        );
        for (heading, avg) in [("macro avg", &self.macro_avg), ("weighted avg", &self.weighted_avg)] {
            text += &row(heading, avg.precision, avg.recall, avg.f1, self.clips);
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_labels::*;

    type Emotion = usize;

    /// Pairs from parallel lists of true and predicted classes.
    fn pairs(truth: &[Emotion], predicted: &[Emotion]) -> Vec<(Emotion, Emotion)> {
        truth.iter().copied().zip(predicted.iter().copied()).collect()
    }

    fn confusion(pairs: &[(Emotion, Emotion)]) -> Confusion {
        Confusion::from_pairs(&ravdess(), pairs)
    }

    fn assert_close(actual: f64, expected: f64, what: &str) {
        assert!((actual - expected).abs() < 1e-12, "{what}: {actual} != {expected}");
    }

    #[test]
    fn confusion_counts_over_the_union_of_classes() {
        // Sad is never predicted; Angry never occurs in the truth.
        let confusion = confusion(&pairs(
            &[Neutral, Neutral, Neutral, Happy, Happy, Sad],
            &[Neutral, Neutral, Happy, Happy, Angry, Angry],
        ));
        assert_eq!(confusion.classes, ["01", "03", "04", "05"]);
        assert_eq!(confusion.label(3), "05 angry");
        assert_eq!(confusion.counts, [[2, 1, 0, 0], [0, 1, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]);
        assert_eq!(confusion.total(), 6);
        let normalized = confusion.row_normalized();
        assert_eq!(normalized[0], [2.0 / 3.0, 1.0 / 3.0, 0.0, 0.0]);
        assert_eq!(normalized[2], [0.0, 0.0, 0.0, 1.0]);
        assert_eq!(normalized[3], [0.0; 4], "a class absent from the truth stays 0");
    }

    /// One hand-computed case: the pairs, then per class (precision, recall, F1, support), then
    /// accuracy, macro (P, R, F1) and weighted (P, R, F1).
    struct Case {
        name: &'static str,
        truth: &'static [Emotion],
        predicted: &'static [Emotion],
        per_class: &'static [(Emotion, f64, f64, f64, u64)],
        accuracy: f64,
        macro_avg: [f64; 3],
        weighted_avg: [f64; 3],
    }

    const CASES: &[Case] = &[
        Case {
            name: "perfect",
            truth: &[Calm, Calm, Fearful],
            predicted: &[Calm, Calm, Fearful],
            per_class: &[(Calm, 1.0, 1.0, 1.0, 2), (Fearful, 1.0, 1.0, 1.0, 1)],
            accuracy: 1.0,
            macro_avg: [1.0, 1.0, 1.0],
            weighted_avg: [1.0, 1.0, 1.0],
        },
        Case {
            // neutral: tp 2 of 2 predicted, 3 true -> P 1, R 2/3, F1 4/5
            // happy: tp 1 of 2 predicted, 2 true -> P 1/2, R 1/2, F1 1/2
            // sad: never predicted -> P 0 (zero division), R 0, F1 0
            // angry: absent from the truth -> P 0, R 0 (zero division), F1 0
            name: "never predicted and absent from the truth",
            truth: &[Neutral, Neutral, Neutral, Happy, Happy, Sad],
            predicted: &[Neutral, Neutral, Happy, Happy, Angry, Angry],
            per_class: &[
                (Neutral, 1.0, 2.0 / 3.0, 0.8, 3),
                (Happy, 0.5, 0.5, 0.5, 2),
                (Sad, 0.0, 0.0, 0.0, 1),
                (Angry, 0.0, 0.0, 0.0, 0),
            ],
            accuracy: 0.5,
            macro_avg: [1.5 / 4.0, (2.0 / 3.0 + 0.5) / 4.0, 1.3 / 4.0],
            weighted_avg: [4.0 / 6.0, 3.0 / 6.0, 3.4 / 6.0],
        },
        Case {
            name: "all wrong",
            truth: &[Neutral, Surprised],
            predicted: &[Disgust, Disgust],
            per_class: &[
                (Neutral, 0.0, 0.0, 0.0, 1),
                (Disgust, 0.0, 0.0, 0.0, 0),
                (Surprised, 0.0, 0.0, 0.0, 1),
            ],
            accuracy: 0.0,
            macro_avg: [0.0; 3],
            weighted_avg: [0.0; 3],
        },
        Case {
            name: "no clips",
            truth: &[],
            predicted: &[],
            per_class: &[],
            accuracy: 0.0,
            macro_avg: [0.0; 3],
            weighted_avg: [0.0; 3],
        },
    ];

    #[test]
    fn hand_computed_scores() {
        for case in CASES {
            let scores = Scores::new(&confusion(&pairs(case.truth, case.predicted)));
            let name = case.name;
            assert_eq!(scores.clips, case.truth.len() as u64, "{name}");
            assert_eq!(scores.classes.len(), case.per_class.len(), "{name}");
            for (got, &(code, p, r, f, support)) in scores.classes.iter().zip(case.per_class) {
                let (code, description) = (code_of(code), description_of(code));
                assert_eq!((got.code.as_str(), got.emotion.as_str(), got.support), (code, description, support), "{name}");
                assert_close(got.precision, p, &format!("{name}: precision of {code}"));
                assert_close(got.recall, r, &format!("{name}: recall of {code}"));
                assert_close(got.f1, f, &format!("{name}: F1 of {code}"));
            }
            assert_close(scores.accuracy, case.accuracy, &format!("{name}: accuracy"));
            let triple = |a: &Averages| [a.precision, a.recall, a.f1];
            for (got, want, what) in [
                (triple(&scores.macro_avg), case.macro_avg, "macro"),
                (triple(&scores.weighted_avg), case.weighted_avg, "weighted"),
            ] {
                for k in 0..3 {
                    assert_close(got[k], want[k], &format!("{name}: {what} average {k}"));
                }
            }
            assert_eq!(scores.macro_f1, scores.macro_avg.f1);
            assert_eq!(scores.weighted_f1, scores.weighted_avg.f1);
            assert_eq!(scores.uar, scores.macro_avg.recall);
        }
    }

    #[test]
    fn report_table_layout() {
        let scores = Scores::new(&confusion(&pairs(
            &[Neutral, Neutral, Neutral, Happy, Happy, Sad],
            &[Neutral, Neutral, Happy, Happy, Angry, Angry],
        )));
        assert_eq!(
            scores.classification_report(2),
            "              precision    recall  f1-score   support\n\
             \n\
             \x20 01 neutral       1.00      0.67      0.80         3\n\
             \x20   03 happy       0.50      0.50      0.50         2\n\
             \x20     04 sad       0.00      0.00      0.00         1\n\
             \x20   05 angry       0.00      0.00      0.00         0\n\
             \n\
             \x20   accuracy                           0.50         6\n\
             \x20  macro avg       0.38      0.29      0.33         6\n\
             weighted avg       0.67      0.50      0.57         6\n"
        );
    }

    /// The fixture written by `scripts/sklearn_fixture.py`.
    #[derive(serde::Deserialize)]
    struct Fixture {
        cases: Vec<FixtureCase>,
    }

    #[derive(serde::Deserialize)]
    struct FixtureCase {
        name: String,
        y_true: Vec<usize>,
        y_pred: Vec<usize>,
        labels: Vec<usize>,
        precision: Vec<f64>,
        recall: Vec<f64>,
        f1: Vec<f64>,
        support: Vec<u64>,
        accuracy: f64,
        macro_f1: f64,
        weighted_f1: f64,
        uar: f64,
        confusion: Vec<Vec<u64>>,
        report: String,
    }

    fn emotion(code: usize) -> Emotion {
        code - 1
    }

    #[test]
    fn matches_scikit_learn() {
        let fixture: Fixture =
            serde_json::from_str(include_str!("../tests/fixtures/sklearn_report.json")).unwrap();
        assert!(fixture.cases.len() >= 2);
        for case in &fixture.cases {
            let name = &case.name;
            let pairs: Vec<(Emotion, Emotion)> =
                case.y_true.iter().zip(&case.y_pred).map(|(&t, &p)| (emotion(t), emotion(p))).collect();
            let confusion = confusion(&pairs);
            let codes: Vec<usize> = confusion.classes.iter().map(|e| e.parse::<usize>().unwrap()).collect();
            assert_eq!(codes, case.labels, "{name}");
            assert_eq!(confusion.counts, case.confusion, "{name}");
            let scores = Scores::new(&confusion);
            for (i, c) in scores.classes.iter().enumerate() {
                assert_close(c.precision, case.precision[i], &format!("{name}: precision {i}"));
                assert_close(c.recall, case.recall[i], &format!("{name}: recall {i}"));
                assert_close(c.f1, case.f1[i], &format!("{name}: F1 {i}"));
                assert_eq!(c.support, case.support[i], "{name}: support {i}");
            }
            assert_close(scores.accuracy, case.accuracy, &format!("{name}: accuracy"));
            assert_close(scores.macro_f1, case.macro_f1, &format!("{name}: macro F1"));
            assert_close(scores.weighted_f1, case.weighted_f1, &format!("{name}: weighted F1"));
            assert_close(scores.uar, case.uar, &format!("{name}: UAR"));
            assert_eq!(scores.classification_report(4), case.report, "{name}");
        }
    }
}
