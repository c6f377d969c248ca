//! Question 2's figures: the notebook's MLP and its accuracy per epoch; the
//! weight-decay sweep, the wide MLP and its accuracy without decay; the
//! tuned MLP's accuracy per epoch over its seeds.

use super::draw::{self, Figure, Reference};
use crate::experiments::q2_mlp::{self, MlpResult, SweepConfig, SweepResult, TunedConfig};
use crate::models::mlp;
use crate::study::Study;

/// Question 2 A-C: the network's diagram and its accuracy per epoch.
pub fn notebook_mlp(result: &MlpResult) -> anyhow::Result<Vec<Figure>> {
    let layers: Vec<(i64, i64)> = result.dense_layers.iter().map(|d| (d.outputs, d.parameters)).collect();
    Ok(vec![
        draw::mlp_diagram("q2_notebook_model", result.inputs, &layers)?,
        draw::history_curves("q2_notebook_accuracy", &result.history)?,
    ])
}

/// Question 2 D: the wide network's diagram, the final accuracy by decay
/// factor against Hinton's and the network without decay, and the first
/// replicate without decay per epoch.
pub fn weight_decay_sweep(config: &SweepConfig, result: &SweepResult) -> anyhow::Result<Vec<Figure>> {
    let decayed: Vec<(f64, f64, f64)> = result.decayed.iter().map(|f| (f.l2, f.final_mean, f.final_std)).collect();
    let hinton = result.hinton.map(|y| Reference { label: "Hinton (LeCun's MNIST page)", y, colour: draw::BLACK });
    let undecayed = Reference { label: "no weight decay (mean)", y: result.baseline.final_mean, colour: draw::TRAIN_COLOUR };
    let references: Vec<Reference> = hinton.into_iter().chain([undecayed]).collect();
    let sweep = draw::log_factor_plot(
        "q2_weight_decay",
        "L2 factor on the hidden kernels",
        "final validation accuracy (%)",
        &decayed,
        &references,
    )?;
    let first_baseline = result.runs.iter().find(|r| r.l2 == 0.0 && r.replicate == 0).unwrap_or(&result.runs[0]);
    let hidden = q2_mlp::hidden_widths(&config.recipe);
    let widths = mlp::widths(hidden);
    let layers: Vec<(i64, i64)> = widths[1..].iter().copied().zip(mlp::layer_parameters(hidden)).collect();
    let model = draw::mlp_diagram("q2_wide_model", widths[0], &layers)?;
    Ok(vec![model, sweep, draw::history_curves("q2_wide_accuracy", &first_baseline.history)?])
}

/// Question 2 D's tuned network: accuracy per epoch over its seeds, the
/// training curve named after the chosen recipe.
pub fn tuned_mlp(config: &TunedConfig, study: &Study) -> anyhow::Result<Vec<Figure>> {
    Ok(vec![draw::study_curves("q2_tuned_accuracy", study, &config.chosen)?])
}
