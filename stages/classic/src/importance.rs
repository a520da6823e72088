//! Permutation importance (Breiman 2001; scikit-learn's `permutation_importance`): how much a
//! fitted model's score on the validation clips drops when one feature's column is shuffled
//! among them, mean and standard deviation over `repeats` shuffles. Model-agnostic, so every
//! classic model gets it the same way, and measured on clips the model did not train on, so a
//! feature the model memorized without generalizing scores near zero.
//!
//! Scores are [`vox_api::metrics`]' (the formulas `evaluate` reports). A validation clip whose
//! class the model never saw in training counts as wrong, as in `evaluate`. Each (feature,
//! repeat) shuffle has its own seed derived from the stage's seed, so the result is the same
//! at any thread count. Also written: each class's distribution (five-number summary and mean)
//! of the `top` most important features on the training clips, for `evaluate` to draw.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use vox_api::audio::Split;
use vox_api::features::FeatureTable;
use vox_api::importance::{Distribution, FeatureImportance, Importance, Settings, summarize};
use vox_api::metrics::Headline;
use vox_api::predictions::argmax;

use crate::model::FittedModel;

/// What to measure.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The metric (`accuracy`, `macro_f1`, `weighted_f1`, `uar`).
    pub metric: &'a str,
    /// Shuffles per feature.
    pub repeats: usize,
    /// The seed of the shuffles.
    pub seed: u64,
    /// Features whose per-class distributions are written.
    pub top: usize,
}

/// The model's permutation importance on the `val` clips of `table`; `None` when the table has
/// no labelled `val` clip. `classes` are the model's probability columns.
pub fn permutation(model: &FittedModel, table: &FeatureTable, classes: &[String], request: &Request) -> Option<Importance> {
    // Truth as an index into the model's classes; a class it never saw gets its own index
    // past them, so it can never be predicted right.
    let mut unseen: Vec<&str> = Vec::new();
    let val: Vec<(usize, &[f64])> = table
        .clips
        .iter()
        .zip(&table.rows)
        .filter(|(clip, _)| clip.split == Split::Val)
        .filter_map(|(clip, row)| {
            let label = clip.label.as_deref()?;
            let truth = classes.iter().position(|c| c == label).unwrap_or_else(|| {
                let at = unseen.iter().position(|u| *u == label).unwrap_or_else(|| {
                    unseen.push(label);
                    unseen.len() - 1
                });
                classes.len() + at
            });
            Some((truth, row.as_slice()))
        })
        .collect();
    if val.is_empty() {
        return None;
    }
    let truth: Vec<usize> = val.iter().map(|(t, _)| *t).collect();
    let score = |rows: &[&[f64]]| {
        let pairs: Vec<(usize, usize)> = model
            .predict_proba(rows)
            .iter()
            .zip(&truth)
            .map(|(p, &t)| (t, argmax(p)))
            .collect();
        Headline::of_pairs(&pairs).get(request.metric).unwrap_or(f64::NAN)
    };
    let rows: Vec<&[f64]> = val.iter().map(|(_, r)| *r).collect();
    let (baseline, features) = drops(&rows, &table.names, score, request.repeats, request.seed);
    let distributions = distributions(table, &features[..request.top.min(features.len())]);
    Some(Importance {
        settings: Settings {
            metric: request.metric.to_string(),
            split: "val".into(),
            repeats: request.repeats,
            seed: request.seed,
            score: baseline,
            clips: rows.len(),
        },
        features,
        distributions,
    })
}

/// The unshuffled `score` of `rows` and every feature's drop in it when its column is shuffled
/// among the rows (`repeats` times, each (feature, repeat) with its own stream of `seed`), most
/// important first; ties keep column order. Shared by classifiers and regressors.
pub fn drops<F>(rows: &[&[f64]], names: &[String], score: F, repeats: usize, seed: u64) -> (f64, Vec<FeatureImportance>)
where
    F: Fn(&[&[f64]]) -> f64 + Sync,
{
    let baseline = score(rows);
    let n_features = names.len();
    let drops: Vec<Vec<f64>> = (0..n_features)
        .into_par_iter()
        .map(|feature| {
            (0..repeats)
                .map(|repeat| {
                    let mut order: Vec<usize> = (0..rows.len()).collect();
                    order.shuffle(&mut ChaCha8Rng::seed_from_u64(shuffle_seed(seed, feature, repeat)));
                    let permuted: Vec<Vec<f64>> = rows
                        .iter()
                        .zip(&order)
                        .map(|(row, &from)| {
                            let mut row = row.to_vec();
                            row[feature] = rows[from][feature];
                            row
                        })
                        .collect();
                    let permuted: Vec<&[f64]> = permuted.iter().map(Vec::as_slice).collect();
                    baseline - score(&permuted)
                })
                .collect()
        })
        .collect();
    let mut features: Vec<FeatureImportance> = drops
        .iter()
        .zip(names)
        .map(|(drops, name)| {
            let n = drops.len().max(1) as f64;
            let mean = drops.iter().sum::<f64>() / n;
            let std = (drops.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n).sqrt();
            FeatureImportance { rank: 0, feature: name.clone(), mean, std }
        })
        .collect();
    // Most important first; ties keep column order.
    features.sort_by(|a, b| b.mean.total_cmp(&a.mean));
    for (i, f) in features.iter_mut().enumerate() {
        f.rank = i + 1;
    }
    (baseline, features)
}

/// Each class's values of each of `top` on the labelled training clips, classes in the label
/// set's order.
fn distributions(table: &FeatureTable, top: &[FeatureImportance]) -> Vec<Distribution> {
    let mut out = Vec::new();
    for f in top {
        let Some(column) = table.names.iter().position(|n| *n == f.feature) else { continue };
        for class in table.labels.names() {
            let mut values: Vec<f64> = table
                .clips
                .iter()
                .zip(&table.rows)
                .filter(|(clip, _)| clip.split == Split::Train && clip.label.as_deref() == Some(class))
                .map(|(_, row)| row[column])
                .collect();
            if values.is_empty() {
                continue;
            }
            let [min, q1, median, q3, max, mean] = summarize(&mut values);
            out.push(Distribution {
                feature: f.feature.clone(),
                rank: f.rank,
                class: class.to_string(),
                split: "train".into(),
                count: values.len(),
                min,
                q1,
                median,
                q3,
                max,
                mean,
            });
        }
    }
    out
}

/// The seed of one (feature, repeat) shuffle: SplitMix64 over the three, so neighbouring
/// features and repeats get unrelated streams.
fn shuffle_seed(seed: u64, feature: usize, repeat: usize) -> u64 {
    splitmix(splitmix(splitmix(seed) ^ feature as u64) ^ repeat as u64)
}

/// SplitMix64's step and finalizer.
fn splitmix(z: u64) -> u64 {
    let z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
