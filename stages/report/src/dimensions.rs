//! `evaluate` on estimates inputs (dimensional SER: arousal, valence, dominance from a
//! `regress` stage): how well each model's values agree with the raters' on the rated clips of
//! the scored split, dimension by dimension (`vox_api::agreement`: CCC, Pearson, MAE, RMSE).
//!
//! Files:
//! ```text
//! dimensions.csv              input,split,dimension,clips,ccc,ccc_low,ccc_high,pcc,mae,rmse:
//! report/dimensions.csv       a row per model and dimension (ccc_low/high: the bootstrap 95%
//!                             percentile interval of the CCC, as `summary.csv`'s intervals)
//! report/<model>/folds.csv    a cross-validated model's folds: fold,dimension,clips,ccc,pcc,
//!                             mae,rmse, then each dimension's mean and std over folds; its
//!                             `dimensions.csv` rows are the pooled `test` and, where the folds
//!                             have a `val` part, the folds' mean `val` (what `vox search`
//!                             optimizes)
//! report/<model>/by_<col>.csv with `by`: <col>,dimension,clips,ccc,pcc,mae,rmse per group
//! report/dimensions_by_<col>.csv
//!                             the same, every model's, with `input` first
//! report/<model>/estimates.*  with `plots`: estimate against rating per clip, a panel per
//!                             dimension (see `plot::scatter`)
//! report/<model>/importance/<dimension>/
//!                             where the model measured it: each feature's drop in val CCC
//!                             (`importance.csv`, `.json`) and the top features' bars
//! ```
//!
//! A cross-validated model is scored on its folds' held-out clips pooled (each clip once), as
//! classification's `cross_validation` does; its fold table gives the per-fold spread papers
//! report beside it.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vox_api::Input;
use vox_api::agreement::{Agreement, SCORES};
use vox_api::audio::Split;
use vox_api::estimates::{Estimate, Estimates};

use crate::bootstrap::{LEVEL, percentile};
use crate::cross_validation::{first_duplicate, mean_std};
use crate::error::ReportError;
use crate::files::{create_dir, write_csv};
use crate::groups::{Groups, Natural};
use crate::scoring::report_importance;
use vox_api::importance::Importance;
use crate::plot::scatter::{Panel, ScatterFigure};
use crate::plot::{self, ImageFormat};

/// What scoring a model's estimates needs to know.
pub struct Scoring<'a> {
    /// The split scored.
    pub split: Split,
    /// Bootstrap resamples for the CCC's interval (0: none).
    pub resamples: u32,
    /// Their seed.
    pub seed: u64,
    /// The `by` columns' groups.
    pub groups: &'a Groups,
    /// `report/`.
    pub report_dir: &'a std::path::Path,
    /// Image formats of the scatter plots (none: no figures).
    pub formats: &'a [ImageFormat],
}

/// One model's agreement on one dimension.
#[derive(Clone, Debug, PartialEq)]
pub struct DimensionScore {
    /// The model (input, or cross-validated stage) name.
    pub input: String,
    /// The split scored.
    pub split: Split,
    /// The dimension.
    pub dimension: String,
    /// The scores.
    pub agreement: Agreement,
    /// The CCC's bootstrap interval.
    pub interval: Option<[f64; 2]>,
    /// With `by`: each group's scores, as (column, value, scores), columns in `by` order and
    /// values sorted.
    pub groups: Vec<(String, String, Agreement)>,
}

