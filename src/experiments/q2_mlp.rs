//! Question 2: fully connected classifiers. A-C: the notebook's 784-64-64-10
//! network trained with SGD for 10 epochs. D: the 784-500-300-10 network
//! without and with weight decay, all factors and replicates trained
//! together; and the same network with a recipe tuned on a validation split.

use serde::{Deserialize, Serialize};

use crate::checkpoint::Unit;
use crate::experiment::{About, Context, Experiment};
use crate::models::LayerSummary;
use crate::models::batched_mlp::BatchedMlp;
use crate::networks;
use crate::precision::Precision;
use crate::profile::{Profile, at_least_one};
use crate::recipe::{self, Holdout, Network, Recipe, Splits, Training};
use crate::seed;
use crate::stats::{mean_std, paired_t};
use crate::study::{Design, Study, Variant};
use crate::train::History;
use crate::train::batched::{self, BatchedFitOptions};

/// A recipe trained on the training images and validated on the test images
/// after every epoch, as the notebook does.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotebookConfig {
    #[serde(flatten)]
    pub recipe: Recipe,
    pub train_images: usize,
    pub test_images: usize,
}

/// One dense layer of a trained classifier.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DenseLayer {
    pub inputs: i64,
    pub outputs: i64,
    pub parameters: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MlpResult {
    pub summary: Vec<LayerSummary>,
    pub parameters: i64,
    /// Pixels per image: the flattened input.
    pub inputs: i64,
    pub hidden_widths: Vec<i64>,
    /// One per class.
    pub outputs: i64,
    pub dense_layers: Vec<DenseLayer>,
    pub history: History,
}

/// The notebook's network, question 2 A-C.
pub struct NotebookMlp(NotebookConfig);

impl NotebookMlp {
    pub fn new(profile: Profile) -> Self {
        NotebookMlp(NotebookConfig {
            recipe: networks::notebook_mlp(profile.epochs(10)),
            train_images: profile.train_images(),
            test_images: profile.test_images(),
        })
    }
}

/// The hidden layers' widths of an MLP's recipe.
pub fn hidden_widths(recipe: &Recipe) -> &[i64] {
    match &recipe.network {
        Network::Mlp { hidden, .. } => hidden,
        Network::Cnn(_) => unreachable!("question 2 trains MLPs"),
    }
}

impl Experiment for NotebookMlp {
    type Config = NotebookConfig;
    type Output = MlpResult;
    const ABOUT: About =
        About { id: "q2_notebook_mlp", title: "Q2 A-C the notebook's 784-64-64-10 MLP, SGD 0.1", version: 1, source_file: file!() };
    fn config(&self) -> &NotebookConfig {
        &self.0
    }
    fn training_images(&self) -> u64 {
        (self.0.recipe.epochs * self.0.train_images) as u64
    }
    fn check(&self) -> anyhow::Result<()> {
        at_least_one(self.0.recipe.epochs, "the number of epochs")
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<MlpResult> {
        let data = Splits::validated_on_test(&ctx.data.train, &ctx.data.test, ctx.device);
        let (model, history) = recipe::train(&self.0.recipe, ctx.seed, &data, ctx.progress)?;
        let summary = model.summary();
        let widths = crate::models::mlp::widths(hidden_widths(&self.0.recipe));
        Ok(MlpResult {
            parameters: summary.iter().map(|l| l.parameters).sum(),
            inputs: widths[0],
            hidden_widths: hidden_widths(&self.0.recipe).to_vec(),
            outputs: widths[widths.len() - 1],
            dense_layers: summary
                .iter()
                .filter(|l| l.kind == crate::models::LayerKind::Dense)
                .zip(widths.windows(2))
                .map(|(l, w)| DenseLayer { inputs: w[0], outputs: w[1], parameters: l.parameters })
                .collect(),
            summary,
            history,
        })
    }
}

/// Hinton's test accuracy for the 784-500-300-10 network with weight decay,
/// as LeCun's MNIST page lists it (1.53 % error).
pub const HINTON_ACCURACY: f64 = 0.9847;

/// Settings of the weight-decay study of question 2 D.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepConfig {
    /// The network and its training without decay (plain SGD, constant rate).
    pub recipe: Recipe,
    /// L2 factors on the hidden kernels, each trained beside the network
    /// without decay.
    pub decay_factors: Vec<f64>,
    pub replicates: usize,
    pub train_images: usize,
    pub test_images: usize,
}

