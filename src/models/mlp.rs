//! A fully connected classifier built as Keras builds `Dense` stacks:
//! flatten, hidden layers with ReLU, a softmax output (folded into the
//! loss), Glorot-uniform kernels and zero biases.

use tch::Tensor;
use tch::nn::{self, Init, ModuleT};

use super::{LayerKind, LayerSummary, glorot_bound};
use crate::data::{CLASSES, PIXELS};
use crate::precision::Precision;

#[derive(Debug)]
pub struct Dense {
    /// Kernel of shape (inputs, outputs), as Keras stores it.
    pub kernel: Tensor,
    pub bias: Tensor,
}

impl Dense {
    /// Glorot-uniform kernel, zero bias.
    pub fn new(vs: &nn::Path, inputs: i64, outputs: i64) -> Dense {
        let bound = glorot_bound(inputs, outputs);
        Dense {
            kernel: vs.var("kernel", &[inputs, outputs], Init::Uniform { lo: -bound, up: bound }),
            bias: vs.var("bias", &[outputs], Init::Const(0.0)),
        }
    }

    pub fn forward(&self, xs: &Tensor) -> Tensor {
        self.bias.addmm(xs, &self.kernel)
    }

    /// The layer's product in `precision`, for `xs` already in it.
    pub fn forward_in(&self, xs: &Tensor, precision: Precision) -> Tensor {
        precision.cast(&self.bias).addmm(xs, &precision.cast(&self.kernel))
    }

    pub fn parameters(&self) -> i64 {
        (self.kernel.numel() + self.bias.numel()) as i64
    }
}

/// The widths of a classifier with `hidden` layers: 784 inputs, 10 outputs.
pub fn widths(hidden: &[i64]) -> Vec<i64> {
    [&[PIXELS as i64][..], hidden, &[CLASSES as i64]].concat()
}

/// Weights and biases of each dense layer of the classifier with `hidden` layers.
pub fn layer_parameters(hidden: &[i64]) -> Vec<i64> {
    widths(hidden).windows(2).map(|w| (w[0] + 1) * w[1]).collect()
}

/// Weights and biases of the classifier with `hidden` layers.
pub fn dense_parameters(hidden: &[i64]) -> i64 {
    layer_parameters(hidden).iter().sum()
}

/// Multiply-accumulates of one image's forward pass through it.
pub fn dense_macs(hidden: &[i64]) -> i64 {
    widths(hidden).windows(2).map(|w| w[0] * w[1]).sum()
}

/// Multiply-accumulates of one image's pass through its first layer.
pub fn first_dense_macs(hidden: &[i64]) -> i64 {
    widths(hidden)[..2].iter().product()
}

#[derive(Debug)]
pub struct Mlp {
    pub hidden: Vec<Dense>,
    pub output: Dense,
    /// Dropout rate after every hidden layer in training (0: none).
    pub dropout: f64,
    /// What the products compute in; the weights stay float32.
    pub precision: Precision,
}

impl Mlp {
    /// 784 inputs, the given hidden widths, 10 outputs.
    pub fn new(vs: &nn::Path, hidden_widths: &[i64]) -> Mlp {
        let mut inputs = PIXELS as i64;
        let mut hidden = Vec::new();
        for (i, &width) in hidden_widths.iter().enumerate() {
            hidden.push(Dense::new(&(vs / format!("dense_{i}")), inputs, width));
            inputs = width;
        }
        let output = Dense::new(&(vs / format!("dense_{}", hidden_widths.len())), inputs, CLASSES as i64);
        Mlp { hidden, output, dropout: 0.0, precision: Precision::Float32 }
    }

    pub fn with_dropout(self, dropout: f64) -> Mlp {
        Mlp { dropout, ..self }
    }

    pub fn with_precision(self, precision: Precision) -> Mlp {
        Mlp { precision, ..self }
    }

    /// Sum of the squared hidden-layer kernels: the L2 term Keras's
    /// `kernel_regularizer=l2(f)` multiplies by `f` and adds to the loss.
    pub fn hidden_kernel_sq_sum(&self) -> Tensor {
        // region: l2-penalty
        self.hidden.iter().map(|d| d.kernel.square().sum(tch::Kind::Float)).sum()
        // endregion: l2-penalty
    }

