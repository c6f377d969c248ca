//! Training: one epoch driver (seeded batch order, batch slicing, progress,
//! timing, divergence) that every network's loop runs on, the classifier
//! step with per-epoch metrics as Keras reports them, and one chunked
//! inference helper. The loop that trains many MLPs as one model lives in
//! `batched`.

pub mod batched;

use std::time::Instant;

use indicatif::ProgressBar;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::{ModuleT, Optimizer};
use tch::{Kind, Tensor};

/// libtorch's threads set to a number for as long as this lives, then
/// given back, however the work between ends. The number is the calling
/// thread's: each thread of trainings side by side sets its own.
pub struct Threads(i32);

impl Threads {
    pub fn set(threads: i32) -> Threads {
        let before = tch::get_num_threads();
        tch::set_num_threads(threads);
        Threads(before)
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        tch::set_num_threads(self.0);
    }
}

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

/// How the epoch driver walks the training images.
pub struct Schedule<'a> {
    pub epochs: usize,
    pub batch_size: i64,
    /// One per group of models: each group draws its own batch order every
    /// epoch from its own generator; one for a single model.
    pub shuffle_seeds: &'a [u64],
}

/// One mini-batch, as the driver hands it to a step.
pub struct Batch {
    /// Indices of the batch's images in each group's order, (groups, len).
    pub indices: Tensor,
    pub len: i64,
    /// Fraction of all steps done before this one, in [0, 1).
    pub done: f64,
}

/// What one step measured: its loss before the update (the mean over the
/// batch; one per model where several train together) and, for a
/// classifier, its correct predictions.
pub struct StepOutcome {
    pub loss: Tensor,
    pub correct: Option<Tensor>,
}

/// An epoch's training totals, handed to the caller when the epoch ends.
pub struct EpochTotals {
    pub epoch: usize,
    /// Per model: the mean over the epoch's images of the step losses.
    pub train_loss: Vec<f64>,
    /// Per model: correct predictions over the epoch (empty where the step
    /// counts none).
    pub train_correct: Vec<i64>,
    pub train_seconds: f64,
}

/// Runs `schedule.epochs` epochs over `n` training images on `device`:
/// shuffles each group's order, slices it into batches, calls `step` on
/// each, and after each epoch hands `end_epoch` the totals; training stops
/// early when `end_epoch` returns false (a diverged run).
pub fn drive(
    n: i64,
    device: tch::Device,
    schedule: &Schedule,
    progress: &ProgressBar,
    mut step: impl FnMut(&Batch) -> StepOutcome,
    mut end_epoch: impl FnMut(EpochTotals) -> bool,
) -> anyhow::Result<()> {
    let groups = schedule.shuffle_seeds.len() as i64;
    let batches = (n + schedule.batch_size - 1) / schedule.batch_size;
    let steps = schedule.epochs as i64 * batches;
    let mut rngs: Vec<ChaCha8Rng> = schedule.shuffle_seeds.iter().map(|&s| ChaCha8Rng::seed_from_u64(s)).collect();
    let mut orders: Vec<Vec<i64>> = vec![(0..n).collect(); groups as usize];
    progress.set_length(steps as u64);
    for epoch in 1..=schedule.epochs {
        let start = Instant::now();
        for (order, rng) in orders.iter_mut().zip(&mut rngs) {
            order.shuffle(rng);
        }
        let order_t = Tensor::from_slice(&orders.concat()).view([groups, n]).to_device(device);
        let mut loss_sum: Option<Tensor> = None;
        let mut correct: Option<Tensor> = None;
        for b in 0..batches {
            let len = schedule.batch_size.min(n - b * schedule.batch_size);
            let batch = Batch {
                indices: order_t.narrow(1, b * schedule.batch_size, len),
                len,
                done: ((epoch as i64 - 1) * batches + b) as f64 / steps as f64,
            };
            let outcome = step(&batch);
            tch::no_grad(|| {
                let loss = outcome.loss.detach();
                let sum = loss_sum.get_or_insert_with(|| Tensor::zeros(loss.size(), (Kind::Float, device)));
                let _ = sum.g_add_(&(loss * len as f64));
                if let Some(hits) = outcome.correct {
                    let total = correct.get_or_insert_with(|| Tensor::zeros(hits.size(), (Kind::Int64, device)));
                    let _ = total.g_add_(&hits);
                }
            });
            progress.inc(1);
        }
        let train_seconds = start.elapsed().as_secs_f64();
        let train_loss = match loss_sum {
            Some(sum) => Vec::<f64>::try_from(sum.to_kind(Kind::Double).view([-1]) / n as f64)?,
            None => Vec::new(),
        };
        let train_correct = match correct {
            Some(total) => Vec::<i64>::try_from(total.view([-1]))?,
            None => Vec::new(),
        };
        if !end_epoch(EpochTotals { epoch, train_loss, train_correct, train_seconds }) {
            break;
        }
    }
    Ok(())
}

