//! The `baseline` stage kind: trains a classic classifier on a feature table's training clips
//! and scores every clip.
//!
//! Reads `features.csv` + `manifest.csv` (and `standardization.csv` when present) from its one
//! features input; writes `predictions.csv` (every clip of every split, labeled or not, with one
//! probability column per class present in the training labels), `model.json` (see
//! [`crate::model`]) and `report/model.txt`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::Split;
use vox_api::features::FeatureTable;
use vox_api::predictions::Predictions;
use vox_api::labels::LabelSet;
use vox_api::{Applied, Applies, ApplyContext, ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

use crate::boosting::{BoostingParams, GradientBoosting};
use crate::data::{ClassWeight, TrainingData, check_finite, model_columns};
use crate::error::ClassicError;
use crate::forest::{Forest, ForestParams};
use crate::kernel_svm::{Gamma, RbfSvm, SvmParams};
use crate::knn::{Knn, Weights};
use crate::model::{FORMAT, FittedModel, ModelFile};
use crate::report::{ModelReport, accuracy};
use crate::importance;
use crate::mlp::{Mlp, MlpParams};
use crate::scaling::Standardizer;

/// Features whose per-class distributions an importance measurement writes.
const IMPORTANCE_TOP: usize = 10;
use crate::{logistic, svm};

/// Trains a classic classifier (random forest, multinomial logistic regression, one-vs-rest
/// linear SVM, k nearest neighbours, histogram gradient boosting, RBF-kernel SVM or a
/// multilayer perceptron) on the clips with `split = train` of a feature table and writes class
/// probabilities for every clip, the fitted model (`model.json`) and `report/model.txt`. The
/// linear models, knn, rbf-svm and mlp standardize features with the input's
/// `standardization.csv` when the featurize stage wrote one, else with the training clips' mean
/// and std; the tree models read raw features. Each model has its own params (each param's doc
/// names its models): a param of another model is an error, and only the chosen model's params
/// are in the cache key. With `importance_repeats`, also each feature's permutation importance
/// on the `val` clips (`importance.csv`, drawn by `evaluate`).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, into = "Keyed")]
pub struct Baseline {
    /// The classifier: `random-forest` (scikit-learn's RandomForestClassifier: Gini trees,
    /// probability = mean of the trees' leaf class distributions), `logistic` (multinomial,
    /// L2-penalized, probability = softmax) or `linear-svm` (one-vs-rest squared hinge, as
    /// LinearSVC; probability = softmax of the margins, uncalibrated), `knn` (k nearest
    /// neighbours by Euclidean distance on standardized features, as KNeighborsClassifier
    /// behind a StandardScaler; probability = the neighbours' vote shares) or
    /// `hist-gradient-boosting` (gradient-boosted trees on binned features, as
    /// HistGradientBoostingClassifier without early stopping; probability = softmax of the
    /// summed tree scores) or `rbf-svm` (one-vs-one kernel SVM on standardized features, as
    /// SVC(kernel="rbf", probability=True) behind a StandardScaler; probability = Platt scaling
    /// per pair on 5-fold cross-validated decision values, coupled across pairs) or `mlp` (a
    /// ReLU multilayer perceptron trained with Adam, as MLPClassifier behind a StandardScaler;
    /// probability = softmax output).
    #[serde(default)]
    pub model: ModelKind,
    /// random-forest: number of trees (>= 1).
    #[serde(default)]
    #[schemars(extend("default" = 200))]
    pub n_trees: Option<usize>,
    /// random-forest and hist-gradient-boosting: maximum tree depth (>= 1; the root is depth
    /// 0); unset grows every tree until its leaves are pure or too small to split (the boosting's
    /// trees stop at `max_leaf_nodes` leaves anyway).
    #[serde(default)]
    pub max_depth: Option<usize>,
    /// random-forest and hist-gradient-boosting: minimum number of training clips in a leaf
    /// (>= 1); default 1 for random-forest, 20 for hist-gradient-boosting (scikit-learn's).
    #[serde(default)]
    #[schemars(extend("default" = 1))]
    pub min_samples_leaf: Option<usize>,
    /// random-forest: features inspected per split: `"sqrt"` (of the feature count), `"log2"`,
    /// `"all"`, or a fraction in (0, 1] of the feature count (at least 1).
    #[serde(default)]
    #[schemars(extend("default" = "sqrt"))]
    pub max_features: Option<MaxFeatures>,
    /// Every model but knn: `"none"`, or `"balanced"` to weigh each class inversely to its training
    /// frequency (`n / (n_classes * n_class)`); with `bootstrap` the forest draws its samples
    /// in proportion to these weights, as scikit-learn 1.9 does. rbf-svm weighs its penalty `c`
    /// per class, which moves its votes; its probabilities are Platt sigmoids fitted on the
    /// unweighted labels (as scikit-learn's), which largely restore the class priors.
    #[serde(default)]
    pub class_weight: ClassWeight,
    /// random-forest: train each tree on a bootstrap sample of the training clips (else on all
    /// of them).
    #[serde(default)]
    #[schemars(extend("default" = true))]
    pub bootstrap: Option<bool>,
    /// logistic, linear-svm and rbf-svm: inverse L2 regularization strength, the SVMs' penalty
    /// on margin violations (> 0); larger fits the training data more closely.
    #[serde(default)]
    #[schemars(extend("default" = 1.0))]
    pub c: Option<f64>,
    /// logistic: maximum L-BFGS iterations; linear-svm: maximum Newton steps per class;
    /// hist-gradient-boosting: boosting iterations, each growing one tree per class; mlp: most
    /// epochs (>= 1). Default 1000 for logistic and linear-svm, 100 for hist-gradient-boosting,
    /// 200 for mlp.
    #[serde(default)]
    #[schemars(extend("default" = 1000))]
    pub max_iter: Option<usize>,
    /// logistic, linear-svm and rbf-svm: stopping tolerance (> 0), as scikit-learn's `tol`:
    /// logistic stops when no gradient component of the mean penalized loss exceeds it;
    /// linear-svm when the gradient norm has fallen by `tol` times the smaller side's share of
    /// the clips; rbf-svm when the maximal KKT violation of the SMO solver is below it. Default
    /// 0.0001 for logistic and linear-svm, 0.001 for rbf-svm (scikit-learn's SVC); mlp stops
    /// when the epoch's training loss has not improved by `tol` (default 0.0001) for 10 epochs.
    #[serde(default)]
    #[schemars(extend("default" = 0.0001))]
    pub tol: Option<f64>,
    /// rbf-svm: kernel width of `exp(-gamma |x - z|^2)` on standardized features: `"scale"`
    /// (`1 / (n_features * variance of the standardized training values)`), `"auto"`
    /// (`1 / n_features`) or a positive number.
    #[serde(default)]
    #[schemars(extend("default" = "scale"))]
    pub gamma: Option<Gamma>,
    /// hist-gradient-boosting: shrinkage of every tree's leaf values; mlp: Adam's step size
    /// (> 0). Default 0.1 for hist-gradient-boosting, 0.001 for mlp.
    #[serde(default)]
    #[schemars(extend("default" = 0.1))]
    pub learning_rate: Option<f64>,
    /// mlp: units of each hidden layer, e.g. `[256, 128]` (each >= 1; at least one layer).
    #[serde(default)]
    #[schemars(extend("default" = [100]))]
    pub hidden_layers: Option<Vec<usize>>,
    /// mlp: L2 penalty on the weights (>= 0).
    #[serde(default)]
    #[schemars(extend("default" = 0.0001))]
    pub alpha: Option<f64>,
    /// mlp: training clips per Adam step (>= 1; at most the training clips).
    #[serde(default)]
    #[schemars(extend("default" = 200))]
    pub batch_size: Option<usize>,
    /// hist-gradient-boosting: maximum leaves per tree (>= 2); trees grow best split first.
    #[serde(default)]
    #[schemars(extend("default" = 31))]
    pub max_leaf_nodes: Option<usize>,
    /// hist-gradient-boosting: L2 penalty on leaf values (>= 0).
    #[serde(default)]
    #[schemars(extend("default" = 0.0))]
    pub l2_regularization: Option<f64>,
    /// hist-gradient-boosting: maximum bins per feature (2 to 255); features are cut at
    /// quantiles of the training clips before boosting.
    #[serde(default)]
    #[schemars(extend("default" = 255))]
    pub max_bins: Option<usize>,
    /// knn: neighbours that vote (>= 1; at most the training clips).
    #[serde(default)]
    #[schemars(extend("default" = 5))]
    pub n_neighbors: Option<usize>,
    /// knn: `"uniform"` (each neighbour counts 1) or `"distance"` (1 / distance).
    #[serde(default)]
    #[schemars(extend("default" = "uniform"))]
    pub weights: Option<Weights>,
    /// random-forest: seed of the bootstrap samples and feature draws; rbf-svm: seed of the
    /// fold shuffles of the cross-validation its probabilities are calibrated on; unset uses the
    /// pipeline's seed (the other models are deterministic fits: the seed is not in their key).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Every model: permutation importance on the `val` clips, this many shuffles of each
    /// feature (>= 1); unset measures none. Writes `importance.csv` (every feature's mean and
    /// std drop of `importance_metric`), `importance.json` and `distributions.csv` (each class's
    /// values of the 10 most important features on the training clips), which `evaluate` draws.
    /// The shuffles use `seed`.
    #[serde(default)]
    pub importance_repeats: Option<usize>,
    /// Every model, with `importance_repeats`: the metric whose drop is the importance,
    /// `macro_f1` (default), `uar`, `accuracy` or `weighted_f1`.
    #[serde(default)]
    #[schemars(extend("default" = "macro_f1"))]
    pub importance_metric: Option<ImportanceMetric>,
}

/// The metric a permutation importance measures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportanceMetric {
    /// Accuracy.
    Accuracy,
    /// Macro-averaged F1.
    #[default]
    MacroF1,
    /// Support-weighted F1.
    WeightedF1,
    /// Unweighted average recall.
    Uar,
}

