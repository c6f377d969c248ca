//! `bench`: training throughput measured in one run, as ratios between the
//! paths, against the floors that the machine's own matrix-multiply
//! throughput and memory bandwidth set (a roofline: each path's FLOPs at the
//! one, its bytes moved at the other; `traffic` counts the bytes), and (with
//! `--peers`) against a plain PyTorch eager script on the same libtorch,
//! data, batch size and threads. Paths in a precision that this CPU only
//! emulates are skipped unless asked for.

mod projection;
mod traffic;

use std::collections::BTreeMap;
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
use crate::runner::Plan;
use crate::train::Threads;
pub use projection::Rates;
use projection::{PeerTimed, Timed, Way};
use traffic::Traffic;

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
    /// Where `Rates` are kept for `build-report`.
    pub out: &'a Path,
}

/// Matrix-multiply throughput of `device` in `kind`, in GFLOP/s: the best
/// of as many 2048x2048 products as a second holds (5 at least), so that a
/// moment in which the machine is busy elsewhere does not set the peak.
pub fn matmul_gflops(device: Device, kind: Kind) -> f64 {
    let n = 2048;
    let a = Tensor::randn([n, n], (Kind::Float, device)).to_kind(kind);
    let b = Tensor::randn([n, n], (Kind::Float, device)).to_kind(kind);
    let _ = a.matmul(&b);
    let best = best_for_a_second(|| {
        let c = a.matmul(&b);
        let _ = c.double_value(&[0, 0]);
    });
    2.0 * (n * n * n) as f64 / best / 1e9
}

/// The fastest of the runs of `f` that a second holds, and of 5 at least, in seconds.
fn best_for_a_second(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut best = f64::INFINITY;
    let mut runs = 0;
    while runs < 5 || start.elapsed().as_secs_f64() < 1.0 {
        let run = Instant::now();
        f();
        best = best.min(run.elapsed().as_secs_f64());
        runs += 1;
    }
    best
}

/// Memory bandwidth in GB/s as STREAM counts it (bytes read plus bytes
/// written, best of a second's runs) on arrays of 256 MB of float32, far larger than any
/// cache: a copy, and the sum of two arrays into a third (STREAM's "add").
#[derive(Debug, Clone, Copy)]
pub struct Bandwidth {
    pub copy: f64,
    pub add: f64,
}

impl Bandwidth {
    pub fn measure(device: Device) -> Bandwidth {
        let n: i64 = 1 << 26;
        let gigabytes = 4.0 * n as f64 / 1e9;
        let a = Tensor::rand([n], (Kind::Float, device));
        let b = Tensor::rand([n], (Kind::Float, device));
        let mut c = Tensor::zeros([n], (Kind::Float, device));
        let copy = best_for_a_second(|| {
            c.copy_(&a);
            let _ = c.double_value(&[n - 1]);
        });
        let add = best_for_a_second(|| {
            let _ = a.add_out(&c, &b);
            let _ = c.double_value(&[n - 1]);
        });
        Bandwidth { copy: 2.0 * gigabytes / copy, add: 3.0 * gigabytes / add }
    }

    /// The faster of the two: a floor set by it is one no path can beat
    /// from memory.
    fn best(&self) -> f64 {
        self.copy.max(self.add)
    }
}

/// What the machine reaches at best, measured in the same run: the matmul
/// peaks of float32 and of the run's precision, and the memory bandwidth.
#[derive(Debug, Clone, Copy)]
struct Roofs {
    float32_gflops: f64,
    precision_gflops: f64,
    bandwidth_gbs: f64,
}

/// The work of one epoch of one model: its FLOPs and its bytes moved, and
/// those of one training step.
#[derive(Debug, Clone, Copy)]
struct Work {
    flops: f64,
    bytes: Traffic,
    step_flops: f64,
    step: Traffic,
    /// Whether its products compute in the run's precision (else float32).
    in_precision: bool,
}

/// The least time a workload can take on this machine: its FLOPs at the
/// matmul peak, or its bytes at the memory bandwidth, whichever is longer.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Floor {
    flops_seconds: f64,
    memory_seconds: f64,
}

impl Floor {
    fn of(work: &Work, roofs: &Roofs) -> Floor {
        let gflops = if work.in_precision { roofs.precision_gflops } else { roofs.float32_gflops };
        Floor { flops_seconds: work.flops / (gflops * 1e9), memory_seconds: work.bytes.total() / (roofs.bandwidth_gbs * 1e9) }
    }

    fn seconds(&self) -> f64 {
        self.flops_seconds.max(self.memory_seconds)
    }

