//! The `decode` stage: every clip of a corpus, mixed to mono, resampled and labelled, as one
//! audio set. A named corpus's clips are the audio files (WAV, FLAC, MP3, Ogg Vorbis, AIFF; see
//! [`crate::audio_file`]) under the input folder, labelled by
//! their paths and taken in path order, so the output does not depend on the file system; a
//! table corpus's are the rows of its table, in row order (see [`crate::table`]).
//!
//! Names (or rows) are read first, so a name outside the corpus scheme (with
//! `on_error = "fail"`) or a label that is none of the classes and has no `labels` policy
//! stops the stage before any audio is read. Nothing is left out silently: with
//! `on_error = "skip"`, files (rows) that cannot be decoded are listed with the reason in
//! `report/skipped.csv` (`file,reason`; `row,file,reason` for a table) and counted in a
//! warning; files of a label whose policy is `drop` are listed in `report/dropped.csv`
//! (`file,label`; `row,file,label`) and counted in the log. The set's label set is written
//! beside its manifest (`classes.csv`).

use std::collections::BTreeMap;
use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::Clip;
use vox_api::labels::LabelSet;
use vox_api::{
    Applied, Applies, ApplyContext, ArtifactKind, Facts, InputSpec, ParamError, PlannedInput, StageContext, StageDef,
    StageError,
};

use crate::corpus::Corpus;
use crate::error::{AudioError, FileError};
use crate::file_filter::FileFilter;
use crate::label_policy::{LabelMapping, Resolution, file_count, parse_classes};
use crate::new_audio;
use crate::parallel::for_each_in_order;
use crate::resample::Resampler;
use crate::set_writer;
use crate::sources::{self, Place, Source, Sources};
use crate::table::{self, Columns};
use crate::audio_file::AudioBuffers;
use crate::wav::Downmix;

/// Decodes every clip of a corpus (8-bit unsigned, 16/24/32-bit PCM, 32-bit float, mu-law,
/// A-law or ADPCM WAV, plain or WAVE_FORMAT_EXTENSIBLE; FLAC, MP3, Ogg Vorbis, AIFF; any channel count averaged to
/// mono; another audio format, such as `.m4a` or Opus, is a file that fails), resamples it
/// band-limited to `sample_rate` and labels it: from its path for a named corpus, from a table
/// for `corpus = "csv"`. Writes the corpus's classes beside the manifest.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decode {
    /// Where clips and labels come from: a naming scheme, `ravdess` (`03-01-EE-II-SS-RR-AA.wav`;
    /// odd actors male), `savee` (`DC/a01.wav` or `DC_a01.wav`), `tess`
    /// (`OAF_word_emotion.wav`, folders ignored), `crema-d` (`1001_DFA_ANG_XX.wav`), `emodb`
    /// (`03a01Fa.wav`; boredom needs a `labels` policy), `iemocap` (its released layout,
    /// labelled by the dialogs' `EmoEvaluation` files; see the README for the four-class
    /// protocol), `unlabeled` (any name, no labels, empty speaker); or `csv`, a table of the
    /// clips (the `table` param).
    #[serde(default = "default_corpus")]
    pub corpus: Corpus,
    /// The classes of the decoded set, in order (they order probability columns, tables and
    /// `output.txt`), e.g. `["neutral", "happy", "angry", "sad"]`. Unset: RAVDESS's codes
    /// `01`..`08` (described neutral .. surprised) for the emotion corpora, which their labels
    /// join by emotion name (SAVEE `sa` is `04`); none for `unlabeled`; for `csv`, the labels
    /// found, sorted. A label that is none of the classes needs a `labels` policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// What happens to the files of a corpus label, by label: `"drop"` leaves them out (listed
    /// in `report/dropped.csv`), a class (by name or description) relabels them, e.g.
    /// `{ boredom = "drop" }` or `{ boredom = "02" }` for EmoDB, `{ calm = "01" }` to merge
    /// RAVDESS calm into neutral, `{ excited = "happy" }`. The key `"*"` applies to every label
    /// that is none of the classes and has no entry, e.g. `{ "*" = "drop" }`. Labels are the
    /// RAVDESS emotion names (neutral, calm, happy, sad, angry, fearful, disgust, surprised)
    /// for those the RAVDESS codes name, the corpus's word otherwise (EmoDB `boredom`), a
    /// table's label cells for `csv`. Empty by default.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `csv` only: the table's path inside the input folder, e.g. `"labels.csv"` or
    /// `"meta/db.emotion.tsv"` (CSV, or TSV for `.tsv`/`.tab` names or tab-separated headers, or
    /// semicolon-separated for headers with semicolons and no commas, as Excel writes them).
    /// Audio paths in it are relative to its folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// `csv` only: which column holds each field, e.g. `{ path = "wav", label = "emo",
    /// speaker = "spk" }`. Unset fields use their default columns when the table has them:
    /// path `file`/`path`, label `label`/`emotion`, speaker `speaker`, split `split`/`set`, sex
    /// `sex`/`gender`, corpus `corpus`, id `id`/`file_id`, start `start`, end `end` (times cut a
    /// segment out of a longer file). Other columns are kept in the manifest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Columns>,
    /// Decode only the files whose path (relative to the input folder) matches one of these
    /// glob patterns, e.g. `["Actor_24/*"]`; `*` stays in one folder, `**` crosses folders.
    /// Empty (default): every file. For a table corpus, its rows' files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// Leave out the files whose path matches one of these glob patterns, e.g.
    /// `["Actor_24/*"]` (the held-out speaker another decode takes as unlabeled audio).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Output sample rate in Hz (1000..=384000); 16000 suits wav2vec2 and eGeMAPS.
    #[serde(default = "default_sample_rate")]
    pub sample_rate: u32,
    /// The one channel to keep, counted from 1 (`1` = left), e.g. the close-talk microphone of a
    /// stereo recording or one speaker of a two-channel session; unset: the mean of every
    /// channel. A table's `channel` column chooses per row instead (a call's rows alternating
    /// between its speakers' channels). A file without that channel cannot be decoded
    /// (`on_error` decides).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<u16>,
    /// What a file (or table row) that cannot be decoded (corrupt header, unsupported
    /// encoding, no samples, name outside the corpus scheme, missing file, empty label) does:
    /// `fail` stops the stage naming the file and the reason; `skip` leaves it out and lists it
    /// in `report/skipped.csv`.
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

