//! An f32 matrix product for x86-64 CPUs with AVX-512: a 12 x 32 register-blocked microkernel
//! over packed panels (the BLIS structure: B packed in `KC x NC` blocks, A in `MC x KC`
//! blocks, the microkernel accumulating a 12 x 32 tile of C in 24 zmm registers), parallel
//! over blocks of C's rows.
//!
//! Why: burn-flex's products go through the gemm crate, which reached 85 GFLOP/s on one core
//! of the development machine (Zen 5) and 145-165 on two, against PyTorch's 112 and 200-220;
//! this kernel reaches about 220 on one core (`examples/ops.rs`, BENCHMARKS-wav2vec2.md). The
//! sum over `k` runs in the same order whatever the thread count, so results are
//! deterministic.

use std::arch::x86_64::{__m512, _mm512_add_ps, _mm512_fmadd_ps, _mm512_loadu_ps};
use std::arch::x86_64::{_mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps};

use rayon::prelude::*;

/// Rows of C per microkernel tile.
const MR: usize = 12;
/// Columns of C per microkernel tile (two zmm registers).
const NR: usize = 32;
/// Depth of a packed block: a 12 x 384 A panel and a 384 x 32 B panel stay in L1/L2.
const KC: usize = 384;
/// Most rows of C per parallel task (a packed A block of 216 KiB, in L2).
const MC: usize = 144;
/// Columns of C per packed B block.
const NC: usize = 2048;

/// The shallowest product (`k`) worth packing for: in thinner ones (the small scratch model's
/// 32-channel convs, its 64-wide linears) packing costs about as much as the arithmetic, and the
/// gemm crate, which does not always pack, was faster (a small-config step at the demo's batch
/// of 8 x 60000 samples: 0.134-0.153 s with gemm against 0.162-0.171 s with this kernel).
pub const MIN_DEPTH: usize = 128;
/// The narrowest product (`n`) worth packing for; see [`MIN_DEPTH`].
pub const MIN_WIDTH: usize = 128;

/// A read-only matrix view: element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    /// The elements (from the view's first one).
    pub data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Distance between rows, in elements.
    pub row_stride: usize,
    /// Distance between columns, in elements.
    pub col_stride: usize,
}

impl MatRef<'_> {
    fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.row_stride + j * self.col_stride]
    }
}

/// Whether this CPU runs [`sgemm`] (AVX-512F).
pub fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
}

/// `a * b` as a fresh row-major `a.rows x b.cols` vector, on rayon's threads.
///
/// # Panics
/// If the inner dimensions differ or the CPU lacks AVX-512F (check [`available`]).
pub fn sgemm(a: MatRef, b: MatRef) -> Vec<f32> {
    assert_eq!(a.cols, b.rows, "sgemm: inner dimensions differ");
    assert!(available(), "sgemm needs AVX-512F");
    let (m, k, n) = (a.rows, a.cols, b.cols);
    let mut c = vec![0f32; m * n];
    if m == 0 || n == 0 {
        return c;
    }
    let threads = rayon::current_num_threads().max(1);
    let mc = (m.div_ceil(threads).div_ceil(MR) * MR).clamp(MR, MC);
    let mut packed_b = vec![0f32; KC * NC.min(n.div_ceil(NR) * NR)];
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            pack_b(b, pc, kc, jc, nc, &mut packed_b);
            let packed_b = &packed_b[..];
            c.par_chunks_mut(mc * n).enumerate().for_each(|(block, c_rows)| {
                let ic = block * mc;
                let rows = c_rows.len() / n;
                let mut packed_a = vec![0f32; rows.div_ceil(MR) * MR * kc];
                pack_a(a, ic, rows, pc, kc, &mut packed_a);
                for jr in (0..nc).step_by(NR) {
                    for ir in (0..rows).step_by(MR) {
                        let tile = Tile {
                            rows: MR.min(rows - ir),
                            cols: NR.min(nc - jr),
                            offset: ir * n + jc + jr,
                            stride: n,
                        };
                        // SAFETY: `available()` was checked above; the panels hold `kc`
                        // steps of MR and NR elements; `tile` lies inside `c_rows`.
                        unsafe {
                            tile.update(
                                kc,
                                packed_a[ir * kc..].as_ptr(),
                                packed_b[jr * kc..].as_ptr(),
                                c_rows,
                                pc == 0,
                            )
                        };
                    }
                }
            });
        }
    }
    c
}

