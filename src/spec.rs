//! Pipeline files -> one merged, spanned [`PipelineSpec`].
//!
//! A pipeline is a `[pipeline]` table (`name`, `seed`, `description`, `extends`, `include`) and
//! `[stages.NAME]` tables (`kind`, `inputs`, `backend`, then the kind's params). `extends = "f.toml"`
//! (or a list, merged in order) loads other pipelines first and deep-merges this file over it (header keys and stage params
//! override one by one; a stage table that states `kind` is a full definition and replaces the
//! base's); `include = [..]` merges stage fragments before this file's own stages.
//! Paths resolve against the folder of the file that wrote them. Every value keeps its location,
//! so later passes can point at the exact text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::error::{SpecError, SpecErrorKind};
use crate::source::{Loc, Located, SourceMap};

/// Default pipeline seed when `[pipeline] seed` is absent.
pub const DEFAULT_SEED: u64 = 42;

/// A pipeline after merging its files, before its stages are checked against the registry.
#[derive(Debug, Clone)]
pub struct PipelineSpec {
    /// `[pipeline] name`.
    pub name: Located<String>,
    /// `[pipeline] seed`.
    pub seed: u64,
    /// `[pipeline] description`.
    pub description: Option<String>,
    /// The stages, in declaration order (a base's stages first).
    pub stages: Vec<StageSpec>,
    /// `[sweep]`, if any.
    pub sweep: Option<SweepSpec>,
    /// `[search]`, if any (checked by [`crate::search::Search::from_spec`]).
    pub search: Option<SearchSpec>,
    /// `[executor]`: how `--executor slurm` submits the stages.
    pub executor: ExecutorSpec,
}

/// `[executor]`: the cluster settings of `vox run --executor slurm` (every key optional).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorSpec {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--account`.
    pub account: Option<String>,
    /// `--qos`.
    pub qos: Option<String>,
    /// `--time` of every job without its own (`"02:00:00"`, `"1-00:00:00"`).
    pub time: Option<String>,
    /// Further `sbatch` arguments for every job, e.g. `["--constraint=a100"]`.
    #[serde(default)]
    pub sbatch_args: Vec<String>,
    /// Default resources by stage kind, e.g. `[executor.resources.fine-tune] gpus = 1`.
    #[serde(default)]
    pub resources: BTreeMap<String, Resources>,
}

/// What one stage's job asks for (a stage's `resources = { ... }`, or its kind's default from
/// `[executor.resources.KIND]`); unset keys leave the cluster's defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// `--partition`, over `[executor]`'s (GPU stages on a GPU partition).
    pub partition: Option<String>,
    /// `--cpus-per-task`.
    pub cpus: Option<u32>,
    /// `--mem` (`"16G"`).
    pub mem: Option<String>,
    /// `--time`.
    pub time: Option<String>,
    /// `--gres=gpu:N`.
    pub gpus: Option<u32>,
}

impl Resources {
    /// These resources, each unset one taken from `default`.
    pub fn or(&self, default: &Resources) -> Resources {
        Resources {
            partition: self.partition.clone().or_else(|| default.partition.clone()),
            cpus: self.cpus.or(default.cpus),
            mem: self.mem.clone().or_else(|| default.mem.clone()),
            time: self.time.clone().or_else(|| default.time.clone()),
            gpus: self.gpus.or(default.gpus),
        }
    }
}

/// One `"STAGE.PARAM" = value` of a named sweep variant.
pub type SweepSetting = (Located<String>, toml::Value);

/// `[sweep]`: variants of the pipeline to run as one DAG and compare.
#[derive(Debug, Clone, Default)]
pub struct SweepSpec {
    /// `[sweep.grid]`: `"STAGE.PARAM" = [values]`; every combination is a variant.
    pub grid: Vec<(Located<String>, Vec<toml::Value>)>,
    /// `[sweep.variants.NAME]`: named sets of `"STAGE.PARAM" = value` overrides.
    pub variants: Vec<(String, Vec<SweepSetting>)>,
    /// `seeds = [..]`: each variant is repeated with each pipeline seed.
    pub seeds: Vec<u64>,
    /// `metrics = [..]`: the `evaluate` summary columns to compare.
    pub metrics: Vec<String>,
    /// `by = [..]`: columns an `evaluate` scores by (its `by`) whose groups get rows of their own.
    pub by: Vec<String>,
}

