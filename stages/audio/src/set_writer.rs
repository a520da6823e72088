//! Writes of an audio set that never hold it whole, in parallel: each clip's manifest row is
//! appended in order ([`ClipRows::place`]), which fixes where its samples go in `audio.f32`
//! (after every earlier clip's), and the samples are written at that position
//! ([`SampleWriter`]) from any thread, in any order, with positioned writes into one shared
//! file. The files are byte-identical to [`AudioSet::write`]'s whatever the thread count.

use std::cell::RefCell;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use vox_api::audio::{AudioSet, Clip, SAMPLES};

use crate::error::AudioError;

thread_local! {
    /// This thread's buffer for one clip's little-endian bytes, reused from clip to clip (a
    /// clip is one positioned write: each write takes the file's lock in the kernel).
    static BYTES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Starts an audio set in `dir` (which must exist): its manifest rows and its `audio.f32`.
pub(crate) fn create(dir: &Path) -> Result<(ClipRows, SampleWriter), AudioError> {
    let path = dir.join(SAMPLES);
    let file =
        File::create(&path).map_err(|source| AudioError::Io { path: path.clone(), source })?;
    Ok((
        ClipRows { dir: dir.to_path_buf(), clips: Vec::new(), placed: 0 },
        SampleWriter { path, file },
    ))
}

/// The manifest rows of an audio set being written, in order.
pub(crate) struct ClipRows {
    /// The folder.
    dir: PathBuf,
    /// Rows so far, offsets and lengths set.
    clips: Vec<Clip>,
    /// Samples placed so far: where the next clip's go.
    placed: u64,
}

impl ClipRows {
    /// Appends `clip`'s row with `length` samples, setting its `offset` and `length`; returns
    /// the offset (in samples) its samples must be written at.
    pub(crate) fn place(&mut self, mut clip: Clip, length: u64) -> u64 {
        let offset = self.placed;
        clip.offset = offset;
        clip.length = length;
        self.placed += length;
        self.clips.push(clip);
        offset
    }

    /// Whether no clip has been placed yet.
    pub(crate) fn is_empty(&self) -> bool {
        self.clips.is_empty()
    }

    /// Writes `manifest.csv` and closes `samples` at the placed length (once every clip's
    /// samples are written); returns the clips and the sample count.
    pub(crate) fn finish(self, samples: SampleWriter) -> Result<(Vec<Clip>, u64), AudioError> {
        samples.file.set_len(self.placed * 4).map_err(|source| samples.io_error(source))?;
        AudioSet::write_manifest(&self.clips, &self.dir)?;
        Ok((self.clips, self.placed))
    }
}

/// `audio.f32` of an audio set being written; shared by the threads that write it.
pub(crate) struct SampleWriter {
    /// Its path, for errors.
    path: PathBuf,
    /// The open file (positioned writes need only `&File`).
    file: File,
}

impl SampleWriter {
    /// Writes `samples` as little-endian f32 from sample `offset` on.
    pub(crate) fn write_at(&self, offset: u64, samples: &[f32]) -> Result<(), AudioError> {
        BYTES.with_borrow_mut(|bytes| {
            bytes.resize(samples.len() * 4, 0);
            for (out, sample) in bytes.as_chunks_mut::<4>().0.iter_mut().zip(samples) {
                *out = sample.to_le_bytes();
            }
            self.write_bytes_at(offset, bytes)
        })
    }

    /// Writes samples given as little-endian f32 bytes (a multiple of 4 long) from sample
    /// `offset` on.
    pub(crate) fn write_bytes_at(&self, offset: u64, bytes: &[u8]) -> Result<(), AudioError> {
        self.file.write_all_at(bytes, offset * 4).map_err(|source| self.io_error(source))
    }

    /// An I/O error on the file.
    fn io_error(&self, source: std::io::Error) -> AudioError {
        AudioError::Io { path: self.path.clone(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::clip;
    use rayon::prelude::*;
    use vox_api::audio::MANIFEST;
    use vox_api::emotion::Emotion;

    /// `manifest.csv` and `audio.f32` of two folders are byte-identical.
    fn assert_same_files(dir: &Path, expected: &Path) {
        for name in [MANIFEST, SAMPLES] {
            let read = |dir: &Path| std::fs::read(dir.join(name)).unwrap();
            assert_eq!(read(dir), read(expected), "{name}");
        }
    }

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
        let (mut rows, samples) = create(dir.path()).unwrap();
        let (oa, ob) = (rows.place(a, 3), rows.place(b, 2));
        assert_eq!((oa, ob), (0, 3));
        // The later clip first, one as samples, one as bytes.
        let bytes: Vec<u8> = xb.iter().flat_map(|s| s.to_le_bytes()).collect();
        samples.write_bytes_at(ob, &bytes).unwrap();
        samples.write_at(oa, &xa).unwrap();
        let (clips, written) = rows.finish(samples).unwrap();
        assert_eq!(written, 5);
        assert_eq!((clips[1].offset, clips[1].length), (3, 2));
        assert_same_files(dir.path(), expected.path());
    }

    #[test]
    fn parallel_writes_match_the_sequential_set_with_a_gap_for_a_skipped_clip() {
        // 40 clips of varied lengths (0 to 19993 samples), clip 17 left out as a
        // skipped file is, written by 4 threads in reverse order of placement.
        let lengths: Vec<usize> = (0..40).map(|i| (i * 7919) % 20000).collect();
        let signal = |i: usize| -> Vec<f32> {
            (0..lengths[i]).map(|n| ((i * 1000 + n) as f32 * 0.37).sin()).collect()
        };
        let kept: Vec<usize> = (0..40).filter(|&i| i != 17).collect();
        let mut set = AudioSet::default();
        for &i in &kept {
            set.push(clip(&format!("c{i:02}"), None, ""), &signal(i));
        }
        let expected = tempfile::tempdir().unwrap();
        set.write(expected.path()).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let (mut rows, samples) = create(dir.path()).unwrap();
        let offsets: Vec<(usize, u64)> = kept
            .iter()
            .map(|&i| (i, rows.place(clip(&format!("c{i:02}"), None, ""), lengths[i] as u64)))
            .collect();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(4).build().unwrap();
        pool.install(|| {
            offsets
                .par_iter()
                .rev()
                .try_for_each(|&(i, offset)| samples.write_at(offset, &signal(i)))
        })
        .unwrap();
        let (clips, written) = rows.finish(samples).unwrap();
        assert_eq!(clips.len(), 39);
        assert_eq!(written, kept.iter().map(|&i| lengths[i] as u64).sum::<u64>());
        assert!(lengths.contains(&0));
        assert_same_files(dir.path(), expected.path());
    }
}
