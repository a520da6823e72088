//! A [`PipelineSpec`] checked against the [`Registry`] -> a [`Plan`]: configured stages in a
//! petgraph DAG, in a deterministic topological order (declaration order breaks ties).
//!
//! Every problem is collected before anything runs: unknown kinds, inputs and params (with "did
//! you mean"), bad values, input arity and artifact types, backends, cycles (with their path),
//! and what a stage refuses of its inputs' [`Facts`] (scoring a split no stage makes, merging
//! corpora of different classes), each at the TOML line of the param it concerns.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::cmp::Reverse;
use std::path::{Path, PathBuf};

use petgraph::graph::{DiGraph, NodeIndex};
use vox_api::{ArtifactKind, Arity, Facts, Fold, ParamError, PlannedInput, Stage, StageKind};

use crate::error::{BackendProblem, SpecError, SpecErrorKind, closest};
use crate::registry::{self, ParamType, Registry};
use crate::source::{Loc, Located, SourceMap};
use crate::spec::{Override, OverrideValue, Param, PipelineSpec, StageSpec};

/// A validated pipeline, ready to be keyed and run.
pub struct Plan {
    /// `[pipeline] name`.
    pub name: String,
    /// The pipeline seed.
    pub seed: u64,
    /// The stages in topological order.
    pub stages: Vec<PlannedStage>,
}

/// One configured stage.
pub struct PlannedStage {
    /// The stage name.
    pub name: String,
    /// The kind's name.
    pub kind: &'static str,
    /// The kind's implementation version.
    pub version: u32,
    /// What the stage produces.
    pub output: ArtifactKind,
    /// Whether it must not run beside another exclusive stage.
    pub exclusive: bool,
    /// Whether it shares work across splits, and so runs beside no other such stage (see
    /// `vox_api::StageDef::SHARES_WORK`).
    pub shares_work: bool,
    /// Whether it gathers the folds of a cross-validation (see `vox_api::StageDef::GATHERS`).
    pub gathers: bool,
    /// Whether its outputs carry stage names, which are then in its key (see
    /// `vox_api::StageDef::OUTPUT_NAMES`).
    pub output_names: bool,
    /// The configured stage.
    pub stage: Box<dyn Stage>,
    /// Indices into [`Plan::stages`] of the inputs, in the pipeline's order.
    pub inputs: Vec<usize>,
    /// Each input's fold, for a stage that gathers folds (`None` for the others).
    pub input_folds: Vec<Option<Fold>>,
    /// The chosen backend.
    pub backend: Option<String>,
    /// What its cluster job asks for, as the pipeline wrote it (`resources = {...}`).
    pub resources: Option<crate::spec::Resources>,
    /// Path params with their resolved absolute paths (keyed by content, not by path).
    pub external: BTreeMap<String, PathBuf>,
    /// Whether its `seed` param is the pipeline's seed (the stage declares one and leaves it unset).
    pub inherits_seed: bool,
    /// Where the stage was declared.
    pub loc: Loc,
}

impl Plan {
    /// The index of the stage named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| s.name == name)
    }

    /// Graphviz DOT of the DAG.
    pub fn dot(&self) -> String {
        let mut out = format!("digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n", self.name);
        for stage in &self.stages {
            out.push_str(&format!("  \"{}\" [label=\"{}\\n({})\"];\n", stage.name, stage.name, stage.kind));
        }
        for stage in &self.stages {
            for &input in &stage.inputs {
                out.push_str(&format!("  \"{}\" -> \"{}\";\n", self.stages[input].name, stage.name));
            }
        }
        out.push_str("}\n");
        out
    }
}

/// A stage's kind, configured stage and resolved path params.
type Configured<'r> = (&'r dyn StageKind, Box<dyn Stage>, BTreeMap<String, PathBuf>, bool);

