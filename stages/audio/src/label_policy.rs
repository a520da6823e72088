//! The `decode` stage's `classes` and `labels` params: which classes the decoded set has and
//! what becomes of each corpus label.
//!
//! A corpus label is a word: the RAVDESS emotion name for labels the RAVDESS codes name (SAVEE
//! `sa` is `sad`), the corpus's own word otherwise (EmoDB `boredom`, IEMOCAP `excited`), or the
//! cell of a table corpus's label column. A file's label becomes a class by the first rule that
//! applies:
//!
//! 1. its own entry in `labels`: `"drop"` leaves the file out (listed in `report/dropped.csv`),
//!    any other value names the class it joins (by class name or description: `"02"` or
//!    `"calm"` for RAVDESS's classes);
//! 2. the class it names itself (`angry` is RAVDESS `05`, described `angry`);
//! 3. the `"*"` entry of `labels`, for every label that rules 1 and 2 leave: `"drop"` or a class;
//! 4. otherwise it is unresolved, and the stage fails listing every such label with its file
//!    count and the ways to fix it. No class is ever dropped or remapped silently.
//!
//! The classes are `classes` when given; else the corpus's default: RAVDESS's eight codes for
//! the emotion corpora, none for `unlabeled`, and for a table corpus the labels found, each
//! its own class, after the policies (sorted by name).

use std::collections::BTreeMap;

use vox_api::ParamError;
use vox_api::labels::LabelSet;

/// The `labels` key that applies to every label without an entry of its own or a class.
pub(crate) const OTHERS: &str = "*";

/// What happens to the files of one label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Leave them out.
    Drop,
    /// Label them with this class (its name).
    Into(String),
}

/// What a file's label comes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// Keep the file with this class (none for unlabeled files).
    Keep(Option<String>),
    /// Leave the file out; the label.
    Drop(String),
    /// The label is no class and has no policy; the label.
    Unresolved(String),
}

/// The parsed `classes` and `labels` params of one decode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LabelMapping {
    /// The classes; `None` when they come from the data (each label its own class).
    classes: Option<LabelSet>,
    /// Policies by label.
    policies: BTreeMap<String, Policy>,
    /// The `"*"` policy.
    others: Option<Policy>,
}

/// The param names, for messages.
const LABELS: &str = "labels";
const CLASSES: &str = "classes";

impl LabelMapping {
    /// Parses the `labels` table against the corpus's label words (`None` when only the data
    /// knows them: a table corpus) and the classes (`None` when they come from the data).
    pub(crate) fn new(
        corpus: &str,
        vocabulary: Option<&[&str]>,
        classes: Option<LabelSet>,
        table: &BTreeMap<String, String>,
    ) -> Result<Self, ParamError> {
        let mut policies = BTreeMap::new();
        let mut others = None;
        for (key, value) in table {
            let path = format!("{LABELS}.{key}");
            if key != OTHERS
                && let Some(words) = vocabulary
                && !words.contains(&key.as_str())
            {
                let message = if words.is_empty() {
                    format!("corpus `{corpus}` has no labels, so `{LABELS}` must stay empty")
                } else {
                    format!("corpus `{corpus}` has no label `{key}`; its labels are {}", words.join(", "))
                };
                return Err(ParamError::new(path, message));
            }
            let policy = if value == "drop" {
                Policy::Drop
            } else {
                match &classes {
                    Some(classes) => match classes.resolve(value) {
                        Some(i) => Policy::Into(classes.classes()[i].name.clone()),
                        None => {
                            return Err(ParamError::new(
                                path.clone(),
                                format!(
                                    "`{path}` must be \"drop\" or one of the classes ({}), not `{value}`",
                                    described(classes)
                                ),
                            ));
                        }
                    },
                    None => match vox_api::labels::name_problem(value) {
                        None => Policy::Into(value.clone()),
                        Some(problem) => {
                            return Err(ParamError::new(path, format!("class name `{value}` {problem}")));
                        }
                    },
                }
            };
            if key == OTHERS {
                others = Some(policy);
            } else {
                policies.insert(key.clone(), policy);
            }
        }
        Ok(Self { classes, policies, others })
    }

    /// What a file labelled `label` comes to.
    pub(crate) fn resolve(&self, label: Option<&str>) -> Resolution {
        let Some(label) = label else {
            return Resolution::Keep(None);
        };
        let apply = |policy: &Policy| match policy {
            Policy::Drop => Resolution::Drop(label.to_string()),
            Policy::Into(class) => Resolution::Keep(Some(class.clone())),
        };
        if let Some(policy) = self.policies.get(label) {
            return apply(policy);
        }
        match &self.classes {
            Some(classes) => {
                if let Some(i) = classes.resolve(label) {
                    return Resolution::Keep(Some(classes.classes()[i].name.clone()));
                }
            }
            None if vox_api::labels::name_problem(label).is_none() => {
                return Resolution::Keep(Some(label.to_string()));
            }
            None => {}
        }
        match &self.others {
            Some(policy) => apply(policy),
            None => Resolution::Unresolved(label.to_string()),
        }
    }

