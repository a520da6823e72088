//! The `ensemble-vote` stage kind: combines the predictions of several models, clip by clip,
//! into the predictions of one ensemble.
//!
//! Output folder layout:
//!
//! ```text
//! predictions.csv        the ensemble's predictions, in the format of any model
//! weights.json           each input's weight (normalized and raw) and how it was obtained
//! report/ensemble.md     the ensemble against each member on the shared labelled val clips
//! report/ensemble.csv    the same table: accuracy, macro_f1, weighted_f1, uar, weight
//! ```
//!
//! The parts: `members` reads, checks and lines up the inputs' clips; `combine` turns one clip's
//! rows into the ensemble's row (soft mean, hard vote and its tie rule, missing classes);
//! `weighting` obtains the weights (given, equal, `val` scores, or a grid search on `val`).

mod combine;
mod members;
#[cfg(test)]
mod tests;
mod weighting;

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tracing::{debug, info};
use vox_api::audio::Split;
use vox_api::predictions::{Prediction, Predictions};
use vox_api::{
    Applied, Applies, ApplyContext, ArtifactKind, Facts, InputSpec, ParamError, PlannedInput, StageContext, StageDef,
    StageError,
};

use crate::error::ReportError;
use crate::files::{write_csv, write_json, write_text};
use crate::metrics::{Confusion, Scores};
use combine::Combiner;
use members::{Member, align, check_classes, check_label_sets, labelled_pairs};
use weighting::{Context, Search, Weighting};

/// Combines the predictions of several models into one ensemble, clip by clip, over the union
/// of their classes: `soft` averages the probabilities with weights, `hard` takes a weighted vote
/// of each model's most probable class. Weights are given, equal, each model's own `val` score,
/// or searched on `val` (never on test). Writes `predictions.csv` (usable by `evaluate` like any
/// model's), `weights.json`, and a table of the ensemble against each member on `val`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnsembleVote {
    /// How the members' rows of a clip are combined: `soft` (default), the weighted mean of their
    /// probabilities; `hard`, a weighted vote of each member's most probable class, whose
    /// probabilities are the normalized weighted vote shares. Hard ties (votes within 1e-12) go
    /// to the class with the highest soft-ensemble probability, then to the lowest code.
    #[serde(default = "default_method")]
    pub method: Method,
    /// The members' weights, normalized to sum to 1. Either an array with one non-negative
    /// number per input, in input order (not all zero), or a rule: `"equal"` (default),
    /// `"val-macro-f1"` or `"val-accuracy"` (each input's score on the labelled clips of its own
    /// `val` split), `"optimize"` (an exhaustive search on a simplex grid of `grid_steps` steps
    /// maximizing the ensemble's macro-F1 on the labelled `val` clips all inputs share; equal
    /// weights are always a candidate). Test clips never influence a weight.
    #[serde(default = "default_weights")]
    pub weights: Weights,
    /// What a member contributes to a class it was trained without (that has no column in its
    /// predictions): `renormalize` (default), nothing: each class's mean is taken over the
    /// weight of the members that know it; `zero`, probability 0 (a class only some members
    /// know is pulled down); `error`, refuse members whose classes differ. The ensemble's
    /// classes are the union of the members'.
    #[serde(default = "default_missing_classes")]
    pub missing_classes: MissingClasses,
    /// What to do when some input lacks a clip that another scores: `error` (default), or
    /// `intersect`, keep only the clips every input scores and warn with the counts dropped.
    #[serde(default = "default_on_missing_clips")]
    pub on_missing_clips: OnMissingClips,
    /// Resolution of `weights = "optimize"`: weights are multiples of `1 / grid_steps`, 1 to
    /// 100 (default 10). The grid holds `C(grid_steps + n - 1, n - 1)` vectors for `n` inputs,
    /// at most 200000. Only with `weights = "optimize"`.
    #[serde(default, serialize_with = "keyed_grid_steps")]
    pub grid_steps: Option<u32>,
}

