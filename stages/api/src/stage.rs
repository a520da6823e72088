//! The `Stage` trait and the typed-params adapter that turns a [`StageDef`] into a [`StageKind`].

use std::collections::BTreeSet;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::BackendError;
use crate::audio::Split;
use crate::labels::LabelSet;
use crate::memo::Shared;

/// An error raised by a stage while it runs; the engine reports it with the stage's name.
pub type StageError = Box<dyn std::error::Error + Send + Sync>;

/// The type of artifact a stage produces, so that the planner can check inputs before running.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ArtifactKind {
    /// A folder of arbitrary files (downloads, generated corpora).
    Files,
    /// An audio set: `manifest.csv` plus `audio.f32` (see [`crate::audio`]).
    Audio,
    /// Per-clip feature vectors: `features.csv` plus the audio manifest's labels.
    Features,
    /// Per-clip class probabilities, `predictions.csv`, optionally with a trained model.
    Predictions,
    /// Per-clip values of continuous emotion dimensions, `estimates.csv` (see
    /// [`crate::estimates`]), optionally with a trained model.
    Estimates,
    /// Reports for people only: metrics, tables, plots.
    Report,
}

impl ArtifactKind {
    /// The name used in messages and in `vox stages`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Files => "files",
            Self::Audio => "audio",
            Self::Features => "features",
            Self::Predictions => "predictions",
            Self::Estimates => "estimates",
            Self::Report => "report",
        }
    }
}

/// How many inputs a stage takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arity {
    /// A source stage: no inputs.
    None,
    /// Exactly one input.
    One,
    /// One or more inputs.
    AtLeastOne,
}

/// What a stage accepts as inputs.
#[derive(Clone, Copy, Debug)]
pub struct InputSpec {
    /// How many inputs.
    pub arity: Arity,
    /// Which artifact kinds each input may be.
    pub accepts: &'static [ArtifactKind],
    /// Kinds the inputs may end with, once, besides `arity` (a model folder after the data);
    /// empty when there is no optional last input.
    pub optional_last: &'static [ArtifactKind],
}

impl InputSpec {
    /// A source stage.
    pub const NONE: Self = Self { arity: Arity::None, accepts: &[], optional_last: &[] };

    /// Exactly one input of one of `accepts`.
    pub const fn one(accepts: &'static [ArtifactKind]) -> Self {
        Self { arity: Arity::One, accepts, optional_last: &[] }
    }

    /// One or more inputs, each one of `accepts`.
    pub const fn many(accepts: &'static [ArtifactKind]) -> Self {
        Self { arity: Arity::AtLeastOne, accepts, optional_last: &[] }
    }

    /// These inputs, optionally followed by one input of one of the kinds `last`.
    pub const fn then_optional(self, last: &'static [ArtifactKind]) -> Self {
        Self { optional_last: last, ..self }
    }
}

/// A stage that a stage's params imply and the pipeline did not write, e.g. the download of the
/// hub model a `fine-tune` names. The engine adds it as `<stage>.<suffix>` and appends it to the
/// stage's inputs, so it is planned, cached and reported like any other stage.
#[derive(Clone, Debug, PartialEq)]
pub struct ImpliedStage {
    /// The new stage's name after the implying stage's and a dot.
    pub suffix: &'static str,
    /// The new stage's kind.
    pub kind: &'static str,
    /// The new stage's params.
    pub params: toml::Table,
    /// The implying param: errors about the new stage point at its value.
    pub because_of: &'static str,
    /// `false`: the new stage has no inputs and is appended to the implying stage's inputs (a
    /// download). `true`: the new stage takes the implying stage's inputs, backend and
    /// resources, and becomes its only input: the heavy half of a stage whose cheap half
    /// varies (pooled hidden states of every layer, then a choice of layers), so that
    /// changing the cheap params reuses the heavy half's cache entry.
    pub takes_inputs: bool,
}

