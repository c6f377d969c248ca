//! What the questions' findings share: how a difference reads against
//! its noise, how a training ends, how a curve settles, how an ablation
//! reads against the seed spread, and what a recipe does.

use serde::Serialize;

use crate::recipe::{Network, Optimiser, Recipe};
use crate::study::ValidationRow;
use crate::train::EpochMetrics;

/// Two single runs differ by chance with a standard deviation of √2 times
/// one run's; a difference counts as real beyond this many of those.
pub const SPREAD_Z: f64 = 2.0;

/// How a difference reads against the noise it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Higher,
    Lower,
    WithinNoise,
}

/// `difference` against a noise band of `noise` either side of zero.
pub fn direction(difference: f64, noise: f64) -> Direction {
    if difference > noise {
        Direction::Higher
    } else if difference < -noise {
        Direction::Lower
    } else {
        Direction::WithinNoise
    }
}

/// The noise band of a difference between two single runs whose seeds
/// spread by `seed_std`, never narrower than `floor` (one image of the set
/// measured on: two runs cannot differ by less).
pub fn single_run_noise(seed_std: f64, floor: f64) -> f64 {
    (SPREAD_Z * std::f64::consts::SQRT_2 * seed_std).max(floor)
}

/// The difference of the means of `a` and `b`, each over its seeds, and
/// how it reads against `SPREAD_Z` standard errors of that difference,
/// never narrower than `floor`.
pub fn means_compared(a: &[f64], b: &[f64], floor: f64) -> (f64, Direction) {
    let ((mean_a, std_a), (mean_b, std_b)) = (crate::stats::mean_std(a), crate::stats::mean_std(b));
    let standard_error = (std_a.powi(2) / a.len().max(1) as f64 + std_b.powi(2) / b.len().max(1) as f64).sqrt();
    let difference = mean_a - mean_b;
    (difference, direction(difference, (SPREAD_Z * standard_error).max(floor)))
}

/// How the last epoch of a training reads: whether it overfits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fit {
    /// The loss stopped being finite: nothing to read.
    Diverged,
    /// Training accuracy at or below validation accuracy.
    TrainNotAbove,
    /// Training accuracy above validation accuracy, but the validation loss
    /// is at its lowest in the last epoch: a gap, not yet overfitting.
    GapOnly,
    /// Training accuracy above validation accuracy and the validation loss
    /// risen from its lowest: the network has begun to overfit.
    Overfitting,
}

/// The end of a training, as the sentences about overfitting read it.
#[derive(Debug, Clone, Serialize)]
pub struct EndOfTraining {
    pub fit: Fit,
    /// Training minus validation accuracy after the last epoch.
    pub gap: f64,
    pub train_accuracy: f64,
    pub val_accuracy: f64,
    /// The lowest validation loss and its epoch (1-based).
    pub lowest_val_loss: Option<f64>,
    pub lowest_val_loss_epoch: Option<usize>,
    pub last_val_loss: Option<f64>,
}

/// Reads the end of a training from its last accuracies and every epoch's
/// validation loss.
pub fn end_of_training(train_accuracy: f64, val_accuracy: f64, val_losses: &[Option<f64>]) -> EndOfTraining {
    let finite: Vec<(usize, f64)> =
        val_losses.iter().enumerate().filter_map(|(i, l)| l.filter(|l| l.is_finite()).map(|l| (i + 1, l))).collect();
    let lowest = finite.iter().copied().min_by(|a, b| a.1.total_cmp(&b.1));
    let last = val_losses.last().copied().flatten().filter(|l| l.is_finite());
    let gap = train_accuracy - val_accuracy;
    let fit = match (last, lowest) {
        (None, _) | (_, None) => Fit::Diverged,
        _ if gap <= 0.0 => Fit::TrainNotAbove,
        (Some(last), Some((_, lowest))) if last > lowest => Fit::Overfitting,
        _ => Fit::GapOnly,
    };
    EndOfTraining {
        fit,
        gap,
        train_accuracy,
        val_accuracy,
        lowest_val_loss: lowest.map(|l| l.1),
        lowest_val_loss_epoch: lowest.map(|l| l.0),
        last_val_loss: last,
    }
}

