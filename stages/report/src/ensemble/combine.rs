//! Combining the members' rows of one clip into the ensemble's row.
//!
//! Both methods are a weighted mean over the members, class by class, over the union of the
//! members' classes; they differ in what each member contributes:
//!
//! | method | member `m`'s value for class `c` |
//! |---|---|
//! | soft | its probability of `c` |
//! | hard | 1 when `c` is its most probable class (the format's argmax), else 0 |
//!
//! With weights `w` (normalized to sum to 1), class `c` gets `sum_m w_m value_m(c) / d(c)`, where
//! the sum runs over the members that know `c` and `d(c)` depends on `missing_classes`:
//! `renormalize` divides by the weight of the members that know `c` (a member neither votes for
//! nor against a class it was trained without); `zero` divides by the total weight (an unknown
//! class counts as probability 0). A class that no member with a positive weight knows gets 0.
//! The row is then divided by its sum, so that it sums to 1 (a row of zeros stays zero).
//!
//! Hard ties: classes whose normalized votes are within [`TIE_TOLERANCE`] of the highest are
//! tied; among them the class with the highest soft-ensemble probability (same weights and
//! missing-class rule) wins, then the first in the label set's order. The format names the first maximum of a row as
//! its prediction, so a winner that is not already it gets its vote raised to one ulp above the
//! highest vote (`f64::next_up`): `predicted` then names the winner while the numbers stay the
//! vote shares to 1e-16.

use vox_api::labels::LabelSet;
use vox_api::predictions::Prediction;

use super::{Method, MissingClasses};
use crate::metrics::ratio;

/// Scores closer than this are tied.
pub const TIE_TOLERANCE: f64 = 1e-12;

/// Combines rows of members with known class lists.
#[derive(Clone, Debug)]
pub struct Combiner {
    /// The members' label set.
    pub labels: LabelSet,
    /// The union of the members' classes, in the label set's order: the ensemble's classes.
    pub classes: Vec<String>,
    /// `columns[m][c]`: member `m`'s column of `classes[c]`, if it knows that class.
    columns: Vec<Vec<Option<usize>>>,
    /// Soft or hard.
    method: Method,
    /// What a member contributes to a class it does not know.
    missing: MissingClasses,
}

impl Combiner {
    /// A combiner for members of the label set `labels` whose classes are `member_classes`, in
    /// input order.
    pub fn new(labels: &LabelSet, member_classes: &[&[String]], method: Method, missing: MissingClasses) -> Self {
        let classes: Vec<String> = labels
            .names()
            .filter(|name| member_classes.iter().any(|m| m.iter().any(|c| c == name)))
            .map(str::to_string)
            .collect();
        let columns = member_classes
            .iter()
            .map(|known| classes.iter().map(|c| known.iter().position(|k| k == c)).collect())
            .collect();
        Self { labels: labels.clone(), classes, columns, method, missing }
    }

    /// The ensemble's row for one clip: `rows[m]` is member `m`'s row, `weights` sum to 1.
    /// The clip's id, split and label are the first member's.
    pub fn combine(&self, rows: &[&Prediction], weights: &[f64]) -> Prediction {
        let soft = || self.weighted_mean(weights, |m, column| rows[m].probabilities[column]);
        let probabilities = match self.method {
            Method::Soft => soft(),
            Method::Hard => {
                let votes = self.weighted_mean(
                    weights,
                    |m, column| {
                        if rows[m].argmax() == column { 1.0 } else { 0.0 }
                    },
                );
                break_tie(votes, soft)
            }
        };
        Prediction {
            file_id: rows[0].file_id.clone(),
            split: rows[0].split,
            label: rows[0].label.clone(),
            probabilities,
        }
    }

    /// The per-class weighted mean of `value(member, member's column)`, normalized to sum to 1.
    fn weighted_mean(&self, weights: &[f64], value: impl Fn(usize, usize) -> f64) -> Vec<f64> {
        let total: f64 = weights.iter().sum();
        let mut means: Vec<f64> = (0..self.classes.len())
            .map(|c| {
                let (mut sum, mut known) = (0.0, 0.0);
                for (m, &weight) in weights.iter().enumerate() {
                    if let Some(column) = self.columns[m][c] {
                        sum += weight * value(m, column);
                        known += weight;
                    }
                }
                match self.missing {
                    MissingClasses::Renormalize => ratio(sum, known),
                    MissingClasses::Zero | MissingClasses::Error => ratio(sum, total),
                }
            })
            .collect();
        let sum: f64 = means.iter().sum();
        if sum > 0.0 {
            means.iter_mut().for_each(|p| *p /= sum);
        }
        means
    }
}

/// Resolves a tie among the highest `votes` by `soft` (see the module doc).
fn break_tie(mut votes: Vec<f64>, soft: impl FnOnce() -> Vec<f64>) -> Vec<f64> {
    let top = votes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tied: Vec<usize> = (0..votes.len()).filter(|&c| top - votes[c] <= TIE_TOLERANCE).collect();
    if tied.len() < 2 {
        return votes;
    }
    let soft = soft();
    let best_soft = tied.iter().map(|&c| soft[c]).fold(f64::NEG_INFINITY, f64::max);
    let Some(winner) = tied.into_iter().find(|&c| best_soft - soft[c] <= TIE_TOLERANCE) else {
        return votes;
    };
    let first_maximum = votes.iter().position(|&v| v == top).unwrap_or(winner);
    if first_maximum != winner || votes[winner] != top {
        votes[winner] = top.next_up();
    }
    votes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_labels::codes::*;
    use crate::test_labels::ravdess;
    use vox_api::audio::Split;

    fn row(probabilities: &[f64]) -> Prediction {
        Prediction {
            file_id: "a".into(),
            split: Split::Val,
            label: None,
            probabilities: probabilities.to_vec(),
        }
    }

    #[test]
    fn tie_goes_to_the_highest_soft_probability_then_the_lowest_code() {
        // Votes tie between classes 1 and 2; soft prefers 2.
        let votes = break_tie(vec![0.0, 0.5, 0.5], || vec![0.2, 0.3, 0.5]);
        assert_eq!(votes, [0.0, 0.5, 0.5f64.next_up()]);
        assert_eq!(row(&votes).argmax(), 2);
        // Soft ties too: the lowest code keeps it, no nudge.
        assert_eq!(break_tie(vec![0.5, 0.5], || vec![0.5, 0.5]), [0.5, 0.5]);
        // Soft prefers the first: no nudge needed.
        assert_eq!(break_tie(vec![0.5, 0.5], || vec![0.6, 0.4]), [0.5, 0.5]);
        // No tie: soft is never computed.
        assert_eq!(break_tie(vec![0.25, 0.75], || unreachable!()), [0.25, 0.75]);
    }

    #[test]
    fn union_of_classes_and_columns() {
        let names = |classes: &[&str]| -> Vec<String> { classes.iter().map(|c| c.to_string()).collect() };
        let (a, b) = (names(&[Neutral, Angry]), names(&[Happy, Angry, Sad]));
        let combiner = Combiner::new(&ravdess(), &[&a, &b], Method::Soft, MissingClasses::Zero);
        assert_eq!(combiner.classes, [Neutral, Happy, Sad, Angry]);
        assert_eq!(
            combiner.columns,
            [vec![Some(0), None, None, Some(1)], vec![None, Some(0), Some(2), Some(1)]]
        );
    }
}