/// A kind that handles one value of a param of another kind of the same name, or the stages
/// that write a param at all: `featurize` with `set = "ssl"` needs a wav2vec2 model, which the
/// crate of the other feature sets does not have; a `fine-tune` with `targets` estimates
/// dimensions, another artifact than a classifier's. The engine picks the variant whose param a
/// stage's table states (with its value, where the variant names one), else the kind without a
/// variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// The param that selects the variant.
    pub param: &'static str,
    /// Its value that selects this kind; `None`: any value (the param is written).
    pub value: Option<&'static str>,
}

impl Variant {
    /// Whether a stage whose table gives `param` the value `value` (`None`: not written) is
    /// this variant's.
    pub fn selects(&self, value: Option<&toml::Value>) -> bool {
        match (self.value, value) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(wanted), Some(value)) => value.as_str() == Some(wanted),
        }
    }

    /// How `vox stages` names it: `set = "ssl"`, or `targets` for any value.
    pub fn describe(&self) -> String {
        match self.value {
            Some(value) => format!("{} = \"{value}\"", self.param),
            None => self.param.to_string(),
        }
    }
}

/// What the planner knows of a stage's output before anything runs, so that a pipeline that
/// cannot work fails at its TOML line instead of after hours of decoding and training (scoring
/// a `test` split that no stage makes, merging corpora of different classes). Each fact is
/// `None` when only running the stages can tell (a table corpus's own splits and classes).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Facts {
    /// The splits that may hold labelled clips (`Split::None` for unsplit ones).
    pub labelled_splits: Option<BTreeSet<Split>>,
    /// The label set of the clips.
    pub classes: Option<LabelSet>,
    /// The clips come from a cross-validation's folds: each is held out (`test`) by one fold
    /// and in the `train` or `val` part of the others, so only `test` can be scored across them.
    pub cross_validated: bool,
}

/// One input of a stage as the planner sees it.
#[derive(Clone, Copy, Debug)]
pub struct PlannedInput<'a> {
    /// The upstream stage's name.
    pub name: &'a str,
    /// What it produces.
    pub kind: ArtifactKind,
    /// What is known of it.
    pub facts: &'a Facts,
}

impl Facts {
    /// The facts of the clips of all data inputs (audio sets, features, predictions, estimates) together:
    /// the union of their labelled splits, and their label set when they share one; a fact
    /// unknown for one input is unknown for all; cross-validated when any input is. No data
    /// input: nothing is known.
    pub fn combined(inputs: &[PlannedInput]) -> Self {
        let data: Vec<&Facts> = inputs
            .iter()
            .filter(|i| {
                matches!(i.kind, ArtifactKind::Audio | ArtifactKind::Features | ArtifactKind::Predictions | ArtifactKind::Estimates)
            })
            .map(|i| i.facts)
            .collect();
        if data.is_empty() {
            return Self::default();
        }
        let labelled_splits = data.iter().try_fold(BTreeSet::new(), |mut all, facts| {
            all.extend(facts.labelled_splits.as_ref()?);
            Some(all)
        });
        let first = data[0].classes.as_ref();
        let classes = data.iter().all(|f| f.classes.as_ref() == first).then(|| first.cloned()).flatten();
        let cross_validated = data.iter().any(|f| f.cross_validated);
        Self { labelled_splits, classes, cross_validated }
    }
}

/// A stage that fans a pipeline out into folds (a cross-validation split): the engine makes
/// one copy of it per fold, setting its param `param` to the fold's number `1..=count`, and
/// every stage downstream runs once per fold (named `NAME[fold=K]`), except a kind that
/// gathers folds ([`StageDef::GATHERS`]): it runs once, with every fold's inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FanOut {
    /// The param that takes the fold's number.
    pub param: &'static str,
    /// The number of folds; `None` when only the input data can tell (one fold per speaker),
    /// then the engine runs the stage's ancestors first and asks
    /// [`StageDef::fan_out_count`].
    pub count: Option<usize>,
}

