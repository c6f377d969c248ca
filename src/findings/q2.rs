//! Question 2's findings: how the notebook's network ends its training,
//! what the weight-decay sweep shows against its replicate spread, and what
//! the tuned recipe gains, against Hinton's figure and in its ablation.

use serde::Serialize;

use super::shared::{Ablation, Direction, EndOfTraining, Fit, RecipeTraits, SPREAD_Z, ablation, direction, end_of_history};
use crate::experiments::q2_mlp::{FactorSummary, MlpResult, SweepConfig, SweepResult, TunedConfig};
use crate::study::Study;

#[derive(Debug, Clone, Serialize)]
pub struct Findings {
    pub notebook: Notebook,
    pub sweep: Sweep,
    pub tuned: Tuned,
}

/// Question 2 C: the notebook's network after its epochs.
#[derive(Debug, Clone, Serialize)]
pub struct Notebook {
    /// The last epoch has the best validation accuracy.
    pub final_is_best: bool,
    /// In the first epoch the validation accuracy lies above the training
    /// accuracy (a running mean over the epoch's still-improving weights).
    pub first_epoch_validation_above: bool,
    pub end: EndOfTraining,
    pub seconds_per_epoch: f64,
}

/// A paired gain over no decay, read with its t test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Significance {
    SignificantGain,
    SignificantLoss,
    WithinSpread,
    /// No replicate's final accuracy moved: every paired gain is 0.
    Unchanged,
    /// The t statistic is undefined (one replicate, or every replicate
    /// gained the same), so chance cannot be ruled in or out.
    Untestable,
}

impl Significance {
    pub fn of(f: &FactorSummary) -> Significance {
        match (f.paired_t, f.gain_significant, f.paired_gain_mean) {
            (None, _, gain) if gain == 0.0 && f.paired_gain_std == 0.0 => Significance::Unchanged,
            (None, _, _) => Significance::Untestable,
            (Some(_), true, gain) if gain > 0.0 => Significance::SignificantGain,
            (Some(_), true, _) => Significance::SignificantLoss,
            (Some(_), false, _) => Significance::WithinSpread,
        }
    }
}

/// Whether the other replicates end as replicate 1 does: where all do,
/// what it shows about overfitting holds for the network, not one training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    /// Replicate 1 is the only one.
    Alone,
    All,
    NotAll,
}

impl Agreement {
    pub fn of(alike: usize, replicates: usize) -> Agreement {
        match replicates {
            0 | 1 => Agreement::Alone,
            _ if alike == replicates => Agreement::All,
            _ => Agreement::NotAll,
        }
    }
}

/// One decay factor as the answer cites it.
#[derive(Debug, Clone, Serialize)]
pub struct Factor {
    pub l2: f64,
    pub final_mean: f64,
    pub gain: f64,
    pub significance: Significance,
}

impl Factor {
    fn of(f: &FactorSummary) -> Factor {
        Factor { l2: f.l2, final_mean: f.final_mean, gain: f.paired_gain_mean, significance: Significance::of(f) }
    }
}

/// Question 2 D's weight-decay sweep.
#[derive(Debug, Clone, Serialize)]
pub struct Sweep {
    /// The factor with the highest mean final validation accuracy.
    pub top: Factor,
    /// The largest factor tried.
    pub largest: Factor,
    pub smallest_l2: f64,
    pub largest_l2: f64,
    /// The top factor's mean minus Hinton's figure, where there is one.
    pub top_from_hinton: Option<f64>,
    /// Replicate 1 without decay, at its last epoch.
    pub undecayed_end: EndOfTraining,
    /// How many replicates without decay (replicate 1 among them) end as
    /// replicate 1 does (the same `Fit`), of how many.
    pub undecayed_ending_alike: usize,
    pub undecayed_replicates: usize,
    pub undecayed_agreement: Agreement,
    /// The single network with the best validation accuracy at any epoch:
    /// its factor (none without decay), replicate (1-based) and epoch.
    pub best_single_l2: Option<f64>,
    pub best_single_replicate: usize,
    pub best_single_epoch: usize,
    pub best_single_accuracy: f64,
    pub mixed_precision: bool,
}

/// Whether the training recipe moves the accuracy more than weight decay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipeVersusDecay {
    /// Beyond the replicates' spread, and more than any decay factor.
    RecipeMore,
    /// Beyond the spread, but no more than the largest decay effect.
    DecayAsMuch,
    /// Within the replicates' spread: this run cannot tell.
    WithinSpread,
}

