//! The executor: keys each stage from its inputs' content, serves it from the cache or runs it,
//! with independent stages in parallel.
//!
//! A stage becomes ready when all its inputs finished; `--jobs` workers take ready stages in
//! plan order. A failed stage marks its dependents skipped while unrelated stages go on; every
//! finished stage stays cached. A killed run leaves only temp folders, never a partial entry.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

use indicatif::MultiProgress;
use vox_api::{Input, StageContext};

use crate::cache::{Cache, Claim, InputComponent, KeyComponents, Lookup, Record};
use crate::dirty::{self, DirtyReason};
use crate::memo::CacheMemo;
use crate::plan::{Plan, PlannedStage};

use crate::outcome::{CacheStep, Failure, Skip, UnreadableParam};
pub use crate::outcome::{StageOutcome, Status, outcome};

/// Options of one run.
#[derive(Clone)]
pub struct RunOptions<'a> {
    /// Parallel stages.
    pub jobs: usize,
    /// Threads the run computes on: one pool shared by all its stages.
    pub threads: usize,
    /// Stages to rerun even when cached.
    pub force: BTreeSet<String>,
    /// Where progress bars go.
    pub progress: &'a MultiProgress,
    /// Run only these stages (by plan index; their ancestors must be among them); the others
    /// are reported skipped. `None` runs every stage.
    pub only: Option<BTreeSet<usize>>,
    /// Where each stage's outcome is recorded as it finishes (the run folder); `None` records
    /// nothing.
    pub recorder: Option<&'a crate::report::Recorder>,
}

/// The key components of `stage` given its inputs' output hashes.
pub fn components(
    plan: &Plan,
    stage: &PlannedStage,
    input_hashes: &[String],
    cache: &Cache,
) -> Result<KeyComponents, UnreadableParam> {
    let mut params = stage.stage.params();
    for (name, path) in &stage.external {
        let hash = cache.external_hash(path).map_err(|cause| UnreadableParam { param: name.clone(), cause })?;
        if let Some(map) = params.as_object_mut() {
            map.insert(name.clone(), serde_json::json!({ "content": hash }));
        }
    }
    Ok(KeyComponents {
        kind: stage.kind.to_string(),
        version: stage.version,
        backend: stage.backend.clone(),
        params,
        inputs: stage
            .inputs
            .iter()
            .zip(input_hashes)
            .map(|(&i, hash)| InputComponent { name: plan.stages[i].name.clone(), hash: hash.clone() })
            .collect(),
        names: stage.output_names.then(|| {
            std::iter::once(stage.name.clone()).chain(stage.inputs.iter().map(|&i| plan.stages[i].name.clone())).collect()
        }),
        shared: None,
    })
}

/// Why a stage whose key is `components` is not in the cache.
pub fn reasons(plan: &Plan, stage: &PlannedStage, components: &KeyComponents, cache: &Cache) -> Vec<DirtyReason> {
    match cache.read_record(&plan.name, &stage.name) {
        None => vec![DirtyReason::New],
        Some(record) if record.key == components.key() => vec![DirtyReason::EntryMissing],
        Some(record) => {
            let reasons = dirty::diff(&record.components, components);
            if reasons.is_empty() { vec![DirtyReason::EntryMissing] } else { reasons }
        }
    }
}

enum Slot {
    Waiting,
    Running,
    Done(Box<StageOutcome>),
}

/// Runs the plan; returns every stage's outcome in plan order.
pub fn execute(plan: &Plan, cache: &Cache, options: &RunOptions) -> Vec<StageOutcome> {
    // One pool for every stage of the run: the run computes on `options.threads` threads
    // however many stages run at once (`vox_api::pool`).
    let threads = options.threads.max(1);
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("vox-{i}")).build() {
        Ok(pool) => pool,
        Err(e) => {
            let why = Failure::Threads { threads, cause: Arc::new(e) };
            return plan.stages.iter().map(|s| outcome(s, Status::Failed(why.clone()), 0.0)).collect();
        }
    };
    let state = Mutex::new(plan.stages.iter().map(|_| Slot::Waiting).collect::<Vec<_>>());
    let wake = Condvar::new();
    std::thread::scope(|scope| {
        for _ in 0..options.jobs.max(1) {
            scope.spawn(|| worker(plan, cache, options, &state, &wake, &pool));
        }
    });
    let slots = state.into_inner().unwrap_or_else(|e| e.into_inner());
    slots
        .into_iter()
        .filter_map(|slot| match slot {
            Slot::Done(outcome) => Some(*outcome),
            _ => None,
        })
        .collect()
}