    /// Whether a policy applies to `label` (an entry of its own or `"*"`), for the relabelling
    /// log: a label that names its class itself is not relabelled.
    pub(crate) fn by_policy(&self, label: &str) -> bool {
        self.policies.contains_key(label)
            || (self.others.is_some() && self.classes.as_ref().is_some_and(|c| c.resolve(label).is_none()))
    }

    /// Whether some label may be dropped (then `report/dropped.csv` is written, even if empty).
    pub(crate) fn drops(&self) -> bool {
        self.policies.values().chain(&self.others).any(|p| *p == Policy::Drop)
    }

    /// The labels with an entry of their own, for checking that a table corpus has them.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.policies.keys().map(String::as_str)
    }

    /// The classes: the given ones, or (when they come from the data) the kept labels, sorted.
    pub(crate) fn classes<'a>(&self, kept: impl IntoIterator<Item = &'a str>) -> LabelSet {
        match &self.classes {
            Some(classes) => classes.clone(),
            None => {
                let mut names: Vec<&str> = kept.into_iter().collect();
                names.sort_unstable();
                names.dedup();
                // Every kept label passed `name_problem` in `resolve`.
                LabelSet::from_names(names).unwrap_or_default()
            }
        }
    }
}

/// Parses the `classes` param: bare class names, in order.
pub(crate) fn parse_classes(names: &[String]) -> Result<LabelSet, ParamError> {
    LabelSet::from_names(names.iter().cloned()).map_err(|e| {
        let at = match &e {
            vox_api::labels::LabelSetError::Duplicate(name) | vox_api::labels::LabelSetError::BadName { name, .. } => {
                names.iter().rposition(|n| n == name)
            }
            _ => None,
        };
        ParamError::new(at.map_or_else(|| CLASSES.to_string(), |i| format!("{CLASSES}.{i}")), e.to_string())
    })
}

/// `01 neutral, 02 calm` or `neu, hap`: the classes as people read them.
pub(crate) fn described(classes: &LabelSet) -> String {
    if classes.is_empty() {
        return "none".into();
    }
    (0..classes.len()).map(|i| classes.display(i)).collect::<Vec<_>>().join(", ")
}

/// `1 file`, `79 files`.
pub(crate) fn file_count(files: usize) -> String {
    format!("{files} {}", if files == 1 { "file" } else { "files" })
}

/// The message for labels that are no class and have no policy: each label with its file
/// count, and the ways to fix it in the stage's params.
pub(crate) fn unresolved_message(corpus: &str, classes: &LabelSet, labels: &[(String, usize)]) -> String {
    let counted: Vec<String> =
        labels.iter().map(|(label, files)| format!("`{label}` ({})", file_count(*files))).collect();
    let target = classes.classes().first().map_or("CLASS", |c| c.name.as_str());
    let table = |policy: &str| {
        let entries: Vec<String> = labels.iter().map(|(label, _)| format!("{} = \"{policy}\"", key(label))).collect();
        format!("`{LABELS} = {{ {} }}`", entries.join(", "))
    };
    let (noun, verb) = if labels.len() == 1 { ("label", "is") } else { ("labels", "are") };
    format!(
        "corpus `{corpus}` {noun} {} {verb} none of the classes ({}); set a policy in this stage's \
         params: {} leaves the files out (listed in the stage's dropped.csv), {} merges them into a \
         class, `{LABELS} = {{ \"*\" = \"drop\" }}` leaves out every label that is no class, or \
         `{CLASSES} = [...]` lists the classes to keep",
        counted.join(", "),
        described(classes),
        table("drop"),
        table(target),
    )
}

