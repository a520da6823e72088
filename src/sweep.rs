//! Sweeps: variants of one pipeline (a grid over params, named variants, seed repetitions)
//! planned as ONE DAG in which a stage that is the same in several variants appears once, so
//! shared prefixes (decoding, features) run once; then a comparison table of the `evaluate`
//! stages' metrics per variant, mean +/- std over seeds, each row tested against the best one
//! on the same clips ([`crate::significance`]: McNemar's exact test, seeds paired).
//!
//! A merged stage keeps its pipeline name when no variant changes it; otherwise its name gets
//! the settings that reach it, e.g. `rf[rf.n_trees=300, seed=2]`: only the overrides of that
//! stage or of its ancestors, so `split[seed=2]` is shared by every `rf.n_trees`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use vox_api::scored::{self, ScoredClip};

use crate::error::{SpecError, SpecErrorKind};
use crate::execute::{StageOutcome, Status};
use crate::plan::{self, Plan, PlannedStage};
use crate::registry::Registry;
use crate::significance::{self, Discordant};
use crate::source::{Located, SourceMap};
use crate::spec::{Axis, Override, OverrideValue, PipelineSpec};

/// Columns of a report's `summary.csv` that can be compared.
pub const METRICS: [&str; 4] = vox_api::summary::METRICS;
/// Whether `metric` is one a report writes: a summary metric, or `ccc` / `ccc_<dimension>` of
/// estimates (what sweeps compare and searches optimize).
pub fn is_metric(metric: &str) -> bool {
    METRICS.contains(&metric) || vox_api::summary::is_dimension_metric(metric)
}

/// Metrics compared when the sweep does not say.
pub const DEFAULT_METRICS: [&str; 2] = ["macro_f1", "accuracy"];

/// One variant: the overrides that make it.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Named-variant name, if any.
    pub name: Option<String>,
    /// The named variant's `STAGE.PARAM` overrides.
    pub named: Vec<Override>,
    /// This grid combination's `STAGE.PARAM` overrides.
    pub grid: Vec<Override>,
    /// The seed repetition, if the sweep has seeds.
    pub seed: Option<u64>,
}

impl Variant {
    /// The pipeline as written: no overrides, no seed repetition.
    pub fn base() -> Self {
        Self { name: None, named: Vec::new(), grid: Vec::new(), seed: None }
    }

    /// The variant's settings without the seed: rows with the same group are averaged.
    pub fn group(&self) -> String {
        let mut parts: Vec<String> = self.name.iter().cloned().collect();
        parts.extend(self.grid.iter().map(describe));
        if parts.is_empty() { "base".into() } else { parts.join(", ") }
    }

    /// The variant's settings with its seed, as messages name it.
    fn label(&self) -> String {
        match self.seed {
            Some(seed) => format!("{}, seed={seed}", self.group()),
            None => self.group(),
        }
    }

    /// The settings that reach a stage whose ancestors (itself included) are `reached`.
    fn settings(&self, reached: impl Fn(&str) -> bool, seeded: bool) -> Vec<String> {
        let mut parts = Vec::new();
        if let Some(name) = &self.name
            && self.named.iter().any(|o| reached(&o.stage.value))
        {
            parts.push(name.clone());
        }
        parts.extend(self.grid.iter().filter(|o| reached(&o.stage.value)).map(describe));
        if let (Some(seed), true) = (self.seed, seeded) {
            parts.push(format!("seed={seed}"));
        }
        parts
    }
}

fn describe(o: &Override) -> String {
    format!("{}.{}={}", o.stage.value, o.param.value, o.value.value)
}

