//! WavLM's gated relative position bias (Chen et al. 2022, "WavLM", section 3.2).
//!
//! Reference: `WavLMAttention.compute_bias`, `_relative_positions_bucket` and the gate in
//! `WavLMAttention.forward` in transformers. Layer 0 holds the bucket embedding
//! (`rel_attn_embed`, `[num_buckets, heads]`); the encoder computes the bias `[heads, frames,
//! frames]` once from it and every layer scales it per query frame and head with its own gate:
//! the layer's input, split into heads, goes through `gru_rel_pos_linear` (head_dim -> 8), the
//! 8 outputs summed in two groups of 4, a sigmoid each (`a`, `b`), and the gate is
//! `a * (b * gru_rel_pos_const[h] - 1) + 2`. The gated bias is added to the attention scores.
//!
//! Buckets: half for keys after the query, half for the rest; in each half the first quarter of
//! `num_buckets` are exact distances and the rest log-spaced up to `max_bucket_distance`, in
//! f32 as transformers computes them (so a distance on a bucket edge lands where it does there).

use burn::module::Param;
use burn::nn::{Embedding, Linear};
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};

use super::{Precision, linear_rows};
use crate::kernels::Kernels;

/// The bucket of `relative = key frame - query frame` (transformers'
/// `_relative_positions_bucket`).
pub fn bucket(relative: i64, num_buckets: usize, max_distance: usize) -> usize {
    let half = (num_buckets / 2) as i64;
    let side = if relative > 0 { half } else { 0 };
    let distance = relative.abs();
    let max_exact = half / 2;
    if distance < max_exact {
        return (side + distance) as usize;
    }
    // torch: log(d.float() / max_exact) / log(max_distance / max_exact) * (half - max_exact),
    // in f32 with the Python float divisor rounded to f32, truncated toward zero by `.to(long)`.
    let divisor = (max_distance as f64 / max_exact as f64).ln() as f32;
    let large = (distance as f32 / max_exact as f32).ln() / divisor * (half - max_exact) as f32;
    let large = ((max_exact as f32 + large) as i64).min(half - 1);
    (side + large) as usize
}

/// The ungated bias `[heads, frames, frames]`: entry `(h, i, j)` is the embedding of the bucket
/// of `j - i` for head `h`.
pub fn position_bias<B: Backend>(
    embed: &Embedding<B>,
    frames: usize,
    num_buckets: usize,
    max_distance: usize,
) -> Tensor<B, 3> {
    let device = embed.weight.device();
    let buckets: Vec<i64> = (0..frames as i64)
        .flat_map(|query| (0..frames as i64).map(move |key| bucket(key - query, num_buckets, max_distance) as i64))
        .collect();
    let buckets = Tensor::<B, 2, Int>::from_data(TensorData::new(buckets, [frames, frames]), &device);
    // [frames, frames, heads] -> [heads, frames, frames]
    embed.forward(buckets).permute([2, 0, 1])
}

/// The gate `[batch, heads, frames]` by which a layer whose input is `x` `[batch, frames,
/// hidden]` scales each query frame's row of the bias (added to the scores by
/// [`crate::kernels::add_gated_bias`]).
pub fn gate<B: Kernels>(
    x: Tensor<B, 3>,
    linear: &Linear<B>,
    constant: &Param<Tensor<B, 4>>,
    heads: usize,
) -> Tensor<B, 3> {
    let [batch, frames, hidden] = x.dims();
    let head_dim = hidden / heads;
    // [batch, frames * heads, head_dim] -> [batch, frames, heads, 2, 4] -> sum of each 4; f32
    // at any precision (8 outputs per head: no product worth narrowing).
    let projected = linear_rows(linear, x.reshape([batch, frames * heads, head_dim]), Precision::F32)
        .reshape([batch, frames, heads, 2, 4])
        .sum_dim(4)
        .reshape([batch, frames, heads, 2]);
    let gates = sigmoid(projected);
    let a = gates.clone().narrow(3, 0, 1);
    let b = gates.narrow(3, 1, 1);
    // [1, heads, 1, 1] -> [1, 1, heads, 1], against [batch, frames, heads, 1]
    let constant = constant.val().swap_dims(1, 2);
    let gate = a * (b * constant - 1.0) + 2.0;
    // [batch, frames, heads, 1] -> [batch, heads, frames]
    gate.swap_dims(1, 2).reshape([batch, heads, frames])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_transformers_rule() {
        // 320 buckets: 160 per direction, distances below 80 exact.
        assert_eq!(bucket(0, 320, 800), 0);
        assert_eq!(bucket(-5, 320, 800), 5);
        assert_eq!(bucket(5, 320, 800), 165);
        assert_eq!(bucket(-79, 320, 800), 79);
        // 80 -> 80 + log(1) ... = 80; 800 -> 80 + 80 = 160, clipped to 159.
        assert_eq!(bucket(-80, 320, 800), 80);
        assert_eq!(bucket(80, 320, 800), 240);
        assert_eq!(bucket(-800, 320, 800), 159);
        assert_eq!(bucket(10_000, 320, 800), 319);
        // 186 frames apart (a 60000-sample clip end to end): 80 + ln(186/80)/ln(10)*80 = 109.3
        assert_eq!(bucket(-186, 320, 800), 109);
    }
}
