//! The `regress` stage kind: dimensional SER on a feature table. Fits one regressor per emotion
//! dimension (arousal, valence, dominance: manifest columns with the raters' values, as
//! IEMOCAP's `EmoEvaluation` files and MSP-Podcast's tables give them) on the rated training
//! clips, and estimates every clip.
//!
//! Reads `features.csv` + `manifest.csv` (and `standardization.csv` when present) from its one
//! features input; writes `estimates.csv` (see `vox_api::estimates`), `regressor.json` (see
//! [`crate::regressor`]) and `report/model.txt` (each dimension's fit and its agreement on the
//! `train` and `val` clips). `evaluate` scores the estimates (CCC, Pearson, MAE, RMSE).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::agreement::Agreement;
use vox_api::audio::{Split, columns_with_values};
use vox_api::estimates::{Estimates, check_targets, not_a_rating, rating};
use vox_api::features::FeatureTable;
use vox_api::importance::{Importance, Settings};
use vox_api::{Applied, Applies, ApplyContext, ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

use crate::baseline::foreign_param_error;
use crate::boosting::{BoostedRegressor, BoostingParams};
use crate::kernel_svm::Gamma;
use crate::kernel_svm::svr::{RbfSvr, SvrParams};
use crate::data::{check_finite, model_columns};
use crate::error::ClassicError;
use crate::knn::{KnnRegressor, Weights};
use crate::regressor::{FORMAT, Regressor, RegressorFile};
use crate::ridge::Ridge;
use crate::scaling::Standardizer;

/// Fits a regressor per emotion dimension (`targets`: manifest columns holding each clip's
/// rating, such as IEMOCAP's `arousal`, `valence` and `dominance` or a table corpus's own
/// columns) on the rated clips with `split = train`, and estimates every clip: `estimates.csv`,
/// `regressor.json` and `report/model.txt`. Features are standardized with the input's
/// `standardization.csv` when the featurize stage wrote one, else with the training clips' mean
/// and std. Clips without a rating in a dimension are estimated but not fitted on (nor scored).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, into = "Keyed")]
pub struct Regress {
    /// The dimensions to estimate: manifest columns with a number per rated clip
    /// (`["arousal", "valence", "dominance"]`), each a model of its own.
    pub targets: Vec<String>,
    /// The regressor: `ridge` (L2-penalized least squares, as scikit-learn's Ridge behind a
    /// StandardScaler), `knn` (the mean of the nearest training clips' values by Euclidean
    /// distance on standardized features, as KNeighborsRegressor), `rbf-svr` (epsilon-support
    /// vector regression with an RBF kernel on standardized features, as SVR: the AVEC
    /// baseline) or `hist-gradient-boosting` (gradient-boosted trees on binned raw features with
    /// the squared error, as HistGradientBoostingRegressor without early stopping: nonlinear,
    /// and blind to scaling).
    #[serde(default)]
    pub model: RegressorKind,
    /// ridge: the L2 penalty (> 0). Default 1.0.
    #[serde(default)]
    #[schemars(extend("default" = 1.0))]
    pub alpha: Option<f64>,
    /// knn: neighbours per estimate (>= 1; at most the rated training clips). Default 5.
    #[serde(default)]
    #[schemars(extend("default" = 5))]
    pub n_neighbors: Option<usize>,
    /// knn: `uniform` (each neighbour counts 1) or `distance` (1 / distance; a training clip at
    /// distance 0 decides alone). Default `uniform`.
    #[serde(default)]
    #[schemars(extend("default" = "uniform"))]
    pub weights: Option<Weights>,
    /// rbf-svr: penalty on estimates off by more than `epsilon` (> 0). Default 1.0.
    #[serde(default)]
    #[schemars(extend("default" = 1.0))]
    pub c: Option<f64>,
    /// rbf-svr: half-width of the tube in which an error costs nothing, in the ratings' unit
    /// (>= 0). Default 0.1.
    #[serde(default)]
    #[schemars(extend("default" = 0.1))]
    pub epsilon: Option<f64>,
    /// rbf-svr: kernel width of `exp(-gamma |x - z|^2)` on standardized features: `"scale"`
    /// (`1 / (n_features * variance of the standardized training values)`), `"auto"`
    /// (`1 / n_features`) or a positive number.
    #[serde(default)]
    #[schemars(extend("default" = "scale"))]
    pub gamma: Option<Gamma>,
    /// rbf-svr: the solver's stopping tolerance (> 0), scikit-learn's `tol`. Default 0.001.
    #[serde(default)]
    #[schemars(extend("default" = 0.001))]
    pub tol: Option<f64>,
    /// hist-gradient-boosting: boosting iterations, one tree each (>= 1). Default 100.
    #[serde(default)]
    #[schemars(extend("default" = 100))]
    pub max_iter: Option<usize>,
    /// hist-gradient-boosting: shrinkage of every tree's leaf values (> 0). Default 0.1.
    #[serde(default)]
    #[schemars(extend("default" = 0.1))]
    pub learning_rate: Option<f64>,
    /// hist-gradient-boosting: maximum leaves per tree (>= 2); trees grow best split first.
    #[serde(default)]
    #[schemars(extend("default" = 31))]
    pub max_leaf_nodes: Option<usize>,
    /// hist-gradient-boosting: maximum leaf depth (>= 1); unset: no limit but `max_leaf_nodes`.
    #[serde(default)]
    pub max_depth: Option<usize>,
    /// hist-gradient-boosting: minimum rated training clips in a leaf (>= 1).
    #[serde(default)]
    #[schemars(extend("default" = 20))]
    pub min_samples_leaf: Option<usize>,
    /// hist-gradient-boosting: L2 penalty on leaf values (>= 0).
    #[serde(default)]
    #[schemars(extend("default" = 0.0))]
    pub l2_regularization: Option<f64>,
    /// hist-gradient-boosting: maximum bins per feature (2 to 255), cut at quantiles of the
    /// rated training clips.
    #[serde(default)]
    #[schemars(extend("default" = 255))]
    pub max_bins: Option<usize>,
    /// Measure each feature's permutation importance for each dimension on the rated `val`
    /// clips, with this many shuffles per feature: the drop in CCC when the feature's column is
    /// shuffled (`importance/<dimension>/importance.csv`, drawn by `evaluate`). Unset: none.
    #[serde(default)]
    pub importance_repeats: Option<usize>,
    /// Seed of the importance's shuffles; the pipeline's seed when absent. Only keyed with
    /// `importance_repeats` (the fits draw nothing).
    #[serde(default)]
    pub seed: Option<u64>,
}

/// The regressors `regress` fits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RegressorKind {
    /// Ridge regression.
    #[default]
    Ridge,
    /// k nearest neighbours.
    Knn,
    /// Epsilon-support vector regression with an RBF kernel.
    RbfSvr,
    /// Histogram gradient-boosted trees.
    HistGradientBoosting,
}

