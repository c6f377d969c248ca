//! Appendix: the earlier edition's questions, on its 784-100-10 MLP trained
//! with plain SGD for 10 epochs and validated on the test set, as its
//! notebook did. Four studies, every one on the batched path (the models of
//! a study that share their mini-batches train as one model): the learning
//! rate (replicated), hidden width against learning rate, Gaussian noise on
//! the input, and L2 on the hidden layer. Each batched training is kept as a
//! part of its own, so it can run as a job of its own.

use serde::{Deserialize, Serialize};

use crate::checkpoint::{Parts, Unit};
use crate::experiment::{About, Context, Experiment};
use crate::models::batched_mlp::BatchedMlp;
use crate::models::mlp::dense_parameters;
use crate::precision::Precision;
use crate::profile::{Profile, at_least_one};
use crate::recipe::{self, Splits};
use crate::seed;
use crate::stats::mean_std;
use crate::train::History;
use crate::train::batched::{self, BatchedFitOptions};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// The earlier notebook's network: one hidden layer of this width.
    pub hidden: i64,
    pub epochs: usize,
    pub batch_size: i64,
    /// The rate of every study but the first two.
    pub learning_rate: f64,
    pub learning_rates: Vec<f64>,
    pub replicates: usize,
    pub widths: Vec<i64>,
    pub grid_learning_rates: Vec<f64>,
    /// Standard deviations of the input noise; 0 is the network without it.
    pub noise_stds: Vec<f64>,
    pub noise_epochs: usize,
    /// L2 factors on the hidden kernel; 0 is the network without it.
    pub l2_factors: Vec<f64>,
    /// What every study's products compute in.
    pub precision: Precision,
    pub train_images: usize,
    pub test_images: usize,
}

/// One learning rate over its replicates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RateRow {
    pub learning_rate: f64,
    pub test_accuracies: Vec<f64>,
    pub test_accuracy_mean: f64,
    pub test_accuracy_std: f64,
    pub diverged: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LearningRateStudy {
    pub rows: Vec<RateRow>,
    pub best: RateRow,
}

/// One hidden width: its accuracy at every rate of the grid, and its best.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WidthRow {
    pub width: i64,
    pub parameters: i64,
    /// In the order of `grid_learning_rates`.
    pub test_accuracies: Vec<f64>,
    pub best_accuracy: f64,
    pub best_learning_rate: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WidthStudy {
    pub rows: Vec<WidthRow>,
    /// The narrowest width whose best accuracy is within `enough` of the
    /// best of all widths: beyond it, width stops paying off.
    pub enough_width: i64,
    pub enough: f64,
    pub seconds_per_model_epoch: f64,
}

/// One network of the noise or the L2 study, after its last epoch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trained {
    /// The noise's standard deviation or the L2 factor; 0 for neither.
    pub setting: f64,
    pub test_accuracy: f64,
    pub test_loss: Option<f64>,
    pub train_accuracy: f64,
    pub train_loss: Option<f64>,
    pub history: History,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Output {
    pub learning_rate: LearningRateStudy,
    pub width: WidthStudy,
    pub input_noise: Vec<Trained>,
    pub hidden_l2: Vec<Trained>,
    pub train_images: usize,
}

pub struct EarlierEdition(pub Config);

impl EarlierEdition {
    pub fn new(profile: Profile, precision: Precision) -> Self {
        EarlierEdition(Config {
            hidden: 100,
            epochs: profile.epochs(10),
            batch_size: 128,
            learning_rate: 0.1,
            learning_rates: vec![0.001, 0.005, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0],
            replicates: profile.replicates(3),
            widths: vec![10, 25, 50, 100, 150, 250, 500, 750, 1000],
            grid_learning_rates: vec![0.001, 0.005, 0.01, 0.05, 0.1],
            noise_stds: vec![0.0, 0.1, 1.0, 10.0],
            noise_epochs: profile.epochs(30),
            l2_factors: vec![0.0, 0.001, 0.005, 0.01, 0.05, 0.1],
            precision,
            train_images: profile.train_images(),
            test_images: profile.test_images(),
        })
    }
}

/// One batched training of `per_group` models in each of `seeds.len()`
/// groups: model m at `rates[m]` with L2 factor `l2[m]`, group g's inputs
/// with noise of standard deviation `noise[g]`.
struct Batch<'a> {
    hidden: i64,
    epochs: usize,
    seeds: &'a [u64],
    rates: &'a [f64],
    l2: &'a [f64],
    noise: Option<&'a [f64]>,
}

