//! An audio set's `audio.f32` read clip by clip with positioned reads, so that stages which
//! rewrite a set (pad, trim, augment) never hold it whole, and the one conversion between
//! samples and the file's little-endian f32 bytes.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use vox_api::audio::{AudioSetError, Clip, SAMPLES};

use crate::error::AudioError;

/// An audio set's `audio.f32`, read clip by clip.
pub(crate) struct SampleFile {
    /// Its path, for errors.
    path: PathBuf,
    /// The open file.
    file: File,
    /// Its length in samples.
    samples: u64,
}

impl SampleFile {
    /// Opens `dir/audio.f32`.
    pub(crate) fn open(dir: &Path) -> Result<Self, AudioError> {
        let path = dir.join(SAMPLES);
        let io_err = |source| AudioError::Io { path: path.clone(), source };
        let file = File::open(&path).map_err(io_err)?;
        let samples = file.metadata().map_err(io_err)?.len() / 4;
        Ok(Self { path, file, samples })
    }

    /// Reads the bytes of `out.len() / 4` samples from sample `offset` on into `out`.
    pub(crate) fn read_at(&self, offset: u64, out: &mut [u8]) -> Result<(), AudioError> {
        let io_err = |source| AudioError::Io { path: self.path.clone(), source };
        self.file.read_exact_at(out, offset * 4).map_err(io_err)
    }

    /// An error unless `clip` lies within the file.
    pub(crate) fn check(&self, clip: &Clip) -> Result<(), AudioSetError> {
        let end = clip.offset + clip.length;
        if end > self.samples {
            return Err(AudioSetError::OutOfRange {
                path: self.path.clone(),
                file_id: clip.file_id.clone(),
                offset: clip.offset,
                end,
                available: self.samples,
            });
        }
        Ok(())
    }
}

/// Samples from their little-endian f32 bytes (`audio.f32`'s layout) into `out`, replacing its
/// contents.
pub(crate) fn samples_from_bytes(bytes: &[u8], out: &mut Vec<f32>) {
    out.clear();
    out.extend(bytes.as_chunks::<4>().0.iter().map(|b| f32::from_le_bytes(*b)));
}

/// `samples` as little-endian f32 bytes into `bytes`, replacing its contents.
pub(crate) fn bytes_from_samples(samples: &[f32], bytes: &mut Vec<u8>) {
    bytes.resize(samples.len() * 4, 0);
    for (out, sample) in bytes.as_chunks_mut::<4>().0.iter_mut().zip(samples) {
        *out = sample.to_le_bytes();
    }
}
