//! `[search.space]`: the distribution of each searched param, and seeded draws from it.
//!
//! ```toml
//! [search.space]
//! "rf.n_trees" = { int = [50, 500] }           # whole numbers, both ends included
//! "lr.c" = { log_uniform = [1e-3, 1e2] }       # e^U(ln a, ln b): each decade alike
//! "rf.max_features" = { uniform = [0.05, 0.5] }
//! "knn.weights" = ["uniform", "distance"]      # choices (also `{ choices = [...] }`)
//! ```
//!
//! Each draw is a pure function of (search seed, trial, `STAGE.PARAM`): a blake3 hash of the
//! three gives the uniform number, so adding a param to the space leaves the others' draws as
//! they were, and a trial's params never depend on how many trials there are. Continuous draws
//! are rounded to 4 significant digits: `c = 0.1235` reads better than `0.12345678`, and the
//! search is no worse for it.

use crate::error::{SpecError, SpecErrorKind};
use crate::source::Located;

/// How one param is drawn.
#[derive(Clone, Debug, PartialEq)]
pub enum Distribution {
    /// One of these values, each alike.
    Choices(Vec<toml::Value>),
    /// Uniform on `[low, high]`.
    Uniform(f64, f64),
    /// Log-uniform on `[low, high]`, `0 < low`.
    LogUniform(f64, f64),
    /// A whole number in `low..=high`, each alike.
    Int(i64, i64),
}

/// The forms a distribution may take, for messages.
const FORMS: &str = "a list of choices, or `{ choices = [...] }`, `{ uniform = [a, b] }`, `{ log_uniform = [a, b] }`, `{ int = [a, b] }`";

impl Distribution {
    /// Reads the value of a `[search.space]` entry.
    pub fn parse(target: &Located<String>, value: &Located<toml::Value>) -> Result<Self, SpecError> {
        let bad = |problem: String| SpecError::at(SpecErrorKind::BadSearch { key: target.value.clone(), problem }, value.loc.clone());
        let table = match &value.value {
            toml::Value::Array(choices) if choices.is_empty() => return Err(bad("no choices".into())),
            toml::Value::Array(choices) => return Ok(Self::Choices(choices.clone())),
            toml::Value::Table(table) if table.len() == 1 => table,
            _ => return Err(bad(format!("expected {FORMS}"))),
        };
        let (form, bounds) = table.iter().next().expect("one entry");
        if form == "choices" {
            return match bounds {
                toml::Value::Array(choices) if !choices.is_empty() => Ok(Self::Choices(choices.clone())),
                _ => Err(bad("`choices` needs a non-empty list".into())),
            };
        }
        let pair = match bounds {
            toml::Value::Array(pair) if pair.len() == 2 => pair,
            _ => return Err(bad(format!("`{form}` needs two bounds, `[low, high]`"))),
        };
        let number = |v: &toml::Value| v.as_float().or_else(|| v.as_integer().map(|i| i as f64));
        match form.as_str() {
            "int" => match (pair[0].as_integer(), pair[1].as_integer()) {
                (Some(low), Some(high)) if low <= high => Ok(Self::Int(low, high)),
                (Some(low), Some(high)) => Err(bad(format!("`int` bounds must rise, got [{low}, {high}]"))),
                _ => Err(bad("`int` bounds must be whole numbers".into())),
            },
            "uniform" | "log_uniform" => {
                let (Some(low), Some(high)) = (number(&pair[0]), number(&pair[1])) else {
                    return Err(bad(format!("`{form}` bounds must be numbers")));
                };
                if !(low.is_finite() && high.is_finite() && low < high) {
                    return Err(bad(format!("`{form}` bounds must be finite and rise, got [{low}, {high}]")));
                }
                if form == "uniform" {
                    Ok(Self::Uniform(low, high))
                } else if low > 0.0 {
                    Ok(Self::LogUniform(low, high))
                } else {
                    Err(bad(format!("`log_uniform` needs a positive low bound, got {low}")))
                }
            }
            other => Err(bad(format!("unknown distribution `{other}`; expected {FORMS}"))),
        }
    }

