//! `bench`: training throughput measured in one run, as ratios between the
//! paths, against the machine's own matrix-multiply throughput, and (with
//! `--peers`) against a plain PyTorch eager script on the same libtorch,
//! data, batch size and threads. Paths in a precision that this CPU only
//! emulates are skipped unless asked for.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use indicatif::ProgressBar;
use serde::Deserialize;
use tch::{Device, Kind, Tensor};

use crate::data::Mnist;
use crate::experiment::Context;
use crate::experiments::q2_mlp::{self, SweepConfig, SweepPath};
use crate::networks;
use crate::precision::{Chosen, CpuFeatures, Precision};
use crate::profile::Profile;
use crate::recipe::{self, Network, Recipe, Splits};

/// The PyTorch eager peer, run by the venv's Python.
const PEER_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/peer.py");

pub struct Options<'a> {
    /// Sets the data: all of MNIST, or the smoke profile's subset.
    pub profile: Profile,
    pub device: Device,
    pub epochs: usize,
    pub precision: &'a Chosen,
    pub cpu: &'a CpuFeatures,
    pub peers: bool,
}

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

/// The precisions whose paths are timed: bfloat16 only where the device
/// computes it natively, or where `--precision bfloat16` asks for it.
fn timed_precisions(o: &Options) -> Vec<Precision> {
    let emulated = o.device == Device::Cpu && !o.cpu.native_bf16();
    if emulated && o.precision.requested != Precision::BFloat16.name() {
        println!(
            "bfloat16 paths skipped: {}, so libtorch emulates bfloat16 \
             (hundreds of times slower than float32); --precision bfloat16 times them anyway",
            o.cpu.without_native_bf16()
        );
        vec![Precision::Float32]
    } else {
        vec![Precision::Float32, Precision::BFloat16]
    }
}

/// Our seconds for each workload the peer also runs.
struct Ours {
    notebook_epoch: f64,
    /// Per model, the batched sweep's.
    wide_model_epoch: f64,
    /// One 500-300 network trained alone with autograd, as the tuned MLP
    /// trains, validation included.
    wide_alone_epoch: f64,
    reference_cnn_epoch: f64,
}

pub fn run(data: &Mnist, o: &Options) -> anyhow::Result<()> {
    let data = data.subset(o.profile.train_images(), o.profile.test_images(), 0);
    let progress = ProgressBar::hidden();
    let ctx = Context {
        data: &data,
        device: o.device,
        seed: 1,
        shared_seed: 2,
        progress: &progress,
        checkpoints: &crate::checkpoint::NoCheckpoints,
    };
    let precisions = timed_precisions(o);
    let peaks: Vec<(Precision, f64)> = precisions.iter().map(|&p| (p, matmul_gflops(o.device, p.kind()))).collect();
    let peaks_text: Vec<String> = peaks.iter().map(|(p, g)| format!("{} {g:.1} GFLOP/s", p.name())).collect();
    println!(
        "device {:?}, {} threads, CPU {}; 2048x2048 matmul: {}",
        o.device,
        tch::get_num_threads(),
        o.cpu.class(),
        peaks_text.join(", ")
    );
    println!(
        "one epoch = {} training images, batch 128 unless a path names its own, validation on {} test images",
        data.train.len(),
        data.test.len()
    );
    println!();
    let float32_peak = peaks[0].1;
    let precision_peak = peaks.iter().find(|(p, _)| *p == o.precision.precision).map_or(float32_peak, |&(_, g)| g);
    let (notebook_epoch, wide_alone_epoch, wide_model_epoch) =
        mlp_paths(&data, &ctx, o.epochs, o.precision.precision, (float32_peak, precision_peak))?;
    println!();
    let reference_cnn_epoch = cnn_paths(&data, &ctx, o, &peaks)?;
    if o.peers {
        println!();
        let Some(python) = venv_python() else {
            println!("peers: skipped: no venv of scripts/setup.sh found (run scripts/setup.sh, or set MNIST_WRITEUP_VENV)");
            return Ok(());
        };
        let mut ours = vec![Ours { notebook_epoch, wide_model_epoch, wide_alone_epoch, reference_cnn_epoch }];
        let mut theirs = vec![run_peers(&python, &data, o)?];
        for _ in 1..PEER_ROUNDS {
            ours.push(peer_workloads(&data, &ctx, o)?);
            theirs.push(run_peers(&python, &data, o)?);
        }
        let at_peak = at_peak(&data, o.precision.precision, (float32_peak, precision_peak));
        print_comparison(&compare(&ours, &theirs, &at_peak)?);
    }
    Ok(())
}

