//! The earlier edition's findings: how the extreme learning rates fare,
//! where extra width stops paying off (and whether wider networks then do
//! worse), whether input noise or L2 helps, and whether the plain network
//! overfits.

use serde::Serialize;

use super::shared::{EndOfTraining, SPREAD_Z, end_of_training, single_run_noise};
use crate::experiments::earlier_edition::{Config, Output, RateRow, Trained, WidthRow};
use crate::precision::Precision;

/// A study's accuracy "falls" below the best, and noise "drowns" the
/// pixels, beyond one percentage point.
pub const POINT: f64 = 0.01;
/// The largest L2 factor "costs" accuracy beyond half a percentage point.
pub const HALF_POINT: f64 = 0.005;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Diverged,
    Falls,
    WithinAPoint,
}

#[derive(Debug, Clone, Serialize)]
pub struct Rate {
    pub rate: f64,
    pub accuracy: f64,
    pub diverged: usize,
    pub outcome: Outcome,
}

/// Whether the replicates tell the best rate from the next best.
#[derive(Debug, Clone, Serialize)]
pub struct BestRate {
    /// The rate with the next highest mean accuracy, and that mean.
    pub runner_up: Option<f64>,
    pub runner_up_accuracy: f64,
    /// The best mean minus the runner-up's.
    pub margin: f64,
    /// The margin is within `SPREAD_Z` standard errors of the difference of
    /// the two means (at least one test image): the replicates do not
    /// separate the two rates.
    pub tied: bool,
}

/// The best rate of `rows` (by mean) against the next best, whose means
/// are over `replicates` runs each and whose accuracies are counted on
/// `test_images`.
fn best_rate(rows: &[RateRow], replicates: usize, test_images: usize) -> BestRate {
    let mut ranked: Vec<&RateRow> = rows.iter().collect();
    ranked.sort_by(|a, b| b.test_accuracy_mean.total_cmp(&a.test_accuracy_mean));
    match ranked[..] {
        [best, next, ..] => {
            let n = replicates.max(1) as f64;
            let standard_error = ((best.test_accuracy_std.powi(2) + next.test_accuracy_std.powi(2)) / n).sqrt();
            let margin = best.test_accuracy_mean - next.test_accuracy_mean;
            BestRate {
                runner_up: Some(next.learning_rate),
                runner_up_accuracy: next.test_accuracy_mean,
                margin,
                tied: margin <= (SPREAD_Z * standard_error).max(1.0 / test_images.max(1) as f64),
            }
        }
        _ => BestRate { runner_up: None, runner_up_accuracy: 0.0, margin: 0.0, tied: false },
    }
}

