//! The error of the CSV files that artifacts are made of (`features.csv`, `predictions.csv`,
//! `history.csv`): the file could not be read or written, or a line breaks its format.

use std::path::PathBuf;

/// Failure to read or write one CSV file of an artifact.
#[derive(Debug, thiserror::Error)]
pub enum CsvFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: csv::Error,
    },
    /// A header or cell is not what the format requires.
    #[error("{path}:{line}: {message}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// One-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
}