    /// Which roof the workload is under.
    fn bound(&self) -> &'static str {
        if self.memory_seconds > self.flops_seconds { "memory" } else { "FLOPs" }
    }

    /// The share of the floor that `seconds` reach.
    fn share(&self, seconds: f64) -> f64 {
        self.seconds() / seconds
    }
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
    // The projection's trainings first: a plan it cannot project fails before the timing.
    let jobs = projection::jobs(&Plan::new(Profile::Full, 1, o.precision.clone(), &[])?)?;
    let precisions = timed_precisions(o);
    let peaks: Vec<(Precision, f64)> = precisions.iter().map(|&p| (p, matmul_gflops(o.device, p.kind()))).collect();
    let peaks_text: Vec<String> = peaks.iter().map(|(p, g)| format!("{} {g:.1} GFLOP/s", p.name())).collect();
    let bandwidth = Bandwidth::measure(o.device);
    println!(
        "device {:?}, {} threads, CPU {}; 2048x2048 matmul: {}; memory (256 MiB arrays): copy {:.1} GB/s, add {:.1} GB/s",
        o.device,
        tch::get_num_threads(),
        o.cpu.class(),
        peaks_text.join(", "),
        bandwidth.copy,
        bandwidth.add
    );
    println!(
        "one epoch = {} training images, batch 128 unless a path names its own, validation on {} test images",
        data.train.len(),
        data.test.len()
    );
    println!(
        "floors: a path's FLOPs at the matmul peak of its precision, and its bytes (src/bench/traffic.rs) at the faster bandwidth, \
         every pass counted as if it went to memory, so a cache that holds a pass's tensors beats that floor; \
         % floor: the larger floor over the measured seconds"
    );
    println!();
    let float32_peak = peaks[0].1;
    let precision_peak = peaks.iter().find(|(p, _)| *p == o.precision.precision).map_or(float32_peak, |&(_, g)| g);
    let roofs = Roofs { float32_gflops: float32_peak, precision_gflops: precision_peak, bandwidth_gbs: bandwidth.best() };
    let mut paths = mlp_paths(&data, &ctx, o.epochs, o.precision.precision, &roofs)?;
    println!();
    paths.extend(cnn_paths(&data, &ctx, o, &peaks, bandwidth.best())?);
    println!();
    let cnn_side_by_side = seeds_side_by_side(&data, o)?;
    if o.peers {
        println!();
        match venv_python() {
            None => println!("peers: skipped: no venv of scripts/setup.sh found (run scripts/setup.sh, or set MNIST_WRITEUP_VENV)"),
            Some(python) => {
                let seconds = |way: Way| paths[&way].seconds;
                let mut ours = vec![Ours {
                    notebook_epoch: seconds(Way::NarrowMlpAlone),
                    wide_model_epoch: seconds(Way::BatchedMlps),
                    wide_alone_epoch: seconds(Way::WideMlpAlone),
                    reference_cnn_epoch: seconds(Way::ReferenceCnn),
                }];
                let mut theirs = vec![run_peers(&python, &data, o)?];
                for _ in 1..PEER_ROUNDS {
                    ours.push(peer_workloads(&data, &ctx, o)?);
                    theirs.push(run_peers(&python, &data, o)?);
                }
                let compared = compare(&ours, &theirs, &at_floor(&data, o.precision.precision, &roofs))?;
                print_comparison(&compared);
                with_peers(&mut paths, &compared.1, &data, o.precision.precision);
            }
        }
    }
    println!();
    let end_peak = matmul_gflops(o.device, o.precision.precision.kind());
    println!("{}", steadiness(precision_peak, end_peak, o.precision.precision));
    let rates = Rates {
        cpu_class: o.cpu.class(),
        threads: tch::get_num_threads(),
        device: crate::cache::Machine::here(o.device).device,
        precision: o.precision.precision,
        train_images: data.train.len(),
        measured: {
            let now = time::OffsetDateTime::now_utc();
            format!("{} {:02}:{:02} UTC", now.date(), now.hour(), now.minute())
        },
        paths,
        cnn_side_by_side,
    };
    rates.write(o.out)?;
    println!();
    for line in projection::lines(Profile::Full, &jobs, &rates, &BTreeMap::new())? {
        println!("{line}");
    }
    println!("kept for build-report in {}", o.out.join(projection::RATES_FILE).display());
    Ok(())
}

/// Whether the matmul peak held from the start of the run to its end: a
/// machine shared with others can halve it for minutes.
fn steadiness(start: f64, end: f64, precision: Precision) -> String {
    let moved = end / start - 1.0;
    let said = format!("{} matmul at the end of the run: {end:.1} GFLOP/s, {start:.1} at the start", precision.name());
    if moved.abs() > 0.15 {
        format!(
            "{said}: the machine's speed moved by {:+.0} % during the run, so its floors, shares and ratios are as unsteady; \
             run `bench` again when the machine is quiet",
            100.0 * moved
        )
    } else {
        format!("{said}: steady within 15 %")
    }
}

/// The PyTorch peer's seconds, its fastest round (as `compared`), on the
/// workload that stands for each way: its 500-300 network, trained alone,
/// for the batched sweep and the tuned MLP too, and its reference CNN for
/// the chosen one. Ours stay each path's first measurement, with or
/// without `--peers`, so that every path is projected by the same rule.
fn with_peers(paths: &mut BTreeMap<Way, Timed>, compared: &[Comparison], data: &Mnist, precision: Precision) {
    // `validated`: whether the peer's seconds include its validation, as `compare` counts them.
    let peer_of = |workload: &str, network: &Network, validated: bool| {
        compared
            .iter()
            .find(|c| c.engine == "pytorch" && c.workload == workload)
            .map(|c| PeerTimed { flops: epoch_flops(network, data, validated), seconds: c.peer() })
    };
    let narrow_peer = peer_of("mlp_64_64", &networks::notebook_mlp(1).network, false);
    let wide_peer = peer_of("mlp_500_300", &networks::wide_mlp(precision, 1).network, true);
    let reference_peer = peer_of("reference_cnn", &networks::reference_cnn(precision, 1).network, false);
    for (way, timed) in paths.iter_mut() {
        timed.peer = match way {
            Way::NarrowMlpAlone => narrow_peer,
            Way::WideMlpAlone | Way::AugmentedMlpAlone | Way::BatchedMlps => wide_peer,
            Way::ReferenceCnn | Way::ChosenCnn => reference_peer,
        };
    }
}