/// How the members' rows of a clip are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The weighted mean of the members' probabilities.
    Soft,
    /// A weighted vote of each member's most probable class.
    Hard,
}

/// The members' weights: explicit numbers or a rule.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "an array of non-negative numbers (one per input) or one of `equal`, `val-macro-f1`, `val-accuracy`, `optimize`"
)]
pub enum Weights {
    /// One non-negative weight per input, in input order; not all zero.
    Given(Vec<f64>),
    /// A rule that derives the weights.
    Rule(WeightRule),
}

/// A rule that derives the members' weights; the scores come from labelled `val` clips only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum WeightRule {
    /// Every input weighs the same.
    Equal,
    /// Each input's macro-F1 on the labelled clips of its own `val` split.
    ValMacroF1,
    /// Each input's accuracy on the labelled clips of its own `val` split.
    ValAccuracy,
    /// The best weights of a simplex grid by the ensemble's macro-F1 on the shared `val` clips.
    Optimize,
}

/// What a member contributes to a class it does not know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MissingClasses {
    /// Probability 0.
    Zero,
    /// Nothing: each class is averaged over the members that know it.
    Renormalize,
    /// Refuse members whose classes differ.
    Error,
}

/// What to do with clips that not every input scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnMissingClips {
    /// Refuse.
    Error,
    /// Keep the clips every input scores; warn with the counts dropped.
    Intersect,
}

fn default_method() -> Method {
    Method::Soft
}

fn default_weights() -> Weights {
    Weights::Rule(WeightRule::Equal)
}

fn default_missing_classes() -> MissingClasses {
    MissingClasses::Renormalize
}

fn default_on_missing_clips() -> OnMissingClips {
    OnMissingClips::Error
}

fn default_grid_steps() -> u32 {
    10
}

/// The key holds `grid_steps` resolved, as it did when it was a plain param (no entry's key
/// changed when writing it beside another weight rule became an error).
fn keyed_grid_steps<S: serde::Serializer>(value: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u32(value.unwrap_or_else(default_grid_steps))
}

impl Method {
    /// The name, as in the params.
    fn name(self) -> &'static str {
        match self {
            Self::Soft => "soft",
            Self::Hard => "hard",
        }
    }

    /// A phrase for the report.
    fn describe(self) -> &'static str {
        match self {
            Self::Soft => "soft: the weighted mean of the members' probabilities",
            Self::Hard => {
                "hard: a weighted vote of each member's most probable class; ties go to the highest \
                 soft-ensemble probability, then the lowest code"
            }
        }
    }
}

impl MissingClasses {
    /// A phrase for the report.
    fn describe(self) -> &'static str {
        match self {
            Self::Zero => "zero: a member gives probability 0 to a class it does not know",
            Self::Renormalize => "renormalize: each class is averaged over the members that know it",
            Self::Error => "error: every member knows the same classes",
        }
    }
}

/// Columns of `ensemble.csv`.
const TABLE_HEADER: [&str; 8] =
    ["model", "role", "weight", "clips", "accuracy", "macro_f1", "weighted_f1", "uar"];

impl StageDef for EnsembleVote {
    const KIND: &'static str = "ensemble-vote";
    // `weights.json` and the comparison table name the members and the ensemble.
    const OUTPUT_NAMES: bool = true;
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::many(&[ArtifactKind::Predictions]);
    const OUTPUT: ArtifactKind = ArtifactKind::Predictions;
    const APPLIES: Applies = Applies::Yes;

