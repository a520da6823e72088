//! In-memory decode + resample + pad throughput of the functions the `decode` and `pad` stages
//! use, on one thread, with the time of each phase; then the cost of what the stages add around
//! them (writing both audio sets' `audio.f32`, blake3 of the bytes) for the same data.
//!
//! ```sh
//! cargo run --example decode_throughput -p vox-audio -- WAV_LIST SAMPLE_RATE LENGTH [OUT_DIR]
//! ```
//!
//! `WAV_LIST` holds one WAV path a line. Prints one JSON object: `files`, wall seconds of each
//! phase (`read_s`, `resample_s`, `pad_s`, then `encode_write_s` and `hash_s` when `OUT_DIR`
//! is given), `loop_wall_s` and `loop_cpu_s` (this thread's CPU seconds) over the in-memory
//! loop (read + resample + pad, what `librosa.load` + pad does), and `samples_out`.
//! Used by `benches/runner.sh`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use vox_audio::{Crop, Pad, PadSide, Resampler, WavBuffers};

/// This thread's CPU seconds (user + system), from `/proc/thread-self/stat` (clock ticks of
/// 10 ms: read it around loops, not single calls).
fn thread_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split(' ').collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ") ".
    (ticks(12) + ticks(13)) / 100.0
}

/// Seconds spent in `f`, added to `total`.
fn timed<T>(total: &mut f64, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let value = f();
    *total += start.elapsed().as_secs_f64();
    value
}

/// The little-endian bytes of `samples`, as the stages write them.
fn le_bytes(samples: &[f32], out: &mut Vec<u8>) {
    out.resize(samples.len() * 4, 0);
    for (bytes, sample) in out.as_chunks_mut::<4>().0.iter_mut().zip(samples) {
        *bytes = sample.to_le_bytes();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [list, rate, length, rest @ ..] = args.as_slice() else {
        return Err("usage: decode_throughput WAV_LIST SAMPLE_RATE LENGTH [OUT_DIR]".into());
    };
    let files: Vec<PathBuf> = std::fs::read_to_string(list)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(PathBuf::from)
        .collect();
    let rate: u32 = rate.parse()?;
    let pad = Pad { length: length.parse()?, pad: PadSide::End, crop: Crop::Start };
    let out_dir = rest.first().map(Path::new);

    // Warm-up on the first file (page faults of the first allocations, FFT plans).
    let mut buffers = WavBuffers::default();
    let (first, from) = buffers.read_mono(&files[0])?;
    let (mut decoded, mut padded) = (Vec::new(), Vec::new());
    Resampler::default().resample_into(first, from, rate, &mut decoded)?;

    // Pass 1, what librosa.load + pad does: every file decoded, resampled and padded in memory,
    // each result overwritten by the next file's (the stages reuse their buffers the same way;
    // fresh buffers per file cost glibc's trimming and re-faulting pages: about 0.25 s of
    // CPU for these files, measured with and without GLIBC_TUNABLES trim_threshold).
    let mut resampler = Resampler::default();
    let (mut read_s, mut resample_s, mut pad_s) = (0.0, 0.0, 0.0);
    let mut samples_out = 0;
    let (wall, cpu) = (Instant::now(), thread_cpu_s());
    for path in &files {
        let (mono, from) = timed(&mut read_s, || buffers.read_mono(path))?;
        timed(&mut resample_s, || resampler.resample_into(mono, from, rate, &mut decoded))?;
        timed(&mut pad_s, || pad.fit_into(&decoded, &mut padded));
        samples_out += padded.len();
    }
    let (loop_wall_s, loop_cpu_s) = (wall.elapsed().as_secs_f64(), thread_cpu_s() - cpu);

    let mut extra = String::new();
    if let Some(dir) = out_dir {
        // Pass 2, what the stages add: both sets' bytes written (decode's and pad's
        // `audio.f32`), and hashed once each (the cache's blake3 of every output file).
        let (mut encode_write_s, mut hash_s) = (0.0, 0.0);
        let create = |name: &str| std::fs::File::create(dir.join(name));
        let mut files_out = [create("decoded.f32")?, create("padded.f32")?];
        let mut hashers = [blake3::Hasher::new(), blake3::Hasher::new()];
        let mut bytes = Vec::new();
        for path in &files {
            let (mono, from) = buffers.read_mono(path)?;
            resampler.resample_into(mono, from, rate, &mut decoded)?;
            pad.fit_into(&decoded, &mut padded);
            for ((set, file), hasher) in
                [&decoded, &padded].into_iter().zip(&mut files_out).zip(&mut hashers)
            {
                timed(&mut encode_write_s, || {
                    le_bytes(set, &mut bytes);
                    file.write_all(&bytes)
                })?;
                timed(&mut hash_s, || hasher.update(&bytes));
            }
        }
        for hasher in &hashers {
            std::hint::black_box(hasher.finalize());
        }
        extra = format!(", \"encode_write_s\": {encode_write_s:.4}, \"hash_s\": {hash_s:.4}");
    }
    println!(
        "{{\"files\": {}, \"read_s\": {read_s:.4}, \"resample_s\": {resample_s:.4}, \
         \"pad_s\": {pad_s:.4}, \"loop_wall_s\": {loop_wall_s:.4}, \"loop_cpu_s\": {loop_cpu_s:.3}, \
         \"samples_out\": {samples_out}{extra}}}",
        files.len()
    );
    Ok(())
}