/// Whether seeds train faster side by side: as many trainings as threads,
/// of the tuned MLP and of the chosen CNN, on a third of the images, one
/// after another at the run's threads and side by side, each on a thread
/// of its own computing with one; the chosen CNN's gain, where measured.
fn seeds_side_by_side(data: &Mnist, o: &Options) -> anyhow::Result<Option<f64>> {
    let threads = tch::get_num_threads();
    if threads < 2 || o.device != Device::Cpu {
        println!(
            "seeds side by side: skipped: they are timed on the CPU with 2 threads or more (as many trainings as threads, up to {})",
            recipe::MOST_SIDE_BY_SIDE
        );
        return Ok(None);
    }
    let copies = threads.min(recipe::MOST_SIDE_BY_SIDE as i32);
    let third = data.subset(data.train.len() / 3, data.test.len() / 3, 0);
    let precision = o.precision.precision;
    println!(
        "{:<62} {:>10} {:>12} {:>12} {:>8}",
        format!("seeds side by side ({copies} trainings, 1 epoch, {} images)", third.train.len()),
        "precision",
        "in turn s",
        "together s",
        "gain"
    );
    let mut cnn_gain = None;
    for (name, recipe) in
        [("tuned 784-500-300-10", networks::tuned_wide_mlp(precision, 1)), ("chosen CNN, batch 32", networks::chosen_cnn(precision, 1))]
    {
        let (in_turn, together) = side_by_side(&recipe, &third, o.device, copies)?;
        println!("{name:<62} {:>10} {in_turn:>12.2} {together:>12.2} {:>7.2}x", precision.name(), in_turn / together);
        if recipe::one_thread_each(&recipe, o.device) {
            cnn_gain = Some(in_turn / together);
        }
    }
    println!(
        "(in turn: one after another at {threads} threads; together: side by side, each on a thread of its own computing with one; \
         gain: in turn over together, above 1 where seeds would train faster together; one measurement each, after the paths above \
         warmed their kernels; the experiments train CNNs side by side, the MLPs in turn)"
    );
    Ok(cnn_gain)
}

/// Seconds that `copies` trainings of `recipe` on `data` take one after
/// another at the run's threads, and side by side, each on a thread of its
/// own computing with one, as the experiments train CNNs (`recipe::train_all`).
fn side_by_side(recipe: &Recipe, data: &Mnist, device: Device, copies: i32) -> anyhow::Result<(f64, f64)> {
    let splits = || Splits::validated_on_test(&data.train, &data.test, device);
    let start = Instant::now();
    for seed in 0..copies {
        recipe::train_on_run_threads(recipe, seed as u64, &splits(), &ProgressBar::hidden())?;
    }
    let in_turn = start.elapsed().as_secs_f64();
    let _threads = Threads::set(1);
    let start = Instant::now();
    let trained: Vec<anyhow::Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..copies)
            .map(|seed| {
                scope.spawn(move || {
                    tch::set_num_threads(1);
                    recipe::train(recipe, seed as u64, &splits(), &ProgressBar::hidden()).map(|_| ())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("a training thread panicked")))).collect()
    });
    let together = start.elapsed().as_secs_f64();
    trained.into_iter().collect::<anyhow::Result<Vec<()>>>()?;
    Ok((in_turn, together))
}

/// `build-report`'s closing lines: `ran`, each experiment's seconds when
/// it ran, beside the projection from the rates that `bench` kept in
/// `out`, where they were measured on a machine like this one.
pub fn beside_projection(plan: &Plan, ran: &BTreeMap<String, f64>, out: &Path, device: Device) -> Vec<String> {
    let here = crate::cache::Machine::here(device);
    // The report is written by now: a bench.json that cannot serve is said, not an error.
    let why_not = match Rates::read(out) {
        Err(e) => format!("{e:#}"),
        Ok(None) => "`mnist-writeup bench` has not run here".to_owned(),
        Ok(Some(rates)) => match rates.unlike(&here, plan.precision.precision) {
            Some(difference) => format!("`bench` measured another machine or setting: {difference}"),
            None => match projection::jobs(plan).and_then(|jobs| projection::lines(plan.profile, &jobs, &rates, ran)) {
                Ok(lines) => {
                    let heading = "stage times beside the projection from `bench` (ran s: each experiment's, when it ran):";
                    return std::iter::once(heading.to_owned()).chain(lines).collect();
                }
                Err(e) => format!("{e:#}; run `mnist-writeup bench` again"),
            },
        },
    };
    vec![format!(
        "the experiments took {} when they ran; no projection beside it: {why_not} (run `mnist-writeup bench --peers` \
         with the same --threads, --device, --precision and --out to see the projection beside these times)",
        projection::minutes(ran.values().sum())
    )]
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
    let (_, reference) = recipe::train_on_run_threads(&networks::reference_cnn(precision, o.epochs), ctx.seed, &splits, ctx.progress)?;
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
    let validated = if validation { data.test.len() } else { 0 };
    projection::flops(1, 1, data.train.len(), validated, network.training_flops_per_image(), network.forward_macs())
}

/// FLOPs of `network`'s forward pass over `data`'s test images.
fn validation_flops(network: &Network, data: &Mnist) -> f64 {
    2.0 * network.forward_macs() as f64 * data.test.len() as f64
}

