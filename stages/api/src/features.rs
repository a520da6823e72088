//! The features artifact: `features.csv` (`file_id` then one column per feature) beside the
//! audio set's `manifest.csv` (labels and splits, no samples).
