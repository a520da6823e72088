//! The `ensemble-mean` stage kind: late fusion of models of emotion dimensions, each clip's
//! estimate the weighted mean of the members' (an eGeMAPS ridge and an SSL-embedding ridge, say).
//!
//! Output folder layout:
//!
//! ```text
//! estimates.csv          the ensemble's estimates, in the format of any regressor's
//! weights.json           each input's weight in each dimension (normalized over the inputs)
//!                        and the rule that gave it
//! report/ensemble.csv    the ensemble and each member on `val`: input,weight,dimension,clips,ccc
//! ```
//!
//! Members must estimate the same dimensions (in any order; the first member's order is kept)
//! of the same clips. Weights are given, equal, or each member's CCC on its rated `val` clips,
//! dimension by dimension (`val-ccc`, a negative CCC counting 0: a member good at arousal and
//! poor at valence weighs more in the first), never a score on `test`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::agreement::Agreement;
use vox_api::audio::Split;
use vox_api::estimates::{Estimates, EstimatesError};
use vox_api::{Applied, Applies, ApplyContext, ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

use crate::error::ReportError;
use crate::files::{write_csv, write_json};

/// Combines the estimates of several models of emotion dimensions clip by clip: the weighted
/// mean of the members' values in each dimension. Weights are given, equal, or each member's
/// CCC on its rated `val` clips in that dimension (never `test`). Writes `estimates.csv` (scored by
/// `evaluate` like any regressor's), `weights.json` and `report/ensemble.csv`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnsembleMean {
    /// The members' weights, normalized to sum to 1: an array with one non-negative number per
    /// input, in input order (not all zero), the same in every dimension, or a rule: `"equal"`
    /// (default) or `"val-ccc"` (in each dimension, each input's CCC on the rated clips of its
    /// `val` split; below 0 counts 0).
    #[serde(default = "default_weights")]
    pub weights: MeanWeights,
}

/// The members' weights: explicit numbers or a rule.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(untagged, expecting = "an array of non-negative numbers (one per input) or one of `equal`, `val-ccc`")]
pub enum MeanWeights {
    /// One non-negative weight per input, in input order; not all zero.
    Given(Vec<f64>),
    /// A rule that derives the weights.
    Rule(MeanRule),
}

/// A rule that derives the members' weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MeanRule {
    /// Every input weighs the same.
    Equal,
    /// In each dimension, each input's CCC on its rated `val` clips.
    ValCcc,
}

fn default_weights() -> MeanWeights {
    MeanWeights::Rule(MeanRule::Equal)
}

/// `weights.json`.
#[derive(Debug, Serialize, Deserialize)]
struct SavedWeights {
    rule: String,
    dimensions: Vec<String>,
    members: Vec<SavedMember>,
}

/// A member's weight in each dimension, aligned with [`SavedWeights::dimensions`].
#[derive(Debug, Serialize, Deserialize)]
struct SavedMember {
    input: String,
    weights: Vec<f64>,
}

impl StageDef for EnsembleMean {
    const KIND: &'static str = "ensemble-mean";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::many(&[ArtifactKind::Estimates]);
    const OUTPUT: ArtifactKind = ArtifactKind::Estimates;
    const APPLIES: Applies = Applies::Yes;

