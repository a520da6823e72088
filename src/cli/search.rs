//! `vox search`: the pipeline's `[search]` (see [`crate::search`]), each round of trials one
//! DAG (on this machine, or as Slurm jobs with `--executor slurm`), the trials' table and the
//! best one in the run folder.

use super::*;
use super::run::{ExecutorKind, Placement, invocation};
use crate::search::table::{self, TrialRecord};
use crate::search::{Method, Search, schedule};

/// The arguments of `vox search`.
#[derive(Args, Debug)]
pub(super) struct SearchArgs {
    #[command(flatten)]
    pub(super) pipeline: PipelineArgs,
    /// Trials to draw, in place of `[search] trials` (halving: the first rung's).
    #[arg(long, value_parser = at_least_one)]
    pub(super) trials: Option<usize>,
    /// Stages to run at once (default: the number of cores).
    #[arg(long, short, value_parser = at_least_one)]
    pub(super) jobs: Option<usize>,
    /// Print the trials and the best one as JSON on stdout.
    #[arg(long)]
    pub(super) json: bool,
    #[command(flatten)]
    pub(super) placement: Placement,
}

/// `vox search`.
pub(super) fn search(args: SearchArgs, global: &Global, registry: Registry, progress: &MultiProgress) -> Result<ExitCode, Failure> {
    let SearchArgs { pipeline, trials, jobs, json, placement } = args;
    if placement.detach {
        return Err(Failure::Invalid(
            "`vox search` cannot `--detach`: it scores each round of trials before it picks the next (and the best)".into(),
        ));
    }
    placement.check()?;
    let registry = placement.registry(registry);
    let mut loaded = load(&pipeline, None)?;
    let invalid = |errors: Vec<SpecError>| Failure::Invalid(render_errors(&errors, &loaded.sources, &pipeline.pipeline));
    let mut search = match Search::from_spec(&loaded.spec) {
        Ok(Some(search)) => search,
        Ok(None) => {
            return Err(Failure::Invalid(format!(
                "{}: no [search] table: add one with the params to search, e.g.\n\n[search]\ntrials = 20\n\n[search.space]\n\"rf.n_trees\" = {{ int = [50, 500] }}\n",
                pipeline.pipeline.display()
            )));
        }
        Err(errors) => return Err(invalid(errors)),
    };
    if let Some(n) = trials {
        search.trials = n;
    }
    let cache = open_cache(global)?;
    let recorder = new_run(global, &loaded)?;
    let options = RunOptions { recorder: Some(&recorder), ..run_options(jobs, progress) };
    let invocation = match placement.executor {
        ExecutorKind::Local => None,
        ExecutorKind::Slurm => Some(invocation(&pipeline, None, global, &loaded)?),
    };
    let (rungs, budget_target) = match &search.method {
        Method::Random => (vec![None], None),
        Method::Halving { target, budget } => (budget.rungs(search.trials).into_iter().map(Some).collect(), Some(target.value.clone())),
    };

    let mut alive: Vec<usize> = (1..=search.trials).collect();
    let mut records: Vec<TrialRecord> = Vec::new();
    let mut stage_names: Vec<String> = Vec::new();
    let mut plan_name = loaded.spec.name.value.clone();
    let mut seed = loaded.spec.seed;
    for (k, rung) in rungs.iter().enumerate() {
        if let Some(rung) = rung {
            if k > 0 {
                // The previous rung's best go on (a failed trial does not).
                let previous: Vec<(usize, Option<f64>)> =
                    records.iter().filter(|r| r.rung == Some(k - 1)).map(|r| (r.trial, r.score.clone().ok())).collect();
                alive = schedule::best(&previous, rung.trials);
            }
            if alive.is_empty() {
                break;
            }
            if !json {
                eprintln!(
                    "rung {}/{}: {} trial(s) with {} = {}",
                    k + 1,
                    rungs.len(),
                    alive.len(),
                    budget_target.as_deref().unwrap_or(""),
                    rung.budget
                );
            }
        }
        let rung_index = rung.as_ref().map(|_| k);
        loaded.variants = search.round(&alive, rung_index);
        // Each round on this process's threads, or as Slurm jobs that re-plan the same round.
        let executor: Box<dyn Executor> = match &invocation {
            None => Box::new(Local { cache: &cache, options: options.clone() }),
            Some(invocation) => {
                let round = slurm::SearchRound { trials: search.trials, alive: alive.clone(), rung: rung_index };
                let invocation = slurm::Invocation { search: Some(round), ..invocation.clone() };
                Box::new(Slurm { settings: &loaded.spec.executor, invocation, cache: &cache, options: options.clone() })
            }
        };
        let planned = expand_for_run(&loaded, &registry, executor.as_ref(), &options)?;
        if k > 0 {
            // A trial's stages keep their names from rung to rung (`rf[trial07]`) with a larger
            // budget: the last rung's record of a stage that runs again is not this rung's
            // outcome (the Slurm executor takes a recorded stage for done).
            let previews = preview(&planned.sweep.plan, &cache, &options.force);
            for (stage, preview) in planned.sweep.plan.stages.iter().zip(&previews) {
                if preview.will_run {
                    recorder.forget(&stage.name).map_err(io_failure("cannot update the run folder"))?;
                }
            }
        }
        let (outcomes, _) = run_plan(&planned.sweep.plan, &cache, executor.as_ref(), &options, &planned.before, None)?;
        plan_name.clone_from(&planned.sweep.plan.name);
        seed = planned.sweep.plan.seed;
        for stage in &planned.sweep.plan.stages {
            if !stage_names.contains(&stage.name) {
                stage_names.push(stage.name.clone());
            }
        }
        for (&trial, member) in alive.iter().zip(&planned.sweep.members) {
            let name = crate::search::trial_name(trial, search.trials);
            let score = table::score(&name, &outcomes, member, &search.metric, search.model.as_deref())
                .map_err(|e| Failure::Invalid(e.to_string()))?;
            records.push(TrialRecord {
                trial,
                name,
                rung: rung.as_ref().map(|_| k),
                budget: rung.as_ref().map(|r| r.budget.clone()),
                params: search.draw(trial).into_iter().map(|(t, v)| (t.value, v)).collect(),
                score,
            });
        }
    }
    let run = recorder
        .finish_stages(&plan_name, seed, stage_names.iter().map(String::as_str))
        .map_err(io_failure("cannot write the run folder"))?;
    let best = table::best(&records);
    let best_doc = best.map(|b| table::best_json(b, &search.metric, budget_target.as_deref()));
    table::write(&run.run_dir, &records, &search.metric, best_doc.as_ref()).map_err(io_failure("cannot write the search tables"))?;
    if json {
        let trials: Vec<serde_json::Value> = records
            .iter()
            .map(|r| {
                serde_json::json!({
                    "trial": r.name, "rung": r.rung, "budget": r.budget.as_ref().map(|b| serde_json::to_value(b).unwrap_or_default()),
                    "params": table::params_json(&r.params),
                    "score": r.score.as_ref().ok(), "error": r.score.as_ref().err(),
                })
            })
            .collect();
        let doc = serde_json::json!({
            "pipeline": plan_name, "run_dir": run.run_dir, "metric": search.metric, "split": table::SPLIT,
            "trials": trials, "best": best_doc,
        });
        println!("{doc:#}");
    } else {
        print!("{}", report::table(&run));
        println!("\n{}", table::markdown(&records, &search.metric));
        if let Some(best) = best {
            let sets: String =
                table::set_arguments(best, budget_target.as_deref()).iter().map(|s| format!(" --set '{s}'")).collect();
            println!(
                "best: {} ({} {} {:.4}); run it with:\n  vox run {}{sets}",
                best.name,
                table::SPLIT,
                search.metric,
                best.score.as_ref().copied().unwrap_or(f64::NAN),
                pipeline.pipeline.display()
            );
        }
        println!("run folder: {}", run.run_dir.display());
    }
    let failed = records.iter().filter(|r| r.score.is_err()).count();
    if failed > 0 {
        eprintln!("warning: {failed} trial(s) failed (see search.md); finished stages are cached");
    }
    Ok(if best.is_some() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}
