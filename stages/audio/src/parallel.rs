//! Ordered parallel maps with a progress bar, on a pool sized by the stage context.

use rayon::prelude::*;
use vox_api::StageContext;

use crate::error::AudioError;

/// Maps `f` over `items` on `ctx.threads` threads, ticking a progress bar labelled `what`;
/// results come back in the order of `items`, whatever order the work finished in.
pub(crate) fn map_with_progress<T, R, F>(
    ctx: &StageContext,
    items: &[T],
    what: &str,
    f: F,
) -> Result<Vec<R>, AudioError>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync + Send,
{
    map_init_with_progress(ctx, items, what, || (), |(), item| f(item))
}

/// [`map_with_progress`] with per-worker state: `init` builds a state (a resampler, buffers)
/// for each run of items a worker takes (rayon splits the items into a few runs per thread,
/// not one per item), and `f` gets it mutably with each item. The state must not change
/// results, so that they stay independent of the scheduling.
pub(crate) fn map_init_with_progress<T, S, R, I, F>(
    ctx: &StageContext,
    items: &[T],
    what: &str,
    init: I,
    f: F,
) -> Result<Vec<R>, AudioError>
where
    T: Sync,
    R: Send,
    I: Fn() -> S + Sync + Send,
    F: Fn(&mut S, &T) -> R + Sync + Send,
{
    let threads = ctx.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|source| AudioError::ThreadPool { threads, source })?;
    let bar = ctx.progress_bar(items.len() as u64, what);
    let results = pool.install(|| {
        items
            .par_iter()
            .map_init(&init, |state, item| {
                let result = f(state, item);
                bar.inc(1);
                result
            })
            .collect()
    });
    bar.finish_and_clear();
    Ok(results)
}