/// Which fold of a cross-validation an input of a gathering stage belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fold {
    /// The fold's number, `1..=folds`.
    pub fold: usize,
    /// How many folds there are.
    pub folds: usize,
    /// The input's name in the pipeline (its stage's name without the fold suffix).
    pub of: String,
}

/// One input of a running stage: the upstream stage's finished output folder.
#[derive(Clone, Debug)]
pub struct Input {
    /// The upstream stage's name in the pipeline.
    pub name: String,
    /// What the upstream stage produced.
    pub kind: ArtifactKind,
    /// The upstream output folder (read-only: it lives in the cache).
    pub dir: PathBuf,
    /// The input's fold, for a stage that gathers the folds of a cross-validation; `None`
    /// otherwise (and for its inputs that are the same in every fold).
    pub fold: Option<Fold>,
}

impl Input {
    /// An input outside any fold.
    pub fn new(name: impl Into<String>, kind: ArtifactKind, dir: impl Into<PathBuf>) -> Self {
        Self { name: name.into(), kind, dir: dir.into(), fold: None }
    }
}

/// How `vox predict` carries new recordings through a stage of this kind, from the audio files
/// to a trained model's probabilities, with the finished run's settings and fitted state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applies {
    /// No part of scoring new audio: the kind makes or fetches a run's data or reports on it
    /// (download, synth, evaluate). A stage of it that feeds a model without reading clips (a
    /// model download) lends the model its output as the run left it.
    No,
    /// New recordings enter the run here: [`StageDef::apply`] reads the files given to `vox
    /// predict` ([`ApplyContext::new_audio`]) instead of the stage's inputs (decode).
    Entry,
    /// The kind applies to new clips ([`StageDef::apply`]).
    Yes,
}

/// What [`StageDef::apply`] made of the new clips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// It wrote its output into the context's `out_dir`.
    Wrote,
    /// Its output is its first input's, unchanged (a split: new clips belong to no part).
    PassedThrough,
}

/// Everything a stage may touch while `vox predict` applies it to new clips.
pub struct ApplyContext<'a> {
    /// A run over the new clips: `inputs` are the upstream stages applied to them (or, for an
    /// input no new clip passes through, such as a model download, the run's own output),
    /// `out_dir` an empty folder, `scratch_dir` one removed afterwards.
    pub run: StageContext<'a>,
    /// The stage's output in the finished run: its fitted model, statistics or weights.
    pub trained: &'a Path,
    /// For an [`Applies::Entry`] stage, the paths given to `vox predict`: audio files,
    /// folders of them, or tables (CSV/TSV) of them.
    pub new_audio: &'a [PathBuf],
    /// For an [`Applies::Entry`] stage: cut each recording into windows or at its pauses,
    /// each a clip of its own tied to its recording by the [`crate::windows`] manifest columns.
    pub windows: Option<crate::windows::Cutting>,
}

/// Everything a stage may touch while it runs.
pub struct StageContext<'a> {
    /// The stage's name in the pipeline, for messages.
    pub stage: &'a str,
    /// The inputs, in the order the pipeline lists them.
    pub inputs: &'a [Input],
    /// An empty folder the stage fills; it becomes the cache entry when the stage succeeds.
    /// Human-facing files (plots, tables, `output.txt`) go under [`StageContext::report_dir`].
    pub out_dir: &'a Path,
    /// A folder that survives a failed or interrupted attempt with the same key (checkpoints,
    /// partial downloads) and is removed once the stage succeeds.
    pub scratch_dir: &'a Path,
    /// The pipeline's seed. A kind that uses randomness declares a `seed: Option<u64>` param
    /// instead and reads that: the engine fills it with the pipeline's seed unless the stage sets
    /// it, so the seed is hashed into exactly the keys it can change.
    pub seed: u64,
    /// The backend the pipeline chose for this stage, for kinds that declare backends.
    pub backend: Option<&'a str>,
    /// Threads the stage may use for its own parallel work.
    pub threads: usize,
    /// Where progress bars are drawn (hidden when the run is quiet or prints JSON).
    pub progress: &'a MultiProgress,
    /// The engine's store for work shared across splits of the same clips
    /// ([`StageContext::shared_work`]); `None` where there is none (`vox predict`, tests).
    pub memo: Option<&'a dyn crate::memo::Memo>,
}