/// The bytes of one epoch over `data`'s training images in batches of
/// `batch`, `step` giving those of a step on so many images: the last
/// batch holds what is left.
fn epoch_traffic(data: &Mnist, batch: i64, step: impl Fn(i64) -> Traffic) -> Traffic {
    let n = data.train.len() as i64;
    let full = step(batch).times((n / batch) as f64);
    if n % batch == 0 { full } else { full + step(n % batch) }
}

/// An epoch of `recipe`'s network trained alone with autograd, its test
/// images' validation included where `validation`; `l2` is whether its
/// loss adds the L2 penalty.
fn autograd_work(recipe: &Recipe, data: &Mnist, validation: bool, l2: bool, precision: Precision) -> Work {
    let step = |images| traffic::autograd_step(&recipe.network, &recipe.optimiser, images, l2);
    let training = epoch_traffic(data, recipe.batch_size, step);
    Work {
        flops: epoch_flops(&recipe.network, data, validation),
        bytes: if validation { training + traffic::evaluation(&recipe.network, data.test.len() as i64, 1) } else { training },
        step_flops: recipe.network.training_flops_per_image() * recipe.batch_size as f64,
        step: step(recipe.batch_size),
        in_precision: recipe.network.precision() == precision,
    }
}

/// The pixels that are not 0 in every training image: those the batched
/// MLPs' first layer reads.
fn used_pixels(data: &Mnist) -> i64 {
    let pixels = crate::data::PIXELS;
    (0..pixels).filter(|&p| data.train.images.iter().skip(p).step_by(pixels).any(|&v| v != 0)).count() as i64
}

/// An epoch of one model of the batched sweep `config`, validation included.
fn batched_work(config: &SweepConfig, data: &Mnist) -> Work {
    let recipe = &config.recipe;
    let Network::Mlp { hidden, precision, .. } = &recipe.network else { unreachable!("the sweep trains MLPs") };
    // The models of a group: one without decay, then one per factor.
    let per_group = config.decay_factors.len() as i64 + 1;
    let used = used_pixels(data);
    let step = |images| traffic::batched_step(hidden, *precision, images, per_group, used, true);
    // The first layer's products leave out the pixels that no training image uses.
    let skipped = (crate::data::PIXELS as i64 - used) * hidden[0];
    let per_image = crate::models::training_flops_per_image(
        recipe.network.forward_macs() - skipped,
        crate::models::mlp::first_dense_macs(hidden) - skipped,
    );
    Work {
        flops: per_image * data.train.len() as f64 + validation_flops(&recipe.network, data),
        // Each group's product reads the validation images once for its models.
        bytes: epoch_traffic(data, recipe.batch_size, step) + traffic::evaluation(&recipe.network, data.test.len() as i64, per_group),
        step_flops: per_image * recipe.batch_size as f64,
        step: step(recipe.batch_size),
        in_precision: true,
    }
}

/// An epoch of one model of the sweep `config` trained one at a time: the
/// mean over a group's models, the first of which has no decay and so no penalty.
fn one_at_a_time_work(config: &SweepConfig, data: &Mnist) -> Work {
    let penalised = std::iter::once(false).chain(config.decay_factors.iter().map(|&f| f > 0.0));
    let works: Vec<Work> = penalised.map(|l2| autograd_work(&config.recipe, data, true, l2, config.recipe.network.precision())).collect();
    let mean = |traffic: &dyn Fn(&Work) -> Traffic| {
        works.iter().fold(Traffic::default(), |sum, w| sum + traffic(w)).times(1.0 / works.len() as f64)
    };
    Work { bytes: mean(&|w| w.bytes), step: mean(&|w| w.step), ..works[0] }
}

