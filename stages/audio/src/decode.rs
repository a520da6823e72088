//! The `decode` stage: every `.wav` under the input folder, mixed to mono, resampled and
//! labelled from its path, as one audio set.
//!
//! Files are taken in the order of their relative paths, so the output does not depend on the
//! file system. Names are parsed first, so a name outside the corpus scheme (with
//! `on_error = "fail"`) or a corpus label without a RAVDESS code and without a `labels` policy
//! stops the stage before any audio is read. Nothing is left out silently: with
//! `on_error = "skip"`, files that cannot be decoded are listed with the reason in
//! `report/skipped.csv` (`file,reason`) and counted in a warning; files of a label whose policy
//! is `drop` are listed in `report/dropped.csv` (`file,label`) and counted in the log.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::{Clip, Split};
use vox_api::emotion::Emotion;
use vox_api::{ArtifactKind, InputSpec, ParamError, StageContext, StageDef, StageError};

use crate::corpus::{ClipName, Corpus, Label, NameError};
use crate::error::{AudioError, FileError};
use crate::label_policy::{LabelPolicies, Resolution, file_count};
use crate::parallel::for_each_in_order;
use crate::resample::Resampler;
use crate::set_writer;
use crate::wav::WavBuffers;

/// Decodes every `.wav` file under the input folder (8-bit unsigned, 16/24/32-bit PCM or
/// 32-bit float, plain or WAVE_FORMAT_EXTENSIBLE, any channel count averaged to mono),
/// resamples it band-limited to `sample_rate` and labels it from its path.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decode {
    /// The naming scheme that labels the files, mapped onto the RAVDESS emotion codes:
    /// `ravdess` (`03-01-EE-II-SS-RR-AA.wav`; odd actors male), `savee` (`DC/a01.wav` or
    /// `DC_a01.wav`), `tess` (`OAF_word_emotion.wav`, folders ignored), `crema-d`
    /// (`1001_DFA_ANG_XX.wav`), `emodb` (`03a01Fa.wav`; boredom needs a `labels` policy) or
    /// `unlabeled` (no labels, empty speaker).
    #[serde(default = "default_corpus")]
    pub corpus: Corpus,
    /// What happens to the files of a corpus label, by label name: `"drop"` leaves them out
    /// (listed in `report/dropped.csv`), an emotion code `"01"`..`"08"` relabels them, e.g.
    /// `{ boredom = "drop" }` or `{ boredom = "02" }` for EmoDB, `{ calm = "01" }` to merge
    /// RAVDESS calm into neutral. Names are the RAVDESS emotion names (neutral, calm, happy,
    /// sad, angry, fearful, disgust, surprised) for labels with a code, the corpus' word for
    /// labels without one (EmoDB `boredom`, which must have a policy). Labels left out keep
    /// their code; empty by default.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
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
/// The drop report's file name under the report folder.
const DROPPED: &str = "dropped.csv";
/// Files decoded in parallel before their samples are written (at least; 8 per thread on
/// more than 8 threads): a few per thread for load balance, few enough that their output
/// buffers (reused from batch to batch) stay small.
const BATCH: usize = 64;

