//! Parity of the native extractors with their references on the committed fixtures
//! (`tests/fixtures/`, made by `scripts/make_fixtures.py`): 24 synthetic 16 kHz clips, their
//! openSMILE eGeMAPSv02 functionals and their librosa MFCC / log-mel functionals.
//!
//! # eGeMAPSv02 agreement
//! Per feature: Pearson r across the clips and the median relative error over the clips. The
//! test fails unless at least 80 of the 88 features reach r >= 0.95 and at least 80 have a
//! median relative error <= 1 %; it prints the full table when it fails (run with
//! `--nocapture` to always see it). At the time of writing all 88 features pass both (lowest
//! r 0.989 for `F1bandwidth_sma3nz_stddevNorm`, largest median relative error 4.2e-3); see
//! `vox_features::egemaps` for the remaining sources of difference.
//!
//! # librosa agreement
//! Every MFCC / log-mel functional (and every MFCC frame of one clip) must be within
//! 5e-4 + 1e-5 x |value| of librosa 0.11 (which computes in float32); the largest observed
//! difference is 6.7e-5, for default settings and for `pad_mode="reflect"` with deltas.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vox_features::egemaps::{Egemaps, NAMES};
use vox_features::librosa::{FUNCTIONALS, Kind, Padding, Settings, Spectrogram, functionals};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Reads a reference CSV (`file_id` then one column per feature).
fn read_reference(name: &str) -> (Vec<String>, BTreeMap<String, Vec<f64>>) {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').skip(1).map(str::to_string).collect();
    let rows = lines
        .map(|l| {
            let mut cells = l.split(',');
            let id = cells.next().unwrap().to_string();
            (id, cells.map(|c| c.parse::<f64>().unwrap()).collect())
        })
        .collect();
    (header, rows)
}

/// A fixture clip as soundfile/librosa load it (and as vox audio sets hold it): PCM / 32768.
fn read_clip(id: &str) -> Vec<f32> {
    let mut reader = hound::WavReader::open(fixtures().join(format!("{id}.wav"))).unwrap();
    assert_eq!(reader.spec().sample_rate, 16000);
    reader.samples::<i16>().map(|s| s.unwrap() as f32 / 32768.0).collect()
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma) * (x - ma)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb) * (y - mb)).sum();
    if va == 0.0 || vb == 0.0 {
        // constant columns agree only if they are equal
        let same = a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-6 * (1.0 + y.abs()));
        return if same { 1.0 } else { 0.0 };
    }
    cov / (va.sqrt() * vb.sqrt())
}

fn median_relative_error(ours: &[f64], reference: &[f64]) -> f64 {
    let mut e: Vec<f64> =
        ours.iter().zip(reference).map(|(o, r)| (o - r).abs() / r.abs().max(1e-9)).collect();
    e.sort_by(f64::total_cmp);
    e[e.len() / 2]
}

struct Agreement {
    name: String,
    r: f64,
    median_rel: f64,
}

fn agreement(names: &[String], reference: &BTreeMap<String, Vec<f64>>, ours: &BTreeMap<String, Vec<f64>>) -> Vec<Agreement> {
    names
        .iter()
        .enumerate()
        .map(|(j, name)| {
            let r: Vec<f64> = reference.values().map(|row| row[j]).collect();
            let o: Vec<f64> = ours.values().map(|row| row[j]).collect();
            Agreement { name: name.clone(), r: pearson(&o, &r), median_rel: median_relative_error(&o, &r) }
        })
        .collect()
}

fn table(rows: &[Agreement]) -> String {
    let mut s = format!("{:<48} {:>8} {:>12}\n", "feature", "r", "median rel");
    for a in rows {
        s += &format!("{:<48} {:>8.4} {:>12.2e}\n", a.name, a.r, a.median_rel);
    }
    s
}

#[test]
fn egemaps_matches_opensmile() {
    let (names, reference) = read_reference("egemaps_v02.csv");
    assert_eq!(names, NAMES.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "names and order");
    let mut extractor = Egemaps::new();
    let ours: BTreeMap<String, Vec<f64>> =
        reference.keys().map(|id| (id.clone(), extractor.extract(&read_clip(id)).to_vec())).collect();
    let rows = agreement(&names, &reference, &ours);
    let passing = rows.iter().filter(|a| a.r >= 0.95).count();
    let close = rows.iter().filter(|a| a.median_rel <= 0.01).count();
    println!("{}", table(&rows));
    println!("{passing} of {} features with r >= 0.95, {close} with median relative error <= 1 %", rows.len());
    assert!(passing >= 80, "only {passing} of 88 features reach r >= 0.95:\n{}", table(&rows));
    assert!(close >= 80, "only {close} of 88 features are within 1 % (median):\n{}", table(&rows));
}