/// Expands `[sweep]` plus command-line `--grid` axes into variants: named variants x grid
/// combinations x seeds, in declaration order.
pub fn variants(spec: &PipelineSpec, cli_grid: Vec<Axis>) -> Result<Vec<Variant>, Vec<SpecError>> {
    let sweep = spec.sweep.clone().unwrap_or_default();
    let mut axes: Vec<Axis> =
        sweep.grid.into_iter().map(|(t, values)| (t, values.into_iter().map(OverrideValue::Toml).collect())).collect();
    axes.extend(cli_grid);
    let mut errors = Vec::new();
    let target = |t: &Located<String>, value: OverrideValue| {
        Override::new(t, value).ok_or_else(|| {
            let kind = SpecErrorKind::BadOverride {
                text: t.value.clone(),
                problem: "a sweep target must be `STAGE.PARAM`".into(),
                suggestion: None,
            };
            SpecError::at(kind, t.loc.clone())
        })
    };
    let mut named: Vec<(Option<String>, Vec<Override>)> = sweep
        .variants
        .into_iter()
        .map(|(name, sets)| {
            let overrides = sets.into_iter().filter_map(|(t, v)| target(&t, OverrideValue::Toml(v)).map_err(|e| errors.push(e)).ok());
            (Some(name), overrides.collect())
        })
        .collect();
    if named.is_empty() {
        named.push((None, Vec::new()));
    }
    let mut combos: Vec<Vec<Override>> = vec![Vec::new()];
    for (axis, values) in &axes {
        if values.is_empty() {
            let kind = SpecErrorKind::BadOverride { text: axis.value.clone(), problem: "a grid axis needs at least one value".into(), suggestion: None };
            errors.push(SpecError::at(kind, axis.loc.clone()));
        }
        combos = combos
            .iter()
            .flat_map(|combo| values.iter().map(|v| (combo.clone(), v.clone())).collect::<Vec<_>>())
            .filter_map(|(mut combo, v)| {
                combo.push(target(axis, v).map_err(|e| errors.push(e)).ok()?);
                Some(combo)
            })
            .collect();
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let seeds: Vec<Option<u64>> = if sweep.seeds.is_empty() { vec![None] } else { sweep.seeds.iter().copied().map(Some).collect() };
    let mut out = Vec::new();
    for (name, sets) in &named {
        for combo in &combos {
            for seed in &seeds {
                out.push(Variant { name: name.clone(), named: sets.clone(), grid: combo.clone(), seed: *seed });
            }
        }
    }
    Ok(out)
}

/// The merged plan of all variants.
pub struct SweepPlan {
    /// One DAG over every variant's stages, shared stages once.
    pub plan: Plan,
    /// The variants, in order.
    pub variants: Vec<Variant>,
    /// For each variant, its pipeline stages (by name) and their merged indices (a stage that
    /// runs per fold: its first fold's copy).
    pub members: Vec<Vec<(String, usize)>>,
}

/// Whether, and with which counts, cross-validation fan-outs are expanded into folds.
pub enum Folds<'a> {
    /// Leave fan-out stages as they are (their fold unset): the plan of what runs before the
    /// fold counts are known.
    Unexpanded,
    /// Expand every fan-out; a count the params do not give comes from the map, by variant.
    Expand(&'a BTreeMap<usize, usize>),
}

/// Why a merged plan could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// The pipeline or an override is invalid.
    Spec(Vec<SpecError>),
    /// A fan-out's fold count depends on data (one fold per group): these variants need it.
    NeedsCounts(Vec<usize>),
}

impl From<Vec<SpecError>> for BuildError {
    fn from(errors: Vec<SpecError>) -> Self {
        Self::Spec(errors)
    }
}

/// One fold of a variant: which stage fans out, and the fold.
struct FoldTag {
    /// The fan-out stage's pipeline name.
    stage: String,
    /// The fold, 1-based.
    fold: usize,
}

/// The merged stages so far.
#[derive(Default)]
struct Merger {
    /// Stages in topological order; `None` where a fold copy was gathered away.
    merged: Vec<Option<PlannedStage>>,
    by_signature: BTreeMap<String, usize>,
    names: BTreeSet<String>,
}

