//! Every stage kind vox knows, and what their JSON schemas say about params (names, types,
//! defaults, docs) for validation, `--set` typing and `vox stages`.

use serde_json::{Map, Value};
use vox_api::StageKind;

use crate::spec::parse_toml_value;

/// The registered stage kinds, in the order `vox stages` lists them.
pub struct Registry {
    kinds: Vec<Box<dyn StageKind>>,
    /// Whether planning checks that a backend's device is here (`false` on a login node that
    /// submits cluster jobs: the job checks on its node).
    pub device_checks: bool,
}

impl Default for Registry {
    /// Every stage kind of the `stages/` crates.
    fn default() -> Self {
        let mut kinds = vox_audio::kinds();
        kinds.extend(vox_download::kinds());
        kinds.extend(vox_features::kinds());
        kinds.extend(vox_classic::kinds());
        kinds.extend(vox_wav2vec2::kinds());
        kinds.extend(vox_report::kinds());
        Self::new(kinds)
    }
}

impl Registry {
    /// A registry of `kinds`.
    pub fn new(kinds: Vec<Box<dyn StageKind>>) -> Self {
        Self { kinds, device_checks: true }
    }

    /// The kind named `name` (its variant-less one when variants share the name).
    pub fn get(&self, name: &str) -> Option<&dyn StageKind> {
        self.kinds.iter().find(|k| k.name() == name && k.variant().is_none()).map(|k| k.as_ref())
    }

    /// The kind named `name` that handles a stage whose params give `param`'s value by `value_of`:
    /// the [`vox_api::Variant`] of that name whose param has the stated value, else the kind
    /// without a variant.
    pub fn resolve(&self, name: &str, value_of: impl Fn(&str) -> Option<toml::Value>) -> Option<&dyn StageKind> {
        let variant =
            self.kinds.iter().find(|k| k.name() == name && k.variant().is_some_and(|v| v.selects(value_of(v.param).as_ref())));
        variant.map(|k| k.as_ref()).or_else(|| self.get(name))
    }

    /// The kind names, once each (a variant shares its name with its base kind).
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        self.kinds.iter().filter(|k| k.variant().is_none()).map(|k| k.name())
    }

    /// Every kind.
    pub fn kinds(&self) -> impl Iterator<Item = &dyn StageKind> {
        self.kinds.iter().map(|k| k.as_ref())
    }
}

/// The type of a param, as its schema declares it.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamType {
    /// A string.
    String,
    /// An integer.
    Integer,
    /// A floating-point number.
    Number,
    /// `true` or `false`.
    Boolean,
    /// One of a fixed set of strings.
    Choice(Vec<String>),
    /// A list of items of one type.
    Array(Box<ParamType>),
    /// A table or a mix of types.
    Other(String),
}

impl std::fmt::Display for ParamType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::String => f.write_str("string"),
            Self::Integer => f.write_str("integer"),
            Self::Number => f.write_str("number"),
            Self::Boolean => f.write_str("boolean"),
            Self::Choice(options) => {
                let quoted: Vec<String> = options.iter().map(|o| format!("\"{o}\"")).collect();
                f.write_str(&quoted.join(" | "))
            }
            Self::Array(item) => write!(f, "array of {item}"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// One param of a kind.
#[derive(Debug, Clone)]
pub struct ParamInfo {
    /// The TOML key.
    pub name: String,
    /// Its type.
    pub ty: ParamType,
    /// Whether it may be left out (it has a default or is optional).
    pub optional: bool,
    /// The default, as TOML-ish text.
    pub default: Option<String>,
    /// The doc comment.
    pub doc: String,
}

/// The kind's description (its params struct's doc comment).
pub fn kind_doc(kind: &dyn StageKind) -> String {
    let schema = kind.schema();
    schema.as_object().and_then(|o| o.get("description")).and_then(Value::as_str).unwrap_or("").to_string()
}

/// The params of `kind`, in declaration order.
pub fn params(kind: &dyn StageKind) -> Vec<ParamInfo> {
    let schema = kind.schema();
    let Some(root) = schema.as_object() else { return Vec::new() };
    let defs = root.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
    let required: Vec<&str> = root
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(props) = root.get("properties").and_then(Value::as_object) else { return Vec::new() };
    props
        .iter()
        .map(|(name, prop)| {
            let (ty, nullable) = type_of(prop, &defs);
            let default = prop.get("default").filter(|d| !d.is_null()).map(render_default);
            ParamInfo {
                name: name.clone(),
                ty,
                optional: nullable || default.is_some() || !required.contains(&name.as_str()),
                default,
                doc: prop
                    .get("description")
                    .or_else(|| resolve(prop, &defs).get("description"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            }
        })
        .collect()
}

fn resolve<'a>(schema: &'a Value, defs: &'a Map<String, Value>) -> &'a Value {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.strip_prefix("#/$defs/"))
        .and_then(|name| defs.get(name))
        .unwrap_or(schema)
}

/// The param type of a schema, and whether `null` is allowed.
fn type_of(schema: &Value, defs: &Map<String, Value>) -> (ParamType, bool) {
    let schema = resolve(schema, defs);
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let nullable = options.iter().any(|o| o.get("type").and_then(Value::as_str) == Some("null"));
            let real: Vec<&Value> =
                options.iter().filter(|o| o.get("type").and_then(Value::as_str) != Some("null")).collect();
            let choices: Option<Vec<Vec<String>>> = real.iter().map(|o| constants(resolve(o, defs))).collect();
            if let Some(choices) = choices.filter(|c| !c.is_empty()).map(|c| c.concat()) {
                return (ParamType::Choice(choices), nullable);
            }
            if let [only] = real.as_slice() {
                let (ty, inner_nullable) = type_of(only, defs);
                return (ty, nullable || inner_nullable);
            }
            let names: Vec<String> = real.iter().map(|o| type_of(o, defs).0.to_string()).collect();
            return (ParamType::Other(names.join(" or ")), nullable);
        }
    }
    if let Some(choices) = constants(schema) {
        return (ParamType::Choice(choices), false);
    }
    let (name, nullable) = match schema.get("type") {
        Some(Value::String(t)) => (t.as_str(), false),
        Some(Value::Array(ts)) => {
            let nullable = ts.iter().any(|t| t == "null");
            (ts.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("any"), nullable)
        }
        _ => ("any", false),
    };
    let ty = match name {
        "string" => ParamType::String,
        "integer" => ParamType::Integer,
        "number" => ParamType::Number,
        "boolean" => ParamType::Boolean,
        "array" => {
            let item = schema.get("items").map_or(ParamType::Other("any".into()), |i| type_of(i, defs).0);
            ParamType::Array(Box::new(item))
        }
        "object" => ParamType::Other("table".into()),
        other => ParamType::Other(other.into()),
    };
    (ty, nullable)
}

