//! Question 2: fully connected classifiers. A-C: the notebook's 784-64-64-10
//! network trained with SGD for 10 epochs. D: the 784-500-300-10 network
//! without and with weight decay, all factors and replicates trained together.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tch::nn::{self, OptimizerConfig};

use super::{Context, Experiment};
use crate::models::LayerSummary;
use crate::models::batched_mlp::BatchedMlp;
use crate::models::mlp::Mlp;
use crate::figures::{self, Figure, Series};
use crate::profile::Profile;
use crate::recipe::{self, Network, Optimiser, Recipe, Splits, Study};
use crate::seed;
use crate::stats::{mean_std, paired_t};
use crate::train::{self, BatchedFitOptions, Batches, FitOptions, History};

/// Settings of one fully connected network's training.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MlpConfig {
    pub hidden: Vec<i64>,
    pub learning_rate: f64,
    pub batch_size: i64,
    pub epochs: usize,
    /// Keras `l2` factor on the hidden kernels (0 for none).
    pub l2: f64,
    pub train_images: usize,
    pub test_images: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MlpResult {
    pub summary: Vec<LayerSummary>,
    pub parameters: i64,
    pub history: History,
}

/// Trains one MLP as the notebook does: SGD without momentum, categorical
/// cross-entropy, the test set as validation data.
pub fn train_mlp(config: &MlpConfig, ctx: &Context) -> anyhow::Result<MlpResult> {
    Ok(fit_mlp(config, ctx)?.1)
}

/// As `train_mlp`, also returning the trained network.
pub fn fit_mlp(config: &MlpConfig, ctx: &Context) -> anyhow::Result<(Mlp, MlpResult)> {
    tch::manual_seed(ctx.seed as i64);
    let vs = nn::VarStore::new(ctx.device);
    let model = Mlp::new(&vs.root(), &config.hidden);
    let mut opt = nn::Sgd::default().build(&vs, config.learning_rate)?;
    let (train_x, train_y) = (ctx.data.train.images_tensor(ctx.device), ctx.data.train.labels_tensor(ctx.device));
    let (test_x, test_y) = (ctx.data.test.images_tensor(ctx.device), ctx.data.test.labels_tensor(ctx.device));
    let penalty = || model.hidden_kernel_sq_sum() * config.l2;
    let options = FitOptions {
        epochs: config.epochs,
        batch_size: config.batch_size,
        shuffle_seed: ctx.seed,
        penalty: (config.l2 > 0.0).then_some(&penalty as &dyn Fn() -> tch::Tensor),
        augment: None,
        learning_rate: None,
        progress: ctx.progress,
    };
    let history = train::fit(
        &model,
        &mut opt,
        &Batches { images: &train_x, labels: &train_y },
        &Batches { images: &test_x, labels: &test_y },
        &options,
    );
    let summary = model.summary();
    Ok((model, MlpResult { parameters: summary.iter().map(|l| l.parameters).sum(), summary, history }))
}

/// The notebook's network, question 2 A-C.
pub struct NotebookMlp(MlpConfig);

impl NotebookMlp {
    pub fn new(profile: Profile) -> Self {
        NotebookMlp(MlpConfig {
            hidden: vec![64, 64],
            learning_rate: 0.1,
            batch_size: 128,
            epochs: profile.epochs(10),
            l2: 0.0,
            train_images: profile.train_images(),
            test_images: profile.test_images(),
        })
    }
}

impl Experiment for NotebookMlp {
    fn id(&self) -> &'static str {
        "q2_notebook_mlp"
    }
    fn title(&self) -> &'static str {
        "Q2 A-C the notebook's 784-64-64-10 MLP, SGD 0.1"
    }
    fn version(&self) -> u32 {
        1
    }
    fn source_file(&self) -> &'static str {
        file!()
    }
    fn config(&self) -> Value {
        serde_json::to_value(&self.0).expect("config serialises")
    }
    fn training_images(&self) -> u64 {
        (self.0.epochs * self.0.train_images) as u64
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Value> {
        Ok(serde_json::to_value(train_mlp(&self.0, ctx)?)?)
    }
    fn figures(&self, result: &Value) -> anyhow::Result<Vec<Figure>> {
        let result: MlpResult = serde_json::from_value(result.clone())?;
        Ok(vec![accuracy_curves("q2_notebook_accuracy", &result.history)?])
    }
}