impl SweepConfig {
    /// Per group (replicate), the L2 factor of each model: none, then the decayed ones.
    fn factors(&self) -> Vec<f64> {
        std::iter::once(0.0).chain(self.decay_factors.iter().copied()).collect()
    }
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
    /// Hinton's accuracy for this network on LeCun's MNIST page, where the
    /// data are MNIST (on other data it is no yardstick).
    pub hinton: Option<f64>,
    /// The network without decay.
    pub baseline: FactorSummary,
    /// Each decay factor, in the config's order.
    pub decayed: Vec<FactorSummary>,
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
    let factors = config.factors();
    let seeds: Vec<u64> = (0..config.replicates).map(|r| seed::derive(ctx.seed, &format!("replicate-{r}"))).collect();
    let l2: Vec<f64> = seeds.iter().flat_map(|_| factors.iter().copied()).collect();
    let data = Splits::validated_on_test(&ctx.data.train, &ctx.data.test, ctx.device);
    let start = std::time::Instant::now();
    let histories = match path {
        SweepPath::Batched => train_batched(config, &data, ctx, &seeds, &l2)?,
        SweepPath::OneAtATime => train_one_at_a_time(config, &data, ctx, &seeds, &l2)?,
    };
    let train_seconds = start.elapsed().as_secs_f64();
    let per_group = factors.len();
    let runs: Vec<SweepRun> = histories
        .into_iter()
        .enumerate()
        .map(|(m, history)| SweepRun { l2: l2[m], replicate: m / per_group, seed: seeds[m / per_group], history })
        .collect();
    let mut summaries = (0..per_group).map(|f| summarise_factor(&runs, per_group, f, config.replicates));
    let baseline = summaries.next().expect("the network without decay is always trained");
    let decayed = summaries.collect();
    let best_run =
        (0..runs.len()).max_by(|&a, &b| runs[a].history.best_val_accuracy.total_cmp(&runs[b].history.best_val_accuracy)).unwrap_or(0);
    Ok(SweepResult {
        parameters: config.recipe.network.parameters(),
        hinton: ctx.data.provenance.data_set.digits.then_some(HINTON_ACCURACY),
        baseline,
        decayed,
        best_run,
        models: runs.len(),
        seconds_per_model_epoch: train_seconds / (runs.len() * config.recipe.epochs) as f64,
        runs,
        train_seconds,
    })
}

/// Factor `f`'s replicates (run r * per_group + f), each paired with the
/// same replicate without decay (factor 0).
fn summarise_factor(runs: &[SweepRun], per_group: usize, f: usize, replicates: usize) -> FactorSummary {
    let run = |f: usize, r: usize| &runs[r * per_group + f];
    let finals: Vec<f64> = (0..replicates).map(|r| run(f, r).history.final_val_accuracy).collect();
    let bests: Vec<f64> = (0..replicates).map(|r| run(f, r).history.best_val_accuracy).collect();
    let gains: Vec<f64> = (0..replicates).map(|r| finals[r] - run(0, r).history.final_val_accuracy).collect();
    let ((final_mean, final_std), (best_mean, best_std)) = (mean_std(&finals), mean_std(&bests));
    let (paired_gain_mean, paired_gain_std) = mean_std(&gains);
    let (paired_t, gain_significant) = paired_t(&gains);
    FactorSummary {
        l2: run(f, 0).l2,
        final_mean,
        final_std,
        best_mean,
        best_std,
        paired_gain_mean,
        paired_gain_std,
        paired_t,
        gain_significant,
        diverged: (0..replicates).filter(|&r| run(f, r).history.diverged_at.is_some()).count(),
    }
}

fn train_batched(config: &SweepConfig, data: &Splits, ctx: &Context, seeds: &[u64], l2: &[f64]) -> anyhow::Result<Vec<History>> {
    let (hidden, precision) = (hidden_widths(&config.recipe), config.recipe.network.precision());
    let model = BatchedMlp::new(ctx.device, hidden, seeds, config.factors().len() as i64, precision);
    let options = BatchedFitOptions {
        epochs: config.recipe.epochs,
        learning_rates: &vec![config.recipe.learning_rate; l2.len()],
        batch_size: config.recipe.batch_size,
        group_seeds: seeds,
        l2,
        input_noise: None,
        progress: ctx.progress,
    };
    batched::fit_batched(&model, &recipe::batches(&data.train), &recipe::batches(&data.validation), &options)
}