impl Merger {
    /// Merges one plan of `variant` (of one fold, when `fold` is given); returns its members.
    fn merge(&mut self, plan: Plan, variant: &Variant, fold: Option<&FoldTag>) -> Vec<(String, usize)> {
        let mut signatures: Vec<String> = Vec::new();
        let mut ancestors: Vec<BTreeSet<usize>> = Vec::new();
        let mut seeded: Vec<bool> = Vec::new();
        let mut local_to_merged: Vec<usize> = Vec::new();
        let mut member = Vec::new();
        for (i, stage) in plan.stages.into_iter().enumerate() {
            let inputs: Vec<usize> = stage.inputs.iter().map(|&j| local_to_merged[j]).collect();
            let signature = signature(&stage, stage.inputs.iter().map(|&j| signatures[j].as_str()));
            let mut up: BTreeSet<usize> = [i].into();
            for &j in &stage.inputs {
                up.extend(ancestors[j].iter().copied());
            }
            let is_seeded = stage.inherits_seed || stage.inputs.iter().any(|&j| seeded[j]);
            let name = stage.name.clone();
            let index = match self.by_signature.get(&signature) {
                Some(&index) => index,
                None => {
                    let reached = |target: &str| {
                        target == name || up.iter().any(|&a| member.get(a).is_some_and(|(n, _): &(String, usize)| n == target))
                    };
                    let mut settings = variant.settings(reached, is_seeded);
                    if let Some(tag) = fold.filter(|tag| reached(&tag.stage)) {
                        settings.insert(settings.len() - usize::from(is_seeded && variant.seed.is_some()), format!("fold={}", tag.fold));
                    }
                    let unique = self.unique(if settings.is_empty() { name.clone() } else { format!("{name}[{}]", settings.join(", ")) });
                    self.merged.push(Some(PlannedStage { name: unique, inputs, ..stage }));
                    self.by_signature.insert(signature.clone(), self.merged.len() - 1);
                    self.merged.len() - 1
                }
            };
            signatures.push(signature);
            ancestors.push(up);
            seeded.push(is_seeded);
            local_to_merged.push(index);
            member.push((name, index));
        }
        member
    }

    /// `name`, or `name#2`, `name#3`.. when taken.
    fn unique(&mut self, name: String) -> String {
        let mut unique = name.clone();
        let mut n = 2;
        while self.names.contains(&unique) {
            unique = format!("{name}#{n}");
            n += 1;
        }
        self.names.insert(unique.clone());
        unique
    }

    /// Gathers a variant's fold copies of each gathering stage into one stage whose inputs are
    /// every fold's (see `vox_api::StageDef::GATHERS`); returns the variant's members.
    fn gather(&mut self, folds: &[Vec<(String, usize)>]) -> Result<Vec<(String, usize)>, String> {
        let count = folds.len();
        let mut members = folds[0].clone();
        let mut gathered: BTreeMap<usize, usize> = BTreeMap::new();
        for (position, (name, _)) in folds[0].iter().enumerate() {
            let copies: Vec<usize> = folds.iter().map(|member| member[position].1).collect();
            if copies.iter().all(|&c| c == copies[0]) {
                continue;
            }
            let Some(first) = self.merged[copies[0]].as_ref() else { continue };
            for &input in &first.inputs {
                if gathered.contains_key(&input) {
                    return Err(format!("stage `{name}` reads `{}`, which gathers the folds; nothing may follow a stage that gathers", folds[0].iter().find(|(_, i)| *i == input).map_or("?", |(n, _)| n.as_str())));
                }
            }
            if !first.gathers {
                continue;
            }
            let pipeline_name = |index: usize| folds.iter().flatten().find(|(_, i)| *i == index).map_or(String::new(), |(n, _)| n.clone());
            let taken: Vec<PlannedStage> = copies.iter().filter_map(|&c| self.merged[c].take()).collect();
            let mut inputs = Vec::new();
            let mut input_folds = Vec::new();
            for q in 0..taken[0].inputs.len() {
                let per_fold: Vec<usize> = taken.iter().map(|s| s.inputs[q]).collect();
                if per_fold.iter().all(|&i| i == per_fold[0]) {
                    inputs.push(per_fold[0]);
                    input_folds.push(None);
                    continue;
                }
                for (k, &index) in per_fold.iter().enumerate() {
                    inputs.push(index);
                    input_folds.push(Some(vox_api::Fold { fold: k + 1, folds: count, of: pipeline_name(index) }));
                }
            }
            let last = *copies.last().unwrap_or(&copies[0]);
            let mut stage = taken.into_iter().next_back().ok_or("no fold copy")?;
            stage.name = self.unique(without_fold(&stage.name));
            stage.inputs = inputs;
            stage.input_folds = input_folds;
            self.merged[last] = Some(stage);
            for &copy in &copies {
                gathered.insert(copy, last);
            }
            members[position].1 = last;
        }
        Ok(members)
    }
}