/// `[search]` as written: every key with where it was written; its meaning is checked by
/// [`crate::search::Search::from_spec`].
#[derive(Debug, Clone, Default)]
pub struct SearchSpec {
    /// Where the table is (for errors about keys it lacks).
    pub loc: Option<Loc>,
    /// The scalar keys (`method`, `trials`, `seed`, `metric`, `model`, `budget`, `min_budget`,
    /// `max_budget`, `eta`), in declaration order.
    pub keys: Vec<(Located<String>, Located<toml::Value>)>,
    /// `[search.space]`: `"STAGE.PARAM" = distribution`, in declaration order.
    pub space: Vec<(Located<String>, Located<toml::Value>)>,
}

impl SearchSpec {
    /// The value of key `name`, if written.
    pub fn key(&self, name: &str) -> Option<&Located<toml::Value>> {
        self.keys.iter().find(|(k, _)| k.value == name).map(|(_, v)| v)
    }

    /// Lays `over` on top: keys and space entries replace by name.
    fn overlay(mut self, over: SearchSpec) -> SearchSpec {
        for (list, over) in [(&mut self.keys, over.keys), (&mut self.space, over.space)] {
            for (key, value) in over {
                match list.iter_mut().find(|(k, _)| k.value == key.value) {
                    Some(entry) => *entry = (key, value),
                    None => list.push((key, value)),
                }
            }
        }
        self.loc = over.loc.or(self.loc);
        self
    }
}

/// One `[stages.NAME]` table.
#[derive(Debug, Clone)]
pub struct StageSpec {
    /// The stage name.
    pub name: String,
    /// Where the name was declared.
    pub name_loc: Loc,
    /// `kind = "..."`.
    pub kind: Option<Located<String>>,
    /// `inputs = [..]`, in order.
    pub inputs: Vec<Located<String>>,
    /// `backend = "..."`.
    pub backend: Option<Located<String>>,
    /// `resources = { cpus, mem, time, gpus }`: what its job asks a cluster for.
    pub resources: Option<Resources>,
    /// Every other key: the kind's params.
    pub params: BTreeMap<String, Param>,
}

/// One param value and where it was written.
#[derive(Debug, Clone)]
pub struct Param {
    /// The TOML value.
    pub value: toml::Value,
    /// Where the key was written.
    pub key_loc: Loc,
    /// Where the value was written.
    pub value_loc: Loc,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    pipeline: Option<Spanned<RawHeader>>,
    #[serde(default)]
    stages: BTreeMap<Spanned<String>, Spanned<RawStage>>,
    sweep: Option<RawSweep>,
    search: Option<Spanned<RawSearch>>,
    executor: Option<ExecutorSpec>,
}

/// `[search]` as written; values are checked by [`crate::search::Search::from_spec`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSearch {
    method: Option<Spanned<toml::Value>>,
    trials: Option<Spanned<toml::Value>>,
    seed: Option<Spanned<toml::Value>>,
    metric: Option<Spanned<toml::Value>>,
    model: Option<Spanned<toml::Value>>,
    budget: Option<Spanned<toml::Value>>,
    min_budget: Option<Spanned<toml::Value>>,
    max_budget: Option<Spanned<toml::Value>>,
    eta: Option<Spanned<toml::Value>>,
    #[serde(default)]
    space: BTreeMap<Spanned<String>, Spanned<toml::Value>>,
}

/// A stage table as written: every key and value with its span.
type RawStage = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSweep {
    #[serde(default)]
    grid: BTreeMap<Spanned<String>, Vec<toml::Value>>,
    #[serde(default)]
    variants: BTreeMap<Spanned<String>, BTreeMap<Spanned<String>, toml::Value>>,
    #[serde(default)]
    seeds: Vec<u64>,
    #[serde(default)]
    metrics: Vec<String>,
    #[serde(default)]
    by: Vec<String>,
}

/// The keys of `[pipeline]` ([`RawHeader`]'s fields), for the error of one written outside it.
const HEADER_KEYS: [&str; 5] = ["name", "seed", "description", "extends", "include"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: Option<Spanned<String>>,
    seed: Option<u64>,
    description: Option<String>,
    extends: Option<Spanned<toml::Value>>,
    #[serde(default)]
    include: Vec<Spanned<String>>,
}