fn worker(plan: &Plan, cache: &Cache, options: &RunOptions, state: &Mutex<Vec<Slot>>, wake: &Condvar, pool: &rayon::ThreadPool) {
    let mut slots = state.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        if slots.iter().all(|s| matches!(s, Slot::Done(_))) {
            wake.notify_all();
            return;
        }
        let mut picked = None;
        for (i, stage) in plan.stages.iter().enumerate() {
            if !matches!(slots[i], Slot::Waiting) {
                continue;
            }
            if options.only.as_ref().is_some_and(|only| !only.contains(&i)) {
                slots[i] = Slot::Done(Box::new(outcome(stage, Status::Skipped(Skip::NotNeeded), 0.0)));
                wake.notify_all();
                picked = Some(None);
                break;
            }
            let inputs: Option<Vec<&StageOutcome>> = stage
                .inputs
                .iter()
                .map(|&j| match &slots[j] {
                    Slot::Done(outcome) => Some(outcome.as_ref()),
                    _ => None,
                })
                .collect();
            let Some(inputs) = inputs else { continue };
            if let Some(bad) = inputs.iter().find(|o| matches!(o.status, Status::Failed(_) | Status::Skipped(_))) {
                let why = Skip::Input { input: bad.name.clone(), status: bad.status.name() };
                let skipped = outcome(stage, Status::Skipped(why), 0.0);
                record(plan, options, &skipped);
                slots[i] = Slot::Done(Box::new(skipped));
                wake.notify_all();
                picked = Some(None);
                break;
            }
            // Exclusive kinds (see `vox_api::StageDef::EXCLUSIVE`) run one at a time, and so do
            // kinds that share work across splits (`vox_api::StageDef::SHARES_WORK`): one waits,
            // unpicked, while another runs, so that no worker sits blocked on it and other
            // ready stages take the free workers.
            let one_at_a_time = |flag: fn(&PlannedStage) -> bool| {
                flag(stage) && slots.iter().zip(&plan.stages).any(|(s, other)| matches!(s, Slot::Running) && flag(other))
            };
            if one_at_a_time(|s| s.exclusive) || one_at_a_time(|s| s.shares_work) {
                continue;
            }
            let ready: Vec<(String, PathBuf, String)> = inputs
                .iter()
                .map(|o| (o.name.clone(), o.out_dir.clone().unwrap_or_default(), o.output_hash.clone().unwrap_or_default()))
                .collect();
            slots[i] = Slot::Running;
            picked = Some(Some((i, ready)));
            break;
        }
        match picked {
            Some(Some((i, inputs))) => {
                drop(slots);
                let result = run_stage(plan, &plan.stages[i], &inputs, cache, options, pool);
                record(plan, options, &result);
                slots = state.lock().unwrap_or_else(|e| e.into_inner());
                slots[i] = Slot::Done(Box::new(result));
                wake.notify_all();
            }
            Some(None) => {}
            None => slots = wake.wait(slots).unwrap_or_else(|e| e.into_inner()),
        }
    }
}

/// Records a finished stage's outcome in the run folder, if the run has one; a failure to write
/// it is logged (the stage's result stands: its entry is in the cache).
fn record(plan: &Plan, options: &RunOptions, outcome: &StageOutcome) {
    if let Some(recorder) = options.recorder
        && let Err(e) = recorder.record(plan, outcome, crate::report::Origin::default())
    {
        tracing::warn!("cannot record the outcome of `{}` in {}: {e}", outcome.name, recorder.run_dir().display());
    }
}


