//! Hyperparameter search: `[search]` draws trials from `[search.space]` (random search) or
//! races them on growing budgets (successive halving), runs every trial as a variant of the
//! pipeline in one DAG per round ([`crate::sweep::build`]: what trials share runs once, every
//! trial stage is cached, so a rerun or a larger search reuses every finished trial), scores
//! each trial on the **validation** split, and writes a table of all trials and the best one.
//!
//! ```toml
//! [search]
//! method = "random"        # or "halving"
//! trials = 20
//! metric = "macro_f1"      # an `evaluate` summary metric; higher is better; for a
//!                          # `regress`, `ccc` (mean over its dimensions) or `ccc_arousal`
//! model = "rf"             # whose `val` score counts (default: the only model scored)
//!
//! [search.space]
//! "rf.n_trees" = { int = [50, 500] }
//! "rf.max_features" = { uniform = [0.05, 0.5] }
//! ```
//!
//! Scores come from the `val` rows of the trials' report summaries (`vox_api::summary`: an
//! `evaluate` stage scoring `val`, its default; in a cross-validation, the mean over folds of
//! each fold's `val` part), or for `ccc` of their `dimensions.csv`. Nothing else is read: `test` rows a trial's report may also hold
//! are neither read nor written to the search's tables, so choosing the trial never looks at
//! the test split.
//!
//! - [`space`]: distributions and seeded draws;
//! - [`schedule`]: successive halving's rungs;
//! - [`table`]: trial records, scores from outcomes, `search.csv`, `search.md`, `best.json`.

pub mod schedule;
pub mod space;
pub mod table;

use crate::error::{SpecError, SpecErrorKind};
use crate::source::{Loc, Located};
use crate::spec::{Override, OverrideValue, PipelineSpec};
use crate::sweep::{self, Variant};
use schedule::Budget;
use space::Distribution;

/// How trials are chosen.
#[derive(Clone, Debug, PartialEq)]
pub enum Method {
    /// Every trial on the pipeline as written.
    Random,
    /// Successive halving over `target` (`STAGE.PARAM`, e.g. `rf.n_trees` or `w2v.epochs`).
    Halving {
        /// The param that sizes a trial.
        target: Located<String>,
        /// Its range and growth.
        budget: Budget,
    },
}

/// A checked `[search]`.
#[derive(Clone, Debug)]
pub struct Search {
    /// Random search or successive halving.
    pub method: Method,
    /// Trials drawn (the first rung's, for halving).
    pub trials: usize,
    /// The seed of the draws (default: the pipeline's).
    pub seed: u64,
    /// The summary metric maximized.
    pub metric: String,
    /// The model whose `val` score counts; `None`: the only one scored.
    pub model: Option<String>,
    /// The searched params, in declaration order.
    pub space: Vec<(Located<String>, Distribution)>,
}

/// Trials of a random search when `trials` is not given.
const DEFAULT_TRIALS: usize = 10;
/// Halving's factor when `eta` is not given.
const DEFAULT_ETA: u32 = 3;

