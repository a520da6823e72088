//! `featurize` with `set = "ssl"`: chosen layers and statistics of the pooled hidden states of
//! a wav2vec2-family model (wav2vec2, HuBERT, WavLM) or of Whisper's encoder as a feature table.

use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::AudioSet;
use vox_api::features::FeatureTable;
use vox_api::{
    Applies, ArtifactKind, BackendError, Facts, ImpliedStage, InputSpec, ParamError, PlannedInput, StageContext, StageDef, StageError,
    Variant,
};

use super::pooled::{Layout, Reader};
use super::states::default_batch_size;

/// `featurize` with `set = "ssl"`: self-supervised embeddings. Runs a wav2vec2, HuBERT or
/// WavLM model, or a Whisper model's encoder (`model`, `model_path`, or a model folder input
/// after the audio: a `download` or a `fine-tune` stage) over every clip once, in the implied
/// stage `<stage>.states` (kind `ssl-states`), and writes the chosen `layers` and `stats` of
/// its hidden states, pooled over each clip's valid frames, as `features.csv`: columns
/// `layer<L>_<stat>_<d>` (`layers_avg_...` for `"average"`), L = 0 the embedded input and
/// L = n the last layer's output. Another choice of `layers` or `stats` reuses the cached
/// forward pass.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SslFeaturize {
    /// `"ssl"`.
    pub set: SslSet,
    /// A Hugging Face hub repository, `owner/name`: the stage then gets a `download` stage
    /// `<stage>.model` (`hub = model`) that fetches it once into the cache. Where the hub is
    /// unreachable, point `model_path` at a local copy: it replaces the hub model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// A local model folder (`config.json` and `model.safetensors` or `pytorch_model.bin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_path: Option<PathBuf>,
    /// Which hidden states: `"last"` (the encoder's output, default), `"all"` (every one,
    /// each its own columns), `"average"` (their element-wise mean), or a list of indices, e.g.
    /// `[6, 12]`: 0 is the embedded input of the first layer, i < n the output of layer i, n
    /// the encoder's output (`last_hidden_state`; for pre-LN models such as XLSR after the
    /// final layer norm, as transformers 4's `hidden_states[-1]`, whereas transformers 5 gives
    /// the last layer's output before that norm there).
    #[serde(default)]
    pub layers: Layers,
    /// Statistics over the valid frames, per dimension: `["mean"]` (default) or `["mean",
    /// "std"]` (population standard deviation).
    #[serde(default = "default_stats")]
    pub stats: Vec<Stat>,
    /// Clips per forward pass, at least 1 (passed to `<stage>.states`).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Zero-mean unit-variance scaling of each clip before the model (HF's feature extractor's
    /// `do_normalize`; passed to `<stage>.states`). Unset: as the model folder's
    /// `preprocessor_config.json` says (normalized where it has none; Whisper: not normalized).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub normalize: Option<bool>,
}

/// The one value of `set` this kind handles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SslSet {
    /// Self-supervised embeddings.
    Ssl,
}

/// A pooling statistic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Stat {
    /// The mean over valid frames.
    Mean,
    /// The population standard deviation over valid frames.
    Std,
}

impl Stat {
    fn name(self) -> &'static str {
        match self {
            Self::Mean => "mean",
            Self::Std => "std",
        }
    }
    /// Its position among [`super::pooled::STATS`].
    fn index(self) -> usize {
        match self {
            Self::Mean => 0,
            Self::Std => 1,
        }
    }
}

fn default_stats() -> Vec<Stat> {
    vec![Stat::Mean]
}

/// Which hidden states become features.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Layers {
    /// A rule.
    Rule(LayerRule),
    /// These indices.
    List(Vec<usize>),
}

/// A rule naming hidden states.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum LayerRule {
    /// The last one.
    #[default]
    Last,
    /// Every one.
    All,
    /// Their mean.
    Average,
}