impl RecipeVersusDecay {
    pub fn of(recipe_gain: f64, decay_moves: f64, noise: f64) -> RecipeVersusDecay {
        if recipe_gain.abs() <= noise {
            RecipeVersusDecay::WithinSpread
        } else if recipe_gain.abs() > decay_moves {
            RecipeVersusDecay::RecipeMore
        } else {
            RecipeVersusDecay::DecayAsMuch
        }
    }
}

/// How the tuned network's test accuracy stands to Hinton's figure.
#[derive(Debug, Clone, Serialize)]
pub struct Hinton {
    pub accuracy: f64,
    pub difference: f64,
    /// Above or below beyond twice the standard error of the seeds' mean
    /// (or one test image), else within the noise.
    pub direction: Direction,
    /// The tuned recipe trains on distorted images (rotations, scalings,
    /// elastic bends), which LeCun's page lists apart from Hinton's figure:
    /// the comparison is not like for like.
    pub distorted_training: bool,
}

/// Question 2 D's tuned network.
#[derive(Debug, Clone, Serialize)]
pub struct Tuned {
    pub recipe: RecipeTraits,
    pub hinton: Option<Hinton>,
    /// How far the recipe moves the accuracy (test accuracy minus the
    /// sweep's undecayed final accuracy), and the most any decay factor
    /// moves it (absolute paired gain).
    pub recipe_gain: f64,
    pub decay_moves: f64,
    pub recipe_versus_decay: RecipeVersusDecay,
    /// The band within which the recipe's gain is chance: twice the spread
    /// of a difference between the two means (at least one test image).
    pub recipe_noise: f64,
    /// The sweep's top factor gains significantly, yet the recipe has no decay.
    pub decay_left_out_though_it_helped: bool,
    pub ablation: Ablation,
    pub ablation_shorter: bool,
    pub ablation_fewer_images: bool,
}

impl Findings {
    pub fn new(
        notebook: &MlpResult,
        sweep: &SweepResult,
        sweep_config: &SweepConfig,
        tuned: &Study,
        tuned_config: &TunedConfig,
    ) -> Findings {
        let h = &notebook.history;
        let notebook = Notebook {
            final_is_best: h.best_epoch == h.epochs.len(),
            first_epoch_validation_above: h.epochs.first().is_some_and(|e| e.val_accuracy > e.train_accuracy),
            end: end_of_history(&h.epochs),
            seconds_per_epoch: h.train_seconds / h.epochs.len().max(1) as f64,
        };
        let sweep_findings = sweep_findings(sweep, sweep_config);
        let tuned = tuned_findings(tuned, tuned_config, sweep, sweep_config, &sweep_findings);
        Findings { notebook, sweep: sweep_findings, tuned }
    }
}

fn sweep_findings(s: &SweepResult, config: &SweepConfig) -> Sweep {
    let top = s.decayed.iter().max_by(|a, b| a.final_mean.total_cmp(&b.final_mean)).unwrap_or(&s.baseline);
    let largest = s.decayed.iter().max_by(|a, b| a.l2.total_cmp(&b.l2)).unwrap_or(&s.baseline);
    let smallest_l2 = s.decayed.iter().map(|f| f.l2).fold(f64::INFINITY, f64::min);
    let undecayed = s.runs.iter().find(|r| r.l2 == 0.0 && r.replicate == 0).or(s.runs.first());
    let undecayed_end = end_of_history(undecayed.map_or(&[][..], |r| &r.history.epochs));
    let undecayed_fits: Vec<Fit> = s.runs.iter().filter(|r| r.l2 == 0.0).map(|r| end_of_history(&r.history.epochs).fit).collect();
    let undecayed_ending_alike = undecayed_fits.iter().filter(|&&fit| fit == undecayed_end.fit).count();
    let best = &s.runs[s.best_run.min(s.runs.len().saturating_sub(1))];
    Sweep {
        top: Factor::of(top),
        largest: Factor::of(largest),
        smallest_l2,
        largest_l2: largest.l2,
        top_from_hinton: s.hinton.map(|h| top.final_mean - h),
        undecayed_end,
        undecayed_ending_alike,
        undecayed_replicates: undecayed_fits.len(),
        undecayed_agreement: Agreement::of(undecayed_ending_alike, undecayed_fits.len()),
        best_single_l2: (best.l2 > 0.0).then_some(best.l2),
        best_single_replicate: best.replicate + 1,
        best_single_epoch: best.history.best_epoch,
        best_single_accuracy: best.history.best_val_accuracy,
        mixed_precision: RecipeTraits::of(&config.recipe).mixed_precision,
    }
}

