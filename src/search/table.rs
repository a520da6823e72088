//! A search's trials: each one's score from its stages' outcomes, and the tables written to the
//! run folder: `search.csv` (every trial, one row per trial and rung), `search.md` (the same,
//! best first) and `best.json` (the chosen trial's params, as `--set` arguments too).

use std::fmt::Write as _;
use std::path::Path;

use crate::execute::{StageOutcome, Status};

/// The split a search scores.
pub const SPLIT: &str = "val";

/// One trial on one rung.
#[derive(Clone, Debug)]
pub struct TrialRecord {
    /// The trial, from 1.
    pub trial: usize,
    /// Its name, `trial07`.
    pub name: String,
    /// The halving rung, from 0 (`None` in a random search).
    pub rung: Option<usize>,
    /// The halving budget it ran with.
    pub budget: Option<toml::Value>,
    /// Its drawn params, `STAGE.PARAM` and value, in the space's order.
    pub params: Vec<(String, toml::Value)>,
    /// Its `val` score, or why it has none.
    pub score: Result<f64, String>,
}

/// Why a search cannot score its trials (a problem of the pipeline, not of one trial).
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// No stage of the trial wrote a `val` summary row.
    #[error(
        "trial `{trial}` has no `{SPLIT}` score: a search optimizes the `{SPLIT}` rows of a report's summary.csv (dimensions.csv for `ccc`) \
         (an `evaluate` stage with `split = \"val\"`, its default; in a cross-validation, folds with a val part)"
    )]
    NoScore {
        /// The trial's name.
        trial: String,
    },
    /// Several models were scored on `val` and `[search] model` does not say which counts.
    #[error("trial `{trial}` scores several models on `{SPLIT}` ({models}): set `[search] model` to the one to optimize")]
    SeveralModels {
        /// The trial's name.
        trial: String,
        /// The models scored.
        models: String,
    },
    /// `[search] model` names a model no report scored.
    #[error("`[search] model = \"{model}\"` is not scored on `{SPLIT}` in trial `{trial}` (scored: {scored})")]
    ModelNotScored {
        /// The trial's name.
        trial: String,
        /// The model asked for.
        model: String,
        /// The models scored.
        scored: String,
    },
}

/// The `metric` on `val` of the trial whose stages are `member` (pipeline name, plan index):
/// `Ok(Err(why))` when a stage of the trial failed, an error when the pipeline gives no score.
pub fn score(
    trial: &str,
    outcomes: &[StageOutcome],
    member: &[(String, usize)],
    metric: &str,
    model: Option<&str>,
) -> Result<Result<f64, String>, ScoreError> {
    let mut scored: Vec<(String, f64)> = Vec::new();
    for (name, index) in member {
        let Some(outcome) = outcomes.get(*index) else { continue };
        match &outcome.status {
            Status::Failed(why) => return Ok(Err(format!("stage `{name}` failed: {why}"))),
            Status::Skipped(_) => continue,
            Status::Ran | Status::Cached => {}
        }
        let Some(dir) = &outcome.out_dir else { continue };
        // A sweep names a variant's stages `rf[trial03]`: the model is the pipeline name.
        let model_of = |input: &str| input.split('[').next().unwrap_or(input).to_string();
        if vox_api::summary::is_dimension_metric(metric) {
            let rows = vox_api::summary::read_dimensions(dir);
            scored.extend(vox_api::summary::dimension_scores(&rows, SPLIT, metric).into_iter().map(|(m, v)| (model_of(&m), v)));
            continue;
        }
        for row in vox_api::summary::read(dir).into_iter().filter(|r| r.get("split").is_some_and(|s| s == SPLIT)) {
            let input = row.get("input").cloned().unwrap_or_default();
            if let Some(value) = row.get(metric).and_then(|v| v.parse::<f64>().ok()) {
                scored.push((model_of(&input), value));
            }
        }
    }
    let names = |scored: &[(String, f64)]| scored.iter().map(|(m, _)| format!("`{m}`")).collect::<Vec<_>>().join(", ");
    match model {
        Some(wanted) => match scored.iter().find(|(m, _)| m == wanted) {
            Some((_, value)) => Ok(Ok(*value)),
            None if scored.is_empty() => Err(ScoreError::NoScore { trial: trial.to_string() }),
            None => Err(ScoreError::ModelNotScored { trial: trial.to_string(), model: wanted.to_string(), scored: names(&scored) }),
        },
        None => match scored.as_slice() {
            [] => Err(ScoreError::NoScore { trial: trial.to_string() }),
            [(_, value)] => Ok(Ok(*value)),
            [(first, value), rest @ ..] if rest.iter().all(|(m, _)| m == first) => Ok(Ok(*value)),
            _ => Err(ScoreError::SeveralModels { trial: trial.to_string(), models: names(&scored) }),
        },
    }
}