/// A width that does worse than the best by more than the threshold.
#[derive(Debug, Clone, Serialize)]
pub struct Shortfall {
    pub width: i64,
    pub accuracy: f64,
    pub below_top: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Width {
    pub top_width: i64,
    pub top_accuracy: f64,
    /// The narrowest width within `enough` of the best of all widths.
    pub stops_paying_at: i64,
    pub stops_paying_accuracy: f64,
    /// The width where it stops paying is the best width itself.
    pub stops_at_top: bool,
    pub enough: f64,
    /// `enough` in test images.
    pub enough_images: f64,
    /// No narrower width comes within `enough` of the widest's accuracy.
    pub pays_to_the_end: bool,
    /// Widths wider than `stops_paying_at` that fall more than `enough`
    /// below the best: wider is worse there, not merely no better.
    pub wider_worse: Vec<Shortfall>,
    pub widest: i64,
    pub all_best_at_largest_rate: bool,
    pub at_largest_rate: usize,
    pub largest_rate: f64,
    /// Parameters one more hidden unit costs.
    pub parameters_per_unit: i64,
    pub networks: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Noise {
    /// The best noise level beats the network without noise beyond the
    /// spread of single runs.
    pub beats_clean: bool,
    pub best_std: f64,
    pub best_accuracy: f64,
    pub clean_accuracy: f64,
    pub difference: f64,
    pub loudest_std: f64,
    pub loudest_accuracy: f64,
    /// The loudest noise costs more than a point: it drowns the pixels.
    pub loudest_drowns: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct L2 {
    /// The plain network's last epoch, test set as validation.
    pub plain: EndOfTraining,
    /// The best factor raises the test accuracy beyond the spread of single runs.
    pub raises: bool,
    pub best_factor: f64,
    pub best_difference: f64,
    pub strongest_factor: f64,
    pub strongest_difference: f64,
    /// The largest factor costs more than half a point.
    pub strongest_costs: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Findings {
    pub best_rate: BestRate,
    pub smallest_rate: Rate,
    pub largest_rate: Rate,
    pub width: Width,
    pub noise: Noise,
    pub l2: L2,
    pub mixed_precision: bool,
    /// Single runs of the noise and L2 studies differ by chance within
    /// this: twice √2 times the replicates' spread at the notebook's rate in
    /// A.1, at least one test image.
    pub single_run_band: f64,
    /// That spread (standard deviation) and its rate.
    pub single_run_std: f64,
    pub single_run_rate: f64,
}

impl Findings {
    pub fn new(e: &Output, c: &Config) -> Findings {
        let best = e.learning_rate.best.test_accuracy_mean;
        let rate = |r: &RateRow| Rate {
            rate: r.learning_rate,
            accuracy: r.test_accuracy_mean,
            diverged: r.diverged,
            outcome: if r.diverged > 0 {
                Outcome::Diverged
            } else if r.test_accuracy_mean < best - POINT {
                Outcome::Falls
            } else {
                Outcome::WithinAPoint
            },
        };
        let rows = &e.learning_rate.rows;
        let single_run_std = rows.iter().find(|r| r.learning_rate == c.learning_rate).map_or(0.0, |r| r.test_accuracy_std);
        let band = single_run_noise(single_run_std, 1.0 / c.test_images.max(1) as f64);
        Findings {
            best_rate: best_rate(rows, c.replicates, c.test_images),
            smallest_rate: rate(rows.first().unwrap_or(&e.learning_rate.best)),
            largest_rate: rate(rows.last().unwrap_or(&e.learning_rate.best)),
            width: width(&e.width.rows, e.width.enough, &c.grid_learning_rates, c.test_images),
            noise: noise(&e.input_noise, band),
            l2: l2(&e.hidden_l2, band),
            mixed_precision: c.precision == Precision::BFloat16,
            single_run_band: band,
            single_run_std,
            single_run_rate: c.learning_rate,
        }
    }
}

fn width(rows: &[WidthRow], enough: f64, rates: &[f64], test_images: usize) -> Width {
    let top = rows.iter().max_by(|a, b| a.best_accuracy.total_cmp(&b.best_accuracy)).expect("a width");
    let stops = rows.iter().find(|r| r.best_accuracy >= top.best_accuracy - enough).unwrap_or(top);
    let widest = rows.last().unwrap_or(top);
    let largest_rate = rates.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let at_largest_rate = rows.iter().filter(|r| r.best_learning_rate == largest_rate).count();
    let parameters_per_unit = match rows {
        [a, b, ..] if b.width != a.width => (b.parameters - a.parameters) / (b.width - a.width),
        _ => 0,
    };
    Width {
        top_width: top.width,
        top_accuracy: top.best_accuracy,
        stops_paying_at: stops.width,
        stops_paying_accuracy: stops.best_accuracy,
        stops_at_top: stops.width == top.width,
        enough,
        enough_images: enough * test_images as f64,
        pays_to_the_end: stops.width == widest.width,
        wider_worse: rows
            .iter()
            .filter(|r| r.width > stops.width && r.best_accuracy < top.best_accuracy - enough)
            .map(|r| Shortfall { width: r.width, accuracy: r.best_accuracy, below_top: top.best_accuracy - r.best_accuracy })
            .collect(),
        widest: widest.width,
        all_best_at_largest_rate: at_largest_rate == rows.len(),
        at_largest_rate,
        largest_rate,
        parameters_per_unit,
        networks: rows.len() * rates.len(),
    }
}

fn best_of(trained: &[Trained]) -> Option<&Trained> {
    trained.iter().max_by(|a, b| a.test_accuracy.total_cmp(&b.test_accuracy))
}

fn noise(trained: &[Trained], band: f64) -> Noise {
    let clean = &trained[0];
    let best = best_of(&trained[1..]).unwrap_or(clean);
    let loudest = trained.last().unwrap_or(clean);
    Noise {
        beats_clean: best.test_accuracy - clean.test_accuracy > band,
        best_std: best.setting,
        best_accuracy: best.test_accuracy,
        clean_accuracy: clean.test_accuracy,
        difference: best.test_accuracy - clean.test_accuracy,
        loudest_std: loudest.setting,
        loudest_accuracy: loudest.test_accuracy,
        loudest_drowns: loudest.test_accuracy < clean.test_accuracy - POINT,
    }
}

fn l2(trained: &[Trained], band: f64) -> L2 {
    let plain = &trained[0];
    let best = best_of(&trained[1..]).unwrap_or(plain);
    let strongest = trained.last().unwrap_or(plain);
    let losses: Vec<Option<f64>> = plain.history.epochs.iter().map(|e| e.val_loss).collect();
    L2 {
        plain: end_of_training(plain.train_accuracy, plain.test_accuracy, &losses),
        raises: best.test_accuracy - plain.test_accuracy > band,
        best_factor: best.setting,
        best_difference: best.test_accuracy - plain.test_accuracy,
        strongest_factor: strongest.setting,
        strongest_difference: strongest.test_accuracy - plain.test_accuracy,
        strongest_costs: strongest.test_accuracy < plain.test_accuracy - HALF_POINT,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(width: i64, best: f64) -> WidthRow {
        WidthRow {
            width,
            parameters: width * 795 + 10,
            test_accuracies: vec![best - 0.01, best],
            best_accuracy: best,
            best_learning_rate: 0.5,
        }
    }

    fn rate_row(learning_rate: f64, mean: f64, std: f64) -> RateRow {
        RateRow { learning_rate, test_accuracies: vec![], test_accuracy_mean: mean, test_accuracy_std: std, diverged: 0 }
    }

    #[test]
    fn the_best_rate_is_told_from_the_next_only_beyond_the_replicates_spread() {
        let clear = best_rate(&[rate_row(0.1, 0.970, 0.001), rate_row(0.5, 0.978, 0.001), rate_row(1.0, 0.975, 0.001)], 3, 10_000);
        assert_eq!((clear.runner_up, clear.tied), (Some(1.0), false));
        assert!((clear.margin - 0.003).abs() < 1e-12);
        let tied = best_rate(&[rate_row(0.5, 0.978, 0.002), rate_row(1.0, 0.976, 0.002)], 3, 10_000);
        assert!(tied.tied, "0.2 points against 2 standard errors of 0.16: {tied:?}");
        let spread_zero = best_rate(&[rate_row(0.5, 0.9781, 0.0), rate_row(1.0, 0.9780, 0.0)], 3, 1_000);
        assert!(spread_zero.tied, "less than one test image apart");
        assert!(best_rate(&[rate_row(0.5, 0.97, 0.0)], 3, 1_000).runner_up.is_none());
    }

    #[test]
    fn width_stops_paying_where_it_comes_within_reach_and_wider_networks_that_fall_are_named() {
        let rates = [0.1, 0.5];
        // 750 is within 0.1 point of the best (500); 1000 falls 1.8 points below it.
        let w = width(&[row(250, 0.970), row(500, 0.980), row(750, 0.9795), row(1000, 0.962)], 0.001, &rates, 10_000);
        assert_eq!(w.enough_images, 10.0, "a tenth of a point of 10,000 test images");
        assert_eq!((w.top_width, w.stops_paying_at, w.pays_to_the_end, w.stops_at_top), (500, 500, false, true));
        assert_eq!(w.wider_worse.iter().map(|s| s.width).collect::<Vec<_>>(), [1000]);
        assert!((w.wider_worse[0].below_top - 0.018).abs() < 1e-9);
        assert_eq!((w.parameters_per_unit, w.networks, w.all_best_at_largest_rate), (795, 8, true));
        // Rising to the widest: it pays to the end, and nothing wider falls.
        let w = width(&[row(250, 0.970), row(500, 0.975), row(1000, 0.980)], 0.001, &rates, 10_000);
        assert!(w.pays_to_the_end && w.wider_worse.is_empty());
        // A plateau: width stops paying where the plateau starts.
        let w = width(&[row(250, 0.970), row(500, 0.9800), row(1000, 0.9805)], 0.001, &rates, 10_000);
        assert_eq!((w.stops_paying_at, w.top_width, w.pays_to_the_end, w.stops_at_top), (500, 1000, false, false));
        assert!(w.wider_worse.is_empty());
    }
}
