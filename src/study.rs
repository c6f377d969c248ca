//! A study of a recipe: the chosen recipe trained from several seeds on the
//! training images less a held-out validation split, each model tested
//! once, and variants of it compared with it on the validation split only.

use std::time::Instant;

use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};

use crate::models::LayerSummary;
use crate::recipe::{self, Recipe, Splits, Trained};
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
    /// Training time of all replicates together, evaluation included.
    pub replicates_seconds: f64,
    /// Epochs of every ablation run: the chosen recipe's, or fewer.
    pub ablation_epochs: usize,
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

/// Epochs a study trains in all: the replicates', the ablation's baseline
/// where it is shorter than the chosen recipe, and every variant's.
pub fn epochs(chosen: &Recipe, replicates: usize, variants: &[Variant], ablation_epochs: usize) -> usize {
    let baseline = if retrains_baseline(chosen, ablation_epochs) { ablation_epochs } else { 0 };
    replicates * chosen.epochs + baseline + variants.iter().map(|v| v.recipe.epochs).sum::<usize>()
}

/// Whether the ablation's baseline is a run of its own: the chosen recipe
/// trained for the ablation's epochs, where they are fewer than its own (else
/// the first replicate serves).
fn retrains_baseline(chosen: &Recipe, ablation_epochs: usize) -> bool {
    ablation_epochs != chosen.epochs
}

/// Every variant trains for the ablation's epochs, so that the ablation
/// compares like with like.
pub fn check_ablation(variants: &[Variant], ablation_epochs: usize) -> anyhow::Result<()> {
    match variants.iter().find(|v| v.recipe.epochs != ablation_epochs) {
        Some(v) => {
            anyhow::bail!("the ablation's variant \"{}\" trains {} epochs, not the ablation's {ablation_epochs}", v.name, v.recipe.epochs)
        }
        None => Ok(()),
    }
}

/// Trains `chosen` from `replicates` seeds derived from `seed` and tests
/// each model once, then compares every variant on the validation split
/// with the chosen recipe, all trained from the first replicate's seed for
/// `ablation_epochs`: where that is shorter than the chosen recipe, the
/// chosen recipe is trained that long once more as the ablation's baseline.
/// Returns the first replicate's model with the study.
pub fn study(
    chosen: &Recipe,
    replicates: usize,
    variants: &[Variant],
    ablation_epochs: usize,
    data: &Splits,
    seed: u64,
    progress: &ProgressBar,
) -> anyhow::Result<(Trained, Study)> {
    anyhow::ensure!(replicates > 0, "a study needs at least one replicate");
    check_ablation(variants, ablation_epochs)?;
    let mut runs = Vec::new();
    let mut first = None;
    let start = Instant::now();
    for r in 0..replicates {
        let seed = seed::derive(seed, &format!("replicate-{r}"));
        progress.set_prefix(format!("seed {}/{replicates}", r + 1));
        let (model, history) = recipe::train(chosen, seed, data, progress)?;
        runs.push(Replicate {
            seed,
            test_accuracy: recipe::test_accuracy(&model, data),
            seconds_per_epoch: history.seconds_per_epoch(),
            history,
        });
        first.get_or_insert(model);
    }
    let replicates_seconds = start.elapsed().as_secs_f64();
    let (Some(model), Some(first_run)) = (first, runs.first()) else { unreachable!("at least one replicate ran") };
    let (test_accuracy_mean, test_accuracy_std) = mean_std(&runs.iter().map(|r| r.test_accuracy).collect::<Vec<_>>());
    let (validation_accuracy_mean, _) = mean_std(&runs.iter().map(|r| r.history.final_val_accuracy).collect::<Vec<_>>());
    let first_seed = first_run.seed;
    let chosen_row = if retrains_baseline(chosen, ablation_epochs) {
        progress.set_prefix(format!("ablation: chosen recipe, {ablation_epochs} epochs"));
        let (_, history) = recipe::train(&Recipe { epochs: ablation_epochs, ..chosen.clone() }, first_seed, data, progress)?;
        ValidationRow::new("chosen recipe", &history)
    } else {
        ValidationRow::new("chosen recipe", &first_run.history)
    };
    let mut variant_rows = Vec::new();
    for variant in variants {
        progress.set_prefix(format!("ablation: {}", variant.name));
        let (_, history) = recipe::train(&variant.recipe, first_seed, data, progress)?;
        variant_rows.push(ValidationRow::new(&variant.name, &history));
    }
    progress.set_prefix("");
    let summary = model.summary();
    let study = Study {
        parameters: summary.iter().map(|l| l.parameters).sum(),
        summary,
        train_images: data.train.1.size()[0] as usize,
        validation_images: data.validation.1.size()[0] as usize,
        replicates: runs,
        test_accuracy_mean,
        test_accuracy_std,
        validation_accuracy_mean,
        replicates_seconds,
        ablation_epochs,
        chosen: chosen_row,
        variants: variant_rows,
    };
    Ok((model, study))
}