/// Reads `path` and everything it extends or includes.
pub fn load(path: &Path, sources: &mut SourceMap) -> Result<PipelineSpec, Vec<SpecError>> {
    let mut loader = Loader { sources, stack: Vec::new() };
    let merged = loader.load_file(path, None).map_err(|e| vec![e])?;
    let name = merged.name.ok_or_else(|| vec![SpecError::bare(SpecErrorKind::MissingName)])?;
    if merged.stages.is_empty() {
        return Err(vec![SpecError::at(SpecErrorKind::NoStages, name.loc)]);
    }
    Ok(PipelineSpec {
        name,
        seed: merged.seed.unwrap_or(DEFAULT_SEED),
        description: merged.description,
        stages: merged.stages,
        sweep: merged.sweep,
        search: merged.search,
        executor: merged.executor.unwrap_or_default(),
    })
}

/// A file's contents merged with what it extends and includes.
#[derive(Default)]
struct Merged {
    name: Option<Located<String>>,
    seed: Option<u64>,
    description: Option<String>,
    stages: Vec<StageSpec>,
    sweep: Option<SweepSpec>,
    search: Option<SearchSpec>,
    executor: Option<ExecutorSpec>,
}

impl Merged {
    /// Lays `over` on top of `self`: header keys replace, stages merge param by param.
    fn overlay(&mut self, over: Merged) {
        self.name = over.name.or(self.name.take());
        self.seed = over.seed.or(self.seed);
        self.description = over.description.or(self.description.take());
        self.sweep = match (self.sweep.take(), over.sweep) {
            (Some(base), Some(over)) => Some(base.overlay(over)),
            (base, over) => over.or(base),
        };
        self.search = match (self.search.take(), over.search) {
            (Some(base), Some(over)) => Some(base.overlay(over)),
            (base, over) => over.or(base),
        };
        self.executor = match (self.executor.take(), over.executor) {
            (Some(base), Some(over)) => Some(ExecutorSpec {
                partition: over.partition.or(base.partition),
                account: over.account.or(base.account),
                qos: over.qos.or(base.qos),
                time: over.time.or(base.time),
                sbatch_args: if over.sbatch_args.is_empty() { base.sbatch_args } else { over.sbatch_args },
                resources: base.resources.into_iter().chain(over.resources).collect(),
            }),
            (base, over) => over.or(base),
        };
        for stage in over.stages {
            match self.stages.iter_mut().find(|s| s.name == stage.name) {
                Some(base) if stage.kind.is_some() => {
                    // A table that states `kind` is a full definition: it replaces the base's.
                    *base = stage;
                }
                Some(base) => {
                    base.name_loc = stage.name_loc;
                    if stage.kind.is_some() {
                        base.kind = stage.kind;
                    }
                    if !stage.inputs.is_empty() {
                        base.inputs = stage.inputs;
                    }
                    if stage.backend.is_some() {
                        base.backend = stage.backend;
                    }
                    if let Some(over) = stage.resources {
                        base.resources = Some(base.resources.take().map_or(over.clone(), |old| over.or(&old)));
                    }
                    for (key, param) in stage.params {
                        let merged = match (base.params.remove(&key), param) {
                            (Some(old), mut new) => {
                                new.value = deep_merge(old.value, new.value);
                                new
                            }
                            (None, new) => new,
                        };
                        base.params.insert(key, merged);
                    }
                }
                None => self.stages.push(stage),
            }
        }
    }
}

impl SweepSpec {
    /// Lays `over` on top: grid axes and named variants merge by name, `seeds`, `metrics` and
    /// `by` are replaced when given.
    fn overlay(mut self, over: SweepSpec) -> SweepSpec {
        for (target, values) in over.grid {
            match self.grid.iter_mut().find(|(t, _)| t.value == target.value) {
                Some(axis) => *axis = (target, values),
                None => self.grid.push((target, values)),
            }
        }
        for (name, sets) in over.variants {
            match self.variants.iter_mut().find(|(n, _)| *n == name) {
                Some(variant) => variant.1 = sets,
                None => self.variants.push((name, sets)),
            }
        }
        if !over.seeds.is_empty() {
            self.seeds = over.seeds;
        }
        if !over.metrics.is_empty() {
            self.metrics = over.metrics;
        }
        if !over.by.is_empty() {
            self.by = over.by;
        }
        self
    }
}

