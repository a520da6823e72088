//! `vox plan`, `vox explain`, `vox dag` and `vox stages`: what would run and why, without running.

#[allow(unused_imports)]
use super::*;

/// The arguments of `vox plan`.
#[derive(Args, Debug)]
pub(super) struct PlanArgs {
    #[command(flatten)]
    pub(super) pipeline: PipelineArgs,
    /// Plan the pipeline's `[sweep]` (every variant as `vox sweep` runs them, shared stages
    /// once) instead of the base pipeline alone.
    #[arg(long)]
    pub(super) sweep: bool,
    /// With `--sweep`: a grid axis on top of the pipeline's `[sweep]` (repeatable).
    #[arg(long = "grid", value_name = "STAGE.PARAM=A,B")]
    pub(super) grid: Vec<String>,
    /// Rerun this stage even if cached (repeatable).
    #[arg(long, value_name = "STAGE")]
    pub(super) force: Vec<String>,
    /// Print JSON.
    #[arg(long)]
    pub(super) json: bool,
}

/// The arguments of `vox explain`.
#[derive(Args, Debug)]
pub(super) struct ExplainArgs {
    #[command(flatten)]
    pub(super) pipeline: PipelineArgs,
    /// The stage.
    pub(super) stage: String,
}

/// The arguments of `vox dag`.
#[derive(Args, Debug)]
pub(super) struct DagArgs {
    #[command(flatten)]
    pub(super) pipeline: PipelineArgs,
}

/// The arguments of `vox stages`.
#[derive(Args, Debug)]
pub(super) struct StagesArgs {
    /// Only this kind.
    pub(super) kind: Option<String>,
}

