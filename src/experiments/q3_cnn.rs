//! Question 3: a convolutional network. A: the chosen CNN trained on the
//! training images less a held-out validation split, several seeds, each
//! tested once; an ablation of its ingredients on the validation split; the
//! confusion matrix and the misclassified test digits. B: parameters and
//! training FLOPs against the MLPs, accuracy on shifted test images, the
//! first layer's filters and one digit's feature maps.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tch::nn::ModuleT;
use tch::{Kind, Tensor};

use super::q2_mlp::{self, MlpConfig};
use super::{Context, Experiment};
use crate::data::{CLASSES, Mnist, PIXELS};
use crate::figures::{self, Figure, Series};
use crate::models::{self, LayerSummary};
use crate::models::cnn::{CnnConfig, ConvBlock};
use crate::precision::Precision;
use crate::profile::Profile;
use crate::recipe::{self, AblationRow, Network, Optimiser, Recipe, Splits, Study, Trained};
use crate::seed;
use crate::shift::{self, DIRECTIONS};
use crate::train::{self, Batches};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub chosen: Recipe,
    pub replicates: usize,
    /// Variants of the chosen recipe trained with the first replicate's seed
    /// and compared on the validation split.
    pub ablations: Vec<(String, Recipe)>,
    /// The speed reference: Keras's MNIST example network.
    pub reference: Recipe,
    /// The best MLP of question 2 D, for the translation test.
    pub mlp: MlpConfig,
    /// The notebook's MLP of question 2 A-C, for the cost table.
    pub notebook_mlp: MlpConfig,
    /// Images held out of the training images to choose the design on.
    pub validation_images: usize,
    pub max_test_shift: i64,
    pub shown_misclassified: usize,
    pub train_images: usize,
    pub test_images: usize,
}