impl StageContext<'_> {
    /// The folder for human-facing outputs; the engine copies it into the run folder.
    pub fn report_dir(&self) -> std::io::Result<PathBuf> {
        let dir = self.out_dir.join("report");
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// A progress bar over `len` items, labelled with the stage name and `what`.
    pub fn progress_bar(&self, len: u64, what: &str) -> ProgressBar {
        let bar = self.progress.add(ProgressBar::new(len));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>12.cyan.bold} {msg:<10} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(self.stage.to_string());
        bar.set_message(what.to_string());
        bar
    }

    /// The single input of a stage whose [`InputSpec`] is `one`.
    pub fn input(&self) -> &Input {
        &self.inputs[0]
    }

    /// The shared work `part` (see [`crate::memo`]): `fill` writes it into the given empty folder
    /// unless it is already stored under this stage's split-blind key. Without an engine store
    /// (`vox predict`, tests) it is filled into the scratch folder.
    pub fn shared_work(&self, part: &str, mut fill: impl FnMut(&Path) -> Result<(), StageError>) -> Result<Shared, StageError> {
        match self.memo {
            Some(memo) => memo.get_or_fill(part, &mut fill),
            None => {
                let dir = self.scratch_dir.join("shared").join(part);
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)?;
                }
                std::fs::create_dir_all(&dir)?;
                fill(&dir)?;
                Ok(Shared { dir })
            }
        }
    }
}