/// `vox plan`.
pub(super) fn plan(args: PlanArgs, global: &Global, registry: Registry) -> Result<ExitCode, Failure> {
    let PlanArgs { pipeline, sweep, grid, force, json } = args;
    let cache = read_cache(global)?;
    let grid = (sweep || !grid.is_empty()).then_some(grid.as_slice());
    let (plan, per_fold) = load_plan_of(&pipeline, grid, &registry, &cache)?;
    let force = check_force(&plan, force)?;
    let previews = preview(&plan, &cache, &force);
    let status = |will_run: bool| if will_run { "run" } else { "cached" };
    if json {
        let doc: Vec<_> = previews
            .iter()
            .map(|p| serde_json::json!({
                "name": p.name, "kind": p.kind, "status": status(p.will_run),
                "reasons": p.reasons.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "key": p.components.as_ref().map(|c| c.key()),
            }))
            .collect();
        println!("{}", serde_json::json!({ "pipeline": plan.name, "stages": doc }));
    } else {
        let rows: Vec<[String; 4]> = previews
            .iter()
            .map(|p| {
                let why = p.reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                [p.name.clone(), p.kind.clone(), status(p.will_run).into(), why]
            })
            .collect();
        print!("{}", report::render_table(&["stage", "kind", "status", "why"], &rows));
        let to_run = previews.iter().filter(|p| p.will_run).count();
        println!("\n{} stages, {to_run} to run", previews.len());
        if grid.is_none() && let Some(sweep) = &loaded_sweep(&pipeline)? {
            println!("{sweep}");
        }
        if let Some(note) = per_fold {
            println!("\n{note}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `vox explain`.
pub(super) fn explain(args: ExplainArgs, global: &Global, registry: Registry) -> Result<ExitCode, Failure> {
    let ExplainArgs { pipeline, stage } = args;
    let cache = read_cache(global)?;
    let (plan, _) = load_plan(&pipeline, &registry, &cache)?;
    let Some(index) = plan.index_of(&stage) else {
        let message = format!("pipeline `{}` has no stage `{stage}`", plan.name);
        return Err(unknown(message, &stage, plan.stages.iter().map(|s| s.name.as_str())));
    };
    let previews = preview(&plan, &cache, &BTreeSet::new());
    let shared = previews[index].components.as_ref().map_or_else(Vec::new, |c| shared_work(&cache, &c.key()));
    print!("{}", explain_text(&plan, &previews[index], &shared));
    Ok(ExitCode::SUCCESS)
}

/// The shared work (`vox_api::memo`) a cached entry made or read: (part, key), the part `None`
/// where that work is no longer in the cache.
fn shared_work(cache: &Cache, key: &str) -> Vec<(Option<String>, String)> {
    let crate::cache::Lookup::Hit(entry) = cache.lookup(key) else { return Vec::new() };
    let part = |key: &str| match cache.lookup(key) {
        crate::cache::Lookup::Hit(m) => m.components.shared,
        _ => None,
    };
    entry.shared.iter().map(|k| (part(k), k.clone())).collect()
}

/// `vox dag`.
pub(super) fn dag(args: DagArgs, global: &Global, registry: Registry) -> Result<ExitCode, Failure> {
    let DagArgs { pipeline } = args;
    let cache = read_cache(global)?;
    let (plan, _) = load_plan(&pipeline, &registry, &cache)?;
    print!("{}", plan.dot());
    Ok(ExitCode::SUCCESS)
}

/// `vox stages`.
pub(super) fn stages(args: StagesArgs, registry: Registry) -> Result<ExitCode, Failure> {
    let StagesArgs { kind } = args;
    if let Some(name) = &kind
        && registry.get(name).is_none()
    {
        let message = format!("no stage kind is named `{name}`");
        return Err(unknown(message, name, registry.names()));
    }
    let kinds = registry.kinds().filter(|k| kind.as_deref().is_none_or(|n| n == k.name()));
    print!("{}", describe_kinds(kinds));
    Ok(ExitCode::SUCCESS)
}

/// What `vox explain` prints.
fn explain_text(plan: &Plan, p: &crate::preview::Preview, shared: &[(Option<String>, String)]) -> String {
    let mut out = format!("stage `{}` (kind `{}`) in pipeline `{}`\n", p.name, p.kind, plan.name);
    let status = if p.will_run { "run" } else { "cached" };
    out.push_str(&format!("status: {status}\n"));
    match &p.components {
        Some(c) => {
            out.push_str(&format!("key: {}\n", c.key()));
            out.push_str("components:\n");
            out.push_str(&format!("  kind     {}\n  version  {}\n  backend  {}\n", c.kind, c.version, c.backend.as_deref().unwrap_or("-")));
            if let Some(params) = c.params.as_object() {
                for (name, value) in params {
                    out.push_str(&format!("  param    {name} = {value}\n"));
                }
            }
            for input in &c.inputs {
                out.push_str(&format!("  input    {} = {}\n", input.name, input.hash));
            }
        }
        None => out.push_str("key: not known yet: an input has to run first\n"),
    }
    for (part, key) in shared {
        match part {
            Some(part) => out.push_str(&format!("shared work: {part} = {key} (computed once for every split of these clips)\n")),
            None => out.push_str(&format!("shared work: {key}, no longer in the cache (computed again when needed)\n")),
        }
    }
    match (&p.recorded, p.will_run) {
        (None, _) => out.push_str("last run: none recorded in this cache\n"),
        (Some(_), false) => out.push_str("difference to the cached entry: none\n"),
        (Some(_), true) => {
            out.push_str("difference to the last run:\n");
            for reason in &p.reasons {
                out.push_str(&format!("  {reason}\n"));
            }
        }
    }
    out
}

fn describe_kinds<'a>(kinds: impl Iterator<Item = &'a dyn vox_api::StageKind>) -> String {
    let mut out = String::new();
    for kind in kinds {
        let spec = kind.written_inputs();
        let inputs = match spec.arity {
            vox_api::Arity::None => "no inputs".to_string(),
            arity => {
                let names = spec.accepts.iter().map(|a| a.name()).collect::<Vec<_>>().join(" | ");
                let count = if arity == vox_api::Arity::One { "1 input" } else { "1+ inputs" };
                match spec.optional_last {
                    [] => format!("{count}: {names}"),
                    last => {
                        let last = last.iter().map(|a| a.name()).collect::<Vec<_>>().join(" | ");
                        format!("{count}: {names}, then optionally 1: {last}")
                    }
                }
            }
        };
        let variant = kind.variant().map(|v| format!(" with {}", v.describe())).unwrap_or_default();
        out.push_str(&format!("{}{variant}  ({inputs} -> {}; version {})\n", kind.name(), kind.output().name(), kind.version()));
        for line in registry::kind_doc(kind).lines() {
            out.push_str(&format!("    {line}\n"));
        }
        if !kind.backends().is_empty() {
            out.push_str(&format!("    backend: {}\n", kind.backends().join(" | ")));
        }
        for p in registry::params(kind) {
            let default = match (&p.default, p.optional) {
                (Some(d), _) => format!(" = {d}"),
                (None, true) => " (optional)".into(),
                (None, false) => " (required)".into(),
            };
            out.push_str(&format!("  {} : {}{default}\n", p.name, p.ty));
            for line in p.doc.lines() {
                out.push_str(&format!("      {line}\n"));
            }
        }
        out.push('\n');
    }
    out
}
