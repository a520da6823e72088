//! Streaming writes of an audio set: clips are appended one at a time and their samples go
//! straight to `audio.f32`, so a stage never holds a second, concatenated copy of the set.
//! The files are byte-identical to [`AudioSet::write`]'s.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use vox_api::audio::{AudioSet, Clip, SAMPLES};

use crate::error::AudioError;

/// An audio set being written into a folder.
pub(crate) struct AudioSetWriter {
    /// The folder.
    dir: PathBuf,
    /// `audio.f32`, open for writing.
    samples: File,
    /// Manifest rows so far, offsets and lengths set.
    clips: Vec<Clip>,
    /// Samples written so far.
    written: u64,
    /// A reused buffer for one clip's little-endian bytes.
    bytes: Vec<u8>,
}

impl AudioSetWriter {
    /// Starts an audio set in `dir` (which must exist).
    pub(crate) fn create(dir: &Path) -> Result<Self, AudioError> {
        let path = dir.join(SAMPLES);
        let samples = File::create(&path).map_err(|source| AudioError::Io { path, source })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            samples,
            clips: Vec::new(),
            written: 0,
            bytes: Vec::new(),
        })
    }

    /// Appends `clip` with `samples`, setting its `offset` and `length`.
    pub(crate) fn push(&mut self, clip: Clip, samples: &[f32]) -> Result<(), AudioError> {
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.resize(samples.len() * 4, 0);
        for (out, sample) in bytes.as_chunks_mut::<4>().0.iter_mut().zip(samples) {
            *out = sample.to_le_bytes();
        }
        let result = self.push_bytes(clip, &bytes);
        self.bytes = bytes;
        result
    }

    /// Appends `clip` with samples given as little-endian f32 bytes (a multiple of 4 long).
    pub(crate) fn push_bytes(&mut self, mut clip: Clip, bytes: &[u8]) -> Result<(), AudioError> {
        clip.offset = self.written;
        clip.length = (bytes.len() / 4) as u64;
        self.samples.write_all(bytes).map_err(|source| self.io_error(source))?;
        self.written += clip.length;
        self.clips.push(clip);
        Ok(())
    }

    /// Whether no clip has been appended yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.clips.is_empty()
    }

    /// Writes `manifest.csv` and closes `audio.f32`; returns the clips and the sample count.
    pub(crate) fn finish(self) -> Result<(Vec<Clip>, u64), AudioError> {
        AudioSet::write_manifest(&self.clips, &self.dir)?;
        Ok((self.clips, self.written))
    }

    /// An I/O error on `audio.f32`.
    fn io_error(&self, source: std::io::Error) -> AudioError {
        AudioError::Io { path: self.dir.join(SAMPLES), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::clip;
    use vox_api::audio::MANIFEST;
    use vox_api::emotion::Emotion;

    #[test]
    fn writes_the_same_bytes_as_audio_set_write() {
        let (a, b) = (clip("a", Some(Emotion::Sad), "01"), clip("b", None, ""));
        let (xa, xb) = ([0.5f32, -0.25, 1e-7], [f32::MIN_POSITIVE, -1.0]);
        let mut set = AudioSet::default();
        set.push(a.clone(), &xa);
        set.push(b.clone(), &xb);
        let expected = tempfile::tempdir().unwrap();
        set.write(expected.path()).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let mut writer = AudioSetWriter::create(dir.path()).unwrap();
        writer.push(a, &xa).unwrap();
        let bytes: Vec<u8> = xb.iter().flat_map(|s| s.to_le_bytes()).collect();
        writer.push_bytes(b, &bytes).unwrap();
        let (clips, written) = writer.finish().unwrap();
        assert_eq!(written, 5);
        assert_eq!((clips[1].offset, clips[1].length), (3, 2));
        for name in [MANIFEST, SAMPLES] {
            let read = |dir: &Path| std::fs::read(dir.join(name)).unwrap();
            assert_eq!(read(dir.path()), read(expected.path()), "{name}");
        }
    }
}