impl RegressorKind {
    /// The name in pipelines.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ridge => "ridge",
            Self::Knn => "knn",
            Self::RbfSvr => "rbf-svr",
            Self::HistGradientBoosting => "hist-gradient-boosting",
        }
    }

    /// The params this regressor reads.
    fn params(self) -> &'static [&'static str] {
        match self {
            Self::Ridge => &["alpha"],
            Self::Knn => &["n_neighbors", "weights"],
            Self::RbfSvr => &["c", "epsilon", "gamma", "tol"],
            Self::HistGradientBoosting => {
                &["max_iter", "learning_rate", "max_leaf_nodes", "max_depth", "min_samples_leaf", "l2_regularization", "max_bins"]
            }
        }
    }
}

/// The cache key's params: the targets and the chosen regressor's params, defaults filled in,
/// so that a param of the other regressor can never change a key.
#[derive(Clone, Debug, Serialize, JsonSchema)]
struct Keyed {
    targets: Vec<String>,
    #[serde(flatten)]
    model: Resolved,
    #[serde(skip_serializing_if = "Option::is_none")]
    importance_repeats: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
}

#[derive(Clone, Debug, Serialize, JsonSchema)]
#[serde(tag = "model", rename_all = "kebab-case")]
enum Resolved {
    Ridge { alpha: f64 },
    Knn { n_neighbors: usize, weights: Weights },
    RbfSvr(SvrParams),
    HistGradientBoosting(BoostingParams),
}