/// What the name pass decided for one file.
enum Plan {
    /// Decode it and label it with this emotion.
    Decode(ClipName, Option<Emotion>),
    /// Leave it out by the `labels` policy; the label's name.
    Drop(&'static str),
    /// Its name is outside the corpus scheme (with `on_error = "skip"`).
    Skip(NameError),
}

/// What became of one file.
enum Outcome {
    /// A clip (its samples are in the worker's output slot).
    Clip(Clip),
    /// Left out by the `labels` policy; the label's name.
    Dropped(&'static str),
    /// Not decodable.
    Failed(FileError),
}

impl Decode {
    /// Decodes the file at `root/relative`, named `name`, into a manifest row and its samples
    /// (into `samples`, replacing its contents), with this worker's buffers and resampler.
    fn decode(
        &self,
        (buffers, resampler): &mut (WavBuffers, Resampler),
        root: &Path,
        relative: &str,
        name: &ClipName,
        emotion: Option<Emotion>,
        samples: &mut Vec<f32>,
    ) -> Result<Clip, FileError> {
        let (mono, from) = buffers.read_mono(&root.join(relative))?;
        resampler
            .resample_into(mono, from, self.sample_rate, samples)
            .map_err(|source| FileError::Resample { from, to: self.sample_rate, source })?;
        let labels = &name.labels;
        let clip = Clip {
            file_id: name.file_id.clone(),
            corpus: self.corpus.name().to_string(),
            speaker: labels.speaker.clone(),
            sex: labels.sex.clone(),
            emotion,
            intensity: labels.intensity.clone(),
            statement: labels.statement.clone(),
            repetition: labels.repetition.clone(),
            split: Split::None,
            source: relative.to_string(),
            sample_rate: self.sample_rate,
            offset: 0,
            length: 0,
            original_length: samples.len() as u64,
        };
        Ok(clip)
    }

