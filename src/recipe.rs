//! Training recipes: a network (a CNN, or an MLP with dropout), Adam or SGD
//! (with or without momentum), an optional one-cycle learning rate, random
//! shifts, rotations, scalings and elastic bends of the training images and
//! L2 decay. The notebook's network is a recipe like any other, and one
//! function trains any recipe on a set of splits. A CNN on the CPU trains
//! on one thread of its own, so that its numbers are the same whether it
//! trains alone or beside others: `train_all` trains such networks as many
//! at a time as the run has threads.

use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use indicatif::ProgressBar;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::Tensor;
use tch::nn::{self, ModuleT, OptimizerConfig};

use crate::checkpoint::{self, Checkpoints, Lookup, MadeBy, Parts, Unit};
use crate::data::{self, Mnist, Split};
use crate::models::LayerSummary;
use crate::models::cnn::{Cnn, CnnConfig};
use crate::models::mlp::Mlp;
use crate::precision::Precision;
use crate::train::{self, Batches, FitOptions, History, Threads};
use crate::{seed, shift};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    Cnn(CnnConfig),
    /// Dense ReLU layers with dropout after each, their products in `precision`.
    Mlp {
        hidden: Vec<i64>,
        dropout: f64,
        precision: Precision,
    },
}

impl Network {
    /// Parameters of the network this builds (weights and biases; batch
    /// normalisation's moving statistics counted as Keras counts them).
    pub fn parameters(&self) -> i64 {
        match self {
            Network::Cnn(config) => config.parameters(),
            Network::Mlp { hidden, .. } => crate::models::mlp::dense_parameters(hidden),
        }
    }

    /// What its products compute in.
    pub fn precision(&self) -> Precision {
        match self {
            Network::Cnn(config) => config.precision,
            Network::Mlp { precision, .. } => *precision,
        }
    }

    /// Multiply-accumulates of one image's forward pass.
    pub fn forward_macs(&self) -> i64 {
        match self {
            Network::Cnn(config) => config.forward_macs(),
            Network::Mlp { hidden, .. } => crate::models::mlp::dense_macs(hidden),
        }
    }

