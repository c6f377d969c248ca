//! Question 3: a convolutional network. A: the chosen CNN trained on the
//! training images less a held-out validation split, several seeds, each
//! tested once; an ablation of its ingredients and the reference network on
//! the validation split; the confusion matrix and the misclassified test
//! digits. B: parameters and training FLOPs against the MLPs, accuracy on
//! shifted test images, the first layer's filters and one digit's feature
//! maps. Its MLP is question 2 D's tuned network, reused, not retrained.

use serde::{Deserialize, Serialize};
use tch::nn::ModuleT;
use tch::{Kind, Tensor};

use crate::checkpoint::Unit;
use crate::data::{self, CLASSES, Split};
use crate::experiment::{About, Context, Experiment};
use crate::models::LayerSummary;
use crate::models::cnn::{Cnn, CnnConfig};
use crate::networks;
use crate::precision::Precision;
use crate::profile::{Profile, at_least_one};
use crate::recipe::{self, Holdout, Network, Recipe, Splits, Trained, Training};
use crate::seed;
use crate::shift::{self, DIRECTIONS};
use crate::study::{self, Design, Study, ValidationRow, Variant};
use crate::train::{self, Batches, History};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub chosen: Recipe,
    pub replicates: usize,
    /// Epochs of each ablation run, fewer than the chosen recipe's: what an
    /// ingredient does shows early, and the ablation costs as much as the seeds.
    pub ablation_epochs: usize,
    /// Training images of each ablation run, a random third of them: the
    /// direction of each ingredient's effect at a fraction of the cost.
    pub ablation_images: Option<usize>,
    /// Variants of the chosen recipe trained with the first replicate's seed
    /// for the ablation's epochs and compared on the validation split.
    pub variants: Vec<Variant>,
    /// The speed reference: Keras's MNIST example network.
    pub reference: Recipe,
    /// Question 2 D's tuned MLP, for the cost table and the test accuracy
    /// (its replicates, the models question 2 D trained) and the
    /// translation test (its first replicate).
    pub wide_mlp: Recipe,
    pub wide_mlp_replicates: usize,
    /// The notebook's MLP of question 2 A-C, for the cost table.
    pub notebook_mlp: Recipe,
    /// Images held out of the training images to choose the design on.
    pub validation_images: usize,
    pub max_test_shift: i64,
    pub shown_misclassified: usize,
    pub train_images: usize,
    pub test_images: usize,
}

/// Accuracy on the shifted test images, per direction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Translation {
    pub model: String,
    /// (direction, accuracy at 0, 1, ... pixels on that direction's part of the test set)
    pub by_direction: Vec<(String, Vec<f64>)>,
    /// By pixels, the accuracy over the whole test set, each image moved in its part's direction.
    pub mean: Vec<f64>,
}

/// The translation test of each network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Translations {
    pub chosen_cnn: Translation,
    pub reference_cnn: Translation,
    pub wide_mlp: Translation,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cost {
    pub model: String,
    pub parameters: i64,
    /// Multiply-accumulates of one image's forward pass.
    pub forward_macs: i64,
    pub epochs: usize,
    /// Training FLOPs (`models::training_flops_per_image`) over every
    /// training image and epoch.
    pub training_flops: f64,
    pub seconds_per_epoch: Option<f64>,
    pub test_accuracy: Option<f64>,
}

/// What each network costs, and the accuracy of those trained here.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Costs {
    pub notebook_mlp: Cost,
    pub wide_mlp: Cost,
    pub reference_cnn: Cost,
    pub chosen_cnn: Cost,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Misclassified {
    pub index: usize,
    pub label: i64,
    pub predicted: i64,
    pub image: Vec<u8>,
}

/// The first replicate's errors on the test set.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Errors {
    /// Rows: true class; columns: predicted class.
    pub confusion: Vec<Vec<u64>>,
    pub errors: usize,
    /// The first of them in test-set order.
    pub misclassified: Vec<Misclassified>,
}