/// Builds the plan, or returns every problem found, sorted by location.
pub fn build(
    mut spec: PipelineSpec,
    overrides: &[Override],
    registry: &Registry,
    sources: &SourceMap,
    cwd: &Path,
) -> Result<Plan, Vec<SpecError>> {
    let mut errors = Vec::new();
    apply_overrides(&mut spec, overrides, registry, &mut errors);
    let mut configured: Vec<Option<Configured>> =
        spec.stages.iter().map(|stage| configure(stage, registry, sources, cwd, spec.seed, &mut errors)).collect();
    add_implied_stages(&mut spec, &mut configured, registry, sources, cwd, &mut errors);

    let owned_names: Vec<String> = spec.stages.iter().map(|s| s.name.clone()).collect();
    let names: Vec<&str> = owned_names.iter().map(String::as_str).collect();
    for stage in &spec.stages {
        for (i, input) in stage.inputs.iter().enumerate() {
            if !names.contains(&input.value.as_str()) {
                let suggestion = closest(&input.value, names.iter().copied().filter(|n| *n != stage.name));
                let kind = SpecErrorKind::UnknownInput { stage: stage.name.clone(), input: input.value.clone(), suggestion };
                errors.push(SpecError::at(kind, input.loc.clone()));
            } else if stage.inputs[..i].iter().any(|p| p.value == input.value) {
                let kind = SpecErrorKind::DuplicateInput { stage: stage.name.clone(), input: input.value.clone() };
                errors.push(SpecError::at(kind, input.loc.clone()));
            }
        }
    }
    check_inputs(&spec, &configured, &mut errors);

    let mut graph = DiGraph::<usize, usize>::new();
    let nodes: Vec<NodeIndex> = (0..spec.stages.len()).map(|i| graph.add_node(i)).collect();
    for (i, stage) in spec.stages.iter().enumerate() {
        for (j, input) in stage.inputs.iter().enumerate() {
            if let Some(from) = names.iter().position(|n| *n == input.value) {
                graph.add_edge(nodes[from], nodes[i], j);
            }
        }
    }
    let order = match topological_order(&graph) {
        Ok(order) => order,
        Err(cycle) => {
            let path: Vec<&str> = cycle.iter().map(|&i| names[i]).collect();
            let (last, first) = (cycle[cycle.len() - 2], cycle[cycle.len() - 1]);
            let closing = spec.stages[first].inputs.iter().find(|inp| inp.value == names[last]);
            let loc = closing.map_or_else(|| spec.stages[first].name_loc.clone(), |inp| inp.loc.clone());
            errors.push(SpecError::at(SpecErrorKind::Cycle { path: path.join(" -> ") }, loc));
            Vec::new()
        }
    };

    check_facts(&spec, &configured, &order, &names, &mut errors);

    if !errors.is_empty() {
        errors.sort_by_key(|e| e.loc.as_ref().map(Loc::order));
        return Err(errors);
    }
    let position: BTreeMap<usize, usize> = order.iter().enumerate().map(|(pos, &i)| (i, pos)).collect();
    let mut stages: Vec<Option<PlannedStage>> = (0..order.len()).map(|_| None).collect();
    for (i, (stage, conf)) in spec.stages.into_iter().zip(configured).enumerate() {
        let Some((kind, configured_stage, external, inherits_seed)) = conf else { continue };
        let inputs: Vec<usize> = stage
            .inputs
            .iter()
            .filter_map(|inp| names.iter().position(|n| *n == inp.value))
            .map(|j| position[&j])
            .collect();
        stages[position[&i]] = Some(PlannedStage {
            name: stage.name,
            kind: kind.name(),
            version: kind.version(),
            output: kind.output(),
            exclusive: kind.exclusive(),
            shares_work: kind.shares_work(),
            output_names: kind.output_names(),
            gathers: kind.gathers(),
            stage: configured_stage,
            input_folds: vec![None; inputs.len()],
            inputs,
            backend: stage.backend.map(|b| b.value),
            resources: stage.resources,
            external,
            inherits_seed,
            loc: stage.name_loc,
        });
    }
    Ok(Plan { name: spec.name.value, seed: spec.seed, stages: stages.into_iter().flatten().collect() })
}