/// `report[fold=3, seed=2]` -> `report[seed=2]`, `report[fold=3]` -> `report`.
pub fn without_fold(name: &str) -> String {
    let Some((base, settings)) = name.split_once('[') else { return name.to_string() };
    let kept: Vec<&str> =
        settings.trim_end_matches(']').split(", ").filter(|s| !s.starts_with("fold=")).collect();
    if kept.is_empty() { base.to_string() } else { format!("{base}[{}]", kept.join(", ")) }
}

/// Plans every variant and merges the plans; `base` overrides (`--set`) apply to all. A
/// variant with a cross-validation fan-out is planned once per fold (per `folds`): its stages
/// below the fan-out are named `NAME[fold=K]`, and a gathering stage's copies become one.
pub fn build(
    spec: &PipelineSpec,
    base: &[Override],
    variants: Vec<Variant>,
    registry: &Registry,
    sources: &SourceMap,
    cwd: &Path,
    folds: &Folds,
) -> Result<SweepPlan, BuildError> {
    let mut merger = Merger::default();
    let mut members = Vec::new();
    let mut seed = spec.seed;
    let mut needs = Vec::new();
    for (v, variant) in variants.iter().enumerate() {
        let mut overrides = base.to_vec();
        overrides.extend(variant.named.iter().chain(&variant.grid).cloned());
        if let Some(s) = variant.seed {
            let at = Located { value: "pipeline.seed".to_string(), loc: spec.name.loc.clone() };
            overrides.extend(Override::new(&at, OverrideValue::Toml(toml::Value::Integer(s as i64))));
        }
        let plan = plan::build(spec.clone(), &overrides, registry, sources, cwd).map_err(|errors| {
            // Where the pipeline plans without the variant's (or `--set`'s) overrides, they made
            // the errors: say so, for the line an error points at may be fine as written.
            let plans = |overrides: &[Override]| plan::build(spec.clone(), overrides, registry, sources, cwd).is_ok();
            if plans(base) {
                let context = format!("in sweep variant `{}`", variant.label());
                return errors.into_iter().map(|e| e.made_by(context.clone())).collect();
            }
            if !base.is_empty() && plans(&[]) {
                let context = format!("with {}", base.iter().map(|o| format!("`--set {}`", describe(o))).collect::<Vec<_>>().join(", "));
                // An error that points at the `--set` itself needs no more.
                let on_command_line = |e: &SpecError| e.loc.as_ref().is_some_and(|l| sources.files[l.file].path.is_none());
                return errors.into_iter().map(|e| if on_command_line(&e) { e } else { e.made_by(context.clone()) }).collect();
            }
            errors
        })?;
        seed = plan.seed;
        let fans: Vec<(usize, vox_api::FanOut)> =
            plan.stages.iter().enumerate().filter_map(|(i, s)| Some((i, s.stage.fan_out()?))).collect();
        let expand = match (folds, fans.as_slice()) {
            (Folds::Unexpanded, _) | (_, []) => None,
            (Folds::Expand(counts), [(i, fan)]) => match fan.count.or_else(|| counts.get(&v).copied()) {
                Some(count) => Some((plan.stages[*i].name.clone(), fan.param, count)),
                None => {
                    needs.push(v);
                    continue;
                }
            },
            (Folds::Expand(_), [_, (i, _), ..]) => {
                let stage = &plan.stages[*i];
                let kind = SpecErrorKind::BadParam {
                    stage: stage.name.clone(),
                    what: "params".into(),
                    message: "a pipeline can have one cross-validation split; this is its second".into(),
                };
                return Err(BuildError::Spec(vec![SpecError::at(kind, stage.loc.clone())]));
            }
        };
        let Some((stage, param, count)) = expand else {
            members.push(merger.merge(plan, variant, None));
            continue;
        };
        let mut per_fold = Vec::with_capacity(count);
        for fold in 1..=count {
            let at = Located { value: format!("{stage}.{param}"), loc: spec.name.loc.clone() };
            let mut fold_overrides = overrides.clone();
            fold_overrides.extend(Override::new(&at, OverrideValue::Toml(toml::Value::Integer(fold as i64))));
            let plan = plan::build(spec.clone(), &fold_overrides, registry, sources, cwd)?;
            per_fold.push(merger.merge(plan, variant, Some(&FoldTag { stage: stage.clone(), fold })));
        }
        let gathered = merger.gather(&per_fold).map_err(|message| {
            let kind = SpecErrorKind::BadParam { stage: stage.clone(), what: "params".into(), message };
            BuildError::Spec(vec![SpecError::at(kind, spec.name.loc.clone())])
        })?;
        members.push(gathered);
    }
    if !needs.is_empty() {
        return Err(BuildError::NeedsCounts(needs));
    }
    // Drop the gathered copies' slots, renumbering inputs and members.
    let mut renumber: Vec<Option<usize>> = Vec::with_capacity(merger.merged.len());
    let mut stages = Vec::new();
    for slot in merger.merged {
        renumber.push(slot.as_ref().map(|_| stages.len()));
        if let Some(mut stage) = slot {
            stage.inputs = stage.inputs.iter().filter_map(|&i| renumber[i]).collect();
            stages.push(stage);
        }
    }
    let members =
        members.into_iter().map(|m| m.into_iter().filter_map(|(name, i)| Some((name, renumber[i]?))).collect()).collect();
    Ok(SweepPlan { plan: Plan { name: spec.name.value.clone(), seed, stages }, variants, members })
}