/// Merges TOML tables key by key; any other value is replaced.
fn deep_merge(base: toml::Value, over: toml::Value) -> toml::Value {
    match (base, over) {
        (toml::Value::Table(mut base), toml::Value::Table(over)) => {
            for (k, v) in over {
                let merged = match base.remove(&k) {
                    Some(old) => deep_merge(old, v),
                    None => v,
                };
                base.insert(k, merged);
            }
            toml::Value::Table(base)
        }
        (_, over) => over,
    }
}

struct Loader<'a> {
    sources: &'a mut SourceMap,
    stack: Vec<PathBuf>,
}

impl Loader<'_> {
    /// Loads one file; `from` is where another file referred to it.
    fn load_file(&mut self, path: &Path, from: Option<&Loc>) -> Result<Merged, SpecError> {
        let at = |kind| match from {
            Some(loc) => SpecError::at(kind, loc.clone()),
            None => SpecError::bare(kind),
        };
        let text = std::fs::read_to_string(path)
            .map_err(|source| at(SpecErrorKind::Read { path: path.to_path_buf(), source }))?;
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if let Some(first) = self.stack.iter().position(|p| *p == canonical) {
            let chain = self.stack[first..]
                .iter()
                .chain(std::iter::once(&canonical))
                .map(|p| p.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(" -> ");
            return Err(at(SpecErrorKind::IncludeCycle { path: path.display().to_string(), chain }));
        }
        let file = self.sources.add(path.display().to_string(), Some(canonical.clone()), text);
        let text = self.sources.files[file].text.clone();
        let raw: RawFile = toml::from_str(&text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            // A header key written above `[pipeline]` (`extends = ...` first, as in other
            // tools' formats) is the likely slip: say where it goes.
            let key = text.get(span.clone()).map(str::trim).unwrap_or_default();
            if e.message().starts_with("unknown field") && HEADER_KEYS.contains(&key) {
                return SpecError::at(SpecErrorKind::HeaderKeyOutside { key: key.to_string() }, Loc { file, span });
            }
            let message = e.message().lines().next().unwrap_or("invalid TOML").to_string();
            SpecError::at(SpecErrorKind::Toml { message }, Loc { file, span })
        })?;
        let dir = canonical.parent().map(Path::to_path_buf).unwrap_or_default();
        let loc = |span: std::ops::Range<usize>| Loc { file, span };

        self.stack.push(canonical);
        let mut merged = Merged::default();
        let mut own = Merged::default();
        if let Some(header) = raw.pipeline {
            let header = header.into_inner();
            if let Some(extends) = &header.extends {
                let at = loc(extends.span());
                let bases = match extends.get_ref() {
                    toml::Value::String(one) => vec![one.clone()],
                    toml::Value::Array(many) if many.iter().all(toml::Value::is_str) => {
                        many.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
                    }
                    _ => {
                        let message = "`extends` must be a file name or an array of file names".to_string();
                        return Err(SpecError::at(SpecErrorKind::Toml { message }, at));
                    }
                };
                for base in bases {
                    let base = self.load_file(&dir.join(base), Some(&at))?;
                    merged.overlay(base);
                }
            }
            for include in &header.include {
                let fragment = self.load_file(&dir.join(include.get_ref()), Some(&loc(include.span())))?;
                if let Some(name) = &fragment.name {
                    let path = include.get_ref().clone();
                    return Err(SpecError::at(SpecErrorKind::IncludeHasPipeline { path }, name.loc.clone()));
                }
                merged.overlay(fragment);
            }
            own.name = header.name.map(|n| Located { loc: loc(n.span()), value: n.into_inner() });
            own.seed = header.seed;
            own.description = header.description;
        }
        own.sweep = raw.sweep.map(|sweep| sweep_spec(sweep, file));
        own.search = raw.search.map(|search| search_spec(search, file));
        own.executor = raw.executor;
        let mut stages: Vec<_> = raw.stages.into_iter().collect();
        stages.sort_by_key(|(name, _)| name.span().start);
        for (name, table) in stages {
            own.stages.push(stage_spec(name, table.into_inner(), file)?);
        }
        self.stack.pop();
        merged.overlay(own);
        Ok(merged)
    }
}

