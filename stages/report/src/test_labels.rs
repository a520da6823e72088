//! Test helpers: RAVDESS's label set, and its classes by position under their emotion names.
#![allow(non_upper_case_globals)]

use vox_api::labels::{Class, LabelSet};

/// The RAVDESS emotion names, in code order.
const NAMES: [&str; 8] = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"];
/// The codes, in order.
const CODES: [&str; 8] = ["01", "02", "03", "04", "05", "06", "07", "08"];

#[allow(dead_code)]
pub const Neutral: usize = 0;
pub const Calm: usize = 1;
pub const Happy: usize = 2;
pub const Sad: usize = 3;
pub const Angry: usize = 4;
pub const Fearful: usize = 5;
pub const Disgust: usize = 6;
pub const Surprised: usize = 7;

/// RAVDESS's label set: the codes described by emotion names.
pub fn ravdess() -> LabelSet {
    LabelSet::new(
        CODES.iter().zip(NAMES).map(|(code, name)| Class { name: code.to_string(), description: name.into() }).collect(),
    )
    .unwrap()
}

/// The code of class `i`.
pub fn code_of(i: usize) -> &'static str {
    CODES[i]
}

/// The emotion name of class `i`.
pub fn description_of(i: usize) -> &'static str {
    NAMES[i]
}

/// The classes by emotion name, as their codes (the class names).
#[allow(dead_code)]
pub mod codes {
    pub const Neutral: &str = "01";
    pub const Calm: &str = "02";
    pub const Happy: &str = "03";
    pub const Sad: &str = "04";
    pub const Angry: &str = "05";
    pub const Fearful: &str = "06";
    pub const Disgust: &str = "07";
    pub const Surprised: &str = "08";
}
