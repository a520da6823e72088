//! What a fine-tune that estimates dimensions optimizes and how its epochs are judged.
//!
//! The CCC loss is `1 -` Lin's concordance correlation coefficient of the batch, per target,
//! averaged over the targets, with population moments as [`vox_api::agreement`] scores it:
//! training then optimizes the metric the epochs are chosen by and papers report, which MSE does
//! not (a model that shrinks every estimate toward the mean has a small MSE and a poor CCC).
//! A small constant in the denominator keeps a batch whose clips are all rated alike finite.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use vox_api::agreement::Agreement;

use super::DimensionLoss;

/// Keeps the CCC's denominator away from 0 for a batch of identical values.
const EPSILON: f64 = 1e-8;

/// The mean loss of a batch's `outputs` `[clips, targets]` against its ratings `truth` (same
/// shape), `[1]`.
pub fn batch_loss<B: Backend>(outputs: Tensor<B, 2>, truth: Tensor<B, 2>, loss: DimensionLoss) -> Tensor<B, 1> {
    match loss {
        DimensionLoss::Mse => (outputs - truth).powi_scalar(2).mean(),
        DimensionLoss::Ccc => {
            let mean_p = outputs.clone().mean_dim(0);
            let mean_t = truth.clone().mean_dim(0);
            let dp = outputs - mean_p.clone();
            let dt = truth - mean_t.clone();
            let cov = (dp.clone() * dt.clone()).mean_dim(0);
            let var_p = dp.powi_scalar(2).mean_dim(0);
            let var_t = dt.powi_scalar(2).mean_dim(0);
            let denominator = var_p + var_t + (mean_p - mean_t).powi_scalar(2) + EPSILON;
            let ccc = cov.mul_scalar(2.0) / denominator;
            ccc.mean().neg().add_scalar(1.0)
        }
    }
}

/// A model's estimates of some clips, scored against their ratings.
#[derive(Clone, Debug, PartialEq)]
pub struct Scores {
    /// The loss over all the clips at once (for `ccc`, `1 -` the mean of `ccc`); NaN without
    /// rated clips.
    pub loss: f64,
    /// Per target, the CCC over the clips rated in it; NaN for a target no clip is rated in.
    pub ccc: Vec<f64>,
    /// The mean of `ccc`, what the best epoch is chosen by; NaN when any is.
    pub mean_ccc: f64,
}