impl Scoring<'_> {
    /// Scores one estimates input, with its permutation importance per dimension where the
    /// model measured it.
    pub fn report(&self, input: &Input) -> Result<Vec<DimensionScore>, ReportError> {
        let estimates = Estimates::read(&input.dir)?;
        let rows: Vec<&Estimate> = estimates.split(self.split).collect();
        for dimension in &estimates.dimensions {
            let from = input.dir.join("importance").join(dimension);
            if let Some(importance) = Importance::read(&from)? {
                let dir = self.report_dir.join(&input.name).join("importance").join(dimension);
                let name = format!("{} ({dimension})", input.name);
                report_importance(&dir, &name, &from, &importance, self.formats)?;
            }
        }
        self.score(&input.name, &estimates.dimensions, &rows)
    }

    /// Scores a cross-validated model: its folds' `test` rows pooled, the fold table, and the
    /// mean over folds of each fold's `val` part (no interval), what a search optimizes without
    /// looking at a held-out clip.
    pub fn report_folds(&self, name: &str, inputs: &[&Input]) -> Result<Vec<DimensionScore>, ReportError> {
        let mut folds = Vec::with_capacity(inputs.len());
        for input in inputs {
            let estimates = Estimates::read(&input.dir)?;
            if let Some((first, first_dims)) = folds.first().map(|(i, e): &(&Input, Estimates)| (i.name.clone(), e.dimensions.clone()))
                && first_dims != estimates.dimensions
            {
                return Err(ReportError::DimensionsDiffer {
                    first,
                    first_dimensions: first_dims.join(", "),
                    other: input.name.clone(),
                    other_dimensions: estimates.dimensions.join(", "),
                });
            }
            folds.push((*input, estimates));
        }
        let dimensions = folds[0].1.dimensions.clone();
        let mut pooled = Vec::new();
        let mut table = Vec::new();
        let mut val: Vec<Vec<Agreement>> = vec![Vec::new(); dimensions.len()];
        for (input, estimates) in &folds {
            let fold = input.fold.as_ref().map_or(0, |f| f.fold);
            // Unrated clips are in every fold's test part (as unlabeled ones): held out by
            // none, scored by none.
            pooled.extend(estimates.split(Split::Test).filter(|r| r.truth.iter().any(Option::is_some)));
            for (d, dimension) in dimensions.iter().enumerate() {
                if let Some(a) = Agreement::of(&estimates.pairs(Split::Test, d)) {
                    table.push((fold.to_string(), dimension.clone(), a.clips.to_string(), a.values()));
                }
                val[d].extend(Agreement::of(&estimates.pairs(Split::Val, d)));
            }
        }
        if let Some(file_id) = first_duplicate(pooled.iter().map(|r| r.file_id.as_str())) {
            return Err(ReportError::HeldOutTwice { model: name.to_string(), file_id });
        }
        for dimension in &dimensions {
            let values: Vec<[f64; 4]> = table.iter().filter(|r| &r.1 == dimension).map(|r| r.3).collect();
            if values.is_empty() {
                continue;
            }
            let stats: [(f64, f64); 4] = std::array::from_fn(|m| mean_std(&values.iter().map(|v| v[m]).collect::<Vec<_>>()));
            table.push(("mean".into(), dimension.clone(), String::new(), stats.map(|s| s.0)));
            table.push(("std".into(), dimension.clone(), String::new(), stats.map(|s| s.1)));
        }
        let dir = self.report_dir.join(name);
        create_dir(&dir)?;
        let header: Vec<&str> = ["fold", "dimension", "clips"].into_iter().chain(SCORES).collect();
        write_csv(
            &dir.join("folds.csv"),
            &header,
            table.iter().map(|(fold, d, clips, v)| [fold.clone(), d.clone(), clips.clone()].into_iter().chain(v.map(|x| x.to_string())).collect()),
        )?;
        let mut scores = self.score(name, &dimensions, &pooled)?;
        for (dimension, folds) in dimensions.iter().zip(&val).filter(|(_, v)| !v.is_empty()) {
            let n = folds.len() as f64;
            let mean = |f: fn(&Agreement) -> f64| folds.iter().map(f).sum::<f64>() / n;
            let agreement = Agreement {
                clips: folds.iter().map(|a| a.clips).sum(),
                ccc: mean(|a| a.ccc),
                pcc: mean(|a| a.pcc),
                mae: mean(|a| a.mae),
                rmse: mean(|a| a.rmse),
            };
            let (input, dimension) = (name.to_string(), dimension.clone());
            scores.push(DimensionScore { input, split: Split::Val, dimension, agreement, interval: None, groups: Vec::new() });
        }
        Ok(scores)
    }

    /// The scores of `rows` (one model's, on the scored split), its group tables and scatter
    /// plot written.
    fn score(&self, model: &str, dimensions: &[String], rows: &[&Estimate]) -> Result<Vec<DimensionScore>, ReportError> {
        let mut scores = Vec::new();
        let mut panels = Vec::new();
        for (d, dimension) in dimensions.iter().enumerate() {
            let rated: Vec<(&str, (f64, f64))> =
                rows.iter().filter_map(|r| Some((r.file_id.as_str(), (r.truth[d]?, r.predicted[d])))).collect();
            let pairs: Vec<(f64, f64)> = rated.iter().map(|r| r.1).collect();
            let Some(agreement) = Agreement::of(&pairs) else {
                tracing::warn!("`{model}` has no clip rated in `{dimension}` in split `{}`: not scored", self.split.name());
                continue;
            };
            let interval = ccc_interval(&pairs, self.resamples, self.seed);
            panels.push(Panel { dimension: dimension.clone(), pairs: pairs.clone(), ccc: agreement.ccc });
            let mut by_group = Vec::new();
            for (c, column) in self.groups.columns().enumerate() {
                let mut groups: std::collections::BTreeMap<Natural, Vec<(f64, f64)>> = Default::default();
                for &(file_id, pair) in &rated {
                    groups.entry(Natural(self.groups.value(c, model, file_id)?)).or_default().push(pair);
                }
                for (Natural(value), pairs) in groups {
                    by_group.extend(Agreement::of(&pairs).map(|a| (column.to_string(), value.to_string(), a)));
                }
            }
            let split = self.split;
            scores.push(DimensionScore { input: model.to_string(), split, dimension: dimension.clone(), agreement, interval, groups: by_group });
        }
        if !self.formats.is_empty() && !panels.is_empty() {
            let dir = self.report_dir.join(model);
            create_dir(&dir)?;
            let clips = panels.iter().map(|p| p.pairs.len()).max().unwrap_or(0);
            let title = format!("{model}: estimates against ratings on {} ({clips} rated clips)", self.split.name());
            plot::save(&ScatterFigure { title, panels }, &dir, "estimates", self.formats)?;
        }
        if !self.groups.is_empty() && !scores.is_empty() {
            let dir = self.report_dir.join(model);
            create_dir(&dir)?;
            write_groups(&dir, self.groups.columns(), &scores, false)?;
        }
        Ok(scores)
    }
}

