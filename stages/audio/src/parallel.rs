//! Ordered parallel maps with a progress bar, on the run's shared pool (`vox_api::pool`).

use std::sync::{Mutex, PoisonError};

use rayon::prelude::*;
use vox_api::StageContext;

use crate::error::AudioError;

/// Maps `f` over `items` on the stage's threads (`vox_api::pool`), ticking a progress bar labelled `what`;
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
    let bar = ctx.progress_bar(items.len() as u64, what);
    let results = vox_api::pool::install(threads, || {
        items
            .par_iter()
            .map(|item| {
                let result = f(item);
                bar.inc(1);
                result
            })
            .collect()
    })
    .map_err(|source| AudioError::ThreadPool { threads, source })?;
    bar.finish_and_clear();
    Ok(results)
}

/// Runs `f` over `items` on `ctx.threads` threads in batches of at least `batch` items (8 per
/// thread on more than 8 threads), each into a reused output slot; hands every item's result
/// to `sink` in the order of `items` (after its batch is done), then runs `write` on what
/// `sink` returned and the item's slot, in order on a thread of its own, while the next batch
/// runs on all `ctx.threads`; ticks a progress bar labelled `what`. `sink` does what must
/// happen in order (numbering, placing a clip in the output), `write` the bulk of the output
/// (its samples, at the place `sink` gave them). The kernel serializes writes into one file
/// (one inode lock), so one writer goes as fast as many, and the workers never wait on the
/// lock (BENCHMARKS-gpu.md measures it on 16 cores). Each worker thread keeps one state
/// built by `init` (a resampler, buffers) for all its items. Two batches of slots and the
/// states are reused, so large per-item buffers are allocated once rather than per item
/// (fresh allocations this large are page faults and zeroed pages). The state and the
/// slots' previous contents must not change results: `f` overwrites its slot. Errors are
/// those of the first item in order.
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
    let threads = vox_api::pool::threads(ctx.threads);
    let pool = vox_api::pool::own_pool(threads).map_err(|source| AudioError::ThreadPool { threads, source })?;
    let states: Vec<Mutex<Option<S>>> = (0..threads).map(|_| Mutex::new(None)).collect();
    let batch = batch.max(8 * threads).max(1);
    // Slots of two batches: the one being worked on and the one being written.
    let mut slots: Vec<O> = (0..2 * batch).map(|_| O::default()).collect();
    let bar = ctx.progress_bar(items.len() as u64, what);
    let work = |chunk: &[T], slots: &mut [O]| -> Vec<R> {
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
    };
    let write_all = |places: Vec<P>, slots: &[O]| -> Result<(), E> {
        places.into_iter().zip(slots).try_for_each(|(place, slot)| write(place, slot))
    };
    // The previous batch's places, written into from the other half of `slots`.
    let mut pending: Vec<P> = Vec::new();
    for (k, chunk) in items.chunks(batch).enumerate() {
        let (first, second) = slots.split_at_mut(batch);
        let (current, previous) = if k % 2 == 0 { (first, second) } else { (second, first) };
        let places = std::mem::take(&mut pending);
        let (written, results) = std::thread::scope(|scope| {
            let writer = scope.spawn(|| write_all(places, previous));
            let results = match &pool {
                Some(pool) => pool.install(|| work(chunk, current)),
                None => work(chunk, current),
            };
            (writer.join(), results)
        });
        written.unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
        for ((item, result), slot) in chunk.iter().zip(results).zip(current.iter()) {
            pending.push(sink(item, result, slot)?);
        }
    }
    let last = items.chunks(batch).count();
    let (first, second) = slots.split_at(batch);
    let previous = if last % 2 == 1 { first } else { second };
    write_all(pending, previous)?;
    bar.finish_and_clear();
    Ok(())
}
