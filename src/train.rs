//! The training loop: mini-batch training of a classifier with the data set
//! held as one tensor, per-epoch metrics as Keras reports them, and a
//! divergence (a NaN loss) recorded instead of crashing.

use std::time::Instant;

use indicatif::ProgressBar;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::{ModuleT, Optimizer};
use tch::{Kind, Tensor};

/// Images and labels of one split, already on the training device.
pub struct Batches<'a> {
    pub images: &'a Tensor,
    pub labels: &'a Tensor,
}

impl Batches<'_> {
    pub fn len(&self) -> i64 {
        self.labels.size()[0]
    }
}

/// One epoch's metrics. Training loss and accuracy are the running means over
/// the epoch's batches, as Keras reports them; validation metrics are
/// computed after the epoch. `None` where a value was not finite.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub train_loss: Option<f64>,
    pub train_accuracy: f64,
    pub val_loss: Option<f64>,
    pub val_accuracy: f64,
    pub train_seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct History {
    pub epochs: Vec<EpochMetrics>,
    /// The epoch (1-based) whose training loss was not finite, if any;
    /// training stopped there.
    pub diverged_at: Option<usize>,
    pub final_val_accuracy: f64,
    pub best_val_accuracy: f64,
    pub best_epoch: usize,
    pub train_seconds: f64,
    pub samples_per_second: f64,
}

pub struct FitOptions<'a> {
    pub epochs: usize,
    pub batch_size: i64,
    /// Seeds the shuffling of every epoch.
    pub shuffle_seed: u64,
    /// Added to the mean batch loss before the gradient step (an L2 term).
    pub penalty: Option<&'a dyn Fn() -> Tensor>,
    pub progress: &'a ProgressBar,
}

