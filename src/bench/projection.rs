//! The whole job, projected from `bench`'s paths: every training of a
//! plan, its FLOPs at the seconds per FLOP that the timed path doing the
//! same kind of training reached in the bench run, for this program, for
//! the PyTorch peer doing the same trainings one at a time, and at the
//! path's floor. `bench` keeps what its paths reached in `OUT/bench.json`,
//! so that `build-report` can print its stage times beside the projection.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cache::{self, Machine};
use crate::checkpoint::MadeBy;
use crate::experiments::{earlier_edition, q2_mlp, q4_autoencoder};
use crate::networks;
use crate::precision::Precision;
use crate::profile::Profile;
use crate::recipe::{self, Holdout, Network, Recipe};
use crate::runner::Plan;

/// How a training is done, and so which of `bench`'s timed paths stands for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Way {
    /// An MLP (or the autoencoder) no wider than `NARROW_WIDTH`, alone with
    /// autograd: timed as the notebook's 784-64-64-10.
    NarrowMlpAlone,
    /// A wider MLP alone with autograd: timed as one 784-500-300-10.
    WideMlpAlone,
    /// A wider MLP alone on shifted, rotated, scaled or bent images: timed
    /// as question 2 D's tuned 784-500-300-10 (Nesterov momentum, one-cycle rate).
    AugmentedMlpAlone,
    /// MLPs trained together as one `BatchedMlp`: timed as question 2's decay sweep.
    BatchedMlps,
    /// Question 3's chosen CNN and its variants: timed as the chosen CNN.
    ChosenCnn,
    /// Keras's example CNN.
    ReferenceCnn,
}

/// The widest hidden layer of an MLP that the 64-64 path stands for.
const NARROW_WIDTH: i64 = 128;

impl Way {
    /// The way `recipe` trains alone.
    fn of(recipe: &Recipe) -> Way {
        let reference = networks::reference_cnn(recipe.network.precision(), 1).network;
        match (&recipe.network, reference) {
            (Network::Mlp { hidden, .. }, _) => Way::of_dense(hidden, augmented(recipe)),
            (Network::Cnn(cnn), Network::Cnn(reference)) if *cnn == reference => Way::ReferenceCnn,
            (Network::Cnn(_), _) => Way::ChosenCnn,
        }
    }

    /// The way dense layers of `hidden` widths train alone, on distorted images where `augmented`.
    fn of_dense(hidden: &[i64], augmented: bool) -> Way {
        match (hidden.iter().all(|&w| w <= NARROW_WIDTH), augmented) {
            (true, _) => Way::NarrowMlpAlone,
            (false, true) => Way::AugmentedMlpAlone,
            (false, false) => Way::WideMlpAlone,
        }
    }

    /// The path of `bench` that times it.
    pub fn path(self) -> &'static str {
        match self {
            Way::NarrowMlpAlone => "64-64 alone",
            Way::WideMlpAlone => "500-300 alone",
            Way::AugmentedMlpAlone => "tuned 500-300 alone",
            Way::BatchedMlps => "500-300 batched",
            Way::ChosenCnn => "chosen CNN",
            Way::ReferenceCnn => "reference CNN",
        }
    }
}

/// Whether `recipe` trains on distorted images.
fn augmented(recipe: &Recipe) -> bool {
    recipe.max_shift > 0 || recipe.max_rotation > 0.0 || recipe.max_scale > 0.0 || recipe.max_elastic > 0.0
}

/// The training work of one experiment done one way: model-images passed
/// in training, and their FLOPs with each epoch's validation pass.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub experiment: &'static str,
    pub way: Way,
    pub images: u64,
    pub flops: f64,
}

/// FLOPs of `epochs` epochs of `models` networks of `flops_per_image` in
/// training and `forward_macs` in validation, on `images` and `validation` images.
pub fn flops(models: usize, epochs: usize, images: usize, validation: usize, flops_per_image: f64, forward_macs: i64) -> f64 {
    (models * epochs) as f64 * (flops_per_image * images as f64 + 2.0 * forward_macs as f64 * validation as f64)
}

/// `models` networks of `network` trained for `epochs` on `images`, each
/// epoch validated on `validation` images.
fn job(experiment: &'static str, way: Way, network: &Network, models: usize, epochs: usize, images: usize, validation: usize) -> Job {
    Job {
        experiment,
        way,
        images: (models * epochs * images) as u64,
        flops: flops(models, epochs, images, validation, network.training_flops_per_image(), network.forward_macs()),
    }
}