/// What the planning pass decided for one clip.
enum Plan {
    /// Decode it and label it with this class.
    Decode(Box<Source>, Option<String>),
    /// Leave it out by the `labels` policy; its label.
    Drop(String),
    /// It has no source (a name outside the corpus scheme, a bad row; with `on_error =
    /// "skip"`): why.
    Skip(String),
}

/// What became of one clip.
enum Outcome {
    /// A clip (its samples are in the worker's output slot).
    Clip(Box<Clip>),
    /// Left out by the `labels` policy; its label.
    Dropped(String),
    /// Not decodable.
    Failed(FileError),
    /// Without a source (see [`Plan::Skip`]).
    Skipped(String),
}

impl Decode {
    /// How `source`'s channels become one: its row's channel, else `channel`, else their mean.
    fn downmix_of(&self, source: &Source) -> Downmix {
        source.channel.or(self.channel).map_or(Downmix::Mean, |channel| Downmix::Channel(usize::from(channel).saturating_sub(1)))
    }

    /// The label mapping of the params.
    fn mapping(&self) -> Result<LabelMapping, ParamError> {
        let classes = match &self.classes {
            Some(names) => Some(parse_classes(names)?),
            None => self.corpus.default_classes(),
        };
        let words = self.corpus.words();
        LabelMapping::new(self.corpus.name(), words.as_deref(), classes, &self.labels)
    }

    /// Decodes `source` (under `root`) into a manifest row and its samples (into `samples`,
    /// replacing its contents) labelled `class`, with this worker's buffers and resampler.
    fn decode(
        &self,
        (buffers, resampler): &mut (AudioBuffers, Resampler),
        root: &Path,
        source: &Source,
        class: Option<String>,
        samples: &mut Vec<f32>,
    ) -> Result<Clip, FileError> {
        let (mono, from) = buffers.read(&root.join(&source.file), self.downmix_of(source), source.segment)?;
        resampler
            .resample_into(mono, from, self.sample_rate, samples)
            .map_err(|e| FileError::Resample { from, to: self.sample_rate, source: e })?;
        Ok(Clip {
            file_id: source.file_id.clone(),
            corpus: source.corpus.clone(),
            speaker: source.speaker.clone(),
            sex: source.sex.clone(),
            label: class,
            intensity: source.intensity.clone(),
            statement: source.statement.clone(),
            repetition: source.repetition.clone(),
            split: source.split,
            source: source.file.clone(),
            sample_rate: self.sample_rate,
            offset: 0,
            length: 0,
            original_length: samples.len() as u64,
            extra: source.extra.clone(),
        })
    }

    /// The clips of the input folder `root`: its named files, or its table's rows.
    fn sources(&self, root: &Path) -> Result<Sources, AudioError> {
        if self.corpus == Corpus::Iemocap {
            return crate::corpus::iemocap::sources(root);
        }
        if self.corpus.is_named() {
            return sources::named_files(self.corpus, root);
        }
        let table = self.table.as_deref().unwrap_or_default();
        table::read(root, table, &self.columns.clone().unwrap_or_default(), table::Paths::Inside)
    }

    /// Applies the `labels` policy to every clip, in order. Fails on the first bad one with
    /// `on_error = "fail"`, and on labels that need a policy.
    fn plan(
        &self,
        sources: Sources,
        mapping: &LabelMapping,
        classes: Option<&LabelSet>,
        read: &Read,
    ) -> Result<Vec<(Place, Plan)>, AudioError> {
        let mut plans = Vec::with_capacity(sources.len());
        let mut unresolved: BTreeMap<String, usize> = BTreeMap::new();
        for (place, source) in sources {
            let plan = match (source, read.on_error) {
                (Err(source), OnError::Fail) => {
                    return Err(AudioError::File { file: place.to_string(), source, hint: read.fail_hint });
                }
                (Err(reason), OnError::Skip) => Plan::Skip(reason.to_string()),
                (Ok(source), _) => match mapping.resolve(source.label.as_deref()) {
                    Resolution::Keep(class) => Plan::Decode(Box::new(source), class),
                    Resolution::Drop(label) => Plan::Drop(label),
                    Resolution::Unresolved(label) => {
                        *unresolved.entry(label).or_default() += 1;
                        continue;
                    }
                },
            };
            plans.push((place, plan));
        }
        if !unresolved.is_empty() {
            return Err(AudioError::UnresolvedLabels {
                corpus: self.corpus.name(),
                classes: classes.cloned().unwrap_or_default(),
                labels: unresolved.into_iter().collect(),
            });
        }
        Ok(plans)
    }
}

/// Writes `report/<name>`: a `header` row, then `rows`.
fn write_report(ctx: &StageContext, name: &str, header: &[&str], rows: &[Vec<String>]) -> Result<(), AudioError> {
    let report = ctx
        .report_dir()
        .map_err(|source| AudioError::Io { path: ctx.out_dir.join("report"), source })?;
    let path = report.join(name);
    let csv_err = |source| AudioError::Csv { path: path.clone(), source };
    let mut writer = csv::Writer::from_path(&path).map_err(csv_err)?;
    writer.write_record(header).map_err(csv_err)?;
    for row in rows {
        writer.write_record(row).map_err(csv_err)?;
    }
    writer.flush().map_err(|source| AudioError::Io { path: path.clone(), source })
}

/// `boredom -> 02 (79 files)`: how many files the `labels` policy gives a class, by label and
/// class; empty when none.
fn relabelled(plans: &[(Place, Plan)], mapping: &LabelMapping) -> String {
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (_, plan) in plans {
        if let Plan::Decode(source, Some(class)) = plan
            && let Some(label) = source.label.as_deref()
            && label != class
            && mapping.by_policy(label)
        {
            *counts.entry((label, class)).or_default() += 1;
        }
    }
    let parts: Vec<String> =
        counts.iter().map(|((label, class), &n)| format!("{label} -> {class} ({})", file_count(n))).collect();
    parts.join(", ")
}