/// A `[search]` table, each key and space entry with its place.
fn search_spec(raw: Spanned<RawSearch>, file: usize) -> SearchSpec {
    let loc = |span: std::ops::Range<usize>| Loc { file, span };
    let table_loc = loc(raw.span());
    let raw = raw.into_inner();
    let keys = [
        ("method", raw.method),
        ("trials", raw.trials),
        ("seed", raw.seed),
        ("metric", raw.metric),
        ("model", raw.model),
        ("budget", raw.budget),
        ("min_budget", raw.min_budget),
        ("max_budget", raw.max_budget),
        ("eta", raw.eta),
    ];
    let mut keys: Vec<_> = keys
        .into_iter()
        .filter_map(|(name, value)| {
            let value = value?;
            let at = loc(value.span());
            Some((Located { loc: at.clone(), value: name.to_string() }, Located { loc: at, value: value.into_inner() }))
        })
        .collect();
    keys.sort_by_key(|(k, _)| k.loc.span.start);
    let mut space: Vec<_> = raw
        .space
        .into_iter()
        .map(|(target, value)| {
            (Located { loc: loc(target.span()), value: target.into_inner() }, Located { loc: loc(value.span()), value: value.into_inner() })
        })
        .collect();
    space.sort_by_key(|(k, _)| k.loc.span.start);
    SearchSpec { loc: Some(table_loc), keys, space }
}

/// A `[sweep]` table in declaration order.
fn sweep_spec(raw: RawSweep, file: usize) -> SweepSpec {
    let located = |key: Spanned<String>| Located { loc: Loc { file, span: key.span() }, value: key.into_inner() };
    let mut grid: Vec<_> = raw.grid.into_iter().collect();
    grid.sort_by_key(|(k, _)| k.span().start);
    let mut variants: Vec<_> = raw.variants.into_iter().collect();
    variants.sort_by_key(|(k, _)| k.span().start);
    SweepSpec {
        grid: grid.into_iter().map(|(k, values)| (located(k), values)).collect(),
        variants: variants
            .into_iter()
            .map(|(name, sets)| {
                let mut sets: Vec<_> = sets.into_iter().collect();
                sets.sort_by_key(|(k, _)| k.span().start);
                (name.into_inner(), sets.into_iter().map(|(k, v)| (located(k), v)).collect())
            })
            .collect(),
        seeds: raw.seeds,
        metrics: raw.metrics,
        by: raw.by,
    }
}

/// Splits a stage table into the engine's keys and the kind's params.
fn stage_spec(
    name: Spanned<String>,
    table: RawStage,
    file: usize,
) -> Result<StageSpec, SpecError> {
    let loc = |span: std::ops::Range<usize>| Loc { file, span };
    let stage = name.get_ref().clone();
    let bad = |key: &'static str, expected: &'static str, span| {
        SpecError::at(SpecErrorKind::BadEngineKey { stage: stage.clone(), key, expected }, loc(span))
    };
    let mut spec = StageSpec {
        name: stage.clone(),
        name_loc: loc(name.span()),
        kind: None,
        inputs: Vec::new(),
        backend: None,
        resources: None,
        params: BTreeMap::new(),
    };
    for (key, value) in table {
        let value_span = value.span();
        match key.get_ref().as_str() {
            "kind" | "backend" => {
                let toml::Value::String(s) = value.into_inner() else {
                    let which = if key.get_ref() == "kind" { "kind" } else { "backend" };
                    return Err(bad(which, "a string", value_span));
                };
                let located = Some(Located { value: s, loc: loc(value_span) });
                if key.get_ref() == "kind" {
                    spec.kind = located;
                } else {
                    spec.backend = located;
                }
            }
            "resources" => {
                let resources = Resources::deserialize(value.into_inner()).map_err(|_| {
                    bad("resources", "a table of `partition`, `mem`, `time` (strings), `cpus` and `gpus` (counts)", value_span)
                })?;
                spec.resources = Some(resources);
            }
            "inputs" => {
                let toml::Value::Array(items) = value.into_inner() else {
                    return Err(bad("inputs", "an array of stage names", value_span));
                };
                // Array items carry no spans of their own; find each name inside the array text.
                spec.inputs = items
                    .into_iter()
                    .map(|item| match item {
                        toml::Value::String(s) => Ok(s),
                        _ => Err(bad("inputs", "an array of stage names", value_span.clone())),
                    })
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .map(|s| Located { value: s, loc: loc(value_span.clone()) })
                    .collect();
            }
            _ => {
                spec.params.insert(
                    key.get_ref().clone(),
                    Param { value: value.into_inner(), key_loc: loc(key.span()), value_loc: loc(value_span) },
                );
            }
        }
    }
    Ok(spec)
}