/// A label as a TOML key: bare when it can be, quoted otherwise.
fn key(label: &str) -> String {
    if !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        label.to_string()
    } else {
        format!("{label:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emotion::ravdess_classes;

    fn table(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries.iter().map(|&(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const EMODB: &[&str] = &["neutral", "happy", "sad", "angry", "fearful", "disgust", "boredom"];

    fn emodb(entries: &[(&str, &str)]) -> Result<LabelMapping, ParamError> {
        LabelMapping::new("emodb", Some(EMODB), Some(ravdess_classes()), &table(entries))
    }

    fn keep(class: &str) -> Resolution {
        Resolution::Keep(Some(class.into()))
    }

    #[test]
    fn policies_drop_merge_or_keep() {
        let none = emodb(&[]).unwrap();
        assert_eq!(none.resolve(Some("boredom")), Resolution::Unresolved("boredom".into()));
        assert_eq!(none.resolve(Some("angry")), keep("05"));
        assert_eq!(none.resolve(None), Resolution::Keep(None));
        assert!(!none.drops());
        let drop = emodb(&[("boredom", "drop")]).unwrap();
        assert_eq!(drop.resolve(Some("boredom")), Resolution::Drop("boredom".into()));
        assert!(drop.drops());
        assert!(drop.by_policy("boredom") && !drop.by_policy("angry"));
        let merge = emodb(&[("boredom", "02"), ("angry", "drop")]).unwrap();
        assert_eq!(merge.resolve(Some("boredom")), keep("02"));
        assert_eq!(merge.resolve(Some("angry")), Resolution::Drop("angry".into()));
        let by_name = emodb(&[("boredom", "calm")]).unwrap();
        assert_eq!(by_name.resolve(Some("boredom")), keep("02"));
        let others = emodb(&[("*", "drop"), ("boredom", "02")]).unwrap();
        assert_eq!(others.resolve(Some("boredom")), keep("02"));
        assert_eq!(others.resolve(Some("sad")), keep("04"));
        let four = LabelSet::from_names(["neutral", "happy", "angry", "sad"]).unwrap();
        let iemocap = ["neutral", "happy", "excited", "angry", "sad", "frustrated"];
        let protocol = LabelMapping::new(
            "iemocap",
            Some(&iemocap),
            Some(four),
            &table(&[("excited", "happy"), ("*", "drop")]),
        )
        .unwrap();
        assert_eq!(protocol.resolve(Some("excited")), keep("happy"));
        assert_eq!(protocol.resolve(Some("sad")), keep("sad"));
        assert_eq!(protocol.resolve(Some("frustrated")), Resolution::Drop("frustrated".into()));
        assert!(protocol.by_policy("frustrated") && !protocol.by_policy("sad"));
    }

    #[test]
    fn classes_from_the_data_are_the_kept_labels_sorted() {
        let mapping =
            LabelMapping::new("csv", None, None, &table(&[("exc", "hap"), ("xxx", "drop")])).unwrap();
        assert_eq!(mapping.resolve(Some("exc")), keep("hap"));
        assert_eq!(mapping.resolve(Some("neu")), keep("neu"));
        assert_eq!(mapping.resolve(Some("xxx")), Resolution::Drop("xxx".into()));
        assert_eq!(mapping.resolve(Some("a|b")), Resolution::Unresolved("a|b".into()));
        let classes = mapping.classes(["neu", "hap", "neu", "ang"]);
        assert_eq!(classes.names().collect::<Vec<_>>(), ["ang", "hap", "neu"]);
        assert_eq!(mapping.keys().collect::<Vec<_>>(), ["exc", "xxx"]);
    }

    #[test]
    fn bad_tables_name_the_entry() {
        let all = "01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised";
        let cases = [
            (("boredom", "09"), format!("`labels.boredom` must be \"drop\" or one of the classes ({all}), not `09`")),
            (("boredom", "2"), format!("`labels.boredom` must be \"drop\" or one of the classes ({all}), not `2`")),
            (("boredom", "Drop"), format!("`labels.boredom` must be \"drop\" or one of the classes ({all}), not `Drop`")),
            (
                ("boredum", "drop"),
                "corpus `emodb` has no label `boredum`; its labels are neutral, happy, sad, angry, fearful, \
                 disgust, boredom"
                    .to_string(),
            ),
        ];
        for ((key, value), message) in cases {
            let err = emodb(&[(key, value)]).unwrap_err();
            assert_eq!((err.path.as_str(), err.message.as_str()), (format!("labels.{key}").as_str(), message.as_str()));
        }
        let err = LabelMapping::new("unlabeled", Some(&[]), Some(LabelSet::default()), &table(&[("neutral", "drop")]))
            .unwrap_err();
        assert_eq!(err.message, "corpus `unlabeled` has no labels, so `labels` must stay empty");
        let err = LabelMapping::new("csv", None, None, &table(&[("a", "b|c")])).unwrap_err();
        assert_eq!(err.message, "class name `b|c` has a `|` (output.txt separates columns with it)");
        let err = parse_classes(&["a".into(), "b".into(), "a".into()]).unwrap_err();
        assert_eq!((err.path.as_str(), err.message.as_str()), ("classes.2", "class `a` is listed twice"));
    }

    #[test]
    fn unresolved_labels_show_the_fixes() {
        assert_eq!(
            unresolved_message("emodb", &ravdess_classes(), &[("boredom".into(), 81)]),
            "corpus `emodb` label `boredom` (81 files) is none of the classes (01 neutral, 02 calm, 03 \
             happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised); set a policy in this \
             stage's params: `labels = { boredom = \"drop\" }` leaves the files out (listed in \
             the stage's dropped.csv), `labels = { boredom = \"01\" }` merges them into a class, `labels = \
             { \"*\" = \"drop\" }` leaves out every label that is no class, or `classes = [...]` lists \
             the classes to keep"
        );
        let four = LabelSet::from_names(["neu", "hap"]).unwrap();
        let message = unresolved_message("x", &four, &[("a b".into(), 1), ("c".into(), 2)]);
        assert!(
            message.starts_with(
                "corpus `x` labels `a b` (1 file), `c` (2 files) are none of the classes (neu, hap); set a \
                 policy in this stage's params: `labels = { \"a b\" = \"drop\", c = \"drop\" }`"
            ),
            "{message}"
        );
    }
}