/// Rounds of the comparison with the peers: ours and theirs in turn, each
/// side's fastest kept, so that a minute in which the machine is slower
/// (timings here swing by up to 2x) slows both sides, not one.
const PEER_ROUNDS: usize = 2;

/// Ours again on the three workloads that the peer runs, kernels warm.
fn peer_workloads(data: &Mnist, ctx: &Context, o: &Options) -> anyhow::Result<Ours> {
    let precision = o.precision.precision;
    let splits = Splits::validated_on_test(&data.train, &data.test, ctx.device);
    let per_epoch = |seconds: f64| seconds / o.epochs as f64;
    let (_, notebook) = recipe::train(&networks::notebook_mlp(o.epochs), ctx.seed, &splits, ctx.progress)?;
    let wide_alone = wide_alone_seconds(precision, o.epochs, ctx.seed, &splits, ctx)?;
    let sweep = q2_mlp::train_sweep(&sweep_config(data, o.epochs, precision), ctx, SweepPath::Batched)?;
    let (_, reference) = recipe::train(&networks::reference_cnn(precision, o.epochs), ctx.seed, &splits, ctx.progress)?;
    Ok(Ours {
        notebook_epoch: per_epoch(notebook.train_seconds),
        wide_model_epoch: per_epoch(sweep.train_seconds) / sweep.models as f64,
        wide_alone_epoch: per_epoch(wide_alone),
        reference_cnn_epoch: per_epoch(reference.train_seconds),
    })
}

/// Seconds that one 500-300 network takes to train alone for `epochs`,
/// validation after every epoch included.
fn wide_alone_seconds(precision: Precision, epochs: usize, seed: u64, splits: &Splits, ctx: &Context) -> anyhow::Result<f64> {
    let start = Instant::now();
    recipe::train(&networks::wide_mlp(precision, epochs), seed, splits, ctx.progress)?;
    Ok(start.elapsed().as_secs_f64())
}

/// FLOPs of one epoch of `network` over `data`'s training images, and its
/// forward pass over the test images where `validation` is timed with it.
fn epoch_flops(network: &Network, data: &Mnist, validation: bool) -> f64 {
    let validated = if validation { data.test.len() as f64 } else { 0.0 };
    network.training_flops_per_image() * data.train.len() as f64 + 2.0 * network.forward_macs() as f64 * validated
}

/// The seconds an epoch of each peer workload would take at the matmul
/// peak of its precision: its FLOPs over the measured throughput. `peaks`
/// are the GFLOP/s of float32 (the notebook MLP's) and of `precision`.
fn at_peak(data: &Mnist, precision: Precision, (float32_peak, precision_peak): (f64, f64)) -> Ours {
    let seconds = |network: &Network, validation: bool, gflops: f64| epoch_flops(network, data, validation) / (gflops * 1e9);
    let wide_epoch = seconds(&networks::wide_mlp(precision, 1).network, true, precision_peak);
    Ours {
        notebook_epoch: seconds(&networks::notebook_mlp(1).network, false, float32_peak),
        wide_model_epoch: wide_epoch,
        wide_alone_epoch: wide_epoch,
        reference_cnn_epoch: seconds(&networks::reference_cnn(precision, 1).network, false, precision_peak),
    }
}

/// Question 2 D's sweep: 5 factors, 3 replicates, on all of `data`.
fn sweep_config(data: &Mnist, epochs: usize, precision: Precision) -> SweepConfig {
    SweepConfig {
        recipe: networks::wide_mlp(precision, epochs),
        decay_factors: vec![1e-6, 5.6e-6, 3.2e-5, 1.8e-4, 1e-3],
        replicates: 3,
        train_images: data.train.len(),
        test_images: data.test.len(),
    }
}