/// The error for two clips with one id, `first` and `second`: where their files differ only in
/// format (CREMA-D ships `AudioWAV/` and `AudioMP3/`), how to keep one.
fn duplicate(file_id: String, first: &Place, second: &Place) -> AudioError {
    let extension = |place: &Place| crate::audio_file::extension(Path::new(&place.file));
    let (a, b) = (extension(first), extension(second));
    let hint = if !a.eq_ignore_ascii_case(&b) && !a.is_empty() && !b.is_empty() {
        // Suggest the lossless copy where there is one.
        let lossy = crate::audio_file::is_lossy;
        let keep = if lossy(&a) && !lossy(&b) { &b } else { &a };
        format!(" (the same recording as .{a} and .{b}? keep one format with `include = [\"**/*.{keep}\"]`)")
    } else {
        String::new()
    };
    AudioError::DuplicateClip { file_id, first: first.to_string(), second: second.to_string(), hint }
}

/// `boredom: 79, calm: 3`: how many clips each label has in `labels`.
fn count_by_label<'a>(labels: impl IntoIterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for label in labels {
        *counts.entry(label).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(label, n)| format!("{label}: {n}")).collect();
    parts.join(", ")
}

impl StageDef for Decode {
    const KIND: &'static str = "decode";
    // 2: a longer resampler block (same quality, slightly different output bytes).
    // 3: label sets: `classes.csv` beside the manifest, whose label column is `label`.
    // 4: FLAC, MP3, Ogg Vorbis and AIFF files are clips too (they were passed over), and
    //    mu-law, A-law and ADPCM WAVs decode (they failed); a corpus of PCM or float WAVs
    //    decodes to the same bytes, so its downstream entries stay valid.
    // 5: a table's `channel` column picks each row's channel (it was kept as a plain column,
    //    and every channel averaged); tables without one decode to the same bytes.
    const VERSION: u32 = 5;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Files]);
    const OUTPUT: ArtifactKind = ArtifactKind::Audio;
    const APPLIES: Applies = Applies::Entry;

    fn validate(&self) -> Result<(), ParamError> {
        if self.channel == Some(0) {
            return Err(ParamError::new("channel", "`channel` counts from 1 (1 = the first, left channel); unset: the mean of every channel"));
        }
        if !(1000..=384_000).contains(&self.sample_rate) {
            return Err(ParamError::new(
                "sample_rate",
                format!("`sample_rate` must be 1000..=384000 Hz, not {}", self.sample_rate),
            ));
        }
        match (self.corpus, &self.table) {
            (Corpus::Csv, None) => {
                return Err(ParamError::new(
                    "table",
                    "`corpus = \"csv\"` needs `table`, the table's path inside the input folder (e.g. \"labels.csv\")",
                ));
            }
            (corpus, Some(_)) if corpus != Corpus::Csv => {
                return Err(ParamError::new("table", "`table` needs `corpus = \"csv\"`"));
            }
            _ => {}
        }
        if self.corpus != Corpus::Csv && self.columns.is_some() {
            return Err(ParamError::new("columns", "`columns` needs `corpus = \"csv\"`"));
        }
        FileFilter::new(&self.include, &self.exclude)?;
        self.mapping().map(|_| ())
    }

    /// A named corpus's clips are unsplit and labelled (none for `unlabeled`); a table's
    /// splits, and its classes unless `classes` names them, are known only once it is read.
    fn facts(&self, _inputs: &[PlannedInput]) -> Result<Facts, ParamError> {
        let classes = match &self.classes {
            Some(names) => Some(parse_classes(names)?),
            None => self.corpus.default_classes(),
        };
        let labelled_splits = match self.corpus {
            Corpus::Csv => None,
            Corpus::Unlabeled => Some(Default::default()),
            _ => Some([vox_api::audio::Split::None].into()),
        };
        Ok(Facts { labelled_splits, classes, cross_validated: false })
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let mapping = self.mapping()?;
        let filter = FileFilter::new(&self.include, &self.exclude)?;
        let input = ctx.input();
        let mut sources = self.sources(&input.dir)?;
        if filter.is_active() {
            for unused in filter.unused(sources.iter().map(|(place, _)| place.file.as_str())) {
                tracing::warn!("{}: `{unused}` matches no file of input `{}`", ctx.stage, input.name);
            }
            let before = sources.len();
            sources.retain(|(place, _)| filter.keeps(&place.file));
            if sources.is_empty() && before > 0 {
                return Err(AudioError::NothingIncluded { input: input.name.clone(), files: before }.into());
            }
            tracing::info!(
                "{}: {} of {before} {} kept by `include`/`exclude`",
                ctx.stage,
                sources.len(),
                if self.corpus.is_named() { "files" } else { "table rows" }
            );
        }
        if sources.is_empty() {
            return Err(match self.corpus.is_named() {
                true => AudioError::NoAudioFiles { input: input.name.clone() },
                false => AudioError::EmptyTable { table: self.table.clone().unwrap_or_default() },
            }
            .into());
        }
        if !self.corpus.is_named() {
            let labels: Vec<&str> =
                sources.iter().filter_map(|(_, s)| s.as_ref().ok()?.label.as_deref()).collect();
            for key in mapping.keys().filter(|key| !labels.contains(key)) {
                tracing::warn!("{}: `labels.{key}` applies to no row of the table", ctx.stage);
            }
        }
        let given = match &self.classes {
            Some(names) => Some(parse_classes(names)?),
            None => self.corpus.default_classes(),
        };
        let read = Read {
            root: &input.dir,
            input: &input.name,
            table: !self.corpus.is_named(),
            on_error: self.on_error,
            fail_hint: SKIP_HINT,
        };
        Ok(self.decode_sources(ctx, &read, sources, &mapping, given.as_ref())?)
    }

    /// Reads the new recordings given to `vox predict` (files, folders, tables) as unlabeled
    /// clips, at the run's sample rate, under the run's classes; any file that cannot be read
    /// stops it, named.
    fn apply(&self, ctx: &ApplyContext) -> Result<Applied, StageError> {
        let classes = LabelSet::read(ctx.trained)?;
        let mapping = LabelMapping::new(Corpus::Unlabeled.name(), None, Some(classes.clone()), &BTreeMap::new())?;
        let mut sources = new_audio::sources(ctx.new_audio)?;
        if let Some(cutting) = ctx.windows {
            sources = new_audio::windowed(sources, cutting, |source| self.downmix_of(source));
        }
        let read = Read { root: Path::new(""), input: "new audio", table: false, on_error: OnError::Fail, fail_hint: "" };
        self.decode_sources(&ctx.run, &read, sources, &mapping, Some(&classes))?;
        Ok(Applied::Wrote)
    }
}