fn train_one_at_a_time(config: &SweepConfig, data: &Splits, ctx: &Context, seeds: &[u64], l2: &[f64]) -> anyhow::Result<Vec<History>> {
    let per_group = config.factors().len();
    let prefix = ctx.progress.prefix().split(' ').next().unwrap_or("").to_owned();
    l2.iter()
        .enumerate()
        .map(|(m, &factor)| {
            ctx.progress.set_prefix(format!("{prefix} {}/{}", m + 1, l2.len()));
            let single = Recipe { l2: factor, ..config.recipe.clone() };
            Ok(recipe::train(&single, seeds[m / per_group], data, ctx.progress)?.1)
        })
        .collect()
}

/// Question 2 D: the 500-300 network without decay and with five L2
/// factors from 1e-6 to 1e-3, each with several replicates.
pub struct WeightDecaySweep(SweepConfig);

impl WeightDecaySweep {
    pub fn new(profile: Profile, precision: Precision) -> Self {
        WeightDecaySweep(SweepConfig {
            recipe: networks::wide_mlp(precision, profile.epochs(40)),
            decay_factors: (0..5).map(|i| 1e-6 * 10f64.powf(0.75 * i as f64)).collect(),
            replicates: profile.replicates(3),
            train_images: profile.train_images(),
            test_images: profile.test_images(),
        })
    }
}

impl Experiment for WeightDecaySweep {
    type Config = SweepConfig;
    type Output = SweepResult;
    const ABOUT: About = About {
        id: "q2_weight_decay_sweep",
        title: "Q2 D the 784-500-300-10 MLP: no decay and 5 L2 factors x replicates, batched",
        version: 2,
        source_file: file!(),
    };
    fn config(&self) -> &SweepConfig {
        &self.0
    }
    fn precision(&self) -> Precision {
        self.0.recipe.network.precision()
    }
    fn training_images(&self) -> u64 {
        (self.0.recipe.epochs * self.0.train_images * self.0.factors().len() * self.0.replicates) as u64
    }
    fn check(&self) -> anyhow::Result<()> {
        at_least_one(self.0.recipe.epochs, "the number of epochs")?;
        at_least_one(self.0.replicates, "the number of replicates")
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<SweepResult> {
        train_sweep(&self.0, ctx, SweepPath::Batched)
    }
}

/// Settings of question 2 D's best-effort 500-300 network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TunedConfig {
    pub chosen: Recipe,
    pub replicates: usize,
    /// Epochs of each ablation run, a quarter of the chosen recipe's: at
    /// full length its runs would cost more than the three seeds.
    pub ablation_epochs: usize,
    /// Training images of each ablation run, a random third of them.
    pub ablation_images: Option<usize>,
    /// The chosen recipe less one ingredient each, trained for the
    /// ablation's epochs and compared on the validation split.
    pub variants: Vec<Variant>,
    pub validation_images: usize,
    pub train_images: usize,
    pub test_images: usize,
}

impl TunedConfig {
    fn design(&self) -> Design<'_> {
        Design::new(networks::TUNED_MLP_STUDY, &self.chosen, self.replicates, &self.variants, self.ablation_epochs, self.ablation_images)
    }

    fn trainings(&self, shared_seed: u64) -> Vec<Training> {
        self.design().trainings(shared_seed, Holdout::shared(self.validation_images, shared_seed))
    }
}

/// Question 2 D, "the best validation accuracy you can achieve": the same
/// 784-500-300-10 network trained by `networks::tuned_wide_mlp`, every
/// choice made on the run's validation split, the test set used once per
/// model. Questions 3 and 4 reuse its replicates.
pub struct TunedMlp(TunedConfig);

