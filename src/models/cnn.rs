//! A convolutional classifier: blocks of 2-D convolution, 2x2 max-pooling,
//! optional batch normalisation and ReLU, then an optional dense hidden
//! layer, dropout and a dense output. Computes in the configured precision
//! (bfloat16 with float32 master weights, as `torch.autocast` does, or
//! float32) and lays activations out channels-last when asked, the layout
//! oneDNN's fast kernels want. Its dropout draws from a generator of its
//! own, not libtorch's global one, so that networks training side by side
//! on threads of their own draw what each would draw alone.

use std::cell::RefCell;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::nn::{self, ModuleT};
use tch::{Kind, Tensor};

use super::mlp::Dense;
use super::{LayerKind, LayerSummary};
use crate::data::{CLASSES, SIDE};
use crate::precision::Precision;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConvBlock {
    pub filters: i64,
    pub kernel: i64,
    /// Zero padding on each side; `kernel / 2` keeps the resolution.
    pub padding: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CnnConfig {
    /// Each block: convolution, 2x2 max-pooling, [batch norm], ReLU.
    pub blocks: Vec<ConvBlock>,
    /// Normalise each block's pooled maps: a quarter of the values that the
    /// convolution's output would have, so a quarter of the memory traffic.
    pub batch_norm: bool,
    /// Width of a dense ReLU layer between the convolutions and the output.
    pub hidden: Option<i64>,
    /// Dropout rate in front of the output layer.
    pub dropout: f64,
    /// What convolutions and dense layers compute in.
    pub precision: Precision,
    pub channels_last: bool,
}

impl ConvBlock {
    /// Side of the square map this convolution makes from one of `side`
    /// (stride 1).
    fn output_side(&self, side: i64) -> i64 {
        side + 2 * self.padding - self.kernel + 1
    }
}

impl CnnConfig {
    pub fn with_precision(self, precision: Precision, channels_last: bool) -> CnnConfig {
        CnnConfig { precision, channels_last, ..self }
    }

    /// (channels, height, width) after each block.
    pub fn block_shapes(&self) -> Vec<[i64; 3]> {
        let mut side = SIDE as i64;
        self.blocks
            .iter()
            .map(|b| {
                side = b.output_side(side) / 2;
                [b.filters, side, side]
            })
            .collect()
    }

    fn flat_features(&self) -> i64 {
        self.block_shapes().last().map_or((SIDE * SIDE) as i64, |[c, h, w]| c * h * w)
    }

    /// Weights and biases of the network this builds, with batch
    /// normalisation's four per channel (Keras counts the moving mean and
    /// variance with the scale and shift).
    pub fn parameters(&self) -> i64 {
        let mut inputs = 1;
        let mut total = 0;
        for b in &self.blocks {
            total += b.kernel * b.kernel * inputs * b.filters + if self.batch_norm { 4 * b.filters } else { b.filters };
            inputs = b.filters;
        }
        let mut features = self.flat_features();
        if let Some(h) = self.hidden {
            total += (features + 1) * h;
            features = h;
        }
        total + (features + 1) * CLASSES as i64
    }

    /// Multiply-accumulates of one image's forward pass (convolutions and
    /// dense layers; normalisation, activations and pooling are negligible).
    pub fn forward_macs(&self) -> i64 {
        self.layer_macs().iter().sum()
    }

    /// Multiply-accumulates of one image's pass through the first layer.
    pub fn first_layer_macs(&self) -> i64 {
        self.layer_macs()[0]
    }

    /// Multiply-accumulates of one image's pass through each convolution
    /// and dense layer, in order.
    fn layer_macs(&self) -> Vec<i64> {
        let mut inputs = 1;
        let mut side = SIDE as i64;
        let mut macs = Vec::new();
        for b in &self.blocks {
            let out = b.output_side(side);
            macs.push(out * out * b.filters * b.kernel * b.kernel * inputs);
            inputs = b.filters;
            side = out / 2;
        }
        let mut features = self.flat_features();
        if let Some(h) = self.hidden {
            macs.push(features * h);
            features = h;
        }
        macs.push(features * CLASSES as i64);
        macs
    }
}

#[derive(Debug)]
struct Conv {
    kernel: Tensor,
    bias: Option<Tensor>,
    norm: Option<nn::BatchNorm>,
    padding: i64,
}

#[derive(Debug)]
pub struct Cnn {
    convs: Vec<Conv>,
    hidden: Option<Dense>,
    output: Dense,
    pub config: CnnConfig,
    /// Draws the dropout masks (`with_dropout_seed`).
    dropout_draws: RefCell<Box<ChaCha8Rng>>,
}

/// The same values with channels-last strides (NHWC in memory, NCHW in
/// shape), as `contiguous(memory_format=torch.channels_last)` makes them.
/// Explicit strides, because a permuted copy of a one-channel tensor would
/// still count as channels-first and send every later layer down that path.
fn channels_last(x: &Tensor) -> Tensor {
    let &[n, c, h, w] = x.size().as_slice() else { panic!("channels-last needs a 4-D tensor") };
    x.permute([0, 2, 3, 1]).contiguous().as_strided([n, c, h, w], [h * w * c, 1, w * c, c], None)
}

impl Cnn {
    /// Convolutions initialised as PyTorch does (Kaiming-uniform), dense
    /// layers as Keras does (Glorot-uniform), batch norm at identity.
    pub fn new(vs: &nn::Path, config: &CnnConfig) -> Cnn {
        let mut inputs = 1;
        let convs = config
            .blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let conv_config = nn::ConvConfig { padding: b.padding, bias: !config.batch_norm, ..Default::default() };
                let conv = nn::conv2d(vs / format!("conv2d_{i}"), inputs, b.filters, b.kernel, conv_config);
                let norm =
                    config.batch_norm.then(|| nn::batch_norm2d(vs / format!("batch_normalization_{i}"), b.filters, Default::default()));
                inputs = b.filters;
                if config.channels_last {
                    // Stored channels-last once: converting on every step costs more than the convolution.
                    let stored = tch::no_grad(|| channels_last(&conv.ws));
                    conv.ws.shallow_clone().set_data(&stored);
                }
                Conv { kernel: conv.ws, bias: conv.bs, norm, padding: b.padding }
            })
            .collect();
        let mut features = config.flat_features();
        let hidden = config.hidden.map(|h| {
            let dense = Dense::new(&(vs / "dense_hidden"), features, h);
            features = h;
            dense
        });
        let output = Dense::new(&(vs / "dense_output"), features, CLASSES as i64);
        Cnn { convs, hidden, output, config: config.clone(), dropout_draws: RefCell::new(Box::new(ChaCha8Rng::seed_from_u64(0))) }
    }

    /// The same network, its dropout masks drawn from `seed`.
    pub fn with_dropout_seed(self, seed: u64) -> Cnn {
        Cnn { dropout_draws: RefCell::new(Box::new(ChaCha8Rng::seed_from_u64(seed))), ..self }
    }

    /// Inverted dropout, as libtorch's: each value zeroed with the configured
    /// rate, the others scaled by 1 / (1 - rate), in training only.
    fn dropout(&self, x: Tensor, train: bool) -> Tensor {
        let rate = self.config.dropout;
        if !train || rate == 0.0 {
            return x;
        }
        let scale = 1.0 / (1.0 - rate);
        let mut draws = self.dropout_draws.borrow_mut();
        let mask: Vec<f32> = (0..x.numel()).map(|_| if draws.random::<f64>() < rate { 0.0 } else { scale as f32 }).collect();
        let mask = Tensor::from_slice(&mask).view(x.size().as_slice()).to_device(x.device()).to_kind(x.kind());
        x * mask
    }

    /// The first layer's kernels, (filters, 1, k, k).
    pub fn first_kernels(&self) -> Tensor {
        self.convs[0].kernel.detach()
    }

    fn compute(&self, t: &Tensor) -> Tensor {
        self.config.precision.cast(t)
    }

    fn layout(&self, t: Tensor) -> Tensor {
        if self.config.channels_last { channels_last(&t) } else { t }
    }

    fn dense(&self, d: &Dense, x: &Tensor) -> Tensor {
        d.forward_in(x, self.config.precision)
    }

    /// The first block's feature maps of images (N, 784) at full
    /// resolution: its convolution, normalised by the running statistics
    /// that the block applies after pooling, and ReLU.
    pub fn first_feature_maps(&self, xs: &Tensor) -> Tensor {
        let first = &self.convs[0];
        tch::no_grad(|| Self::normalise(first, self.convolve(first, &self.input(xs)), false).relu().to_kind(Kind::Float))
    }

    fn input(&self, xs: &Tensor) -> Tensor {
        self.layout(self.compute(&xs.view([-1, 1, SIDE as i64, SIDE as i64])))
    }

    /// 2x2 max-pooling with stride 2: halves each side.
    fn pool(x: &Tensor) -> Tensor {
        x.max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)
    }

    fn convolve(&self, c: &Conv, x: &Tensor) -> Tensor {
        let kernel = self.compute(&c.kernel);
        let bias = c.bias.as_ref().map(|b| self.compute(b));
        x.conv2d(&kernel, bias.as_ref(), [1, 1], [c.padding, c.padding], [1, 1], 1)
    }

    fn normalise(c: &Conv, x: Tensor, train: bool) -> Tensor {
        match &c.norm {
            Some(norm) => norm.forward_t(&x, train),
            None => x,
        }
    }

    /// The Keras-style summary: one row per layer, shapes without the batch.
    pub fn summary(&self) -> Vec<LayerSummary> {
        let mut rows = Vec::new();
        let mut side = SIDE as i64;
        for (i, (c, b)) in self.convs.iter().zip(&self.config.blocks).enumerate() {
            let h = b.output_side(side);
            let params = c.kernel.numel() + c.bias.as_ref().map_or(0, Tensor::numel);
            let activation = if c.norm.is_some() { None } else { Some("relu") };
            rows.push(
                LayerSummary::new(format!("conv2d_{i}"), LayerKind::Conv2D, &[b.filters, h, h], params as i64, activation).in_block(i),
            );
            side = h / 2;
            rows.push(
                LayerSummary::new(format!("max_pooling2d_{i}"), LayerKind::MaxPooling2D, &[b.filters, side, side], 0, None).in_block(i),
            );
            if let Some(norm) = &c.norm {
                // Keras counts the moving mean and variance with the scale and shift.
                let params = 4 * norm.running_mean.numel() as i64;
                rows.push(
                    LayerSummary::new(
                        format!("batch_normalization_{i}"),
                        LayerKind::BatchNormalization,
                        &[b.filters, side, side],
                        params,
                        Some("relu"),
                    )
                    .in_block(i),
                );
            }
        }
        let mut features = self.config.flat_features();
        rows.push(LayerSummary::new("flatten", LayerKind::Flatten, &[features], 0, None));
        if let Some(d) = &self.hidden {
            features = d.kernel.size()[1];
            rows.push(LayerSummary::new("dense_hidden", LayerKind::Dense, &[features], d.parameters(), Some("relu")));
        }
        if self.config.dropout > 0.0 {
            rows.push(LayerSummary::new("dropout", LayerKind::Dropout, &[features], 0, None));
        }
        rows.push(LayerSummary::new("dense_output", LayerKind::Dense, &[CLASSES as i64], self.output.parameters(), Some("softmax")));
        rows
    }
}

