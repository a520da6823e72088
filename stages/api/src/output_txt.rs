//! `output.txt`: the class probabilities of unlabeled clips in the reference submission format.
//!
//! ```text
//! file_id | 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 |
//! clip_0001 | 0.0100 | 0.0200 | 0.7000 | 0.0300 | 0.1000 | 0.0500 | 0.0400 | 0.0500 |
//! ```
//!
//! The header lists every class of the label set, in its order (RAVDESS's codes `01`..`08` for
//! the reference experiment), and every row has one probability per class with [`DECIMALS`]
//! decimals, in clip order. A class the model was trained without has no column in
//! `predictions.csv`; its probability is written as `0` (with the same decimals) so that the
//! format stays exact, and the stage logs a warning naming those classes: nothing in the file
//! itself marks them.

use crate::labels::LabelSet;
use crate::predictions::Prediction;

/// Decimals of every probability.
pub const DECIMALS: usize = 4;

/// The classes of `labels` that the model's `classes` lack (written as 0).
pub fn missing_classes<'a>(labels: &'a LabelSet, classes: &[String]) -> Vec<&'a str> {
    labels.names().filter(|name| !classes.iter().any(|c| c == name)).collect()
}

/// The text of `output.txt` for `rows`, whose probabilities align with `classes`, under the
/// columns of `labels`.
pub fn render<'a>(labels: &LabelSet, classes: &[String], rows: impl IntoIterator<Item = &'a Prediction>) -> String {
    let columns: Vec<Option<usize>> = labels.names().map(|name| classes.iter().position(|c| c == name)).collect();
    let mut text = String::from("file_id |");
    for name in labels.names() {
        text += &format!(" {name} |");
    }
    text.push('\n');
    for row in rows {
        text += &row.file_id;
        text += " |";
        for column in &columns {
            let p = column.and_then(|i| row.probabilities.get(i)).copied().unwrap_or(0.0);
            text += &format!(" {p:.DECIMALS$} |");
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Split;

    /// RAVDESS's eight codes, the reference experiment's classes.
    fn ravdess() -> LabelSet {
        LabelSet::from_names(["01", "02", "03", "04", "05", "06", "07", "08"]).unwrap()
    }

    fn row(id: &str, probabilities: &[f64]) -> Prediction {
        Prediction { file_id: id.into(), split: Split::Test, label: None, probabilities: probabilities.to_vec() }
    }

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn writes_every_class_of_the_set_with_missing_classes_as_zero() {
        let classes = names(&["01", "03", "05"]);
        let rows = [row("clip_0001", &[0.125, 0.5, 0.375]), row("b", &[1.0 / 3.0, 0.00004, 0.66666])];
        assert_eq!(
            render(&ravdess(), &classes, &rows),
            "file_id | 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 |\n\
             clip_0001 | 0.1250 | 0.0000 | 0.5000 | 0.0000 | 0.3750 | 0.0000 | 0.0000 | 0.0000 |\n\
             b | 0.3333 | 0.0000 | 0.0000 | 0.0000 | 0.6667 | 0.0000 | 0.0000 | 0.0000 |\n"
        );
        assert_eq!(missing_classes(&ravdess(), &classes), ["02", "04", "06", "07", "08"]);
        let all: Vec<String> = ravdess().names().map(String::from).collect();
        assert!(missing_classes(&ravdess(), &all).is_empty());
    }

    #[test]
    fn any_label_set_in_its_own_order() {
        let labels = LabelSet::from_names(["neu", "hap", "ang", "sad"]).unwrap();
        let classes = names(&["neu", "ang", "sad"]);
        assert_eq!(
            render(&labels, &classes, &[row("Ses05F_impro01_F000", &[0.5, 0.25, 0.25])]),
            "file_id | neu | hap | ang | sad |\nSes05F_impro01_F000 | 0.5000 | 0.0000 | 0.2500 | 0.2500 |\n"
        );
    }

    #[test]
    fn header_only_without_rows() {
        let all: Vec<String> = ravdess().names().map(String::from).collect();
        assert_eq!(render(&ravdess(), &all, &[]), "file_id | 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 |\n");
    }
}
