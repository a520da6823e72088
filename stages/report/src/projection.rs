//! Two-dimensional maps of a feature table, the figure SER papers show to say whether a feature
//! set separates the emotions: principal components and t-SNE (van der Maaten and Hinton 2008).
//!
//! Both run on the z-scored features (eGeMAPS mixes Hz, dB and ratios; unscaled, the loudness
//! columns would be the map). PCA takes the top two principal axes by subspace iteration on the
//! centred data, so the `d x d` covariance of a 1536-column SSL embedding is never formed; t-SNE
//! is scikit-learn's `TSNE(method="exact")` recipe: conditional Gaussians whose widths are
//! searched to the perplexity, symmetrized; a Student-t map started from the PCA map scaled to a
//! standard deviation of 1e-4; gradient descent with momentum 0.5 and early exaggeration 12 for
//! 250 iterations, then momentum 0.8 to 1000 in all, with per-coordinate gains; learning rate
//! `max(n / 48, 50)`. Exact t-SNE costs `n^2` per iteration (Barnes-Hut would cost `n log n`
//! but approximates, and the full RAVDESS speech set, 1440 clips, fits under the cap), which is
//! why maps draw at most [`MAX_CLIPS`] clips (a seeded sample, stratified by class, beyond that).
//! Everything is deterministic for a seed, on any number of threads.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// The most clips a map draws: both maps of this many (88 features) took 11.1 s on one core of
/// the development machine and 7.6 s on two (2026-12-07; the map's affinities and gradient are
/// parallel by clip, the perplexity search is not).
pub const MAX_CLIPS: usize = 1500;
/// t-SNE's perplexity (scikit-learn's default), lowered for small sets to a third of the clips.
pub const PERPLEXITY: f64 = 30.0;
const EXAGGERATION: f64 = 12.0;
const EXPLORATION_ITERATIONS: usize = 250;
const ITERATIONS: usize = 1000;

/// The two maps of some clips.
#[derive(Clone, Debug, PartialEq)]
pub struct Maps {
    /// Each clip's first two principal components.
    pub pca: Vec<[f64; 2]>,
    /// The share of the (z-scored) variance each component explains.
    pub explained: [f64; 2],
    /// Each clip's t-SNE coordinates.
    pub tsne: Vec<[f64; 2]>,
    /// The perplexity t-SNE used.
    pub perplexity: f64,
    /// t-SNE's final Kullback-Leibler divergence between the input and map affinities.
    pub kl: f64,
}

/// The maps of `rows` (one feature vector per clip, at least 2 clips).
pub fn maps(rows: &[Vec<f64>]) -> Maps {
    let x = standardized(rows);
    let (pca, explained) = principal_components(&x);
    let perplexity = PERPLEXITY.min((rows.len() as f64 - 1.0) / 3.0).max(1.0);
    let (tsne, kl) = tsne(&x, &pca, perplexity);
    Maps { pca, explained, tsne, perplexity, kl }
}

/// At most [`MAX_CLIPS`] of the clips whose classes are `classes` (indices): all of them when
/// there are no more, else a seeded sample with each class in proportion (at least one each),
/// in the clips' order.
pub fn sample(classes: &[usize], seed: u64) -> Vec<usize> {
    if classes.len() <= MAX_CLIPS {
        return (0..classes.len()).collect();
    }
    let mut by_class: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, &c) in classes.iter().enumerate() {
        by_class.entry(c).or_default().push(i);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut kept = Vec::with_capacity(MAX_CLIPS);
    for members in by_class.values_mut() {
        let share = (members.len() * MAX_CLIPS / classes.len()).max(1);
        members.shuffle(&mut rng);
        kept.extend_from_slice(&members[..share.min(members.len())]);
    }
    kept.sort_unstable();
    kept
}

/// Each column z-scored (a constant column becomes 0).
fn standardized(rows: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let n = rows.len() as f64;
    let d = rows.first().map_or(0, Vec::len);
    let mean: Vec<f64> = (0..d).map(|j| rows.iter().map(|r| r[j]).sum::<f64>() / n).collect();
    let std: Vec<f64> = (0..d).map(|j| (rows.iter().map(|r| (r[j] - mean[j]).powi(2)).sum::<f64>() / n).sqrt()).collect();
    rows.iter()
        .map(|r| (0..d).map(|j| if std[j] > 1e-12 { (r[j] - mean[j]) / std[j] } else { 0.0 }).collect())
        .collect()
}