/// What the first layer computes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FirstLayer {
    /// The first layer's kernels, each scaled to 0..255, and their side.
    pub filters: Vec<Vec<u8>>,
    pub filter_side: usize,
    /// One test digit and the first layer's feature maps of it, each scaled to 0..255.
    pub feature_digit: Vec<u8>,
    pub feature_maps: Vec<Vec<u8>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Output {
    /// The chosen network's seeds and the ablation of its ingredients.
    #[serde(flatten)]
    pub study: Study,
    /// The reference network on the validation split, from the first seed.
    pub reference: ValidationRow,
    pub reference_summary: Vec<LayerSummary>,
    pub reference_test_accuracy: f64,
    pub reference_seconds_per_epoch: f64,
    /// The most CNN trainings that train at a time, each on one CPU thread
    /// (`recipe::train_all`), in a run of these threads and device; 1 where
    /// they train one after another (on one thread, or on a GPU).
    pub side_by_side: usize,
    /// Test accuracy of each of question 2 D's tuned MLPs, by replicate;
    /// `costs.wide_mlp.test_accuracy` is their mean.
    pub wide_mlp_test_accuracies: Vec<f64>,
    pub costs: Costs,
    pub translation: Translations,
    #[serde(flatten)]
    pub errors: Errors,
    #[serde(flatten)]
    pub first_layer: FirstLayer,
}

pub struct ConvolutionalNetwork(pub Config);

impl ConvolutionalNetwork {
    pub fn new(profile: Profile, precision: Precision) -> Self {
        let chosen = networks::chosen_cnn(precision, profile.epochs(10));
        let ablation_epochs = profile.epochs(5);
        let short = Recipe { epochs: ablation_epochs, ..chosen.clone() };
        let without_norm = match &chosen.network {
            Network::Cnn(cnn) => Network::Cnn(CnnConfig { batch_norm: false, ..cnn.clone() }),
            Network::Mlp { .. } => unreachable!("the chosen network is a CNN"),
        };
        let variants = vec![
            Variant::new("without random shifts", Recipe { max_shift: 0, ..short.clone() }),
            Variant::new("constant learning rate", Recipe { one_cycle: false, learning_rate: 1e-3, ..short.clone() }),
            Variant::new("without batch normalisation", Recipe { network: without_norm, ..short }),
        ];
        ConvolutionalNetwork(Config {
            chosen,
            replicates: profile.replicates(3),
            ablation_epochs,
            ablation_images: Some(profile.train_images() / 3),
            variants,
            reference: networks::reference_cnn(precision, profile.epochs(6)),
            wide_mlp: networks::tuned_wide_mlp(precision, profile.epochs(40)),
            wide_mlp_replicates: profile.replicates(3),
            notebook_mlp: networks::notebook_mlp(profile.epochs(10)),
            validation_images: profile.validation_images(),
            max_test_shift: shift::MAX_SHIFT,
            shown_misclassified: 48,
            train_images: profile.train_images(),
            test_images: profile.test_images(),
        })
    }
}

/// Counts of (true class, predicted class) pairs.
pub fn confusion_matrix(labels: &[i64], predicted: &[i64]) -> Vec<Vec<u64>> {
    let mut counts = vec![vec![0u64; CLASSES]; CLASSES];
    for (&t, &p) in labels.iter().zip(predicted) {
        counts[t as usize][p as usize] += 1;
    }
    counts
}

/// The test images split at random into one part per direction of
/// `DIRECTIONS`, their sizes at most one apart, each sorted: indices into
/// the test set. Fewer test images than directions leave some parts empty.
fn direction_parts(test_images: usize, seed: u64) -> Vec<Vec<i64>> {
    let indices = data::shuffled(test_images, seed);
    let parts = DIRECTIONS.len();
    (0..parts)
        .map(|k| {
            let mut part: Vec<i64> = indices[k * test_images / parts..(k + 1) * test_images / parts].iter().map(|&i| i as i64).collect();
            part.sort_unstable();
            part
        })
        .collect()
}