fn train(c: &Config, data: &Splits, ctx: &Context, b: &Batch) -> anyhow::Result<Vec<History>> {
    let per_group = (b.rates.len() / b.seeds.len()) as i64;
    let model = BatchedMlp::new(ctx.device, &[b.hidden], b.seeds, per_group, c.precision);
    let options = BatchedFitOptions {
        epochs: b.epochs,
        learning_rates: b.rates,
        batch_size: c.batch_size,
        group_seeds: b.seeds,
        l2: b.l2,
        input_noise: b.noise,
        progress: ctx.progress,
    };
    batched::fit_batched(&model, &recipe::batches(&data.train), &recipe::batches(&data.validation), &options)
}

fn learning_rate_study(c: &Config, data: &Splits, ctx: &Context) -> anyhow::Result<LearningRateStudy> {
    let seeds: Vec<u64> = (0..c.replicates).map(|r| seed::derive(ctx.seed, &format!("rate-replicate-{r}"))).collect();
    let rates: Vec<f64> = seeds.iter().flat_map(|_| c.learning_rates.iter().copied()).collect();
    let batch = Batch { hidden: c.hidden, epochs: c.epochs, seeds: &seeds, rates: &rates, l2: &vec![0.0; rates.len()], noise: None };
    let histories = train(c, data, ctx, &batch)?;
    let per_rate = c.learning_rates.len();
    let rows: Vec<RateRow> = c
        .learning_rates
        .iter()
        .enumerate()
        .map(|(i, &learning_rate)| {
            let runs: Vec<&History> = (0..c.replicates).map(|r| &histories[r * per_rate + i]).collect();
            let test_accuracies: Vec<f64> = runs.iter().map(|h| h.final_val_accuracy).collect();
            let (test_accuracy_mean, test_accuracy_std) = mean_std(&test_accuracies);
            let diverged = runs.iter().filter(|h| h.diverged_at.is_some()).count();
            RateRow { learning_rate, test_accuracies, test_accuracy_mean, test_accuracy_std, diverged }
        })
        .collect();
    let best = rows.iter().max_by(|a, b| a.test_accuracy_mean.total_cmp(&b.test_accuracy_mean)).expect("at least one rate").clone();
    Ok(LearningRateStudy { rows, best })
}

/// Extra width pays off until a width's best accuracy is within this much
/// accuracy (a tenth of a percentage point) of the best of all widths.
const ENOUGH: f64 = 0.001;

/// The rates of one width, trained together: they share its initial
/// weights and every mini-batch.
fn width_histories(c: &Config, data: &Splits, ctx: &Context, width: i64) -> anyhow::Result<Vec<History>> {
    let seeds = [seed::derive(ctx.seed, "width")];
    let batch = Batch {
        hidden: width,
        epochs: c.epochs,
        seeds: &seeds,
        rates: &c.grid_learning_rates,
        l2: &vec![0.0; c.grid_learning_rates.len()],
        noise: None,
    };
    train(c, data, ctx, &batch)
}

/// The width study from each width's histories, in the order of `c.widths`.
fn width_study(c: &Config, per_width: Vec<Vec<History>>) -> WidthStudy {
    let mut rows = Vec::new();
    let mut model_epochs_seconds = 0.0;
    for (&width, histories) in c.widths.iter().zip(per_width) {
        model_epochs_seconds += histories[0].train_seconds;
        let test_accuracies: Vec<f64> = histories.iter().map(|h| h.final_val_accuracy).collect();
        let best = (0..test_accuracies.len()).max_by(|&a, &b| test_accuracies[a].total_cmp(&test_accuracies[b])).expect("a rate");
        rows.push(WidthRow {
            width,
            parameters: dense_parameters(&[width]),
            best_accuracy: test_accuracies[best],
            best_learning_rate: c.grid_learning_rates[best],
            test_accuracies,
        });
    }
    let top = rows.iter().map(|r| r.best_accuracy).fold(f64::NEG_INFINITY, f64::max);
    let enough_width = rows.iter().find(|r| r.best_accuracy >= top - ENOUGH).expect("the best width is within reach of itself").width;
    let models = (c.widths.len() * c.grid_learning_rates.len() * c.epochs) as f64;
    WidthStudy { rows, enough_width, enough: ENOUGH, seconds_per_model_epoch: model_epochs_seconds / models }
}