    fn validate(&self) -> Result<(), ParamError> {
        if let MeanWeights::Given(given) = &self.weights {
            if let Some(i) = given.iter().position(|w| !(w.is_finite() && *w >= 0.0)) {
                return Err(ParamError::new(format!("weights.{i}"), format!("must be a number >= 0, got {}", given[i])));
            }
            if given.iter().all(|w| *w == 0.0) {
                return Err(ParamError::new("weights", "at least one weight must be above 0"));
            }
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        Ok(self.combine(ctx)?)
    }

    /// Combines the members' estimates of new clips with the run's weights (`weights.json`).
    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError> {
        let path = ctx.trained.join("weights.json");
        let text = std::fs::read_to_string(&path).map_err(ReportError::io(&path))?;
        let saved: SavedWeights =
            serde_json::from_str(&text).map_err(|source| ReportError::Json { path: path.clone(), source })?;
        if saved.members.len() != ctx.run.inputs.len() {
            let error = ReportError::TrainedMembers { path, trained: saved.members.len(), inputs: ctx.run.inputs.len() };
            return Err(error.into());
        }
        let members = read_members(ctx.run.inputs)?;
        let weights: Vec<Vec<f64>> = saved.members.into_iter().map(|m| m.weights).collect();
        mean(&members, &weights)?.write(ctx.run.out_dir).map_err(ReportError::from)?;
        Ok(Applied::Wrote)
    }
}

impl EnsembleMean {
    /// [`StageDef::run`] with the crate's error type.
    fn combine(&self, ctx: &StageContext) -> Result<(), ReportError> {
        let members = read_members(ctx.inputs)?;
        let dimensions = members.first().map(|(_, e)| e.dimensions.clone()).unwrap_or_default();
        let (rule, raw): (&str, Vec<Vec<f64>>) = match &self.weights {
            MeanWeights::Given(given) if given.len() != members.len() => {
                return Err(ReportError::WeightCount { given: given.len(), inputs: members.len() });
            }
            MeanWeights::Given(given) => ("given", given.iter().map(|&w| vec![w; dimensions.len()]).collect()),
            MeanWeights::Rule(MeanRule::Equal) => ("equal", vec![vec![1.0; dimensions.len()]; members.len()]),
            MeanWeights::Rule(MeanRule::ValCcc) => {
                let mut scores = Vec::with_capacity(members.len());
                for (name, estimates) in &members {
                    let cccs = (0..dimensions.len())
                        .map(|d| {
                            let a = Agreement::of(&estimates.pairs(Split::Val, d));
                            a.map(|a| a.ccc.max(0.0))
                                .ok_or_else(|| ReportError::NoValRatings { input: name.clone(), dimension: dimensions[d].clone() })
                        })
                        .collect::<Result<Vec<f64>, _>>()?;
                    scores.push(cccs);
                }
                if let Some(d) = (0..dimensions.len()).find(|&d| scores.iter().all(|s| s[d] == 0.0)) {
                    return Err(ReportError::NoPositiveCcc { dimension: dimensions[d].clone() });
                }
                ("val-ccc", scores)
            }
        };
        // Normalized over the members, dimension by dimension.
        let totals: Vec<f64> = (0..dimensions.len()).map(|d| raw.iter().map(|w| w[d]).sum()).collect();
        let weights: Vec<Vec<f64>> = raw.iter().map(|w| w.iter().zip(&totals).map(|(w, t)| w / t).collect()).collect();
        let ensemble = mean(&members, &weights)?;
        ensemble.write(ctx.out_dir)?;
        let saved = SavedWeights {
            rule: rule.to_string(),
            dimensions: dimensions.clone(),
            members: members.iter().zip(&weights).map(|((name, _), w)| SavedMember { input: name.clone(), weights: w.clone() }).collect(),
        };
        write_json(&ctx.out_dir.join("weights.json"), &saved)?;
        let report_dir = ctx.report_dir().map_err(ReportError::io(ctx.out_dir.join("report")))?;
        let mut rows = Vec::new();
        let scored = members.iter().map(|(n, e)| (n.as_str(), e)).chain(std::iter::once(("ensemble", &ensemble)));
        for (m, (name, estimates)) in scored.enumerate() {
            for (d, dimension) in estimates.dimensions.iter().enumerate() {
                if let Some(a) = Agreement::of(&estimates.pairs(Split::Val, d)) {
                    let weight = weights.get(m).map_or_else(String::new, |w| w[d].to_string());
                    rows.push(vec![name.to_string(), weight, dimension.clone(), a.clips.to_string(), a.ccc.to_string()]);
                }
            }
        }
        write_csv(&report_dir.join("ensemble.csv"), &["input", "weight", "dimension", "clips", "ccc"], rows)?;
        let shown: Vec<String> = saved
            .members
            .iter()
            .map(|m| {
                let each: Vec<String> = dimensions.iter().zip(&m.weights).map(|(d, w)| format!("{d} {w:.3}")).collect();
                format!("{} ({})", m.input, each.join(", "))
            })
            .collect();
        let val = mean_ccc(&ensemble, Split::Val).map_or_else(|| "no rated val clips".to_string(), |c| format!("val CCC {c:.3}"));
        tracing::info!("{}: weights ({}) {}; {val}", ctx.stage, saved.rule, shown.join(", "));
        Ok(())
    }
}

/// Each input's name and estimates, dimensions lined up with the first input's; inputs whose
/// dimensions differ are an error.
fn read_members(inputs: &[vox_api::Input]) -> Result<Vec<(String, Estimates)>, ReportError> {
    let mut members: Vec<(String, Estimates)> = Vec::with_capacity(inputs.len());
    for input in inputs {
        let mut estimates = Estimates::read(&input.dir)?;
        if let Some((first, reference)) = members.first() {
            let mut sorted = (estimates.dimensions.clone(), reference.dimensions.clone());
            sorted.0.sort();
            sorted.1.sort();
            if sorted.0 != sorted.1 {
                return Err(ReportError::DimensionsDiffer {
                    first: first.clone(),
                    first_dimensions: reference.dimensions.join(", "),
                    other: input.name.clone(),
                    other_dimensions: estimates.dimensions.join(", "),
                });
            }
            let order: Vec<usize> =
                reference.dimensions.iter().filter_map(|d| estimates.dimensions.iter().position(|e| e == d)).collect();
            for row in &mut estimates.rows {
                row.truth = order.iter().map(|&i| row.truth[i]).collect();
                row.predicted = order.iter().map(|&i| row.predicted[i]).collect();
            }
            estimates.dimensions = reference.dimensions.clone();
        }
        members.push((input.name.clone(), estimates));
    }
    Ok(members)
}

/// The weighted mean of the members' estimates, clip by clip in the first member's order, with
/// `weights[member][dimension]` (normalized over the members); a clip some member lacks is an
/// error naming both members.
fn mean(members: &[(String, Estimates)], weights: &[Vec<f64>]) -> Result<Estimates, ReportError> {
    let estimates: Vec<&Estimates> = members.iter().map(|(_, e)| e).collect();
    Estimates::weighted_sum(&estimates, weights).map_err(|e| match e {
        EstimatesError::ClipsDiffer { file_id, lacking, having } => {
            ReportError::MissingEstimate { input: members[lacking].0.clone(), file_id, other: members[having].0.clone() }
        }
        other => ReportError::from(other),
    })
}

/// The CCC on the rated clips of `split`, averaged over the dimensions that have any.
fn mean_ccc(estimates: &Estimates, split: Split) -> Option<f64> {
    let cccs: Vec<f64> =
        (0..estimates.dimensions.len()).filter_map(|d| Agreement::of(&estimates.pairs(split, d)).map(|a| a.ccc)).collect();
    (!cccs.is_empty()).then(|| cccs.iter().sum::<f64>() / cccs.len() as f64)
}