/// Images per forward pass in inference, few enough that the activations
/// stay in cache. In float32 on AVX2 kernels, chunks of 256 against 2,000:
/// the chosen CNN took 0.74 against 2.14 s for 10,000 images, the reference
/// CNN 0.55 against 0.93 s; 18 batched 500-300 MLPs took 0.73 against
/// 0.97 s (chunks of 1,000) for 5,000 images.
pub const EVAL_CHUNK: i64 = 256;

/// `f` of every chunk of at most `EVAL_CHUNK` images (the chunk, its first
/// index and its length), in order and without gradients: inference over a
/// split without holding all of its activations at once.
pub fn in_chunks<T>(images: &Tensor, mut f: impl FnMut(&Tensor, i64, i64) -> T) -> Vec<T> {
    let chunk = EVAL_CHUNK;
    let n = images.size()[0];
    tch::no_grad(|| {
        (0..n)
            .step_by(chunk as usize)
            .map(|start| {
                let len = chunk.min(n - start);
                f(&images.narrow(0, start, len), start, len)
            })
            .collect()
    })
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

impl History {
    /// Training time per epoch, validation left out.
    pub fn seconds_per_epoch(&self) -> f64 {
        self.train_seconds / self.epochs.len() as f64
    }
}

/// Draws a transformed copy of a batch of images from a generator.
pub type Augment = dyn Fn(&Tensor, &mut ChaCha8Rng) -> Tensor;

pub struct FitOptions<'a> {
    pub epochs: usize,
    pub batch_size: i64,
    /// Seeds the shuffling of every epoch.
    pub shuffle_seed: u64,
    /// Added to the mean batch loss before the gradient step (an L2 term).
    pub penalty: Option<&'a dyn Fn() -> Tensor>,
    /// Applied to every training batch (data augmentation), drawing from its
    /// own generator seeded from `shuffle_seed`.
    pub augment: Option<&'a Augment>,
    /// The learning rate as a function of the fraction of training done,
    /// set before every step; the optimiser's own rate when `None`.
    pub learning_rate: Option<&'a dyn Fn(f64) -> f64>,
    pub progress: &'a ProgressBar,
}

/// Trains `model` with `opt` on `train`, validating on `val` after each
/// epoch, with categorical cross-entropy over softmax outputs.
pub fn fit(model: &dyn ModuleT, opt: &mut Optimizer, train: &Batches, val: &Batches, o: &FitOptions) -> anyhow::Result<History> {
    let n = train.len();
    let mut augment_rng = ChaCha8Rng::seed_from_u64(crate::seed::derive(o.shuffle_seed, "augment"));
    let mut epochs = Vec::new();
    let mut diverged_at = None;
    let schedule = Schedule { epochs: o.epochs, batch_size: o.batch_size, shuffle_seeds: &[o.shuffle_seed] };
    let step = |batch: &Batch| {
        let idx = batch.indices.reshape([batch.len]);
        let mut xs = train.images.index_select(0, &idx);
        if let Some(augment) = o.augment {
            xs = augment(&xs, &mut augment_rng);
        }
        let ys = train.labels.index_select(0, &idx);
        if let Some(schedule) = o.learning_rate {
            opt.set_lr(schedule(batch.done));
        }
        // region: classifier-step
        let logits = model.forward_t(&xs, true);
        let mut loss = logits.cross_entropy_for_logits(&ys);
        if let Some(penalty) = o.penalty {
            loss += penalty();
        }
        opt.backward_step(&loss);
        // endregion: classifier-step
        let correct = tch::no_grad(|| logits.argmax(-1, false).eq_tensor(&ys).sum(Kind::Int64));
        StepOutcome { loss, correct: Some(correct) }
    };
    let end_epoch = |totals: EpochTotals| {
        let train_loss = finite(totals.train_loss[0]);
        let train_accuracy = totals.train_correct[0] as f64 / n as f64;
        let (val_loss, val_accuracy) = evaluate(model, val);
        o.progress.set_message(format!(
            "epoch {}/{}: loss {} accuracy {train_accuracy:.4}, validation {val_accuracy:.4}",
            totals.epoch,
            o.epochs,
            train_loss.map_or("NaN".into(), |l| format!("{l:.4}")),
        ));
        let epoch = totals.epoch;
        epochs.push(EpochMetrics { epoch, train_loss, train_accuracy, val_loss, val_accuracy, train_seconds: totals.train_seconds });
        if train_loss.is_none() {
            diverged_at = Some(epoch);
        }
        train_loss.is_some()
    };
    drive(n, train.images.device(), &schedule, o.progress, step, end_epoch)?;
    Ok(summarise(epochs, diverged_at, n))
}

