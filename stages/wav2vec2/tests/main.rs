//! Integration tests of vox-wav2vec2 (one test binary, one module per concern).

mod common;
mod parity;
mod shape_contract;
mod ssl;
mod training;
mod whisper;