/// Scores `estimates` (one row per clip, one value per target) against `ratings` (the same
/// clips' ratings, `None` where unrated).
pub fn score(estimates: &[Vec<f64>], ratings: &[&[Option<f64>]], loss: DimensionLoss) -> Scores {
    let targets = estimates.first().map_or(0, Vec::len);
    // Per target, the (rating, estimate) pairs of the clips rated in it.
    let pairs: Vec<Vec<(f64, f64)>> = (0..targets)
        .map(|d| ratings.iter().zip(estimates).filter_map(|(truth, estimate)| Some((truth[d]?, estimate[d]))).collect())
        .collect();
    let ccc: Vec<f64> = pairs.iter().map(|p| Agreement::of(p).map_or(f64::NAN, |a| a.ccc)).collect();
    let mean_ccc = if ccc.is_empty() { f64::NAN } else { ccc.iter().sum::<f64>() / ccc.len() as f64 };
    let loss = match loss {
        DimensionLoss::Ccc => 1.0 - mean_ccc,
        DimensionLoss::Mse => {
            let (sum, n) = pairs.iter().flatten().fold((0.0, 0usize), |(sum, n), (t, p)| (sum + (t - p) * (t - p), n + 1));
            if n == 0 { f64::NAN } else { sum / n as f64 }
        }
    };
    Scores { loss, ccc, mean_ccc }
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, NdArray};
    use burn::tensor::TensorData;

    use super::*;

    type B = Autodiff<NdArray>;

    fn tensor(values: &[f32], clips: usize) -> Tensor<B, 2> {
        let targets = values.len() / clips;
        Tensor::from_data(TensorData::new(values.to_vec(), [clips, targets]), &Default::default())
    }

    fn scalar(t: Tensor<B, 1>) -> f64 {
        f64::from(t.into_data().convert::<f32>().into_vec::<f32>().unwrap()[0])
    }

    /// Two targets over four clips, as rows `[clip][target]`.
    const PREDICTED: [f32; 8] = [0.1, 2.0, 0.5, 1.0, 0.3, 3.5, 0.9, 2.5];
    const TRUTH: [f32; 8] = [0.0, 2.5, 1.0, 1.5, 0.5, 3.0, 1.5, 2.0];

    fn columns(values: &[f32]) -> [Vec<f64>; 2] {
        [0, 1].map(|d| values.iter().skip(d).step_by(2).map(|&v| f64::from(v)).collect())
    }

    #[test]
    fn the_ccc_loss_is_one_minus_the_mean_of_the_scored_cccs() {
        let loss = scalar(batch_loss(tensor(&PREDICTED, 4), tensor(&TRUTH, 4), DimensionLoss::Ccc));
        let (p, t) = (columns(&PREDICTED), columns(&TRUTH));
        let ccc = |d: usize| {
            let pairs: Vec<(f64, f64)> = t[d].iter().copied().zip(p[d].iter().copied()).collect();
            Agreement::of(&pairs).unwrap().ccc
        };
        let expected = 1.0 - (ccc(0) + ccc(1)) / 2.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
        assert!(ccc(0) < 0.95 && ccc(1) < 0.95, "the fixture is no trivial agreement");
    }

    #[test]
    fn the_mse_loss_is_the_mean_squared_error() {
        let loss = scalar(batch_loss(tensor(&PREDICTED, 4), tensor(&TRUTH, 4), DimensionLoss::Mse));
        let expected = PREDICTED.iter().zip(TRUTH).map(|(p, t)| f64::from(p - t).powi(2)).sum::<f64>() / 8.0;
        assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
    }

    /// The autodiff gradient of the CCC loss against central differences in f64 of the same
    /// formula: the loss trains what it claims to.
    #[test]
    fn the_ccc_gradient_matches_finite_differences() {
        let outputs = tensor(&PREDICTED, 4).require_grad();
        let loss = batch_loss(outputs.clone(), tensor(&TRUTH, 4), DimensionLoss::Ccc);
        let grads = loss.backward();
        let gradient: Vec<f32> = outputs.grad(&grads).unwrap().into_data().into_vec().unwrap();
        let truth = columns(&TRUTH);
        let loss_at = |values: &[f64]| {
            let cccs: Vec<f64> = (0..2)
                .map(|d| {
                    let p: Vec<f64> = values.iter().skip(d).step_by(2).copied().collect();
                    let pairs: Vec<(f64, f64)> = truth[d].iter().copied().zip(p).collect();
                    Agreement::of(&pairs).unwrap().ccc
                })
                .collect();
            1.0 - (cccs[0] + cccs[1]) / 2.0
        };
        let base: Vec<f64> = PREDICTED.iter().map(|&v| f64::from(v)).collect();
        for (i, &g) in gradient.iter().enumerate() {
            let h = 1e-6;
            let (mut up, mut down) = (base.clone(), base.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (loss_at(&up) - loss_at(&down)) / (2.0 * h);
            assert!((f64::from(g) - numeric).abs() < 1e-4, "output {i}: autodiff {g}, numeric {numeric}");
        }
        assert!(gradient.iter().any(|g| g.abs() > 1e-2), "{gradient:?}");
    }

    #[test]
    fn a_batch_rated_alike_has_a_finite_loss() {
        let loss = scalar(batch_loss(tensor(&[0.5, 0.5], 2), tensor(&[1.0, 1.0], 2), DimensionLoss::Ccc));
        assert!((loss - 1.0).abs() < 1e-6, "{loss}");
    }

    #[test]
    fn scores_skip_unrated_clips_per_target() {
        let estimates = vec![vec![1.0, 0.0], vec![2.0, 5.0], vec![3.0, 1.0]];
        let ratings: Vec<[Option<f64>; 2]> = vec![[Some(1.0), None], [Some(2.0), Some(5.0)], [Some(3.0), Some(1.0)]];
        let rows: Vec<&[Option<f64>]> = ratings.iter().map(|r| r.as_slice()).collect();
        let scores = score(&estimates, &rows, DimensionLoss::Mse);
        assert_eq!(scores.ccc, vec![1.0, 1.0]);
        assert_eq!(scores.mean_ccc, 1.0);
        assert_eq!(scores.loss, 0.0);
        let none: Vec<&[Option<f64>]> = vec![&[None, None]; 3];
        let unrated = score(&estimates, &none, DimensionLoss::Ccc);
        assert!(unrated.mean_ccc.is_nan() && unrated.loss.is_nan());
    }
}
