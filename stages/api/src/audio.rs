//! The audio-set artifact: `manifest.csv` (one row per clip) plus `audio.f32` (every clip's
//! samples as little-endian f32, concatenated in manifest order).
//!
//! The manifest keeps the labels the corpus parser found (the class, intensity, statement,
//! repetition, speaker, sex), where the clip came from, its split once `split` has run, and its
//! original length before `pad`. Beside it, `classes.csv` holds the corpus's label set
//! ([`crate::labels`]); every clip's label is one of its classes. The sample data is one flat
//! file so that readers can map or stream it without parsing.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::labels::{LabelSet, LabelSetError};

/// The manifest file name inside an audio-set folder.
pub const MANIFEST: &str = "manifest.csv";
/// The sample file name inside an audio-set folder.
pub const SAMPLES: &str = "audio.f32";
/// The manifest column naming the recording condition of a clip that was copied under one
/// (`noise 10 dB (pink)`, `band 300-3400 Hz`; `degrade` writes it), or [`CLEAN`].
pub const CONDITION: &str = "condition";
/// The [`CONDITION`] of a clip as it was recorded.
pub const CLEAN: &str = "clean";

/// Whether `clip` is as it was recorded: no [`CONDITION`], or [`CLEAN`]. Figures that describe
/// a corpus (per-class mean spectra) take these only, so copies under a condition do not blur
/// them.
pub fn is_clean(clip: &Clip) -> bool {
    clip.extra.get(CONDITION).is_none_or(|c| c.is_empty() || c == CLEAN)
}

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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    /// Unique id: the file name without extension.
    pub file_id: String,
    /// The corpus parser that labelled the clip (`ravdess`, `unlabeled`, ...).
    pub corpus: String,
    /// Speaker id within the corpus (RAVDESS: the actor number `01`..`24`); empty if unknown.
    pub speaker: String,
    /// `m`, `f` or empty.
    pub sex: String,
    /// The class label, one of the set's class names; absent for unlabeled clips.
    pub label: Option<String>,
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
    /// Further columns a corpus provides (a table corpus's extra columns, IEMOCAP's `session`),
    /// by column name; empty values are not kept. Written after the fixed columns, sorted.
    #[serde(skip)]
    pub extra: BTreeMap<String, String>,
}

/// The fixed columns of `manifest.csv`, in order (the fields of [`Clip`] but `extra`).
pub const MANIFEST_COLUMNS: [&str; 14] = [
    "file_id",
    "corpus",
    "speaker",
    "sex",
    "label",
    "intensity",
    "statement",
    "repetition",
    "split",
    "source",
    "sample_rate",
    "offset",
    "length",
    "original_length",
];

impl Clip {
    /// The value of manifest column `column`, fixed or extra (empty when the clip has none);
    /// the numeric columns are not covered (they are positions, not groups).
    pub fn column(&self, column: &str) -> String {
        match column {
            "file_id" => self.file_id.clone(),
            "corpus" => self.corpus.clone(),
            "speaker" => self.speaker.clone(),
            "sex" => self.sex.clone(),
            "label" => self.label.clone().unwrap_or_default(),
            "intensity" => self.intensity.clone(),
            "statement" => self.statement.clone(),
            "repetition" => self.repetition.clone(),
            "split" => self.split.name().to_string(),
            "source" => self.source.clone(),
            _ => self.extra.get(column).cloned().unwrap_or_default(),
        }
    }
}

/// The manifest columns some clip of `clips` has a value in: the fixed ones in manifest order
/// (the numeric ones never: they are positions, not groups), then the extra ones sorted. What
/// an error about a column no clip has can offer instead.
pub fn columns_with_values(clips: &[Clip]) -> Vec<String> {
    let extra: BTreeSet<&String> = clips.iter().flat_map(|c| c.extra.keys()).collect();
    MANIFEST_COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(extra.into_iter().cloned())
        .filter(|c| clips.iter().any(|clip| !clip.column(c).is_empty()))
        .collect()
}

impl Split {
    /// The name in manifests: `train`, `val`, `test`, or empty.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Train => "train",
            Self::Val => "val",
            Self::Test => "test",
        }
    }

    /// The split of a manifest name (`train`, `val`, `test`, or empty), if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::None, Self::Train, Self::Val, Self::Test].into_iter().find(|s| s.name() == name)
    }
}

/// The clips of an audio set (or of a feature table) and their label set, without samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Manifest {
    /// The classes the clips' labels come from.
    pub labels: LabelSet,
    /// Clips in manifest order.
    pub clips: Vec<Clip>,
}

