//! The `split` stage: assigns every clip to train, val or test.
//!
//! - `strategy = "random"`: within each class, a seeded shuffle puts
//!   `round(n * test_fraction)` clips in test, `round(n * val_fraction)` in val and the rest in
//!   train, so every split keeps the class proportions.
//! - `strategy = "kfold"` / `"group-kfold"`: cross-validation. Clips are dealt to `folds`
//!   folds (stratified by class, or by whole groups of the `group_by` column: speakers,
//!   sessions, corpora; without `folds`, one fold per group: leave one group out), see
//!   [`crate::folds`]; fold `fold` is `test` and the rest train, less a `val` part of
//!   `val_fraction` (stratified, or whole groups). `vox run` makes one copy of the stage per
//!   fold and runs everything downstream once per fold. The manifest records each clip's fold
//!   (`fold` column).
//! - `strategy = "speaker"`: whole speakers are held out, from the `val_speakers` and
//!   `test_speakers` lists when either is given, else `round(s * fraction)` speakers (at least
//!   one for a nonzero fraction) drawn with the seed; a speaker is never on two sides. Listed
//!   ids may be numbers (`[5, 6]`); an id that no speaker has literally matches the one
//!   speaker whose id is the same number (`5` is RAVDESS's `05`).
//!
//! Clips without a label (the `unlabeled` corpus) always go to `test`: they cannot train or
//! select a model, only be scored; with `rated_by`, a clip with a value in that column (a
//! rating of an emotion dimension, for `regress`) is dealt as a labelled one. `report/split.csv` counts clips per split and class. The
//! audio samples are copied unchanged.

use std::collections::{BTreeMap, BTreeSet};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::{self, AudioSet, Clip, Manifest};
use vox_api::labels::LabelSet;
use vox_api::{
    Applied, Applies, ApplyContext, ArtifactKind, Facts, FanOut, Input, InputSpec, ParamError, PlannedInput,
    StageContext, StageDef, StageError,
};

use crate::error::AudioError;
use crate::folds;

/// Assigns every clip to train, val or test: stratified by class, or by held-out speakers.
/// Unlabelled clips always go to test.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Split {
    /// `random` (stratified by class), `speaker` (held-out speakers, never on two sides),
    /// `test` (every clip in test: a whole corpus held out for cross-corpus evaluation), or a
    /// cross-validation: `kfold` (stratified by class) or `group-kfold` (whole groups of
    /// `group_by`: leave-one-speaker/session/corpus-out), run once per fold.
    #[serde(default = "default_strategy")]
    pub strategy: Strategy,
    /// Share of clips (random) or speakers (speaker, without lists) for validation, 0 <= x < 1.
    #[serde(default, serialize_with = "keyed_val_fraction")]
    pub val_fraction: Option<f64>,
    /// Share of clips (random) or speakers (speaker, without lists) for test, 0 <= x < 1;
    /// `val_fraction + test_fraction` must stay below 1.
    #[serde(default, serialize_with = "keyed_test_fraction")]
    pub test_fraction: Option<f64>,
    /// Speaker ids held out for validation (strategy `speaker`), e.g. `["21", "22"]` or
    /// `[21, 22]` (a number matches the speaker whose id is that number: `5` is `05`); when
    /// this or `test_speakers` is non-empty, the lists decide and the fractions are ignored.
    #[serde(default)]
    pub val_speakers: Vec<SpeakerId>,
    /// Speaker ids held out for test (strategy `speaker`), as `val_speakers`.
    #[serde(default)]
    pub test_speakers: Vec<SpeakerId>,
    /// Cross-validation: the number of folds, at least 2; required for `kfold`. For
    /// `group-kfold`, absent means one fold per group (leave one group out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folds: Option<usize>,
    /// `group-kfold`: the manifest column whose values are kept whole (never on both sides of
    /// a fold): `speaker` (default), `corpus` (leave one corpus out), or a corpus's column such
    /// as IEMOCAP's `session` or a table's own.
    #[serde(default = "default_group_by")]
    pub group_by: String,
    /// Cross-validation: the fold held out as `test`, 1..=folds. Set by `vox run` on each
    /// fold's copy of the stage; set it by hand to run one fold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fold: Option<usize>,
    /// Seed of the shuffle; the pipeline's seed when absent.
    #[serde(default)]
    pub seed: Option<u64>,
    /// A manifest column of ratings (`arousal`) that makes a clip without a class one to deal
    /// like a labelled clip: for `regress` on a corpus rated on dimensions with no classes (or
    /// classes on only some clips). Rated clips without a class are stratified together.
    /// Absent: only labelled clips are dealt, the others go to test.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rated_by: Option<String>,
}

fn default_group_by() -> String {
    "speaker".into()
}

/// A speaker id as a pipeline writes it: text (`"05"`, `"OAF"`) or a number (`5`), kept as
/// text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(transparent)]
pub struct SpeakerId(#[schemars(with = "SpeakerIdSchema")] pub String);

/// The schema of a [`SpeakerId`]: a string or an integer.
#[derive(JsonSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum SpeakerIdSchema {
    Text(String),
    Number(u64),
}

impl<'de> Deserialize<'de> for SpeakerId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Number(u64),
        }
        match Raw::deserialize(d) {
            Ok(Raw::Text(text)) => Ok(Self(text)),
            Ok(Raw::Number(n)) => Ok(Self(n.to_string())),
            Err(_) => Err(serde::de::Error::custom("a speaker id must be a string or a non-negative integer")),
        }
    }
}