impl ImportanceMetric {
    /// Its summary-metric name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Accuracy => "accuracy",
            Self::MacroF1 => "macro_f1",
            Self::WeightedF1 => "weighted_f1",
            Self::Uar => "uar",
        }
    }
}

/// The cache key's params: the chosen model's ([`Resolved`]) and, when asked for, the
/// importance's (with the seed its shuffles use, for models whose fit has none).
#[derive(Clone, Debug, Serialize, JsonSchema)]
struct Keyed {
    #[serde(flatten)]
    model: Resolved,
    #[serde(skip_serializing_if = "Option::is_none")]
    importance_repeats: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    importance_metric: Option<ImportanceMetric>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
}

impl From<Baseline> for Keyed {
    fn from(b: Baseline) -> Self {
        let importance = b.importance_repeats.is_some();
        let own_seed = b.model.params().contains(&"seed");
        Self {
            importance_repeats: b.importance_repeats,
            importance_metric: importance.then(|| b.importance_metric.unwrap_or_default()),
            seed: if importance && !own_seed { b.seed } else { None },
            model: Resolved::from(b),
        }
    }
}

/// The params each model reads; `seed` is everyone's to receive (the engine fills it from the
/// pipeline) but only a random model keys on it.
const PARAMS: &[(ModelKind, &[&str])] = &[
    (ModelKind::RandomForest, &["n_trees", "max_depth", "min_samples_leaf", "max_features", "bootstrap", "class_weight", "seed"]),
    (ModelKind::Logistic, &["c", "max_iter", "tol", "class_weight"]),
    (ModelKind::LinearSvm, &["c", "max_iter", "tol", "class_weight"]),
    (ModelKind::Knn, &["n_neighbors", "weights"]),
    (
        ModelKind::HistGradientBoosting,
        &["max_iter", "learning_rate", "max_leaf_nodes", "max_depth", "min_samples_leaf", "l2_regularization", "max_bins", "class_weight"],
    ),
    (ModelKind::RbfSvm, &["c", "gamma", "tol", "class_weight", "seed"]),
    (
        ModelKind::Mlp,
        &["hidden_layers", "alpha", "learning_rate", "batch_size", "max_iter", "tol", "class_weight", "seed"],
    ),
];

