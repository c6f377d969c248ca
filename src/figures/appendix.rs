//! The appendix's figures: the earlier edition's MLP, its test accuracy by
//! learning rate over replicates, and by hidden width and learning rate.

use super::draw::{self, Figure};
use crate::experiments::earlier_edition::{Config, Output};

/// The learning-rate plot and the width x learning-rate grid.
pub fn earlier_edition(c: &Config, o: &Output) -> anyhow::Result<Vec<Figure>> {
    let rates: Vec<(f64, f64, f64)> =
        o.learning_rate.rows.iter().map(|r| (r.learning_rate, r.test_accuracy_mean, r.test_accuracy_std)).collect();
    let rate_plot = draw::log_factor_plot("appendix_learning_rate", "learning rate", "test accuracy (%)", &rates, &[])?;
    let (lo, hi) = o.width.rows.iter().flat_map(|r| &r.test_accuracies).fold((1.0f64, 0.0f64), |(lo, hi), &a| (lo.min(a), hi.max(a)));
    let cells: Vec<Vec<(f64, String)>> = o
        .width
        .rows
        .iter()
        .map(|r| r.test_accuracies.iter().map(|&a| ((a - lo) / (hi - lo).max(1e-9), format!("{:.1}", 100.0 * a))).collect())
        .collect();
    let row_labels: Vec<String> = o.width.rows.iter().map(|r| r.width.to_string()).collect();
    let column_labels: Vec<String> = c.grid_learning_rates.iter().map(|r| r.to_string()).collect();
    let grid = draw::matrix("appendix_width", "learning rate", "hidden units", &row_labels, &column_labels, &cells)?;
    Ok(vec![rate_plot, grid])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiments::earlier_edition::{EarlierEdition, LearningRateStudy, RateRow, WidthRow, WidthStudy};
    use crate::models::mlp::dense_parameters;
    use crate::precision::Precision;
    use crate::profile::Profile;

    /// A result of the smoke profile's shape, made up: the figures read
    /// nothing of the noise and L2 studies.
    fn made_up(c: &Config) -> Output {
        let rate_rows: Vec<RateRow> = c
            .learning_rates
            .iter()
            .enumerate()
            .map(|(i, &learning_rate)| {
                let accuracy = 0.8 + 0.01 * i as f64;
                RateRow {
                    learning_rate,
                    test_accuracies: vec![accuracy; c.replicates],
                    test_accuracy_mean: accuracy,
                    test_accuracy_std: 0.0,
                    diverged: 0,
                }
            })
            .collect();
        let width_rows: Vec<WidthRow> = c
            .widths
            .iter()
            .map(|&width| {
                let test_accuracies: Vec<f64> = (0..c.grid_learning_rates.len()).map(|j| 0.7 + 0.02 * j as f64).collect();
                WidthRow {
                    width,
                    parameters: dense_parameters(&[width]),
                    best_accuracy: test_accuracies[test_accuracies.len() - 1],
                    best_learning_rate: c.grid_learning_rates[c.grid_learning_rates.len() - 1],
                    test_accuracies,
                }
            })
            .collect();
        Output {
            learning_rate: LearningRateStudy { best: rate_rows[rate_rows.len() - 1].clone(), rows: rate_rows },
            width: WidthStudy { rows: width_rows, enough_width: c.widths[0], enough: 0.001, seconds_per_model_epoch: 0.0 },
            input_noise: Vec::new(),
            hidden_l2: Vec::new(),
            train_images: c.train_images,
        }
    }

    #[test]
    fn the_appendix_draws_the_rate_plot_and_the_width_grid() {
        let experiment = EarlierEdition::new(Profile::Smoke, Precision::Float32);
        let o = made_up(&experiment.0);
        let figures = earlier_edition(&experiment.0, &o).unwrap();
        let names: Vec<&str> = figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["appendix_learning_rate", "appendix_width"]);
        // Every cell of the grid, as a percentage with one decimal.
        assert!(figures[1].svg.contains(">\n74.0\n</text>"), "{}", figures[1].svg);
        // Through the dispatch, from the config and the result as the cache holds them.
        let (config, result) = (serde_json::to_value(&experiment.0).unwrap(), serde_json::to_value(&o).unwrap());
        assert_eq!(crate::figures::of("appendix_earlier_edition", &config, &result, &crate::figures::Classes::default()).unwrap().len(), 2);
    }
}