fn librosa_settings(kind: Kind, n_mels: usize) -> Settings {
    Settings {
        sample_rate: 16000.0,
        kind,
        n_mels,
        n_fft: 512,
        hop_length: 160,
        win_length: 512,
        fmin: 0.0,
        fmax: 8000.0,
        deltas: false,
        padding: Padding::Constant,
    }
}

/// Tolerance of the librosa parity: librosa computes in float32, we in float64.
fn close_to_librosa(ours: f64, reference: f64) -> bool {
    (ours - reference).abs() <= LIBROSA_ABS_TOL + LIBROSA_REL_TOL * reference.abs()
}
/// Absolute tolerance (dB or cepstral units).
const LIBROSA_ABS_TOL: f64 = 5e-4;
/// Relative tolerance.
const LIBROSA_REL_TOL: f64 = 1e-5;

fn check_librosa(file: &str, settings: Settings) {
    let (names, reference) = read_reference(file);
    let mut spec = Spectrogram::new(settings);
    let ours_names: Vec<String> = settings
        .coefficient_names()
        .iter()
        .flat_map(|c| FUNCTIONALS.iter().map(move |f| format!("{c}_{f}")))
        .collect();
    assert_eq!(ours_names, names);
    let (mut matrix, mut column) = (Vec::new(), Vec::new());
    let mut worst = (0.0f64, String::new());
    for (id, want) in &reference {
        let n = spec.compute(&read_clip(id), &mut matrix);
        let mut row = Vec::new();
        functionals(&matrix, n, settings.n_coefficients(), &mut column, &mut row);
        for ((o, r), name) in row.iter().zip(want).zip(&names) {
            let err = (o - r).abs();
            if err > worst.0 {
                worst = (err, format!("{id} {name}: ours {o} librosa {r}"));
            }
            assert!(close_to_librosa(*o, *r), "{id} {name}: ours {o}, librosa {r}");
        }
    }
    println!("{file}: largest absolute difference {:.2e} ({})", worst.0, worst.1);
}

#[test]
fn mfcc_matches_librosa() {
    check_librosa("librosa_mfcc.csv", librosa_settings(Kind::Mfcc { n_mfcc: 13 }, 40));
}

#[test]
fn logmel_matches_librosa() {
    check_librosa("librosa_logmel.csv", librosa_settings(Kind::LogMel, 64));
}

#[test]
fn mfcc_frames_match_librosa() {
    let id = "v01_a_flat_120";
    let text = std::fs::read_to_string(fixtures().join(format!("librosa_frames_{id}.csv"))).unwrap();
    let want: Vec<Vec<f64>> =
        text.lines().map(|l| l.split(',').map(|c| c.parse().unwrap()).collect()).collect();
    let mut spec = Spectrogram::new(librosa_settings(Kind::Mfcc { n_mfcc: 13 }, 40));
    let mut matrix = Vec::new();
    let n = spec.compute(&read_clip(id), &mut matrix);
    assert_eq!(n, want.len(), "frame count");
    for (t, row) in want.iter().enumerate() {
        for (c, r) in row.iter().enumerate() {
            let o = matrix[t * 13 + c];
            assert!(close_to_librosa(o, *r), "frame {t} mfcc{c}: ours {o}, librosa {r}");
        }
    }
}

#[test]
#[ignore = "diagnostic: per-clip values of the worst features"]
fn egemaps_worst_features_per_clip() {
    let (names, reference) = read_reference("egemaps_v02.csv");
    let mut extractor = Egemaps::new();
    let ours: BTreeMap<String, Vec<f64>> =
        reference.keys().map(|id| (id.clone(), extractor.extract(&read_clip(id)).to_vec())).collect();
    let rows = agreement(&names, &reference, &ours);
    let mut worst: Vec<(usize, &Agreement)> = rows.iter().enumerate().collect();
    worst.sort_by(|a, b| b.1.median_rel.total_cmp(&a.1.median_rel));
    for (j, a) in worst.iter().take(6) {
        println!("{} r={:.4}", a.name, a.r);
        for (id, row) in &reference {
            println!("  {id:<22} ours {:>14.6} opensmile {:>14.6}", ours[id][*j], row[*j]);
        }
    }
}

#[test]
fn mfcc_with_reflect_padding_and_deltas_matches_librosa() {
    let settings = Settings {
        padding: Padding::Reflect,
        deltas: true,
        ..librosa_settings(Kind::Mfcc { n_mfcc: 13 }, 40)
    };
    check_librosa("librosa_mfcc_reflect_deltas.csv", settings);
}
