//! Bytes that a training step moves through memory on each path `bench`
//! times, counted pass by pass over each tensor as the code makes them (and
//! as libtorch 2.13's `torch::optim` and autograd make them), each pass
//! once, as if nothing stayed in cache between passes: an estimate of the
//! traffic to memory with no reuse, which a cache that holds a pass's
//! tensors undercuts. Layer outputs are counted at the least any code could
//! move that way: written and read once forward, their gradient written
//! and read once backward. `PERFORMANCE.md` tabulates the counts.

use std::ops::Add;

use crate::data::{CLASSES, PIXELS, SIDE};
use crate::models::cnn::CnnConfig;
use crate::models::mlp;
use crate::precision::Precision;
use crate::recipe::{Network, Optimiser};
use crate::train::EVAL_CHUNK;

/// Bytes moved, by what they belong to.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Traffic {
    /// The float32 weights and biases, read and written, and the products'
    /// reads of them in their precision.
    pub weights: f64,
    pub gradients: f64,
    /// The optimiser's state, and the temporaries its step makes.
    pub optimizer_state: f64,
    /// Making the bfloat16 copies of the weights, and autograd's casts of
    /// their gradients back to float32.
    pub precision_copies: f64,
    /// Images, layer outputs and the gradients of the outputs.
    pub activations: f64,
}

impl Traffic {
    pub fn total(&self) -> f64 {
        self.weights + self.gradients + self.optimizer_state + self.precision_copies + self.activations
    }

    pub fn times(self, k: f64) -> Traffic {
        Traffic {
            weights: self.weights * k,
            gradients: self.gradients * k,
            optimizer_state: self.optimizer_state * k,
            precision_copies: self.precision_copies * k,
            activations: self.activations * k,
        }
    }
}

impl Add for Traffic {
    type Output = Traffic;

    fn add(self, o: Traffic) -> Traffic {
        Traffic {
            weights: self.weights + o.weights,
            gradients: self.gradients + o.gradients,
            optimizer_state: self.optimizer_state + o.optimizer_state,
            precision_copies: self.precision_copies + o.precision_copies,
            activations: self.activations + o.activations,
        }
    }
}

/// A layer with weights: its kernel's and bias's elements, and how many
/// values it outputs per image (a convolution's map and its pooled map).
#[derive(Debug, PartialEq)]
struct Layer {
    kernel: f64,
    bias: f64,
    outputs: f64,
}

/// Elements that the network's layers hold and output, first layer first.
fn layers(network: &Network) -> Vec<Layer> {
    match network {
        Network::Mlp { hidden, .. } => mlp::widths(hidden)
            .windows(2)
            .map(|w| Layer { kernel: (w[0] * w[1]) as f64, bias: w[1] as f64, outputs: w[1] as f64 })
            .collect(),
        Network::Cnn(config) => cnn_layers(config),
    }
}

fn cnn_layers(config: &CnnConfig) -> Vec<Layer> {
    let mut layers = Vec::new();
    let (mut channels, mut side) = (1, SIDE as i64);
    for block in &config.blocks {
        let map = side + 2 * block.padding - block.kernel + 1;
        side = map / 2;
        // Batch normalisation's scale and shift stand in for the bias.
        let bias = if config.batch_norm { 2 * block.filters } else { block.filters };
        let outputs = block.filters * (map * map + side * side);
        layers.push(Layer {
            kernel: (block.kernel * block.kernel * channels * block.filters) as f64,
            bias: bias as f64,
            outputs: outputs as f64,
        });
        channels = block.filters;
    }
    let mut features = channels * side * side;
    for width in config.hidden.into_iter().chain([CLASSES as i64]) {
        layers.push(Layer { kernel: (features * width) as f64, bias: width as f64, outputs: width as f64 });
        features = width;
    }
    layers
}

/// Bytes of one value in the products of `precision`.
fn bytes(precision: Precision) -> f64 {
    match precision {
        Precision::Float32 => 4.0,
        Precision::BFloat16 => 2.0,
    }
}

