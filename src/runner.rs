//! Runs the experiments a command selects: each one's result comes from the
//! cache when its key matches, otherwise it is computed and stored at once.
//! Owns the trainings the experiments declare: keys each by what produces
//! it, so that one declared by several experiments trains once and serves
//! them all, and keeps each as it finishes.
//! Hands the report plain values: each result with its config and what
//! names it; the report draws the figures from those (`crate::figures`).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use tch::Device;

use crate::cache::{self, Cache, Entry, KeyInputs, Machine};
use crate::checkpoint::{Incomplete, MadeBy, Unit};
use crate::code;
use crate::data::Mnist;
use crate::experiment::{AnyExperiment, Context};
use crate::experiments;
use crate::precision::Chosen;
use crate::profile::Profile;
use crate::seed;

/// What `Plan::run` may do for an experiment whose result is not cached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Run those `--only` selects (all without it), reusing their kept
    /// trainings unless `force`.
    Train { force: bool },
    /// Train nothing: assemble, from their kept trainings, the experiments
    /// that keep trainings (after a merge); fails where one is missing.
    Assemble,
}

pub struct Plan {
    pub profile: Profile,
    pub master_seed: u64,
    /// The precision the run chose, and why.
    pub precision: Chosen,
    /// Every experiment of the report.
    pub experiments: Vec<Box<dyn AnyExperiment>>,
    /// The ids `--only` selected to run; empty for all.
    only: Vec<String>,
}

impl Plan {
    /// The profile's experiments, of which only those named in `only` (all
    /// when it is empty) may run.
    pub fn new(profile: Profile, master_seed: u64, precision: Chosen, only: &[String]) -> anyhow::Result<Plan> {
        let experiments = experiments::all(profile, precision.precision);
        let plan = Plan { profile, master_seed, precision, experiments, only: only.to_vec() };
        let mut declared: BTreeMap<String, (&str, KeyInputs)> = BTreeMap::new();
        for e in &plan.experiments {
            e.check().with_context(|| format!("profile {}", profile.name()))?;
            // Two trainings of one name would share a checkpoint.
            let trainings = plan.trainings_of(e.as_ref(), "any data");
            let names: Vec<&String> = trainings.iter().map(|(t, _)| &t.name).collect();
            if let Some(twice) = names.iter().enumerate().find_map(|(i, n)| names[..i].contains(n).then_some(n)) {
                bail!("{}: two of its trainings are named `{twice}`; each needs a name of its own", e.id());
            }
            // A training two experiments declare is one: the same inputs.
            for (training, inputs) in trainings {
                match declared.get(&training.name) {
                    Some((first, earlier)) if earlier.key() != inputs.key() => bail!(
                        "{} and {first} both declare a training `{}` but train it differently ({}); give one of them another name",
                        e.id(),
                        training.name,
                        inputs.differences(earlier).join("; ")
                    ),
                    Some(_) => {}
                    None => {
                        declared.insert(training.name, (e.id(), inputs));
                    }
                }
            }
        }
        let experiments = &plan.experiments;
        for unit in &plan.only {
            let (id, training) = match unit.split_once('/') {
                Some((id, name)) => (id, Some(name)),
                None => (unit.as_str(), None),
            };
            let Some(e) = experiments.iter().find(|e| e.id() == id) else {
                let known: Vec<_> = experiments.iter().map(|e| e.id()).collect();
                bail!("--only: no experiment `{id}`; the experiments are: {}", known.join(", "));
            };
            if let Some(name) = training {
                let names: Vec<String> =
                    e.trainings(seed::of_experiment(master_seed, id), seed::shared(master_seed)).into_iter().map(|t| t.name).collect();
                if !names.iter().any(|n| n == name) {
                    let known = if names.is_empty() { "none: it runs as one unit".to_owned() } else { names.join(", ") };
                    bail!("--only: `{id}` has no training `{name}`; its trainings are: {known}");
                }
            }
        }
        Ok(plan)
    }