/// Training and validation accuracy per epoch.
pub fn accuracy_curves(name: &str, history: &History) -> anyhow::Result<Figure> {
    let points = |f: fn(&train::EpochMetrics) -> f64| history.epochs.iter().map(|e| (e.epoch as f64, f(e))).collect();
    figures::curves(
        name,
        "epoch",
        "accuracy",
        &[
            Series { label: "training (running mean over the epoch)", colour: figures::TRAIN_COLOUR, points: points(|e| e.train_accuracy) },
            Series { label: "validation (test set, after the epoch)", colour: figures::VALIDATION_COLOUR, points: points(|e| e.val_accuracy) },
        ],
    )
}

/// Hinton's test accuracy for the 784-500-300-10 network with weight decay,
/// as LeCun's MNIST page lists it (1.53 % error).
pub const HINTON_ACCURACY: f64 = 0.9847;

/// Settings of the weight-decay study of question 2 D.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepConfig {
    pub hidden: Vec<i64>,
    pub learning_rate: f64,
    pub batch_size: i64,
    pub epochs: usize,
    /// L2 factors on the hidden kernels; 0 is the network without decay.
    pub factors: Vec<f64>,
    pub replicates: usize,
    pub train_images: usize,
    pub test_images: usize,
}

/// One trained network of the study.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepRun {
    pub l2: f64,
    pub replicate: usize,
    pub seed: u64,
    pub history: History,
}

/// The replicates of one factor, summarised.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FactorSummary {
    pub l2: f64,
    pub final_mean: f64,
    pub final_std: f64,
    pub best_mean: f64,
    pub best_std: f64,
    /// Mean and standard deviation over replicates of the final accuracy
    /// minus that of the same replicate without decay (same initial weights
    /// and batches, so the comparison is paired).
    pub paired_gain_mean: f64,
    pub paired_gain_std: f64,
    /// Paired t statistic of the gain, and whether it exceeds the two-sided
    /// 95 % critical value for the replicates' degrees of freedom.
    pub paired_t: Option<f64>,
    pub gain_significant: bool,
    pub diverged: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepResult {
    pub parameters: i64,
    pub hinton: f64,
    pub factors: Vec<FactorSummary>,
    pub runs: Vec<SweepRun>,
    /// The run with the highest validation accuracy at any epoch.
    pub best_run: usize,
    pub models: usize,
    pub train_seconds: f64,
    pub seconds_per_model_epoch: f64,
}

/// How the networks of a sweep are trained: together as one batched model
/// (what the experiment does), or one after the other with autograd (the
/// reference the batched path is tested and benchmarked against). In float32
/// both give the same results within float rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepPath {
    Batched,
    OneAtATime,
}