impl Search {
    /// Checks the pipeline's `[search]`; `None` when it has none.
    pub fn from_spec(spec: &PipelineSpec) -> Result<Option<Self>, Vec<SpecError>> {
        let Some(raw) = &spec.search else { return Ok(None) };
        let mut errors = Vec::new();
        let table_loc = raw.loc.clone().unwrap_or_else(|| spec.name.loc.clone());
        let bad = |key: &str, problem: String, loc: &Loc| SpecError::at(SpecErrorKind::BadSearch { key: key.to_string(), problem }, loc.clone());
        let string = |key: &str, errors: &mut Vec<SpecError>| -> Option<Located<String>> {
            let value = raw.key(key)?;
            match value.value.as_str() {
                Some(s) => Some(Located { value: s.to_string(), loc: value.loc.clone() }),
                None => {
                    errors.push(bad(key, format!("expected a string, got {}", value.value), &value.loc));
                    None
                }
            }
        };
        let whole = |key: &str, least: i64, errors: &mut Vec<SpecError>| -> Option<i64> {
            let value = raw.key(key)?;
            match value.value.as_integer() {
                Some(n) if n >= least => Some(n),
                _ => {
                    errors.push(bad(key, format!("expected a whole number of at least {least}, got {}", value.value), &value.loc));
                    None
                }
            }
        };
        let number = |key: &str, errors: &mut Vec<SpecError>| -> Option<(f64, bool)> {
            let value = raw.key(key)?;
            match &value.value {
                toml::Value::Integer(n) if *n > 0 => Some((*n as f64, true)),
                toml::Value::Float(x) if x.is_finite() && *x > 0.0 => Some((*x, false)),
                other => {
                    errors.push(bad(key, format!("expected a positive number, got {other}"), &value.loc));
                    None
                }
            }
        };

        let method = string("method", &mut errors);
        let halving = match method.as_ref().map(|m| m.value.as_str()) {
            None | Some("random") => false,
            Some("halving") => true,
            Some(other) => {
                let loc = &method.as_ref().expect("some").loc;
                errors.push(bad("method", format!("`{other}` is not \"random\" or \"halving\""), loc));
                false
            }
        };
        let trials = whole("trials", 1, &mut errors).map(|n| n as usize);
        let seed = whole("seed", 0, &mut errors).map_or(spec.seed, |n| n as u64);
        let metric = string("metric", &mut errors).map_or_else(|| "macro_f1".to_string(), |m| m.value);
        if !sweep::is_metric(&metric) {
            let loc = raw.key("metric").map_or(&table_loc, |v| &v.loc);
            let message = format!(
                "`{metric}` is not a summary metric ({}), nor `ccc` or `ccc_<dimension>` for a `regress`",
                sweep::METRICS.join(", ")
            );
            errors.push(bad("metric", message, loc));
        }
        let model = string("model", &mut errors).map(|m| m.value);

        let budget_target = string("budget", &mut errors);
        let min = number("min_budget", &mut errors);
        let max = number("max_budget", &mut errors);
        let eta = whole("eta", 2, &mut errors).map(|n| n as u32);
        let method = if halving {
            let missing: Vec<&str> =
                [("budget", budget_target.is_none()), ("min_budget", min.is_none()), ("max_budget", max.is_none())]
                    .into_iter()
                    .filter(|(k, absent)| *absent && raw.key(k).is_none())
                    .map(|(k, _)| k)
                    .collect();
            if !missing.is_empty() {
                errors.push(bad("method", format!("\"halving\" needs {}", missing.join(", ")), &table_loc));
            }
            match (budget_target, min, max) {
                (Some(target), Some((min, min_int)), Some((max, max_int))) => {
                    if min > max {
                        errors.push(bad("min_budget", format!("{min} is above max_budget {max}"), &raw.key("min_budget").expect("set").loc));
                    }
                    Method::Halving { target, budget: Budget { min, max, integer: min_int && max_int, eta: eta.unwrap_or(DEFAULT_ETA) } }
                }
                _ => Method::Random,
            }
        } else {
            for key in ["budget", "min_budget", "max_budget", "eta"] {
                if let Some(value) = raw.key(key) {
                    errors.push(bad(key, "only `method = \"halving\"` reads it".into(), &value.loc));
                }
            }
            Method::Random
        };

        let mut space = Vec::new();
        for (target, value) in &raw.space {
            if Override::new(target, OverrideValue::Toml(toml::Value::Boolean(true))).is_none() {
                errors.push(bad(&target.value, "a searched param is written `\"STAGE.PARAM\"`".into(), &target.loc));
                continue;
            }
            if let Method::Halving { target: budget, .. } = &method
                && budget.value == target.value
            {
                errors.push(bad(&target.value, "the halving budget cannot also be searched".into(), &target.loc));
                continue;
            }
            match Distribution::parse(target, value) {
                Ok(distribution) => space.push((target.clone(), distribution)),
                Err(e) => errors.push(e),
            }
        }
        if raw.space.is_empty() {
            errors.push(bad("space", "nothing to search: add `[search.space]` with `\"STAGE.PARAM\" = ...` entries".into(), &table_loc));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let trials = trials.unwrap_or(match &method {
            Method::Random => DEFAULT_TRIALS,
            // Enough that the last rung keeps one: eta^(rungs - 1).
            Method::Halving { budget, .. } => (budget.eta as usize).pow(budget.rungs(1).len() as u32 - 1),
        });
        Ok(Some(Self { method, trials, seed, metric, model, space }))
    }

    /// Trial `trial`'s params (trials count from 1), in the space's order.
    pub fn draw(&self, trial: usize) -> Vec<(Located<String>, toml::Value)> {
        self.space
            .iter()
            .map(|(target, distribution)| (target.clone(), distribution.at(space::uniform(self.seed, trial, &target.value))))
            .collect()
    }

    /// The variant of the pipeline that runs trial `trial` (with the halving `budget`, if any):
    /// named `trialNN` so that its stages are, e.g., `rf[trial07]`.
    pub fn variant(&self, trial: usize, budget: Option<&toml::Value>) -> Variant {
        let overrides =
            |sets: Vec<(Located<String>, toml::Value)>| sets.into_iter().filter_map(|(t, v)| Override::new(&t, OverrideValue::Toml(v))).collect();
        let grid = match (&self.method, budget) {
            (Method::Halving { target, .. }, Some(value)) => overrides(vec![(target.clone(), value.clone())]),
            _ => Vec::new(),
        };
        Variant { name: Some(trial_name(trial, self.trials)), named: overrides(self.draw(trial)), grid, seed: None }
    }

    /// The variants of one round: trials `alive`, at rung `rung`'s budget for halving (`None`:
    /// a random search's one round). The submitter and a cluster job that re-plans the round
    /// (`vox exec-stage --search-round`) get the same variants from this.
    pub fn round(&self, alive: &[usize], rung: Option<usize>) -> Vec<Variant> {
        let budget = match (&self.method, rung) {
            (Method::Halving { budget, .. }, Some(k)) => budget.rungs(self.trials).get(k).map(|r| r.budget.clone()),
            _ => None,
        };
        alive.iter().map(|&t| self.variant(t, budget.as_ref())).collect()
    }

    /// Every trial at every rung's budget: all the variants a search of this pipeline can
    /// plan (a halving search plans the later rungs' only for the trials that go on).
    pub fn every_round(&self) -> Vec<Vec<Variant>> {
        let all: Vec<usize> = (1..=self.trials).collect();
        match &self.method {
            Method::Random => vec![self.round(&all, None)],
            Method::Halving { budget, .. } => (0..budget.rungs(self.trials).len()).map(|k| self.round(&all, Some(k))).collect(),
        }
    }
}

/// `trial07` (digits enough for the trial count).
pub fn trial_name(trial: usize, trials: usize) -> String {
    let width = trials.to_string().len().max(2);
    format!("trial{trial:0width$}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceMap;

    fn search(text: &str) -> Result<Option<Search>, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, format!("[pipeline]\nname = \"p\"\nseed = 5\n\n[stages.rf]\nkind = \"baseline\"\n\n{text}")).unwrap();
        let spec = crate::spec::load(&path, &mut SourceMap::default()).map_err(|e| e.iter().map(|e| e.kind.to_string()).collect::<Vec<_>>())?;
        Search::from_spec(&spec).map_err(|e| e.iter().map(|e| e.kind.to_string()).collect())
    }

