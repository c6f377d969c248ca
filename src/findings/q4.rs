//! Question 4's findings: where the noisy images become hard to identify
//! (the group's own reading, and the classifier's as a second opinion), at
//! which noise levels denoising helps the classifier beyond the spread of
//! the noise draws, where it stops helping, what it costs on clean images,
//! and whether the generated images are recognisable.

use serde::Serialize;

use super::shared::{Direction, RecipeTraits, SPREAD_Z, direction};
use crate::data::CLASSES;
use crate::experiments::q4_autoencoder::{Config, Level, Output, Scored};

/// A level is hard to identify, by the classifier's measure, once it gets
/// fewer than this share of the images right.
pub const IDENTIFIABLE: f64 = 0.5;
/// Accuracies below this multiple of chance (one over the classes) are
/// near chance: nothing is classified there, so nothing can improve.
pub const NEAR_CHANCE_FACTOR: f64 = 1.5;
/// Denoised images that the classifier reads within this of its clean
/// accuracy count as close to clean.
pub const CLOSE_TO_CLEAN: f64 = 0.05;
/// Denoising clean images costs "a little" up to this much accuracy.
pub const SMALL_COST: f64 = 0.01;
/// Generated images count as recognisable where the classifier assigns at
/// least this share to the intended class.
pub const RECOGNISABLE: f64 = 0.8;

/// What denoising does for the classifier at one noise level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    Helps,
    Hurts,
    WithinNoise,
    /// Both the noisy and the denoised accuracy are near chance.
    NothingClassified,
}

#[derive(Debug, Clone, Serialize)]
pub struct LevelEffect {
    pub level: f64,
    /// Denoised minus noisy accuracy.
    pub difference: f64,
    pub effect: Effect,
}

/// The answer to "does denoising improve the classification?", over the
/// noisy levels where anything is classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Yes,
    Partly,
    No,
}

/// Where denoising stops helping the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reach {
    /// It helps at no level with noise.
    Never,
    /// It helps up to the highest level measured.
    ToTheEnd,
    /// It helps up to a level beyond which both versions are near chance.
    UntilNothingIsLeft,
    /// It stops helping at a level where something is still classified.
    Stops,
}

/// The group's own reading of the examples against the classifier's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Agreement {
    /// The group finds the images hard at a lower level than the classifier.
    Earlier,
    Same,
    Later,
    /// The classifier reads more than half at every level.
    ClassifierNever,
}

#[derive(Debug, Clone, Serialize)]
pub struct Judgement {
    pub level: f64,
    pub agreement: Agreement,
}

/// Denoising clean images (level 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanCost {
    Nothing,
    Little,
    Large,
}

/// The denoised images at the autoencoder's training level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quality {
    CloseToClean,
    BetterThanNoisy,
    NoBetter,
}

#[derive(Debug, Clone, Serialize)]
pub struct AtTraining {
    pub level: f64,
    pub noisy: f64,
    pub denoised: f64,
    /// The classifier misreads most of the noisy images.
    pub noisy_misread: bool,
    pub quality: Quality,
}

#[derive(Debug, Clone, Serialize)]
pub struct Findings {
    pub chance: f64,
    /// Accuracies below this are near chance (`NEAR_CHANCE_FACTOR` times it).
    pub near_chance: f64,
    /// A clean-image cost up to this much accuracy counts as a little.
    pub small_cost: f64,
    /// The first level at which the classifier gets fewer than half of the
    /// noisy (denoised) images right.
    pub noisy_hard_from: Option<f64>,
    pub noisy_hard_accuracy: Option<f64>,
    pub denoised_hard_from: Option<f64>,
    pub denoised_hard_accuracy: Option<f64>,
    /// The group's own reading (`q4_noisy_hard_from` in report.toml).
    pub own_judgement: Option<Judgement>,
    pub levels: Vec<LevelEffect>,
    pub helps: Vec<f64>,
    pub hurts: Vec<f64>,
    pub within_noise: Vec<f64>,
    pub nothing_classified: Vec<f64>,
    /// Levels with noise where something is classified and denoising does
    /// not help: `hurts` and `within_noise` together, in order.
    pub no_help: Vec<f64>,
    pub answer: Answer,
    pub reach: Reach,
    /// The last level with noise where denoising helps, and the next level.
    pub helps_up_to: Option<f64>,
    pub stops_from: Option<f64>,
    /// Levels above 0 where the denoised image is closer to (farther from)
    /// the clean one than the noisy image, in mean squared error.
    pub mse_closer: Vec<f64>,
    pub mse_farther: Vec<f64>,
    pub clean_cost: CleanCost,
    pub clean_difference: f64,
    pub at_training: Option<AtTraining>,
    pub highest_level: f64,
    pub highest_noisy: f64,
    pub highest_denoised: f64,
    pub highest_near_chance: bool,
    pub generated_recognisable: bool,
    pub classifier_mixed_precision: bool,
    pub choice: Choice,
}