/// The MLPs of question 2: the notebook's alone (in float32, as the
/// experiment trains it), one 500-300 network alone without decay, and the
/// 500-300 decay sweep, one network at a time and batched, these in the
/// run's `precision`. `peaks` are the matmul throughputs of float32 and of
/// that precision. Returns the notebook MLP's seconds per epoch, the lone
/// 500-300 network's, and the batched sweep's seconds per model-epoch.
fn mlp_paths(data: &Mnist, ctx: &Context, epochs: usize, precision: Precision, peaks: (f64, f64)) -> anyhow::Result<(f64, f64, f64)> {
    println!("{:<52} {:>6} {:>14} {:>10} {:>9}", "path", "models", "s/model-epoch", "images/s", "% matmul");
    let n = data.train.len() as f64;
    let report = |name: &str, recipe: &Recipe, models: usize, seconds: f64, peak: f64, validation: bool| {
        let per_model_epoch = seconds / (models * epochs) as f64;
        let achieved = epoch_flops(&recipe.network, data, validation) / per_model_epoch / 1e9;
        println!("{name:<52} {models:>6} {per_model_epoch:>14.3} {:>10.0} {:>8.0}%", n / per_model_epoch, 100.0 * achieved / peak);
        per_model_epoch
    };
    let splits = Splits::validated_on_test(&data.train, &data.test, ctx.device);
    let (_, notebook) = recipe::train(&networks::notebook_mlp(epochs), ctx.seed, &splits, ctx.progress)?;
    let notebook_epoch =
        report("784-64-64-10, alone, float32 (training only)", &networks::notebook_mlp(1), 1, notebook.train_seconds, peaks.0, false);
    let wide = networks::wide_mlp(precision, 1);
    let wide_alone = wide_alone_seconds(precision, epochs, ctx.seed, &splits, ctx)?;
    let wide_alone_epoch =
        report(&format!("784-500-300-10, alone (autograd), no decay, {}", precision.name()), &wide, 1, wide_alone, peaks.1, true);
    let sweep_config = sweep_config(data, epochs, precision);
    let mut seconds = Vec::new();
    for (path, name) in [(SweepPath::OneAtATime, "one at a time (autograd)"), (SweepPath::Batched, "batched")] {
        let sweep = q2_mlp::train_sweep(&sweep_config, ctx, path)?;
        let label = format!("784-500-300-10 decay sweep, {name}, {}", precision.name());
        seconds.push(report(&label, &sweep_config.recipe, sweep.models, sweep.train_seconds, peaks.1, true));
    }
    println!(
        "(500-300 times include the validation after every epoch, and so do their FLOPs; no path computes the gradient of the images)"
    );
    println!();
    println!("batched sweep: {:.2}x the one-at-a-time throughput on {:?}", seconds[0] / seconds[1], ctx.device);
    Ok((notebook_epoch, wide_alone_epoch, seconds[1]))
}