/// Packs rows `ic..ic + rows`, columns `pc..pc + kc` of `a` into MR-row panels, each stored
/// step by step (MR values per `k`), zero-padded to a whole panel. Contiguous rows (a
/// row-major `a`) or columns (a transposed view) are read as slices.
fn pack_a(a: MatRef, ic: usize, rows: usize, pc: usize, kc: usize, out: &mut [f32]) {
    for (panel, first) in (0..rows).step_by(MR).enumerate() {
        let height = MR.min(rows - first);
        let out = &mut out[panel * MR * kc..][..MR * kc];
        if height < MR {
            out.fill(0.0);
        }
        if a.col_stride == 1 {
            for r in 0..height {
                let start = (ic + first + r) * a.row_stride + pc;
                for (p, &value) in a.data[start..start + kc].iter().enumerate() {
                    out[p * MR + r] = value;
                }
            }
        } else if a.row_stride == 1 {
            for p in 0..kc {
                let start = (pc + p) * a.col_stride + ic + first;
                out[p * MR..p * MR + height].copy_from_slice(&a.data[start..start + height]);
            }
        } else {
            for p in 0..kc {
                for r in 0..height {
                    out[p * MR + r] = a.at(ic + first + r, pc + p);
                }
            }
        }
    }
}

/// Packs rows `pc..pc + kc`, columns `jc..jc + nc` of `b` into NR-column panels, each stored
/// step by step (NR values per `k`), zero-padded to a whole panel.
fn pack_b(b: MatRef, pc: usize, kc: usize, jc: usize, nc: usize, out: &mut [f32]) {
    for (panel, first) in (0..nc).step_by(NR).enumerate() {
        let width = NR.min(nc - first);
        let out = &mut out[panel * NR * kc..][..NR * kc];
        for p in 0..kc {
            let row = &mut out[p * NR..][..NR];
            if b.col_stride == 1 {
                let start = (pc + p) * b.row_stride + jc + first;
                row[..width].copy_from_slice(&b.data[start..start + width]);
            } else {
                for (j, value) in row[..width].iter_mut().enumerate() {
                    *value = b.at(pc + p, jc + first + j);
                }
            }
            row[width..].fill(0.0);
        }
    }
}

/// Where a microkernel tile of C lies: `rows x cols` (at most MR x NR) from `offset`, rows
/// `stride` apart.
struct Tile {
    rows: usize,
    cols: usize,
    offset: usize,
    stride: usize,
}

impl Tile {
    /// C's tile (+)= the product of `kc` steps of an A panel and a B panel; `first` overwrites.
    ///
    /// # Safety
    /// AVX-512F must be available; `a` and `b` must hold `kc * MR` and `kc * NR` values.
    #[target_feature(enable = "avx512f")]
    unsafe fn update(&self, kc: usize, a: *const f32, b: *const f32, c: &mut [f32], first: bool) {
        let acc = unsafe { microkernel(kc, a, b) };
        if self.rows == MR && self.cols == NR {
            for (r, row) in acc.iter().enumerate() {
                let out = &mut c[self.offset + r * self.stride..][..NR];
                let p = out.as_mut_ptr();
                // SAFETY: `out` holds NR = 32 floats.
                unsafe {
                    if first {
                        _mm512_storeu_ps(p, row[0]);
                        _mm512_storeu_ps(p.add(16), row[1]);
                    } else {
                        _mm512_storeu_ps(p, _mm512_add_ps(_mm512_loadu_ps(p), row[0]));
                        let q = p.add(16);
                        _mm512_storeu_ps(q, _mm512_add_ps(_mm512_loadu_ps(q), row[1]));
                    }
                }
            }
        } else {
            let mut tile = [0f32; MR * NR];
            for (r, row) in acc.iter().enumerate() {
                // SAFETY: `tile` holds MR rows of NR floats.
                unsafe {
                    _mm512_storeu_ps(tile[r * NR..].as_mut_ptr(), row[0]);
                    _mm512_storeu_ps(tile[r * NR + 16..].as_mut_ptr(), row[1]);
                }
            }
            for r in 0..self.rows {
                let out = &mut c[self.offset + r * self.stride..][..self.cols];
                let values = &tile[r * NR..][..self.cols];
                for (o, &v) in out.iter_mut().zip(values) {
                    *o = if first { v } else { *o + v };
                }
            }
        }
    }
}

