//! The `evaluate` stage kind: scores every predictions input on one split and writes the
//! human-facing report, plus signal figures when an audio set is among the inputs.
//!
//! Output folder layout:
//!
//! ```text
//! summary.csv                 one row per scored input: accuracy, macro_f1, weighted_f1, uar,
//!                             then each one's bootstrap 95% interval (`<metric>_low`/`_high`);
//!                             a cross-validated model's row is its pooled `test`, and a second
//!                             row, `val`, is the mean over folds of each fold's `val` part
//!                             (no interval): what `vox search` optimizes
//! metrics/<input>.json        the input's metrics.json, for machines
//! report/summary.csv          the same summary, for people
//! report/calibration.csv      one row per scored input: how well its probabilities are
//!                             calibrated (ECE, MCE, Brier score, log loss; see `calibration`)
//! report/<input>/...          per predictions input, see `scoring`
//! report/<audio input>/...    signal figures, see `signal_report`
//! dimensions.csv              estimates inputs (arousal, valence, ...): agreement per
//!                             dimension, see `dimensions` (also in report/)
//! report/<features input>/    PCA and t-SNE maps of a feature set's clips, see `feature_maps`
//! ```

use rayon::prelude::*;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use vox_api::summary;
use vox_api::audio::Split;
use vox_api::{ArtifactKind, Facts, Input, InputSpec, ParamError, PlannedInput, StageContext, StageDef, StageError};

use crate::calibration;
use crate::cross_validation;
use crate::dimensions;
use crate::feature_maps;
use crate::error::ReportError;
use crate::files::write_csv;
use crate::groups::{self, GroupScore, Groups};
use crate::plot::ImageFormat;
use crate::scoring::{Scoring, Summary};
use crate::signal_report;

/// Scores model predictions and draws a report. For each predictions input, on the labelled
/// clips of `split`: accuracy, macro- and weighted-F1, unweighted average recall, per-class
/// precision, recall, F1 and support (`metrics.json`, `per_class.csv`, a scikit-learn style
/// `classification_report.txt`), confusion matrices (CSV and heat maps), training curves when
/// the model wrote `history.csv`, and `output.txt` with a chart of predicted emotions for
/// unlabeled test clips, and how well its probabilities are calibrated (ECE, MCE, Brier score and
/// log loss in `metrics.json` and `report/calibration.csv`, a reliability table and diagram).
/// For each estimates input (a `regress` stage's arousal, valence, ...),
/// on the rated clips of `split`: each dimension's concordance correlation coefficient (with its
/// bootstrap interval), Pearson's r, MAE and RMSE (`dimensions.csv`). With an audio-set input
/// (at most one): per-emotion mean log-mel spectrograms, energy envelopes and example clips.
/// For each features input: PCA and t-SNE maps of its labelled clips, coloured by class
/// (`map.csv`, `map.png`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Evaluate {
    /// The split whose labelled clips are scored: `train`, `val` or `test` (when the test clips
    /// have labels). Default: `test` when the inputs come from a cross-validation (each clip is
    /// held out by one fold, and scored once), else `val`. An input with no labelled clip in it
    /// gets no metrics (a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<ScoredSplit>,
    /// Draw figures (confusion matrices, training curves, predicted-emotion counts, signal
    /// analysis). Default `true`; `false` writes only tables and text.
    #[serde(default = "default_plots")]
    pub plots: bool,
    /// Image formats of every figure, each at most once: `png` (bitmap), `svg` (vector).
    /// Default both.
    #[serde(default = "default_formats")]
    pub formats: Vec<ImageFormat>,
    /// Bootstrap resamples of the scored clips for the 95% confidence intervals of accuracy,
    /// macro- and weighted-F1 and UAR (percentile intervals; every input draws the same
    /// resamples); 0 leaves the intervals out. Default 1000.
    #[serde(default = "default_bootstrap")]
    pub bootstrap: u32,
    /// Seed of the bootstrap's resampling; the pipeline's seed when absent.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Manifest columns to score each model's clips by, group by group (`["sex"]`,
    /// `["speaker", "corpus"]`): `report/<model>/by_<column>.csv` and `report/by_<column>.csv`.
    /// Needs an audio input (the set the models' clips come from) for the clips' columns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub by: Vec<String>,
    /// Equal-width confidence bins of each model's reliability table and diagram, from which its
    /// expected and maximum calibration errors (ECE, MCE) are computed (at least 1). Default 15,
    /// as Guo et al. (2017) and torchmetrics.
    #[serde(default = "default_calibration_bins")]
    pub calibration_bins: u32,
}