/// Why parts C and D classify with the model they do.
#[derive(Debug, Clone, Serialize)]
pub struct Choice {
    /// Candidate models compared.
    pub candidates: usize,
    /// The best model of another kind than the chosen one, if any.
    pub runner_up: Option<Scored>,
    /// Its validation accuracy is within one validation image of the
    /// chosen model's: the choice between them is a tie.
    pub tied: bool,
}

/// The choice of `classifier` among `candidates`, whose validation
/// accuracies are counted on `validation_images`.
fn choice(candidates: &[Scored], chosen_model: &str, chosen_accuracy: f64, validation_images: usize) -> Choice {
    let runner_up = candidates
        .iter()
        .filter(|s| s.model != chosen_model)
        .max_by(|a, b| a.validation_accuracy.total_cmp(&b.validation_accuracy))
        .cloned();
    let one_image = 1.0 / validation_images.max(1) as f64;
    let tied = runner_up.as_ref().is_some_and(|r| chosen_accuracy - r.validation_accuracy < one_image);
    Choice { candidates: candidates.len(), runner_up, tied }
}

impl Findings {
    /// `own`: the level from which the group finds the noisy images hard to
    /// identify, if it has said.
    pub fn new(a: &Output, c: &Config, own: Option<f64>) -> Findings {
        let chance = 1.0 / CLASSES as f64;
        let near_chance = NEAR_CHANCE_FACTOR * chance;
        let one_image = 1.0 / c.test_images.max(1) as f64;
        let levels: Vec<LevelEffect> = a.levels.iter().map(|l| level_effect(l, near_chance, one_image)).collect();
        let noisy_hard = a.levels.iter().find(|l| l.accuracy_noisy_mean < IDENTIFIABLE);
        let denoised_hard = a.levels.iter().find(|l| l.accuracy_denoised_mean < IDENTIFIABLE);
        let with_noise: Vec<&LevelEffect> = levels.iter().filter(|l| l.level > 0.0).collect();
        let of = |effect: Effect| with_noise.iter().filter(|l| l.effect == effect).map(|l| l.level).collect::<Vec<f64>>();
        let (reach, helps_up_to, stops_from) = reach(&with_noise);
        let clean = levels.first();
        let clean_difference = clean.map_or(0.0, |l| l.difference);
        let clean_cost = match clean.map(|l| l.effect) {
            Some(Effect::Hurts) if clean_difference < -SMALL_COST => CleanCost::Large,
            Some(Effect::Hurts) => CleanCost::Little,
            _ => CleanCost::Nothing,
        };
        let at_training = a.levels.iter().zip(&levels).find(|(l, _)| (l.level - c.train_noise).abs() < 1e-9).map(|(l, e)| AtTraining {
            level: l.level,
            noisy: l.accuracy_noisy_mean,
            denoised: l.accuracy_denoised_mean,
            noisy_misread: l.accuracy_noisy_mean < IDENTIFIABLE,
            quality: if l.accuracy_denoised_mean >= a.classifier.test_accuracy - CLOSE_TO_CLEAN {
                Quality::CloseToClean
            } else if e.effect == Effect::Helps {
                Quality::BetterThanNoisy
            } else {
                Quality::NoBetter
            },
        });
        let highest = a.levels.last();
        let (highest_noisy, highest_denoised) = highest.map_or((0.0, 0.0), |l| (l.accuracy_noisy_mean, l.accuracy_denoised_mean));
        let (closer, farther): (Vec<&Level>, Vec<&Level>) =
            a.levels.iter().filter(|l| l.level > 0.0).partition(|l| l.mse_denoised < l.mse_noisy);
        Findings {
            chance,
            near_chance,
            small_cost: SMALL_COST,
            noisy_hard_from: noisy_hard.map(|l| l.level),
            noisy_hard_accuracy: noisy_hard.map(|l| l.accuracy_noisy_mean),
            denoised_hard_from: denoised_hard.map(|l| l.level),
            denoised_hard_accuracy: denoised_hard.map(|l| l.accuracy_denoised_mean),
            own_judgement: own.map(|level| Judgement { level, agreement: agreement(level, noisy_hard.map(|l| l.level)) }),
            helps: of(Effect::Helps),
            hurts: of(Effect::Hurts),
            within_noise: of(Effect::WithinNoise),
            nothing_classified: of(Effect::NothingClassified),
            no_help: with_noise.iter().filter(|l| matches!(l.effect, Effect::Hurts | Effect::WithinNoise)).map(|l| l.level).collect(),
            answer: answer(&with_noise),
            reach,
            helps_up_to,
            stops_from,
            levels,
            mse_closer: closer.iter().map(|l| l.level).collect(),
            mse_farther: farther.iter().map(|l| l.level).collect(),
            clean_cost,
            clean_difference,
            at_training,
            highest_level: highest.map_or(0.0, |l| l.level),
            highest_noisy,
            highest_denoised,
            highest_near_chance: highest_noisy < near_chance && highest_denoised < near_chance,
            generated_recognisable: a.generated_accuracy >= RECOGNISABLE,
            classifier_mixed_precision: c
                .candidates
                .get(a.classifier.candidate)
                .is_some_and(|k| RecipeTraits::of(&k.recipe).mixed_precision),
            choice: choice(&a.candidates, &a.classifier.model, a.classifier.validation_accuracy, c.validation_images),
        }
    }
}