    /// The value for the uniform number `u` in `[0, 1)`.
    pub fn at(&self, u: f64) -> toml::Value {
        match self {
            Self::Choices(choices) => choices[((u * choices.len() as f64) as usize).min(choices.len() - 1)].clone(),
            Self::Uniform(low, high) => toml::Value::Float(round4(low + (high - low) * u).clamp(*low, *high)),
            Self::LogUniform(low, high) => {
                toml::Value::Float(round4((low.ln() + (high.ln() - low.ln()) * u).exp()).clamp(*low, *high))
            }
            Self::Int(low, high) => {
                let span = (high - low + 1) as f64;
                toml::Value::Integer(low + ((u * span) as i64).min(high - low))
            }
        }
    }
}

/// `x` to 4 significant digits.
fn round4(x: f64) -> f64 {
    format!("{x:.3e}").parse().unwrap_or(x)
}

/// The uniform number in `[0, 1)` of (seed, trial, target): the top 53 bits of their blake3 hash.
pub fn uniform(seed: u64, trial: usize, target: &str) -> f64 {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"vox-search-1").update(&seed.to_le_bytes()).update(&(trial as u64).to_le_bytes()).update(target.as_bytes());
    let bytes: [u8; 8] = hasher.finalize().as_bytes()[..8].try_into().expect("8 bytes");
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::Loc;

    fn parse(text: &str) -> Result<Distribution, String> {
        let value: toml::Table = toml::from_str(&format!("x = {text}")).unwrap();
        let loc = Loc { file: 0, span: 0..0 };
        let target = Located { value: "rf.c".to_string(), loc: loc.clone() };
        Distribution::parse(&target, &Located { value: value["x"].clone(), loc }).map_err(|e| e.kind.to_string())
    }

    #[test]
    fn forms_and_their_errors() {
        assert_eq!(parse("[1, 2]"), Ok(Distribution::Choices(vec![1.into(), 2.into()])));
        assert_eq!(parse("{ choices = [\"a\"] }"), Ok(Distribution::Choices(vec!["a".into()])));
        assert_eq!(parse("{ int = [1, 9] }"), Ok(Distribution::Int(1, 9)));
        assert_eq!(parse("{ log_uniform = [1e-3, 10] }"), Ok(Distribution::LogUniform(1e-3, 10.0)));
        assert_eq!(parse("{ log_uniform = [0, 1] }").unwrap_err(), "invalid [search] `rf.c`: `log_uniform` needs a positive low bound, got 0");
        assert_eq!(parse("{ uniform = [2, 1] }").unwrap_err(), "invalid [search] `rf.c`: `uniform` bounds must be finite and rise, got [2, 1]");
        assert!(parse("{ normal = [0, 1] }").unwrap_err().contains("unknown distribution `normal`"));
        assert!(parse("3").unwrap_err().contains("expected a list of choices"));
        assert_eq!(parse("{ int = [1.5, 3] }").unwrap_err(), "invalid [search] `rf.c`: `int` bounds must be whole numbers");
    }

    #[test]
    fn draws_cover_the_range_and_stay_in_it() {
        let n = 4000;
        let draws = |d: &Distribution| (0..n).map(|t| d.at(uniform(7, t, "rf.c"))).collect::<Vec<_>>();
        let ints: Vec<i64> = draws(&Distribution::Int(1, 4)).iter().map(|v| v.as_integer().unwrap()).collect();
        for k in 1..=4 {
            let share = ints.iter().filter(|&&v| v == k).count() as f64 / n as f64;
            assert!((share - 0.25).abs() < 0.03, "{k}: {share}");
        }
        // Log-uniform: each decade of [1e-3, 1e1] gets a quarter.
        let logs: Vec<f64> = draws(&Distribution::LogUniform(1e-3, 10.0)).iter().map(|v| v.as_float().unwrap()).collect();
        assert!(logs.iter().all(|&v| (1e-3..=10.0).contains(&v)));
        let below = logs.iter().filter(|&&v| v < 1e-2).count() as f64 / n as f64;
        assert!((below - 0.25).abs() < 0.03, "{below}");
        assert_eq!(round4(0.123456789), 0.1235);
        assert_eq!(round4(31415.9), 31420.0);
    }

    #[test]
    fn a_draw_depends_on_seed_trial_and_target_only() {
        assert_eq!(uniform(1, 3, "rf.c"), uniform(1, 3, "rf.c"));
        assert_ne!(uniform(1, 3, "rf.c"), uniform(2, 3, "rf.c"));
        assert_ne!(uniform(1, 3, "rf.c"), uniform(1, 4, "rf.c"));
        assert_ne!(uniform(1, 3, "rf.c"), uniform(1, 3, "lr.c"));
        assert!((0.0..1.0).contains(&uniform(0, 0, "")));
    }
}