/// A params struct that declares and implements one stage kind.
///
/// The struct is the kind's TOML table minus the engine's keys (`kind`, `inputs`, `backend`):
/// derive `Deserialize` with `#[serde(deny_unknown_fields)]` and defaults, `Serialize` (the
/// resolved params are hashed into the cache key), and `JsonSchema` (its doc comments are what
/// `vox stages` prints). The struct's own doc comment describes the kind.
pub trait StageDef:
    DeserializeOwned + Serialize + schemars::JsonSchema + Send + Sync + 'static
{
    /// The `kind = "..."` name.
    const KIND: &'static str;
    /// Bump when the implementation changes its output for the same params and inputs;
    /// it is part of the cache key.
    const VERSION: u32;
    /// What the stage accepts as inputs.
    const INPUTS: InputSpec;
    /// What a pipeline writes in the stage's `inputs` when that differs from [`StageDef::INPUTS`]:
    /// for a kind whose implied stage takes them ([`ImpliedStage::takes_inputs`]) and becomes
    /// the kind's one input. For `vox stages`; `None` (default): `INPUTS`.
    const WRITTEN_INPUTS: Option<InputSpec> = None;
    /// What the stage produces.
    const OUTPUT: ArtifactKind;
    /// The backends the kind can run on; empty when it takes no `backend`.
    const BACKENDS: &'static [&'static str] = &[];
    /// Params holding filesystem paths: the engine resolves them against the pipeline file's
    /// folder and keys the cache on their content, never on the path.
    const PATH_PARAMS: &'static [&'static str] = &[];
    /// At most one stage of an exclusive kind runs at a time in a process: for kinds whose
    /// libraries keep process-global state (burn's random generator), so that parallel stages
    /// cannot disturb each other's determinism.
    const EXCLUSIVE: bool = false;
    /// The kind keeps work in [`StageContext::shared_work`] (see [`crate::memo`]). At most one
    /// stage of such kinds runs at a time in a process: a stage runs on a thread of the run's
    /// pool, where waiting for shared work another stage of the same pool is making could wait
    /// forever (the maker's thread may have taken the waiter's stage up while it waited for its
    /// own parallel work). A stage that makes shared work spreads it over the whole pool, so
    /// running them one at a time costs little.
    const SHARES_WORK: bool = false;
    /// Below a fan-out ([`FanOut`]), a stage of this kind runs once with the inputs of every
    /// fold (each marked by [`Input::fold`]) instead of once per fold: for reports across the
    /// folds of a cross-validation.
    const GATHERS: bool = false;

    /// How `vox predict` treats the kind (see [`Applies`]); by default it takes no part.
    const APPLIES: Applies = Applies::No;
    /// The outputs carry stage names (the stage's own, its inputs'): tables, folders and
    /// figures named after the models they score. Names are then part of the stage's key, so
    /// that renaming the stage or an input reruns it instead of serving an entry that shows the
    /// old names. No other kind's outputs may contain a name, so that renaming its stages
    /// reruns nothing.
    const OUTPUT_NAMES: bool = false;
    /// This kind is a [`Variant`] of the kind of the same name: it takes the stages whose
    /// table sets `param = "value"`. `None` (default): the kind's own name alone selects it.
    const VARIANT: Option<Variant> = None;

    /// Checks params that serde cannot check alone (ranges, combinations).
    fn validate(&self) -> Result<(), ParamError> {
        Ok(())
    }

    /// Whether `backend` (one of [`StageDef::BACKENDS`]) can run in this binary on this machine:
    /// compiled in and its device present. Called at plan time, so that a missing GPU is a
    /// precise error before anything runs, not a panic inside a GPU runtime.
    fn backend_available(_backend: &str) -> Result<(), BackendError> {
        Ok(())
    }

    /// Whether `backend` is compiled into this binary, its device aside: what a login node that
    /// submits cluster jobs can check (the job checks [`StageDef::backend_available`] on the
    /// node that has the device). The same as `backend_available` unless overridden.
    fn backend_built(backend: &str) -> Result<(), BackendError> {
        Self::backend_available(backend)
    }

    /// Checks the params against the stage's `backend` (`None`: the kind's default), at plan
    /// time, for a param that backend cannot honour; the error names the param. Called after
    /// [`StageDef::validate`], for backends the kind has. Nothing to check by default.
    fn check_backend(&self, _backend: Option<&str>) -> Result<(), ParamError> {
        Ok(())
    }

    /// Stages these params imply (see [`ImpliedStage`]); none by default.
    fn implied_stages(&self) -> Vec<ImpliedStage> {
        Vec::new()
    }

    /// Params these params make unread: a seed where nothing is drawn (a split by listed
    /// speakers), figure formats without figures. They are left out of [`Stage::params`], so
    /// out of the key: changing one reruns nothing, and the variants of a sweep that differ
    /// only in one share the stage. A seed left out here is not the pipeline's seed either (a
    /// seed sweep does not name the stage after its seed). None by default.
    fn unread(&self) -> &'static [&'static str] {
        &[]
    }

    /// Whether these params fan the pipeline out into folds (see [`FanOut`]); none by default.
    fn fan_out(&self) -> Option<FanOut> {
        None
    }

    /// The number of folds of a fan-out whose count the data tells, from the stage's inputs
    /// (their stages have run).
    fn fan_out_count(&self, _inputs: &[Input]) -> Result<usize, StageError> {
        Err("this stage does not fan out".into())
    }

    /// What the output will be, from the inputs' [`Facts`], at plan time; an error is
    /// reported at the param it names. The default passes the inputs' facts through
    /// ([`Facts::combined`]): right for a stage that keeps its clips' splits and labels.
    fn facts(&self, inputs: &[PlannedInput]) -> Result<Facts, ParamError> {
        Ok(Facts::combined(inputs))
    }

    /// Runs the stage, writing its outputs into `ctx.out_dir`.
    fn run(&self, ctx: &StageContext) -> Result<(), StageError>;

    /// Applies the stage to new clips for `vox predict` (kinds whose [`StageDef::APPLIES`] is
    /// not `No`). The default runs the stage on them as in a pipeline: right for a kind that
    /// fits nothing to its data (pad). A kind that fits something (statistics, a model,
    /// weights) reads it from `ctx.trained` instead of fitting it again.
    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError> {
        self.run(&ctx.run).map(|()| Applied::Wrote)
    }
}