    fn validate(&self) -> Result<(), ParamError> {
        if let Weights::Given(weights) = &self.weights {
            if weights.is_empty() {
                return Err(ParamError::new("weights", "needs one weight per input, got none"));
            }
            if let Some(i) = weights.iter().position(|w| !w.is_finite() || *w < 0.0) {
                return Err(ParamError::new(
                    format!("weights.{i}"),
                    format!("`{}` is not a non-negative number", weights[i]),
                ));
            }
            if weights.iter().all(|&w| w == 0.0) {
                return Err(ParamError::new("weights", "every weight is 0; at least one must be positive"));
            }
        }
        if self.grid_steps.is_some() && self.weights != Weights::Rule(WeightRule::Optimize) {
            return Err(ParamError::new("grid_steps", "`grid_steps` is read only with `weights = \"optimize\"`"));
        }
        let grid_steps = self.grid_steps();
        if !(1..=100).contains(&grid_steps) {
            return Err(ParamError::new("grid_steps", format!("`{grid_steps}` is not in 1..=100")));
        }
        Ok(())
    }

    /// Members whose label sets are known must share one.
    fn facts(&self, inputs: &[PlannedInput]) -> Result<Facts, ParamError> {
        let known: Vec<(&str, &vox_api::labels::LabelSet)> =
            inputs.iter().filter_map(|i| Some((i.name, i.facts.classes.as_ref()?))).collect();
        if let Some(&(first, classes)) = known.first()
            && let Some(&(other, differs)) = known.iter().find(|(_, c)| *c != classes)
        {
            let error = ReportError::LabelSetsDiffer {
                first: first.to_string(),
                first_classes: classes.listing(),
                other: other.to_string(),
                other_classes: differs.listing(),
            };
            return Err(ParamError::new("", error.to_string()));
        }
        Ok(Facts::combined(inputs))
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        Ok(self.vote(ctx)?)
    }

    /// Combines the members' predictions on new clips with the run's weights (`weights.json`),
    /// never weights of the new clips.
    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError> {
        Ok(self.apply_weights(&ctx.run, ctx.trained).map(|()| Applied::Wrote)?)
    }
}

impl EnsembleVote {
    fn grid_steps(&self) -> u32 {
        self.grid_steps.unwrap_or_else(default_grid_steps)
    }

    /// [`StageDef::run`] with the crate's error type.
    fn vote(&self, ctx: &StageContext) -> Result<(), ReportError> {
        if let Weights::Given(given) = &self.weights
            && given.len() != ctx.inputs.len()
        {
            return Err(ReportError::WeightCount { given: given.len(), inputs: ctx.inputs.len() });
        }
        let members = ctx.inputs.iter().map(Member::read).collect::<Result<Vec<_>, _>>()?;
        check_label_sets(&members)?;
        check_classes(&members, self.missing_classes)?;
        let labels = members.first().map(|m| m.predictions.labels.clone()).unwrap_or_default();
        let member_classes: Vec<&[String]> =
            members.iter().map(|m| m.predictions.classes.as_slice()).collect();
        let combiner = Combiner::new(&labels, &member_classes, self.method, self.missing_classes);
        for member in &members {
            let lacking: Vec<&str> = combiner
                .classes
                .iter()
                .filter(|c| !member.predictions.classes.contains(c))
                .map(String::as_str)
                .collect();
            if !lacking.is_empty() {
                debug!(
                    "input `{}` lacks classes {} ({:?})",
                    member.name,
                    lacking.join(", "),
                    self.missing_classes
                );
            }
        }
        let clips = align(&members, self.on_missing_clips)?;
        let optimizing = self.weights == Weights::Rule(WeightRule::Optimize);
        let bar = optimizing
            .then(|| ctx.progress_bar(weighting::candidate_count(members.len(), self.grid_steps()), "weights"));
        let tick = || {
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        };
        let context =
            Context { combiner: &combiner, clips: &clips, grid_steps: self.grid_steps(), tick: &tick };
        let weighting = weighting::obtain(&self.weights, &members, &context)?;
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        let rows: Vec<Prediction> =
            clips.iter().map(|rows| combiner.combine(rows, &weighting.weights)).collect();
        let ensemble = Predictions { labels, classes: combiner.classes.clone(), rows };
        ensemble.write(ctx.out_dir)?;
        write_json(&ctx.out_dir.join("weights.json"), &self.weights_document(&members, &weighting))?;
        let table = comparison(ctx.stage, &members, &weighting, &clips, &ensemble);
        let report_dir = ctx.report_dir().map_err(ReportError::io(ctx.out_dir.join("report")))?;
        write_table(&report_dir.join("ensemble.csv"), &table)?;
        let markdown = self.markdown(ctx.stage, &weighting, &ensemble, &table);
        write_text(&report_dir.join("ensemble.md"), &markdown)?;
        let weights: Vec<String> =
            members.iter().zip(&weighting.weights).map(|(m, w)| format!("`{}` {w:.3}", m.name)).collect();
        info!(
            "combined {} inputs ({}) on {} clips, weights {} ({})",
            members.len(),
            self.method.name(),
            ensemble.rows.len(),
            weights.join(", "),
            weighting.rule
        );
        Ok(())
    }