/// `end_of_training` of a history's last epoch.
pub fn end_of_history(epochs: &[EpochMetrics]) -> EndOfTraining {
    let last = epochs.last();
    let losses: Vec<Option<f64>> = epochs.iter().map(|e| e.val_loss).collect();
    end_of_training(last.map_or(0.0, |e| e.train_accuracy), last.map_or(0.0, |e| e.val_accuracy), &losses)
}

/// Whether a curve has settled by its last epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    Settled,
    StillRising,
    Falling,
}

/// A validation accuracy that moved by less than this (a tenth of a
/// percentage point) in the last epoch has settled.
pub const SETTLED_CHANGE: f64 = 0.001;

/// The trend of a curve's last step; a curve of one point has settled.
pub fn trend(values: &[f64]) -> (Trend, f64) {
    let change = match values {
        [.., before, last] => last - before,
        _ => 0.0,
    };
    let trend = match direction(change, SETTLED_CHANGE) {
        Direction::Higher => Trend::StillRising,
        Direction::Lower => Trend::Falling,
        Direction::WithinNoise => Trend::Settled,
    };
    (trend, change)
}

/// One variant of an ablation against the chosen recipe.
#[derive(Debug, Clone, Serialize)]
pub struct AblationRow {
    pub name: String,
    /// Variant minus chosen recipe, validation accuracy.
    pub difference: f64,
    pub effect: Direction,
}

/// An ablation read against the spread between seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Ablation {
    /// Every variant, in the study's order.
    pub rows: Vec<AblationRow>,
    /// Variants that do worse than the chosen recipe beyond the noise:
    /// what they leave out helps.
    pub worse: Vec<AblationRow>,
    /// Variants within the noise of the chosen recipe.
    pub within_noise: Vec<AblationRow>,
    /// Variants that do better beyond the noise: this ablation does not
    /// support what they leave out.
    pub better: Vec<AblationRow>,
    /// The noise band, in accuracy.
    pub noise: f64,
    /// The standard deviation of the chosen recipe's final validation
    /// accuracy over its seeds, which sets the band.
    pub seed_std: f64,
    pub seeds: usize,
    /// The band is the floor of one validation image (the seeds spread less).
    pub noise_is_one_image: bool,
}

/// Each variant against `chosen` on the validation split, with the noise of
/// two single runs whose seeds spread as `seed_accuracies` do.
pub fn ablation(chosen: &ValidationRow, variants: &[ValidationRow], seed_accuracies: &[f64], validation_images: usize) -> Ablation {
    let (_, seed_std) = crate::stats::mean_std(seed_accuracies);
    let one_image = 1.0 / validation_images.max(1) as f64;
    let noise = single_run_noise(seed_std, one_image);
    let rows: Vec<AblationRow> = variants
        .iter()
        .map(|v| {
            let difference = v.validation_accuracy - chosen.validation_accuracy;
            AblationRow { name: v.name.clone(), difference, effect: direction(difference, noise) }
        })
        .collect();
    let of = |effect: Direction| rows.iter().filter(|r| r.effect == effect).cloned().collect::<Vec<_>>();
    Ablation {
        worse: of(Direction::Lower),
        within_noise: of(Direction::WithinNoise),
        better: of(Direction::Higher),
        noise,
        seed_std,
        seeds: seed_accuracies.len(),
        noise_is_one_image: noise <= one_image,
        rows,
    }
}