impl From<&str> for SpeakerId {
    fn from(id: &str) -> Self {
        Self(id.to_string())
    }
}

/// The speaker of `speakers` that listed id `id` means: the one with that id, else the one
/// whose id is the same number (`5` for `05`) when exactly one is.
fn find_speaker<'a>(speakers: &BTreeSet<&'a str>, id: &str) -> Option<&'a str> {
    if let Some(found) = speakers.get(id) {
        return Some(found);
    }
    let number: u64 = id.parse().ok()?;
    let mut same = speakers.iter().filter(|s| s.parse::<u64>().ok() == Some(number));
    match (same.next(), same.next()) {
        (Some(found), None) => Some(found),
        _ => None,
    }
}

/// How clips are assigned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Random clips, stratified by class.
    Random,
    /// Whole speakers held out.
    Speaker,
    /// Every clip in test: a whole corpus held out (cross-corpus evaluation); the fractions
    /// are ignored and speaker lists refused.
    Test,
    /// Stratified k-fold cross-validation.
    Kfold,
    /// Cross-validation over whole groups (`group_by`).
    GroupKfold,
}

impl Strategy {
    /// Whether the strategy is a cross-validation.
    fn folds(self) -> bool {
        matches!(self, Self::Kfold | Self::GroupKfold)
    }
}

fn default_strategy() -> Strategy {
    Strategy::Random
}

fn default_val_fraction() -> f64 {
    0.2
}

// The key holds the fractions resolved, as it did when they were plain params (no entry's key
// changed when writing one where it cannot apply became an error).
fn keyed_val_fraction<S: serde::Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(value.unwrap_or_else(default_val_fraction))
}
fn keyed_test_fraction<S: serde::Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(value.unwrap_or(0.0))
}

/// The summary table's file name under the report folder.
const SUMMARY: &str = "split.csv";

/// `round(n * fraction)`.
fn share(n: usize, fraction: f64) -> usize {
    (n as f64 * fraction).round() as usize
}

impl Split {
    fn val_fraction(&self) -> f64 {
        self.val_fraction.unwrap_or_else(default_val_fraction)
    }
    fn test_fraction(&self) -> f64 {
        self.test_fraction.unwrap_or(0.0)
    }
    /// Whether speaker lists are given (then they, not the fractions, decide who is held out).
    fn speaker_lists(&self) -> bool {
        !self.val_speakers.is_empty() || !self.test_speakers.is_empty()
    }