/// Where [`Decode::decode_sources`] reads from and how it treats bad files.
struct Read<'a> {
    /// The folder the sources' files are relative to.
    root: &'a Path,
    /// The input's name, for messages.
    input: &'a str,
    /// Whether the sources are table rows (reports lead with the row number).
    table: bool,
    /// What to do with a file that cannot be decoded.
    on_error: OnError,
    /// Appended to the error that stops at a bad file.
    fail_hint: &'static str,
}

/// A pipeline's decode that stops at a bad file says how to go on without it.
const SKIP_HINT: &str = "; `on_error = \"skip\"` leaves such files out (listed in the stage's `skipped.csv`)";

impl Decode {
    /// Labels `sources` by `mapping` (classes `given`, else the kept labels), decodes them in
    /// order and writes the audio set, the skip and drop reports and the log lines.
    fn decode_sources(
        &self,
        ctx: &StageContext,
        read: &Read,
        sources: Sources,
        mapping: &LabelMapping,
        given: Option<&LabelSet>,
    ) -> Result<(), AudioError> {
        let total = sources.len();
        let on_error = read.on_error;
        let plans = self.plan(sources, mapping, given, read)?;
        let classes = mapping.classes(plans.iter().filter_map(|(_, plan)| match plan {
            Plan::Decode(_, class) => class.as_deref(),
            _ => None,
        }));
        let relabelled = relabelled(&plans, mapping);
        if !relabelled.is_empty() {
            tracing::info!("{}: relabelled by the `labels` policy: {relabelled}", ctx.stage);
        }
        let (mut rows, samples_out) = set_writer::create(ctx.out_dir, classes)?;
        let mut skipped: Vec<Vec<String>> = Vec::new();
        let mut dropped: Vec<Vec<String>> = Vec::new();
        let mut ids: BTreeMap<String, Place> = BTreeMap::new();
        let table = read.table;
        // Written as decoded, batch by batch in order, so the set is never held whole: each
        // batch's clips are placed in order, then their samples written while the next batch
        // decodes.
        for_each_in_order(
            ctx,
            &plans,
            "decode",
            BATCH,
            || (AudioBuffers::default(), Resampler::default()),
            |worker, (_, plan), samples| match plan {
                Plan::Decode(source, class) => {
                    match self.decode(worker, read.root, source, class.clone(), samples) {
                        Ok(clip) => Outcome::Clip(Box::new(clip)),
                        Err(reason) => Outcome::Failed(reason),
                    }
                }
                Plan::Drop(label) => Outcome::Dropped(label.clone()),
                Plan::Skip(reason) => Outcome::Skipped(reason.clone()),
            },
            |(place, _), outcome, samples| -> Result<Option<u64>, AudioError> {
                let mut row = place.cells();
                match (outcome, on_error) {
                    (Outcome::Clip(clip), _) => {
                        if let Some(first) = ids.insert(clip.file_id.clone(), place.clone()) {
                            return Err(duplicate(clip.file_id, &first, place));
                        }
                        return Ok(Some(rows.place(*clip, samples.len() as u64)));
                    }
                    (Outcome::Dropped(label), _) => {
                        row.push(label);
                        dropped.push(row);
                    }
                    (Outcome::Failed(source), OnError::Fail) => {
                        return Err(AudioError::File { file: place.to_string(), source, hint: read.fail_hint });
                    }
                    (Outcome::Failed(reason), OnError::Skip) => {
                        row.push(reason.to_string());
                        skipped.push(row);
                    }
                    (Outcome::Skipped(reason), _) => {
                        row.push(reason);
                        skipped.push(row);
                    }
                }
                Ok(None)
            },
            |offset, samples| match offset {
                Some(offset) => samples_out.write_at(offset, samples),
                None => Ok(()),
            },
        )?;
        let lead: &[&str] = if table { &["row", "file"] } else { &["file"] };
        if on_error == OnError::Skip {
            let header: Vec<&str> = lead.iter().copied().chain(["reason"]).collect();
            write_report(ctx, SKIPPED, &header, &skipped)?;
            if !skipped.is_empty() {
                tracing::warn!(
                    "{}: skipped {} of {total} {} that could not be decoded (see {}/{SKIPPED} in the run folder)",
                    ctx.stage,
                    skipped.len(),
                    if table { "rows" } else { "files" },
                    ctx.stage,
                );
            }
        }
        if mapping.drops() {
            let header: Vec<&str> = lead.iter().copied().chain(["label"]).collect();
            write_report(ctx, DROPPED, &header, &dropped)?;
            tracing::info!(
                "{}: dropped {} of {total} {} by the `labels` policy ({}; see {}/{DROPPED} in the run folder)",
                ctx.stage,
                dropped.len(),
                if table { "rows" } else { "files" },
                count_by_label(dropped.iter().filter_map(|row| row.last().map(String::as_str))),
                ctx.stage,
            );
        }
        if rows.is_empty() {
            return Err(AudioError::NoClipsLeft {
                input: read.input.to_string(),
                what: if table { "table rows" } else { "audio files" },
                files: total,
                skipped: skipped.len(),
                dropped: dropped.len(),
                first_skip: skipped.first().map(|row| row.join(": ")),
            });
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

    fn decode(corpus: Corpus, sample_rate: u32, on_error: OnError) -> Decode {
        Decode {
            corpus,
            classes: None,
            labels: BTreeMap::new(),
            table: None,
            columns: None,
            include: Vec::new(),
            exclude: Vec::new(),
            sample_rate,
            channel: None,
            on_error,
        }
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
            (sad.label.as_deref(), sad.speaker.as_str(), sad.sex.as_str()),
            (Some("04"), "01", "m")
        );
        assert_eq!(
            (sad.statement.as_str(), sad.repetition.as_str(), sad.intensity.as_str()),
            ("02", "01", "01")
        );
        assert_eq!((sad.length, sad.original_length, sad.sample_rate), (1600, 1600, 16000));
        // A constant resamples to itself away from the edges.
        assert!((set.samples_of(sad)[800] - 0.1).abs() < 1e-3, "{}", set.samples_of(sad)[800]);
        assert_eq!(
            (angry.label.as_deref(), angry.speaker.as_str(), angry.sex.as_str()),
            (Some("05"), "02", "f")
        );
        assert_eq!(angry.intensity, "02");
        assert_eq!(set.samples_of(angry), [0.25, -0.25, 0.25]);
        assert_eq!(angry.corpus, "ravdess");
        assert!(!stage.out_dir().join("report").exists());
        // `channel = 2` keeps the stereo file's right channel; the mono file has none.
        let right = TestStage::with_input(ArtifactKind::Files);
        for (file, rate, channels, samples) in
            [("Actor_02/03-01-05-02-01-02-02.wav", 16000, 2, &[16384, 0, 0, -16384, 8192, 8192][..]), ("Actor_01/03-01-04-01-02-01-01.wav", 48000, 1, &[3276; 4800])]
        {
            write_wav(&right.input_dir().join(file), rate, channels, samples);
        }
        let params = Decode { channel: Some(2), ..decode(Corpus::Ravdess, 16000, OnError::Skip) };
        params.run(&right.ctx(0)).unwrap();
        let set = AudioSet::read(right.out_dir()).unwrap();
        assert_eq!(set.clips.len(), 1);
        assert_eq!(set.samples_of(&set.clips[0]), [0.0, -0.5, 0.25]);
        let skipped = std::fs::read_to_string(right.out_dir().join("report/skipped.csv")).unwrap();
        assert_eq!(skipped, "file,reason\nActor_01/03-01-04-01-02-01-01.wav,`channel = 2` but the file has 1 channel(s)\n");
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
        let mut worker = <(AudioBuffers, Resampler)>::default();
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
            let (mono, from) = worker.0.read_mono(&path, Downmix::Mean).unwrap();
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
        assert_eq!((clip.label.as_deref(), clip.speaker.as_str(), clip.sex.as_str()), (None, "", ""));
        assert!(set.labels.is_empty());
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
            format!("`Actor_01/03-01-09-01-01-01-01.wav`: bad file name: emotion `09` is not one of 01..08{SKIP_HINT}")
        );
        let twice = TestStage::with_input(ArtifactKind::Files);
        write_wav(&twice.input_dir().join("a/take.wav"), 16000, 1, &[0; 8]);
        write_wav(&twice.input_dir().join("b/take.wav"), 16000, 1, &[0; 8]);
        let err = decode(Corpus::Unlabeled, 16000, OnError::Skip).run(&twice.ctx(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`a/take.wav` and `b/take.wav` would both be clip `take`; clip ids must be unique"
        );
        // CREMA-D's repository holds each clip as AudioWAV/*.wav and AudioMP3/*.mp3.
        let formats = TestStage::with_input(ArtifactKind::Files);
        let name = "1001_DFA_ANG_XX";
        write_wav(&formats.input_dir().join(format!("AudioWAV/{name}.wav")), 16000, 1, &[800; 4800]);
        std::fs::create_dir_all(formats.input_dir().join("AudioMP3")).unwrap();
        let mp3 = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/codecs/stereo.mp3");
        std::fs::copy(mp3, formats.input_dir().join(format!("AudioMP3/{name}.mp3"))).unwrap();
        let err = decode(Corpus::CremaD, 16000, OnError::Fail).run(&formats.ctx(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "`AudioMP3/{name}.mp3` and `AudioWAV/{name}.wav` would both be clip `{name}`; clip ids must \
                 be unique (the same recording as .mp3 and .wav? keep one format with `include = \
                 [\"**/*.wav\"]`)"
            )
        );
        let empty = TestStage::with_input(ArtifactKind::Files);
        let err = decode(Corpus::Ravdess, 16000, OnError::Fail).run(&empty.ctx(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "input `upstream` holds no audio files (WAV, FLAC, MP3, Ogg Vorbis or AIFF)"
        );
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
        let err = kind.configure(toml::toml! { channel = 0 }).err().unwrap();
        assert_eq!(err.path, "channel");
        let stage = kind.configure(toml::toml! { channel = 1 }).unwrap();
        assert_eq!(stage.params()["channel"], 1, "keyed only where written");
        let err = kind.configure(toml::toml! { sample_rate = 10 }).err().unwrap();
        assert_eq!(
            (err.path.as_str(), err.message.as_str()),
            ("sample_rate", "`sample_rate` must be 1000..=384000 Hz, not 10")
        );
        for corpus in ["ravdess", "savee", "tess", "crema-d", "emodb", "unlabeled"] {
            let stage = kind.configure(toml::toml! { corpus = corpus }).unwrap();
            assert_eq!(stage.params()["corpus"], corpus);
        }
        let err = kind.configure(toml::toml! { corpus = "csv" }).err().unwrap();
        assert_eq!(err.path, "table");
        let err = kind.configure(toml::toml! { table = "t.csv" }).err().unwrap();
        assert_eq!(err.message, "`table` needs `corpus = \"csv\"`");
        let err = kind.configure(toml::toml! { classes = ["a", "a"] }).err().unwrap();
        assert_eq!((err.path.as_str(), err.message.as_str()), ("classes.1", "class `a` is listed twice"));
        assert!(kind.configure(toml::toml! { corpus = "iemocap-x" }).is_err());
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
                "`labels.boredom` must be \"drop\" or one of the classes (01 neutral, 02 calm, 03 \
                 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised), not `09`"
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
            "corpus `emodb` label `boredom` (2 files) is none of the classes (01 neutral, 02 calm, \
             03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised); set a policy in \
             this stage's params: `labels = { boredom = \"drop\" }` leaves the files out (listed \
             in the stage's dropped.csv), `labels = { boredom = \"01\" }` merges them into a class, \
             `labels = { \"*\" = \"drop\" }` leaves out every label that is no class, or `classes = \
             [...]` lists the classes to keep"
        );
        assert!(!stage.out_dir().join("manifest.csv").exists());
    }

    #[test]
    fn dropped_labels_are_listed_and_merged_labels_relabelled() {
        let stage = emodb_tree();
        emodb(&[("boredom", "drop")]).run(&stage.ctx(0)).unwrap();
        let set = AudioSet::read(stage.out_dir()).unwrap();
        let rows: Vec<(&str, &str, &str, Option<&str>)> = set
            .clips
            .iter()
            .map(|c| (c.file_id.as_str(), c.speaker.as_str(), c.sex.as_str(), c.label.as_deref()))
            .collect();
        assert_eq!(rows, [("03a01Wa", "03", "m", Some("05")), ("16b10Ta", "16", "f", Some("04"))]);
        assert_eq!(set.labels, crate::emotion::ravdess_classes());
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
        let labels: Vec<(&str, Option<&str>)> =
            set.clips.iter().map(|c| (c.file_id.as_str(), c.label.as_deref())).collect();
        assert_eq!(
            labels,
            [("03a01La", Some("02")), ("03a01Wa", Some("05")), ("08a02Lb", Some("02")), ("16b10Ta", Some("01"))]
        );
        assert!(!merged.out_dir().join("report").exists());

        let all = emodb_tree();
        let err = emodb(&[("boredom", "drop"), ("angry", "drop"), ("sad", "drop")])
            .run(&all.ctx(0))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "all 4 audio files of input `upstream` were left out: 0 skipped, 4 dropped by the \
             `labels` policy"
        );
    }