    /// Training FLOPs of one image (see `models::training_flops_per_image`).
    pub fn training_flops_per_image(&self) -> f64 {
        let first_layer_macs = match self {
            Network::Cnn(config) => config.first_layer_macs(),
            Network::Mlp { hidden, .. } => crate::models::mlp::first_dense_macs(hidden),
        };
        crate::models::training_flops_per_image(self.forward_macs(), first_layer_macs)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimiser {
    Adam,
    /// With Nesterov momentum.
    Sgd {
        momentum: f64,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recipe {
    pub network: Network,
    pub optimiser: Optimiser,
    pub epochs: usize,
    pub batch_size: i64,
    /// The learning rate (the peak of the one-cycle schedule).
    pub learning_rate: f64,
    /// Ramp up from a tenth of the peak over the first `WARMUP` of the
    /// steps, then down linearly to zero; constant when false.
    pub one_cycle: bool,
    /// Shift every training image by up to this many pixels each way (0: none).
    pub max_shift: i64,
    /// Then rotate it by up to this many degrees either way (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_rotation: f64,
    /// And scale it by a factor within 1 ± this (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_scale: f64,
    /// And bend it by a smooth random field that moves each of its control
    /// points by up to this many pixels (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_elastic: f64,
    /// Keras `l2` factor on the hidden kernels of an MLP (0: none).
    pub l2: f64,
}

/// Options left at zero stay out of a recipe's JSON, so that adding one
/// leaves the cache keys of the recipes that do not use it as they were.
fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

pub const WARMUP: f64 = 0.1;

/// Learning rate at training progress `t` in [0, 1) of a one-cycle schedule.
pub fn one_cycle(peak: f64, t: f64) -> f64 {
    if t < WARMUP { peak * (0.1 + 0.9 * t / WARMUP) } else { peak * (1.0 - t) / (1.0 - WARMUP) }
}

/// A trained network of either kind.
#[derive(Debug)]
pub enum Trained {
    Cnn(Cnn),
    Mlp(Mlp),
}

impl Trained {
    pub fn parameters(&self) -> i64 {
        self.summary().iter().map(|l| l.parameters).sum()
    }

    pub fn summary(&self) -> Vec<LayerSummary> {
        match self {
            Trained::Cnn(m) => m.summary(),
            Trained::Mlp(m) => m.summary(),
        }
    }
}

impl ModuleT for Trained {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        match self {
            Trained::Cnn(m) => m.forward_t(xs, train),
            Trained::Mlp(m) => m.forward_t(xs, train),
        }
    }
}

/// Images held out of the training images as a validation split, drawn
/// with `seed`. One holdout serves every study that chooses on validation
/// accuracy, so that their accuracies compare.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Holdout {
    pub images: usize,
    pub seed: u64,
}

impl Holdout {
    /// The run's validation split of `images`, drawn from its shared seed.
    pub fn shared(images: usize, shared_seed: u64) -> Holdout {
        Holdout { images, seed: seed::derive(shared_seed, "validation split") }
    }
}

/// libtorch's generator is the process's: a network is initialised from it
/// under this lock, so that networks built side by side draw as each would alone.
static GLOBAL_GENERATOR: Mutex<()> = Mutex::new(());

/// The most trainings side by side, as many as the run's threads up to this.
pub const MOST_SIDE_BY_SIDE: usize = 8;

/// Whether `recipe` trains on one thread of its own on `device`: a CNN on
/// the CPU. Its weights are then the same bits however many train at once.
pub fn one_thread_each(recipe: &Recipe, device: tch::Device) -> bool {
    matches!(recipe.network, Network::Cnn(_)) && device == tch::Device::Cpu
}

/// Images and labels of the training, validation and test splits, on the device.
pub struct Splits {
    pub train: (Tensor, Tensor),
    pub validation: (Tensor, Tensor),
    pub test: (Tensor, Tensor),
    /// Where the validation images come from: held out of the training
    /// images, or the test images where `None`.
    pub holdout: Option<Holdout>,
}

impl Splits {
    /// Training and validation images; the test images are `validation`'s
    /// too, as the notebook validates on the test set.
    pub fn validated_on_test(train: &Split, test: &Split, device: tch::Device) -> Splits {
        let test = (test.images_tensor(device), test.labels_tensor(device));
        let validation = (test.0.shallow_clone(), test.1.shallow_clone());
        Splits { train: (train.images_tensor(device), train.labels_tensor(device)), validation, test, holdout: None }
    }

    /// The training images less `holdout`'s, validated on those.
    pub fn held_out(data: &Mnist, holdout: Holdout, device: tch::Device) -> Splits {
        let (train, validation) = data.train.hold_out(holdout.images, holdout.seed);
        let pair = |s: &Split| (s.images_tensor(device), s.labels_tensor(device));
        Splits { train: pair(&train), validation: pair(&validation), test: pair(&data.test), holdout: Some(holdout) }
    }

    /// The same splits, sharing their tensors: one for each thread that trains beside others.
    pub fn shallow_clone(&self) -> Splits {
        let pair = |p: &(Tensor, Tensor)| (p.0.shallow_clone(), p.1.shallow_clone());
        Splits { train: pair(&self.train), validation: pair(&self.validation), test: pair(&self.test), holdout: self.holdout }
    }

    /// The same splits but for `n` of the training images, drawn at random
    /// with `seed` and kept in their order (all where there are no more).
    pub fn with_train_subset(&self, n: usize, seed: u64) -> Splits {
        let indices: Vec<i64> = data::drawn(self.train.1.size()[0] as usize, n, seed).into_iter().map(|i| i as i64).collect();
        let index = Tensor::from_slice(&indices).to_device(self.train.0.device());
        let pair = |p: &(Tensor, Tensor)| (p.0.shallow_clone(), p.1.shallow_clone());
        Splits {
            train: (self.train.0.index_select(0, &index), self.train.1.index_select(0, &index)),
            validation: pair(&self.validation),
            test: pair(&self.test),
            holdout: self.holdout,
        }
    }
}

pub fn batches(pair: &(Tensor, Tensor)) -> Batches<'_> {
    Batches { images: &pair.0, labels: &pair.1 }
}

/// Trains a network by `recipe` from `seed` (initialisation, dropout, batch
/// order and augmentation) on `data.train`, validating on
/// `data.validation` after every epoch.
pub fn train(recipe: &Recipe, seed: u64, data: &Splits, progress: &ProgressBar) -> anyhow::Result<(Trained, History)> {
    let one_thread = one_thread_each(recipe, data.train.0.device());
    let (_, model, history) = fit_recipe(recipe, seed, data, progress, one_thread)?;
    Ok((model, history))
}

/// `train`, on all the run's threads even where the experiments train the
/// network on one (`one_thread_each`): a network timed as a peer trains it.
pub fn train_on_run_threads(recipe: &Recipe, seed: u64, data: &Splits, progress: &ProgressBar) -> anyhow::Result<(Trained, History)> {
    let (_, model, history) = fit_recipe(recipe, seed, data, progress, false)?;
    Ok((model, history))
}

/// The network `recipe` describes, initialised from the generator's state,
/// with the store that holds its variables.
fn build(recipe: &Recipe, device: tch::Device) -> (nn::VarStore, Trained) {
    let vs = nn::VarStore::new(device);
    let model = match &recipe.network {
        Network::Cnn(config) => Trained::Cnn(Cnn::new(&vs.root(), config)),
        Network::Mlp { hidden, dropout, precision } => {
            Trained::Mlp(Mlp::new(&vs.root(), hidden).with_dropout(*dropout).with_precision(*precision))
        }
    };
    (vs, model)
}

fn fit_recipe(recipe: &Recipe, seed: u64, data: &Splits, progress: &ProgressBar, one_thread: bool) -> anyhow::Result<Fitted> {
    let device = data.train.0.device();
    let _threads = one_thread.then(|| Threads::set(1));
    let (vs, model) = {
        let _drawing = GLOBAL_GENERATOR.lock().unwrap_or_else(PoisonError::into_inner);
        tch::manual_seed(seed as i64);
        build(recipe, device)
    };
    let model = match model {
        Trained::Cnn(cnn) => Trained::Cnn(cnn.with_dropout_seed(seed::derive(seed, "dropout"))),
        mlp => mlp,
    };
    let mut opt = match recipe.optimiser {
        Optimiser::Adam => nn::Adam::default().build(&vs, recipe.learning_rate)?,
        Optimiser::Sgd { momentum } => {
            nn::Sgd { momentum, nesterov: momentum > 0.0, ..Default::default() }.build(&vs, recipe.learning_rate)?
        }
    };
    let (max_shift, max_rotation, max_scale, max_elastic) = (recipe.max_shift, recipe.max_rotation, recipe.max_scale, recipe.max_elastic);
    let augment = move |xs: &Tensor, rng: &mut ChaCha8Rng| {
        let shifted = shift::random_shift(xs, max_shift, rng);
        shift::random_distort(&shifted, max_rotation, max_scale, max_elastic, rng)
    };
    let augmented = max_shift > 0 || max_rotation > 0.0 || max_scale > 0.0 || max_elastic > 0.0;
    let peak = recipe.learning_rate;
    let schedule = move |t: f64| one_cycle(peak, t);
    let l2 = recipe.l2;
    let penalty = || match &model {
        Trained::Mlp(m) => m.hidden_kernel_sq_sum() * l2,
        Trained::Cnn(_) => Tensor::from(0f32),
    };
    let options = FitOptions {
        epochs: recipe.epochs,
        batch_size: recipe.batch_size,
        shuffle_seed: seed,
        penalty: (l2 > 0.0).then_some(&penalty as &dyn Fn() -> Tensor),
        augment: augmented.then_some(&augment as &train::Augment),
        learning_rate: recipe.one_cycle.then_some(&schedule as &dyn Fn(f64) -> f64),
        progress,
    };
    let history = train::fit(&model, &mut opt, &batches(&data.train), &batches(&data.validation), &options)?;
    Ok((vs, model, history))
}

/// One training: a recipe trained from a seed on a split, under a name
/// that finds it again ("cnn-seed-2", "tuned-mlp-ablation-without-random-shifts").
/// It is identified by what it is, not by the experiment that needs it:
/// experiments that declare the same training share it.
#[derive(Debug, Clone, Serialize)]
pub struct Training {
    #[serde(skip)]
    pub name: String,
    pub recipe: Recipe,
    pub seed: u64,
    /// Trains on this many of the training images, drawn at random with
    /// the seed (all of them where `None`).
    pub images: Option<usize>,
    /// Validates on these images held out of the training images, or on
    /// the test images where `None`.
    pub holdout: Option<Holdout>,
}

impl Training {
    /// Named after `label` (see `checkpoint::name`).
    pub fn new(label: &str, recipe: &Recipe, seed: u64, holdout: Option<Holdout>) -> Training {
        Training { name: checkpoint::name(label), recipe: recipe.clone(), seed, images: None, holdout }
    }

