//! Ordered parallel maps with a progress bar, on a pool sized by the stage context.

use std::sync::{Mutex, PoisonError};

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

/// Runs `f` over `items` on `ctx.threads` threads in batches of `batch` items, each into a
/// reused output slot; hands every item's result to `sink` in the order of `items` (after its
/// batch is done), then runs `write` on what `sink` returned and the item's slot, in parallel
/// over the batch; ticks a progress bar labelled `what`. `sink` does what must happen in order
/// (numbering, placing a clip in the output), `write` the bulk of the output (its samples, at
/// the place `sink` gave them). Each worker thread keeps one state built by `init` (a
/// resampler, buffers) for all its items. Slots and states are reused from batch to batch, so
/// large per-item buffers are allocated once rather than per item (fresh allocations this
/// large are page faults and zeroed pages). The state and the slots' previous contents must
/// not change results: `f` overwrites its slot. Errors are those of the first item in order.
#[allow(clippy::too_many_arguments)]
pub(crate) fn for_each_in_order<T, S, O, R, P, E, I, F, W, X>(
    ctx: &StageContext,
    items: &[T],
    what: &str,
    batch: usize,
    init: I,
    f: F,
    mut sink: W,
    write: X,
) -> Result<(), E>
where
    T: Sync,
    S: Send,
    O: Default + Send + Sync,
    R: Send,
    P: Send,
    E: From<AudioError> + Send,
    I: Fn() -> S + Sync,
    F: Fn(&mut S, &T, &mut O) -> R + Sync,
    W: FnMut(&T, R, &O) -> Result<P, E>,
    X: Fn(P, &O) -> Result<(), E> + Sync,
{
    let threads = ctx.threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|source| AudioError::ThreadPool { threads, source })?;
    let states: Vec<Mutex<Option<S>>> = (0..threads).map(|_| Mutex::new(None)).collect();
    let mut slots: Vec<O> = (0..batch.max(1)).map(|_| O::default()).collect();
    let bar = ctx.progress_bar(items.len() as u64, what);
    for chunk in items.chunks(batch.max(1)) {
        let results: Vec<R> = pool.install(|| {
            chunk
                .par_iter()
                .zip(slots.par_iter_mut())
                .map(|(item, slot)| {
                    // Each pool thread has its own state: the lock is never contended.
                    let index = rayon::current_thread_index().unwrap_or(0) % threads;
                    let mut state = states[index].lock().unwrap_or_else(PoisonError::into_inner);
                    let result = f(state.get_or_insert_with(&init), item, slot);
                    bar.inc(1);
                    result
                })
                .collect()
        });
        let mut places = Vec::with_capacity(chunk.len());
        for ((item, result), slot) in chunk.iter().zip(results).zip(&slots) {
            places.push(sink(item, result, slot)?);
        }
        let written: Vec<Result<(), E>> = pool.install(|| {
            places
                .into_par_iter()
                .zip(slots.par_iter())
                .map(|(place, slot)| write(place, slot))
                .collect()
        });
        written.into_iter().collect::<Result<(), E>>()?;
    }
    bar.finish_and_clear();
    Ok(())
}