/// Applies overrides (`--set`, sweep variants), typed against each param's declared type.
fn apply_overrides(spec: &mut PipelineSpec, overrides: &[Override], registry: &Registry, errors: &mut Vec<SpecError>) {
    for o in overrides {
        let bad = |problem: String, suggestion: Option<String>, loc: &Loc| {
            let text = format!("{}.{}={}", o.stage.value, o.param.value, o.value.value);
            SpecError::at(SpecErrorKind::BadOverride { text, problem, suggestion }, loc.clone())
        };
        let text = o.value.value.to_string();
        if o.stage.value == "pipeline" {
            let seed = match &o.value.value {
                OverrideValue::Toml(toml::Value::Integer(n)) => u64::try_from(*n).ok(),
                _ => text.parse::<u64>().ok(),
            };
            match (o.param.value.as_str(), seed) {
                ("seed", Some(seed)) => spec.seed = seed,
                ("seed", None) => errors.push(bad("the seed must be a non-negative integer".into(), None, &o.value.loc)),
                (other, _) => errors.push(bad(
                    format!("`pipeline.{other}` cannot be overridden"),
                    closest(other, ["seed"]).map(|s| format!("pipeline.{s}")),
                    &o.param.loc,
                )),
            }
            continue;
        }
        let Some(stage) = spec.stages.iter_mut().find(|s| s.name == o.stage.value) else {
            let suggestion = closest(&o.stage.value, spec.stages.iter().map(|s| s.name.as_str()));
            errors.push(bad(format!("no stage is named `{}`", o.stage.value), suggestion, &o.stage.loc));
            continue;
        };
        let located = |value: String| Located { value, loc: o.value.loc.clone() };
        match o.param.value.as_str() {
            "kind" => errors.push(bad("a stage's `kind` cannot be overridden".into(), None, &o.param.loc)),
            "backend" => stage.backend = Some(located(text)),
            "inputs" => {
                let ty = ParamType::Array(Box::new(ParamType::String));
                let value = match &o.value.value {
                    OverrideValue::Toml(v) => Ok(v.clone()),
                    OverrideValue::Text(t) => registry::parse_value(t, &ty),
                };
                if let Ok(toml::Value::Array(items)) = value {
                    stage.inputs = items.into_iter().filter_map(|v| v.as_str().map(|s| located(s.to_string()))).collect();
                }
            }
            param => {
                let Some(kind) = stage.kind.as_ref().and_then(|k| resolve(registry, &k.value, stage)) else { continue };
                let declared = registry::params(kind);
                let Some(info) = declared.iter().find(|p| p.name == param) else {
                    let suggestion = closest(param, declared.iter().map(|p| p.name.as_str()));
                    errors.push(bad(format!("kind `{}` has no param `{param}`", kind.name()), suggestion, &o.param.loc));
                    continue;
                };
                let value = match &o.value.value {
                    OverrideValue::Toml(v) => Ok(v.clone()),
                    OverrideValue::Text(t) => registry::parse_value(t, &info.ty),
                };
                match value {
                    Ok(value) => {
                        let param_value = Param { value, key_loc: o.param.loc.clone(), value_loc: o.value.loc.clone() };
                        stage.params.insert(param.to_string(), param_value);
                    }
                    Err(problem) => errors.push(bad(problem, None, &o.value.loc)),
                }
            }
        }
    }
}