    /// The same training on `images` of the training images.
    pub fn on_images(self, images: Option<usize>) -> Training {
        Training { images, ..self }
    }

    pub fn unit(&self) -> Unit {
        Unit {
            name: self.name.clone(),
            epochs: self.recipe.epochs,
            made_by: MadeBy::Itself {
                what: serde_json::to_value(self).expect("a training is plain data"),
                seed: self.seed,
                precision: self.recipe.network.precision(),
                source_file: file!(),
            },
        }
    }
}

/// A training's model with its history and the time it took to train.
pub struct Done {
    pub model: Trained,
    pub history: History,
    pub wall_seconds: f64,
}

/// Every training of `trainings`, in order: each from its checkpoint where
/// one was kept, else trained on `data` and kept at once; those that train
/// on one thread each (`one_thread_each`) as many side by side as the run
/// has threads, before the others. Fails with `Incomplete`, after training
/// all it may, where some are left to other jobs.
pub fn train_all(
    trainings: &[Training],
    data: &Splits,
    progress: &ProgressBar,
    checkpoints: &dyn Checkpoints,
) -> anyhow::Result<Vec<Done>> {
    let parts = Parts::new(checkpoints);
    let device = data.train.0.device();
    let mut done: Vec<Option<Done>> = trainings.iter().map(|_| None).collect();
    let (mut together, mut alone) = (Vec::new(), Vec::new());
    for (i, training) in trainings.iter().enumerate() {
        check_split(training, data)?;
        match parts.lookup(&training.name) {
            Lookup::Kept(kept) => done[i] = Some(from_kept(training, kept, device)?),
            Lookup::Compute(_) if one_thread_each(&training.recipe, device) => together.push(i),
            Lookup::Compute(_) => alone.push(i),
            Lookup::OtherJob => {}
        }
    }
    let copies = side_by_side_copies(tch::get_num_threads(), together.len());
    if copies >= 2 {
        let chosen: Vec<&Training> = together.iter().map(|&i| &trainings[i]).collect();
        side_by_side(&chosen, data, progress, copies, |k, fitted, took| {
            done[together[k]] = Some(keep_fitted(&parts, &chosen[k].name, fitted, took)?);
            Ok(())
        })?;
    } else {
        alone.extend(together);
        alone.sort_unstable();
    }
    for i in alone {
        done[i] = Some(fit_and_keep(&trainings[i], data, progress, &parts, Instant::now())?);
    }
    parts.finish()?;
    Ok(done.into_iter().flatten().collect())
}

/// How many of `trainings` that train on one thread each go side by side
/// with libtorch's `threads`: one per thread, at most `MOST_SIDE_BY_SIDE`.
pub fn side_by_side_copies(threads: i32, trainings: usize) -> usize {
    (threads.max(1) as usize).min(MOST_SIDE_BY_SIDE).min(trainings)
}

/// A training's store, model and history, as `fit_recipe` returns them.
type Fitted = (nn::VarStore, Trained, History);

/// Trains `trainings`, `copies` at a time, each on a thread of its own
/// computing with one, the costliest first; hands each to `keep` (its
/// index, what it trained, how long it took) as it finishes. After a
/// failure or a panic, those under way finish and no more start.
///
/// libtorch's thread count is set per thread as its OpenMP build does
/// (each thread copies the process's count when it first computes), and
/// MKL's is the process's: every thread computes with one until all are
/// done, and then the caller's count is set again.
fn side_by_side(
    trainings: &[&Training],
    data: &Splits,
    progress: &ProgressBar,
    copies: usize,
    mut keep: impl FnMut(usize, Fitted, Duration) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let cost = |t: &Training| {
        let images = t.images.unwrap_or(data.train.1.size()[0] as usize).min(data.train.1.size()[0] as usize);
        t.recipe.epochs as f64 * images as f64 * t.recipe.network.training_flops_per_image()
    };
    let mut queue: Vec<usize> = (0..trainings.len()).collect();
    queue.sort_by(|&a, &b| cost(trainings[a]).total_cmp(&cost(trainings[b])));
    let queue = Mutex::new(queue);
    let take = || queue.lock().unwrap_or_else(PoisonError::into_inner).pop();
    let (sender, finished) = mpsc::channel();
    progress.set_prefix(format!("{copies} side by side"));
    let _threads = Threads::set(1);
    let result = std::thread::scope(|scope| {
        for splits in (0..copies).map(|_| data.shallow_clone()) {
            let (sender, take) = (sender.clone(), &take);
            scope.spawn(move || {
                tch::set_num_threads(1);
                while let Some(k) = take() {
                    let started = Instant::now();
                    let fitted = std::panic::catch_unwind(AssertUnwindSafe(|| fit_training(trainings[k], &splits, progress)))
                        .unwrap_or_else(|panic| {
                            Err(anyhow::anyhow!("{}: its training panicked: {}", trainings[k].name, panic_text(&panic)))
                        });
                    let failed = fitted.is_err();
                    if sender.send((k, fitted, started.elapsed())).is_err() || failed {
                        break;
                    }
                }
            });
        }
        drop(sender);
        let mut first_error = None;
        for (k, fitted, took) in finished {
            if let Err(e) = fitted.and_then(|fitted| keep(k, fitted, took)) {
                queue.lock().unwrap_or_else(PoisonError::into_inner).clear();
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    });
    progress.set_prefix("");
    result
}

/// What a panic said, where it said it as text.
fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> &str {
    panic.downcast_ref::<String>().map(String::as_str).or_else(|| panic.downcast_ref::<&str>().copied()).unwrap_or("no message")
}

/// Fails unless `data` is the split `training` declared to validate on.
fn check_split(training: &Training, data: &Splits) -> anyhow::Result<()> {
    anyhow::ensure!(
        training.holdout == data.holdout,
        "{}: declared to validate on {:?} but given the split {:?}",
        training.name,
        training.holdout,
        data.holdout
    );
    Ok(())
}

/// `training` trained on `data` (on its subset of the training images, where it has one).
fn fit_training(training: &Training, data: &Splits, progress: &ProgressBar) -> anyhow::Result<Fitted> {
    let subset = training.images.map(|n| data.with_train_subset(n, seed::derive(training.seed, "training images")));
    let data = subset.as_ref().unwrap_or(data);
    fit_recipe(&training.recipe, training.seed, data, progress, one_thread_each(&training.recipe, data.train.0.device()))
}

/// `training` trained alone on `data` and kept as one of `parts`, its
/// time counted from `started`.
fn fit_and_keep(training: &Training, data: &Splits, progress: &ProgressBar, parts: &Parts, started: Instant) -> anyhow::Result<Done> {
    progress.set_prefix(training.name.clone());
    let fitted = fit_training(training, data, progress)?;
    progress.set_prefix("");
    keep_fitted(parts, &training.name, fitted, started.elapsed())
}

/// A training just fitted, kept as part `name` of `parts`, that `took` so long.
fn keep_fitted(parts: &Parts, name: &str, (vs, model, history): Fitted, took: Duration) -> anyhow::Result<Done> {
    let kept = parts.store(name, &history, save_weights(&vs)?, took)?;
    Ok(Done { model, history, wall_seconds: kept.wall_seconds })
}

/// `training`'s network with the weights and history of its checkpoint.
fn from_kept(training: &Training, kept: checkpoint::Checkpoint, device: tch::Device) -> anyhow::Result<Done> {
    let (mut vs, model) = build(&training.recipe, device);
    load_weights(&mut vs, &kept.weights).with_context(|| format!("{}: its checkpoint does not fit its network", training.name))?;
    let history =
        serde_json::from_value(kept.history).with_context(|| format!("{}: its checkpoint's history cannot be read", training.name))?;
    Ok(Done { model, history, wall_seconds: kept.wall_seconds })
}

/// `training` as one of `parts`, with its weights: from its checkpoint, or
/// trained on `data`; `None` where it is another job's.
pub fn train_kept(training: &Training, data: &Splits, progress: &ProgressBar, parts: &Parts) -> anyhow::Result<Option<Done>> {
    check_split(training, data)?;
    match parts.lookup(&training.name) {
        Lookup::Kept(kept) => from_kept(training, kept, data.train.0.device()).map(Some),
        Lookup::Compute(started) => fit_and_keep(training, data, progress, parts, started).map(Some),
        Lookup::OtherJob => Ok(None),
    }
}

/// The values of every variable of `vs`, as a checkpoint keeps them, in
/// the order of their names: the same weights are the same bytes (the
/// store's own order changes from one process to the next).
pub fn save_weights(vs: &nn::VarStore) -> anyhow::Result<Vec<u8>> {
    let mut named: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let mut weights = Vec::new();
    tch::Tensor::save_multi_to_stream(&named, &mut weights)?;
    Ok(weights)
}

/// Sets every variable of `vs` to its value in `weights` (`save_weights`).
pub fn load_weights(vs: &mut nn::VarStore, weights: &[u8]) -> anyhow::Result<()> {
    Ok(vs.load_from_stream(std::io::Cursor::new(weights))?)
}

/// Accuracy of `model` on the test split.
pub fn test_accuracy(model: &dyn ModuleT, data: &Splits) -> f64 {
    train::evaluate(model, &batches(&data.test)).1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_training_subset_is_drawn_from_its_seed_and_leaves_the_other_splits_alone() {
        let pair = |n: i64| (Tensor::arange(2 * n, tch::kind::FLOAT_CPU).view([n, 2]), Tensor::arange(n, tch::kind::INT64_CPU));
        let splits = Splits { train: pair(10), validation: pair(3), test: pair(4), holdout: None };
        let subset = splits.with_train_subset(4, 9);
        let labels = Vec::<i64>::try_from(&subset.train.1).unwrap();
        assert_eq!(labels.len(), 4);
        assert!(labels.windows(2).all(|w| w[0] < w[1]), "distinct and in their order: {labels:?}");
        let rows: Vec<f32> = labels.iter().flat_map(|&l| [2.0 * l as f32, 2.0 * l as f32 + 1.0]).collect();
        assert_eq!(Vec::<f32>::try_from(subset.train.0.flatten(0, -1)).unwrap(), rows, "each image stays with its label");
        assert!(splits.with_train_subset(4, 9).train.1.equal(&subset.train.1), "the same seed, the same images");
        assert!((0..20).any(|seed| !splits.with_train_subset(4, seed).train.1.equal(&subset.train.1)), "another seed, other images");
        assert!(subset.validation.1.equal(&splits.validation.1) && subset.test.1.equal(&splits.test.1));
        assert_eq!(splits.with_train_subset(99, 1).train.1.size(), [10], "all of them where there are no more");
    }

    #[test]
    fn cnns_side_by_side_train_to_the_bits_they_reach_one_after_another() {
        use crate::checkpoint::NoCheckpoints;
        use crate::models::cnn::ConvBlock;
        tch::manual_seed(21);
        let pair = |n: i64| (Tensor::rand([n, 784], tch::kind::FLOAT_CPU), Tensor::randint(10, [n], tch::kind::INT64_CPU));
        let splits = Splits { train: pair(96), validation: pair(16), test: pair(16), holdout: None };
        let cnn = |filters, dropout| {
            Network::Cnn(CnnConfig {
                blocks: vec![ConvBlock { filters, kernel: 3, padding: 1 }],
                batch_norm: true,
                hidden: None,
                dropout,
                precision: Precision::Float32,
                channels_last: true,
            })
        };
        let recipe = |network| Recipe {
            network,
            optimiser: Optimiser::Adam,
            epochs: 2,
            batch_size: 16,
            learning_rate: 1e-3,
            one_cycle: true,
            max_shift: 1,
            max_rotation: 0.0,
            max_scale: 0.0,
            max_elastic: 0.0,
            l2: 0.0,
        };
        let trainings = [
            Training::new("a", &recipe(cnn(4, 0.5)), 1, None),
            Training::new("b", &recipe(cnn(6, 0.3)), 2, None).on_images(Some(48)),
            Training::new("c", &recipe(cnn(4, 0.5)), 3, None),
        ];
        let weights = |threads: i32| {
            let _threads = Threads::set(threads);
            let done = train_all(&trainings, &splits, &ProgressBar::hidden(), &NoCheckpoints).unwrap();
            done.iter()
                .map(|d| {
                    let Trained::Cnn(cnn) = &d.model else { panic!("a CNN") };
                    (cnn.first_kernels().copy(), d.history.epochs.last().map(|e| e.train_loss))
                })
                .collect::<Vec<_>>()
        };
        assert_eq!([1, 2, 16, 16].map(|threads| side_by_side_copies(threads, 3)), [1, 2, 3, 3]);
        assert_eq!(side_by_side_copies(16, 20), MOST_SIDE_BY_SIDE);
        let same = |alone: &[(Tensor, Option<Option<f64>>)], together: &[(Tensor, Option<Option<f64>>)]| {
            alone.len() == 3 && alone.iter().zip(together).all(|((a, a_loss), (t, t_loss))| a.equal(t) && a_loss == t_loss)
        };
        // Other tests of this process draw from libtorch's generator without
        // the lock, and one may draw while a network here is initialised: a
        // second try tells that from a race in the code, which fails both.
        let (alone, together) = (weights(1), weights(2));
        let (alone, together) = if same(&alone, &together) { (alone, together) } else { (weights(1), weights(2)) };
        assert!(same(&alone, &together), "side by side, the same kernels and losses as alone");
        assert!(!alone[0].0.equal(&alone[2].0), "another seed, other weights");
    }

    #[test]
    fn the_schedule_warms_up_then_decays_to_zero() {
        assert!((one_cycle(2.0, 0.0) - 0.2).abs() < 1e-12);
        assert!((one_cycle(2.0, WARMUP) - 2.0).abs() < 1e-12);
        assert!(one_cycle(2.0, 0.55) < 2.0 && one_cycle(2.0, 0.55) > 0.0);
        assert!(one_cycle(2.0, 0.999_999) < 1e-5);
    }
}