/// A split that can be scored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ScoredSplit {
    /// The training clips (optimistic; for diagnosing under-fitting).
    Train,
    /// The validation clips.
    Val,
    /// The held-out test clips.
    Test,
}

impl ScoredSplit {
    /// The manifest split.
    fn split(self) -> Split {
        match self {
            Self::Train => Split::Train,
            Self::Val => Split::Val,
            Self::Test => Split::Test,
        }
    }

    /// The name, as in manifests.
    fn name(self) -> &'static str {
        match self {
            Self::Train => "train",
            Self::Val => "val",
            Self::Test => "test",
        }
    }
}

fn default_plots() -> bool {
    true
}

fn default_formats() -> Vec<ImageFormat> {
    vec![ImageFormat::Png, ImageFormat::Svg]
}

fn default_bootstrap() -> u32 {
    1000
}

fn default_calibration_bins() -> u32 {
    calibration::DEFAULT_BINS
}


impl StageDef for Evaluate {
    const KIND: &'static str = "evaluate";
    // Its tables, folders and figures are named after the models it scores.
    const OUTPUT_NAMES: bool = true;
    // 2: bootstrap resamples are stratified by true class.
    // 3: a cross-validated model's summary has its folds' mean `val` row.
    // 4: calibration: ECE, MCE, Brier score and log loss, reliability tables and diagrams;
    //    maps of features inputs.
    // 5: groups of `by` in natural order (`speaker 2` before `speaker 10`, `-5 dB` before `0 dB`).
    // 6: each scored clip with its `by` groups in `<model>/clips.csv`.
    const VERSION: u32 = 6;
    const INPUTS: InputSpec =
        InputSpec::many(&[ArtifactKind::Predictions, ArtifactKind::Estimates, ArtifactKind::Audio, ArtifactKind::Features]);
    const OUTPUT: ArtifactKind = ArtifactKind::Report;
    // Across a cross-validation, one report of every fold (see `cross_validation`).
    const GATHERS: bool = true;

    /// Without figures, their formats change nothing.
    fn unread(&self) -> &'static [&'static str] {
        if self.plots { &[] } else { &["formats"] }
    }

    fn validate(&self) -> Result<(), ParamError> {
        for (i, column) in self.by.iter().enumerate() {
            let why = match column.as_str() {
                "label" => "scores by class are `per_class.csv`",
                "file_id" => "each clip would be a group of its own",
                "split" => "the scored clips are of one split",
                "" => "must name a manifest column (`sex`, `speaker`, `corpus`, ...)",
                _ if self.by[..i].contains(column) => "is listed twice",
                _ => continue,
            };
            return Err(ParamError::new(format!("by.{i}"), format!("`{column}`: {why}")));
        }
        if self.calibration_bins == 0 {
            return Err(ParamError::new("calibration_bins", "must be at least 1"));
        }
        if self.plots && self.formats.is_empty() {
            return Err(ParamError::new(
                "formats",
                "needs at least one of `png`, `svg` when `plots` is true",
            ));
        }
        if let Some(i) = (1..self.formats.len()).find(|&i| self.formats[..i].contains(&self.formats[i])) {
            return Err(ParamError::new(
                format!("formats.{i}"),
                format!("`{}` is listed twice", self.formats[i].extension()),
            ));
        }
        Ok(())
    }

    /// A predictions input known to have no labelled clip in the scored split is an error at
    /// `split`: nothing could be scored (a `test` split no `split` stage makes, say); so is a
    /// cross-validated input scored on another split than `test`.
    fn facts(&self, inputs: &[PlannedInput]) -> Result<Facts, ParamError> {
        // An audio set from a cross-validation's split down is one set per fold: it serves `by`
        // only (the columns of the clips each fold made: a `degrade` below the split makes its
        // copies per fold). Without `by` it would do nothing: caught here, not after every fold
        // trained.
        if let Some(folded) = inputs.iter().find(|i| i.kind == ArtifactKind::Audio && i.facts.cross_validated)
            && self.by.is_empty()
        {
            let message = format!(
                "`{}` is an audio set per fold of the cross-validation: it serves `by` only (scores by its columns); signal plots take an audio set from before the split",
                folded.name
            );
            return Err(ParamError::new("inputs", message));
        }
        if !self.by.is_empty() && !inputs.iter().any(|i| i.kind == ArtifactKind::Audio) {
            let message = format!(
                "scoring by `{}` needs the clips' columns: add the audio set the models' clips come from to `inputs` (`padded`, say)",
                self.by.join("`, `")
            );
            return Err(ParamError::new("by", message));
        }
        // Caught here, at plan time, rather than by the run after every fold trained.
        let folded: Vec<String> = inputs
            .iter()
            .filter(|i| matches!(i.kind, ArtifactKind::Predictions | ArtifactKind::Estimates) && i.facts.cross_validated)
            .map(|i| i.name.to_string())
            .collect();
        let scored = self.scored(!folded.is_empty());
        if scored != ScoredSplit::Test && !folded.is_empty() {
            let error = ReportError::FoldsNeedTest { models: folded, split: scored.name() };
            return Err(ParamError::new("split", error.to_string()));
        }
        let split = scored.split();
        let lacking: Vec<&PlannedInput> = inputs
            .iter()
            .filter(|i| i.kind == ArtifactKind::Predictions)
            .filter(|i| i.facts.labelled_splits.as_ref().is_some_and(|s| !s.contains(&split)))
            .collect();
        if let Some(first) = lacking.first() {
            let names: Vec<String> = lacking.iter().map(|i| format!("`{}`", i.name)).collect();
            let has: Vec<&str> = first
                .facts
                .labelled_splits
                .iter()
                .flatten()
                .map(|s| if *s == Split::None { "unsplit" } else { s.name() })
                .collect();
            let has = if has.is_empty() { "no labelled clips".to_string() } else { has.join(", ") };
            let (noun, verb) = if names.len() == 1 { ("input", "has") } else { ("inputs", "have") };
            let name = scored.name();
            let fix = match scored {
                ScoredSplit::Train => "add a `split` stage before the models".to_string(),
                _ => format!("hold out a `{name}` part in the `split` stage (`{name}_fraction` or `{name}_speakers`)"),
            };
            return Err(ParamError::new(
                "split",
                format!(
                    "{noun} {} {verb} no labelled clips in split `{name}` (their labelled clips are: {has}); \
                     score another split, or {fix}",
                    names.join(", "),
                ),
            ));
        }
        Ok(Facts::default())
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        Ok(self.evaluate(ctx)?)
    }
}