/// Narrows each input's location from the whole array to the quoted name inside it.
pub fn narrow_input_locs(spec: &mut PipelineSpec, sources: &SourceMap) {
    for stage in &mut spec.stages {
        let mut from = 0;
        for input in &mut stage.inputs {
            let text = &sources.files[input.loc.file].text;
            let array = &text[input.loc.span.clone()];
            let quoted = [format!("\"{}\"", input.value), format!("'{}'", input.value)];
            if let Some((offset, len)) = quoted
                .iter()
                .filter_map(|q| array[from.min(array.len())..].find(q.as_str()).map(|i| (i + from, q.len())))
                .min()
            {
                let start = input.loc.span.start + offset;
                input.loc.span = start..start + len;
                from = offset + len;
            }
        }
    }
}

/// One `--set TARGET=VALUE` from the command line, where TARGET is `STAGE.PARAM`, `STAGE.inputs`,
/// `STAGE.backend` or `pipeline.seed`.
#[derive(Debug, Clone)]
pub struct Override {
    /// The stage (or `pipeline`).
    pub stage: Located<String>,
    /// The param.
    pub param: Located<String>,
    /// The value: text from the command line (typed once the param's type is known) or a TOML
    /// value from a `[sweep]`.
    pub value: Located<OverrideValue>,
}

/// The value of an [`Override`].
#[derive(Debug, Clone, PartialEq)]
pub enum OverrideValue {
    /// Command-line text.
    Text(String),
    /// A TOML value.
    Toml(toml::Value),
}

impl std::fmt::Display for OverrideValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(t) => f.write_str(t),
            Self::Toml(toml::Value::String(s)) => f.write_str(s),
            Self::Toml(v) => write!(f, "{v}"),
        }
    }
}

impl Override {
    /// An override of `target` (`STAGE.PARAM`) written at `loc`.
    pub fn new(target: &Located<String>, value: OverrideValue) -> Option<Self> {
        let (stage, param) = target.value.split_once('.')?;
        let loc = target.loc.clone();
        Some(Self {
            stage: Located { value: stage.to_string(), loc: loc.clone() },
            param: Located { value: param.to_string(), loc: loc.clone() },
            value: Located { value, loc },
        })
    }
}

/// Adds the arguments of a command-line `flag` to `sources` as a text of their own, one
/// `FLAG ARG` a line, so that errors can point into them; returns each argument with its location.
fn command_line<'a>(flag: &str, args: &'a [String], sources: &mut SourceMap) -> Vec<(&'a str, Loc)> {
    let text = args.iter().map(|a| format!("{flag} {a}")).collect::<Vec<_>>().join("\n");
    let file = sources.add(flag.into(), None, text);
    let mut start = 0;
    args.iter()
        .map(|arg| {
            let base = start + flag.len() + 1;
            start = base + arg.len() + 1;
            (arg.as_str(), Loc { file, span: base..base + arg.len() })
        })
        .collect()
}

/// Parses `--set` arguments; their text becomes a source named `--set` so errors can point at it.
pub fn parse_overrides(args: &[String], sources: &mut SourceMap) -> Result<Vec<Override>, Vec<SpecError>> {
    if args.is_empty() {
        return Ok(Vec::new());
    }
    let mut errors = Vec::new();
    let mut overrides = Vec::new();
    for (arg, at) in command_line("--set", args, sources) {
        let loc = |a: usize, b: usize| Loc { file: at.file, span: at.span.start + a..at.span.start + b };
        let parsed = arg.split_once('=').and_then(|(target, value)| {
            let (stage, param) = target.split_once('.')?;
            (!stage.is_empty() && !param.is_empty()).then_some((stage, param, value))
        });
        match parsed {
            Some((stage, param, value)) => {
                let p0 = stage.len() + 1;
                let v0 = p0 + param.len() + 1;
                overrides.push(Override {
                    stage: Located { value: stage.trim().into(), loc: loc(0, stage.len()) },
                    param: Located { value: param.trim().into(), loc: loc(p0, p0 + param.len()) },
                    value: Located { value: OverrideValue::Text(value.trim().into()), loc: loc(v0, arg.len()) },
                });
            }
            None => errors.push(SpecError::at(
                SpecErrorKind::BadOverride {
                    text: arg.to_string(),
                    problem: "expected `STAGE.PARAM=VALUE`".into(),
                    suggestion: None,
                },
                at,
            )),
        }
    }
    if errors.is_empty() { Ok(overrides) } else { Err(errors) }
}

