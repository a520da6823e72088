//! Cache keys: what a stage's key is made of and how it is hashed (the table in the module doc
//! of [`crate::cache`]).

use serde::{Deserialize, Serialize};

/// Everything a stage's key is made of, plus the input names for explanations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyComponents {
    /// The stage kind.
    pub kind: String,
    /// The kind's implementation version.
    pub version: u32,
    /// The backend, for kinds that take one.
    pub backend: Option<String>,
    /// Resolved params; path params are replaced by `{"content": "<blake3>"}`.
    pub params: serde_json::Value,
    /// The inputs, in pipeline order.
    pub inputs: Vec<InputComponent>,
    /// For a kind whose outputs carry names (`vox_api::StageDef::OUTPUT_NAMES`): the stage's
    /// name, then its inputs', hashed so that a rename reruns it. `None` for every other kind:
    /// names are never in its key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<Vec<String>>,
    /// For work a stage shares across splits of the same clips (`vox_api::memo`): the part's
    /// name; the hashes of its audio inputs are then split-blind ([`crate::cache::split_blind_hash`]).
    /// `None` for a stage's own entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<String>,
}

/// One input of a key: its stage name (not hashed) and its output's content hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputComponent {
    /// Upstream stage name, for explanations only.
    pub name: String,
    /// blake3 of the upstream output.
    pub hash: String,
}

/// The hashed projection of [`KeyComponents`]: no names.
#[derive(Serialize)]
struct Hashed<'a> {
    format: u32,
    kind: &'a str,
    version: u32,
    backend: Option<&'a str>,
    params: &'a serde_json::Value,
    inputs: Vec<&'a str>,
    // Absent (not null) for kinds without names, so their keys are what they always were.
    #[serde(skip_serializing_if = "Option::is_none")]
    names: Option<&'a [String]>,
    // Absent for stages' own entries, so their keys are what they always were.
    #[serde(skip_serializing_if = "Option::is_none")]
    shared: Option<&'a str>,
}

impl KeyComponents {
    /// The cache key: 64 hex digits of blake3.
    pub fn key(&self) -> String {
        let hashed = Hashed {
            format: 2,
            kind: &self.kind,
            version: self.version,
            backend: self.backend.as_deref(),
            params: &self.params,
            inputs: self.inputs.iter().map(|i| i.hash.as_str()).collect(),
            names: self.names.as_deref(),
            shared: self.shared.as_deref(),
        };
        // serde_json's Value keeps maps sorted (BTreeMap), so this encoding is canonical.
        let bytes = serde_json::to_vec(&hashed).unwrap_or_default();
        blake3::hash(&bytes).to_hex().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::tests::components;

    #[test]
    fn key_ignores_names_but_not_content() {
        let a = components(1e-4);
        let mut renamed = a.clone();
        renamed.inputs[0].name = "other".into();
        assert_eq!(a.key(), renamed.key());
        assert_ne!(a.key(), components(3e-5).key());
        let mut other_input = a.clone();
        other_input.inputs[0].hash = "cd".repeat(32);
        assert_ne!(a.key(), other_input.key());
        // The key is stable across releases: changing the encoding must be deliberate.
        assert_eq!(a.key().len(), 64);
        // A kind whose outputs carry names hashes them: a rename changes its key.
        let named = KeyComponents { names: Some(vec!["report".into(), "rf".into()]), ..a.clone() };
        let renamed = KeyComponents { names: Some(vec!["report".into(), "forest".into()]), ..a.clone() };
        assert_ne!(named.key(), renamed.key());
        assert_ne!(named.key(), a.key());
        // Shared work is keyed apart from the stage that asks for it.
        let shared = KeyComponents { shared: Some("features".into()), ..a.clone() };
        assert_ne!(shared.key(), a.key());
        assert_ne!(shared.key(), KeyComponents { shared: Some("states".into()), ..a.clone() }.key());
    }
}
