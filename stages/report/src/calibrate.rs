//! The `calibrate` stage kind: temperature scaling (Guo et al. 2017) of a model's probabilities,
//! fitted on its labelled `val` clips and applied to every clip.
//!
//! Output folder layout:
//!
//! ```text
//! predictions.csv, classes.csv   the input's predictions, rescaled (any model's format)
//! temperature.json               the temperature, the clips it was fitted on, and the val
//!                                log loss and ECE before and after
//! ```
//!
//! Each clip's probabilities `p` become `softmax(ln p / T)`: for a model whose probabilities are
//! a softmax of logits (wav2vec2, logistic regression, an MLP) that is exactly dividing the logits
//! by `T`, since a softmax ignores a shift. `T` above 1 softens an over-confident model, below 1
//! sharpens an under-confident one (a forest); the predicted class never changes, so accuracy,
//! F1 and UAR stay as they were and only the calibration (`evaluate`'s ECE, Brier score, log
//! loss) moves. `T` minimizes the mean negative log-likelihood of the `val` clips' true classes,
//! which is convex in `1/T`: bisection on its derivative finds it to machine precision (checked
//! against SciPy's bounded minimizer), within `[0.05, 20]`. Where the loss still falls at
//! `T = 0.05` the `val` clips are (all but) separable: every one right with a margin, so the loss
//! only falls as `T` shrinks and no temperature is best; sharpening to the bound would make the
//! `test` clips nearly one-hot on no evidence (it did: a separable RBF-SVM's test log loss went
//! from 0.10 to 0.33), so `T` stays 1 and a warning says why. A probability of 0 (a forest no
//! tree of which voted for a class) counts as machine epsilon.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use vox_api::audio::Split;
use vox_api::predictions::{Prediction, Predictions, softmax};
use vox_api::{Applied, Applies, ApplyContext, ArtifactKind, Facts, InputSpec, ParamError, PlannedInput, StageContext, StageDef, StageError};

use crate::calibration::{self, DEFAULT_BINS};
use crate::error::ReportError;
use crate::files::write_json;

/// The file holding the fitted temperature.
const TEMPERATURE: &str = "temperature.json";
/// The temperatures allowed: a `val` split the model gets all right would otherwise drive `T`
/// to 0 (one-hot probabilities), one it gets all wrong to infinity.
const BOUNDS: (f64, f64) = (0.05, 20.0);
/// The smallest probability a logit is taken of.
const FLOOR: f64 = f64::EPSILON;

/// Temperature scaling of one model's probabilities (Guo et al. 2017): each clip's `p` becomes
/// `softmax(ln p / T)`, with the temperature `T` that minimizes the log loss of the labelled
/// `val` clips (never `test`). The predicted class of every clip stays the same; only how
/// confident the model is changes, which `evaluate` measures (ECE, Brier score, log loss).
/// Writes the rescaled `predictions.csv` (what `evaluate`, `ensemble-vote` and `vox predict` read
/// from any model) and `temperature.json`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Calibrate {}

/// `temperature.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Fitted {
    /// The temperature `T`.
    temperature: f64,
    /// The labelled `val` clips it was fitted on.
    clips: usize,
    /// Their mean negative log-likelihood before and after.
    val_log_loss: [f64; 2],
    /// Their expected calibration error (15 bins) before and after.
    val_ece: [f64; 2],
}

impl StageDef for Calibrate {
    const KIND: &'static str = "calibrate";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Predictions]);
    const OUTPUT: ArtifactKind = ArtifactKind::Predictions;
    const APPLIES: Applies = Applies::Yes;

    /// An input known to have no labelled `val` clip has nothing to fit on: an error at plan time.
    fn facts(&self, inputs: &[PlannedInput]) -> Result<Facts, ParamError> {
        let facts = Facts::combined(inputs);
        if let Some(splits) = &facts.labelled_splits
            && !splits.contains(&Split::Val)
        {
            let name = inputs.first().map_or("?", |i| i.name);
            return Err(ParamError::new(
                "inputs",
                format!(
                    "`{name}` has no labelled clips in split `val` to fit the temperature on: hold out a `val` part in the `split` stage (`val_fraction` or `val_speakers`)"
                ),
            ));
        }
        Ok(facts)
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        Ok(self.calibrate(ctx)?)
    }

