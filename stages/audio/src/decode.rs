//! The `decode` stage: every `.wav` under the input folder, mixed to mono, resampled and
//! labelled from its file name, as one audio set.
//!
//! Files are taken in the order of their relative paths, so the output does not depend on the
//! file system. With `on_error = "skip"`, files that cannot be decoded are listed with the
//! reason in `report/skipped.csv` (`file,reason`) and counted in a warning; nothing is dropped
//! silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::{AudioSet, Clip, Split};
use vox_api::{ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

use crate::corpus::Corpus;
use crate::error::{AudioError, FileError};
use crate::parallel::map_with_progress;
use crate::resample::resample;
use crate::wav::read_mono;

/// Decodes every `.wav` file under the input folder (8-bit unsigned, 16/24/32-bit PCM or
/// 32-bit float, plain or WAVE_FORMAT_EXTENSIBLE, any channel count averaged to mono),
/// resamples it band-limited to `sample_rate` and labels it from its name.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decode {
    /// The naming scheme that labels the files: `ravdess` (emotion, intensity, statement,
    /// repetition and actor from `03-01-EE-II-SS-RR-AA.wav`; odd actors male) or `unlabeled`
    /// (no labels, empty speaker).
    #[serde(default = "default_corpus")]
    pub corpus: Corpus,
    /// Output sample rate in Hz (1000..=384000); 16000 suits wav2vec2 and eGeMAPS.
    #[serde(default = "default_sample_rate")]
    pub sample_rate: u32,
    /// What a file that cannot be decoded (corrupt header, unsupported encoding, no samples,
    /// name outside the corpus scheme) does: `fail` stops the stage naming the file and the
    /// reason; `skip` leaves it out and lists it in `report/skipped.csv`.
    #[serde(default = "default_on_error")]
    pub on_error: OnError,
}

/// What to do with a file that cannot be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnError {
    /// Stop the stage with the file's path and the reason.
    Fail,
    /// Leave the file out and list it in `report/skipped.csv`.
    Skip,
}

fn default_corpus() -> Corpus {
    Corpus::Ravdess
}

fn default_sample_rate() -> u32 {
    16000
}

fn default_on_error() -> OnError {
    OnError::Fail
}

/// The skip report's file name under the report folder.
const SKIPPED: &str = "skipped.csv";

impl Decode {
    /// Decodes the file at `root/relative` into a manifest row and its samples.
    fn decode(&self, root: &Path, relative: &str) -> Result<(Clip, Vec<f32>), FileError> {
        let path = root.join(relative);
        let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let labels = self.corpus.labels(&stem)?;
        let mono = read_mono(&path)?;
        let samples =
            resample(&mono.samples, mono.sample_rate, self.sample_rate).map_err(|source| {
                FileError::Resample { from: mono.sample_rate, to: self.sample_rate, source }
            })?;
        let clip = Clip {
            file_id: stem,
            corpus: self.corpus.name().to_string(),
            speaker: labels.speaker,
            sex: labels.sex,
            emotion: labels.emotion,
            intensity: labels.intensity,
            statement: labels.statement,
            repetition: labels.repetition,
            split: Split::None,
            source: relative.to_string(),
            sample_rate: self.sample_rate,
            offset: 0,
            length: 0,
            original_length: samples.len() as u64,
        };
        Ok((clip, samples))
    }
}