/// Denoising's effect at one level: beyond twice the spread of the
/// difference over the noise draws (at least one test image), unless both
/// accuracies are below `near_chance`.
fn level_effect(l: &Level, near_chance: f64, one_image: f64) -> LevelEffect {
    let difference = l.accuracy_denoised_mean - l.accuracy_noisy_mean;
    let noise = (SPREAD_Z * (l.accuracy_noisy_std.powi(2) + l.accuracy_denoised_std.powi(2)).sqrt()).max(one_image);
    let effect = if l.accuracy_noisy_mean < near_chance && l.accuracy_denoised_mean < near_chance {
        Effect::NothingClassified
    } else {
        match direction(difference, noise) {
            Direction::Higher => Effect::Helps,
            Direction::Lower => Effect::Hurts,
            Direction::WithinNoise => Effect::WithinNoise,
        }
    };
    LevelEffect { level: l.level, difference, effect }
}

fn answer(with_noise: &[&LevelEffect]) -> Answer {
    let judged: Vec<Effect> = with_noise.iter().map(|l| l.effect).filter(|e| *e != Effect::NothingClassified).collect();
    if !judged.is_empty() && judged.iter().all(|e| *e == Effect::Helps) {
        Answer::Yes
    } else if judged.contains(&Effect::Helps) {
        Answer::Partly
    } else {
        Answer::No
    }
}

/// Where denoising stops helping: after the last level with noise at which
/// it helps.
fn reach(with_noise: &[&LevelEffect]) -> (Reach, Option<f64>, Option<f64>) {
    let Some(last_help) = with_noise.iter().rposition(|l| l.effect == Effect::Helps) else {
        return (Reach::Never, None, None);
    };
    let after = &with_noise[last_help + 1..];
    let reach = if after.is_empty() {
        Reach::ToTheEnd
    } else if after.iter().all(|l| l.effect == Effect::NothingClassified) {
        Reach::UntilNothingIsLeft
    } else {
        Reach::Stops
    };
    (reach, Some(with_noise[last_help].level), after.first().map(|l| l.level))
}

