//! Times vox's own f32 matrix product (`vox_wav2vec2::kernels::sgemm::sgemm`) on its own, at
//! the shapes of a wav2vec2-base step: conv 2 of the feature encoder as a product, its weight
//! gradient (a transposed-A view), the feed-forward pair and 1024^3.
//!
//! `cargo run -p vox-wav2vec2 --example sgemm -- ROUNDS [NAME]`; threads come from
//! `RAYON_NUM_THREADS`. Each round calls every shape (those whose name contains `NAME`) once;
//! prints the median GFLOP/s per shape by wall-clock time and by CPU time. A shared machine's
//! speed drifts by a quarter from minute to minute, so to compare two variants of the kernel,
//! put the other one in this file for the time being and alternate them inside each round
//! (see `VARIANTS`); PyTorch's twin, in the same minutes: `torch.set_num_threads(t)`, the
//! median time of `a @ b` on the same shapes (`a = torch.rand(k, m).t()` for the transposed
//! one).

use std::time::Instant;

use vox_wav2vec2::kernels::sgemm::{self, MatRef};

/// The products, `(name, m, k, n, a transposed)`.
const SHAPES: [(&str, usize, usize, usize, bool); 5] = [
    ("conv2 6398x1536x512", 6398, 1536, 512, false),
    ("conv2 wgrad 1536x6398x512 (a^T)", 1536, 6398, 512, true),
    ("ff up 198x768x3072", 198, 768, 3072, false),
    ("ff down 198x3072x768", 198, 3072, 768, false),
    ("1024x1024x1024", 1024, 1024, 1024, false),
];

type Product = fn(&[f32], &[f32], usize, usize, usize, bool) -> Vec<f32>;

/// The variants compared, called in turn within each round; the first is the reference for
/// the differences printed. To compare a change, copy the old kernel into a module here and
/// add it.
const VARIANTS: [(&str, Product); 1] = [("vox", vox)];

fn vox(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, ta: bool) -> Vec<f32> {
    sgemm::sgemm(view(a, m, k, ta), view(b, k, n, false))
}

/// A `rows x cols` view of `data`, which holds the matrix row-major or, `transposed`, its
/// transpose row-major.
fn view(data: &[f32], rows: usize, cols: usize, transposed: bool) -> MatRef<'_> {
    match transposed {
        true => MatRef::new(data, rows, cols, 1, rows),
        false => MatRef::new(data, rows, cols, cols, 1),
    }
}

/// Deterministic values in [-1, 1).
fn values(len: usize, seed: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * 7919 + seed * 104_729) % 2000) as f32 / 1000.0 - 1.0).collect()
}

/// Seconds that this process's threads have run on a CPU (Linux's per-thread `schedstat`;
/// 0 elsewhere). On a shared machine, time spent waiting for a CPU inflates the wall-clock
/// time but not this; with several threads it also counts rayon's idle spinning.
fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0.0 };
    let nanoseconds: u64 = tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    nanoseconds as f64 * 1e-9
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let rounds: usize = std::env::args().nth(1).map_or(20, |r| r.parse().expect("ROUNDS"));
    assert!(sgemm::available(), "this CPU lacks AVX-512F");
    let filter = std::env::args().nth(2).unwrap_or_default();
    let shapes: Vec<_> = SHAPES.into_iter().filter(|s| s.0.contains(&filter)).collect();
    let inputs: Vec<_> =
        shapes.iter().map(|&(_, m, k, n, _)| (values(m * k, 1), values(k * n, 2))).collect();
    // Same results up to rounding, and a warm-up.
    for (&(name, m, k, n, ta), (a, b)) in shapes.iter().zip(&inputs) {
        let results: Vec<_> = VARIANTS.iter().map(|(_, f)| f(a, b, m, k, n, ta)).collect();
        for (other, (variant, _)) in results.iter().zip(&VARIANTS).skip(1) {
            let worst = results[0]
                .iter()
                .zip(other)
                .map(|(x, y)| (x - y).abs() / (1.0 + x.abs()))
                .fold(0f32, f32::max);
            let same = results[0].iter().zip(other).all(|(x, y)| x.to_bits() == y.to_bits());
            println!(
                "{name}: {variant} vs {}: max rel diff {worst:.2e}, bit-identical {same}",
                VARIANTS[0].0
            );
        }
    }
    let mut seconds = vec![vec![Vec::new(); VARIANTS.len()]; shapes.len()];
    for round in 0..rounds {
        for (s, (&(_, m, k, n, ta), (a, b))) in shapes.iter().zip(&inputs).enumerate() {
            for v in 0..VARIANTS.len() {
                // Alternate which variant goes first, against drift within a round.
                let v = (v + round) % VARIANTS.len();
                let (start, cpu) = (Instant::now(), cpu_seconds());
                std::hint::black_box(VARIANTS[v].1(a, b, m, k, n, ta));
                seconds[s][v].push((start.elapsed().as_secs_f64(), cpu_seconds() - cpu));
            }
        }
    }
    println!(
        "threads {}, {rounds} rounds, median GFLOP/s (ms) by wall-clock time [by CPU time]",
        rayon::current_num_threads()
    );
    for (&(name, m, k, n, _), times) in shapes.iter().zip(seconds) {
        let flops = 2.0 * (m * k * n) as f64;
        let cells: Vec<String> = VARIANTS
            .iter()
            .zip(times)
            .map(|((variant, _), t)| {
                let (wall, cpu) = t.into_iter().unzip();
                let (wall, cpu) = (median(wall), median(cpu));
                format!(
                    "{variant} {:6.1} ({:6.2} ms) [{:6.1}]",
                    flops / wall / 1e9,
                    wall * 1e3,
                    flops / cpu / 1e9
                )
            })
            .collect();
        println!("{name:34} {}", cells.join("  "));
    }
}