/// Keys one stage, then serves it from the cache or runs it under its entry lock.
fn run_stage(
    plan: &Plan,
    stage: &PlannedStage,
    inputs: &[(String, PathBuf, String)],
    cache: &Cache,
    options: &RunOptions,
    pool: &rayon::ThreadPool,
) -> StageOutcome {
    let started = Instant::now();
    let failed = |why: Failure| outcome(stage, Status::Failed(why), started.elapsed().as_secs_f64());
    let cache_failed = |step: CacheStep, e: std::io::Error| failed(Failure::Cache { step, cause: Arc::new(e) });
    let hashes: Vec<String> = inputs.iter().map(|(_, _, h)| h.clone()).collect();
    let components = match components(plan, stage, &hashes, cache) {
        Ok(c) => c,
        Err(e) => return failed(Failure::Key(Arc::new(e))),
    };
    let key = components.key();
    let forced = options.force.contains(&stage.name);
    let record = Record { key: key.clone(), components: components.clone() };
    let finish = |mut result: StageOutcome, manifest: &crate::cache::EntryManifest, reasons: Vec<DirtyReason>| {
        result.key = Some(key.clone());
        result.output_hash = Some(manifest.output_hash.clone());
        result.out_dir = Some(cache.out_dir(&key));
        result.reasons = reasons;
        result.params = Some(components.params.clone());
        if let Err(e) = cache.write_record(&plan.name, &stage.name, &record) {
            tracing::warn!("stage `{}`: cannot record its key components: {e}", stage.name);
        }
        result
    };

    let mut reasons = if forced { vec![DirtyReason::Forced] } else { Vec::new() };
    if !forced {
        match cache.lookup(&key) {
            Lookup::Hit(manifest) => {
                cache.touch(&key);
                tracing::debug!("stage `{}` cached ({})", stage.name, &key[..12]);
                return finish(outcome(stage, Status::Cached, started.elapsed().as_secs_f64()), &manifest, Vec::new());
            }
            Lookup::Corrupt(problem) => {
                tracing::warn!("stage `{}`: cache entry {} is corrupt ({problem}); recomputing", stage.name, &key[..12]);
                reasons.push(DirtyReason::Corrupt(problem));
            }
            Lookup::Miss => reasons = self::reasons(plan, stage, &components, cache),
        }
    }
    let (pending, _lock) = match cache.claim(&key, forced) {
        Ok(Claim::Build(pending, lock)) => (pending, lock),
        // Another process built it while this one waited for the lock.
        Ok(Claim::Built(manifest)) => {
            return finish(outcome(stage, Status::Cached, started.elapsed().as_secs_f64()), &manifest, Vec::new());
        }
        Err((step, e)) => return cache_failed(step, e),
    };
    let why: Vec<String> = reasons.iter().map(ToString::to_string).collect();
    tracing::info!("running `{}` ({}): {}", stage.name, stage.kind, why.join("; "));
    let stage_inputs: Vec<Input> = stage
        .inputs
        .iter()
        .zip(inputs)
        .enumerate()
        .map(|(k, (&i, (name, dir, _)))| Input {
            name: name.clone(),
            kind: plan.stages[i].output,
            dir: dir.clone(),
            fold: stage.input_folds.get(k).cloned().flatten(),
        })
        .collect();
    let memo = CacheMemo::new(cache, stage, &components, &stage_inputs, forced);
    let ctx = StageContext {
        stage: &stage.name,
        inputs: &stage_inputs,
        out_dir: &pending.out_dir,
        scratch_dir: &pending.scratch_dir,
        seed: plan.seed,
        backend: stage.backend.as_deref(),
        threads: options.threads,
        progress: options.progress,
        memo: Some(&memo),
    };
    let _running = crate::interrupt::running(&stage.name);
    // On the run's shared pool: the stage's parallel work (`vox_api::pool`) shares its threads
    // with the other running stages'.
    let result = pool.install(|| catch_unwind(AssertUnwindSafe(|| stage.stage.run(&ctx))));
    let seconds = started.elapsed().as_secs_f64();
    let error = match result {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(Failure::Stage(Arc::from(e))),
        Err(panic) => Some(Failure::Panicked {
            message: vox_api::panic_message(panic.as_ref()).unwrap_or("unknown panic").to_string(),
        }),
    };
    if let Some(error) = error {
        cache.abandon(pending);
        return failed(error);
    }
    let shared = memo.used();
    let committing = Instant::now();
    match cache.commit(pending, components.clone(), seconds, shared) {
        Ok(manifest) => {
            tracing::info!("finished `{}` in {seconds:.2}s ({} files)", stage.name, manifest.files.len());
            let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
            tracing::debug!(
                "stored `{}` in the cache in {:.3}s (hashed {:.1} MB)",
                stage.name,
                committing.elapsed().as_secs_f64(),
                bytes as f64 / 1e6
            );
            finish(outcome(stage, Status::Ran, seconds), &manifest, reasons)
        }
        Err(e) => cache_failed(CacheStep::Commit, e),
    }
}
