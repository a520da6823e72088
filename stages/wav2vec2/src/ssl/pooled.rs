//! Pooled hidden states: per clip, per hidden state (0 = embedded input .. L = last layer),
//! the mean and the standard deviation over the clip's valid frames.
//!
//! Files in an `ssl-states` output folder, beside the audio set's `manifest.csv`:
//! - `states.json`: `{"format": 1, "clips": N, "states": L + 1, "hidden": H, "stats": ["mean", "std"]}`;
//! - `states.f32`: little-endian f32, clip-major: for each clip (manifest order), for each
//!   hidden state, `H` means then `H` standard deviations.
//!
//! Binary, not CSV: an XLSR-large set keeps 25 x 2 x 1024 numbers per clip (about 300 MB for
//! RAVDESS's 1440 clips), which a CSV would triple and parse slowly.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

use crate::kernels::{self, Kernels};

/// The layout file's name.
pub const LAYOUT_FILE: &str = "states.json";
/// The values file's name.
pub const VALUES_FILE: &str = "states.f32";
/// The statistics kept per hidden state, in file order.
pub const STATS: [&str; 2] = ["mean", "std"];

/// The shape of a `states.f32`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// Format version.
    pub format: u32,
    /// Clips, in manifest order.
    pub clips: usize,
    /// Hidden states per clip (`num_hidden_layers + 1`).
    pub states: usize,
    /// Width of each hidden state.
    pub hidden: usize,
}

impl Layout {
    /// Values per clip.
    pub fn per_clip(&self) -> usize {
        self.states * STATS.len() * self.hidden
    }
}

/// Failures reading or writing pooled states.
#[derive(Debug, thiserror::Error)]
pub enum PooledError {
    /// A file could not be read or written.
    #[error("cannot access `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// `states.json` is not a layout.
    #[error("`{path}` is not a pooled-states layout: {source}")]
    Layout {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
    /// `states.f32` is shorter or longer than its layout says.
    #[error("`{path}` holds {found} bytes; its layout says {expected}")]
    Size {
        /// The file.
        path: PathBuf,
        /// Bytes found.
        found: u64,
        /// Bytes expected.
        expected: u64,
    },
}

/// Writes pooled states clip by clip.
pub struct Writer {
    layout: Layout,
    out: BufWriter<File>,
    path: PathBuf,
    written: usize,
}

impl Writer {
    /// Creates `states.json` and `states.f32` in `dir`.
    pub fn create(dir: &Path, layout: Layout) -> Result<Self, PooledError> {
        let layout_path = dir.join(LAYOUT_FILE);
        let text = serde_json::to_string_pretty(&layout).map_err(|source| PooledError::Layout { path: layout_path.clone(), source })?;
        std::fs::write(&layout_path, text + "\n").map_err(|source| PooledError::Io { path: layout_path, source })?;
        let path = dir.join(VALUES_FILE);
        let file = File::create(&path).map_err(|source| PooledError::Io { path: path.clone(), source })?;
        Ok(Self { layout, out: BufWriter::new(file), path, written: 0 })
    }

    /// Appends one clip's values ([`Layout::per_clip`] of them).
    pub fn push(&mut self, values: &[f32]) -> Result<(), PooledError> {
        debug_assert_eq!(values.len(), self.layout.per_clip());
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.written += 1;
        self.out.write_all(&bytes).map_err(|source| PooledError::Io { path: self.path.clone(), source })
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<(), PooledError> {
        debug_assert_eq!(self.written, self.layout.clips);
        self.out.flush().map_err(|source| PooledError::Io { path: self.path, source })
    }
}

/// Reads pooled states clip by clip.
pub struct Reader {
    /// The shape.
    pub layout: Layout,
    input: BufReader<File>,
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Reader {
    /// Opens the pooled states in `dir`, checking the values file's size against the layout.
    pub fn open(dir: &Path) -> Result<Self, PooledError> {
        let layout_path = dir.join(LAYOUT_FILE);
        let text = std::fs::read_to_string(&layout_path).map_err(|source| PooledError::Io { path: layout_path.clone(), source })?;
        let layout: Layout = serde_json::from_str(&text).map_err(|source| PooledError::Layout { path: layout_path, source })?;
        let path = dir.join(VALUES_FILE);
        let file = File::open(&path).map_err(|source| PooledError::Io { path: path.clone(), source })?;
        let found = file.metadata().map_err(|source| PooledError::Io { path: path.clone(), source })?.len();
        let expected = (layout.clips * layout.per_clip() * 4) as u64;
        if found != expected {
            return Err(PooledError::Size { path, found, expected });
        }
        let bytes = vec![0; layout.per_clip() * 4];
        Ok(Self { layout, input: BufReader::new(file), path, bytes })
    }

    /// The next clip's values into `values` ([`Layout::per_clip`] of them).
    pub fn next_clip(&mut self, values: &mut Vec<f32>) -> Result<(), PooledError> {
        self.input.read_exact(&mut self.bytes).map_err(|source| PooledError::Io { path: self.path.clone(), source })?;
        values.clear();
        values.extend(self.bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])));
        Ok(())
    }
}