/// Accuracy on the test images shifted by 0..=max pixels. Each direction
/// moves its own part of the test set (`parts`), so that one shift costs one
/// pass over the test images, and the mean over the directions, weighted by
/// the parts' sizes, is the accuracy over the whole test set.
fn translation(name: &str, model: &dyn ModuleT, test: &(Tensor, Tensor), parts: &[Vec<i64>], max: i64) -> Translation {
    let mut total = vec![0.0; max as usize + 1];
    let by_direction: Vec<(String, Vec<f64>)> = DIRECTIONS
        .iter()
        .zip(parts)
        .filter(|(_, part)| !part.is_empty())
        .map(|(&(direction, down, right), part)| {
            let index = Tensor::from_slice(part).to_device(test.0.device());
            let (images, labels) = (test.0.index_select(0, &index), test.1.index_select(0, &index));
            let accuracies: Vec<f64> = (0..=max)
                .map(|s| train::evaluate(model, &Batches { images: &shift::shift_all(&images, down * s, right * s), labels: &labels }).1)
                .collect();
            for (sum, accuracy) in total.iter_mut().zip(&accuracies) {
                *sum += accuracy * part.len() as f64;
            }
            (direction.to_owned(), accuracies)
        })
        .collect();
    let mean = total.iter().map(|sum| sum / test.0.size()[0] as f64).collect();
    Translation { model: name.to_owned(), by_direction, mean }
}

/// Each image scaled so that its smallest value is 0 and its largest 255.
fn to_grey(images: &Tensor) -> anyhow::Result<Vec<Vec<u8>>> {
    let flat = images.flatten(1, -1).to_kind(Kind::Float);
    let lo = flat.amin([1i64].as_slice(), true);
    let hi = flat.amax([1i64].as_slice(), true);
    let scaled = ((flat - &lo) / (hi - &lo).clamp_min(1e-12) * 255.0).round().to_kind(Kind::Uint8);
    (0..scaled.size()[0]).map(|i| Ok(Vec::<u8>::try_from(scaled.get(i))?)).collect()
}

/// What `recipe` costs over `images` training images and its epochs, with
/// the time and accuracy measured where it was trained here.
fn cost(model: &str, recipe: &Recipe, images: usize, measured: Option<(&History, f64)>) -> Cost {
    let forward_macs = recipe.network.forward_macs();
    Cost {
        model: model.to_owned(),
        parameters: recipe.network.parameters(),
        forward_macs,
        epochs: recipe.epochs,
        training_flops: recipe.network.training_flops_per_image() * images as f64 * recipe.epochs as f64,
        seconds_per_epoch: measured.map(|(history, _)| history.seconds_per_epoch()),
        test_accuracy: measured.map(|(_, accuracy)| accuracy),
    }
}

impl Config {
    fn design(&self) -> Design<'_> {
        Design::new(networks::CNN_STUDY, &self.chosen, self.replicates, &self.variants, self.ablation_epochs, self.ablation_images)
    }

    fn holdout(&self, shared_seed: u64) -> Holdout {
        Holdout::shared(self.validation_images, shared_seed)
    }

    /// The study's trainings, then the reference CNN from the first
    /// replicate's seed, then question 2 D's tuned MLPs, by replicate.
    fn trainings(&self, shared_seed: u64) -> Vec<Training> {
        let holdout = self.holdout(shared_seed);
        let mut trainings = self.design().trainings(shared_seed, holdout);
        let first_seed = study::replicate_seed(networks::CNN_STUDY, 0, shared_seed);
        trainings.push(Training::new("reference cnn", &self.reference, first_seed, Some(holdout)));
        trainings.extend(
            (0..self.wide_mlp_replicates).map(|r| study::replicate(networks::TUNED_MLP_STUDY, &self.wide_mlp, r, shared_seed, holdout)),
        );
        trainings
    }
}

fn errors(cnn: &Cnn, data: &Splits, test: &Split, shown: usize) -> anyhow::Result<Errors> {
    let labels = Vec::<i64>::try_from(&data.test.1)?;
    let predicted = Vec::<i64>::try_from(train::predict(cnn, &data.test.0))?;
    let wrong: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] != predicted[i]).collect();
    let misclassified = wrong
        .iter()
        .take(shown)
        .map(|&i| Misclassified { index: i, label: labels[i], predicted: predicted[i], image: test.image(i).to_vec() })
        .collect();
    Ok(Errors { confusion: confusion_matrix(&labels, &predicted), errors: wrong.len(), misclassified })
}