/// The CNNs of question 3 in every timed precision, channels-first and
/// channels-last: training throughput and its share of the matmul peak of
/// the same precision. Returns the reference network's seconds per epoch
/// in the run's precision, channels-last (what the experiment trains).
fn cnn_paths(data: &Mnist, ctx: &Context, o: &Options, peaks: &[(Precision, f64)]) -> anyhow::Result<f64> {
    let (reference_cnn, chosen_cnn) = (networks::reference_cnn(o.precision.precision, 1), networks::chosen_cnn(o.precision.precision, 1));
    let splits = Splits::validated_on_test(&data.train, &data.test, ctx.device);
    // oneDNN builds its kernels for each new shape on first use: one epoch
    // over a small subset first keeps that out of the measured epochs.
    let small = data.subset(3_000, 2_000, 0);
    let warm_up = Splits::validated_on_test(&small.train, &small.test, ctx.device);
    println!("{:<52} {:>10} {:>10} {:>10} {:>9}", "CNN path (one model, training only)", "precision", "s/epoch", "images/s", "% matmul");
    let n = data.train.len() as f64;
    let mut reference = Vec::new();
    for (name, recipe) in [("reference 32-64 conv net", &reference_cnn), ("chosen CNN", &chosen_cnn)] {
        for &(precision, peak) in peaks {
            for channels_last in [false, true] {
                let Network::Cnn(cnn) = &recipe.network else { unreachable!("the named CNNs are CNNs") };
                let cnn = cnn.clone().with_precision(precision, channels_last);
                let recipe = Recipe { network: Network::Cnn(cnn), epochs: o.epochs, ..recipe.clone() };
                recipe::train(&Recipe { epochs: 1, ..recipe.clone() }, 1, &warm_up, ctx.progress)?;
                let (_, history) = recipe::train(&recipe, 1, &splits, ctx.progress)?;
                let seconds = history.train_seconds / o.epochs as f64;
                let flops = epoch_flops(&recipe.network, data, false) / seconds / 1e9;
                let batch = if recipe.batch_size == 128 { String::new() } else { format!(", batch {}", recipe.batch_size) };
                let label = format!("{name}{batch}, {}", if channels_last { "channels-last" } else { "channels-first" });
                println!("{label:<52} {:>10} {seconds:>10.2} {:>10.0} {:>8.0}%", precision.name(), n / seconds, 100.0 * flops / peak);
                if name.starts_with("reference") {
                    reference.push((precision, channels_last, seconds));
                }
            }
        }
    }
    let fastest = reference.iter().map(|r| r.2).fold(f64::INFINITY, f64::min);
    let chosen = reference
        .iter()
        .find(|&&(p, channels_last, _)| p == o.precision.precision && channels_last)
        .map(|r| r.2)
        .with_context(|| format!("the reference network was not timed in {}", o.precision.precision.name()))?;
    println!();
    println!(
        "reference conv net: {chosen:.2} s/epoch in {} channels-last (the run's precision: {}); fastest path {fastest:.2} s, {:.2}x float32 channels-first",
        o.precision.precision.name(),
        o.precision.reason,
        reference[0].2 / fastest
    );
    Ok(chosen)
}

/// One line of the peer's output.
#[derive(Debug, Deserialize)]
pub struct PeerLine {
    pub engine: String,
    pub workload: String,
    /// Why the engine did not run, where it did not.
    pub skipped: Option<String>,
    #[serde(default)]
    pub train_seconds_per_epoch: f64,
    #[serde(default)]
    pub validation_seconds: f64,
}

/// Parses the peer's JSON lines; other lines (warnings) are passed over.
pub fn parse_peer_output(stdout: &str) -> anyhow::Result<Vec<PeerLine>> {
    stdout
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .map(|l| serde_json::from_str(l).with_context(|| format!("the peer printed a line that is not a result: {l}")))
        .collect()
}

/// The Python of the venv that `scripts/setup.sh` made: `MNIST_WRITEUP_VENV`,
/// else the venv that holds the libtorch linked as `.libtorch`.
fn venv_python() -> Option<PathBuf> {
    if let Some(venv) = std::env::var_os("MNIST_WRITEUP_VENV") {
        return Some(Path::new(&venv).join("bin/python")).filter(|p| p.exists());
    }
    let torch = std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join(".libtorch")).ok()?;
    torch.ancestors().find(|dir| dir.join("pyvenv.cfg").exists()).map(|venv| venv.join("bin/python")).filter(|p| p.exists())
}