impl Evaluate {
    /// The split scored: `split`, else `test` for a cross-validation and `val` otherwise.
    fn scored(&self, cross_validated: bool) -> ScoredSplit {
        self.split.unwrap_or(if cross_validated { ScoredSplit::Test } else { ScoredSplit::Val })
    }

    /// [`StageDef::run`] with the crate's error type.
    fn evaluate(&self, ctx: &StageContext) -> Result<(), ReportError> {
        let (predictions, estimates, audio, features) = partition(ctx.inputs)?;
        let models = models(&predictions);
        let regressors = self::models(&estimates);
        let split = self.scored(models.iter().chain(&regressors).any(|m| matches!(m, Model::Folds(..))));
        let report_dir = ctx.report_dir().map_err(ReportError::io(ctx.out_dir.join("report")))?;
        let formats: &[ImageFormat] = if self.plots { &self.formats } else { &[] };
        let groups = match audio.first() {
            Some(_) if !self.by.is_empty() => Groups::read(&audio, &self.by)?,
            _ => Groups::default(),
        };
        let scoring = Scoring {
            split: split.split(),
            split_name: split.name(),
            formats,
            report_dir: &report_dir,
            out_dir: ctx.out_dir,
            resamples: self.bootstrap,
            seed: self.seed.unwrap_or(ctx.seed),
            groups: &groups,
            calibration_bins: self.calibration_bins,
        };
        let model_count = models.len();
        let bar = ctx.progress_bar(models.len() as u64, "scoring");
        let scored = models
            .par_iter()
            .map(|model| {
                let result = match model {
                    Model::One(input) => scoring.report(input).map(|s| (s.into_iter().collect(), None)),
                    Model::Folds(name, inputs) => report_folds(&scoring, split, name, inputs),
                };
                bar.inc(1);
                result
            })
            .collect::<Result<Vec<_>, _>>()?;
        bar.finish_and_clear();
        let cv: Vec<_> = scored.iter().filter_map(|(_, cv)| cv.clone()).collect();
        if !cv.is_empty() {
            cross_validation::write_tables(&report_dir, &cv)?;
        }
        let summaries: Vec<Summary> = scored.into_iter().flat_map(|(s, _)| s).collect();
        if !groups.is_empty() {
            let models: Vec<(&str, &[GroupScore])> = summaries
                .iter()
                .filter(|s| s.split == split.name())
                .map(|s| (s.input.as_str(), s.groups.as_slice()))
                .collect();
            groups::write_all(&report_dir, groups.columns(), &models)?;
            groups::draw_all(&report_dir, groups.columns(), &models, split.name(), formats)?;
        }
        for dir in [ctx.out_dir, report_dir.as_path()] {
            write_summary(&dir.join(summary::FILE), &summaries)?;
        }
        write_calibration(&report_dir.join(summary::CALIBRATION), &summaries)?;
        if !regressors.is_empty() {
            let scoring = dimensions::Scoring {
                split: split.split(),
                resamples: self.bootstrap,
                seed: self.seed.unwrap_or(ctx.seed),
                groups: &groups,
                report_dir: &report_dir,
                formats,
            };
            let mut scores = Vec::new();
            for model in &regressors {
                let (name, model_scores) = match model {
                    Model::One(input) => (input.name.clone(), scoring.report(input)?),
                    Model::Folds(name, _) if split != ScoredSplit::Test => {
                        return Err(ReportError::FoldsNeedTest { models: vec![name.clone()], split: split.name() });
                    }
                    Model::Folds(name, inputs) => (name.clone(), scoring.report_folds(name, inputs)?),
                };
                let cells: Vec<String> = model_scores
                    .iter()
                    .filter(|s| s.split == split.split())
                    .map(|s| match s.interval {
                        Some([low, high]) => format!("{} {:.3} [{low:.3}, {high:.3}]", s.dimension, s.agreement.ccc),
                        None => format!("{} {:.3}", s.dimension, s.agreement.ccc),
                    })
                    .collect();
                if !cells.is_empty() {
                    info!("`{name}`: CCC on `{}`: {}", split.name(), cells.join(", "));
                }
                scores.extend(model_scores);
            }
            dimensions::write_table(&[ctx.out_dir, report_dir.as_path()], &scores)?;
            if !groups.is_empty() {
                dimensions::write_groups(&report_dir, groups.columns(), &scores, true)?;
            }
        }
        // A cross-validation's folds hold the same clips: the first fold's table is mapped.
        for model in self::models(&features) {
            let (name, input) = match &model {
                Model::One(input) => (input.name.as_str(), *input),
                Model::Folds(name, inputs) => (name.as_str(), inputs[0]),
            };
            feature_maps::draw(name, input, &report_dir, formats, &self.by, self.seed.unwrap_or(ctx.seed))?;
        }
        match audio.as_slice() {
            [input] if input.fold.is_none() && self.plots => signal_report::draw(input, ctx, &report_dir, formats)?,
            [input] if input.fold.is_none() && self.by.is_empty() => {
                warn!("`plots` is false: audio input `{}` is not used", input.name)
            }
            _ => {}
        }
        if split == ScoredSplit::Val {
            for input in &predictions {
                if let Some(what) = selected_on_val(input) {
                    warn!(
                        "input `{}` {what} on `val`: its `val` scores are optimistic; score `test` for a number to report",
                        input.name
                    );
                }
            }
        }
        match best_on(&summaries, split.name()) {
            Some((scored, best)) => info!(
                "scored {scored} of {model_count} models on `{}`; best macro-F1 {:.4} ({})",
                split.name(),
                best[0].macro_f1,
                best.iter().map(|s| format!("`{}`", s.input)).collect::<Vec<_>>().join(", ")
            ),
            None if predictions.is_empty() => {}
            None => info!("no predictions input had labelled clips in `{}`", split.name()),
        }
        Ok(())
    }
}