fn first_layer(cnn: &Cnn, data: &Splits, test: &Split) -> anyhow::Result<FirstLayer> {
    let kernels = cnn.first_kernels().to_device(tch::Device::Cpu);
    let digit = data.test.0.narrow(0, 0, 1);
    Ok(FirstLayer {
        filters: to_grey(&kernels)?,
        filter_side: kernels.size()[2] as usize,
        feature_digit: test.image(0).to_vec(),
        feature_maps: to_grey(&cnn.first_feature_maps(&digit).squeeze_dim(0).to_device(tch::Device::Cpu))?,
    })
}

pub fn run(c: &Config, ctx: &Context) -> anyhow::Result<Output> {
    let data = Splits::held_out(ctx.data, c.holdout(ctx.shared_seed), ctx.device);
    let train_images = data.train.1.size()[0] as usize;
    let trainings = c.trainings(ctx.shared_seed);
    let one_thread_each = trainings.iter().filter(|t| recipe::one_thread_each(&t.recipe, ctx.device)).count();
    let side_by_side = recipe::side_by_side_copies(tch::get_num_threads(), one_thread_each).max(1);
    let mut done = recipe::train_all(&trainings, &data, ctx.progress, ctx.checkpoints)?;
    let wide_mlps = done.split_off(done.len() - c.wide_mlp_replicates);
    let Some(reference) = done.pop() else { unreachable!("the reference CNN precedes the MLPs") };
    let wide_mlp = &wide_mlps[0];
    let (chosen, study) = c.design().assemble(ctx.shared_seed, done, &data)?;
    let Trained::Cnn(cnn) = chosen else { anyhow::bail!("question 3's chosen recipe must be a CNN") };
    ctx.progress.set_message("measuring translation robustness");
    let reference_test_accuracy = recipe::test_accuracy(&reference.model, &data);
    let wide_mlp_test_accuracies: Vec<f64> = wide_mlps.iter().map(|m| recipe::test_accuracy(&m.model, &data)).collect();
    let wide_mlp_test_accuracy = crate::stats::mean_std(&wide_mlp_test_accuracies).0;
    let costs = Costs {
        notebook_mlp: cost("MLP 64-64 (Q2 A-C)", &c.notebook_mlp, train_images, None),
        wide_mlp: cost("tuned MLP 500-300 (Q2 D)", &c.wide_mlp, train_images, Some((&wide_mlp.history, wide_mlp_test_accuracy))),
        reference_cnn: cost("reference CNN", &c.reference, train_images, Some((&reference.history, reference_test_accuracy))),
        chosen_cnn: Cost {
            seconds_per_epoch: Some(study.replicates[0].seconds_per_epoch),
            test_accuracy: Some(study.test_accuracy_mean),
            ..cost("chosen CNN", &c.chosen, train_images, None)
        },
    };
    let parts = direction_parts(ctx.data.test.len(), seed::derive(ctx.seed, "translation directions"));
    let translation = Translations {
        chosen_cnn: translation("chosen CNN", &cnn, &data.test, &parts, c.max_test_shift),
        reference_cnn: translation("reference CNN (trained without shifts)", &reference.model, &data.test, &parts, c.max_test_shift),
        wide_mlp: translation("tuned MLP 500-300 (Q2 D)", &wide_mlp.model, &data.test, &parts, c.max_test_shift),
    };
    let output = Output {
        reference: ValidationRow::new("reference network (no batch norm, shifts or schedule)", &reference.history),
        reference_summary: reference.model.summary(),
        reference_test_accuracy,
        reference_seconds_per_epoch: reference.history.seconds_per_epoch(),
        side_by_side,
        wide_mlp_test_accuracies,
        costs,
        translation,
        errors: errors(&cnn, &data, &ctx.data.test, c.shown_misclassified)?,
        first_layer: first_layer(&cnn, &data, &ctx.data.test)?,
        study,
    };
    ctx.progress.finish_and_clear();
    Ok(output)
}