/// Adds the stages that configured stages' params imply (a `fine-tune` naming a hub model
/// implies its download), each before the stage that implies it and configured like any, and
/// appends them to that stage's inputs; `configured` stays parallel to `spec.stages`.
fn add_implied_stages<'r>(
    spec: &mut PipelineSpec,
    configured: &mut Vec<Option<Configured<'r>>>,
    registry: &'r Registry,
    sources: &SourceMap,
    cwd: &Path,
    errors: &mut Vec<SpecError>,
) {
    let mut i = 0;
    while i < spec.stages.len() {
        let implied = configured[i].as_ref().map(|(_, stage, ..)| stage.implied_stages()).unwrap_or_default();
        for implied in implied {
            let stage = &spec.stages[i];
            let name = format!("{}.{}", stage.name, implied.suffix);
            let loc = stage.params.get(implied.because_of).map_or_else(|| stage.name_loc.clone(), |p| p.value_loc.clone());
            if spec.stages.iter().any(|s| s.name == name) {
                let err = SpecErrorKind::BadParam {
                    stage: stage.name.clone(),
                    what: format!("param `{}`", implied.because_of),
                    message: format!("it implies a stage named `{name}`, but the pipeline already has one"),
                };
                errors.push(SpecError::at(err, loc));
                continue;
            }
            let located = |value: String| Located { value, loc: loc.clone() };
            let params = implied
                .params
                .into_iter()
                .map(|(key, value)| (key, Param { value, key_loc: loc.clone(), value_loc: loc.clone() }))
                .collect();
            let mut new_stage = StageSpec {
                name: name.clone(),
                name_loc: loc.clone(),
                kind: Some(located(implied.kind.to_string())),
                inputs: Vec::new(),
                backend: None,
                resources: None,
                params,
            };
            if implied.takes_inputs {
                let parent = &mut spec.stages[i];
                new_stage.inputs = std::mem::take(&mut parent.inputs);
                new_stage.backend = parent.backend.clone();
                new_stage.resources = parent.resources.clone();
            }
            configured.insert(i, configure(&new_stage, registry, sources, cwd, spec.seed, errors));
            spec.stages[i].inputs.push(located(name));
            spec.stages.insert(i, new_stage);
            i += 1;
        }
        i += 1;
    }
}

/// The kind of `stage` named `name`: its variant for the stage's params, if one matches.
fn resolve<'r>(registry: &'r Registry, name: &str, stage: &StageSpec) -> Option<&'r dyn vox_api::StageKind> {
    registry.resolve(name, |param| stage.params.get(param).map(|p| p.value.clone()))
}

/// Checks one stage's kind, params and backend, and configures it.
/// Kinds that use randomness declare a `seed` param; unless the stage sets it, it is the
/// pipeline's seed, so the seed is part of exactly the keys it can change.
fn configure<'r>(
    stage: &StageSpec,
    registry: &'r Registry,
    sources: &SourceMap,
    cwd: &Path,
    seed: u64,
    errors: &mut Vec<SpecError>,
) -> Option<Configured<'r>> {
    let Some(kind_name) = &stage.kind else {
        errors.push(SpecError::at(SpecErrorKind::MissingKind { stage: stage.name.clone() }, stage.name_loc.clone()));
        return None;
    };
    let Some(kind) = resolve(registry, &kind_name.value, stage) else {
        let known: Vec<String> = registry.names().map(str::to_string).collect();
        let suggestion = closest(&kind_name.value, known.iter().map(String::as_str));
        let kind = SpecErrorKind::UnknownKind { stage: stage.name.clone(), kind: kind_name.value.clone(), suggestion, known };
        errors.push(SpecError::at(kind, kind_name.loc.clone()));
        return None;
    };
    let before = errors.len();
    let declared = registry::params(kind);
    let mut unknown = BTreeSet::new();
    for (name, param) in &stage.params {
        if !declared.iter().any(|p| p.name == *name) {
            unknown.insert(name.as_str());
            let suggestion = closest(name, declared.iter().map(|p| p.name.as_str()));
            let err = SpecErrorKind::UnknownParam {
                stage: stage.name.clone(),
                kind: kind.name().to_string(),
                param: name.clone(),
                suggestion,
            };
            errors.push(SpecError::at(err, param.key_loc.clone()));
        }
    }
    check_backend(stage, kind, registry.device_checks, errors);

    let mut table = toml::Table::new();
    let mut external = BTreeMap::new();
    // Unknown params are reported above; the others are checked all the same, so that every
    // problem of the table shows at once.
    for (name, param) in stage.params.iter().filter(|(name, _)| !unknown.contains(name.as_str())) {
        let mut value = param.value.clone();
        if kind.path_params().contains(&name.as_str())
            && let toml::Value::String(path) = &value
        {
            let base = sources.dir_of(param.value_loc.file).unwrap_or(cwd);
            let resolved = base.join(path);
            if !resolved.exists() {
                let err = SpecErrorKind::BadParam {
                    stage: stage.name.clone(),
                    what: format!("param `{name}`"),
                    message: format!("`{}` does not exist", resolved.display()),
                };
                errors.push(SpecError::at(err, param.value_loc.clone()));
            }
            external.insert(name.clone(), resolved.clone());
            value = toml::Value::String(resolved.display().to_string());
        }
        table.insert(name.clone(), value);
    }
    let inherits_seed = declared.iter().any(|p| p.name == "seed") && !table.contains_key("seed");
    if inherits_seed {
        table.insert("seed".into(), toml::Value::Integer(seed as i64));
    }
    let failed = errors.len() > before;
    match kind.configure(table.clone()) {
        Ok(configured) if !failed => {
            // A backend the kind lacks is reported above; the params meet only its own.
            let backend = stage.backend.as_ref().map(|b| b.value.as_str());
            let known = backend.is_none_or(|b| kind.backends().contains(&b));
            match configured.check_backend(backend) {
                Err(e) if known => {
                    errors.push(param_error(stage, e));
                    None
                }
                _ => {
                    // A seed the params leave unread makes the stage no seed's.
                    let inherits_seed = inherits_seed && !configured.unread().contains(&"seed");
                    Some((kind, configured, external, inherits_seed))
                }
            }
        }
        Ok(_) => None,
        Err(first) => {
            let mut problems = kind.problems(&table);
            if problems.is_empty() {
                problems.push(first);
            }
            errors.extend(problems.into_iter().map(|e| param_error(stage, e)));
            None
        }
    }
}

