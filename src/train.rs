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

use crate::models::batched_mlp::BatchedMlp;

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
    /// Applied to every training batch (data augmentation), drawing from its
    /// own generator seeded from `shuffle_seed`.
    pub augment: Option<&'a dyn Fn(&Tensor, &mut ChaCha8Rng) -> Tensor>,
    /// The learning rate as a function of the fraction of training done,
    /// set before every step; the optimiser's own rate when `None`.
    pub learning_rate: Option<&'a dyn Fn(f64) -> f64>,
    pub progress: &'a ProgressBar,
}

/// Trains `model` with `opt` on `train`, validating on `val` after each
/// epoch, with categorical cross-entropy over softmax outputs.
pub fn fit(model: &dyn ModuleT, opt: &mut Optimizer, train: &Batches, val: &Batches, o: &FitOptions) -> History {
    let n = train.len();
    let batches = (n + o.batch_size - 1) / o.batch_size;
    let mut rng = ChaCha8Rng::seed_from_u64(o.shuffle_seed);
    let mut augment_rng = ChaCha8Rng::seed_from_u64(crate::seed::derive(o.shuffle_seed, "augment"));
    let mut order: Vec<i64> = (0..n).collect();
    let mut epochs = Vec::new();
    let mut diverged_at = None;
    let steps = o.epochs as i64 * batches;
    o.progress.set_length(steps as u64);
    for epoch in 1..=o.epochs {
        let start = Instant::now();
        order.shuffle(&mut rng);
        let order_t = Tensor::from_slice(&order).to_device(train.images.device());
        let mut loss_sum = Tensor::zeros([], (Kind::Float, train.images.device()));
        let mut correct = Tensor::zeros([], (Kind::Int64, train.images.device()));
        for b in 0..batches {
            let idx = order_t.narrow(0, b * o.batch_size, o.batch_size.min(n - b * o.batch_size));
            let mut xs = train.images.index_select(0, &idx);
            if let Some(augment) = o.augment {
                xs = augment(&xs, &mut augment_rng);
            }
            let ys = train.labels.index_select(0, &idx);
            if let Some(schedule) = o.learning_rate {
                opt.set_lr(schedule(((epoch as i64 - 1) * batches + b) as f64 / steps as f64));
            }
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

/// Options for training many models at once (see `BatchedMlp`).
pub struct BatchedFitOptions<'a> {
    pub epochs: usize,
    /// Of plain SGD, constant.
    pub learning_rate: f64,
    pub batch_size: i64,
    /// One per group: seeds the group's batch order, as `shuffle_seed` does in `fit`.
    pub group_seeds: &'a [u64],
    /// One per model: its L2 factor on the hidden kernels.
    pub l2: &'a [f64],
    pub progress: &'a ProgressBar,
}

/// Trains every model of `model` as `fit` would train each alone (same
/// batches, same loss, same metrics), and returns one history per model.
pub fn fit_batched(model: &BatchedMlp, train: &Batches, val: &Batches, o: &BatchedFitOptions) -> Vec<History> {
    let device = train.images.device();
    let (groups, per_group, models) = (model.groups, model.per_group, model.models());
    assert_eq!(o.group_seeds.len() as i64, groups);
    assert_eq!(o.l2.len() as i64, models);
    let n = train.len();
    let batches = (n + o.batch_size - 1) / o.batch_size;
    let l2 = Tensor::from_slice(o.l2).to_kind(Kind::Float).to_device(device);
    let mut rngs: Vec<ChaCha8Rng> = o.group_seeds.iter().map(|&s| ChaCha8Rng::seed_from_u64(s)).collect();
    let mut orders: Vec<Vec<i64>> = vec![(0..n).collect(); groups as usize];
    let mut epochs: Vec<Vec<EpochMetrics>> = vec![Vec::new(); models as usize];
    let mut diverged_at = vec![None; models as usize];
    o.progress.set_length(o.epochs as u64 * batches as u64);
    for epoch in 1..=o.epochs {
        let start = Instant::now();
        for (order, rng) in orders.iter_mut().zip(&mut rngs) {
            order.shuffle(rng);
        }
        let order_t = Tensor::from_slice(&orders.concat()).view([groups, n]).to_device(device);
        let loss_sum = Tensor::zeros([models], (Kind::Float, device));
        let correct = Tensor::zeros([models], (Kind::Int64, device));
        for b in 0..batches {
            let len = o.batch_size.min(n - b * o.batch_size);
            let idx = order_t.narrow(1, b * o.batch_size, len).reshape([groups * len]);
            let xs = train.images.index_select(0, &idx).view([groups, len, -1]);
            let ys = train.labels.index_select(0, &idx).view([groups, 1, len]).expand([groups, per_group, len], false);
            let ys = ys.reshape([models, len]);
            let (losses, hits) = model.sgd_step(&xs, &ys, o.learning_rate, &l2);
            let _ = loss_sum.shallow_clone().g_add_(&(losses * len as f64));
            let _ = correct.shallow_clone().g_add_(&hits);
            o.progress.inc(1);
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let train_loss = Vec::<f64>::try_from(loss_sum.to_kind(Kind::Double) / n as f64).expect("losses");
        let train_correct = Vec::<i64>::try_from(correct).expect("counts");
        let (val_loss, val_correct) = evaluate_batched(model, val);
        for m in 0..models as usize {
            if diverged_at[m].is_some() {
                continue;
            }
            let metrics = EpochMetrics {
                epoch,
                train_loss: finite(train_loss[m]),
                train_accuracy: train_correct[m] as f64 / n as f64,
                val_loss: finite(val_loss[m]),
                val_accuracy: val_correct[m] as f64 / val.len() as f64,
                train_seconds,
            };
            if metrics.train_loss.is_none() {
                diverged_at[m] = Some(epoch);
            }
            epochs[m].push(metrics);
        }
        let best = (0..models as usize).map(|m| epochs[m].last().map_or(0.0, |e| e.val_accuracy)).fold(0.0, f64::max);
        o.progress.set_message(format!("epoch {epoch}/{}: best validation accuracy {best:.4}", o.epochs));
    }
    epochs.into_iter().zip(diverged_at).map(|(e, d)| summarise(e, d, n)).collect()
}

/// Per model: mean cross-entropy (no penalty) and number of correct predictions over `data`.
fn evaluate_batched(model: &BatchedMlp, data: &Batches) -> (Vec<f64>, Vec<i64>) {
    let n = data.len();
    let chunk = 1_000;
    tch::no_grad(|| {
        let mut loss = Tensor::zeros([model.models()], (Kind::Double, data.images.device()));
        let mut correct = Tensor::zeros([model.models()], (Kind::Int64, data.images.device()));
        for start in (0..n).step_by(chunk as usize) {
            let len = chunk.min(n - start);
            let logits = model.forward(&data.images.narrow(0, start, len).unsqueeze(0));
            let ys = data.labels.narrow(0, start, len).view([1, len]).expand([model.models(), len], false);
            let nll = -logits.log_softmax(-1, Kind::Float).gather(2, &ys.unsqueeze(-1), false).squeeze_dim(-1);
            loss += nll.sum_dim_intlist(1i64, false, Kind::Double);
            correct += logits.argmax(-1, false).eq_tensor(&ys).sum_dim_intlist(1i64, false, Kind::Int64);
        }
        (Vec::<f64>::try_from(loss / n as f64).expect("losses"), Vec::<i64>::try_from(correct).expect("counts"))
    })
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
        let options = FitOptions { epochs, batch_size: 32, shuffle_seed: 7, penalty: None, augment: None, learning_rate: None, progress: &progress };
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