    /// Why the assignment is fixed without drawing or counting anything (no fraction or seed
    /// is read), if it is: strategy `test` (every clip goes to test) and speaker lists (the
    /// lists decide who is held out).
    fn fixed_by(&self) -> Option<&'static str> {
        match self.strategy {
            Strategy::Test => Some("strategy = \"test\" puts every clip in test"),
            Strategy::Speaker if self.speaker_lists() => {
                Some("the speaker lists decide who is held out (`val_speakers`, `test_speakers`)")
            }
            _ => None,
        }
    }

    /// A fraction written where nothing reads it (see [`Self::fixed_by`]), as the error at its
    /// line.
    fn refuse_unread_fractions(&self) -> Result<(), ParamError> {
        let Some(why) = self.fixed_by() else {
            return Ok(());
        };
        let written = [("val_fraction", self.val_fraction.is_some()), ("test_fraction", self.test_fraction.is_some())];
        match written.into_iter().find(|(_, written)| *written) {
            Some((param, _)) => Err(ParamError::new(param, format!("`{param}` is not read here: {why}; leave it out"))),
            None => Ok(()),
        }
    }

    /// Checks the cross-validation params.
    fn validate_folds(&self) -> Result<(), ParamError> {
        let cv = self.strategy.folds();
        if let Some(folds) = self.folds {
            if !cv {
                return Err(ParamError::new("folds", "`folds` needs strategy = \"kfold\" or \"group-kfold\""));
            }
            if folds < 2 {
                return Err(ParamError::new("folds", format!("`folds` must be at least 2, not {folds}")));
            }
        } else if self.strategy == Strategy::Kfold {
            return Err(ParamError::new("folds", "strategy = \"kfold\" needs `folds`, the number of folds (e.g. 5)"));
        }
        if self.group_by != default_group_by() && self.strategy != Strategy::GroupKfold {
            return Err(ParamError::new("group_by", "`group_by` needs strategy = \"group-kfold\""));
        }
        if cv && self.test_fraction() > 0.0 {
            return Err(ParamError::new(
                "test_fraction",
                "a cross-validation's test part is the held-out fold: leave `test_fraction` at 0",
            ));
        }
        match (self.fold, cv) {
            (Some(_), false) => Err(ParamError::new("fold", "`fold` needs strategy = \"kfold\" or \"group-kfold\"")),
            (Some(0), true) => Err(ParamError::new("fold", "folds are numbered from 1")),
            (Some(fold), true) if self.folds.is_some_and(|n| fold > n) => Err(ParamError::new(
                "fold",
                format!("`fold = {fold}` but `folds = {}`", self.folds.unwrap_or_default()),
            )),
            _ => Ok(()),
        }
    }

    /// The splits of a cross-validation's fold `self.fold`, and every clip's fold.
    fn cross_validation(
        &self,
        ctx: &StageContext,
        strata: &[Option<usize>],
        clips: &[Clip],
        seed: u64,
    ) -> Result<(Vec<audio::Split>, folds::Assignment), AudioError> {
        let fold = self.fold.ok_or(AudioError::NoFold)?;
        let (assignment, groups) = match self.strategy {
            Strategy::GroupKfold => {
                let groups = folds::groups(clips, strata, &self.group_by)?;
                (folds::by_group(&groups, self.folds)?.0, Some(groups))
            }
            _ => (folds::stratified(strata, self.folds.unwrap_or(2), seed), None),
        };
        let count = assignment.iter().flatten().copied().max().unwrap_or(0);
        if fold > count {
            return Err(AudioError::FoldOutOfRange { fold, folds: count });
        }
        // The val part comes from the other folds, drawn per fold.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(fold as u64);
        let rest: Vec<usize> = (0..clips.len()).filter(|&i| assignment[i].is_some_and(|f| f != fold)).collect();
        let mut val = vec![false; clips.len()];
        match &groups {
            Some(groups) => {
                let mut names: Vec<&str> = rest.iter().filter_map(|&i| groups[i].as_deref()).collect();
                names.sort_unstable();
                names.dedup();
                names.shuffle(&mut rng);
                let n = share(names.len(), self.val_fraction());
                let n = if self.val_fraction() > 0.0 { n.max(1) } else { n }.min(names.len().saturating_sub(1));
                let held: BTreeSet<&str> = names[..n].iter().copied().collect();
                for &i in &rest {
                    val[i] = groups[i].as_deref().is_some_and(|g| held.contains(g));
                }
            }
            None => {
                let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
                for &i in &rest {
                    if let Some(class) = strata[i] {
                        by_class.entry(class).or_default().push(i);
                    }
                }
                for members in by_class.values_mut() {
                    members.shuffle(&mut rng);
                    for &i in &members[..share(members.len(), self.val_fraction())] {
                        val[i] = true;
                    }
                }
            }
        }
        let splits = (0..clips.len())
            .map(|i| match assignment[i] {
                None => audio::Split::Test,
                Some(f) if f == fold => audio::Split::Test,
                Some(_) if val[i] => audio::Split::Val,
                Some(_) => audio::Split::Train,
            })
            .collect();
        let held_out = match &groups {
            Some(groups) => {
                let mut names: Vec<&str> = (0..clips.len())
                    .filter(|&i| assignment[i] == Some(fold))
                    .filter_map(|i| groups[i].as_deref())
                    .collect();
                names.sort_unstable();
                names.dedup();
                format!(" (`{}` {})", self.group_by, names.join(", "))
            }
            None => {
                let n = assignment.iter().filter(|a| **a == Some(fold)).count();
                format!(" {n} clips (stratified by class)")
            }
        };
        tracing::info!("{}: fold {fold} of {count} holds out{held_out}", ctx.stage);
        Ok((splits, assignment))
    }

    /// The split of each clip with the random strategy; strata (classes) are shuffled in the
    /// label set's order, rated clips without a class last.
    fn random(&self, strata: &[Option<usize>], rng: &mut ChaCha8Rng) -> Vec<audio::Split> {
        let mut splits = vec![audio::Split::Test; strata.len()];
        let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, stratum) in strata.iter().enumerate() {
            if let Some(class) = *stratum {
                by_class.entry(class).or_default().push(i);
            }
        }
        for members in by_class.values_mut() {
            members.shuffle(rng);
            let test = share(members.len(), self.test_fraction());
            let val = share(members.len(), self.val_fraction());
            for (rank, &i) in members.iter().enumerate() {
                splits[i] = if rank < test {
                    audio::Split::Test
                } else if rank < test + val {
                    audio::Split::Val
                } else {
                    audio::Split::Train
                };
            }
        }
        splits
    }

    /// The split of each clip with the speaker strategy.
    fn by_speaker(
        &self,
        clips: &[Clip],
        strata: &[Option<usize>],
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<audio::Split>, AudioError> {
        let mut speakers = BTreeSet::new();
        for (clip, _) in clips.iter().zip(strata).filter(|(_, s)| s.is_some()) {
            if clip.speaker.is_empty() {
                return Err(AudioError::MissingSpeaker { file_id: clip.file_id.clone() });
            }
            speakers.insert(clip.speaker.as_str());
        }
        let mut held_out: BTreeMap<&str, audio::Split> = BTreeMap::new();
        if !self.speaker_lists() {
            let mut order: Vec<&str> = speakers.iter().copied().collect();
            order.shuffle(rng);
            let at_least_one = |fraction: f64| {
                let n = share(order.len(), fraction);
                if fraction > 0.0 { n.max(1) } else { n }
            };
            let test = at_least_one(self.test_fraction());
            let val = at_least_one(self.val_fraction());
            for (rank, speaker) in order.iter().take(test + val).enumerate() {
                let side = if rank < test { audio::Split::Test } else { audio::Split::Val };
                held_out.insert(speaker, side);
            }
        } else {
            let lists = [
                ("val_speakers", &self.val_speakers, audio::Split::Val),
                ("test_speakers", &self.test_speakers, audio::Split::Test),
            ];
            for (param, list, side) in lists {
                for SpeakerId(id) in list {
                    let Some(speaker) = find_speaker(&speakers, id) else {
                        return Err(AudioError::UnknownSpeaker {
                            param,
                            speaker: id.clone(),
                            known: speakers.iter().copied().collect::<Vec<_>>().join(", "),
                        });
                    };
                    if speaker != id {
                        tracing::info!("`{param}`: speaker `{id}` is `{speaker}`");
                    }
                    if held_out.insert(speaker, side).is_some_and(|other| other != side) {
                        return Err(AudioError::SpeakerTwice { speaker: speaker.to_string() });
                    }
                }
            }
        }
        if held_out.len() >= speakers.len() {
            return Err(AudioError::NoTrainSpeakers {
                speakers: speakers.len(),
                held_out: held_out.len(),
            });
        }
        Ok(clips
            .iter()
            .zip(strata)
            .map(|(clip, stratum)| match stratum {
                None => audio::Split::Test,
                Some(_) => {
                    held_out.get(clip.speaker.as_str()).copied().unwrap_or(audio::Split::Train)
                }
            })
            .collect())
    }

    /// The stratum each clip is dealt in: its class, or with `rated_by` [`folds::RATED`] for a
    /// clip without one that has a rating; `None` (test) for the others. A `rated_by` column
    /// no clip has a value in is an error naming the columns they have.
    fn strata(&self, labels: &LabelSet, clips: &[Clip]) -> Result<folds::Strata, AudioError> {
        let mut strata = folds::classes(labels, clips);
        if let Some(column) = &self.rated_by {
            let rated = |c: &Clip| !c.column(column).trim().is_empty();
            if !clips.is_empty() && !clips.iter().any(rated) {
                let have = audio::columns_with_values(clips)
                    .into_iter()
                    .filter(|c| !matches!(c.as_str(), "file_id" | "split" | "label"))
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(AudioError::NoRatings { column: column.clone(), have });
            }
            for (stratum, clip) in strata.iter_mut().zip(clips) {
                if stratum.is_none() && rated(clip) {
                    *stratum = Some(folds::RATED);
                }
            }
        }
        Ok(strata)
    }
}