/// A stage's [`ParamError`] at the value of the param it names (the stage's name when the
/// param is a default or the error concerns the whole table).
fn param_error(stage: &StageSpec, e: ParamError) -> SpecError {
    let top = e.path.split(['.', '[']).next().unwrap_or("");
    let (what, loc) = match stage.params.get(top) {
        Some(param) => (format!("param `{top}`"), param.value_loc.clone()),
        None if !top.is_empty() => (format!("param `{top}`"), stage.name_loc.clone()),
        None => ("params".to_string(), stage.name_loc.clone()),
    };
    SpecError::at(SpecErrorKind::BadParam { stage: stage.name.clone(), what, message: e.message }, loc)
}

/// Derives each stage's [`Facts`] from its inputs' in topological `order` and reports what a
/// stage refuses. A stage that failed to configure, or whose facts are refused, passes on
/// unknown facts, so that one mistake is reported once.
fn check_facts(
    spec: &PipelineSpec,
    configured: &[Option<Configured>],
    order: &[usize],
    names: &[&str],
    errors: &mut Vec<SpecError>,
) {
    let mut facts: Vec<Facts> = vec![Facts::default(); spec.stages.len()];
    for &i in order {
        let Some((_, stage, ..)) = &configured[i] else { continue };
        let upstream: Vec<(usize, ArtifactKind)> = spec.stages[i]
            .inputs
            .iter()
            .filter_map(|input| {
                let j = names.iter().position(|n| *n == input.value)?;
                let (kind, ..) = configured[j].as_ref()?;
                Some((j, kind.output()))
            })
            .collect();
        // An input that is unknown or failed to configure is reported already; what this
        // stage would derive from the others is not known.
        if upstream.len() != spec.stages[i].inputs.len() {
            continue;
        }
        let planned: Vec<PlannedInput> =
            upstream.iter().map(|&(j, kind)| PlannedInput { name: names[j], kind, facts: &facts[j] }).collect();
        match stage.facts(&planned) {
            Ok(derived) => facts[i] = derived,
            Err(e) => errors.push(param_error(&spec.stages[i], e)),
        }
    }
}