impl ModelKind {
    /// The params this model reads.
    pub fn params(self) -> &'static [&'static str] {
        PARAMS.iter().find(|(m, _)| *m == self).map_or(&[], |(_, p)| p)
    }
}

/// The params of the chosen model with every default filled in: what the cache key and the
/// reports see, so that a param of another model can never change a key.
#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(tag = "model", rename_all = "kebab-case")]
enum Resolved {
    RandomForest {
        n_trees: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_depth: Option<usize>,
        min_samples_leaf: usize,
        max_features: MaxFeatures,
        bootstrap: bool,
        class_weight: ClassWeight,
        #[serde(skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
    },
    Logistic { c: f64, max_iter: usize, tol: f64, class_weight: ClassWeight },
    LinearSvm { c: f64, max_iter: usize, tol: f64, class_weight: ClassWeight },
    Knn { n_neighbors: usize, weights: Weights },
    HistGradientBoosting {
        max_iter: usize,
        learning_rate: f64,
        max_leaf_nodes: usize,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_depth: Option<usize>,
        min_samples_leaf: usize,
        l2_regularization: f64,
        max_bins: usize,
        class_weight: ClassWeight,
    },
    RbfSvm {
        c: f64,
        gamma: Gamma,
        tol: f64,
        class_weight: ClassWeight,
        #[serde(skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
    },
    Mlp {
        hidden_layers: Vec<usize>,
        alpha: f64,
        learning_rate: f64,
        batch_size: usize,
        max_iter: usize,
        tol: f64,
        class_weight: ClassWeight,
        #[serde(skip_serializing_if = "Option::is_none")]
        seed: Option<u64>,
    },
}

impl From<Baseline> for Resolved {
    fn from(b: Baseline) -> Self {
        let class_weight = b.class_weight;
        match b.model {
            ModelKind::RandomForest => Self::RandomForest {
                n_trees: b.n_trees(),
                max_depth: b.max_depth,
                min_samples_leaf: b.min_samples_leaf(),
                max_features: b.max_features(),
                bootstrap: b.bootstrap(),
                class_weight,
                seed: b.seed,
            },
            ModelKind::Logistic => Self::Logistic { c: b.c(), max_iter: b.max_iter(), tol: b.tol(), class_weight },
            ModelKind::LinearSvm => Self::LinearSvm { c: b.c(), max_iter: b.max_iter(), tol: b.tol(), class_weight },
            ModelKind::Knn => Self::Knn { n_neighbors: b.n_neighbors(), weights: b.weights() },
            ModelKind::HistGradientBoosting => Self::HistGradientBoosting {
                max_iter: b.max_iter(),
                learning_rate: b.learning_rate(),
                max_leaf_nodes: b.max_leaf_nodes(),
                max_depth: b.max_depth,
                min_samples_leaf: b.min_samples_leaf(),
                l2_regularization: b.l2_regularization(),
                max_bins: b.max_bins(),
                class_weight,
            },
            ModelKind::RbfSvm => Self::RbfSvm { c: b.c(), gamma: b.gamma(), tol: b.tol(), class_weight, seed: b.seed },
            ModelKind::Mlp => Self::Mlp {
                hidden_layers: b.hidden_layers(),
                alpha: b.alpha(),
                learning_rate: b.learning_rate(),
                batch_size: b.batch_size(),
                max_iter: b.max_iter(),
                tol: b.tol(),
                class_weight,
                seed: b.seed,
            },
        }
    }
}

impl Baseline {
    fn n_trees(&self) -> usize {
        self.n_trees.unwrap_or(200)
    }
    fn min_samples_leaf(&self) -> usize {
        let default = if self.model == ModelKind::HistGradientBoosting { 20 } else { 1 };
        self.min_samples_leaf.unwrap_or(default)
    }
    fn max_features(&self) -> MaxFeatures {
        self.max_features.unwrap_or_default()
    }
    fn bootstrap(&self) -> bool {
        self.bootstrap.unwrap_or(true)
    }
    fn c(&self) -> f64 {
        self.c.unwrap_or(1.0)
    }
    fn max_iter(&self) -> usize {
        let default = match self.model {
            ModelKind::HistGradientBoosting => 100,
            ModelKind::Mlp => 200,
            _ => 1000,
        };
        self.max_iter.unwrap_or(default)
    }
    fn tol(&self) -> f64 {
        let default = if self.model == ModelKind::RbfSvm { 1e-3 } else { 1e-4 };
        self.tol.unwrap_or(default)
    }
    fn gamma(&self) -> Gamma {
        self.gamma.unwrap_or_default()
    }
    fn learning_rate(&self) -> f64 {
        self.learning_rate.unwrap_or(if self.model == ModelKind::Mlp { 1e-3 } else { 0.1 })
    }
    fn hidden_layers(&self) -> Vec<usize> {
        self.hidden_layers.clone().unwrap_or_else(|| vec![100])
    }
    fn alpha(&self) -> f64 {
        self.alpha.unwrap_or(1e-4)
    }
    fn batch_size(&self) -> usize {
        self.batch_size.unwrap_or(200)
    }
    /// The boosting's params, defaults filled in.
    fn boosting_params(&self) -> BoostingParams {
        BoostingParams {
            max_iter: self.max_iter(),
            learning_rate: self.learning_rate(),
            max_leaf_nodes: self.max_leaf_nodes(),
            max_depth: self.max_depth,
            min_samples_leaf: self.min_samples_leaf(),
            l2_regularization: self.l2_regularization(),
            max_bins: self.max_bins(),
        }
    }