/// The constant strings a schema allows (`enum` or `const`), if that is all it allows.
fn constants(schema: &Value) -> Option<Vec<String>> {
    if let Some(c) = schema.get("const").and_then(Value::as_str) {
        return Some(vec![c.to_string()]);
    }
    let values = schema.get("enum")?.as_array()?;
    values.iter().map(|v| v.as_str().map(str::to_string)).collect()
}

fn render_default(value: &Value) -> String {
    match value {
        Value::String(s) => format!("\"{s}\""),
        other => other.to_string(),
    }
}

/// Types the text of a `--set` value for a param of type `ty`.
pub fn parse_value(text: &str, ty: &ParamType) -> Result<toml::Value, String> {
    let unquoted = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    match ty {
        ParamType::String => Ok(toml::Value::String(unquoted.to_string())),
        ParamType::Choice(options) => {
            if options.iter().any(|o| o == unquoted) {
                Ok(toml::Value::String(unquoted.to_string()))
            } else {
                Err(format!("expected one of {ty}, got `{text}`"))
            }
        }
        ParamType::Integer => {
            text.parse::<i64>().map(toml::Value::Integer).map_err(|_| format!("expected an integer, got `{text}`"))
        }
        ParamType::Number => {
            text.parse::<f64>().map(toml::Value::Float).map_err(|_| format!("expected a number, got `{text}`"))
        }
        ParamType::Boolean => {
            text.parse::<bool>().map(toml::Value::Boolean).map_err(|_| format!("expected true or false, got `{text}`"))
        }
        ParamType::Array(item) => match parse_toml_value(text) {
            Some(toml::Value::Array(items)) => Ok(toml::Value::Array(items)),
            _ => text
                .split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| parse_value(s.trim(), item))
                .collect::<Result<Vec<_>, _>>()
                .map(toml::Value::Array),
        },
        ParamType::Other(_) => Ok(parse_toml_value(text).unwrap_or_else(|| toml::Value::String(text.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_command_line_values() {
        assert_eq!(parse_value("3", &ParamType::Integer), Ok(toml::Value::Integer(3)));
        assert_eq!(parse_value("3e-5", &ParamType::Number), Ok(toml::Value::Float(3e-5)));
        assert_eq!(parse_value("abc", &ParamType::Integer), Err("expected an integer, got `abc`".into()));
        let choice = ParamType::Choice(vec!["random".into(), "speaker".into()]);
        assert_eq!(parse_value("speaker", &choice), Ok(toml::Value::String("speaker".into())));
        assert_eq!(
            parse_value("speakr", &choice),
            Err("expected one of \"random\" | \"speaker\", got `speakr`".into())
        );
        let list = ParamType::Array(Box::new(ParamType::String));
        assert_eq!(
            parse_value("01,02", &list),
            Ok(toml::Value::Array(vec![toml::Value::String("01".into()), toml::Value::String("02".into())]))
        );
        assert_eq!(parse_value("[\"03\"]", &list), Ok(toml::Value::Array(vec![toml::Value::String("03".into())])));
    }
}
