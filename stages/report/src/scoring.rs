//! The report of one predictions input, under `report/<input>/`:
//!
//! | file | when |
//! |---|---|
//! | `metrics.json` (with bootstrap 95% intervals and calibration scores), `classification_report.txt`, `per_class.csv`, `clips.csv` (each clip's label, prediction and `by` groups, [`vox_api::scored`]) | the scored split has labelled clips |
//! | `calibration.csv` (the reliability table, [`crate::calibration`]) and `reliability.png`/`.svg` | same |
//! | `confusion_counts.csv`, `confusion_normalized.csv` (+ `.png`/`.svg` heat maps) | same |
//! | `training_curves.png`/`.svg` | `history.csv` exists and has epochs |
//! | `importance.csv`, `importance.json`, `distributions.csv` (copied), `importance.png`/`.svg` (the 20 most important features), `distributions.png`/`.svg` (their per-class box plots) | the model measured its permutation importance ([`vox_api::importance`]) |
//! | `output.txt`, `predicted_counts.png`/`.svg` | unlabeled clips of split `test` or of no split |
//! | `by_<column>.csv` (scores per value of the column, [`crate::groups`]) | `evaluate`'s `by` names columns |
//!
//! `metrics.json` is also copied to `metrics/<input>.json` in the stage's output folder, for
//! machines; figures are drawn only in the requested formats (none when `plots = false`).

use std::path::Path;

use serde::Serialize;
use tracing::{debug, warn};
use vox_api::Input;
use vox_api::audio::Split;
use vox_api::predictions::{Prediction, Predictions, read_history};
use vox_api::scored::{self, Scored, ScoredClip};

use crate::bootstrap::{self, Intervals};
use crate::calibration::{self, Calibration};
use crate::error::ReportError;
use crate::files::{create_dir, write_csv, write_json, write_text};
use crate::groups::{self, GroupScore, Groups};
use crate::metrics::{Confusion, Scores};
use vox_api::output_txt;
use crate::plot::confusion::{Cells, ConfusionFigure};
use crate::plot::counts::CountsFigure;
use crate::plot::curves::CurvesFigure;
use crate::plot::importance::{DistributionsFigure, FeatureBoxes, ImportanceFigure};
use crate::plot::reliability::ReliabilityFigure;
use vox_api::importance::Importance;

/// Features drawn in a model's importance bars.
const IMPORTANCE_BARS: usize = 20;
use crate::plot::{self, ImageFormat};

/// Decimals in `classification_report.txt`.
const REPORT_DIGITS: usize = 4;

/// What to score and draw.
pub struct Scoring<'a> {
    /// The split whose labelled clips are scored.
    pub split: Split,
    /// Its name, for files and titles.
    pub split_name: &'static str,
    /// Figure formats; empty when no figures are wanted.
    pub formats: &'a [ImageFormat],
    /// `report/` inside the stage's output folder.
    pub report_dir: &'a Path,
    /// The stage's output folder.
    pub out_dir: &'a Path,
    /// Bootstrap resamples for the confidence intervals; 0 for none.
    pub resamples: u32,
    /// The bootstrap's seed.
    pub seed: u64,
    /// The columns to score groups of clips by (`evaluate`'s `by`); empty for none.
    pub groups: &'a Groups,
    /// Bins of the reliability table.
    pub calibration_bins: u32,
}

/// One input's headline numbers, a row of `summary.csv`.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The input (upstream stage) name.
    pub input: String,
    /// The scored split.
    pub split: &'static str,
    /// Labelled clips scored.
    pub clips: u64,
    /// Accuracy.
    pub accuracy: f64,
    /// Macro-averaged F1.
    pub macro_f1: f64,
    /// Support-weighted F1.
    pub weighted_f1: f64,
    /// Unweighted average recall.
    pub uar: f64,
    /// Bootstrap confidence intervals, when asked for.
    pub intervals: Option<Intervals>,
    /// Scores by group (`evaluate`'s `by`); empty when none were asked for.
    pub groups: Vec<GroupScore>,
    /// How well its probabilities are calibrated; `None` for a mean over folds.
    pub calibration: Option<Calibration>,
}

