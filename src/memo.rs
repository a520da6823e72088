//! The engine's store for work that stages share across splits of the same clips
//! (`vox_api::memo`): cache entries keyed like the stage that asks for them, with the part's
//! name added and each audio input's content hash taken with its split and fold left out
//! ([`crate::cache::split_blind_hash`]).
//!
//! The folds of a cross-validation are independent stages: in one process the scheduler runs
//! one stage that shares work at a time (`vox_api::StageDef::SHARES_WORK`), so the first fold
//! makes the work and the others find it. On a cluster the folds' jobs are queued after the
//! first fold's (`crate::slurm`); any that still run at once (submitted by another run) wait on
//! the entry's lock for the one that makes it instead of repeating it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use vox_api::memo::{Memo, Shared};
use vox_api::{ArtifactKind, Input, StageError};

use crate::cache::{Cache, CacheStep, Claim, KeyComponents, Lookup, split_blind_hash};
use crate::plan::PlannedStage;

/// What went wrong with a piece of shared work, the work itself aside.
#[derive(Debug, thiserror::Error)]
pub enum MemoError {
    /// An audio input's split-blind hash could not be made (its entry is unreadable).
    #[error("cannot key the shared work `{part}` on input `{input}` ({dir}): {source}")]
    Key {
        /// The part.
        part: String,
        /// The input's stage.
        input: String,
        /// Its folder.
        dir: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A kind asked for shared work without declaring `SHARES_WORK` (a bug of the kind: the
    /// scheduler could run it beside another that makes the same work, and the two could wait
    /// for each other).
    #[error("stage kind `{kind}` keeps shared work but does not declare `SHARES_WORK`")]
    Undeclared {
        /// The kind.
        kind: String,
    },
    /// The cache failed at `step`.
    #[error("the shared work `{part}` could not be stored ({step}): {source}")]
    Store {
        /// The part.
        part: String,
        /// What the cache was doing.
        step: CacheStep,
        /// The cause.
        source: std::io::Error,
    },
}

/// Shared work for one running stage.
pub struct CacheMemo<'a> {
    cache: &'a Cache,
    /// The stage is forced: its shared work is made again too (replacing what was stored).
    forced: bool,
    /// Its kind declares `SHARES_WORK`.
    declared: bool,
    stage: &'a str,
    components: &'a KeyComponents,
    inputs: &'a [Input],
    used: Mutex<Vec<String>>,
}

impl<'a> CacheMemo<'a> {
    /// The store for the planned stage `stage` whose key is made of `components`, with
    /// `inputs`; `forced` when the run forces the stage (`--force`), which then makes its
    /// shared work again rather than trust what is stored.
    pub fn new(cache: &'a Cache, stage: &'a PlannedStage, components: &'a KeyComponents, inputs: &'a [Input], forced: bool) -> Self {
        Self { cache, forced, declared: stage.shares_work, stage: &stage.name, components, inputs, used: Mutex::default() }
    }

    /// The keys of the shared work the stage made or read, for its entry.
    pub fn used(self) -> Vec<String> {
        let mut used = self.used.into_inner().unwrap_or_else(|e| e.into_inner());
        used.sort();
        used.dedup();
        used
    }

    /// The components of the shared work `part`.
    fn components(&self, part: &str) -> Result<KeyComponents, MemoError> {
        let mut components = KeyComponents { shared: Some(part.to_string()), ..self.components.clone() };
        for (component, input) in components.inputs.iter_mut().zip(self.inputs) {
            if input.kind == ArtifactKind::Audio {
                component.hash = split_blind_hash(&input.dir).map_err(|source| MemoError::Key {
                    part: part.to_string(),
                    input: input.name.clone(),
                    dir: input.dir.clone(),
                    source,
                })?;
            }
        }
        Ok(components)
    }

    fn found(&self, key: &str, part: &str) -> Shared {
        self.cache.touch(key);
        tracing::info!("`{}`: {part} of the same clips were computed before (for another split); read from {}", self.stage, &key[..12]);
        Shared { dir: self.cache.out_dir(key) }
    }
}

impl Memo for CacheMemo<'_> {
    fn get_or_fill(&self, part: &str, fill: &mut dyn FnMut(&Path) -> Result<(), StageError>) -> Result<Shared, StageError> {
        if !self.declared {
            return Err(MemoError::Undeclared { kind: self.components.kind.clone() }.into());
        }
        let components = self.components(part)?;
        let key = components.key();
        self.used.lock().unwrap_or_else(|e| e.into_inner()).push(key.clone());
        match self.cache.lookup(&key) {
            Lookup::Hit(_) if !self.forced => return Ok(self.found(&key, part)),
            Lookup::Corrupt(problem) => {
                tracing::warn!("`{}`: the shared work {} is corrupt ({problem}); computing it again", self.stage, &key[..12]);
            }
            _ => {}
        }
        let store = |step: CacheStep| move |source| MemoError::Store { part: part.to_string(), step, source };
        let (pending, _lock) = match self.cache.claim(&key, self.forced) {
            Ok(Claim::Build(pending, lock)) => (pending, lock),
            // Another stage made it while this one waited.
            Ok(Claim::Built(_)) => return Ok(self.found(&key, part)),
            Err((step, e)) => return Err(store(step)(e).into()),
        };
        let started = Instant::now();
        if let Err(e) = fill(&pending.out_dir) {
            self.cache.abandon(pending);
            return Err(e);
        }
        let seconds = started.elapsed().as_secs_f64();
        self.cache.commit(pending, components, seconds, Vec::new()).map_err(store(CacheStep::Commit))?;
        Ok(Shared { dir: self.cache.out_dir(&key) })
    }
}

/// Shared work while `vox predict` applies a run's stages to new clips. A cross-validation's
/// fold stages apply to the same new clips (its split passes them through), so the first
/// fold's features or forward pass serve the others. Kept in the call's work folder, which
/// goes when the call ends, and keyed by what the stage was configured with: its kind and
/// version, its recorded params (path params by content), its backend and its input folders.
pub struct ScratchMemo {
    dir: PathBuf,
    made: Mutex<BTreeMap<String, PathBuf>>,
}

impl ScratchMemo {
    /// A store in `dir` (created on first use).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir, made: Mutex::default() }
    }

    /// The store as one stage sees it: `stage` (for messages) and `configured`, the stage's
    /// key text (see the type's doc).
    pub fn for_stage<'a>(&'a self, stage: &'a str, configured: &serde_json::Value) -> ScratchStage<'a> {
        ScratchStage { memo: self, stage, configured: configured.to_string() }
    }
}

/// [`ScratchMemo`] for one stage.
pub struct ScratchStage<'a> {
    memo: &'a ScratchMemo,
    stage: &'a str,
    configured: String,
}

impl Memo for ScratchStage<'_> {
    fn get_or_fill(&self, part: &str, fill: &mut dyn FnMut(&Path) -> Result<(), StageError>) -> Result<Shared, StageError> {
        let key = blake3::hash(format!("{part}\0{}", self.configured).as_bytes()).to_hex().to_string();
        let mut made = self.memo.made.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = made.get(&key) {
            tracing::info!("`{}`: {part} of the same clips were computed before (for another fold)", self.stage);
            return Ok(Shared { dir: dir.clone() });
        }
        let dir = self.memo.dir.join(&key[..16]);
        std::fs::create_dir_all(&dir).map_err(|source| MemoError::Store { part: part.to_string(), step: CacheStep::Prepare, source })?;
        fill(&dir)?;
        made.insert(key, dir.clone());
        Ok(Shared { dir })
    }
}