fn mlp_job(experiment: &'static str, way: Way, hidden: &[i64], models: usize, epochs: usize, images: usize, validation: usize) -> Job {
    let network = Network::Mlp { hidden: hidden.to_vec(), dropout: 0.0, precision: Precision::Float32 };
    job(experiment, way, &network, models, epochs, images, validation)
}

/// A training that an experiment declares by what it is (`MadeBy::Itself`).
#[derive(Deserialize)]
struct Declared {
    recipe: Recipe,
    images: Option<usize>,
    holdout: Option<Holdout>,
}

/// Every training of `plan`, as jobs: each counted once, in the first
/// experiment that declares it, as the runner counts its time; fails on
/// an experiment whose work this module does not know.
pub fn jobs(plan: &Plan) -> anyhow::Result<Vec<Job>> {
    let profile = plan.profile;
    let (train, test) = (profile.train_images(), profile.test_images());
    let mut seen = BTreeSet::new();
    let mut jobs = Vec::new();
    for e in &plan.experiments {
        let id = e.id();
        for unit in e.trainings(0, 0) {
            if let MadeBy::Itself { what, .. } = unit.made_by
                && seen.insert(unit.name)
            {
                let d: Declared = serde_json::from_value(what).context("a declared training")?;
                let images = match d.holdout {
                    Some(holdout) => train - holdout.images,
                    None => train,
                };
                let images = d.images.map_or(images, |n| n.min(images));
                let validation = d.holdout.map_or(test, |h| h.images);
                jobs.push(job(id, Way::of(&d.recipe), &d.recipe.network, 1, d.recipe.epochs, images, validation));
            }
        }
        jobs.extend(own_jobs(id, e.config())?);
    }
    Ok(jobs)
}

/// The work of experiment `id` that it does not declare as trainings of
/// their own, from its `config`.
fn own_jobs(id: &'static str, config: Value) -> anyhow::Result<Vec<Job>> {
    let hidden_of = |recipe: &Recipe| match &recipe.network {
        Network::Mlp { hidden, .. } => Ok(hidden.clone()),
        Network::Cnn(_) => anyhow::bail!("{id}: an MLP was expected"),
    };
    Ok(match id {
        "q1_preprocessing" | "q2_tuned_mlp" | "q3_cnn" => Vec::new(),
        "q2_notebook_mlp" => {
            let c: q2_mlp::NotebookConfig = serde_json::from_value(config)?;
            let r = &c.recipe;
            vec![mlp_job(id, Way::of(r), &hidden_of(r)?, 1, r.epochs, c.train_images, c.test_images)]
        }
        "q2_weight_decay_sweep" => {
            let c: q2_mlp::SweepConfig = serde_json::from_value(config)?;
            let models = (c.decay_factors.len() + 1) * c.replicates;
            vec![mlp_job(id, Way::BatchedMlps, &hidden_of(&c.recipe)?, models, c.recipe.epochs, c.train_images, c.test_images)]
        }
        "q4_denoising_autoencoder" => {
            let c: q4_autoencoder::Config = serde_json::from_value(config)?;
            let macs: i64 = c.widths.windows(2).map(|w| w[0] * w[1]).sum();
            let per_image = crate::models::training_flops_per_image(macs, c.widths[0] * c.widths[1]);
            let flops = flops(1, c.epochs, c.train_images, c.test_images, per_image, macs);
            let way = Way::of_dense(&c.widths[1..c.widths.len() - 1], false);
            vec![Job { experiment: id, way, images: (c.epochs * c.train_images) as u64, flops }]
        }
        "appendix_earlier_edition" => {
            let c: earlier_edition::Config = serde_json::from_value(config)?;
            let job = |hidden: i64, models: usize, epochs: usize| {
                mlp_job(id, Way::BatchedMlps, &[hidden], models, epochs, c.train_images, c.test_images)
            };
            let mut jobs = vec![job(c.hidden, c.learning_rates.len() * c.replicates, c.epochs)];
            jobs.extend(c.widths.iter().map(|&w| job(w, c.grid_learning_rates.len(), c.epochs)));
            jobs.push(job(c.hidden, c.noise_stds.len(), c.noise_epochs));
            jobs.push(job(c.hidden, c.l2_factors.len(), c.epochs));
            jobs
        }
        other => anyhow::bail!("{other}: the projection does not know this experiment's trainings (src/bench/projection.rs)"),
    })
}

