//! The networks the assignment trains, each a small struct plus its forward.

pub mod autoencoder;
pub mod batched_mlp;
pub mod cnn;
pub mod mlp;

use serde::{Deserialize, Serialize};

/// A layer's kind, named as Keras names its class.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum LayerKind {
    Flatten,
    Dense,
    Dropout,
    Conv2D,
    BatchNormalization,
    MaxPooling2D,
}

/// One row of a Keras-style model summary, read off a built model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LayerSummary {
    pub name: String,
    pub kind: LayerKind,
    /// The convolution block (0-based) the layer belongs to, if any.
    pub block: Option<usize>,
    /// Output shape without the batch dimension.
    pub output_shape: Vec<i64>,
    pub parameters: i64,
    pub activation: Option<String>,
}

impl LayerSummary {
    pub fn new(name: impl Into<String>, kind: LayerKind, output_shape: &[i64], parameters: i64, activation: Option<&str>) -> LayerSummary {
        LayerSummary {
            name: name.into(),
            kind,
            block: None,
            output_shape: output_shape.to_vec(),
            parameters,
            activation: activation.map(Into::into),
        }
    }

    /// The same row, as a layer of convolution block `block`.
    pub fn in_block(self, block: usize) -> LayerSummary {
        LayerSummary { block: Some(block), ..self }
    }
}

/// Keras's Glorot-uniform bound for a kernel of `fan_in` x `fan_out`.
pub fn glorot_bound(fan_in: i64, fan_out: i64) -> f64 {
    (6.0 / (fan_in + fan_out) as f64).sqrt()
}

/// Training FLOPs per image for a network of `forward_macs` multiply-adds,
/// `first_layer_macs` of them in its first layer: 2 FLOPs per multiply-add,
/// over the forward pass and the backward pass's two products per layer (the
/// gradients of its weights and of its input), less the first layer's
/// gradient of its input, which the images do not need and libtorch does
/// not compute.
pub fn training_flops_per_image(forward_macs: i64, first_layer_macs: i64) -> f64 {
    2.0 * (3 * forward_macs - first_layer_macs) as f64
}