/// Writes `report/split.csv`: clips per split (rows) and class (columns, by description),
/// with totals.
fn write_summary(ctx: &StageContext, labels: &LabelSet, clips: &[Clip]) -> Result<(), AudioError> {
    let report = ctx
        .report_dir()
        .map_err(|source| AudioError::Io { path: ctx.out_dir.join("report"), source })?;
    let path = report.join(SUMMARY);
    let csv_err = |source| AudioError::Csv { path: path.clone(), source };
    let mut writer = csv::Writer::from_path(&path).map_err(csv_err)?;
    let mut header = vec!["split"];
    header.extend((0..labels.len()).map(|i| labels.description(i)));
    header.extend(["unlabeled", "total"]);
    writer.write_record(&header).map_err(csv_err)?;
    let rows = [
        ("train", Some(audio::Split::Train)),
        ("val", Some(audio::Split::Val)),
        ("test", Some(audio::Split::Test)),
        ("total", None),
    ];
    for (name, split) in rows {
        let members: Vec<&Clip> =
            clips.iter().filter(|c| split.is_none_or(|s| c.split == s)).collect();
        let count = |label: Option<&str>| {
            members.iter().filter(|c| c.label.as_deref() == label).count().to_string()
        };
        let mut record = vec![name.to_string()];
        record.extend(labels.names().map(|name| count(Some(name))));
        record.push(count(None));
        record.push(members.len().to_string());
        writer.write_record(&record).map_err(csv_err)?;
    }
    writer.flush().map_err(|source| AudioError::Io { path: path.clone(), source })
}

/// Checks that a fraction lies in [0, 1).
fn check_fraction(name: &str, value: f64) -> Result<(), ParamError> {
    if (0.0..1.0).contains(&value) {
        Ok(())
    } else {
        Err(ParamError::new(name, format!("`{name}` must be at least 0 and below 1, not {value}")))
    }
}

impl StageDef for Split {
    const KIND: &'static str = "split";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::one(&[ArtifactKind::Audio]);
    const OUTPUT: ArtifactKind = ArtifactKind::Audio;
    const APPLIES: Applies = Applies::Yes;