/// Trains every factor x replicate network of `config`; replicate r of
/// every factor starts from the same weights and sees the same batches.
pub fn train_sweep(config: &SweepConfig, ctx: &Context, path: SweepPath) -> anyhow::Result<SweepResult> {
    let seeds: Vec<u64> = (0..config.replicates).map(|r| seed::derive(ctx.seed, &format!("replicate-{r}"))).collect();
    let l2: Vec<f64> = seeds.iter().flat_map(|_| config.factors.iter().copied()).collect();
    let start = std::time::Instant::now();
    let (histories, parameters) = match path {
        SweepPath::Batched => train_batched(config, ctx, &seeds, &l2)?,
        SweepPath::OneAtATime => {
            let mut histories = Vec::new();
            let mut parameters = 0;
            for (m, &factor) in l2.iter().enumerate() {
                let single = MlpConfig {
                    hidden: config.hidden.clone(),
                    learning_rate: config.learning_rate,
                    batch_size: config.batch_size,
                    epochs: config.epochs,
                    l2: factor,
                    train_images: config.train_images,
                    test_images: config.test_images,
                };
                ctx.progress.set_prefix(format!("{} {}/{}", ctx.progress.prefix().split(' ').next().unwrap_or(""), m + 1, l2.len()));
                let result = train_mlp(&single, &Context { seed: seeds[m / config.factors.len()], ..*ctx })?;
                parameters = result.parameters;
                histories.push(result.history);
            }
            (histories, parameters)
        }
    };
    let train_seconds = start.elapsed().as_secs_f64();
    let per_group = config.factors.len();
    let runs: Vec<SweepRun> = histories
        .into_iter()
        .enumerate()
        .map(|(m, history)| SweepRun { l2: l2[m], replicate: m / per_group, seed: seeds[m / per_group], history })
        .collect();
    let run = |f: usize, r: usize| &runs[r * per_group + f];
    let baseline = config.factors.iter().position(|&f| f == 0.0);
    let factors = config
        .factors
        .iter()
        .enumerate()
        .map(|(f, &factor)| {
            let finals: Vec<f64> = (0..config.replicates).map(|r| run(f, r).history.final_val_accuracy).collect();
            let bests: Vec<f64> = (0..config.replicates).map(|r| run(f, r).history.best_val_accuracy).collect();
            let gains: Vec<f64> = (0..config.replicates)
                .map(|r| finals[r] - baseline.map_or(f64::NAN, |b| run(b, r).history.final_val_accuracy))
                .collect();
            let ((final_mean, final_std), (best_mean, best_std)) = (mean_std(&finals), mean_std(&bests));
            let (paired_gain_mean, paired_gain_std) = mean_std(&gains);
            let (paired_t, gain_significant) = paired_t(&gains);
            FactorSummary {
                paired_t,
                gain_significant,
                l2: factor,
                final_mean,
                final_std,
                best_mean,
                best_std,
                paired_gain_mean,
                paired_gain_std,
                diverged: (0..config.replicates).filter(|&r| run(f, r).history.diverged_at.is_some()).count(),
            }
        })
        .collect();
    let best_run = (0..runs.len())
        .max_by(|&a, &b| runs[a].history.best_val_accuracy.total_cmp(&runs[b].history.best_val_accuracy))
        .expect("at least one run");
    Ok(SweepResult {
        parameters,
        hinton: HINTON_ACCURACY,
        factors,
        best_run,
        models: runs.len(),
        seconds_per_model_epoch: train_seconds / (runs.len() * config.epochs) as f64,
        runs,
        train_seconds,
    })
}

fn train_batched(config: &SweepConfig, ctx: &Context, seeds: &[u64], l2: &[f64]) -> anyhow::Result<(Vec<History>, i64)> {
    let model = BatchedMlp::new(ctx.device, &config.hidden, seeds, config.factors.len() as i64);
    let (train_x, train_y) = (ctx.data.train.images_tensor(ctx.device), ctx.data.train.labels_tensor(ctx.device));
    let (test_x, test_y) = (ctx.data.test.images_tensor(ctx.device), ctx.data.test.labels_tensor(ctx.device));
    let options = BatchedFitOptions {
        epochs: config.epochs,
        learning_rate: config.learning_rate,
        batch_size: config.batch_size,
        group_seeds: seeds,
        l2,
        progress: ctx.progress,
    };
    let histories = train::fit_batched(
        &model,
        &Batches { images: &train_x, labels: &train_y },
        &Batches { images: &test_x, labels: &test_y },
        &options,
    );
    Ok((histories, model.parameters_per_model()))
}

/// Question 2 D: the 500-300 network without decay and with five L2
/// factors from 1e-6 to 1e-3, each with several replicates.
pub struct WeightDecaySweep(SweepConfig);

impl WeightDecaySweep {
    pub fn new(profile: Profile) -> Self {
        let decayed = (0..5).map(|i| 1e-6 * 10f64.powf(0.75 * i as f64));
        WeightDecaySweep(SweepConfig {
            hidden: vec![500, 300],
            learning_rate: 0.1,
            batch_size: 128,
            epochs: profile.epochs(40),
            factors: std::iter::once(0.0).chain(decayed).collect(),
            replicates: profile.replicates(3),
            train_images: profile.train_images(),
            test_images: profile.test_images(),
        })
    }
}