    /// The seed of what experiments share (see `Context::shared_seed`).
    pub fn shared_seed(&self) -> u64 {
        seed::shared(self.master_seed)
    }

    /// The trainings `e` declares, each with what produces it: a shared
    /// training's own recipe, seed, split, data and code; a part's
    /// experiment inputs under the id `EXPERIMENT/NAME`.
    pub fn trainings_of(&self, e: &dyn AnyExperiment, data_fingerprint: &str) -> Vec<(Unit, KeyInputs)> {
        let experiment = self.inputs_of(e, data_fingerprint);
        e.trainings(self.seed_of(e), self.shared_seed())
            .into_iter()
            .map(|unit| {
                let inputs = match &unit.made_by {
                    MadeBy::Experiment => KeyInputs { id: format!("{}/{}", e.id(), unit.name), ..experiment.clone() },
                    MadeBy::Itself { what, seed, precision, source_file } => KeyInputs {
                        id: unit.name.clone(),
                        version: 1,
                        config: serde_json::json!({
                            "training": what,
                            "data": {
                                "train_images": self.profile.train_images(),
                                "test_images": self.profile.test_images(),
                                "subset_seed": seed::data_subset(self.master_seed),
                            },
                        }),
                        precision: *precision,
                        seed: *seed,
                        data_fingerprint: data_fingerprint.to_owned(),
                        code: code::fingerprint(source_file),
                        tch: experiment.tch.clone(),
                        libtorch: experiment.libtorch.clone(),
                    },
                };
                (unit, inputs)
            })
            .collect()
    }

    /// The names of the trainings that an experiment before `e` in the
    /// plan declares too: `e` reuses them.
    pub fn declared_before(&self, e: &dyn AnyExperiment) -> Vec<String> {
        self.experiments
            .iter()
            .take_while(|earlier| earlier.id() != e.id())
            .flat_map(|earlier| earlier.trainings(self.seed_of(earlier.as_ref()), self.shared_seed()))
            .map(|unit| unit.name)
            .collect()
    }

    /// Whether `--only` selected `e`, or some of its trainings.
    fn selected(&self, e: &dyn AnyExperiment) -> bool {
        self.only.is_empty() || self.only.iter().any(|unit| unit == e.id() || Self::training_of(unit, e).is_some())
    }