impl Default for Layers {
    fn default() -> Self {
        Self::Rule(LayerRule::Last)
    }
}

impl<'de> Deserialize<'de> for Layers {
    /// A rule name or a list of indices; anything else gets a message listing the choices.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        const CHOICES: &str = "\"last\", \"all\", \"average\" or a list of layer indices such as [6, 12]";
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            List(Vec<usize>),
        }
        match Raw::deserialize(deserializer).map_err(|_| D::Error::custom(format!("expected {CHOICES}")))? {
            Raw::List(list) => Ok(Self::List(list)),
            Raw::Name(name) => match name.as_str() {
                "last" => Ok(Self::Rule(LayerRule::Last)),
                "all" => Ok(Self::Rule(LayerRule::All)),
                "average" => Ok(Self::Rule(LayerRule::Average)),
                other => Err(D::Error::custom(format!("`{other}` is not {CHOICES}"))),
            },
        }
    }
}

/// Failures of the ssl `featurize`.
#[derive(Debug, thiserror::Error)]
pub enum SslFeaturizeError {
    /// A layer index beyond the model's.
    #[error("`layers` names hidden state {index}, but the model has {states} (0 = the embedded input .. {last} = the last layer's output)", last = .states - 1)]
    NoSuchLayer {
        /// The index.
        index: usize,
        /// Hidden states of the model.
        states: usize,
    },
}

impl SslFeaturize {
    /// The hidden states to write, each as its own columns, or `None` for their average.
    fn chosen(&self, states: usize) -> Result<Option<Vec<usize>>, SslFeaturizeError> {
        match &self.layers {
            Layers::Rule(LayerRule::Last) => Ok(Some(vec![states - 1])),
            Layers::Rule(LayerRule::All) => Ok(Some((0..states).collect())),
            Layers::Rule(LayerRule::Average) => Ok(None),
            Layers::List(list) => match list.iter().find(|&&i| i >= states) {
                Some(&index) => Err(SslFeaturizeError::NoSuchLayer { index, states }),
                None => Ok(Some(list.clone())),
            },
        }
    }

    /// The feature table of the pooled states in `dir` with the manifest there.
    fn table(&self, dir: &std::path::Path) -> Result<FeatureTable, StageError> {
        let manifest = AudioSet::read_manifest(dir)?;
        let mut reader = Reader::open(dir)?;
        let Layout { states, hidden, .. } = reader.layout;
        let chosen = self.chosen(states)?;
        let mut names = Vec::new();
        match &chosen {
            Some(layers) => {
                for &layer in layers {
                    for stat in &self.stats {
                        names.extend((0..hidden).map(|d| format!("layer{layer}_{}_{d}", stat.name())));
                    }
                }
            }
            None => {
                for stat in &self.stats {
                    names.extend((0..hidden).map(|d| format!("layers_avg_{}_{d}", stat.name())));
                }
            }
        }
        let at = |values: &[f32], layer: usize, stat: Stat, d: usize| f64::from(values[(layer * 2 + stat.index()) * hidden + d]);
        let mut rows = Vec::with_capacity(manifest.clips.len());
        let mut values = Vec::new();
        for _ in 0..manifest.clips.len() {
            reader.next_clip(&mut values)?;
            let mut row = Vec::with_capacity(names.len());
            match &chosen {
                Some(layers) => {
                    for &layer in layers {
                        for &stat in &self.stats {
                            row.extend((0..hidden).map(|d| at(&values, layer, stat, d)));
                        }
                    }
                }
                None => {
                    for &stat in &self.stats {
                        row.extend((0..hidden).map(|d| (0..states).map(|l| at(&values, l, stat, d)).sum::<f64>() / states as f64));
                    }
                }
            }
            rows.push(row);
        }
        Ok(FeatureTable { names, labels: manifest.labels, clips: manifest.clips, rows })
    }
}