/// The MR x NR product of `kc` steps of packed panels, in registers.
///
/// # Safety
/// AVX-512F must be available; `a` and `b` must hold `kc * MR` and `kc * NR` values.
#[target_feature(enable = "avx512f")]
unsafe fn microkernel(kc: usize, a: *const f32, b: *const f32) -> [[__m512; 2]; MR] {
    let mut acc = [[_mm512_setzero_ps(); 2]; MR];
    for p in 0..kc {
        // SAFETY: step `p` of the panels is within their `kc` steps.
        unsafe {
            let b0 = _mm512_loadu_ps(b.add(p * NR));
            let b1 = _mm512_loadu_ps(b.add(p * NR + 16));
            let a = a.add(p * MR);
            for (r, acc) in acc.iter_mut().enumerate() {
                let ar = _mm512_set1_ps(*a.add(r));
                acc[0] = _mm512_fmadd_ps(ar, b0, acc[0]);
                acc[1] = _mm512_fmadd_ps(ar, b1, acc[1]);
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic `rows x cols` matrix in [-1, 1).
    fn matrix(rows: usize, cols: usize, seed: usize) -> Vec<f32> {
        (0..rows * cols)
            .map(|i| ((i * 7919 + seed * 104_729) % 2000) as f32 / 1000.0 - 1.0)
            .collect()
    }

    fn view(data: &[f32], rows: usize, cols: usize, transposed: bool) -> MatRef<'_> {
        match transposed {
            // `data` holds the transpose, `cols x rows`, row-major.
            true => MatRef { data, rows, cols, row_stride: 1, col_stride: rows },
            false => MatRef { data, rows, cols, row_stride: cols, col_stride: 1 },
        }
    }

    /// Shapes around every block size (MR, NR, KC, MC), both layouts of both operands,
    /// against f64 sums.
    #[test]
    fn products_match_f64_sums_for_every_edge_and_layout() {
        if !available() {
            return;
        }
        let shapes =
            [(1, 1, 1), (13, 5, 33), (12, 384, 32), (145, 385, 65), (300, 800, 2049), (7, 0, 9)];
        for (m, k, n) in shapes {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let (a, b) = (matrix(m, k, 1), matrix(k, n, 2));
                let (av, bv) = (view(&a, m, k, ta), view(&b, k, n, tb));
                let c = sgemm(av, bv);
                for i in 0..m {
                    for j in 0..n {
                        let exact: f64 =
                            (0..k).map(|p| av.at(i, p) as f64 * bv.at(p, j) as f64).sum();
                        let found = c[i * n + j] as f64;
                        assert!(
                            (found - exact).abs() <= 1e-4 * (1.0 + exact.abs()),
                            "{m}x{k}x{n} (a^T {ta}, b^T {tb}) at ({i}, {j}): {found} vs {exact}"
                        );
                    }
                }
            }
        }
    }

    /// The same bits on one thread and on four.
    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        if !available() {
            return;
        }
        let (m, k, n) = (301, 777, 95);
        let (a, b) = (matrix(m, k, 3), matrix(k, n, 4));
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| sgemm(view(&a, m, k, false), view(&b, k, n, false)))
        };
        assert!(run(1).iter().zip(run(4)).all(|(x, y)| x.to_bits() == y.to_bits()));
    }
}