/// A structural identity: kind, version, resolved params, backend, path params, and the
/// identities of the inputs. Equal signatures compute the same thing.
fn signature<'a>(stage: &PlannedStage, inputs: impl Iterator<Item = &'a str>) -> String {
    let mut hasher = blake3::Hasher::new();
    let params = serde_json::to_vec(&stage.stage.params()).unwrap_or_default();
    let external = serde_json::to_vec(&stage.external).unwrap_or_default();
    for part in [stage.kind.as_bytes(), &stage.version.to_le_bytes(), &params, stage.backend.as_deref().unwrap_or("").as_bytes(), &external] {
        hasher.update(&(part.len() as u64).to_le_bytes()).update(part);
    }
    for input in inputs {
        hasher.update(input.as_bytes());
    }
    hasher.finalize().to_hex().to_string()
}

/// One row of the comparison: a variant group, an evaluate stage, a model, its metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ComparisonRow {
    /// The variant settings without the seed.
    pub variant: String,
    /// The model (the evaluate stage's input, by its pipeline name).
    pub model: String,
    /// The split scored.
    pub split: String,
    /// Each metric's values over seeds.
    pub values: BTreeMap<String, Vec<f64>>,
    /// The scored clips of each seed's run (the seed, when the sweep has seeds).
    pub clips: BTreeMap<Option<u64>, Vec<ScoredClip>>,
    /// How the row compares with the best row of its split.
    pub versus_best: Versus,
    /// The `by` column of which it scores one group (its split reads `test · condition = ...`);
    /// `None` for the whole split.
    pub by: Option<String>,
}

/// A comparison row against the best row of its split (by the first metric's mean).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Versus {
    /// It is the best row.
    Best,
    /// McNemar's p-value on the clips both scored (seeds paired, counts summed).
    Tested(f64),
    /// No seed of the two scored the same clips (or a report lacks its clips).
    #[default]
    NotComparable,
}