/// The seconds an epoch of each peer workload would take at its floor, for
/// this program's way of doing it (the sweep's model batched, the others
/// alone with autograd).
fn at_floor(data: &Mnist, precision: Precision, roofs: &Roofs) -> Ours {
    let seconds = |work: Work| Floor::of(&work, roofs).seconds();
    Ours {
        notebook_epoch: seconds(autograd_work(&networks::notebook_mlp(1), data, false, false, precision)),
        wide_model_epoch: seconds(batched_work(&sweep_config(data, 1, precision), data)),
        wide_alone_epoch: seconds(autograd_work(&networks::wide_mlp(precision, 1), data, true, false, precision)),
        reference_cnn_epoch: seconds(autograd_work(&networks::reference_cnn(precision, 1), data, false, false, precision)),
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

/// The columns that every timed path prints after its own: its bytes moved
/// per model-epoch, its two floors, which one binds, and the share of that
/// floor its seconds reach.
const FLOOR_HEADER: &str = "  GB/epoch  FLOP floor s  memory floor s  bound    % floor";

fn floor_columns(work: &Work, roofs: &Roofs, seconds: f64) -> String {
    let floor = Floor::of(work, roofs);
    format!(
        "  {:>8.2}  {:>12.3}  {:>14.3}  {:<6}  {:>8.0}%",
        work.bytes.total() / 1e9,
        floor.flops_seconds,
        floor.memory_seconds,
        floor.bound(),
        100.0 * floor.share(seconds)
    )
}

/// Bytes per training step of one model, by what they belong to, and the
/// step's FLOPs per byte.
fn print_breakdown(rows: &[(String, Work)]) {
    println!(
        "{:<62} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "bytes per step of one model, MB", "weights", "gradients", "optimizer", "bf16 copy", "activat.", "total", "FLOP/byte"
    );
    for (label, work) in rows {
        let (t, mb) = (&work.step, |b: f64| b / 1e6);
        println!(
            "{label:<62} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.1}",
            mb(t.weights),
            mb(t.gradients),
            mb(t.optimizer_state),
            mb(t.precision_copies),
            mb(t.activations),
            mb(t.total()),
            work.step_flops / t.total()
        );
    }
}

/// The MLPs of question 2: the notebook's alone (in float32, as the
/// experiment trains it), one 500-300 network alone without decay, one
/// trained as the tuned MLP (distorted images, Nesterov momentum), and the
/// 500-300 decay sweep, one network at a time and batched, these in the
/// run's `precision`. Returns what the notebook MLP, the lone 500-300
/// networks and the batched sweep reached per model-epoch.
fn mlp_paths(data: &Mnist, ctx: &Context, epochs: usize, precision: Precision, roofs: &Roofs) -> anyhow::Result<BTreeMap<Way, Timed>> {
    println!("{:<62} {:>6} {:>14} {:>10}{FLOOR_HEADER}", "path", "models", "s/model-epoch", "images/s");
    let n = data.train.len() as f64;
    let mut breakdown = Vec::new();
    let mut report = |name: &str, work: Work, models: usize, seconds: f64| {
        let per_model_epoch = seconds / (models * epochs) as f64;
        println!(
            "{name:<62} {models:>6} {per_model_epoch:>14.3} {:>10.0}{}",
            n / per_model_epoch,
            floor_columns(&work, roofs, per_model_epoch)
        );
        breakdown.push((name.to_owned(), work));
        per_model_epoch
    };
    let timed = |network: &Network, validated: bool, work: &Work, seconds: f64| Timed {
        flops: epoch_flops(network, data, validated),
        seconds,
        floor_seconds: Floor::of(work, roofs).seconds(),
        peer: None,
    };
    let splits = Splits::validated_on_test(&data.train, &data.test, ctx.device);
    let (_, notebook) = recipe::train(&networks::notebook_mlp(epochs), ctx.seed, &splits, ctx.progress)?;
    let notebook_work = autograd_work(&networks::notebook_mlp(1), data, false, false, precision);
    let notebook_epoch = report("784-64-64-10, alone, float32 (training only)", notebook_work, 1, notebook.train_seconds);
    let mut paths =
        BTreeMap::from([(Way::NarrowMlpAlone, timed(&networks::notebook_mlp(1).network, false, &notebook_work, notebook_epoch))]);
    let wide = networks::wide_mlp(precision, 1);
    let wide_alone = wide_alone_seconds(precision, epochs, ctx.seed, &splits, ctx)?;
    let wide_work = autograd_work(&wide, data, true, false, precision);
    let wide_alone_epoch = report(&format!("784-500-300-10, alone (autograd), no decay, {}", precision.name()), wide_work, 1, wide_alone);
    paths.insert(Way::WideMlpAlone, timed(&wide.network, true, &wide_work, wide_alone_epoch));
    let tuned = networks::tuned_wide_mlp(precision, epochs);
    let start = Instant::now();
    recipe::train(&tuned, ctx.seed, &splits, ctx.progress)?;
    let tuned_work = autograd_work(&Recipe { epochs: 1, ..tuned.clone() }, data, true, false, precision);
    let tuned_epoch = report(
        &format!("784-500-300-10, alone, tuned (distorted, Nesterov), {}", precision.name()),
        tuned_work,
        1,
        start.elapsed().as_secs_f64(),
    );
    paths.insert(Way::AugmentedMlpAlone, timed(&tuned.network, true, &tuned_work, tuned_epoch));
    let sweep_config = sweep_config(data, epochs, precision);
    let mut seconds = Vec::new();
    for (path, name) in [(SweepPath::OneAtATime, "one at a time (autograd)"), (SweepPath::Batched, "batched")] {
        let sweep = q2_mlp::train_sweep(&sweep_config, ctx, path)?;
        let work = match path {
            SweepPath::OneAtATime => one_at_a_time_work(&sweep_config, data),
            SweepPath::Batched => batched_work(&sweep_config, data),
        };
        let per_model_epoch =
            report(&format!("784-500-300-10 decay sweep, {name}, {}", precision.name()), work, sweep.models, sweep.train_seconds);
        if path == SweepPath::Batched {
            paths.insert(Way::BatchedMlps, timed(&wide.network, true, &work, per_model_epoch));
        }
        seconds.push(per_model_epoch);
    }
    println!(
        "(500-300 times include the validation after every epoch, and so do their FLOPs and bytes; no path computes the gradient of the images)"
    );
    println!();
    println!("batched sweep: {:.2}x the one-at-a-time throughput on {:?}", seconds[0] / seconds[1], ctx.device);
    println!();
    print_breakdown(&breakdown);
    Ok(paths)
}

/// The CNNs of question 3 in every timed precision, channels-first and
/// channels-last: training throughput against its floors in the same
/// precision (`peaks` the matmul GFLOP/s of each, `bandwidth` in GB/s).
/// Returns what each network reached per epoch in the run's precision,
/// channels-last (as the experiment trains them).
fn cnn_paths(data: &Mnist, ctx: &Context, o: &Options, peaks: &[(Precision, f64)], bandwidth: f64) -> anyhow::Result<BTreeMap<Way, Timed>> {
    let (reference_cnn, chosen_cnn) = (networks::reference_cnn(o.precision.precision, 1), networks::chosen_cnn(o.precision.precision, 1));
    let splits = Splits::validated_on_test(&data.train, &data.test, ctx.device);
    // oneDNN builds its kernels for each new shape on first use: one epoch
    // over a small subset first keeps that out of the measured epochs.
    let small = data.subset(3_000, 2_000, 0);
    let warm_up = Splits::validated_on_test(&small.train, &small.test, ctx.device);
    println!("{:<62} {:>10} {:>10} {:>10}{FLOOR_HEADER}", "CNN path (one model, training only)", "precision", "s/epoch", "images/s");
    let n = data.train.len() as f64;
    let mut reference = Vec::new();
    let mut breakdown = Vec::new();
    let mut paths = BTreeMap::new();
    for (name, way, recipe) in
        [("reference 32-64 conv net", Way::ReferenceCnn, &reference_cnn), ("chosen CNN", Way::ChosenCnn, &chosen_cnn)]
    {
        for &(precision, peak) in peaks {
            let roofs = Roofs { float32_gflops: peak, precision_gflops: peak, bandwidth_gbs: bandwidth };
            for channels_last in [false, true] {
                let Network::Cnn(cnn) = &recipe.network else { unreachable!("the named CNNs are CNNs") };
                let cnn = cnn.clone().with_precision(precision, channels_last);
                let recipe = Recipe { network: Network::Cnn(cnn), epochs: o.epochs, ..recipe.clone() };
                recipe::train_on_run_threads(&Recipe { epochs: 1, ..recipe.clone() }, 1, &warm_up, ctx.progress)?;
                let (_, history) = recipe::train_on_run_threads(&recipe, 1, &splits, ctx.progress)?;
                let seconds = history.train_seconds / o.epochs as f64;
                let work = autograd_work(&recipe, data, false, false, precision);
                let batch = if recipe.batch_size == 128 { String::new() } else { format!(", batch {}", recipe.batch_size) };
                let label = format!("{name}{batch}, {}", if channels_last { "channels-last" } else { "channels-first" });
                println!(
                    "{label:<62} {:>10} {seconds:>10.2} {:>10.0}{}",
                    precision.name(),
                    n / seconds,
                    floor_columns(&work, &roofs, seconds)
                );
                if channels_last {
                    breakdown.push((format!("{name}{batch}, {}", precision.name()), work));
                }
                if precision == o.precision.precision && channels_last {
                    let floor_seconds = Floor::of(&work, &roofs).seconds();
                    paths.insert(way, Timed { flops: epoch_flops(&recipe.network, data, false), seconds, floor_seconds, peer: None });
                }
                if way == Way::ReferenceCnn {
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
    println!();
    print_breakdown(&breakdown);
    Ok(paths)
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

/// The environment variable `name`, read as the shell's `${X:-...}` reads
/// it, as `scripts/setup.sh` does: an empty one is unset.
fn set(name: &str) -> Option<std::ffi::OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// The Python of the venv that `scripts/setup.sh` made: `MNIST_WRITEUP_VENV`,
/// else the venv that holds the libtorch linked as `.libtorch`.
fn venv_python() -> Option<PathBuf> {
    if let Some(venv) = set("MNIST_WRITEUP_VENV") {
        return Some(Path::new(&venv).join("bin/python")).filter(|p| p.exists());
    }
    let torch = std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join(".libtorch")).ok()?;
    torch.ancestors().find(|dir| dir.join("pyvenv.cfg").exists()).map(|venv| venv.join("bin/python")).filter(|p| p.exists())
}

/// The venv that `scripts/setup.sh --keras` makes for the Keras peer.
const KERAS_VENV: &str = "tensorflow-cpu-2.21.0";

/// The Python of the Keras peer's venv: `MNIST_WRITEUP_KERAS_VENV`, else
/// the one `scripts/setup.sh --keras` made, where it exists.
fn keras_python() -> Option<PathBuf> {
    let venv = match set("MNIST_WRITEUP_KERAS_VENV") {
        Some(venv) => PathBuf::from(venv),
        None => {
            let cache = set("XDG_CACHE_HOME").map(PathBuf::from).or_else(|| set("HOME").map(|home| Path::new(&home).join(".cache")))?;
            cache.join("mnist-writeup").join(KERAS_VENV)
        }
    };
    Some(venv.join("bin/python")).filter(|p| p.exists())
}

/// Runs the PyTorch eager peer, and the Keras one where TensorFlow is
/// importable (from the venv of `scripts/setup.sh --keras`, else from
/// PyTorch's), on the same data: their lines, skips included.
fn run_peers(python: &Path, data: &Mnist, o: &Options) -> anyhow::Result<Vec<PeerLine>> {
    let dir = tempfile::tempdir()?;
    data.write_idx(dir.path())?;
    let device = match o.device {
        Device::Cuda(_) => "cuda",
        _ => "cpu",
    };
    let keras = keras_python();
    let mut lines = Vec::new();
    for engine in ["pytorch", "keras"] {
        let python = match (engine, &keras) {
            ("keras", Some(keras)) => keras.as_path(),
            _ => python,
        };
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
        let mut parsed = parse_peer_output(&stdout)?;
        if engine == "keras" && keras.is_none() {
            for line in parsed.iter_mut() {
                if let Some(why) = &mut line.skipped {
                    why.push_str("; scripts/setup.sh --keras installs it");
                }
            }
        }
        lines.extend(parsed);
    }
    Ok(lines)
}

/// One workload of one peer against ours, over the rounds.
#[derive(Debug, PartialEq)]
struct Comparison {
    label: String,
    /// The peer's engine and workload, as its lines name them.
    engine: String,
    workload: String,
    target: Option<f64>,
    /// Seconds, one per round.
    peer_rounds: Vec<f64>,
    our_rounds: Vec<f64>,
    /// Seconds at the workload's floor, done as this program does it: its
    /// FLOPs at the matmul peak or its bytes at the memory bandwidth.
    at_floor: f64,
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

    /// The share of the floor that `seconds` reach.
    fn of_floor(&self, seconds: f64) -> f64 {
        self.at_floor / seconds
    }

    /// The largest ratio that this program's way of doing the workload
    /// could reach against the peer: the peer's seconds over the floor.
    fn ceiling(&self) -> f64 {
        self.peer() / self.at_floor
    }

    fn verdict(&self) -> String {
        self.target.map_or(String::new(), |t| format!("{t:.1}x: {}", if self.ratio() >= t { "met" } else { "missed" }))
    }
}

/// What the peers skipped, then each workload they ran against ours, over
/// the rounds (`ours[r]` and `theirs[r]` measured in turn), with the
/// seconds that each would take `at_floor`.
fn compare(ours: &[Ours], theirs: &[Vec<PeerLine>], at_floor: &Ours) -> anyhow::Result<(Vec<String>, Vec<Comparison>)> {
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
                "mlp_64_64" => {
                    vec![("64-64 MLP epoch, training only", training, ours[round].notebook_epoch, None, at_floor.notebook_epoch)]
                }
                "mlp_500_300" => vec![
                    (
                        "500-300 MLP model-epoch, with validation",
                        validated,
                        ours[round].wide_model_epoch,
                        Some(1.3),
                        at_floor.wide_model_epoch,
                    ),
                    (
                        "500-300 MLP epoch, both alone, with validation",
                        validated,
                        ours[round].wide_alone_epoch,
                        None,
                        at_floor.wide_alone_epoch,
                    ),
                ],
                "reference_cnn" => vec![(
                    "reference conv net epoch, training only",
                    training,
                    ours[round].reference_cnn_epoch,
                    Some(1.4),
                    at_floor.reference_cnn_epoch,
                )],
                other => anyhow::bail!("the peer reported an unknown workload `{other}`"),
            };
            for (label, peer, ours, target, at_floor) in rows {
                // The targets are set against PyTorch eager.
                let target = target.filter(|_| line.engine == "pytorch");
                let label = format!("{} {label}", line.engine);
                let index = match comparisons.iter().position(|c| c.label == label) {
                    Some(index) => index,
                    None => {
                        comparisons.push(Comparison {
                            label,
                            engine: line.engine.clone(),
                            workload: line.workload.clone(),
                            target,
                            peer_rounds: Vec::new(),
                            our_rounds: Vec::new(),
                            at_floor,
                        });
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
            100.0 * c.of_floor(c.peer()),
            100.0 * c.of_floor(c.ours()),
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
         %: the share of the floor of the workload, done as this program does it, that its seconds reach; \
         ceiling: the ratio that this program would reach at that floor)"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_report_prints_its_times_beside_the_projection_only_from_rates_of_a_machine_like_this() {
        let chosen = Chosen { precision: Precision::Float32, requested: "float32".into(), reason: "test".into() };
        let plan = Plan::new(Profile::Smoke, 1, chosen, &[]).unwrap();
        let ran: BTreeMap<String, f64> = plan.experiments.iter().map(|e| (e.id().to_owned(), 30.0)).collect();
        let out = tempfile::tempdir().unwrap();
        let without = beside_projection(&plan, &ran, out.path(), Device::Cpu);
        assert_eq!(without.len(), 1);
        assert!(without[0].contains("took 3.5 min") && without[0].contains("`mnist-writeup bench` has not run here"), "{without:?}");
        let here = crate::cache::Machine::here(Device::Cpu);
        let timed = Timed { flops: 1e9, seconds: 1.0, floor_seconds: 0.5, peer: Some(PeerTimed { flops: 1e9, seconds: 2.0 }) };
        let ways = [Way::NarrowMlpAlone, Way::WideMlpAlone, Way::AugmentedMlpAlone, Way::BatchedMlps, Way::ChosenCnn, Way::ReferenceCnn];
        let rates = Rates {
            cpu_class: here.cpu_class.clone(),
            threads: here.threads,
            device: here.device.clone(),
            precision: Precision::Float32,
            train_images: 60000,
            measured: "now".into(),
            paths: ways.iter().map(|&w| (w, timed)).collect(),
            cnn_side_by_side: None,
        };
        rates.write(out.path()).unwrap();
        let beside = beside_projection(&plan, &ran, out.path(), Device::Cpu);
        assert!(beside[1].ends_with("ran s"), "{beside:?}");
        let sweep = beside.iter().find(|l| l.starts_with("q2_weight_decay_sweep")).unwrap();
        assert!(sweep.trim_end().ends_with(" 30"), "{sweep}");
        let total = beside.iter().find(|l| l.starts_with("total:")).unwrap();
        assert!(total.contains("(50 % of ours)") && total.contains("(2.00x ours)") && total.contains("ran 3.5 min"), "{total}");
        Rates { precision: Precision::BFloat16, ..rates.clone() }.write(out.path()).unwrap();
        let other = beside_projection(&plan, &ran, out.path(), Device::Cpu);
        assert!(other[0].contains("another machine or setting: bfloat16 (here float32)"), "{other:?}");
        // The report is written by then: rates without a path, or a broken file, are said, not an error.
        Rates { paths: BTreeMap::from([(Way::ChosenCnn, timed)]), ..rates }.write(out.path()).unwrap();
        let partial = beside_projection(&plan, &ran, out.path(), Device::Cpu);
        assert!(partial[0].contains("bench did not time the") && partial[0].contains("run `mnist-writeup bench` again"), "{partial:?}");
        std::fs::write(out.path().join("bench.json"), "not json").unwrap();
        let broken = beside_projection(&plan, &ran, out.path(), Device::Cpu);
        assert!(broken[0].contains("not what `bench` writes"), "{broken:?}");
    }

    #[test]
    fn the_projection_takes_the_peers_fastest_round_on_the_workload_that_stands_for_each_way() {
        let line = |workload: &str, training: f64, validation: f64| PeerLine {
            engine: "pytorch".into(),
            workload: workload.into(),
            skipped: None,
            train_seconds_per_epoch: training,
            validation_seconds: validation,
        };
        let ours = || Ours { notebook_epoch: 0.2, wide_model_epoch: 1.0, wide_alone_epoch: 1.5, reference_cnn_epoch: 10.0 };
        let theirs = vec![
            vec![line("mlp_64_64", 0.5, 0.1), line("mlp_500_300", 2.0, 0.5), line("reference_cnn", 20.0, 1.0)],
            vec![line("mlp_64_64", 0.4, 0.1), line("mlp_500_300", 3.0, 0.5), line("reference_cnn", 15.0, 1.0)],
        ];
        let (_, compared) = compare(&[ours(), ours()], &theirs, &ours()).unwrap();
        let data = Mnist::load_embedded().unwrap().subset(512, 256, 3);
        let timed = Timed { flops: 1.0, seconds: 1.0, floor_seconds: 0.5, peer: None };
        let mut paths: BTreeMap<Way, Timed> =
            [Way::NarrowMlpAlone, Way::AugmentedMlpAlone, Way::BatchedMlps, Way::ChosenCnn].iter().map(|&w| (w, timed)).collect();
        with_peers(&mut paths, &compared, &data, Precision::Float32);
        let peer = |way: Way| paths[&way].peer.unwrap();
        assert_eq!(peer(Way::NarrowMlpAlone).seconds, 0.4, "training only, the faster round");
        assert_eq!(peer(Way::BatchedMlps).seconds, 2.5, "the 500-300 network with its validation, the faster round");
        assert_eq!(peer(Way::AugmentedMlpAlone), peer(Way::BatchedMlps), "the plain 500-300 stands for the tuned one");
        assert_eq!(peer(Way::ChosenCnn).seconds, 15.0, "the reference CNN stands for the chosen one");
        let wide = networks::wide_mlp(Precision::Float32, 1).network;
        assert_eq!(peer(Way::BatchedMlps).flops, epoch_flops(&wide, &data, true), "its FLOPs count the validation it is timed with");
    }

    #[test]
    fn a_peak_that_moved_by_more_than_15_percent_during_the_run_is_called_unsteady() {
        assert!(steadiness(176.0, 170.0, Precision::Float32).ends_with("steady within 15 %"));
        let halved = steadiness(176.0, 90.0, Precision::Float32);
        assert!(halved.contains("moved by -49 %") && halved.contains("run `bench` again"), "{halved}");
        assert!(steadiness(90.0, 176.0, Precision::Float32).contains("moved by +96 %"));
    }

    #[test]
    fn the_keras_venv_is_the_one_setup_installs() {
        let setup = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/setup.sh")).unwrap();
        let version = KERAS_VENV.strip_prefix("tensorflow-cpu-").unwrap();
        assert!(setup.contains(&format!("keras_want={version}\n")), "scripts/setup.sh installs another tensorflow-cpu than {KERAS_VENV}");
        assert!(setup.contains("keras_venv=${MNIST_WRITEUP_KERAS_VENV:-$cache/tensorflow-cpu-$keras_want}"));
    }

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
        assert_eq!((sweep.of_floor(sweep.peer()), sweep.of_floor(sweep.ours()), sweep.ceiling()), (1.0 / 1.2, 1.0, 1.2));
        let alone = &comparisons[1];
        assert_eq!(
            (alone.label.as_str(), alone.ratio(), alone.verdict()),
            ("pytorch 500-300 MLP epoch, both alone, with validation", 1.2 / 1.5, String::new()),
            "the same peer seconds against our network trained alone, with no target"
        );
        let cnn = &comparisons[2];
        assert_eq!((cnn.ratio(), spread(&cnn.our_rounds)), (1.5, 3.0));
        assert_eq!(cnn.verdict(), "1.4x: met");
        let keras_cnn = PeerLine { engine: "keras".into(), ..line("reference_cnn", 20.0) };
        let (_, against_keras) = compare(&[ours(10.0)], &[vec![keras_cnn]], &ours(6.0)).unwrap();
        assert_eq!(
            (against_keras[0].ratio(), against_keras[0].verdict()),
            (2.0, String::new()),
            "the targets are set against PyTorch alone"
        );
        let unknown = vec![vec![line("mlp_9_9", 1.0)]];
        assert!(compare(&[ours(1.0)], &unknown, &ours(1.0)).is_err());
    }
}
