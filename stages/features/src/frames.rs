//! The frame-matrix output of spectrogram sets with `output = "frames"`.
//!
//! Layout, beside `features.csv` (which then holds the clip functionals, so the folder stays a
//! valid feature table):
//! - `frames.f32`: little-endian `f32`, each clip's `n_frames x n_coefficients` matrix in
//!   row-major order (frame after frame), clips concatenated in manifest order;
//! - `frames_index.csv`: `file_id,offset,n_frames` per clip, `offset` counted in `f32` values
//!   from the start of `frames.f32`;
//! - `frames_columns.csv`: header `coefficient`, then the `n_coefficients` column names in
//!   order (`mfcc0`.. or `logmel0`.., then `..._delta` when deltas are on).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::error::FeaturesError;

/// The matrix file name.
pub const FRAMES: &str = "frames.f32";
/// The per-clip index file name.
pub const FRAMES_INDEX: &str = "frames_index.csv";
/// The column-name file name.
pub const FRAMES_COLUMNS: &str = "frames_columns.csv";

/// One clip's frame matrix.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClipFrames {
    /// Number of frames (rows).
    pub n_frames: usize,
    /// Row-major values, `n_frames * n_coefficients`.
    pub values: Vec<f32>,
}

/// Writes the three frame files into `dir`.
pub fn write(dir: &Path, columns: &[String], clips: &[(&str, &ClipFrames)]) -> Result<(), FeaturesError> {
    let path = dir.join(FRAMES);
    let io_err = |source| FeaturesError::Io { path: path.clone(), source };
    let mut out = BufWriter::new(File::create(&path).map_err(io_err)?);
    let mut bytes = Vec::new();
    for (_, f) in clips {
        bytes.clear();
        bytes.extend(f.values.iter().flat_map(|v| v.to_le_bytes()));
        out.write_all(&bytes).map_err(io_err)?;
    }
    out.flush().map_err(io_err)?;

    let path = dir.join(FRAMES_INDEX);
    let csv_err = |source| FeaturesError::Csv { path: path.clone(), source };
    let mut w = csv::Writer::from_path(&path).map_err(csv_err)?;
    w.write_record(["file_id", "offset", "n_frames"]).map_err(csv_err)?;
    let mut offset = 0usize;
    for (id, f) in clips {
        w.write_record([*id, &offset.to_string(), &f.n_frames.to_string()]).map_err(csv_err)?;
        offset += f.values.len();
    }
    w.flush().map_err(|source| FeaturesError::Io { path: path.clone(), source })?;

    let path = dir.join(FRAMES_COLUMNS);
    let csv_err = |source| FeaturesError::Csv { path: path.clone(), source };
    let mut w = csv::Writer::from_path(&path).map_err(csv_err)?;
    w.write_record(["coefficient"]).map_err(csv_err)?;
    for c in columns {
        w.write_record([c]).map_err(csv_err)?;
    }
    w.flush().map_err(|source| FeaturesError::Io { path: path.clone(), source })
}