/// What a recipe does, as the answers describe it: each option present
/// only where the recipe uses it.
#[derive(Debug, Clone, Serialize)]
pub struct RecipeTraits {
    pub epochs: usize,
    pub batch_size: i64,
    pub learning_rate: f64,
    pub one_cycle: bool,
    /// Nesterov momentum, where the optimiser is SGD with momentum.
    pub momentum: Option<f64>,
    pub adam: bool,
    pub dropout: Option<f64>,
    pub max_shift: Option<i64>,
    pub max_rotation: Option<f64>,
    pub max_scale: Option<f64>,
    pub max_elastic: Option<f64>,
    pub l2: Option<f64>,
    /// Any transformation of the training images (shifts, rotations,
    /// scalings, elastic bends).
    pub augmented: bool,
    /// Distortions beyond shifts (rotations, scalings, elastic bends): what
    /// LeCun's page lists apart from plain training.
    pub distorted: bool,
    /// Products in bfloat16 with float32 master weights.
    pub mixed_precision: bool,
    pub hidden: Vec<i64>,
}

impl RecipeTraits {
    pub fn of(recipe: &Recipe) -> RecipeTraits {
        let positive = |x: f64| (x > 0.0).then_some(x);
        let (dropout, precision, hidden) = match &recipe.network {
            Network::Mlp { hidden, dropout, precision } => (*dropout, *precision, hidden.clone()),
            Network::Cnn(cnn) => (cnn.dropout, cnn.precision, cnn.hidden.into_iter().collect()),
        };
        let distorted = recipe.max_rotation > 0.0 || recipe.max_scale > 0.0 || recipe.max_elastic > 0.0;
        RecipeTraits {
            epochs: recipe.epochs,
            batch_size: recipe.batch_size,
            learning_rate: recipe.learning_rate,
            one_cycle: recipe.one_cycle,
            momentum: match recipe.optimiser {
                Optimiser::Sgd { momentum } => positive(momentum),
                Optimiser::Adam => None,
            },
            adam: matches!(recipe.optimiser, Optimiser::Adam),
            dropout: positive(dropout),
            max_shift: (recipe.max_shift > 0).then_some(recipe.max_shift),
            max_rotation: positive(recipe.max_rotation),
            max_scale: positive(recipe.max_scale),
            max_elastic: positive(recipe.max_elastic),
            l2: positive(recipe.l2),
            augmented: recipe.max_shift > 0 || distorted,
            distorted,
            mixed_precision: precision == crate::precision::Precision::BFloat16,
            hidden,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_differ_only_beyond_twice_the_standard_error_of_their_difference() {
        let cnn = [0.9948, 0.9956, 0.9958];
        let (difference, read) = means_compared(&cnn, &[0.9940, 0.9935, 0.9924], 1e-4);
        assert!((difference - 0.0021).abs() < 1e-9);
        assert_eq!(read, Direction::Higher, "0.21 points against a band of about 0.11");
        assert_eq!(means_compared(&[0.9940, 0.9935, 0.9924], &cnn, 1e-4).1, Direction::Lower);
        assert_eq!(
            means_compared(&cnn, &[0.9970, 0.9935, 0.9924], 1e-4).1,
            Direction::WithinNoise,
            "a spread-out second set widens the band"
        );
        assert_eq!(means_compared(&[0.99], &[0.98995], 1e-4).1, Direction::WithinNoise, "one seed each: the floor decides");
    }

    fn row(name: &str, accuracy: f64) -> ValidationRow {
        ValidationRow { name: name.into(), validation_accuracy: accuracy, seconds_per_epoch: 1.0 }
    }

    #[test]
    fn a_difference_is_higher_lower_or_within_the_noise() {
        assert_eq!(direction(0.02, 0.01), Direction::Higher);
        assert_eq!(direction(-0.02, 0.01), Direction::Lower);
        assert_eq!(direction(0.01, 0.01), Direction::WithinNoise);
        assert_eq!(direction(0.0, 0.0), Direction::WithinNoise);
        assert_eq!(single_run_noise(0.0, 0.0002), 0.0002, "spread zero: one image is the floor");
        assert!((single_run_noise(0.001, 0.0002) - 2.0 * 2f64.sqrt() * 0.001).abs() < 1e-12);
    }

    #[test]
    fn the_end_of_training_is_overfitting_only_where_the_validation_loss_rose() {
        let falling = [Some(0.5), Some(0.4), Some(0.3)];
        let rose = [Some(0.5), Some(0.3), Some(0.35)];
        assert_eq!(end_of_training(0.95, 0.97, &falling).fit, Fit::TrainNotAbove);
        assert_eq!(end_of_training(0.97, 0.97, &rose).fit, Fit::TrainNotAbove, "no gap");
        let gap = end_of_training(0.99, 0.97, &falling);
        assert_eq!((gap.fit, gap.lowest_val_loss_epoch), (Fit::GapOnly, Some(3)));
        let over = end_of_training(0.99, 0.97, &rose);
        assert_eq!((over.fit, over.lowest_val_loss_epoch, over.lowest_val_loss), (Fit::Overfitting, Some(2), Some(0.3)));
        assert!((over.gap - 0.02).abs() < 1e-12);
        assert_eq!(end_of_training(0.99, 0.97, &[Some(0.5), None]).fit, Fit::Diverged);
        assert_eq!(end_of_training(0.99, 0.97, &[]).fit, Fit::Diverged);
    }

    #[test]
    fn a_curve_settles_rises_or_falls_by_its_last_step() {
        assert_eq!(trend(&[0.90, 0.95, 0.9505]).0, Trend::Settled);
        assert_eq!(trend(&[0.90, 0.95, 0.96]).0, Trend::StillRising, "a curve still rising in its last epoch");
        assert_eq!(trend(&[0.90, 0.95, 0.94]).0, Trend::Falling);
        assert_eq!(trend(&[0.9]).0, Trend::Settled);
    }

    #[test]
    fn an_ablation_sorts_variants_by_the_seed_spread_not_by_one_image() {
        let chosen = row("chosen", 0.9900);
        let variants = [row("without a", 0.9850), row("without b", 0.9902), row("without c", 0.9928)];
        // Seeds spread by 0.0005: the band is 2·√2·0.0005 ≈ 0.0014.
        let a = ablation(&chosen, &variants, &[0.9895, 0.9900, 0.9905], 5000);
        let names = |rows: &[AblationRow]| rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&a.worse), ["without a"]);
        assert_eq!(names(&a.within_noise), ["without b"]);
        assert_eq!(names(&a.better), ["without c"], "better without c, beyond the spread");
        assert!(!a.noise_is_one_image);
        // Seeds that agree exactly: one image (0.0002) is the band.
        let tight = ablation(&chosen, &variants, &[0.99, 0.99, 0.99], 5000);
        assert!(tight.noise_is_one_image && tight.worse.len() == 1 && tight.better.len() == 1, "{tight:?}");
        // Wide seeds: everything is within the noise.
        let wide = ablation(&chosen, &variants, &[0.98, 0.99, 1.0], 5000);
        assert_eq!(wide.within_noise.len(), 3);
    }

    #[test]
    fn a_recipe_names_only_what_it_uses() {
        let wide = crate::networks::wide_mlp(crate::precision::Precision::Float32, 10);
        let mlp = Recipe { max_shift: 2, max_rotation: 10.0, l2: 1e-4, ..wide.clone() };
        let t = RecipeTraits::of(&mlp);
        assert!(t.augmented && t.distorted && t.dropout.is_none() && t.l2 == Some(1e-4) && t.max_shift == Some(2));
        let shifted = RecipeTraits::of(&Recipe { max_shift: 2, ..wide.clone() });
        assert!(shifted.augmented && !shifted.distorted, "shifts alone are no distortion");
        let plain = Recipe { max_shift: 0, max_rotation: 0.0, max_scale: 0.0, max_elastic: 0.0, l2: 0.0, ..mlp.clone() };
        let p = RecipeTraits::of(&plain);
        assert!(!p.augmented && !p.distorted && p.max_shift.is_none() && p.l2.is_none());
        let cnn = RecipeTraits::of(&crate::networks::chosen_cnn(crate::precision::Precision::BFloat16, 10));
        assert!(cnn.adam && cnn.momentum.is_none() && cnn.mixed_precision && cnn.dropout.is_some());
    }
}
