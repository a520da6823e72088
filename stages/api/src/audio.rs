//! The audio-set artifact: `manifest.csv` (one row per clip) plus `audio.f32` (every clip's
//! samples as little-endian f32, concatenated in manifest order).
//!
//! The manifest keeps the labels the corpus parser found (emotion code, intensity, statement,
//! repetition, speaker, sex), where the clip came from, its split once `split` has run, and its
//! original length before `pad`. The sample data is one flat file so that readers can map or
//! stream it without parsing.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::emotion::Emotion;

/// The manifest file name inside an audio-set folder.
pub const MANIFEST: &str = "manifest.csv";
/// The sample file name inside an audio-set folder.
pub const SAMPLES: &str = "audio.f32";

/// Which part of an experiment a clip belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Not split yet.
    #[default]
    #[serde(rename = "")]
    None,
    /// Training data.
    Train,
    /// Validation data (model selection, ensemble weights).
    Val,
    /// Held-out test data.
    Test,
}

/// One clip's row in `manifest.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    /// Unique id: the file name without extension.
    pub file_id: String,
    /// The corpus parser that labelled the clip (`ravdess`, `unlabeled`, ...).
    pub corpus: String,
    /// Speaker id within the corpus (RAVDESS: the actor number `01`..`24`); empty if unknown.
    pub speaker: String,
    /// `m`, `f` or empty.
    pub sex: String,
    /// The emotion label; absent for unlabeled clips.
    pub emotion: Option<Emotion>,
    /// Corpus-specific intensity (RAVDESS: `01` normal, `02` strong); empty if none.
    pub intensity: String,
    /// Corpus-specific statement id; empty if none.
    pub statement: String,
    /// Corpus-specific repetition id; empty if none.
    pub repetition: String,
    /// Train/val/test membership.
    pub split: Split,
    /// Path of the source file relative to the decoded folder.
    pub source: String,
    /// Sample rate of `audio.f32`, Hz.
    pub sample_rate: u32,
    /// Offset of the clip's first sample in `audio.f32`, in samples.
    pub offset: u64,
    /// Number of samples.
    pub length: u64,
    /// Number of samples after decoding and resampling, before any padding or cropping.
    pub original_length: u64,
}

/// A whole audio set in memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AudioSet {
    /// Clips in manifest order; `offset` indexes into `samples`.
    pub clips: Vec<Clip>,
    /// Every clip's samples, concatenated.
    pub samples: Vec<f32>,
}

/// Failure to read or write an audio set.
#[derive(Debug, thiserror::Error)]
pub enum AudioSetError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The manifest is not valid CSV of [`Clip`] rows.
    #[error("{path}: {source}")]
    Csv {
        /// The manifest.
        path: PathBuf,
        /// The cause.
        source: csv::Error,
    },
    /// A clip points outside `audio.f32`.
    #[error("{path}: clip `{file_id}` spans samples {offset}..{end} but the file holds {available}")]
    OutOfRange {
        /// The sample file.
        path: PathBuf,
        /// The clip.
        file_id: String,
        /// First sample.
        offset: u64,
        /// One past the last sample.
        end: u64,
        /// Samples in the file.
        available: u64,
    },
}

impl AudioSet {
    /// The samples of `clip`.
    pub fn samples_of(&self, clip: &Clip) -> &[f32] {
        &self.samples[clip.offset as usize..(clip.offset + clip.length) as usize]
    }

    /// Appends a clip, setting its `offset` and `length` from `samples`.
    pub fn push(&mut self, mut clip: Clip, samples: &[f32]) {
        clip.offset = self.samples.len() as u64;
        clip.length = samples.len() as u64;
        self.samples.extend_from_slice(samples);
        self.clips.push(clip);
    }

    /// Reads the clips of the audio set in `dir` without loading samples.
    pub fn read_manifest(dir: &Path) -> Result<Vec<Clip>, AudioSetError> {
        let path = dir.join(MANIFEST);
        let csv_err = |source| AudioSetError::Csv { path: path.clone(), source };
        let mut reader = csv::Reader::from_path(&path).map_err(csv_err)?;
        reader.deserialize().collect::<Result<Vec<Clip>, _>>().map_err(csv_err)
    }