    #[test]
    fn random_search_defaults_and_draws() {
        let s = search("[search]\n[search.space]\n\"rf.n_trees\" = { int = [10, 20] }\n\"rf.max_features\" = [\"sqrt\", \"log2\"]").unwrap().unwrap();
        assert_eq!((s.trials, s.seed, s.metric.as_str(), s.model.clone()), (10, 5, "macro_f1", None));
        let first = s.draw(1);
        assert_eq!(first.iter().map(|(t, _)| t.value.as_str()).collect::<Vec<_>>(), ["rf.n_trees", "rf.max_features"]);
        assert_eq!(s.draw(1), first, "a trial's draw is fixed");
        assert!((1..=10).any(|t| s.draw(t) != first), "trials differ");
        let variant = s.variant(3, None);
        assert_eq!((variant.name.as_deref(), variant.named.len(), variant.grid.len()), (Some("trial03"), 2, 0));
        assert_eq!(trial_name(7, 150), "trial007");
    }

    #[test]
    fn halving_takes_its_budget_and_defaults_its_trials() {
        let s = search("[search]\nmethod = \"halving\"\nbudget = \"rf.n_trees\"\nmin_budget = 25\nmax_budget = 400\n[search.space]\n\"rf.max_depth\" = { int = [2, 30] }")
            .unwrap()
            .unwrap();
        let Method::Halving { target, budget } = &s.method else { panic!() };
        assert_eq!((target.value.as_str(), budget.eta, budget.integer), ("rf.n_trees", 3, true));
        assert_eq!(s.trials, 27, "3^(4 rungs - 1)");
        let variant = s.variant(2, Some(&toml::Value::Integer(75)));
        assert_eq!(variant.grid.len(), 1);
        assert_eq!(variant.grid[0].param.value, "n_trees");
    }

    #[test]
    fn every_mistake_is_reported_with_its_key() {
        let errors = search("[search]\nmethod = \"grid\"\ntrials = 0\nmetric = \"auc\"\neta = 3\n[search.space]\n\"rf\" = [1]\n\"rf.c\" = { beta = [1, 2] }").unwrap_err();
        assert_eq!(errors.len(), 6, "{errors:#?}");
        assert!(errors[0].contains("`method`: `grid` is not \"random\" or \"halving\""), "{errors:#?}");
        assert!(errors.iter().any(|e| e.contains("`trials`: expected a whole number of at least 1, got 0")));
        assert!(errors.iter().any(|e| e.contains("`metric`: `auc` is not a summary metric (accuracy, macro_f1, weighted_f1, uar), nor `ccc` or `ccc_<dimension>` for a `regress`")));
        assert!(errors.iter().any(|e| e.contains("`eta`: only `method = \"halving\"` reads it")));
        assert!(errors.iter().any(|e| e.contains("`rf`: a searched param is written `\"STAGE.PARAM\"`")));
        assert!(errors.iter().any(|e| e.contains("unknown distribution `beta`")));
        let missing = search("[search]\nmethod = \"halving\"\nmin_budget = 5\n[search.space]\n\"rf.c\" = [1]").unwrap_err();
        assert!(missing[0].contains("\"halving\" needs budget, max_budget"), "{missing:?}");
        let unknown = search("[search]\ntrails = 3\n[search.space]\n\"rf.c\" = [1]").unwrap_err();
        assert!(unknown[0].contains("unknown field `trails`"), "{unknown:?}");
        assert!(search("").unwrap().is_none());
    }
}