    #[test]
    fn relabelled_files_are_counted_by_label_and_class() {
        let mapping = emodb(&[("boredom", "02"), ("sad", "01"), ("*", "drop")]).mapping().unwrap();
        let plan = |stem: &str, class: &str| {
            let file = format!("{stem}.wav");
            let source = Source::named(Corpus::Emodb, file.clone(), Corpus::Emodb.parse(&file).unwrap());
            (Place { row: None, file }, Plan::Decode(Box::new(source), Some(class.into())))
        };
        let plans = [
            plan("03a01La", "02"),
            plan("08a01La", "02"),
            plan("03a01Wa", "05"),
            plan("03a01Ta", "01"),
            (Place { row: None, file: "09a01La.wav".into() }, Plan::Drop("boredom".into())),
        ];
        assert_eq!(relabelled(&plans, &mapping), "boredom -> 02 (2 files), sad -> 01 (1 file)");
        assert_eq!(relabelled(&plans[2..], &mapping), "sad -> 01 (1 file)");
        assert_eq!(relabelled(&plans[2..3], &mapping), "");
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
        let rows: Vec<(&str, &str, &str, Option<&str>, &str)> = set
            .clips
            .iter()
            .map(|c| (c.file_id.as_str(), c.speaker.as_str(), c.sex.as_str(), c.label.as_deref(), c.source.as_str()))
            .collect();
        assert_eq!(
            rows,
            [
                ("JE_sa03", "JE", "m", Some("04"), "ALL/JE_sa03.wav"),
                ("DC_a01", "DC", "m", Some("05"), "AudioData/DC/a01.wav"),
                ("KL_su15", "KL", "m", Some("08"), "AudioData/KL/su15.wav"),
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
            assert_eq!(err.to_string(), format!("{message}{SKIP_HINT}"));
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
        assert_eq!((clip.label.as_deref(), clip.corpus.as_str()), (Some("08"), "tess"));
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
        assert_eq!((clip.label.as_deref(), clip.statement.as_str()), (Some("06"), "IEO"));
    }

    /// A table corpus: `meta/labels.csv` over `audio/`, one 2 s file at 8 kHz whose samples
    /// count up (sample `n` is `n / 32768`) cut into segments, and whole files.
    fn table_corpus(table: &str) -> TestStage {
        let stage = TestStage::with_input(ArtifactKind::Files);
        let root = stage.input_dir();
        let ramp: Vec<i16> = (0..16000).map(|n| n as i16).collect();
        write_wav(&root.join("audio/long.wav"), 8000, 1, &ramp);
        write_wav(&root.join("audio/a.wav"), 8000, 1, &[1000; 80]);
        write_wav(&root.join("audio/b.wav"), 8000, 2, &[2000; 160]);
        std::fs::create_dir_all(root.join("meta")).unwrap();
        std::fs::write(root.join("meta/labels.csv"), table).unwrap();
        stage
    }

    fn csv(labels: &[(&str, &str)], on_error: OnError) -> Decode {
        let labels = labels.iter().map(|&(k, v)| (k.to_string(), v.to_string())).collect();
        Decode {
            corpus: Corpus::Csv,
            table: Some("meta/labels.csv".into()),
            labels,
            ..decode(Corpus::Csv, 8000, on_error)
        }
    }

    const TABLE: &str = "file,emotion,speaker,gender,session,start,end\n\
        ../audio/long.wav,neu,s1,Female,Ses01,0.5,0.75\n\
        ../audio/long.wav,exc,s1,F,Ses01,0 days 00:00:01.000000,NaT\n\
        ../audio/a.wav,ang,s2,male,Ses02,,\n\
        ../audio/missing.wav,ang,s2,m,Ses02,,\n\
        ../audio/b.wav,,s3,m,Ses02,,\n\
        ../audio/b.wav,hap,s3,m,Ses02,x,\n";

    #[test]
    fn a_table_names_each_bad_row_and_skips_it_when_asked() {
        let stage = table_corpus(TABLE);
        let err = csv(&[], OnError::Fail).run(&stage.ctx(0)).unwrap_err();
        assert_eq!(err.to_string(), format!("row 4 (`audio/missing.wav`): `audio/missing.wav` does not exist{SKIP_HINT}"));
        csv(&[("exc", "hap")], OnError::Skip).run(&stage.ctx(0)).unwrap();
        let set = AudioSet::read(stage.out_dir()).unwrap();
        assert_eq!(set.labels.names().collect::<Vec<_>>(), ["ang", "hap", "neu"]);
        type Row<'a> = (&'a str, Option<&'a str>, &'a str, &'a str, &'a str, &'a str);
        let rows: Vec<Row> = set
            .clips
            .iter()
            .map(|c| {
                let session = c.extra.get("session").map_or("", String::as_str);
                (c.file_id.as_str(), c.label.as_deref(), c.speaker.as_str(), c.sex.as_str(), session, c.corpus.as_str())
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("long_0.5-0.75", Some("neu"), "s1", "f", "Ses01", "labels"),
                ("long_1-end", Some("hap"), "s1", "f", "Ses01", "labels"),
                ("a", Some("ang"), "s2", "m", "Ses02", "labels"),
            ]
        );
        // The segments hold exactly their stretch of the ramp: 0.5 s = sample 4000.
        let first = set.samples_of(&set.clips[0]);
        assert_eq!(first.len(), 2000);
        assert_eq!((first[0], first[1999]), (4000.0 / 32768.0, 5999.0 / 32768.0));
        let second = set.samples_of(&set.clips[1]);
        assert_eq!((second.len(), second[0]), (8000, 8000.0 / 32768.0));
        assert_eq!(set.clips[0].source, "audio/long.wav");
        let skipped = std::fs::read_to_string(stage.out_dir().join("report/skipped.csv")).unwrap();
        assert_eq!(
            skipped,
            "row,file,reason\n\
             4,audio/missing.wav,`audio/missing.wav` does not exist\n\
             5,audio/b.wav,the label is empty (only test rows may be unlabeled)\n\
             6,audio/b.wav,\"start `x` is not a time (seconds, HH:MM:SS.fff or `0 days 00:00:01.5`)\"\n"
        );
    }

    /// A call: two speakers on the two channels of one file, the table's rows alternating
    /// between them in time order.
    #[test]
    fn a_table_channel_column_chooses_each_rows_channel() {
        let stage = table_corpus("");
        // 2 s at 8 kHz: the left channel counts up (n), the right down (-n).
        let call: Vec<i16> = (0..16000).flat_map(|n| [n as i16, -(n as i16)]).collect();
        write_wav(&stage.input_dir().join("audio/call.wav"), 8000, 2, &call);
        let table = "file,label,speaker,channel,start,end\n\
            ../audio/call.wav,neu,agent,1,0,0.5\n\
            ../audio/call.wav,ang,caller,2.0,0,0.5\n\
            ../audio/call.wav,neu,agent,1,0.5,1\n\
            ../audio/call.wav,ang,both,,1,1.5\n\
            ../audio/call.wav,ang,caller,3,0,0.5\n\
            ../audio/call.wav,ang,caller,left,0,0.5\n\
            ../audio/a.wav,neu,x,1,,\n";
        std::fs::write(stage.input_dir().join("meta/labels.csv"), table).unwrap();
        csv(&[], OnError::Skip).run(&stage.ctx(0)).unwrap();
        let set = AudioSet::read(stage.out_dir()).unwrap();
        let rows: Vec<(&str, &str, usize, f32)> = set
            .clips
            .iter()
            .map(|c| {
                let samples = set.samples_of(c);
                (c.file_id.as_str(), c.extra.get("channel").map_or("", String::as_str), samples.len(), samples[1] * 32768.0)
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("call_ch1_0-0.5", "1", 4000, 1.0),
                ("call_ch2_0-0.5", "2", 4000, -1.0),
                ("call_ch1_0.5-1", "1", 4000, 4001.0),
                // No channel: the mean of n and -n.
                ("call_1-1.5", "", 4000, 0.0),
                // A mono file's channel 1 is the file.
                ("a_ch1", "1", 80, 1000.0),
            ]
        );
        let skipped = std::fs::read_to_string(stage.out_dir().join("report/skipped.csv")).unwrap();
        assert_eq!(
            skipped,
            "row,file,reason\n\
             5,audio/call.wav,`channel = 3` but the file has 2 channel(s)\n\
             6,audio/call.wav,\"channel `left` is not a channel number (1, 2, ...: the file's first channel is 1)\"\n"
        );
        // The row's channel wins over the stage's.
        let right = Decode { channel: Some(2), ..csv(&[], OnError::Skip) };
        right.run(&stage.ctx(0)).unwrap();
        let set = AudioSet::read(stage.out_dir()).unwrap();
        assert_eq!(set.samples_of(&set.clips[0])[1], 1.0 / 32768.0, "row 1 keeps channel 1");
        assert_eq!(set.samples_of(&set.clips[3])[1], -8001.0 / 32768.0, "row 4 takes the stage's channel 2");
    }

    #[test]
    fn a_table_maps_its_labels_onto_given_classes_and_keeps_unlabeled_test_rows() {
        let table = "path\tlabel\tsplit\tid\n../audio/a.wav\tang\ttrain\tclip-a\n../audio/b.wav\t\ttest\tclip-b\n\
                     ../audio/long.wav\tfru\tdev\tclip-long\n";
        let stage = table_corpus("");
        std::fs::write(stage.input_dir().join("meta/labels.tsv"), table).unwrap();
        let params = |labels: &[(&str, &str)]| Decode {
            classes: Some(vec!["neutral".into(), "angry".into()]),
            table: Some("meta/labels.tsv".into()),
            ..csv(labels, OnError::Fail)
        };
        let err = params(&[]).run(&stage.ctx(0)).unwrap_err().to_string();
        assert!(err.starts_with("corpus `csv` labels `ang` (1 file), `fru` (1 file) are none of the classes (neutral, angry)"), "{err}");
        params(&[("ang", "angry"), ("*", "drop")]).run(&stage.ctx(0)).unwrap();
        let set = AudioSet::read(stage.out_dir()).unwrap();
        assert_eq!(set.labels.names().collect::<Vec<_>>(), ["neutral", "angry"]);
        let rows: Vec<(&str, Option<&str>, vox_api::audio::Split)> =
            set.clips.iter().map(|c| (c.file_id.as_str(), c.label.as_deref(), c.split)).collect();
        use vox_api::audio::Split::{Test, Train};
        assert_eq!(rows, [("clip-a", Some("angry"), Train), ("clip-b", None, Test)]);
        assert_eq!(set.samples_of(&set.clips[1]).len(), 80, "two channels mixed to one");
        let dropped = std::fs::read_to_string(stage.out_dir().join("report/dropped.csv")).unwrap();
        assert_eq!(dropped, "row,file,label\n3,audio/long.wav,fru\n");
    }

    #[test]
    fn a_spreadsheets_csv_reads_as_written_bom_crlf_and_semicolons() {
        // Excel's "CSV UTF-8" where the decimal mark is a comma: a byte-order mark, CRLF line
        // ends and semicolons between cells.
        // Its times may use the decimal comma.
        let stage = table_corpus(
            "\u{feff}file;label;speaker;split;start;end\r\n../audio/a.wav;ang;s1;train;;\r\n../audio/b.wav;neu;s2;test;;\r\n\
             ../audio/long.wav;ang;s1;train;0,5;1,25\r\n",
        );
        csv(&[], OnError::Fail).run(&stage.ctx(0)).unwrap();
        let set = AudioSet::read(stage.out_dir()).unwrap();
        let rows: Vec<(&str, Option<&str>, &str)> = set.clips.iter().map(|c| (c.file_id.as_str(), c.label.as_deref(), c.speaker.as_str())).collect();
        assert_eq!(rows, [("a", Some("ang"), "s1"), ("b", Some("neu"), "s2"), ("long_0.5-1.25", Some("ang"), "s1")]);
        assert_eq!(set.labels.names().collect::<Vec<_>>(), ["ang", "neu"]);
        assert_eq!(set.clips[2].length, 6000, "0.75 s at 8 kHz");
    }

    #[test]
    fn table_errors_name_the_table_its_columns_and_rows() {
        let cases = [
            ("wav,label\n../audio/a.wav,x\n", None, "table `meta/labels.csv` has no column of audio paths (`file` or `path`); name it with `columns = { path = \"...\" }` (its columns are wav, label)"),
            ("file,label\n../audio/a.wav,x\n", Some(Columns { speaker: Some("spk".into()), ..Columns::default() }), "`columns.speaker = \"spk\"`: table `meta/labels.csv` has no column `spk`; its columns are file, label"),
            ("file,label\n../audio/a.wav,x\n../audio/a.wav,y\n", None, "table `meta/labels.csv`: rows 1 and 2 are both clip `a`; clip ids must be unique (give an `id` column)"),
            ("file,label,split\n../audio/a.wav,x,train\n../audio/b.wav,y,\n", None, "table `meta/labels.csv`: row 1 has a split but row 2 (1 rows in all) has none; fill the split column on every row, or on none and add a `split` stage"),
            ("file,label\n", None, "table `meta/labels.csv` has no rows"),
            ("file,label\n../../etc/passwd,x\n", None, "row 1 (`../etc/passwd`): `../../etc/passwd` is not a path inside the input folder"),
            ("file,label\n../audio/long.wav,x|y\n", None, "row 1 (`audio/long.wav`): label `x|y` has a `|` (output.txt separates columns with it)"),
            ("file,label,start,end\n../audio/a.wav,x,2,1\n", None, "row 1 (`audio/a.wav`): the segment ends (1 s) before it starts (2 s)"),
            ("file,label,start\n../audio/a.wav,x,5\n", None, "row 1 (`audio/a.wav`): the segment starts at 5 s but the file lasts 0.010 s"),
            ("file,label,sex\n../audio/a.wav,x,d\n", None, "row 1 (`audio/a.wav`): sex `d` is not m (male) or f (female)"),
            ("file,label,split\n../audio/a.wav,x,holdout\n", None, "row 1 (`audio/a.wav`): split `holdout` is not train, val (dev) or test"),
        ];
        for (table, columns, message) in cases {
            let stage = table_corpus(table);
            let err = Decode { columns, ..csv(&[], OnError::Fail) }.run(&stage.ctx(0)).unwrap_err();
            // A bad row can be skipped (the error says how); a bad table cannot.
            let expected = if message.starts_with("row ") { format!("{message}{SKIP_HINT}") } else { message.to_string() };
            assert_eq!(err.to_string(), expected, "{table}");
        }
        let stage = table_corpus("file\n../audio/a.wav\n");
        let err = Decode { table: Some("../t.csv".into()), ..csv(&[], OnError::Fail) }.run(&stage.ctx(0)).unwrap_err();
        assert_eq!(err.to_string(), "`table = \"../t.csv\"` must be a path inside the input folder");
        // Without a label column every clip is unlabeled, and the set has no classes.
        csv(&[], OnError::Fail).run(&stage.ctx(0)).unwrap();
        let set = AudioSet::read(stage.out_dir()).unwrap();
        assert!(set.labels.is_empty() && set.clips[0].label.is_none());
    }

    #[test]
    fn given_classes_with_an_others_policy_keep_four_emodb_classes() {
        let stage = emodb_tree();
        write_wav(&stage.input_dir().join("wav/09a04Na.wav"), 16000, 1, &[8192; 4]);
        let params = Decode {
            classes: Some(["neutral", "happy", "angry", "sad"].map(String::from).to_vec()),
            ..emodb(&[("*", "drop")])
        };
        params.run(&stage.ctx(0)).unwrap();
        let set = AudioSet::read(stage.out_dir()).unwrap();
        assert_eq!(set.labels.names().collect::<Vec<_>>(), ["neutral", "happy", "angry", "sad"]);
        let labels: Vec<(&str, Option<&str>)> = set.clips.iter().map(|c| (c.file_id.as_str(), c.label.as_deref())).collect();
        assert_eq!(labels, [("03a01Wa", Some("angry")), ("09a04Na", Some("neutral")), ("16b10Ta", Some("sad"))]);
        let classes = std::fs::read_to_string(stage.out_dir().join(vox_api::labels::CLASSES)).unwrap();
        assert_eq!(classes, "class,description\nneutral,\nhappy,\nangry,\nsad,\n");
        let err = vox_api::kind::<Decode>()
            .configure(toml::toml! { corpus = "emodb"
            classes = ["neutral", "sad"]
            labels = { boredom = "calm" } })
            .err()
            .unwrap();
        assert_eq!(err.message, "`labels.boredom` must be \"drop\" or one of the classes (neutral, sad), not `calm`");
    }

    #[test]
    fn include_and_exclude_choose_the_files_by_path() {
        let stage = TestStage::with_input(ArtifactKind::Files);
        for path in ["Actor_01/03-01-05-01-01-01-01.wav", "Actor_02/03-01-04-01-01-01-02.wav", "Actor_02/03-01-03-01-01-01-02.wav"] {
            write_wav(&stage.input_dir().join(path), 16000, 1, &[100; 8]);
        }
        let with = |include: &[&str], exclude: &[&str]| Decode {
            include: include.iter().map(|s| s.to_string()).collect(),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            ..decode(Corpus::Ravdess, 16000, OnError::Fail)
        };
        let ids = |params: Decode| -> Result<Vec<String>, String> {
            params.run(&stage.ctx(0)).map_err(|e| e.to_string())?;
            Ok(AudioSet::read(stage.out_dir()).unwrap().clips.into_iter().map(|c| c.file_id).collect())
        };
        assert_eq!(ids(with(&["Actor_02/*"], &[])).unwrap(), ["03-01-03-01-01-01-02", "03-01-04-01-01-01-02"]);
        assert_eq!(ids(with(&[], &["Actor_02/*"])).unwrap(), ["03-01-05-01-01-01-01"]);
        assert_eq!(ids(with(&["Actor_02/*"], &["**/*-04-*"])).unwrap(), ["03-01-03-01-01-01-02"]);
        assert_eq!(ids(with(&["Actor_09/*"], &[])).unwrap_err(), "`include`/`exclude` leave none of the 3 files of input `upstream`");
        let err = vox_api::kind::<Decode>().configure(toml::toml! { exclude = ["a[b"] }).err().unwrap();
        assert_eq!(err.path, "exclude.0");
    }
}