/// How many models have a score on `split` among `summaries`, and the best of those by
/// macro-F1. A cross-validated model also has its folds' mean `val` row, which is neither a
/// scored model nor a candidate for the best score on `test`.
fn best_on<'a>(summaries: &'a [Summary], split: &str) -> Option<(usize, Vec<&'a Summary>)> {
    let on_split: Vec<&Summary> = summaries.iter().filter(|s| s.split == split).collect();
    let top = on_split.iter().map(|s| s.macro_f1).max_by(f64::total_cmp)?;
    // Every model at the top: a calibrated copy ties with its model, and naming one of them
    // (the last, as `max_by` would) reads as if it had won.
    let best = on_split.iter().copied().filter(|s| s.macro_f1 == top).collect();
    Some((on_split.len(), best))
}

/// A model to report: one predictions (or estimates) input, or a cross-validated model's fold
/// inputs.
enum Model<'a> {
    One(&'a Input),
    Folds(String, Vec<&'a Input>),
}

/// The models of the predictions inputs, in the order of their first input: fold inputs of
/// one pipeline stage (`Input::fold`) together, by fold.
fn models<'a>(inputs: &[&'a Input]) -> Vec<Model<'a>> {
    let mut models: Vec<Model> = Vec::new();
    for input in inputs {
        match &input.fold {
            None => models.push(Model::One(input)),
            Some(fold) => match models.iter_mut().find(|m| matches!(m, Model::Folds(name, _) if *name == fold.of)) {
                Some(Model::Folds(_, members)) => members.push(input),
                _ => models.push(Model::Folds(fold.of.clone(), vec![input])),
            },
        }
    }
    for model in &mut models {
        if let Model::Folds(_, members) = model {
            members.sort_by_key(|i| i.fold.as_ref().map_or(0, |f| f.fold));
        }
    }
    models
}