/// The centred data's projections on its top two principal axes, and the share of the total
/// variance each explains. Subspace iteration: `V <- orth(X^T X V)`, then the 2x2 Rayleigh-Ritz
/// problem orders and rotates the pair; each axis's sign makes its largest-magnitude loading
/// positive, so the map does not flip between runs of different builds.
fn principal_components(x: &[Vec<f64>]) -> (Vec<[f64; 2]>, [f64; 2]) {
    let d = x.first().map_or(0, Vec::len);
    let n = x.len();
    let total: f64 = x.iter().flat_map(|r| r.iter()).map(|v| v * v).sum();
    if d == 0 || total == 0.0 {
        return (vec![[0.0; 2]; n], [0.0; 2]);
    }
    // X^T (X v), without forming X^T X.
    let apply = |v: &[f64]| -> Vec<f64> {
        let xv: Vec<f64> = x.iter().map(|r| r.iter().zip(v).map(|(a, b)| a * b).sum()).collect();
        let mut out = vec![0.0; d];
        for (r, s) in x.iter().zip(&xv) {
            for (o, a) in out.iter_mut().zip(r) {
                *o += a * s;
            }
        }
        out
    };
    let mut basis = [(0..d).map(|j| 1.0 + (j % 7) as f64).collect::<Vec<_>>(), (0..d).map(|j| if j % 2 == 0 { 1.0 } else { -1.0 }).collect()];
    orthonormalize(&mut basis);
    for _ in 0..500 {
        let mut next = [apply(&basis[0]), apply(&basis[1])];
        orthonormalize(&mut next);
        let change: f64 = next.iter().zip(&basis).map(|(a, b)| 1.0 - dot(a, b).abs()).sum();
        basis = next;
        if change < 1e-14 {
            break;
        }
    }
    // Rayleigh-Ritz on the 2-D subspace: the symmetric 2x2 matrix B = V^T X^T X V.
    let av = [apply(&basis[0]), apply(&basis[1])];
    let (b00, b01, b11) = (dot(&basis[0], &av[0]), dot(&basis[0], &av[1]), dot(&basis[1], &av[1]));
    let half = 0.5 * (b00 - b11);
    let root = (half * half + b01 * b01).sqrt();
    let (l0, l1) = (0.5 * (b00 + b11) + root, 0.5 * (b00 + b11) - root);
    // The eigenvector of B for l0, as an angle.
    let theta = 0.5 * (2.0 * b01).atan2(b00 - b11);
    let (c, s) = (theta.cos(), theta.sin());
    let mut axes = [
        basis[0].iter().zip(&basis[1]).map(|(a, b)| c * a + s * b).collect::<Vec<f64>>(),
        basis[0].iter().zip(&basis[1]).map(|(a, b)| -s * a + c * b).collect::<Vec<f64>>(),
    ];
    for axis in &mut axes {
        let largest = axis.iter().copied().fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
        if largest < 0.0 {
            axis.iter_mut().for_each(|v| *v = -*v);
        }
    }
    let coords = x.iter().map(|r| [dot(r, &axes[0]), dot(r, &axes[1])]).collect();
    (coords, [l0 / total, l1.max(0.0) / total])
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Gram-Schmidt on two vectors (a degenerate second one is left as is after removing the first).
fn orthonormalize(v: &mut [Vec<f64>; 2]) {
    let norm = dot(&v[0], &v[0]).sqrt();
    if norm > 0.0 {
        v[0].iter_mut().for_each(|x| *x /= norm);
    }
    let along = dot(&v[0], &v[1]);
    let first = v[0].clone();
    v[1].iter_mut().zip(&first).for_each(|(x, f)| *x -= along * f);
    let norm = dot(&v[1], &v[1]).sqrt();
    if norm > 0.0 {
        v[1].iter_mut().for_each(|x| *x /= norm);
    }
}

/// The joint affinities `P` (row-major `n x n`) of `x` at `perplexity`: each clip's conditional
/// Gaussian over the others with its precision searched (bisection, 100 steps at most) until the
/// entropy is `ln perplexity`, then `(P + P^T) / sum`, floored at machine epsilon.
fn affinities(x: &[Vec<f64>], perplexity: f64) -> Vec<f64> {
    let n = x.len();
    let distances: Vec<f64> = (0..n)
        .flat_map(|i| (0..n).map(move |j| (i, j)))
        .map(|(i, j)| x[i].iter().zip(&x[j]).map(|(a, b)| (a - b) * (a - b)).sum())
        .collect();
    let target = perplexity.ln();
    let mut conditional = vec![0.0; n * n];
    for i in 0..n {
        let row = &distances[i * n..(i + 1) * n];
        let (mut beta, mut low, mut high) = (1.0f64, f64::NEG_INFINITY, f64::INFINITY);
        let out = &mut conditional[i * n..(i + 1) * n];
        for _ in 0..100 {
            let mut sum = 0.0;
            for (j, p) in out.iter_mut().enumerate() {
                *p = if j == i { 0.0 } else { (-row[j] * beta).exp() };
                sum += *p;
            }
            let sum = sum.max(f64::EPSILON);
            let mut weighted = 0.0;
            for (j, p) in out.iter_mut().enumerate() {
                *p /= sum;
                weighted += row[j] * *p;
            }
            let entropy = sum.ln() + beta * weighted;
            let gap = entropy - target;
            if gap.abs() <= 1e-5 {
                break;
            }
            if gap > 0.0 {
                low = beta;
                beta = if high.is_infinite() { beta * 2.0 } else { 0.5 * (beta + high) };
            } else {
                high = beta;
                beta = if low.is_infinite() { beta / 2.0 } else { 0.5 * (beta + low) };
            }
        }
    }
    let mut joint: Vec<f64> = (0..n * n).map(|k| conditional[k] + conditional[(k % n) * n + k / n]).collect();
    let total: f64 = joint.iter().sum();
    joint.iter_mut().for_each(|p| *p = (*p / total).max(f64::EPSILON));
    joint
}

/// The t-SNE map of `x` started from `init` (the PCA map), and its final KL divergence.
fn tsne(x: &[Vec<f64>], init: &[[f64; 2]], perplexity: f64) -> (Vec<[f64; 2]>, f64) {
    let n = x.len();
    let p = affinities(x, perplexity);
    // scikit-learn's init="pca": the PCA map scaled so its first column's std is 1e-4.
    let first_std = {
        let mean = init.iter().map(|c| c[0]).sum::<f64>() / n as f64;
        (init.iter().map(|c| (c[0] - mean).powi(2)).sum::<f64>() / n as f64).sqrt()
    };
    let scale = if first_std > 0.0 { 1e-4 / first_std } else { 0.0 };
    let mut y: Vec<f64> = init.iter().flat_map(|c| [c[0] * scale, c[1] * scale]).collect();
    let rate = (n as f64 / EXAGGERATION / 4.0).max(50.0);
    let mut update = vec![0.0; 2 * n];
    let mut gains = vec![1.0f64; 2 * n];
    let mut gradient = vec![0.0; 2 * n];
    let mut q = vec![0.0; n * n];
    for iteration in 0..ITERATIONS {
        let exploring = iteration < EXPLORATION_ITERATIONS;
        let (exaggeration, momentum) = if exploring { (EXAGGERATION, 0.5) } else { (1.0, 0.8) };
        student_t(&y, &mut q);
        let q_sum: f64 = q.iter().sum();
        // Each clip's gradient is its own sum, in a fixed order: parallel and deterministic.
        gradient.par_chunks_mut(2).enumerate().for_each(|(i, g)| {
            let (mut gx, mut gy) = (0.0, 0.0);
            for j in 0..n {
                let w = q[i * n + j];
                let coefficient = (exaggeration * p[i * n + j] - w / q_sum) * w;
                gx += coefficient * (y[2 * i] - y[2 * j]);
                gy += coefficient * (y[2 * i + 1] - y[2 * j + 1]);
            }
            g[0] = 4.0 * gx;
            g[1] = 4.0 * gy;
        });
        for k in 0..2 * n {
            gains[k] = if (update[k] > 0.0) != (gradient[k] > 0.0) { gains[k] + 0.2 } else { (gains[k] * 0.8).max(0.01) };
            update[k] = momentum * update[k] - rate * gains[k] * gradient[k];
            y[k] += update[k];
        }
    }
    student_t(&y, &mut q);
    let q_sum: f64 = q.iter().sum();
    let kl = p.iter().zip(&q).map(|(p, w)| p * (p / (w / q_sum).max(f64::EPSILON)).ln()).sum();
    (y.chunks(2).map(|c| [c[0], c[1]]).collect(), kl)
}

/// The unnormalized Student-t affinities `1 / (1 + |y_i - y_j|^2)` of the map (0 on the diagonal).
fn student_t(y: &[f64], q: &mut [f64]) {
    let n = y.len() / 2;
    q.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        for (j, w) in row.iter_mut().enumerate() {
            *w = if i == j {
                0.0
            } else {
                let (dx, dy) = (y[2 * i] - y[2 * j], y[2 * i + 1] - y[2 * j + 1]);
                1.0 / (1.0 + dx * dx + dy * dy)
            };
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    /// Three Gaussian blobs in 10 dimensions, 40 clips each, centres 6 apart.
    fn blobs() -> (Vec<Vec<f64>>, Vec<usize>) {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut rows = Vec::new();
        let mut classes = Vec::new();
        for class in 0..3 {
            for _ in 0..40 {
                rows.push((0..10).map(|j| if j == class { 6.0 } else { 0.0 } + rng.random_range(-1.0..1.0)).collect());
                classes.push(class);
            }
        }
        (rows, classes)
    }

    #[test]
    fn principal_components_of_known_axes() {
        // Points on three orthogonal axes (rotated), variances 9 : 4 : 1 by construction: each
        // axis's values are +-a, so its share of the variance is a^2 / 14.
        let (u, v, w) = ([0.6, 0.8, 0.0], [-0.8, 0.6, 0.0], [0.0, 0.0, 1.0]);
        let mut rows = Vec::new();
        for (axis, a) in [(u, 3.0), (v, 2.0), (w, 1.0)] {
            for sign in [1.0, -1.0] {
                rows.push(axis.iter().map(|c| c * a * sign).collect::<Vec<f64>>());
            }
        }
        let (coords, explained) = principal_components(&rows);
        assert!((explained[0] - 9.0 / 14.0).abs() < 1e-12 && (explained[1] - 4.0 / 14.0).abs() < 1e-12, "{explained:?}");
        // The first two points lie on the first axis at +-3, the next two on the second at +-2.
        let expect: [[f64; 2]; 6] = [[3.0, 0.0], [-3.0, 0.0], [0.0, 2.0], [0.0, -2.0], [0.0, 0.0], [0.0, 0.0]];
        for (got, want) in coords.iter().zip(&expect) {
            assert!((got[0].abs() - want[0].abs()).abs() < 1e-9 && (got[1].abs() - want[1].abs()).abs() < 1e-9, "{coords:?}");
        }
        assert!(coords[0][0] * coords[1][0] < 0.0);
    }

    #[test]
    fn tsne_keeps_the_blobs_apart_and_is_deterministic() {
        let (rows, classes) = blobs();
        let maps = maps(&rows);
        assert_eq!(maps.perplexity, PERPLEXITY);
        // Every clip's nearest neighbour on the map is of its own blob.
        for (i, a) in maps.tsne.iter().enumerate() {
            let nearest = (0..rows.len())
                .filter(|&j| j != i)
                .min_by(|&j, &k| {
                    let d = |m: usize| (maps.tsne[m][0] - a[0]).powi(2) + (maps.tsne[m][1] - a[1]).powi(2);
                    d(j).total_cmp(&d(k))
                })
                .unwrap();
            assert_eq!(classes[nearest], classes[i], "clip {i}");
        }
        // The optimizer fits: the final KL divergence is far below the PCA start's (which,
        // scaled to 1e-4, has all affinities equal: KL = sum p ln(p n(n-1))).
        let p = affinities(&standardized(&rows), maps.perplexity);
        let n = rows.len() as f64;
        let start: f64 = p.iter().enumerate().filter(|(k, _)| k % (rows.len() + 1) != 0).map(|(_, p)| p * (p * n * (n - 1.0)).ln()).sum();
        assert!(maps.kl < 0.5 * start, "KL {} from about {start}", maps.kl);
        // The plane of the three centres leads: each component explains more than an average
        // column's tenth of the z-scored variance (0.177 and 0.160 measured).
        assert!(maps.explained[0] > 0.15 && maps.explained[1] > 0.15 && maps.explained[0] >= maps.explained[1], "{:?}", maps.explained);
        assert_eq!(super::maps(&rows), maps, "the same maps again");
    }

    #[test]
    fn affinities_reach_the_perplexity() {
        let (rows, _) = blobs();
        let x = standardized(&rows);
        let n = rows.len();
        // Recover each conditional row from the joint: not possible exactly, so check the
        // symmetric matrix's defining properties instead.
        let p = affinities(&x, 10.0);
        let total: f64 = p.iter().sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        for i in 0..n {
            for j in 0..n {
                assert_eq!(p[i * n + j], p[j * n + i]);
            }
        }
    }

    #[test]
    fn a_large_set_is_sampled_by_class() {
        let classes: Vec<usize> = (0..3000).map(|i| if i < 300 { 0 } else { 1 }).collect();
        let kept = sample(&classes, 7);
        assert_eq!(kept.len(), 150 + 1350);
        assert_eq!(kept.iter().filter(|&&i| classes[i] == 0).count(), 150);
        assert!(kept.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(kept, sample(&classes, 7));
        assert_eq!(sample(&classes[..100], 7), (0..100).collect::<Vec<_>>());
    }
}
