//! Why a stage must run: the difference between its key components now and the ones recorded
//! when it last ran, rendered for people (as cargo's `DirtyReason`).

use std::fmt;

use crate::cache::{Damage, KeyComponents};

/// One reason a stage is not cached.
#[derive(Clone, Debug, PartialEq)]
pub enum DirtyReason {
    /// The stage never ran in this pipeline.
    New,
    /// `--force` named it.
    Forced,
    /// The same key ran before, but its entry is gone (gc, corruption).
    EntryMissing,
    /// The entry exists but is damaged.
    Corrupt(Damage),
    /// A path param's content could not be read, so the key is not known.
    ParamUnreadable {
        /// The param.
        name: String,
        /// The read's error.
        kind: std::io::ErrorKind,
    },
    /// `kind` changed.
    KindChanged {
        /// Before.
        old: String,
        /// Now.
        new: String,
    },
    /// The implementation version was bumped.
    VersionBumped {
        /// Before.
        old: u32,
        /// Now.
        new: u32,
    },
    /// `backend` changed.
    BackendChanged {
        /// Before.
        old: Option<String>,
        /// Now.
        new: Option<String>,
    },
    /// A param changed, appeared or disappeared.
    ParamChanged {
        /// The param.
        name: String,
        /// Before (None: absent).
        old: Option<serde_json::Value>,
        /// Now (None: absent).
        new: Option<serde_json::Value>,
    },
    /// The list of inputs changed.
    InputsChanged {
        /// Before.
        old: Vec<String>,
        /// Now.
        new: Vec<String>,
    },
    /// An input's content changed.
    InputChanged {
        /// The input stage.
        name: String,
    },
    /// An input will run first, so this stage's key is not known yet.
    InputPending {
        /// The input stage.
        name: String,
    },
}

fn show(value: &Option<serde_json::Value>) -> String {
    match value {
        None => "unset".into(),
        Some(serde_json::Value::Object(o)) if o.len() == 1 && o.contains_key("content") => "<file contents>".into(),
        Some(v) => v.to_string(),
    }
}

impl fmt::Display for DirtyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::New => f.write_str("new"),
            Self::Forced => f.write_str("forced"),
            Self::EntryMissing => f.write_str("cache entry missing"),
            Self::Corrupt(damage) => write!(f, "cache entry corrupt: {damage}"),
            Self::ParamUnreadable { name, kind } => write!(f, "param `{name}`: cannot read its content: {kind}"),
            Self::KindChanged { old, new } => write!(f, "kind changed: {old} -> {new}"),
            Self::VersionBumped { old, new } => write!(f, "implementation version bumped: {old} -> {new}"),
            Self::BackendChanged { old, new } => write!(
                f,
                "backend changed: {} -> {}",
                old.as_deref().unwrap_or("none"),
                new.as_deref().unwrap_or("none")
            ),
            Self::ParamChanged { name, old, new } => match (old, new) {
                (Some(serde_json::Value::Object(_)), Some(serde_json::Value::Object(_)))
                    if show(old) == "<file contents>" =>
                {
                    write!(f, "param `{name}`: file contents changed")
                }
                // A param a newer kind no longer keys where it cannot apply (or one left out
                // that is keyed only when given).
                (Some(_), None) => write!(f, "param `{name}` ({}) is no longer part of the key", show(old)),
                _ => write!(f, "param `{name}` changed: {} -> {}", show(old), show(new)),
            },
            Self::InputsChanged { old, new } => write!(f, "inputs changed: [{}] -> [{}]", old.join(", "), new.join(", ")),
            Self::InputChanged { name } => write!(f, "input `{name}` changed"),
            Self::InputPending { name } => write!(f, "input `{name}` will run"),

        }
    }
}

/// Every difference between the components recorded last time and the current ones.
pub fn diff(old: &KeyComponents, new: &KeyComponents) -> Vec<DirtyReason> {
    let mut reasons = Vec::new();
    if old.kind != new.kind {
        reasons.push(DirtyReason::KindChanged { old: old.kind.clone(), new: new.kind.clone() });
    }
    if old.version != new.version {
        reasons.push(DirtyReason::VersionBumped { old: old.version, new: new.version });
    }
    if old.backend != new.backend {
        reasons.push(DirtyReason::BackendChanged { old: old.backend.clone(), new: new.backend.clone() });
    }
    let empty = serde_json::Map::new();
    let old_params = old.params.as_object().unwrap_or(&empty);
    let new_params = new.params.as_object().unwrap_or(&empty);
    let mut names: Vec<&String> = old_params.keys().chain(new_params.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (a, b) = (old_params.get(name), new_params.get(name));
        if a != b {
            reasons.push(DirtyReason::ParamChanged { name: name.clone(), old: a.cloned(), new: b.cloned() });
        }
    }
    let old_names: Vec<String> = old.inputs.iter().map(|i| i.name.clone()).collect();
    let new_names: Vec<String> = new.inputs.iter().map(|i| i.name.clone()).collect();
    if old_names != new_names {
        reasons.push(DirtyReason::InputsChanged { old: old_names, new: new_names });
    } else {
        for (a, b) in old.inputs.iter().zip(&new.inputs) {
            if a.hash != b.hash {
                reasons.push(DirtyReason::InputChanged { name: b.name.clone() });
            }
        }
    }
    // `names` (kinds whose outputs show names) holds the stage's and its inputs' names: the
    // stage's own is the record's, and a renamed input shows as `InputsChanged` above.
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::InputComponent;

    fn components() -> KeyComponents {
        KeyComponents {
            kind: "fine-tune".into(),
            version: 1,
            backend: Some("ndarray".into()),
            params: serde_json::json!({"lr": 0.0001, "epochs": 10, "n_fft": 512, "path": {"content": "aa"}, "seed": 42}),
            inputs: vec![InputComponent { name: "split".into(), hash: "11".into() }],
            names: None,
            shared: None,
        }
    }

    #[test]
    fn renders_each_kind_of_change() {
        let old = components();
        let mut new = components();
        new.version = 2;
        new.params["seed"] = serde_json::json!(7);
        new.backend = Some("cuda".into());
        new.params["lr"] = serde_json::json!(3e-5);
        new.params["path"] = serde_json::json!({"content": "bb"});
        new.inputs[0].hash = "22".into();
        new.params.as_object_mut().unwrap().remove("n_fft");
        new.params["folds"] = serde_json::json!(5);
        let reasons: Vec<String> = diff(&old, &new).iter().map(ToString::to_string).collect();
        assert_eq!(
            reasons,
            [
                "implementation version bumped: 1 -> 2",
                "backend changed: ndarray -> cuda",
                "param `folds` changed: unset -> 5",
                "param `lr` changed: 0.0001 -> 0.00003",
                "param `n_fft` (512) is no longer part of the key",
                "param `path`: file contents changed",
                "param `seed` changed: 42 -> 7",
                "input `split` changed",
            ]
        );
        assert!(diff(&old, &old).is_empty());
    }
}