impl ModuleT for Cnn {
    /// Class logits in float32 for images (N, 784).
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        // region: cnn-forward
        let mut x = self.input(xs);
        for c in &self.convs {
            // Pooling first: normalisation and ReLU then touch a quarter of
            // the values. Without normalisation this computes the textbook
            // order's function, as ReLU and max-pooling commute.
            let pooled = Self::pool(&self.convolve(c, &x));
            x = Self::normalise(c, pooled, train).relu();
        }
        let mut x = x.flatten(1, -1);
        if let Some(d) = &self.hidden {
            x = self.dense(d, &x).relu();
        }
        let x = self.dropout(x, train);
        self.dense(&self.output, &x).to_kind(Kind::Float)
        // endregion: cnn-forward
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::PIXELS;

    fn reference() -> CnnConfig {
        CnnConfig {
            blocks: vec![ConvBlock { filters: 32, kernel: 3, padding: 0 }, ConvBlock { filters: 64, kernel: 3, padding: 0 }],
            batch_norm: false,
            hidden: Some(128),
            dropout: 0.5,
            precision: Precision::Float32,
            channels_last: true,
        }
    }

    #[test]
    fn summary_matches_the_keras_reference_network() {
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let cnn = Cnn::new(&vs.root(), &reference());
        let summary = cnn.summary();
        let shapes: Vec<&[i64]> = summary.iter().map(|r| r.output_shape.as_slice()).collect();
        assert_eq!(shapes, [&[32, 26, 26][..], &[32, 13, 13], &[64, 11, 11], &[64, 5, 5], &[1600], &[128], &[128], &[10]]);
        // Keras's summary of the same network: 225,034 parameters.
        assert_eq!(summary.iter().map(|r| r.parameters).sum::<i64>(), 225_034);
        assert_eq!(vs.trainable_variables().iter().map(Tensor::numel).sum::<usize>(), 225_034);
        assert_eq!(reference().parameters(), 225_034);
        let normalised = CnnConfig { batch_norm: true, ..reference() };
        let built = Cnn::new(&nn::VarStore::new(tch::Device::Cpu).root(), &normalised);
        assert_eq!(normalised.parameters(), built.summary().iter().map(|r| r.parameters).sum::<i64>());
        assert_eq!(reference().forward_macs(), 26 * 26 * 32 * 9 + 11 * 11 * 64 * 288 + 1600 * 128 + 1280);
        assert_eq!(reference().first_layer_macs(), 26 * 26 * 32 * 9);
        let logits = cnn.forward_t(&Tensor::zeros([3, PIXELS as i64], tch::kind::FLOAT_CPU), false);
        assert_eq!(logits.size(), [3, 10]);
    }