    /// Rescales the model's probabilities of new clips with the run's temperature.
    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError> {
        let path = ctx.trained.join(TEMPERATURE);
        let text = std::fs::read_to_string(&path).map_err(ReportError::io(&path))?;
        let fitted: Fitted = serde_json::from_str(&text).map_err(|source| ReportError::Json { path: path.clone(), source })?;
        let predictions = Predictions::read(&ctx.run.input().dir).map_err(ReportError::from)?;
        scaled(&predictions, fitted.temperature).write(ctx.run.out_dir).map_err(ReportError::from)?;
        Ok(Applied::Wrote)
    }
}

impl Calibrate {
    /// [`StageDef::run`] with the crate's error type.
    fn calibrate(&self, ctx: &StageContext) -> Result<(), ReportError> {
        let input = ctx.input();
        let predictions = Predictions::read(&input.dir)?;
        crate::scoring::check_rows(&input.name, &predictions)?;
        let val: Vec<(&[f64], usize)> = predictions
            .split(Split::Val)
            .filter_map(|row| {
                let truth = predictions.classes.iter().position(|c| Some(c.as_str()) == row.label.as_deref())?;
                Some((row.probabilities.as_slice(), truth))
            })
            .collect();
        if val.is_empty() {
            return Err(ReportError::NothingToCalibrateOn { input: input.name.clone() });
        }
        let temperature = match fit(&val) {
            Some(t) => {
                if t >= BOUNDS.1 * (1.0 - 1e-9) {
                    warn!(
                        "`{}`: the best temperature on its {} val clips is the bound {t}: the model is wrong on nearly all of them, and calibrated it predicts close to uniform probabilities",
                        input.name,
                        val.len()
                    );
                }
                t
            }
            None => {
                warn!(
                    "`{}`: its {} val clips are all but separable (the log loss keeps falling as the temperature falls, below {}): no temperature is best, so the probabilities are left as they are (T = 1); calibrate on more or harder val clips",
                    input.name,
                    val.len(),
                    BOUNDS.0
                );
                1.0
            }
        };
        let output = scaled(&predictions, temperature);
        output.write(ctx.out_dir)?;
        let val_ece = |p: &Predictions| calibration::of_split(p, Split::Val, DEFAULT_BINS).map_or(f64::NAN, |c| c.ece);
        let fitted = Fitted {
            temperature,
            clips: val.len(),
            val_log_loss: [log_loss(&val, 1.0), log_loss(&val, temperature)],
            val_ece: [val_ece(&predictions), val_ece(&output)],
        };
        write_json(&ctx.out_dir.join(TEMPERATURE), &fitted)?;
        info!(
            "`{}`: temperature {temperature:.4} fitted on {} val clips: val log loss {:.4} -> {:.4}, ECE {:.4} -> {:.4}",
            input.name, fitted.clips, fitted.val_log_loss[0], fitted.val_log_loss[1], fitted.val_ece[0], fitted.val_ece[1]
        );
        Ok(())
    }
}

/// `predictions` with every row's probabilities rescaled by `temperature`.
fn scaled(predictions: &Predictions, temperature: f64) -> Predictions {
    let rows = predictions
        .rows
        .iter()
        .map(|row| Prediction { probabilities: rescale(&row.probabilities, 1.0 / temperature), ..row.clone() })
        .collect();
    Predictions { labels: predictions.labels.clone(), classes: predictions.classes.clone(), rows }
}

/// The logits a probability row stands for: `ln p`, a probability of 0 taken as [`FLOOR`].
fn logits(p: &[f64]) -> Vec<f64> {
    p.iter().map(|&v| v.max(FLOOR).ln()).collect()
}

/// `softmax(beta * ln p)`: `p^beta`, normalized.
fn rescale(p: &[f64], beta: f64) -> Vec<f64> {
    softmax(&logits(p).iter().map(|z| beta * z).collect::<Vec<f64>>())
}

/// The mean negative log-likelihood of the true classes of `clips` (probabilities, true class)
/// at `temperature`.
fn log_loss(clips: &[(&[f64], usize)], temperature: f64) -> f64 {
    let beta = 1.0 / temperature;
    let sum: f64 = clips
        .iter()
        .map(|(p, truth)| {
            let z = logits(p);
            log_sum_exp(z.iter().map(|z| beta * z)) - beta * z[*truth]
        })
        .sum();
    sum / clips.len() as f64
}

/// `ln sum exp(x)`, without overflow.
fn log_sum_exp(x: impl Iterator<Item = f64> + Clone) -> f64 {
    let top = x.clone().fold(f64::NEG_INFINITY, f64::max);
    top + x.map(|v| (v - top).exp()).sum::<f64>().ln()
}

