//! Label sets end to end: the pipelines that predate them give the same numbers, and a lab's own
//! corpus from a table carries its own classes through the models into `output.txt`.

use std::path::PathBuf;

use crate::support::{Project, wav_16bit};

/// EmoDB (boredom merged into 02, disgust dropped) and an unlabeled CREMA-D-named test corpus
/// through every model kind and both votes, scored on EmoDB's held-out test speakers.
const EVERY_MODEL: &str = r#"
[pipeline]
name = "extra"
seed = 3

[stages.data]
kind = "synth"
naming = "emodb"
actors = 4
statements = 2
repetitions = 2
duration = 2.0
sample_rate = 16000

[stages.audio]
kind = "decode"
inputs = ["data"]
corpus = "emodb"
labels = { boredom = "02", disgust = "drop" }

[stages.test_data]
kind = "synth"
naming = "crema-d"
actors = 2
statements = 2
repetitions = 1
duration = 2.0
sample_rate = 16000
seed = 9

[stages.test_audio]
kind = "decode"
inputs = ["test_data"]
corpus = "unlabeled"

[stages.split]
kind = "split"
inputs = ["audio"]
strategy = "speaker"
val_fraction = 0.25
test_fraction = 0.25

[stages.test_split]
kind = "split"
inputs = ["test_audio"]

[stages.all]
kind = "merge"
inputs = ["split", "test_split"]

[stages.padded]
kind = "pad"
inputs = ["all"]
length = 32000

[stages.mfcc]
kind = "featurize"
inputs = ["padded"]
set = "mfcc"

[stages.rf]
kind = "baseline"
inputs = ["mfcc"]
n_trees = 50

[stages.svm]
kind = "baseline"
inputs = ["mfcc"]
model = "linear-svm"

[stages.lr]
kind = "baseline"
inputs = ["mfcc"]
model = "logistic"

[stages.w2v]
kind = "fine-tune"
inputs = ["padded"]
epochs = 2
hidden_size = 32
layers = 1
heads = 2
intermediate_size = 64

[stages.vote]
kind = "ensemble-vote"
inputs = ["rf", "svm", "lr", "w2v"]
weights = "optimize"

[stages.hard]
kind = "ensemble-vote"
inputs = ["rf", "svm"]
method = "hard"

[stages.report]
kind = "evaluate"
inputs = ["rf", "svm", "lr", "w2v", "vote", "hard", "padded"]
split = "test"
"#;