/// The relative paths (`/`-separated) of every `.wav` file under `root`, sorted.
fn wav_files(root: &Path) -> Result<Vec<String>, AudioError> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let dir = root.join(&relative);
        let io_err = |source| AudioError::Io { path: dir.clone(), source };
        for entry in std::fs::read_dir(&dir).map_err(io_err)? {
            let entry = entry.map_err(io_err)?;
            let path = relative.join(entry.file_name());
            if entry.file_type().map_err(io_err)?.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")) {
                let parts: Vec<String> = path
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                found.push(parts.join("/"));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// Writes `report/skipped.csv`: one `file,reason` row per skipped file.
fn write_skipped(ctx: &StageContext, skipped: &[(String, FileError)]) -> Result<(), AudioError> {
    let report = ctx
        .report_dir()
        .map_err(|source| AudioError::Io { path: ctx.out_dir.join("report"), source })?;
    let path = report.join(SKIPPED);
    let csv_err = |source| AudioError::Csv { path: path.clone(), source };
    let mut writer = csv::Writer::from_path(&path).map_err(csv_err)?;
    writer.write_record(["file", "reason"]).map_err(csv_err)?;
    for (file, reason) in skipped {
        writer.write_record([file.as_str(), reason.to_string().as_str()]).map_err(csv_err)?;
    }
    writer.flush().map_err(|source| AudioError::Io { path: path.clone(), source })
}

impl StageDef for Decode {
    const KIND: &'static str = "decode";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Files]);
    const OUTPUT: ArtifactKind = ArtifactKind::Audio;

    fn validate(&self) -> Result<(), ParamError> {
        if !(1000..=384_000).contains(&self.sample_rate) {
            return Err(ParamError::new(
                "sample_rate",
                format!("`sample_rate` must be 1000..=384000 Hz, not {}", self.sample_rate),
            ));
        }
        Ok(())
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let input = ctx.input();
        let files = wav_files(&input.dir)?;
        if files.is_empty() {
            return Err(AudioError::NoWavFiles { input: input.name.clone() }.into());
        }
        let decoded =
            map_with_progress(ctx, &files, "decode", |file| self.decode(&input.dir, file))?;
        let mut set = AudioSet::default();
        let mut skipped = Vec::new();
        let mut sources: BTreeMap<String, String> = BTreeMap::new();
        for (file, result) in files.into_iter().zip(decoded) {
            match (result, self.on_error) {
                (Ok((clip, samples)), _) => {
                    if let Some(first) = sources.insert(clip.file_id.clone(), file.clone()) {
                        let file_id = clip.file_id;
                        return Err(
                            AudioError::DuplicateClip { file_id, first, second: file }.into()
                        );
                    }
                    set.push(clip, &samples);
                }
                (Err(source), OnError::Fail) => {
                    return Err(AudioError::File { file, source }.into());
                }
                (Err(reason), OnError::Skip) => skipped.push((file, reason)),
            }
        }
        if self.on_error == OnError::Skip {
            write_skipped(ctx, &skipped)?;
            if !skipped.is_empty() {
                tracing::warn!(
                    "{}: skipped {} of {} files that could not be decoded (see report/{SKIPPED})",
                    ctx.stage,
                    skipped.len(),
                    skipped.len() + set.clips.len()
                );
            }
        }
        if set.clips.is_empty() {
            return Err(AudioError::AllSkipped {
                input: input.name.clone(),
                skipped: skipped.len(),
            }
            .into());
        }
        set.write(ctx.out_dir)?;
        let seconds = set.samples.len() as f64 / f64::from(self.sample_rate);
        tracing::info!(
            "{}: decoded {} clips ({:.1} min at {} Hz, corpus {})",
            ctx.stage,
            set.clips.len(),
            seconds / 60.0,
            self.sample_rate,
            self.corpus.name()
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestStage;
    use hound::{SampleFormat, WavSpec, WavWriter};
    use vox_api::emotion::Emotion;

    fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[i16]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let spec = WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: SampleFormat::Int,
        };
        let mut writer = WavWriter::create(path, spec).unwrap();
        for &s in samples {
            writer.write_sample(s).unwrap();
        }
        writer.finalize().unwrap();
    }

    fn decode(corpus: Corpus, sample_rate: u32, on_error: OnError) -> Decode {
        Decode { corpus, sample_rate, on_error }
    }

    #[test]
    fn decodes_a_ravdess_tree_in_path_order_with_labels() {
        let stage = TestStage::with_input(ArtifactKind::Files);
        let root = stage.input_dir();
        write_wav(
            &root.join("Actor_02/03-01-05-02-01-02-02.wav"),
            16000,
            2,
            &[16384, 0, 0, -16384, 8192, 8192],
        );
        write_wav(&root.join("Actor_01/03-01-04-01-02-01-01.wav"), 48000, 1, &[3276; 4800]);
        std::fs::write(root.join("Actor_01/notes.txt"), "not audio").unwrap();
        decode(Corpus::Ravdess, 16000, OnError::Fail).run(&stage.ctx(0)).unwrap();
        let set = AudioSet::read(stage.out_dir()).unwrap();
        let ids: Vec<&str> = set.clips.iter().map(|c| c.file_id.as_str()).collect();
        assert_eq!(ids, ["03-01-04-01-02-01-01", "03-01-05-02-01-02-02"]);
        let (sad, angry) = (&set.clips[0], &set.clips[1]);
        assert_eq!(sad.source, "Actor_01/03-01-04-01-02-01-01.wav");
        assert_eq!(
            (sad.emotion, sad.speaker.as_str(), sad.sex.as_str()),
            (Some(Emotion::Sad), "01", "m")
        );
        assert_eq!(
            (sad.statement.as_str(), sad.repetition.as_str(), sad.intensity.as_str()),
            ("02", "01", "01")
        );
        assert_eq!((sad.length, sad.original_length, sad.sample_rate), (1600, 1600, 16000));
        // A constant resamples to itself away from the edges.
        assert!((set.samples_of(sad)[800] - 0.1).abs() < 1e-3, "{}", set.samples_of(sad)[800]);
        assert_eq!(
            (angry.emotion, angry.speaker.as_str(), angry.sex.as_str()),
            (Some(Emotion::Angry), "02", "f")
        );
        assert_eq!(angry.intensity, "02");
        assert_eq!(set.samples_of(angry), [0.25, -0.25, 0.25]);
        assert_eq!(angry.corpus, "ravdess");
        assert!(!stage.out_dir().join("report").exists());
    }

    #[test]
    fn unlabeled_files_have_no_labels() {
        let stage = TestStage::with_input(ArtifactKind::Files);
        write_wav(&stage.input_dir().join("take 1.WAV"), 8000, 1, &[0, 16384]);
        decode(Corpus::Unlabeled, 8000, OnError::Fail).run(&stage.ctx(0)).unwrap();
        let set = AudioSet::read(stage.out_dir()).unwrap();
        let clip = &set.clips[0];
        assert_eq!((clip.file_id.as_str(), clip.corpus.as_str()), ("take 1", "unlabeled"));
        assert_eq!((clip.emotion, clip.speaker.as_str(), clip.sex.as_str()), (None, "", ""));
        assert_eq!(set.samples, [0.0, 0.5]);
    }

    #[test]
    fn a_bad_file_fails_the_stage_with_its_path_and_reason() {
        let stage = TestStage::with_input(ArtifactKind::Files);
        let root = stage.input_dir();
        write_wav(&root.join("Actor_01/03-01-09-01-01-01-01.wav"), 16000, 1, &[0; 8]);
        let err = decode(Corpus::Ravdess, 16000, OnError::Fail).run(&stage.ctx(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`Actor_01/03-01-09-01-01-01-01.wav`: bad file name: emotion `09` is not one of 01..08"
        );
        let twice = TestStage::with_input(ArtifactKind::Files);
        write_wav(&twice.input_dir().join("a/take.wav"), 16000, 1, &[0; 8]);
        write_wav(&twice.input_dir().join("b/take.wav"), 16000, 1, &[0; 8]);
        let err = decode(Corpus::Unlabeled, 16000, OnError::Skip).run(&twice.ctx(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`a/take.wav` and `b/take.wav` would both be clip `take`; clip ids must be unique"
        );
        let empty = TestStage::with_input(ArtifactKind::Files);
        let err = decode(Corpus::Ravdess, 16000, OnError::Fail).run(&empty.ctx(0)).unwrap_err();
        assert_eq!(err.to_string(), "input `upstream` holds no `.wav` files");
    }

    #[test]
    fn skipped_files_are_reported() {
        let stage = TestStage::with_input(ArtifactKind::Files);
        let root = stage.input_dir();
        write_wav(&root.join("Actor_01/03-01-02-01-01-01-01.wav"), 16000, 1, &[100; 8]);
        write_wav(&root.join("Actor_01/03-01-02-01-01-02-01.wav"), 16000, 1, &[]);
        std::fs::write(root.join("Actor_01/03-01-03-01-01-01-01.wav"), b"RIFF").unwrap();
        write_wav(&root.join("Actor_01/03-01-03.wav"), 16000, 1, &[100; 8]);
        decode(Corpus::Ravdess, 16000, OnError::Skip).run(&stage.ctx(0)).unwrap();
        let set = AudioSet::read(stage.out_dir()).unwrap();
        assert_eq!(set.clips.len(), 1);
        let report = std::fs::read_to_string(stage.out_dir().join("report/skipped.csv")).unwrap();
        let layout = "modality-channel-emotion-intensity-statement-repetition-actor, e.g. 03-01-05-02-01-01-12";
        assert_eq!(
            report,
            format!(
                "file,reason\n\
                 Actor_01/03-01-02-01-01-02-01.wav,empty audio: the file holds no samples\n\
                 Actor_01/03-01-03-01-01-01-01.wav,corrupt WAV: the file ends early (Failed to read enough bytes.)\n\
                 Actor_01/03-01-03.wav,\"bad file name: expected 7 dash-separated fields ({layout}), found 3\"\n"
            )
        );
    }

    #[test]
    fn params_default_and_validate() {
        let kind = vox_api::kind::<Decode>();
        let stage = kind.configure(toml::Table::new()).unwrap();
        assert_eq!(
            stage.params(),
            serde_json::json!({"corpus": "ravdess", "sample_rate": 16000, "on_error": "fail"})
        );
        let err = kind.configure(toml::toml! { sample_rate = 10 }).err().unwrap();
        assert_eq!(
            (err.path.as_str(), err.message.as_str()),
            ("sample_rate", "`sample_rate` must be 1000..=384000 Hz, not 10")
        );
        assert!(kind.configure(toml::toml! { corpus = "savee" }).is_err());
        assert!(
            kind.configure(toml::toml! { on_error = "skip"
            corpus = "unlabeled" })
                .is_ok()
        );
    }
}