/// The `metrics.json` document.
#[derive(Serialize)]
struct MetricsDocument<'a> {
    input: &'a str,
    split: &'a str,
    #[serde(flatten)]
    scores: &'a Scores,
    /// Bootstrap confidence intervals (`null` with `bootstrap = 0`).
    intervals: Option<&'a Intervals>,
    /// ECE, MCE, Brier score and log loss, and the reliability table's bin count.
    calibration: Option<&'a Calibration>,
    confusion: &'a Confusion,
}

impl Scoring<'_> {
    /// Writes the report of `input`; returns its summary when its split had labelled clips.
    pub fn report(&self, input: &Input) -> Result<Option<Summary>, ReportError> {
        let predictions = Predictions::read(&input.dir)?;
        check_rows(&input.name, &predictions)?;
        let summary = self.report_predictions(&input.name, &predictions)?;
        if let Some(epochs) = read_history(&input.dir)?.filter(|e| !e.is_empty()) {
            let title = format!("{}: training curves", input.name);
            plot::save(&CurvesFigure { title, epochs: &epochs }, &self.report_dir.join(&input.name), "training_curves", self.formats)?;
        }
        if let Some(importance) = Importance::read(&input.dir)? {
            report_importance(&self.report_dir.join(&input.name), &input.name, &input.dir, &importance, self.formats)?;
        }
        Ok(summary)
    }
}

/// A model's permutation importance (measured by `name`, read from `from`): its tables copied
/// into `dir`, the top features as bars (`importance.*`) and, where it has them, their per-class
/// distributions as box plots.
pub(crate) fn report_importance(dir: &Path, name: &str, from: &Path, importance: &Importance, formats: &[ImageFormat]) -> Result<(), ReportError> {
    create_dir(dir)?;
    for file in [vox_api::importance::IMPORTANCE, vox_api::importance::DISTRIBUTIONS, vox_api::importance::SETTINGS] {
        std::fs::copy(from.join(file), dir.join(file)).map_err(ReportError::io(dir.join(file)))?;
    }
    let s = &importance.settings;
    let features = importance.features.iter().take(IMPORTANCE_BARS).map(|f| (f.feature.clone(), f.mean, f.std)).collect();
    let title = format!("{name}: permutation importance on {} ({} clips, {} repeats)", s.split, s.clips, s.repeats);
    let measure = format!("drop in {} (from {:.3}), mean ± std over repeats", s.metric, s.score);
    plot::save(&ImportanceFigure { title, measure, features }, dir, "importance", formats)?;
    let mut boxes: Vec<FeatureBoxes> = Vec::new();
    for d in &importance.distributions {
        let entry = [d.min, d.q1, d.median, d.q3, d.max];
        match boxes.last_mut() {
            Some((feature, classes)) if *feature == d.feature => classes.push((d.class.clone(), entry)),
            _ => boxes.push((d.feature.clone(), vec![(d.class.clone(), entry)])),
        }
    }
    if !boxes.is_empty() {
        let split = importance.distributions.first().map_or("", |d| d.split.as_str());
        let title = format!("{name}: the {} most important features per class ({split} clips)", boxes.len());
        plot::save(&DistributionsFigure { title, features: boxes }, dir, "distributions", formats)?;
    }
    Ok(())
}

