//! Training recipes beyond the notebook's: a network (a CNN, or an MLP with
//! dropout), Adam or SGD with momentum, an optional one-cycle learning rate,
//! random shifts of the training images and L2 decay, trained on the
//! training images less a held-out validation split. A study trains the
//! chosen recipe from several seeds, tests each model once, and compares
//! variants of it on the validation split only.

use std::time::Instant;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT, OptimizerConfig};
use tch::Tensor;

use crate::data::Split;
use crate::experiments::Context;
use crate::figures::{self, Figure, Series};
use crate::models::LayerSummary;
use crate::models::cnn::{Cnn, CnnConfig};
use crate::models::mlp::Mlp;
use crate::seed;
use crate::shift;
use crate::stats::mean_std;
use crate::train::{self, Batches, FitOptions, History};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    Cnn(CnnConfig),
    /// Dense ReLU layers with dropout after each.
    Mlp { hidden: Vec<i64>, dropout: f64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Optimiser {
    Adam,
    /// With Nesterov momentum.
    Sgd { momentum: f64 },
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

/// Images and labels of the training, validation and test splits, on the device.
pub struct Splits {
    pub train: (Tensor, Tensor),
    pub validation: (Tensor, Tensor),
    pub test: (Tensor, Tensor),
}

impl Splits {
    pub fn new(train: &Split, validation: &Split, test: &Split, device: tch::Device) -> Splits {
        let pair = |s: &Split| (s.images_tensor(device), s.labels_tensor(device));
        Splits { train: pair(train), validation: pair(validation), test: pair(test) }
    }
}

pub fn batches(pair: &(Tensor, Tensor)) -> Batches<'_> {
    Batches { images: &pair.0, labels: &pair.1 }
}

/// Trains a network by `recipe` from `seed` (initialisation, dropout, batch
/// order and shifts), validating after every epoch.
pub fn train(recipe: &Recipe, seed: u64, data: &Splits, ctx: &Context) -> anyhow::Result<(Trained, History)> {
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(ctx.device);
    let model = match &recipe.network {
        Network::Cnn(config) => Trained::Cnn(Cnn::new(&vs.root(), config)),
        Network::Mlp { hidden, dropout } => Trained::Mlp(Mlp::new(&vs.root(), hidden).with_dropout(*dropout)),
    };
    let mut opt = match recipe.optimiser {
        Optimiser::Adam => nn::Adam::default().build(&vs, recipe.learning_rate)?,
        Optimiser::Sgd { momentum } => {
            nn::Sgd { momentum, nesterov: momentum > 0.0, ..Default::default() }.build(&vs, recipe.learning_rate)?
        }
    };
    let (max_shift, max_rotation, max_scale) = (recipe.max_shift, recipe.max_rotation, recipe.max_scale);
    let augment = move |xs: &Tensor, rng: &mut ChaCha8Rng| {
        let shifted = shift::random_shift(xs, max_shift, rng);
        shift::random_rotate_scale(&shifted, max_rotation, max_scale, rng)
    };
    let augmented = max_shift > 0 || max_rotation > 0.0 || max_scale > 0.0;
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
        augment: augmented.then_some(&augment as &dyn Fn(&Tensor, &mut ChaCha8Rng) -> Tensor),
        learning_rate: recipe.one_cycle.then_some(&schedule as &dyn Fn(f64) -> f64),
        progress: ctx.progress,
    };
    let history = train::fit(&model, &mut opt, &batches(&data.train), &batches(&data.validation), &options);
    Ok((model, history))
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replicate {
    pub seed: u64,
    pub history: History,
    pub test_accuracy: f64,
    pub seconds_per_epoch: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AblationRow {
    pub name: String,
    pub validation_accuracy: f64,
    pub seconds_per_epoch: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Study {
    pub summary: Vec<LayerSummary>,
    pub parameters: i64,
    pub train_images: usize,
    pub validation_images: usize,
    pub replicates: Vec<Replicate>,
    pub test_accuracy_mean: f64,
    pub test_accuracy_std: f64,
    pub validation_accuracy_mean: f64,
    /// Training time of all replicates together, evaluation included.
    pub replicates_seconds: f64,
    /// The chosen recipe (first replicate), then each variant from the same seed.
    pub ablation: Vec<AblationRow>,
}

pub fn seconds_per_epoch(history: &History) -> f64 {
    history.train_seconds / history.epochs.len() as f64
}

pub fn test_accuracy(model: &dyn ModuleT, data: &Splits) -> f64 {
    train::evaluate(model, &batches(&data.test)).1
}

/// Trains `chosen` from `replicates` seeds derived from `ctx.seed`, tests
/// each model once, then trains every variant of `ablations` from the first
/// seed and compares them on the validation split. Returns the first
/// replicate's model with the study.
pub fn study(
    chosen: &Recipe,
    replicates: usize,
    ablations: &[(String, Recipe)],
    data: &Splits,
    ctx: &Context,
) -> anyhow::Result<(Trained, Study)> {
    let mut runs = Vec::new();
    let mut first = None;
    let start = Instant::now();
    for r in 0..replicates {
        let seed = seed::derive(ctx.seed, &format!("replicate-{r}"));
        ctx.progress.set_prefix(format!("seed {}/{replicates}", r + 1));
        let (model, history) = train(chosen, seed, data, ctx)?;
        runs.push(Replicate { seed, test_accuracy: test_accuracy(&model, data), seconds_per_epoch: seconds_per_epoch(&history), history });
        first.get_or_insert(model);
    }
    let replicates_seconds = start.elapsed().as_secs_f64();
    let model = first.expect("at least one replicate");
    let (test_accuracy_mean, test_accuracy_std) = mean_std(&runs.iter().map(|r| r.test_accuracy).collect::<Vec<_>>());
    let (validation_accuracy_mean, _) = mean_std(&runs.iter().map(|r| r.history.final_val_accuracy).collect::<Vec<_>>());
    let mut ablation = vec![AblationRow {
        name: "chosen recipe".into(),
        validation_accuracy: runs[0].history.final_val_accuracy,
        seconds_per_epoch: runs[0].seconds_per_epoch,
    }];
    for (name, recipe) in ablations {
        ctx.progress.set_prefix(format!("ablation: {name}"));
        let (_, history) = train(recipe, runs[0].seed, data, ctx)?;
        ablation.push(AblationRow { name: name.clone(), validation_accuracy: history.final_val_accuracy, seconds_per_epoch: seconds_per_epoch(&history) });
    }
    ctx.progress.set_prefix("");
    let summary = model.summary();
    let study = Study {
        parameters: summary.iter().map(|l| l.parameters).sum(),
        summary,
        train_images: data.train.1.size()[0] as usize,
        validation_images: data.validation.1.size()[0] as usize,
        replicates: runs,
        test_accuracy_mean,
        test_accuracy_std,
        validation_accuracy_mean,
        replicates_seconds,
        ablation,
    };
    Ok((model, study))
}

/// Training and validation accuracy per epoch, each the mean over a study's seeds.
pub fn study_curves(name: &str, study: &Study) -> anyhow::Result<Figure> {
    let epochs = study.replicates[0].history.epochs.len();
    let mean_curve = |f: fn(&train::EpochMetrics) -> f64| -> Vec<(f64, f64)> {
        (0..epochs)
            .map(|e| {
                let values: Vec<f64> = study.replicates.iter().filter_map(|r| r.history.epochs.get(e)).map(f).collect();
                ((e + 1) as f64, values.iter().sum::<f64>() / values.len() as f64)
            })
            .collect()
    };
    figures::curves(
        name,
        "epoch",
        "accuracy (mean over seeds)",
        &[
            Series { label: "training (shifted images, dropout on)", colour: figures::TRAIN_COLOUR, points: mean_curve(|e| e.train_accuracy) },
            Series { label: "validation", colour: figures::VALIDATION_COLOUR, points: mean_curve(|e| e.val_accuracy) },
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_warms_up_then_decays_to_zero() {
        assert!((one_cycle(2.0, 0.0) - 0.2).abs() < 1e-12);
        assert!((one_cycle(2.0, WARMUP) - 2.0).abs() < 1e-12);
        assert!(one_cycle(2.0, 0.55) < 2.0 && one_cycle(2.0, 0.55) > 0.0);
        assert!(one_cycle(2.0, 0.999_999) < 1e-5);
    }
}
