//! Input normalization of HF's `Wav2Vec2FeatureExtractor` (`do_normalize = true`, as in the
//! XLSR checkpoints): each clip is scaled to zero mean and unit variance over its valid
//! samples, `(x - mean) / sqrt(var + 1e-7)` with the population variance, and its padding is
//! set to 0 (`padding_value`).

/// HF's epsilon in `zero_mean_unit_var_norm`.
const VARIANCE_EPS: f64 = 1e-7;

/// Normalizes `clip` in place over its first `valid` samples and zeroes the rest.
pub fn normalize_clip(clip: &mut [f32], valid: usize) {
    let valid = valid.min(clip.len());
    let (head, padding) = clip.split_at_mut(valid);
    if !head.is_empty() {
        let n = head.len() as f64;
        let mean = head.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = head
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        let scale = 1.0 / (var + VARIANCE_EPS).sqrt();
        for x in head.iter_mut() {
            *x = ((f64::from(*x) - mean) * scale) as f32;
        }
    }
    padding.fill(0.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_samples_get_zero_mean_unit_variance_and_padding_zero() {
        let mut clip = [1.0, 2.0, 3.0, 4.0, 9.0, 9.0];
        normalize_clip(&mut clip, 4);
        // mean 2.5, population variance 1.25
        let s = (1.25f64 + 1e-7).sqrt();
        let expected = [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s, 0.0, 0.0];
        for (x, e) in clip.iter().zip(expected) {
            assert!((f64::from(*x) - e).abs() < 1e-6, "{clip:?}");
        }
    }

    #[test]
    fn silent_clip_stays_finite() {
        let mut clip = [0.5f32; 8];
        normalize_clip(&mut clip, 8);
        assert!(clip.iter().all(|x| *x == 0.0));
    }
}
