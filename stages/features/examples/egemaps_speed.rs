//! Times the native eGeMAPSv02 extractor, single-threaded, on the test fixtures:
//! `cargo run --release -p vox-features --example egemaps_speed`.

use std::path::Path;
use std::time::Instant;

use vox_features::egemaps::Egemaps;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    paths.sort();
    let clips: Vec<Vec<f32>> = paths
        .iter()
        .map(|p| {
            let mut r = hound::WavReader::open(p)?;
            r.samples::<i16>().map(|s| s.map(|v| v as f32 / 32768.0)).collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, _>>()?;
    let seconds: f64 = clips.iter().map(|c| c.len() as f64 / 16000.0).sum();
    let mut extractor = Egemaps::new();
    let mut checksum = 0.0;
    for round in 0..3 {
        let start = Instant::now();
        for c in &clips {
            checksum += extractor.extract(c)[0];
        }
        let elapsed = start.elapsed().as_secs_f64();
        println!(
            "round {round}: {} clips, {seconds:.1} s of audio in {elapsed:.3} s ({:.0}x real time)",
            clips.len(),
            seconds / elapsed
        );
    }
    println!("checksum {checksum:.3}");
    Ok(())
}