    fn max_leaf_nodes(&self) -> usize {
        self.max_leaf_nodes.unwrap_or(31)
    }
    fn l2_regularization(&self) -> f64 {
        self.l2_regularization.unwrap_or(0.0)
    }
    fn max_bins(&self) -> usize {
        self.max_bins.unwrap_or(255)
    }
    fn n_neighbors(&self) -> usize {
        self.n_neighbors.unwrap_or(5)
    }
    fn weights(&self) -> Weights {
        self.weights.unwrap_or_default()
    }

    /// The first param set in the table that the chosen model does not read.
    fn foreign_param(&self) -> Option<&'static str> {
        let set = [
            ("n_trees", self.n_trees.is_some()),
            ("max_depth", self.max_depth.is_some()),
            ("min_samples_leaf", self.min_samples_leaf.is_some()),
            ("max_features", self.max_features.is_some()),
            ("bootstrap", self.bootstrap.is_some()),
            ("c", self.c.is_some()),
            ("max_iter", self.max_iter.is_some()),
            ("tol", self.tol.is_some()),
            ("n_neighbors", self.n_neighbors.is_some()),
            ("weights", self.weights.is_some()),
            ("learning_rate", self.learning_rate.is_some()),
            ("hidden_layers", self.hidden_layers.is_some()),
            ("alpha", self.alpha.is_some()),
            ("batch_size", self.batch_size.is_some()),
            ("max_leaf_nodes", self.max_leaf_nodes.is_some()),
            ("l2_regularization", self.l2_regularization.is_some()),
            ("max_bins", self.max_bins.is_some()),
            ("gamma", self.gamma.is_some()),
            // Unweighted is every model's default; only a weighting needs a model that reads it.
            ("class_weight", self.class_weight != ClassWeight::None),
        ];
        set.into_iter().find(|(name, is_set)| *is_set && !self.model.params().contains(name)).map(|(name, _)| name)
    }
}

/// Which classifier the baseline trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// Random forest of Gini trees.
    #[default]
    RandomForest,
    /// Multinomial logistic regression.
    Logistic,
    /// One-vs-rest linear SVM.
    LinearSvm,
    /// k nearest neighbours.
    Knn,
    /// Histogram-based gradient-boosted trees.
    HistGradientBoosting,
    /// One-vs-one SVM with an RBF kernel.
    RbfSvm,
    /// Multilayer perceptron.
    Mlp,
}

impl ModelKind {
    /// The name used in the params and reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::RandomForest => "random-forest",
            Self::Logistic => "logistic",
            Self::LinearSvm => "linear-svm",
            Self::Knn => "knn",
            Self::HistGradientBoosting => "hist-gradient-boosting",
            Self::RbfSvm => "rbf-svm",
            Self::Mlp => "mlp",
        }
    }
}

/// How many features a forest split inspects.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum MaxFeatures {
    /// A rule on the feature count.
    Rule(FeatureRule),
    /// A fraction in (0, 1] of the feature count.
    Fraction(f64),
}

/// A rule giving the features inspected per split from the feature count `n`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FeatureRule {
    /// `floor(sqrt(n))`.
    Sqrt,
    /// `floor(log2(n))`.
    Log2,
    /// `n`.
    All,
}

impl<'de> Deserialize<'de> for MaxFeatures {
    /// A rule name or a number; anything else gets a message listing the choices (serde's
    /// untagged enums only say that no variant matched).
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        const CHOICES: &str = "\"sqrt\", \"log2\", \"all\" or a fraction in (0, 1]";
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Name(String),
            Number(f64),
        }
        match Raw::deserialize(deserializer)
            .map_err(|_| D::Error::custom(format!("expected {CHOICES}")))?
        {
            Raw::Number(fraction) => Ok(Self::Fraction(fraction)),
            Raw::Name(name) => match name.as_str() {
                "sqrt" => Ok(Self::Rule(FeatureRule::Sqrt)),
                "log2" => Ok(Self::Rule(FeatureRule::Log2)),
                "all" => Ok(Self::Rule(FeatureRule::All)),
                other => Err(D::Error::custom(format!("`{other}` is not {CHOICES}"))),
            },
        }
    }
}

impl Default for MaxFeatures {
    fn default() -> Self {
        Self::Rule(FeatureRule::Sqrt)
    }
}

impl MaxFeatures {
    /// The number of features to inspect out of `n` (scikit-learn's rounding, at least 1).
    pub fn resolve(self, n: usize) -> usize {
        let count = match self {
            Self::Rule(FeatureRule::Sqrt) => (n as f64).sqrt().floor() as usize,
            Self::Rule(FeatureRule::Log2) => (n as f64).log2().floor() as usize,
            Self::Rule(FeatureRule::All) => n,
            Self::Fraction(f) => (f * n as f64).floor() as usize,
        };
        count.clamp(1, n.max(1))
    }
}


/// The error of a param set on a model that does not read it, listing the model's own.
pub(crate) fn foreign_param_error(param: &str, model: &str, own: &[&str]) -> ParamError {
    let own = own.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", ");
    ParamError::new(param, format!("`{param}` does not apply to model `{model}` (its params: {own})"))
}