    /// Parses every file's name and applies the `labels` policy, in path order. Fails on the
    /// first bad name with `on_error = "fail"`, and on labels that need a policy.
    fn plan(
        &self,
        files: Vec<String>,
        policies: &LabelPolicies,
    ) -> Result<Vec<(String, Plan)>, AudioError> {
        let mut plans = Vec::with_capacity(files.len());
        let mut unresolved: BTreeMap<&'static str, usize> = BTreeMap::new();
        for file in files {
            let plan = match (self.corpus.parse(&file), self.on_error) {
                (Err(source), OnError::Fail) => {
                    return Err(AudioError::File { file, source: source.into() });
                }
                (Err(reason), OnError::Skip) => Plan::Skip(reason),
                (Ok(name), _) => match policies.resolve(name.labels.label) {
                    Resolution::Keep(emotion) => Plan::Decode(name, emotion),
                    Resolution::Drop(label) => Plan::Drop(label),
                    Resolution::Unresolved(label) => {
                        *unresolved.entry(label).or_default() += 1;
                        continue;
                    }
                },
            };
            plans.push((file, plan));
        }
        if !unresolved.is_empty() {
            let labels = unresolved.into_iter().collect();
            return Err(AudioError::UnresolvedLabels { corpus: self.corpus.name(), labels });
        }
        Ok(plans)
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

/// Writes `report/<name>`: a `header` row, then one row per `(file, detail)`.
fn write_report<D: ToString>(
    ctx: &StageContext,
    name: &str,
    header: [&str; 2],
    rows: &[(String, D)],
) -> Result<(), AudioError> {
    let report = ctx
        .report_dir()
        .map_err(|source| AudioError::Io { path: ctx.out_dir.join("report"), source })?;
    let path = report.join(name);
    let csv_err = |source| AudioError::Csv { path: path.clone(), source };
    let mut writer = csv::Writer::from_path(&path).map_err(csv_err)?;
    writer.write_record(header).map_err(csv_err)?;
    for (file, detail) in rows {
        writer.write_record([file.as_str(), detail.to_string().as_str()]).map_err(csv_err)?;
    }
    writer.flush().map_err(|source| AudioError::Io { path: path.clone(), source })
}

/// `boredom -> 02 (79 files)`: how many files the `labels` policy gives another code, by label
/// and code; empty when none.
fn relabelled(plans: &[(String, Plan)]) -> String {
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (_, plan) in plans {
        if let Plan::Decode(name, Some(emotion)) = plan
            && let Some(label) = name.labels.label
            && label != Label::Coded(*emotion)
        {
            *counts.entry((label.name(), emotion.code())).or_default() += 1;
        }
    }
    let parts: Vec<String> = counts
        .iter()
        .map(|((label, code), &n)| format!("{label} -> {code} ({})", file_count(n)))
        .collect();
    parts.join(", ")
}

/// `boredom: 79, calm: 3`: how many files each label has in `rows`.
fn count_by_label(rows: &[(String, &'static str)]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for &(_, label) in rows {
        *counts.entry(label).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(label, n)| format!("{label}: {n}")).collect();
    parts.join(", ")
}

impl StageDef for Decode {
    const KIND: &'static str = "decode";
    // 2: a longer resampler block (same quality, slightly different output bytes).
    const VERSION: u32 = 2;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Files]);
    const OUTPUT: ArtifactKind = ArtifactKind::Audio;

    fn validate(&self) -> Result<(), ParamError> {
        if !(1000..=384_000).contains(&self.sample_rate) {
            return Err(ParamError::new(
                "sample_rate",
                format!("`sample_rate` must be 1000..=384000 Hz, not {}", self.sample_rate),
            ));
        }
        LabelPolicies::new(self.corpus, &self.labels).map(|_| ())
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let policies = LabelPolicies::new(self.corpus, &self.labels)?;
        let input = ctx.input();
        let files = wav_files(&input.dir)?;
        if files.is_empty() {
            return Err(AudioError::NoWavFiles { input: input.name.clone() }.into());
        }
        let total = files.len();
        let plans = self.plan(files, &policies)?;
        let relabelled = relabelled(&plans);
        if !relabelled.is_empty() {
            tracing::info!("{}: relabelled by the `labels` policy: {relabelled}", ctx.stage);
        }
        let (mut rows, samples_out) = set_writer::create(ctx.out_dir)?;
        let mut skipped = Vec::new();
        let mut dropped = Vec::new();
        let mut sources: BTreeMap<String, String> = BTreeMap::new();
        // Written as decoded, batch by batch in path order, so the set is never held whole:
        // each batch's clips are placed in order, then their samples written in parallel
        // while the next batch decodes.
        for_each_in_order(
            ctx,
            &plans,
            "decode",
            BATCH,
            <(WavBuffers, Resampler)>::default,
            |worker, (file, plan), samples| match plan {
                Plan::Decode(name, emotion) => {
                    match self.decode(worker, &input.dir, file, name, *emotion, samples) {
                        Ok(clip) => Outcome::Clip(clip),
                        Err(reason) => Outcome::Failed(reason),
                    }
                }
                Plan::Drop(label) => Outcome::Dropped(label),
                Plan::Skip(reason) => Outcome::Failed(reason.clone().into()),
            },
            |(file, _), outcome, samples| -> Result<Option<u64>, AudioError> {
                let file = file.clone();
                match (outcome, self.on_error) {
                    (Outcome::Clip(clip), _) => {
                        if let Some(first) = sources.insert(clip.file_id.clone(), file.clone()) {
                            let file_id = clip.file_id;
                            return Err(AudioError::DuplicateClip { file_id, first, second: file });
                        }
                        return Ok(Some(rows.place(clip, samples.len() as u64)));
                    }
                    (Outcome::Dropped(label), _) => dropped.push((file, label)),
                    (Outcome::Failed(source), OnError::Fail) => {
                        return Err(AudioError::File { file, source });
                    }
                    (Outcome::Failed(reason), OnError::Skip) => skipped.push((file, reason)),
                }
                Ok(None)
            },
            |offset, samples| match offset {
                Some(offset) => samples_out.write_at(offset, samples),
                None => Ok(()),
            },
        )?;
        if self.on_error == OnError::Skip {
            write_report(ctx, SKIPPED, ["file", "reason"], &skipped)?;
            if !skipped.is_empty() {
                tracing::warn!(
                    "{}: skipped {} of {total} files that could not be decoded (see report/{SKIPPED})",
                    ctx.stage,
                    skipped.len(),
                );
            }
        }
        if policies.drops() {
            write_report(ctx, DROPPED, ["file", "label"], &dropped)?;
            tracing::info!(
                "{}: dropped {} of {total} files by the `labels` policy ({}; see report/{DROPPED})",
                ctx.stage,
                dropped.len(),
                count_by_label(&dropped),
            );
        }
        if rows.is_empty() {
            return Err(AudioError::NoClipsLeft {
                input: input.name.clone(),
                files: total,
                skipped: skipped.len(),
                dropped: dropped.len(),
            }
            .into());
        }
        let (clips, samples) = rows.finish(samples_out)?;
        let seconds = samples as f64 / f64::from(self.sample_rate);
        tracing::info!(
            "{}: decoded {} clips ({:.1} min at {} Hz, corpus {})",
            ctx.stage,
            clips.len(),
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
    use crate::test_support::write_wav;
    use vox_api::audio::{AudioSet, MANIFEST, SAMPLES};
    use vox_api::emotion::Emotion;

    fn decode(corpus: Corpus, sample_rate: u32, on_error: OnError) -> Decode {
        Decode { corpus, labels: BTreeMap::new(), sample_rate, on_error }
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
    fn files_beyond_one_batch_stay_in_path_order_with_their_own_samples() {
        // 2 * BATCH + 3 files on two threads: three batches, the output buffers reused across
        // them, a longer file before shorter ones, and an unreadable file in the second batch.
        let stage = TestStage::with_input(ArtifactKind::Files);
        let count = 2 * BATCH + 3;
        for i in 0..count {
            let path = stage.input_dir().join(format!("take {i:03}.wav"));
            if i == BATCH + 5 {
                std::fs::write(&path, b"not a wave file").unwrap();
            } else {
                let len = if i.is_multiple_of(2) { 40 } else { 10 };
                write_wav(&path, 8000, 1, &vec![i as i16 * 64; len]);
            }
        }
        decode(Corpus::Unlabeled, 8000, OnError::Skip).run(&stage.ctx(0)).unwrap();
        let set = AudioSet::read(stage.out_dir()).unwrap();
        assert_eq!(set.clips.len(), count - 1);
        for clip in &set.clips {
            let i: usize = clip.file_id["take ".len()..].parse().unwrap();
            assert_ne!(i, BATCH + 5);
            assert_eq!(clip.length, if i.is_multiple_of(2) { 40 } else { 10 }, "{}", clip.file_id);
            let expected = (i * 64) as f32 / 32768.0;
            assert!(set.samples_of(clip).iter().all(|&s| s == expected), "{}", clip.file_id);
        }
        let ids: Vec<&str> = set.clips.iter().map(|c| c.file_id.as_str()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
        let skipped = std::fs::read_to_string(stage.out_dir().join("report/skipped.csv")).unwrap();
        assert!(skipped.starts_with(&format!("file,reason\ntake {:03}.wav,", BATCH + 5)));
    }

    #[test]
    fn any_thread_count_writes_the_sequentially_decoded_samples() {
        // BATCH + 9 files at 48 kHz of varied lengths (1 to 7 resampler blocks), resampled to
        // 16 kHz, an unreadable one in the middle of the first batch; on 1 and 4 threads.
        let stage = TestStage::with_input(ArtifactKind::Files);
        let mut expected = Vec::new();
        let mut worker = <(WavBuffers, Resampler)>::default();
        let mut samples = Vec::new();
        for i in 0..BATCH + 9 {
            let path = stage.input_dir().join(format!("take {i:03}.wav"));
            if i == BATCH / 2 {
                std::fs::write(&path, b"RIFF").unwrap();
                continue;
            }
            let len = 1000 + (i * 3331) % 9000;
            let pcm: Vec<i16> =
                (0..len).map(|n| ((n * 37 + i * 101) % 20000) as i16 - 10000).collect();
            write_wav(&path, 48000, 1, &pcm);
            let (mono, from) = worker.0.read_mono(&path).unwrap();
            worker.1.resample_into(mono, from, 16000, &mut samples).unwrap();
            expected.extend(samples.iter().flat_map(|s| s.to_le_bytes()));
        }
        let mut outputs = Vec::new();
        for threads in [1, 4] {
            let ctx = StageContext { threads, ..stage.ctx(0) };
            decode(Corpus::Unlabeled, 16000, OnError::Skip).run(&ctx).unwrap();
            let read = |name: &str| std::fs::read(stage.out_dir().join(name)).unwrap();
            let samples = read(SAMPLES);
            assert!(samples == expected, "{threads} threads: audio.f32 differs");
            outputs.push((read(MANIFEST), read("report/skipped.csv")));
        }
        assert!(outputs[0] == outputs[1], "manifest or skip report differs with the thread count");
        let set = AudioSet::read(stage.out_dir()).unwrap();
        assert_eq!(set.clips.len(), BATCH + 8);
        assert_eq!((set.clips[1].length, set.clips[1].original_length), (1444, 1444));
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
            serde_json::json!({
                "corpus": "ravdess", "labels": {}, "sample_rate": 16000, "on_error": "fail"
            })
        );
        let err = kind.configure(toml::toml! { sample_rate = 10 }).err().unwrap();
        assert_eq!(
            (err.path.as_str(), err.message.as_str()),
            ("sample_rate", "`sample_rate` must be 1000..=384000 Hz, not 10")
        );
        for corpus in ["ravdess", "savee", "tess", "crema-d", "emodb", "unlabeled"] {
            let stage = kind.configure(toml::toml! { corpus = corpus }).unwrap();
            assert_eq!(stage.params()["corpus"], corpus);
        }
        assert!(kind.configure(toml::toml! { corpus = "iemocap" }).is_err());
        assert!(
            kind.configure(toml::toml! { on_error = "skip"
            corpus = "unlabeled" })
                .is_ok()
        );
        let stage = kind
            .configure(toml::toml! { corpus = "emodb"
            labels = { boredom = "02", disgust = "drop" } })
            .unwrap();
        assert_eq!(
            stage.params()["labels"],
            serde_json::json!({"boredom": "02", "disgust": "drop"})
        );
        let err = kind
            .configure(toml::toml! { corpus = "emodb"
            labels = { boredom = "09" } })
            .err()
            .unwrap();
        assert_eq!(
            (err.path.as_str(), err.message.as_str()),
            (
                "labels.boredom",
                "`labels.boredom` must be \"drop\" or an emotion code \"01\"..\"08\", not `09`"
            )
        );
        let err = kind.configure(toml::toml! { labels = { bored = "drop" } }).err().unwrap();
        assert_eq!(
            (err.path.as_str(), err.message.as_str()),
            (
                "labels.bored",
                "corpus `ravdess` has no label `bored`; its labels are neutral, calm, happy, sad, \
                 angry, fearful, disgust, surprised"
            )
        );
    }

    /// An EmoDB tree: angry and sad takes of speakers 03 and 16, boredom takes of 03 and 08.
    fn emodb_tree() -> TestStage {
        let stage = TestStage::with_input(ArtifactKind::Files);
        for name in ["03a01Wa", "03a01La", "08a02Lb", "16b10Ta"] {
            write_wav(&stage.input_dir().join(format!("wav/{name}.wav")), 16000, 1, &[8192; 4]);
        }
        stage
    }

    fn emodb(labels: &[(&str, &str)]) -> Decode {
        let labels = labels.iter().map(|&(k, v)| (k.to_string(), v.to_string())).collect();
        Decode { labels, ..decode(Corpus::Emodb, 16000, OnError::Fail) }
    }

    #[test]
    fn a_label_without_code_or_policy_stops_the_stage_before_decoding() {
        let stage = emodb_tree();
        // A broken file is not read: the policy error comes first.
        std::fs::write(stage.input_dir().join("wav/09a04Aa.wav"), b"RIFF").unwrap();
        let err = emodb(&[]).run(&stage.ctx(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "corpus `emodb` label `boredom` (2 files) has no RAVDESS emotion code; set a policy \
             in this stage's params: `labels = { boredom = \"drop\" }` leaves the files out \
             (listed in report/dropped.csv), or `labels = { boredom = \"02\" }` merges them into \
             an emotion code (any of 01..08)"
        );
        assert!(!stage.out_dir().join("manifest.csv").exists());
    }

    #[test]
    fn dropped_labels_are_listed_and_merged_labels_relabelled() {
        let stage = emodb_tree();
        emodb(&[("boredom", "drop")]).run(&stage.ctx(0)).unwrap();
        let set = AudioSet::read(stage.out_dir()).unwrap();
        let rows: Vec<(&str, &str, &str, Option<Emotion>)> = set
            .clips
            .iter()
            .map(|c| (c.file_id.as_str(), c.speaker.as_str(), c.sex.as_str(), c.emotion))
            .collect();
        assert_eq!(
            rows,
            [
                ("03a01Wa", "03", "m", Some(Emotion::Angry)),
                ("16b10Ta", "16", "f", Some(Emotion::Sad))
            ]
        );
        assert_eq!(
            (set.clips[1].statement.as_str(), set.clips[1].repetition.as_str()),
            ("b10", "a")
        );
        assert_eq!(set.clips[0].corpus, "emodb");
        let dropped = std::fs::read_to_string(stage.out_dir().join("report/dropped.csv")).unwrap();
        assert_eq!(dropped, "file,label\nwav/03a01La.wav,boredom\nwav/08a02Lb.wav,boredom\n");

        let merged = emodb_tree();
        emodb(&[("boredom", "02"), ("sad", "01")]).run(&merged.ctx(0)).unwrap();
        let set = AudioSet::read(merged.out_dir()).unwrap();
        let emotions: Vec<(&str, Option<Emotion>)> =
            set.clips.iter().map(|c| (c.file_id.as_str(), c.emotion)).collect();
        assert_eq!(
            emotions,
            [
                ("03a01La", Some(Emotion::Calm)),
                ("03a01Wa", Some(Emotion::Angry)),
                ("08a02Lb", Some(Emotion::Calm)),
                ("16b10Ta", Some(Emotion::Neutral)),
            ]
        );
        assert!(!merged.out_dir().join("report").exists());

        let all = emodb_tree();
        let err = emodb(&[("boredom", "drop"), ("angry", "drop"), ("sad", "drop")])
            .run(&all.ctx(0))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "all 4 `.wav` files of input `upstream` were left out: 0 skipped (see \
             report/skipped.csv), 4 dropped by the `labels` policy (see report/dropped.csv)"
        );
    }

    #[test]
    fn relabelled_files_are_counted_by_label_and_code() {
        let plan = |stem: &str, emotion| {
            let file = format!("{stem}.wav");
            let name = Corpus::Emodb.parse(&file).unwrap();
            (file, Plan::Decode(name, emotion))
        };
        let plans = [
            plan("03a01La", Some(Emotion::Calm)),
            plan("08a01La", Some(Emotion::Calm)),
            plan("03a01Wa", Some(Emotion::Angry)),
            plan("03a01Ta", Some(Emotion::Neutral)),
            ("09a01La.wav".into(), Plan::Drop("boredom")),
        ];
        assert_eq!(relabelled(&plans), "boredom -> 02 (2 files), sad -> 01 (1 file)");
        assert_eq!(relabelled(&plans[2..]), "sad -> 01 (1 file)");
        assert_eq!(relabelled(&plans[2..3]), "");
    }

    #[test]
    fn savee_layouts_give_the_same_clip_ids() {
        let stage = TestStage::with_input(ArtifactKind::Files);
        let root = stage.input_dir();
        write_wav(&root.join("AudioData/DC/a01.wav"), 16000, 1, &[8192; 4]);
        write_wav(&root.join("AudioData/KL/su15.wav"), 16000, 1, &[8192; 4]);
        write_wav(&root.join("ALL/JE_sa03.wav"), 16000, 1, &[8192; 4]);
        decode(Corpus::Savee, 16000, OnError::Fail).run(&stage.ctx(0)).unwrap();
        let set = AudioSet::read(stage.out_dir()).unwrap();
        let rows: Vec<(&str, &str, &str, Option<Emotion>, &str)> = set
            .clips
            .iter()
            .map(|c| {
                (
                    c.file_id.as_str(),
                    c.speaker.as_str(),
                    c.sex.as_str(),
                    c.emotion,
                    c.source.as_str(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("JE_sa03", "JE", "m", Some(Emotion::Sad), "ALL/JE_sa03.wav"),
                ("DC_a01", "DC", "m", Some(Emotion::Angry), "AudioData/DC/a01.wav"),
                ("KL_su15", "KL", "m", Some(Emotion::Surprised), "AudioData/KL/su15.wav"),
            ]
        );
        write_wav(&root.join("ALL/DC_a01.wav"), 16000, 1, &[8192; 4]);
        let err = decode(Corpus::Savee, 16000, OnError::Fail).run(&stage.ctx(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`ALL/DC_a01.wav` and `AudioData/DC/a01.wav` would both be clip `DC_a01`; clip ids \
             must be unique"
        );
    }

    #[test]
    fn bad_names_of_every_corpus_name_the_file() {
        let cases = [
            (
                Corpus::Savee,
                "a01.wav",
                "`a01.wav`: bad file name: `a01` names no speaker: expected `SPEAKER_a01` or a speaker folder `SPEAKER/a01` (SPEAKER one of DC, JE, JK, KL)",
            ),
            (
                Corpus::Tess,
                "OAF_Fear/OAF_back.wav",
                "`OAF_Fear/OAF_back.wav`: bad file name: expected at least 3 underscore-separated fields (speaker_word_emotion, e.g. OAF_back_angry), found 2",
            ),
            (
                Corpus::CremaD,
                "AudioWAV/1001_DFA_SUR_XX.wav",
                "`AudioWAV/1001_DFA_SUR_XX.wav`: bad file name: emotion `SUR` is not one of ANG, DIS, FEA, HAP, NEU, SAD",
            ),
            (
                Corpus::Emodb,
                "wav/03a01Ba.wav",
                "`wav/03a01Ba.wav`: bad file name: emotion `B` is not one of W, L, E, A, F, T, N",
            ),
        ];
        for (corpus, file, message) in cases {
            let stage = TestStage::with_input(ArtifactKind::Files);
            write_wav(&stage.input_dir().join(file), 16000, 1, &[0; 4]);
            let err = decode(corpus, 16000, OnError::Fail).run(&stage.ctx(0)).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn tess_and_crema_d_files_are_labelled() {
        let stage = TestStage::with_input(ArtifactKind::Files);
        write_wav(
            &stage.input_dir().join("YAF_pleasant_surprised/YAF_dog_ps.wav"),
            24414,
            1,
            &[0; 8],
        );
        decode(Corpus::Tess, 16000, OnError::Fail).run(&stage.ctx(0)).unwrap();
        let clip = &AudioSet::read(stage.out_dir()).unwrap().clips[0];
        assert_eq!(
            (
                clip.file_id.as_str(),
                clip.speaker.as_str(),
                clip.sex.as_str(),
                clip.statement.as_str()
            ),
            ("YAF_dog_ps", "YAF", "f", "dog")
        );
        assert_eq!((clip.emotion, clip.corpus.as_str()), (Some(Emotion::Surprised), "tess"));
        let stage = TestStage::with_input(ArtifactKind::Files);
        write_wav(&stage.input_dir().join("AudioWAV/1091_IEO_FEA_HI.wav"), 16000, 1, &[0; 8]);
        decode(Corpus::CremaD, 16000, OnError::Fail).run(&stage.ctx(0)).unwrap();
        let clip = &AudioSet::read(stage.out_dir()).unwrap().clips[0];
        assert_eq!(
            (
                clip.file_id.as_str(),
                clip.speaker.as_str(),
                clip.sex.as_str(),
                clip.intensity.as_str()
            ),
            ("1091_IEO_FEA_HI", "1091", "", "HI")
        );
        assert_eq!((clip.emotion, clip.statement.as_str()), (Some(Emotion::Fearful), "IEO"));
    }
}