/// Accuracy on the test set shifted by 0..=max pixels, per direction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Translation {
    pub model: String,
    /// (direction, accuracy at 0, 1, ... pixels)
    pub by_direction: Vec<(String, Vec<f64>)>,
    /// Mean over the directions, by pixels.
    pub mean: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cost {
    pub model: String,
    pub parameters: i64,
    /// Multiply-accumulates of one image's forward pass.
    pub forward_macs: i64,
    pub epochs: usize,
    /// Training FLOPs: 2 per multiply-accumulate, forward and backward
    /// (about twice the forward) over every training image and epoch.
    pub training_flops: f64,
    pub seconds_per_epoch: Option<f64>,
    pub test_accuracy: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Misclassified {
    pub index: usize,
    pub label: i64,
    pub predicted: i64,
    pub image: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Result {
    /// The chosen network's seeds and the ablation (with the reference
    /// network as its last row).
    #[serde(flatten)]
    pub study: Study,
    pub reference_summary: Vec<LayerSummary>,
    pub reference_test_accuracy: f64,
    pub reference_seconds_per_epoch: f64,
    pub costs: Vec<Cost>,
    pub translation: Vec<Translation>,
    /// Rows: true class; columns: predicted class; of the first replicate.
    pub confusion: Vec<Vec<u64>>,
    pub errors: usize,
    pub misclassified: Vec<Misclassified>,
    /// The first layer's kernels, each scaled to 0..255, and their side.
    pub filters: Vec<Vec<u8>>,
    pub filter_side: usize,
    /// One test digit and the first layer's feature maps of it, each scaled to 0..255.
    pub feature_digit: Vec<u8>,
    pub feature_maps: Vec<Vec<u8>>,
}

pub struct ConvolutionalNetwork(pub Config);

impl ConvolutionalNetwork {
    pub fn new(profile: Profile, precision: Precision) -> Self {
        let block = |filters, kernel| ConvBlock { filters, kernel, padding: kernel / 2 };
        let cnn = CnnConfig {
            blocks: vec![block(32, 5), block(64, 3), block(128, 3)],
            batch_norm: true,
            hidden: None,
            dropout: 0.3,
            precision,
            channels_last: true,
        };
        let chosen = Recipe {
            network: Network::Cnn(cnn.clone()),
            optimiser: Optimiser::Adam,
            epochs: profile.epochs(10),
            batch_size: 128,
            learning_rate: 2e-3,
            one_cycle: true,
            max_shift: 2,
            max_rotation: 0.0,
            max_scale: 0.0,
            l2: 0.0,
        };
        let ablations = vec![
            ("without random shifts".to_owned(), Recipe { max_shift: 0, ..chosen.clone() }),
            ("constant learning rate".to_owned(), Recipe { one_cycle: false, learning_rate: 1e-3, ..chosen.clone() }),
            (
                "without batch normalisation".to_owned(),
                Recipe { network: Network::Cnn(CnnConfig { batch_norm: false, ..cnn }), ..chosen.clone() },
            ),
        ];
        let reference = Recipe {
            network: Network::Cnn(CnnConfig {
                blocks: vec![ConvBlock { filters: 32, kernel: 3, padding: 0 }, ConvBlock { filters: 64, kernel: 3, padding: 0 }],
                batch_norm: false,
                hidden: Some(128),
                dropout: 0.5,
                precision,
                channels_last: true,
            }),
            optimiser: Optimiser::Adam,
            epochs: profile.epochs(6),
            batch_size: 128,
            learning_rate: 1e-3,
            one_cycle: false,
            max_shift: 0,
            max_rotation: 0.0,
            max_scale: 0.0,
            l2: 0.0,
        };
        let validation_images = profile.train_images() / 12;
        let mlp = |hidden: Vec<i64>, epochs| MlpConfig {
            hidden,
            learning_rate: 0.1,
            batch_size: 128,
            epochs: profile.epochs(epochs),
            l2: 0.0,
            train_images: profile.train_images() - validation_images,
            test_images: validation_images,
        };
        ConvolutionalNetwork(Config {
            chosen,
            replicates: profile.replicates(3),
            ablations,
            reference,
            mlp: mlp(vec![500, 300], 40),
            notebook_mlp: mlp(vec![64, 64], 10),
            validation_images,
            max_test_shift: shift::MAX_SHIFT,
            shown_misclassified: 48,
            train_images: profile.train_images(),
            test_images: profile.test_images(),
        })
    }
}

fn predictions(model: &dyn ModuleT, images: &Tensor) -> Tensor {
    tch::no_grad(|| {
        let chunks: Vec<Tensor> =
            images.split(2_000, 0).iter().map(|xs| model.forward_t(xs, false).argmax(-1, false)).collect();
        Tensor::cat(&chunks, 0)
    })
}

/// Counts of (true class, predicted class) pairs.
pub fn confusion_matrix(labels: &[i64], predicted: &[i64]) -> Vec<Vec<u64>> {
    let mut counts = vec![vec![0u64; CLASSES]; CLASSES];
    for (&t, &p) in labels.iter().zip(predicted) {
        counts[t as usize][p as usize] += 1;
    }
    counts
}

fn translation(name: &str, model: &dyn ModuleT, test: &(Tensor, Tensor), max: i64) -> Translation {
    let accuracy = |images: &Tensor| train::evaluate(model, &Batches { images, labels: &test.1 }).1;
    let unshifted = accuracy(&test.0);
    let by_direction: Vec<(String, Vec<f64>)> = DIRECTIONS
        .iter()
        .map(|&(direction, down, right)| {
            let shifted = (1..=max).map(|s| accuracy(&shift::shift_all(&test.0, down * s, right * s)));
            (direction.to_owned(), std::iter::once(unshifted).chain(shifted).collect())
        })
        .collect();
    let mean = (0..=max as usize)
        .map(|s| by_direction.iter().map(|(_, a)| a[s]).sum::<f64>() / by_direction.len() as f64)
        .collect();
    Translation { model: name.to_owned(), by_direction, mean }
}

/// Each image scaled so that its smallest value is 0 and its largest 255.
fn to_grey(images: &Tensor) -> Vec<Vec<u8>> {
    let flat = images.flatten(1, -1).to_kind(Kind::Float);
    let lo = flat.amin([1i64].as_slice(), true);
    let hi = flat.amax([1i64].as_slice(), true);
    let scaled = ((flat - &lo) / (hi - &lo).clamp_min(1e-12) * 255.0).round().to_kind(Kind::Uint8);
    (0..scaled.size()[0]).map(|i| Vec::<u8>::try_from(scaled.get(i)).expect("bytes")).collect()
}

fn dense_macs(widths: &[i64]) -> i64 {
    widths.windows(2).map(|w| w[0] * w[1]).sum()
}

fn cost(model: &str, parameters: i64, forward_macs: i64, epochs: usize, images: usize) -> Cost {
    Cost {
        model: model.to_owned(),
        parameters,
        forward_macs,
        epochs,
        training_flops: models::training_flops_per_image(forward_macs) * images as f64 * epochs as f64,
        seconds_per_epoch: None,
        test_accuracy: None,
    }
}

pub fn run(c: &Config, ctx: &Context) -> anyhow::Result<Result> {
    let (train_split, validation_split) = ctx.data.train.hold_out(c.validation_images, seed::derive(ctx.seed, "validation"));
    let data = Splits::new(&train_split, &validation_split, &ctx.data.test, ctx.device);
    let train_images = train_split.len();

    // A: the chosen network from several seeds, each tested once, and the
    // ablation on the validation split, closed by the reference network.
    let (cnn, mut study) = recipe::study(&c.chosen, c.replicates, &c.ablations, &data, ctx)?;
    let Trained::Cnn(cnn) = cnn else { unreachable!("question 3 trains CNNs") };
    ctx.progress.set_prefix("reference CNN");
    let (reference, reference_history) = recipe::train(&c.reference, study.replicates[0].seed, &data, ctx)?;
    study.ablation.push(AblationRow {
        name: "reference network (no batch norm, shifts or schedule)".into(),
        validation_accuracy: reference_history.final_val_accuracy,
        seconds_per_epoch: recipe::seconds_per_epoch(&reference_history),
    });

    // B: the MLP of question 2 D, trained on the same split.
    ctx.progress.set_prefix("500-300 MLP");
    let split_data = Mnist { train: train_split, test: validation_split, provenance: ctx.data.provenance.clone() };
    let mlp_ctx = Context { data: &split_data, seed: seed::derive(ctx.seed, "mlp"), ..*ctx };
    let (mlp, mlp_result) = q2_mlp::fit_mlp(&c.mlp, &mlp_ctx)?;
    ctx.progress.set_prefix("");
    ctx.progress.set_message("measuring translation robustness");

    let reference_summary = reference.summary();
    let reference_test_accuracy = recipe::test_accuracy(&reference, &data);
    let mlp_test_accuracy = recipe::test_accuracy(&mlp, &data);
    let reference_seconds_per_epoch = recipe::seconds_per_epoch(&reference_history);
    let notebook_widths = [&[PIXELS as i64][..], &c.notebook_mlp.hidden, &[CLASSES as i64]].concat();
    let mlp_widths = [&[PIXELS as i64][..], &c.mlp.hidden, &[CLASSES as i64]].concat();
    let dense_parameters = |w: &[i64]| w.windows(2).map(|w| (w[0] + 1) * w[1]).sum::<i64>();
    let costs = vec![
        cost("MLP 64-64 (Q2 A-C)", dense_parameters(&notebook_widths), dense_macs(&notebook_widths), c.notebook_mlp.epochs, train_images),
        Cost {
            seconds_per_epoch: Some(recipe::seconds_per_epoch(&mlp_result.history)),
            test_accuracy: Some(mlp_test_accuracy),
            ..cost("MLP 500-300 (Q2 D)", mlp_result.parameters, dense_macs(&mlp_widths), c.mlp.epochs, train_images)
        },
        Cost {
            seconds_per_epoch: Some(reference_seconds_per_epoch),
            test_accuracy: Some(reference_test_accuracy),
            ..cost(
                "reference CNN",
                reference_summary.iter().map(|l| l.parameters).sum(),
                cnn_config(&c.reference).forward_macs(),
                c.reference.epochs,
                train_images,
            )
        },
        Cost {
            seconds_per_epoch: Some(study.replicates[0].seconds_per_epoch),
            test_accuracy: Some(study.test_accuracy_mean),
            ..cost("chosen CNN", study.parameters, cnn.config.forward_macs(), c.chosen.epochs, train_images)
        },
    ];

    let translation = vec![
        translation("chosen CNN", &cnn, &data.test, c.max_test_shift),
        translation("reference CNN (trained without shifts)", &reference, &data.test, c.max_test_shift),
        translation("MLP 500-300", &mlp, &data.test, c.max_test_shift),
    ];

    // The first replicate's errors on the test set.
    let labels = Vec::<i64>::try_from(&data.test.1)?;
    let predicted = Vec::<i64>::try_from(predictions(&cnn, &data.test.0))?;
    let confusion = confusion_matrix(&labels, &predicted);
    let wrong: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] != predicted[i]).collect();
    let misclassified = wrong
        .iter()
        .take(c.shown_misclassified)
        .map(|&i| Misclassified {
            index: i,
            label: labels[i],
            predicted: predicted[i],
            image: ctx.data.test.image(i).to_vec(),
        })
        .collect();

    let kernels = cnn.first_kernels().to_device(tch::Device::Cpu);
    let filter_side = kernels.size()[2] as usize;
    let digit = data.test.0.narrow(0, 0, 1);
    let feature_maps = to_grey(&cnn.first_feature_maps(&digit).squeeze_dim(0).to_device(tch::Device::Cpu));
    ctx.progress.finish_and_clear();
    Ok(Result {
        study,
        reference_summary,
        reference_test_accuracy,
        reference_seconds_per_epoch,
        costs,
        translation,
        confusion,
        errors: wrong.len(),
        misclassified,
        filters: to_grey(&kernels),
        filter_side,
        feature_digit: ctx.data.test.image(0).to_vec(),
        feature_maps,
    })
}

