//! Writing the stage's tables and documents: CSV, pretty JSON and plain text, with errors that
//! name the file.

use std::path::Path;

use serde::Serialize;

use crate::error::ReportError;

/// Writes a CSV file with `header` and `rows` of already formatted cells.
pub fn write_csv<R, C>(path: &Path, header: &[&str], rows: R) -> Result<(), ReportError>
where
    R: IntoIterator<Item = Vec<C>>,
    C: AsRef<[u8]>,
{
    let csv_err = |source| ReportError::Csv { path: path.to_path_buf(), source };
    let mut writer = csv::Writer::from_path(path).map_err(csv_err)?;
    writer.write_record(header).map_err(csv_err)?;
    for row in rows {
        writer.write_record(row).map_err(csv_err)?;
    }
    writer.flush().map_err(ReportError::io(path))
}

/// Writes `value` as pretty-printed JSON with a final newline.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), ReportError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|source| ReportError::Json { path: path.to_path_buf(), source })?;
    text.push('\n');
    write_text(path, &text)
}

/// Writes `text` to `path`.
pub fn write_text(path: &Path, text: &str) -> Result<(), ReportError> {
    std::fs::write(path, text).map_err(ReportError::io(path))
}

/// Creates `dir` and its parents.
pub fn create_dir(dir: &Path) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(ReportError::io(dir))
}