impl From<Regress> for Keyed {
    fn from(r: Regress) -> Self {
        let model = match r.model {
            RegressorKind::Ridge => Resolved::Ridge { alpha: r.alpha() },
            RegressorKind::Knn => Resolved::Knn { n_neighbors: r.n_neighbors(), weights: r.weights.unwrap_or_default() },
            RegressorKind::RbfSvr => Resolved::RbfSvr(r.svr()),
            RegressorKind::HistGradientBoosting => Resolved::HistGradientBoosting(r.boosting()),
        };
        let seed = r.importance_repeats.and(r.seed);
        Self { targets: r.targets, model, importance_repeats: r.importance_repeats, seed }
    }
}

impl Regress {
    fn alpha(&self) -> f64 {
        self.alpha.unwrap_or(1.0)
    }
    fn n_neighbors(&self) -> usize {
        self.n_neighbors.unwrap_or(5)
    }

    /// The support vector regression's params, scikit-learn's defaults where unset.
    fn svr(&self) -> SvrParams {
        SvrParams {
            c: self.c.unwrap_or(1.0),
            epsilon: self.epsilon.unwrap_or(0.1),
            gamma: self.gamma.unwrap_or_default(),
            tol: self.tol.unwrap_or(1e-3),
        }
    }

    /// The boosting's params, scikit-learn's defaults where unset.
    fn boosting(&self) -> BoostingParams {
        BoostingParams {
            max_iter: self.max_iter.unwrap_or(100),
            learning_rate: self.learning_rate.unwrap_or(0.1),
            max_leaf_nodes: self.max_leaf_nodes.unwrap_or(31),
            max_depth: self.max_depth,
            min_samples_leaf: self.min_samples_leaf.unwrap_or(20),
            l2_regularization: self.l2_regularization.unwrap_or(0.0),
            max_bins: self.max_bins.unwrap_or(255),
        }
    }

    /// A param set that the chosen regressor does not read.
    fn foreign_param(&self) -> Option<&'static str> {
        let set = [
            ("alpha", self.alpha.is_some()),
            ("n_neighbors", self.n_neighbors.is_some()),
            ("weights", self.weights.is_some()),
            ("c", self.c.is_some()),
            ("epsilon", self.epsilon.is_some()),
            ("gamma", self.gamma.is_some()),
            ("tol", self.tol.is_some()),
            ("max_iter", self.max_iter.is_some()),
            ("learning_rate", self.learning_rate.is_some()),
            ("max_leaf_nodes", self.max_leaf_nodes.is_some()),
            ("max_depth", self.max_depth.is_some()),
            ("min_samples_leaf", self.min_samples_leaf.is_some()),
            ("l2_regularization", self.l2_regularization.is_some()),
            ("max_bins", self.max_bins.is_some()),
        ];
        set.into_iter().find(|(p, set)| *set && !self.model.params().contains(p)).map(|(p, _)| p)
    }

    /// Fits dimension `target` on the rated training clips of `table`.
    fn fit(&self, table: &FeatureTable, target: &str, standardizer: &Standardizer) -> Result<(Regressor, usize), ClassicError> {
        let (rows, values) = rated_rows(table, target, Split::Train)?;
        if rows.len() < 2 {
            let columns = columns_with_values(&table.clips)
                .into_iter()
                .filter(|c| not_a_rating(c).is_none())
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(ClassicError::TooFewRatings { dimension: target.to_string(), rated: rows.len(), columns });
        }
        let unrated = table.clips.iter().filter(|c| c.split == Split::Train).count() - rows.len();
        if unrated > 0 {
            tracing::warn!("{unrated} train clip(s) have no `{target}`: left out of its fit");
        }
        let model = match self.model {
            RegressorKind::Ridge => Regressor::Ridge(Ridge::fit(&rows, &values, standardizer.clone(), self.alpha())),
            RegressorKind::Knn => Regressor::Knn(KnnRegressor::fit(
                &rows,
                &values,
                standardizer.clone(),
                self.n_neighbors(),
                self.weights.unwrap_or_default(),
            )),
            RegressorKind::RbfSvr => Regressor::RbfSvr(RbfSvr::fit(&rows, &values, standardizer.clone(), &self.svr())),
            RegressorKind::HistGradientBoosting => Regressor::HistGradientBoosting(BoostedRegressor::fit(&rows, &values, &self.boosting())),
        };
        Ok((model, rows.len()))
    }
}