/// The chosen trial: the best score of the last rung (of every trial in a random search); ties
/// go to the earlier trial.
pub fn best(records: &[TrialRecord]) -> Option<&TrialRecord> {
    let last = records.iter().filter_map(|r| r.rung).max();
    records
        .iter()
        .filter(|r| r.rung == last)
        .filter_map(|r| Some((r, *r.score.as_ref().ok()?)))
        .max_by(|(a, x), (b, y)| x.total_cmp(y).then(b.trial.cmp(&a.trial)))
        .map(|(r, _)| r)
}

/// A TOML value as a table cell: strings bare.
fn cell(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `search.csv`: `trial`, (`rung`, `budget`,) each param, `val_<metric>`, `status`.
pub fn csv_table(records: &[TrialRecord], metric: &str) -> String {
    let halving = records.iter().any(|r| r.rung.is_some());
    let mut out = String::from("trial");
    if halving {
        out.push_str(",rung,budget");
    }
    for (target, _) in records.first().map_or(&[][..], |r| &r.params[..]) {
        let _ = write!(out, ",{target}");
    }
    let _ = writeln!(out, ",{SPLIT}_{metric},status");
    for r in records {
        out.push_str(&r.name);
        if halving {
            let _ = write!(out, ",{},{}", r.rung.unwrap_or(0), r.budget.as_ref().map(cell).unwrap_or_default());
        }
        for (_, value) in &r.params {
            let _ = write!(out, ",\"{}\"", cell(value).replace('"', "\"\""));
        }
        match &r.score {
            Ok(score) => {
                let _ = writeln!(out, ",{score},ok");
            }
            Err(why) => {
                let _ = writeln!(out, ",,\"failed: {}\"", why.replace('"', "\"\"").replace('\n', " "));
            }
        }
    }
    out
}

/// `search.md`: the trials best first (the last rung first), the chosen one marked.
pub fn markdown(records: &[TrialRecord], metric: &str) -> String {
    let chosen = best(records).map(|r| (r.trial, r.rung));
    let mut sorted: Vec<&TrialRecord> = records.iter().collect();
    sorted.sort_by(|a, b| {
        b.rung
            .cmp(&a.rung)
            .then_with(|| b.score.as_ref().ok().unwrap_or(&f64::NEG_INFINITY).total_cmp(a.score.as_ref().ok().unwrap_or(&f64::NEG_INFINITY)))
            .then(a.trial.cmp(&b.trial))
    });
    let halving = records.iter().any(|r| r.rung.is_some());
    let targets: Vec<&str> = records.first().map_or(Vec::new(), |r| r.params.iter().map(|(t, _)| t.as_str()).collect());
    let mut header = vec!["trial"];
    if halving {
        header.extend(["rung", "budget"]);
    }
    header.extend(targets.iter().copied());
    let score_column = format!("{SPLIT} {metric}");
    header.push(&score_column);
    let mut out = format!("| {} |\n|{}\n", header.join(" | "), "---|".repeat(header.len()));
    for r in sorted {
        let mut cells = vec![if Some((r.trial, r.rung)) == chosen { format!("**{}** (best)", r.name) } else { r.name.clone() }];
        if halving {
            cells.push(r.rung.unwrap_or(0).to_string());
            cells.push(r.budget.as_ref().map(cell).unwrap_or_default());
        }
        cells.extend(r.params.iter().map(|(_, v)| cell(v)));
        cells.push(match &r.score {
            Ok(score) => format!("{score:.4}"),
            Err(why) => format!("failed: {}", why.lines().next().unwrap_or("")),
        });
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    out
}

/// A trial's params as a JSON object, `STAGE.PARAM` -> value.
pub fn params_json(params: &[(String, toml::Value)]) -> serde_json::Map<String, serde_json::Value> {
    params.iter().map(|(t, v)| (t.clone(), serde_json::to_value(v).unwrap_or_default())).collect()
}

/// The chosen trial as `vox run --set` arguments: its params, then its halving budget.
pub fn set_arguments(best: &TrialRecord, budget_target: Option<&str>) -> Vec<String> {
    let mut sets: Vec<String> = best.params.iter().map(|(t, v)| format!("{t}={}", cell(v))).collect();
    if let (Some(target), Some(budget)) = (budget_target, &best.budget) {
        sets.push(format!("{target}={}", cell(budget)));
    }
    sets
}

/// `best.json`'s document for the chosen trial.
pub fn best_json(best: &TrialRecord, metric: &str, budget_target: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "trial": best.name,
        "split": SPLIT,
        "metric": metric,
        "score": best.score.as_ref().ok(),
        "params": params_json(&best.params),
        "budget": best.budget.as_ref().map(|b| serde_json::to_value(b).unwrap_or_default()),
        "set": set_arguments(best, budget_target),
    })
}