impl StageDef for Baseline {
    const KIND: &'static str = "baseline";
    // 2: params are the chosen model's only (and knn) (resolved): a param of another model is an error.
    const VERSION: u32 = 2;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Features]);
    const OUTPUT: ArtifactKind = ArtifactKind::Predictions;
    const APPLIES: Applies = Applies::Yes;

    fn validate(&self) -> Result<(), ParamError> {
        if let Some(param) = self.foreign_param() {
            return Err(foreign_param_error(param, self.model.name(), self.model.params()));
        }
        if self.importance_repeats == Some(0) {
            return Err(ParamError::new("importance_repeats", "must be at least 1 (leave it unset for no importance)"));
        }
        if self.importance_metric.is_some() && self.importance_repeats.is_none() {
            return Err(ParamError::new("importance_metric", "set `importance_repeats` to measure importance"));
        }
        if self.n_trees == Some(0) {
            return Err(ParamError::new("n_trees", "must be at least 1"));
        }
        if self.max_depth == Some(0) {
            return Err(ParamError::new("max_depth", "must be at least 1 (leave it unset for no limit)"));
        }
        if self.min_samples_leaf == Some(0) {
            return Err(ParamError::new("min_samples_leaf", "must be at least 1"));
        }
        if let Some(MaxFeatures::Fraction(f)) = self.max_features
            && !(f > 0.0 && f <= 1.0)
        {
            return Err(ParamError::new(
                "max_features",
                format!("a fraction must be in (0, 1], got {f}; or use \"sqrt\", \"log2\" or \"all\""),
            ));
        }
        if let Some(c) = self.c
            && !(c.is_finite() && c > 0.0)
        {
            return Err(ParamError::new("c", format!("must be a positive number, got {c}")));
        }
        if self.n_neighbors == Some(0) {
            return Err(ParamError::new("n_neighbors", "must be at least 1"));
        }
        if let Some(layers) = &self.hidden_layers
            && (layers.is_empty() || layers.contains(&0))
        {
            return Err(ParamError::new("hidden_layers", "needs at least one layer, each of at least 1 unit"));
        }
        if let Some(alpha) = self.alpha
            && !(alpha.is_finite() && alpha >= 0.0)
        {
            return Err(ParamError::new("alpha", format!("must be a number >= 0, got {alpha}")));
        }
        if self.batch_size == Some(0) {
            return Err(ParamError::new("batch_size", "must be at least 1"));
        }
        if self.max_iter == Some(0) {
            return Err(ParamError::new("max_iter", "must be at least 1"));
        }
        if let Some(tol) = self.tol
            && !(tol.is_finite() && tol > 0.0)
        {
            return Err(ParamError::new("tol", format!("must be a positive number, got {tol}")));
        }
        if let Some(rate) = self.learning_rate
            && !(rate.is_finite() && rate > 0.0)
        {
            return Err(ParamError::new("learning_rate", format!("must be a positive number, got {rate}")));
        }
        if let Some(gamma) = self.gamma {
            gamma.check().map_err(|message| ParamError::new("gamma", message))?;
        }
        if self.model == ModelKind::HistGradientBoosting {
            self.boosting_params().check().map_err(|(param, message)| ParamError::new(param, message))?;
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let input = ctx.input();
        let table = FeatureTable::read(&input.dir).map_err(ClassicError::from)?;
        check_finite(&table)?;
        let training = TrainingData::from_table(&table)?;
        let class_weights = training.class_weights(self.class_weight);
        let seed = self.seed.unwrap_or(ctx.seed);
        // The run's shared pool (`vox_api::pool`), or one of `ctx.threads` outside a run.
        let (model, probabilities) = vox_api::pool::install(ctx.threads, || {
            let model = self.fit(ctx, &input.dir, &table, &training, &class_weights, seed)?;
            let rows: Vec<&[f64]> = table.rows.iter().map(Vec::as_slice).collect();
            let probabilities = model.predict_proba(&rows);
            Ok::<_, StageError>((model, probabilities))
        })
        .map_err(ClassicError::from)??;
        let predictions =
            Predictions::from_clips(table.labels.clone(), training.classes.clone(), &table.clips, probabilities);
        predictions.write(ctx.out_dir).map_err(ClassicError::from)?;
        if let Some(repeats) = self.importance_repeats {
            self.write_importance(ctx, &model, &table, &training.classes, repeats, seed)?;
        }

        // Serializing a plain params struct cannot fail.
        let mut params = serde_json::to_value(self).unwrap_or_default();
        if self.model.params().contains(&"seed") {
            params["seed"] = seed.into();
        }
        let report_dir = ctx.report_dir().map_err(|source| ClassicError::Io {
            path: ctx.out_dir.join("report"),
            source,
        })?;
        ModelReport {
            model_name: self.model.name(),
            params: &params,
            training: &training,
            labels: &table.labels,
            class_weights: &class_weights,
            features: &table.names,
            model: &model,
            predictions: &predictions,
        }
        .write(&report_dir)?;

        ModelFile {
            format: FORMAT.to_string(),
            features: table.names.clone(),
            classes: training.classes.clone(),
            model,
        }
        .write(ctx.out_dir)?;

        let fit = |split| {
            accuracy(&predictions, split).map_or("-".to_string(), |(a, _)| format!("{a:.3}"))
        };
        tracing::info!(
            stage = ctx.stage,
            "{} on {} train clips, {} classes: train accuracy {}, val accuracy {}",
            self.model.name(),
            training.labels.len(),
            training.classes.len(),
            fit(Split::Train),
            fit(Split::Val),
        );
        Ok(())
    }

    /// Scores new clips with the run's fitted `model.json` (its feature columns picked by name),
    /// under the run's label set.
    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError> {
        let table = FeatureTable::read(&ctx.run.input().dir).map_err(ClassicError::from)?;
        check_finite(&table)?;
        let model = ModelFile::read(ctx.trained)?;
        let labels = LabelSet::read(ctx.trained)?;
        let rows = model_columns(&table, &model.features, ctx.trained)?;
        let rows: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        let probabilities =
            vox_api::pool::install(ctx.run.threads, || model.model.predict_proba(&rows)).map_err(ClassicError::from)?;
        Predictions::from_clips(labels, model.classes, &table.clips, probabilities)
            .write(ctx.run.out_dir)
            .map_err(ClassicError::from)?;
        Ok(Applied::Wrote)
    }
}