/// Runs `pipeline` and returns its run folder.
fn run(p: &Project, pipeline: &str) -> PathBuf {
    let run = p.vox(&["run", pipeline, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    PathBuf::from(doc["run_dir"].as_str().unwrap())
}

#[test]
fn pipelines_keep_the_numbers_they_had_before_label_sets() {
    let p = Project::new();
    p.file("p.toml", EVERY_MODEL);
    let run_dir = run(&p, "p.toml");
    // Written by vox at 53e1c2b, when every label was one of RAVDESS's eight codes (an enum):
    // the same text to the last digit.
    let summary = std::fs::read_to_string(run_dir.join("report/summary.csv")).unwrap();
    // The columns that existed then (bootstrap intervals came later).
    let summary: String =
        summary.lines().map(|l| l.split(',').take(7).collect::<Vec<_>>().join(",") + "\n").collect();
    assert_eq!(
        summary,
        "input,split,clips,accuracy,macro_f1,weighted_f1,uar\n\
         rf,test,48,0.5,0.36631016042780745,0.36631016042780745,0.5\n\
         svm,test,48,0.3125,0.19905254091300603,0.19905254091300603,0.3125\n\
         lr,test,48,0.4791666666666667,0.40172558922558926,0.40172558922558926,0.4791666666666667\n\
         w2v,test,48,0.1875,0.08271604938271605,0.08271604938271605,0.1875\n\
         vote,test,48,0.4791666666666667,0.40172558922558926,0.40172558922558926,0.4791666666666667\n\
         hard,test,48,0.375,0.26282051282051283,0.26282051282051283,0.375\n"
    );
    let output = std::fs::read_to_string(run_dir.join("report/vote/output.txt")).unwrap();
    assert!(
        output.starts_with(
            "file_id | 01 | 02 | 03 | 04 | 05 | 06 | 07 | 08 |\n\
             1001_IEO_ANG_HI | 0.1011 | 0.0802 | 0.1545 | 0.0825 | 0.5016 | 0.0801 | 0.0000 | 0.0000 |\n\
             1001_IEO_ANG_MD | 0.1032 | 0.0803 | 0.3898 | 0.0886 | 0.2682 | 0.0699 | 0.0000 | 0.0000 |\n"
        ),
        "{output}"
    );
    let output = std::fs::read_to_string(run_dir.join("report/w2v/output.txt")).unwrap();
    assert!(
        output.contains("\n1001_IEO_ANG_HI | 0.2022 | 0.1603 | 0.1379 | 0.1649 | 0.1750 | 0.1597 | 0.0000 | 0.0000 |\n"),
        "{output}"
    );
}

#[test]
fn the_cross_corpus_demo_keeps_its_numbers() {
    let p = Project::new();
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/demo-cross-corpus.toml");
    let run_dir = run(&p, demo.to_str().unwrap());
    let summary = std::fs::read_to_string(run_dir.join("report/summary.csv")).unwrap();
    let summary: String =
        summary.lines().map(|l| l.split(',').take(7).collect::<Vec<_>>().join(",") + "\n").collect();
    // As written by vox at 53e1c2b (SAVEE held out, RAVDESS calm merged into neutral); the
    // normalized forests' rows as first written by the `normalize` kind (b824bb6), the
    // augmented ones' by the `augment` kind (66c1e07).
    assert_eq!(
        summary,
        "input,split,clips,accuracy,macro_f1,weighted_f1,uar\n\
         rf,test,224,0.7589285714285714,0.7593838261736207,0.7593838261736207,0.7589285714285714\n\
         rf_spk,test,224,0.9107142857142857,0.912750648934063,0.912750648934063,0.9107142857142857\n\
         rf_corpus,test,224,0.8616071428571429,0.8552494529918336,0.8552494529918336,0.8616071428571429\n\
         rf_aug,test,224,0.84375,0.8425147324472465,0.8425147324472465,0.84375\n\
         rf_aug_spk,test,224,0.9419642857142857,0.9418561466671326,0.9418561466671326,0.9419642857142857\n"
    );
}

/// A lab's corpus: `corpus/clips/<id>.wav` tones, one pitch per class (IEMOCAP's four-class
/// words, `exc` to be merged into `hap`, `fru` to be dropped), in `corpus/meta.csv` with
/// speakers, a session column and three unlabeled test rows.
fn lab_corpus(p: &Project) {
    let classes = [("neu", 180.0), ("hap", 320.0), ("exc", 340.0), ("ang", 520.0), ("sad", 140.0), ("fru", 400.0)];
    let mut table = String::from("file,emotion,speaker,split,session\n");
    for (k, (label, hz)) in classes.iter().enumerate() {
        for i in 0..12 {
            let id = format!("{label}{i:02}");
            let samples: Vec<i16> = (0..16000)
                .map(|n| {
                    let t = n as f64 / 16000.0;
                    let wobble = 1.0 + 0.02 * ((i + k) as f64 * 0.7).sin();
                    (6000.0 * (std::f64::consts::TAU * hz * wobble * t).sin()) as i16
                })
                .collect();
            std::fs::create_dir_all(p.path().join("corpus/clips")).unwrap();
            std::fs::write(p.path().join(format!("corpus/clips/{id}.wav")), wav_16bit(16000, &samples)).unwrap();
            let split = match i {
                0..8 => "train",
                8..10 => "dev",
                _ => "test",
            };
            table += &format!("clips/{id}.wav,{label},spk{},{split},Ses0{}\n", i % 4, 1 + i % 2);
        }
    }
    for (i, hz) in [182.0, 515.0, 141.0].into_iter().enumerate() {
        let samples: Vec<i16> =
            (0..16000).map(|n| (6000.0 * (std::f64::consts::TAU * hz * n as f64 / 16000.0).sin()) as i16).collect();
        std::fs::write(p.path().join(format!("corpus/clips/new{i}.wav")), wav_16bit(16000, &samples)).unwrap();
        table += &format!("clips/new{i}.wav,,,test,Ses03\n");
    }
    p.file("corpus/meta.csv", &table);
}

const LAB: &str = r#"
[pipeline]
name = "lab"

[stages.data]
kind = "download"
path = "corpus"

[stages.audio]
kind = "decode"
inputs = ["data"]
corpus = "csv"
table = "meta.csv"
classes = ["neu", "hap", "ang", "sad"]
labels = { exc = "hap", fru = "drop" }

[stages.mfcc]
kind = "featurize"
inputs = ["audio"]
set = "mfcc"

[stages.lr]
kind = "baseline"
inputs = ["mfcc"]
model = "logistic"

[stages.report]
kind = "evaluate"
inputs = ["lr"]
split = "test"
plots = false
"#;

#[test]
fn a_corpus_from_a_table_carries_its_own_classes_into_output_txt() {
    let p = Project::new();
    lab_corpus(&p);
    p.file("p.toml", LAB);
    let run_dir = run(&p, "p.toml");
    let output = std::fs::read_to_string(run_dir.join("report/lr/output.txt")).unwrap();
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines[0], "file_id | neu | hap | ang | sad |");
    // Each new clip's most probable class is the one its pitch belongs to.
    for (line, (id, class)) in lines[1..].iter().zip([("new0", 1), ("new1", 3), ("new2", 4)]) {
        let cells: Vec<&str> = line.trim_end_matches(" |").split(" | ").collect();
        assert_eq!(cells[0], id, "{output}");
        let p: Vec<f64> = cells[1..].iter().map(|c| c.parse().unwrap()).collect();
        let best = (0..4).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap() + 1;
        assert_eq!(best, class, "{line}");
    }
    // Test rows: 2 per class, `exc` counted as `hap` (4), `fru` dropped.
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("report/lr/metrics.json")).unwrap()).unwrap();
    assert_eq!(metrics["clips"], 10);
    let support: Vec<(String, u64)> = metrics["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["code"].as_str().unwrap().to_string(), c["support"].as_u64().unwrap()))
        .collect();
    let expected: Vec<(String, u64)> = [("neu", 2), ("hap", 4), ("ang", 2), ("sad", 2)].map(|(c, n)| (c.to_string(), n)).into();
    assert_eq!(support, expected);
    assert_eq!(metrics["accuracy"], 1.0, "pure tones of distinct pitch");
    let dropped = std::fs::read_to_string(run_dir.join("audio/dropped.csv")).unwrap();
    assert_eq!(dropped.lines().count(), 13, "{dropped}");
    assert!(dropped.starts_with("row,file,label\n61,clips/fru00.wav,fru\n"), "{dropped}");
}