    #[test]
    fn bf16_and_channels_last_compute_the_same_function() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let config = CnnConfig { batch_norm: true, channels_last: false, ..reference() };
        let plain = Cnn::new(&vs.root(), &config);
        let fast = Cnn { config: CnnConfig { precision: Precision::BFloat16, channels_last: true, ..config }, ..plain };
        let xs = Tensor::rand([4, PIXELS as i64], tch::kind::FLOAT_CPU);
        let fast_logits = fast.forward_t(&xs, false);
        let plain = Cnn { config: CnnConfig { precision: Precision::Float32, channels_last: false, ..fast.config.clone() }, ..fast };
        let plain_logits = plain.forward_t(&xs, false);
        let gap = (fast_logits - &plain_logits).abs().max().double_value(&[]);
        let scale = plain_logits.abs().max().double_value(&[]);
        assert!(gap <= 0.02 * scale.max(1.0), "bf16 logits differ by {gap} at scale {scale}");
    }

    #[test]
    fn pooling_before_the_relu_computes_the_textbook_order_and_its_gradients() {
        tch::manual_seed(5);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let cnn = Cnn::new(&vs.root(), &CnnConfig { dropout: 0.0, ..reference() });
        let xs = Tensor::rand([6, PIXELS as i64], tch::kind::FLOAT_CPU);
        let textbook = || {
            let mut x = cnn.input(&xs);
            for c in &cnn.convs {
                x = Cnn::pool(&cnn.convolve(c, &x).relu());
            }
            let x = cnn.dense(cnn.hidden.as_ref().expect("a hidden layer"), &x.flatten(1, -1)).relu();
            cnn.dense(&cnn.output, &x)
        };
        let gradients = |logits: Tensor| {
            let loss = logits.square().sum(Kind::Float);
            let grad = Tensor::run_backward(&[loss], &[&cnn.convs[0].kernel], false, false).remove(0);
            (logits.detach(), grad)
        };
        let (ours, ours_grad) = gradients(cnn.forward_t(&xs, true));
        let (theirs, theirs_grad) = gradients(textbook());
        assert!(ours.allclose(&theirs, 1e-6, 1e-6, false), "logits differ");
        assert!(ours_grad.abs().sum(Kind::Float).double_value(&[]) > 0.0, "the first layer learns");
        assert!(ours_grad.allclose(&theirs_grad, 1e-5, 1e-6, false), "gradients differ");
    }

    #[test]
    fn dropout_draws_from_its_own_seed_at_the_configured_rate() {
        let cnn = |seed| Cnn::new(&nn::VarStore::new(tch::Device::Cpu).root(), &reference()).with_dropout_seed(seed);
        let ones = Tensor::ones([64, 128], tch::kind::FLOAT_CPU);
        let (a, b, c) = (cnn(1), cnn(1), cnn(2));
        tch::manual_seed(11);
        let first = a.dropout(ones.shallow_clone(), true);
        tch::manual_seed(12);
        assert!(first.equal(&b.dropout(ones.shallow_clone(), true)), "the same seed draws the same mask, whatever libtorch's seed");
        assert!(!first.equal(&c.dropout(ones.shallow_clone(), true)), "another seed, another mask");
        assert!(!first.equal(&a.dropout(ones.shallow_clone(), true)), "each call draws anew");
        let zeroed = first.eq(0.0).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
        assert!((zeroed - 0.5).abs() < 0.03, "rate 0.5, zeroed {zeroed}");
        assert!(first.max().double_value(&[]) == 2.0, "the kept values scaled by 1 / (1 - 0.5)");
        assert!(a.dropout(ones.shallow_clone(), false).equal(&ones), "no dropout in evaluation");
    }

    #[test]
    fn batch_norm_standardises_the_pooled_maps() {
        tch::manual_seed(7);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let cnn = Cnn::new(&vs.root(), &CnnConfig { batch_norm: true, ..reference() });
        let xs = Tensor::rand([8, PIXELS as i64], tch::kind::FLOAT_CPU);
        let first = &cnn.convs[0];
        let norm = first.norm.as_ref().expect("a normalised block");
        let full = tch::no_grad(|| cnn.convolve(first, &cnn.input(&xs)));
        let pooled = Cnn::pool(&full);
        let _ = cnn.forward_t(&xs, true);
        // One training step moves each running mean a tenth of the way to the batch mean.
        let expected = pooled.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float) * 0.1;
        assert!(norm.running_mean.allclose(&expected, 1e-5, 1e-6, false), "the running mean is not the pooled maps' mean");
        let full = full.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float) * 0.1;
        assert!(!norm.running_mean.allclose(&full, 1e-5, 1e-6, false), "the test cannot tell pooled maps from full ones");
        let summary = cnn.summary();
        let kinds: Vec<LayerKind> = summary.iter().take(3).map(|r| r.kind).collect();
        assert_eq!(kinds, [LayerKind::Conv2D, LayerKind::MaxPooling2D, LayerKind::BatchNormalization]);
        assert_eq!(summary[2].output_shape, [32, 13, 13]);
    }
}