/// One step of `network` trained alone with autograd and libtorch's
/// optimiser (`recipe::train`) on `batch` images, `l2` adding the squared
/// hidden kernels to the loss. libtorch sets the gradients to none before
/// each backward pass, which then writes them afresh.
pub fn autograd_step(network: &Network, optimiser: &Optimiser, batch: i64, l2: bool) -> Traffic {
    let layers = layers(network);
    let precision = network.precision();
    let h = bytes(precision);
    let parameters: f64 = layers.iter().map(|l| l.kernel + l.bias).sum();
    // The backward pass reads every kernel but the first to pass the gradient on.
    let passed_on: f64 = layers[1..].iter().map(|l| l.kernel).sum();
    let hidden: f64 = layers[..layers.len() - 1].iter().map(|l| l.kernel).sum();
    let (state, gradient_reads) = match optimiser {
        Optimiser::Sgd { momentum } if *momentum == 0.0 => (0.0, 4.0),
        // buf.mul_, buf.add_(grad), grad.add(buf) into a temporary, p.add_(temporary).
        Optimiser::Sgd { .. } => (8.0 + 8.0 + 8.0 + 4.0, 8.0),
        // exp_avg.mul_.add_(grad), exp_avg_sq.mul_.addcmul_(grad, grad),
        // (exp_avg_sq.sqrt() / c).add_(eps) through two temporaries, p.addcdiv_.
        Optimiser::Adam => (8.0 * 8.0, 8.0),
    };
    // `square().sum()`: the kernel read, a temporary written and read. Its
    // gradient, as ATen's `pow_backward` makes it (`grad * (2 * w.pow(1))`,
    // the summed gradient broadcast): a copy, two products, then the sum
    // with the loss's gradient.
    let penalty = if l2 {
        Traffic { weights: 8.0 * hidden, gradients: (8.0 + 4.0 + 8.0 + 8.0 + 12.0) * hidden, ..Traffic::default() }
    } else {
        Traffic::default()
    };
    Traffic {
        weights: h * parameters + h * passed_on + 8.0 * parameters,
        gradients: (4.0 + gradient_reads) * parameters,
        optimizer_state: state * parameters,
        precision_copies: if precision == Precision::BFloat16 { (6.0 + 4.0) * parameters } else { 0.0 },
        activations: activations(&layers, h, batch as f64, 4.0 * PIXELS as f64, 4.0),
    } + penalty
}

/// Images read, and each layer's outputs moved `passes` times, for `images`.
fn activations(layers: &[Layer], h: f64, images: f64, image_bytes: f64, passes: f64) -> f64 {
    images * (image_bytes + passes * h * layers.iter().map(|l| l.outputs).sum::<f64>())
}

/// One step of one model of a `BatchedMlp` (`train::batched`) of `hidden`
/// widths in `precision`, `per_group` models sharing each group's images,
/// on `batch` images whose first `used` pixels the products read, `decayed`
/// where the models' L2 factors are given.
pub fn batched_step(hidden: &[i64], precision: Precision, batch: i64, per_group: i64, used: i64, decayed: bool) -> Traffic {
    let network = Network::Mlp { hidden: hidden.to_vec(), dropout: 0.0, precision };
    let layers = layers(&network);
    let h = bytes(precision);
    let kernels: f64 = layers.iter().map(|l| l.kernel).sum();
    let biases: f64 = layers.iter().map(|l| l.bias).sum();
    let hidden_kernels: f64 = layers[..layers.len() - 1].iter().map(|l| l.kernel).sum();
    let passed_on: f64 = layers[1..].iter().map(|l| l.kernel).sum();
    let first_used = (hidden[0] * used) as f64;
    let updated = first_used + passed_on;
    let float32 = precision == Precision::Float32;
    let decay = match (decayed, float32) {
        (false, _) => 0.0,
        // Every hidden kernel multiplied in place before the product adds to it.
        (true, true) => 8.0 * hidden_kernels,
        // The decay rides on the pass that adds the update, but for the unread columns.
        (true, false) => 8.0 * (layers[0].kernel - first_used),
    };
    Traffic {
        weights: if decayed { 4.0 * hidden_kernels } else { 0.0 }
            + h * (updated + biases)
            + h * passed_on
            + decay
            + 8.0 * updated
            + 8.0 * biases,
        // In float32 the products add straight into the kernels; in bfloat16
        // they write an update that the next pass reads.
        gradients: if float32 { 0.0 } else { 4.0 * updated } + 8.0 * biases,
        optimizer_state: 0.0,
        precision_copies: if float32 { 0.0 } else { 6.0 * (kernels + biases) },
        activations: activations(&layers, h, batch as f64, 4.0 * used as f64 / per_group as f64, 4.0),
    }
}

