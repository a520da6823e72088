//! Label sets: the classes a corpus declares, carried by every artifact that holds labels or
//! scores them.
//!
//! A label set is an ordered list of classes. Each class has a `name` (what manifests, the
//! `label` column of predictions, probability columns and `output.txt` say) and an optional
//! `description` for people (RAVDESS's classes are its codes `01`..`08`, described `neutral` ..
//! `surprised`). The order is the corpus's: it orders probability columns, confusion matrices,
//! per-class tables and `output.txt`, and breaks ties everywhere, so results do not depend on
//! how names sort.
//!
//! On disk it is `classes.csv` beside the file it belongs to (`manifest.csv`, `predictions.csv`):
//!
//! ```text
//! class,description
//! 01,neutral
//! 02,calm
//! ```
//!
//! An unlabeled corpus has an empty set (the header alone).
//!
//! Class names are free text with a few rules, because they become CSV cells, column names
//! (`p` + name) and `|`-separated cells of `output.txt`: not empty, no surrounding whitespace,
//! no control characters, no `|`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The label-set file name inside an artifact folder.
pub const CLASSES: &str = "classes.csv";

/// One class of a label set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Class {
    /// The class name, as labels and columns carry it.
    #[serde(rename = "class")]
    pub name: String,
    /// What the name means, for people (`neutral` for RAVDESS `01`); may be empty.
    #[serde(default)]
    pub description: String,
}

/// An ordered set of classes with unique names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSet {
    classes: Vec<Class>,
}

/// A label set that breaks the rules, or a file that does not hold one.
#[derive(Debug, thiserror::Error)]
pub enum LabelSetError {
    /// A class name that cannot be a label.
    #[error("class name `{name}` {problem}")]
    BadName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A class listed twice.
    #[error("class `{0}` is listed twice")]
    Duplicate(String),
    /// `classes.csv` could not be read or written.
    #[error("{path}: {source}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: csv::Error,
    },
    /// `classes.csv` holds an invalid set.
    #[error("{path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: Box<LabelSetError>,
    },
}

/// Why `name` cannot be a class name, if it cannot.
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.trim() != name {
        Some("has whitespace around it")
    } else if name.chars().any(char::is_control) {
        Some("has a control character")
    } else if name.contains('|') {
        Some("has a `|` (output.txt separates columns with it)")
    } else {
        None
    }
}

impl LabelSet {
    /// A label set of `classes`, in this order; fails on a bad or repeated name.
    pub fn new(classes: Vec<Class>) -> Result<Self, LabelSetError> {
        for (i, class) in classes.iter().enumerate() {
            if let Some(problem) = name_problem(&class.name) {
                return Err(LabelSetError::BadName { name: class.name.clone(), problem });
            }
            if classes[..i].iter().any(|c| c.name == class.name) {
                return Err(LabelSetError::Duplicate(class.name.clone()));
            }
        }
        Ok(Self { classes })
    }

    /// A label set of bare names (no descriptions), in this order.
    pub fn from_names<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Result<Self, LabelSetError> {
        Self::new(names.into_iter().map(|name| Class { name: name.into(), description: String::new() }).collect())
    }

    /// The classes, in order.
    pub fn classes(&self) -> &[Class] {
        &self.classes
    }

    /// The class names, in order.
    pub fn names(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        self.classes.iter().map(|c| c.name.as_str())
    }

    /// The number of classes.
    pub fn len(&self) -> usize {
        self.classes.len()
    }