/// One cross-validated model's summary rows (pooled `test`; the folds' mean `val`), and its
/// `cv.csv` entry.
type FoldReport = (Vec<Summary>, Option<cross_validation::ModelFolds>);

/// The report of a cross-validated model scored on `split`: pooled held-out predictions, and
/// every fold's scores (see `cross_validation`).
fn report_folds(scoring: &Scoring, split: ScoredSplit, name: &str, inputs: &[&Input]) -> Result<FoldReport, ReportError> {
    if split != ScoredSplit::Test {
        return Err(ReportError::FoldsNeedTest { models: vec![name.to_string()], split: split.name() });
    }
    let (pooled, folds, val) = cross_validation::pool(name, inputs)?;
    let summary = scoring.report_predictions(name, &pooled)?;
    let pooled_scores = summary.as_ref().map(|s| (s.clips, [s.accuracy, s.macro_f1, s.weighted_f1, s.uar]));
    cross_validation::write_model_table(&scoring.report_dir.join(name).join("folds.csv"), name, &folds, pooled_scores)?;
    info!(
        "`{name}`: {} folds, pooled UAR {:.4} over {} held-out clips",
        folds.len(),
        pooled_scores.map_or(f64::NAN, |(_, m)| m[3]),
        pooled_scores.map_or(0, |(n, _)| n)
    );
    // The folds' inner validation, for a search to optimize without the held-out clips.
    let mean = |m: usize| val.iter().map(|f| f.metrics[m]).sum::<f64>() / val.len() as f64;
    let val_summary = (!val.is_empty()).then(|| Summary {
        input: name.to_string(),
        split: "val",
        clips: val.iter().map(|f| f.clips).sum(),
        accuracy: mean(0),
        macro_f1: mean(1),
        weighted_f1: mean(2),
        uar: mean(3),
        intervals: None,
        groups: Vec::new(),
        calibration: None,
    });
    Ok((summary.into_iter().chain(val_summary).collect(), Some((name.to_string(), folds, pooled_scores))))
}

/// The inputs by kind: predictions, estimates, the (at most one) audio set, and features.
type Partition<'a> = (Vec<&'a Input>, Vec<&'a Input>, Vec<&'a Input>, Vec<&'a Input>);

/// Splits the inputs into predictions inputs, estimates inputs, the (at most one) audio set (or
/// its folds, for a cross-validated one) and features inputs, checking that each name can be a
/// folder name.
fn partition(inputs: &[Input]) -> Result<Partition<'_>, ReportError> {
    let mut predictions = Vec::new();
    let mut estimates = Vec::new();
    let mut audio: Vec<&Input> = Vec::new();
    let mut features = Vec::new();
    for input in inputs {
        let name = input.name.as_str();
        if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\']) {
            return Err(ReportError::InputName(input.name.clone()));
        }
        // One audio set, or the folds of one cross-validated set.
        let set = |i: &Input| i.fold.as_ref().map_or(i.name.clone(), |f| f.of.clone());
        match (input.kind, audio.first()) {
            (ArtifactKind::Audio, Some(first)) if set(first) != set(input) || input.fold.is_none() => {
                return Err(ReportError::SeveralAudioInputs {
                    first: set(first),
                    second: set(input),
                });
            }
            (ArtifactKind::Audio, _) => audio.push(input),
            (ArtifactKind::Estimates, _) => estimates.push(input),
            (ArtifactKind::Features, _) => features.push(input),
            _ => predictions.push(input),
        }
    }
    Ok((predictions, estimates, audio, features))
}