    /// The name in `unit` where it names a training of `e` (`ID/NAME`).
    fn training_of<'u>(unit: &'u str, e: &dyn AnyExperiment) -> Option<&'u str> {
        unit.split_once('/').filter(|(id, _)| *id == e.id()).map(|(_, name)| name)
    }

    /// The trainings of `e` this run trains where they have no checkpoint:
    /// those `--only` names, or all of them (`None`).
    fn wanted_trainings(&self, e: &dyn AnyExperiment) -> Option<Vec<String>> {
        if self.only.is_empty() || self.only.iter().any(|unit| unit == e.id()) {
            return None;
        }
        Some(self.only.iter().filter_map(|unit| Self::training_of(unit, e)).map(str::to_owned).collect())
    }

    pub fn seed_of(&self, e: &dyn AnyExperiment) -> u64 {
        seed::of_experiment(self.master_seed, e.id())
    }

    /// Everything `e`'s result depends on, as this code and data would compute it.
    pub fn inputs_of(&self, e: &dyn AnyExperiment, data_fingerprint: &str) -> KeyInputs {
        KeyInputs {
            id: e.id().to_owned(),
            version: e.version(),
            config: e.config(),
            precision: e.precision(),
            seed: self.seed_of(e),
            data_fingerprint: data_fingerprint.to_owned(),
            code: code::fingerprint(e.source_file()),
            tch: env!("MNIST_WRITEUP_TCH").to_owned(),
            libtorch: env!("MNIST_WRITEUP_LIBTORCH_BUILD").to_owned(),
        }
    }

    pub fn key_of(&self, e: &dyn AnyExperiment, data_fingerprint: &str) -> String {
        self.inputs_of(e, data_fingerprint).key()
    }

    /// The data set reduced to the profile's subset, drawn from the master seed.
    pub fn data_for(&self, full: &Mnist) -> Mnist {
        full.for_profile(self.profile, self.master_seed)
    }

    /// Results of the selected experiments, computing those not cached (all
    /// of them with `Mode::Train { force: true }`), and the cached results
    /// of the others.
    pub fn run(&self, full: &Mnist, cache: &Cache, device: Device, mode: Mode) -> anyhow::Result<BTreeMap<String, Entry>> {
        let force = matches!(mode, Mode::Train { force: true });
        self.check_data_size(full)?;
        let data = self.data_for(full);
        let fingerprint = &full.provenance.fingerprint;
        let mut results = BTreeMap::new();
        for e in &self.experiments {
            let inputs = self.inputs_of(e.as_ref(), fingerprint);
            let key = inputs.key();
            let selected = self.selected(e.as_ref());
            let cached = if force && selected {
                None
            } else {
                cache.load(e.id(), &key).unwrap_or_else(|err| {
                    eprintln!("warning: {err:#}; recomputing it");
                    None
                })
            };
            if let Some(entry) = cached {
                eprintln!("{:<24} cached ({:.1} s when run)", e.id(), entry.wall_seconds);
                results.insert(e.id().to_owned(), entry);
                continue;
            }
            let seed = self.seed_of(e.as_ref());
            let declared: Vec<(String, KeyInputs)> =
                self.trainings_of(e.as_ref(), fingerprint).into_iter().map(|(unit, inputs)| (unit.name, inputs)).collect();
            let wanted = match mode {
                Mode::Train { .. } if selected => self.wanted_trainings(e.as_ref()),
                Mode::Assemble if !declared.is_empty() => Some(Vec::new()),
                _ => continue,
            };
            let progress = progress_bar(e.id());
            let start = Instant::now();
            let machine = Machine::here(device);
            let checkpoints = cache.trainings(&declared, !force, wanted, machine.clone());
            let ctx =
                Context { data: &data, device, seed, shared_seed: self.shared_seed(), progress: &progress, checkpoints: &checkpoints };
            let result = match e.run(&ctx) {
                Ok(result) => result,
                Err(err) => match err.downcast_ref::<Incomplete>() {
                    Some(incomplete) if matches!(mode, Mode::Assemble) => {
                        bail!("{}: its result {incomplete}: run each (`run --only {}/NAME`) and merge its output too", e.id(), e.id())
                    }
                    Some(incomplete) => {
                        progress.finish_and_clear();
                        eprintln!(
                            "{:<24} trained its part in {:.1} s -> {}; {} more trainings before its result",
                            e.id(),
                            start.elapsed().as_secs_f64(),
                            cache.trainings_dir().display(),
                            incomplete.left.len()
                        );
                        continue;
                    }
                    None => return Err(err),
                },
            };
            progress.finish_and_clear();
            let resumed = checkpoints.resumed();
            // Where trainings came from machines of other classes, the result
            // is of no one class: it names them all, and `verify` expects no bit-identity.
            let mut classes: std::collections::BTreeSet<String> = resumed.iter().map(|r| r.cpu_class.clone()).collect();
            classes.insert(machine.cpu_class.clone());
            let cpu_class = classes.into_iter().collect::<Vec<_>>().join(" + ");
            // Its own trainings count in its time, kept ones included; those
            // an earlier experiment of the plan declares count in that one's,
            // even where this one trained them (`run --only` this one).
            let reused_from_earlier = self.declared_before(e.as_ref());
            let (shared, own): (Vec<_>, Vec<_>) = resumed.iter().partition(|r| reused_from_earlier.contains(&r.name));
            let own_seconds: f64 = own.iter().map(|r| r.wall_seconds).sum();
            let trained_for_earlier: f64 =
                checkpoints.trained().iter().filter(|t| reused_from_earlier.contains(&t.name)).map(|t| t.wall_seconds).sum();
            let entry = Entry {
                inputs,
                key,
                wall_seconds: start.elapsed().as_secs_f64() + own_seconds - trained_for_earlier,
                device: machine.device,
                threads: machine.threads,
                cpu_class,
                result_sha256: cache::result_sha256(&result),
                result,
            };
            // A result the report could not read back (a NaN stored as null,
            // say) would break every later render: it is not kept.
            e.check_result(&entry.result)
                .with_context(|| format!("{}: its result is not a valid output of this experiment, so it was not cached", e.id()))?;
            let path = cache.store(&entry)?;
            let mut from_cache = Vec::new();
            if !own.is_empty() {
                from_cache.push(format!(
                    "{} of {} trainings kept from before, {own_seconds:.1} s when they trained",
                    own.len(),
                    declared.len()
                ));
            }
            if !shared.is_empty() {
                let names: Vec<&str> = shared.iter().map(|r| r.name.as_str()).collect();
                from_cache.push(format!("{} reused from earlier experiments: {}", shared.len(), names.join(", ")));
            }
            let resumed = if from_cache.is_empty() { String::new() } else { format!(" ({})", from_cache.join("; ")) };
            eprintln!("{:<24} ran in {:.1} s{resumed} -> {}", e.id(), start.elapsed().as_secs_f64(), path.display());
            results.insert(e.id().to_owned(), entry);
        }
        Ok(results)
    }

    /// Fails before anything trains unless `full` holds at least the images
    /// the profile uses: fewer would train on nothing, or on a handful of
    /// images whose statistics are not numbers.
    pub fn check_data_size(&self, full: &Mnist) -> anyhow::Result<()> {
        let (train, test) = (self.profile.train_images(), self.profile.test_images());
        if full.train.len() < train || full.test.len() < test {
            bail!(
                "the data in {} has {} training and {} test images; the {} profile needs at least {train} and {test}: \
                 complete the data, or use --profile smoke ({} and {})",
                full.provenance.dir.display(),
                full.train.len(),
                full.test.len(),
                self.profile.name(),
                Profile::Smoke.train_images(),
                Profile::Smoke.test_images()
            );
        }
        Ok(())
    }

    /// Results of every experiment from the cache alone.
    pub fn cached(&self, data_fingerprint: &str, cache: &Cache) -> anyhow::Result<BTreeMap<String, Entry>> {
        let mut results = BTreeMap::new();
        for e in &self.experiments {
            if let Some(entry) = cache.load(e.id(), &self.key_of(e.as_ref(), data_fingerprint))? {
                results.insert(e.id().to_owned(), entry);
            }
        }
        Ok(results)
    }

    /// What the cache holds for `e` under the inputs it has now, and where
    /// that is not its result, why (as `dvc status` names a stage's changed
    /// dependencies).
    pub fn state_of(&self, e: &dyn AnyExperiment, data_fingerprint: &str, cache: &Cache) -> Cached {
        let inputs = self.inputs_of(e, data_fingerprint);
        match cache.load(e.id(), &inputs.key()) {
            Ok(Some(entry)) => Cached::Current(Box::new(entry)),
            Ok(None) => match cache.earlier(e.id()) {
                cache::Earlier::Nothing => Cached::Missing,
                cache::Earlier::OtherFormat(path) => Cached::Stale {
                    earlier: None,
                    why: format!("{}: written by an older version of mnist-writeup (or broken)", path.display()),
                },
                cache::Earlier::Entry(old) => {
                    let reasons = inputs.differences(&old.inputs);
                    let why = if reasons.is_empty() { "other key".into() } else { reasons.join("; ") };
                    Cached::Stale { earlier: Some(old), why }
                }
            },
            Err(err) => Cached::Broken(format!("{err:#}")),
        }
    }

    /// Every experiment's result with what the report says of it, in the
    /// plan's order; fails unless `results` has them all.
    pub fn computed(&self, mut results: BTreeMap<String, Entry>) -> anyhow::Result<Vec<Computed>> {
        self.check_complete(&results)?;
        Ok(self
            .experiments
            .iter()
            .map(|e| Computed {
                id: e.id(),
                title: e.title(),
                source_file: e.source_file(),
                training_images: e.training_images(),
                entry: results.remove(e.id()).expect("checked complete"),
            })
            .collect())
    }

    /// Fails, naming the first experiment without a result, unless `results` has them all.
    pub fn check_complete(&self, results: &BTreeMap<String, Entry>) -> anyhow::Result<()> {
        if let Some(e) = self.experiments.iter().find(|e| !results.contains_key(e.id())) {
            bail!(
                "{}: no result for profile {} and seed {}; the report needs every experiment: \
                 run `build-report` without --only (or `run --only {}`) with the same flags first",
                e.id(),
                self.profile.name(),
                self.master_seed,
                e.id()
            );
        }
        Ok(())
    }
}