/// What one timed path reached, per epoch of one model: its FLOPs, its
/// seconds, its floor's, and the peer's on the workload that stands for it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timed {
    pub flops: f64,
    pub seconds: f64,
    pub floor_seconds: f64,
    pub peer: Option<PeerTimed>,
}

/// The peer on its own workload: its FLOPs and seconds per epoch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PeerTimed {
    pub flops: f64,
    pub seconds: f64,
}

/// What `bench` measured, as the projection uses it, with where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    pub cpu_class: String,
    pub threads: i32,
    pub device: String,
    pub precision: Precision,
    /// The images of one epoch of the timed paths.
    pub train_images: usize,
    /// When `bench` measured them, as `date -u` would print it.
    pub measured: String,
    pub paths: BTreeMap<Way, Timed>,
    /// The chosen CNN's gain side by side (in turn over together), where
    /// `bench` measured it: the CNN paths, timed as one training on all the
    /// threads, are projected divided by it, as `recipe::train_all` trains
    /// CNNs side by side.
    #[serde(default)]
    pub cnn_side_by_side: Option<f64>,
}

/// The file in a run's output directory where `bench` keeps its `Rates`.
pub const RATES_FILE: &str = "bench.json";

impl Rates {
    pub fn write(&self, out: &Path) -> anyhow::Result<()> {
        cache::write_atomic(&out.join(RATES_FILE), serde_json::to_string_pretty(self)?.as_bytes())
    }

    /// Those `bench` kept in `out`, where it did; fails on a file that is not theirs.
    pub fn read(out: &Path) -> anyhow::Result<Option<Rates>> {
        let path = out.join(RATES_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                Ok(Some(serde_json::from_str(&text).with_context(|| {
                    format!("{}: not what `bench` writes; run `mnist-writeup bench` again, or delete it", path.display())
                })?))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("{}: cannot read", path.display())),
        }
    }

    /// Why they do not stand for a run on `machine` in `precision`, where they do not.
    pub fn unlike(&self, machine: &Machine, precision: Precision) -> Option<String> {
        let mut differences = Vec::new();
        let full = Profile::Full.train_images();
        if self.train_images < full {
            // A small data set's epochs are mostly overhead: they do not scale up.
            differences.push(format!("timed on {} training images, not all {full} (`bench` without --profile)", self.train_images));
        }
        if self.cpu_class != machine.cpu_class {
            differences.push(format!("CPU class {} (here {})", self.cpu_class, machine.cpu_class));
        }
        if self.threads != machine.threads {
            differences.push(format!("{} threads (here {})", self.threads, machine.threads));
        }
        if self.device != machine.device {
            differences.push(format!("device {} (here {})", self.device, machine.device));
        }
        if self.precision != precision {
            differences.push(format!("{} (here {})", self.precision.name(), precision.name()));
        }
        (!differences.is_empty()).then(|| differences.join(", "))
    }
}

/// One experiment's projected seconds of training: at the rates this
/// program's paths reached, at their floors, and at the peer's, where the
/// peer timed, itself or through a stand-in, every way the experiment trains.
#[derive(Debug, Clone, PartialEq)]
pub struct Projected {
    pub experiment: &'static str,
    pub flops: f64,
    pub ways: Vec<Way>,
    pub ours: f64,
    pub floor: f64,
    pub peer: Option<f64>,
}