impl TunedMlp {
    pub fn new(profile: Profile, precision: Precision) -> Self {
        let notebook = networks::wide_mlp(precision, profile.epochs(40));
        let chosen = networks::tuned_wide_mlp(precision, profile.epochs(40));
        let ablation_epochs = profile.epochs(10);
        let short = Recipe { epochs: ablation_epochs, ..chosen.clone() };
        let with_dropout = Network::Mlp { hidden: vec![500, 300], dropout: 0.2, precision };
        let notebook_optimiser =
            Recipe { optimiser: notebook.optimiser.clone(), learning_rate: notebook.learning_rate, one_cycle: false, ..short.clone() };
        let variants = vec![
            Variant::new("without elastic bends", Recipe { max_elastic: 0.0, ..short.clone() }),
            Variant::new("without rotations and scaling", Recipe { max_rotation: 0.0, max_scale: 0.0, ..short.clone() }),
            Variant::new("without random shifts", Recipe { max_shift: 0, ..short.clone() }),
            Variant::new("with dropout 0.2", Recipe { network: with_dropout, ..short.clone() }),
            Variant::new("plain SGD 0.1, constant rate", notebook_optimiser),
            Variant::new("none of these (the notebook's recipe)", Recipe { epochs: ablation_epochs, ..notebook }),
        ];
        TunedMlp(TunedConfig {
            chosen,
            replicates: profile.replicates(3),
            ablation_epochs,
            ablation_images: Some(profile.train_images() / 3),
            variants,
            validation_images: profile.validation_images(),
            train_images: profile.train_images(),
            test_images: profile.test_images(),
        })
    }
}