/// One sweep grid axis: a `STAGE.PARAM` target and its values.
pub type Axis = (Located<String>, Vec<OverrideValue>);

/// Parses `--grid STAGE.PARAM=A,B` arguments (or `STAGE.PARAM=[a, b]`, a TOML array) into sweep
/// axes pointing into a `--grid` source.
pub fn parse_grid(args: &[String], sources: &mut SourceMap) -> Result<Vec<Axis>, Vec<SpecError>> {
    if args.is_empty() {
        return Ok(Vec::new());
    }
    let mut axes = Vec::new();
    let mut errors = Vec::new();
    for (arg, loc) in command_line("--grid", args, sources) {
        let Some((target, values)) = arg.split_once('=') else {
            let kind = SpecErrorKind::BadOverride {
                text: arg.to_string(),
                problem: "expected `STAGE.PARAM=A,B`".into(),
                suggestion: None,
            };
            errors.push(SpecError::at(kind, loc));
            continue;
        };
        let values = match parse_toml_value(values) {
            Some(toml::Value::Array(items)) => items.into_iter().map(OverrideValue::Toml).collect(),
            _ => values.split(',').map(|v| OverrideValue::Text(v.trim().to_string())).collect(),
        };
        axes.push((Located { value: target.trim().to_string(), loc }, values));
    }
    if errors.is_empty() { Ok(axes) } else { Err(errors) }
}