    /// Whether the set has no class (an unlabeled corpus).
    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }

    /// The position of the class named `name` (exact).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.classes.iter().position(|c| c.name == name)
    }

    /// Whether a class is named `name` (exact).
    pub fn contains(&self, name: &str) -> bool {
        self.index_of(name).is_some()
    }

    /// The class a word from outside the set means: the class named exactly `word`, else the
    /// one class whose name or description equals it ignoring ASCII case (`Angry` or `angry`
    /// for RAVDESS `05`). `None` when no class, or more than one, matches.
    pub fn resolve(&self, word: &str) -> Option<usize> {
        if let Some(i) = self.index_of(word) {
            return Some(i);
        }
        let mut matches = self.classes.iter().enumerate().filter(|(_, c)| {
            c.name.eq_ignore_ascii_case(word) || (!c.description.is_empty() && c.description.eq_ignore_ascii_case(word))
        });
        match (matches.next(), matches.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    }

    /// How class `i` is named for people: `05 angry` when it has a description that differs from
    /// its name, else its name.
    pub fn display(&self, i: usize) -> String {
        let class = &self.classes[i];
        if class.description.is_empty() || class.description == class.name {
            class.name.clone()
        } else {
            format!("{} {}", class.name, class.description)
        }
    }

    /// The description of class `i`, or its name when it has none.
    pub fn description(&self, i: usize) -> &str {
        let class = &self.classes[i];
        if class.description.is_empty() { &class.name } else { &class.description }
    }

    /// The names, comma-separated, for messages (`01, 02, 03`); `(none)` when empty.
    pub fn listing(&self) -> String {
        if self.is_empty() { "(none)".to_string() } else { self.names().collect::<Vec<_>>().join(", ") }
    }

    /// The subset named `names`, kept in this set's order; fails on a name the set lacks,
    /// returning it.
    pub fn subset<'a>(&self, names: impl IntoIterator<Item = &'a str>) -> Result<Vec<usize>, String> {
        let mut indices = Vec::new();
        for name in names {
            match self.index_of(name) {
                Some(i) => indices.push(i),
                None => return Err(name.to_string()),
            }
        }
        indices.sort_unstable();
        indices.dedup();
        Ok(indices)
    }

    /// Reads `classes.csv` from `dir`.
    pub fn read(dir: &Path) -> Result<Self, LabelSetError> {
        let path = dir.join(CLASSES);
        let csv_err = |source| LabelSetError::Csv { path: path.clone(), source };
        let mut reader = csv::Reader::from_path(&path).map_err(csv_err)?;
        let classes = reader.deserialize().collect::<Result<Vec<Class>, _>>().map_err(csv_err)?;
        Self::new(classes).map_err(|e| LabelSetError::Invalid { path: path.clone(), source: Box::new(e) })
    }

    /// Writes `classes.csv` into `dir` (which must exist).
    pub fn write(&self, dir: &Path) -> Result<(), LabelSetError> {
        let path = dir.join(CLASSES);
        let csv_err = |source| LabelSetError::Csv { path: path.clone(), source };
        let mut writer = csv::Writer::from_path(&path).map_err(csv_err)?;
        writer.write_record(["class", "description"]).map_err(csv_err)?;
        for class in &self.classes {
            writer.write_record([&class.name, &class.description]).map_err(csv_err)?;
        }
        writer.flush().map_err(|e| csv_err(e.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ravdess_like() -> LabelSet {
        let class = |name: &str, description: &str| Class { name: name.into(), description: description.into() };
        LabelSet::new(vec![class("01", "neutral"), class("02", "calm"), class("05", "angry")]).unwrap()
    }

    #[test]
    fn resolves_names_then_descriptions_ignoring_case() {
        let set = ravdess_like();
        assert_eq!(set.resolve("05"), Some(2));
        assert_eq!(set.resolve("angry"), Some(2));
        assert_eq!(set.resolve("Calm"), Some(1));
        assert_eq!(set.resolve("sad"), None);
        assert_eq!(set.display(2), "05 angry");
        let bare = LabelSet::from_names(["neu", "Neu"]).unwrap();
        assert_eq!(bare.resolve("Neu"), Some(1));
        assert_eq!(bare.resolve("NEU"), None, "two classes match ignoring case");
        assert_eq!(bare.display(0), "neu");
        assert_eq!(bare.description(0), "neu");
    }

    #[test]
    fn refuses_bad_and_repeated_names() {
        for (name, message) in [
            ("", "class name `` is empty"),
            (" a", "class name ` a` has whitespace around it"),
            ("a|b", "class name `a|b` has a `|` (output.txt separates columns with it)"),
            ("a\tb", "class name `a\tb` has a control character"),
        ] {
            assert_eq!(LabelSet::from_names([name]).unwrap_err().to_string(), message);
        }
        assert_eq!(LabelSet::from_names(["a", "b", "a"]).unwrap_err().to_string(), "class `a` is listed twice");
    }

    #[test]
    fn round_trips_through_classes_csv() {
        let dir = tempfile::tempdir().unwrap();
        let set = ravdess_like();
        set.write(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join(CLASSES)).unwrap();
        assert_eq!(text, "class,description\n01,neutral\n02,calm\n05,angry\n");
        assert_eq!(LabelSet::read(dir.path()).unwrap(), set);
        LabelSet::default().write(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(dir.path().join(CLASSES)).unwrap(), "class,description\n");
        assert!(LabelSet::read(dir.path()).unwrap().is_empty());
        std::fs::write(dir.path().join(CLASSES), "class,description\nx,\nx,\n").unwrap();
        let err = LabelSet::read(dir.path()).unwrap_err().to_string();
        assert!(err.ends_with("classes.csv: class `x` is listed twice"), "{err}");
    }

    #[test]
    fn subsets_keep_the_set_order() {
        let set = ravdess_like();
        assert_eq!(set.subset(["05", "01", "05"]), Ok(vec![0, 2]));
        assert_eq!(set.subset(["03"]), Err("03".to_string()));
        assert_eq!(set.listing(), "01, 02, 05");
        assert_eq!(LabelSet::default().listing(), "(none)");
    }
}