    /// [`StageDef::apply`] with the crate's error type.
    fn apply_weights(&self, ctx: &StageContext, trained: &Path) -> Result<(), ReportError> {
        let path = trained.join("weights.json");
        let text = std::fs::read_to_string(&path).map_err(ReportError::io(&path))?;
        let saved: SavedWeights =
            serde_json::from_str(&text).map_err(|source| ReportError::Json { path: path.clone(), source })?;
        if saved.members.len() != ctx.inputs.len() {
            return Err(ReportError::TrainedMembers { path, trained: saved.members.len(), inputs: ctx.inputs.len() });
        }
        let weights: Vec<f64> = saved.members.iter().map(|m| m.weight).collect();
        let members = ctx.inputs.iter().map(Member::read).collect::<Result<Vec<_>, _>>()?;
        check_label_sets(&members)?;
        let labels = members.first().map(|m| m.predictions.labels.clone()).unwrap_or_default();
        let member_classes: Vec<&[String]> = members.iter().map(|m| m.predictions.classes.as_slice()).collect();
        let combiner = Combiner::new(&labels, &member_classes, self.method, self.missing_classes);
        let clips = align(&members, self.on_missing_clips)?;
        let rows: Vec<Prediction> = clips.iter().map(|rows| combiner.combine(rows, &weights)).collect();
        Predictions { labels, classes: combiner.classes.clone(), rows }.write(ctx.out_dir)?;
        Ok(())
    }

    /// The `weights.json` document.
    fn weights_document<'a>(&self, members: &'a [Member], weighting: &'a Weighting) -> WeightsDocument<'a> {
        WeightsDocument {
            rule: weighting.rule,
            how: &weighting.how,
            method: self.method,
            missing_classes: self.missing_classes,
            members: members
                .iter()
                .enumerate()
                .map(|(m, member)| MemberWeight {
                    input: &member.name,
                    weight: weighting.weights[m],
                    raw: weighting.raw[m],
                    val_clips: weighting.val_clips.as_ref().map(|clips| clips[m]),
                })
                .collect(),
            search: weighting.search.as_ref(),
        }
    }

    /// The text of `ensemble.md`.
    fn markdown(
        &self,
        stage: &str,
        weighting: &Weighting,
        ensemble: &Predictions,
        table: &[TableRow],
    ) -> String {
        let codes: Vec<&str> = ensemble.classes.iter().map(String::as_str).collect();
        let mut text = format!("# Ensemble `{stage}`\n\n");
        text += &format!("- method: {}\n", self.method.describe());
        text += &format!("- weights: `{}`, {}\n", weighting.rule, weighting.how);
        text += &format!("- missing classes: {}\n", self.missing_classes.describe());
        text += &format!("- classes (the union of the members'): {}\n", codes.join(", "));
        text += &format!("- clips scored by every input: {}\n\n", ensemble.rows.len());
        let clips = table.first().map_or(0, |row| row.scores.clips);
        if clips == 0 {
            text += "No labelled `val` clip is scored by every input: no scores.\n\n";
        } else {
            text += &format!("Scores on the {clips} labelled `val` clips scored by every input:\n\n");
        }
        text += "| model | role | weight | clips | accuracy | macro-F1 | weighted-F1 | UAR |\n";
        text += "|---|---|---:|---:|---:|---:|---:|---:|\n";
        for row in table {
            let cells = row.cells(|v| format!("{v:.4}"));
            text += &format!("| {} |\n", cells.join(" | "));
        }
        text
    }
}

