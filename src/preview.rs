//! What a run would do, without running anything: for `vox plan` and `vox explain`.

use std::collections::BTreeSet;

use crate::cache::{Cache, KeyComponents, Lookup};
use crate::dirty::DirtyReason;
use crate::execute::{components, reasons};
use crate::plan::Plan;

/// One stage's predicted fate.
#[derive(Debug, Clone)]
pub struct Preview {
    /// The stage name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Whether it would run (false: served from the cache).
    pub will_run: bool,
    /// Why it would run.
    pub reasons: Vec<DirtyReason>,
    /// Its key components, when all its inputs are cached (otherwise unknown until they run).
    pub components: Option<KeyComponents>,
    /// The components recorded when it last ran in this pipeline.
    pub recorded: Option<KeyComponents>,
    /// The output hash of its cached entry.
    pub output_hash: Option<String>,
}

/// Predicts every stage in plan order.
pub fn preview(plan: &Plan, cache: &Cache, force: &BTreeSet<String>) -> Vec<Preview> {
    let mut previews: Vec<Preview> = Vec::with_capacity(plan.stages.len());
    for stage in &plan.stages {
        let recorded = cache.read_record(&plan.name, &stage.name).map(|r| r.components);
        let mut p = Preview {
            name: stage.name.clone(),
            kind: stage.kind.to_string(),
            will_run: true,
            reasons: Vec::new(),
            components: None,
            recorded,
            output_hash: None,
        };
        let pending = stage.inputs.iter().find(|&&i| previews[i].output_hash.is_none());
        if let Some(&i) = pending {
            p.reasons.push(DirtyReason::InputPending { name: plan.stages[i].name.clone() });
            previews.push(p);
            continue;
        }
        let hashes: Vec<String> = stage.inputs.iter().map(|&i| previews[i].output_hash.clone().unwrap_or_default()).collect();
        let comps = match components(plan, stage, &hashes, cache) {
            Ok(c) => c,
            Err(e) => {
                p.reasons.push(DirtyReason::ParamUnreadable { name: e.param, kind: e.cause.kind() });
                previews.push(p);
                continue;
            }
        };
        match cache.lookup(&comps.key()) {
            Lookup::Hit(manifest) if !force.contains(&stage.name) => {
                p.will_run = false;
                p.output_hash = Some(manifest.output_hash);
            }
            Lookup::Hit(_) => p.reasons.push(DirtyReason::Forced),
            Lookup::Corrupt(problem) => p.reasons.push(DirtyReason::Corrupt(problem)),
            Lookup::Miss => p.reasons = reasons(plan, stage, &comps, cache),
        }
        if force.contains(&stage.name) && !p.reasons.contains(&DirtyReason::Forced) {
            p.reasons.insert(0, DirtyReason::Forced);
        }
        p.components = Some(comps);
        previews.push(p);
    }
    previews
}
