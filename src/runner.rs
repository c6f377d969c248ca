//! Runs the experiments a command selects: each one's result comes from the
//! cache when its key matches, otherwise it is computed and stored at once.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::bail;
use indicatif::{ProgressBar, ProgressStyle};
use tch::Device;

use crate::cache::{self, Cache, Entry};
use crate::data::Mnist;
use crate::experiments::{self, Context, Experiment};
use crate::precision::Chosen;
use crate::profile::Profile;
use crate::seed;

pub struct Plan {
    pub profile: Profile,
    pub master_seed: u64,
    /// The precision the run chose, and why.
    pub precision: Chosen,
    /// Every experiment of the report.
    pub experiments: Vec<Box<dyn Experiment>>,
    /// The ids `--only` selected to run; empty for all.
    only: Vec<String>,
}

impl Plan {
    /// The profile's experiments, of which only those named in `only` (all
    /// when it is empty) may run.
    pub fn new(profile: Profile, master_seed: u64, precision: Chosen, only: &[String]) -> anyhow::Result<Plan> {
        let experiments = experiments::all(profile, precision.precision);
        for id in only {
            if !experiments.iter().any(|e| e.id() == id) {
                let known: Vec<_> = experiments.iter().map(|e| e.id()).collect();
                bail!("--only: no experiment `{id}`; the experiments are: {}", known.join(", "));
            }
        }
        Ok(Plan { profile, master_seed, precision, experiments, only: only.to_vec() })
    }

    fn selected(&self, e: &dyn Experiment) -> bool {
        self.only.is_empty() || self.only.iter().any(|id| id == e.id())
    }

    pub fn seed_of(&self, e: &dyn Experiment) -> u64 {
        seed::derive(self.master_seed, e.id())
    }

    pub fn key_of(&self, e: &dyn Experiment, data_fingerprint: &str) -> String {
        cache::key(e.id(), e.version(), &e.config(), e.precision(), self.seed_of(e), data_fingerprint)
    }

    /// The data set reduced to the profile's subset, drawn from the master seed.
    pub fn data_for(&self, full: &Mnist) -> Mnist {
        let subset_seed = seed::derive(self.master_seed, "data-subset");
        full.subset(self.profile.train_images(), self.profile.test_images(), subset_seed)
    }

    /// Results of the selected experiments, computing those not cached (all
    /// of them with `force`), and the cached results of the others.
    pub fn run(&self, full: &Mnist, cache: &Cache, device: Device, force: bool) -> anyhow::Result<BTreeMap<String, Entry>> {
        let data = self.data_for(full);
        let fingerprint = &full.provenance.fingerprint;
        let mut results = BTreeMap::new();
        for e in &self.experiments {
            let key = self.key_of(e.as_ref(), fingerprint);
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
            if !selected {
                continue;
            }
            let progress = progress_bar(e.id());
            let start = Instant::now();
            let ctx = Context { data: &data, device, seed: self.seed_of(e.as_ref()), progress: &progress };
            let result = e.run(&ctx)?;
            progress.finish_and_clear();
            let entry = Entry {
                id: e.id().to_owned(),
                key,
                version: e.version(),
                seed: ctx.seed,
                config: e.config(),
                precision: e.precision(),
                data_fingerprint: fingerprint.clone(),
                wall_seconds: start.elapsed().as_secs_f64(),
                device: format!("{device:?}").to_lowercase(),
                threads: tch::get_num_threads(),
                result,
            };
            let path = cache.store(&entry)?;
            eprintln!("{:<24} ran in {:.1} s -> {}", e.id(), entry.wall_seconds, path.display());
            results.insert(e.id().to_owned(), entry);
        }
        Ok(results)
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

fn progress_bar(id: &str) -> ProgressBar {
    let bar = ProgressBar::new(0).with_prefix(id.to_owned());
    bar.set_style(
        ProgressStyle::with_template("{prefix:24} [{bar:30}] {pos}/{len} batches, eta {eta} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}
