//! Validation metrics from predicted probabilities: mean cross-entropy, accuracy, macro-F1.

/// Metrics of one split.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scores {
    /// Mean `-ln p(true class)` (probabilities floored at 1e-12).
    pub loss: f64,
    /// Share of clips whose most probable class is the true one.
    pub accuracy: f64,
    /// Unweighted mean over the classes of the per-class F1 (0 for a class never predicted
    /// nor present); NaN without clips.
    pub macro_f1: f64,
}

use vox_api::predictions::argmax;

/// Scores `probabilities` (one row per clip, one column per class) against class indices
/// `targets`; a clip whose label the model does not know has target `None` and counts as wrong.
pub fn score(probabilities: &[Vec<f64>], targets: &[Option<usize>], classes: usize) -> Scores {
    if probabilities.is_empty() {
        return Scores {
            loss: f64::NAN,
            accuracy: f64::NAN,
            macro_f1: f64::NAN,
        };
    }
    let n = probabilities.len() as f64;
    let mut loss = 0.0;
    let mut correct = 0usize;
    let (mut tp, mut fp, mut fn_) = (
        vec![0usize; classes],
        vec![0usize; classes],
        vec![0usize; classes],
    );
    for (p, target) in probabilities.iter().zip(targets) {
        let predicted = argmax(p);
        match *target {
            Some(t) => {
                loss -= p[t].max(1e-12).ln();
                if predicted == t {
                    correct += 1;
                    tp[t] += 1;
                } else {
                    fp[predicted] += 1;
                    fn_[t] += 1;
                }
            }
            None => {
                loss -= 1e-12f64.ln();
                fp[predicted] += 1;
            }
        }
    }
    let f1: f64 = (0..classes)
        .map(|c| {
            let denominator = 2 * tp[c] + fp[c] + fn_[c];
            if denominator == 0 {
                0.0
            } else {
                2.0 * tp[c] as f64 / denominator as f64
            }
        })
        .sum();
    Scores {
        loss: loss / n,
        accuracy: correct as f64 / n,
        macro_f1: f1 / classes as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_matches_a_hand_count() {
        // True 0,0,1,2; predicted 0,1,1,1.
        let p = |c: usize| {
            let mut v = vec![0.1; 3];
            v[c] = 0.8;
            v
        };
        let probs = vec![p(0), p(1), p(1), p(1)];
        let scores = score(&probs, &[Some(0), Some(0), Some(1), Some(2)], 3);
        // class 0: tp 1, fn 1 -> 2/3; class 1: tp 1, fp 2 -> 2/4; class 2: fn 1 -> 0.
        assert!((scores.macro_f1 - (2.0 / 3.0 + 0.5) / 3.0).abs() < 1e-12);
        assert_eq!(scores.accuracy, 0.5);
        assert!((scores.loss - (-(0.8f64.ln()) * 2.0 - 0.1f64.ln() * 2.0) / 4.0).abs() < 1e-12);
    }
}