/// The batched trainings, each kept as a part of its own: a job's unit.
const LEARNING_RATE: &str = "learning-rate";
const INPUT_NOISE: &str = "input-noise";
const HIDDEN_L2: &str = "hidden-l2";

fn width_part(width: i64) -> String {
    format!("width-{width}")
}

impl Config {
    fn units(&self) -> Vec<Unit> {
        let unit = Unit::part;
        let widths = self.widths.iter().map(|&w| unit(&width_part(w), self.epochs));
        std::iter::once(unit(LEARNING_RATE, self.epochs))
            .chain(widths)
            .chain([unit(INPUT_NOISE, self.noise_epochs), unit(HIDDEN_L2, self.epochs)])
            .collect()
    }
}

fn trained(setting: f64, history: History) -> Trained {
    let last = history.epochs.last().cloned().expect("at least one epoch");
    Trained {
        setting,
        test_accuracy: history.final_val_accuracy,
        test_loss: last.val_loss,
        train_accuracy: last.train_accuracy,
        train_loss: last.train_loss,
        history,
    }
}

/// Networks that differ only in `settings` (noise or L2): one group per
/// noise level, each from the same initial weights and batch order; or one
/// group of models, one per L2 factor.
fn setting_study(c: &Config, data: &Splits, ctx: &Context, label: &str, settings: &[f64], noise: bool) -> anyhow::Result<Vec<Trained>> {
    let seed = seed::derive(ctx.seed, label);
    let (seeds, l2) = if noise { (vec![seed; settings.len()], vec![0.0; settings.len()]) } else { (vec![seed], settings.to_vec()) };
    let epochs = if noise { c.noise_epochs } else { c.epochs };
    let rates = vec![c.learning_rate; settings.len()];
    let batch = Batch { hidden: c.hidden, epochs, seeds: &seeds, rates: &rates, l2: &l2, noise: noise.then_some(settings) };
    let histories = train(c, data, ctx, &batch)?;
    Ok(settings.iter().zip(histories).map(|(&s, h)| trained(s, h)).collect())
}

impl Experiment for EarlierEdition {
    type Config = Config;
    type Output = Output;
    const ABOUT: About = About {
        id: "appendix_earlier_edition",
        title: "Appendix: the earlier edition's 784-100-10 MLP: learning rate, width, input noise, L2",
        version: 1,
        source_file: file!(),
    };

    fn config(&self) -> &Config {
        &self.0
    }
    fn precision(&self) -> Precision {
        self.0.precision
    }

    fn training_images(&self) -> u64 {
        let c = &self.0;
        let models_epochs = c.learning_rates.len() * c.replicates * c.epochs
            + c.widths.len() * c.grid_learning_rates.len() * c.epochs
            + c.noise_stds.len() * c.noise_epochs
            + c.l2_factors.len() * c.epochs;
        (models_epochs * c.train_images) as u64
    }

    fn check(&self) -> anyhow::Result<()> {
        let c = &self.0;
        at_least_one(c.epochs, "epochs")?;
        at_least_one(c.noise_epochs, "noise epochs")?;
        at_least_one(c.replicates, "replicates")?;
        for (list, what) in
            [(&c.learning_rates, "learning rates"), (&c.grid_learning_rates, "grid learning rates"), (&c.noise_stds, "noise levels")]
        {
            at_least_one(list.len(), what)?;
        }
        at_least_one(c.widths.len(), "widths")?;
        at_least_one(c.l2_factors.len(), "L2 factors")
    }

    fn trainings(&self, _seed: u64, _shared_seed: u64) -> Vec<Unit> {
        self.0.units()
    }