/// A history's summary of its epochs; `n` training images per epoch.
pub fn summarise(epochs: Vec<EpochMetrics>, diverged_at: Option<usize>, n: i64) -> History {
    let best = epochs.iter().max_by(|a, b| a.val_accuracy.total_cmp(&b.val_accuracy));
    let train_seconds: f64 = epochs.iter().map(|e| e.train_seconds).sum();
    History {
        final_val_accuracy: epochs.last().map_or(0.0, |e| e.val_accuracy),
        best_val_accuracy: best.map_or(0.0, |e| e.val_accuracy),
        best_epoch: best.map_or(0, |e| e.epoch),
        samples_per_second: n as f64 * epochs.len() as f64 / train_seconds,
        train_seconds,
        diverged_at,
        epochs,
    }
}

/// Mean cross-entropy and accuracy of `model` over `data`, in inference mode.
pub fn evaluate(model: &dyn ModuleT, data: &Batches) -> (Option<f64>, f64) {
    let n = data.len();
    let (mut loss, mut correct) = (0.0, 0);
    for (chunk_loss, chunk_correct) in in_chunks(data.images, |xs, start, len| {
        let logits = model.forward_t(xs, false);
        let ys = data.labels.narrow(0, start, len);
        (
            logits.cross_entropy_for_logits(&ys).double_value(&[]) * len as f64,
            logits.argmax(-1, false).eq_tensor(&ys).sum(Kind::Int64).int64_value(&[]),
        )
    }) {
        loss += chunk_loss;
        correct += chunk_correct;
    }
    (finite(loss / n as f64), correct as f64 / n as f64)
}

/// The class `model` predicts for each of `images`, in inference mode.
pub fn predict(model: &dyn ModuleT, images: &Tensor) -> Tensor {
    Tensor::cat(&in_chunks(images, |xs, _, _| model.forward_t(xs, false).argmax(-1, false)), 0)
}

/// `Some(x)` where `x` is a number, `None` for NaN or infinity.
pub fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::mlp::Mlp;
    use tch::Device;
    use tch::nn::{self, OptimizerConfig};

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
        let options =
            FitOptions { epochs, batch_size: 32, shuffle_seed: 7, penalty: None, augment: None, learning_rate: None, progress: &progress };
        fit(&model, &mut opt, &data, &data, &options).unwrap()
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

    #[test]
    fn inference_in_chunks_covers_every_image_once_and_matches_one_pass() {
        tch::manual_seed(3);
        let n = 2 * EVAL_CHUNK + 37;
        let images = Tensor::rand([n, 784], (Kind::Float, Device::Cpu));
        let labels = Tensor::randint(10, [n], (Kind::Int64, Device::Cpu));
        let vs = nn::VarStore::new(Device::Cpu);
        let model = Mlp::new(&vs.root(), &[16]);
        let whole = tch::no_grad(|| model.forward_t(&images, false));
        assert!(predict(&model, &images).equal(&whole.argmax(-1, false)));
        let (loss, accuracy) = evaluate(&model, &Batches { images: &images, labels: &labels });
        let expected_accuracy = whole.argmax(-1, false).eq_tensor(&labels).sum(Kind::Int64).int64_value(&[]) as f64 / n as f64;
        assert_eq!(accuracy, expected_accuracy);
        assert!((loss.unwrap() - whole.cross_entropy_for_logits(&labels).double_value(&[])).abs() < 1e-5);
    }
}