impl Versus {
    /// The table cell: `best`, a p-value, or `-`.
    fn cell(self) -> String {
        match self {
            Self::Best => "best".into(),
            Self::Tested(p) => significance::describe(p),
            Self::NotComparable => "-".into(),
        }
    }
}

/// Reads every variant's `evaluate` summaries into rows, grouped over seeds; for each column of
/// `by`, a row per group too, its split `<split> · <column> = <group>` (tested against the best
/// row of the same group).
pub fn compare(sweep: &SweepPlan, outcomes: &[StageOutcome], metrics: &[String], by: &[String]) -> Vec<ComparisonRow> {
    let mut rows: Vec<ComparisonRow> = Vec::new();
    for (variant, member) in sweep.variants.iter().zip(&sweep.members) {
        for (_, index) in member {
            let outcome = &outcomes[*index];
            if !matches!(outcome.status, Status::Ran | Status::Cached) {
                continue;
            }
            let Some(dir) = &outcome.out_dir else { continue };
            // Estimates of emotion dimensions: their CCC from `dimensions.csv`, per split.
            let dimension_rows = vox_api::summary::read_dimensions(dir);
            for metric in metrics.iter().filter(|m| vox_api::summary::is_dimension_metric(m)) {
                let splits: BTreeSet<&String> = dimension_rows.iter().filter_map(|r| r.get("split")).collect();
                for split in splits {
                    for (input, value) in vox_api::summary::dimension_scores(&dimension_rows, split, metric) {
                        let model = input.split('[').next().unwrap_or(&input).to_string();
                        let row = row_of(&mut rows, variant.group(), model, split.clone());
                        row.values.entry(metric.clone()).or_default().push(value);
                    }
                }
            }
            // Report stages are those whose outputs hold a summary (`vox_api::summary`).
            let mut splits: BTreeMap<String, String> = BTreeMap::new();
            for record in vox_api::summary::read(dir) {
                let input = record.get("input").cloned().unwrap_or_default();
                let model = input.split('[').next().unwrap_or(&input).to_string();
                let split = record.get("split").cloned().unwrap_or_default();
                splits.entry(input.clone()).or_insert_with(|| split.clone());
                let row = row_of(&mut rows, variant.group(), model, split);
                if let Ok(Some(scored)) = scored::read(&dir.join("report"), &input) {
                    row.clips.insert(variant.seed, scored.clips);
                }
                push_values(row, &record, metrics);
            }
            // Each group of each `by` column, from the report's `by_<column>.csv` (of the split
            // it scored, its summary's first row).
            let mut scored_clips: BTreeMap<String, Option<scored::Scored>> = BTreeMap::new();
            for column in by {
                for record in vox_api::summary::read_by(&dir.join("report"), column) {
                    let (Some(input), Some(group)) = (record.get("input"), record.get(column.as_str())) else { continue };
                    let Some(split) = splits.get(input) else { continue };
                    let model = input.split('[').next().unwrap_or(input).to_string();
                    let row = row_of(&mut rows, variant.group(), model, format!("{split} · {column} = {group}"));
                    row.by = Some(column.clone());
                    let scored = scored_clips.entry(input.clone()).or_insert_with(|| scored::read(&dir.join("report"), input).ok().flatten());
                    if let Some(clips) = scored.as_ref().and_then(|s| s.in_group(column, group)) {
                        row.clips.insert(variant.seed, clips);
                    }
                    push_values(row, &record, metrics);
                }
            }
        }
    }
    if let Some(first) = metrics.first() {
        test_against_best(&mut rows, first);
    }
    rows
}

/// Adds each of `metrics` that `record` (a summary's or a `by_<column>.csv`'s row) holds to
/// `row`'s values.
fn push_values(row: &mut ComparisonRow, record: &BTreeMap<String, String>, metrics: &[String]) {
    for metric in metrics {
        if let Some(v) = record.get(metric).and_then(|v| v.parse::<f64>().ok()) {
            row.values.entry(metric.clone()).or_default().push(v);
        }
    }
}

