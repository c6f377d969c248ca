//! Question 3's findings: whether the CNN reaches the question's bar, what
//! its ablation shows against the seed spread, how its curves end, which
//! confusion is most frequent, and how it stands to the MLP, unshifted and
//! shifted.

use serde::Serialize;

use super::shared::{Ablation, Direction, RecipeTraits, Trend, ablation, direction, means_compared, single_run_noise, trend};
use crate::experiments::q3_cnn::{Config, Output};
use crate::models::LayerKind;

/// The validation accuracy question 3 says should be reachable.
pub const QUESTION_BAR: f64 = 0.99;
/// The test accuracy this design aims at, above the question's bar.
pub const GOAL_BAR: f64 = 0.995;

#[derive(Debug, Clone, Serialize)]
pub struct Findings {
    pub question_bar: f64,
    pub goal_bar: f64,
    pub reaches_question_bar: bool,
    pub reaches_goal: bool,
    pub recipe: RecipeTraits,
    /// The side of the maps after each pooling, and the features flattened.
    pub pooled_sides: Vec<i64>,
    pub flattened_features: i64,
    pub ablation: Ablation,
    pub ablation_shorter: bool,
    pub ablation_fewer_images: bool,
    /// The reference network against the chosen one on the validation
    /// split: against the first seed's full run where the ablation trains
    /// on fewer images, else against the ablation's chosen run.
    pub reference_difference: f64,
    pub reference_against_first_seed: bool,
    pub reference_direction: Direction,
    /// The seeds' mean validation accuracy over the last epoch.
    pub validation_trend: Trend,
    pub validation_last_change: f64,
    /// The first seed's training accuracy (augmented, dropout on) against
    /// its validation accuracy after the last epoch, beyond one validation image.
    pub train_versus_validation: Direction,
    pub first_seed_train: f64,
    pub first_seed_val: f64,
    /// The most frequent confusion of the first seed, if it made any error.
    pub top_confusion: Option<Confusion>,
    pub versus_mlp: VersusMlp,
    /// The CNNs trained on one CPU thread each, more than one at a time
    /// (`Output::side_by_side`): their seconds are one thread's.
    pub trained_side_by_side: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Confusion {
    pub true_class: usize,
    pub predicted: usize,
    pub count: u64,
}

/// The chosen CNN against question 2 D's tuned 500-300 MLP, trained on
/// the same images: test accuracy mean against mean over their seeds,
/// shifted test images first seed against first seed.
#[derive(Debug, Clone, Serialize)]
pub struct VersusMlp {
    /// The MLP has this many times the CNN's parameters; the CNN does this
    /// many times the MLP's multiply-accumulates per image.
    pub parameter_ratio: f64,
    pub arithmetic_ratio: f64,
    pub test_difference: f64,
    pub test: Direction,
    /// The seeds behind each side's mean test accuracy, and whether they
    /// are as many.
    pub cnn_seeds: usize,
    pub mlp_seeds: usize,
    pub as_many_seeds: bool,
    pub shifted_difference: f64,
    pub shifted: Direction,
    /// The reference CNN, trained without shifted images, against the MLP
    /// at the largest shift.
    pub reference_shifted: Direction,
    /// On the unshifted test images the MLP is the least accurate of the
    /// three networks compared.
    pub mlp_lowest_unshifted: bool,
    pub mlp_unshifted: f64,
    pub best_unshifted: f64,
}

impl Findings {
    pub fn new(a: &Output, c: &Config) -> Findings {
        let study = &a.study;
        let recipe = RecipeTraits::of(&c.chosen);
        let seeds: Vec<f64> = study.replicates.iter().map(|r| r.history.final_val_accuracy).collect();
        let ablation_fewer_images = study.ablation_images < study.train_images;
        let last = study.replicates.first().and_then(|r| r.history.epochs.last());
        let (first_seed_train, first_seed_val) = last.map_or((0.0, 0.0), |e| (e.train_accuracy, e.val_accuracy));
        let baseline = if ablation_fewer_images { first_seed_val } else { study.chosen.validation_accuracy };
        let one_validation_image = 1.0 / study.validation_images.max(1) as f64;
        let noise = single_run_noise(crate::stats::mean_std(&seeds).1, one_validation_image);
        let epochs = study.replicates.first().map_or(0, |r| r.history.epochs.len());
        let mean_curve: Vec<f64> = (0..epochs)
            .map(|e| {
                let values: Vec<f64> = study.replicates.iter().filter_map(|r| r.history.epochs.get(e)).map(|m| m.val_accuracy).collect();
                values.iter().sum::<f64>() / values.len().max(1) as f64
            })
            .collect();
        let (validation_trend, validation_last_change) = trend(&mean_curve);
        Findings {
            question_bar: QUESTION_BAR,
            goal_bar: GOAL_BAR,
            reaches_question_bar: study.test_accuracy_mean >= QUESTION_BAR,
            reaches_goal: study.test_accuracy_mean >= GOAL_BAR,
            pooled_sides: study
                .summary
                .iter()
                .filter(|l| l.kind == LayerKind::MaxPooling2D)
                .filter_map(|l| l.output_shape.get(1).copied())
                .collect(),
            flattened_features: study
                .summary
                .iter()
                .find(|l| l.kind == LayerKind::Flatten)
                .and_then(|l| l.output_shape.first().copied())
                .unwrap_or(0),
            ablation: ablation(&study.chosen, &study.variants, &seeds, study.validation_images),
            ablation_shorter: study.ablation_epochs < c.chosen.epochs,
            ablation_fewer_images,
            reference_difference: a.reference.validation_accuracy - baseline,
            reference_against_first_seed: ablation_fewer_images,
            reference_direction: direction(a.reference.validation_accuracy - baseline, noise),
            validation_trend,
            validation_last_change,
            train_versus_validation: direction(first_seed_train - first_seed_val, one_validation_image),
            first_seed_train,
            first_seed_val,
            top_confusion: top_confusion(&a.errors.confusion),
            versus_mlp: versus_mlp(a, c, noise),
            trained_side_by_side: a.side_by_side > 1,
            recipe,
        }
    }
}

/// The largest count off the diagonal, the first of equal ones in row order.
fn top_confusion(confusion: &[Vec<u64>]) -> Option<Confusion> {
    let mut top: Option<Confusion> = None;
    for (t, row) in confusion.iter().enumerate() {
        for (p, &count) in row.iter().enumerate() {
            if t != p && count > 0 && top.as_ref().is_none_or(|c| count > c.count) {
                top = Some(Confusion { true_class: t, predicted: p, count });
            }
        }
    }
    top
}

fn versus_mlp(a: &Output, c: &Config, noise: f64) -> VersusMlp {
    let (cnn, mlp) = (&a.costs.chosen_cnn, &a.costs.wide_mlp);
    let t = &a.translation;
    let last = |m: &[f64]| m.last().copied().unwrap_or(0.0);
    let first = |m: &[f64]| m.first().copied().unwrap_or(0.0);
    let cnn_seeds: Vec<f64> = a.study.replicates.iter().map(|r| r.test_accuracy).collect();
    let one_test_image = 1.0 / c.test_images.max(1) as f64;
    let (test_difference, test) = means_compared(&cnn_seeds, &a.wide_mlp_test_accuracies, one_test_image);
    let shifted_difference = last(&t.chosen_cnn.mean) - last(&t.wide_mlp.mean);
    let mlp_unshifted = first(&t.wide_mlp.mean);
    let best_unshifted = first(&t.chosen_cnn.mean).max(first(&t.reference_cnn.mean)).max(mlp_unshifted);
    VersusMlp {
        parameter_ratio: mlp.parameters as f64 / cnn.parameters.max(1) as f64,
        arithmetic_ratio: cnn.forward_macs as f64 / mlp.forward_macs.max(1) as f64,
        test_difference,
        test,
        cnn_seeds: cnn_seeds.len(),
        mlp_seeds: a.wide_mlp_test_accuracies.len(),
        as_many_seeds: cnn_seeds.len() == a.wide_mlp_test_accuracies.len(),
        shifted_difference,
        shifted: direction(shifted_difference, noise),
        reference_shifted: direction(last(&t.reference_cnn.mean) - last(&t.wide_mlp.mean), noise),
        mlp_lowest_unshifted: mlp_unshifted < first(&t.chosen_cnn.mean) && mlp_unshifted < first(&t.reference_cnn.mean),
        mlp_unshifted,
        best_unshifted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_confusion_is_the_largest_count_off_the_diagonal() {
        let m = vec![vec![50, 1, 0], vec![3, 40, 3], vec![0, 2, 60]];
        let c = top_confusion(&m).unwrap();
        assert_eq!((c.true_class, c.predicted, c.count), (1, 0, 3), "the first of two equal counts");
        assert!(top_confusion(&[vec![5, 0], vec![0, 7]]).is_none(), "no error, no confusion");
    }
}
