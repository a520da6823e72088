//! vox data stages: a synthetic RAVDESS-layout corpus, decoding five corpora, padding,
//! splitting and merging.
//!
//! | kind     | inputs | output | what it does                                                   |
//! |----------|--------|--------|----------------------------------------------------------------|
//! | `synth`  | none   | files  | writes a deterministic speech-like corpus in RAVDESS layout    |
//! |          |        |        | (or SAVEE's, TESS', CREMA-D's, EmoDB's: the `naming` param)    |
//! | `decode` | files  | audio  | reads WAV/FLAC/MP3/Vorbis/AIFF, mixes to mono, resamples,      |
//! |          |        |        | labels by file name                                            |
//! |          |        |        | (RAVDESS, SAVEE, TESS, CREMA-D, EmoDB; `labels` drop/merge)    |
//! | `trim`   | audio  | audio  | cuts leading and trailing silence (librosa's `effects.trim`)   |
//! | `pad`    | audio  | audio  | pads or crops every clip to one length                         |
//! | `split`  | audio  | audio  | assigns clips to train/val/test, stratified or by speaker      |
//! | `merge`  | audio+ | audio  | concatenates audio sets of one sample rate, ids kept unique    |
//! | `augment`| audio  | audio  | adds speed/noise/gain-augmented copies of the train clips      |
//! | `degrade`| audio  | audio  | adds copies of the test clips under fixed conditions (SNRs...) |

mod audio_file;
mod augment;
mod compressed;
mod corpus;
mod decode;
mod degrade;
mod emotion;
mod error;
mod file_filter;
mod folds;
mod g711;
mod label_policy;
mod merge;
mod naming;
mod new_audio;
mod pad;
mod parallel;
mod perturb;
mod resample;
mod reverb;
mod sample_file;
mod set_writer;
mod silence;
mod sources;
mod speech;
mod split;
mod stats;
mod synth;
mod table;
mod trim;
#[cfg(test)]
mod test_support;
mod wav;

pub use audio_file::AudioBuffers;
pub use augment::Augment;
pub use corpus::{ClipName, Corpus, Label, Labels, NameError, RavdessName};
pub use decode::{Decode, OnError};
pub use degrade::{Degrade, HeldOut, Which};
pub use error::{AudioError, FileError};
pub use merge::Merge;
pub use naming::Naming;
pub use pad::{Crop, Pad, PadSide};
pub use perturb::NoiseColour;
pub use resample::{ResampleFailure, Resampler};
pub use split::{Split, Strategy};
pub use synth::Synth;
pub use table::{Columns, RowError};
pub use trim::Trim;
pub use wav::{Downmix, WavBuffers};

use vox_api::StageKind;

