//! PyTorch's and burn's tensor layouts, converted on loading and saving: burn-store's
//! [`PyTorchToBurnAdapter`] and [`BurnToPyTorchAdapter`] (Linear weights transposed between
//! PyTorch's `[out, in]` and burn's `[in, out]`, norm `weight`/`bias` named `gamma`/`beta`),
//! with the transposes done in cache-sized tiles, and half-precision tensors (f16, bf16: hub
//! checkpoints such as `openai/whisper-large-v3`) widened to f32 on loading: vox computes in
//! f32, as transformers does after `from_pretrained` without a `dtype`, and burn-store keeps a
//! file's dtype, which an f32 module cannot take (an f16 conv weight failed the first conv).
//!
//! Why: burn-store 0.21 transposes byte by byte, one slice copy of run-time length per element,
//! walking the output a whole row apart at each step. For wav2vec2-base's 85 M Linear weights
//! that made writing the fine-tuned model take far longer than transformers' `save_pretrained`
//! (measured: BENCHMARKS-wav2vec2.md, section "Measurements behind the code's choices"), and
//! loading an XLSR-large (300 M) pays the same per element. A tile of 32 x 32 elements is read
//! and written a cache line at a time; tiles run on rayon's threads. The values are moved, not
//! computed, so the result is the same bytes as burn-store's.

use std::rc::Rc;

use burn::tensor::{DType, TensorData};
use burn_store::{BurnToPyTorchAdapter, ModuleAdapter, PyTorchToBurnAdapter, TensorSnapshot};
use rayon::prelude::*;

/// Which way tensors go.
#[derive(Clone, Copy, Debug)]
pub enum Direction {
    /// Loading a PyTorch-layout file into a burn module.
    ToBurn,
    /// Saving a burn module in PyTorch's layout.
    ToPyTorch,
}

/// burn-store's PyTorch adapter for `direction`, with tiled transposes.
#[derive(Clone, Copy, Debug)]
pub struct PyTorchLayout(pub Direction);

impl PyTorchLayout {
    fn inner(self) -> &'static dyn ModuleAdapter {
        match self.0 {
            Direction::ToBurn => &PyTorchToBurnAdapter,
            Direction::ToPyTorch => &BurnToPyTorchAdapter,
        }
    }
}

impl ModuleAdapter for PyTorchLayout {
    fn adapt(&self, snapshot: &TensorSnapshot) -> TensorSnapshot {
        let adapted = self.inner().adapt(snapshot);
        let transposed = is_linear_weight(snapshot);
        let widened = matches!(self.0, Direction::ToBurn) && matches!(snapshot.dtype, DType::F16 | DType::BF16);
        // The data comes from the snapshot as given, transposed and widened here.
        if !transposed && !widened {
            return adapted;
        }
        let data = snapshot.clone_data_fn();
        let dtype = if widened { DType::F32 } else { adapted.dtype };
        TensorSnapshot::from_closure(
            Rc::new(move || {
                data().map(|data| {
                    let data = if widened { data.convert_dtype(DType::F32) } else { data };
                    if transposed { transpose(data) } else { data }
                })
            }),
            dtype,
            adapted.shape.clone(),
            adapted.path_stack.clone().unwrap_or_default(),
            adapted.container_stack.clone().unwrap_or_default(),
            adapted.tensor_id.unwrap_or_default(),
        )
    }

    fn get_alternative_param_name(&self, param_name: &str, container_type: &str) -> Option<String> {
        self.inner().get_alternative_param_name(param_name, container_type)
    }

    fn clone_box(&self) -> Box<dyn ModuleAdapter> {
        Box::new(*self)
    }
}

/// Whether the adapter transposes `snapshot` (before or after adapting): burn-store transposes
/// exactly these (its `adapt_pytorch_tensor`), the 2-D `weight` of a Linear module.
pub fn is_linear_weight(snapshot: &TensorSnapshot) -> bool {
    snapshot.module_type().as_deref() == Some("Struct:Linear")
        && snapshot.path_stack.as_ref().and_then(|p| p.last()).is_some_and(|p| p == "weight")
        && snapshot.shape.len() == 2
}

/// The transpose of 2-D `data`, any element type.
fn transpose(data: TensorData) -> TensorData {
    let (rows, cols) = (data.shape[0], data.shape[1]);
    let out = transpose_bytes(data.as_bytes(), data.dtype.size(), rows, cols);
    TensorData::from_bytes_vec(out, vec![cols, rows], data.dtype)
}

/// The `cols x rows` transpose of `rows x cols` row-major elements of `size` bytes each.
pub fn transpose_bytes(bytes: &[u8], size: usize, rows: usize, cols: usize) -> Vec<u8> {
    match size {
        1 => transpose_elements::<1>(bytes, rows, cols),
        2 => transpose_elements::<2>(bytes, rows, cols),
        4 => transpose_elements::<4>(bytes, rows, cols),
        8 => transpose_elements::<8>(bytes, rows, cols),
        size => unreachable!("no tensor element takes {size} bytes"),
    }
}

/// Elements per side of a tile.
const TILE: usize = 32;

/// `rows x cols` elements of `S` bytes, row-major, as the `cols x rows` transpose.
fn transpose_elements<const S: usize>(bytes: &[u8], rows: usize, cols: usize) -> Vec<u8> {
    let (input, rest) = bytes.as_chunks::<S>();
    assert!(rest.is_empty() && input.len() == rows * cols, "a {rows} x {cols} tensor");
    let mut out = vec![[0u8; S]; rows * cols];
    if rows > 0 {
        // A task per band of TILE output rows (input columns).
        out.par_chunks_mut(TILE * rows).enumerate().for_each(|(band, out)| {
            let first_col = band * TILE;
            let width = out.len() / rows;
            for first_row in (0..rows).step_by(TILE) {
                for col in 0..width {
                    let row_out = &mut out[col * rows..][..rows];
                    for row in first_row..(first_row + TILE).min(rows) {
                        row_out[row] = input[row * cols + first_col + col];
                    }
                }
            }
        });
    }
    out.into_flattened()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every shape's transpose moves element `(i, j)` to `(j, i)`, for 2- and 4-byte elements.
    #[test]
    fn transposes_match_the_definition() {
        for (rows, cols) in [(1, 1), (3, 70), (33, 31), (64, 96), (0, 5), (129, 1)] {
            let values: Vec<f32> = (0..rows * cols).map(|v| v as f32 * 0.5 - 7.0).collect();
            let data = transpose(TensorData::new(values.clone(), [rows, cols]));
            assert_eq!(data.shape.to_vec(), vec![cols, rows]);
            let out = data.to_vec::<f32>().unwrap();
            for i in 0..rows {
                for j in 0..cols {
                    assert_eq!(out[j * rows + i].to_bits(), values[i * cols + j].to_bits());
                }
            }
            let halves: Vec<u16> = (0..rows * cols).map(|v| v as u16).collect();
            let out = transpose_elements::<2>(
                &halves.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
                rows,
                cols,
            );
            for i in 0..rows {
                for j in 0..cols {
                    let k = (j * rows + i) * 2;
                    assert_eq!(u16::from_le_bytes([out[k], out[k + 1]]), halves[i * cols + j]);
                }
            }
        }
    }
}
