//! The members' weights: given, equal, each member's own `val` score, or searched on `val`.
//!
//! Every rule looks only at labelled clips of split `val`; test clips (labelled or not) never
//! influence a weight. Weights are then normalized to sum to 1.
//!
//! | `weights` | raw weight of member `m` |
//! |---|---|
//! | `[w_1, ..]` | `w_m` |
//! | `"equal"` | 1 |
//! | `"val-macro-f1"` | `m`'s macro-F1 on the labelled clips of its own `val` split |
//! | `"val-accuracy"` | `m`'s accuracy on the same clips |
//! | `"optimize"` | the search below |
//!
//! `"optimize"` is an exhaustive search over a simplex grid: the candidates are equal weights,
//! then every vector of multiples of `1 / grid_steps` that sums to 1, in lexicographic order
//! (`[0, .., 0, 1]` first). Each candidate combines the labelled `val` clips that all members
//! share (with the stage's `method` and `missing_classes`) and is scored by macro-F1. The best
//! candidate wins; ties (within 1e-12) go to the higher `val` accuracy, then to the candidate
//! closest to equal weights (squared distance), then to the earlier candidate. Equal weights
//! are always a candidate, so the result is never worse on `val` than `"equal"`. With `n`
//! members the grid holds `C(grid_steps + n - 1, n - 1)` vectors, capped at
//! [`MAX_CANDIDATES`].

use rayon::prelude::*;
use serde::Serialize;
use vox_api::audio::Split;
use vox_api::predictions::Prediction;

use super::combine::{Combiner, TIE_TOLERANCE};
use super::members::{Member, labelled_pairs};
use super::{WeightRule, Weights};
use crate::error::ReportError;
use crate::metrics::{Confusion, Scores};

/// The most weight vectors `"optimize"` tries.
pub const MAX_CANDIDATES: u64 = 200_000;

/// The members' weights and how they were obtained.
#[derive(Clone, Debug, PartialEq)]
pub struct Weighting {
    /// The weight rule's name: `given`, `equal`, `val-macro-f1`, `val-accuracy`, `optimize`.
    pub rule: &'static str,
    /// One sentence for people.
    pub how: String,
    /// The weights before normalization, in input order.
    pub raw: Vec<f64>,
    /// The weights, normalized to sum to 1.
    pub weights: Vec<f64>,
    /// For the `val-*` rules: the labelled `val` clips each member was scored on.
    pub val_clips: Option<Vec<usize>>,
    /// For `"optimize"`: what the search found.
    pub search: Option<Search>,
}

/// The outcome of `"optimize"`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Search {
    /// The grid resolution: weights are multiples of `1 / grid_steps`.
    pub grid_steps: u32,
    /// Weight vectors tried (equal weights plus the grid).
    pub candidates: usize,
    /// Labelled `val` clips shared by all members, on which candidates were scored.
    pub val_clips: usize,
    /// The ensemble's `val` macro-F1 with the chosen weights.
    pub val_macro_f1: f64,
    /// The ensemble's `val` accuracy with the chosen weights.
    pub val_accuracy: f64,
    /// The ensemble's `val` macro-F1 with equal weights, for comparison.
    pub equal_val_macro_f1: f64,
}

/// What the rules need besides the members.
pub struct Context<'a> {
    /// The stage's combiner (method and missing-class rule).
    pub combiner: &'a Combiner,
    /// The clips every member scores, as from `members::align`.
    pub clips: &'a [Vec<&'a Prediction>],
    /// `grid_steps` of the params.
    pub grid_steps: u32,
    /// Called once per candidate tried by `"optimize"` (progress).
    pub tick: &'a (dyn Fn() + Sync),
}

/// Obtains the weights of `members` by `weights`.
pub fn obtain(weights: &Weights, members: &[Member], context: &Context) -> Result<Weighting, ReportError> {
    let n = members.len();
    let weighting = |rule, how: String, raw: Vec<f64>| Weighting {
        rule,
        how,
        weights: normalized(&raw),
        raw,
        val_clips: None,
        search: None,
    };
    match weights {
        Weights::Given(given) if given.len() != n => {
            Err(ReportError::WeightCount { given: given.len(), inputs: n })
        }
        Weights::Given(given) => {
            Ok(weighting("given", "given in the pipeline, normalized to sum to 1".into(), given.clone()))
        }
        Weights::Rule(WeightRule::Equal) => Ok(weighting("equal", "equal weights".into(), vec![1.0; n])),
        Weights::Rule(rule @ (WeightRule::ValMacroF1 | WeightRule::ValAccuracy)) => {
            let (name, what) = match rule {
                WeightRule::ValAccuracy => ("val-accuracy", "accuracy"),
                _ => ("val-macro-f1", "macro-F1"),
            };
            let mut raw = Vec::with_capacity(n);
            let mut clips = Vec::with_capacity(n);
            for member in members {
                let pairs = member.val_pairs();
                if pairs.is_empty() {
                    return Err(ReportError::NoValLabels { input: member.name.clone(), rule: name });
                }
                let scores = Scores::new(&Confusion::from_pairs(&member.predictions.labels, &pairs));
                raw.push(if *rule == WeightRule::ValAccuracy { scores.accuracy } else { scores.macro_f1 });
                clips.push(pairs.len());
            }
            if raw.iter().all(|&w| w == 0.0) {
                return Err(ReportError::AllZeroScores { rule: name });
            }
            let how = format!(
                "each input's {what} on the labelled clips of its own `val` split, normalized to sum to 1"
            );
            Ok(Weighting { val_clips: Some(clips), ..weighting(name, how, raw) })
        }
        Weights::Rule(WeightRule::Optimize) => optimize(n, context),
    }
}

