//! Test helpers: a stage context over temp folders and manifest rows.

use std::path::Path;

use hound::{SampleFormat, WavSpec, WavWriter};
use indicatif::{MultiProgress, ProgressDrawTarget};
use tempfile::TempDir;
use vox_api::audio::{AudioSet, Clip, Split};
use crate::emotion::Emotion;
use vox_api::{ArtifactKind, Input, StageContext};

/// Temp folders for one stage run, with its inputs.
pub struct TestStage {
    input_dirs: Vec<TempDir>,
    inputs: Vec<Input>,
    out: TempDir,
    scratch: TempDir,
    progress: MultiProgress,
}

impl TestStage {
    /// A stage with no inputs.
    pub fn new() -> Self {
        Self {
            input_dirs: Vec::new(),
            inputs: Vec::new(),
            out: tempfile::tempdir().unwrap(),
            scratch: tempfile::tempdir().unwrap(),
            progress: MultiProgress::with_draw_target(ProgressDrawTarget::hidden()),
        }
    }

    /// A stage whose one input is a fresh folder of `kind`; fill it through [`Self::input_dir`].
    pub fn with_input(kind: ArtifactKind) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut stage = Self::new();
        stage.inputs.push(Input::new("upstream", kind, dir.path()));
        stage.input_dirs.push(dir);
        stage
    }

    /// A stage whose inputs are `sets`, each with its input name, in order.
    pub fn with_audio_inputs(sets: &[(&str, &AudioSet)]) -> Self {
        let mut stage = Self::new();
        for &(name, set) in sets {
            let dir = tempfile::tempdir().unwrap();
            set.write(dir.path()).unwrap();
            let input =
                Input::new(name, ArtifactKind::Audio, dir.path());
            stage.inputs.push(input);
            stage.input_dirs.push(dir);
        }
        stage
    }

    /// A stage whose one input is `upstream`'s output, of `kind`.
    pub fn after(upstream: &TestStage, kind: ArtifactKind) -> Self {
        let mut stage = Self::new();
        stage.inputs.push(Input::new("upstream", kind, upstream.out_dir()));
        stage
    }

    /// A stage whose one input is `set`.
    pub fn with_audio_input(set: &AudioSet) -> Self {
        let stage = Self::with_input(ArtifactKind::Audio);
        set.write(stage.input_dir()).unwrap();
        stage
    }

    /// The input folder.
    pub fn input_dir(&self) -> &Path {
        &self.inputs[0].dir
    }

    /// The output folder.
    pub fn out_dir(&self) -> &Path {
        self.out.path()
    }

    /// The context for a run with `seed` on two threads.
    pub fn ctx(&self, seed: u64) -> StageContext<'_> {
        StageContext {
            stage: "test",
            inputs: &self.inputs,
            out_dir: self.out.path(),
            scratch_dir: self.scratch.path(),
            seed,
            backend: None,
            threads: 2,
            progress: &self.progress,
            memo: None,
        }
    }
}

/// Writes a 16-bit PCM WAV at `path` (creating its folders), `channels` interleaved.
pub fn write_wav(path: &Path, rate: u32, channels: u16, samples: &[i16]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let spec = WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: SampleFormat::Int,
    };
    let mut writer = WavWriter::create(path, spec).unwrap();
    for &s in samples {
        writer.write_sample(s).unwrap();
    }
    writer.finalize().unwrap();
}

/// An empty audio set of RAVDESS's classes, for [`clip`]s to be pushed into.
pub fn ravdess_set() -> AudioSet {
    AudioSet { labels: crate::emotion::ravdess_classes(), ..AudioSet::default() }
}

/// The RAVDESS emotion of a clip's label (a code), if it has one.
pub fn emotion(clip: &Clip) -> Option<Emotion> {
    clip.label.as_deref().map(|code| code.parse().unwrap())
}

/// A manifest row for clip `id` of `speaker`, labelled with the code of `emotion` (offset and
/// length are set by [`AudioSet::push`]).
pub fn clip(id: &str, emotion: Option<Emotion>, speaker: &str) -> Clip {
    Clip {
        file_id: id.into(),
        corpus: if emotion.is_some() { "ravdess" } else { "unlabeled" }.into(),
        speaker: speaker.into(),
        sex: String::new(),
        label: emotion.map(|e| e.code().to_string()),
        intensity: String::new(),
        statement: String::new(),
        repetition: String::new(),
        split: Split::None,
        source: format!("{id}.wav"),
        sample_rate: 16000,
        offset: 0,
        length: 0,
        original_length: 0,
        extra: Default::default(),
    }
}

/// Median F0 (Hz) over the voiced frames of `x` (40 ms frames every 10 ms, at least a tenth
/// of the loudest frame's energy), by normalized autocorrelation between 60 and 500 Hz: the
/// shortest lag whose peak comes within 85% of the best, refined by a parabola.
pub fn median_f0(x: &[f32], sample_rate: u32) -> f64 {
    let sr = sample_rate as usize;
    let (frame, hop) = (sr * 40 / 1000, sr / 100);
    let (min_lag, max_lag) = (sr / 500, sr / 60);
    let windows: Vec<&[f32]> = (0..)
        .map(|i| i * hop)
        .take_while(|start| start + frame + max_lag < x.len())
        .map(|start| &x[start..start + frame + max_lag + 1])
        .collect();
    let energy = |w: &[f32]| w[..frame].iter().map(|&v| f64::from(v).powi(2)).sum::<f64>();
    let loudest = windows.iter().map(|w| energy(w)).fold(0.0, f64::max);
    let mut f0s = Vec::new();
    for w in windows.iter().filter(|w| energy(w) >= 0.1 * loudest) {
        let e0 = energy(w);
        let r: Vec<f64> = (0..=max_lag + 1)
            .map(|lag| {
                let (mut xy, mut yy) = (0.0, 0.0);
                for i in 0..frame {
                    let (a, b) = (f64::from(w[i]), f64::from(w[(i + lag).min(w.len() - 1)]));
                    xy += a * b;
                    yy += b * b;
                }
                xy / (e0 * yy).sqrt().max(1e-20)
            })
            .collect();
        let best = r[min_lag..=max_lag].iter().copied().fold(f64::MIN, f64::max);
        if best < 0.5 {
            continue;
        }
        let peak = (min_lag..=max_lag)
            .find(|&l| r[l] >= 0.85 * best && r[l] >= r[l - 1] && r[l] >= r[l + 1]);
        if let Some(l) = peak {
            let (a, b, c) = (r[l - 1], r[l], r[l + 1]);
            let denominator = a - 2.0 * b + c;
            let shift = if denominator.abs() > 1e-12 { 0.5 * (a - c) / denominator } else { 0.0 };
            f0s.push(sample_rate as f64 / (l as f64 + shift));
        }
    }
    assert!(!f0s.is_empty(), "no voiced frame");
    f0s.sort_by(f64::total_cmp);
    f0s[f0s.len() / 2]
}

/// The samples of the 16-bit WAV fixture `name` under `tests/fixtures/` (`trim/speech.wav`),
/// as a reader of the file gets them (each sample / 32768).
pub fn fixture_samples(name: &str) -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let mut reader = hound::WavReader::open(path).unwrap();
    reader.samples::<i16>().map(|s| f32::from(s.unwrap()) / 32768.0).collect()
}
