//! The `decode` stage's `labels` table: what happens to the files of a corpus label.
//!
//! Keys are label names as [`Label::name`] gives them: the RAVDESS emotion name of a coded
//! label (`calm`, `surprised`) or the corpus' own word for a label without a code (EmoDB
//! `boredom`). Values are `"drop"` (leave the files out, listed in `report/dropped.csv`) or an
//! emotion code `"01"`..`"08"` (relabel the files with it). A coded label without a policy keeps
//! its code; an uncoded label without one is an error listing it, so no class is ever silently
//! dropped or remapped.

use std::collections::BTreeMap;

use vox_api::ParamError;
use vox_api::emotion::Emotion;

use crate::corpus::{Corpus, Label};

/// What happens to the files of one label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Leave them out.
    Drop,
    /// Label them with this emotion.
    Merge(Emotion),
}

/// What a file's label comes to under the policies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// Keep the file with this emotion (none for unlabeled corpora).
    Keep(Option<Emotion>),
    /// Leave the file out; the label's name.
    Drop(&'static str),
    /// The label has no RAVDESS code and no policy; its name.
    Unresolved(&'static str),
}

/// The parsed `labels` table of one corpus.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LabelPolicies(BTreeMap<Label, Policy>);

/// The param's name, for messages.
const PARAM: &str = "labels";

impl LabelPolicies {
    /// Parses `table` against the labels `corpus` has.
    pub(crate) fn new(
        corpus: Corpus,
        table: &BTreeMap<String, String>,
    ) -> Result<Self, ParamError> {
        let vocabulary = corpus.vocabulary();
        let mut policies = BTreeMap::new();
        for (key, value) in table {
            let path = format!("{PARAM}.{key}");
            let Some(&label) = vocabulary.iter().find(|label| label.name() == key) else {
                let message = if vocabulary.is_empty() {
                    format!(
                        "corpus `{}` has no labels, so `{PARAM}` must stay empty",
                        corpus.name()
                    )
                } else {
                    let names: Vec<&str> = vocabulary.iter().map(|l| l.name()).collect();
                    format!(
                        "corpus `{}` has no label `{key}`; its labels are {}",
                        corpus.name(),
                        names.join(", ")
                    )
                };
                return Err(ParamError::new(path, message));
            };
            let policy = if value == "drop" {
                Policy::Drop
            } else if let Some(&emotion) = Emotion::ALL.iter().find(|e| e.code() == value) {
                Policy::Merge(emotion)
            } else {
                return Err(ParamError::new(
                    path.clone(),
                    format!(
                        "`{path}` must be \"drop\" or an emotion code \"01\"..\"08\", not `{value}`"
                    ),
                ));
            };
            policies.insert(label, policy);
        }
        Ok(Self(policies))
    }

    /// What a file labelled `label` comes to.
    pub(crate) fn resolve(&self, label: Option<Label>) -> Resolution {
        let Some(label) = label else {
            return Resolution::Keep(None);
        };
        match (self.0.get(&label), label) {
            (Some(Policy::Drop), _) => Resolution::Drop(label.name()),
            (Some(&Policy::Merge(emotion)), _) => Resolution::Keep(Some(emotion)),
            (None, Label::Coded(emotion)) => Resolution::Keep(Some(emotion)),
            (None, Label::Uncoded(name)) => Resolution::Unresolved(name),
        }
    }

    /// Whether some label is dropped (then `report/dropped.csv` is written, even if empty).
    pub(crate) fn drops(&self) -> bool {
        self.0.values().any(|&p| p == Policy::Drop)
    }
}

/// `1 file`, `79 files`.
pub(crate) fn file_count(files: usize) -> String {
    format!("{files} {}", if files == 1 { "file" } else { "files" })
}

/// The message for uncoded labels without a policy: each label with its file count, and the
/// two ways to fix it in the stage's params.
pub(crate) fn unresolved_message(corpus: &str, labels: &[(&'static str, usize)]) -> String {
    let counted: Vec<String> =
        labels.iter().map(|&(label, files)| format!("`{label}` ({})", file_count(files))).collect();
    let table = |policy: &str| {
        let entries: Vec<String> =
            labels.iter().map(|&(label, _)| format!("{label} = \"{policy}\"")).collect();
        format!("`{PARAM} = {{ {} }}`", entries.join(", "))
    };
    let (noun, verb) = if labels.len() == 1 { ("label", "has") } else { ("labels", "have") };
    format!(
        "corpus `{corpus}` {noun} {} {verb} no RAVDESS emotion code; set a policy in this \
         stage's params: {} leaves the files out (listed in report/dropped.csv), or {} merges \
         them into an emotion code (any of 01..08)",
        counted.join(", "),
        table("drop"),
        table("02"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries.iter().map(|&(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn policies_drop_merge_or_keep() {
        let none = LabelPolicies::new(Corpus::Emodb, &BTreeMap::new()).unwrap();
        let boredom = Some(Label::Uncoded("boredom"));
        let angry = Some(Label::Coded(Emotion::Angry));
        assert_eq!(none.resolve(boredom), Resolution::Unresolved("boredom"));
        assert_eq!(none.resolve(angry), Resolution::Keep(Some(Emotion::Angry)));
        assert_eq!(none.resolve(None), Resolution::Keep(None));
        assert!(!none.drops());
        let drop = LabelPolicies::new(Corpus::Emodb, &table(&[("boredom", "drop")])).unwrap();
        assert_eq!(drop.resolve(boredom), Resolution::Drop("boredom"));
        assert!(drop.drops());
        let merge =
            LabelPolicies::new(Corpus::Emodb, &table(&[("boredom", "02"), ("angry", "drop")]))
                .unwrap();
        assert_eq!(merge.resolve(boredom), Resolution::Keep(Some(Emotion::Calm)));
        assert_eq!(merge.resolve(angry), Resolution::Drop("angry"));
        let calm = LabelPolicies::new(Corpus::Ravdess, &table(&[("calm", "01")])).unwrap();
        assert_eq!(
            calm.resolve(Some(Label::Coded(Emotion::Calm))),
            Resolution::Keep(Some(Emotion::Neutral))
        );
        assert_eq!(
            calm.resolve(Some(Label::Coded(Emotion::Sad))),
            Resolution::Keep(Some(Emotion::Sad))
        );
    }

    #[test]
    fn bad_tables_name_the_entry() {
        let cases = [
            (
                Corpus::Emodb,
                ("boredom", "09"),
                "`labels.boredom` must be \"drop\" or an emotion code \"01\"..\"08\", not `09`",
            ),
            (
                Corpus::Emodb,
                ("boredom", "2"),
                "`labels.boredom` must be \"drop\" or an emotion code \"01\"..\"08\", not `2`",
            ),
            (
                Corpus::Emodb,
                ("boredom", "calm"),
                "`labels.boredom` must be \"drop\" or an emotion code \"01\"..\"08\", not `calm`",
            ),
            (
                Corpus::Emodb,
                ("boredom", "Drop"),
                "`labels.boredom` must be \"drop\" or an emotion code \"01\"..\"08\", not `Drop`",
            ),
            (
                Corpus::Emodb,
                ("boredum", "drop"),
                "corpus `emodb` has no label `boredum`; its labels are neutral, happy, sad, \
                 angry, fearful, disgust, boredom",
            ),
            (
                Corpus::Savee,
                ("calm", "drop"),
                "corpus `savee` has no label `calm`; its labels are neutral, happy, sad, angry, \
                 fearful, disgust, surprised",
            ),
            (
                Corpus::Unlabeled,
                ("neutral", "drop"),
                "corpus `unlabeled` has no labels, so `labels` must stay empty",
            ),
        ];
        for (corpus, (key, value), message) in cases {
            let err = LabelPolicies::new(corpus, &table(&[(key, value)])).unwrap_err();
            assert_eq!(
                (err.path.as_str(), err.message.as_str()),
                (format!("labels.{key}").as_str(), message)
            );
        }
    }

    #[test]
    fn unresolved_labels_show_both_fixes() {
        assert_eq!(
            unresolved_message("emodb", &[("boredom", 81)]),
            "corpus `emodb` label `boredom` (81 files) has no RAVDESS emotion code; set a policy \
             in this stage's params: `labels = { boredom = \"drop\" }` leaves the files out \
             (listed in report/dropped.csv), or `labels = { boredom = \"02\" }` merges them into \
             an emotion code (any of 01..08)"
        );
        assert_eq!(
            unresolved_message("x", &[("a", 1), ("b", 2)]),
            "corpus `x` labels `a` (1 file), `b` (2 files) have no RAVDESS emotion code; set a \
             policy in this stage's params: `labels = { a = \"drop\", b = \"drop\" }` leaves the \
             files out (listed in report/dropped.csv), or `labels = { a = \"02\", b = \"02\" }` \
             merges them into an emotion code (any of 01..08)"
        );
    }
}