/// A serde message with Rust's type names in words (`expected u8` is `expected a whole number
/// from 0 to 255`), for people writing TOML.
fn plain_types(message: &str) -> String {
    const WORDS: [(&str, &str); 12] = [
        ("u8", "a whole number from 0 to 255"),
        ("u16", "a whole number from 0 to 65535"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u64", "a whole number, 0 or more"),
        ("usize", "a whole number, 0 or more"),
        ("i8", "a whole number"),
        ("i16", "a whole number"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
        ("f32", "a number"),
        ("f64", "a number"),
        ("a sequence", "an array"),
    ];
    let Some((head, expected)) = message.rsplit_once("expected ") else {
        return message.to_string();
    };
    match WORDS.iter().find(|(rust, _)| expected == *rust) {
        Some((_, words)) => format!("{head}expected {words}"),
        None => message.to_string(),
    }
}

/// The message of a panic's payload (`panic!` with a literal or a formatted string).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    let literal = payload.downcast_ref::<&str>().copied();
    literal.or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// A bad param value, with the path of the param inside the stage table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParamError {
    /// Dotted path of the offending param (`"weights"`, `"held_out.2"`); empty when the whole
    /// table is at fault.
    pub path: String,
    /// What is wrong, for people.
    pub message: String,
}

impl ParamError {
    /// An error about one param.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

/// A stage kind as the engine sees it (object-safe).
pub trait StageKind: Send + Sync {
    /// The `kind = "..."` name.
    fn name(&self) -> &'static str;
    /// The implementation version, part of the cache key.
    fn version(&self) -> u32;
    /// What the kind accepts as inputs.
    fn inputs(&self) -> InputSpec;
    /// What a pipeline writes in its `inputs` (see [`StageDef::WRITTEN_INPUTS`]).
    fn written_inputs(&self) -> InputSpec;
    /// What the kind produces.
    fn output(&self) -> ArtifactKind;
    /// Backends the kind can run on; empty when it takes no `backend`.
    fn backends(&self) -> &'static [&'static str];
    /// Params holding filesystem paths.
    fn path_params(&self) -> &'static [&'static str];
    /// Whether `backend` can run here (see [`StageDef::backend_available`]).
    fn backend_available(&self, backend: &str) -> Result<(), BackendError>;
    /// Whether `backend` is compiled in (see [`StageDef::backend_built`]).
    fn backend_built(&self, backend: &str) -> Result<(), BackendError>;
    /// Whether stages of this kind must run one at a time (see [`StageDef::EXCLUSIVE`]).
    fn exclusive(&self) -> bool;
    /// Whether stages of this kind share work across splits (see [`StageDef::SHARES_WORK`]).
    fn shares_work(&self) -> bool;
    /// Whether a stage of this kind gathers folds (see [`StageDef::GATHERS`]).
    fn gathers(&self) -> bool;
    /// How `vox predict` treats the kind (see [`StageDef::APPLIES`]).
    fn applies(&self) -> Applies;
    /// Whether the outputs carry stage names (see [`StageDef::OUTPUT_NAMES`]).
    fn output_names(&self) -> bool;
    /// The param value this kind handles for its name (see [`StageDef::VARIANT`]).
    fn variant(&self) -> Option<Variant>;
    /// The JSON schema of the params: names, types, defaults and doc comments.
    fn schema(&self) -> schemars::Schema;
    /// Parses and checks a params table.
    fn configure(&self, params: toml::Table) -> Result<Box<dyn Stage>, ParamError>;
    /// Every problem of a params table that [`StageKind::configure`] refuses, not only the
    /// first: each param that does not parse (tried again without the ones found so far); when
    /// all parse, what [`StageDef::validate`] says. (Validation is skipped once a param failed to
    /// parse: it would judge the table without that param and report what is not wrong.)
    fn problems(&self, params: &toml::Table) -> Vec<ParamError>;
}

