//! The threads a stage computes on.
//!
//! The engine runs every stage inside one rayon pool of `--jobs` threads shared by all the
//! stages of a run, so the run computes on at most that many threads however many stages run at
//! once, and a stage left alone (a long fine-tune after the feature stages finish) gets all of
//! them by work stealing. A stage runs its parallel work through [`install`]: inside the run's
//! pool it simply runs there; called from outside any pool (a test, `vox predict`'s apply, a
//! tool) it makes a pool of `threads` for the call. Results must not depend on the number of
//! threads or on which thread ran what (every stage's tests check it).

/// Runs `f` on the current rayon pool when called from one (the run's shared pool), else on a
/// new pool of `threads` threads.
pub fn install<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R, rayon::ThreadPoolBuildError> {
    match own_pool(threads)? {
        Some(pool) => Ok(pool.install(f)),
        None => Ok(f()),
    }
}

/// A new pool of `threads` threads when called from outside any pool; `None` inside one (run
/// there). For code that enters the pool many times (`pool.install` per batch).
pub fn own_pool(threads: usize) -> Result<Option<rayon::ThreadPool>, rayon::ThreadPoolBuildError> {
    if rayon::current_thread_index().is_some() {
        return Ok(None);
    }
    rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().map(Some)
}

/// The threads [`install`] runs on: the current pool's size inside one, else `threads`.
pub fn threads(threads: usize) -> usize {
    if rayon::current_thread_index().is_some() { rayon::current_num_threads() } else { threads.max(1) }
}

#[cfg(test)]
mod tests {
    #[test]
    fn inside_a_pool_the_pool_is_shared() {
        let outer = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let (inside, size) = outer.install(|| super::install(8, || (rayon::current_num_threads(), super::threads(8))).unwrap());
        assert_eq!((inside, size), (3, 3), "no pool of 8 is made inside the run's pool of 3");
        let alone = super::install(2, rayon::current_num_threads).unwrap();
        assert_eq!(alone, 2);
    }
}
