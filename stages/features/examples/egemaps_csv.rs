//! Prints the eGeMAPSv02 functionals of 16 kHz 16-bit WAV files as CSV (openSMILE's column
//! names), for comparisons with `opensmile` outside the test fixtures:
//! `cargo run --release -p vox-features --example egemaps_csv -- a.wav b.wav > ours.csv`.

use vox_features::egemaps::{Egemaps, NAMES};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut extractor = Egemaps::new();
    println!("file,{}", NAMES.join(","));
    for path in std::env::args().skip(1) {
        let mut reader = hound::WavReader::open(&path)?;
        if reader.spec().sample_rate != 16000 || reader.spec().channels != 1 {
            return Err(format!("{path}: expected 16 kHz mono").into());
        }
        let samples = reader.samples::<i16>().map(|s| s.map(|v| v as f32 / 32768.0)).collect::<Result<Vec<_>, _>>()?;
        let row: Vec<String> = extractor.extract(&samples).iter().map(|v| v.to_string()).collect();
        println!("{path},{}", row.join(","));
    }
    Ok(())
}