impl Experiment for WeightDecaySweep {
    fn id(&self) -> &'static str {
        "q2_weight_decay_sweep"
    }
    fn title(&self) -> &'static str {
        "Q2 D the 784-500-300-10 MLP: no decay and 5 L2 factors x replicates, batched"
    }
    fn version(&self) -> u32 {
        2
    }
    fn source_file(&self) -> &'static str {
        file!()
    }
    fn config(&self) -> Value {
        serde_json::to_value(&self.0).expect("config serialises")
    }
    fn training_images(&self) -> u64 {
        (self.0.epochs * self.0.train_images * self.0.factors.len() * self.0.replicates) as u64
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Value> {
        Ok(serde_json::to_value(train_sweep(&self.0, ctx, SweepPath::Batched)?)?)
    }
    fn figures(&self, result: &Value) -> anyhow::Result<Vec<Figure>> {
        let result: SweepResult = serde_json::from_value(result.clone())?;
        let decayed: Vec<(f64, f64, f64)> =
            result.factors.iter().filter(|f| f.l2 > 0.0).map(|f| (f.l2, f.final_mean, f.final_std)).collect();
        let mut references = vec![figures::Reference { label: "Hinton (LeCun's MNIST page)", y: result.hinton, colour: figures::BLACK }];
        let baseline = result.factors.iter().find(|f| f.l2 == 0.0);
        if let Some(b) = baseline {
            references.push(figures::Reference { label: "no weight decay (mean)", y: b.final_mean, colour: figures::TRAIN_COLOUR });
        }
        let sweep = figures::log_factor_plot(
            "q2_weight_decay",
            "L2 factor on the hidden kernels",
            "final validation accuracy",
            &decayed,
            &references,
        )?;
        let first_baseline = result.runs.iter().find(|r| r.l2 == 0.0).unwrap_or(&result.runs[0]);
        Ok(vec![sweep, accuracy_curves("q2_wide_accuracy", &first_baseline.history)?])
    }
}

/// Settings of question 2 D's best-effort 500-300 network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TunedConfig {
    pub chosen: Recipe,
    pub replicates: usize,
    /// The chosen recipe less one ingredient each, on the validation split.
    pub ablations: Vec<(String, Recipe)>,
    pub validation_images: usize,
    pub train_images: usize,
    pub test_images: usize,
}

/// Question 2 D, "the best validation accuracy you can achieve": the same
/// 784-500-300-10 network with Nesterov momentum, a one-cycle learning rate
/// and random shifts, rotations and scalings, every choice made on a
/// validation split held out of the training images (dropout lost there),
/// the test set used once per model.
pub struct TunedMlp(TunedConfig);

impl TunedMlp {
    pub fn new(profile: Profile) -> Self {
        let chosen = Recipe {
            network: Network::Mlp { hidden: vec![500, 300], dropout: 0.0 },
            optimiser: Optimiser::Sgd { momentum: 0.9 },
            epochs: profile.epochs(40),
            batch_size: 128,
            learning_rate: 0.05,
            one_cycle: true,
            max_shift: 2,
            max_rotation: 10.0,
            max_scale: 0.1,
            l2: 0.0,
        };
        let with_dropout = Network::Mlp { hidden: vec![500, 300], dropout: 0.2 };
        let notebook_optimiser = Recipe { optimiser: Optimiser::Sgd { momentum: 0.0 }, learning_rate: 0.1, one_cycle: false, ..chosen.clone() };
        let ablations = vec![
            ("without rotations and scaling".to_owned(), Recipe { max_rotation: 0.0, max_scale: 0.0, ..chosen.clone() }),
            ("without random shifts".to_owned(), Recipe { max_shift: 0, ..chosen.clone() }),
            ("with dropout 0.2".to_owned(), Recipe { network: with_dropout, ..chosen.clone() }),
            ("plain SGD 0.1, constant rate".to_owned(), notebook_optimiser.clone()),
            (
                "none of these (the notebook's recipe)".to_owned(),
                Recipe { max_shift: 0, max_rotation: 0.0, max_scale: 0.0, ..notebook_optimiser },
            ),
        ];
        let validation_images = profile.train_images() / 12;
        TunedMlp(TunedConfig {
            chosen,
            replicates: profile.replicates(3),
            ablations,
            validation_images,
            train_images: profile.train_images(),
            test_images: profile.test_images(),
        })
    }
}