fn check_backend(stage: &StageSpec, kind: &dyn StageKind, device_checks: bool, errors: &mut Vec<SpecError>) {
    let Some(backend) = &stage.backend else { return };
    let supported = kind.backends();
    let problem = if supported.is_empty() {
        Some(BackendProblem::TakesNone)
    } else if !supported.contains(&backend.value.as_str()) {
        Some(BackendProblem::NotOffered { backend: backend.value.clone(), supported })
    } else {
        let usable = if device_checks { kind.backend_available(&backend.value) } else { kind.backend_built(&backend.value) };
        usable.err().map(|why| BackendProblem::Unusable { backend: backend.value.clone(), why })
    };
    if let Some(problem) = problem {
        let err = SpecErrorKind::BadBackend { stage: stage.name.clone(), kind: kind.name().to_string(), problem };
        errors.push(SpecError::at(err, backend.loc.clone()));
    }
}

/// Checks input counts and artifact types once every stage's kind is known.
fn check_inputs(
    spec: &PipelineSpec,
    configured: &[Option<Configured>],
    errors: &mut Vec<SpecError>,
) {
    for (stage, conf) in spec.stages.iter().zip(configured) {
        let Some((kind, ..)) = conf else { continue };
        let spec_in = kind.inputs();
        let produced: Vec<Option<ArtifactKind>> = stage
            .inputs
            .iter()
            .map(|input| {
                let upstream = spec.stages.iter().position(|s| s.name == input.value)?;
                configured[upstream].as_ref().map(|(up_kind, ..)| up_kind.output())
            })
            .collect();
        // The optional last input counts only after another one, where it is of its own kind
        // (or of an unknown kind: its stage has an error of its own).
        let last_is_optional = stage.inputs.len() > 1
            && !spec_in.optional_last.is_empty()
            && produced.last().is_some_and(|kind| kind.is_none_or(|kind| spec_in.optional_last.contains(&kind)));
        let found = stage.inputs.len() - usize::from(last_is_optional);
        let expected = match spec_in.arity {
            Arity::None if found > 0 => Some("no inputs"),
            Arity::One if found != 1 => Some("exactly one input"),
            Arity::AtLeastOne if found == 0 => Some("at least one input"),
            _ => None,
        };
        if let Some(expected) = expected {
            let loc = stage.inputs.first().map_or_else(|| stage.name_loc.clone(), |i| i.loc.clone());
            let err = SpecErrorKind::InputCount { stage: stage.name.clone(), kind: kind.name().into(), expected, found };
            errors.push(SpecError::at(err, loc));
            continue;
        }
        for (input, produces) in stage.inputs.iter().zip(&produced).take(found) {
            let Some(produces) = *produces else { continue };
            if !spec_in.accepts.contains(&produces) {
                let accepts = spec_in.accepts.iter().map(|a| a.name()).collect::<Vec<_>>().join(" or ");
                let err = SpecErrorKind::InputType {
                    stage: stage.name.clone(),
                    kind: kind.name().into(),
                    input: input.value.clone(),
                    produces: produces.name(),
                    accepts,
                };
                errors.push(SpecError::at(err, input.loc.clone()));
            }
        }
    }
}