/// `jobs` grouped by experiment, in their order, each at `rates`; fails
/// where a way was not timed.
pub fn project(jobs: &[Job], rates: &Rates) -> anyhow::Result<Vec<Projected>> {
    let mut projected: Vec<Projected> = Vec::new();
    // Per experiment, the seconds of each CNN training on one thread, where they train side by side.
    let mut one_thread: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for job in jobs {
        let timed = rates.paths.get(&job.way).with_context(|| format!("bench did not time the {} path", job.way.path()))?;
        let at = |seconds: f64| job.flops * seconds / timed.flops;
        let index = match projected.iter().position(|p| p.experiment == job.experiment) {
            Some(index) => index,
            None => {
                let experiment = job.experiment;
                projected.push(Projected { experiment, flops: 0.0, ways: Vec::new(), ours: 0.0, floor: 0.0, peer: Some(0.0) });
                projected.len() - 1
            }
        };
        let p = &mut projected[index];
        p.flops += job.flops;
        match (job.way, rates.cnn_side_by_side) {
            (Way::ChosenCnn | Way::ReferenceCnn, Some(gain)) => {
                let measured_copies = recipe::side_by_side_copies(rates.threads, usize::MAX) as f64;
                one_thread.entry(job.experiment).or_default().push(at(timed.seconds) * measured_copies / gain);
            }
            _ => p.ours += at(timed.seconds),
        }
        p.floor += at(timed.floor_seconds);
        p.peer = p.peer.zip(timed.peer).map(|(sum, peer)| sum + job.flops * peer.seconds / peer.flops);
        if !p.ways.contains(&job.way) {
            p.ways.push(job.way);
        }
    }
    for (experiment, mut seconds) in one_thread {
        let copies = recipe::side_by_side_copies(rates.threads, seconds.len());
        let p = projected.iter_mut().find(|p| p.experiment == experiment).expect("projected above");
        p.ours += makespan(&mut seconds, copies);
    }
    Ok(projected)
}

/// How long `seconds` of work take on `workers`, the longest first, each
/// to the worker that is free first: as `recipe::train_all` hands out its
/// trainings side by side.
fn makespan(seconds: &mut [f64], workers: usize) -> f64 {
    seconds.sort_by(|a, b| b.total_cmp(a));
    let mut busy: Vec<f64> = vec![0.0; workers.max(1)];
    for s in seconds.iter() {
        let free = busy.iter_mut().min_by(|a, b| a.total_cmp(b)).expect("one worker at least");
        *free += s;
    }
    busy.into_iter().fold(0.0, f64::max)
}

/// The sum over experiments: this program, the floor, and the peer where
/// it stands for every one.
pub fn total(projected: &[Projected]) -> (f64, f64, Option<f64>) {
    let peer = projected.iter().try_fold(0.0, |sum, p| p.peer.map(|s| sum + s));
    (projected.iter().map(|p| p.ours).sum(), projected.iter().map(|p| p.floor).sum(), peer)
}

pub fn minutes(seconds: f64) -> String {
    format!("{:.1} min", seconds / 60.0)
}

