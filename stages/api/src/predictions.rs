//! The predictions artifact: `predictions.csv` with per-class probabilities.