/// Kahn's algorithm with the smallest declaration index first; on a cycle, returns one cycle as
/// a closed path of declaration indices (`[a, b, c, a]`, each feeding the next).
fn topological_order(graph: &DiGraph<usize, usize>) -> Result<Vec<usize>, Vec<usize>> {
    let n = graph.node_count();
    let mut indegree: Vec<usize> = (0..n).map(|i| graph.neighbors_directed(NodeIndex::new(i), petgraph::Incoming).count()).collect();
    let mut ready: BinaryHeap<Reverse<usize>> = (0..n).filter(|&i| indegree[i] == 0).map(Reverse).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(Reverse(i)) = ready.pop() {
        order.push(i);
        let mut next: Vec<usize> = graph.neighbors(NodeIndex::new(i)).map(|j| j.index()).collect();
        next.sort_unstable();
        next.dedup();
        for j in next {
            let edges = graph.edges_connecting(NodeIndex::new(i), NodeIndex::new(j)).count();
            indegree[j] -= edges;
            if indegree[j] == 0 {
                ready.push(Reverse(j));
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Every node left has an unfinished input; walk backwards along those until a node repeats.
    let done: BTreeSet<usize> = order.into_iter().collect();
    let start = (0..n).find(|i| !done.contains(i)).unwrap_or(0);
    let mut path = vec![start];
    loop {
        let current = *path.last().unwrap_or(&start);
        let mut preds: Vec<usize> = graph
            .neighbors_directed(NodeIndex::new(current), petgraph::Incoming)
            .map(|p| p.index())
            .filter(|p| !done.contains(p))
            .collect();
        preds.sort_unstable();
        let Some(&pred) = preds.first() else { return Err(path) };
        if let Some(at) = path.iter().position(|&p| p == pred) {
            let mut cycle: Vec<usize> = path[at..].to_vec();
            cycle.push(pred);
            cycle.reverse();
            // Start the printed cycle at its earliest-declared stage.
            let min_pos = (0..cycle.len() - 1).min_by_key(|&k| cycle[k]).unwrap_or(0);
            let mut rotated: Vec<usize> = cycle[min_pos..cycle.len() - 1].to_vec();
            rotated.extend_from_slice(&cycle[..min_pos]);
            rotated.push(rotated[0]);
            return Err(rotated);
        }
        path.push(pred);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind whose backend is compiled in but whose device is not on this machine (a `cuda`
    /// stage planned on a login node).
    #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct OnGpu {}

    impl vox_api::StageDef for OnGpu {
        const KIND: &'static str = "on-gpu";
        const VERSION: u32 = 1;
        const INPUTS: vox_api::InputSpec = vox_api::InputSpec::NONE;
        const OUTPUT: ArtifactKind = ArtifactKind::Files;
        const BACKENDS: &'static [&'static str] = &["cuda"];
        fn backend_available(_backend: &str) -> Result<(), vox_api::BackendError> {
            Err(vox_api::BackendError::NoDevice { device: "CUDA device", cause: "no driver on this machine".into() })
        }
        fn backend_built(_backend: &str) -> Result<(), vox_api::BackendError> {
            Ok(())
        }
        fn run(&self, _ctx: &vox_api::StageContext) -> Result<(), vox_api::StageError> {
            Ok(())
        }
    }

    #[test]
    fn a_login_node_checks_that_a_backend_is_built_and_the_job_that_its_device_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "[pipeline]\nname = \"p\"\n[stages.g]\nkind = \"on-gpu\"\nbackend = \"cuda\"\n").unwrap();
        let mut registry = Registry::new(vec![vox_api::kind::<OnGpu>()]);
        let plan_with = |registry: &Registry| {
            let mut sources = SourceMap::default();
            let spec = crate::spec::load(&path, &mut sources).unwrap();
            build(spec, &[], registry, &sources, dir.path())
        };
        let errors = plan_with(&registry).err().expect("the device is checked where it runs");
        assert!(errors[0].kind.to_string().contains("cannot use backend `cuda`: no CUDA device could be opened: no driver on this machine"), "{}", errors[0].kind);
        registry.device_checks = false;
        assert!(plan_with(&registry).is_ok(), "a submitting node plans it");
    }

    fn graph(n: usize, edges: &[(usize, usize)]) -> DiGraph<usize, usize> {
        let mut g = DiGraph::new();
        let nodes: Vec<_> = (0..n).map(|i| g.add_node(i)).collect();
        for &(a, b) in edges {
            g.add_edge(nodes[a], nodes[b], 0);
        }
        g
    }

    #[test]
    fn orders_by_dependencies_then_declaration() {
        assert_eq!(topological_order(&graph(4, &[(3, 1), (0, 2)])), Ok(vec![0, 2, 3, 1]));
    }

    #[test]
    fn reports_a_closed_cycle_path() {
        // 0 feeds 1, 1 feeds 2, 2 feeds 1; 3 stands alone.
        assert_eq!(topological_order(&graph(4, &[(0, 1), (1, 2), (2, 1)])), Err(vec![1, 2, 1]));
        assert_eq!(topological_order(&graph(3, &[(0, 1), (1, 2), (2, 0)])), Err(vec![0, 1, 2, 0]));
        assert_eq!(topological_order(&graph(1, &[(0, 0)])), Err(vec![0, 0]));
    }
}