/// A configured stage, ready to run.
pub trait Stage: Send + Sync {
    /// The params with every default filled in, as canonical JSON (hashed into the cache key).
    fn params(&self) -> serde_json::Value;
    /// Checks the params against the stage's backend (see [`StageDef::check_backend`]).
    fn check_backend(&self, backend: Option<&str>) -> Result<(), ParamError>;
    /// Stages the params imply (see [`StageDef::implied_stages`]).
    fn implied_stages(&self) -> Vec<ImpliedStage>;
    /// Params the others make unread (see [`StageDef::unread`]).
    fn unread(&self) -> &'static [&'static str];
    /// What the output will be (see [`StageDef::facts`]).
    fn facts(&self, inputs: &[PlannedInput]) -> Result<Facts, ParamError>;
    /// Whether the stage fans the pipeline out (see [`StageDef::fan_out`]).
    fn fan_out(&self) -> Option<FanOut>;
    /// The number of folds the data tells (see [`StageDef::fan_out_count`]).
    fn fan_out_count(&self, inputs: &[Input]) -> Result<usize, StageError>;
    /// Runs the stage.
    fn run(&self, ctx: &StageContext) -> Result<(), StageError>;
    /// Applies the stage to new clips (see [`StageDef::apply`]).
    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError>;
}

/// The [`StageKind`] of a [`StageDef`].
pub struct Kind<T>(PhantomData<fn() -> T>);

/// Registers a [`StageDef`] as a stage kind.
pub fn kind<T: StageDef>() -> Box<dyn StageKind> {
    Box::new(Kind::<T>(PhantomData))
}

impl<T: StageDef> StageKind for Kind<T> {
    fn name(&self) -> &'static str {
        T::KIND
    }
    fn version(&self) -> u32 {
        T::VERSION
    }
    fn inputs(&self) -> InputSpec {
        T::INPUTS
    }
    fn written_inputs(&self) -> InputSpec {
        T::WRITTEN_INPUTS.unwrap_or(T::INPUTS)
    }
    fn output(&self) -> ArtifactKind {
        T::OUTPUT
    }
    fn backends(&self) -> &'static [&'static str] {
        T::BACKENDS
    }
    fn path_params(&self) -> &'static [&'static str] {
        T::PATH_PARAMS
    }
    fn backend_available(&self, backend: &str) -> Result<(), BackendError> {
        T::backend_available(backend)
    }
    fn backend_built(&self, backend: &str) -> Result<(), BackendError> {
        T::backend_built(backend)
    }
    fn exclusive(&self) -> bool {
        T::EXCLUSIVE
    }
    fn shares_work(&self) -> bool {
        T::SHARES_WORK
    }
    fn gathers(&self) -> bool {
        T::GATHERS
    }
    fn applies(&self) -> Applies {
        T::APPLIES
    }
    fn output_names(&self) -> bool {
        T::OUTPUT_NAMES
    }
    fn variant(&self) -> Option<Variant> {
        T::VARIANT
    }
    fn schema(&self) -> schemars::Schema {
        schemars::schema_for!(T)
    }
    fn configure(&self, params: toml::Table) -> Result<Box<dyn Stage>, ParamError> {
        let def = parse::<T>(params)?;
        def.validate()?;
        Ok(Box::new(Configured(def)))
    }
    fn problems(&self, params: &toml::Table) -> Vec<ParamError> {
        let mut params = params.clone();
        let mut found: Vec<ParamError> = Vec::new();
        loop {
            match parse::<T>(params.clone()) {
                Ok(def) => {
                    if found.is_empty()
                        && let Err(e) = def.validate()
                    {
                        found.push(e);
                    }
                    return found;
                }
                Err(e) => {
                    let top = e.path.split(['.', '[']).next().unwrap_or("").to_string();
                    found.push(e);
                    // An error about the whole table ends the search.
                    if top.is_empty() || params.remove(&top).is_none() {
                        return found;
                    }
                }
            }
        }
    }
}