    fn validate(&self) -> Result<(), ParamError> {
        check_fraction("val_fraction", self.val_fraction())?;
        check_fraction("test_fraction", self.test_fraction())?;
        if self.val_fraction() + self.test_fraction() >= 1.0 {
            return Err(ParamError::new(
                "test_fraction",
                format!(
                    "`val_fraction` + `test_fraction` must stay below 1 to leave clips for train, not {}",
                    self.val_fraction() + self.test_fraction()
                ),
            ));
        }
        self.validate_folds()?;
        self.refuse_unread_fractions()?;
        if let Some(column) = &self.rated_by {
            let why = match column.as_str() {
                "label" => Some("labelled clips are dealt anyway; name a column of ratings (`arousal`)"),
                "" | "file_id" | "split" => Some("must name a manifest column of ratings (`arousal`, `valence`, ...)"),
                _ => None,
            };
            if let Some(why) = why {
                return Err(ParamError::new("rated_by", format!("`{column}`: {why}")));
            }
            if self.strategy == Strategy::Test {
                return Err(ParamError::new("rated_by", "`rated_by` is not read here: strategy = \"test\" puts every clip in test; leave it out"));
            }
        }
        let lists = [("val_speakers", &self.val_speakers), ("test_speakers", &self.test_speakers)];
        let mut seen = BTreeMap::new();
        for (param, list) in lists {
            if self.strategy != Strategy::Speaker && !list.is_empty() {
                return Err(ParamError::new(
                    param,
                    format!("`{param}` needs strategy = \"speaker\""),
                ));
            }
            for (i, SpeakerId(speaker)) in list.iter().enumerate() {
                if let Some(first) = seen.insert(speaker.as_str(), param) {
                    return Err(ParamError::new(
                        format!("{param}.{i}"),
                        format!("speaker `{speaker}` is listed twice (also in `{first}`)"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Labelled clips go to train, and to val and test where the params send some; a fan-out's
    /// clips are cross-validated.
    fn facts(&self, inputs: &[PlannedInput]) -> Result<Facts, ParamError> {
        let (val, test) = match self.strategy {
            Strategy::Kfold | Strategy::GroupKfold => (self.val_fraction() > 0.0, true),
            Strategy::Random => (self.val_fraction() > 0.0, self.test_fraction() > 0.0),
            Strategy::Speaker if !self.speaker_lists() => {
                (self.val_fraction() > 0.0, self.test_fraction() > 0.0)
            }
            Strategy::Speaker => (!self.val_speakers.is_empty(), !self.test_speakers.is_empty()),
            Strategy::Test => {
                let splits = [audio::Split::Test].into();
                return Ok(Facts { labelled_splits: Some(splits), cross_validated: false, ..Facts::combined(inputs) });
            }
        };
        let mut splits: BTreeSet<audio::Split> = [audio::Split::Train].into();
        splits.extend(val.then_some(audio::Split::Val));
        splits.extend(test.then_some(audio::Split::Test));
        // Fanned out, every fold's copy holds its own part out; one `fold` alone is a plain split.
        let cross_validated = self.fan_out().is_some();
        Ok(Facts { labelled_splits: Some(splits), cross_validated, ..Facts::combined(inputs) })
    }

    /// A cross-validation without a `fold` fans out: one copy per fold.
    fn fan_out(&self) -> Option<FanOut> {
        let count = match self.strategy {
            Strategy::Kfold | Strategy::GroupKfold if self.fold.is_none() => self.folds,
            _ => return None,
        };
        Some(FanOut { param: "fold", count })
    }

    /// Leave one group out: as many folds as the input's labelled clips have groups.
    fn fan_out_count(&self, inputs: &[Input]) -> Result<usize, StageError> {
        let Manifest { labels, clips } = AudioSet::read_manifest(&inputs[0].dir)?;
        let groups = folds::groups(&clips, &self.strata(&labels, &clips)?, &self.group_by)?;
        let count = folds::distinct(&groups).len();
        if count < 2 {
            return Err(AudioError::FewerGroupsThanFolds { groups: count, folds: 2 }.into());
        }
        Ok(count)
    }

    /// New clips belong to no part of the run's split: they pass through unchanged.
    fn apply(&self, _ctx: &ApplyContext) -> Result<Applied, StageError> {
        Ok(Applied::PassedThrough)
    }

    /// Listed speakers and strategy `test` draw nothing (see [`Self::fixed_by`]): a seed does
    /// not change them.
    fn unread(&self) -> &'static [&'static str] {
        if self.fixed_by().is_some() { &["seed"] } else { &[] }
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let input = &ctx.input().dir;
        let Manifest { labels, mut clips } = AudioSet::read_manifest(input)?;
        if let Some(copy) = clips.iter().find(|c| c.extra.contains_key(crate::augment::AUGMENTED_FROM)) {
            let original = copy.extra[crate::augment::AUGMENTED_FROM].clone();
            return Err(AudioError::SplitOfCopies { file_id: copy.file_id.clone(), original }.into());
        }
        if let Some(copy) = clips.iter().find(|c| c.extra.contains_key(crate::degrade::DEGRADED_FROM)) {
            let original = copy.extra[crate::degrade::DEGRADED_FROM].clone();
            return Err(AudioError::SplitOfDegraded { file_id: copy.file_id.clone(), original }.into());
        }
        let seed = self.seed.unwrap_or(ctx.seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let strata = self.strata(&labels, &clips)?;
        let splits = match self.strategy {
            Strategy::Random => self.random(&strata, &mut rng),
            Strategy::Speaker => self.by_speaker(&clips, &strata, &mut rng)?,
            Strategy::Test => vec![audio::Split::Test; clips.len()],
            Strategy::Kfold | Strategy::GroupKfold => {
                let (splits, assignment) = self.cross_validation(ctx, &strata, &clips, seed)?;
                for (clip, fold) in clips.iter_mut().zip(assignment) {
                    if let Some(fold) = fold {
                        clip.extra.insert("fold".into(), fold.to_string());
                    }
                }
                splits
            }
        };
        for (clip, split) in clips.iter_mut().zip(splits) {
            clip.split = split;
        }
        AudioSet::write_manifest(&labels, &clips, ctx.out_dir)?;
        let (from, to) = (input.join(audio::SAMPLES), ctx.out_dir.join(audio::SAMPLES));
        std::fs::copy(&from, &to)
            .map_err(|source| AudioError::Io { path: from.clone(), source })?;
        write_summary(ctx, &labels, &clips)?;
        let count = |s| clips.iter().filter(|c| c.split == s).count();
        tracing::info!(
            "{}: {} train, {} val, {} test clips",
            ctx.stage,
            count(audio::Split::Train),
            count(audio::Split::Val),
            count(audio::Split::Test)
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emotion::Emotion;
    use crate::test_support::{TestStage, clip, emotion as test_emotion, ravdess_set};

    /// 4 speakers x 8 emotions x 10 clips, plus 3 unlabelled clips.
    fn corpus() -> AudioSet {
        let mut set = ravdess_set();
        for speaker in ["01", "02", "03", "04"] {
            for emotion in Emotion::ALL {
                for take in 0..10 {
                    let id = format!("{speaker}-{}-{take}", emotion.code());
                    set.push(clip(&id, Some(emotion), speaker), &[take as f32]);
                }
            }
        }
        for take in 0..3 {
            set.push(clip(&format!("u{take}"), None, ""), &[0.5]);
        }
        set
    }

    fn params(toml: toml::Table) -> Split {
        let kind = vox_api::kind::<Split>();
        kind.configure(toml.clone()).map_err(|e| e.to_string()).unwrap();
        toml::Value::Table(toml).try_into().unwrap()
    }

    fn run(split: &Split, set: &AudioSet, seed: u64) -> (Vec<Clip>, TestStage) {
        let stage = TestStage::with_audio_input(set);
        split.run(&stage.ctx(seed)).unwrap();
        let out = AudioSet::read(stage.out_dir()).unwrap();
        assert_eq!(out.samples, set.samples);
        (out.clips, stage)
    }

    #[test]
    fn random_splits_are_stratified_and_deterministic() {
        let set = corpus();
        let split = params(toml::toml! { val_fraction = 0.2
        test_fraction = 0.1 });
        let (clips, stage) = run(&split, &set, 7);
        for emotion in Emotion::ALL {
            let count =
                |s| clips.iter().filter(|c| test_emotion(c) == Some(emotion) && c.split == s).count();
            // 40 clips per emotion: round(4.0) test, round(8.0) val, 28 train.
            assert_eq!(
                (count(audio::Split::Train), count(audio::Split::Val), count(audio::Split::Test)),
                (28, 8, 4)
            );
        }
        let unlabeled: Vec<audio::Split> =
            clips.iter().filter(|c| c.label.is_none()).map(|c| c.split).collect();
        assert_eq!(unlabeled, [audio::Split::Test; 3]);
        let summary = std::fs::read_to_string(stage.out_dir().join("report/split.csv")).unwrap();
        assert_eq!(
            summary,
            "split,neutral,calm,happy,sad,angry,fearful,disgust,surprised,unlabeled,total\n\
             train,28,28,28,28,28,28,28,28,0,224\n\
             val,8,8,8,8,8,8,8,8,0,64\n\
             test,4,4,4,4,4,4,4,4,3,35\n\
             total,40,40,40,40,40,40,40,40,3,323\n"
        );
        let again = run(&split, &set, 7).0;
        assert_eq!(again, clips);
        let other = run(&split, &set, 8).0;
        assert_ne!(other, clips);
        let seeded = params(toml::toml! { val_fraction = 0.2
        test_fraction = 0.1
        seed = 7 });
        assert_eq!(run(&seeded, &set, 12345).0, clips);
    }

    #[test]
    fn a_seed_nothing_draws_with_is_not_keyed() {
        let keyed = |toml: toml::Table| vox_api::kind::<Split>().configure(toml).unwrap().params();
        let listed = keyed(toml::toml! { strategy = "speaker"
        test_speakers = ["01"]
        seed = 3 });
        assert_eq!(listed.get("seed"), None, "{listed}");
        assert_eq!(keyed(toml::toml! { strategy = "test"
        seed = 3 }).get("seed"), None);
        for drawn in [toml::toml! { strategy = "speaker"
        seed = 3 }, toml::toml! { seed = 3 }, toml::toml! { strategy = "kfold"
        folds = 2
        seed = 3 }] {
            assert_eq!(keyed(drawn.clone()).get("seed"), Some(&serde_json::json!(3)), "{drawn}");
        }
    }

    #[test]
    fn speaker_lists_hold_out_whole_speakers() {
        let set = corpus();
        let split = params(toml::toml! { strategy = "speaker"
        val_speakers = ["03"]
        test_speakers = ["01"] });
        let (clips, _) = run(&split, &set, 0);
        for clip in clips.iter().filter(|c| c.label.is_some()) {
            let expected = match clip.speaker.as_str() {
                "01" => audio::Split::Test,
                "03" => audio::Split::Val,
                _ => audio::Split::Train,
            };
            assert_eq!(clip.split, expected, "{}", clip.file_id);
        }
        assert!(
            clips.iter().filter(|c| c.label.is_none()).all(|c| c.split == audio::Split::Test)
        );
    }

    #[test]
    fn speaker_fractions_keep_speakers_on_one_side() {
        let set = corpus();
        let split = params(toml::toml! { strategy = "speaker"
        val_fraction = 0.25
        test_fraction = 0.25 });
        let (clips, _) = run(&split, &set, 3);
        let mut sides: BTreeMap<&str, BTreeSet<audio::Split>> = BTreeMap::new();
        for clip in clips.iter().filter(|c| c.label.is_some()) {
            sides.entry(&clip.speaker).or_default().insert(clip.split);
        }
        assert!(sides.values().all(|s| s.len() == 1), "{sides:?}");
        let mut per_side: Vec<audio::Split> =
            sides.values().map(|s| *s.iter().next().unwrap()).collect();
        per_side.sort();
        assert_eq!(
            per_side,
            [audio::Split::Train, audio::Split::Train, audio::Split::Val, audio::Split::Test]
        );
        assert_eq!(run(&split, &set, 3).0, clips);
    }

    #[test]
    fn numeric_speaker_ids_match_their_zero_padded_speakers() {
        let set = corpus();
        let numbers = params(toml::toml! { strategy = "speaker"
        val_speakers = [3]
        test_speakers = ["1"] });
        assert_eq!(serde_json::to_value(&numbers.val_speakers).unwrap(), serde_json::json!(["3"]));
        let strings = params(toml::toml! { strategy = "speaker"
        val_speakers = ["03"]
        test_speakers = ["01"] });
        assert_eq!(run(&numbers, &set, 0).0, run(&strings, &set, 0).0);
        let stage = TestStage::with_audio_input(&set);
        let twice = params(toml::toml! { strategy = "speaker"
        val_speakers = [1]
        test_speakers = ["01"] });
        assert_eq!(
            twice.run(&stage.ctx(0)).unwrap_err().to_string(),
            "speaker `01` is listed in both `val_speakers` and `test_speakers`"
        );
        let kind = vox_api::kind::<Split>();
        let err = kind.configure(toml::toml! { strategy = "speaker"
        val_speakers = [1.5] }).err().unwrap();
        assert_eq!(err.message, "a speaker id must be a string or a non-negative integer");
    }

    #[test]
    fn speaker_lists_are_checked() {
        let set = corpus();
        let stage = TestStage::with_audio_input(&set);
        let unknown = params(toml::toml! { strategy = "speaker"
        test_speakers = ["01", "99"] });
        let err = unknown.run(&stage.ctx(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`test_speakers` names speaker `99`, which the input does not have (speakers: 01, 02, 03, 04)"
        );
        let all = params(toml::toml! { strategy = "speaker"
        val_speakers = ["01", "02"]
        test_speakers = ["03", "04"] });
        let err = all.run(&stage.ctx(0)).unwrap_err();
        assert_eq!(err.to_string(), "holding out 4 of 4 speakers leaves none for train");

        let kind = vox_api::kind::<Split>();
        let err = kind
            .configure(toml::toml! { strategy = "speaker"
            val_speakers = ["01", "02"]
            test_speakers = ["03", "02"] })
            .err()
            .unwrap();
        assert_eq!(
            (err.path.as_str(), err.message.as_str()),
            ("test_speakers.1", "speaker `02` is listed twice (also in `val_speakers`)")
        );
        let err = kind.configure(toml::toml! { val_speakers = ["01"] }).err().unwrap();
        assert_eq!(err.message, "`val_speakers` needs strategy = \"speaker\"");
        let err = kind
            .configure(toml::toml! { val_fraction = 0.6
            test_fraction = 0.4 })
            .err()
            .unwrap();
        assert_eq!(err.path, "test_fraction");
        let err = kind.configure(toml::toml! { val_fraction = -0.1 }).err().unwrap();
        assert_eq!(err.message, "`val_fraction` must be at least 0 and below 1, not -0.1");
    }

    #[test]
    fn speaker_strategy_needs_speaker_ids() {
        let mut set = ravdess_set();
        set.push(clip("a", Some(Emotion::Calm), ""), &[0.0]);
        let stage = TestStage::with_audio_input(&set);
        let split = params(toml::toml! { strategy = "speaker" });
        let err = split.run(&stage.ctx(0)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "clip `a` has a label but no speaker id; strategy = \"speaker\" needs one"
        );
    }

    #[test]
    fn test_strategy_holds_out_every_clip() {
        let params: Split =
            serde_json::from_value(serde_json::json!({"strategy": "test"})).unwrap();
        let held_out = params.validate();
        assert_eq!(held_out, Ok(()));
        let lists: Split = serde_json::from_value(
            serde_json::json!({"strategy": "test", "test_speakers": ["01"]}),
        )
        .unwrap();
        assert_eq!(
            lists.validate().unwrap_err().message,
            "`test_speakers` needs strategy = \"speaker\""
        );
    }

    /// A fraction nothing reads is refused; the key holds the fractions resolved, as it did
    /// when they were plain params.
    #[test]
    fn fractions_are_refused_where_nothing_reads_them() {
        let refused = |json: serde_json::Value| {
            let split: Split = serde_json::from_value(json).unwrap();
            let err = split.validate().unwrap_err();
            (err.path, err.message)
        };
        assert_eq!(
            refused(serde_json::json!({"strategy": "test", "val_fraction": 0.1})),
            ("val_fraction".to_string(), "`val_fraction` is not read here: strategy = \"test\" puts every clip in test; leave it out".to_string())
        );
        let (path, message) = refused(serde_json::json!({"strategy": "speaker", "val_speakers": ["02"], "test_fraction": 0.2}));
        assert_eq!(path, "test_fraction");
        assert!(message.contains("the speaker lists decide"), "{message}");
        // Fractions choose speakers when no list is given.
        let drawn: Split = serde_json::from_value(serde_json::json!({"strategy": "speaker", "test_fraction": 0.2})).unwrap();
        assert_eq!(drawn.validate(), Ok(()));
        let keyed = vox_api::kind::<Split>().configure(toml::Table::new()).unwrap().params();
        assert_eq!((keyed["val_fraction"].clone(), keyed["test_fraction"].clone()), (serde_json::json!(0.2), serde_json::json!(0.0)));
    }

    #[test]
    fn cross_validation_params_are_checked_and_fan_out() {
        let kind = vox_api::kind::<Split>();
        let error = |table: toml::Table| {
            let err = kind.configure(table).err().unwrap();
            (err.path, err.message)
        };
        assert_eq!(error(toml::toml! { strategy = "kfold" }).1, "strategy = \"kfold\" needs `folds`, the number of folds (e.g. 5)");
        assert_eq!(error(toml::toml! { folds = 5 }).1, "`folds` needs strategy = \"kfold\" or \"group-kfold\"");
        assert_eq!(error(toml::toml! { strategy = "kfold"
        folds = 1 }).1, "`folds` must be at least 2, not 1");
        assert_eq!(error(toml::toml! { strategy = "kfold"
        folds = 5
        test_fraction = 0.1 }).0, "test_fraction");
        assert_eq!(error(toml::toml! { group_by = "session" }).1, "`group_by` needs strategy = \"group-kfold\"");
        assert_eq!(error(toml::toml! { strategy = "kfold"
        folds = 3
        fold = 4 }).1, "`fold = 4` but `folds = 3`");
        let fan = |table: toml::Table| -> Option<vox_api::FanOut> {
            let split: Split = toml::Value::Table(table).try_into().unwrap();
            split.fan_out()
        };
        assert_eq!(fan(toml::toml! { strategy = "kfold"
        folds = 3 }), Some(vox_api::FanOut { param: "fold", count: Some(3) }));
        assert_eq!(fan(toml::toml! { strategy = "group-kfold" }), Some(vox_api::FanOut { param: "fold", count: None }));
        assert_eq!(fan(toml::toml! { strategy = "group-kfold"
        fold = 2 }), None, "a fold set by hand runs alone");
        assert_eq!(fan(toml::toml! { strategy = "random" }), None);
        // Run without a fold, a cross-validation refuses rather than guessing.
        let stage = TestStage::with_audio_input(&corpus());
        let cv = params(toml::toml! { strategy = "group-kfold" });
        assert!(cv.run(&stage.ctx(0)).unwrap_err().to_string().starts_with("a cross-validation split runs once per fold"));
        // One fold per speaker: 4.
        assert_eq!(cv.fan_out_count(stage.ctx(0).inputs).unwrap(), 4);
        let by_hand = params(toml::toml! { strategy = "group-kfold"
        fold = 2
        val_fraction = 0.0 });
        let (clips, _) = run(&by_hand, &corpus(), 0);
        let test: BTreeSet<&str> = clips.iter().filter(|c| c.split == audio::Split::Test && c.label.is_some()).map(|c| c.speaker.as_str()).collect();
        assert_eq!(test, ["02"].into());
        assert!(clips.iter().filter(|c| c.label.is_some()).all(|c| c.extra["fold"] == c.speaker.trim_start_matches('0')));
    }

    /// A corpus rated on dimensions without classes: with `rated_by`, its rated clips are dealt
    /// as labelled ones by every strategy; a clip with neither class nor rating goes to test.
    #[test]
    fn rated_clips_without_classes_are_dealt_with_rated_by() {
        let mut set = ravdess_set();
        for speaker in ["01", "02", "03", "04"] {
            for take in 0..10 {
                let mut clip = clip(&format!("{speaker}-{take}"), None, speaker);
                clip.extra.insert("arousal".into(), format!("{}", 1.0 + take as f64 * 0.4));
                set.push(clip, &[take as f32]);
            }
        }
        set.push(clip("unrated", None, "05"), &[0.0]);
        let count = |clips: &[Clip], split| clips.iter().filter(|c| c.split == split && c.file_id != "unrated").count();
        let unrated = |clips: &[Clip]| clips.iter().find(|c| c.file_id == "unrated").unwrap().split;

        // Without `rated_by` nothing is labelled: everything is test.
        let (clips, _) = run(&params(toml::toml! { val_fraction = 0.25 }), &set, 1);
        assert!(clips.iter().all(|c| c.split == audio::Split::Test));

        let (clips, _) = run(&params(toml::toml! { val_fraction = 0.25
        test_fraction = 0.25
        rated_by = "arousal" }), &set, 1);
        assert_eq!([audio::Split::Train, audio::Split::Val, audio::Split::Test].map(|s| count(&clips, s)), [20, 10, 10]);
        assert_eq!(unrated(&clips), audio::Split::Test);

        let (clips, _) = run(&params(toml::toml! { strategy = "speaker"
        test_speakers = ["04"]
        rated_by = "arousal" }), &set, 1);
        assert_eq!([audio::Split::Train, audio::Split::Test].map(|s| count(&clips, s)), [30, 10]);
        assert!(clips.iter().filter(|c| c.speaker == "04").all(|c| c.split == audio::Split::Test));

        let (clips, _) = run(&params(toml::toml! { strategy = "group-kfold"
        fold = 2
        rated_by = "arousal" }), &set, 1);
        let held_out: BTreeSet<&str> = clips.iter().filter(|c| c.split == audio::Split::Test && c.file_id != "unrated").map(|c| c.speaker.as_str()).collect();
        assert_eq!(held_out, ["02"].into());
        // The other speakers' 30: one of them the val part (the default val fraction).
        assert_eq!([audio::Split::Train, audio::Split::Val].map(|s| count(&clips, s)), [20, 10]);

        let stage = TestStage::with_audio_input(&set);
        let err = params(toml::toml! { val_fraction = 0.25
        rated_by = "valence" }).run(&stage.ctx(1)).unwrap_err().to_string();
        assert_eq!(err, "`rated_by`: no clip has a value in `valence` (the clips have `corpus`, `speaker`, `source`, `arousal`)");
        let refused = vox_api::kind::<Split>().configure(toml::toml! { rated_by = "label" }).map(|_| ()).unwrap_err();
        assert_eq!((refused.path.as_str(), refused.message.as_str()), ("rated_by", "`label`: labelled clips are dealt anyway; name a column of ratings (`arousal`)"));
    }
}
