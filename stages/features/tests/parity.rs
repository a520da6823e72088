//! Parity of the native extractors with their references on the committed fixtures
//! (`tests/fixtures/`, made by `scripts/make_fixtures.py`): 24 synthetic 16 kHz clips, their
//! openSMILE eGeMAPSv02 functionals and their librosa MFCC / log-mel functionals.
//!
//! # eGeMAPSv02 agreement
//! Per feature: Pearson r across the clips and the median relative error. The test fails
//! unless at least 80 of the 88 features reach r >= 0.95; it prints the full table when it
//! fails (run with `--nocapture` to always see it).
//!
//! Features that miss, and why: see `EXPECTED_MISSES` below (kept in sync with the table).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use vox_features::egemaps::{Egemaps, NAMES};

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

/// A fixture clip as openSMILE sees it: 16-bit PCM / 32767.
fn read_clip(id: &str) -> Vec<f32> {
    let mut reader = hound::WavReader::open(fixtures().join(format!("{id}.wav"))).unwrap();
    assert_eq!(reader.spec().sample_rate, 16000);
    reader.samples::<i16>().map(|s| s.unwrap() as f32 / 32767.0).collect()
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
    println!("{}", table(&rows));
    println!("{passing} of {} features with r >= 0.95", rows.len());
    assert!(passing >= 80, "only {passing} of 88 features reach r >= 0.95:\n{}", table(&rows));
}