/// A whole audio set in memory.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AudioSet {
    /// The classes the clips' labels come from.
    pub labels: LabelSet,
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
    /// `classes.csv` is missing or invalid.
    #[error(transparent)]
    Labels(#[from] LabelSetError),
    /// A clip's label is not a class of the set.
    #[error("{path}:{line}: clip `{file_id}` is labelled `{label}`, which is not a class of the set ({classes})")]
    UnknownLabel {
        /// The manifest.
        path: PathBuf,
        /// One-based line number.
        line: u64,
        /// The clip.
        file_id: String,
        /// Its label.
        label: String,
        /// The set's classes, for the message.
        classes: String,
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

    /// Reads the clips and label set of the audio set in `dir` without loading samples; fails
    /// when a clip's label is not in the set. Columns beyond the fixed ones are the clips'
    /// `extra` values.
    pub fn read_manifest(dir: &Path) -> Result<Manifest, AudioSetError> {
        let labels = LabelSet::read(dir)?;
        let path = dir.join(MANIFEST);
        let csv_err = |source| AudioSetError::Csv { path: path.clone(), source };
        let mut reader = csv::Reader::from_path(&path).map_err(csv_err)?;
        let header = reader.headers().map_err(csv_err)?.clone();
        let (fixed, extra): (Vec<usize>, Vec<usize>) =
            (0..header.len()).partition(|&i| MANIFEST_COLUMNS.contains(&&header[i]));
        let fixed_header: csv::StringRecord = fixed.iter().map(|&i| &header[i]).collect();
        let mut clips = Vec::new();
        for record in reader.records() {
            let record = record.map_err(csv_err)?;
            let line = clips.len() as u64 + 2;
            let values: csv::StringRecord = fixed.iter().map(|&i| record.get(i).unwrap_or("")).collect();
            let mut clip: Clip = values.deserialize(Some(&fixed_header)).map_err(csv_err)?;
            for &i in &extra {
                if let Some(value) = record.get(i).filter(|v| !v.is_empty()) {
                    clip.extra.insert(header[i].to_string(), value.to_string());
                }
            }
            if let Some(label) = clip.label.as_deref().filter(|l| !labels.contains(l)) {
                return Err(AudioSetError::UnknownLabel {
                    path,
                    line,
                    file_id: clip.file_id.clone(),
                    label: label.to_string(),
                    classes: labels.listing(),
                });
            }
            clips.push(clip);
        }
        Ok(Manifest { labels, clips })
    }

    /// Reads the audio set in `dir`.
    pub fn read(dir: &Path) -> Result<Self, AudioSetError> {
        let Manifest { labels, clips } = Self::read_manifest(dir)?;
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
        Ok(Self { labels, clips, samples })
    }

    /// Writes only `manifest.csv` for `clips` and `classes.csv` for `labels` into `dir`
    /// (features carry labels without samples).
    pub fn write_manifest(labels: &LabelSet, clips: &[Clip], dir: &Path) -> Result<(), AudioSetError> {
        labels.write(dir)?;
        let path = dir.join(MANIFEST);
        let csv_err = |source| AudioSetError::Csv { path: path.clone(), source };
        let extra: BTreeSet<&str> = clips.iter().flat_map(|c| c.extra.keys().map(String::as_str)).collect();
        let mut writer = csv::Writer::from_path(&path).map_err(csv_err)?;
        writer.write_record(MANIFEST_COLUMNS.iter().copied().chain(extra.iter().copied())).map_err(csv_err)?;
        for clip in clips {
            let numbers = [u64::from(clip.sample_rate), clip.offset, clip.length, clip.original_length];
            let cells = MANIFEST_COLUMNS[..10]
                .iter()
                .map(|column| clip.column(column))
                .chain(numbers.iter().map(u64::to_string))
                .chain(extra.iter().map(|column| clip.extra.get(*column).cloned().unwrap_or_default()));
            writer.write_record(cells).map_err(csv_err)?;
        }
        writer.flush().map_err(|source| AudioSetError::Io { path, source })
    }

    /// Writes the audio set into `dir` (which must exist).
    pub fn write(&self, dir: &Path) -> Result<(), AudioSetError> {
        Self::write_manifest(&self.labels, &self.clips, dir)?;
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
    #[test]
    fn a_clip_is_clean_without_a_condition_or_with_clean() {
        let mut clip = super::Clip::default();
        assert!(super::is_clean(&clip));
        clip.extra.insert(super::CONDITION.into(), super::CLEAN.into());
        assert!(super::is_clean(&clip));
        clip.extra.insert(super::CONDITION.into(), "noise 10 dB (pink)".into());
        assert!(!super::is_clean(&clip));
    }

    use super::*;

    fn clip(id: &str, label: Option<&str>) -> Clip {
        Clip {
            file_id: id.into(),
            corpus: "ravdess".into(),
            speaker: "01".into(),
            sex: "m".into(),
            label: label.map(Into::into),
            intensity: "01".into(),
            statement: "01".into(),
            repetition: "01".into(),
            split: Split::None,
            source: format!("Actor_01/{id}.wav"),
            sample_rate: 16000,
            offset: 0,
            length: 0,
            original_length: 3,
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn round_trips_through_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = AudioSet { labels: LabelSet::from_names(["04", "05"]).unwrap(), ..AudioSet::default() };
        set.push(clip("a", Some("05")), &[0.5, -0.25, 1.0]);
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
        assert!(manifest.starts_with("file_id,corpus,speaker,sex,label,"), "{manifest}");
        set.clips[1].extra.insert("session".into(), "Ses01".into());
        set.clips[1].extra.insert("arousal".into(), "2.5".into());
        set.write(dir.path()).unwrap();
        let manifest = std::fs::read_to_string(dir.path().join(MANIFEST)).unwrap();
        assert!(manifest.lines().next().unwrap().ends_with(",original_length,arousal,session"), "{manifest}");
        assert!(manifest.lines().nth(1).unwrap().ends_with(",3,,"), "{manifest}");
        assert_eq!(AudioSet::read(dir.path()).unwrap(), set);
        assert_eq!(set.clips[1].column("session"), "Ses01");
        assert_eq!(set.clips[0].column("session"), "");
        assert_eq!(set.clips[1].column("split"), "val");
        let classes = std::fs::read_to_string(dir.path().join(crate::labels::CLASSES)).unwrap();
        assert_eq!(classes, "class,description\n04,\n05,\n");
    }

    #[test]
    fn rejects_labels_outside_the_set() {
        let dir = tempfile::tempdir().unwrap();
        let mut set = AudioSet { labels: LabelSet::from_names(["04"]).unwrap(), ..AudioSet::default() };
        set.push(clip("a", Some("04")), &[0.0]);
        set.push(clip("b", Some("05")), &[0.0]);
        set.write(dir.path()).unwrap();
        let err = AudioSet::read(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("manifest.csv:3: clip `b` is labelled `05`, which is not a class of the set (04)"), "{err}");
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
