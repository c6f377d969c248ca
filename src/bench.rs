//! `bench`: training throughput measured in one run, as ratios between the
//! paths and against the machine's own matrix-multiply throughput.

use std::time::Instant;

use indicatif::ProgressBar;
use tch::{Device, Kind, Tensor};

use crate::data::Mnist;
use crate::experiments::Context;
use crate::experiments::q2_mlp::{self, MlpConfig, SweepConfig, SweepPath};
use crate::experiments::q3_cnn::{self, ConvolutionalNetwork};
use crate::models;
use crate::recipe::{self, Network, Recipe, Splits};
use crate::profile::Profile;

/// Matrix-multiply throughput of `device` in `kind`, in GFLOP/s (best of 5).
pub fn matmul_gflops(device: Device, kind: Kind) -> f64 {
    let n = 2048;
    let a = Tensor::randn([n, n], (Kind::Float, device)).to_kind(kind);
    let b = Tensor::randn([n, n], (Kind::Float, device)).to_kind(kind);
    let _ = a.matmul(&b);
    let best = (0..5)
        .map(|_| {
            let start = Instant::now();
            let c = a.matmul(&b);
            let _ = c.double_value(&[0, 0]);
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    2.0 * (n * n * n) as f64 / best / 1e9
}

/// Training FLOPs per image of an MLP (forward, weight gradients, and input
/// gradients for all but the first layer).
fn mlp_flops_per_image(hidden: &[i64]) -> f64 {
    let widths: Vec<i64> = [784].iter().chain(hidden).chain(&[10]).copied().collect();
    let macs: Vec<f64> = widths.windows(2).map(|w| (w[0] * w[1]) as f64).collect();
    2.0 * (2.0 * macs.iter().sum::<f64>() + macs[1..].iter().sum::<f64>())
}

pub fn run(data: &Mnist, device: Device, epochs: usize) -> anyhow::Result<()> {
    let data = data.subset(Profile::Full.train_images(), Profile::Full.test_images(), 0);
    let progress = ProgressBar::hidden();
    let ctx = Context { data: &data, device, seed: 1, progress: &progress };
    let gflops = matmul_gflops(device, Kind::Float);
    let bf16_gflops = matmul_gflops(device, Kind::BFloat16);
    println!(
        "device {device:?}, {} threads; 2048x2048 matmul: float32 {gflops:.1} GFLOP/s, bfloat16 {bf16_gflops:.1} GFLOP/s",
        tch::get_num_threads()
    );
    println!("one epoch = {} training images, batch 128, validation on {} test images", data.train.len(), data.test.len());
    println!();
    println!("{:<44} {:>10} {:>14} {:>10} {:>9}", "path", "models", "s/model-epoch", "images/s", "% matmul");
    let n = data.train.len() as f64;
    let report = |name: &str, hidden: &[i64], models: usize, seconds: f64| {
        let per_model_epoch = seconds / (models * epochs) as f64;
        let achieved = mlp_flops_per_image(hidden) * n / per_model_epoch / 1e9;
        println!(
            "{name:<44} {models:>10} {per_model_epoch:>14.3} {:>10.0} {:>8.0}%",
            n / per_model_epoch,
            100.0 * achieved / gflops
        );
        per_model_epoch
    };
    let single = |hidden: Vec<i64>| MlpConfig {
        hidden,
        learning_rate: 0.1,
        batch_size: 128,
        epochs,
        l2: 0.0,
        train_images: data.train.len(),
        test_images: data.test.len(),
    };
    let notebook = q2_mlp::train_mlp(&single(vec![64, 64]), &ctx)?;
    report("784-64-64-10, alone", &[64, 64], 1, notebook.history.train_seconds);
    let sweep_config = SweepConfig {
        hidden: vec![500, 300],
        learning_rate: 0.1,
        batch_size: 128,
        epochs,
        factors: vec![0.0, 1e-6, 5.6e-6, 3.2e-5, 1.8e-4, 1e-3],
        replicates: 3,
        train_images: data.train.len(),
        test_images: data.test.len(),
    };
    let mut seconds = Vec::new();
    for (path, name) in [(SweepPath::OneAtATime, "one at a time (autograd)"), (SweepPath::Batched, "batched")] {
        let sweep = q2_mlp::train_sweep(&sweep_config, &ctx, path)?;
        let label = format!("784-500-300-10 decay sweep, {name}");
        seconds.push(report(&label, &[500, 300], sweep.models, sweep.train_seconds));
    }
    println!();
    println!("batched sweep: {:.2}x the one-at-a-time throughput on {device:?}", seconds[0] / seconds[1]);
    println!();
    cnn_paths(&data, &ctx, epochs, gflops, bf16_gflops)
}

/// The CNNs of question 3 in float32 and bfloat16, channels-first and
/// channels-last: training throughput and its share of the matmul peak of
/// the same precision.
fn cnn_paths(data: &Mnist, ctx: &Context, epochs: usize, gflops: f64, bf16_gflops: f64) -> anyhow::Result<()> {
    let q3 = ConvolutionalNetwork::new(Profile::Full).0;
    let splits = Splits::new(&data.train, &data.test, &data.test, ctx.device);
    // oneDNN builds its kernels for each new shape on first use: one epoch
    // over a small subset first keeps that out of the measured epochs.
    let small = data.subset(3_000, 2_000, 0);
    let warm_up = Splits::new(&small.train, &small.test, &small.test, ctx.device);
    println!("{:<44} {:>10} {:>10} {:>10} {:>9}", "CNN path (one model)", "precision", "s/epoch", "images/s", "% matmul");
    let n = data.train.len() as f64;
    let mut reference_seconds = Vec::new();
    for (name, recipe) in [("reference 32-64 conv net", &q3.reference), ("chosen CNN", &q3.chosen)] {
        for (bf16, channels_last) in [(false, false), (false, true), (true, false), (true, true)] {
            let cnn = q3_cnn::cnn_config(recipe).clone().with_precision(bf16, channels_last);
            let macs = cnn.forward_macs();
            let recipe = Recipe { network: Network::Cnn(cnn), epochs, ..recipe.clone() };
            recipe::train(&Recipe { epochs: 1, ..recipe.clone() }, 1, &warm_up, ctx)?;
            let (_, history) = recipe::train(&recipe, 1, &splits, ctx)?;
            let seconds = history.train_seconds / epochs as f64;
            let flops = models::training_flops_per_image(macs) * n / seconds / 1e9;
            let peak = if bf16 { bf16_gflops } else { gflops };
            let label = format!("{name}, {}", if channels_last { "channels-last" } else { "channels-first" });
            let precision = if bf16 { "bfloat16" } else { "float32" };
            println!("{label:<44} {precision:>10} {seconds:>10.2} {:>10.0} {:>8.0}%", n / seconds, 100.0 * flops / peak);
            if name.starts_with("reference") {
                reference_seconds.push(seconds);
            }
        }
    }
    let fastest = reference_seconds.iter().copied().fold(f64::INFINITY, f64::min);
    println!();
    println!(
        "reference conv net: fastest path {fastest:.2} s/epoch, {:.2}x float32 channels-first; peers on this machine: PyTorch 15 s, Keras 10 s",
        reference_seconds[0] / fastest
    );
    Ok(())
}