/// Writes `search.csv`, `search.md` and (when a trial scored) `best.json`, the chosen trial's
/// [`best_json`], into `dir`.
pub fn write(dir: &Path, records: &[TrialRecord], metric: &str, best: Option<&serde_json::Value>) -> std::io::Result<()> {
    std::fs::write(dir.join("search.csv"), csv_table(records, metric))?;
    std::fs::write(dir.join("search.md"), markdown(records, metric))?;
    if let Some(best) = best {
        let json = serde_json::to_vec_pretty(best).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("best.json"), json)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(trial: usize, rung: Option<usize>, score: Result<f64, String>) -> TrialRecord {
        TrialRecord {
            trial,
            name: format!("trial{trial:02}"),
            rung,
            budget: rung.map(|r| toml::Value::Integer(10 * (r as i64 + 1))),
            params: vec![("rf.max_depth".into(), toml::Value::Integer(trial as i64)), ("knn.weights".into(), "uniform".into())],
            score,
        }
    }

    #[test]
    fn the_best_trial_is_the_last_rungs_best() {
        let records = [
            record(1, Some(0), Ok(0.9)),
            record(2, Some(0), Ok(0.5)),
            record(2, Some(1), Ok(0.6)),
            record(3, Some(0), Err("boom".into())),
            record(4, Some(1), Ok(0.6)),
        ];
        // Trial 1 scored best on the small budget but was not promoted; 2 and 4 tie: 2 first.
        assert_eq!(best(&records).map(|r| (r.trial, r.rung)), Some((2, Some(1))));
        let csv = csv_table(&records, "macro_f1");
        assert_eq!(csv.lines().next(), Some("trial,rung,budget,rf.max_depth,knn.weights,val_macro_f1,status"));
        assert_eq!(csv.lines().nth(3), Some("trial02,1,20,\"2\",\"uniform\",0.6,ok"));
        assert_eq!(csv.lines().nth(4), Some("trial03,0,10,\"3\",\"uniform\",,\"failed: boom\""));
        let md = markdown(&records, "macro_f1");
        assert_eq!(md.lines().nth(2), Some("| **trial02** (best) | 1 | 20 | 2 | uniform | 0.6000 |"));
        assert_eq!(md.lines().last(), Some("| trial03 | 0 | 10 | 3 | uniform | failed: boom |"));
        let json = best_json(best(&records).unwrap(), "macro_f1", Some("rf.n_trees"));
        assert_eq!(json["set"], serde_json::json!(["rf.max_depth=2", "knn.weights=uniform", "rf.n_trees=20"]));
        assert_eq!(json["score"], 0.6);
    }

    #[test]
    fn a_random_search_picks_over_every_trial() {
        let records = [record(1, None, Ok(0.3)), record(2, None, Ok(0.7)), record(3, None, Ok(0.7))];
        assert_eq!(best(&records).map(|r| r.trial), Some(2));
        assert!(!csv_table(&records, "uar").contains("rung"));
    }
}