impl Experiment for TunedMlp {
    type Config = TunedConfig;
    type Output = Study;
    const ABOUT: About = About {
        id: "q2_tuned_mlp",
        title: "Q2 D the 784-500-300-10 MLP tuned on a validation split: seeds and ablation",
        version: 1,
        source_file: file!(),
    };
    fn config(&self) -> &TunedConfig {
        &self.0
    }
    fn precision(&self) -> Precision {
        self.0.chosen.network.precision()
    }
    fn training_images(&self) -> u64 {
        let c = &self.0;
        c.design().training_images(c.train_images - c.validation_images)
    }
    fn check(&self) -> anyhow::Result<()> {
        at_least_one(self.0.validation_images, "the number of validation images")?;
        self.0.design().check()
    }
    fn trainings(&self, _seed: u64, shared_seed: u64) -> Vec<Unit> {
        self.0.trainings(shared_seed).iter().map(Training::unit).collect()
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Study> {
        let c = &self.0;
        let splits = Splits::held_out(ctx.data, Holdout::shared(c.validation_images, ctx.shared_seed), ctx.device);
        let done = recipe::train_all(&c.trainings(ctx.shared_seed), &splits, ctx.progress, ctx.checkpoints)?;
        let (_, study) = c.design().assemble(ctx.shared_seed, done, &splits)?;
        ctx.progress.finish_and_clear();
        Ok(study)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Checkpoint, Checkpoints};
    use crate::data::Mnist;
    use indicatif::ProgressBar;
    use tch::Device;

    /// A 32-16 sweep of two epochs on 512 MNIST images: each path's result
    /// for every precision given, with `decay_factors` and `replicates`.
    fn small_sweeps(decay_factors: &[f64], replicates: usize, runs: &[(Precision, SweepPath)]) -> Vec<SweepResult> {
        let data = Mnist::load_embedded().unwrap().subset(512, 256, 3);
        let progress = ProgressBar::hidden();
        let ctx = Context {
            data: &data,
            device: Device::Cpu,
            seed: 11,
            shared_seed: 12,
            progress: &progress,
            checkpoints: &crate::checkpoint::NoCheckpoints,
        };
        let config = |precision| SweepConfig {
            recipe: Recipe { batch_size: 64, ..networks::notebook_training(precision, &[32, 16], 2) },
            decay_factors: decay_factors.to_vec(),
            replicates,
            train_images: 512,
            test_images: 256,
        };
        runs.iter().map(|&(precision, path)| train_sweep(&config(precision), &ctx, path).unwrap()).collect()
    }

    #[test]
    fn the_batched_path_matches_one_network_at_a_time() {
        // Same seeds, float32 both: equal within float rounding, though the
        // batched path does its own backward pass and fused updates.
        let float32 = Precision::Float32;
        let [sweep, alone] =
            small_sweeps(&[1e-3, 1e-2], 2, &[(float32, SweepPath::Batched), (float32, SweepPath::OneAtATime)]).try_into().unwrap();
        assert_eq!(sweep.runs.len(), 6);
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

    #[test]
    fn in_bfloat16_both_paths_train_alike_and_unlike_float32() {
        let bf16 = Precision::BFloat16;
        let runs = [(bf16, SweepPath::Batched), (bf16, SweepPath::OneAtATime), (Precision::Float32, SweepPath::Batched)];
        let [batched, alone, float32] = small_sweeps(&[1e-2], 1, &runs).try_into().unwrap();
        for ((run, alone), float32) in batched.runs.iter().zip(&alone.runs).zip(&float32.runs) {
            let (b, a, f) =
                (run.history.epochs.last().unwrap(), alone.history.epochs.last().unwrap(), float32.history.epochs.last().unwrap());
            // bfloat16 keeps 8 bits of mantissa: the two paths round apart.
            assert!((a.val_loss.unwrap() - b.val_loss.unwrap()).abs() < 0.05, "{a:?} vs {b:?}");
            assert!((a.val_accuracy - b.val_accuracy).abs() <= 0.03, "{a:?} vs {b:?}");
            assert_ne!(b.train_loss, f.train_loss, "the products did not compute in bfloat16");
            assert!((b.val_accuracy - f.val_accuracy).abs() <= 0.03, "{b:?} vs {f:?}");
        }
    }

    /// Checkpoints in memory that fail to store once `kill_after` are kept,
    /// as a run killed there would, and list what trained.
    #[derive(Default)]
    struct Memory {
        kept: std::cell::RefCell<std::collections::BTreeMap<String, (serde_json::Value, Vec<u8>)>>,
        kill_after: Option<usize>,
        trained: std::cell::RefCell<Vec<String>>,
    }

    impl Checkpoints for Memory {
        fn load(&self, name: &str) -> Option<Checkpoint> {
            let kept = self.kept.borrow();
            let (history, weights) = kept.get(name)?;
            Some(Checkpoint { history: history.clone(), weights: weights.clone(), wall_seconds: 1.0, cpu_class: "test".into() })
        }
        fn store(&self, name: &str, c: &Checkpoint) -> anyhow::Result<()> {
            self.trained.borrow_mut().push(name.to_owned());
            anyhow::ensure!(Some(self.kept.borrow().len()) != self.kill_after, "killed");
            self.kept.borrow_mut().insert(name.to_owned(), (c.history.clone(), c.weights.clone()));
            Ok(())
        }
        fn wanted(&self, _: &str) -> bool {
            true
        }
    }

    /// Bit-identity with an uninterrupted run is checked end to end, in
    /// processes of their own: tests in one process share torch's generator.
    #[test]
    fn an_interrupted_study_trains_only_the_rest() {
        let data = Mnist::load_embedded().unwrap().subset(600, 200, 3);
        let progress = ProgressBar::hidden();
        let tuned = TunedMlp::new(Profile::Smoke, Precision::Float32);
        let run = |checkpoints: &dyn Checkpoints| {
            let ctx = Context { data: &data, device: Device::Cpu, seed: 7, shared_seed: 8, progress: &progress, checkpoints };
            Experiment::run(&tuned, &ctx)
        };
        let names: Vec<String> = Experiment::trainings(&tuned, 7, 8).into_iter().map(|t| t.name).collect();
        assert!(names.len() >= 3, "{names:?}");
        let memory = Memory { kill_after: Some(1), ..Memory::default() };
        assert_eq!(run(&memory).unwrap_err().to_string(), "killed");
        assert_eq!(*memory.trained.borrow(), names[..2], "killed while keeping its second training");
        memory.trained.borrow_mut().clear();
        let resumed = Memory { kill_after: None, ..memory };
        let study = run(&resumed).unwrap();
        assert_eq!(*resumed.trained.borrow(), names[1..], "only the first training was not trained again");
        assert_eq!(study.replicates.len(), tuned.0.replicates);
        assert_eq!(resumed.kept.borrow().len(), names.len());
    }

    #[test]
    fn a_config_that_cannot_give_a_result_is_refused_before_anything_runs() {
        let mut tuned = TunedMlp::new(Profile::Smoke, Precision::Float32);
        assert!(Experiment::check(&tuned).is_ok());
        tuned.0.replicates = 0;
        let error = Experiment::check(&tuned).unwrap_err().to_string();
        assert!(error.contains("the number of replicates is 0"), "{error}");
        let mut uneven = TunedMlp::new(Profile::Full, Precision::Float32);
        assert!(Experiment::check(&uneven).is_ok());
        uneven.0.ablation_epochs = 12;
        let error = Experiment::check(&uneven).unwrap_err().to_string();
        assert!(error.contains("variant \"without elastic bends\" trains 10 epochs, not the ablation's 12"), "{error}");
        let mut notebook = NotebookMlp::new(Profile::Smoke);
        notebook.0.recipe.epochs = 0;
        assert!(Experiment::check(&notebook).unwrap_err().to_string().contains("the number of epochs is 0"));
    }
}
