//! Question 3's figures: the chosen CNN layer by layer, its accuracy per
//! epoch over its seeds, its confusion matrix and misclassified digits,
//! accuracy on shifted test images against the reference CNN and the MLP,
//! the first layer's filters and one digit's feature maps.

use super::draw::{self, Classes, Figure, Series};
use crate::experiments::q3_cnn::{self, Config, Output};
use crate::models::cnn::CnnConfig;
use crate::models::{LayerKind, LayerSummary};

/// The figures of question 3 A and B, in the order the answers show them.
pub fn cnn(config: &Config, result: &Output, classes: &Classes) -> anyhow::Result<Vec<Figure>> {
    let r = &result.study;
    let cnn = q3_cnn::cnn_config(&config.chosen).ok_or_else(|| anyhow::anyhow!("the chosen recipe must be a CNN"))?;
    let layers: Vec<(String, String, String)> = r
        .summary
        .iter()
        .map(|l| {
            let shape = l.output_shape.iter().map(i64::to_string).collect::<Vec<_>>().join(" × ");
            (format!("{:?}", l.kind), layer_detail(l, cnn), shape)
        })
        .collect();
    let model = draw::layer_stack("q3_model", &layers)?;
    let curves = draw::study_curves("q3_curves", r, &config.chosen)?;
    let errors = &result.errors;
    let names: Vec<String> = (0..errors.confusion.len() as i64).map(|k| classes.name(k)).collect();
    let confusion = draw::count_matrix("q3_confusion", "predicted class", "true class", &errors.confusion, &names)?;
    let tiles: Vec<(String, &[u8])> = errors
        .misclassified
        .iter()
        .map(|m| (format!("{}→{}", classes.name(m.label), classes.name(m.predicted)), m.image.as_slice()))
        .collect();
    // Class names are longer than digits: half as many a row keeps them legible.
    let misclassified = draw::digit_grid("q3_misclassified", &tiles, if classes.0.is_some() { 6 } else { 12 })?;
    let t = &result.translation;
    let series: Vec<Series> =
        [(&t.chosen_cnn, draw::VALIDATION_COLOUR), (&t.reference_cnn, draw::TRAIN_COLOUR), (&t.wide_mlp, draw::BLACK)]
            .into_iter()
            .map(|(t, colour)| Series {
                label: &t.model,
                colour,
                points: t.mean.iter().enumerate().map(|(s, &a)| (s as f64, 100.0 * a)).collect(),
            })
            .collect();
    let max = config.max_test_shift as f64;
    let shifts = draw::lines(
        "q3_translation",
        "shift (pixels)",
        "test accuracy (%, each quarter moved its own way)",
        &series,
        (-0.2, max + 0.2),
        max as usize + 1,
        0,
    )?;
    let first = &result.first_layer;
    let filter_tiles: Vec<(String, &[u8])> = first.filters.iter().map(|f| (String::new(), f.as_slice())).collect();
    let filters = draw::image_grid("q3_filters", &filter_tiles, 8, first.filter_side, 12)?;
    let map_tiles: Vec<(String, &[u8])> = std::iter::once(("input".to_owned(), first.feature_digit.as_slice()))
        .chain(first.feature_maps.iter().enumerate().map(|(i, m)| ((i + 1).to_string(), m.as_slice())))
        .collect();
    let maps = draw::digit_grid("q3_feature_maps", &map_tiles, 11)?;
    Ok(vec![model, curves, confusion, misclassified, shifts, filters, maps])
}

/// The kernel size and filter count of a convolution, the rate of a dropout.
fn layer_detail(l: &LayerSummary, cnn: &CnnConfig) -> String {
    match l.kind {
        LayerKind::Conv2D => match l.block.and_then(|i| cnn.blocks.get(i)) {
            Some(b) => format!("{}×{}, {} filters, {} parameters", b.kernel, b.kernel, b.filters, l.parameters),
            None => format!("{} parameters", l.parameters),
        },
        LayerKind::BatchNormalization => "+ ReLU".into(),
        LayerKind::MaxPooling2D => "2×2".into(),
        LayerKind::Dropout => format!("rate {}", cnn.dropout),
        LayerKind::Dense => format!("{} parameters, {}", l.parameters, l.activation.as_deref().unwrap_or("linear")),
        LayerKind::Flatten => String::new(),
    }
}