/// Every stage kind of this crate, for the engine's registry.
pub fn kinds() -> Vec<Box<dyn StageKind>> {
    vec![
        vox_api::kind::<Synth>(),
        vox_api::kind::<Decode>(),
        vox_api::kind::<Trim>(),
        vox_api::kind::<Pad>(),
        vox_api::kind::<Split>(),
        vox_api::kind::<Merge>(),
        vox_api::kind::<Augment>(),
        vox_api::kind::<Degrade>(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::TestStage;
    use vox_api::ArtifactKind;
    use vox_api::StageDef;
    use vox_api::audio::{self, AudioSet};
    use crate::emotion::Emotion;

    #[test]
    fn every_kind_is_registered_once() {
        let names: Vec<&str> = kinds().iter().map(|k| k.name()).collect();
        assert_eq!(names, ["synth", "decode", "trim", "pad", "split", "merge", "augment", "degrade"]);
    }

    #[test]
    fn corpus_fragments_configure_their_stages() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines/corpora");
        let decode = vox_api::kind::<Decode>();
        let fragments = [
            ("savee.toml", "savee", "savee", "SAVEE", serde_json::json!({})),
            ("tess.toml", "tess", "tess", "TESS", serde_json::json!({})),
            ("crema-d.toml", "crema-d", "crema_d", "CREMA-D", serde_json::json!({})),
            ("emodb.toml", "emodb", "emodb", "EmoDB", serde_json::json!({"boredom": "drop"})),
        ];
        for (file, corpus, prefix, folder, labels) in fragments {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            let fragment: toml::Table = text.parse().unwrap();
            assert_eq!(fragment.keys().collect::<Vec<_>>(), ["stages"], "{file}");
            let stages = fragment["stages"].as_table().unwrap();
            let (data, audio) = (format!("{prefix}_data"), format!("{prefix}_audio"));
            let mut names: Vec<&String> = stages.keys().collect();
            names.sort();
            assert_eq!(names, [&audio, &data], "{file}");
            let source = stages[&data].as_table().unwrap();
            assert_eq!(source["kind"].as_str(), Some("download"), "{file}");
            let path = format!("../../data/{folder}");
            assert_eq!(source["path"].as_str(), Some(path.as_str()), "{file}");
            let mut params = stages[&audio].as_table().unwrap().clone();
            assert_eq!(params.remove("kind"), Some("decode".into()), "{file}");
            assert_eq!(params.remove("inputs"), Some(toml::Value::Array(vec![data.into()])));
            let resolved = decode.configure(params).unwrap().params();
            let mut expected = serde_json::json!({
                "corpus": corpus, "labels": labels, "sample_rate": 16000, "on_error": "fail"
            });
            // CREMA-D's repository holds every clip twice (AudioWAV/, AudioMP3/): keep the WAVs.
            if corpus == "crema-d" {
                expected["include"] = serde_json::json!(["AudioWAV/*"]);
            }
            assert_eq!(resolved, expected, "{file}");
        }
    }

    #[test]
    fn demo_twins_synthesize_each_data_stage_in_its_corpus_naming() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../pipelines");
        let synth = vox_api::kind::<Synth>();
        let twins = [
            ("demo-savee.toml", &["savee_data"][..]),
            ("demo-tess.toml", &["tess_data"]),
            ("demo-cross-corpus.toml", &["ravdess_data", "tess_data", "savee_data"]),
        ];
        for (file, data_stages) in twins {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            let pipeline: toml::Table = text.parse().unwrap();
            let stages = pipeline["stages"].as_table().unwrap();
            let mut names: Vec<&str> = stages.keys().map(String::as_str).collect();
            names.sort();
            let mut expected = data_stages.to_vec();
            expected.sort();
            assert_eq!(names, expected, "{file}: a demo twin only replaces data stages");
            for name in data_stages {
                let mut params = stages[*name].as_table().unwrap().clone();
                assert_eq!(params.remove("kind"), Some("synth".into()), "{file}: {name}");
                let resolved = synth.configure(params).unwrap().params();
                let corpus = name.strip_suffix("_data").unwrap();
                assert_eq!(resolved["naming"], corpus, "{file}: {name}");
                assert_eq!(resolved["sample_rate"], 16000, "{file}: {name}");
            }
        }
    }

    #[test]
    fn two_corpora_decode_merge_and_split_by_speaker() {
        let decode_tree = |corpus: Corpus, files: &[&str]| {
            let stage = TestStage::with_input(ArtifactKind::Files);
            for file in files {
                test_support::write_wav(&stage.input_dir().join(file), 16000, 1, &[4096; 16]);
            }
            let labels = Default::default();
            Decode { corpus, classes: None, labels, table: None, columns: None, include: Vec::new(), exclude: Vec::new(), sample_rate: 16000, channel: None, on_error: OnError::Fail }
                .run(&stage.ctx(0))
                .unwrap();
            AudioSet::read(stage.out_dir()).unwrap()
        };
        let ravdess = decode_tree(
            Corpus::Ravdess,
            &["Actor_01/03-01-05-01-01-01-01.wav", "Actor_02/03-01-04-01-01-01-02.wav"],
        );
        let tess = decode_tree(Corpus::Tess, &["OAF_angry/OAF_back_angry.wav", "x/YAF_dog_ps.wav"]);
        let merge = TestStage::with_audio_inputs(&[("ravdess", &ravdess), ("tess", &tess)]);
        Merge { keep_splits: true }.run(&merge.ctx(0)).unwrap();
        let split = TestStage::after(&merge, ArtifactKind::Audio);
        let params = Split {
            strategy: Strategy::Speaker,
            val_fraction: None,
            test_fraction: None,
            val_speakers: vec!["OAF".into(), "02".into()],
            test_speakers: Vec::new(),
            folds: None,
            group_by: "speaker".into(),
            fold: None,
            seed: None,
            rated_by: None,
        };
        params.run(&split.ctx(0)).unwrap();
        let set = AudioSet::read(split.out_dir()).unwrap();
        let rows: Vec<(&str, &str, &str, Option<Emotion>, audio::Split)> = set
            .clips
            .iter()
            .map(|c| {
                (c.file_id.as_str(), c.corpus.as_str(), c.speaker.as_str(), test_support::emotion(c), c.split)
            })
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "03-01-05-01-01-01-01",
                    "ravdess",
                    "01",
                    Some(Emotion::Angry),
                    audio::Split::Train
                ),
                ("03-01-04-01-01-01-02", "ravdess", "02", Some(Emotion::Sad), audio::Split::Val),
                ("OAF_back_angry", "tess", "OAF", Some(Emotion::Angry), audio::Split::Val),
                ("YAF_dog_ps", "tess", "YAF", Some(Emotion::Surprised), audio::Split::Train),
            ]
        );
        assert!(set.samples.iter().all(|&s| (s - 0.125).abs() < 1e-6));
    }

    #[test]
    fn synth_decode_pad_split_chain() {
        let synth = TestStage::new();
        let config = Synth {
            actors: 2,
            statements: 1,
            repetitions: 1,
            duration: 1.0,
            sample_rate: 24000,
            seed: None,
            naming: Naming::Ravdess,
        };
        config.run(&synth.ctx(5)).unwrap();
        let decode = TestStage::after(&synth, ArtifactKind::Files);
        let labels = Default::default();
        Decode { corpus: Corpus::Ravdess, classes: None, labels, table: None, columns: None, include: Vec::new(), exclude: Vec::new(), sample_rate: 16000, channel: None, on_error: OnError::Fail }
            .run(&decode.ctx(5))
            .unwrap();
        let pad = TestStage::after(&decode, ArtifactKind::Audio);
        Pad { length: 20000, pad: PadSide::End, crop: Crop::Start }.run(&pad.ctx(5)).unwrap();
        let split = TestStage::after(&pad, ArtifactKind::Audio);
        let params = Split {
            strategy: Strategy::Speaker,
            val_fraction: None,
            test_fraction: None,
            val_speakers: vec!["02".into()],
            test_speakers: Vec::new(),
            folds: None,
            group_by: "speaker".into(),
            fold: None,
            seed: None,
            rated_by: None,
        };
        params.run(&split.ctx(5)).unwrap();
        let set = AudioSet::read(split.out_dir()).unwrap();
        assert_eq!(set.clips.len(), 30);
        assert_eq!(set.clips[0].source, "Actor_01/03-01-01-01-01-01-01.wav");
        for clip in &set.clips {
            let name = RavdessName::parse(&clip.file_id).unwrap();
            assert_eq!(test_support::emotion(clip), Some(name.emotion));
            assert_eq!(clip.speaker, format!("{:02}", name.actor));
            assert_eq!(
                (clip.length, clip.original_length, clip.sample_rate),
                (20000, 16000, 16000)
            );
            let expected = if name.actor == 2 { audio::Split::Val } else { audio::Split::Train };
            assert_eq!(clip.split, expected);
            let samples = set.samples_of(clip);
            assert!(samples[16000..].iter().all(|&s| s == 0.0));
            assert!(samples[..16000].iter().any(|s| s.abs() > 0.01));
        }
        let angry = set.clips.iter().filter(|c| c.label.as_deref() == Some("05")).count();
        assert_eq!(angry, 4);
    }
}