/// The temperature in [`BOUNDS`] that minimizes [`log_loss`]: the log loss is convex in
/// `beta = 1/T` with derivative `mean(E_softmax(beta z)[z] - z_truth)`, increasing in `beta`;
/// bisection on `ln beta` finds where it crosses 0, or the upper bound when the loss rises from
/// there on. `None` when it still falls at the lower bound (separable clips: no best `T`).
fn fit(clips: &[(&[f64], usize)]) -> Option<f64> {
    let logits: Vec<(Vec<f64>, usize)> = clips.iter().map(|(p, t)| (logits(p), *t)).collect();
    let slope = |beta: f64| {
        let sum: f64 = logits
            .iter()
            .map(|(z, truth)| {
                let top = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let w: Vec<f64> = z.iter().map(|v| (beta * (v - top)).exp()).collect();
                let total: f64 = w.iter().sum();
                w.iter().zip(z).map(|(w, z)| w / total * z).sum::<f64>() - z[*truth]
            })
            .sum();
        sum / logits.len() as f64
    };
    // beta = 1/T: the bounds swap.
    let (mut low, mut high) = ((1.0 / BOUNDS.1).ln(), (1.0 / BOUNDS.0).ln());
    if slope(low.exp()) >= 0.0 {
        return Some(BOUNDS.1);
    }
    if slope(high.exp()) < 0.0 {
        return None;
    }
    for _ in 0..200 {
        let mid = 0.5 * (low + high);
        if mid <= low || mid >= high {
            break;
        }
        if slope(mid.exp()) < 0.0 { low = mid } else { high = mid }
    }
    Some(1.0 / (0.5 * (low + high)).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Case {
        name: String,
        y_true: Vec<usize>,
        probabilities: Vec<Vec<f64>>,
        temperature: f64,
        log_loss: [f64; 2],
    }

    #[test]
    fn the_temperature_matches_scipys_minimizer() {
        let cases: Vec<Case> = serde_json::from_str(include_str!("../tests/fixtures/temperature.json")).unwrap();
        assert_eq!(cases.len(), 3);
        for case in &cases {
            let clips: Vec<(&[f64], usize)> = case.probabilities.iter().map(Vec::as_slice).zip(case.y_true.iter().copied()).collect();
            let t = fit(&clips).unwrap();
            assert!((t - case.temperature).abs() < 1e-6 * case.temperature, "{}: T {t} vs SciPy's {}", case.name, case.temperature);
            assert!((log_loss(&clips, 1.0) - case.log_loss[0]).abs() < 1e-12, "{}: log loss before", case.name);
            assert!((log_loss(&clips, t) - case.log_loss[1]).abs() < 1e-9, "{}: log loss after", case.name);
            assert!(log_loss(&clips, t) <= log_loss(&clips, t * 1.01) && log_loss(&clips, t) <= log_loss(&clips, t / 1.01), "{}: a minimum", case.name);
        }
    }

    #[test]
    fn rescaling_keeps_the_predicted_class_and_separable_val_clips_leave_t_at_1() {
        let p = [0.7, 0.2, 0.1, 0.0];
        let soft = rescale(&p, 0.5);
        assert!((soft.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(soft[0] < 0.7 && soft[0] > soft[1] && soft[1] > soft[2] && soft[3] > 0.0, "{soft:?}");
        let same = rescale(&p, 1.0);
        assert!(same.iter().zip(&p).all(|(a, b)| (a - b).abs() < 1e-12), "{same:?}");
        let sharp = rescale(&p, 2.0);
        assert!((sharp[0] - 0.49 / (0.49 + 0.04 + 0.01)).abs() < 1e-12, "{sharp:?}");
        // Every val clip right: the likelihood grows without end as T falls, so no T is best.
        let right: Vec<(&[f64], usize)> = vec![(&[0.6, 0.4][..], 0), (&[0.3, 0.7][..], 1)];
        assert_eq!(fit(&right), None);
        // One wrong among them: a finite best T, below 1 (the right ones sharpen).
        let mixed: Vec<(&[f64], usize)> = vec![(&[0.6, 0.4][..], 0), (&[0.3, 0.7][..], 1), (&[0.45, 0.55][..], 0)];
        let t = fit(&mixed).unwrap();
        assert!(t > BOUNDS.0 && t < 1.0, "{t}");
        let wrong: Vec<(&[f64], usize)> = vec![(&[0.6, 0.4][..], 1), (&[0.3, 0.7][..], 0)];
        assert_eq!(fit(&wrong), Some(BOUNDS.1));
    }
}
