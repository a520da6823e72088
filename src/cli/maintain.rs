//! `vox cache verify` and `vox gc`.

#[allow(unused_imports)]
use super::*;

/// The arguments of `vox cache`.
#[derive(Args, Debug)]
pub(super) struct CacheArgs {
    #[command(subcommand)]
    pub(super) command: CacheCommand,
}

/// The arguments of `vox gc`.
#[derive(Args, Debug)]
pub(super) struct GcArgs {
    /// Pipelines whose current entries are kept: each one's plan, every variant of its
    /// `[sweep]` and every trial of its `[search]` (at every rung of a halving search).
    pub(super) pipelines: Vec<PathBuf>,
    /// Also keep entries used within this many days.
    #[arg(long)]
    pub(super) days: Option<u64>,
}

/// `vox cache`.
pub(super) fn cache_command(args: CacheArgs, global: &Global) -> Result<ExitCode, Failure> {
    let CacheArgs { command: CacheCommand::Verify } = args;
    let cache = open_cache(global)?;
    let (total, corrupt) = cache.verify().map_err(io_failure("cannot verify the cache"))?;
    for (key, problem) in &corrupt {
        println!("corrupt  {}  {problem} (removed; the next run recomputes it)", &key[..12]);
    }
    println!("{total} entries checked, {} corrupt", corrupt.len());
    Ok(if corrupt.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// `vox gc`.
pub(super) fn gc(args: GcArgs, global: &Global, registry: Registry) -> Result<ExitCode, Failure> {
    let GcArgs { pipelines, days } = args;
    if pipelines.is_empty() && days.is_none() {
        return Err(Failure::Invalid("`vox gc` needs pipelines to keep, `--days N`, or both".into()));
    }
    let cache = open_cache(global)?;
    let mut keep = BTreeSet::new();
    for path in pipelines {
        let args = PipelineArgs { pipeline: path, sets: Vec::new() };
        // What `vox run`, `vox sweep` and `vox search` make of the pipeline: the plan, every
        // variant of its [sweep] and every trial of its [search] at every rung.
        let mut loaded = load(&args, Some(&[]))?;
        let mut rounds = vec![vec![sweep::Variant::base()]];
        // Without a [sweep], its one variant is the plan itself, planned just above.
        if loaded.spec.sweep.is_some() {
            rounds.push(std::mem::take(&mut loaded.variants));
        }
        let search = crate::search::Search::from_spec(&loaded.spec)
            .map_err(|errors| Failure::Invalid(render_errors(&errors, &loaded.sources, &args.pipeline)))?;
        rounds.extend(search.iter().flat_map(|search| search.every_round()));
        for variants in rounds {
            loaded.variants = variants;
            let (plan, _) = plan_loaded(&loaded, &args, &registry, &cache)?;
            for p in preview(&plan, &cache, &BTreeSet::new()) {
                if let (false, Some(c)) = (p.will_run, &p.components) {
                    keep.insert(c.key());
                }
            }
        }
    }
    let window = days.map(|d| std::time::Duration::from_secs(d * 86_400));
    let gc = cache.gc(&keep, window).map_err(io_failure("cannot collect garbage"))?;
    println!("removed {} entries ({:.1} MB), kept {}", gc.removed, gc.bytes as f64 / 1e6, gc.kept);
    Ok(ExitCode::SUCCESS)
}
