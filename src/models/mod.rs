//! The networks the assignment trains, each a small struct plus its forward.

pub mod autoencoder;
pub mod batched_mlp;
pub mod cnn;
pub mod mlp;

use serde::{Deserialize, Serialize};

/// One row of a Keras-style model summary, read off a built model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerSummary {
    pub name: String,
    pub kind: String,
    /// Output shape without the batch dimension.
    pub output_shape: Vec<i64>,
    pub parameters: i64,
    pub activation: Option<String>,
}

impl LayerSummary {
    pub fn new(name: impl Into<String>, kind: &str, output_shape: &[i64], parameters: i64, activation: Option<&str>) -> LayerSummary {
        LayerSummary {
            name: name.into(),
            kind: kind.into(),
            output_shape: output_shape.to_vec(),
            parameters,
            activation: activation.map(Into::into),
        }
    }
}

/// Keras's Glorot-uniform bound for a kernel of `fan_in` x `fan_out`.
pub fn glorot_bound(fan_in: i64, fan_out: i64) -> f64 {
    (6.0 / (fan_in + fan_out) as f64).sqrt()
}

/// Training FLOPs per image for a network of `forward_macs` multiply-adds:
/// 2 FLOPs per multiply-add, and a backward pass costing about twice the
/// forward.
pub fn training_flops_per_image(forward_macs: i64) -> f64 {
    2.0 * 3.0 * forward_macs as f64
}