/// `vox-audio`'s codec fixtures (written by libsndfile: `stages/audio/scripts/make_codec_fixtures.py`)
/// as a lab's table corpus: one 16-bit PCM signal as WAV, FLAC and AIFF decodes to the same
/// samples; MP3 (44.1 kHz) and Ogg Vorbis decode gapless to their length; Opus, which vox does
/// not read, is skipped with the reason.
#[test]
fn a_table_corpus_of_flac_mp3_vorbis_and_aiff_files_decodes() {
    let p = Project::new();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stages/audio/tests/fixtures/codecs");
    std::fs::create_dir_all(p.path().join("corpus/clips")).unwrap();
    let files = [
        ("a.wav", "stereo16.wav"),
        ("b.flac", "stereo16.flac"),
        ("c.aiff", "stereo16.aiff"),
        ("d.mp3", "stereo.mp3"),
        ("e.ogg", "stereo.ogg"),
        ("f.opus", "stereo.opus"),
    ];
    let mut table = String::from("file,emotion,split\n");
    for (name, fixture) in files {
        std::fs::copy(fixtures.join(fixture), p.path().join("corpus/clips").join(name)).unwrap();
        table += &format!("clips/{name},neu,train\n");
    }
    p.file("corpus/meta.csv", &table);
    p.file(
        "p.toml",
        r#"
[pipeline]
name = "codecs"

[stages.data]
kind = "download"
path = "corpus"

[stages.audio]
kind = "decode"
inputs = ["data"]
corpus = "csv"
table = "meta.csv"
sample_rate = 16000
on_error = "skip"
"#,
    );
    let doc = p.run_doc("p.toml", &[]);
    let out = p.stage_entry(&doc, "audio");
    let bytes = std::fs::read(out.join("audio.f32")).unwrap();
    let samples: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let clips: Vec<(String, Vec<f32>)> = crate::support::csv_rows(&out.join("manifest.csv"))
        .into_iter()
        .map(|row| {
            let offset: usize = row["offset"].parse().unwrap();
            let length: usize = row["length"].parse().unwrap();
            (row["file_id"].clone(), samples[offset..offset + length].to_vec())
        })
        .collect();
    let ids: Vec<&str> = clips.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c", "d", "e"]);
    // 0.3 s at 16 kHz, each: the 44.1 kHz MP3 resampled.
    assert!(clips.iter().all(|(_, s)| s.len() == 4800), "{:?}", clips.iter().map(|(_, s)| s.len()).collect::<Vec<_>>());
    let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&clips[1].1), bits(&clips[0].1), "FLAC decodes to the WAV's samples");
    assert_eq!(bits(&clips[2].1), bits(&clips[0].1), "AIFF decodes to the WAV's samples");
    // Vorbis of the same signal (lossy, and its noise is what a perceptual codec keeps least):
    // the error is 16% of the signal's RMS (numpy on libsndfile's decoding: 0.157), not 0.
    let rms = |s: &mut dyn Iterator<Item = f32>| {
        let (sum, n) = s.fold((0.0f64, 0usize), |(sum, n), v| (sum + f64::from(v) * f64::from(v), n + 1));
        (sum / n as f64).sqrt()
    };
    let error = rms(&mut clips[4].1.iter().zip(&clips[0].1).map(|(a, b)| a - b)) / rms(&mut clips[0].1.iter().copied());
    assert!((0.1..0.2).contains(&error), "vorbis vs wav: relative rms error {error}");
    let skipped = std::fs::read_to_string(PathBuf::from(doc["run_dir"].as_str().unwrap()).join("audio/skipped.csv")).unwrap();
    assert_eq!(
        skipped,
        "row,file,reason\n6,clips/f.opus,\"`.opus` audio is not read by vox (it reads WAV, FLAC, MP3, \
         Ogg Vorbis or AIFF): convert it, e.g. `ffmpeg -i in.opus out.flac`\"\n"
    );
}