impl Experiment for ConvolutionalNetwork {
    fn id(&self) -> &'static str {
        "q3_cnn"
    }
    fn title(&self) -> &'static str {
        "Q3 CNN: chosen design x seeds, ablation, reference CNN, MLP; translation, errors, filters"
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
    fn precision(&self) -> Precision {
        cnn_config(&self.0.chosen).precision
    }
    fn training_images(&self) -> u64 {
        let train = self.0.train_images - self.0.validation_images;
        let recipes = self.0.replicates * self.0.chosen.epochs
            + self.0.ablations.iter().map(|(_, r)| r.epochs).sum::<usize>()
            + self.0.reference.epochs
            + self.0.mlp.epochs;
        (recipes * train) as u64
    }
    fn run(&self, ctx: &Context) -> anyhow::Result<Value> {
        Ok(serde_json::to_value(run(&self.0, ctx)?)?)
    }
    fn figures(&self, result: &Value) -> anyhow::Result<Vec<Figure>> {
        let result: Result = serde_json::from_value(result.clone())?;
        let r = &result.study;
        let layers: Vec<(String, String, String)> = r
            .summary
            .iter()
            .map(|l| (l.kind.clone(), layer_detail(l, cnn_config(&self.0.chosen)), l.output_shape.iter().map(i64::to_string).collect::<Vec<_>>().join(" × ")))
            .collect();
        let model = figures::layer_stack("q3_model", &layers)?;
        let curves = recipe::study_curves("q3_curves", r)?;
        let r = &result;
        let confusion = figures::count_matrix("q3_confusion", "predicted class", "true class", &r.confusion)?;
        let tiles: Vec<(String, &[u8])> =
            r.misclassified.iter().map(|m| (format!("{}→{}", m.label, m.predicted), m.image.as_slice())).collect();
        let misclassified = figures::digit_grid("q3_misclassified", &tiles, 12)?;
        let colours = [figures::VALIDATION_COLOUR, figures::TRAIN_COLOUR, figures::BLACK];
        let series: Vec<Series> = r
            .translation
            .iter()
            .zip(colours)
            .map(|(t, colour)| Series {
                label: &t.model,
                colour,
                points: t.mean.iter().enumerate().map(|(s, &a)| (s as f64, a)).collect(),
            })
            .collect();
        let max = self.0.max_test_shift as f64;
        let shifts = figures::lines("q3_translation", "shift (pixels)", "test accuracy (mean over 4 directions)", &series, (-0.2, max + 0.2), max as usize + 1, 0)?;
        let filter_tiles: Vec<(String, &[u8])> = r.filters.iter().map(|f| (String::new(), f.as_slice())).collect();
        let filters = figures::image_grid("q3_filters", &filter_tiles, 8, r.filter_side, 12)?;
        let map_tiles: Vec<(String, &[u8])> = std::iter::once(("input".to_owned(), r.feature_digit.as_slice()))
            .chain(r.feature_maps.iter().enumerate().map(|(i, m)| ((i + 1).to_string(), m.as_slice())))
            .collect();
        let maps = figures::digit_grid("q3_feature_maps", &map_tiles, 11)?;
        Ok(vec![model, curves, confusion, misclassified, shifts, filters, maps])
    }
}

