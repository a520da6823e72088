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
    let threads = ctx.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|source| AudioError::ThreadPool { threads, source })?;
    let bar = ctx.progress_bar(items.len() as u64, what);
    let results = pool.install(|| {
        items
            .par_iter()
            .map(|item| {
                let result = f(item);
                bar.inc(1);
                result
            })
            .collect()
    });
    bar.finish_and_clear();
    Ok(results)
}