/// One experiment's result as the report uses it: `entry.inputs.config` is
/// its config and `entry.result` its output, as JSON, which the report draws
/// its figures from.
/// What the cache holds for one experiment (`Plan::state_of`).
pub enum Cached {
    Current(Box<Entry>),
    /// Computed from other inputs (`earlier`, where this version reads it).
    Stale {
        earlier: Option<Box<Entry>>,
        why: String,
    },
    Missing,
    Broken(String),
}

pub struct Computed {
    pub id: &'static str,
    pub title: &'static str,
    /// The file that defines the experiment.
    pub source_file: &'static str,
    /// Images passed through a network in training.
    pub training_images: u64,
    pub entry: Entry,
}

fn progress_bar(id: &str) -> ProgressBar {
    let bar = ProgressBar::new(0).with_prefix(id.to_owned());
    bar.set_style(
        ProgressStyle::with_template("{prefix:24} [{bar:30}] {pos}/{len} batches, eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::precision::Precision;

    /// The experiments whose key changes when `file` is edited (its hash
    /// replaced, as a rebuild after the edit would).
    fn stale_after_editing(plan: &Plan, file: &str) -> Vec<&'static str> {
        plan.experiments
            .iter()
            .filter(|e| {
                let before = plan.inputs_of(e.as_ref(), "data");
                let mut after = before.clone();
                if let Some(hash) = after.code.get_mut(file) {
                    *hash = "edited".into();
                }
                after.key() != before.key()
            })
            .map(|e| e.id())
            .collect()
    }

    #[test]
    fn every_profile_plans_and_each_training_has_a_name_of_its_own() {
        for profile in [Profile::Full, Profile::Quick, Profile::Smoke] {
            for precision in [Precision::Float32, Precision::BFloat16] {
                let chosen = Chosen { precision, requested: "test".into(), reason: "test".into() };
                let plan = Plan::new(profile, 1, chosen, &["q3_cnn/cnn-seed-1".into()]).unwrap();
                let units: usize = plan.experiments.iter().map(|e| plan.trainings_of(e.as_ref(), "data").len()).sum();
                assert!(units >= 20, "{}: {units} trainings", profile.name());
            }
        }
    }

    #[test]
    fn a_training_two_experiments_declare_is_one_training_with_one_key() {
        let chosen = Chosen { precision: Precision::Float32, requested: "auto".into(), reason: "test".into() };
        let plan = Plan::new(Profile::Smoke, 1, chosen, &[]).unwrap();
        let of = |id: &str| {
            let e = plan.experiments.iter().find(|e| e.id() == id).unwrap();
            plan.trainings_of(e.as_ref(), "data").into_iter().map(|(u, inputs)| (u.name, inputs.key())).collect::<BTreeMap<_, _>>()
        };
        let (tuned, cnn, q4) = (of("q2_tuned_mlp"), of("q3_cnn"), of("q4_denoising_autoencoder"));
        assert_eq!(cnn["tuned-mlp-seed-1"], tuned["tuned-mlp-seed-1"], "question 3 reuses question 2 D's first seed");
        for seed in ["tuned-mlp-seed-1", "tuned-mlp-seed-2"] {
            assert_eq!(q4[seed], tuned[seed], "question 4's candidates are question 2 D's models");
        }
        for seed in ["cnn-seed-1", "cnn-seed-2"] {
            assert_eq!(q4[seed], cnn[seed], "and question 3's");
        }
        assert!(!q4.contains_key("classifier"), "question 4 trains no classifier of its own");
        // Declared by its experiment, its own part is keyed by that experiment.
        let reference = plan.experiments.iter().find(|e| e.id() == "q4_denoising_autoencoder").unwrap();
        let (_, autoencoder) = plan.trainings_of(reference.as_ref(), "data").into_iter().next().unwrap();
        assert_eq!(autoencoder.id, "q4_denoising_autoencoder/autoencoder");
        // Another seed is another training.
        let chosen = Chosen { precision: Precision::Float32, requested: "auto".into(), reason: "test".into() };
        let other = Plan::new(Profile::Smoke, 2, chosen, &[]).unwrap();
        let e = other.experiments.iter().find(|e| e.id() == "q3_cnn").unwrap();
        let keys: BTreeMap<String, String> = other.trainings_of(e.as_ref(), "data").into_iter().map(|(u, i)| (u.name, i.key())).collect();
        assert_ne!(keys["cnn-seed-1"], cnn["cnn-seed-1"]);
    }

    #[test]
    fn editing_a_source_file_makes_exactly_its_users_stale() {
        let chosen = Chosen { precision: Precision::Float32, requested: "auto".into(), reason: "test".into() };
        let plan = Plan::new(Profile::Smoke, 1, chosen, &[]).unwrap();
        assert_eq!(stale_after_editing(&plan, "src/noise.rs"), ["q4_denoising_autoencoder"]);
        assert_eq!(stale_after_editing(&plan, "src/models/autoencoder.rs"), ["q4_denoising_autoencoder"]);
        let all_but_q1 =
            ["q2_notebook_mlp", "q2_weight_decay_sweep", "q2_tuned_mlp", "q3_cnn", "q4_denoising_autoencoder", "appendix_earlier_edition"];
        assert_eq!(stale_after_editing(&plan, "src/train/mod.rs"), all_but_q1);
        let batched = ["q2_notebook_mlp", "q2_weight_decay_sweep", "q2_tuned_mlp", "appendix_earlier_edition"];
        assert_eq!(stale_after_editing(&plan, "src/train/batched.rs"), batched);
        assert_eq!(stale_after_editing(&plan, "src/experiments/q1_preprocessing.rs"), ["q1_preprocessing"]);
        // Captions, legends, colours, findings and wording retrain nothing.
        for drawing_only in [
            "src/figures/draw.rs",
            "src/figures/q2.rs",
            "src/figures/q3.rs",
            "src/findings/q4.rs",
            "src/findings/shared.rs",
            "src/report/mod.rs",
            "src/main.rs",
            "answers/q2.md",
            "answers/ablation.jinja",
            "templates/report.typ",
        ] {
            assert!(stale_after_editing(&plan, drawing_only).is_empty(), "{drawing_only}");
        }
        // Editing training code says why each of its users is stale.
        let cnn = plan.experiments.iter().find(|e| e.id() == "q3_cnn").unwrap();
        let before = plan.inputs_of(cnn.as_ref(), "data");
        let mut after = before.clone();
        *after.code.get_mut("src/models/cnn.rs").unwrap() = "edited".into();
        assert_eq!(after.differences(&before), ["code changed: src/models/cnn.rs"]);
    }
}
