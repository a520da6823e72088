//! `report/model.txt`: what was trained on what, and how well it fits.

use std::fmt::Write as _;
use std::path::Path;

use vox_api::audio::Split;
use vox_api::labels::LabelSet;
use vox_api::predictions::Predictions;

use crate::data::TrainingData;
use crate::error::ClassicError;
use crate::model::FittedModel;

/// The report file name inside the report folder.
pub const MODEL_REPORT: &str = "model.txt";
/// How many features the importance table lists.
const TOP_FEATURES: usize = 20;

/// Everything `model.txt` shows.
pub struct ModelReport<'a> {
    /// The model kind's name, e.g. `random-forest`.
    pub model_name: &'a str,
    /// The resolved params (a JSON object), rendered as `key = value` lines.
    pub params: &'a serde_json::Value,
    /// The training data.
    pub training: &'a TrainingData<'a>,
    /// The label set of the data (for class descriptions).
    pub labels: &'a LabelSet,
    /// Weight of each class, aligned with the training classes.
    pub class_weights: &'a [f64],
    /// Feature names, in column order.
    pub features: &'a [String],
    /// The fitted model.
    pub model: &'a FittedModel,
    /// The predictions for every clip.
    pub predictions: &'a Predictions,
}

impl ModelReport<'_> {
    /// Writes [`MODEL_REPORT`] into `report_dir`.
    pub fn write(&self, report_dir: &Path) -> Result<(), ClassicError> {
        let path = report_dir.join(MODEL_REPORT);
        std::fs::write(&path, self.render()).map_err(|source| ClassicError::Io { path, source })
    }

    /// The report text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "model: {}", self.model_name);
        let _ = writeln!(out, "params:");
        if let Some(params) = self.params.as_object() {
            for (key, value) in params {
                let _ = writeln!(out, "  {key} = {value}");
            }
        }
        let _ = writeln!(out, "features: {}", self.features.len());
        let _ = writeln!(out, "train clips: {}", self.training.labels.len());
        let _ = writeln!(out, "  class  name       clips  weight");
        for ((class, count), weight) in self
            .training
            .classes
            .iter()
            .zip(self.training.class_counts())
            .zip(self.class_weights)
        {
            let description = self.labels.index_of(class).map_or("", |i| self.labels.description(i));
            let _ = writeln!(out, "  {class:<5}  {description:<9}  {count:>5}  {weight:.4}");
        }
        for split in [Split::Train, Split::Val, Split::Test] {
            if let Some((accuracy, n)) = accuracy(self.predictions, split) {
                let name = format!("{split:?}").to_lowercase();
                let _ = writeln!(out, "{name} accuracy: {accuracy:.4} ({n} labeled clips)");
            }
        }
        match self.model {
            FittedModel::RandomForest(forest) => {
                let _ = writeln!(
                    out,
                    "feature importances (mean decrease in Gini impurity, top {TOP_FEATURES}):"
                );
                let mut ranked: Vec<(usize, f64)> =
                    forest.importances.iter().copied().enumerate().collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                for (rank, (feature, importance)) in ranked.iter().take(TOP_FEATURES).enumerate() {
                    let _ = writeln!(
                        out,
                        "  {:>2}. {:<40} {importance:.4}",
                        rank + 1,
                        self.features[*feature]
                    );
                }
            }
            FittedModel::Logistic(linear) | FittedModel::LinearSvm(linear) => {
                let _ = writeln!(out, "standardization: {}", linear.standardizer.source);
            }
            FittedModel::Knn(knn) => {
                let _ = writeln!(out, "standardization: {}", knn.standardizer.source);
            }
            FittedModel::RbfSvm(svm) => {
                let _ = writeln!(out, "gamma: {}", svm.gamma);
                let _ = writeln!(out, "support vectors: {}", svm.support_vectors.len());
                let _ = writeln!(out, "standardization: {}", svm.standardizer.source);
            }
            FittedModel::Mlp(mlp) => {
                let sizes: Vec<String> = mlp.layers.iter().map(|l| l.biases.len().to_string()).collect();
                let _ = writeln!(out, "layers: {} -> {}", self.features.len(), sizes.join(" -> "));
                let _ = writeln!(out, "epochs: {}, final training loss {:.6}", mlp.epochs, mlp.loss);
                let _ = writeln!(out, "standardization: {}", mlp.standardizer.source);
            }
            FittedModel::HistGradientBoosting(boosting) => {
                let trees = boosting.iterations.iter().flatten();
                let leaves: usize = trees.clone().map(|t| t.leaves.len()).sum();
                let _ = writeln!(
                    out,
                    "trees: {} ({} iterations x {} per iteration), {leaves} leaves",
                    trees.count(),
                    boosting.iterations.len(),
                    boosting.baseline.len()
                );
            }
        }
        out
    }
}

/// Accuracy over the labeled clips of `split` whose label the model knows, and their number;
/// `None` when there are none.
pub fn accuracy(predictions: &Predictions, split: Split) -> Option<(f64, usize)> {
    let labeled: Vec<bool> = predictions
        .split(split)
        .filter_map(|row| row.label.as_deref().map(|label| predictions.predicted(row) == label))
        .collect();
    let correct = labeled.iter().filter(|&&c| c).count();
    (!labeled.is_empty()).then(|| (correct as f64 / labeled.len() as f64, labeled.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use vox_api::predictions::Prediction;

    #[test]
    fn accuracy_counts_labeled_clips_of_one_split() {
        let row = |split, label, p: f64| Prediction {
            file_id: String::new(),
            split,
            label,
            probabilities: vec![p, 1.0 - p],
        };
        let predictions = Predictions {
            labels: LabelSet::from_names(["01", "04"]).unwrap(),
            classes: vec!["01".into(), "04".into()],
            rows: vec![
                row(Split::Val, Some("01".into()), 0.9),
                row(Split::Val, Some("01".into()), 0.2),
                row(Split::Val, Some("04".into()), 0.1),
                row(Split::Val, None, 0.1),
                row(Split::Train, Some("04".into()), 0.9),
            ],
        };
        assert_eq!(accuracy(&predictions, Split::Val), Some((2.0 / 3.0, 3)));
        assert_eq!(accuracy(&predictions, Split::Train), Some((0.0, 1)));
        assert_eq!(accuracy(&predictions, Split::Test), None);
    }
}