/// What a predictions input chose on its `val` clips, if anything: a model that trained in
/// epochs kept its best epoch by `val` macro-F1; an ensemble may have weighed its members by
/// their `val` scores.
fn selected_on_val(input: &Input) -> Option<&'static str> {
    let history = std::fs::read_to_string(input.dir.join(vox_api::predictions::HISTORY)).unwrap_or_default();
    if history.lines().count() > 1 {
        return Some("chose its best epoch");
    }
    let weights = std::fs::read_to_string(input.dir.join("weights.json")).ok()?;
    let rule = serde_json::from_str::<serde_json::Value>(&weights).ok()?["rule"].as_str()?.to_string();
    matches!(rule.as_str(), "val-macro-f1" | "val-accuracy" | "optimize").then_some("weighed its members")
}

/// Writes `report/calibration.csv`: `input,split,clips,bins,ece,mce,brier,log_loss`, a row per
/// summary with calibration scores (none for a cross-validation's mean over folds).
fn write_calibration(path: &std::path::Path, summaries: &[Summary]) -> Result<(), ReportError> {
    write_csv(
        path,
        &["input", "split", "clips", "bins", "ece", "mce", "brier", "log_loss"],
        summaries.iter().filter_map(|s| {
            let c = s.calibration.as_ref()?;
            let scores = [c.ece, c.mce, c.brier, c.log_loss].map(|v| v.to_string());
            Some([s.input.clone(), s.split.to_string(), s.clips.to_string(), c.bins.to_string()].into_iter().chain(scores).collect::<Vec<_>>())
        }),
    )
}

/// Writes `summary.csv`.
fn write_summary(path: &std::path::Path, summaries: &[Summary]) -> Result<(), ReportError> {
    write_csv(
        path,
        &summary::COLUMNS,
        summaries.iter().map(|s| {
            let intervals = s.intervals.as_ref().map_or_else(
                || vec![String::new(); 8],
                |ci| [ci.accuracy, ci.macro_f1, ci.weighted_f1, ci.uar].iter().flatten().map(f64::to_string).collect(),
            );
            [
                s.input.clone(),
                s.split.to_string(),
                s.clips.to_string(),
                s.accuracy.to_string(),
                s.macro_f1.to_string(),
                s.weighted_f1.to_string(),
                s.uar.to_string(),
            ]
            .into_iter()
            .chain(intervals)
            .collect::<Vec<_>>()
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(input: &str, split: &'static str, macro_f1: f64) -> Summary {
        Summary { input: input.into(), split, clips: 10, accuracy: macro_f1, macro_f1, weighted_f1: macro_f1, uar: macro_f1, intervals: None, groups: Vec::new(), calibration: None }
    }

    /// A cross-validated model's rows (pooled `test`, folds' mean `val`) count as one scored
    /// model, and a `val` row better than every `test` row is not the best on `test` (the
    /// log once said "scored 2 of 1 models").
    #[test]
    fn formats_without_figures_are_not_keyed() {
        let keyed = |toml: toml::Table| vox_api::kind::<Evaluate>().configure(toml).unwrap().params();
        assert_eq!(keyed(toml::toml! { plots = false
        formats = ["svg"] }).get("formats"), None);
        assert_eq!(keyed(toml::toml! { formats = ["svg"] }).get("formats"), Some(&serde_json::json!(["svg"])));
    }

    #[test]
    fn the_headline_counts_models_and_ranks_only_the_scored_split() {
        let rows = [summary("rf", "test", 0.70), summary("rf", "val", 0.95), summary("w2v", "test", 0.80), summary("w2v", "val", 0.90)];
        let (scored, best) = best_on(&rows, "test").expect("scores on test");
        assert_eq!(scored, 2);
        assert_eq!(best.len(), 1);
        assert_eq!((best[0].input.as_str(), best[0].split, best[0].macro_f1), ("w2v", "test", 0.80));
        let tied = [summary("rf", "test", 0.80), summary("rf_cal", "test", 0.80), summary("lr", "test", 0.70)];
        let names: Vec<&str> = best_on(&tied, "test").unwrap().1.iter().map(|s| s.input.as_str()).collect();
        assert_eq!(names, ["rf", "rf_cal"]);
        assert!(best_on(&rows[..0], "test").is_none());
        assert!(best_on(&rows, "train").is_none());
    }
}
