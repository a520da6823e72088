//! The `merge` stage: several audio sets concatenated into one labelled set.
//!
//! Clips come in input order (the pipeline's `inputs` list), each input's clips in their order,
//! samples unchanged; every clip keeps its `corpus`, labels and `source`. The rules that keep
//! the merged set consistent:
//!
//! - **Classes**: every input that has classes must have the same label set (same classes in
//!   the same order); otherwise the stage fails naming both inputs' classes (give the decodes
//!   the same `classes`). An unlabeled input (no classes) joins any set.
//! - **Sample rate**: every clip must have the same rate; otherwise the stage fails naming the
//!   first input's rate and the input that differs (set one `sample_rate` in the decodes).
//! - **Speaker ids**: speakers of different corpora are different people, but their ids can
//!   coincide (RAVDESS `03` and EmoDB `03`). When any non-empty speaker id is used by clips of
//!   two corpora, EVERY non-empty speaker id becomes `<corpus>-<speaker>` (`ravdess-03`,
//!   `emodb-03`, `tess-OAF`), so the naming is uniform across the set; otherwise ids are kept.
//!   Clips of the same corpus with the same id are the same speaker, and stay so.
//! - **Clip ids**: when any `file_id` occurs twice, EVERY clip id becomes `<corpus>-<file_id>`;
//!   if ids still clash (the same corpus' clip in two inputs, which would count it twice), the
//!   stage fails naming the id and both inputs.
//! - **Splits**: with `keep_splits = true` each clip keeps its train/val/test split, and the
//!   inputs must be all split or all unsplit; `keep_splits = false` clears every split so that a
//!   following `split` stage decides.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use vox_api::audio::{AudioSet, Clip, Manifest, Split};
use vox_api::labels::LabelSet;
use vox_api::{
    Applied, Applies, ApplyContext, ArtifactKind, Facts, InputSpec, ParamError, PlannedInput, StageContext, StageDef,
    StageError,
};

use crate::error::AudioError;

/// Concatenates several audio sets of one sample rate (e.g. RAVDESS and TESS decodes) into one
/// labelled set in input order. Each clip keeps its corpus; speaker ids shared by two corpora
/// make every speaker id `<corpus>-<speaker>`, clashing clip ids make every clip id
/// `<corpus>-<file_id>`, and a clash that remains (one corpus twice) is an error.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Merge {
    /// `true` keeps each clip's train/val/test split (the inputs must then be all split or all
    /// unsplit); `false` clears every split so that a following `split` stage decides.
    #[serde(default = "default_keep_splits")]
    pub keep_splits: bool,
}

fn default_keep_splits() -> bool {
    true
}

/// `<corpus>-<id>`.
fn prefixed(corpus: &str, id: &str) -> String {
    format!("{corpus}-{id}")
}

/// Whether some non-empty speaker id is used by clips of two corpora.
fn speakers_clash<'a>(clips: impl Iterator<Item = &'a Clip>) -> bool {
    let mut corpora: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for clip in clips.filter(|c| !c.speaker.is_empty()) {
        corpora.entry(&clip.speaker).or_default().insert(&clip.corpus);
    }
    corpora.values().any(|c| c.len() > 1)
}

/// Whether some clip id occurs twice.
fn ids_clash<'a>(clips: impl Iterator<Item = &'a Clip>) -> bool {
    let mut seen = BTreeSet::new();
    clips.map(|clip| &clip.file_id).any(|id| !seen.insert(id))
}

/// The label set of the inputs: the one every input with classes has; fails when two differ.
fn common_labels(inputs: &[(&str, Manifest)]) -> Result<LabelSet, AudioError> {
    let mut first: Option<(&str, &LabelSet)> = None;
    for (input, manifest) in inputs.iter().filter(|(_, m)| !m.labels.is_empty()) {
        match first {
            None => first = Some((input, &manifest.labels)),
            Some((first_input, labels)) if *labels != manifest.labels => {
                return Err(AudioError::LabelSetMismatch {
                    first_input: first_input.to_string(),
                    first_classes: crate::label_policy::described(labels),
                    input: input.to_string(),
                    classes: crate::label_policy::described(&manifest.labels),
                });
            }
            Some(_) => {}
        }
    }
    Ok(first.map(|(_, labels)| labels.clone()).unwrap_or_default())
}

/// Fails when every clip must have one sample rate and one does not.
fn check_sample_rates(inputs: &[(&str, Vec<Clip>)]) -> Result<(), AudioError> {
    let mut first: Option<(&str, u32)> = None;
    for &(input, ref clips) in inputs {
        for clip in clips {
            match first {
                None => first = Some((input, clip.sample_rate)),
                Some((first_input, first_rate)) if first_rate != clip.sample_rate => {
                    return Err(AudioError::SampleRateMismatch {
                        first_input: first_input.to_string(),
                        first_rate,
                        input: input.to_string(),
                        rate: clip.sample_rate,
                    });
                }
                Some(_) => {}
            }
        }
    }
    Ok(())
}