impl Scoring<'_> {
    /// Writes the report of `predictions` under `report/<name>/` (a model's, or a
    /// cross-validated model's pooled ones); returns its summary when its split had labelled
    /// clips.
    pub fn report_predictions(&self, name: &str, predictions: &Predictions) -> Result<Option<Summary>, ReportError> {
        let dir = self.report_dir.join(name);
        create_dir(&dir)?;
        let shown: Vec<String> = (0..predictions.labels.len()).map(|i| predictions.labels.description(i).to_string()).collect();
        plot::warn_undrawable("class names", &shown, self.formats);
        let summary = self.score(name, predictions, &dir)?;
        self.write_unlabeled(name, predictions, &dir)?;
        Ok(summary)
    }

    /// Scores the labelled clips of the split and writes the metrics files and figures.
    fn score(
        &self,
        name: &str,
        predictions: &Predictions,
        dir: &Path,
    ) -> Result<Option<Summary>, ReportError> {
        let labels = &predictions.labels;
        let scored: Vec<(&str, usize, usize)> = predictions
            .split(self.split)
            .filter_map(|row| {
                let truth = labels.index_of(row.label.as_deref()?)?;
                Some((row.file_id.as_str(), truth, labels.index_of(predictions.predicted(row))?))
            })
            .collect();
        let pairs: Vec<(usize, usize)> = scored.iter().map(|&(_, truth, predicted)| (truth, predicted)).collect();
        if pairs.is_empty() {
            warn!("input `{name}` has no labelled clips in split `{}`: no metrics", self.split_name);
            return Ok(None);
        }
        let confusion = Confusion::from_pairs(labels, &pairs);
        let scores = Scores::new(&confusion);
        let intervals = bootstrap::intervals(labels, &pairs, self.resamples, self.seed);
        let calibration = calibration::of_split(predictions, self.split, self.calibration_bins);
        let document = MetricsDocument {
            input: name,
            split: self.split_name,
            scores: &scores,
            intervals: intervals.as_ref(),
            calibration: calibration.as_ref(),
            confusion: &confusion,
        };
        // Each clip with its `by` groups, so that runs compare group by group (`vox compare --by`).
        let columns: Vec<String> = self.groups.columns().map(str::to_string).collect();
        let mut clips = Vec::new();
        for row in predictions.split(self.split) {
            let Some(label) = row.label.clone() else { continue };
            let groups = (0..columns.len()).map(|c| self.groups.value(c, name, &row.file_id).map(str::to_string)).collect::<Result<_, _>>()?;
            clips.push(ScoredClip { file_id: row.file_id.clone(), label, predicted: predictions.predicted(row).to_string(), groups });
        }
        scored::write(self.report_dir, name, &Scored { columns, clips })?;
        write_json(&dir.join("metrics.json"), &document)?;
        let machine_dir = self.out_dir.join("metrics");
        create_dir(&machine_dir)?;
        write_json(&machine_dir.join(format!("{name}.json")), &document)?;
        let mut report = scores.classification_report(REPORT_DIGITS);
        if let Some(ci) = &intervals {
            let range = |[low, high]: [f64; 2]| format!("[{low:.REPORT_DIGITS$}, {high:.REPORT_DIGITS$}]");
            report += &format!(
                "\n{:.0}% bootstrap intervals ({} resamples of the {} clips): accuracy {}, macro-F1 {}, weighted-F1 {}, UAR {}\n",
                ci.level * 100.0,
                ci.resamples,
                scores.clips,
                range(ci.accuracy),
                range(ci.macro_f1),
                range(ci.weighted_f1),
                range(ci.uar),
            );
        }
        if let Some(c) = &calibration {
            report += &format!(
                "calibration ({} bins): ECE {:.REPORT_DIGITS$}, MCE {:.REPORT_DIGITS$}, Brier score {:.REPORT_DIGITS$}, log loss {:.REPORT_DIGITS$}\n",
                c.bins, c.ece, c.mce, c.brier, c.log_loss
            );
            calibration::write_table(&dir.join("calibration.csv"), c)?;
            let title = format!(
                "{name}: reliability ({} split, {} clips), ECE {:.3}, Brier {:.3}",
                self.split_name, scores.clips, c.ece, c.brier
            );
            plot::save(&ReliabilityFigure { title, bins: &c.table }, dir, "reliability", self.formats)?;
        }
        write_text(&dir.join("classification_report.txt"), &report)?;
        let groups = self.groups.score(name, labels, &scored)?;
        groups::write_model(dir, self.groups.columns(), &groups)?;
        write_csv(
            &dir.join("per_class.csv"),
            &["code", "emotion", "precision", "recall", "f1", "support"],
            scores.classes.iter().map(|c| {
                let numbers = [c.precision, c.recall, c.f1].map(|v| v.to_string());
                [c.code.clone(), c.emotion.clone()]
                    .into_iter()
                    .chain(numbers)
                    .chain([c.support.to_string()])
                    .collect::<Vec<_>>()
            }),
        )?;
        let counts: Vec<Vec<f64>> =
            confusion.counts.iter().map(|row| row.iter().map(|&c| c as f64).collect()).collect();
        for (cells, values, what) in [
            (Cells::Counts, counts, "counts"),
            (Cells::RowFractions, confusion.row_normalized(), "normalized"),
        ] {
            let stem = format!("confusion_{what}");
            write_confusion_csv(&dir.join(format!("{stem}.csv")), &confusion, &values)?;
            let kind = match cells {
                Cells::Counts => "confusion matrix",
                Cells::RowFractions => "confusion matrix, rows normalized",
            };
            let title = format!("{name}: {kind} ({} split, {} clips)", self.split_name, scores.clips);
            let figure = ConfusionFigure { title, classes: &confusion.descriptions, values, cells };
            plot::save(&figure, dir, &stem, self.formats)?;
        }
        debug!(
            "input `{name}`: {} clips of `{}`, accuracy {:.4}, macro-F1 {:.4}, UAR {:.4}, ECE {:.4}",
            scores.clips,
            self.split_name,
            scores.accuracy,
            scores.macro_f1,
            scores.uar,
            calibration.as_ref().map_or(f64::NAN, |c| c.ece)
        );
        Ok(Some(Summary {
            input: name.to_string(),
            split: self.split_name,
            clips: scores.clips,
            accuracy: scores.accuracy,
            macro_f1: scores.macro_f1,
            weighted_f1: scores.weighted_f1,
            uar: scores.uar,
            intervals,
            groups,
            calibration,
        }))
    }

    /// Writes `output.txt` and the predicted-class chart for unlabeled clips, if any.
    fn write_unlabeled(&self, name: &str, predictions: &Predictions, dir: &Path) -> Result<(), ReportError> {
        let rows: Vec<&Prediction> = predictions
            .rows
            .iter()
            .filter(|r| r.label.is_none() && matches!(r.split, Split::Test | Split::None))
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let labels = &predictions.labels;
        let missing = output_txt::missing_classes(labels, &predictions.classes);
        if !missing.is_empty() {
            warn!(
                "input `{name}`: the model has no class {}; output.txt gives them probability 0",
                missing.join(", ")
            );
        }
        let text = output_txt::render(labels, &predictions.classes, rows.iter().copied());
        write_text(&dir.join("output.txt"), &text)?;
        let description = |class: &String| labels.index_of(class).map_or(class.clone(), |i| labels.description(i).to_string());
        let mut counts: Vec<(String, u64)> = predictions.classes.iter().map(|c| (description(c), 0)).collect();
        for row in &rows {
            counts[row.argmax()].1 += 1;
        }
        let title = format!("{name}: predicted classes of {} unlabeled clips", rows.len());
        plot::save(&CountsFigure { title, counts }, dir, "predicted_counts", self.formats)
    }
}

