//! Fit times of the classic models on a CSV in the fixture format (`split,label,f00,...`), for
//! comparison with scikit-learn on the same machine and thread counts:
//!
//! ```text
//! python3 stages/classic/scripts/make_fixtures.py --bench /tmp/classic-bench.csv
//! cargo run -p vox-classic --example fit_time --config 'profile.dev.package.vox-classic.opt-level=3' -- /tmp/classic-bench.csv
//! ```
//!
//! Prints, over `--repeats` runs (default 3), the best wall time and the mean CPU time for the
//! forest (200 trees, `sqrt`, balanced) with 1 and 2 threads, logistic regression and the
//! linear SVM (tol 1e-4, as scikit-learn's defaults), with validation accuracies as a sanity
//! check. On a shared machine compare CPU times; the script prints scikit-learn's the same way
//! (run it with `OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1` for one BLAS thread).

use std::error::Error;
use std::time::Instant;

use vox_classic::forest::{Forest, ForestParams};
use vox_classic::scaling::Standardizer;
use vox_classic::{logistic, svm};

/// Rows, labels and train flags of a fixture-format CSV.
struct Dataset {
    rows: Vec<Vec<f64>>,
    labels: Vec<usize>,
    train: Vec<bool>,
}

fn read(path: &str) -> Result<Dataset, Box<dyn Error>> {
    let mut data = Dataset {
        rows: Vec::new(),
        labels: Vec::new(),
        train: Vec::new(),
    };
    for record in csv::Reader::from_path(path)?.records() {
        let record = record?;
        data.train.push(&record[0] == "train");
        data.labels.push(record[1].parse()?);
        data.rows.push(
            record
                .iter()
                .skip(2)
                .map(str::parse)
                .collect::<Result<_, _>>()?,
        );
    }
    Ok(data)
}

/// This process's user + system CPU seconds (Linux: `/proc/self/stat`, in 10 ms ticks); `None`
/// elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// Times of `repeats` runs of `f` after a warm-up run: the best wall time (as in a quiet
/// moment of a shared machine), the mean CPU time per run (robust to other load, "-" where
/// unknown), and the last result.
fn best_of<T>(repeats: usize, mut f: impl FnMut() -> T) -> (String, T) {
    let mut best = f64::INFINITY;
    let mut result = f();
    let cpu_start = cpu_seconds();
    for _ in 0..repeats {
        let start = Instant::now();
        result = f();
        best = best.min(start.elapsed().as_secs_f64());
    }
    let cpu = cpu_start
        .zip(cpu_seconds())
        .map_or("-".to_string(), |(a, b)| {
            format!("{:.3}", (b - a) / repeats.max(1) as f64)
        });
    (format!("wall {best:.3} s, cpu {cpu} s"), result)
}

fn accuracy(probabilities: &[Vec<f64>], labels: &[usize]) -> f64 {
    let argmax = |p: &[f64]| (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b });
    let correct = probabilities
        .iter()
        .zip(labels)
        .filter(|(p, y)| argmax(p) == **y)
        .count();
    correct as f64 / labels.len() as f64
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args
        .get(1)
        .ok_or("usage: fit_time DATA.csv [--repeats N]")?;
    let repeats = match args.iter().position(|a| a == "--repeats") {
        Some(i) => args.get(i + 1).ok_or("--repeats needs a number")?.parse()?,
        None => 3,
    };
    let data = read(path)?;
    let split = |train: bool| -> (Vec<&[f64]>, Vec<usize>) {
        data.rows
            .iter()
            .zip(&data.labels)
            .zip(&data.train)
            .filter(|(_, t)| **t == train)
            .map(|((row, label), _)| (row.as_slice(), *label))
            .unzip()
    };
    let (train_rows, train_labels) = split(true);
    let (val_rows, val_labels) = split(false);
    let n_classes = train_labels.iter().max().map_or(0, |m| m + 1);
    let n_features = train_rows.first().map_or(0, |r| r.len());
    println!(
        "{path}: {} train, {} val rows, {n_features} features, {n_classes} classes",
        train_rows.len(),
        val_rows.len()
    );

    let mut counts = vec![0usize; n_classes];
    train_labels.iter().for_each(|&y| counts[y] += 1);
    let balanced: Vec<f64> = counts
        .iter()
        .map(|&c| train_labels.len() as f64 / (n_classes * c) as f64)
        .collect();
    let params = ForestParams {
        n_trees: 200,
        max_depth: None,
        min_samples_leaf: 1,
        max_features: (n_features as f64).sqrt() as usize,
        bootstrap: true,
        seed: 0,
    };
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()?;
        let (seconds, forest) = pool.install(|| {
            best_of(repeats, || {
                Forest::fit(
                    &train_rows,
                    &train_labels,
                    n_classes,
                    &balanced,
                    &params,
                    &|| {},
                )
            })
        });
        let val = accuracy(
            &pool.install(|| forest.predict_proba(&val_rows)),
            &val_labels,
        );
        println!(
            "vox random-forest (200 trees, balanced) threads={threads}: {seconds} (val accuracy {val:.4})"
        );
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let unit = vec![1.0; train_labels.len()];
    let (seconds, model) = pool.install(|| {
        best_of(repeats, || {
            logistic::fit(
                &train_rows,
                &train_labels,
                n_classes,
                Standardizer::fit(&train_rows),
                &unit,
                1.0,
                1e-4,
                1000,
            )
        })
    });
    let val = accuracy(&model.predict_proba(&val_rows), &val_labels);
    println!("vox logistic: {seconds} (val accuracy {val:.4})");
    let (seconds, model) = pool.install(|| {
        best_of(repeats, || {
            svm::fit(
                &train_rows,
                &train_labels,
                n_classes,
                Standardizer::fit(&train_rows),
                &unit,
                1e-4,
                1000,
            )
        })
    });
    let val = accuracy(&model.predict_proba(&val_rows), &val_labels);
    println!("vox linear-svm (threads=1): {seconds} (val accuracy {val:.4})");
    Ok(())
}
