//! `output.txt`: the class probabilities of unlabeled clips in the reference submission format.
//!
//! ```text
//! file_id | 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 |
//! clip_0001 | 0.0100 | 0.0200 | 0.7000 | 0.0300 | 0.1000 | 0.0500 | 0.0400 | 0.0500 |
//! ```
//!
//! The header always lists all eight RAVDESS codes and every row has eight probabilities with
//! [`DECIMALS`] decimals, in clip order. A class the model was trained without has no column in
//! `predictions.csv`; its probability is written as `0` (with the same decimals) so that the
//! format stays exact, and the stage logs a warning naming those classes: nothing in the file
//! itself marks them.

use vox_api::emotion::Emotion;
use vox_api::predictions::Prediction;

/// Decimals of every probability.
pub const DECIMALS: usize = 4;

/// The classes of [`Emotion::ALL`] that `classes` lacks (written as 0).
pub fn missing_classes(classes: &[Emotion]) -> Vec<Emotion> {
    Emotion::ALL.into_iter().filter(|e| !classes.contains(e)).collect()
}

/// The text of `output.txt` for `rows`, whose probabilities align with `classes`.
pub fn render<'a>(classes: &[Emotion], rows: impl IntoIterator<Item = &'a Prediction>) -> String {
    let mut text = String::from("file_id |");
    for emotion in Emotion::ALL {
        text += &format!(" {} |", emotion.code());
    }
    text.push('\n');
    for row in rows {
        text += &row.file_id;
        text += " |";
        for emotion in Emotion::ALL {
            let p = classes
                .iter()
                .position(|c| *c == emotion)
                .and_then(|i| row.probabilities.get(i))
                .copied()
                .unwrap_or(0.0);
            text += &format!(" {p:.DECIMALS$} |");
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use vox_api::audio::Split;

    fn row(id: &str, probabilities: &[f64]) -> Prediction {
        Prediction {
            file_id: id.into(),
            split: Split::Test,
            label: None,
            probabilities: probabilities.to_vec(),
        }
    }

    #[test]
    fn writes_all_eight_codes_with_missing_classes_as_zero() {
        use Emotion::*;
        let classes = [Neutral, Happy, Angry];
        let rows = [row("clip_0001", &[0.125, 0.5, 0.375]), row("b", &[1.0 / 3.0, 0.00004, 0.66666])];
        assert_eq!(
            render(&classes, &rows),
            "file_id | 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 |\n\
             clip_0001 | 0.1250 | 0.0000 | 0.5000 | 0.0000 | 0.3750 | 0.0000 | 0.0000 | 0.0000 |\n\
             b | 0.3333 | 0.0000 | 0.0000 | 0.0000 | 0.6667 | 0.0000 | 0.0000 | 0.0000 |\n"
        );
        assert_eq!(missing_classes(&classes), [Calm, Sad, Fearful, Disgust, Surprised]);
        assert_eq!(missing_classes(&Emotion::ALL), []);
    }

    #[test]
    fn header_only_without_rows() {
        assert_eq!(render(&Emotion::ALL, &[]), "file_id | 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 |\n");
    }
}