/// The projection of `profile`'s `jobs` at `rates`, as lines of a table,
/// with `ran`: each experiment's seconds in a run, where known.
pub fn lines(profile: Profile, jobs: &[Job], rates: &Rates, ran: &BTreeMap<String, f64>) -> anyhow::Result<Vec<String>> {
    let projected = project(jobs, rates)?;
    let ran_column = |seconds: Option<&f64>| match (ran.is_empty(), seconds) {
        (true, _) => String::new(),
        (false, Some(s)) => format!(" {s:>9.0}"),
        (false, None) => format!(" {:>9}", "-"),
    };
    let mut lines = vec![format!(
        "{:<26} {:>7}  {:<36} {:>7} {:>7} {:>9}{}",
        format!("{} profile, projected", profile.name()),
        "TFLOP",
        "timed as",
        "ours s",
        "floor s",
        "PyTorch s",
        if ran.is_empty() { "" } else { "     ran s" }
    )];
    for p in &projected {
        let ways: Vec<&str> = p.ways.iter().map(|w| w.path()).collect();
        let peer = p.peer.map_or("-".to_owned(), |s| format!("{s:.0}"));
        lines.push(format!(
            "{:<26} {:>7.1}  {:<36} {:>7.0} {:>7.0} {peer:>9}{}",
            p.experiment,
            p.flops / 1e12,
            ways.join(", "),
            p.ours,
            p.floor,
            ran_column(ran.get(p.experiment))
        ));
    }
    let (ours, floor, peer) = total(&projected);
    let peer = peer
        .map_or("PyTorch eager not timed on every path".to_owned(), |p| format!("PyTorch eager {} ({:.2}x ours)", minutes(p), p / ours));
    let ran_total: f64 = ran.values().sum();
    let ran =
        if ran.is_empty() { String::new() } else { format!("; ran {} ({:.2}x the projection)", minutes(ran_total), ran_total / ours) };
    lines.push(format!("total: ours {}, floor {} ({:.0} % of ours), {peer}{ran}", minutes(ours), minutes(floor), 100.0 * floor / ours));
    lines.push(format!(
        "(training and each epoch's validation only, not evaluation or figures: each training's FLOPs at the seconds per FLOP \
         of the path it is timed as, measured by `bench` on {} with {} threads in {}, {}; ours: each path's first measurement{}; \
         a path stands for networks of other sizes at its own rate, and the 64-64 and CNN paths, timed without validation, \
         for their trainings' validation too; PyTorch: its fastest round on its plain 500-300 network, trained alone, \
         for the batched, the tuned and the lone 500-300 trainings, on its reference CNN for both CNNs, on its 64-64 for \
         the narrow ones)",
        rates.cpu_class,
        rates.threads,
        rates.precision.name(),
        rates.measured,
        rates.cnn_side_by_side.map_or(String::new(), |gain| {
            let copies = recipe::side_by_side_copies(rates.threads, usize::MAX);
            format!(
                ", the CNN trainings on one thread each, up to {copies} side by side and the costliest first, as the experiments \
                 train them: each at its path's time x {copies} / the chosen CNN's gain side by side ({gain:.2}x)"
            )
        })
    ));
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::precision::Chosen;
    use crate::profile::Profile;

    fn plan(profile: Profile, precision: Precision) -> Plan {
        let chosen = Chosen { precision, requested: "test".into(), reason: "test".into() };
        Plan::new(profile, 1, chosen, &[]).unwrap()
    }

    #[test]
    fn the_jobs_train_the_images_each_experiment_counts() {
        for profile in [Profile::Full, Profile::Quick, Profile::Smoke] {
            for precision in [Precision::Float32, Precision::BFloat16] {
                let plan = plan(profile, precision);
                let jobs = jobs(&plan).unwrap();
                for e in &plan.experiments {
                    let images: u64 = jobs.iter().filter(|j| j.experiment == e.id()).map(|j| j.images).sum();
                    assert_eq!(images, e.training_images(), "{} in {}", e.id(), profile.name());
                }
            }
        }
    }

    #[test]
    fn each_training_is_timed_as_the_path_that_trains_its_way() {
        let jobs = jobs(&plan(Profile::Full, Precision::Float32)).unwrap();
        let ways_of = |id: &str| jobs.iter().filter(|j| j.experiment == id).map(|j| j.way).collect::<Vec<_>>();
        assert_eq!(ways_of("q2_notebook_mlp"), [Way::NarrowMlpAlone]);
        assert_eq!(ways_of("q2_weight_decay_sweep"), [Way::BatchedMlps]);
        let tuned = [[Way::AugmentedMlpAlone; 9].as_slice(), &[Way::WideMlpAlone]].concat();
        assert_eq!(ways_of("q2_tuned_mlp"), tuned, "3 seeds and 7 ablation runs, the last the notebook's recipe, undistorted");
        assert_eq!(ways_of("q3_cnn"), [[Way::ChosenCnn; 7].as_slice(), &[Way::ReferenceCnn]].concat(), "3 seeds, 4 ablation runs");
        assert_eq!(
            ways_of("q4_denoising_autoencoder"),
            [Way::NarrowMlpAlone],
            "no layer wider than 128; the seeds it reuses count in their own experiments"
        );
        assert_eq!(ways_of("appendix_earlier_edition"), [Way::BatchedMlps; 12]);
        // The sweep: 18 models, 40 epochs of 60000 images, each validated on 10000.
        let sweep = jobs.iter().find(|j| j.experiment == "q2_weight_decay_sweep").unwrap();
        let macs = (784 * 500 + 500 * 300 + 300 * 10) as f64;
        let expected = 18.0 * 40.0 * (2.0 * (3.0 * macs - 784.0 * 500.0) * 60000.0 + 2.0 * macs * 10000.0);
        assert!((sweep.flops - expected).abs() < 1e-6 * expected, "{} against {expected}", sweep.flops);
        assert!(own_jobs("q9_unknown", Value::Null).is_err());
    }

    fn timed(flops: f64, seconds: f64, floor_seconds: f64, peer: Option<(f64, f64)>) -> Timed {
        Timed { flops, seconds, floor_seconds, peer: peer.map(|(flops, seconds)| PeerTimed { flops, seconds }) }
    }

    fn rates(paths: &[(Way, Timed)]) -> Rates {
        Rates {
            cpu_class: "AMD AVX2".into(),
            threads: 2,
            device: "cpu".into(),
            precision: Precision::Float32,
            train_images: 60000,
            measured: "today".into(),
            paths: paths.iter().copied().collect(),
            cnn_side_by_side: None,
        }
    }

    #[test]
    fn a_job_takes_its_paths_seconds_per_flop_and_the_peer_counts_only_where_it_ran_every_way() {
        let job = |experiment, way, flops| Job { experiment, way, images: 1, flops };
        let jobs = [job("a", Way::BatchedMlps, 50.0), job("a", Way::WideMlpAlone, 10.0), job("b", Way::ChosenCnn, 30.0)];
        let measured = rates(&[
            (Way::BatchedMlps, timed(100.0, 2.0, 1.0, Some((300.0, 9.0)))),
            (Way::WideMlpAlone, timed(10.0, 1.0, 0.5, Some((10.0, 1.5)))),
            (Way::ChosenCnn, timed(3.0, 1.0, 0.1, None)),
        ]);
        let projected = project(&jobs, &measured).unwrap();
        assert_eq!(projected.len(), 2);
        let a = &projected[0];
        assert_eq!((a.flops, a.ours, a.floor, a.peer), (60.0, 1.0 + 1.0, 0.5 + 0.5, Some(1.5 + 1.5)));
        assert_eq!(a.ways, [Way::BatchedMlps, Way::WideMlpAlone]);
        assert_eq!((projected[1].ours, projected[1].peer), (10.0, None));
        assert_eq!(total(&projected), (12.0, 2.0, None), "the peer did not run the CNN");
        assert_eq!(total(&projected[..1]), (2.0, 1.0, Some(3.0)));
        assert!(project(&[job("c", Way::ReferenceCnn, 1.0)], &measured).is_err(), "an untimed path is an error");
        // CNNs train on one thread each, 2 side by side: a training takes its
        // path's time x 2 / the gain, and the longest go first.
        let side_by_side = Rates { cnn_side_by_side: Some(1.25), ..measured };
        let projected = project(&jobs, &side_by_side).unwrap();
        assert_eq!((projected[0].ours, projected[1].ours, projected[1].floor), (2.0, 16.0, 1.0), "one CNN: alone, on one thread");
        let cnns = |flops: &[f64]| flops.iter().map(|&f| job("b", Way::ChosenCnn, f)).collect::<Vec<_>>();
        let ours = |jobs: &[Job]| project(jobs, &side_by_side).unwrap()[0].ours;
        assert_eq!(ours(&cnns(&[30.0, 30.0])), 16.0, "two side by side");
        assert_eq!(ours(&cnns(&[30.0, 30.0, 30.0])), 32.0, "the third after them");
        assert_eq!(ours(&cnns(&[30.0, 15.0, 15.0])), 16.0, "the two shorter ones beside the longest");
        let said = lines(Profile::Full, &jobs, &side_by_side, &BTreeMap::new()).unwrap().join("\n");
        assert!(said.contains("up to 2 side by side and the costliest first") && said.contains("gain side by side (1.25x)"), "{said}");
        assert!(!lines(Profile::Full, &jobs, &rates(&[]), &BTreeMap::new()).is_ok_and(|l| l.join("\n").contains("side by side")));
    }

    #[test]
    fn rates_are_kept_and_used_only_where_they_were_measured() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Rates::read(dir.path()).unwrap(), None);
        let measured = rates(&[(Way::ChosenCnn, timed(3.0, 1.0, 0.1, None))]);
        measured.write(dir.path()).unwrap();
        assert_eq!(Rates::read(dir.path()).unwrap(), Some(measured.clone()));
        let here = Machine { device: "cpu".into(), threads: 2, cpu_class: "AMD AVX2".into() };
        assert_eq!(measured.unlike(&here, Precision::Float32), None);
        let smoke = Rates { train_images: 2000, ..measured.clone() };
        assert_eq!(
            smoke.unlike(&here, Precision::Float32).unwrap(),
            "timed on 2000 training images, not all 60000 (`bench` without --profile)"
        );
        let other = Machine { threads: 16, cpu_class: "Intel AMX-BF16".into(), ..here };
        assert_eq!(
            measured.unlike(&other, Precision::BFloat16).unwrap(),
            "CPU class AMD AVX2 (here Intel AMX-BF16), 2 threads (here 16), float32 (here bfloat16)"
        );
        std::fs::write(dir.path().join(RATES_FILE), "{}").unwrap();
        assert!(Rates::read(dir.path()).unwrap_err().to_string().contains("run `mnist-writeup bench` again"));
    }
}