fn agreement(own: f64, classifier: Option<f64>) -> Agreement {
    match classifier {
        None => Agreement::ClassifierNever,
        Some(c) if (own - c).abs() < 1e-9 => Agreement::Same,
        Some(c) if own < c => Agreement::Earlier,
        Some(_) => Agreement::Later,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(level: f64, noisy: f64, denoised: f64) -> Level {
        Level {
            level,
            mse_noisy: level,
            mse_denoised: 0.05,
            psnr_noisy: None,
            psnr_denoised: None,
            accuracy_noisy_mean: noisy,
            accuracy_noisy_std: 0.002,
            accuracy_denoised_mean: denoised,
            accuracy_denoised_std: 0.002,
        }
    }

    fn effects(levels: &[Level]) -> Vec<LevelEffect> {
        levels.iter().map(|l| level_effect(l, 0.15, 1e-4)).collect()
    }

    #[test]
    fn below_chance_nothing_improves_and_a_gain_must_exceed_the_draws_spread() {
        let e = effects(&[level(0.5, 0.40, 0.80), level(0.6, 0.40, 0.401), level(0.7, 0.50, 0.30), level(0.9, 0.09, 0.12)]);
        let got: Vec<Effect> = e.iter().map(|l| l.effect).collect();
        assert_eq!(got, [Effect::Helps, Effect::WithinNoise, Effect::Hurts, Effect::NothingClassified]);
        // One version above chance is something classified.
        assert_eq!(effects(&[level(0.9, 0.09, 0.30)])[0].effect, Effect::Helps);
    }

    #[test]
    fn the_answer_and_the_reach_follow_the_levels() {
        let refs = |e: &[LevelEffect]| -> Vec<LevelEffect> { e.to_vec() };
        let all_help = effects(&[level(0.1, 0.8, 0.9), level(0.2, 0.6, 0.9)]);
        let r: Vec<&LevelEffect> = all_help.iter().collect();
        assert_eq!((answer(&r), reach(&r).0), (Answer::Yes, Reach::ToTheEnd));
        let to_chance = refs(&effects(&[level(0.1, 0.8, 0.9), level(0.9, 0.10, 0.11), level(1.0, 0.1, 0.1)]));
        let r: Vec<&LevelEffect> = to_chance.iter().collect();
        assert_eq!((answer(&r), reach(&r)), (Answer::Yes, (Reach::UntilNothingIsLeft, Some(0.1), Some(0.9))));
        let stops = effects(&[level(0.1, 0.8, 0.9), level(0.2, 0.6, 0.5), level(0.3, 0.4, 0.4)]);
        let r: Vec<&LevelEffect> = stops.iter().collect();
        assert_eq!((answer(&r), reach(&r)), (Answer::Partly, (Reach::Stops, Some(0.1), Some(0.2))));
        let never = effects(&[level(0.1, 0.9, 0.8), level(1.0, 0.1, 0.1)]);
        let r: Vec<&LevelEffect> = never.iter().collect();
        assert_eq!((answer(&r), reach(&r).0), (Answer::No, Reach::Never));
    }

    #[test]
    fn the_choice_names_the_best_model_of_another_kind_and_a_tie_within_one_image() {
        let scored = |model: &str, seed, validation_accuracy| Scored { model: model.into(), seed, validation_accuracy };
        let candidates = [scored("mlp", 1, 0.990), scored("mlp", 2, 0.992), scored("cnn", 1, 0.996), scored("cnn", 2, 0.995)];
        let clear = choice(&candidates, "cnn", 0.996, 5000);
        assert_eq!((clear.candidates, clear.runner_up.as_ref().map(|r| r.seed), clear.tied), (4, Some(2), false));
        let close = [scored("mlp", 1, 0.9958), scored("cnn", 1, 0.996)];
        assert!(choice(&close, "cnn", 0.996, 1000).tied, "0.02 points apart on 1000 images: less than one image");
        assert!(!choice(&close, "cnn", 0.996, 10_000).tied, "two images of 10,000");
        assert!(choice(&[scored("cnn", 1, 0.99)], "cnn", 0.99, 100).runner_up.is_none());
    }

    #[test]
    fn the_groups_reading_is_set_against_the_classifiers() {
        assert_eq!(agreement(0.5, Some(0.6)), Agreement::Earlier);
        assert_eq!(agreement(0.6, Some(0.6)), Agreement::Same);
        assert_eq!(agreement(0.7, Some(0.6)), Agreement::Later);
        assert_eq!(agreement(0.7, None), Agreement::ClassifierNever);
    }
}
