//! Question 2: fully connected classifiers. A-C: the notebook's 784-64-64-10
//! network trained with SGD for 10 epochs.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tch::nn::{self, OptimizerConfig};

use super::{Context, Experiment};
use crate::models::LayerSummary;
use crate::models::mlp::Mlp;
use crate::figures::{self, Figure, Series};
use crate::profile::Profile;
use crate::train::{self, Batches, FitOptions, History};

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
    Ok(MlpResult { parameters: summary.iter().map(|l| l.parameters).sum(), summary, history })
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
