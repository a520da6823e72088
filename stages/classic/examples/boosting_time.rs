//! Fit times of `hist-gradient-boosting` on a CSV in the fixture format (`split,label,f00,...`),
//! for comparison with scikit-learn's HistGradientBoostingClassifier and LightGBM on the same
//! machine and thread counts (`scripts/make_fixtures.py --bench-boosting`, driven by
//! `benches/classic-boosting.sh`):
//!
//! ```text
//! python3 stages/classic/scripts/make_fixtures.py --bench-boosting /tmp/hgb-88.csv --features 88
//! cargo run -p vox-classic --example boosting_time -- /tmp/hgb-88.csv --threads 1,2
//! ```
//!
//! Prints, per thread count, the best wall time and mean CPU time of `--repeats` fits (default
//! 3) after a warm-up, with scikit-learn's defaults (100 iterations, 31 leaves, 20 clips per
//! leaf, 255 bins, learning rate 0.1, no early stopping, no class weights) and the validation
//! accuracy as a sanity check.

use std::error::Error;
use std::time::Instant;

use vox_classic::boosting::{BoostingParams, GradientBoosting};

fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit(')').next()?.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).ok_or("usage: boosting_time DATA.csv [--repeats N] [--threads 1,2]")?;
    let option = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1));
    let repeats: usize = option("--repeats").map_or(Ok(3), |v| v.parse())?;
    let threads: Vec<usize> =
        option("--threads").map_or("1,2", String::as_str).split(',').map(str::parse).collect::<Result<_, _>>()?;
    let (mut rows, mut labels, mut train) = (Vec::<Vec<f64>>::new(), Vec::<usize>::new(), Vec::new());
    for record in csv::Reader::from_path(path)?.records() {
        let record = record?;
        train.push(&record[0] == "train");
        labels.push(record[1].parse()?);
        rows.push(record.iter().skip(2).map(str::parse).collect::<Result<_, _>>()?);
    }
    let split = |want: bool| -> (Vec<&[f64]>, Vec<usize>) {
        rows.iter().zip(&labels).zip(&train).filter(|(_, t)| **t == want).map(|((r, y), _)| (r.as_slice(), *y)).unzip()
    };
    let (train_rows, train_labels) = split(true);
    let (val_rows, val_labels) = split(false);
    let n_classes = train_labels.iter().max().map_or(0, |m| m + 1);
    println!(
        "{path}: {} train, {} val rows, {} features, {n_classes} classes",
        train_rows.len(),
        val_rows.len(),
        train_rows.first().map_or(0, |r| r.len())
    );
    let params = BoostingParams {
        max_iter: 100,
        learning_rate: 0.1,
        max_leaf_nodes: 31,
        max_depth: None,
        min_samples_leaf: 20,
        l2_regularization: 0.0,
        max_bins: 255,
    };
    let unit = vec![1.0; train_rows.len()];
    for n in threads {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(n).build()?;
        let fit = || pool.install(|| GradientBoosting::fit(&train_rows, &train_labels, n_classes, &unit, &params, &|| {}));
        let mut model = fit();
        let mut best = f64::INFINITY;
        let cpu_start = cpu_seconds();
        for _ in 0..repeats {
            let start = Instant::now();
            model = fit();
            best = best.min(start.elapsed().as_secs_f64());
        }
        let cpu = cpu_start.zip(cpu_seconds()).map_or("-".into(), |(a, b)| format!("{:.3}", (b - a) / repeats as f64));
        let p = pool.install(|| model.predict_proba(&val_rows));
        let argmax = |p: &[f64]| (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b });
        let correct = p.iter().zip(&val_labels).filter(|(p, y)| argmax(p) == **y).count();
        println!(
            "vox hist-gradient-boosting threads={n}: wall {best:.3} s, cpu {cpu} s (val accuracy {:.4})",
            correct as f64 / val_labels.len() as f64
        );
    }
    Ok(())
}