impl StageDef for Regress {
    const KIND: &'static str = "regress";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Features]);
    const OUTPUT: ArtifactKind = ArtifactKind::Estimates;
    const APPLIES: Applies = Applies::Yes;

    fn validate(&self) -> Result<(), ParamError> {
        if let Some(param) = self.foreign_param() {
            return Err(foreign_param_error(param, self.model.name(), self.model.params()));
        }
        check_targets(&self.targets)?;
        if let Some(alpha) = self.alpha
            && !(alpha.is_finite() && alpha > 0.0)
        {
            return Err(ParamError::new("alpha", format!("must be a positive number, got {alpha}")));
        }
        if self.n_neighbors == Some(0) {
            return Err(ParamError::new("n_neighbors", "must be at least 1"));
        }
        let checked = match self.model {
            RegressorKind::RbfSvr => self.svr().check(),
            RegressorKind::HistGradientBoosting => self.boosting().check(),
            RegressorKind::Ridge | RegressorKind::Knn => Ok(()),
        };
        checked.map_err(|(param, message)| ParamError::new(param, message))?;
        if self.importance_repeats == Some(0) {
            return Err(ParamError::new("importance_repeats", "must be at least 1 (leave it unset for no importance)"));
        }
        Ok(())
    }

    /// The seed only matters to the importance's shuffles.
    fn unread(&self) -> &'static [&'static str] {
        if self.importance_repeats.is_some() { &[] } else { &["seed"] }
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let input = ctx.input();
        let table = FeatureTable::read(&input.dir).map_err(ClassicError::from)?;
        check_finite(&table)?;
        let train: Vec<&[f64]> =
            table.clips.iter().zip(&table.rows).filter(|(c, _)| c.split == Split::Train).map(|(_, r)| r.as_slice()).collect();
        if train.is_empty() {
            return Err(ClassicError::NoTrainClips { clips: table.clips.len() }.into());
        }
        let standardizer = Standardizer::read_or_fit(&input.dir, &table.names, &train)?;
        let (models, estimates) = vox_api::pool::install(ctx.threads, || {
            let fitted = self.targets.iter().map(|t| self.fit(&table, t, &standardizer)).collect::<Result<Vec<_>, _>>()?;
            let (models, counts): (Vec<Regressor>, Vec<usize>) = fitted.into_iter().unzip();
            let file =
                RegressorFile { format: FORMAT.into(), features: table.names.clone(), dimensions: self.targets.clone(), models };
            let rows: Vec<&[f64]> = table.rows.iter().map(Vec::as_slice).collect();
            let estimates = Estimates::from_clips(self.targets.clone(), &table.clips, file.predict(&rows))?;
            Ok::<_, ClassicError>(((file, counts), estimates))
        })
        .map_err(ClassicError::from)??;
        let (file, counts) = models;
        estimates.write(ctx.out_dir).map_err(ClassicError::from)?;
        file.write(ctx.out_dir)?;
        let report_dir = ctx.report_dir().map_err(|source| ClassicError::Io { path: ctx.out_dir.join("report"), source })?;
        let text = report(self, &standardizer, table.names.len(), &counts, &estimates);
        let path = report_dir.join("model.txt");
        std::fs::write(&path, text).map_err(|source| ClassicError::Io { path, source })?;
        if let Some(repeats) = self.importance_repeats {
            let seed = self.seed.unwrap_or(ctx.seed);
            vox_api::pool::install(ctx.threads, || write_importance(&file, &table, repeats, seed, ctx.out_dir))
                .map_err(ClassicError::from)??;
        }
        let val: Vec<String> = (0..self.targets.len())
            .filter_map(|d| Some(format!("{} {:.3}", self.targets[d], Agreement::of(&estimates.pairs(Split::Val, d))?.ccc)))
            .collect();
        let val = if val.is_empty() { "no rated val clips".to_string() } else { format!("val CCC {}", val.join(", ")) };
        tracing::info!(stage = ctx.stage, "{} on {} train clips: {val}", self.model.name(), train.len());
        Ok(())
    }

    /// Estimates new clips with the run's fitted `regressor.json` (its feature columns picked
    /// by name).
    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError> {
        let table = FeatureTable::read(&ctx.run.input().dir).map_err(ClassicError::from)?;
        check_finite(&table)?;
        let file = RegressorFile::read(ctx.trained)?;
        let rows = model_columns(&table, &file.features, ctx.trained)?;
        let rows: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        let predicted = vox_api::pool::install(ctx.run.threads, || file.predict(&rows)).map_err(ClassicError::from)?;
        Estimates::from_clips(file.dimensions, &table.clips, predicted)
            .and_then(|e| e.write(ctx.run.out_dir))
            .map_err(ClassicError::from)?;
        Ok(Applied::Wrote)
    }
}