    /// Reads the audio set in `dir`.
    pub fn read(dir: &Path) -> Result<Self, AudioSetError> {
        let clips = Self::read_manifest(dir)?;
        let path = dir.join(SAMPLES);
        let io_err = |source| AudioSetError::Io { path: path.clone(), source };
        let mut bytes = Vec::new();
        BufReader::new(File::open(&path).map_err(io_err)?).read_to_end(&mut bytes).map_err(io_err)?;
        let samples: Vec<f32> =
            bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        for clip in &clips {
            let end = clip.offset + clip.length;
            if end > samples.len() as u64 {
                return Err(AudioSetError::OutOfRange {
                    path,
                    file_id: clip.file_id.clone(),
                    offset: clip.offset,
                    end,
                    available: samples.len() as u64,
                });
            }
        }
        Ok(Self { clips, samples })
    }

    /// Writes only `manifest.csv` for `clips` into `dir` (features and predictions carry labels
    /// without samples).
    pub fn write_manifest(clips: &[Clip], dir: &Path) -> Result<(), AudioSetError> {
        let path = dir.join(MANIFEST);
        let csv_err = |source| AudioSetError::Csv { path: path.clone(), source };
        let mut writer = csv::Writer::from_path(&path).map_err(csv_err)?;
        for clip in clips {
            writer.serialize(clip).map_err(csv_err)?;
        }
        writer.flush().map_err(|source| AudioSetError::Io { path, source })
    }

    /// Writes the audio set into `dir` (which must exist).
    pub fn write(&self, dir: &Path) -> Result<(), AudioSetError> {
        Self::write_manifest(&self.clips, dir)?;
        let path = dir.join(SAMPLES);
        let io_err = |source| AudioSetError::Io { path: path.clone(), source };
        let mut out = BufWriter::new(File::create(&path).map_err(io_err)?);
        for chunk in self.samples.chunks(8192) {
            let bytes: Vec<u8> = chunk.iter().flat_map(|s| s.to_le_bytes()).collect();
            out.write_all(&bytes).map_err(io_err)?;
        }
        out.flush().map_err(io_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(id: &str, emotion: Option<Emotion>) -> Clip {
        Clip {
            file_id: id.into(),
            corpus: "ravdess".into(),
            speaker: "01".into(),
            sex: "m".into(),
            emotion,
            intensity: "01".into(),
            statement: "01".into(),
            repetition: "01".into(),
            split: Split::None,
            source: format!("Actor_01/{id}.wav"),
            sample_rate: 16000,
            offset: 0,
            length: 0,
            original_length: 3,
        }
    }

    #[test]
    fn round_trips_through_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = AudioSet::default();
        set.push(clip("a", Some(Emotion::Angry)), &[0.5, -0.25, 1.0]);
        let mut b = clip("b", None);
        b.split = Split::Val;
        set.push(b, &[0.125]);
        set.write(dir.path()).unwrap();
        let back = AudioSet::read(dir.path()).unwrap();
        assert_eq!(back, set);
        assert_eq!(back.samples_of(&back.clips[1]), &[0.125]);
        let manifest = std::fs::read_to_string(dir.path().join(MANIFEST)).unwrap();
        assert!(manifest.contains(",05,"), "{manifest}");
        assert!(manifest.contains(",val,"), "{manifest}");
    }

    #[test]
    fn rejects_clips_beyond_the_sample_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = AudioSet::default();
        set.push(clip("a", None), &[0.0; 4]);
        set.write(dir.path()).unwrap();
        std::fs::write(dir.path().join(SAMPLES), [0u8; 8]).unwrap();
        let err = AudioSet::read(dir.path()).unwrap_err().to_string();
        assert!(err.contains("clip `a` spans samples 0..4 but the file holds 2"), "{err}");
    }
}