/// Parses `text` as a TOML value (`[1, 2]`, `3.5`, `{ a = 1 }`, `"s"`).
pub fn parse_toml_value(text: &str) -> Option<toml::Value> {
    let table: toml::Table = toml::from_str(&format!("v = {text}")).ok()?;
    table.get("v").cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn extends_and_include_merge_in_order() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "base.toml", "[pipeline]\nname = \"base\"\nseed = 1\n\n[stages.a]\nkind = \"synth\"\nactors = 24\nstatements = 2\n\n[stages.b]\nkind = \"decode\"\ninputs = [\"a\"]\n");
        write(dir.path(), "frag.toml", "[stages.c]\nkind = \"pad\"\ninputs = [\"b\"]\nlength = 100\n");
        let top = write(dir.path(), "top.toml", "[pipeline]\nname = \"top\"\nextends = \"base.toml\"\ninclude = [\"frag.toml\"]\n\n[stages.a]\nactors = 2\n\n[stages.c]\nlength = 200\n\n[stages.b]\nkind = \"download\"\npath = \"x\"\n");
        let mut sources = SourceMap::default();
        let spec = load(&top, &mut sources).unwrap();
        assert_eq!(spec.name.value, "top");
        assert_eq!(spec.seed, 1);
        let names: Vec<_> = spec.stages.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(spec.stages[0].params["actors"].value, toml::Value::Integer(2));
        assert_eq!(spec.stages[0].params["statements"].value, toml::Value::Integer(2));
        assert_eq!(spec.stages[0].kind.as_ref().unwrap().value, "synth");
        assert_eq!(spec.stages[2].params["length"].value, toml::Value::Integer(200));
        // `b` states its kind: a full definition; the base's inputs and params are gone, its
        // position stays.
        assert!(spec.stages[1].inputs.is_empty());
        assert_eq!(spec.stages[1].params.keys().collect::<Vec<_>>(), ["path"]);
        assert_eq!(sources.describe(&spec.stages[2].params["length"].value_loc), format!("{}:10:10", top.display()));
    }

    #[test]
    fn executor_settings_and_resources_merge_and_bad_ones_are_located() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "base.toml",
            "[pipeline]\nname = \"base\"\n[executor]\npartition = \"cpu\"\ntime = \"01:00:00\"\n\
             [executor.resources.fine-tune]\npartition = \"gpu\"\n\
             [stages.w]\nkind = \"fine-tune\"\nresources = { cpus = 4, mem = \"8G\" }\n",
        );
        let top = write(
            dir.path(),
            "top.toml",
            "[pipeline]\nextends = \"base.toml\"\n[executor]\naccount = \"lab\"\n[stages.w]\nresources = { mem = \"16G\" }\n",
        );
        let spec = load(&top, &mut SourceMap::default()).unwrap();
        assert_eq!(spec.executor.partition.as_deref(), Some("cpu"));
        assert_eq!(spec.executor.account.as_deref(), Some("lab"));
        assert_eq!(spec.executor.time.as_deref(), Some("01:00:00"));
        assert_eq!(spec.executor.resources["fine-tune"].partition.as_deref(), Some("gpu"));
        let own = spec.stages[0].resources.clone().unwrap();
        assert_eq!((own.cpus, own.mem.as_deref()), (Some(4), Some("16G")), "the override's mem, the base's cpus");
        assert!(!spec.stages[0].params.contains_key("resources"), "resources are not a param: not in the key");
        let bad = write(dir.path(), "bad.toml", "[pipeline]\nname = \"b\"\n[stages.w]\nkind = \"fine-tune\"\nresources = { gpu = 1 }\n");
        let mut sources = SourceMap::default();
        let errors = load(&bad, &mut sources).unwrap_err();
        assert!(errors[0].kind.to_string().contains("`partition`, `mem`, `time` (strings), `cpus` and `gpus`"), "{}", errors[0].kind);
        assert_eq!(sources.describe(errors[0].loc.as_ref().unwrap()), format!("{}:5:13", bad.display()));
    }

    #[test]
    fn extends_a_list_in_order() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.toml", "[pipeline]\nname = \"a\"\n[stages.x]\nkind = \"pad\"\nlength = 1\ncrop = \"end\"\n");
        write(dir.path(), "b.toml", "[pipeline]\nname = \"b\"\n[stages.x]\nlength = 2\n[stages.y]\nkind = \"pad\"\n");
        let top = write(dir.path(), "top.toml", "[pipeline]\nextends = [\"a.toml\", \"b.toml\"]\n");
        let mut sources = SourceMap::default();
        let spec = load(&top, &mut sources).unwrap();
        assert_eq!(spec.name.value, "b");
        assert_eq!(spec.stages.len(), 2);
        assert_eq!(spec.stages[0].params["length"].value, toml::Value::Integer(2));
        assert_eq!(spec.stages[0].params["crop"].value, toml::Value::String("end".into()));
        let bad = write(dir.path(), "bad.toml", "[pipeline]\nextends = 3\n");
        let errors = load(&bad, &mut SourceMap::default()).unwrap_err();
        assert_eq!(errors[0].kind.to_string(), "`extends` must be a file name or an array of file names");
    }

    #[test]
    fn include_cycle_names_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.toml", "[pipeline]\nname = \"a\"\nextends = \"b.toml\"\n");
        write(dir.path(), "b.toml", "[pipeline]\nname = \"b\"\nextends = \"a.toml\"\n");
        let mut sources = SourceMap::default();
        let errors = load(&dir.path().join("a.toml"), &mut sources).unwrap_err();
        assert_eq!(errors[0].kind.to_string(), format!("`{}` includes or extends itself: a.toml -> b.toml -> a.toml", dir.path().join("a.toml").display()));
    }

    #[test]
    fn inputs_point_at_each_name() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "p.toml", "[pipeline]\nname = \"p\"\n[stages.x]\nkind = \"k\"\ninputs = [\"a\", 'b']\n");
        let mut sources = SourceMap::default();
        let mut spec = load(&p, &mut sources).unwrap();
        narrow_input_locs(&mut spec, &sources);
        let text = &sources.files[0].text;
        let spans: Vec<_> = spec.stages[0].inputs.iter().map(|i| &text[i.loc.span.clone()]).collect();
        assert_eq!(spans, ["\"a\"", "'b'"]);
    }

    #[test]
    fn overrides_parse_and_point_into_the_command_line() {
        let mut sources = SourceMap::default();
        let args = vec!["pad.length=100".to_string(), "oops".to_string()];
        let errors = parse_overrides(&args, &mut sources).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(sources.describe(errors[0].loc.as_ref().unwrap()), "--set:2:7");
        let ok = parse_overrides(&args[..1], &mut sources).unwrap();
        assert_eq!((ok[0].stage.value.as_str(), ok[0].param.value.as_str()), ("pad", "length"));
        assert_eq!(ok[0].value.value, OverrideValue::Text("100".into()));
    }
}