/// `raw` divided by its sum.
fn normalized(raw: &[f64]) -> Vec<f64> {
    let sum: f64 = raw.iter().sum();
    raw.iter().map(|w| w / sum).collect()
}

/// The scores of the ensemble with `weights` on the labelled clips among `clips`.
pub fn ensemble_scores(combiner: &Combiner, clips: &[Vec<&Prediction>], weights: &[f64]) -> Scores {
    let combined: Vec<Prediction> = clips.iter().map(|rows| combiner.combine(rows, weights)).collect();
    let pairs = labelled_pairs(&combiner.labels, &combiner.classes, &combined);
    Scores::new(&Confusion::from_pairs(&combiner.labels, &pairs))
}

/// The `"optimize"` search (see the module doc).
fn optimize(n: usize, context: &Context) -> Result<Weighting, ReportError> {
    let steps = context.grid_steps;
    if grid_size(n, steps) > MAX_CANDIDATES {
        return Err(ReportError::GridTooLarge { members: n, steps, limit: MAX_CANDIDATES });
    }
    let val: Vec<Vec<&Prediction>> = context
        .clips
        .iter()
        .filter(|rows| rows[0].split == Split::Val && rows[0].label.is_some())
        .cloned()
        .collect();
    if val.is_empty() {
        return Err(ReportError::NoSharedValLabels);
    }
    let mut candidates = vec![vec![1.0; n]];
    candidates.extend(grid(n, steps).into_iter().map(|v| v.into_iter().map(f64::from).collect::<Vec<f64>>()));
    let scored: Vec<(f64, f64, f64)> = candidates
        .par_iter()
        .map(|raw| {
            let weights = normalized(raw);
            let scores = ensemble_scores(context.combiner, &val, &weights);
            let distance: f64 = weights.iter().map(|w| (w - 1.0 / n as f64).powi(2)).sum();
            (context.tick)();
            (scores.macro_f1, scores.accuracy, distance)
        })
        .collect();
    let mut best = 0;
    for (i, &(f1, accuracy, distance)) in scored.iter().enumerate().skip(1) {
        let (best_f1, best_accuracy, best_distance) = scored[best];
        let better = f1 - best_f1 > TIE_TOLERANCE
            || (f1 - best_f1).abs() <= TIE_TOLERANCE
                && (accuracy - best_accuracy > TIE_TOLERANCE
                    || (accuracy - best_accuracy).abs() <= TIE_TOLERANCE && distance < best_distance);
        if better {
            best = i;
        }
    }
    let search = Search {
        grid_steps: steps,
        candidates: candidates.len(),
        val_clips: val.len(),
        val_macro_f1: scored[best].0,
        val_accuracy: scored[best].1,
        equal_val_macro_f1: scored[0].0,
    };
    let raw = candidates.swap_remove(best);
    let how = format!(
        "the best of {} weight vectors (equal weights, then all multiples of 1/{steps} summing to 1) by the \
         ensemble's macro-F1 on the {} labelled `val` clips shared by all inputs; ties: higher `val` \
         accuracy, then closer to equal weights, then the earlier vector",
        search.candidates, search.val_clips
    );
    Ok(Weighting {
        rule: "optimize",
        how,
        weights: normalized(&raw),
        raw,
        val_clips: None,
        search: Some(search),
    })
}

/// The weight vectors `"optimize"` tries for `n` members: equal weights plus the grid.
pub fn candidate_count(n: usize, steps: u32) -> u64 {
    grid_size(n, steps) + 1
}

/// `C(steps + n - 1, n - 1)`, the number of ways to split `steps` into `n` parts, saturated just
/// above [`MAX_CANDIDATES`].
fn grid_size(n: usize, steps: u32) -> u64 {
    let k = n.saturating_sub(1) as u128;
    let mut count: u128 = 1;
    for i in 1..=k {
        // C(steps + i, i) = C(steps + i - 1, i - 1) * (steps + i) / i, exact at every step.
        count = count * (u128::from(steps) + i) / i;
        if count > u128::from(MAX_CANDIDATES) {
            return MAX_CANDIDATES + 1;
        }
    }
    count as u64
}

/// Every way to split `steps` into `n` non-negative parts, in lexicographic order.
fn grid(n: usize, steps: u32) -> Vec<Vec<u32>> {
    fn extend(prefix: &mut Vec<u32>, n: usize, left: u32, out: &mut Vec<Vec<u32>>) {
        if prefix.len() + 1 == n {
            prefix.push(left);
            out.push(prefix.clone());
            prefix.pop();
            return;
        }
        for part in 0..=left {
            prefix.push(part);
            extend(prefix, n, left - part, out);
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    if n > 0 {
        extend(&mut Vec::with_capacity(n), n, steps, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_is_the_simplex_in_lexicographic_order() {
        assert_eq!(grid(2, 3), [[0, 3], [1, 2], [2, 1], [3, 0]]);
        let three = grid(3, 2);
        assert_eq!(three, [[0, 0, 2], [0, 1, 1], [0, 2, 0], [1, 0, 1], [1, 1, 0], [2, 0, 0]]);
        assert_eq!(grid(1, 5), [[5]]);
        for (n, steps) in [(1, 5), (2, 3), (3, 2), (4, 10), (5, 10)] {
            assert_eq!(grid_size(n, steps), grid(n, steps).len() as u64, "{n} members, {steps} steps");
        }
        assert_eq!(grid_size(5, 10), 1001);
        assert_eq!(grid_size(12, 20), MAX_CANDIDATES + 1, "C(31, 11) = 84672315 is over the cap");
    }

    #[test]
    fn normalizes_to_sum_one() {
        assert_eq!(normalized(&[1.0, 3.0]), [0.25, 0.75]);
        assert_eq!(normalized(&[0.0, 2.0]), [0.0, 1.0]);
    }
}
