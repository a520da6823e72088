//! The RAVDESS emotions: the eight codes `01`..`08` that name RAVDESS's classes, the words the
//! other built-in corpora's labels map onto, and the styles `synth` speaks.

use std::fmt;
use std::str::FromStr;

use vox_api::labels::{Class, LabelSet};

/// RAVDESS's label set: the codes `01`..`08`, described by their emotion names. The default
/// classes of every built-in emotion corpus, so that their labels mean the same across corpora.
pub fn ravdess_classes() -> LabelSet {
    let classes = Emotion::ALL
        .iter()
        .map(|e| Class { name: e.code().to_string(), description: e.name().to_string() })
        .collect();
    // Eight distinct two-digit codes are valid class names.
    LabelSet::new(classes).unwrap_or_default()
}

/// One of the eight RAVDESS emotions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Emotion {
    /// `01`
    Neutral = 1,
    /// `02`
    Calm = 2,
    /// `03`
    Happy = 3,
    /// `04`
    Sad = 4,
    /// `05`
    Angry = 5,
    /// `06`
    Fearful = 6,
    /// `07`
    Disgust = 7,
    /// `08`
    Surprised = 8,
}

impl Emotion {
    /// All emotions in code order.
    pub const ALL: [Emotion; 8] = [
        Self::Neutral,
        Self::Calm,
        Self::Happy,
        Self::Sad,
        Self::Angry,
        Self::Fearful,
        Self::Disgust,
        Self::Surprised,
    ];

    /// The two-digit code, `"01"`..`"08"`.
    pub fn code(self) -> &'static str {
        ["01", "02", "03", "04", "05", "06", "07", "08"][self.index()]
    }

    /// The English name, lower case.
    pub fn name(self) -> &'static str {
        ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
            [self.index()]
    }

    /// Zero-based class index (code - 1).
    pub fn index(self) -> usize {
        self as usize - 1
    }

    /// The emotion with zero-based class index `index`.
    pub fn from_index(index: usize) -> Option<Self> {
        Self::ALL.get(index).copied()
    }
}

impl fmt::Display for Emotion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A string that is neither a code `01`..`08` nor an emotion name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an emotion code (01..08) or name (neutral, calm, happy, sad, angry, fearful, disgust, surprised)")]
pub struct UnknownEmotion(pub String);

impl FromStr for Emotion {
    type Err = UnknownEmotion;

    /// Parses a code (`"05"` or `"5"`) or a name (`"angry"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let by_code = s.parse::<usize>().ok().and_then(|c| c.checked_sub(1)).and_then(Self::from_index);
        by_code
            .or_else(|| Self::ALL.into_iter().find(|e| e.name().eq_ignore_ascii_case(s)))
            .ok_or_else(|| UnknownEmotion(s.to_string()))
    }
}

impl serde::Serialize for Emotion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Emotion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for e in Emotion::ALL {
            assert_eq!(e.code().parse::<Emotion>(), Ok(e));
            assert_eq!(e.name().parse::<Emotion>(), Ok(e));
        }
        assert_eq!("5".parse::<Emotion>(), Ok(Emotion::Angry));
        assert_eq!(Emotion::Surprised.index(), 7);
        assert!("09".parse::<Emotion>().is_err());
        assert!("00".parse::<Emotion>().is_err());
    }
}