    fn run(&self, ctx: &Context) -> anyhow::Result<Output> {
        let c = &self.0;
        let data = Splits::validated_on_test(&ctx.data.train, &ctx.data.test, ctx.device);
        let parts = Parts::new(ctx.checkpoints);
        let learning_rate = parts.keep(LEARNING_RATE, || learning_rate_study(c, &data, ctx))?;
        let mut per_width = Vec::new();
        for &width in &c.widths {
            ctx.progress.set_prefix(format!("width {width}"));
            per_width.extend(parts.keep(&width_part(width), || width_histories(c, &data, ctx, width))?);
        }
        let input_noise = parts.keep(INPUT_NOISE, || setting_study(c, &data, ctx, "input-noise", &c.noise_stds, true))?;
        let hidden_l2 = parts.keep(HIDDEN_L2, || setting_study(c, &data, ctx, "hidden-l2", &c.l2_factors, false))?;
        parts.finish()?;
        let (Some(learning_rate), Some(input_noise), Some(hidden_l2)) = (learning_rate, input_noise, hidden_l2) else {
            unreachable!("finished: every part is here")
        };
        let width = width_study(c, per_width);
        Ok(Output { learning_rate, width, input_noise, hidden_l2, train_images: ctx.data.train.len() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Mnist;
    use indicatif::ProgressBar;

    fn on_cpu<'a>(data: &'a Mnist, progress: &'a ProgressBar) -> Context<'a> {
        Context { data, device: tch::Device::Cpu, seed: 5, shared_seed: 6, progress, checkpoints: &crate::checkpoint::NoCheckpoints }
    }

    #[test]
    fn every_study_has_its_replicates_and_every_average_is_an_accuracy() {
        let experiment = EarlierEdition::new(Profile::Smoke, Precision::Float32);
        let c = &experiment.0;
        let data = Mnist::load_embedded().unwrap().subset(Profile::Smoke.train_images(), Profile::Smoke.test_images(), 1);
        let progress = ProgressBar::hidden();
        let ctx = on_cpu(&data, &progress);
        let o = experiment.run(&ctx).unwrap();
        let accuracy = |a: f64| (0.0..=1.0).contains(&a);
        assert_eq!(o.learning_rate.rows.len(), c.learning_rates.len());
        for row in &o.learning_rate.rows {
            assert_eq!(row.test_accuracies.len(), c.replicates, "one accuracy per replicate");
            assert!(row.test_accuracies.iter().copied().all(accuracy) && accuracy(row.test_accuracy_mean), "{row:?}");
        }
        assert!(o.learning_rate.rows.iter().all(|r| r.test_accuracy_mean <= o.learning_rate.best.test_accuracy_mean));
        assert_eq!(o.width.rows.len(), c.widths.len());
        assert!(
            o.width
                .rows
                .iter()
                .all(|r| r.test_accuracies.len() == c.grid_learning_rates.len() && r.test_accuracies.iter().copied().all(accuracy))
        );
        assert!(c.widths.contains(&o.width.enough_width));
        assert_eq!(o.width.rows[3].parameters, 784 * 100 + 100 + 100 * 10 + 10);
        for (study, settings) in [(&o.input_noise, &c.noise_stds), (&o.hidden_l2, &c.l2_factors)] {
            assert_eq!(study.iter().map(|t| t.setting).collect::<Vec<_>>(), *settings);
            assert!(study.iter().all(|t| accuracy(t.test_accuracy) && accuracy(t.train_accuracy)));
        }
        assert_eq!(o.input_noise[0].history.epochs.len(), c.noise_epochs);
    }

    #[test]
    fn rates_batched_together_train_as_each_would_alone() {
        let experiment = EarlierEdition::new(Profile::Smoke, Precision::Float32);
        let c = Config { epochs: 1, ..experiment.0.clone() };
        let data = Mnist::load_embedded().unwrap().subset(500, 200, 1);
        let splits = Splits::validated_on_test(&data.train, &data.test, tch::Device::Cpu);
        let progress = ProgressBar::hidden();
        let ctx = on_cpu(&data, &progress);
        let together =
            train(&c, &splits, &ctx, &Batch { hidden: 20, epochs: 1, seeds: &[9], rates: &[0.01, 0.5], l2: &[0.0, 0.0], noise: None })
                .unwrap();
        for (i, rate) in [0.01, 0.5].into_iter().enumerate() {
            let alone =
                train(&c, &splits, &ctx, &Batch { hidden: 20, epochs: 1, seeds: &[9], rates: &[rate], l2: &[0.0], noise: None }).unwrap();
            let (a, b) = (together[i].epochs[0].val_loss.unwrap(), alone[0].epochs[0].val_loss.unwrap());
            assert!((a - b).abs() < 1e-4, "rate {rate}: {a} batched, {b} alone");
        }
        assert!((together[0].epochs[0].val_loss.unwrap() - together[1].epochs[0].val_loss.unwrap()).abs() > 1e-3, "the rates differ");
    }
}
