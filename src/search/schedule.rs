//! Successive halving (Jamieson & Talwalkar 2016; scikit-learn's `HalvingRandomSearchCV`): every
//! trial runs on the smallest budget, the best `1/eta` of them go on with `eta` times the
//! budget, and so on up to the largest budget.
//!
//! Rung `k` has budget `min_budget * eta^k` (the last rung exactly `max_budget`) and keeps
//! `ceil(n / eta^k)` trials (at least one); rungs stop at the one whose budget reaches
//! `max_budget`. Each rung is one DAG: its trials share what they can and every trial stage is
//! cached, so a trial promoted to a larger budget reuses everything above the budget's stage.

/// One rung: the budget its trials run with and how many run.
#[derive(Clone, Debug, PartialEq)]
pub struct Rung {
    /// The budget param's value.
    pub budget: toml::Value,
    /// Trials in this rung.
    pub trials: usize,
}

/// A halving budget: the param's smallest and largest value and the factor between rungs.
#[derive(Clone, Debug, PartialEq)]
pub struct Budget {
    /// Smallest budget (the first rung's).
    pub min: f64,
    /// Largest budget (the last rung's).
    pub max: f64,
    /// Whole-number budgets (both bounds written as integers).
    pub integer: bool,
    /// Growth factor between rungs, and the share `1/eta` of trials kept (>= 2).
    pub eta: u32,
}

impl Budget {
    /// The rungs for `trials` trials.
    pub fn rungs(&self, trials: usize) -> Vec<Rung> {
        let mut rungs = Vec::new();
        let mut budget = self.min;
        let mut kept = trials.max(1);
        loop {
            let last = budget >= self.max;
            let value = if last { self.max } else { budget };
            let value = if self.integer { toml::Value::Integer(value.round() as i64) } else { toml::Value::Float(value) };
            rungs.push(Rung { budget: value, trials: kept });
            if last {
                return rungs;
            }
            budget *= f64::from(self.eta);
            kept = kept.div_ceil(self.eta as usize).max(1);
        }
    }
}

/// The `keep` best of `scores` (trial index, score; `None` for a trial that failed), best first;
/// ties go to the earlier trial.
pub fn best(scores: &[(usize, Option<f64>)], keep: usize) -> Vec<usize> {
    let mut ranked: Vec<(usize, f64)> = scores.iter().filter_map(|&(t, s)| Some((t, s?))).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.into_iter().take(keep).map(|(t, _)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_triple_the_budget_and_keep_a_third() {
        let budget = Budget { min: 25.0, max: 400.0, integer: true, eta: 3 };
        let rungs = budget.rungs(27);
        let got: Vec<(i64, usize)> = rungs.iter().map(|r| (r.budget.as_integer().unwrap(), r.trials)).collect();
        assert_eq!(got, [(25, 27), (75, 9), (225, 3), (400, 1)]);
        let floats = Budget { min: 0.1, max: 0.9, integer: false, eta: 2 }.rungs(5);
        let got: Vec<(f64, usize)> = floats.iter().map(|r| (r.budget.as_float().unwrap(), r.trials)).collect();
        assert_eq!(got, [(0.1, 5), (0.2, 3), (0.4, 2), (0.8, 1), (0.9, 1)]);
        assert_eq!(Budget { min: 10.0, max: 10.0, integer: true, eta: 3 }.rungs(4).len(), 1);
    }

    #[test]
    fn best_ranks_by_score_then_trial_and_skips_failures() {
        let scores = [(0, Some(0.5)), (1, None), (2, Some(0.7)), (3, Some(0.5)), (4, Some(0.1))];
        assert_eq!(best(&scores, 3), [2, 0, 3]);
        assert_eq!(best(&scores, 10), [2, 0, 3, 4]);
    }
}