/// The row of `rows` for (`variant`, `model`, `split`), added when there is none.
fn row_of(rows: &mut Vec<ComparisonRow>, variant: String, model: String, split: String) -> &mut ComparisonRow {
    match rows.iter().position(|r| r.variant == variant && r.model == model && r.split == split) {
        Some(p) => &mut rows[p],
        None => {
            rows.push(ComparisonRow {
                variant,
                model,
                split,
                values: BTreeMap::new(),
                clips: BTreeMap::new(),
                versus_best: Versus::NotComparable,
                by: None,
            });
            rows.last_mut().expect("just pushed")
        }
    }
}

/// The metrics to compare when the sweep names none: [`DEFAULT_METRICS`], with `ccc` where a
/// report scored estimates of emotion dimensions (only `ccc` when no report scored classes).
pub fn default_metrics(outcomes: &[StageOutcome]) -> Vec<String> {
    let dirs = || outcomes.iter().filter(|o| matches!(o.status, Status::Ran | Status::Cached)).filter_map(|o| o.out_dir.as_ref());
    let classes = dirs().any(|d| !vox_api::summary::read(d).is_empty());
    let dimensions = dirs().any(|d| !vox_api::summary::read_dimensions(d).is_empty());
    let mut metrics: Vec<String> = if classes || !dimensions { DEFAULT_METRICS.iter().map(|m| m.to_string()).collect() } else { Vec::new() };
    if dimensions {
        metrics.push(vox_api::summary::CCC.to_string());
    }
    metrics
}

/// Sets each row's [`ComparisonRow::versus_best`]: against the row of its split with the best
/// mean `metric`, on the seeds whose runs scored the same clips (discordant counts summed).
fn test_against_best(rows: &mut [ComparisonRow], metric: &str) {
    let mean = |row: &ComparisonRow| row.values.get(metric).map_or(f64::NEG_INFINITY, |v| mean_std(v).0);
    let splits: BTreeSet<String> = rows.iter().map(|r| r.split.clone()).collect();
    for split in splits {
        let Some(best) = (0..rows.len())
            .filter(|&i| rows[i].split == split)
            .max_by(|&a, &b| mean(&rows[a]).total_cmp(&mean(&rows[b])).then(b.cmp(&a)))
        else {
            continue;
        };
        let best_clips = rows[best].clips.clone();
        rows[best].versus_best = Versus::Best;
        for row in rows.iter_mut().enumerate().filter(|(i, r)| *i != best && r.split == split).map(|(_, r)| r) {
            let pairs: Vec<Discordant> = row
                .clips
                .iter()
                .filter_map(|(seed, clips)| Discordant::of(best_clips.get(seed)?, clips))
                .collect();
            row.versus_best = match pairs.into_iter().reduce(|a, b| a + b) {
                Some(counts) => Versus::Tested(counts.p_value()),
                None => Versus::NotComparable,
            };
        }
    }
}


/// Mean and sample standard deviation (0 for one value).
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

