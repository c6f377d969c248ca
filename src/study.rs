//! A study of a recipe: the chosen recipe trained from several seeds on the
//! training images less a held-out validation split, each model tested
//! once, and variants of it compared with it on the validation split only.
//! A study is designed as a list of independent trainings, so that each can
//! be kept on its own (and run by a job of its own), then assembled. Its
//! trainings are named after the study and drawn from the run's shared
//! seed, so that another experiment can declare and reuse them.

use serde::{Deserialize, Serialize};

use crate::models::LayerSummary;
use crate::profile::at_least_one;
use crate::recipe::{self, Done, Holdout, Recipe, Splits, Trained, Training};
use crate::seed;
use crate::stats::mean_std;
use crate::train::History;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replicate {
    pub seed: u64,
    pub history: History,
    pub test_accuracy: f64,
    pub seconds_per_epoch: f64,
}

/// One recipe's result on the validation split, from the first seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationRow {
    pub name: String,
    pub validation_accuracy: f64,
    pub seconds_per_epoch: f64,
}

impl ValidationRow {
    pub fn new(name: &str, history: &History) -> ValidationRow {
        ValidationRow {
            name: name.to_owned(),
            validation_accuracy: history.final_val_accuracy,
            seconds_per_epoch: history.seconds_per_epoch(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Study {
    pub summary: Vec<LayerSummary>,
    pub parameters: i64,
    pub train_images: usize,
    pub validation_images: usize,
    pub replicates: Vec<Replicate>,
    pub test_accuracy_mean: f64,
    pub test_accuracy_std: f64,
    pub validation_accuracy_mean: f64,
    /// Training time of all replicates together, validation included, as
    /// each was measured when it trained.
    pub replicates_seconds: f64,
    /// Epochs of every ablation run: the chosen recipe's, or fewer.
    pub ablation_epochs: usize,
    /// Training images of every ablation run: `train_images`, or a random
    /// subset of them.
    pub ablation_images: usize,
    /// The chosen recipe on the validation split, trained for the
    /// ablation's epochs from the first replicate's seed (the first
    /// replicate itself where those are all its epochs).
    pub chosen: ValidationRow,
    /// Each variant, trained from the first replicate's seed.
    pub variants: Vec<ValidationRow>,
}

/// A named variant of a chosen recipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Variant {
    pub name: String,
    pub recipe: Recipe,
}

impl Variant {
    pub fn new(name: &str, recipe: Recipe) -> Variant {
        Variant { name: name.to_owned(), recipe }
    }
}

/// What a study trains: the chosen recipe from `replicates` seeds, and an
/// ablation of `variants` against the chosen recipe, every ablation run
/// `ablation_epochs` long, on `ablation_images` of the training images
/// (all where `None`) and from the first replicate's seed.
#[derive(Debug, Clone, Copy)]
pub struct Design<'a> {
    /// What the study is of ("cnn"): its trainings' names start with it.
    pub label: &'a str,
    pub chosen: &'a Recipe,
    pub replicates: usize,
    pub variants: &'a [Variant],
    pub ablation_epochs: usize,
    pub ablation_images: Option<usize>,
}

impl<'a> Design<'a> {
    pub fn new(
        label: &'a str,
        chosen: &'a Recipe,
        replicates: usize,
        variants: &'a [Variant],
        ablation_epochs: usize,
        ablation_images: Option<usize>,
    ) -> Design<'a> {
        Design { label, chosen, replicates, variants, ablation_epochs, ablation_images }
    }

    /// Images passed through the networks in training, over every epoch of
    /// every run, where the training split holds `train_images`.
    pub fn training_images(&self, train_images: usize) -> u64 {
        let baseline = if self.retrains_baseline() { self.ablation_epochs } else { 0 };
        let ablation_epochs = baseline + self.variants.iter().map(|v| v.recipe.epochs).sum::<usize>();
        let ablation_images = self.ablation_images.map_or(train_images, |n| n.min(train_images));
        (self.replicates * self.chosen.epochs * train_images + ablation_epochs * ablation_images) as u64
    }

    /// Whether the ablation's baseline is a run of its own: the chosen
    /// recipe trained for the ablation's epochs on the ablation's images,
    /// where they are fewer than its own (else the first replicate serves).
    fn retrains_baseline(&self) -> bool {
        self.ablation_epochs != self.chosen.epochs || self.ablation_images.is_some()
    }

    /// Fails, before anything trains, where the study cannot give a result:
    /// no replicates, or a variant that trains another length than the
    /// ablation's, which would not compare like with like.
    pub fn check(&self) -> anyhow::Result<()> {
        at_least_one(self.chosen.epochs, "the number of epochs")?;
        at_least_one(self.replicates, "the number of replicates")?;
        match self.variants.iter().find(|v| v.recipe.epochs != self.ablation_epochs) {
            Some(v) => anyhow::bail!(
                "the ablation's variant \"{}\" trains {} epochs, not the ablation's {}",
                v.name,
                v.recipe.epochs,
                self.ablation_epochs
            ),
            None => Ok(()),
        }
    }

    /// Every training of the study, in the order `assemble` takes them:
    /// the replicates, the ablation's baseline where it is a run of its
    /// own, then the variants; all validated on `holdout`.
    pub fn trainings(&self, shared_seed: u64, holdout: Holdout) -> Vec<Training> {
        let replicates = (0..self.replicates).map(|r| replicate(self.label, self.chosen, r, shared_seed, holdout));
        let first_seed = replicate_seed(self.label, 0, shared_seed);
        let named = |what: &str| format!("{} ablation {what}", self.label);
        let baseline = self.retrains_baseline().then(|| {
            let short = Recipe { epochs: self.ablation_epochs, ..self.chosen.clone() };
            Training::new(&named("chosen recipe"), &short, first_seed, Some(holdout))
        });
        let variants = self.variants.iter().map(|v| Training::new(&named(&v.name), &v.recipe, first_seed, Some(holdout)));
        let ablation = baseline.into_iter().chain(variants).map(|t| t.on_images(self.ablation_images));
        replicates.chain(ablation).collect()
    }

    /// The study from its trainings' results, given in the order of
    /// `trainings(shared_seed, holdout)`: each replicate tested once, each variant compared
    /// with the chosen recipe on the validation split. Returns the first
    /// replicate's model with the study.
    pub fn assemble(&self, shared_seed: u64, done: Vec<Done>, data: &Splits) -> anyhow::Result<(Trained, Study)> {
        self.check()?;
        let expected = self.replicates + usize::from(self.retrains_baseline()) + self.variants.len();
        anyhow::ensure!(done.len() == expected, "a study of {expected} trainings was given {}", done.len());
        let mut done = done.into_iter();
        let mut first = None;
        let mut runs = Vec::new();
        let mut replicates_seconds = 0.0;
        for (r, replicate) in done.by_ref().take(self.replicates).enumerate() {
            runs.push(Replicate {
                seed: replicate_seed(self.label, r, shared_seed),
                test_accuracy: recipe::test_accuracy(&replicate.model, data),
                seconds_per_epoch: replicate.history.seconds_per_epoch(),
                history: replicate.history,
            });
            replicates_seconds += replicate.wall_seconds;
            first.get_or_insert(replicate.model);
        }
        let chosen = match self.retrains_baseline() {
            true => ValidationRow::new("chosen recipe", &done.next().expect("counted").history),
            false => ValidationRow::new("chosen recipe", &runs[0].history),
        };
        let variants = self.variants.iter().zip(done).map(|(v, d)| ValidationRow::new(&v.name, &d.history)).collect();
        let (test_accuracy_mean, test_accuracy_std) = mean_std(&runs.iter().map(|r| r.test_accuracy).collect::<Vec<_>>());
        let (validation_accuracy_mean, _) = mean_std(&runs.iter().map(|r| r.history.final_val_accuracy).collect::<Vec<_>>());
        let model = first.expect("checked: at least one replicate");
        let summary = model.summary();
        let train_images = data.train.1.size()[0] as usize;
        let study = Study {
            parameters: summary.iter().map(|l| l.parameters).sum(),
            summary,
            train_images,
            validation_images: data.validation.1.size()[0] as usize,
            replicates: runs,
            test_accuracy_mean,
            test_accuracy_std,
            validation_accuracy_mean,
            replicates_seconds,
            ablation_epochs: self.ablation_epochs,
            ablation_images: self.ablation_images.map_or(train_images, |n| n.min(train_images)),
            chosen,
            variants,
        };
        Ok((model, study))
    }
}

/// The seed of replicate `r` of the study of `label`, drawn from the run's
/// shared seed; the ablation trains from the first's.
pub fn replicate_seed(label: &str, r: usize, shared_seed: u64) -> u64 {
    seed::derive(seed::derive(shared_seed, label), &format!("replicate-{r}"))
}

/// Replicate `r` of the study of `label` that trains `chosen`: the
/// training another experiment declares to reuse that model.
pub fn replicate(label: &str, chosen: &Recipe, r: usize, shared_seed: u64, holdout: Holdout) -> Training {
    Training::new(&format!("{label} seed {}", r + 1), chosen, replicate_seed(label, r, shared_seed), Some(holdout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::networks;
    use crate::precision::Precision;

    #[test]
    fn an_ablation_on_fewer_images_trains_its_baseline_on_them_too_and_costs_less() {
        let chosen = networks::wide_mlp(Precision::Float32, 4);
        let variants = [Variant::new("slower", Recipe { learning_rate: 0.01, ..chosen.clone() })];
        let every_image =
            Design { label: "mlp", chosen: &chosen, replicates: 2, variants: &variants, ablation_epochs: 4, ablation_images: None };
        let holdout = Holdout { images: 100, seed: 3 };
        let trainings = |d: &Design| d.trainings(1, holdout).into_iter().map(|t| (t.name, t.images)).collect::<Vec<_>>();
        let named = |list: &[(&str, Option<usize>)]| list.iter().map(|&(n, i)| (n.to_owned(), i)).collect::<Vec<_>>();
        assert_eq!(trainings(&every_image), named(&[("mlp-seed-1", None), ("mlp-seed-2", None), ("mlp-ablation-slower", None)]));
        assert_eq!(every_image.training_images(1_000), 2 * 4 * 1_000 + 4 * 1_000);
        let fewer = Design { ablation_images: Some(300), ..every_image };
        assert_eq!(
            trainings(&fewer),
            named(&[
                ("mlp-seed-1", None),
                ("mlp-seed-2", None),
                ("mlp-ablation-chosen-recipe", Some(300)),
                ("mlp-ablation-slower", Some(300))
            ])
        );
        assert_eq!(fewer.training_images(1_000), 2 * 4 * 1_000 + 2 * 4 * 300);
        assert_eq!(fewer.training_images(200), 2 * 4 * 200 + 2 * 4 * 200, "never more images than the split holds");
    }
}