/// Runs the PyTorch eager peer, and the Keras one where TensorFlow is
/// importable, on the same data: their lines, skips included.
fn run_peers(python: &Path, data: &Mnist, o: &Options) -> anyhow::Result<Vec<PeerLine>> {
    let dir = tempfile::tempdir()?;
    data.write_idx(dir.path())?;
    let device = match o.device {
        Device::Cuda(_) => "cuda",
        _ => "cpu",
    };
    let mut lines = Vec::new();
    for engine in ["pytorch", "keras"] {
        let output = std::process::Command::new(python)
            .arg(PEER_SCRIPT)
            .args(["--engine", engine, "--device", device, "--precision", o.precision.precision.name()])
            .args(["--threads", &tch::get_num_threads().to_string(), "--epochs", &o.epochs.to_string(), "--data"])
            .arg(dir.path())
            .output()
            .with_context(|| format!("{}: cannot run", python.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            anyhow::bail!("the {engine} peer failed ({}):\n{}{}", output.status, stdout, String::from_utf8_lossy(&output.stderr));
        }
        lines.extend(parse_peer_output(&stdout)?);
    }
    Ok(lines)
}

/// One workload of one peer against ours, over the rounds.
#[derive(Debug, PartialEq)]
struct Comparison {
    label: String,
    target: Option<f64>,
    /// Seconds, one per round.
    peer_rounds: Vec<f64>,
    our_rounds: Vec<f64>,
    /// Seconds at the matmul peak: the workload's FLOPs over the measured
    /// throughput.
    at_peak: f64,
}

fn fastest(rounds: &[f64]) -> f64 {
    rounds.iter().copied().fold(f64::INFINITY, f64::min)
}

/// The slowest round over the fastest: how much the machine swung.
fn spread(rounds: &[f64]) -> f64 {
    rounds.iter().copied().fold(0.0, f64::max) / fastest(rounds)
}

impl Comparison {
    fn peer(&self) -> f64 {
        fastest(&self.peer_rounds)
    }

    fn ours(&self) -> f64 {
        fastest(&self.our_rounds)
    }

    /// The peer's seconds over ours, each side's fastest round: above 1,
    /// mnist-writeup is faster.
    fn ratio(&self) -> f64 {
        self.peer() / self.ours()
    }

    /// The share of the matmul peak that `seconds` reach.
    fn of_peak(&self, seconds: f64) -> f64 {
        self.at_peak / seconds
    }

    /// The largest ratio that a program doing the same arithmetic could
    /// reach against the peer, at the measured matmul peak.
    fn ceiling(&self) -> f64 {
        self.peer() / self.at_peak
    }

    fn verdict(&self) -> String {
        self.target.map_or(String::new(), |t| format!("{t:.1}x: {}", if self.ratio() >= t { "met" } else { "missed" }))
    }
}

/// What the peers skipped, then each workload they ran against ours, over
/// the rounds (`ours[r]` and `theirs[r]` measured in turn), with the
/// seconds that each would take `at_peak`.
fn compare(ours: &[Ours], theirs: &[Vec<PeerLine>], at_peak: &Ours) -> anyhow::Result<(Vec<String>, Vec<Comparison>)> {
    let mut skipped = Vec::new();
    let mut comparisons: Vec<Comparison> = Vec::new();
    for (round, lines) in theirs.iter().enumerate() {
        for line in lines {
            if let Some(why) = &line.skipped {
                if round == 0 {
                    skipped.push(format!("{} peer: skipped: {why}", line.engine));
                }
                continue;
            }
            let (training, validated) = (line.train_seconds_per_epoch, line.train_seconds_per_epoch + line.validation_seconds);
            let rows = match line.workload.as_str() {
                "mlp_64_64" => vec![("64-64 MLP epoch, training only", training, ours[round].notebook_epoch, None, at_peak.notebook_epoch)],
                "mlp_500_300" => vec![
                    (
                        "500-300 MLP model-epoch, with validation",
                        validated,
                        ours[round].wide_model_epoch,
                        Some(1.3),
                        at_peak.wide_model_epoch,
                    ),
                    (
                        "500-300 MLP epoch, both alone, with validation",
                        validated,
                        ours[round].wide_alone_epoch,
                        None,
                        at_peak.wide_alone_epoch,
                    ),
                ],
                "reference_cnn" => vec![(
                    "reference conv net epoch, training only",
                    training,
                    ours[round].reference_cnn_epoch,
                    Some(1.4),
                    at_peak.reference_cnn_epoch,
                )],
                other => anyhow::bail!("the peer reported an unknown workload `{other}`"),
            };
            for (label, peer, ours, target, at_peak) in rows {
                let label = format!("{} {label}", line.engine);
                let index = match comparisons.iter().position(|c| c.label == label) {
                    Some(index) => index,
                    None => {
                        comparisons.push(Comparison { label, target, peer_rounds: Vec::new(), our_rounds: Vec::new(), at_peak });
                        comparisons.len() - 1
                    }
                };
                comparisons[index].peer_rounds.push(peer);
                comparisons[index].our_rounds.push(ours);
            }
        }
    }
    Ok((skipped, comparisons))
}

fn print_comparison((skipped, comparisons): &(Vec<String>, Vec<Comparison>)) {
    println!(
        "{:<56} {:>8} {:>8} {:>8}  {:<12} {:>7} {:>7} {:>7} {:>7} {:>7}",
        "peer workload (same data, threads, batch 128)",
        "peer s",
        "ours s",
        "ratio",
        "target",
        "peer ±",
        "ours ±",
        "peer %",
        "ours %",
        "ceiling"
    );
    for c in comparisons {
        println!(
            "{:<56} {:>8.3} {:>8.3} {:>7.2}x  {:<12} {:>6.2}x {:>6.2}x {:>6.0}% {:>6.0}% {:>6.2}x",
            c.label,
            c.peer(),
            c.ours(),
            c.ratio(),
            c.verdict(),
            spread(&c.peer_rounds),
            spread(&c.our_rounds),
            100.0 * c.of_peak(c.peer()),
            100.0 * c.of_peak(c.ours()),
            c.ceiling()
        );
    }
    for line in skipped {
        println!("{line}");
    }
    println!(
        "(ratio: the peer's seconds over ours; above 1, mnist-writeup is faster; the sweep's are per model, all models trained batched, \
         and the peer's 500-300 network is also set against one of ours trained alone; \
         each side's fastest of {PEER_ROUNDS} rounds, ours and the peer's in turn; ±: its slowest round over its fastest; \
         %: the share of the matmul peak that its FLOPs reach; ceiling: the ratio that the same FLOPs at that peak would reach)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_output_is_parsed_and_stray_lines_are_passed_over() {
        let out = "warning: something\n{\"engine\": \"pytorch\", \"workload\": \"mlp_64_64\", \"train_seconds_per_epoch\": 0.5, \"validation_seconds\": 0.1}\n\
                   {\"engine\": \"keras\", \"workload\": \"all\", \"skipped\": \"TensorFlow is not importable\"}\n";
        let lines = parse_peer_output(out).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0].workload.as_str(), lines[0].train_seconds_per_epoch), ("mlp_64_64", 0.5));
        assert_eq!(lines[1].skipped.as_deref(), Some("TensorFlow is not importable"));
        assert!(parse_peer_output("{\"engine\": 3}").is_err());
    }

    #[test]
    fn rounds_keep_each_sides_fastest_and_the_verdict_follows_the_ratio() {
        let line = |workload: &str, seconds: f64| PeerLine {
            engine: "pytorch".into(),
            workload: workload.into(),
            skipped: None,
            train_seconds_per_epoch: seconds,
            validation_seconds: 0.0,
        };
        let keras = PeerLine { engine: "keras".into(), workload: "all".into(), skipped: Some("no TensorFlow".into()), ..line("all", 0.0) };
        let ours = |cnn: f64| Ours { notebook_epoch: 0.2, wide_model_epoch: 1.0, wide_alone_epoch: 1.5, reference_cnn_epoch: cnn };
        // The machine is slow in the first round for the peer, in the second for us.
        let theirs = vec![
            vec![line("mlp_500_300", 2.6), line("reference_cnn", 20.0), keras],
            vec![line("mlp_500_300", 1.2), line("reference_cnn", 15.0)],
        ];
        let (skipped, comparisons) = compare(&[ours(10.0), ours(30.0)], &theirs, &ours(6.0)).unwrap();
        assert_eq!(skipped, ["keras peer: skipped: no TensorFlow"]);
        let sweep = &comparisons[0];
        assert_eq!((sweep.peer(), sweep.ours()), (1.2, 1.0), "fastest of each side");
        assert!((spread(&sweep.peer_rounds) - 2.6 / 1.2).abs() < 1e-12 && spread(&sweep.our_rounds) == 1.0);
        assert_eq!(sweep.verdict(), "1.3x: missed", "1.2x is short of 1.3x");
        assert_eq!((sweep.of_peak(sweep.peer()), sweep.of_peak(sweep.ours()), sweep.ceiling()), (1.0 / 1.2, 1.0, 1.2));
        let alone = &comparisons[1];
        assert_eq!(
            (alone.label.as_str(), alone.ratio(), alone.verdict()),
            ("pytorch 500-300 MLP epoch, both alone, with validation", 1.2 / 1.5, String::new()),
            "the same peer seconds against our network trained alone, with no target"
        );
        let cnn = &comparisons[2];
        assert_eq!((cnn.ratio(), spread(&cnn.our_rounds)), (1.5, 3.0));
        assert_eq!(cnn.verdict(), "1.4x: met");
        let unknown = vec![vec![line("mlp_9_9", 1.0)]];
        assert!(compare(&[ours(1.0)], &unknown, &ours(1.0)).is_err());
    }
}