/// The comparison as a markdown table (mean ± std over n seeds).
pub fn markdown(rows: &[ComparisonRow], metrics: &[String]) -> String {
    let mut out = format!("| variant | model | split | n | {} | vs best (McNemar) |\n", metrics.join(" | "));
    let _ = writeln!(out, "|---|---|---|---|{}---|", "---|".repeat(metrics.len()));
    for row in rows {
        let n = row.values.values().map(Vec::len).max().unwrap_or(0);
        let cells: Vec<String> = metrics
            .iter()
            .map(|m| match row.values.get(m) {
                Some(v) if v.len() > 1 => {
                    let (mean, std) = mean_std(v);
                    format!("{mean:.4} ± {std:.4}")
                }
                Some(v) if v.len() == 1 => format!("{:.4}", v[0]),
                _ => "-".into(),
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {n} | {} | {} |",
            row.variant,
            row.model,
            row.split,
            cells.join(" | "),
            row.versus_best.cell()
        );
    }
    if rows.iter().any(|r| matches!(r.versus_best, Versus::Tested(_))) {
        let _ = writeln!(
            out,
            "\n`vs best`: McNemar's exact test against the row with the best mean {} of the same split, on the \
             clips both scored (seeds paired); \"not significant\" means p >= {}: the data do not tell the two apart.",
            metrics.first().map_or("", String::as_str),
            significance::ALPHA
        );
    }
    out
}

/// The comparison as CSV: one row per variant and model, `<metric>_mean`, `<metric>_std`.
pub fn csv_table(rows: &[ComparisonRow], metrics: &[String]) -> String {
    let mut out = String::from("variant,model,split,n");
    for m in metrics {
        let _ = write!(out, ",{m}_mean,{m}_std");
    }
    out.push_str(",p_vs_best\n");
    for row in rows {
        let n = row.values.values().map(Vec::len).max().unwrap_or(0);
        let _ = write!(out, "\"{}\",{},{},{n}", row.variant.replace('"', "\"\""), row.model, row.split);
        for m in metrics {
            let (mean, std) = row.values.get(m).map_or((f64::NAN, f64::NAN), |v| mean_std(v));
            let _ = write!(out, ",{mean},{std}");
        }
        let p = match row.versus_best {
            Versus::Tested(p) => p.to_string(),
            Versus::Best => "best".into(),
            Versus::NotComparable => String::new(),
        };
        let _ = writeln!(out, ",{p}");
    }
    out
}

/// Draws one bar chart per metric into `dir` (`sweep_<metric>.png/.svg`).
pub fn plot(rows: &[ComparisonRow], metrics: &[String], pipeline: &str, dir: &Path) -> Result<Vec<PathBuf>, String> {
    use vox_report::plot::comparison::{Bar, ComparisonFigure};
    use vox_report::plot::{ImageFormat, save};
    let mut written = Vec::new();
    // The whole split's rows: a group's are in the tables.
    let rows: Vec<&ComparisonRow> = rows.iter().filter(|r| r.by.is_none()).collect();
    for metric in metrics {
        let bars = rows
            .iter()
            .filter_map(|r| {
                let (mean, std) = mean_std(r.values.get(metric)?);
                Some(Bar { label: format!("{} · {}", r.variant, r.model), mean, std })
            })
            .collect();
        let title = format!("{pipeline}: {metric} per variant ({} split, mean ± std over seeds)", rows.first().map_or("", |r| r.split.as_str()));
        let figure = ComparisonFigure { title, metric: metric.clone(), bars };
        let stem = format!("sweep_{metric}");
        save(&figure, dir, &stem, &[ImageFormat::Png, ImageFormat::Svg]).map_err(|e| e.to_string())?;
        written.push(dir.join(format!("{stem}.png")));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_and_tables() {
        assert_eq!(mean_std(&[0.5]), (0.5, 0.0));
        let (mean, std) = mean_std(&[0.6, 0.8]);
        assert!((mean - 0.7).abs() < 1e-12 && (std - 0.141_421_356_237_309_5).abs() < 1e-12);
        let rows = vec![ComparisonRow {
            variant: "rf.n_trees=10".into(),
            model: "rf".into(),
            split: "val".into(),
            values: [("macro_f1".to_string(), vec![0.6, 0.8])].into(),
            clips: BTreeMap::new(),
            versus_best: Versus::Best,
            by: None,
        }];
        let metrics = vec!["macro_f1".to_string(), "accuracy".to_string()];
        assert_eq!(
            markdown(&rows, &metrics),
            "| variant | model | split | n | macro_f1 | accuracy | vs best (McNemar) |\n|---|---|---|---|---|---|---|\n| rf.n_trees=10 | rf | val | 2 | 0.7000 ± 0.1414 | - | best |\n"
        );
        assert!(csv_table(&rows, &metrics).starts_with("variant,model,split,n,macro_f1_mean,macro_f1_std,accuracy_mean,accuracy_std,p_vs_best\n\"rf.n_trees=10\",rf,val,2,0.7"));
    }
}