/// Rejects rows that do not match the class columns (which would break `argmax`).
pub(crate) fn check_rows(input: &str, predictions: &Predictions) -> Result<(), ReportError> {
    let expected = predictions.classes.len();
    if expected == 0 && !predictions.rows.is_empty() {
        return Err(ReportError::NoClasses(input.to_string()));
    }
    match predictions.rows.iter().find(|r| r.probabilities.len() != expected) {
        Some(row) => Err(ReportError::RowWidth {
            input: input.to_string(),
            file_id: row.file_id.clone(),
            found: row.probabilities.len(),
            expected,
        }),
        None => Ok(()),
    }
}

/// Writes a confusion matrix as CSV: a `true \ predicted` corner, then one column per class.
fn write_confusion_csv(path: &Path, confusion: &Confusion, values: &[Vec<f64>]) -> Result<(), ReportError> {
    let labels: Vec<String> = (0..confusion.classes.len()).map(|i| confusion.label(i)).collect();
    let header: Vec<&str> =
        std::iter::once("true \\ predicted").chain(labels.iter().map(String::as_str)).collect();
    write_csv(
        path,
        &header,
        labels.iter().zip(values).map(|(label, row)| {
            std::iter::once(label.clone()).chain(row.iter().map(|v| v.to_string())).collect::<Vec<_>>()
        }),
    )
}
