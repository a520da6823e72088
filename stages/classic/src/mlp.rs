//! A small multilayer perceptron, as scikit-learn's `MLPClassifier` behind a `StandardScaler`:
//! ReLU hidden layers, a softmax output, cross-entropy plus an L2 penalty `alpha`, Adam with a
//! constant learning rate on shuffled mini-batches, stopping when the epoch's training loss has
//! not improved by `tol` for 10 epochs (sklearn's `n_iter_no_change`) or after `max_iter` epochs.
//!
//! Trained with burn (autodiff on the ndarray backend, f64 as scikit-learn computes), the
//! toolkit vox's deep path uses. Everything random is vox's own, from the stage seed through
//! ChaCha8: Glorot-uniform initialization (sklearn's bound `sqrt(6 / (fan_in + fan_out))` for
//! weights and biases) and each epoch's batch order, never burn's process-wide generator, which
//! other stages of a run share. Class weights enter as sample weights: a batch's loss is
//! `(sum_i w_i CE_i + alpha / 2 * |W|^2) / sum_i w_i`, sklearn's weighted loss.
//!
//! The fitted weights are stored as plain numbers and applied by [`Mlp::predict_proba`] in plain
//! Rust, so `model.json` reproduces `predictions.csv` bit for bit in any language.

use burn::backend::{Autodiff, NdArray};
use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::activation::{log_softmax, relu};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use vox_api::predictions::softmax;
use crate::scaling::Standardizer;

/// The training backend.
type Train = Autodiff<NdArray<f64>>;

/// Epochs without a `tol` improvement of the training loss before stopping (sklearn's
/// `n_iter_no_change`).
const PATIENCE: usize = 10;

/// One dense layer: `y = x W + b`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// `[inputs][outputs]`.
    pub weights: Vec<Vec<f64>>,
    /// `[outputs]`.
    pub biases: Vec<f64>,
}

/// A fitted MLP: standardization, then the layers (ReLU between, softmax after the last).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mlp {
    /// Applied to raw features first.
    pub standardizer: Standardizer,
    /// Hidden layers, then the output layer.
    pub layers: Vec<Dense>,
    /// Epochs trained.
    pub epochs: usize,
    /// The last epoch's training loss.
    pub loss: f64,
}

/// Training settings.
#[derive(Clone, Debug)]
pub struct MlpParams {
    /// Units of each hidden layer.
    pub hidden: Vec<usize>,
    /// L2 penalty.
    pub alpha: f64,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Rows per batch (at most the training rows).
    pub batch_size: usize,
    /// Most epochs.
    pub max_iter: usize,
    /// Least loss improvement that counts.
    pub tol: f64,
    /// Initialization and batch order.
    pub seed: u64,
}

#[derive(Module, Debug)]
struct Net<B: Backend> {
    layers: Vec<Linear<B>>,
}

impl<B: Backend> Net<B> {
    fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let last = self.layers.len() - 1;
        self.layers.iter().enumerate().fold(x, |x, (i, layer)| {
            let y = layer.forward(x);
            if i < last { relu(y) } else { y }
        })
    }
}