/// Trains `model` with `opt` on `train`, validating on `val` after each
/// epoch, with categorical cross-entropy over softmax outputs.
pub fn fit(model: &dyn ModuleT, opt: &mut Optimizer, train: &Batches, val: &Batches, o: &FitOptions) -> History {
    let n = train.len();
    let batches = (n + o.batch_size - 1) / o.batch_size;
    let mut rng = ChaCha8Rng::seed_from_u64(o.shuffle_seed);
    let mut order: Vec<i64> = (0..n).collect();
    let mut epochs = Vec::new();
    let mut diverged_at = None;
    o.progress.set_length(o.epochs as u64 * batches as u64);
    for epoch in 1..=o.epochs {
        let start = Instant::now();
        order.shuffle(&mut rng);
        let order_t = Tensor::from_slice(&order).to_device(train.images.device());
        let mut loss_sum = Tensor::zeros([], (Kind::Float, train.images.device()));
        let mut correct = Tensor::zeros([], (Kind::Int64, train.images.device()));
        for b in 0..batches {
            let idx = order_t.narrow(0, b * o.batch_size, o.batch_size.min(n - b * o.batch_size));
            let xs = train.images.index_select(0, &idx);
            let ys = train.labels.index_select(0, &idx);
            let logits = model.forward_t(&xs, true);
            let mut loss = logits.cross_entropy_for_logits(&ys);
            if let Some(penalty) = o.penalty {
                loss = loss + penalty();
            }
            opt.backward_step(&loss);
            tch::no_grad(|| {
                let _ = loss_sum.g_add_(&(loss.detach() * idx.size()[0] as f64));
                let _ = correct.g_add_(&logits.argmax(-1, false).eq_tensor(&ys).sum(Kind::Int64));
            });
            o.progress.inc(1);
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let train_loss = finite(loss_sum.double_value(&[]) / n as f64);
        let train_accuracy = correct.int64_value(&[]) as f64 / n as f64;
        let (val_loss, val_accuracy) = evaluate(model, val);
        o.progress.set_message(format!(
            "epoch {epoch}/{}: loss {} accuracy {train_accuracy:.4}, validation {val_accuracy:.4}",
            o.epochs,
            train_loss.map_or("NaN".into(), |l| format!("{l:.4}")),
        ));
        epochs.push(EpochMetrics { epoch, train_loss, train_accuracy, val_loss, val_accuracy, train_seconds });
        if train_loss.is_none() {
            diverged_at = Some(epoch);
            break;
        }
    }
    summarise(epochs, diverged_at, n)
}

fn summarise(epochs: Vec<EpochMetrics>, diverged_at: Option<usize>, n: i64) -> History {
    let best = epochs.iter().max_by(|a, b| a.val_accuracy.total_cmp(&b.val_accuracy)).expect("at least one epoch");
    let train_seconds: f64 = epochs.iter().map(|e| e.train_seconds).sum();
    History {
        final_val_accuracy: epochs.last().unwrap().val_accuracy,
        best_val_accuracy: best.val_accuracy,
        best_epoch: best.epoch,
        samples_per_second: n as f64 * epochs.len() as f64 / train_seconds,
        train_seconds,
        diverged_at,
        epochs,
    }
}

/// Mean cross-entropy and accuracy of `model` over `data`, in inference mode.
pub fn evaluate(model: &dyn ModuleT, data: &Batches) -> (Option<f64>, f64) {
    let n = data.len();
    let chunk = 2_000;
    tch::no_grad(|| {
        let (mut loss, mut correct) = (0.0, 0);
        for start in (0..n).step_by(chunk as usize) {
            let len = chunk.min(n - start);
            let logits = model.forward_t(&data.images.narrow(0, start, len), false);
            let ys = data.labels.narrow(0, start, len);
            loss += logits.cross_entropy_for_logits(&ys).double_value(&[]) * len as f64;
            correct += logits.argmax(-1, false).eq_tensor(&ys).sum(Kind::Int64).int64_value(&[]);
        }
        (finite(loss / n as f64), correct as f64 / n as f64)
    })
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::mlp::Mlp;
    use tch::nn::{self, OptimizerConfig};
    use tch::Device;

    fn toy_data() -> (Tensor, Tensor) {
        // Two separable classes: bright top half versus bright bottom half.
        tch::manual_seed(1);
        let n = 256;
        let labels = Tensor::randint(2, [n], (Kind::Int64, Device::Cpu));
        let top = labels.eq(0).to_kind(Kind::Float).view([n, 1, 1]);
        let rows = Tensor::arange(28, (Kind::Float, Device::Cpu)).lt(14).to_kind(Kind::Float).view([1, 28, 1]);
        let images = (&top * &rows + (-&top + 1.0) * (-&rows + 1.0)).expand([n, 28, 28], false).reshape([n, 784]);
        (images, labels)
    }

    fn train(lr: f64, epochs: usize) -> History {
        let (images, labels) = toy_data();
        let data = Batches { images: &images, labels: &labels };
        let vs = nn::VarStore::new(Device::Cpu);
        let model = Mlp::new(&vs.root(), &[8]);
        let mut opt = nn::Sgd::default().build(&vs, lr).unwrap();
        let progress = ProgressBar::hidden();
        let options = FitOptions { epochs, batch_size: 32, shuffle_seed: 7, penalty: None, progress: &progress };
        fit(&model, &mut opt, &data, &data, &options)
    }

    #[test]
    fn learns_a_separable_problem_and_reports_every_epoch() {
        let history = train(0.1, 3);
        assert_eq!(history.epochs.len(), 3);
        assert_eq!(history.diverged_at, None);
        assert_eq!(history.final_val_accuracy, 1.0);
        assert!(history.epochs[2].train_loss.unwrap() < history.epochs[0].train_loss.unwrap());
    }

    #[test]
    fn a_diverging_run_is_recorded_not_a_crash() {
        let history = train(1e30, 5);
        assert!(history.diverged_at.is_some(), "{history:?}");
        assert!(history.epochs.len() < 5 || history.epochs.last().unwrap().train_loss.is_none());
        assert!(history.epochs.last().unwrap().train_loss.is_none());
    }
}