    /// The Keras summary of this model, from its own tensors.
    pub fn summary(&self) -> Vec<LayerSummary> {
        let mut rows = vec![LayerSummary::new("flatten", LayerKind::Flatten, &[PIXELS as i64], 0, None)];
        let layers = self.hidden.iter().map(|d| (d, "relu")).chain([(&self.output, "softmax")]);
        for (i, (dense, activation)) in layers.enumerate() {
            let name = if i == 0 { "dense".into() } else { format!("dense_{i}") };
            let width = [dense.kernel.size()[1]];
            rows.push(LayerSummary::new(name, LayerKind::Dense, &width, dense.parameters(), Some(activation)));
            if activation == "relu" && self.dropout > 0.0 {
                rows.push(LayerSummary::new(format!("dropout_{i}"), LayerKind::Dropout, &width, 0, None));
            }
        }
        rows
    }
}

impl ModuleT for Mlp {
    /// Class logits; softmax is applied by the loss (and by `predict`).
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        // region: mlp-forward
        let xs = self.precision.cast(&xs.view([-1, PIXELS as i64]));
        let hidden = self.hidden.iter().fold(xs, |xs, dense| dense.forward_in(&xs, self.precision).relu().dropout(self.dropout, train));
        self.output.forward_in(&hidden, self.precision).to_kind(tch::Kind::Float)
        // endregion: mlp-forward
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notebook_model_has_55050_parameters() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let model = Mlp::new(&vs.root(), &[64, 64]);
        let summary = model.summary();
        let counts: Vec<i64> = summary.iter().map(|l| l.parameters).collect();
        assert_eq!(counts, vec![0, 50_240, 4_160, 650]);
        assert_eq!(counts.iter().sum::<i64>(), 55_050);
        let trainable: i64 = vs.trainable_variables().iter().map(|t| t.numel() as i64).sum();
        assert_eq!(trainable, 55_050);
        assert_eq!(dense_parameters(&[64, 64]), 55_050);
        assert_eq!(dense_macs(&[64, 64]), 784 * 64 + 64 * 64 + 64 * 10);
        assert_eq!(first_dense_macs(&[64, 64]), 784 * 64);
        assert_eq!(first_dense_macs(&[]), 784 * 10);
        let out = model.forward_t(&Tensor::zeros([3, 28, 28, 1], (tch::Kind::Float, tch::Device::Cpu)), false);
        assert_eq!(out.size(), vec![3, 10]);
    }

    #[test]
    fn dropout_acts_in_training_only_and_shows_in_the_summary() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let model = Mlp::new(&vs.root(), &[64, 32]).with_dropout(0.5);
        let xs = Tensor::rand([8, 784], tch::kind::FLOAT_CPU);
        assert!(model.forward_t(&xs, false).equal(&model.forward_t(&xs, false)), "inference is deterministic");
        assert!(!model.forward_t(&xs, true).equal(&model.forward_t(&xs, false)), "training drops units");
        let kinds: Vec<LayerKind> = model.summary().into_iter().map(|l| l.kind).collect();
        use LayerKind::{Dense, Dropout, Flatten};
        assert_eq!(kinds, [Flatten, Dense, Dropout, Dense, Dropout, Dense]);
    }

    #[test]
    fn kernels_are_glorot_uniform_and_biases_zero() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let model = Mlp::new(&vs.root(), &[500, 300]);
        let k = &model.hidden[0].kernel;
        let bound = glorot_bound(784, 500);
        assert!(k.abs().max().double_value(&[]) <= bound);
        // A uniform on [-b, b] has standard deviation b / sqrt(3).
        let std = k.std(true).double_value(&[]);
        assert!((std - bound / 3f64.sqrt()).abs() < 0.01 * bound, "{std}");
        assert_eq!(model.hidden[1].bias.abs().sum(tch::Kind::Float).double_value(&[]), 0.0);
    }
}