/// The bootstrap percentile interval (at [`LEVEL`]) of the CCC of `pairs`: `resamples` draws of
/// as many pairs with replacement.
fn ccc_interval(pairs: &[(f64, f64)], resamples: u32, seed: u64) -> Option<[f64; 2]> {
    if pairs.is_empty() || resamples == 0 {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sample = Vec::with_capacity(pairs.len());
    let mut values: Vec<f64> = (0..resamples)
        .map(|_| {
            sample.clear();
            sample.extend((0..pairs.len()).map(|_| pairs[rng.random_range(0..pairs.len())]));
            Agreement::of(&sample).map_or(f64::NAN, |a| a.ccc)
        })
        .collect();
    values.sort_by(f64::total_cmp);
    Some([percentile(&values, (1.0 - LEVEL) / 2.0), percentile(&values, (1.0 + LEVEL) / 2.0)])
}

/// Writes `dir/by_<column>.csv` for each of `columns`: a row per dimension and group
/// (`<column>,dimension,clips,ccc,pcc,mae,rmse`), with the model's name first when `with_input`
/// (`report/dimensions_by_<column>.csv`, every model's rows).
pub fn write_groups<'a>(
    dir: &std::path::Path,
    columns: impl Iterator<Item = &'a str>,
    scores: &[DimensionScore],
    with_input: bool,
) -> Result<(), ReportError> {
    for column in columns {
        let lead: &[&str] = if with_input { &["input"] } else { &[] };
        let header: Vec<&str> = lead.iter().copied().chain([column, "dimension", "clips"]).chain(SCORES).collect();
        let rows = scores.iter().flat_map(|s| {
            s.groups.iter().filter(|(c, _, _)| c == column).map(move |(_, value, a)| {
                let input = with_input.then(|| s.input.clone());
                input
                    .into_iter()
                    .chain([value.clone(), s.dimension.clone(), a.clips.to_string()])
                    .chain(a.values().map(|x| x.to_string()))
                    .collect::<Vec<String>>()
            })
        });
        let name = if with_input { format!("dimensions_by_{column}.csv") } else { format!("by_{column}.csv") };
        write_csv(&dir.join(name), &header, rows)?;
    }
    Ok(())
}

/// The columns of `dimensions.csv`.
const COLUMNS: [&str; 10] = ["input", "split", "dimension", "clips", "ccc", "ccc_low", "ccc_high", "pcc", "mae", "rmse"];

/// Writes `dimensions.csv` into each of `dirs`.
pub fn write_table(dirs: &[&std::path::Path], scores: &[DimensionScore]) -> Result<(), ReportError> {
    for dir in dirs {
        let rows = scores.iter().map(|s| {
            let [low, high] = s.interval.map_or([String::new(), String::new()], |i| i.map(|x| x.to_string()));
            let a = &s.agreement;
            vec![
                s.input.clone(),
                s.split.name().to_string(),
                s.dimension.clone(),
                a.clips.to_string(),
                a.ccc.to_string(),
                low,
                high,
                a.pcc.to_string(),
                a.mae.to_string(),
                a.rmse.to_string(),
            ]
        });
        write_csv(&dir.join(vox_api::summary::DIMENSIONS), &COLUMNS, rows)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interval holds the estimate, repeats for a seed, and narrows with more clips.
    #[test]
    fn the_ccc_interval_holds_the_estimate_and_narrows_with_more_clips() {
        let pairs = |n: usize| -> Vec<(f64, f64)> {
            (0..n).map(|i| (f64::from((i % 5) as u32), f64::from((i % 5) as u32) + ((i * 7919) % 13) as f64 / 13.0 - 0.5)).collect()
        };
        let (small, large) = (pairs(40), pairs(1000));
        let ci_small = ccc_interval(&small, 1000, 3).unwrap();
        let ci_large = ccc_interval(&large, 1000, 3).unwrap();
        for (pairs, ci) in [(&small, ci_small), (&large, ci_large)] {
            let ccc = Agreement::of(pairs).unwrap().ccc;
            assert!(ci[0] < ccc && ccc < ci[1], "{ccc} {ci:?}");
        }
        assert!(ci_large[1] - ci_large[0] < (ci_small[1] - ci_small[0]) / 3.0, "{ci_small:?} {ci_large:?}");
        assert_eq!(ccc_interval(&small, 1000, 3), Some(ci_small));
        assert_eq!(ccc_interval(&small, 0, 3), None);
    }
}
