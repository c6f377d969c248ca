//! Question 4's figures: the autoencoder's diagram and loss per epoch, noisy
//! and denoised digits by noise level, their error and the classifier's
//! accuracy on both by level, and the digits the decoder generated.

use super::draw::{self, Classes, Figure, Series};
use crate::experiments::q4_autoencoder::{AeEpoch, Config, Level, Output};

/// The figures of question 4 A-D, in the order the answers show them.
pub fn denoising_autoencoder(config: &Config, r: &Output, classes: &Classes) -> anyhow::Result<Vec<Figure>> {
    let widths = &config.widths;
    let labels: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(i, _)| match i {
            0 => "noisy input".to_owned(),
            i if i == widths.len() - 1 => "denoised\nsigmoid".to_owned(),
            i if i == widths.len() / 2 => "latent code\nReLU".to_owned(),
            _ => "dense\nReLU".to_owned(),
        })
        .collect();
    let middle = widths.len() / 2;
    let diagram =
        draw::layer_diagram("q4_model", widths, &labels, &[("encoder", 0, middle), ("decoder", middle, widths.len() - 1)], Some(middle))?;
    let epochs = |f: fn(&AeEpoch) -> Option<f64>| -> Vec<(f64, f64)> {
        r.history.iter().map(|e| (e.epoch as f64, f(e).unwrap_or(f64::NAN))).collect()
    };
    let train_label = format!("training (noisy {} -> clean)", config.train_noise);
    let loss = draw::curves(
        "q4_loss",
        "epoch",
        "binary cross-entropy",
        &[
            Series { label: &train_label, colour: draw::TRAIN_COLOUR, points: epochs(|e| e.train_loss) },
            Series { label: "validation (noisy test -> clean test)", colour: draw::VALIDATION_COLOUR, points: epochs(|e| e.val_loss) },
        ],
    )?;
    let by_level = |name: &str, y_label: &str, noisy: fn(&Level) -> f64, denoised: fn(&Level) -> f64| {
        let points = |f: fn(&Level) -> f64| r.levels.iter().map(|l| (l.level, f(l))).collect();
        let series = [
            Series { label: "noisy test images", colour: draw::TRAIN_COLOUR, points: points(noisy) },
            Series { label: "denoised test images", colour: draw::VALIDATION_COLOUR, points: points(denoised) },
        ];
        draw::lines(name, "noise level", y_label, &series, (-0.05, 1.05), r.levels.len(), 1)
    };
    let quality = by_level("q4_mse", "mean squared error to the clean image", |l| l.mse_noisy, |l| l.mse_denoised)?;
    let accuracy = by_level(
        "q4_accuracy",
        "classifier accuracy (%, mean over noise draws)",
        |l| 100.0 * l.accuracy_noisy_mean,
        |l| 100.0 * l.accuracy_denoised_mean,
    )?;
    let mut tiles: Vec<(String, &[u8])> = Vec::new();
    for e in &r.examples {
        for (row, images) in [("noisy", &e.noisy), ("denoised", &e.denoised)] {
            tiles.push((if row == "noisy" { "clean".into() } else { String::new() }, &e.original));
            for (image, level) in images.iter().zip(&r.levels) {
                tiles.push((if row == "noisy" { format!("{:.1}", level.level) } else { String::new() }, image));
            }
        }
    }
    let examples = draw::digit_grid("q4_examples", &tiles, r.levels.len() + 1)?;
    let generated_tiles: Vec<(String, &[u8])> =
        r.generated.iter().flat_map(|g| g.images.iter().zip(&g.predicted).map(|(img, p)| (classes.name(*p), img.as_slice()))).collect();
    // Two classes a row, so that the grid fits a page.
    let generated = draw::digit_grid("q4_generated", &generated_tiles, 2 * config.generated_per_class)?;
    Ok(vec![diagram, loss, examples, quality, accuracy, generated])
}
