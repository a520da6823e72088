//! Planning pipelines whose cross-validation fans out into folds (see `vox_api::FanOut`).
//!
//! A fan-out stage that names its fold count (`folds = 5`) is expanded at plan time, like a
//! sweep axis: [`crate::sweep::build`] plans each fold and merges the plans, so the stages
//! above the fan-out (decoding, padding) run once and the ones below once per fold. One fold
//! per group (leave one speaker out) has a count only the data tells: the stages above the
//! fan-out run first (or, for `vox plan`, are found in the cache), the fan-out stage counts
//! the groups of its input, and the pipeline is planned again with that count. The stages
//! that ran for the count are cached, so the full run finds them and reports them as having
//! run in this invocation.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use vox_api::Input;

use crate::cache::Cache;
use crate::executor::Executor;
use crate::error::SpecError;
use crate::execute::{StageOutcome, Status};
use crate::plan::Plan;
use crate::preview::preview;
use crate::registry::Registry;
use crate::source::SourceMap;
use crate::spec::{Override, PipelineSpec};
use crate::sweep::{self, BuildError, Folds, SweepPlan, Variant};

/// How counts that depend on data are found.
pub enum Counting<'a> {
    /// Run the stages above the fan-out with this executor (`vox run`, `vox sweep`).
    Run(&'a dyn Executor),
    /// Only look in the cache (`vox plan`, `vox explain`, `vox dag`, `vox gc`).
    Cached(&'a Cache),
}

/// A planned pipeline (or sweep), folds expanded.
pub struct Planned {
    /// The merged plan.
    pub sweep: SweepPlan,
    /// The stages run to count folds, with their outcomes (empty when no count needed data).
    pub before: Vec<StageOutcome>,
}

/// Why a pipeline could not be planned with its folds.
pub enum Problem {
    /// The pipeline or an override is invalid.
    Spec(Vec<SpecError>),
    /// A stage above a fan-out failed, or the fan-out could not count its folds.
    Failed {
        /// The outcomes of the stages that ran.
        outcomes: Vec<StageOutcome>,
        /// What went wrong.
        why: CountProblem,
    },
    /// `Counting::Cached` and the stages above a fan-out have not run: the plan without folds.
    Unknown {
        /// The plan with its fan-outs unexpanded.
        sweep: Box<SweepPlan>,
        /// The fan-out stages' names.
        fans: Vec<String>,
    },
}

/// Why the folds of a fan-out could not be counted.
#[derive(Debug, thiserror::Error)]
pub enum CountProblem {
    /// A stage the count needs did not finish.
    #[error("stage `{stage}` {status} before the folds could be counted")]
    Unfinished {
        /// The stage.
        stage: String,
        /// How it ended (`failed` or `skipped`).
        status: &'static str,
    },
    /// Counts were given, yet these variants' were missing (a fault of the planner).
    #[error("fold counts missing for variants {0:?}")]
    Missing(Vec<usize>),
    /// The fan-out stage could not count its folds from its inputs.
    #[error("stage `{stage}` cannot count its folds: {error}")]
    Count {
        /// The fan-out stage.
        stage: String,
        /// Its error.
        error: vox_api::StageError,
    },
}

impl From<BuildError> for Problem {
    fn from(error: BuildError) -> Self {
        match error {
            BuildError::Spec(errors) => Self::Spec(errors),
            // Never from an unexpanded build, and counts are given for the expanded one.
            BuildError::NeedsCounts(variants) => Self::Failed { outcomes: Vec::new(), why: CountProblem::Missing(variants) },
        }
    }
}

/// Plans `variants` of `spec` with their folds expanded, finding counts that depend on data by
/// `counting`.
#[allow(clippy::too_many_arguments)]
pub fn plan(
    spec: &PipelineSpec,
    overrides: &[Override],
    variants: Vec<Variant>,
    registry: &Registry,
    sources: &SourceMap,
    cwd: &Path,
    counting: Counting,
) -> Result<Planned, Problem> {
    let none = BTreeMap::new();
    let needs = match sweep::build(spec, overrides, variants.clone(), registry, sources, cwd, &Folds::Expand(&none)) {
        Ok(sweep) => return Ok(Planned { sweep, before: Vec::new() }),
        Err(BuildError::Spec(errors)) => return Err(Problem::Spec(errors)),
        Err(BuildError::NeedsCounts(needs)) => needs,
    };
    let unexpanded = sweep::build(spec, overrides, variants.clone(), registry, sources, cwd, &Folds::Unexpanded)?;
    let plan = &unexpanded.plan;
    // Each variant's fan-out stage, as merged.
    let fans: Vec<(usize, usize)> = needs
        .iter()
        .filter_map(|&v| {
            let fan = unexpanded.members[v].iter().find(|(_, i)| plan.stages[*i].stage.fan_out().is_some())?;
            Some((v, fan.1))
        })
        .collect();
    let needed = ancestors(plan, fans.iter().map(|&(_, f)| f));
    let dirs: BTreeMap<usize, std::path::PathBuf> = match counting {
        Counting::Run(executor) => {
            let outcomes = executor.run(plan, Some(&needed));
            let ran: Vec<StageOutcome> = outcomes.iter().enumerate().filter(|(i, _)| needed.contains(i)).map(|(_, o)| o.clone()).collect();
            if let Some(failed) = ran.iter().find(|o| matches!(o.status, Status::Failed(_) | Status::Skipped(_))) {
                let why = CountProblem::Unfinished { stage: failed.name.clone(), status: failed.status.name() };
                return Err(Problem::Failed { outcomes: ran, why });
            }
            let dirs = outcomes.iter().enumerate().filter_map(|(i, o)| Some((i, o.out_dir.clone()?))).collect();
            return count_and_expand(spec, overrides, variants, registry, sources, cwd, &unexpanded, &fans, &dirs, ran);
        }
        Counting::Cached(cache) => {
            let previews = preview(plan, cache, &BTreeSet::new());
            let mut dirs = BTreeMap::new();
            for &i in &needed {
                match (&previews[i].components, previews[i].will_run) {
                    (Some(components), false) => {
                        dirs.insert(i, cache.out_dir(&components.key()));
                    }
                    _ => {
                        let fans = fans.iter().map(|&(_, f)| plan.stages[f].name.clone()).collect();
                        return Err(Problem::Unknown { sweep: Box::new(unexpanded), fans });
                    }
                }
            }
            dirs
        }
    };
    count_and_expand(spec, overrides, variants, registry, sources, cwd, &unexpanded, &fans, &dirs, Vec::new())
}

/// Counts each fan-out's folds from its inputs' folders `dirs` and plans the expanded sweep.
#[allow(clippy::too_many_arguments)]
fn count_and_expand(
    spec: &PipelineSpec,
    overrides: &[Override],
    variants: Vec<Variant>,
    registry: &Registry,
    sources: &SourceMap,
    cwd: &Path,
    unexpanded: &SweepPlan,
    fans: &[(usize, usize)],
    dirs: &BTreeMap<usize, std::path::PathBuf>,
    before: Vec<StageOutcome>,
) -> Result<Planned, Problem> {
    let plan = &unexpanded.plan;
    let mut counts = BTreeMap::new();
    for &(variant, fan) in fans {
        let stage = &plan.stages[fan];
        let inputs: Vec<Input> = stage
            .inputs
            .iter()
            .map(|&i| Input::new(plan.stages[i].name.clone(), plan.stages[i].output, dirs.get(&i).cloned().unwrap_or_default()))
            .collect();
        match stage.stage.fan_out_count(&inputs) {
            Ok(count) => {
                counts.insert(variant, count);
            }
            Err(error) => {
                let why = CountProblem::Count { stage: stage.name.clone(), error };
                return Err(Problem::Failed { outcomes: before, why });
            }
        }
    }
    let sweep = sweep::build(spec, overrides, variants, registry, sources, cwd, &Folds::Expand(&counts))?;
    Ok(Planned { sweep, before })
}

/// Every stage that `stages` depend on, themselves excluded.
pub fn ancestors(plan: &Plan, stages: impl Iterator<Item = usize>) -> BTreeSet<usize> {
    let mut found = BTreeSet::new();
    let mut pending: Vec<usize> = stages.flat_map(|s| plan.stages[s].inputs.clone()).collect();
    while let Some(i) = pending.pop() {
        if found.insert(i) {
            pending.extend(plan.stages[i].inputs.iter().copied());
        }
    }
    found
}

/// The descendants of `stages` (themselves included): what runs once per fold.
pub fn below(plan: &Plan, stages: &[String]) -> BTreeSet<usize> {
    let mut found: BTreeSet<usize> = plan.stages.iter().enumerate().filter(|(_, s)| stages.contains(&s.name)).map(|(i, _)| i).collect();
    for (i, stage) in plan.stages.iter().enumerate() {
        if stage.inputs.iter().any(|j| found.contains(j)) {
            found.insert(i);
        }
    }
    found
}

/// Outcomes of the final run with the statuses of the stages that ran to count folds: a stage
/// that ran then is reported as run, not as found in the cache.
pub fn merge_outcomes(mut outcomes: Vec<StageOutcome>, before: &[StageOutcome]) -> Vec<StageOutcome> {
    for outcome in &mut outcomes {
        if let Some(first) = before.iter().find(|b| b.name == outcome.name && matches!(b.status, Status::Ran))
            && matches!(outcome.status, Status::Cached)
        {
            outcome.status = Status::Ran;
            outcome.seconds = first.seconds;
            outcome.reasons = first.reasons.clone();
        }
    }
    outcomes
}