/// The feature rows of the clips of `split` rated in `dimension`, and their ratings.
fn rated_rows<'a>(table: &'a FeatureTable, dimension: &str, split: Split) -> Result<(Vec<&'a [f64]>, Vec<f64>), ClassicError> {
    let mut rows = Vec::new();
    let mut values = Vec::new();
    for (clip, row) in table.clips.iter().zip(&table.rows).filter(|(c, _)| c.split == split) {
        if let Some(value) = rating(clip, dimension)? {
            rows.push(row.as_slice());
            values.push(value);
        }
    }
    Ok((rows, values))
}

/// Each dimension's permutation importance on its rated `val` clips (the drop in CCC), into
/// `out_dir/importance/<dimension>/` in `vox_api::importance`'s format (no per-class
/// distributions: a dimension has no classes); a dimension with fewer than two rated `val`
/// clips is an error.
fn write_importance(file: &RegressorFile, table: &FeatureTable, repeats: usize, seed: u64, out_dir: &std::path::Path) -> Result<(), ClassicError> {
    for (d, dimension) in file.dimensions.iter().enumerate() {
        let (rows, truth) = rated_rows(table, dimension, Split::Val)?;
        if rows.len() < 2 {
            return Err(ClassicError::NoValRatings { dimension: dimension.clone(), rated: rows.len() });
        }
        let model = &file.models[d];
        let score = |rows: &[&[f64]]| {
            let pairs: Vec<(f64, f64)> = truth.iter().copied().zip(model.predict(rows)).collect();
            Agreement::of(&pairs).map_or(f64::NAN, |a| a.ccc)
        };
        let (baseline, features) = crate::importance::drops(&rows, &table.names, score, repeats, seed);
        let settings = Settings { metric: "ccc".into(), split: "val".into(), repeats, seed, score: baseline, clips: rows.len() };
        let dir = out_dir.join("importance").join(dimension);
        std::fs::create_dir_all(&dir).map_err(|source| ClassicError::Io { path: dir.clone(), source })?;
        let top: Vec<String> = features.iter().take(3).map(|f| format!("{} ({:+.3})", f.feature, f.mean)).collect();
        Importance { settings, features, distributions: Vec::new() }.write(&dir)?;
        tracing::info!("permutation importance for `{dimension}` (CCC on val, {repeats} repeats): {}", top.join(", "));
    }
    Ok(())
}

/// `report/model.txt`: the regressor, its params, and each dimension's fit and agreement.
fn report(params: &Regress, standardizer: &Standardizer, features: usize, counts: &[usize], estimates: &Estimates) -> String {
    let keyed = serde_json::to_string(params).unwrap_or_default();
    let scaling = match params.model {
        RegressorKind::HistGradientBoosting => "raw: trees are blind to scaling".to_string(),
        _ => format!("standardized with {}", standardizer.source),
    };
    let mut text = format!("model: {}\nparams: {keyed}\nfeatures: {features} ({scaling})\n\n", params.model.name());
    text += &format!("{:<12} {:>12} {:>10} {:>10} {:>10}\n", "dimension", "train clips", "train CCC", "val clips", "val CCC");
    for (d, dimension) in estimates.dimensions.iter().enumerate() {
        let on = |split| Agreement::of(&estimates.pairs(split, d));
        let (train, val) = (on(Split::Train), on(Split::Val));
        let ccc = |a: Option<Agreement>| a.map_or("-".to_string(), |a| format!("{:.4}", a.ccc));
        text += &format!(
            "{dimension:<12} {:>12} {:>10} {:>10} {:>10}\n",
            counts[d],
            ccc(train),
            val.map_or(0, |a| a.clips),
            ccc(val)
        );
    }
    text
}