/// Fails when some input has split clips and another unsplit ones.
fn check_splits(inputs: &[(&str, Vec<Clip>)]) -> Result<(), AudioError> {
    let find = |split: bool| {
        inputs.iter().find_map(|(input, clips)| {
            clips.iter().any(|c| (c.split != Split::None) == split).then_some(*input)
        })
    };
    match (find(true), find(false)) {
        (Some(split), Some(unsplit)) => Err(AudioError::MixedSplits {
            split_input: split.to_string(),
            unsplit_input: unsplit.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The merged manifest, and which ids the rules prefixed with the corpus.
struct Merged {
    /// Each input's rows as they are written (offsets are set when the samples are added).
    rows: Vec<Vec<Clip>>,
    /// Whether speaker ids became `<corpus>-<speaker>`.
    speakers_prefixed: bool,
    /// Whether clip ids became `<corpus>-<file_id>`.
    ids_prefixed: bool,
}

impl Merge {
    /// The merged rows of `inputs` (input name, manifest), in order.
    fn merge(&self, inputs: &[(&str, Vec<Clip>)]) -> Result<Merged, AudioError> {
        check_sample_rates(inputs)?;
        if self.keep_splits {
            check_splits(inputs)?;
        }
        let all = || inputs.iter().flat_map(|(_, clips)| clips);
        let speakers_prefixed = speakers_clash(all());
        let ids_prefixed = ids_clash(all());
        let mut origin: BTreeMap<String, &str> = BTreeMap::new();
        let mut rows = Vec::with_capacity(inputs.len());
        for &(input, ref clips) in inputs {
            let mut merged = Vec::with_capacity(clips.len());
            for clip in clips {
                let mut row = clip.clone();
                if speakers_prefixed && !clip.speaker.is_empty() {
                    row.speaker = prefixed(&clip.corpus, &clip.speaker);
                }
                if ids_prefixed {
                    row.file_id = prefixed(&clip.corpus, &clip.file_id);
                }
                if !self.keep_splits {
                    row.split = Split::None;
                }
                if let Some(first_input) = origin.insert(row.file_id.clone(), input) {
                    return Err(AudioError::DuplicateAcrossInputs {
                        file_id: row.file_id,
                        corpus: clip.corpus.clone(),
                        first_input: first_input.to_string(),
                        input: input.to_string(),
                    });
                }
                merged.push(row);
            }
            rows.push(merged);
        }
        Ok(Merged { rows, speakers_prefixed, ids_prefixed })
    }
}

impl StageDef for Merge {
    const KIND: &'static str = "merge";
    const VERSION: u32 = 1;
    const INPUTS: InputSpec = InputSpec::many(&[ArtifactKind::Audio]);
    const OUTPUT: ArtifactKind = ArtifactKind::Audio;
    const APPLIES: Applies = Applies::Yes;

    /// Inputs whose classes are known must agree (an unlabeled input's empty set joins any);
    /// without `keep_splits` every clip is unsplit.
    fn facts(&self, inputs: &[PlannedInput]) -> Result<Facts, ParamError> {
        let known: Vec<(&str, &LabelSet)> =
            inputs.iter().filter_map(|i| Some((i.name, i.facts.classes.as_ref()?))).filter(|(_, c)| !c.is_empty()).collect();
        if let Some(&(first, classes)) = known.first()
            && let Some(&(other, differs)) = known.iter().find(|(_, c)| *c != classes)
        {
            return Err(ParamError::new("", AudioError::LabelSetMismatch {
                first_input: first.to_string(),
                first_classes: crate::label_policy::described(classes),
                input: other.to_string(),
                classes: crate::label_policy::described(differs),
            }.to_string()));
        }
        let all_known = inputs.iter().all(|i| i.facts.classes.is_some());
        let classes = all_known.then(|| known.first().map(|(_, c)| (*c).clone()).unwrap_or_default());
        let combined = Facts::combined(inputs);
        // Without `keep_splits` every clip is unsplit, so no longer held out by folds either.
        let (labelled_splits, cross_validated) = if self.keep_splits {
            (combined.labelled_splits, combined.cross_validated)
        } else {
            (Some([Split::None].into()), false)
        };
        Ok(Facts { labelled_splits, classes, cross_validated })
    }

    /// Every input of a merge applied to new audio holds the same new clips (each decode reads
    /// all of them): one of them is the merge's.
    fn apply(&self, _ctx: &ApplyContext) -> Result<Applied, StageError> {
        Ok(Applied::PassedThrough)
    }

    fn run(&self, ctx: &StageContext) -> Result<(), StageError> {
        let mut manifests = Vec::with_capacity(ctx.inputs.len());
        for input in ctx.inputs {
            manifests.push((input.name.as_str(), AudioSet::read_manifest(&input.dir)?));
        }
        let labels = common_labels(&manifests)?;
        let clips: Vec<(&str, Vec<Clip>)> = manifests.into_iter().map(|(input, m)| (input, m.clips)).collect();
        let merged = self.merge(&clips)?;
        let mut set = AudioSet { labels, ..AudioSet::default() };
        // One input's samples at a time: the peak is the merged set plus one input.
        for (input, rows) in ctx.inputs.iter().zip(merged.rows) {
            let source = AudioSet::read(&input.dir)?;
            for (clip, row) in source.clips.iter().zip(rows) {
                set.push(row, source.samples_of(clip));
            }
        }
        set.write(ctx.out_dir)?;
        let mut corpora: BTreeMap<&str, usize> = BTreeMap::new();
        for clip in &set.clips {
            *corpora.entry(&clip.corpus).or_default() += 1;
        }
        let counts: Vec<String> = corpora.iter().map(|(c, n)| format!("{c} {n}")).collect();
        let prefixed = match (merged.speakers_prefixed, merged.ids_prefixed) {
            (false, false) => "",
            (true, false) => "; speaker ids prefixed with the corpus",
            (false, true) => "; clip ids prefixed with the corpus",
            (true, true) => "; speaker and clip ids prefixed with the corpus",
        };
        tracing::info!(
            "{}: merged {} clips from {} inputs ({}){prefixed}",
            ctx.stage,
            set.clips.len(),
            ctx.inputs.len(),
            counts.join(", ")
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{TestStage, clip};
    use crate::emotion::Emotion;

    /// A set of `corpus` with one clip per `(id, speaker)`, clip `i` holding `[base + i]`.
    fn set(corpus: &str, clips: &[(&str, &str)], base: f32) -> AudioSet {
        let mut set = crate::test_support::ravdess_set();
        for (i, &(id, speaker)) in clips.iter().enumerate() {
            let mut row = clip(id, Some(Emotion::Happy), speaker);
            row.corpus = corpus.into();
            row.sex = "f".into();
            set.push(row, &[base + i as f32, -(base + i as f32)]);
        }
        set
    }

    fn run(sets: &[(&str, &AudioSet)], keep_splits: bool) -> Result<AudioSet, String> {
        let stage = TestStage::with_audio_inputs(sets);
        Merge { keep_splits }.run(&stage.ctx(0)).map_err(|e| e.to_string())?;
        Ok(AudioSet::read(stage.out_dir()).unwrap())
    }

    fn column(set: &AudioSet, get: fn(&Clip) -> &str) -> Vec<&str> {
        set.clips.iter().map(get).collect()
    }

    #[test]
    fn concatenates_in_input_order_keeping_ids_when_nothing_clashes() {
        let ravdess =
            set("ravdess", &[("03-01-03-01-01-01-01", "01"), ("03-01-03-01-01-01-02", "02")], 0.0);
        let tess = set("tess", &[("OAF_back_happy", "OAF")], 10.0);
        let merged = run(&[("ravdess", &ravdess), ("tess", &tess)], true).unwrap();
        assert_eq!(
            column(&merged, |c| &c.file_id),
            ["03-01-03-01-01-01-01", "03-01-03-01-01-01-02", "OAF_back_happy"]
        );
        assert_eq!(column(&merged, |c| &c.speaker), ["01", "02", "OAF"]);
        assert_eq!(column(&merged, |c| &c.corpus), ["ravdess", "ravdess", "tess"]);
        assert_eq!(merged.samples, [0.0, -0.0, 1.0, -1.0, 10.0, -10.0]);
        assert_eq!(merged.clips.iter().map(|c| c.offset).collect::<Vec<_>>(), [0, 2, 4]);
        assert_eq!(merged.samples_of(&merged.clips[2]), [10.0, -10.0]);
        assert!(merged.clips.iter().all(|c| c.label.as_deref() == Some("03") && c.sex == "f"));
    }

    #[test]
    fn shared_speaker_ids_prefix_every_speaker_with_its_corpus() {
        let ravdess = set("ravdess", &[("r1", "03"), ("r2", "12"), ("r3", "")], 0.0);
        let emodb = set("emodb", &[("03a01Fa", "03"), ("16a01Fa", "16")], 10.0);
        let merged = run(&[("ravdess", &ravdess), ("emodb", &emodb)], true).unwrap();
        assert_eq!(
            column(&merged, |c| &c.speaker),
            ["ravdess-03", "ravdess-12", "", "emodb-03", "emodb-16"]
        );
        // The same corpus in two inputs (speech and song, say) keeps its speakers as they are.
        let song = set("ravdess", &[("r4", "03")], 20.0);
        let merged = run(&[("speech", &ravdess), ("song", &song)], true).unwrap();
        assert_eq!(column(&merged, |c| &c.speaker), ["03", "12", "", "03"]);
    }

    #[test]
    fn clashing_clip_ids_are_prefixed_or_refused() {
        let a = set("unlabeled", &[("take1", ""), ("take2", "")], 0.0);
        let b = set("tess", &[("take1", "OAF")], 10.0);
        let merged = run(&[("a", &a), ("b", &b)], true).unwrap();
        assert_eq!(
            column(&merged, |c| &c.file_id),
            ["unlabeled-take1", "unlabeled-take2", "tess-take1"]
        );
        assert_eq!(column(&merged, |c| &c.source), ["take1.wav", "take2.wav", "take1.wav"]);
        let again = set("unlabeled", &[("take2", "")], 20.0);
        let err = run(&[("a", &a), ("b", &b), ("again", &again)], true).unwrap_err();
        assert_eq!(
            err,
            "clip `unlabeled-take2` (corpus `unlabeled`) is in input `a` and in input `again`; \
             prefixing clip ids with the corpus cannot tell them apart: merge each corpus' clips \
             only once"
        );
    }

    #[test]
    fn label_sets_must_agree_but_unlabeled_sets_join_any() {
        let a = set("ravdess", &[("r1", "01")], 0.0);
        let mut b = set("tess", &[("t1", "OAF")], 10.0);
        b.labels = vox_api::labels::LabelSet::from_names(["03", "neutral"]).unwrap();
        let err = run(&[("ravdess", &a), ("tess", &b)], true).unwrap_err();
        assert_eq!(
            err,
            "input `tess` has the classes 03, neutral but input `ravdess` has 01 neutral, 02 calm, 03 \
             happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised; merge needs one label \
             set (give the decode stages the same `classes`, mapping labels onto them with `labels`)"
        );
        let mut unlabeled = AudioSet::default();
        unlabeled.push(clip("u1", None, ""), &[0.5]);
        let merged = run(&[("unlabeled", &unlabeled), ("ravdess", &a)], true).unwrap();
        assert_eq!(merged.labels, a.labels);
        assert_eq!(merged.clips.len(), 2);
    }

    #[test]
    fn sample_rates_must_agree() {
        let a = set("ravdess", &[("r1", "01")], 0.0);
        let mut b = set("tess", &[("t1", "OAF")], 10.0);
        b.clips[0].sample_rate = 24414;
        let err = run(&[("ravdess", &a), ("tess", &b)], true).unwrap_err();
        assert_eq!(
            err,
            "input `tess` is at 24414 Hz but input `ravdess` is at 16000 Hz; merge needs one \
             sample rate (give the decode stages the same `sample_rate`)"
        );
    }

    #[test]
    fn splits_are_kept_cleared_or_refused_when_mixed() {
        let mut a = set("ravdess", &[("r1", "01"), ("r2", "02")], 0.0);
        a.clips[0].split = Split::Train;
        a.clips[1].split = Split::Val;
        let mut b = set("tess", &[("t1", "OAF")], 10.0);
        b.clips[0].split = Split::Test;
        let kept = run(&[("a", &a), ("b", &b)], true).unwrap();
        let splits: Vec<Split> = kept.clips.iter().map(|c| c.split).collect();
        assert_eq!(splits, [Split::Train, Split::Val, Split::Test]);
        let cleared = run(&[("a", &a), ("b", &b)], false).unwrap();
        assert!(cleared.clips.iter().all(|c| c.split == Split::None));
        let unsplit = set("tess", &[("t1", "OAF")], 10.0);
        let err = run(&[("a", &a), ("b", &unsplit)], true).unwrap_err();
        assert_eq!(
            err,
            "input `a` is split (train/val/test) but input `b` has unsplit clips; set \
             `keep_splits = false` to clear the splits and add a `split` stage after the merge"
        );
        let cleared = run(&[("a", &a), ("b", &unsplit)], false).unwrap();
        assert_eq!(cleared.clips.len(), 3);
    }

    #[test]
    fn params_default_to_keeping_splits() {
        let kind = vox_api::kind::<Merge>();
        let stage = kind.configure(toml::Table::new()).unwrap();
        assert_eq!(stage.params(), serde_json::json!({"keep_splits": true}));
        assert_eq!(kind.inputs().arity, vox_api::Arity::AtLeastOne);
        assert_eq!(kind.inputs().accepts, [ArtifactKind::Audio]);
        assert!(kind.configure(toml::toml! { keep_splits = "yes" }).is_err());
    }
}