/// A forward pass of `network` over `images` in chunks of `EVAL_CHUNK`, as
/// validation makes it, each chunk's images shared by `sharing` models.
pub fn evaluation(network: &Network, images: i64, sharing: i64) -> Traffic {
    let layers = layers(network);
    let precision = network.precision();
    let h = bytes(precision);
    let parameters: f64 = layers.iter().map(|l| l.kernel + l.bias).sum();
    let chunks = (images as u64).div_ceil(EVAL_CHUNK as u64) as f64;
    Traffic {
        weights: chunks * h * parameters,
        precision_copies: if precision == Precision::BFloat16 { chunks * 6.0 * parameters } else { 0.0 },
        activations: activations(&layers, h, images as f64, 4.0 * PIXELS as f64 / sharing as f64, 2.0),
        ..Traffic::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::networks;

    /// 784-2-10 by hand: kernels 1,568 and 20, biases 2 and 10.
    #[test]
    fn a_small_batched_step_moves_what_a_hand_count_gives() {
        let step = batched_step(&[2], Precision::Float32, 4, 1, 784, true);
        // penalty reads the hidden kernel (4 x 1,568), the forward pass reads
        // all kernels and biases (4 x 1,600), the backward pass the second
        // kernel (4 x 20), decay rewrites the hidden kernel (8 x 1,568), the
        // products add to both kernels (8 x 1,588) and the biases are updated (8 x 12).
        assert_eq!(step.weights, 6_272.0 + 6_400.0 + 80.0 + 12_544.0 + 12_704.0 + 96.0);
        assert_eq!(step.gradients, 96.0, "the biases' gradients, written and read");
        assert_eq!((step.optimizer_state, step.precision_copies), (0.0, 0.0));
        // 4 images of 784 pixels, and 12 outputs each moved 4 times.
        assert_eq!(step.activations, 4.0 * 784.0 * 4.0 + 4.0 * 12.0 * 4.0 * 4.0);
        assert_eq!(step.total(), 38_096.0 + 96.0 + 13_312.0);

        // In bfloat16 on 700 used pixels, without decay, two models per group.
        let step = batched_step(&[2], Precision::BFloat16, 4, 2, 700, false);
        let updated = 1_400.0 + 20.0;
        assert_eq!(step.weights, 2.0 * (updated + 12.0) + 2.0 * 20.0 + 8.0 * updated + 8.0 * 12.0);
        assert_eq!(step.gradients, 4.0 * updated + 96.0);
        assert_eq!(step.precision_copies, 6.0 * 1_600.0);
        assert_eq!(step.activations, 4.0 * 700.0 * 4.0 / 2.0 + 4.0 * 12.0 * 4.0 * 2.0);
    }

    #[test]
    fn a_small_autograd_step_moves_what_a_hand_count_gives() {
        let network = Network::Mlp { hidden: vec![2], dropout: 0.0, precision: Precision::Float32 };
        let plain = autograd_step(&network, &Optimiser::Sgd { momentum: 0.0 }, 4, false);
        // Forward reads 1,600 values, backward 20; the update reads and writes 1,600.
        assert_eq!(plain.weights, 4.0 * 1_600.0 + 4.0 * 20.0 + 8.0 * 1_600.0);
        assert_eq!((plain.gradients, plain.optimizer_state), (8.0 * 1_600.0, 0.0));
        let adam = autograd_step(&network, &Optimiser::Adam, 4, false);
        assert_eq!((adam.gradients, adam.optimizer_state), (12.0 * 1_600.0, 64.0 * 1_600.0));
        let nesterov = autograd_step(&network, &Optimiser::Sgd { momentum: 0.9 }, 4, true);
        assert_eq!(nesterov.optimizer_state, 28.0 * 1_600.0);
        assert_eq!(nesterov.weights - plain.weights, 8.0 * 1_568.0, "the penalty reads the hidden kernel forward and backward");
        let penalised = autograd_step(&network, &Optimiser::Sgd { momentum: 0.0 }, 4, true);
        assert_eq!(penalised.gradients - plain.gradients, 40.0 * 1_568.0, "its temporaries and its gradient's passes");
        let bf16 = Network::Mlp { hidden: vec![2], dropout: 0.0, precision: Precision::BFloat16 };
        assert_eq!(autograd_step(&bf16, &Optimiser::Adam, 4, false).precision_copies, 10.0 * 1_600.0);
    }

    #[test]
    fn the_reference_cnn_holds_what_it_counts_and_its_adam_state_outweighs_its_weights() {
        let network = networks::reference_cnn(Precision::Float32, 1).network;
        let held: f64 = layers(&network).iter().map(|l| l.kernel + l.bias).sum();
        assert_eq!(held, network.parameters() as f64);
        let step = autograd_step(&network, &Optimiser::Adam, 128, false);
        assert!(step.optimizer_state > 2.0 * step.weights);
        // Batch normalisation's moving statistics are held, not trained.
        let chosen = networks::chosen_cnn(Precision::Float32, 1).network;
        let Network::Cnn(config) = &chosen else { unreachable!() };
        let trained: f64 = layers(&chosen).iter().map(|l| l.kernel + l.bias).sum();
        assert_eq!(trained, (chosen.parameters() - 2 * config.blocks.iter().map(|b| b.filters).sum::<i64>()) as f64);
    }

    #[test]
    fn evaluation_reads_the_weights_once_per_chunk() {
        let network = Network::Mlp { hidden: vec![2], dropout: 0.0, precision: Precision::Float32 };
        let one = evaluation(&network, EVAL_CHUNK, 1);
        let two = evaluation(&network, EVAL_CHUNK + 1, 1);
        assert_eq!((one.weights, two.weights), (4.0 * 1_600.0, 8.0 * 1_600.0));
        assert!(evaluation(&network, 100, 5).activations < evaluation(&network, 100, 1).activations);
    }
}
