//! `rows.f64`: every clip's feature row, the work the folds of a cross-validation share
//! (`vox_api::memo`): little-endian f64, clip-major in manifest order, the set's features in
//! order. Binary, so that a fold reads back exactly the bits it would have computed.

use std::path::Path;

use crate::error::FeaturesError;

/// The file name.
pub const ROWS: &str = "rows.f64";

/// Writes `rows` into `dir`.
pub fn write(dir: &Path, rows: &[Vec<f64>]) -> Result<(), FeaturesError> {
    let path = dir.join(ROWS);
    let bytes: Vec<u8> = rows.iter().flatten().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&path, bytes).map_err(|source| FeaturesError::Io { path, source })
}

/// Reads `clips` rows of `features` values each from `dir`.
pub fn read(dir: &Path, clips: usize, features: usize) -> Result<Vec<Vec<f64>>, FeaturesError> {
    let path = dir.join(ROWS);
    let bytes = std::fs::read(&path).map_err(|source| FeaturesError::Io { path: path.clone(), source })?;
    let expected = clips * features * 8;
    if bytes.len() != expected {
        return Err(FeaturesError::SharedRows { path, expected, found: bytes.len() });
    }
    if features == 0 {
        return Ok(vec![Vec::new(); clips]);
    }
    let values: Vec<f64> = bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or_default())).collect();
    Ok(values.chunks(features).map(<[f64]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_bit_for_bit_and_a_short_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![vec![1.5, -0.0, f64::MIN_POSITIVE], vec![f64::NAN, 2.0 / 3.0, 1e300]];
        write(dir.path(), &rows).unwrap();
        let back = read(dir.path(), 2, 3).unwrap();
        let bits = |r: &[Vec<f64>]| r.iter().flatten().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&rows));
        let err = read(dir.path(), 3, 3).unwrap_err().to_string();
        assert!(err.contains("rows.f64") && err.contains("72") && err.contains("48"), "{err}");
    }
}