impl StageDef for SslFeaturize {
    const KIND: &'static str = "featurize";
    const VERSION: u32 = 1;
    const VARIANT: Option<Variant> = Some(Variant { param: "set", value: Some("ssl") });
    // Always `<stage>.states` (implied, taking the inputs the pipeline gave this stage).
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Files]);
    // The audio and the optional model folder go to `<stage>.states`, whose output is the input.
    const WRITTEN_INPUTS: Option<InputSpec> = Some(<super::states::SslStates as StageDef>::INPUTS);
    const OUTPUT: ArtifactKind = ArtifactKind::Features;
    const APPLIES: Applies = Applies::Yes;
    const BACKENDS: &'static [&'static str] = crate::finetune::BACKEND_NAMES;
    const PATH_PARAMS: &'static [&'static str] = &["model_path"];

    fn backend_available(backend: &str) -> Result<(), BackendError> {
        super::states::SslStates::backend_available(backend)
    }

    fn backend_built(backend: &str) -> Result<(), BackendError> {
        super::states::SslStates::backend_built(backend)
    }

    fn validate(&self) -> Result<(), ParamError> {
        if self.stats.is_empty() {
            return Err(ParamError::new("stats", "`stats` needs at least one of \"mean\", \"std\""));
        }
        if let Some(i) = (1..self.stats.len()).find(|&i| self.stats[..i].contains(&self.stats[i])) {
            return Err(ParamError::new(format!("stats[{i}]"), format!("`{}` is listed twice", self.stats[i].name())));
        }
        if let Layers::List(list) = &self.layers {
            if list.is_empty() {
                return Err(ParamError::new("layers", "`layers` needs at least one index"));
            }
            if let Some(i) = (1..list.len()).find(|&i| list[..i].contains(&list[i])) {
                return Err(ParamError::new(format!("layers[{i}]"), format!("layer {} is listed twice", list[i])));
            }
        }
        if self.batch_size == 0 {
            return Err(ParamError::new("batch_size", "`batch_size` must be at least 1"));
        }
        super::states::check_model_path(self.model_path.as_deref())
    }

    fn implied_stages(&self) -> Vec<ImpliedStage> {
        let mut implied = Vec::new();
        // A local copy (`model_path`) replaces the hub model: nothing to fetch.
        if let (Some(model), None) = (&self.model, &self.model_path) {
            let mut params = toml::Table::new();
            params.insert("hub".into(), model.clone().into());
            implied.push(ImpliedStage { suffix: "model", kind: "download", params, because_of: "model", takes_inputs: false });
        }
        let mut params = toml::Table::new();
        if let Some(path) = &self.model_path {
            params.insert("model_path".into(), path.display().to_string().into());
        }
        params.insert("batch_size".into(), (self.batch_size as i64).into());
        if let Some(normalize) = self.normalize {
            params.insert("normalize".into(), normalize.into());
        }
        implied.push(ImpliedStage { suffix: "states", kind: "ssl-states", params, because_of: "set", takes_inputs: true });
        implied
    }

    /// The clips' facts, passed through the pooled states.
    fn facts(&self, inputs: &[PlannedInput]) -> Result<Facts, ParamError> {
        Ok(inputs.first().map(|i| i.facts.clone()).unwrap_or_default())
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let table = self.table(&ctx.input().dir)?;
        table.write(ctx.out_dir)?;
        let report = ctx.report_dir()?;
        let text = format!(
            "{} clips x {} features: layers {}, stats {}\n",
            table.clips.len(),
            table.names.len(),
            match &self.layers {
                Layers::Rule(LayerRule::Last) => "last".to_string(),
                Layers::Rule(LayerRule::All) => "all".to_string(),
                Layers::Rule(LayerRule::Average) => "average of all".to_string(),
                Layers::List(list) => format!("{list:?}"),
            },
            self.stats.iter().map(|s| s.name()).collect::<Vec<_>>().join(", "),
        );
        std::fs::write(report.join("features.txt"), text)?;
        Ok(())
    }
}