/// The mean and population standard deviation over the valid frames of each clip of one hidden
/// state `[batch, frames, hidden]`, as `[batch, 2 * hidden]` (means, then deviations). `valid`
/// is `[batch, frames]`, 1 at valid frames and 0 at padding; padded frames take no part, so a
/// clip pools to the same values whatever it is batched with (up to float rounding). One pass
/// per item on the CPU backends ([`kernels::masked_mean_std`]).
pub fn mean_std<B: Kernels>(state: Tensor<B, 3>, valid: &Tensor<B, 2>) -> Tensor<B, 2> {
    kernels::masked_mean_std(state, valid.clone())
}

/// Each clip's row of a batch ([`Layout::per_clip`] values): for every hidden state of
/// `states` (each `[batch, frames, hidden]`), its [`mean_std`] over the `valid` frames.
pub fn rows<B: Kernels>(states: Vec<Tensor<B, 3>>, valid: &Tensor<B, 2>) -> Result<Vec<Vec<f32>>, burn::tensor::DataError> {
    let pooled: Vec<Tensor<B, 2>> = states.into_iter().map(|s| mean_std(s, valid)).collect();
    let [batch, _] = valid.dims();
    let flat: Vec<f32> = Tensor::cat(pooled, 1).into_data().convert::<f32>().into_vec()?;
    Ok(flat.chunks(flat.len() / batch.max(1)).map(<[f32]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use burn::backend::NdArray;
    use burn::tensor::TensorData;

    use super::*;

    #[test]
    fn pooling_ignores_padded_frames() {
        let device = Default::default();
        // Clip 0: frames [1, 3] valid, then a padded frame of 100; clip 1: all three valid.
        let state = Tensor::<NdArray, 3>::from_data(
            TensorData::new(vec![1.0f32, 10.0, 3.0, 20.0, 100.0, 100.0, 2.0, 0.0, 4.0, 0.0, 6.0, 0.0], [2, 3, 2]),
            &device,
        );
        let valid = Tensor::<NdArray, 2>::from_data(TensorData::new(vec![1.0f32, 1.0, 0.0, 1.0, 1.0, 1.0], [2, 3]), &device);
        let pooled: Vec<f32> = mean_std(state, &valid).into_data().into_vec().unwrap();
        let sd = (8.0f32 / 3.0).sqrt();
        let expected = [2.0, 15.0, 1.0, 5.0, 4.0, 0.0, sd, 0.0];
        for (p, e) in pooled.iter().zip(expected) {
            assert!((p - e).abs() < 1e-5, "{pooled:?} vs {expected:?}");
        }
    }

    #[test]
    fn states_round_trip_and_a_short_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout { format: 1, clips: 2, states: 3, hidden: 2 };
        let mut writer = Writer::create(dir.path(), layout).unwrap();
        let a: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..12).map(|i| -(i as f32)).collect();
        writer.push(&a).unwrap();
        writer.push(&b).unwrap();
        writer.finish().unwrap();
        let mut reader = Reader::open(dir.path()).unwrap();
        assert_eq!(reader.layout, layout);
        let mut values = Vec::new();
        reader.next_clip(&mut values).unwrap();
        assert_eq!(values, a);
        reader.next_clip(&mut values).unwrap();
        assert_eq!(values, b);
        let file = std::fs::OpenOptions::new().write(true).open(dir.path().join(VALUES_FILE)).unwrap();
        file.set_len(90).unwrap();
        let err = Reader::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("holds 90 bytes; its layout says 96"), "{err}");
    }
}