/// Deserializes a params table, the error at the param's path.
fn parse<T: StageDef>(params: toml::Table) -> Result<T, ParamError> {
    serde_path_to_error::deserialize(toml::Value::Table(params)).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." { String::new() } else { path };
        // Keep the first line: deserializers append context ("in `x`") the path already gives.
        let message = e.into_inner().to_string();
        ParamError { path, message: plain_types(message.lines().next().unwrap_or_default()) }
    })
}

struct Configured<T>(T);

impl<T: StageDef> Stage for Configured<T> {
    fn params(&self) -> serde_json::Value {
        // Serializing a plain params struct into a JSON value cannot fail.
        let mut params = serde_json::to_value(&self.0).unwrap_or(serde_json::Value::Null);
        if let Some(map) = params.as_object_mut() {
            for name in self.0.unread() {
                map.remove(*name);
            }
        }
        params
    }
    fn check_backend(&self, backend: Option<&str>) -> Result<(), ParamError> {
        self.0.check_backend(backend)
    }
    fn implied_stages(&self) -> Vec<ImpliedStage> {
        self.0.implied_stages()
    }
    fn unread(&self) -> &'static [&'static str] {
        self.0.unread()
    }
    fn facts(&self, inputs: &[PlannedInput]) -> Result<Facts, ParamError> {
        self.0.facts(inputs)
    }
    fn fan_out(&self) -> Option<FanOut> {
        self.0.fan_out()
    }
    fn fan_out_count(&self, inputs: &[Input]) -> Result<usize, StageError> {
        self.0.fan_out_count(inputs)
    }
    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        self.0.run(ctx)
    }
    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError> {
        self.0.apply(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn rust_type_names_become_words() {
        use super::plain_types;
        assert_eq!(plain_types("invalid value: integer `300`, expected u8"), "invalid value: integer `300`, expected a whole number from 0 to 255");
        assert_eq!(plain_types("invalid type: string \"long\", expected u64"), "invalid type: string \"long\", expected a whole number, 0 or more");
        assert_eq!(plain_types("invalid type: integer `3`, expected a sequence"), "invalid type: integer `3`, expected an array");
        assert_eq!(plain_types("unknown variant `x`, expected `a` or `b`"), "unknown variant `x`, expected `a` or `b`");
    }

    #[test]
    fn a_variant_takes_its_value_or_any_written_value() {
        use super::Variant;
        let ssl = Variant { param: "set", value: Some("ssl") };
        assert!(ssl.selects(Some(&toml::Value::from("ssl"))));
        assert!(!ssl.selects(Some(&toml::Value::from("mfcc"))));
        assert!(!ssl.selects(None));
        let targets = Variant { param: "targets", value: None };
        assert!(targets.selects(Some(&toml::Value::Array(vec!["arousal".into()]))));
        assert!(targets.selects(Some(&toml::Value::Array(Vec::new()))), "an empty list is the variant's error to report");
        assert!(!targets.selects(None));
        assert_eq!((ssl.describe(), targets.describe()), ("set = \"ssl\"".to_string(), "targets".to_string()));
    }

    #[test]
    fn panic_messages_of_literal_and_formatted_panics() {
        let literal = std::panic::catch_unwind(|| panic!("no device")).unwrap_err();
        assert_eq!(panic_message(literal.as_ref()), Some("no device"));
        let code = 3;
        let formatted = std::panic::catch_unwind(|| panic!("error {code}")).unwrap_err();
        assert_eq!(panic_message(formatted.as_ref()), Some("error 3"));
        assert_eq!(panic_message(&42_u8), None);
    }
}