impl Mlp {
    /// Fits on standardized `rows` with `labels` (class indices below `n_classes`) and per-row
    /// `weights`; `on_epoch` is called after each epoch.
    pub fn fit(
        rows: &[&[f64]],
        labels: &[usize],
        n_classes: usize,
        standardizer: Standardizer,
        weights: &[f64],
        params: &MlpParams,
        on_epoch: &dyn Fn(),
    ) -> Self {
        let device = Default::default();
        let features = rows.first().map_or(0, |r| r.len());
        let x: Vec<Vec<f64>> = rows.iter().map(|r| standardizer.apply(r)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
        let mut sizes = vec![features];
        sizes.extend(&params.hidden);
        sizes.push(n_classes);
        let layers = sizes
            .windows(2)
            .map(|pair| {
                let (fan_in, fan_out) = (pair[0], pair[1]);
                let bound = (6.0 / (fan_in + fan_out) as f64).sqrt();
                let mut draw = |n: usize| (0..n).map(|_| rng.random_range(-bound..bound)).collect::<Vec<f64>>();
                let w = draw(fan_in * fan_out);
                let b = draw(fan_out);
                Linear {
                    weight: Param::from_tensor(Tensor::<Train, 2>::from_data(TensorData::new(w, [fan_in, fan_out]), &device)),
                    bias: Some(Param::from_tensor(Tensor::<Train, 1>::from_data(TensorData::new(b, [fan_out]), &device))),
                }
            })
            .collect();
        let mut net = Net { layers };
        let mut optim = AdamConfig::new().with_beta_1(0.9).with_beta_2(0.999).with_epsilon(1e-8).init::<Train, Net<Train>>();
        let n = x.len();
        let batch = params.batch_size.clamp(1, n.max(1));
        let mut order: Vec<usize> = (0..n).collect();
        let (mut best, mut stale, mut epochs, mut loss) = (f64::INFINITY, 0, 0, f64::NAN);
        for _ in 0..params.max_iter {
            order.shuffle(&mut rng);
            let mut total = 0.0;
            for chunk in order.chunks(batch) {
                let data: Vec<f64> = chunk.iter().flat_map(|&i| x[i].iter().copied()).collect();
                let mut onehot = vec![0.0; chunk.len() * n_classes];
                for (r, &i) in chunk.iter().enumerate() {
                    onehot[r * n_classes + labels[i]] = 1.0;
                }
                let w: Vec<f64> = chunk.iter().map(|&i| weights[i]).collect();
                let w_sum: f64 = w.iter().sum();
                let xs = Tensor::<Train, 2>::from_data(TensorData::new(data, [chunk.len(), features]), &device);
                let ys = Tensor::<Train, 2>::from_data(TensorData::new(onehot, [chunk.len(), n_classes]), &device);
                let ws = Tensor::<Train, 2>::from_data(TensorData::new(w, [chunk.len(), 1]), &device);
                let ce = (log_softmax(net.forward(xs), 1) * ys).sum_dim(1).neg();
                let penalty = net.layers.iter().map(|l| l.weight.val().powi_scalar(2).sum()).reduce(|a, b| a + b).expect("layers");
                let batch_loss = ((ce * ws).sum() + penalty * (0.5 * params.alpha)) / w_sum;
                total += batch_loss.clone().into_scalar() * chunk.len() as f64;
                let grads = GradientsParams::from_grads(batch_loss.backward(), &net);
                net = optim.step(params.learning_rate, net, grads);
            }
            epochs += 1;
            loss = total / n as f64;
            on_epoch();
            // sklearn: stop once the loss has not beaten the best by `tol` PATIENCE times.
            if loss > best - params.tol {
                stale += 1;
            } else {
                stale = 0;
            }
            best = best.min(loss);
            if stale >= PATIENCE {
                break;
            }
        }
        let layers = net
            .layers
            .iter()
            .map(|l| {
                let [fan_in, fan_out] = l.weight.val().dims();
                let w: Vec<f64> = l.weight.val().into_data().convert::<f64>().to_vec().expect("f64 weights");
                let b: Vec<f64> = l.bias.as_ref().map_or(vec![0.0; fan_out], |b| b.val().into_data().convert::<f64>().to_vec().expect("f64 biases"));
                Dense { weights: w.chunks(fan_out).map(<[f64]>::to_vec).collect::<Vec<_>>().into_iter().take(fan_in).collect(), biases: b }
            })
            .collect();
        Self { standardizer, layers, epochs, loss }
    }

    /// Class probabilities of raw feature rows.
    pub fn predict_proba(&self, rows: &[&[f64]]) -> Vec<Vec<f64>> {
        rows.par_iter()
            .map(|row| {
                let last = self.layers.len() - 1;
                let out = self.layers.iter().enumerate().fold(self.standardizer.apply(row), |x, (i, layer)| {
                    let mut y = layer.biases.clone();
                    for (xi, w) in x.iter().zip(&layer.weights) {
                        for (yj, wij) in y.iter_mut().zip(w) {
                            *yj += xi * wij;
                        }
                    }
                    if i < last {
                        y.iter_mut().for_each(|v| *v = v.max(0.0));
                    }
                    y
                });
                softmax(&out)
            })
            .collect()
    }
}