impl Baseline {
    /// Measures and writes the permutation importance on the `val` clips.
    fn write_importance(
        &self,
        ctx: &StageContext,
        model: &FittedModel,
        table: &FeatureTable,
        classes: &[String],
        repeats: usize,
        seed: u64,
    ) -> Result<(), ClassicError> {
        let metric = self.importance_metric.unwrap_or_default().name();
        let request = importance::Request { metric, repeats, seed, top: IMPORTANCE_TOP };
        let bar = ctx.progress_bar(1, "importance");
        let measured = vox_api::pool::install(ctx.threads, || importance::permutation(model, table, classes, &request))?;
        bar.finish_and_clear();
        let measured = measured.ok_or(ClassicError::NoValClips)?;
        measured.write(ctx.out_dir)?;
        let top: Vec<String> =
            measured.features.iter().take(5).map(|f| format!("{} ({:+.3})", f.feature, f.mean)).collect();
        tracing::info!(stage = ctx.stage, "permutation importance ({metric} on val, {repeats} repeats): {}", top.join(", "));
        Ok(())
    }

    /// Fits the chosen model on the training data (inside the stage's thread pool).
    fn fit(
        &self,
        ctx: &StageContext,
        input_dir: &std::path::Path,
        table: &FeatureTable,
        training: &TrainingData,
        class_weights: &[f64],
        seed: u64,
    ) -> Result<FittedModel, ClassicError> {
        let n_classes = training.classes.len();
        match self.model {
            ModelKind::RandomForest => {
                let params = ForestParams {
                    n_trees: self.n_trees(),
                    max_depth: self.max_depth,
                    min_samples_leaf: self.min_samples_leaf(),
                    max_features: self.max_features().resolve(table.names.len()),
                    bootstrap: self.bootstrap(),
                    seed,
                };
                let bar = ctx.progress_bar(params.n_trees as u64, "trees");
                let forest = Forest::fit(
                    &training.rows,
                    &training.labels,
                    n_classes,
                    class_weights,
                    &params,
                    &|| bar.inc(1),
                );
                bar.finish_and_clear();
                Ok(FittedModel::RandomForest(forest))
            }
            ModelKind::HistGradientBoosting => {
                let params = self.boosting_params();
                let row_weights = training.row_weights(class_weights);
                let bar = ctx.progress_bar(params.max_iter as u64, "iterations");
                let model = GradientBoosting::fit(
                    &training.rows,
                    &training.labels,
                    n_classes,
                    &row_weights,
                    &params,
                    &|| bar.inc(1),
                );
                bar.finish_and_clear();
                Ok(FittedModel::HistGradientBoosting(model))
            }
            ModelKind::RbfSvm => {
                let standardizer = Standardizer::read_or_fit(input_dir, &table.names, &training.rows)?;
                let params = SvmParams { c: self.c(), gamma: self.gamma(), tol: self.tol(), seed };
                Ok(FittedModel::RbfSvm(RbfSvm::fit(
                    &training.rows,
                    &training.labels,
                    n_classes,
                    standardizer,
                    class_weights,
                    &params,
                )))
            }
            ModelKind::Mlp => {
                let standardizer = Standardizer::read_or_fit(input_dir, &table.names, &training.rows)?;
                let params = MlpParams {
                    hidden: self.hidden_layers(),
                    alpha: self.alpha(),
                    learning_rate: self.learning_rate(),
                    batch_size: self.batch_size(),
                    max_iter: self.max_iter(),
                    tol: self.tol(),
                    seed,
                };
                let row_weights = training.row_weights(class_weights);
                let bar = ctx.progress_bar(params.max_iter as u64, "epochs");
                let mlp = Mlp::fit(&training.rows, &training.labels, n_classes, standardizer, &row_weights, &params, &|| bar.inc(1));
                bar.finish_and_clear();
                Ok(FittedModel::Mlp(mlp))
            }
            ModelKind::Knn => {
                let standardizer = Standardizer::read_or_fit(input_dir, &table.names, &training.rows)?;
                Ok(FittedModel::Knn(Knn::fit(&training.rows, &training.labels, n_classes, standardizer, self.n_neighbors(), self.weights())))
            }
            ModelKind::Logistic | ModelKind::LinearSvm => {
                let standardizer =
                    Standardizer::read_or_fit(input_dir, &table.names, &training.rows)?;
                let row_weights = training.row_weights(class_weights);
                let (rows, labels) = (&training.rows, &training.labels);
                Ok(if self.model == ModelKind::Logistic {
                    FittedModel::Logistic(logistic::fit(
                        rows,
                        labels,
                        n_classes,
                        standardizer,
                        &row_weights,
                        self.c(),
                        self.tol(),
                        self.max_iter(),
                    ))
                } else {
                    let sample_c: Vec<f64> = row_weights.iter().map(|w| self.c() * w).collect();
                    FittedModel::LinearSvm(svm::fit(
                        rows,
                        labels,
                        n_classes,
                        standardizer,
                        &sample_c,
                        self.tol(),
                        self.max_iter(),
                    ))
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> Result<Box<dyn vox_api::Stage>, ParamError> {
        vox_api::kind::<Baseline>().configure(toml.parse::<toml::Table>().unwrap())
    }

    #[test]
    fn resolves_every_default_of_the_chosen_model_only() {
        let stage = parse("").unwrap();
        assert_eq!(
            stage.params(),
            serde_json::json!({
                "model": "random-forest", "n_trees": 200, "min_samples_leaf": 1,
                "max_features": "sqrt", "class_weight": "none", "bootstrap": true
            })
        );
        let stage = parse("model = \"random-forest\"\nmax_features = 0.5\nmax_depth = 12\nseed = 3").unwrap();
        let params = stage.params();
        assert_eq!((params["max_features"].clone(), params["max_depth"].clone(), params["seed"].clone()), (0.5.into(), 12.into(), 3.into()));
        // The linear models key on their own params; the seed the engine gives every stage is
        // not one of them.
        let svm = parse("model = \"linear-svm\"\nc = 2.0\nseed = 9").unwrap();
        assert_eq!(
            svm.params(),
            serde_json::json!({"model": "linear-svm", "c": 2.0, "max_iter": 1000, "tol": 0.0001, "class_weight": "none"})
        );
        // Defaults are per model: the boosting's min_samples_leaf and max_iter are
        // scikit-learn's HistGradientBoostingClassifier's, not the forest's or logistic's.
        assert_eq!(
            parse("model = \"hist-gradient-boosting\"\nseed = 9").unwrap().params(),
            serde_json::json!({
                "model": "hist-gradient-boosting", "max_iter": 100, "learning_rate": 0.1,
                "max_leaf_nodes": 31, "min_samples_leaf": 20, "l2_regularization": 0.0,
                "max_bins": 255, "class_weight": "none"
            })
        );
        assert_eq!(
            parse("model = \"hist-gradient-boosting\"\nmax_depth = 4\nmin_samples_leaf = 5").unwrap().params()
                ["max_depth"],
            4
        );
        // rbf-svm's tol defaults to SVC's 1e-3, not the linear models' 1e-4; its seed (the
        // probability folds) is in its key.
        let rbf = parse("model = \"rbf-svm\"\nseed = 9").unwrap();
        assert_eq!(
            rbf.params(),
            serde_json::json!({"model": "rbf-svm", "c": 1.0, "gamma": "scale", "tol": 0.001, "class_weight": "none", "seed": 9})
        );
        assert_eq!(parse("model = \"rbf-svm\"\ngamma = \"auto\"").unwrap().params()["gamma"], "auto");
        assert_eq!(parse("model = \"rbf-svm\"\ngamma = 0.5\ntol = 0.01").unwrap().params()["gamma"], 0.5);
        let table: toml::Table = toml::from_str(&toml::to_string(&rbf.params()).unwrap()).unwrap();
        assert_eq!(vox_api::kind::<Baseline>().configure(table).unwrap().params(), rbf.params());
        // Unset and set to the default are one key.
        assert_eq!(parse("n_trees = 200").unwrap().params(), parse("").unwrap().params());
        // The resolved form parses back to itself (vox predict configures from run.json).
        let table: toml::Table = toml::from_str(&toml::to_string(&svm.params()).unwrap()).unwrap();
        assert_eq!(vox_api::kind::<Baseline>().configure(table).unwrap().params(), svm.params());
    }

    #[test]
    fn importance_keys_only_when_asked_with_the_seed_of_its_shuffles() {
        let plain = parse("model = \"logistic\"\nseed = 9").unwrap().params();
        assert!(plain.get("importance_repeats").is_none() && plain.get("seed").is_none());
        let asked = parse("model = \"logistic\"\nseed = 9\nimportance_repeats = 3").unwrap().params();
        assert_eq!((asked["importance_repeats"].clone(), asked["importance_metric"].clone(), asked["seed"].clone()), (3.into(), "macro_f1".into(), 9.into()));
        // A forest keys on its seed already: once.
        let forest = parse("seed = 9\nimportance_repeats = 2\nimportance_metric = \"uar\"").unwrap().params();
        assert_eq!((forest["seed"].clone(), forest["importance_metric"].clone()), (9.into(), "uar".into()));
        // The resolved form parses back to itself.
        let table: toml::Table = toml::from_str(&toml::to_string(&asked).unwrap()).unwrap();
        assert_eq!(vox_api::kind::<Baseline>().configure(table).unwrap().params(), asked);
        let err = |toml| parse(toml).err().map(|e| (e.path, e.message));
        assert_eq!(err("importance_metric = \"uar\"").unwrap().0, "importance_metric");
        assert_eq!(err("importance_repeats = 0").unwrap().0, "importance_repeats");
    }

    #[test]
    fn a_param_of_another_model_is_an_error_naming_the_models_own() {
        let err = |toml| parse(toml).err().map(|e| (e.path, e.message));
        assert_eq!(
            err("c = 5.0"),
            Some(("c".into(), "`c` does not apply to model `random-forest` (its params: `n_trees`, `max_depth`, \
                 `min_samples_leaf`, `max_features`, `bootstrap`, `class_weight`, `seed`)".into()))
        );
        assert_eq!(err("model = \"logistic\"\nn_trees = 10").unwrap().0, "n_trees");
        assert_eq!(err("model = \"knn\"\nhidden_layers = [10]").unwrap().0, "hidden_layers");
        assert_eq!(err("model = \"mlp\"\nhidden_layers = []").unwrap().0, "hidden_layers");
        assert_eq!(err("model = \"mlp\"\nalpha = -1.0").unwrap().0, "alpha");
        // The MLP's defaults are its own: 200 epochs, Adam's 0.001.
        let mlp = parse("model = \"mlp\"\nseed = 1").unwrap().params();
        assert_eq!(
            mlp,
            serde_json::json!({"model": "mlp", "hidden_layers": [100], "alpha": 0.0001, "learning_rate": 0.001, "batch_size": 200,
                "max_iter": 200, "tol": 0.0001, "class_weight": "none", "seed": 1})
        );
        assert_eq!(err("model = \"linear-svm\"\nbootstrap = false").unwrap().0, "bootstrap");
        assert!(parse("model = \"logistic\"\nclass_weight = \"balanced\"\nmax_iter = 50").is_ok());
        // The boosting's own params belong to no other model, and the forest's n_trees is not its.
        assert_eq!(err("learning_rate = 0.2").unwrap().0, "learning_rate");
        assert_eq!(err("model = \"knn\"\nmax_bins = 64").unwrap().0, "max_bins");
        assert_eq!(err("model = \"logistic\"\nmax_leaf_nodes = 8").unwrap().0, "max_leaf_nodes");
        assert_eq!(err("model = \"linear-svm\"\nl2_regularization = 1.0").unwrap().0, "l2_regularization");
        assert_eq!(
            err("model = \"hist-gradient-boosting\"\nn_trees = 10"),
            Some(("n_trees".into(), "`n_trees` does not apply to model `hist-gradient-boosting` (its params: \
                 `max_iter`, `learning_rate`, `max_leaf_nodes`, `max_depth`, `min_samples_leaf`, \
                 `l2_regularization`, `max_bins`, `class_weight`)".into()))
        );
        assert_eq!(err("model = \"hist-gradient-boosting\"\nc = 1.0").unwrap().0, "c");
        assert_eq!(err("model = \"logistic\"\ngamma = \"scale\"").unwrap().0, "gamma");
        assert_eq!(err("model = \"hist-gradient-boosting\"\ngamma = 1.0").unwrap().0, "gamma");
        assert_eq!(
            err("model = \"rbf-svm\"\nmax_iter = 10"),
            Some(("max_iter".into(), "`max_iter` does not apply to model `rbf-svm` (its params: `c`, `gamma`, `tol`, \
                 `class_weight`, `seed`)".into()))
        );
        assert_eq!(err("model = \"rbf-svm\"\nlearning_rate = 0.1").unwrap().0, "learning_rate");
        assert!(parse("model = \"rbf-svm\"\nc = 10.0\ngamma = 0.01\ntol = 0.01\nclass_weight = \"balanced\"").is_ok());
        assert!(
            parse("model = \"hist-gradient-boosting\"\nclass_weight = \"balanced\"\nmax_iter = 10\n\
                   learning_rate = 0.3\nmax_leaf_nodes = 8\nmax_depth = 3\nmin_samples_leaf = 4\n\
                   l2_regularization = 1.0\nmax_bins = 64")
            .is_ok()
        );
    }

    #[test]
    fn rejects_bad_values_with_the_param_name() {
        let err = |toml| parse(toml).err().map(|e| (e.path, e.message));
        assert_eq!(
            err("n_trees = 0"),
            Some(("n_trees".into(), "must be at least 1".into()))
        );
        assert_eq!(err("max_features = 1.5").unwrap().0, "max_features");
        assert_eq!(
            err("max_features = \"half\""),
            Some((
                "max_features".into(),
                "`half` is not \"sqrt\", \"log2\", \"all\" or a fraction in (0, 1]".into()
            ))
        );
        assert_eq!(
            parse("max_features = 1").unwrap().params()["max_features"],
            1.0
        );
        assert_eq!(
            parse("max_features = \"log2\"").unwrap().params()["max_features"],
            "log2"
        );
        assert_eq!(
            err("model = \"logistic\"\nc = -1.0").unwrap().1,
            "must be a positive number, got -1"
        );
        assert_eq!(err("model = \"logistic\"\ntol = 0").unwrap().0, "tol");
        let hgb = |param: &str| {
            parse(&format!("model = \"hist-gradient-boosting\"\n{param}")).err().map(|e| (e.path, e.message))
        };
        assert_eq!(hgb("learning_rate = 0.0").unwrap(), ("learning_rate".into(), "must be a positive number, got 0".into()));
        assert_eq!(hgb("max_leaf_nodes = 1").unwrap(), ("max_leaf_nodes".into(), "must be at least 2".into()));
        assert_eq!(hgb("l2_regularization = -1.0").unwrap().0, "l2_regularization");
        assert_eq!(hgb("max_bins = 256").unwrap(), ("max_bins".into(), "must be from 2 to 255, got 256".into()));
        assert_eq!(hgb("max_bins = 1").unwrap().0, "max_bins");
        let rbf = |param: &str| parse(&format!("model = \"rbf-svm\"\n{param}")).err().map(|e| (e.path, e.message));
        assert_eq!(
            rbf("gamma = -1.0").unwrap(),
            ("gamma".into(), "must be a positive number, got -1; or use \"scale\" or \"auto\"".into())
        );
        assert_eq!(rbf("gamma = \"wide\"").unwrap(), ("gamma".into(), "`wide` is not \"scale\", \"auto\" or a positive number".into()));
        assert_eq!(rbf("c = 0.0").unwrap().0, "c");
        assert!(
            err("trees = 3")
                .unwrap()
                .1
                .starts_with("unknown field `trees`")
        );
        assert!(err("model = \"svm\"").unwrap().1.contains("random-forest"));
    }

    #[test]
    fn every_param_is_documented_in_the_schema() {
        let schema = serde_json::to_value(vox_api::kind::<Baseline>().schema()).unwrap();
        let properties = schema["properties"].as_object().unwrap();
        assert_eq!(properties.len(), 23);
        for (name, property) in properties {
            assert!(
                property["description"]
                    .as_str()
                    .is_some_and(|d| d.len() > 20),
                "`{name}`: {property}"
            );
        }
        assert_eq!(properties["n_trees"]["default"], 200);
        assert_eq!(properties["gamma"]["default"], "scale");
        // One schema default per param: the doc gives the other models' defaults.
        assert!(properties["tol"]["description"].as_str().unwrap().contains("0.001 for rbf-svm"));
        assert!(properties["min_samples_leaf"]["description"].as_str().unwrap().contains("20 for hist-gradient-boosting"));
    }

    #[test]
    fn max_features_follows_scikit_learn_rounding() {
        assert_eq!(MaxFeatures::default().resolve(88), 9);
        assert_eq!(MaxFeatures::Rule(FeatureRule::Log2).resolve(88), 6);
        assert_eq!(MaxFeatures::Rule(FeatureRule::All).resolve(88), 88);
        assert_eq!(MaxFeatures::Fraction(0.1).resolve(88), 8);
        assert_eq!(MaxFeatures::Fraction(0.001).resolve(88), 1);
    }
}