/// The `weights.json` document.
#[derive(Serialize)]
struct WeightsDocument<'a> {
    /// `given`, `equal`, `val-macro-f1`, `val-accuracy` or `optimize`.
    rule: &'a str,
    /// How the weights were obtained, for people.
    how: &'a str,
    method: Method,
    missing_classes: MissingClasses,
    /// One entry per input, in input order.
    members: Vec<MemberWeight<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    search: Option<&'a Search>,
}

/// What [`EnsembleVote::apply`] reads of a run's `weights.json`.
#[derive(Deserialize)]
struct SavedWeights {
    members: Vec<SavedWeight>,
}

/// One member's normalized weight in a run's `weights.json`.
#[derive(Deserialize)]
struct SavedWeight {
    weight: f64,
}

/// One input's entry in `weights.json`.
#[derive(Serialize)]
struct MemberWeight<'a> {
    input: &'a str,
    /// Normalized: the weights sum to 1.
    weight: f64,
    /// Before normalization (the given number, 1, the `val` score or the grid count).
    raw: f64,
    /// For the `val-*` rules: the labelled `val` clips the input was scored on.
    #[serde(skip_serializing_if = "Option::is_none")]
    val_clips: Option<usize>,
}

/// A row of the comparison table.
struct TableRow {
    /// The input name, or the stage's own name for the ensemble.
    model: String,
    /// The member's weight; `None` for the ensemble.
    weight: Option<f64>,
    /// Scores on the shared labelled `val` clips.
    scores: Scores,
}

impl TableRow {
    /// The row's cells, numbers formatted by `number`; metrics are empty when no clip was scored.
    fn cells(&self, number: impl Fn(f64) -> String) -> Vec<String> {
        let role = if self.weight.is_some() { "member" } else { "ensemble" };
        let s = &self.scores;
        let metrics = [s.accuracy, s.macro_f1, s.weighted_f1, s.uar]
            .map(|v| if s.clips == 0 { String::new() } else { number(v) });
        [
            self.model.clone(),
            role.to_string(),
            self.weight.map(&number).unwrap_or_default(),
            s.clips.to_string(),
        ]
        .into_iter()
        .chain(metrics)
        .collect()
    }
}

/// Each member, then the ensemble, scored on the labelled `val` clips every member scores.
fn comparison(
    stage: &str,
    members: &[Member],
    weighting: &Weighting,
    clips: &[Vec<&Prediction>],
    ensemble: &Predictions,
) -> Vec<TableRow> {
    let val: Vec<&Vec<&Prediction>> = clips.iter().filter(|rows| rows[0].split == Split::Val).collect();
    let labels = &ensemble.labels;
    let score = |pairs: Vec<(usize, usize)>| Scores::new(&Confusion::from_pairs(labels, &pairs));
    let mut table: Vec<TableRow> = members
        .iter()
        .enumerate()
        .map(|(m, member)| TableRow {
            model: member.name.clone(),
            weight: Some(weighting.weights[m]),
            scores: score(labelled_pairs(labels, &member.predictions.classes, val.iter().map(|rows| rows[m]))),
        })
        .collect();
    table.push(TableRow {
        model: stage.to_string(),
        weight: None,
        scores: score(labelled_pairs(labels, &ensemble.classes, ensemble.split(Split::Val))),
    });
    table
}

/// Writes `ensemble.csv`.
fn write_table(path: &Path, table: &[TableRow]) -> Result<(), ReportError> {
    write_csv(path, &TABLE_HEADER, table.iter().map(|row| row.cells(|v| v.to_string())))
}