/// The CNN of a question-3 recipe.
pub fn cnn_config(recipe: &Recipe) -> &CnnConfig {
    match &recipe.network {
        Network::Cnn(config) => config,
        Network::Mlp { .. } => unreachable!("question 3 trains CNNs"),
    }
}

/// The kernel size and filter count of a convolution, the rate of a dropout.
fn layer_detail(l: &LayerSummary, cnn: &CnnConfig) -> String {
    match l.kind.as_str() {
        "Conv2D" => {
            let i: usize = l.name.trim_start_matches("conv2d_").parse().unwrap_or(0);
            let b = &cnn.blocks[i];
            format!("{}×{}, {} filters, {} parameters", b.kernel, b.kernel, b.filters, l.parameters)
        }
        "BatchNormalization" => "+ ReLU".into(),
        "MaxPooling2D" => "2×2".into(),
        "Dropout" => format!("rate {}", cnn.dropout),
        "Dense" => format!("{} parameters, {}", l.parameters, l.activation.as_deref().unwrap_or("linear")),
        _ => String::new(),
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
    fn grey_scaling_spans_the_full_range_per_image() {
        let images = Tensor::from_slice(&[-1.0f32, 0.0, 3.0, 5.0, 5.0, 6.0]).view([2, 3]);
        assert_eq!(to_grey(&images), [vec![0, 64, 255], vec![0, 0, 255]]);
    }
}