impl Experiment for ConvolutionalNetwork {
    type Config = Config;
    type Output = Output;
    const ABOUT: About = About {
        id: "q3_cnn",
        title: "Q3 CNN: chosen design x seeds, ablation, reference CNN, MLP; translation, errors, filters",
        version: 1,
        source_file: file!(),
    };
    fn config(&self) -> &Config {
        &self.0
    }
    fn precision(&self) -> Precision {
        cnn_config(&self.0.chosen).map_or(Precision::Float32, |c| c.precision)
    }
    /// Its own trainings': the tuned MLPs are question 2 D's.
    fn training_images(&self) -> u64 {
        let c = &self.0;
        let train = c.train_images - c.validation_images;
        c.design().training_images(train) + (c.reference.epochs * train) as u64
    }
    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(cnn_config(&self.0.chosen).is_some(), "the chosen recipe must be a CNN");
        at_least_one(self.0.validation_images, "the number of validation images")?;
        at_least_one(self.0.wide_mlp_replicates, "the number of tuned MLP replicates")?;
        self.0.design().check()
    }
    fn trainings(&self, _seed: u64, shared_seed: u64) -> Vec<Unit> {
        self.0.trainings(shared_seed).iter().map(Training::unit).collect()
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Output> {
        run(&self.0, ctx)
    }
}

/// The CNN of a recipe, if it trains one.
pub fn cnn_config(recipe: &Recipe) -> Option<&CnnConfig> {
    match &recipe.network {
        Network::Cnn(config) => Some(config),
        Network::Mlp { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_confusion_matrix_counts_every_test_image_once() {
        let labels = [0, 1, 1, 2, 9, 9, 9];
        let predicted = [0, 1, 7, 2, 9, 4, 9];
        let m = confusion_matrix(&labels, &predicted);
        assert_eq!(m.iter().flatten().sum::<u64>(), labels.len() as u64);
        assert_eq!((m[1][1], m[1][7], m[9][4], m[9][9]), (1, 1, 1, 2));
        let row_sums: Vec<u64> = m.iter().map(|row| row.iter().sum()).collect();
        assert_eq!(row_sums, [1, 2, 1, 0, 0, 0, 0, 0, 0, 3]);
    }

    #[test]
    fn each_test_image_moves_in_one_direction_and_the_mean_is_over_the_whole_test_set() {
        let parts = direction_parts(10, 7);
        assert_eq!(parts.iter().map(Vec::len).collect::<Vec<_>>(), [2, 3, 2, 3]);
        assert!(parts.iter().all(|p| p.is_sorted()));
        let mut all: Vec<i64> = parts.concat();
        all.sort_unstable();
        assert_eq!(all, (0..10).collect::<Vec<i64>>());
        assert_ne!(direction_parts(10, 8), parts, "the seed chooses the parts");
        assert_eq!(direction_parts(3, 7).iter().filter(|p| p.is_empty()).count(), 1);

        tch::manual_seed(3);
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let mlp = crate::models::mlp::Mlp::new(&vs.root(), &[8]);
        let images = Tensor::rand([10, crate::data::PIXELS as i64], (Kind::Float, tch::Device::Cpu));
        let labels = Tensor::randint(CLASSES as i64, [10], (Kind::Int64, tch::Device::Cpu));
        let whole = train::evaluate(&mlp, &Batches { images: &images, labels: &labels }).1;
        let three = (images.narrow(0, 0, 3), labels.narrow(0, 0, 3));
        let whole_three = train::evaluate(&mlp, &Batches { images: &three.0, labels: &three.1 }).1;
        let t = translation("mlp", &mlp, &(images, labels), &parts, 2);
        assert_eq!(t.mean.len(), 3);
        assert!((t.mean[0] - whole).abs() < 1e-12, "{} against {whole}", t.mean[0]);
        assert!(t.by_direction.iter().all(|(_, a)| a.len() == 3));
        let t = translation("mlp", &mlp, &three, &direction_parts(3, 7), 2);
        assert_eq!(t.by_direction.len(), 3, "no direction for the empty part");
        assert!((t.mean[0] - whole_three).abs() < 1e-12);
    }

    #[test]
    fn grey_scaling_spans_the_full_range_per_image() {
        let images = Tensor::from_slice(&[-1.0f32, 0.0, 3.0, 5.0, 5.0, 6.0]).view([2, 3]);
        assert_eq!(to_grey(&images).unwrap(), [vec![0, 64, 255], vec![0, 0, 255]]);
    }
}