impl Experiment for TunedMlp {
    fn id(&self) -> &'static str {
        "q2_tuned_mlp"
    }
    fn title(&self) -> &'static str {
        "Q2 D the 784-500-300-10 MLP tuned on a validation split: seeds and ablation"
    }
    fn version(&self) -> u32 {
        1
    }
    fn source_file(&self) -> &'static str {
        file!()
    }
    fn config(&self) -> Value {
        serde_json::to_value(&self.0).expect("config serialises")
    }
    fn training_images(&self) -> u64 {
        let epochs = self.0.replicates * self.0.chosen.epochs + self.0.ablations.iter().map(|(_, r)| r.epochs).sum::<usize>();
        (epochs * (self.0.train_images - self.0.validation_images)) as u64
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Value> {
        let c = &self.0;
        let (train, validation) = ctx.data.train.hold_out(c.validation_images, seed::derive(ctx.seed, "validation"));
        let splits = Splits::new(&train, &validation, &ctx.data.test, ctx.device);
        let (_, study) = recipe::study(&c.chosen, c.replicates, &c.ablations, &splits, ctx)?;
        ctx.progress.finish_and_clear();
        Ok(serde_json::to_value(study)?)
    }
    fn figures(&self, result: &Value) -> anyhow::Result<Vec<Figure>> {
        let study: Study = serde_json::from_value(result.clone())?;
        Ok(vec![recipe::study_curves("q2_tuned_accuracy", &study)?])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Mnist;
    use indicatif::ProgressBar;
    use tch::Device;

    #[test]
    fn the_batched_path_matches_one_network_at_a_time() {
        let data = Mnist::load_embedded().unwrap().subset(512, 256, 3);
        let progress = ProgressBar::hidden();
        let ctx = Context { data: &data, device: Device::Cpu, seed: 11, progress: &progress };
        // Same seeds, float32 both: equal within float rounding, though the
        // batched path does its own backward pass and fused updates.
        let config = SweepConfig {
            hidden: vec![32, 16],
            learning_rate: 0.1,
            batch_size: 64,
            epochs: 2,
            factors: vec![0.0, 1e-3, 1e-2],
            replicates: 2,
            train_images: 512,
            test_images: 256,
        };
        let sweep = train_sweep(&config, &ctx, SweepPath::Batched).unwrap();
        assert_eq!(sweep.runs.len(), 6);
        let alone = train_sweep(&config, &ctx, SweepPath::OneAtATime).unwrap();
        for (run, alone) in sweep.runs.iter().zip(&alone.runs) {
            assert_eq!((run.l2, run.seed), (alone.l2, alone.seed));
            assert_eq!(alone.history.epochs.len(), run.history.epochs.len());
            for (a, b) in alone.history.epochs.iter().zip(&run.history.epochs) {
                assert!((a.train_loss.unwrap() - b.train_loss.unwrap()).abs() < 1e-4, "{a:?} vs {b:?}");
                assert!((a.val_loss.unwrap() - b.val_loss.unwrap()).abs() < 1e-4, "{a:?} vs {b:?}");
                assert!((a.val_accuracy - b.val_accuracy).abs() <= 2.0 / 256.0, "{a:?} vs {b:?}");
            }
        }
        // Replicates differ; the factors of one replicate start alike but end apart.
        assert_ne!(sweep.runs[0].history.epochs[0].train_loss, sweep.runs[3].history.epochs[0].train_loss);
        assert_ne!(sweep.runs[0].history.final_val_accuracy.to_bits(), f64::NAN.to_bits());
        assert!(sweep.runs[2].history.epochs[1].train_loss > sweep.runs[0].history.epochs[1].train_loss);
    }
}