fn tuned_findings(t: &Study, config: &TunedConfig, sweep: &SweepResult, sweep_config: &SweepConfig, sweep_findings: &Sweep) -> Tuned {
    let recipe = RecipeTraits::of(&config.chosen);
    let seeds: Vec<f64> = t.replicates.iter().map(|r| r.history.final_val_accuracy).collect();
    let test_images = config.test_images.max(1) as f64;
    let standard_error = t.test_accuracy_std / (t.replicates.len().max(1) as f64).sqrt();
    let hinton = sweep.hinton.map(|accuracy| {
        let difference = t.test_accuracy_mean - accuracy;
        Hinton {
            accuracy,
            difference,
            direction: direction(difference, (SPREAD_Z * standard_error).max(1.0 / test_images)),
            distorted_training: recipe.distorted,
        }
    });
    let recipe_gain = t.test_accuracy_mean - sweep.baseline.final_mean;
    let decay_moves = sweep.decayed.iter().map(|f| f.paired_gain_mean.abs()).fold(0.0, f64::max);
    let mean_error = |std: f64, n: usize| std.powi(2) / n.max(1) as f64;
    let recipe_noise = (SPREAD_Z
        * (mean_error(t.test_accuracy_std, t.replicates.len()) + mean_error(sweep.baseline.final_std, sweep_config.replicates)).sqrt())
    .max(1.0 / test_images);
    Tuned {
        hinton,
        recipe_gain,
        decay_moves,
        recipe_versus_decay: RecipeVersusDecay::of(recipe_gain, decay_moves, recipe_noise),
        recipe_noise,
        decay_left_out_though_it_helped: recipe.l2.is_none() && sweep_findings.top.significance == Significance::SignificantGain,
        ablation: ablation(&t.chosen, &t.variants, &seeds, t.validation_images),
        ablation_shorter: t.ablation_epochs < config.chosen.epochs,
        ablation_fewer_images: t.ablation_images < t.train_images,
        recipe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recipe_matters_more_only_beyond_the_spread_and_the_largest_decay_effect() {
        assert_eq!(RecipeVersusDecay::of(0.01, 0.002, 0.003), RecipeVersusDecay::RecipeMore);
        assert_eq!(RecipeVersusDecay::of(-0.01, 0.002, 0.003), RecipeVersusDecay::RecipeMore, "a loss moves it too");
        assert_eq!(RecipeVersusDecay::of(0.004, 0.005, 0.003), RecipeVersusDecay::DecayAsMuch);
        assert_eq!(RecipeVersusDecay::of(0.036, 0.01, 0.05), RecipeVersusDecay::WithinSpread, "a gain inside the replicates' spread");
    }

    fn factor(l2: f64, gain: f64, significant: bool) -> FactorSummary {
        FactorSummary {
            l2,
            final_mean: 0.98 + gain,
            final_std: 0.001,
            best_mean: 0.98,
            best_std: 0.001,
            paired_gain_mean: gain,
            paired_gain_std: 0.001,
            paired_t: Some(3.0),
            gain_significant: significant,
            diverged: 0,
        }
    }

    #[test]
    fn a_paired_gain_is_a_gain_a_loss_or_within_the_spread() {
        assert_eq!(Significance::of(&factor(1e-4, 0.002, true)), Significance::SignificantGain);
        assert_eq!(Significance::of(&factor(1e-3, -0.004, true)), Significance::SignificantLoss);
        assert_eq!(Significance::of(&factor(1e-3, 0.004, false)), Significance::WithinSpread);
        assert_eq!(Significance::of(&factor(1e-3, -0.004, false)), Significance::WithinSpread);
    }

    #[test]
    fn replicates_agree_only_where_all_of_two_or_more_end_alike() {
        assert_eq!(Agreement::of(1, 1), Agreement::Alone);
        assert_eq!(Agreement::of(3, 3), Agreement::All);
        assert_eq!(Agreement::of(2, 3), Agreement::NotAll);
    }

    #[test]
    fn a_gain_without_a_t_statistic_is_unchanged_or_untestable_never_within_the_spread() {
        let no_t = |gain: f64, std: f64| FactorSummary { paired_t: None, paired_gain_std: std, ..factor(1e-3, gain, false) };
        assert_eq!(Significance::of(&no_t(0.0, 0.0)), Significance::Unchanged, "no replicate moved");
        assert_eq!(Significance::of(&no_t(0.001, 0.0)), Significance::Untestable, "every replicate gained alike");
        assert_eq!(Significance::of(&no_t(-0.001, 0.0)), Significance::Untestable);
    }
}
